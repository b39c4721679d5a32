//! The hypercore layer's error type, with JS `hypercore-errors` codes.

use super::manifest::ManifestError;
use super::multisig::SignError;
use super::verifier::VerifyError;
use crate::encoding::DecodeError;
use crate::storage::StorageError;
use crate::tree::TreeError;

/// Why a hypercore operation failed. [`HypercoreError::code`] gives the `err.code` JS
/// hypercore would throw for the same failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HypercoreError {
    /// Storage failed or holds damaged data.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A tree operation or proof failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A signature did not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A manifest is malformed or unsupported.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Bytes could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Signing failed (the key pair is not a signer of this core).
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The core has no key pair that may sign.
    #[error("core is not writable")]
    NotWritable,
    /// The block is not stored locally.
    #[error("block {0} is not available")]
    BlockNotAvailable(u64),
    /// The snapshot's blocks were truncated away.
    #[error("snapshot is not available: the core was truncated below index {0}")]
    SnapshotNotAvailable(u64),
    /// An argument out of range.
    #[error("bad argument: {0}")]
    BadArgument(String),
    /// A proof from another fork (reorgs are handled by the replicator).
    #[error("proof is for fork {proof}, core is at fork {local}")]
    ForkMismatch {
        /// Fork of the proof.
        proof: u64,
        /// Our fork.
        local: u64,
    },
    /// Opening storage that holds no core.
    #[error("no core in this storage")]
    StorageEmpty,
    /// Creating a core in storage that already holds a different one.
    #[error("storage already holds another core")]
    StorageConflict,
    /// Stored head and tree disagree: the storage was damaged.
    #[error("stored state is corrupt: {0}")]
    Corrupt(String),
}

impl HypercoreError {
    /// The JS `err.code`.
    pub fn code(&self) -> &'static str {
        match self {
            HypercoreError::Storage(e) => e.code(),
            HypercoreError::Tree(e) => e.code(),
            HypercoreError::Verify(e) => e.code(),
            HypercoreError::Manifest(e) => e.code(),
            HypercoreError::Decode(e) => e.code(),
            HypercoreError::Sign(_) | HypercoreError::NotWritable => "SESSION_NOT_WRITABLE",
            HypercoreError::BlockNotAvailable(_) => "BLOCK_NOT_AVAILABLE",
            HypercoreError::SnapshotNotAvailable(_) => "SNAPSHOT_NOT_AVAILABLE",
            HypercoreError::BadArgument(_) => "BAD_ARGUMENT",
            HypercoreError::ForkMismatch { .. } => "INVALID_OPERATION",
            HypercoreError::StorageEmpty => "STORAGE_EMPTY",
            HypercoreError::StorageConflict => "STORAGE_CONFLICT",
            HypercoreError::Corrupt(_) => "INVALID_CHECKSUM",
        }
    }
}
