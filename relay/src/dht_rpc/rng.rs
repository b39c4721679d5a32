//! The node's random numbers: BLAKE2b in counter mode, keyed by a 32-byte seed from the OS
//! (`getrandom`) or given by a test.

/// A keyed counter-mode generator.
#[derive(Clone)]
pub(crate) struct Rng {
    key: [u8; 32],
    counter: u64,
    block: [u8; 64],
    used: usize,
}

impl Rng {
    /// Seeded from the OS (a fixed fallback never happens in practice: `getrandom` only fails
    /// on platforms without an entropy source).
    pub(crate) fn from_os() -> Self {
        let mut seed = [0u8; 32];
        if getrandom::getrandom(&mut seed).is_err() {
            seed = hyperwasm::crypto::blake2b(b"hyperwasm dht-rpc fallback seed");
        }
        Rng::from_seed(seed)
    }

    pub(crate) fn from_seed(key: [u8; 32]) -> Self {
        Rng { key, counter: 0, block: [0; 64], used: 64 }
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for byte in out {
            if self.used == 64 {
                let digest = blake2b_simd::Params::new()
                    .hash_length(64)
                    .key(&self.key)
                    .hash(&self.counter.to_le_bytes());
                self.block.copy_from_slice(digest.as_bytes());
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }

    pub(crate) fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.fill(&mut out);
        out
    }

    pub(crate) fn u64(&mut self) -> u64 {
        let mut out = [0u8; 8];
        self.fill(&mut out);
        u64::from_le_bytes(out)
    }

    /// Uniform-ish in `0..n` (`n > 0`; modulo bias is irrelevant here).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_from_seed() {
        let mut a = Rng::from_seed([1; 32]);
        let mut b = Rng::from_seed([1; 32]);
        let mut c = Rng::from_seed([2; 32]);
        let x: Vec<u64> = (0..20).map(|_| a.u64()).collect();
        let y: Vec<u64> = (0..20).map(|_| b.u64()).collect();
        let z: Vec<u64> = (0..20).map(|_| c.u64()).collect();
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert!(x.windows(2).all(|w| w[0] != w[1]));
        assert!((0..100).all(|_| a.below(7) < 7));
    }
}
