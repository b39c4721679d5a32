//! Every `hyperwasm-relay/1` message (PROTOCOL.md §4–§8) and its exact-length codec.
//!
//! [`Message::encode`] gives the Protomux message type and payload; [`Message::decode`] takes
//! them back and refuses anything that does not decode exactly: truncation, trailing bytes,
//! unknown types, unknown flag bits, a `sign` kind other than 1 or 2, `u32` fields above
//! 2^32 − 1, arrays of more than [`MAX_ARRAY_ITEMS`] items, `data` outside 1 B – 64 KiB.
//! Which ids are allowed where (PROTOCOL.md §3) is the state machines' business.
//!
//! Noise payloads travel as raw bytes (`buffer`): whoever uses them decodes them with
//! [`crate::hyperdht::messages::NoisePayload`].

use std::net::SocketAddrV4;

use super::errors::RelayError;
use super::types;
use super::{MAX_ARRAY_ITEMS, MAX_DATA_LEN};
use crate::encoding::{put_buffer, put_string, put_uint, Compact, DecodeError, Decoder};
use crate::hyperdht::messages::{get_ipv4, put_ipv4, put_ipv4_array, Peer, IPV4_LEN};

/// `hello.resume`: the token of the session to resume and how many of its sequenced messages
/// the client processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The session token from `welcome`.
    pub token: [u8; 32],
    /// Sequenced relay messages the client processed.
    pub received: u64,
}

/// `welcome.limits`: what the relay allows one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Live streams.
    pub max_streams: u64,
    /// Live servers.
    pub max_servers: u64,
    /// Live queries.
    pub max_queries: u64,
    /// Stream bytes per second (0 = no limit).
    pub bytes_per_second: u64,
}

/// What a `sign` request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignKind {
    /// An ANNOUNCE record (`NS_ANNOUNCE`), wire value 1.
    Announce,
    /// An UNANNOUNCE (`NS_UNANNOUNCE`), wire value 2.
    Unannounce,
}

/// `sign`: everything an announce/unannounce signature covers (PROTOCOL.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    /// The relay's id of this request (answered by `signature`).
    pub sign: u32,
    /// The query (announce/unannounce) or server (self-announce) it is for.
    pub id: u32,
    /// Announce or unannounce.
    pub kind: SignKind,
    /// The DHT target the record is stored under.
    pub target: [u8; 32],
    /// The storing node's id.
    pub node_id: [u8; 32],
    /// The storing node's round-trip token.
    pub token: [u8; 32],
    /// The record exactly as it will be sent.
    pub peer: Peer,
    /// The refresh token, if the record is a refresh.
    pub refresh: Option<[u8; 32]>,
}

/// One `hyperwasm-relay/1` message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // fields are named as in PROTOCOL.md's tables
pub enum Message {
    /// §4 `hello` (C→R): version 1, optionally resuming a session.
    Hello { version: u64, resume: Option<Resume> },
    /// §4 `welcome` (R→C).
    Welcome {
        resumed: bool,
        token: [u8; 32],
        received: u64,
        grace_ms: u64,
        stream_credit: u64,
        limits: Limits,
    },
    /// §4 `ack`: sequenced messages processed.
    Ack { received: u64 },
    /// §4 `ping`.
    Ping,
    /// §4 `pong`.
    Pong,
    /// §4 `error` (R→C): `reference` is a query/server id, or 0 for the session.
    Error { reference: u64, code: String, message: String },
    /// §5 `lookup`.
    Lookup { id: u32, topic: [u8; 32] },
    /// §5 `announce`.
    Announce { id: u32, topic: [u8; 32], public_key: [u8; 32], relay_addresses: Vec<SocketAddrV4> },
    /// §5 `unannounce`.
    Unannounce { id: u32, topic: [u8; 32], public_key: [u8; 32] },
    /// §5 `findPeer`.
    FindPeer { id: u32, public_key: [u8; 32] },
    /// §5 `cancel`.
    Cancel { id: u32 },
    /// §5 `result`: one replying DHT node's peers.
    Result { id: u32, from: SocketAddrV4, peers: Vec<Peer> },
    /// §5 `done`.
    Done { id: u32, commits: u64 },
    /// §5 `sign`.
    Sign(SignRequest),
    /// §5 `signature`: `None` = refused.
    Signature { sign: u32, signature: Option<[u8; 64]> },
    /// §6 `connect`.
    Connect {
        stream: u32,
        remote_public_key: [u8; 32],
        public_key: [u8; 32],
        relay_addresses: Vec<SocketAddrV4>,
    },
    /// §6 `noiseInit`: the encoded noisePayload the relay's node offers.
    NoiseInit { stream: u32, local_payload: Vec<u8> },
    /// §6 `noiseMsg1`.
    NoiseMsg1 { stream: u32, msg1: Vec<u8> },
    /// §6 `noiseMsg2`.
    NoiseMsg2 { stream: u32, msg2: Vec<u8> },
    /// §6 `noiseRemote`: the server's decrypted, encoded noisePayload.
    NoiseRemote { stream: u32, remote_payload: Vec<u8> },
    /// §6 `open`.
    Open { stream: u32, remote_address: SocketAddrV4, credit: u64 },
    /// §7 `listen`.
    Listen { server: u32, public_key: [u8; 32] },
    /// §7 `listening`.
    Listening { server: u32, relay_addresses: Vec<SocketAddrV4> },
    /// §7 `unlisten`.
    Unlisten { server: u32 },
    /// §7 `handshake`.
    Handshake { server: u32, hs: u32, peer_address: SocketAddrV4, msg1: Vec<u8>, local_payload: Vec<u8> },
    /// §7 `accept`.
    Accept { hs: u32, msg2: Vec<u8>, remote_payload: Vec<u8> },
    /// §7 `reject`.
    Reject { hs: u32 },
    /// §7 `incoming`.
    Incoming { server: u32, hs: u32, stream: u32, remote_address: SocketAddrV4, credit: u64 },
    /// §7 `unlistened`.
    Unlistened { server: u32 },
    /// §8 `data` (1 B – 64 KiB of secret-stream ciphertext).
    Data { stream: u32, bytes: Vec<u8> },
    /// §8 `credit`.
    Credit { stream: u32, bytes: u64 },
    /// §8 `end`.
    End { stream: u32 },
    /// §8 `close` (empty code = clean).
    Close { stream: u32, code: String },
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    put_uint(out, u64::from(n));
}

fn get_u32(dec: &mut Decoder<'_>) -> Result<u32, DecodeError> {
    dec.uint_u32("u32")
}

fn get_flags(dec: &mut Decoder<'_>, known: u8) -> Result<u8, DecodeError> {
    let flags = dec.u8()?;
    if flags & !known != 0 {
        return Err(DecodeError::invalid("flags", format!("unknown bits in {flags:#04x}")));
    }
    Ok(flags)
}

/// `array(x)` capped at [`MAX_ARRAY_ITEMS`], each item at least `min_len` bytes: the count is
/// checked before anything is allocated.
fn get_capped<'a, T>(
    dec: &mut Decoder<'a>,
    min_len: usize,
    mut item: impl FnMut(&mut Decoder<'a>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let n = dec.usize()?;
    if n > MAX_ARRAY_ITEMS {
        return Err(DecodeError::ArrayTooLarge(n as u64));
    }
    let needed = n * min_len;
    if needed > dec.remaining() {
        return Err(DecodeError::Truncated { offset: dec.position(), needed: needed - dec.remaining() });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(item(dec)?);
    }
    Ok(out)
}

fn get_addrs(dec: &mut Decoder<'_>) -> Result<Vec<SocketAddrV4>, DecodeError> {
    get_capped(dec, IPV4_LEN, get_ipv4)
}

fn get_peer(dec: &mut Decoder<'_>) -> Result<Peer, DecodeError> {
    Ok(Peer { public_key: dec.array()?, relay_addresses: get_addrs(dec)? })
}

fn put_peer(out: &mut Vec<u8>, peer: &Peer) {
    peer.encode(out);
}

impl Message {
    /// The Protomux message type of this message.
    pub fn message_type(&self) -> u64 {
        use types::*;
        match self {
            Message::Hello { .. } => HELLO,
            Message::Welcome { .. } => WELCOME,
            Message::Ack { .. } => ACK,
            Message::Ping => PING,
            Message::Pong => PONG,
            Message::Error { .. } => ERROR,
            Message::Lookup { .. } => LOOKUP,
            Message::Announce { .. } => ANNOUNCE,
            Message::Unannounce { .. } => UNANNOUNCE,
            Message::FindPeer { .. } => FIND_PEER,
            Message::Cancel { .. } => CANCEL,
            Message::Result { .. } => RESULT,
            Message::Done { .. } => DONE,
            Message::Sign(_) => SIGN,
            Message::Signature { .. } => SIGNATURE,
            Message::Connect { .. } => CONNECT,
            Message::NoiseInit { .. } => NOISE_INIT,
            Message::NoiseMsg1 { .. } => NOISE_MSG1,
            Message::NoiseMsg2 { .. } => NOISE_MSG2,
            Message::NoiseRemote { .. } => NOISE_REMOTE,
            Message::Open { .. } => OPEN,
            Message::Listen { .. } => LISTEN,
            Message::Listening { .. } => LISTENING,
            Message::Unlisten { .. } => UNLISTEN,
            Message::Handshake { .. } => HANDSHAKE,
            Message::Accept { .. } => ACCEPT,
            Message::Reject { .. } => REJECT,
            Message::Incoming { .. } => INCOMING,
            Message::Unlistened { .. } => UNLISTENED,
            Message::Data { .. } => DATA,
            Message::Credit { .. } => CREDIT,
            Message::End { .. } => END,
            Message::Close { .. } => CLOSE,
        }
    }

    /// Whether the message is numbered and replayed (PROTOCOL.md §4): all but `hello`,
    /// `welcome`, `ack`, `ping`, `pong`.
    pub fn is_sequenced(&self) -> bool {
        is_sequenced_type(self.message_type())
    }

    /// The message type and its encoded payload.
    pub fn encode(&self) -> (u64, Vec<u8>) {
        let mut out = Vec::new();
        self.encode_payload(&mut out);
        (self.message_type(), out)
    }

    /// Appends the encoded payload (without the type).
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            Message::Hello { version, resume } => {
                put_uint(out, *version);
                out.push(u8::from(resume.is_some()));
                if let Some(r) = resume {
                    out.extend_from_slice(&r.token);
                    put_uint(out, r.received);
                }
            }
            Message::Welcome { resumed, token, received, grace_ms, stream_credit, limits } => {
                out.push(u8::from(*resumed));
                out.extend_from_slice(token);
                for n in [*received, *grace_ms, *stream_credit] {
                    put_uint(out, n);
                }
                for n in [limits.max_streams, limits.max_servers, limits.max_queries, limits.bytes_per_second]
                {
                    put_uint(out, n);
                }
            }
            Message::Ack { received } => put_uint(out, *received),
            Message::Ping | Message::Pong => {}
            Message::Error { reference, code, message } => {
                put_uint(out, *reference);
                put_string(out, code);
                put_string(out, message);
            }
            Message::Lookup { id, topic } => {
                put_u32(out, *id);
                out.extend_from_slice(topic);
            }
            Message::Announce { id, topic, public_key, relay_addresses } => {
                put_u32(out, *id);
                out.extend_from_slice(topic);
                out.extend_from_slice(public_key);
                put_ipv4_array(out, relay_addresses);
            }
            Message::Unannounce { id, topic, public_key } => {
                put_u32(out, *id);
                out.extend_from_slice(topic);
                out.extend_from_slice(public_key);
            }
            Message::FindPeer { id, public_key } => {
                put_u32(out, *id);
                out.extend_from_slice(public_key);
            }
            Message::Cancel { id } => put_u32(out, *id),
            Message::Result { id, from, peers } => {
                put_u32(out, *id);
                put_ipv4(out, from);
                put_uint(out, peers.len() as u64);
                for p in peers {
                    put_peer(out, p);
                }
            }
            Message::Done { id, commits } => {
                put_u32(out, *id);
                put_uint(out, *commits);
            }
            Message::Sign(s) => {
                put_u32(out, s.sign);
                put_u32(out, s.id);
                out.push(match s.kind {
                    SignKind::Announce => 1,
                    SignKind::Unannounce => 2,
                });
                out.extend_from_slice(&s.target);
                out.extend_from_slice(&s.node_id);
                out.extend_from_slice(&s.token);
                put_peer(out, &s.peer);
                out.push(u8::from(s.refresh.is_some()));
                if let Some(r) = &s.refresh {
                    out.extend_from_slice(r);
                }
            }
            Message::Signature { sign, signature } => {
                put_u32(out, *sign);
                match signature {
                    Some(sig) => {
                        out.push(0);
                        out.extend_from_slice(sig);
                    }
                    None => out.push(1),
                }
            }
            Message::Connect { stream, remote_public_key, public_key, relay_addresses } => {
                put_u32(out, *stream);
                out.extend_from_slice(remote_public_key);
                out.extend_from_slice(public_key);
                put_ipv4_array(out, relay_addresses);
            }
            Message::NoiseInit { stream, local_payload: bytes }
            | Message::NoiseMsg1 { stream, msg1: bytes }
            | Message::NoiseMsg2 { stream, msg2: bytes }
            | Message::NoiseRemote { stream, remote_payload: bytes }
            | Message::Data { stream, bytes } => {
                put_u32(out, *stream);
                put_buffer(out, bytes);
            }
            Message::Open { stream, remote_address, credit } => {
                put_u32(out, *stream);
                put_ipv4(out, remote_address);
                put_uint(out, *credit);
            }
            Message::Listen { server, public_key } => {
                put_u32(out, *server);
                out.extend_from_slice(public_key);
            }
            Message::Listening { server, relay_addresses } => {
                put_u32(out, *server);
                put_ipv4_array(out, relay_addresses);
            }
            Message::Unlisten { server } | Message::Unlistened { server } => put_u32(out, *server),
            Message::Handshake { server, hs, peer_address, msg1, local_payload } => {
                put_u32(out, *server);
                put_u32(out, *hs);
                put_ipv4(out, peer_address);
                put_buffer(out, msg1);
                put_buffer(out, local_payload);
            }
            Message::Accept { hs, msg2, remote_payload } => {
                put_u32(out, *hs);
                put_buffer(out, msg2);
                put_buffer(out, remote_payload);
            }
            Message::Reject { hs } => put_u32(out, *hs),
            Message::Incoming { server, hs, stream, remote_address, credit } => {
                put_u32(out, *server);
                put_u32(out, *hs);
                put_u32(out, *stream);
                put_ipv4(out, remote_address);
                put_uint(out, *credit);
            }
            Message::Credit { stream, bytes } => {
                put_u32(out, *stream);
                put_uint(out, *bytes);
            }
            Message::End { stream } => put_u32(out, *stream),
            Message::Close { stream, code } => {
                put_u32(out, *stream);
                put_string(out, code);
            }
        }
    }

    /// Decodes a message of type `message_type` that must fill `payload` exactly.
    pub fn decode(message_type: u64, payload: &[u8]) -> Result<Message, RelayError> {
        let mut dec = Decoder::new(payload);
        let message = decode_body(message_type, &mut dec)?;
        dec.finish()?;
        Ok(message)
    }
}

/// Whether messages of this type are sequenced (see [`Message::is_sequenced`]).
pub fn is_sequenced_type(message_type: u64) -> bool {
    !matches!(message_type, types::HELLO | types::WELCOME | types::ACK | types::PING | types::PONG)
}

fn decode_body(message_type: u64, dec: &mut Decoder<'_>) -> Result<Message, RelayError> {
    use types::*;
    let buf = |dec: &mut Decoder<'_>| dec.buffer().map(<[u8]>::to_vec);
    let m = match message_type {
        HELLO => {
            let version = dec.uint()?;
            let resume = match get_flags(dec, 1)? {
                0 => None,
                _ => Some(Resume { token: dec.array()?, received: dec.uint()? }),
            };
            Message::Hello { version, resume }
        }
        WELCOME => {
            let resumed = get_flags(dec, 1)? == 1;
            let token = dec.array()?;
            let (received, grace_ms, stream_credit) = (dec.uint()?, dec.uint()?, dec.uint()?);
            let limits = Limits {
                max_streams: dec.uint()?,
                max_servers: dec.uint()?,
                max_queries: dec.uint()?,
                bytes_per_second: dec.uint()?,
            };
            Message::Welcome { resumed, token, received, grace_ms, stream_credit, limits }
        }
        ACK => Message::Ack { received: dec.uint()? },
        PING => Message::Ping,
        PONG => Message::Pong,
        ERROR => Message::Error {
            reference: dec.uint()?,
            code: dec.string()?.to_owned(),
            message: dec.string()?.to_owned(),
        },
        LOOKUP => Message::Lookup { id: get_u32(dec)?, topic: dec.array()? },
        ANNOUNCE => Message::Announce {
            id: get_u32(dec)?,
            topic: dec.array()?,
            public_key: dec.array()?,
            relay_addresses: get_addrs(dec)?,
        },
        UNANNOUNCE => {
            Message::Unannounce { id: get_u32(dec)?, topic: dec.array()?, public_key: dec.array()? }
        }
        FIND_PEER => Message::FindPeer { id: get_u32(dec)?, public_key: dec.array()? },
        CANCEL => Message::Cancel { id: get_u32(dec)? },
        RESULT => {
            Message::Result { id: get_u32(dec)?, from: get_ipv4(dec)?, peers: get_capped(dec, 33, get_peer)? }
        }
        DONE => Message::Done { id: get_u32(dec)?, commits: dec.uint()? },
        SIGN => {
            let (sign, id) = (get_u32(dec)?, get_u32(dec)?);
            let kind = match dec.u8()? {
                1 => SignKind::Announce,
                2 => SignKind::Unannounce,
                k => return Err(DecodeError::invalid("sign kind", format!("{k}")).into()),
            };
            let (target, node_id, token) = (dec.array()?, dec.array()?, dec.array()?);
            let peer = get_peer(dec)?;
            let refresh = match get_flags(dec, 1)? {
                0 => None,
                _ => Some(dec.array()?),
            };
            Message::Sign(SignRequest { sign, id, kind, target, node_id, token, peer, refresh })
        }
        SIGNATURE => {
            let sign = get_u32(dec)?;
            let signature = match get_flags(dec, 1)? {
                0 => Some(dec.array()?),
                _ => None,
            };
            Message::Signature { sign, signature }
        }
        CONNECT => Message::Connect {
            stream: get_u32(dec)?,
            remote_public_key: dec.array()?,
            public_key: dec.array()?,
            relay_addresses: get_addrs(dec)?,
        },
        NOISE_INIT => Message::NoiseInit { stream: get_u32(dec)?, local_payload: buf(dec)? },
        NOISE_MSG1 => Message::NoiseMsg1 { stream: get_u32(dec)?, msg1: buf(dec)? },
        NOISE_MSG2 => Message::NoiseMsg2 { stream: get_u32(dec)?, msg2: buf(dec)? },
        NOISE_REMOTE => Message::NoiseRemote { stream: get_u32(dec)?, remote_payload: buf(dec)? },
        OPEN => Message::Open { stream: get_u32(dec)?, remote_address: get_ipv4(dec)?, credit: dec.uint()? },
        LISTEN => Message::Listen { server: get_u32(dec)?, public_key: dec.array()? },
        LISTENING => Message::Listening { server: get_u32(dec)?, relay_addresses: get_addrs(dec)? },
        UNLISTEN => Message::Unlisten { server: get_u32(dec)? },
        HANDSHAKE => Message::Handshake {
            server: get_u32(dec)?,
            hs: get_u32(dec)?,
            peer_address: get_ipv4(dec)?,
            msg1: buf(dec)?,
            local_payload: buf(dec)?,
        },
        ACCEPT => Message::Accept { hs: get_u32(dec)?, msg2: buf(dec)?, remote_payload: buf(dec)? },
        REJECT => Message::Reject { hs: get_u32(dec)? },
        INCOMING => Message::Incoming {
            server: get_u32(dec)?,
            hs: get_u32(dec)?,
            stream: get_u32(dec)?,
            remote_address: get_ipv4(dec)?,
            credit: dec.uint()?,
        },
        UNLISTENED => Message::Unlistened { server: get_u32(dec)? },
        DATA => {
            let stream = get_u32(dec)?;
            let bytes = dec.buffer()?;
            if bytes.is_empty() || bytes.len() > MAX_DATA_LEN {
                return Err(DecodeError::invalid(
                    "data",
                    format!("{} bytes (1 to 65536 allowed)", bytes.len()),
                )
                .into());
            }
            Message::Data { stream, bytes: bytes.to_vec() }
        }
        CREDIT => Message::Credit { stream: get_u32(dec)?, bytes: dec.uint()? },
        END => Message::End { stream: get_u32(dec)? },
        CLOSE => Message::Close { stream: get_u32(dec)?, code: dec.string()?.to_owned() },
        other => return Err(RelayError::UnknownType(other)),
    };
    Ok(m)
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod tests;
