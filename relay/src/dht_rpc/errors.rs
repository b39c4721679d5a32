//! Errors of the dht-rpc layer, with JS's `err.code` strings (`lib/errors.js`).

use thiserror::Error;

/// Why a request or query did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RpcError {
    /// No reply after the last retry.
    #[error("REQUEST_TIMEOUT: Request timed out")]
    RequestTimeout,
    /// Cancelled, or the node was destroyed.
    #[error("REQUEST_DESTROYED: Request destroyed")]
    Destroyed,
    /// Too many requests or queries in flight (a local cap, no JS counterpart).
    #[error("REQUEST_OVERLOADED: too many requests in flight")]
    Overloaded,
}

impl RpcError {
    /// The JS error code (`err.code`).
    pub fn code(&self) -> &'static str {
        match self {
            RpcError::RequestTimeout => "REQUEST_TIMEOUT",
            RpcError::Destroyed => "REQUEST_DESTROYED",
            RpcError::Overloaded => "REQUEST_OVERLOADED",
        }
    }
}
