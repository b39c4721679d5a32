//! The 28 messages of the `@hyperswarm/dht-relay` 0.4.3 Protomux channel (its
//! `lib/messages.js`), in channel order: the Protomux message type is the index in
//! [`MessageType`].
//!
//! Encoding is byte-identical to JS: ids are fixed `u32` little-endian; a message with a
//! `flags` byte has it first (JS reserves the offset and fills it in last); custodial fields
//! (a secret key, a handshake hash) are present only when the custodial bit is set.
//!
//! Decoding follows JS, including what it lets through:
//! - trailing bytes after a message are ignored (Protomux hands the decoder the rest of the
//!   frame and never checks that it was used up);
//! - flag bits JS does not know are ignored (and not re-encoded);
//! - strings decode lossily (invalid UTF-8 becomes U+FFFD);
//! - a zero-length `buffer` is null in JS; the relay's own `buffer` codec turns that null
//!   into an empty buffer, so both read as an empty `Vec` here, and `peerId` (nullable) as
//!   `None`.
//!
//! A type beyond the 28 is [`MessageError::UnknownType`]: JS Protomux ignores those, and so
//! does the session. Any other decoding failure destroys the JS stream; the session closes.

use std::fmt;
use std::net::SocketAddrV4;

use hyperwasm::encoding::{put_buffer, put_string, DecodeError, Decoder};

use super::codecs::{
    batch, buffer, id, ipv4, lossy_string, nullable_buffer, put_batch, put_id, put_ipv4, put_nullable_buffer,
    put_relay_addresses, relay_addresses, Key,
};

/// The Protomux protocol name of the channel.
pub const PROTOCOL: &str = "@hyperswarm/dht-relay";

/// A 64-byte Ed25519 secret key a custodial client put on the wire. Its `Debug` never shows
/// the bytes and dropping it overwrites them (best effort); the session refuses every message
/// that carries one and keeps nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 64]);

impl SecretKey {
    /// Wraps the bytes.
    pub fn from_bytes(bytes: [u8; 64]) -> Self {
        SecretKey(bytes)
    }

    /// The bytes (for encoding only).
    pub fn expose(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

/// How `open`/`connection` name the handshake of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeRef {
    /// Custodial: the handshake hash (the relay ran Noise itself).
    Hash(Box<[u8; 64]>),
    /// Non-custodial: the id of the `noiseSend`/`noiseReceive` exchange that built it.
    Id(u32),
}

/// `handshake` (0): the first message of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The client's default public key.
    pub public_key: Key,
    /// Set (custodial flag) when the client hands over its secret key.
    pub secret_key: Option<SecretKey>,
}

/// `connect` (3): dial a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    /// The client's alias of the new stream.
    pub alias: u32,
    /// The client's public key for this connection.
    pub public_key: Key,
    /// Custodial: its secret key.
    pub secret_key: Option<SecretKey>,
    /// The server to dial.
    pub remote_public_key: Key,
}

/// `connection` (4): a server got a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The relay's alias of the stream.
    pub alias: u32,
    /// The relay's alias of the server.
    pub server_alias: u32,
    /// The connecting peer's key.
    pub remote_public_key: Key,
    /// The handshake the stream's keys come from.
    pub handshake: HandshakeRef,
}

/// Which stream a `destroy` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestroyTarget {
    /// `paired`: the sender's alias of an open stream.
    Paired {
        /// Sender's alias.
        alias: u32,
    },
    /// Not paired: the receiver's alias of a stream that never opened.
    Unpaired {
        /// Receiver's alias.
        remote_alias: u32,
    },
}

/// `destroy` (9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destroy {
    /// The stream.
    pub target: DestroyTarget,
    /// Why (JS writes it only when non-empty).
    pub error: Option<String>,
}

/// `listen` (10): start a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// The client's alias of the server.
    pub alias: u32,
    /// The server's public key.
    pub public_key: Key,
    /// Custodial: its secret key.
    pub secret_key: Option<SecretKey>,
}

/// `open` (14): an outgoing `connect` succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// The relay's alias of the stream.
    pub alias: u32,
    /// The client's alias (from `connect`).
    pub remote_alias: u32,
    /// The handshake the stream's keys come from.
    pub handshake: HandshakeRef,
}

/// `announce` (20) and `unannounce` (21).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The client's query id.
    pub id: u32,
    /// The topic.
    pub topic: Key,
    /// The announcing key.
    pub public_key: Key,
    /// Custodial: its secret key.
    pub secret_key: Option<SecretKey>,
}

/// `signAnnounce` (22) and `signUnannounce` (23): ask the client to sign a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignRequest {
    /// The relay's request id (`signature` answers it).
    pub id: u32,
    /// The client's signee: the query id, or the client's server alias.
    pub signee: u32,
    /// The storing node's token.
    pub token: Key,
    /// The storing node's id (nullable on the wire; the client hashes it).
    pub peer_id: Option<Vec<u8>>,
    /// The record's relay addresses.
    pub relay_addresses: Vec<SocketAddrV4>,
}

/// The role in `noiseSend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseSendRole {
    /// The client dials: the first message of a `connect`, naming the client's stream alias.
    Initiator {
        /// The client's alias from `connect`.
        remote_stream_alias: u32,
    },
    /// The client answers as a server.
    Responder,
}

/// `noiseSend` (25): "write the next Noise message carrying this payload".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoiseSend {
    /// The relay's handshake id.
    pub id: u32,
    /// Initiator (with the stream alias) or responder.
    pub role: NoiseSendRole,
    /// The compact-encoded hyperdht `noisePayload`.
    pub payload: Vec<u8>,
}

/// The role in `noiseReceive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseReceiveRole {
    /// msg2 for a client that dialled.
    Initiator,
    /// msg1 for a client's server.
    Responder {
        /// The relay's alias of the server.
        server_alias: u32,
    },
}

/// `noiseReceive` (26): "read this Noise message from the peer".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoiseReceive {
    /// The relay's handshake id.
    pub id: u32,
    /// Initiator or responder (with the server alias).
    pub role: NoiseReceiveRole,
    /// The Noise message.
    pub payload: Vec<u8>,
}

/// What `noiseReply{complete}` adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The secret-stream id of the remote side.
    pub remote_id: Key,
    /// The key of hyperdht's holepunch messages.
    pub holepunch_secret: Key,
}

/// `noiseReply` (27): the client's answer to `noiseSend`/`noiseReceive`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoiseReply {
    /// The handshake id.
    pub id: u32,
    /// Whether the client is the initiator.
    pub is_initiator: bool,
    /// The Noise message produced, or the peer's decrypted payload (empty = firewall denial).
    pub payload: Vec<u8>,
    /// Present exactly when neither initiator nor complete: the peer's static key (encoding
    /// such a reply without one writes 32 zero bytes, where JS would throw).
    pub remote_public_key: Option<Key>,
    /// Set when the handshake completed.
    pub complete: Option<Completion>,
}

macro_rules! message_types {
    ($($(#[$doc:meta])* $variant:ident = $n:literal, $name:literal;)*) => {
        /// The Protomux message types of the channel, in JS `addMessage` order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum MessageType {
            $($(#[$doc])* $variant = $n,)*
        }

        impl MessageType {
            /// Every type, in order.
            pub const ALL: [MessageType; 28] = [$(MessageType::$variant,)*];

            /// The type of a Protomux message number, if it is one of the 28.
            pub fn from_u64(n: u64) -> Option<Self> {
                match n {
                    $($n => Some(MessageType::$variant),)*
                    _ => None,
                }
            }

            /// The JS name (`protocol.<name>`).
            pub fn name(self) -> &'static str {
                match self {
                    $(MessageType::$variant => $name,)*
                }
            }
        }
    };
}

message_types! {
    /// `handshake`.
    Handshake = 0, "handshake";
    /// `ping`.
    Ping = 1, "ping";
    /// `pong`.
    Pong = 2, "pong";
    /// `connect`.
    Connect = 3, "connect";
    /// `connection`.
    Connection = 4, "connection";
    /// `connected`.
    Connected = 5, "connected";
    /// `incoming`.
    Incoming = 6, "incoming";
    /// `deny`.
    Deny = 7, "deny";
    /// `accept`.
    Accept = 8, "accept";
    /// `destroy`.
    Destroy = 9, "destroy";
    /// `listen`.
    Listen = 10, "listen";
    /// `listening`.
    Listening = 11, "listening";
    /// `close`.
    Close = 12, "close";
    /// `closed`.
    Closed = 13, "closed";
    /// `open`.
    Open = 14, "open";
    /// `end`.
    End = 15, "end";
    /// `data`.
    Data = 16, "data";
    /// `result`.
    Result = 17, "result";
    /// `finished`.
    Finished = 18, "finished";
    /// `lookup`.
    Lookup = 19, "lookup";
    /// `announce`.
    Announce = 20, "announce";
    /// `unannounce`.
    Unannounce = 21, "unannounce";
    /// `signAnnounce`.
    SignAnnounce = 22, "signAnnounce";
    /// `signUnannounce`.
    SignUnannounce = 23, "signUnannounce";
    /// `signature`.
    Signature = 24, "signature";
    /// `noiseSend`.
    NoiseSend = 25, "noiseSend";
    /// `noiseReceive`.
    NoiseReceive = 26, "noiseReceive";
    /// `noiseReply`.
    NoiseReply = 27, "noiseReply";
}

/// One message of the channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// 0, C→R.
    Handshake(Handshake),
    /// 1, both.
    Ping,
    /// 2, both.
    Pong,
    /// 3, C→R.
    Connect(Connect),
    /// 4, R→C.
    Connection(Connection),
    /// 5, C→R: the client's alias of an incoming stream, paired with the relay's.
    Connected {
        /// Client's alias.
        alias: u32,
        /// Relay's alias (from `connection`).
        remote_alias: u32,
    },
    /// 6, R→C (custodial firewall question).
    Incoming {
        /// Request id.
        id: u32,
        /// Relay's server alias.
        server_alias: u32,
        /// The connecting peer.
        remote_public_key: Key,
        /// Its `noisePayload`.
        payload: Vec<u8>,
    },
    /// 7, C→R.
    Deny {
        /// Request id.
        id: u32,
    },
    /// 8, C→R.
    Accept {
        /// Request id.
        id: u32,
    },
    /// 9, both.
    Destroy(Destroy),
    /// 10, C→R.
    Listen(Listen),
    /// 11, R→C.
    Listening {
        /// Relay's server alias.
        alias: u32,
        /// Client's server alias (from `listen`).
        remote_alias: u32,
        /// The server's address.
        address: SocketAddrV4,
    },
    /// 12, C→R: close the client's server (its own alias).
    Close {
        /// Client's server alias.
        alias: u32,
    },
    /// 13, R→C.
    Closed {
        /// Relay's server alias.
        alias: u32,
    },
    /// 14, R→C.
    Open(Open),
    /// 15, both.
    End {
        /// Sender's stream alias.
        alias: u32,
    },
    /// 16, both.
    Data {
        /// Sender's stream alias.
        alias: u32,
        /// Chunks.
        data: Vec<Vec<u8>>,
    },
    /// 17, R→C.
    Result {
        /// Query id.
        id: u32,
        /// `announcers`-encoded reply.
        data: Vec<u8>,
    },
    /// 18, R→C.
    Finished {
        /// Query id.
        id: u32,
    },
    /// 19, C→R.
    Lookup {
        /// Query id.
        id: u32,
        /// Topic.
        topic: Key,
    },
    /// 20, C→R.
    Announce(Announce),
    /// 21, C→R.
    Unannounce(Announce),
    /// 22, R→C.
    SignAnnounce(SignRequest),
    /// 23, R→C.
    SignUnannounce(SignRequest),
    /// 24, C→R.
    Signature {
        /// The relay's request id.
        id: u32,
        /// The 64-byte signature.
        signature: Vec<u8>,
    },
    /// 25, R→C.
    NoiseSend(NoiseSend),
    /// 26, R→C.
    NoiseReceive(NoiseReceive),
    /// 27, C→R.
    NoiseReply(NoiseReply),
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A Protomux type beyond the 28 (JS ignores the message).
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// The payload does not decode.
    #[error("bad {kind} message: {source}")]
    Decode {
        /// JS name of the message.
        kind: &'static str,
        /// Why.
        source: DecodeError,
    },
}

impl MessageError {
    /// The error code (the relay's `BAD_MESSAGE`).
    pub fn code(&self) -> &'static str {
        "BAD_MESSAGE"
    }
}

fn custodial_key(out: &mut Vec<u8>, key: &Option<SecretKey>) {
    if let Some(k) = key {
        out.extend_from_slice(k.expose());
    }
}

fn read_secret(dec: &mut Decoder<'_>, custodial: bool) -> Result<Option<SecretKey>, DecodeError> {
    Ok(if custodial { Some(SecretKey::from_bytes(dec.array()?)) } else { None })
}

fn put_handshake_ref(out: &mut Vec<u8>, h: &HandshakeRef) {
    match h {
        HandshakeRef::Hash(hash) => out.extend_from_slice(&hash[..]),
        HandshakeRef::Id(i) => put_id(out, *i),
    }
}

fn read_handshake_ref(dec: &mut Decoder<'_>, custodial: bool) -> Result<HandshakeRef, DecodeError> {
    Ok(if custodial { HandshakeRef::Hash(Box::new(dec.array()?)) } else { HandshakeRef::Id(id(dec)?) })
}

fn put_sign_request(out: &mut Vec<u8>, r: &SignRequest) {
    put_id(out, r.id);
    put_id(out, r.signee);
    out.extend_from_slice(&r.token);
    put_nullable_buffer(out, r.peer_id.as_deref());
    put_relay_addresses(out, &r.relay_addresses);
}

fn read_sign_request(dec: &mut Decoder<'_>) -> Result<SignRequest, DecodeError> {
    Ok(SignRequest {
        id: id(dec)?,
        signee: id(dec)?,
        token: dec.array()?,
        peer_id: nullable_buffer(dec)?,
        relay_addresses: relay_addresses(dec)?,
    })
}

fn put_announce(out: &mut Vec<u8>, a: &Announce) {
    out.push(u8::from(a.secret_key.is_some()));
    put_id(out, a.id);
    out.extend_from_slice(&a.topic);
    out.extend_from_slice(&a.public_key);
    custodial_key(out, &a.secret_key);
}

fn read_announce(dec: &mut Decoder<'_>) -> Result<Announce, DecodeError> {
    let custodial = dec.u8()? & 1 != 0;
    Ok(Announce {
        id: id(dec)?,
        topic: dec.array()?,
        public_key: dec.array()?,
        secret_key: read_secret(dec, custodial)?,
    })
}

impl Message {
    /// The message's type.
    pub fn kind(&self) -> MessageType {
        match self {
            Message::Handshake(_) => MessageType::Handshake,
            Message::Ping => MessageType::Ping,
            Message::Pong => MessageType::Pong,
            Message::Connect(_) => MessageType::Connect,
            Message::Connection(_) => MessageType::Connection,
            Message::Connected { .. } => MessageType::Connected,
            Message::Incoming { .. } => MessageType::Incoming,
            Message::Deny { .. } => MessageType::Deny,
            Message::Accept { .. } => MessageType::Accept,
            Message::Destroy(_) => MessageType::Destroy,
            Message::Listen(_) => MessageType::Listen,
            Message::Listening { .. } => MessageType::Listening,
            Message::Close { .. } => MessageType::Close,
            Message::Closed { .. } => MessageType::Closed,
            Message::Open(_) => MessageType::Open,
            Message::End { .. } => MessageType::End,
            Message::Data { .. } => MessageType::Data,
            Message::Result { .. } => MessageType::Result,
            Message::Finished { .. } => MessageType::Finished,
            Message::Lookup { .. } => MessageType::Lookup,
            Message::Announce(_) => MessageType::Announce,
            Message::Unannounce(_) => MessageType::Unannounce,
            Message::SignAnnounce(_) => MessageType::SignAnnounce,
            Message::SignUnannounce(_) => MessageType::SignUnannounce,
            Message::Signature { .. } => MessageType::Signature,
            Message::NoiseSend(_) => MessageType::NoiseSend,
            Message::NoiseReceive(_) => MessageType::NoiseReceive,
            Message::NoiseReply(_) => MessageType::NoiseReply,
        }
    }

    /// Whether the message carries a secret key (a custodial request).
    pub fn is_custodial_request(&self) -> bool {
        match self {
            Message::Handshake(m) => m.secret_key.is_some(),
            Message::Connect(m) => m.secret_key.is_some(),
            Message::Listen(m) => m.secret_key.is_some(),
            Message::Announce(m) | Message::Unannounce(m) => m.secret_key.is_some(),
            _ => false,
        }
    }

    /// Appends the payload (without the Protomux type) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::Handshake(m) => {
                out.push(u8::from(m.secret_key.is_some()));
                out.extend_from_slice(&m.public_key);
                custodial_key(out, &m.secret_key);
            }
            Message::Ping | Message::Pong => {}
            Message::Connect(m) => {
                out.push(u8::from(m.secret_key.is_some()));
                put_id(out, m.alias);
                out.extend_from_slice(&m.public_key);
                custodial_key(out, &m.secret_key);
                out.extend_from_slice(&m.remote_public_key);
            }
            Message::Connection(m) => {
                out.push(u8::from(matches!(m.handshake, HandshakeRef::Hash(_))));
                put_id(out, m.alias);
                put_id(out, m.server_alias);
                out.extend_from_slice(&m.remote_public_key);
                put_handshake_ref(out, &m.handshake);
            }
            Message::Connected { alias, remote_alias } => {
                put_id(out, *alias);
                put_id(out, *remote_alias);
            }
            Message::Incoming { id, server_alias, remote_public_key, payload } => {
                put_id(out, *id);
                put_id(out, *server_alias);
                out.extend_from_slice(remote_public_key);
                put_buffer(out, payload);
            }
            Message::Deny { id }
            | Message::Accept { id }
            | Message::Finished { id }
            | Message::Close { alias: id }
            | Message::Closed { alias: id }
            | Message::End { alias: id } => put_id(out, *id),
            Message::Destroy(m) => {
                let error = m.error.as_deref().filter(|e| !e.is_empty());
                let mut flags = 0u8;
                if matches!(m.target, DestroyTarget::Paired { .. }) {
                    flags |= 1;
                }
                if error.is_some() {
                    flags |= 2;
                }
                out.push(flags);
                match m.target {
                    DestroyTarget::Paired { alias } => put_id(out, alias),
                    DestroyTarget::Unpaired { remote_alias } => put_id(out, remote_alias),
                }
                if let Some(e) = error {
                    put_string(out, e);
                }
            }
            Message::Listen(m) => {
                out.push(u8::from(m.secret_key.is_some()));
                put_id(out, m.alias);
                out.extend_from_slice(&m.public_key);
                custodial_key(out, &m.secret_key);
            }
            Message::Listening { alias, remote_alias, address } => {
                put_id(out, *alias);
                put_id(out, *remote_alias);
                put_ipv4(out, address);
            }
            Message::Open(m) => {
                out.push(u8::from(matches!(m.handshake, HandshakeRef::Hash(_))));
                put_id(out, m.alias);
                put_id(out, m.remote_alias);
                put_handshake_ref(out, &m.handshake);
            }
            Message::Data { alias, data } => {
                put_id(out, *alias);
                put_batch(out, data);
            }
            Message::Result { id, data } => {
                put_id(out, *id);
                put_buffer(out, data);
            }
            Message::Lookup { id, topic } => {
                put_id(out, *id);
                out.extend_from_slice(topic);
            }
            Message::Announce(m) | Message::Unannounce(m) => put_announce(out, m),
            Message::SignAnnounce(r) | Message::SignUnannounce(r) => put_sign_request(out, r),
            Message::Signature { id, signature } => {
                put_id(out, *id);
                put_buffer(out, signature);
            }
            Message::NoiseSend(m) => {
                out.push(u8::from(matches!(m.role, NoiseSendRole::Initiator { .. })));
                put_id(out, m.id);
                if let NoiseSendRole::Initiator { remote_stream_alias } = m.role {
                    put_id(out, remote_stream_alias);
                }
                put_buffer(out, &m.payload);
            }
            Message::NoiseReceive(m) => {
                out.push(u8::from(matches!(m.role, NoiseReceiveRole::Initiator)));
                put_id(out, m.id);
                if let NoiseReceiveRole::Responder { server_alias } = m.role {
                    put_id(out, server_alias);
                }
                put_buffer(out, &m.payload);
            }
            Message::NoiseReply(m) => {
                out.push(u8::from(m.is_initiator) | if m.complete.is_some() { 2 } else { 0 });
                put_id(out, m.id);
                put_buffer(out, &m.payload);
                if !m.is_initiator && m.complete.is_none() {
                    out.extend_from_slice(&m.remote_public_key.unwrap_or([0; 32]));
                }
                if let Some(c) = &m.complete {
                    out.extend_from_slice(&c.remote_id);
                    out.extend_from_slice(&c.holepunch_secret);
                }
            }
        }
    }

    /// The payload as a fresh buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes the payload of Protomux message `kind`. Trailing bytes are ignored, as in JS.
    pub fn decode(kind: u64, payload: &[u8]) -> Result<Message, MessageError> {
        let ty = MessageType::from_u64(kind).ok_or(MessageError::UnknownType(kind))?;
        let mut dec = Decoder::new(payload);
        decode_body(ty, &mut dec).map_err(|source| MessageError::Decode { kind: ty.name(), source })
    }
}

fn decode_body(ty: MessageType, d: &mut Decoder<'_>) -> Result<Message, DecodeError> {
    Ok(match ty {
        MessageType::Handshake => {
            let custodial = d.u8()? & 1 != 0;
            Message::Handshake(Handshake { public_key: d.array()?, secret_key: read_secret(d, custodial)? })
        }
        MessageType::Ping => Message::Ping,
        MessageType::Pong => Message::Pong,
        MessageType::Connect => {
            let custodial = d.u8()? & 1 != 0;
            Message::Connect(Connect {
                alias: id(d)?,
                public_key: d.array()?,
                secret_key: read_secret(d, custodial)?,
                remote_public_key: d.array()?,
            })
        }
        MessageType::Connection => {
            let custodial = d.u8()? & 1 != 0;
            Message::Connection(Connection {
                alias: id(d)?,
                server_alias: id(d)?,
                remote_public_key: d.array()?,
                handshake: read_handshake_ref(d, custodial)?,
            })
        }
        MessageType::Connected => Message::Connected { alias: id(d)?, remote_alias: id(d)? },
        MessageType::Incoming => Message::Incoming {
            id: id(d)?,
            server_alias: id(d)?,
            remote_public_key: d.array()?,
            payload: buffer(d)?,
        },
        MessageType::Deny => Message::Deny { id: id(d)? },
        MessageType::Accept => Message::Accept { id: id(d)? },
        MessageType::Destroy => {
            let flags = d.u8()?;
            let n = id(d)?;
            let target = if flags & 1 != 0 {
                DestroyTarget::Paired { alias: n }
            } else {
                DestroyTarget::Unpaired { remote_alias: n }
            };
            let error = if flags & 2 != 0 { Some(lossy_string(d)?) } else { None };
            Message::Destroy(Destroy { target, error })
        }
        MessageType::Listen => {
            let custodial = d.u8()? & 1 != 0;
            Message::Listen(Listen {
                alias: id(d)?,
                public_key: d.array()?,
                secret_key: read_secret(d, custodial)?,
            })
        }
        MessageType::Listening => {
            Message::Listening { alias: id(d)?, remote_alias: id(d)?, address: ipv4(d)? }
        }
        MessageType::Close => Message::Close { alias: id(d)? },
        MessageType::Closed => Message::Closed { alias: id(d)? },
        MessageType::Open => {
            let custodial = d.u8()? & 1 != 0;
            Message::Open(Open {
                alias: id(d)?,
                remote_alias: id(d)?,
                handshake: read_handshake_ref(d, custodial)?,
            })
        }
        MessageType::End => Message::End { alias: id(d)? },
        MessageType::Data => Message::Data { alias: id(d)?, data: batch(d)? },
        MessageType::Result => Message::Result { id: id(d)?, data: buffer(d)? },
        MessageType::Finished => Message::Finished { id: id(d)? },
        MessageType::Lookup => Message::Lookup { id: id(d)?, topic: d.array()? },
        MessageType::Announce => Message::Announce(read_announce(d)?),
        MessageType::Unannounce => Message::Unannounce(read_announce(d)?),
        MessageType::SignAnnounce => Message::SignAnnounce(read_sign_request(d)?),
        MessageType::SignUnannounce => Message::SignUnannounce(read_sign_request(d)?),
        MessageType::Signature => Message::Signature { id: id(d)?, signature: buffer(d)? },
        MessageType::NoiseSend => {
            let initiator = d.u8()? & 1 != 0;
            let hs = id(d)?;
            let role = if initiator {
                NoiseSendRole::Initiator { remote_stream_alias: id(d)? }
            } else {
                NoiseSendRole::Responder
            };
            Message::NoiseSend(NoiseSend { id: hs, role, payload: buffer(d)? })
        }
        MessageType::NoiseReceive => {
            let initiator = d.u8()? & 1 != 0;
            let hs = id(d)?;
            let role = if initiator {
                NoiseReceiveRole::Initiator
            } else {
                NoiseReceiveRole::Responder { server_alias: id(d)? }
            };
            Message::NoiseReceive(NoiseReceive { id: hs, role, payload: buffer(d)? })
        }
        MessageType::NoiseReply => {
            let flags = d.u8()?;
            let is_initiator = flags & 1 != 0;
            let complete = flags & 2 != 0;
            let hs = id(d)?;
            let payload = buffer(d)?;
            let remote_public_key = if !is_initiator && !complete { Some(d.array()?) } else { None };
            let complete = if complete {
                Some(Completion { remote_id: d.array()?, holepunch_secret: d.array()? })
            } else {
                None
            };
            Message::NoiseReply(NoiseReply { id: hs, is_initiator, payload, remote_public_key, complete })
        }
    })
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod tests;
