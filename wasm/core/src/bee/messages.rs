//! Hyperbee v1 block codecs (`schema.proto` of JS hyperbee 2.27.3), hand-written protobuf.
//!
//! Encoding is byte-identical to JS hyperbee's generated `lib/messages.js`: fields in field
//! number order, optional fields only when set, packed repeated `uint64` only when non-empty.
//!
//! Decoding mirrors the generated JS decoder: fields may come in any order, a repeated
//! occurrence of a singular field replaces the earlier one, a known field number is read as its
//! declared type whatever the wire type says, unknown fields are skipped by wire type (0 varint,
//! 1 eight bytes, 2 length-delimited, 5 four bytes; 3/4 groups and 6/7 are refused) and missing
//! `required` fields are refused. Unlike JS, which reads past the end of a short buffer, every
//! length is checked against the remaining input, varints are capped at 10 bytes, a packed
//! varint may not cross the end of its packed field and the header's `protocol` must be UTF-8.
//! Decoding never panics and never allocates more than its input.

use thiserror::Error;

/// Why a hyperbee block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BeeDecodeError {
    /// The input ended inside a field.
    #[error("hyperbee message truncated")]
    Truncated,
    /// A varint longer than 10 bytes or overflowing 64 bits.
    #[error("hyperbee message has an invalid varint")]
    InvalidVarint,
    /// An unsupported wire type (groups, 6, 7) on an unknown field.
    #[error("hyperbee message has unsupported wire type {0}")]
    UnsupportedWireType(u8),
    /// A packed varint crosses the end of its packed field.
    #[error("hyperbee message has a packed field ending inside a varint")]
    PackedOverrun,
    /// A `required` field is missing.
    #[error("hyperbee message lacks the required field {0}")]
    MissingField(&'static str),
    /// The header's `protocol` is not UTF-8.
    #[error("hyperbee header protocol is not UTF-8")]
    InvalidUtf8,
}

impl BeeDecodeError {
    /// The JS error code this maps to.
    pub fn code(&self) -> &'static str {
        "DECODING_ERROR"
    }
}

type Result<T> = std::result::Result<T, BeeDecodeError>;

// ---------------------------------------------------------------------------------------------
// primitives

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

fn put_bytes(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_packed(out: &mut Vec<u8>, tag: u8, values: &[u64]) {
    let len: usize = values.iter().map(|&v| varint_len(v)).sum();
    if len == 0 {
        return;
    }
    out.push(tag);
    put_varint(out, len as u64);
    for &v in values {
        put_varint(out, v);
    }
}

/// A bounded reader over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(BeeDecodeError::Truncated);
            };
            self.pos += 1;
            let low = u64::from(byte & 0x7f);
            if i == 9 && low > 1 {
                return Err(BeeDecodeError::InvalidVarint);
            }
            v |= low << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(BeeDecodeError::InvalidVarint)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let rest = self.buf.len() - self.pos;
        let n = usize::try_from(n).map_err(|_| BeeDecodeError::Truncated)?;
        if n > rest {
            return Err(BeeDecodeError::Truncated);
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.varint()?;
        self.take(n)
    }

    /// `(field number, wire type)` of the next field.
    fn key(&mut self) -> Result<(u64, u8)> {
        let prefix = self.varint()?;
        Ok((prefix >> 3, (prefix & 7) as u8))
    }

    fn skip(&mut self, wire_type: u8) -> Result<()> {
        match wire_type {
            0 => self.varint().map(drop),
            1 => self.take(8).map(drop),
            2 => self.bytes().map(drop),
            5 => self.take(4).map(drop),
            t => Err(BeeDecodeError::UnsupportedWireType(t)),
        }
    }

    fn packed(&mut self, into: &mut Vec<u64>) -> Result<()> {
        let mut inner = Reader::new(self.bytes()?);
        while !inner.done() {
            let v = inner.varint().map_err(|e| match e {
                BeeDecodeError::Truncated => BeeDecodeError::PackedOverrun,
                e => e,
            })?;
            into.push(v);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// messages

/// Block 0 of a hyperbee core: `message Header { required string protocol = 1; optional
/// Metadata metadata = 2; }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Always `"hyperbee"` for hyperbee v1.
    pub protocol: String,
    /// Optional metadata (content feed key, user data).
    pub metadata: Option<Metadata>,
}

/// `message Metadata { optional bytes contentFeed = 1; optional bytes userData = 2; }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// Key of the content (blobs) core, if any.
    pub content_feed: Option<Vec<u8>>,
    /// Opaque user data.
    pub user_data: Option<Vec<u8>>,
}

/// A hyperbee node block: `message Node { required bytes index = 1; required bytes key = 2;
/// optional bytes value = 3; }`. `index` is an encoded [`YoloIndex`]; a missing `value` is a
/// deletion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The encoded [`YoloIndex`] of the tree as of this block.
    pub index: Vec<u8>,
    /// The key put or deleted.
    pub key: Vec<u8>,
    /// The value put (`None` for a deletion).
    pub value: Option<Vec<u8>>,
}

/// The tree index carried by each node block: `message YoloIndex { repeated Level levels = 1; }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct YoloIndex {
    /// The levels of the index, root first.
    pub levels: Vec<Level>,
}

/// One level of a [`YoloIndex`]: `message Level { repeated uint64 keys = 1 [packed];
/// repeated uint64 children = 2 [packed]; }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Level {
    /// Seqs of the blocks holding this level's keys.
    pub keys: Vec<u64>,
    /// Children as pairs `(seq, offset)`, flattened.
    pub children: Vec<u64>,
}

impl Metadata {
    /// Protobuf encoding, as JS `Header.Metadata.encode`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(c) = &self.content_feed {
            put_bytes(&mut out, 10, c);
        }
        if let Some(u) = &self.user_data {
            put_bytes(&mut out, 18, u);
        }
        out
    }

    /// Decodes a whole buffer, as JS `Header.Metadata.decode`.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let mut m = Metadata::default();
        while !r.done() {
            match r.key()? {
                (1, _) => m.content_feed = Some(r.bytes()?.to_vec()),
                (2, _) => m.user_data = Some(r.bytes()?.to_vec()),
                (_, t) => r.skip(t)?,
            }
        }
        Ok(m)
    }
}

impl Header {
    /// Protobuf encoding, as JS `Header.encode`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, 10, self.protocol.as_bytes());
        if let Some(m) = &self.metadata {
            put_bytes(&mut out, 18, &m.encode());
        }
        out
    }

    /// Decodes a whole buffer, as JS `Header.decode`; `protocol` is required.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let mut protocol = None;
        let mut metadata = None;
        while !r.done() {
            match r.key()? {
                (1, _) => {
                    let s = std::str::from_utf8(r.bytes()?).map_err(|_| BeeDecodeError::InvalidUtf8)?;
                    protocol = Some(s.to_owned());
                }
                (2, _) => metadata = Some(Metadata::decode(r.bytes()?)?),
                (_, t) => r.skip(t)?,
            }
        }
        let protocol = protocol.ok_or(BeeDecodeError::MissingField("protocol"))?;
        Ok(Header { protocol, metadata })
    }
}

impl Node {
    /// Protobuf encoding, as JS `Node.encode`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.index.len() + self.key.len() + 16);
        put_bytes(&mut out, 10, &self.index);
        put_bytes(&mut out, 18, &self.key);
        if let Some(v) = &self.value {
            put_bytes(&mut out, 26, v);
        }
        out
    }

    /// Decodes a whole buffer, as JS `Node.decode`; `index` and `key` are required.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let (mut index, mut key, mut value) = (None, None, None);
        while !r.done() {
            match r.key()? {
                (1, _) => index = Some(r.bytes()?.to_vec()),
                (2, _) => key = Some(r.bytes()?.to_vec()),
                (3, _) => value = Some(r.bytes()?.to_vec()),
                (_, t) => r.skip(t)?,
            }
        }
        Ok(Node {
            index: index.ok_or(BeeDecodeError::MissingField("index"))?,
            key: key.ok_or(BeeDecodeError::MissingField("key"))?,
            value,
        })
    }
}

impl Level {
    /// Protobuf encoding, as JS `YoloIndex.Level.encode` (packed, omitted when empty).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_packed(&mut out, 10, &self.keys);
        put_packed(&mut out, 18, &self.children);
        out
    }

    /// Decodes a whole buffer, as JS `YoloIndex.Level.decode`; repeated packed fields append.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let mut l = Level::default();
        while !r.done() {
            match r.key()? {
                (1, _) => r.packed(&mut l.keys)?,
                (2, _) => r.packed(&mut l.children)?,
                (_, t) => r.skip(t)?,
            }
        }
        Ok(l)
    }
}

impl YoloIndex {
    /// Protobuf encoding, as JS `YoloIndex.encode` (one field per level, empty levels included).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for level in &self.levels {
            put_bytes(&mut out, 10, &level.encode());
        }
        out
    }

    /// Decodes a whole buffer, as JS `YoloIndex.decode`.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let mut y = YoloIndex::default();
        while !r.done() {
            match r.key()? {
                (1, _) => y.levels.push(Level::decode(r.bytes()?)?),
                (_, t) => r.skip(t)?,
            }
        }
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths() {
        for (v, n) in [(0u64, 1usize), (127, 1), (128, 2), (u64::MAX, 10), ((1 << 53) - 1, 8)] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), n);
            assert_eq!(varint_len(v), n);
            assert_eq!(Reader::new(&out).varint().unwrap(), v);
        }
    }

    #[test]
    fn varint_limits() {
        assert_eq!(Reader::new(&[0x80; 11]).varint(), Err(BeeDecodeError::InvalidVarint));
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(Reader::new(&over).varint(), Err(BeeDecodeError::InvalidVarint));
        assert_eq!(Reader::new(&[0x80]).varint(), Err(BeeDecodeError::Truncated));
    }

    #[test]
    fn truncated_and_invalid() {
        let node = Node { index: vec![1, 2], key: b"k".to_vec(), value: Some(b"v".to_vec()) }.encode();
        for n in 0..node.len() {
            if n == 7 {
                continue; // index + key without the value: a valid deletion node
            }
            let r = Node::decode(&node[..n]);
            assert!(r.is_err(), "prefix {n} decoded");
            assert_eq!(r.unwrap_err().code(), "DECODING_ERROR");
        }
        assert_eq!(Node::decode(&[0x0a, 0x00]), Err(BeeDecodeError::MissingField("key")));
        assert_eq!(Header::decode(&[]), Err(BeeDecodeError::MissingField("protocol")));
        assert_eq!(Header::decode(&[0x0a, 0x01, 0xff]), Err(BeeDecodeError::InvalidUtf8));
        assert_eq!(Header::decode(&[0x0a, 0x05, b'a']), Err(BeeDecodeError::Truncated));
        // Length far beyond the input: refused without allocating.
        assert_eq!(YoloIndex::decode(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), Err(BeeDecodeError::Truncated));
        // Groups and wire types 6/7 on unknown fields.
        for t in [3u8, 4, 6, 7] {
            assert_eq!(Metadata::decode(&[(5 << 3) | t]), Err(BeeDecodeError::UnsupportedWireType(t)));
        }
        // A packed varint crossing the end of its field.
        assert_eq!(Level::decode(&[0x0a, 0x01, 0x80, 0x01]), Err(BeeDecodeError::PackedOverrun));
    }

    #[test]
    fn unknown_fields_skipped() {
        // field 9 varint, field 10 fixed64, field 11 bytes, field 12 fixed32, then index + key.
        let mut buf = vec![0x48, 0x96, 0x01, 0x51];
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&[0x5a, 0x02, 1, 2, 0x65, 0, 0, 0, 0]);
        buf.extend_from_slice(&[0x0a, 0x00, 0x12, 0x01, b'k']);
        let n = Node::decode(&buf).unwrap();
        assert_eq!(n, Node { index: vec![], key: b"k".to_vec(), value: None });
        assert_eq!(Metadata::decode(&[0x51, 0, 0, 0]), Err(BeeDecodeError::Truncated));
    }

    #[test]
    fn empty_level_roundtrip() {
        let y = YoloIndex { levels: vec![Level::default(), Level { keys: vec![0], children: vec![] }] };
        let enc = y.encode();
        assert_eq!(enc, vec![0x0a, 0x00, 0x0a, 0x03, 0x0a, 0x01, 0x00]);
        assert_eq!(YoloIndex::decode(&enc).unwrap(), y);
    }
}
