//! Errors of the hyperdht layer, with `code()` strings as JS `err.code` (hyperdht
//! `lib/errors.js`, dht-rpc `lib/errors.js`).

/// Why a hyperdht operation, connection or handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HyperDhtError {
    /// No node stores a record for the key (FIND_PEER found nothing to handshake through).
    #[error("PEER_NOT_FOUND: Peer not found")]
    PeerNotFound,
    /// Records were found but no handshake through them succeeded.
    #[error("PEER_CONNECTION_FAILED: Could not connect to peer")]
    PeerConnectionFailed,
    /// The server's payload has another version.
    #[error("SERVER_INCOMPATIBLE: Server is using an incompatible version")]
    ServerIncompatible,
    /// The server's payload carries an error, or no UDX section.
    #[error("SERVER_ERROR: {0}")]
    ServerError(&'static str),
    /// A request was not answered in time.
    #[error("REQUEST_TIMEOUT: Request timed out")]
    RequestTimeout,
    /// The node (or the operation) was destroyed before finishing.
    #[error("DESTROYED: Node destroyed")]
    Destroyed,
    /// The node runs too many requests or queries already (a local cap; try again later).
    #[error("REQUEST_OVERLOADED: too many requests in flight")]
    Overloaded,
    /// Both sides are firewalled and holepunching is needed, which this node does not do.
    #[error("CANNOT_HOLEPUNCH: Cannot holepunch to remote")]
    CannotHolepunch,
    /// Waiting for the peer's first UDX packet took too long.
    #[error("HOLEPUNCH_ABORTED: Holepunch aborted")]
    HolepunchAborted,
    /// The asked-for Noise message or payload never came.
    #[error("HANDSHAKE_UNFINISHED: Handshake did not finish")]
    HandshakeUnfinished,
    /// The handshake was given up by its key holder (e.g. msg2 did not decrypt).
    #[error("HANDSHAKE_INVALID: Received invalid handshake")]
    HandshakeInvalid,
    /// A PEER_HANDSHAKE answer that was not a REPLY from the node asked.
    #[error("BAD_HANDSHAKE_REPLY: Bad handshake reply")]
    BadHandshakeReply,
    /// `listen` on a key that is already listening on this node.
    #[error("KEYPAIR_ALREADY_USED: Keypair already used")]
    KeypairAlreadyUsed,
    /// The query got no usable reply to commit to (dht-rpc "Too few nodes responded").
    #[error("QUERY_FAILED: Too few nodes responded")]
    TooFewNodes,
    /// The operation, connection or server id is unknown (finished or never existed).
    #[error("UNKNOWN_ID: no such operation")]
    UnknownId,
    /// An argument was invalid (e.g. a signature for an operation that asked for none).
    #[error("INVALID_ARGUMENT: {0}")]
    InvalidArgument(&'static str),
}

impl HyperDhtError {
    /// The JS `err.code` string.
    pub fn code(&self) -> &'static str {
        match self {
            HyperDhtError::PeerNotFound => "PEER_NOT_FOUND",
            HyperDhtError::PeerConnectionFailed => "PEER_CONNECTION_FAILED",
            HyperDhtError::ServerIncompatible => "SERVER_INCOMPATIBLE",
            HyperDhtError::ServerError(_) => "SERVER_ERROR",
            HyperDhtError::RequestTimeout => "REQUEST_TIMEOUT",
            HyperDhtError::Destroyed => "DESTROYED",
            HyperDhtError::Overloaded => "REQUEST_OVERLOADED",
            HyperDhtError::CannotHolepunch => "CANNOT_HOLEPUNCH",
            HyperDhtError::HolepunchAborted => "HOLEPUNCH_ABORTED",
            HyperDhtError::HandshakeUnfinished => "HANDSHAKE_UNFINISHED",
            HyperDhtError::HandshakeInvalid => "HANDSHAKE_INVALID",
            HyperDhtError::BadHandshakeReply => "BAD_HANDSHAKE_REPLY",
            HyperDhtError::KeypairAlreadyUsed => "KEYPAIR_ALREADY_USED",
            HyperDhtError::TooFewNodes => "QUERY_FAILED",
            HyperDhtError::UnknownId => "UNKNOWN_ID",
            HyperDhtError::InvalidArgument(_) => "INVALID_ARGUMENT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_js() {
        assert_eq!(HyperDhtError::PeerNotFound.code(), "PEER_NOT_FOUND");
        assert_eq!(HyperDhtError::ServerError("x").code(), "SERVER_ERROR");
        assert!(HyperDhtError::CannotHolepunch.to_string().starts_with("CANNOT_HOLEPUNCH: "));
    }
}
