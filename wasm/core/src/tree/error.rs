//! Errors of the Merkle tree layer.

use crate::storage::StorageError;

/// Why a tree operation or proof failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// A proof that contradicts the core's prologue, or with indexes or lengths out of range
    /// (JS `INVALID_PROOF`). Missing or out-of-order nodes are [`TreeError::InvalidOperation`],
    /// as in JS.
    #[error("invalid proof: {0}")]
    InvalidProof(String),
    /// A request that cannot be served, or a proof whose nodes are not the ones expected in the
    /// order expected (JS `INVALID_OPERATION`).
    #[error("invalid operation: {0}")]
    InvalidOperation(String),
    /// A verified subtree root does not match the stored node.
    #[error("invalid checksum at node {0}")]
    InvalidChecksum(u64),
    /// An argument out of range (JS `BAD_ARGUMENT`).
    #[error("bad argument: {0}")]
    BadArgument(String),
    /// Storage failed underneath.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl TreeError {
    /// The JS hypercore error code.
    pub fn code(&self) -> &'static str {
        match self {
            TreeError::InvalidProof(_) => "INVALID_PROOF",
            TreeError::InvalidOperation(_) => "INVALID_OPERATION",
            TreeError::InvalidChecksum(_) => "INVALID_CHECKSUM",
            TreeError::BadArgument(_) => "BAD_ARGUMENT",
            TreeError::Storage(e) => e.code(),
        }
    }

    pub(crate) fn missing(index: u64) -> Self {
        TreeError::InvalidOperation(format!("expected tree node {index} from storage, got none"))
    }
}
