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
//! sees it). Integers are little-endian, `uint` is compact-encoding's varint. Decoding ignores
//! unknown flag bits and trailing bytes, as JS does.

use super::peer::{decode_ipv4, encode_ipv4, IPV4_LEN};
use super::{NodeId, Token};
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

/// compact-encoding's array limit (`array` rejects longer counts).
const MAX_ARRAY: u64 = 0x10_0000;

/// Why a datagram did not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Shorter than its fields say.
    #[error("DECODE_ERROR: datagram truncated")]
    Truncated,
    /// Byte 0 is neither `0x03` nor `0x13`.
    #[error("DECODE_ERROR: not a dht-rpc datagram (type byte {0:#04x})")]
    NotRpc(u8),
    /// An array count above compact-encoding's limit.
    #[error("DECODE_ERROR: array too long")]
    ArrayTooLong,
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
    let mut r = Reader { bytes, pos: 0 };
    match r.u8()? {
        REQUEST_ID => decode_request(&mut r).map(Message::Request),
        RESPONSE_ID => decode_response(&mut r).map(Message::Response),
        other => Err(DecodeError::NotRpc(other)),
    }
}

fn decode_request(r: &mut Reader<'_>) -> Result<RequestMessage, DecodeError> {
    let flags = r.uint()?;
    let tid = r.u16()?;
    let to = r.ipv4()?;
    let id = if flags & FLAG_ID != 0 { Some(r.fixed32()?) } else { None };
    let token = if flags & FLAG_TOKEN != 0 { Some(r.fixed32()?) } else { None };
    let internal = flags & FLAG_INTERNAL != 0;
    let command = r.uint()?;
    let target = if flags & FLAG_TARGET != 0 { Some(r.fixed32()?) } else { None };
    let value = if flags & FLAG_VALUE != 0 { Some(r.buffer()?) } else { None };
    Ok(RequestMessage { tid, to, id, token, internal, command, target, value })
}

fn decode_response(r: &mut Reader<'_>) -> Result<ResponseMessage, DecodeError> {
    let flags = r.uint()?;
    let tid = r.u16()?;
    let to = r.ipv4()?;
    let id = if flags & FLAG_ID != 0 { Some(r.fixed32()?) } else { None };
    let token = if flags & FLAG_TOKEN != 0 { Some(r.fixed32()?) } else { None };
    let closer_nodes = if flags & FLAG_CLOSER != 0 { r.ipv4_array()? } else { Vec::new() };
    let error = if flags & FLAG_ERROR != 0 { r.uint()? } else { 0 };
    let value = if flags & FLAG_VALUE != 0 { Some(r.buffer()?) } else { None };
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
        out.push(REQUEST_ID);
        out.push(flags as u8);
        out.extend_from_slice(&self.tid.to_le_bytes());
        out.extend_from_slice(&encode_ipv4(&self.to));
        if let Some(id) = &self.id {
            out.extend_from_slice(id);
        }
        if let Some(token) = &self.token {
            out.extend_from_slice(token);
        }
        write_uint(&mut out, self.command);
        if let Some(target) = &self.target {
            out.extend_from_slice(target);
        }
        if let Some(value) = &self.value {
            write_buffer(&mut out, value);
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
        out.push(RESPONSE_ID);
        out.push(flags as u8);
        out.extend_from_slice(&self.tid.to_le_bytes());
        out.extend_from_slice(&encode_ipv4(&self.to));
        if let Some(id) = &self.id {
            out.extend_from_slice(id);
        }
        if let Some(token) = &self.token {
            out.extend_from_slice(token);
        }
        if !self.closer_nodes.is_empty() {
            write_uint(&mut out, self.closer_nodes.len() as u64);
            for node in &self.closer_nodes {
                out.extend_from_slice(&encode_ipv4(node));
            }
        }
        if self.error > 0 {
            write_uint(&mut out, self.error);
        }
        if let Some(value) = &self.value {
            write_buffer(&mut out, value);
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

/// compact-encoding `uint`.
pub(crate) fn write_uint(out: &mut Vec<u8>, n: u64) {
    if n <= 0xfc {
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(0xfd);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else if n <= 0xffff_ffff {
        out.push(0xfe);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    } else {
        out.push(0xff);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

fn write_buffer(out: &mut Vec<u8>, bytes: &[u8]) {
    write_uint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn uint(&mut self) -> Result<u64, DecodeError> {
        let a = self.u8()?;
        let width = match a {
            0xfd => 2,
            0xfe => 4,
            0xff => 8,
            small => return Ok(u64::from(small)),
        };
        let b = self.take(width)?;
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(b);
        Ok(u64::from_le_bytes(le))
    }

    fn fixed32(&mut self) -> Result<[u8; 32], DecodeError> {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.take(32)?);
        Ok(out)
    }

    fn ipv4(&mut self) -> Result<SocketAddrV4, DecodeError> {
        decode_ipv4(self.take(IPV4_LEN)?).ok_or(DecodeError::Truncated)
    }

    fn buffer(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.uint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
        Ok(self.take(len)?.to_vec())
    }

    fn ipv4_array(&mut self) -> Result<Vec<SocketAddrV4>, DecodeError> {
        let count = self.uint()?;
        if count > MAX_ARRAY {
            return Err(DecodeError::ArrayTooLong);
        }
        let remaining = self.bytes.len().saturating_sub(self.pos);
        // Checked before allocating: a count the datagram cannot hold is truncation.
        if count.saturating_mul(IPV4_LEN as u64) > remaining as u64 {
            return Err(DecodeError::Truncated);
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            out.push(self.ipv4()?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
