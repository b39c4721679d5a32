//! BLAKE2b-256 hashing: plain, keyed, batched, namespaces, Merkle leaf/parent/tree hashes
//! (npm `hypercore-crypto` `data`, `parent`, `tree`, `hash`, `namespace`, `discoveryKey`).

use blake2::digest::{Mac, Update, VariableOutput};
use blake2::{Blake2bMac, Blake2bVar};

/// A 32-byte BLAKE2b digest.
pub type Hash = [u8; 32];

const LEAF_TYPE: u8 = 0;
const PARENT_TYPE: u8 = 1;
const ROOT_TYPE: u8 = 2;

/// BLAKE2b-256 of the concatenation of `parts` (`crypto_generichash_batch`).
pub fn blake2b_batch(parts: &[&[u8]]) -> Hash {
    let mut h = Blake2bVar::new(32).expect("32 is a valid BLAKE2b output size");
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 32];
    h.finalize_variable(&mut out).expect("output buffer has the requested size");
    out
}

/// BLAKE2b-256 of `data`.
pub fn blake2b(data: &[u8]) -> Hash {
    blake2b_batch(&[data])
}

/// Keyed BLAKE2b-256 of the concatenation of `parts` (`crypto_generichash_batch(out, parts, key)`).
/// `key` must be 1..=64 bytes.
pub fn blake2b_keyed(parts: &[&[u8]], key: &[u8]) -> Hash {
    let mut mac = Blake2bMac::<blake2::digest::consts::U32>::new_from_slice(key)
        .expect("BLAKE2b keys are 1..=64 bytes");
    for p in parts {
        Mac::update(&mut mac, p);
    }
    mac.finalize().into_bytes().into()
}

/// `crypto.namespace(name, count)`: `H(H(name) ‖ byte(i))` for i in 0..count.
pub fn namespace(name: &[u8], count: u8) -> Vec<Hash> {
    let ns = blake2b(name);
    (0..count).map(|i| blake2b_batch(&[&ns, &[i]])).collect()
}

/// Discovery key of a core key: keyed BLAKE2b-256 of `"hypercore"` with the key as the key.
pub fn discovery_key(key: &[u8; 32]) -> Hash {
    blake2b_keyed(&[b"hypercore"], key)
}

/// Merkle leaf hash of a block: `H(0x00 ‖ u64le(len) ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    blake2b_batch(&[&[LEAF_TYPE], &(data.len() as u64).to_le_bytes(), data])
}

/// Merkle parent hash: `H(0x01 ‖ u64le(size) ‖ left ‖ right)`, `left` being the lower index.
pub fn parent_hash(size: u64, left: &Hash, right: &Hash) -> Hash {
    blake2b_batch(&[&[PARENT_TYPE], &size.to_le_bytes(), left, right])
}

/// Tree hash over the roots, left to right: `H(0x02 ‖ (hash ‖ u64le(index) ‖ u64le(size))*)`.
pub fn tree_hash<'a>(roots: impl IntoIterator<Item = (&'a Hash, u64, u64)>) -> Hash {
    let mut h = Blake2bVar::new(32).expect("32 is a valid BLAKE2b output size");
    h.update(&[ROOT_TYPE]);
    for (hash, index, size) in roots {
        h.update(hash);
        h.update(&index.to_le_bytes());
        h.update(&size.to_le_bytes());
    }
    let mut out = [0u8; 32];
    h.finalize_variable(&mut out).expect("output buffer has the requested size");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hx(h: &Hash) -> String {
        hex::encode(h)
    }

    // Upstream vectors from hypercore-crypto's test.js, quoted in research/hypercore-format.md.
    #[test]
    fn upstream_vectors() {
        let leaf = leaf_hash(b"hello world");
        assert_eq!(hx(&leaf), "9f1b578fd57a4df015493d2886aec9600eef913c3bb009768c7f0fb875996308");
        assert_eq!(
            hx(&parent_hash(22, &leaf, &leaf)),
            "3ad0c9b58b771d1b7707e1430f37c23a23dd46e0c7c3ab9c16f79d25f7c36804"
        );
        let zero = [0u8; 32];
        assert_eq!(
            hx(&tree_hash([(&zero, 3, 11), (&zero, 9, 2)])),
            "0e576a56b478cddb6ffebab8c494532b6de009466b2e9f7af9143fc54b9eaa36"
        );
    }

    #[test]
    fn keyed_differs_from_plain() {
        assert_ne!(blake2b_keyed(&[b"x"], &[1; 32]), blake2b(b"x"));
    }
}
