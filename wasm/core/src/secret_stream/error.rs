//! [`SecretStreamError`]: why a secret stream failed. Every error is fatal for the stream.

use super::framing::FrameTooLarge;
use crate::noise::NoiseError;

/// Why a secret stream failed. After an error the stream returns it again from every call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretStreamError {
    /// The Noise handshake failed (JS: "Noise handshake failed").
    #[error("noise handshake failed: {0}")]
    Handshake(#[from] NoiseError),
    /// The remote's header message is not 56 bytes (JS: "Invalid header message received").
    #[error("invalid header message of {0} bytes (want 56)")]
    InvalidHeader(usize),
    /// The remote's stream id does not match the handshake (JS: "Invalid header received").
    #[error("remote stream id does not match the handshake")]
    BadStreamId,
    /// A message shorter than the 17-byte secretstream overhead (JS: "Invalid message received").
    #[error("message of {0} bytes is shorter than the secretstream overhead")]
    InvalidMessage(usize),
    /// A message failed authentication.
    #[error("message decryption failed")]
    Decrypt,
    /// A frame longer than the limit.
    #[error(transparent)]
    FrameTooLarge(#[from] FrameTooLarge),
    /// `send` of a message that does not fit one frame (JS: "Message is too large for an
    /// atomic write").
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    MessageTooLarge {
        /// The message's length.
        len: usize,
        /// The largest plaintext that fits a frame.
        max: usize,
    },
    /// Nothing was received for the idle timeout (JS: "Stream timed out").
    #[error("stream timed out")]
    Timeout,
    /// The random source failed (secretstream header).
    #[error("random source unavailable: {0}")]
    Random(String),
}

impl SecretStreamError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SecretStreamError::Handshake(_) => "HANDSHAKE_FAILED",
            SecretStreamError::InvalidHeader(_) => "INVALID_HEADER",
            SecretStreamError::BadStreamId => "BAD_STREAM_ID",
            SecretStreamError::InvalidMessage(_) => "INVALID_MESSAGE",
            SecretStreamError::Decrypt => "DECRYPT_FAILED",
            SecretStreamError::FrameTooLarge(_) => "FRAME_TOO_LARGE",
            SecretStreamError::MessageTooLarge { .. } => "MESSAGE_TOO_LARGE",
            SecretStreamError::Timeout => "TIMEOUT",
            SecretStreamError::Random(_) => "RANDOM_FAILED",
        }
    }
}
