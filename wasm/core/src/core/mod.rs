//! Hypercore itself: manifests and verification, core state and operations (hypercore `lib/`).

pub mod bitfield;
mod errors;
pub mod header;
pub mod hypercore;
mod local_core;
pub mod manifest;
pub mod multisig;
pub mod remote;
mod reorg;
pub mod verifier;

pub use errors::HypercoreError;
pub use hypercore::{CreateOptions, Hypercore, Info, Snapshot};
pub use manifest::Manifest;

#[cfg(test)]
mod hypercore_tests;
