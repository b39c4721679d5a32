//! [`RelayError`]: what can go wrong in `hyperwasm-relay/1`, with the protocol's codes
//! (PROTOCOL.md §10).

use crate::encoding::DecodeError;
use crate::hyperdht::noise_wrap::NoiseWrapError;
use crate::protomux::MuxError;

/// A `hyperwasm-relay/1` failure. Variants caused by the peer's bytes are protocol errors
/// ([`RelayError::is_protocol_violation`]): the session is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// A payload that does not decode exactly (truncated, trailing bytes, bad values).
    #[error("bad message: {0}")]
    Decode(#[from] DecodeError),
    /// A message type this protocol does not have.
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// A message that is valid but not allowed now or from this side (before `welcome`, an
    /// id out of its range, a duplicate id, an ack beyond what was sent, …).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The Protomux layer refused a frame.
    #[error("protomux: {0}")]
    Mux(#[from] MuxError),
    /// The peer sent `data` beyond the credit it was granted.
    #[error("stream {stream}: data beyond credit")]
    CreditExceeded {
        /// The stream.
        stream: u32,
    },
    /// The replay buffer of unacknowledged messages is full.
    #[error("replay buffer full ({bytes} bytes unacknowledged)")]
    ReplayFull {
        /// Bytes held.
        bytes: usize,
    },
    /// A call named an id that is not live.
    #[error("unknown id {0}")]
    UnknownId(u32),
    /// Every id of the client's range is live.
    #[error("no free id")]
    IdsExhausted,
    /// The call does not fit the state (a write after `end`, a write before `open`, …).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// A Noise handshake step failed.
    #[error("handshake: {0}")]
    Noise(#[from] NoiseWrapError),
    /// The session expired: its streams, servers and queries are gone.
    #[error("session expired")]
    SessionExpired,
}

impl RelayError {
    /// A protocol violation helper.
    pub fn protocol(why: impl Into<String>) -> Self {
        RelayError::Protocol(why.into())
    }

    /// The code of PROTOCOL.md §10 (or the wrapped layer's JS code).
    pub fn code(&self) -> &'static str {
        match self {
            RelayError::Decode(_) | RelayError::UnknownType(_) | RelayError::Protocol(_) => "BAD_MESSAGE",
            RelayError::Mux(e) => e.code(),
            RelayError::CreditExceeded { .. } => "CREDIT_EXCEEDED",
            RelayError::ReplayFull { .. } => "RATE_LIMITED",
            RelayError::UnknownId(_) => "UNKNOWN_ID",
            RelayError::IdsExhausted => "ID_IN_USE",
            RelayError::InvalidState(_) => "INVALID_STATE",
            RelayError::Noise(e) => e.code(),
            RelayError::SessionExpired => "SESSION_EXPIRED",
        }
    }

    /// Whether the peer broke the protocol (the session must be closed).
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            RelayError::Decode(_)
                | RelayError::UnknownType(_)
                | RelayError::Protocol(_)
                | RelayError::Mux(_)
                | RelayError::CreditExceeded { .. }
        )
    }
}
