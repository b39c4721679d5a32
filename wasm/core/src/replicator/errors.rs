//! Why the replicator closed a peer.

use crate::core::HypercoreError;
use crate::tree::TreeError;

/// Why a peer was closed ([`super::Action::Close`]). [`ReplicatorError::code`] gives a JS
/// `hypercore-errors` style code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicatorError {
    /// The peer sent data that did not verify (bad signature, wrong nodes, tampered block).
    #[error("peer sent invalid data: {0}")]
    InvalidData(HypercoreError),
    /// `data` for a request id we never issued.
    #[error("data for unknown request {0}")]
    UnknownRequest(u64),
    /// `data` that does not answer what its request asked (another block, an unasked upgrade,
    /// another fork).
    #[error("data does not match request {0}")]
    MismatchedData(u64),
    /// A request id beyond [`super::MAX_REQUEST_ID`].
    #[error("request id {0} out of range")]
    RequestIdOutOfRange(u64),
    /// More than [`super::MAX_PENDING_REQUESTS`] unanswered requests.
    #[error("too many pending requests")]
    TooManyRequests,
    /// [`super::MAX_INVALID_REQUESTS`] requests that could not be answered.
    #[error("too many invalid requests")]
    TooManyInvalidRequests,
    /// A length, index or range beyond [`super::MAX_LENGTH`].
    #[error("{what} out of range: start {start}, length {length}")]
    OutOfRange {
        /// Which message.
        what: &'static str,
        /// Start (or the value).
        start: u64,
        /// Length.
        length: u64,
    },
}

impl ReplicatorError {
    /// The JS-style error code.
    pub fn code(&self) -> &'static str {
        match self {
            ReplicatorError::InvalidData(e) => e.code(),
            ReplicatorError::UnknownRequest(_)
            | ReplicatorError::MismatchedData(_)
            | ReplicatorError::RequestIdOutOfRange(_)
            | ReplicatorError::TooManyRequests
            | ReplicatorError::TooManyInvalidRequests => "INVALID_OPERATION",
            ReplicatorError::OutOfRange { .. } => "BAD_ARGUMENT",
        }
    }
}

/// Whose fault a failed apply is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Our storage failed: not the peer's fault.
    Local,
    /// The proof is for a fork we are no longer (or not yet) on: outdated, not invalid.
    Stale,
    /// The peer sent something that does not verify.
    Remote,
}

/// Classifies an error from `apply_proof`/`reorg`.
pub(crate) fn classify(e: &HypercoreError) -> Fault {
    match e {
        HypercoreError::Storage(_)
        | HypercoreError::Corrupt(_)
        | HypercoreError::Tree(TreeError::Storage(_)) => Fault::Local,
        HypercoreError::ForkMismatch { .. } => Fault::Stale,
        _ => Fault::Remote,
    }
}

/// Whether a proof-generation error is ours to blame (storage) rather than the request's.
pub(crate) fn is_local_failure(e: &HypercoreError) -> bool {
    classify(e) == Fault::Local
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::verifier::VerifyError;
    use crate::storage::StorageError;

    #[test]
    fn codes_and_faults() {
        let bad = HypercoreError::Verify(VerifyError::InvalidSignature);
        assert_eq!(ReplicatorError::InvalidData(bad.clone()).code(), "INVALID_SIGNATURE");
        assert_eq!(classify(&bad), Fault::Remote);
        assert_eq!(classify(&HypercoreError::ForkMismatch { proof: 1, local: 2 }), Fault::Stale);
        let io = HypercoreError::Tree(TreeError::Storage(StorageError::Corrupt("x".into())));
        assert_eq!(classify(&io), Fault::Local);
        assert!(is_local_failure(&io));
        assert_eq!(ReplicatorError::TooManyInvalidRequests.code(), "INVALID_OPERATION");
        assert_eq!(ReplicatorError::OutOfRange { what: "range", start: 1, length: 2 }.code(), "BAD_ARGUMENT");
    }
}
