//! [`SplitMix`]: the relay's one non-cryptographic random number generator.

/// A small deterministic PRNG (SplitMix64) for choices that need no secrecy: which stored
/// records a LOOKUP returns, which datagrams a loss shim drops, test payloads.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// A generator seeded from the OS.
    pub fn from_os() -> Self {
        let mut b = [0u8; 8];
        // A failing OS RNG only makes record sampling predictable; nothing secret depends on it.
        let _ = getrandom::getrandom(&mut b);
        SplitMix(u64::from_le_bytes(b))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`; 0 when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p` (`p` ≤ 0: never, `p` ≥ 1: always).
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}
