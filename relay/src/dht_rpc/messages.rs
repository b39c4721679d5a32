//! The request / response datagram codec (`dht-rpc lib/io.js`: `_encodeRequest`,
//! `Request.decode`, `_sendReply`, `decodeReply`).
//!
//! ```text
//! request : 0x03 · uint flags · u16 tid · ipv4 to · [id 32] · [token 32] · uint command ·
//!           [target 32] · [buffer value]        flags: 1 id, 2 token, 4 internal, 8 target, 16 value
//! response: 0x13 · uint flags · u16 tid · ipv4 to · [id 32] · [token 32] ·
//!           [array(ipv4) closerNodes] · [uint error] · [buffer value]
//!                                               flags: 1 id, 2 token, 4 closer, 8 error, 16 value
//! ```
//! `to` is the address the datagram is sent to (for a response: the requester as the responder
//! sees it). Integers are little-endian, `uint` is compact-encoding's varint. The fields are read
//! and written with the compact-encoding primitives of `hyperwasm::encoding` and the address
//! codecs of `hyperwasm::hyperdht::messages`, so decoding accepts exactly what JS accepts:
//! unknown flag bits, non-minimal varints and trailing bytes are ignored; a `uint` above
//! 2^53 − 1, an address array above 0x100000 entries or a truncated field is an error.

use super::{NodeId, Token};
use hyperwasm::encoding::{self, put_buffer, put_uint, Decoder};
use hyperwasm::hyperdht::messages::{get_ipv4, get_ipv4_array, put_ipv4, put_ipv4_array, IPV4_LEN};
use std::net::SocketAddrV4;
use thiserror::Error;

/// Protocol version in the low nibble of byte 0.
pub const VERSION: u8 = 0b11;
/// Byte 0 of a request.
pub const REQUEST_ID: u8 = VERSION;
/// Byte 0 of a response.
pub const RESPONSE_ID: u8 = (1 << 4) | VERSION;

const FLAG_ID: u64 = 1;
const FLAG_TOKEN: u64 = 2;
const FLAG_INTERNAL: u64 = 4;
const FLAG_CLOSER: u64 = 4;
const FLAG_TARGET: u64 = 8;
const FLAG_ERROR: u64 = 8;
const FLAG_VALUE: u64 = 16;

/// Why a datagram did not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Byte 0 is neither `0x03` nor `0x13`.
    #[error("DECODE_ERROR: not a dht-rpc datagram (type byte {0:#04x})")]
    NotRpc(u8),
    /// A field did not decode as JS compact-encoding decodes it (truncated, a `uint` above
    /// 2^53 − 1, an array count above 0x100000): JS throws and drops the datagram.
    #[error("DECODE_ERROR: {0}")]
    Field(#[from] encoding::DecodeError),
}

impl DecodeError {
    /// A stable code string.
    pub fn code(&self) -> &'static str {
        "DECODE_ERROR"
    }
}

/// A request datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMessage {
    /// Transaction id, echoed by the response.
    pub tid: u16,
    /// The address the request is sent to.
    pub to: SocketAddrV4,
    /// The sender's id (persistent senders only).
    pub id: Option<NodeId>,
    /// A token the receiver handed out earlier.
    pub token: Option<Token>,
    /// dht-rpc's own command (flag 4) rather than an application (hyperdht) command.
    pub internal: bool,
    /// Command number.
    pub command: u64,
    /// Target key.
    pub target: Option<[u8; 32]>,
    /// Payload (`Some(empty)` is encoded, unlike `None`).
    pub value: Option<Vec<u8>>,
}

/// A response datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMessage {
    /// The request's transaction id.
    pub tid: u16,
    /// The requester's address as the responder sees it.
    pub to: SocketAddrV4,
    /// The responder's id (persistent responders only).
    pub id: Option<NodeId>,
    /// A token to send back with a later request.
    pub token: Option<Token>,
    /// Nodes closer to the request's target (encoded only when non-empty).
    pub closer_nodes: Vec<SocketAddrV4>,
    /// Error code, 0 = none (encoded only when non-zero).
    pub error: u64,
    /// Payload.
    pub value: Option<Vec<u8>>,
}

/// A decoded datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Byte 0 `0x03`.
    Request(RequestMessage),
    /// Byte 0 `0x13`.
    Response(ResponseMessage),
}

/// Decodes a dht-rpc datagram. Never panics; any byte string gets `Ok` or `Err`.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let mut d = Decoder::new(bytes);
    match d.u8()? {
        REQUEST_ID => decode_request(&mut d).map(Message::Request),
        RESPONSE_ID => decode_response(&mut d).map(Message::Response),
        other => Err(DecodeError::NotRpc(other)),
    }
}

/// The fields both kinds of datagram start with (after the type byte).
struct Header {
    flags: u64,
    tid: u16,
    to: SocketAddrV4,
    id: Option<NodeId>,
    token: Option<Token>,
}

fn get_header(d: &mut Decoder<'_>) -> Result<Header, DecodeError> {
    let flags = d.uint()?;
    let tid = d.u16()?;
    let to = get_ipv4(d)?;
    let id = optional(d, flags & FLAG_ID != 0, Decoder::array)?;
    let token = optional(d, flags & FLAG_TOKEN != 0, Decoder::array)?;
    Ok(Header { flags, tid, to, id, token })
}

/// Appends the type byte and the [`Header`] fields.
fn put_header(
    out: &mut Vec<u8>,
    type_byte: u8,
    flags: u64,
    tid: u16,
    to: &SocketAddrV4,
    id: Option<&NodeId>,
    token: Option<&Token>,
) {
    out.push(type_byte);
    put_uint(out, flags);
    out.extend_from_slice(&tid.to_le_bytes());
    put_ipv4(out, to);
    for field in [id, token].into_iter().flatten() {
        out.extend_from_slice(field);
    }
}

/// Reads a field present when its flag is set.
fn optional<'a, T>(
    d: &mut Decoder<'a>,
    present: bool,
    read: impl FnOnce(&mut Decoder<'a>) -> Result<T, encoding::DecodeError>,
) -> Result<Option<T>, DecodeError> {
    Ok(if present { Some(read(d)?) } else { None })
}

fn buffer(d: &mut Decoder<'_>) -> Result<Vec<u8>, encoding::DecodeError> {
    d.buffer().map(<[u8]>::to_vec)
}

fn decode_request(d: &mut Decoder<'_>) -> Result<RequestMessage, DecodeError> {
    let Header { flags, tid, to, id, token } = get_header(d)?;
    let internal = flags & FLAG_INTERNAL != 0;
    let command = d.uint()?;
    let target = optional(d, flags & FLAG_TARGET != 0, Decoder::array)?;
    let value = optional(d, flags & FLAG_VALUE != 0, buffer)?;
    Ok(RequestMessage { tid, to, id, token, internal, command, target, value })
}

fn decode_response(d: &mut Decoder<'_>) -> Result<ResponseMessage, DecodeError> {
    let Header { flags, tid, to, id, token } = get_header(d)?;
    let closer_nodes = optional(d, flags & FLAG_CLOSER != 0, get_ipv4_array)?.unwrap_or_default();
    let error = optional(d, flags & FLAG_ERROR != 0, Decoder::uint)?.unwrap_or(0);
    let value = optional(d, flags & FLAG_VALUE != 0, buffer)?;
    Ok(ResponseMessage { tid, to, id, token, closer_nodes, error, value })
}

impl RequestMessage {
    /// The datagram bytes.
    pub fn encode(&self) -> Vec<u8> {
        let value_len = self.value.as_ref().map_or(0, |v| 9 + v.len());
        let mut out = Vec::with_capacity(10 + 64 + 9 + 32 + value_len);
        let flags = flag(self.id.is_some(), FLAG_ID)
            | flag(self.token.is_some(), FLAG_TOKEN)
            | flag(self.internal, FLAG_INTERNAL)
            | flag(self.target.is_some(), FLAG_TARGET)
            | flag(self.value.is_some(), FLAG_VALUE);
        put_header(&mut out, REQUEST_ID, flags, self.tid, &self.to, self.id.as_ref(), self.token.as_ref());
        put_uint(&mut out, self.command);
        if let Some(target) = &self.target {
            out.extend_from_slice(target);
        }
        if let Some(value) = &self.value {
            put_buffer(&mut out, value);
        }
        out
    }
}

impl ResponseMessage {
    /// The datagram bytes.
    pub fn encode(&self) -> Vec<u8> {
        let value_len = self.value.as_ref().map_or(0, |v| 9 + v.len());
        let mut out = Vec::with_capacity(10 + 64 + 9 + IPV4_LEN * self.closer_nodes.len() + 9 + value_len);
        let flags = flag(self.id.is_some(), FLAG_ID)
            | flag(self.token.is_some(), FLAG_TOKEN)
            | flag(!self.closer_nodes.is_empty(), FLAG_CLOSER)
            | flag(self.error > 0, FLAG_ERROR)
            | flag(self.value.is_some(), FLAG_VALUE);
        put_header(&mut out, RESPONSE_ID, flags, self.tid, &self.to, self.id.as_ref(), self.token.as_ref());
        if !self.closer_nodes.is_empty() {
            put_ipv4_array(&mut out, &self.closer_nodes);
        }
        if self.error > 0 {
            put_uint(&mut out, self.error);
        }
        if let Some(value) = &self.value {
            put_buffer(&mut out, value);
        }
        out
    }
}

fn flag(on: bool, bit: u64) -> u64 {
    if on {
        bit
    } else {
        0
    }
}

#[cfg(test)]
mod tests;
