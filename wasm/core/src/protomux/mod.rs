//! Protomux (npm `protomux`) as a sans-IO state machine: many protocol channels over one
//! message stream, control frames, batches, buffering of early messages.
//!
//! CONTRACT (issue 3, helper "protomux"). Input and output are whole secret-stream
//! messages (one protomux frame each).
//!
//! ```ignore
//! #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)] pub struct ChannelId(pub u32); // our local id, 1-based
//! pub struct ChannelSpec<'a> { pub protocol: &'a str, pub aliases: &'a [&'a str], pub id: Option<&'a [u8]>, pub handshake: &'a [u8] }
//! pub enum MuxEvent {
//!     /// The remote opened a (protocol, id) we have not opened: answer with `open` (same
//!     /// protocol and id) or `reject`. Messages for it are buffered meanwhile (≤ 32 KiB).
//!     RemoteOpen { protocol: String, id: Option<Vec<u8>> },
//!     /// Both sides opened; `handshake` is the remote's handshake payload.
//!     Opened { channel: ChannelId, handshake: Vec<u8> },
//!     Message { channel: ChannelId, message_type: u64, payload: Vec<u8> },
//!     /// The channel ended (remote close/reject, or our close). `remote` says who.
//!     Closed { channel: ChannelId, remote: bool },
//! }
//! pub struct Mux { .. }
//! impl Mux {
//!     pub fn new() -> Self;
//!     /// Opens (or answers a RemoteOpen). Error if this (protocol, id) is already open locally.
//!     pub fn open(&mut self, spec: ChannelSpec<'_>) -> Result<ChannelId, MuxError>;
//!     pub fn reject(&mut self, protocol: &str, id: Option<&[u8]>);
//!     pub fn close(&mut self, channel: ChannelId);
//!     pub fn send(&mut self, channel: ChannelId, message_type: u64, payload: &[u8]) -> Result<(), MuxError>;
//!     /// While corked, frames are collected into one batch frame (as JS `cork`/`uncork`).
//!     pub fn cork(&mut self); pub fn uncork(&mut self);
//!     pub fn is_open(&self, channel: ChannelId) -> bool;
//!     /// One decrypted secret-stream message. Err = protocol violation: destroy the stream.
//!     pub fn on_message(&mut self, frame: &[u8]) -> Result<(), MuxError>;
//!     pub fn poll_event(&mut self) -> Option<MuxEvent>;
//!     /// Next outgoing frame (one secret-stream message each).
//!     pub fn poll_transmit(&mut self) -> Option<Vec<u8>>;
//! }
//! ```
//! Files: `frame.rs` (control/batch codec), `mux.rs`, `error.rs` (`MuxError`).
