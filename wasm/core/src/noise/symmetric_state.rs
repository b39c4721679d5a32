//! Noise `SymmetricState` with BLAKE2b (HASHLEN 64) as npm `noise-handshake`'s
//! `symmetric-state.js`, `hkdf.js` and `hmac.js` compute it: HMAC-BLAKE2b-512 (block 128
//! bytes), HKDF with an empty `info`, split keys cut to 32 bytes.

use blake2b_simd::Params;
use zeroize::{Zeroize, Zeroizing};

use super::cipher::CipherState;
use super::NoiseError;

/// BLAKE2b output length used by the handshake (the handshake hash and chaining key).
pub const HASHLEN: usize = 64;
const BLOCKLEN: usize = 128;

/// BLAKE2b-512 of the concatenation of `parts`.
fn blake2b512(parts: &[&[u8]]) -> [u8; HASHLEN] {
    let mut state = Params::new().hash_length(HASHLEN).to_state();
    for p in parts {
        state.update(p);
    }
    let mut out = [0u8; HASHLEN];
    out.copy_from_slice(state.finalize().as_bytes());
    out
}

/// HMAC-BLAKE2b-512 of the concatenation of `parts` under `key` (`hmac.js`).
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; HASHLEN] {
    let mut block = Zeroizing::new([0u8; BLOCKLEN]);
    if key.len() > BLOCKLEN {
        let mut hashed = blake2b512(&[key]);
        block[..HASHLEN].copy_from_slice(&hashed);
        hashed.zeroize();
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut pad = Zeroizing::new([0u8; BLOCKLEN]);
    for (p, k) in pad.iter_mut().zip(block.iter()) {
        *p = k ^ 0x36;
    }
    let mut inner = Params::new().hash_length(HASHLEN).to_state();
    inner.update(&pad[..]);
    for p in parts {
        inner.update(p);
    }
    let mut inner_hash = [0u8; HASHLEN];
    inner_hash.copy_from_slice(inner.finalize().as_bytes());
    for (p, k) in pad.iter_mut().zip(block.iter()) {
        *p = k ^ 0x5c;
    }
    let out = blake2b512(&[&pad[..], &inner_hash]);
    inner_hash.zeroize();
    out
}

/// `hkdf(salt, ikm)` with empty info and two outputs (`hkdf.js`).
pub(crate) fn hkdf2(salt: &[u8], ikm: &[u8]) -> (Zeroizing<[u8; HASHLEN]>, Zeroizing<[u8; HASHLEN]>) {
    let prk = Zeroizing::new(hmac(salt, &[ikm]));
    let t1 = Zeroizing::new(hmac(&prk[..], &[&[1]]));
    let t2 = Zeroizing::new(hmac(&prk[..], &[&t1[..], &[2]]));
    (t1, t2)
}

/// Chaining key, handshake hash and the cipher state.
pub(crate) struct SymmetricState {
    ck: Zeroizing<[u8; HASHLEN]>,
    h: [u8; HASHLEN],
    cipher: CipherState,
}

impl SymmetricState {
    /// `InitializeSymmetric(protocol_name)`. A name longer than HASHLEN is mixed into the
    /// zero digest as `noise.js` does (not hashed alone); ours are all shorter.
    pub(crate) fn new(protocol_name: &[u8]) -> Self {
        let mut h = [0u8; HASHLEN];
        if protocol_name.len() <= HASHLEN {
            h[..protocol_name.len()].copy_from_slice(protocol_name);
        } else {
            h = blake2b512(&[&h, protocol_name]);
        }
        SymmetricState { ck: Zeroizing::new(h), h, cipher: CipherState::new() }
    }

    /// `MixHash(data)`: `h = BLAKE2b-512(h ‖ data)`.
    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        self.h = blake2b512(&[&self.h, data]);
    }

    /// `MixKey(dh_output)`.
    pub(crate) fn mix_key(&mut self, input_key_material: &[u8]) {
        let (ck, temp_k) = hkdf2(&self.ck[..], input_key_material);
        self.ck = ck;
        let mut key = [0u8; 32];
        key.copy_from_slice(&temp_k[..32]);
        self.cipher.initialise_key(&key);
        key.zeroize();
    }

    /// Whether a key has been mixed in (so `s` and payloads are encrypted).
    pub(crate) fn has_key(&self) -> bool {
        self.cipher.has_key()
    }

    /// `EncryptAndHash(plaintext)`, appending the ciphertext to `out`.
    pub(crate) fn encrypt_and_hash(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), NoiseError> {
        let start = out.len();
        self.cipher.encrypt_with_ad(&self.h, plaintext, out)?;
        self.h = blake2b512(&[&self.h, &out[start..]]);
        Ok(())
    }

    /// `DecryptAndHash(ciphertext)`.
    pub(crate) fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let plain = self.cipher.decrypt_with_ad(&self.h, ciphertext)?;
        self.mix_hash(ciphertext);
        Ok(plain)
    }

    /// The handshake hash so far.
    pub(crate) fn handshake_hash(&self) -> [u8; HASHLEN] {
        self.h
    }

    /// `Split()`: two 32-byte keys (initiator → responder first).
    pub(crate) fn split(&self) -> ([u8; 32], [u8; 32]) {
        let (k1, k2) = hkdf2(&self.ck[..], &[]);
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a.copy_from_slice(&k1[..32]);
        b.copy_from_slice(&k2[..32]);
        (a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 2104 structure check against a direct computation.
    #[test]
    fn hmac_matches_definition() {
        for key_len in [0usize, 1, 64, 128, 129, 300] {
            let key: Vec<u8> = (0..key_len).map(|i| i as u8).collect();
            let mut k = [0u8; BLOCKLEN];
            if key_len > BLOCKLEN {
                k[..HASHLEN].copy_from_slice(&blake2b512(&[&key]));
            } else {
                k[..key_len].copy_from_slice(&key);
            }
            let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
            let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
            let inner = blake2b512(&[&ipad, b"ab", b"c"]);
            let expected = blake2b512(&[&opad, &inner]);
            assert_eq!(hmac(&key, &[b"a", b"bc"]), expected, "key length {key_len}");
        }
    }

    #[test]
    fn initial_hash_is_padded_name() {
        let s = SymmetricState::new(b"Noise_XX_Ed25519_ChaChaPoly_BLAKE2b");
        assert_eq!(&s.h[..35], b"Noise_XX_Ed25519_ChaChaPoly_BLAKE2b");
        assert!(s.h[35..].iter().all(|&b| b == 0));
        assert_eq!(*s.ck, s.h);
        assert!(!s.has_key());
    }
}
