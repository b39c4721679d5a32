//! Storage: one batched, ordered binary key-value trait that every backend implements.
//!
//! The hypercore layer never touches files or IndexedDB; it reads and writes through
//! [`Storage`]. A [`WriteBatch`] is atomic in every backend: after a crash either all of it
//! or none of it is visible. Keys sort bytewise, so range scans (`floor` look-ups, table
//! scans) work the same in every backend. Futures carry [`MaybeSend`] so the browser backend
//! can hold `!Send` JS handles while native code can still run on tokio.
//!
//! [`hypercore_storage`] lays out one core's records (header, packed blocks, tree pages,
//! bitfield pages) on top of any backend.

use crate::maybe_send::{MaybeSend, MaybeSync};
use std::future::Future;

#[cfg(any(test, feature = "test-utils"))]
pub mod conformance;
#[cfg(any(test, feature = "test-utils"))]
pub mod faulty;
#[cfg(not(target_arch = "wasm32"))]
pub mod file;
pub mod hypercore_storage;
pub mod memory;

#[cfg(any(test, feature = "test-utils"))]
pub use faulty::FaultyStorage;
#[cfg(not(target_arch = "wasm32"))]
pub use file::{Durability, FileOptions, FileStorage};
pub use hypercore_storage::{CoreStorage, CoreWrite};
pub use memory::MemoryStorage;
use std::ops::Bound;

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The backend's own I/O failed.
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// A stored record is damaged (checksum or hash mismatch, torn write, undecodable).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A previous write failed; the backend refuses further writes until reopened.
    #[error("storage is poisoned by an earlier failed write")]
    Poisoned,
    /// The storage was closed.
    #[error("storage is closed")]
    Closed,
}

impl StorageError {
    /// The JS hypercore error code this maps to.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::Corrupt(_) => "INVALID_CHECKSUM",
            StorageError::Closed => "SESSION_CLOSED",
            StorageError::Io(_) | StorageError::Poisoned => "WRITE_FAILED",
        }
    }
}

/// One mutation in a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Set `key` to `value`.
    Put {
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove `key` (no error if absent).
    Delete {
        /// Key.
        key: Vec<u8>,
    },
    /// Remove every key in `start..end`.
    DeleteRange {
        /// First key removed.
        start: Vec<u8>,
        /// First key kept.
        end: Vec<u8>,
    },
}

/// Mutations applied atomically and in order by [`Storage::write`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The operations, applied first to last.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a put.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> &mut Self {
        self.ops.push(WriteOp::Put { key, value });
        self
    }
    /// Adds a delete.
    pub fn delete(&mut self, key: Vec<u8>) -> &mut Self {
        self.ops.push(WriteOp::Delete { key });
        self
    }
    /// Adds a range delete of `start..end`.
    pub fn delete_range(&mut self, start: Vec<u8>, end: Vec<u8>) -> &mut Self {
        self.ops.push(WriteOp::DeleteRange { start, end });
        self
    }
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A key range for [`Storage::scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Lower bound.
    pub start: Bound<Vec<u8>>,
    /// Upper bound.
    pub end: Bound<Vec<u8>>,
    /// Return at most this many entries (`None`: all).
    pub limit: Option<usize>,
    /// Walk from the upper bound downwards.
    pub reverse: bool,
}

impl Scan {
    /// Every key in `start..end`, ascending.
    pub fn range(start: Vec<u8>, end: Vec<u8>) -> Self {
        Scan { start: Bound::Included(start), end: Bound::Excluded(end), limit: None, reverse: false }
    }

    /// The greatest key in `lower..=key` (a "floor" look-up): reverse, limit 1.
    pub fn floor(lower: Vec<u8>, key: Vec<u8>) -> Self {
        Scan { start: Bound::Included(lower), end: Bound::Included(key), limit: Some(1), reverse: true }
    }
}

/// A key-value pair returned by a scan.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A batched, ordered, binary key-value store.
///
/// Methods take `&self`: backends use interior mutability, so reads can be issued while a
/// write is pending. Implementations must make each [`WriteBatch`] atomic and durable to the
/// degree their docs state, and must report damaged records as [`StorageError::Corrupt`].
pub trait Storage: MaybeSend + MaybeSync {
    /// Reads several keys at once (one transaction where the backend has them).
    fn get_many(
        &self,
        keys: &[Vec<u8>],
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>, StorageError>> + MaybeSend;

    /// Reads the entries of a range, in key order (or reverse order).
    fn scan(&self, scan: Scan) -> impl Future<Output = Result<Vec<Entry>, StorageError>> + MaybeSend;

    /// Applies a batch atomically.
    fn write(&self, batch: WriteBatch) -> impl Future<Output = Result<(), StorageError>> + MaybeSend;

    /// Byte budget of one block pack in the per-core layout ([`hypercore_storage`]). Blocks
    /// are merged into records of up to this size where every record costs a lot (IndexedDB);
    /// a backend whose records are cheap and whose small reads are fast returns a small value
    /// (0: one record per block), so appends and reads touch only the blocks they need. Only
    /// the write layout depends on it: every value reads every stored layout.
    fn block_pack_bytes(&self) -> usize {
        hypercore_storage::PACK_TARGET_BYTES
    }

    /// The keys of a range (like [`Storage::scan`] without the values). The default reads the
    /// values too; backends with a cheap keys-only read (IndexedDB `getAllKeys`) override it.
    fn scan_keys(&self, scan: Scan) -> impl Future<Output = Result<Vec<Vec<u8>>, StorageError>> + MaybeSend {
        async move { Ok(self.scan(scan).await?.into_iter().map(|(k, _)| k).collect()) }
    }

    /// Reads one key.
    fn get(&self, key: Vec<u8>) -> impl Future<Output = Result<Option<Vec<u8>>, StorageError>> + MaybeSend {
        async move {
            let mut v = self.get_many(std::slice::from_ref(&key)).await?;
            Ok(v.pop().flatten())
        }
    }
}
