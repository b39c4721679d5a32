//! The cores the CLI replicates: `hyperwasm`'s [`CoreSet`] and [`SharedCore`] over
//! [`FileStorage`](hyperwasm::storage::FileStorage) directories.

pub use hyperwasm::replicator::DownloadRange;

/// Cores shared by every connection of the process.
pub type CoreSet = hyperwasm::replicator::CoreSet<hyperwasm::storage::FileStorage>;
/// A core shared between the CLI and its connections.
pub type SharedCore = hyperwasm::replicator::SharedCore<hyperwasm::storage::FileStorage>;
