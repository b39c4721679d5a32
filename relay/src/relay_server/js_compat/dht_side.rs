//! What a [`super::session::Session`] asks of the DHT and what the DHT tells it: the session's
//! half of the relay's delegate API (`relay::dht::delegate`, `docs/relay.md`).
//!
//! The I/O layer turns each [`DhtCommand`] into a call on the `Dht` handle (`lookup`,
//! `announce_delegated`, `connect_delegated`, `listen_delegated`, stream writes) and each
//! delegate `Ask` into a [`DhtEvent`] with an [`AskId`] of its choosing (unique per session),
//! keeping the ask's oneshot until a [`DhtCommand::Answer`] names that id. An answer of `None`
//! (or a dropped ask) is a refusal.
//!
//! Ids: [`StreamId`] and [`ServerId`] are chosen by the session (they are also the relay's
//! aliases on the wire); query ids are the client's; [`AskId`]s are the I/O layer's.

use std::net::SocketAddrV4;

use hyperwasm::hyperdht::messages::NoisePayload;

use super::codecs::{Announcers, Key, Peer};

/// A stream (one UDX connection), outgoing or incoming; also the relay's stream alias.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

/// A server the client listens with; also the relay's server alias.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u32);

/// One delegate ask, named by the I/O layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AskId(pub u64);

/// Which record a signature is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignKind {
    /// An ANNOUNCE record (`NS_ANNOUNCE`).
    Announce,
    /// An UNANNOUNCE (`NS_UNANNOUNCE`).
    Unannounce,
}

/// Whose operation wants a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignOwner {
    /// The client's announce/unannounce query (its id).
    Query(u32),
    /// A server's self-announce.
    Server(ServerId),
}

/// The session's requests to the DHT side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhtCommand {
    /// `dht.lookup(topic)`: report each reply with [`DhtEvent::QueryReply`], then
    /// [`DhtEvent::QueryDone`].
    Lookup {
        /// The client's query id.
        query: u32,
        /// Topic.
        topic: Key,
    },
    /// `announce_delegated(topic, public_key, relay_addresses)`: signatures come back through
    /// [`DhtEvent::Sign`]; replies and the end as for [`DhtCommand::Lookup`].
    Announce {
        /// The client's query id.
        query: u32,
        /// Topic.
        topic: Key,
        /// The announcing key.
        public_key: Key,
        /// The record's relay addresses: those of the session's server with the same key, if
        /// it listens (the JS message carries none).
        relay_addresses: Vec<SocketAddrV4>,
    },
    /// `unannounce_delegated(topic, public_key)` (JS runs `lookupAndUnannounce`).
    Unannounce {
        /// The client's query id.
        query: u32,
        /// Topic.
        topic: Key,
        /// The key whose records go.
        public_key: Key,
    },
    /// Stop a query whose client went away (no further events wanted).
    CancelQuery {
        /// The client's query id.
        query: u32,
    },
    /// `connect_delegated(remote_public_key, public_key)`: the Noise messages come back
    /// through [`DhtEvent::InitiatorMessage`] and [`DhtEvent::ResponderMessage`], then
    /// [`DhtEvent::Connected`] or [`DhtEvent::ConnectFailed`].
    Connect {
        /// The stream's id.
        stream: StreamId,
        /// The client's key for this connection.
        public_key: Key,
        /// The server to dial.
        remote_public_key: Key,
    },
    /// `listen_delegated(public_key)`: signatures through [`DhtEvent::Sign`], then
    /// [`DhtEvent::Listening`]; each client handshake as [`DhtEvent::Handshake`].
    Listen {
        /// The server's id.
        server: ServerId,
        /// Its key.
        public_key: Key,
    },
    /// Close a server (unannounce it); [`DhtEvent::ServerClosed`] follows.
    Unlisten {
        /// The server.
        server: ServerId,
    },
    /// The answer to an ask.
    Answer(Answer),
    /// Write ciphertext to a stream.
    Write {
        /// The stream.
        stream: StreamId,
        /// Bytes (never empty).
        data: Vec<u8>,
    },
    /// Half-close a stream (UDX END).
    End {
        /// The stream.
        stream: StreamId,
    },
    /// Destroy a stream (or abort its connect); no event follows.
    Destroy {
        /// The stream.
        stream: StreamId,
    },
    /// The session ended after the client ended its side of this stream (`end`): let the
    /// stream finish cleanly instead of destroying it (the writes already queued and the UDX
    /// END go out; what the peer still sends is dropped); no event follows.
    Release {
        /// The stream.
        stream: StreamId,
    },
    /// The socket's send queue went above the high-water mark: stop reading this session's
    /// UDX streams.
    PauseReading,
    /// The queue fell below the low-water mark: read them again.
    ResumeReading,
}

/// Answers to the delegate's asks (`None` = refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `Ask::Sign`.
    Sign {
        /// The ask.
        ask: AskId,
        /// The Ed25519 signature, checked against the signable.
        signature: Option<[u8; 64]>,
    },
    /// `Ask::InitiatorMessage`: Noise IK msg1.
    InitiatorMessage {
        /// The ask.
        ask: AskId,
        /// msg1.
        msg1: Option<Vec<u8>>,
    },
    /// `Ask::ResponderMessage`: the server's payload the client decrypted from msg2.
    ResponderMessage {
        /// The ask.
        ask: AskId,
        /// The server's payload.
        remote_payload: Option<Box<NoisePayload>>,
    },
    /// `Ask::Handshake`: accept with msg2 and the client's payload, or reject.
    Handshake {
        /// The ask.
        ask: AskId,
        /// Accepted: what the node needs, and the id the incoming stream will have.
        accept: Option<Box<Accepted>>,
    },
}

/// An accepted client handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Noise msg2 (carries our payload, its `error` set from the client's payload).
    pub msg2: Vec<u8>,
    /// The connecting client's payload.
    pub remote_payload: NoisePayload,
    /// The id to report the stream with ([`DhtEvent::Incoming`] / [`DhtEvent::HandshakeFailed`]).
    pub stream: StreamId,
}

/// What the DHT side reports to the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhtEvent {
    /// One reply of a lookup/announce/unannounce (the lookup phase).
    QueryReply {
        /// The client's query id.
        query: u32,
        /// The reply.
        reply: Announcers,
    },
    /// A query ended (successfully or not: the JS protocol has only `finished`).
    QueryDone {
        /// The client's query id.
        query: u32,
    },
    /// `Ask::Sign`: a record to sign.
    Sign {
        /// The ask.
        ask: AskId,
        /// Whose operation.
        owner: SignOwner,
        /// Announce or unannounce.
        kind: SignKind,
        /// The record's target (the topic, or `hash(publicKey)` for a server).
        target: Key,
        /// The storing node's id.
        node_id: Key,
        /// The storing node's token.
        token: Key,
        /// The record.
        peer: Peer,
        /// hyperdht's refresh token, if the record has one (the JS client cannot sign those).
        refresh: Option<Key>,
        /// The 64 bytes the signature must cover, as the node computed them.
        signable: [u8; 64],
    },
    /// `Ask::InitiatorMessage`: make msg1 carrying our payload.
    InitiatorMessage {
        /// The ask.
        ask: AskId,
        /// The connect.
        stream: StreamId,
        /// Our payload.
        local_payload: Box<NoisePayload>,
    },
    /// `Ask::ResponderMessage`: the server's msg2, to decrypt.
    ResponderMessage {
        /// The ask.
        ask: AskId,
        /// The connect.
        stream: StreamId,
        /// msg2.
        msg2: Vec<u8>,
    },
    /// `Ask::Handshake`: a peer dials a server.
    Handshake {
        /// The ask.
        ask: AskId,
        /// The server.
        server: ServerId,
        /// The peer's msg1.
        msg1: Vec<u8>,
        /// Our payload (its `error` is set by the session from the peer's payload).
        local_payload: Box<NoisePayload>,
        /// The peer's address.
        peer_address: SocketAddrV4,
    },
    /// The DHT side gave up on an ask (operation over, timeout): forget it.
    AskDropped {
        /// The ask.
        ask: AskId,
    },
    /// An outgoing connect's UDX stream is connected.
    Connected {
        /// The stream.
        stream: StreamId,
        /// The server's address.
        remote_address: SocketAddrV4,
    },
    /// An outgoing connect failed.
    ConnectFailed {
        /// The stream.
        stream: StreamId,
        /// hyperdht's error code (`PEER_NOT_FOUND`, …).
        error: String,
    },
    /// A server's first self-announce is done.
    Listening {
        /// The server.
        server: ServerId,
        /// The relay's own DHT address (what JS `server.address()` gives).
        address: SocketAddrV4,
        /// The nodes that now relay handshakes to it.
        relay_addresses: Vec<SocketAddrV4>,
    },
    /// A server stopped.
    ServerClosed {
        /// The server.
        server: ServerId,
    },
    /// An accepted handshake's stream connected.
    Incoming {
        /// The id from [`Accepted::stream`].
        stream: StreamId,
        /// The peer's address.
        remote_address: SocketAddrV4,
    },
    /// An accepted handshake never connected.
    HandshakeFailed {
        /// The id from [`Accepted::stream`].
        stream: StreamId,
    },
    /// Bytes read from a stream.
    Data {
        /// The stream.
        stream: StreamId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The peer ended its side.
    End {
        /// The stream.
        stream: StreamId,
    },
    /// The stream is gone (cleanly: `error` None).
    Closed {
        /// The stream.
        stream: StreamId,
        /// Why, if it failed (`ECONNRESET`, `ETIMEDOUT`, …).
        error: Option<String>,
    },
}
