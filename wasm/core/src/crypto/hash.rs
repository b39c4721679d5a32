//! BLAKE2b-256 hashing: plain, keyed, batched, namespaces, Merkle leaf/parent/tree hashes
//! (npm `hypercore-crypto` `data`, `parent`, `tree`, `hash`, `namespace`, `discoveryKey`).

use blake2b_simd::{many, Params, State};

/// A 32-byte BLAKE2b digest.
pub type Hash = [u8; 32];

const LEAF_TYPE: u8 = 0;
const PARENT_TYPE: u8 = 1;
const ROOT_TYPE: u8 = 2;

fn state() -> State {
    Params::new().hash_length(32).to_state()
}

fn finish(state: &State) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(state.finalize().as_bytes());
    out
}

/// BLAKE2b-256 of the concatenation of `parts` (`crypto_generichash_batch`).
pub fn blake2b_batch(parts: &[&[u8]]) -> Hash {
    let mut h = state();
    for p in parts {
        h.update(p);
    }
    finish(&h)
}

/// BLAKE2b-256 of `data`.
pub fn blake2b(data: &[u8]) -> Hash {
    blake2b_batch(&[data])
}

/// Keyed BLAKE2b-256 of the concatenation of `parts` (`crypto_generichash_batch(out, parts, key)`).
/// `key` must be 1..=64 bytes.
pub fn blake2b_keyed(parts: &[&[u8]], key: &[u8]) -> Hash {
    assert!((1..=64).contains(&key.len()), "BLAKE2b keys are 1..=64 bytes");
    let mut h = Params::new().hash_length(32).key(key).to_state();
    for p in parts {
        h.update(p);
    }
    finish(&h)
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

fn leaf_state(len: usize) -> State {
    let mut h = state();
    h.update(&[LEAF_TYPE]);
    h.update(&(len as u64).to_le_bytes());
    h
}

/// Merkle leaf hash of a block: `H(0x00 ‖ u64le(len) ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = leaf_state(data.len());
    h.update(data);
    finish(&h)
}

/// [`leaf_hash`] of every block, hashing several blocks at once where the CPU has SIMD
/// lanes for it (same results, in order).
pub fn leaf_hashes<B: AsRef<[u8]>>(blocks: &[B]) -> Vec<Hash> {
    let mut states: Vec<State> = blocks.iter().map(|b| leaf_state(b.as_ref().len())).collect();
    many::update_many(states.iter_mut().zip(blocks.iter().map(AsRef::as_ref)));
    states.iter().map(finish).collect()
}

/// Merkle parent hash: `H(0x01 ‖ u64le(size) ‖ left ‖ right)`, `left` being the lower index.
pub fn parent_hash(size: u64, left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 73];
    buf[0] = PARENT_TYPE;
    buf[1..9].copy_from_slice(&size.to_le_bytes());
    buf[9..41].copy_from_slice(left);
    buf[41..73].copy_from_slice(right);
    let mut out = [0u8; 32];
    out.copy_from_slice(Params::new().hash_length(32).hash(&buf).as_bytes());
    out
}

/// Tree hash over the roots, left to right: `H(0x02 ‖ (hash ‖ u64le(index) ‖ u64le(size))*)`.
pub fn tree_hash<'a>(roots: impl IntoIterator<Item = (&'a Hash, u64, u64)>) -> Hash {
    let mut h = state();
    h.update(&[ROOT_TYPE]);
    for (hash, index, size) in roots {
        h.update(hash);
        h.update(&index.to_le_bytes());
        h.update(&size.to_le_bytes());
    }
    finish(&h)
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
    fn batched_leaves_match_single() {
        let blocks: Vec<Vec<u8>> = [0usize, 1, 118, 119, 120, 127, 128, 129, 1024, 4000, 7, 247, 248]
            .iter()
            .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
            .collect();
        let many = leaf_hashes(&blocks);
        assert_eq!(many.len(), blocks.len());
        for (b, h) in blocks.iter().zip(&many) {
            assert_eq!(*h, leaf_hash(b));
            assert_eq!(*h, blake2b_batch(&[&[0], &(b.len() as u64).to_le_bytes(), b]));
        }
    }

    #[test]
    fn keyed_differs_from_plain() {
        assert_ne!(blake2b_keyed(&[b"x"], &[1; 32]), blake2b(b"x"));
    }
}
