//! Node ids and XOR distance (`dht-rpc lib/peer.js`). Addresses are encoded with
//! compact-encoding `ipv4Address` ([`ipv4_bytes`]: 4 octets in network order, then the port as
//! u16 little-endian).

use super::NodeId;
use hyperwasm::crypto::blake2b;
use hyperwasm::hyperdht::messages::ipv4_bytes;
use std::cmp::Ordering;
use std::net::SocketAddrV4;

/// The id a node at `addr` must have: BLAKE2b-256 of its encoded address.
pub fn id(addr: &SocketAddrV4) -> NodeId {
    blake2b(&ipv4_bytes(addr))
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
    use std::net::Ipv4Addr;

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
