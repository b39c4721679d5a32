//! What [`super::RelayClient`] tells its application ([`ClientEvent`]) and the options it
//! takes ([`RelayClientConfig`], [`Firewall`]).

use std::net::SocketAddrV4;

use super::messages::Limits;
use crate::hyperdht::messages::{NoisePayload, Peer};
use crate::noise::HandshakeResult;

/// A query id (lookup, announce, unannounce, findPeer); queries and servers share one space.
pub type QueryId = u32;
/// A server id (from [`super::RelayClient::listen`]).
pub type ServerId = u32;
/// A stream id: the client's (dialled) below 2^31, the relay's (incoming) from 2^31.
pub type StreamId = u32;
/// A relay-chosen handshake id (`hs`).
pub type HandshakeId = u32;

/// How a server decides on incoming handshakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Firewall {
    /// Accept every client (hyperdht's default firewall).
    #[default]
    AcceptAll,
    /// Ask the application with [`ClientEvent::FirewallRequest`]; it answers with
    /// [`super::RelayClient::firewall_decision`].
    Ask,
}

/// Options of a [`super::RelayClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayClientConfig {
    /// Most bytes of sequenced messages held until the relay acknowledges them (payloads plus
    /// 16 bytes each). Stream writes stop [`RelayClientConfig::control_headroom`] below it.
    pub max_replay_bytes: usize,
    /// Replay bytes kept free for control messages (stream writes never use them).
    pub control_headroom: usize,
    /// Most handshakes of incoming connections held at once (waiting for a firewall decision
    /// or for `incoming`); more are rejected.
    pub max_pending_handshakes: usize,
    /// How long an incoming handshake is held.
    pub handshake_timeout_ms: u64,
}

impl Default for RelayClientConfig {
    fn default() -> Self {
        RelayClientConfig {
            max_replay_bytes: 4 * 1024 * 1024 + 64 * 1024,
            control_headroom: 64 * 1024,
            max_pending_handshakes: 64,
            handshake_timeout_ms: 60_000,
        }
    }
}

/// What happened, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A new session began (the first `welcome`, or one after the old session expired).
    SessionStarted {
        /// What the relay allows.
        limits: Limits,
        /// The stream credit the relay grants per direction.
        stream_credit: u64,
        /// How long the session survives a dropped socket.
        grace_ms: u64,
    },
    /// The session survived a reconnect: everything carries on.
    SessionResumed,
    /// The session is gone (token refused or grace period over): every query, server and
    /// stream of it was reported failed/closed with `SESSION_EXPIRED` just before.
    SessionExpired,
    /// The relay reported a session error (`error{ref 0}`); it closes the session.
    SessionError {
        /// PROTOCOL.md §10 code.
        code: String,
        /// Free text.
        message: String,
    },
    /// Nothing arrived for 45 s: drop the socket and reconnect (the session lives on for its
    /// grace period).
    IdleTimeout,
    /// The relay closed our Protomux channel: drop the socket.
    RelayClosed,
    /// One DHT node's answer to a query.
    QueryResult {
        /// The query.
        id: QueryId,
        /// The node that answered.
        from: SocketAddrV4,
        /// The peers it stores (lookup/findPeer).
        peers: Vec<Peer>,
    },
    /// The query finished.
    QueryDone {
        /// The query.
        id: QueryId,
        /// Records stored or removed (announce/unannounce).
        commits: u64,
    },
    /// The query failed.
    QueryFailed {
        /// The query.
        id: QueryId,
        /// hyperdht or relay code (`PEER_NOT_FOUND`, `SESSION_EXPIRED`, …).
        code: String,
        /// Free text.
        message: String,
    },
    /// The relay asked us to sign something we did not ask for (wrong target or key); we
    /// answered `refused`.
    SignRefused {
        /// The query or server it named.
        id: u32,
        /// Why.
        reason: &'static str,
    },
    /// A server is announced and reachable through these DHT nodes.
    Listening {
        /// The server.
        server: ServerId,
        /// The nodes routing handshakes to it.
        relay_addresses: Vec<SocketAddrV4>,
    },
    /// A server stopped after [`super::RelayClient::unlisten`].
    Unlistened {
        /// The server.
        server: ServerId,
    },
    /// A server failed (`error{ref server}` or session expiry).
    ServerClosed {
        /// The server.
        server: ServerId,
        /// Why.
        code: String,
    },
    /// A client wants to connect to a server whose firewall is [`Firewall::Ask`].
    FirewallRequest {
        /// The server.
        server: ServerId,
        /// The handshake to answer.
        hs: HandshakeId,
        /// The client's static key.
        remote_public_key: [u8; 32],
        /// The client's handshake payload.
        remote_payload: NoisePayload,
        /// Where its handshake came from.
        peer_address: SocketAddrV4,
    },
    /// A dialled stream is connected: run secret-stream over its bytes with `handshake`.
    StreamOpen {
        /// The stream.
        id: StreamId,
        /// The server's key.
        remote_public_key: [u8; 32],
        /// The server's address as the relay sees it.
        remote_address: SocketAddrV4,
        /// Noise result (tx/rx keys, hash) for `SecretStream::from_handshake`.
        handshake: HandshakeResult,
    },
    /// A client connected to one of our servers: run secret-stream with `handshake`.
    Incoming {
        /// The server.
        server: ServerId,
        /// The new (relay-chosen) stream.
        stream: StreamId,
        /// The client's key.
        remote_public_key: [u8; 32],
        /// The client's address as the relay sees it.
        remote_address: SocketAddrV4,
        /// Noise result for `SecretStream::from_handshake`.
        handshake: HandshakeResult,
    },
    /// Bytes (secret-stream ciphertext) arrived; report them consumed with
    /// [`super::RelayClient::stream_consumed`] to keep credit flowing.
    StreamData {
        /// The stream.
        id: StreamId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The relay granted more send credit.
    StreamWritable {
        /// The stream.
        id: StreamId,
        /// Bytes that may be written now.
        available: u64,
    },
    /// The remote half-closed the stream.
    StreamEnded {
        /// The stream.
        id: StreamId,
    },
    /// The stream is gone (also a dial that failed); its id may be reused.
    StreamClosed {
        /// The stream.
        id: StreamId,
        /// Empty = clean; else a code (`PEER_NOT_FOUND`, `ECONNRESET`, `CREDIT_EXCEEDED`, …).
        code: String,
    },
}
