//! Noise `CipherState` with `ChaChaPoly` as npm `noise-handshake`'s `cipher.js` runs it: IETF
//! ChaCha20-Poly1305, the 96-bit nonce being four zero bytes, the message counter as a
//! little-endian `u32`, and four zero bytes. Without a key, encryption is the identity.

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use zeroize::Zeroizing;

use super::NoiseError;

/// Poly1305 tag length.
pub(crate) const TAG_LEN: usize = 16;
/// Noise's maximum message (here: ciphertext) length, enforced as `cipher.js` does.
pub(crate) const MAX_CIPHERTEXT_LEN: usize = 65535;

/// A key (once one is mixed in) and the nonce counter.
pub(crate) struct CipherState {
    key: Option<Zeroizing<[u8; 32]>>,
    nonce: u64,
}

impl CipherState {
    /// Without a key.
    pub(crate) fn new() -> Self {
        CipherState { key: None, nonce: 0 }
    }

    /// `InitializeKey(k)`: sets the key and resets the nonce.
    pub(crate) fn initialise_key(&mut self, key: &[u8; 32]) {
        self.key = Some(Zeroizing::new(*key));
        self.nonce = 0;
    }

    /// Whether a key has been set.
    pub(crate) fn has_key(&self) -> bool {
        self.key.is_some()
    }

    fn nonce_bytes(&self) -> Result<[u8; 12], NoiseError> {
        // cipher.js writes the counter with `setUint32`; stop before it would wrap.
        let counter = u32::try_from(self.nonce).map_err(|_| NoiseError::NonceExhausted)?;
        let mut nonce = [0u8; 12];
        nonce[4..8].copy_from_slice(&counter.to_le_bytes());
        Ok(nonce)
    }

    /// `EncryptWithAd(ad, plaintext)`, appending the ciphertext (or the plaintext, without a
    /// key) to `out`.
    pub(crate) fn encrypt_with_ad(
        &mut self,
        ad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        let Some(key) = &self.key else {
            out.extend_from_slice(plaintext);
            return Ok(());
        };
        let len = plaintext.len() + TAG_LEN;
        if len > MAX_CIPHERTEXT_LEN {
            return Err(NoiseError::TooLong(len));
        }
        let nonce = self.nonce_bytes()?;
        let start = out.len();
        out.extend_from_slice(plaintext);
        let aead = ChaCha20Poly1305::new(key.as_ref().into());
        let tag = aead
            .encrypt_in_place_detached(&nonce.into(), ad, &mut out[start..])
            .map_err(|_| NoiseError::TooLong(len))?;
        out.extend_from_slice(&tag);
        self.nonce += 1;
        Ok(())
    }

    /// `DecryptWithAd(ad, ciphertext)` (the identity without a key).
    pub(crate) fn decrypt_with_ad(&mut self, ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let Some(key) = &self.key else {
            return Ok(ciphertext.to_vec());
        };
        if ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(NoiseError::TooLong(ciphertext.len()));
        }
        let Some(body_len) = ciphertext.len().checked_sub(TAG_LEN) else {
            return Err(NoiseError::Truncated);
        };
        let nonce = self.nonce_bytes()?;
        let (body, tag) = ciphertext.split_at(body_len);
        let mut plain = body.to_vec();
        let aead = ChaCha20Poly1305::new(key.as_ref().into());
        aead.decrypt_in_place_detached(&nonce.into(), ad, &mut plain, tag.into())
            .map_err(|_| NoiseError::Decrypt)?;
        self.nonce += 1;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_key_is_identity() {
        let mut c = CipherState::new();
        let mut out = Vec::new();
        c.encrypt_with_ad(b"ad", b"hello", &mut out).unwrap();
        assert_eq!(out, b"hello");
        assert_eq!(c.decrypt_with_ad(b"ad", b"hello").unwrap(), b"hello");
    }

    #[test]
    fn round_trip_and_tamper() {
        let mut a = CipherState::new();
        let mut b = CipherState::new();
        a.initialise_key(&[3; 32]);
        b.initialise_key(&[3; 32]);
        let mut ct = Vec::new();
        a.encrypt_with_ad(b"h", b"payload", &mut ct).unwrap();
        assert_eq!(ct.len(), 7 + TAG_LEN);
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(b.decrypt_with_ad(b"h", &bad), Err(NoiseError::Decrypt));
        assert_eq!(b.decrypt_with_ad(b"x", &ct), Err(NoiseError::Decrypt));
        assert_eq!(b.decrypt_with_ad(b"h", &ct[..10]), Err(NoiseError::Truncated));
        assert_eq!(b.decrypt_with_ad(b"h", &ct).unwrap(), b"payload");
        // The nonce advanced on both sides.
        let mut ct2 = Vec::new();
        a.encrypt_with_ad(b"h", b"", &mut ct2).unwrap();
        assert_eq!(b.decrypt_with_ad(b"h", &ct2).unwrap(), b"");
    }

    #[test]
    fn length_limit() {
        let mut a = CipherState::new();
        a.initialise_key(&[3; 32]);
        let mut out = Vec::new();
        assert_eq!(a.encrypt_with_ad(b"", &[0; 65520], &mut out), Err(NoiseError::TooLong(65536)));
        assert!(a.encrypt_with_ad(b"", &[0; 65519], &mut out).is_ok());
        assert_eq!(a.decrypt_with_ad(b"", &[0; 65536]), Err(NoiseError::TooLong(65536)));
    }
}
