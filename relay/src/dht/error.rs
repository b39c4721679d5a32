//! [`DhtError`]: why a [`Dht`](super::Dht) call failed, with JS's `err.code`.

/// A failed DHT operation or connection.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DhtError {
    /// The socket could not be bound.
    #[error("cannot bind the DHT socket: {message}")]
    Bind {
        /// The OS error's kind.
        kind: std::io::ErrorKind,
        /// The OS error.
        message: String,
    },
    /// The socket failed for good.
    #[error("DHT socket failed: {0}")]
    Socket(String),
    /// The node was destroyed (JS `DESTROYED`).
    #[error("node destroyed")]
    Destroyed,
    /// No node answered the bootstrap nodes.
    #[error("bootstrap failed: no DHT node answered via {0}")]
    Bootstrap(String),
    /// The node or a connection flow reported an error (its JS code and message).
    #[error("{message}")]
    Node {
        /// JS `err.code` (`PEER_NOT_FOUND`, `REQUEST_TIMEOUT`, `PEER_CONNECTION_FAILED`, …).
        code: &'static str,
        /// What happened.
        message: String,
    },
    /// The caller passed something unusable.
    #[error("{0}")]
    BadArgument(String),
}

impl DhtError {
    /// JS's `err.code` for the same failure.
    pub fn code(&self) -> &'static str {
        match self {
            DhtError::Bind { kind: std::io::ErrorKind::AddrInUse, .. } => "EADDRINUSE",
            DhtError::Bind { kind: std::io::ErrorKind::PermissionDenied, .. } => "EACCES",
            DhtError::Bind { .. } => "EADDRNOTAVAIL",
            DhtError::Socket(_) => "ESOCKET",
            DhtError::Destroyed => "DESTROYED",
            DhtError::Bootstrap(_) => "BOOTSTRAP_FAILED",
            DhtError::Node { code, .. } => code,
            DhtError::BadArgument(_) => "INVALID_ARGUMENT",
        }
    }
}
