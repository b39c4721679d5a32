//! libsodium `crypto_secretstream_xchacha20poly1305`, as npm `sodium-secretstream` uses it
//! (no additional data; JS sends `TAG_MESSAGE` only), written straight into the caller's
//! buffers.
//!
//! The construction (libsodium `secretstream/xchacha20poly1305`): the state is a ChaCha20
//! key `k = HChaCha20(key, header[0..16])`, a 32-bit counter (starting at 1) and an 8-byte
//! `inonce = header[16..24]`; the IETF nonce is `counter ‖ inonce`. A message `m` with tag
//! `t` becomes `c = E(t) ‖ E(m) ‖ mac` where keystream block 0 keys Poly1305, block 1
//! encrypts the 64-byte tag block `t ‖ 0^63` (all of it is MACed, its first byte is sent)
//! and blocks 2… encrypt `m`; the MAC covers tag block, padded ciphertext and the lengths
//! `0 ‖ 64 + |m|`. Then `inonce ^= mac[0..8]`, the counter increments, and the state is
//! rekeyed when the tag has the REKEY bit or the counter wrapped to 0.
//!
//! ChaCha20 is the `chacha20` crate (SIMD backends picked at run time); Poly1305 is ours.

use chacha20::cipher::consts::U10;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use zeroize::{Zeroize, Zeroizing};

use super::poly1305::Poly1305;

/// Bytes a message grows by when encrypted: the tag byte and the 16-byte MAC.
pub const ABYTES: usize = 17;
/// Length of the stream header the receiver needs.
pub const HEADERBYTES: usize = 24;
/// Length of a stream key.
pub const KEYBYTES: usize = 32;
/// `TAG_MESSAGE`: the tag of ordinary messages.
pub const TAG_MESSAGE: u8 = 0;
/// `TAG_PUSH`.
pub const TAG_PUSH: u8 = 1;
/// `TAG_REKEY`: the state is rekeyed after this message.
pub const TAG_REKEY: u8 = 2;
/// `TAG_FINAL` (`TAG_PUSH | TAG_REKEY`).
pub const TAG_FINAL: u8 = 3;

const MAC_LEN: usize = 16;
/// Keystream blocks 0..4 are made in one go (the SIMD backends make four at a time): block
/// 0 keys Poly1305, block 1 is the tag block, blocks 2 and 3 cover the first 128 bytes of
/// the message.
const HEAD: usize = 256;

/// A secretstream message that failed: too short, or not authentic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("secretstream message is forged or malformed")]
pub struct DecryptError;

/// The shared per-direction state.
struct State {
    key: Zeroizing<[u8; 32]>,
    inonce: [u8; 8],
    counter: u32,
}

impl State {
    fn new(key: &[u8; KEYBYTES], header: &[u8; HEADERBYTES]) -> State {
        let mut input = [0u8; 16];
        input.copy_from_slice(&header[..16]);
        let mut k = chacha20::hchacha::<U10>(key.into(), &input.into());
        let mut inonce = [0u8; 8];
        inonce.copy_from_slice(&header[16..]);
        let state = State { key: Zeroizing::new(k.into()), inonce, counter: 1 };
        k.zeroize();
        state
    }

    fn cipher(&self) -> ChaCha20 {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.counter.to_le_bytes());
        nonce[4..].copy_from_slice(&self.inonce);
        ChaCha20::new((&*self.key).into(), &nonce.into())
    }

    /// Keystream blocks 0..4 (see [`HEAD`]) and the Poly1305 instance keyed by block 0, with
    /// the 64-byte tag block (its first byte being `encrypted_tag`) absorbed. Returns the
    /// cipher (positioned at block 4), the MAC state and the plaintext tag.
    fn begin(&self, head: &mut [u8; HEAD], tag_byte: u8, decrypting: bool) -> (ChaCha20, Poly1305, u8) {
        let mut cipher = self.cipher();
        cipher.apply_keystream(head);
        let mut poly_key = [0u8; 32];
        poly_key.copy_from_slice(&head[..32]);
        let mut poly = Poly1305::new(&poly_key);
        poly_key.zeroize();
        // The tag block: `tag ‖ 0^63` encrypted, i.e. block 1 with its first byte xored.
        let plain_tag = if decrypting { tag_byte ^ head[64] } else { tag_byte };
        head[64] ^= plain_tag;
        poly.update(&head[64..128]);
        (cipher, poly, plain_tag)
    }

    /// Closes the MAC over `ciphertext` (the message part) and the lengths. libsodium's
    /// "padding" after the ciphertext is `(0x10 − 64 + mlen) & 0xf` = `mlen mod 16` zero
    /// bytes (not padding to a block boundary), so the MAC input need not be block-aligned.
    fn finish_mac(mut poly: Poly1305, ciphertext: &[u8]) -> [u8; MAC_LEN] {
        poly.update(ciphertext);
        poly.update(&[0u8; 16][..ciphertext.len() % 16]);
        let mut lengths = [0u8; 16];
        lengths[8..].copy_from_slice(&(64 + ciphertext.len() as u64).to_le_bytes());
        poly.update(&lengths);
        poly.finalize()
    }

    /// The state update after a message.
    fn advance(&mut self, mac: &[u8; MAC_LEN], tag: u8) {
        for (n, m) in self.inonce.iter_mut().zip(mac) {
            *n ^= m;
        }
        self.counter = self.counter.wrapping_add(1);
        if tag & TAG_REKEY != 0 || self.counter == 0 {
            self.rekey();
        }
    }

    /// libsodium `rekey`: `k ‖ inonce` encrypted with the current key and nonce.
    fn rekey(&mut self) {
        let mut buf = Zeroizing::new([0u8; 40]);
        buf[..32].copy_from_slice(&*self.key);
        buf[32..].copy_from_slice(&self.inonce);
        self.cipher().apply_keystream(&mut buf[..]);
        self.key.copy_from_slice(&buf[..32]);
        self.inonce.copy_from_slice(&buf[32..]);
        self.counter = 1;
    }
}

/// XORs the keystream into `data`, `cipher` being at a block boundary. Runs of 256 bytes
/// go straight through; a shorter tail goes through a 256-byte scratch so the backend still
/// makes four blocks at once.
fn apply_keystream(cipher: &mut ChaCha20, head: &[u8; HEAD], data: &mut [u8]) {
    let first = data.len().min(HEAD - 128);
    for (d, k) in data[..first].iter_mut().zip(&head[128..]) {
        *d ^= k;
    }
    let rest = &mut data[first..];
    let whole = rest.len() / HEAD * HEAD;
    let (body, tail) = rest.split_at_mut(whole);
    cipher.apply_keystream(body);
    if !tail.is_empty() {
        let mut scratch = [0u8; HEAD];
        scratch[..tail.len()].copy_from_slice(tail);
        cipher.apply_keystream(&mut scratch);
        tail.copy_from_slice(&scratch[..tail.len()]);
        scratch.zeroize();
    }
}

/// The sending half (`init_push` + `push`).
pub struct Encryptor {
    state: State,
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
        Encryptor { state: State::new(key, header) }
    }

    /// Encrypts `plaintext` with `TAG_MESSAGE`, appending `plaintext.len() + ABYTES` bytes
    /// to `out`.
    pub fn encrypt_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) {
        self.encrypt_with_tag(plaintext, TAG_MESSAGE, out);
    }

    /// Encrypts `plaintext` with `tag` (one of the `TAG_*` values), appending to `out`.
    pub fn encrypt_with_tag(&mut self, plaintext: &[u8], tag: u8, out: &mut Vec<u8>) {
        let mut head = [0u8; HEAD];
        let (mut cipher, poly, _) = self.state.begin(&mut head, tag, false);
        let start = out.len();
        out.reserve(plaintext.len() + ABYTES);
        out.push(head[64]);
        out.extend_from_slice(plaintext);
        let body = &mut out[start + 1..];
        apply_keystream(&mut cipher, &head, body);
        head.zeroize();
        let mac = State::finish_mac(poly, body);
        out.extend_from_slice(&mac);
        self.state.advance(&mac, tag);
    }
}

/// The receiving half (`init_pull` + `pull`).
pub struct Decryptor {
    state: State,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor").finish_non_exhaustive()
    }
}

impl Decryptor {
    /// A stream under `key` with the sender's `header`.
    pub fn new(key: &[u8; KEYBYTES], header: &[u8; HEADERBYTES]) -> Self {
        Decryptor { state: State::new(key, header) }
    }

    /// Checks and decrypts one message, appending the plaintext (`ciphertext.len() −
    /// ABYTES` bytes) to `out` and returning its tag (JS ignores it; so does the stream).
    /// A short or forged message fails, leaving `out` and the state unchanged.
    pub fn decrypt_into(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<u8, DecryptError> {
        if ciphertext.len() < ABYTES {
            return Err(DecryptError);
        }
        let (body, mac) = ciphertext[1..].split_at(ciphertext.len() - ABYTES);
        let mut head = [0u8; HEAD];
        let (mut cipher, poly, tag) = self.state.begin(&mut head, ciphertext[0], true);
        let expected = State::finish_mac(poly, body);
        if !constant_time_eq(&expected, mac) {
            head.zeroize();
            return Err(DecryptError);
        }
        let start = out.len();
        out.extend_from_slice(body);
        apply_keystream(&mut cipher, &head, &mut out[start..]);
        head.zeroize();
        self.state.advance(&expected, tag);
        Ok(tag)
    }

    /// [`Decryptor::decrypt_into`] a fresh `Vec`.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let mut out = Vec::with_capacity(ciphertext.len().saturating_sub(ABYTES));
        self.decrypt_into(ciphertext, &mut out)?;
        Ok(out)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_small_length() {
        let key = [9u8; 32];
        let (mut enc, header) = Encryptor::new(&key).unwrap();
        let mut dec = Decryptor::new(&key, &header);
        let mut out = b"prefix".to_vec();
        for n in (0..700).chain([5000, 70_000]) {
            out.truncate(6);
            let msg: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
            enc.encrypt_into(&msg, &mut out);
            assert_eq!(&out[..6], b"prefix");
            assert_eq!(out.len(), 6 + n + ABYTES);
            assert_eq!(dec.decrypt(&out[6..]).unwrap(), msg, "length {n}");
        }
    }

    #[test]
    fn forged_short_and_replayed_fail() {
        let key = [9u8; 32];
        let header = [1u8; 24];
        let mut enc = Encryptor::with_header(&key, &header);
        let mut dec = Decryptor::new(&key, &header);
        let mut ct = Vec::new();
        enc.encrypt_into(b"hello", &mut ct);
        for i in 0..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 0x40;
            assert_eq!(dec.decrypt(&bad), Err(DecryptError), "flip at {i}");
        }
        assert_eq!(dec.decrypt(&[0; 16]), Err(DecryptError));
        assert_eq!(dec.decrypt(&ct[..ct.len() - 1]), Err(DecryptError));
        // The failed attempts left the state alone.
        assert_eq!(dec.decrypt(&ct).unwrap(), b"hello");
        // Replaying fails: the state moved on.
        assert_eq!(dec.decrypt(&ct), Err(DecryptError));
    }

    #[test]
    fn tags_and_rekey_stay_in_step() {
        let key = [4u8; 32];
        let header = [2u8; 24];
        let mut enc = Encryptor::with_header(&key, &header);
        let mut dec = Decryptor::new(&key, &header);
        for (i, tag) in [TAG_MESSAGE, TAG_REKEY, TAG_PUSH, TAG_FINAL, TAG_MESSAGE].into_iter().enumerate() {
            let mut ct = Vec::new();
            enc.encrypt_with_tag(&[i as u8; 40], tag, &mut ct);
            let mut out = Vec::new();
            assert_eq!(dec.decrypt_into(&ct, &mut out), Ok(tag));
            assert_eq!(out, [i as u8; 40]);
        }
        // Counter wrap rekeys too.
        enc.state.counter = u32::MAX;
        dec.state.counter = u32::MAX;
        for _ in 0..2 {
            let mut ct = Vec::new();
            enc.encrypt_into(b"wrap", &mut ct);
            assert_eq!(dec.decrypt(&ct).unwrap(), b"wrap");
        }
        assert_eq!(enc.state.counter, 2);
    }

    /// Against the independent `crypto_secretstream` crate.
    mod cross_check {
        use super::super::*;
        use crypto_secretstream::aead::rand_core::{CryptoRng, Error, RngCore};
        use crypto_secretstream::{Header, Key, PullStream, PushStream, Tag};
        use proptest::prelude::*;

        struct Fixed([u8; 24]);
        impl RngCore for Fixed {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                dest.copy_from_slice(&self.0[..dest.len()]);
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
                self.fill_bytes(dest);
                Ok(())
            }
        }
        impl CryptoRng for Fixed {}

        fn their_tag(tag: u8) -> Tag {
            match tag {
                TAG_PUSH => Tag::Push,
                TAG_REKEY => Tag::Rekey,
                TAG_FINAL => Tag::Final,
                _ => Tag::Message,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
            #[test]
            fn same_bytes_as_crypto_secretstream(
                key: [u8; 32],
                header: [u8; 24],
                messages in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..1200), 0u8..3), 1..12),
            ) {
                let mut ours = Encryptor::with_header(&key, &header);
                let (h, mut theirs) = PushStream::init(Fixed(header), &Key::from(key));
                prop_assert_eq!(h.as_ref(), &header);
                let mut pull = PullStream::init(Header::from(header), &Key::from(key));
                let mut dec = Decryptor::new(&key, &header);
                for (m, tag) in &messages {
                    // (The crate does not rekey after TAG_FINAL as libsodium does; skip it.)
                    let mut a = Vec::new();
                    ours.encrypt_with_tag(m, *tag, &mut a);
                    let mut b = m.clone();
                    theirs.push(&mut b, &[], their_tag(*tag)).unwrap();
                    prop_assert_eq!(&a, &b);
                    let mut c = b.clone();
                    prop_assert_eq!(pull.pull(&mut c, &[]).unwrap(), their_tag(*tag));
                    prop_assert_eq!(&dec.decrypt(&a).unwrap(), m);
                }
            }
        }
    }
}
