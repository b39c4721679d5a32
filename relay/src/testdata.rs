//! Deterministic test content shared with the JS peer (`tests/js/replicate-peer.mjs`), so both
//! sides can check a replicated core without shipping it.
//!
//! - `block(gen, i, size)` is the first `size` bytes of `H ‖ H ‖ H ‖ …` with
//!   `H = BLAKE2b-256("hyperwasm-testdata" ‖ uint64LE(gen) ‖ uint64LE(i))`. Seeds append
//!   `block(fork, i, size)` at index `i`, `fork` being the core's fork at append time.
//! - `digest(blocks)` is BLAKE2b-256 over `uint64LE(len) ‖ block` for each block in order
//!   (so block boundaries count); the digest of no blocks is BLAKE2b-256 of nothing.

/// Domain separator of the block generator.
pub const DOMAIN: &[u8] = b"hyperwasm-testdata";

/// Block `index` of generation `gen`, `size` bytes long.
pub fn block(gen: u64, index: u64, size: usize) -> Vec<u8> {
    let h = blake2b_simd::Params::new()
        .hash_length(32)
        .to_state()
        .update(DOMAIN)
        .update(&gen.to_le_bytes())
        .update(&index.to_le_bytes())
        .finalize();
    h.as_bytes().iter().copied().cycle().take(size).collect()
}

/// `count` consecutive blocks of generation `gen` starting at `start`.
pub fn blocks(gen: u64, start: u64, count: u64, size: usize) -> Vec<Vec<u8>> {
    (start..start + count).map(|i| block(gen, i, size)).collect()
}

/// Streaming digest of a sequence of blocks (see the module docs).
#[derive(Debug, Clone)]
pub struct Digest {
    state: blake2b_simd::State,
    blocks: u64,
    bytes: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Self::new()
    }
}

impl Digest {
    /// An empty digest.
    pub fn new() -> Self {
        Digest { state: blake2b_simd::Params::new().hash_length(32).to_state(), blocks: 0, bytes: 0 }
    }
    /// Adds the next block.
    pub fn update(&mut self, block: &[u8]) {
        self.state.update(&(block.len() as u64).to_le_bytes());
        self.state.update(block);
        self.blocks += 1;
        self.bytes += block.len() as u64;
    }
    /// Blocks added so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }
    /// Bytes added so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
    /// The digest, lowercase hex.
    pub fn hex(&self) -> String {
        hex::encode(self.state.finalize().as_bytes())
    }
}

/// Digest of `blocks` (lowercase hex).
pub fn digest<B: AsRef<[u8]>>(blocks: impl IntoIterator<Item = B>) -> String {
    let mut d = Digest::new();
    for b in blocks {
        d.update(b.as_ref());
    }
    d.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_repeats_the_hash_and_truncates() {
        let b = block(0, 7, 70);
        assert_eq!(b.len(), 70);
        assert_eq!(b[..32], b[32..64]);
        assert_eq!(b[..6], b[64..]);
        assert_ne!(block(0, 7, 32), block(1, 7, 32));
        assert_ne!(block(0, 7, 32), block(0, 8, 32));
        assert!(block(0, 0, 0).is_empty());
    }

    #[test]
    fn digest_counts_boundaries() {
        assert_ne!(digest([b"ab".as_slice(), b"c"]), digest([b"a".as_slice(), b"bc"]));
        assert_eq!(
            digest(Vec::<Vec<u8>>::new()),
            hex::encode(blake2b_simd::Params::new().hash_length(32).hash(b"").as_bytes())
        );
    }
}
