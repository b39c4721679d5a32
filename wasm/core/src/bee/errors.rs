//! Errors of the hyperbee layer, with `code()` as JS hyperbee/hypercore set `err.code`.

use thiserror::Error;

use super::messages::BeeDecodeError;
use crate::core::HypercoreError;

/// Why a hyperbee operation failed.
#[derive(Debug, Error)]
pub enum BeeError {
    /// The core underneath failed (storage, verification, truncated snapshot, not writable…).
    #[error(transparent)]
    Core(#[from] HypercoreError),
    /// A block is not a hyperbee block.
    #[error("hyperbee block {seq} does not decode: {source}")]
    Decode {
        /// Block index.
        seq: u64,
        /// What was wrong with it.
        source: BeeDecodeError,
    },
    /// A block decodes but its tree pointers are impossible (a missing level, a child that
    /// does not point down the tree, keys out of order, a cycle).
    #[error("hyperbee block {seq} holds an invalid tree: {reason}")]
    InvalidTree {
        /// Block index holding the bad pointer (or where the walk noticed it).
        seq: u64,
        /// What was wrong.
        reason: String,
    },
    /// The block is not stored locally and waiting was not allowed (`wait: false`).
    #[error("block {0} is not available")]
    BlockNotAvailable(u64),
    /// The version this view reads was truncated away.
    #[error("snapshot is not available: the core was truncated or forked since version {0}")]
    SnapshotNotAvailable(u64),
    /// The bee (or the core under it) may not be written.
    #[error("hyperbee is read-only")]
    ReadOnly,
    /// A key or value could not be encoded or decoded with the chosen encoding.
    #[error("encoding error: {0}")]
    Encoding(String),
    /// An argument out of range (a seq beyond the version, version 0 history bounds…).
    #[error("bad argument: {0}")]
    BadArgument(String),
    /// An earlier operation of this batch failed half-way (e.g. a block it needed could not be
    /// read), so the batch's tree may be half-edited: it refuses further operations and
    /// `flush`, and writes nothing.
    #[error("an earlier operation of this batch failed; the batch was discarded")]
    BatchFailed,
    /// The core changed under an open batch (appended or truncated by someone else than
    /// this bee): its blocks would point into a tree that is no longer the core's, so nothing
    /// is written.
    #[error("the core changed under this batch: {0}")]
    Conflict(String),
}

impl BeeError {
    /// The JS error code (`err.code`): the core's code for core errors, `DECODING_ERROR` for
    /// undecodable blocks and invalid trees (what JS hyperbee raises for blocks it cannot read),
    /// `SESSION_NOT_WRITABLE` for writes to a read-only bee.
    pub fn code(&self) -> &'static str {
        match self {
            BeeError::Core(e) => e.code(),
            BeeError::Decode { .. } | BeeError::InvalidTree { .. } => "DECODING_ERROR",
            BeeError::BlockNotAvailable(_) => "BLOCK_NOT_AVAILABLE",
            BeeError::SnapshotNotAvailable(_) => "SNAPSHOT_NOT_AVAILABLE",
            BeeError::ReadOnly => "SESSION_NOT_WRITABLE",
            BeeError::Encoding(_) => "DECODING_ERROR",
            BeeError::BadArgument(_) => "BAD_ARGUMENT",
            BeeError::BatchFailed | BeeError::Conflict(_) => "INVALID_OPERATION",
        }
    }

    pub(crate) fn invalid(seq: u64, reason: impl Into<String>) -> Self {
        BeeError::InvalidTree { seq, reason: reason.into() }
    }
}
