//! [`MuxError`]: protocol violations by the remote (fatal for the stream) and misuse of a
//! channel by the local side.

use super::ChannelId;
use crate::encoding::DecodeError;

/// Why a [`Mux`](super::Mux) call failed.
///
/// Errors from [`Mux::on_message`](super::Mux::on_message) are protocol violations by the
/// remote ([`MuxError::is_protocol_violation`]): JS destroys the stream for each of them, and
/// the caller must do the same. Errors from the local API (`open`, `send`) leave the mux usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MuxError {
    /// A frame or control message did not decode (JS: compact-encoding "Out of bounds").
    #[error("malformed protomux frame: {0}")]
    Decode(#[from] DecodeError),
    /// An `open` for remote id 0, for an id more than one above the highest the remote used,
    /// or for an id it still holds (JS: "Invalid open message").
    #[error("invalid open message for remote channel id {0}")]
    InvalidOpen(u64),
    /// A `reject` for a local id we are not waiting on (JS: "Invalid reject message").
    #[error("invalid reject message for local channel id {0}")]
    InvalidReject(u64),
    /// The remote opened more channels than [`MuxLimits::max_remote_channels`](super::MuxLimits).
    #[error("remote opened channel id {id}, above the limit of {limit}")]
    TooManyChannels {
        /// The remote channel id of the open.
        id: u64,
        /// The configured limit.
        limit: u32,
    },
    /// Unanswered remote opens and the messages buffered for them exceed
    /// [`MuxLimits::max_held_bytes`](super::MuxLimits).
    #[error("remote exceeded the buffer for unanswered channels ({held} > {limit} bytes)")]
    BufferOverflow {
        /// Bytes held (JS accounting: 512 per message plus its payload).
        held: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Batches nested deeper than JS ever sends them.
    #[error("protomux batches nested deeper than {0}")]
    BatchTooDeep(usize),
    /// `open` of a (protocol, id) pair this side already has open.
    #[error("channel {protocol:?} is already open")]
    AlreadyOpen {
        /// The protocol name.
        protocol: String,
    },
    /// `send` on a channel that is closed or was never opened.
    #[error("channel {0:?} is not open")]
    ChannelClosed(ChannelId),
    /// Every local channel id is in use.
    #[error("no local channel id left")]
    OutOfIds,
}

impl MuxError {
    /// A stable string code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            MuxError::Decode(_) => "DECODING_ERROR",
            MuxError::InvalidOpen(_) => "INVALID_OPEN",
            MuxError::InvalidReject(_) => "INVALID_REJECT",
            MuxError::TooManyChannels { .. } => "TOO_MANY_CHANNELS",
            MuxError::BufferOverflow { .. } => "BUFFER_OVERFLOW",
            MuxError::BatchTooDeep(_) => "BATCH_TOO_DEEP",
            MuxError::AlreadyOpen { .. } => "ALREADY_OPEN",
            MuxError::ChannelClosed(_) => "CHANNEL_CLOSED",
            MuxError::OutOfIds => "OUT_OF_IDS",
        }
    }

    /// Whether the remote broke the protocol (the stream must be destroyed), as opposed to a
    /// rejected local call.
    pub fn is_protocol_violation(&self) -> bool {
        !matches!(self, MuxError::AlreadyOpen { .. } | MuxError::ChannelClosed(_) | MuxError::OutOfIds)
    }
}
