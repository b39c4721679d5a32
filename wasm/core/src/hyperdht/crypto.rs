//! HyperDHT namespaces, targets and signatures (hyperdht `lib/constants.js` `NS`,
//! `lib/crypto.js`, the signables of `lib/persistent.js`, the holepunch secret of
//! `lib/noise-wrap.js`).
//!
//! A signable is `NS (32 bytes) ‖ BLAKE2b-256(…)`, 64 bytes, signed with a detached Ed25519
//! signature. The `*_signable` functions build it without any key, so a relay can ask the key's
//! holder (a browser) to sign it; `sign_*` and `verify_*` do the rest locally.

use super::messages::{MutableSignable, Peer};
use crate::crypto::hash::{blake2b, blake2b_batch, blake2b_keyed};
use crate::crypto::sign::{verify, KeyPair, Signature};
use crate::encoding::Compact;

/// A 64-byte signable: namespace ‖ BLAKE2b-256 of the signed fields.
pub type Signable = [u8; 64];

/// `hypercore-crypto` `namespace(name, ids)`: `BLAKE2b-256(BLAKE2b-256(name) ‖ byte(id))` for
/// each id.
pub fn namespace(name: &[u8], ids: &[u8]) -> Vec<[u8; 32]> {
    let ns = blake2b(name);
    ids.iter().map(|id| blake2b_batch(&[&ns, &[*id]])).collect()
}

/// Name hyperdht derives its namespaces from.
pub const NAMESPACE_NAME: &str = "hyperswarm/dht";

/// `NS.ANNOUNCE` = `namespace('hyperswarm/dht', [4])`.
pub const NS_ANNOUNCE: [u8; 32] = hex32("36386adddf9f6fd60db83a6f42fc159d1146aa8644037664230aaa1f0179d497");
/// `NS.UNANNOUNCE` (id 5).
pub const NS_UNANNOUNCE: [u8; 32] = hex32("ded293cd93fb395e756ecf5fff426529e72c36eacc22e5ed944d9099a2561e32");
/// `NS.MUTABLE_PUT` (id 6).
pub const NS_MUTABLE_PUT: [u8; 32] =
    hex32("668e823edd5ce7f5338d68bf1161f4a3c28ce437ee2ab49efd30d99366039b1e");
/// `NS.PEER_HANDSHAKE` (id 0): the Noise IK prologue.
pub const NS_PEER_HANDSHAKE: [u8; 32] =
    hex32("14d6d4b49214ab1033ed204976caa258bae9e1e8543b9ad1fd996a910b0c4e3a");
/// `NS.PEER_HOLEPUNCH` (id 1): the message hashed into the holepunch secret.
pub const NS_PEER_HOLEPUNCH: [u8; 32] =
    hex32("f1191cd5e67b10b54a507033280ed1ff0e12278268d5679c8f93d417210d168b");
/// `NS.PLUGIN` (id 10).
pub const NS_PLUGIN: [u8; 32] = hex32("6b8a2a8623f28c6c02a1e22abe515ce31cafd9af61d4b69970639aa7eb96a8d5");

/// Parses 64 hex digits at compile time (the namespace constants above; a test recomputes them).
const fn hex32(s: &str) -> [u8; 32] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not lowercase hex"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64, "not 32 bytes of hex");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nib(b[2 * i]) << 4 | nib(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// `crypto.hash(data)`: BLAKE2b-256. The DHT target of a public key (FIND_PEER, self-announce,
/// MUTABLE_*) and of an immutable value.
pub fn hash(data: &[u8]) -> [u8; 32] {
    blake2b(data)
}

/// The holepunch secret of a finished Noise handshake: BLAKE2b-256 of `NS_PEER_HOLEPUNCH`
/// keyed with the 64-byte handshake hash.
pub fn holepunch_secret(handshake_hash: &[u8; 64]) -> [u8; 32] {
    blake2b_keyed(&[&NS_PEER_HOLEPUNCH], handshake_hash)
}

fn record_signable(
    ns: &[u8; 32],
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8; 32],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> Signable {
    let peer = peer.to_bytes();
    let digest = blake2b_batch(&[target, node_id, token, &peer, refresh.map_or(&[][..], |r| &r[..])]);
    join(ns, &digest)
}

fn join(ns: &[u8; 32], digest: &[u8; 32]) -> Signable {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(ns);
    out[32..].copy_from_slice(digest);
    out
}

/// What an ANNOUNCE's signature covers: `NS_ANNOUNCE ‖ BLAKE2b-256(target ‖ node_id ‖ token ‖
/// encode(peer) ‖ refresh?)`, where `node_id` and `token` are those of the node that will store
/// the record (from its LOOKUP / FIND_PEER reply) and `peer` is the record exactly as sent.
pub fn announce_signable(
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8; 32],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> Signable {
    record_signable(&NS_ANNOUNCE, target, node_id, token, peer, refresh)
}

/// What an UNANNOUNCE's signature covers: as [`announce_signable`] under `NS_UNANNOUNCE`.
pub fn unannounce_signable(
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8; 32],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> Signable {
    record_signable(&NS_UNANNOUNCE, target, node_id, token, peer, refresh)
}

/// What a mutable value's signature covers: `NS_MUTABLE_PUT ‖ BLAKE2b-256(encode(
/// mutableSignable{seq, value}))`.
pub fn mutable_signable(seq: u64, value: &[u8]) -> Signable {
    let encoded = MutableSignable { seq, value: value.to_vec() }.to_bytes();
    join(&NS_MUTABLE_PUT, &blake2b(&encoded))
}

/// `Persistent.signAnnounce`.
pub fn sign_announce(
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8; 32],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
    key_pair: &KeyPair,
) -> Signature {
    key_pair.sign(&announce_signable(target, node_id, token, peer, refresh))
}

/// `Persistent.signUnannounce`.
pub fn sign_unannounce(
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8; 32],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
    key_pair: &KeyPair,
) -> Signature {
    key_pair.sign(&unannounce_signable(target, node_id, token, peer, refresh))
}

/// `Persistent.signMutable`.
pub fn sign_mutable(seq: u64, value: &[u8], key_pair: &KeyPair) -> Signature {
    key_pair.sign(&mutable_signable(seq, value))
}

/// Checks an ANNOUNCE signature by `peer.public_key` (what a storing node does).
pub fn verify_announce(
    signature: &[u8; 64],
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8; 32],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> bool {
    verify(&announce_signable(target, node_id, token, peer, refresh), signature, &peer.public_key)
}

/// Checks an UNANNOUNCE signature by `peer.public_key`.
pub fn verify_unannounce(
    signature: &[u8; 64],
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8; 32],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> bool {
    verify(&unannounce_signable(target, node_id, token, peer, refresh), signature, &peer.public_key)
}

/// `Persistent.verifyMutable`.
pub fn verify_mutable(signature: &[u8; 64], seq: u64, value: &[u8], public_key: &[u8; 32]) -> bool {
    verify(&mutable_signable(seq, value), signature, public_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    #[test]
    fn namespaces_match_the_research_table_and_recompute() {
        let ns = namespace(NAMESPACE_NAME.as_bytes(), &[4, 5, 6, 0, 1, 10]);
        let consts =
            [NS_ANNOUNCE, NS_UNANNOUNCE, NS_MUTABLE_PUT, NS_PEER_HANDSHAKE, NS_PEER_HOLEPUNCH, NS_PLUGIN];
        assert_eq!(ns, consts);
        assert_eq!(
            hex::encode(NS_PEER_HANDSHAKE),
            "14d6d4b49214ab1033ed204976caa258bae9e1e8543b9ad1fd996a910b0c4e3a"
        );
        // namespace() agrees with hypercore-crypto's count form for ids 0..n.
        assert_eq!(
            namespace(b"hyperswarm/secret-stream", &[0, 1, 2]),
            crate::crypto::hash::namespace(b"hyperswarm/secret-stream", 3)
        );
    }

    #[test]
    fn signables_bind_every_field() {
        let kp = KeyPair::from_seed(&[1; 32]);
        let peer = Peer {
            public_key: kp.public_key(),
            relay_addresses: vec![SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1)],
        };
        let (t, n, k) = ([1; 32], [2; 32], [3; 32]);
        let base = announce_signable(&t, &n, &k, &peer, None);
        assert_eq!(base[..32], NS_ANNOUNCE);
        assert_eq!(unannounce_signable(&t, &n, &k, &peer, None)[32..], base[32..]);
        assert_ne!(announce_signable(&n, &t, &k, &peer, None), base);
        assert_ne!(announce_signable(&t, &n, &k, &peer, Some(&[0; 32])), base);
        assert_ne!(
            announce_signable(&t, &n, &k, &Peer { relay_addresses: vec![], ..peer.clone() }, None),
            base
        );
        let sig = sign_announce(&t, &n, &k, &peer, None, &kp);
        assert!(verify_announce(&sig, &t, &n, &k, &peer, None));
        assert!(!verify_unannounce(&sig, &t, &n, &k, &peer, None));
        assert!(!verify_announce(&sig, &t, &n, &[4; 32], &peer, None));
        let sig = sign_unannounce(&t, &n, &k, &peer, None, &kp);
        assert!(verify_unannounce(&sig, &t, &n, &k, &peer, None));

        let m = sign_mutable(3, b"value", &kp);
        assert!(verify_mutable(&m, 3, b"value", &kp.public_key()));
        assert!(!verify_mutable(&m, 4, b"value", &kp.public_key()));
        assert_eq!(mutable_signable(3, b"value")[..32], NS_MUTABLE_PUT);
    }

    #[test]
    fn holepunch_secret_is_keyed_by_the_hash() {
        let a = holepunch_secret(&[1; 64]);
        assert_ne!(a, holepunch_secret(&[2; 64]));
        assert_eq!(a, blake2b_keyed(&[&NS_PEER_HOLEPUNCH], &[1; 64]));
        assert_eq!(hash(b"x"), blake2b(b"x"));
    }
}
