//! Node ids and the 6-byte `ipv4Address` encoding (`dht-rpc lib/peer.js`, compact-encoding
//! `ipv4Address`: 4 octets in network order, then the port as u16 little-endian).

use super::NodeId;
use std::cmp::Ordering;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Encoded size of an address.
pub const IPV4_LEN: usize = 6;

/// `ipv4Address` encoding of `addr`.
pub fn encode_ipv4(addr: &SocketAddrV4) -> [u8; IPV4_LEN] {
    let [a, b, c, d] = addr.ip().octets();
    let [p0, p1] = addr.port().to_le_bytes();
    [a, b, c, d, p0, p1]
}

/// Decodes the first 6 bytes of `bytes` as an address (`None` if shorter).
pub fn decode_ipv4(bytes: &[u8]) -> Option<SocketAddrV4> {
    match bytes {
        [a, b, c, d, p0, p1, ..] => {
            Some(SocketAddrV4::new(Ipv4Addr::new(*a, *b, *c, *d), u16::from_le_bytes([*p0, *p1])))
        }
        _ => None,
    }
}

/// BLAKE2b-256 of `bytes` (unkeyed).
pub fn hash32(bytes: &[u8]) -> [u8; 32] {
    let digest = blake2b_simd::Params::new().hash_length(32).hash(bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_bytes());
    out
}

/// The id a node at `addr` must have: BLAKE2b-256 of its encoded address.
pub fn id(addr: &SocketAddrV4) -> NodeId {
    hash32(&encode_ipv4(addr))
}

/// `Some(id)` if `claimed` is the id of `from` (the observed UDP source), else `None`: a node
/// cannot claim an id that does not match its address (`lib/io.js validateId`).
pub fn validate_id(claimed: &NodeId, from: &SocketAddrV4) -> Option<NodeId> {
    let expected = id(from);
    (expected == *claimed).then_some(expected)
}

/// Orders `a` and `b` by XOR distance to `target` (closer first), as `lib/query.js _compare`.
pub fn cmp_distance(target: &[u8; 32], a: &[u8; 32], b: &[u8; 32]) -> Ordering {
    for ((t, x), y) in target.iter().zip(a).zip(b) {
        if x != y {
            return (t ^ x).cmp(&(t ^ y));
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_of_known_address() {
        // Computed with JS `peer.id('127.0.0.1', 49737)` (research §2.4).
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 49737);
        assert_eq!(
            hex::encode(id(&addr)),
            "d1dcf835b0d62b9230c41393cb96a34f5f8b9f814f421ca3382dfc1678022e0e"
        );
        assert_eq!(validate_id(&id(&addr), &addr), Some(id(&addr)));
        let other = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 49738);
        assert_eq!(validate_id(&id(&addr), &other), None);
    }

    #[test]
    fn ipv4_layout() {
        let addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 0x1234);
        assert_eq!(encode_ipv4(&addr), [10, 0, 0, 1, 0x34, 0x12]);
        assert_eq!(decode_ipv4(&encode_ipv4(&addr)), Some(addr));
        assert_eq!(decode_ipv4(&[1, 2, 3, 4, 5]), None);
    }

    #[test]
    fn distance_order() {
        let t = [0u8; 32];
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a[1] = 1;
        b[0] = 1;
        assert_eq!(cmp_distance(&t, &a, &b), Ordering::Less);
        assert_eq!(cmp_distance(&t, &b, &a), Ordering::Greater);
        assert_eq!(cmp_distance(&t, &a, &a), Ordering::Equal);
        let t2 = [0xffu8; 32];
        assert_eq!(cmp_distance(&t2, &a, &b), Ordering::Greater);
    }
}
