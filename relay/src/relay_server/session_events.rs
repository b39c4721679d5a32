//! The session's interface: its configuration, the commands it gives the DHT side and the
//! events it takes from it (see `session.rs`).

use std::net::SocketAddrV4;

use hyperwasm::hyperdht::messages::{NoisePayload, Peer};
use hyperwasm::relay_protocol::messages::Limits;
use hyperwasm::relay_protocol::MAX_DATA_LEN;

use crate::hyperdht::SignParts;

/// What a session allows and how it times out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Live streams (dialled and incoming) at once.
    pub max_streams: u64,
    /// Live servers at once.
    pub max_servers: u64,
    /// Live queries (lookup, announce, unannounce, findPeer) at once.
    pub max_queries: u64,
    /// Inbound bytes per second the relay reads from the socket (0 = no limit); advertised.
    pub bytes_per_second: u64,
    /// How long the session survives its socket.
    pub grace_ms: u64,
    /// Credit per stream and direction at `open`/`incoming`.
    pub stream_credit: u64,
    /// Ping after this long without sending.
    pub keepalive_ms: u64,
    /// Drop the socket after this long without receiving.
    pub idle_ms: u64,
    /// How long an ask (sign, noise, handshake) waits for the client.
    pub ask_timeout_ms: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_streams: 64,
            max_servers: 8,
            max_queries: 32,
            bytes_per_second: 0,
            grace_ms: hyperwasm::relay_protocol::DEFAULT_GRACE_MS,
            stream_credit: hyperwasm::relay_protocol::DEFAULT_STREAM_CREDIT,
            keepalive_ms: hyperwasm::relay_protocol::KEEPALIVE_MS,
            idle_ms: hyperwasm::relay_protocol::IDLE_TIMEOUT_MS,
            ask_timeout_ms: crate::dht::delegate::ASK_TIMEOUT_MS,
        }
    }
}

/// Unacknowledged bytes in a session's replay buffer above which the relay stops reading its
/// streams' UDX sides (PROTOCOL.md §4): a client that grants credit but never acks costs at
/// most this much stream data (plus one read of each stream that was under way).
pub const REPLAY_HIGH_WATER: usize = 4 << 20;

impl SessionConfig {
    /// The replay buffer bound: the high-water mark, one 64 KiB read per stream that was
    /// under way when the mark was crossed, and 1 MiB of control messages. Beyond it the
    /// session ends (`RATE_LIMITED`): only a client that stops acking while its queries keep
    /// producing results gets there.
    pub fn max_replay_bytes(&self) -> usize {
        let reads = self.max_streams.saturating_mul(MAX_DATA_LEN as u64 + 64);
        let total = reads.saturating_add(REPLAY_HIGH_WATER as u64).saturating_add(1 << 20);
        usize::try_from(total).unwrap_or(usize::MAX)
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_streams: self.max_streams,
            max_servers: self.max_servers,
            max_queries: self.max_queries,
            bytes_per_second: self.bytes_per_second,
        }
    }
}

/// The DHT side's handle for one ask; answered with [`SessionCommand::Answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AskId(pub u64);

/// The client's answer to an ask (`None`: refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskAnswer {
    /// A signature.
    Signature(Option<[u8; 64]>),
    /// The initiator's msg1.
    Msg1(Option<Vec<u8>>),
    /// The server's payload, decrypted from msg2.
    Remote(Option<NoisePayload>),
    /// A responder's `(msg2, client payload)`.
    Handshake(Option<(Vec<u8>, NoisePayload)>),
}

/// A query to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryKind {
    /// `lookup`.
    Lookup {
        /// Topic.
        topic: [u8; 32],
    },
    /// `findPeer`.
    FindPeer {
        /// Server key.
        public_key: [u8; 32],
    },
    /// `announce` (delegated signing).
    Announce {
        /// Topic.
        topic: [u8; 32],
        /// The client's key.
        public_key: [u8; 32],
        /// Relays to put in the record.
        relay_addresses: Vec<SocketAddrV4>,
    },
    /// `unannounce` (delegated signing).
    Unannounce {
        /// Topic.
        topic: [u8; 32],
        /// The client's key.
        public_key: [u8; 32],
    },
}

/// What the session asks of the DHT side. Ids are the client's wire ids (streams: the
/// session's stream ids, relay-chosen ones for incoming connections).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // short-lived queue items; answers carry a payload
pub enum SessionCommand {
    /// Start a query; report [`DhtEvent::QueryReply`]s then `QueryDone`/`QueryFailed`.
    Query {
        /// Query id.
        id: u32,
        /// What to run.
        kind: QueryKind,
    },
    /// Stop a query (no more events wanted).
    CancelQuery {
        /// Query id.
        id: u32,
    },
    /// Dial (`connect_delegated`).
    Connect {
        /// Stream id.
        stream: u32,
        /// Server key.
        remote_public_key: [u8; 32],
        /// The client's key.
        public_key: [u8; 32],
        /// Known relays.
        relay_addresses: Vec<SocketAddrV4>,
    },
    /// Listen (`listen_delegated`).
    Listen {
        /// Server id.
        server: u32,
        /// The client's key.
        public_key: [u8; 32],
    },
    /// Stop listening.
    Unlisten {
        /// Server id.
        server: u32,
    },
    /// Answer an ask.
    Answer {
        /// The ask.
        ask: AskId,
        /// The answer.
        answer: AskAnswer,
    },
    /// Serve the incoming connection `conn` (from [`DhtEvent::Incoming`]) as `stream`.
    AdoptIncoming {
        /// The DHT side's key.
        conn: u64,
        /// The stream id given to the client.
        stream: u32,
    },
    /// Drop the incoming connection `conn` (over the stream limit, or its server is gone).
    DropIncoming {
        /// The DHT side's key.
        conn: u64,
    },
    /// Read up to `bytes` more from the stream's UDX side (the client's credit).
    ReadMore {
        /// Stream.
        stream: u32,
        /// Bytes.
        bytes: u64,
    },
    /// Write the client's bytes to the stream; report [`DhtEvent::Written`] once accepted.
    Write {
        /// Stream.
        stream: u32,
        /// Bytes.
        bytes: Vec<u8>,
    },
    /// End our side after the writes (UDX END).
    End {
        /// Stream.
        stream: u32,
    },
    /// Destroy the stream (or abandon the dial).
    Destroy {
        /// Stream.
        stream: u32,
    },
    /// Release a stream that closed cleanly (both sides ended): let it finish.
    Release {
        /// Stream.
        stream: u32,
    },
}

/// What the DHT side reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhtEvent {
    /// One replying node of a query.
    QueryReply {
        /// Query id.
        id: u32,
        /// The node.
        from: SocketAddrV4,
        /// Its records.
        peers: Vec<Peer>,
    },
    /// The query ended.
    QueryDone {
        /// Query id.
        id: u32,
        /// Records stored/removed.
        commits: u64,
    },
    /// The query failed.
    QueryFailed {
        /// Query id.
        id: u32,
        /// hyperdht code.
        code: String,
    },
    /// A signature for query or server `id`.
    Sign {
        /// Query or server id.
        id: u32,
        /// The ask.
        ask: AskId,
        /// What to sign.
        parts: SignParts,
    },
    /// A dial needs msg1 for this payload.
    NoiseInit {
        /// Stream.
        stream: u32,
        /// The ask.
        ask: AskId,
        /// Our node's payload.
        local_payload: NoisePayload,
    },
    /// A dial got the server's msg2.
    NoiseMsg2 {
        /// Stream.
        stream: u32,
        /// The ask.
        ask: AskId,
        /// msg2.
        msg2: Vec<u8>,
    },
    /// The dial connected.
    Opened {
        /// Stream.
        stream: u32,
        /// The server's address.
        remote_address: SocketAddrV4,
    },
    /// The dial failed.
    ConnectFailed {
        /// Stream.
        stream: u32,
        /// hyperdht code.
        code: String,
    },
    /// The server is announced.
    Listening {
        /// Server id.
        server: u32,
        /// Nodes routing handshakes to it.
        relay_addresses: Vec<SocketAddrV4>,
    },
    /// The server could not start.
    ListenFailed {
        /// Server id.
        server: u32,
        /// hyperdht code.
        code: String,
    },
    /// A client handshake for a server.
    Handshake {
        /// Server id.
        server: u32,
        /// The ask.
        ask: AskId,
        /// The node's handshake id (the `Incoming` that follows names it).
        hs: u64,
        /// The client's address.
        peer_address: SocketAddrV4,
        /// msg1.
        msg1: Vec<u8>,
        /// Our node's payload.
        local_payload: NoisePayload,
    },
    /// An accepted handshake connected.
    Incoming {
        /// Server id.
        server: u32,
        /// The node's handshake id.
        hs: u64,
        /// The DHT side's key for the connection.
        conn: u64,
        /// The client's address.
        remote_address: SocketAddrV4,
    },
    /// Bytes read from the stream (within what `ReadMore` allowed).
    StreamData {
        /// Stream.
        stream: u32,
        /// Bytes (at most 64 KiB).
        bytes: Vec<u8>,
    },
    /// The UDX stream accepted `bytes` of the client's writes.
    Written {
        /// Stream.
        stream: u32,
        /// Bytes.
        bytes: u64,
    },
    /// The peer ended its side.
    StreamEnded {
        /// Stream.
        stream: u32,
    },
    /// The stream failed or was reset (`code`: `ECONNRESET`, `ETIMEDOUT`, …).
    StreamClosed {
        /// Stream.
        stream: u32,
        /// Why.
        code: String,
    },
}

/// Why the socket must close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketClose {
    /// Nothing received for `idle_ms`: drop the socket, keep the session for `grace_ms`.
    Idle,
    /// The session is over (protocol error, drained): close after flushing the frames.
    Ended {
        /// The WebSocket close code (1002 protocol error, 1001 going away).
        ws_code: u16,
        /// The error code sent.
        code: &'static str,
    },
}
