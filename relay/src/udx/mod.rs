//! UDX: reliable, congestion-controlled streams over UDP, wire-compatible with libudx (the C
//! library inside JS `udx-native`), as sans-IO state machines.
//!
//! - [`packet`]: the 20-byte header, SACK blocks and `data_offset` rules.
//! - [`stream`]: one stream (sequencing, acks, reordering, end/destroy, flow control).
//! - `recovery` (private): what one stream has in flight, RTT, RACK loss detection, RTO, TLP.
//! - [`congestion`]: the sender-local congestion controller (CUBIC).
//! - `mtu` (private): path MTU probing with `data_offset` padding (1200 → 1500).
//! - [`endpoint`]: id → stream demultiplexing and the quinn-proto style surface the driver uses.
//!
//! Time is `now_ms: u64` from the driver; nothing here touches a socket or a clock.

pub mod congestion;
pub mod endpoint;
mod mtu;
pub mod packet;
mod recovery;
mod reorder;
mod ring;
pub mod stream;

pub use endpoint::{Endpoint, Event};
pub use stream::{Stream, StreamConfig, StreamInfo};

/// Bytes of the UDX header.
pub const HEADER_LEN: usize = 20;
/// IPv4 (20) + UDP (8) + UDX (20) header bytes counted against the MTU.
pub const IPV4_OVERHEAD: usize = 48;
/// The MTU every path is assumed to carry (libudx `UDX_MTU_BASE`).
pub const MTU_BASE: usize = 1200;
/// The largest MTU probed for (libudx `UDX_MTU_MAX`).
pub const MTU_MAX: usize = 1500;
/// Payload bytes per DATA packet at the base MTU: 1200 − 48 = 1152.
pub const BASE_PAYLOAD: usize = MTU_BASE - IPV4_OVERHEAD;
/// At most this many SACK blocks in one ACK (libudx `UDX_MAX_SACKS`).
pub const MAX_SACKS: usize = 50;
/// Largest MESSAGE payload accepted for sending (udx-native reads messages into 4 KiB).
pub const MAX_MESSAGE: usize = 4096;
/// Default receive window (libudx `UDX_DEFAULT_RWND_MAX`, 4 MiB).
pub const DEFAULT_RWND: u32 = 4 * 1024 * 1024;

/// Why a stream closed, or why a call on it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UdxError {
    /// Retransmission timed out too often without progress.
    #[error("UDX stream timed out")]
    TimedOut,
    /// The peer destroyed the stream.
    #[error("UDX stream reset by peer")]
    Reset,
    /// No live stream has this id.
    #[error("unknown UDX stream")]
    UnknownStream,
    /// `connect` on a stream that is already connected.
    #[error("UDX stream already connected")]
    AlreadyConnected,
    /// The operation needs a connected stream.
    #[error("UDX stream not connected")]
    NotConnected,
    /// `create_stream_with_id` with an id already in use.
    #[error("UDX stream id in use")]
    IdInUse,
    /// A MESSAGE larger than [`MAX_MESSAGE`].
    #[error("UDX message too large")]
    MessageTooLarge,
    /// Too many MESSAGEs queued on the stream.
    #[error("UDX message queue full")]
    MessageQueueFull,
}

impl UdxError {
    /// The `err.code` string JS uses for the same condition (libuv names).
    pub fn code(&self) -> &'static str {
        match self {
            UdxError::TimedOut => "ETIMEDOUT",
            UdxError::Reset => "ECONNRESET",
            UdxError::UnknownStream => "EBADF",
            UdxError::AlreadyConnected => "EISCONN",
            UdxError::NotConnected => "ENOTCONN",
            UdxError::IdInUse => "EEXIST",
            UdxError::MessageTooLarge => "EMSGSIZE",
            UdxError::MessageQueueFull => "ENOBUFS",
        }
    }
}

/// `a − b` as a signed distance on the 32-bit sequence circle.
#[inline]
pub(crate) fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}
