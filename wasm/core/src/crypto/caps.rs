//! Hypercore capability namespaces and signables (hypercore `lib/caps.js`).

use super::hash::{blake2b_keyed, namespace, Hash};
use std::sync::OnceLock;

/// The six `crypto.namespace('hypercore', 6)` values, in order.
struct Namespaces {
    tree: Hash,
    replicate_initiator: Hash,
    replicate_responder: Hash,
    manifest: Hash,
    default_namespace: Hash,
    default_encryption: Hash,
}

fn ns() -> &'static Namespaces {
    static NS: OnceLock<Namespaces> = OnceLock::new();
    NS.get_or_init(|| {
        let v = namespace(b"hypercore", 6);
        Namespaces {
            tree: v[0],
            replicate_initiator: v[1],
            replicate_responder: v[2],
            manifest: v[3],
            default_namespace: v[4],
            default_encryption: v[5],
        }
    })
}

/// `TREE`: prefix of every tree signable.
pub fn tree() -> &'static Hash {
    &ns().tree
}
/// `MANIFEST`: prefix hashed before a manifest to derive a core key.
pub fn manifest() -> &'static Hash {
    &ns().manifest
}
/// `DEFAULT_NAMESPACE`: the signer namespace of default single-signer manifests.
pub fn default_namespace() -> &'static Hash {
    &ns().default_namespace
}
/// `DEFAULT_ENCRYPTION`: block-encryption key derivation prefix.
pub fn default_encryption() -> &'static Hash {
    &ns().default_encryption
}

/// Replication capability: `H_keyed(ns(role) ‖ key, key = handshakeHash)`.
pub fn replicate(is_initiator: bool, key: &[u8; 32], handshake_hash: &[u8]) -> Hash {
    let role = if is_initiator { &ns().replicate_initiator } else { &ns().replicate_responder };
    blake2b_keyed(&[role, key], handshake_hash)
}

/// 112-byte signable of manifest cores: `TREE ‖ manifestHash ‖ treeHash ‖ u64le(length) ‖ u64le(fork)`.
pub fn tree_signable(manifest_hash: &Hash, tree_hash: &Hash, length: u64, fork: u64) -> [u8; 112] {
    let mut out = [0u8; 112];
    out[..32].copy_from_slice(tree());
    out[32..64].copy_from_slice(manifest_hash);
    out[64..96].copy_from_slice(tree_hash);
    out[96..104].copy_from_slice(&length.to_le_bytes());
    out[104..].copy_from_slice(&fork.to_le_bytes());
    out
}

/// 80-byte signable of compat cores: `TREE ‖ treeHash ‖ u64le(length) ‖ u64le(fork)`.
pub fn tree_signable_compat(tree_hash: &Hash, length: u64, fork: u64) -> [u8; 80] {
    let mut out = [0u8; 80];
    out[..32].copy_from_slice(tree());
    out[32..64].copy_from_slice(tree_hash);
    out[64..72].copy_from_slice(&length.to_le_bytes());
    out[72..].copy_from_slice(&fork.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values computed in research/hypercore-format.md §0.2 (and cross-checked by the JS fixtures).
    #[test]
    fn namespaces_match_reference() {
        assert_eq!(hex::encode(tree()), "9fac70b50ca14efc4e91c833b204e75b8b5aad8b5881bfc0adb5ef38a3275b9c");
        assert_eq!(
            hex::encode(manifest()),
            "e64b7108eacce47cfc61ac850568f55f8b15b82ec5ed78c4ec597b036e2a1498"
        );
        assert_eq!(
            hex::encode(default_namespace()),
            "4144eea531e483d54e0c14f4ca68e0644f355343ff6fcb0f005200e12cd747cb"
        );
        assert_eq!(
            hex::encode(default_encryption()),
            "9aedb6f1dea8487cc1e1698f97eb2f063f6db4c649695622e7b675e2ceafa6e9"
        );
    }
}
