//! [`RelayClientError`]: why a [`RelayDht`](super::RelayDht) call failed, with JS-style codes.

use hyperwasm::relay_protocol::RelayError;

/// A failed relay-client call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RelayClientError {
    /// The URL is not a `ws://` / `wss://` URL the client can use.
    #[error("bad relay URL: {0}")]
    BadUrl(String),
    /// The first WebSocket to the relay could not be opened (or no `welcome` came in time).
    #[error("cannot reach the relay: {0}")]
    Unreachable(String),
    /// The client was destroyed (or its task ended).
    #[error("relay client destroyed")]
    Destroyed,
    /// The relay answered a query, dial or server with an error (PROTOCOL.md §10 code, or a
    /// hyperdht code such as `PEER_NOT_FOUND`).
    #[error("{code}: {message}")]
    Remote {
        /// The code (`PEER_NOT_FOUND`, `SESSION_EXPIRED`, `LIMIT_STREAMS`, …).
        code: String,
        /// Free text.
        message: String,
    },
    /// The client state machine refused the call (ids exhausted, replay buffer full, …).
    #[error("{0}")]
    Protocol(#[from] RelayError),
}

impl RelayClientError {
    /// The error code (hyperdht's `err.code` where one applies).
    pub fn code(&self) -> &str {
        match self {
            RelayClientError::BadUrl(_) => "INVALID_ARGUMENT",
            RelayClientError::Unreachable(_) => "RELAY_UNREACHABLE",
            RelayClientError::Destroyed => "DESTROYED",
            RelayClientError::Remote { code, .. } => code,
            RelayClientError::Protocol(e) => e.code(),
        }
    }

    pub(crate) fn remote(code: impl Into<String>, message: impl Into<String>) -> Self {
        RelayClientError::Remote { code: code.into(), message: message.into() }
    }
}
