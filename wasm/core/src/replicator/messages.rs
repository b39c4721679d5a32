//! The `hypercore/alpha` channel: its handshake and its ten message types (hypercore
//! `lib/messages.js` `wire.*`), in channel message-type order, with their codecs.
//!
//! Encoding is byte-identical to JS (checked against JS vectors in `tests/oracle_wire.rs`):
//! optional sections are announced by a leading `uint` of flags, and the fields JS writes only
//! when set (`want.any`, `no-data` reason, `request.priority`, a `range` length other than 1)
//! are left out the same way. Decoding follows JS too: bytes after a message are ignored
//! (protomux hands the decoder the whole frame), the trailing flags of `no-data`, `want` and
//! `unwant` are read only when bytes remain, and every length read from the wire is checked
//! against the input before anything is allocated. Message types 10 and up are not
//! `hypercore/alpha` messages: JS ignores them (see [`Message::is_known_type`]).

use crate::core::manifest::Manifest;
use crate::encoding::{put_buffer, DecodeError, Decoder};
use crate::encoding::{put_optional_buffer, put_string, put_uint, put_uint32_array, Compact};
use crate::tree::proof::{DataBlock, DataHash, DataSeek, DataUpgrade};
use crate::tree::proof::{Proof, RequestIndex, RequestSeek, RequestUpgrade};
use crate::tree::Node;

/// Protocol name of a hypercore replication channel.
pub const PROTOCOL: &str = "hypercore/alpha";
/// Older alias JS also accepts.
pub const PROTOCOL_ALIAS: &str = "hypercore";

/// `wire.handshake`: sent in the channel open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelHandshake {
    /// Sender supports seek requests (bit 0).
    pub seeks: bool,
    /// `caps.replicate(isInitiator, key, handshakeHash)`.
    pub capability: [u8; 32],
}

/// Type 0 `sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sync {
    /// Sender's fork.
    pub fork: u64,
    /// Sender's length.
    pub length: u64,
    /// Sender's view of the receiver's length (0 if forks differ).
    pub remote_length: u64,
    /// Flag 1: sender can prove an upgrade from the receiver's length.
    pub can_upgrade: bool,
    /// Flag 2.
    pub uploading: bool,
    /// Flag 4.
    pub downloading: bool,
    /// Flag 8: sender holds a (non-compat) manifest.
    pub has_manifest: bool,
    /// Flag 16: sender accepts pushed data.
    pub allow_push: bool,
}

/// Type 1 `request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request {
    /// Request id (0 = unsolicited / fork check).
    pub id: u64,
    /// Fork the requester believes the responder is on.
    pub fork: u64,
    /// Flag 1.
    pub block: Option<RequestIndex>,
    /// Flag 2.
    pub hash: Option<RequestIndex>,
    /// Flag 4.
    pub seek: Option<RequestSeek>,
    /// Flag 8.
    pub upgrade: Option<RequestUpgrade>,
    /// Flag 16: send the manifest along.
    pub manifest: bool,
    /// Flag 32: priority (0 when the flag is absent).
    pub priority: u64,
}

/// Type 2 `cancel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancel {
    /// Id of the request to drop.
    pub request: u64,
}

/// Type 3 `data`: a proof answering `request`, maybe with the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Data {
    /// The request this answers (0 = pushed).
    pub request: u64,
    /// Fork, block, hash, seek and upgrade sections.
    pub proof: Proof,
    /// Flag 16: the encoded manifest.
    pub manifest: Option<Vec<u8>>,
}

/// `no-data` reasons (hypercore v11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDataReason {
    /// 0: unspecified.
    Unspecified,
    /// 1: the responder does not have it.
    NotAvailable,
    /// 2: the request could not be answered (invalid).
    InvalidRequest,
    /// A reason this version does not know.
    Other(u64),
}

/// Type 4 `no-data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoData {
    /// The request this answers.
    pub request: u64,
    /// Why.
    pub reason: NoDataReason,
}

/// Types 5 `want` / 6 `unwant`: a block range of interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// First block.
    pub start: u64,
    /// Number of blocks.
    pub length: u64,
    /// Any block of the range will do (v11 flag).
    pub any: bool,
}

/// Type 7 `bitfield`: which of `32 · words.len()` blocks from `start` the sender has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitfield {
    /// First block (a multiple of 32 when JS sends it).
    pub start: u64,
    /// Bit `i` = word `i >> 5`, bit `i & 31`.
    pub words: Vec<u32>,
}

/// Type 8 `range`: the sender has (or dropped) `[start, start + length)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The blocks were cleared rather than gained.
    pub drop: bool,
    /// First block.
    pub start: u64,
    /// Number of blocks.
    pub length: u64,
}

/// Type 9 `extension`: a named application message (empty name = the last name received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Extension name.
    pub name: String,
    /// Raw payload.
    pub message: Vec<u8>,
}

/// Any channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// 0.
    Sync(Sync),
    /// 1.
    Request(Request),
    /// 2.
    Cancel(Cancel),
    /// 3.
    Data(Data),
    /// 4.
    NoData(NoData),
    /// 5.
    Want(Want),
    /// 6.
    Unwant(Want),
    /// 7.
    Bitfield(Bitfield),
    /// 8.
    Range(Range),
    /// 9.
    Extension(Extension),
}

impl Message {
    /// The protomux message type of this message.
    pub fn message_type(&self) -> u64 {
        match self {
            Message::Sync(_) => 0,
            Message::Request(_) => 1,
            Message::Cancel(_) => 2,
            Message::Data(_) => 3,
            Message::NoData(_) => 4,
            Message::Want(_) => 5,
            Message::Unwant(_) => 6,
            Message::Bitfield(_) => 7,
            Message::Range(_) => 8,
            Message::Extension(_) => 9,
        }
    }
}

/// Number of `hypercore/alpha` message types (0 ..= 9).
pub const MESSAGE_TYPES: u64 = 10;

/// Smallest encoding of a tree node (`uint index`, `uint size`, 32-byte hash): bounds the
/// capacity reserved for a node array before its nodes are read.
const MIN_NODE_LEN: usize = 34;

impl Message {
    /// Whether `message_type` is one of the ten `hypercore/alpha` messages. JS ignores other
    /// types on the channel; [`Message::decode`] refuses them.
    pub fn is_known_type(message_type: u64) -> bool {
        message_type < MESSAGE_TYPES
    }

    /// Appends the payload of this message (JS `wire.*` encoding); its protomux type is
    /// [`message_type`](Self::message_type).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.size_hint());
        match self {
            Message::Sync(m) => m.encode(out),
            Message::Request(m) => m.encode(out),
            Message::Cancel(m) => m.encode(out),
            Message::Data(m) => m.encode(out),
            Message::NoData(m) => m.encode(out),
            Message::Want(m) | Message::Unwant(m) => m.encode(out),
            Message::Bitfield(m) => m.encode(out),
            Message::Range(m) => m.encode(out),
            Message::Extension(m) => m.encode(out),
        }
    }

    /// Decodes the payload of a message of `message_type`. Trailing bytes are ignored, as JS
    /// does; a type ≥ [`MESSAGE_TYPES`] is an error (check [`Message::is_known_type`] first to
    /// ignore those as JS does).
    pub fn decode(message_type: u64, payload: &[u8]) -> Result<Message, DecodeError> {
        let dec = &mut Decoder::new(payload);
        Ok(match message_type {
            0 => Message::Sync(Sync::decode(dec)?),
            1 => Message::Request(Request::decode(dec)?),
            2 => Message::Cancel(Cancel::decode(dec)?),
            3 => Message::Data(Data::decode(dec)?),
            4 => Message::NoData(NoData::decode(dec)?),
            5 => Message::Want(Want::decode(dec)?),
            6 => Message::Unwant(Want::decode(dec)?),
            7 => Message::Bitfield(Bitfield::decode(dec)?),
            8 => Message::Range(Range::decode(dec)?),
            9 => Message::Extension(Extension::decode(dec)?),
            t => return Err(DecodeError::invalid("hypercore message", format!("unknown type {t}"))),
        })
    }

    /// A cheap upper estimate of the encoded size, for reserving buffers.
    pub fn size_hint(&self) -> usize {
        let nodes = |n: &[Node]| 9 + n.len() * (MIN_NODE_LEN + 16);
        match self {
            Message::Data(d) => {
                let p = &d.proof;
                40 + p.block.as_ref().map_or(0, |b| 18 + b.value.len() + nodes(&b.nodes))
                    + p.hash.as_ref().map_or(0, |h| 9 + nodes(&h.nodes))
                    + p.seek.as_ref().map_or(0, |s| 9 + nodes(&s.nodes))
                    + p.upgrade
                        .as_ref()
                        .map_or(0, |u| 27 + nodes(&u.nodes) + nodes(&u.additional_nodes) + u.signature.len())
                    + d.manifest.as_ref().map_or(0, Vec::len)
            }
            Message::Bitfield(b) => 18 + 4 * b.words.len(),
            Message::Extension(e) => 9 + e.name.len() + e.message.len(),
            _ => 64,
        }
    }
}

impl Compact for ChannelHandshake {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, u64::from(self.seeks));
        out.extend_from_slice(&self.capability);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = dec.uint()?;
        Ok(ChannelHandshake { seeks: flags & 1 != 0, capability: dec.array()? })
    }
}

impl ChannelHandshake {
    /// Decodes the handshake of a channel `open` the way JS protomux does: bytes after it are
    /// ignored (unlike [`Compact::from_bytes`]).
    pub fn from_open_payload(handshake: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(&mut Decoder::new(handshake))
    }
}

impl Compact for Sync {
    fn encode(&self, out: &mut Vec<u8>) {
        let flags = u64::from(self.can_upgrade)
            | u64::from(self.uploading) << 1
            | u64::from(self.downloading) << 2
            | u64::from(self.has_manifest) << 3
            | u64::from(self.allow_push) << 4;
        put_uint(out, flags);
        put_uint(out, self.fork);
        put_uint(out, self.length);
        put_uint(out, self.remote_length);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = dec.uint()?;
        Ok(Sync {
            fork: dec.uint()?,
            length: dec.uint()?,
            remote_length: dec.uint()?,
            can_upgrade: flags & 1 != 0,
            uploading: flags & 2 != 0,
            downloading: flags & 4 != 0,
            has_manifest: flags & 8 != 0,
            allow_push: flags & 16 != 0,
        })
    }
}

fn put_index(out: &mut Vec<u8>, r: &RequestIndex) {
    put_uint(out, r.index);
    put_uint(out, r.nodes);
}

fn read_index(dec: &mut Decoder<'_>) -> Result<RequestIndex, DecodeError> {
    Ok(RequestIndex { index: dec.uint()?, nodes: dec.uint()? })
}

impl Compact for Request {
    fn encode(&self, out: &mut Vec<u8>) {
        let flags = u64::from(self.block.is_some())
            | u64::from(self.hash.is_some()) << 1
            | u64::from(self.seek.is_some()) << 2
            | u64::from(self.upgrade.is_some()) << 3
            | u64::from(self.manifest) << 4
            | u64::from(self.priority != 0) << 5;
        put_uint(out, flags);
        put_uint(out, self.id);
        put_uint(out, self.fork);
        if let Some(b) = &self.block {
            put_index(out, b);
        }
        if let Some(h) = &self.hash {
            put_index(out, h);
        }
        if let Some(s) = &self.seek {
            put_uint(out, s.bytes);
            put_uint(out, s.padding);
        }
        if let Some(u) = &self.upgrade {
            put_uint(out, u.start);
            put_uint(out, u.length);
        }
        if self.priority != 0 {
            put_uint(out, self.priority);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = dec.uint()?;
        let id = dec.uint()?;
        let fork = dec.uint()?;
        let block = if flags & 1 != 0 { Some(read_index(dec)?) } else { None };
        let hash = if flags & 2 != 0 { Some(read_index(dec)?) } else { None };
        let seek = if flags & 4 != 0 {
            Some(RequestSeek { bytes: dec.uint()?, padding: dec.uint()? })
        } else {
            None
        };
        let upgrade = if flags & 8 != 0 {
            Some(RequestUpgrade { start: dec.uint()?, length: dec.uint()? })
        } else {
            None
        };
        let manifest = flags & 16 != 0;
        let priority = if flags & 32 != 0 { dec.uint()? } else { 0 };
        Ok(Request { id, fork, block, hash, seek, upgrade, manifest, priority })
    }
}

impl Compact for Cancel {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, self.request);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Cancel { request: dec.uint()? })
    }
}

fn put_nodes(out: &mut Vec<u8>, nodes: &[Node]) {
    put_uint(out, nodes.len() as u64);
    for n in nodes {
        n.encode(out);
    }
}

/// `c.array(node)`: at most `MAX_ARRAY_LEN` nodes, and no more than the input can hold.
fn read_nodes(dec: &mut Decoder<'_>) -> Result<Vec<Node>, DecodeError> {
    let n = dec.array_len()?;
    if n > dec.remaining() / MIN_NODE_LEN {
        return Err(DecodeError::Truncated {
            offset: dec.position(),
            needed: n * MIN_NODE_LEN - dec.remaining(),
        });
    }
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        nodes.push(Node::decode(dec)?);
    }
    Ok(nodes)
}

impl Compact for Data {
    fn encode(&self, out: &mut Vec<u8>) {
        let p = &self.proof;
        let flags = u64::from(p.block.is_some())
            | u64::from(p.hash.is_some()) << 1
            | u64::from(p.seek.is_some()) << 2
            | u64::from(p.upgrade.is_some()) << 3
            | u64::from(self.manifest.is_some()) << 4;
        put_uint(out, flags);
        put_uint(out, self.request);
        put_uint(out, p.fork);
        if let Some(b) = &p.block {
            put_uint(out, b.index);
            put_buffer(out, &b.value);
            put_nodes(out, &b.nodes);
        }
        if let Some(h) = &p.hash {
            put_uint(out, h.index);
            put_nodes(out, &h.nodes);
        }
        if let Some(s) = &p.seek {
            put_uint(out, s.bytes);
            put_nodes(out, &s.nodes);
        }
        if let Some(u) = &p.upgrade {
            put_uint(out, u.start);
            put_uint(out, u.length);
            put_nodes(out, &u.nodes);
            put_nodes(out, &u.additional_nodes);
            put_optional_buffer(out, Some(&u.signature));
        }
        if let Some(m) = &self.manifest {
            out.extend_from_slice(m); // already `manifest`-encoded
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = dec.uint()?;
        let request = dec.uint()?;
        let fork = dec.uint()?;
        let block = if flags & 1 != 0 {
            let index = dec.uint()?;
            let value = dec.buffer()?.to_vec();
            Some(DataBlock { index, value, nodes: read_nodes(dec)? })
        } else {
            None
        };
        let hash = if flags & 2 != 0 {
            Some(DataHash { index: dec.uint()?, nodes: read_nodes(dec)? })
        } else {
            None
        };
        let seek = if flags & 4 != 0 {
            Some(DataSeek { bytes: dec.uint()?, nodes: read_nodes(dec)? })
        } else {
            None
        };
        let upgrade = if flags & 8 != 0 {
            Some(DataUpgrade {
                start: dec.uint()?,
                length: dec.uint()?,
                nodes: read_nodes(dec)?,
                additional_nodes: read_nodes(dec)?,
                signature: dec.optional_buffer()?.unwrap_or_default().to_vec(),
            })
        } else {
            None
        };
        let manifest = if flags & 16 != 0 {
            // JS decodes the manifest structurally; we keep its exact bytes, checked the same way.
            let mut start = dec.clone();
            Manifest::decode(dec)?;
            Some(start.take(dec.position() - start.position())?.to_vec())
        } else {
            None
        };
        Ok(Data { request, proof: Proof { fork, block, hash, seek, upgrade }, manifest })
    }
}

impl NoDataReason {
    /// The reason from its wire code.
    pub fn from_code(code: u64) -> Self {
        match code {
            0 => NoDataReason::Unspecified,
            1 => NoDataReason::NotAvailable,
            2 => NoDataReason::InvalidRequest,
            n => NoDataReason::Other(n),
        }
    }

    /// The wire code.
    pub fn code(&self) -> u64 {
        match self {
            NoDataReason::Unspecified => 0,
            NoDataReason::NotAvailable => 1,
            NoDataReason::InvalidRequest => 2,
            NoDataReason::Other(n) => *n,
        }
    }
}

/// The flags `no-data`, `want` and `unwant` end with: JS reads them only if bytes remain.
fn trailing_flags(dec: &mut Decoder<'_>) -> Result<u64, DecodeError> {
    if dec.is_empty() {
        Ok(0)
    } else {
        dec.uint()
    }
}

impl Compact for NoData {
    fn encode(&self, out: &mut Vec<u8>) {
        let reason = self.reason.code();
        put_uint(out, self.request);
        put_uint(out, u64::from(reason != 0));
        if reason != 0 {
            put_uint(out, reason);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let request = dec.uint()?;
        let flags = trailing_flags(dec)?;
        let reason = if flags & 1 != 0 { dec.uint()? } else { 0 };
        Ok(NoData { request, reason: NoDataReason::from_code(reason) })
    }
}

impl Compact for Want {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, self.start);
        put_uint(out, self.length);
        if self.any {
            put_uint(out, 1);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let start = dec.uint()?;
        let length = dec.uint()?;
        Ok(Want { start, length, any: trailing_flags(dec)? & 1 != 0 })
    }
}

impl Compact for Bitfield {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, self.start);
        put_uint32_array(out, &self.words);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Bitfield { start: dec.uint()?, words: dec.uint32_array()? })
    }
}

impl Compact for Range {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, u64::from(self.drop) | u64::from(self.length == 1) << 1);
        put_uint(out, self.start);
        if self.length != 1 {
            put_uint(out, self.length);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = dec.uint()?;
        let start = dec.uint()?;
        let length = if flags & 2 != 0 { 1 } else { dec.uint()? };
        Ok(Range { drop: flags & 1 != 0, start, length })
    }
}

impl Compact for Extension {
    fn encode(&self, out: &mut Vec<u8>) {
        put_string(out, &self.name);
        out.extend_from_slice(&self.message);
    }

    /// The message is the rest of the input (`c.raw`).
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let name = dec.string()?.to_owned();
        Ok(Extension { name, message: dec.rest().to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(m: Message) -> String {
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(Message::decode(m.message_type(), &out).unwrap(), m);
        hex::encode(out)
    }

    #[test]
    fn optional_fields_follow_js() {
        let want = |any| Message::Want(Want { start: 5, length: 2, any });
        assert_eq!(round_trip(want(false)), "0502");
        assert_eq!(round_trip(want(true)), "050201");
        let range = |length| Message::Range(Range { drop: false, start: 3, length });
        assert_eq!(round_trip(range(1)), "0203");
        assert_eq!(round_trip(range(0)), "000300");
        let no_data = |reason| Message::NoData(NoData { request: 7, reason });
        assert_eq!(round_trip(no_data(NoDataReason::Unspecified)), "0700");
        assert_eq!(round_trip(no_data(NoDataReason::InvalidRequest)), "070102");
        // JS reads the trailing flags only when present.
        assert_eq!(Message::decode(4, &[7]).unwrap(), no_data(NoDataReason::Unspecified));
        assert_eq!(Message::decode(5, &[5, 2]).unwrap(), want(false));
        let req = Request { id: 1, priority: 3, manifest: true, ..Request::default() };
        assert_eq!(round_trip(Message::Request(req)), "30010003");
    }

    #[test]
    fn trailing_bytes_are_ignored_and_unknown_types_refused() {
        assert_eq!(Message::decode(2, &[4, 0xff]).unwrap(), Message::Cancel(Cancel { request: 4 }));
        assert!(Message::decode(10, &[]).is_err());
        assert!(!Message::is_known_type(10) && Message::is_known_type(9));
        let hs = ChannelHandshake { seeks: true, capability: [9; 32] };
        let mut bytes = hs.to_bytes();
        bytes.push(0);
        assert_eq!(ChannelHandshake::from_open_payload(&bytes).unwrap(), hs);
        assert!(ChannelHandshake::from_bytes(&bytes).is_err());
    }

    #[test]
    fn node_arrays_are_bounded_by_the_input() {
        // data with a block whose node count claims more nodes than the bytes can hold
        let bytes = [1, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0];
        assert!(matches!(Message::decode(3, &bytes), Err(DecodeError::Truncated { .. })));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(t in 0u64..12, bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..96)) {
            if let Ok(m) = Message::decode(t, &bytes) {
                let mut out = Vec::new();
                m.encode(&mut out);
                proptest::prop_assert_eq!(Message::decode(t, &out).unwrap(), m);
            }
        }
    }
}
