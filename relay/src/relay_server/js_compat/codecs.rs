//! The shared field codecs of `@hyperswarm/dht-relay` (its `lib/codecs.js`, plus
//! `compact-encoding-net`'s `ipv4Address`): fixed `u32` ids, buffers whose zero length means
//! "null", IPv4 addresses, `peer` records and the `announcers` value a `result` carries.
//!
//! Decoding never panics and reports truncation as [`DecodeError::Truncated`]; like JS,
//! nothing here checks that a value used up its buffer (trailing bytes are the caller's call).

use std::net::{Ipv4Addr, SocketAddrV4};

use hyperwasm::encoding::{put_array, put_buffer, put_uint, Compact, DecodeError, Decoder};
/// `peer`: an announce record (public key and relay addresses); hyperdht's own codec, the
/// same bytes as the relay's `codecs.peer`.
pub use hyperwasm::hyperdht::messages::Peer;

/// A 32-byte key, topic, token or node id.
pub type Key = [u8; 32];

/// `id` (`c.uint32`): four bytes little-endian, not a varint.
pub fn put_id(out: &mut Vec<u8>, id: u32) {
    out.extend_from_slice(&id.to_le_bytes());
}

/// Decodes an `id`.
pub fn id(dec: &mut Decoder<'_>) -> Result<u32, DecodeError> {
    dec.u32()
}

/// Decodes the relay's `buffer`: compact-encoding's nullable buffer, with null read as empty.
pub fn buffer(dec: &mut Decoder<'_>) -> Result<Vec<u8>, DecodeError> {
    Ok(dec.buffer()?.to_vec())
}

/// Decodes a nullable buffer (`peerId`): a zero length is `None`.
pub fn nullable_buffer(dec: &mut Decoder<'_>) -> Result<Option<Vec<u8>>, DecodeError> {
    Ok(dec.optional_buffer()?.map(<[u8]>::to_vec))
}

/// Appends a nullable buffer (`None` and an empty buffer are both a zero length, as in JS).
pub fn put_nullable_buffer(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    put_buffer(out, bytes.unwrap_or_default());
}

/// Decodes `c.string` as JS does: invalid UTF-8 becomes U+FFFD instead of an error.
pub fn lossy_string(dec: &mut Decoder<'_>) -> Result<String, DecodeError> {
    Ok(String::from_utf8_lossy(dec.buffer()?).into_owned())
}

/// Appends `ipv4Address`: four address bytes then the port as `u16` little-endian.
pub fn put_ipv4(out: &mut Vec<u8>, addr: &SocketAddrV4) {
    out.extend_from_slice(&addr.ip().octets());
    out.extend_from_slice(&addr.port().to_le_bytes());
}

/// Decodes `ipv4Address`.
pub fn ipv4(dec: &mut Decoder<'_>) -> Result<SocketAddrV4, DecodeError> {
    let ip: [u8; 4] = dec.array()?;
    let port = dec.u16()?;
    Ok(SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

/// Appends `relayAddresses` (`array(ipv4Address)`).
pub fn put_relay_addresses(out: &mut Vec<u8>, addrs: &[SocketAddrV4]) {
    put_array(out, addrs, put_ipv4);
}

/// Decodes `relayAddresses`.
pub fn relay_addresses(dec: &mut Decoder<'_>) -> Result<Vec<SocketAddrV4>, DecodeError> {
    dec.array_of(ipv4)
}

/// Appends `batch` (`array(buffer)`).
pub fn put_batch(out: &mut Vec<u8>, chunks: &[Vec<u8>]) {
    put_uint(out, chunks.len() as u64);
    for c in chunks {
        put_buffer(out, c);
    }
}

/// Decodes `batch`.
pub fn batch(dec: &mut Decoder<'_>) -> Result<Vec<Vec<u8>>, DecodeError> {
    dec.array_of(buffer)
}

/// `node`: a DHT node, `buffer(id, nullable)` + `ipv4Address`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhtNode {
    /// Its id (null when unknown, e.g. our own address as a node saw it).
    pub id: Option<Vec<u8>>,
    /// Its address.
    pub address: SocketAddrV4,
}

impl DhtNode {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_nullable_buffer(out, self.id.as_deref());
        put_ipv4(out, &self.address);
    }

    /// Decodes one.
    pub fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(DhtNode { id: nullable_buffer(dec)?, address: ipv4(dec)? })
    }
}

/// `announcers`: one query reply as `result.data` carries it (hyperdht's lookup reply without
/// its `bump`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcers {
    /// The replying node's write token (JS has no null case: 32 zero bytes stand for none).
    pub token: Key,
    /// The replying node.
    pub from: DhtNode,
    /// Our address as the replying node saw it.
    pub to: DhtNode,
    /// The records it stores for the topic.
    pub peers: Vec<Peer>,
}

impl Announcers {
    /// The encoding, as a `result` message's `data`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + 2 * 40 + 1 + self.peers.len() * 40);
        out.extend_from_slice(&self.token);
        self.from.encode(&mut out);
        self.to.encode(&mut out);
        put_array(&mut out, &self.peers, |o, p| p.encode(o));
        out
    }

    /// Decodes one (trailing bytes ignored, as JS's `Query` mapping does).
    pub fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Announcers {
            token: dec.array()?,
            from: DhtNode::decode(dec)?,
            to: DhtNode::decode(dec)?,
            peers: dec.array_of(Peer::decode)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_little_endian() {
        let mut out = Vec::new();
        put_id(&mut out, 0x0102_0304);
        assert_eq!(out, [4, 3, 2, 1]);
        assert_eq!(id(&mut Decoder::new(&out)).unwrap(), 0x0102_0304);
        assert!(matches!(id(&mut Decoder::new(&out[..3])), Err(DecodeError::Truncated { .. })));
    }

    #[test]
    fn nullable_buffers_and_addresses() {
        let mut out = Vec::new();
        put_nullable_buffer(&mut out, None);
        put_nullable_buffer(&mut out, Some(&[]));
        put_nullable_buffer(&mut out, Some(&[7]));
        put_ipv4(&mut out, &SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 0x1234));
        assert_eq!(out, [0, 0, 1, 7, 10, 1, 2, 3, 0x34, 0x12]);
        let mut d = Decoder::new(&out);
        assert_eq!(nullable_buffer(&mut d).unwrap(), None);
        assert_eq!(buffer(&mut d).unwrap(), Vec::<u8>::new());
        assert_eq!(nullable_buffer(&mut d).unwrap(), Some(vec![7]));
        assert_eq!(ipv4(&mut d).unwrap(), SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 0x1234));
        assert!(d.is_empty());
    }

    #[test]
    fn lossy_strings_like_js() {
        let bytes = [2, 0xff, b'a'];
        assert_eq!(lossy_string(&mut Decoder::new(&bytes)).unwrap(), "\u{fffd}a");
    }

    #[test]
    fn announcers_round_trip() {
        let a = Announcers {
            token: [1; 32],
            from: DhtNode { id: Some(vec![2; 32]), address: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1) },
            to: DhtNode { id: None, address: SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 2) },
            peers: vec![Peer {
                public_key: [3; 32],
                relay_addresses: vec![SocketAddrV4::new(Ipv4Addr::new(5, 6, 7, 8), 9)],
            }],
        };
        let bytes = a.to_bytes();
        assert_eq!(Announcers::decode(&mut Decoder::new(&bytes)).unwrap(), a);
        for cut in 0..bytes.len() {
            assert!(Announcers::decode(&mut Decoder::new(&bytes[..cut])).is_err());
        }
    }
}
