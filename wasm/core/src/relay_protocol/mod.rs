//! The client side and the shared pieces of `hyperwasm-relay/1` (`relay/PROTOCOL.md`): the
//! protocol a browser speaks over one WebSocket to `hyperwasm-relay serve` to reach the
//! HyperDHT while keeping its keys.
//!
//! Everything here is sans-IO and builds for wasm32: bytes, decoded messages and `now_ms: u64`
//! go in; frames, events and timer deadlines come out.
//!
//! - [`messages`]: the [`Message`] enum (every v1 message), exact-length encode/decode;
//! - [`reliable`]: per-direction sequencing, the replay buffer, ack scheduling and resume;
//! - [`credit`]: per-stream flow-control credit in both directions;
//! - [`client`]: [`RelayClient`], the client state machine (signing, Noise IK, queries,
//!   streams, servers, resume, keepalive);
//! - [`errors`]: [`RelayError`] with the protocol's error codes.
//!
//! The relay's session (crate `hyperwasm-relay`) builds on [`messages`], [`reliable`] and
//! [`credit`] too.

pub mod client;
mod client_events;
pub mod credit;
pub mod errors;
pub mod messages;
pub mod reliable;

pub use client::{ClientEvent, Firewall, RelayClient, RelayClientConfig};
pub use errors::RelayError;
pub use messages::Message;

/// The Protomux protocol name of this protocol (channel id `null`, empty handshake).
pub const PROTOCOL_NAME: &str = "hyperwasm-relay/1";
/// The version `hello` carries.
pub const VERSION: u64 = 1;

/// Ids the client picks (queries, servers, streams it dials) are in `1..CLIENT_ID_LIMIT`; the
/// relay's (incoming streams, handshakes `hs`, sign requests) are `>= CLIENT_ID_LIMIT`.
pub const CLIENT_ID_LIMIT: u32 = 1 << 31;
/// Most items in an array of a message (relay addresses, peers).
pub const MAX_ARRAY_ITEMS: usize = 1024;
/// Largest `data` payload (64 KiB); the smallest is 1 byte.
pub const MAX_DATA_LEN: usize = 64 * 1024;
/// Default stream credit per direction (1 MiB), as `welcome.streamCredit` advertises.
pub const DEFAULT_STREAM_CREDIT: u64 = 1024 * 1024;
/// How long a session survives its WebSocket unless `welcome` says otherwise (30 s).
pub const DEFAULT_GRACE_MS: u64 = 30_000;
/// A side sends `ping` after this long without sending anything (15 s).
pub const KEEPALIVE_MS: u64 = 15_000;
/// A side drops a socket that received nothing for this long (45 s).
pub const IDLE_TIMEOUT_MS: u64 = 45_000;

/// Message type numbers (PROTOCOL.md §4–§8).
pub mod types {
    /// `hello` (C→R).
    pub const HELLO: u64 = 0;
    /// `welcome` (R→C).
    pub const WELCOME: u64 = 1;
    /// `ack` (both).
    pub const ACK: u64 = 2;
    /// `ping` (both).
    pub const PING: u64 = 3;
    /// `pong` (both).
    pub const PONG: u64 = 4;
    /// `error` (R→C).
    pub const ERROR: u64 = 5;
    /// `lookup` (C→R).
    pub const LOOKUP: u64 = 10;
    /// `announce` (C→R).
    pub const ANNOUNCE: u64 = 11;
    /// `unannounce` (C→R).
    pub const UNANNOUNCE: u64 = 12;
    /// `findPeer` (C→R).
    pub const FIND_PEER: u64 = 13;
    /// `cancel` (C→R).
    pub const CANCEL: u64 = 14;
    /// `result` (R→C).
    pub const RESULT: u64 = 15;
    /// `done` (R→C).
    pub const DONE: u64 = 16;
    /// `sign` (R→C).
    pub const SIGN: u64 = 17;
    /// `signature` (C→R).
    pub const SIGNATURE: u64 = 18;
    /// `connect` (C→R).
    pub const CONNECT: u64 = 20;
    /// `noiseInit` (R→C).
    pub const NOISE_INIT: u64 = 21;
    /// `noiseMsg1` (C→R).
    pub const NOISE_MSG1: u64 = 22;
    /// `noiseMsg2` (R→C).
    pub const NOISE_MSG2: u64 = 23;
    /// `noiseRemote` (C→R).
    pub const NOISE_REMOTE: u64 = 24;
    /// `open` (R→C).
    pub const OPEN: u64 = 25;
    /// `listen` (C→R).
    pub const LISTEN: u64 = 30;
    /// `listening` (R→C).
    pub const LISTENING: u64 = 31;
    /// `unlisten` (C→R).
    pub const UNLISTEN: u64 = 32;
    /// `handshake` (R→C).
    pub const HANDSHAKE: u64 = 33;
    /// `accept` (C→R).
    pub const ACCEPT: u64 = 34;
    /// `reject` (C→R).
    pub const REJECT: u64 = 35;
    /// `incoming` (R→C).
    pub const INCOMING: u64 = 36;
    /// `unlistened` (R→C).
    pub const UNLISTENED: u64 = 37;
    /// `data` (both).
    pub const DATA: u64 = 40;
    /// `credit` (both).
    pub const CREDIT: u64 = 41;
    /// `end` (both).
    pub const END: u64 = 42;
    /// `close` (both).
    pub const CLOSE: u64 = 43;
}
