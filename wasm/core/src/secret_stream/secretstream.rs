//! libsodium `crypto_secretstream_xchacha20poly1305` as npm `sodium-secretstream` uses it
//! (always `TAG_MESSAGE`, no additional data), over the `crypto_secretstream` crate, writing
//! ciphertexts straight into a caller's buffer.

use crypto_secretstream::aead::rand_core::{CryptoRng, Error as RandError, RngCore};
use crypto_secretstream::aead::{self, Buffer};
use crypto_secretstream::{Header, Key, PullStream, PushStream, Tag};

/// Bytes a message grows by when encrypted: the tag byte and the 16-byte MAC.
pub const ABYTES: usize = 17;
/// Length of the stream header the receiver needs.
pub const HEADERBYTES: usize = 24;
/// Length of a stream key.
pub const KEYBYTES: usize = 32;

/// "Randomness" that hands out a fixed header: `PushStream::init` draws exactly the 24
/// header bytes from its generator.
struct HeaderSource([u8; HEADERBYTES]);

impl RngCore for HeaderSource {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for (d, s) in dest.iter_mut().zip(self.0.iter().cycle()) {
            *d = *s;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RandError> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for HeaderSource {}

/// The tail of a `Vec` from `start`, as an AEAD buffer: lets the push stream encrypt in
/// place at the end of the outgoing buffer.
struct Tail<'a> {
    vec: &'a mut Vec<u8>,
    start: usize,
}

impl AsRef<[u8]> for Tail<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.vec[self.start..]
    }
}

impl AsMut<[u8]> for Tail<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..]
    }
}

impl Buffer for Tail<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> aead::Result<()> {
        self.vec.extend_from_slice(other);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.vec.truncate(self.start + len);
    }
}

/// The sending half (libsodium `init_push` + `push`).
pub struct Encryptor {
    push: PushStream,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor").finish_non_exhaustive()
    }
}

impl Encryptor {
    /// A stream under `key` with a random header (returned: send it to the receiver).
    pub fn new(key: &[u8; KEYBYTES]) -> Result<(Self, [u8; HEADERBYTES]), getrandom::Error> {
        let mut header = [0u8; HEADERBYTES];
        getrandom::getrandom(&mut header)?;
        Ok((Self::with_header(key, &header), header))
    }

    /// A stream under `key` with a chosen header (deterministic: for known-answer tests).
    pub fn with_header(key: &[u8; KEYBYTES], header: &[u8; HEADERBYTES]) -> Self {
        let (_, push) = PushStream::init(HeaderSource(*header), &Key::from(*key));
        Encryptor { push }
    }

    /// Encrypts `plaintext` with `TAG_MESSAGE`, appending `plaintext.len() + ABYTES` bytes to
    /// `out`. On error `out` is left as it was.
    pub fn encrypt_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), aead::Error> {
        let start = out.len();
        out.reserve(plaintext.len() + ABYTES);
        out.extend_from_slice(plaintext);
        let r = self.push.push(&mut Tail { vec: out, start }, &[], Tag::Message);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }
}

/// The receiving half (libsodium `init_pull` + `pull`).
pub struct Decryptor {
    pull: PullStream,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor").finish_non_exhaustive()
    }
}

impl Decryptor {
    /// A stream under `key` with the sender's `header`.
    pub fn new(key: &[u8; KEYBYTES], header: &[u8; HEADERBYTES]) -> Self {
        Decryptor { pull: PullStream::init(Header::from(*header), &Key::from(*key)) }
    }

    /// Decrypts one message in place: `buf` holds the ciphertext and ends up holding the
    /// plaintext. The tag is returned (JS peers only send `TAG_MESSAGE`; the caller may
    /// ignore it, as `sodium-secretstream` does). Fails on a short or forged message, which
    /// leaves the stream state unchanged.
    pub fn decrypt_in_place(&mut self, buf: &mut Vec<u8>) -> Result<Tag, aead::Error> {
        if buf.len() < ABYTES {
            return Err(aead::Error);
        }
        self.pull.pull(buf, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_place() {
        let key = [9u8; 32];
        let (mut enc, header) = Encryptor::new(&key).unwrap();
        let mut dec = Decryptor::new(&key, &header);
        let mut out = b"prefix".to_vec();
        for n in [0usize, 1, 100, 5000] {
            out.truncate(6);
            let msg: Vec<u8> = (0..n).map(|i| i as u8).collect();
            enc.encrypt_into(&msg, &mut out).unwrap();
            assert_eq!(&out[..6], b"prefix");
            assert_eq!(out.len(), 6 + n + ABYTES);
            let mut buf = out[6..].to_vec();
            assert_eq!(dec.decrypt_in_place(&mut buf).unwrap(), Tag::Message);
            assert_eq!(buf, msg);
        }
    }

    #[test]
    fn forged_and_short_fail() {
        let key = [9u8; 32];
        let header = [1u8; 24];
        let mut enc = Encryptor::with_header(&key, &header);
        let mut dec = Decryptor::new(&key, &header);
        let mut ct = Vec::new();
        enc.encrypt_into(b"hello", &mut ct).unwrap();
        let mut bad = ct.clone();
        bad[3] ^= 0x40;
        assert!(dec.decrypt_in_place(&mut bad).is_err());
        assert!(dec.decrypt_in_place(&mut vec![0; 16]).is_err());
        // The failed attempts left the state alone.
        dec.decrypt_in_place(&mut ct).unwrap();
        assert_eq!(ct, b"hello");
        // Replaying the same ciphertext fails (the state moved on).
        let mut again = Vec::new();
        Encryptor::with_header(&key, &header).encrypt_into(b"hello", &mut again).unwrap();
        assert!(dec.decrypt_in_place(&mut again).is_err());
    }
}
