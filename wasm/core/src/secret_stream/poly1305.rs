//! Poly1305 (RFC 8439 §2.5) with 64-bit limbs, for the secretstream MAC.
//!
//! Why our own: the `poly1305` 0.8 crate's runtime-detected AVX2 backend spends most of a
//! 1 KiB message in per-message setup and non-inlined intrinsics (about 2.7× slower than
//! this at 1 KiB), and secretstream MACs every message separately. This is the classic
//! three-limb (44 + 44 + 42 bits) evaluation with `u128` products: constant-time, no
//! branches on secret data, checked against RFC 8439 and (in tests) an independent
//! secretstream implementation.

use zeroize::Zeroize;

const MASK44: u64 = (1 << 44) - 1;
const MASK42: u64 = (1 << 42) - 1;

/// A one-time authenticator under a 32-byte key (`r ‖ s`), fed incrementally. Dropping
/// it wipes the key.
pub(crate) struct Poly1305 {
    r: [u64; 3],
    /// `20 · r1`, `20 · r2` (2^132 ≡ 20 mod 2^130 − 5).
    r20: [u64; 2],
    h: [u64; 3],
    s: [u64; 2],
    /// Bytes of an incomplete block.
    buf: [u8; 16],
    buf_len: usize,
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        self.r.zeroize();
        self.r20.zeroize();
        self.h.zeroize();
        self.s.zeroize();
        self.buf.zeroize();
    }
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// The 2^128 bit of a full block, in the top limb (bit 88 + 40).
const HIBIT: u64 = 1 << 40;

impl Poly1305 {
    /// Keyed with `key` (`r` is clamped as RFC 8439 requires).
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let t0 = le64(&key[0..8]) & 0x0fff_fffc_0fff_ffff;
        let t1 = le64(&key[8..16]) & 0x0fff_fffc_0fff_fffc;
        let r0 = t0 & MASK44;
        let r1 = ((t0 >> 44) | (t1 << 20)) & MASK44;
        let r2 = (t1 >> 24) & MASK42;
        Poly1305 {
            r: [r0, r1, r2],
            r20: [r1 * 20, r2 * 20],
            h: [0; 3],
            s: [le64(&key[16..24]), le64(&key[24..32])],
            buf: [0; 16],
            buf_len: 0,
        }
    }

    /// Absorbs `data` (any length; the message is the concatenation of all updates).
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        if self.buf_len > 0 {
            let take = (16 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < 16 {
                return;
            }
            let block = self.buf;
            self.blocks(block.chunks_exact(16), HIBIT);
            self.buf_len = 0;
        }
        let chunks = data.chunks_exact(16);
        let rest = chunks.remainder();
        self.blocks(chunks, HIBIT);
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// `h = (h + block + hibit·2^128) · r mod 2^130 − 5` for each block (`hibit` is the
    /// 2^128 bit's place in the top limb: `1 << 40`, or 0).
    fn blocks<'a>(&mut self, blocks: impl Iterator<Item = &'a [u8]>, hibit: u64) {
        let [r0, r1, r2] = self.r;
        let [s1, s2] = self.r20;
        let [mut h0, mut h1, mut h2] = self.h;
        let mul = |a: u64, b: u64| u128::from(a) * u128::from(b);
        for block in blocks {
            let t0 = le64(&block[0..8]);
            let t1 = le64(&block[8..16]);
            h0 += t0 & MASK44;
            h1 += ((t0 >> 44) | (t1 << 20)) & MASK44;
            h2 += (t1 >> 24) | hibit;
            // Limb weights 2^0, 2^44, 2^88; products at 2^132 and up wrap by 20.
            let d0 = mul(h0, r0) + mul(h1, s2) + mul(h2, s1);
            let mut d1 = mul(h0, r1) + mul(h1, r0) + mul(h2, s2);
            let mut d2 = mul(h0, r2) + mul(h1, r1) + mul(h2, r0);
            d1 += d0 >> 44;
            h0 = (d0 as u64) & MASK44;
            d2 += d1 >> 44;
            h1 = (d1 as u64) & MASK44;
            let carry = (d2 >> 42) as u64;
            h2 = (d2 as u64) & MASK42;
            h0 += carry * 5;
            h1 += h0 >> 44;
            h0 &= MASK44;
        }
        self.h = [h0, h1, h2];
    }

    /// The 16-byte tag: `(h mod 2^130 − 5) + s mod 2^128`, a final partial block being
    /// padded with 0x01 and zeros (without the 2^128 bit).
    pub(crate) fn finalize(mut self) -> [u8; 16] {
        if self.buf_len > 0 {
            let mut block = [0u8; 16];
            block[..self.buf_len].copy_from_slice(&self.buf[..self.buf_len]);
            block[self.buf_len] = 1;
            self.blocks(block.chunks_exact(16), 0);
        }
        let [mut h0, mut h1, mut h2] = self.h;
        // Fully carry h.
        h2 += h1 >> 44;
        h1 &= MASK44;
        h0 += (h2 >> 42) * 5;
        h2 &= MASK42;
        h1 += h0 >> 44;
        h0 &= MASK44;
        h2 += h1 >> 44;
        h1 &= MASK44;
        h0 += (h2 >> 42) * 5;
        h2 &= MASK42;
        h1 += h0 >> 44;
        h0 &= MASK44;
        // g = h + 5 − 2^130; take g when it did not go negative (h ≥ p), in constant time.
        let mut g0 = h0 + 5;
        let mut g1 = h1 + (g0 >> 44);
        g0 &= MASK44;
        let g2 = (h2 + (g1 >> 44)).wrapping_sub(1 << 42);
        g1 &= MASK44;
        let take_g = (g2 >> 63).wrapping_sub(1);
        h0 = (h0 & !take_g) | (g0 & take_g);
        h1 = (h1 & !take_g) | (g1 & take_g);
        h2 = (h2 & !take_g) | (g2 & take_g);
        let lo = h0 | (h1 << 44);
        let hi = (h1 >> 20) | (h2 << 24);
        let (lo, carry) = lo.overflowing_add(self.s[0]);
        let hi = hi.wrapping_add(self.s[1]).wrapping_add(u64::from(carry));
        let mut tag = [0u8; 16];
        tag[..8].copy_from_slice(&lo.to_le_bytes());
        tag[8..].copy_from_slice(&hi.to_le_bytes());
        self.h = [0; 3];
        tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
        let mut p = Poly1305::new(key);
        p.update(msg);
        p.finalize()
    }

    #[test]
    fn rfc8439_2_5_2() {
        let key: [u8; 32] = hex::decode("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            hex::encode(tag(&key, b"Cryptographic Forum Research Group")),
            "a8061dc1305136c6c22b8baf0c0127a9"
        );
    }

    #[test]
    fn rfc8439_appendix_a3() {
        // #1: all-zero key and message.
        assert_eq!(tag(&[0; 32], &[0; 64]), [0; 16]);
        // #5: R = 2, S = 0, message 2^128 − 1 (the product wraps past p).
        let mut key = [0u8; 32];
        key[0] = 2;
        assert_eq!(hex::encode(tag(&key, &[0xff; 16])), "03000000000000000000000000000000");
        // #6: R = 2, S = 2^128 − 1, message 2: the tag wraps modulo 2^128.
        key[16..].fill(0xff);
        let mut msg = [0u8; 16];
        msg[0] = 2;
        assert_eq!(hex::encode(tag(&key, &msg)), "03000000000000000000000000000000");
    }

    /// libsodium's `crypto_onetimeauth` on edge keys and messages (tests/fixtures/noise).
    #[test]
    fn matches_libsodium() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/noise/secretstream.json");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let list = v["poly1305"].as_array().unwrap();
        assert!(list.len() > 50);
        for t in list {
            let key: [u8; 32] = hex::decode(t["key"].as_str().unwrap()).unwrap().try_into().unwrap();
            let msg = hex::decode(t["message"].as_str().unwrap()).unwrap();
            assert_eq!(hex::encode(tag(&key, &msg)), t["tag"].as_str().unwrap(), "{}", t["name"]);
        }
    }

    #[test]
    fn any_update_split_gives_the_same_tag() {
        let key = [7u8; 32];
        let msg: Vec<u8> = (0..100u8).collect();
        let whole = tag(&key, &msg);
        for a in 0..msg.len() {
            for b in a..msg.len() {
                let mut p = Poly1305::new(&key);
                p.update(&msg[..a]);
                p.update(&msg[a..b]);
                p.update(&msg[b..]);
                assert_eq!(p.finalize(), whole, "split {a} {b}");
            }
        }
    }
}
