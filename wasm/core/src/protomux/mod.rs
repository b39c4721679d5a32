//! Protomux (npm `protomux` 3.x): many protocol channels over one message stream, as a
//! sans-IO state machine that is byte-compatible with the JS implementation.
//!
//! Input and output are whole secret-stream messages, one protomux frame each: feed every
//! decrypted message to [`Mux::on_message`], send every frame from [`Mux::poll_transmit`],
//! and handle every [`MuxEvent`] from [`Mux::poll_event`]. The wire format is described in
//! [`frame`].
//!
//! # Channels
//!
//! A channel is a (protocol, id) pair opened by both sides. [`Mux::open`] sends an `open`
//! with the local id it picks ([`ChannelId`]) and the protocol's handshake. When the remote
//! opens a pair we have not opened, [`MuxEvent::RemoteOpen`] asks the application to answer
//! with [`Mux::open`] (same protocol, or one of its aliases, and id) or [`Mux::reject`];
//! messages the remote sends meanwhile are buffered. When both sides opened,
//! [`MuxEvent::Opened`] carries the remote's handshake, then the buffered messages follow as
//! [`MuxEvent::Message`]s. Opens are paired first-in first-out per pair, as JS does.
//!
//! Rules kept from JS:
//! - the remote's ids are reused or grow by exactly one (anything else is
//!   [`MuxError::InvalidOpen`]);
//! - messages for unknown or closed channels, closes for unknown ids, and unknown control
//!   types are ignored; empty frames are ignored;
//! - batch entries whose length runs past the frame are cut to what is left;
//! - a close ends the channel on both sides without an answer, and both sides may reuse their
//!   local ids at once; an id we opened is kept until the remote answered (its `open` or
//!   `reject`), as JS `_free` does;
//! - [`Mux::cork`]/[`Mux::uncork`] build batch frames exactly like JS (flushed at 8 MiB).
//!
//! Deviations, all invisible on the wire to a JS peer:
//! - a close for an open we have not answered yet is answered with a `reject` (JS ignores
//!   it and later pairs with a dead channel); an `open` answering one of ours that we already
//!   closed is answered by repeating our `close`, for the same reason;
//! - the remote can make us hold a bounded amount ([`MuxLimits`]): past it,
//!   [`MuxError::BufferOverflow`] / [`MuxError::TooManyChannels`] (JS only pauses the stream
//!   at 32 KiB, which [`Mux::is_paused`] reports);
//! - a local id is reused only after the application polled its [`MuxEvent::Closed`], so
//!   events never mix two channels of the same id;
//! - a protocol name that is not UTF-8, or a `uint` above 2^53 − 1, is a decoding error (JS
//!   would decode them lossily; JS peers never send them).
//!
//! Errors from [`Mux::on_message`] are protocol violations: the caller destroys the stream.

mod error;
pub mod frame;
mod mux;
#[cfg(test)]
mod mux_tests;

pub use error::MuxError;
pub use mux::Mux;

/// JS `MAX_BUFFERED`: above this many bytes of buffered early messages (each counting 512
/// plus its payload), JS pauses the stream; see [`Mux::is_paused`].
pub const MAX_BUFFERED: usize = 32 * 1024;

/// Our local id of a channel (1-based; 0 is the control session). Ids are reused after a
/// channel closed and its [`MuxEvent::Closed`] was polled.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ChannelId(pub u32);

/// What [`Mux::open`] opens.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChannelSpec<'a> {
    /// Protocol name, e.g. `hypercore/alpha`.
    pub protocol: &'a str,
    /// Other names a remote may open the same protocol under, e.g. `hypercore`.
    pub aliases: &'a [&'a str],
    /// Channel id within the protocol (an empty id is no id).
    pub id: Option<&'a [u8]>,
    /// Handshake payload, sent at the end of the `open`.
    pub handshake: &'a [u8],
}

/// What the mux tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MuxEvent {
    /// The remote opened a (protocol, id) we have not opened: answer with [`Mux::open`]
    /// (same protocol and id) or [`Mux::reject`]. Messages for it are buffered meanwhile.
    RemoteOpen {
        /// Protocol name as the remote sent it.
        protocol: String,
        /// Channel id (`None` when absent or empty).
        id: Option<Vec<u8>>,
    },
    /// Both sides opened; `handshake` is the remote's handshake payload.
    Opened {
        /// The channel.
        channel: ChannelId,
        /// The rest of the remote's `open` after protocol and id.
        handshake: Vec<u8>,
    },
    /// A message on a fully open channel.
    Message {
        /// The channel.
        channel: ChannelId,
        /// The protocol's message type.
        message_type: u64,
        /// The encoded message.
        payload: Vec<u8>,
    },
    /// The channel ended (remote close or reject, our close, or [`Mux::shutdown`]).
    Closed {
        /// The channel.
        channel: ChannelId,
        /// The remote ended it (close, reject, shutdown) rather than our [`Mux::close`].
        remote: bool,
    },
}

/// Bounds on what the remote can make a [`Mux`] hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MuxLimits {
    /// Highest channel id the remote may open (its ids grow by one per concurrent channel).
    pub max_remote_channels: u32,
    /// Most bytes held for unanswered remote opens: each open and each message buffered for
    /// one counts 512 bytes plus its protocol, id, handshake or payload.
    pub max_held_bytes: usize,
}

impl Default for MuxLimits {
    fn default() -> Self {
        MuxLimits { max_remote_channels: 65_536, max_held_bytes: 8 * 1024 * 1024 }
    }
}
