//! Encrypted holepunch payloads (hyperdht `lib/secure-payload.js`).
//!
//! A PEER_HOLEPUNCH value carries a [`HolepunchPayload`] sealed with libsodium's
//! `crypto_secretbox_easy` (XSalsa20-Poly1305) under the handshake's holepunch secret:
//! `nonce (24 random bytes) ‖ MAC (16) ‖ ciphertext`. Each side also keeps a random local
//! secret for address tokens: `BLAKE2b-256(host string, key = local secret)`, which the peer
//! echoes back to prove it received our payload at that address.

use std::net::Ipv4Addr;

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Key, Nonce, Tag, XSalsa20Poly1305};
use zeroize::Zeroize;

use super::messages::{decode, HolepunchPayload};
use crate::crypto::hash::blake2b_keyed;
use crate::encoding::{Compact, DecodeError};

/// Nonce length.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const MAC_LEN: usize = 16;
/// Shortest box JS tries to open: nonce, MAC and at least one byte of ciphertext.
pub const MIN_BOX_LEN: usize = NONCE_LEN + MAC_LEN + 1;

/// Why a box could not be made or opened. JS returns `null` for all the opening failures and
/// its callers raise `HOLEPUNCH_INVALID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecurePayloadError {
    /// Shorter than [`MIN_BOX_LEN`].
    #[error("secure payload of {0} bytes is too short")]
    TooShort(usize),
    /// The MAC does not match (wrong key or altered bytes).
    #[error("secure payload failed authentication")]
    Authentication,
    /// It opened, but the plaintext is not a `holepunchPayload`.
    #[error("invalid holepunch payload: {0}")]
    Decode(#[from] DecodeError),
    /// The random source failed (making a nonce or the local secret).
    #[error("random source unavailable: {0}")]
    Random(String),
}

impl SecurePayloadError {
    /// The JS `err.code` callers raise for this failure (`HOLEPUNCH_INVALID`); a failing random
    /// source, which JS does not report, is `RANDOM_UNAVAILABLE`.
    pub fn code(&self) -> &'static str {
        match self {
            SecurePayloadError::Random(_) => "RANDOM_UNAVAILABLE",
            _ => "HOLEPUNCH_INVALID",
        }
    }
}

/// One connection's holepunch payload box (JS `new SecurePayload(holepunchSecret)`).
pub struct SecurePayload {
    shared_secret: [u8; 32],
    local_secret: [u8; 32],
}

impl std::fmt::Debug for SecurePayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurePayload").finish_non_exhaustive()
    }
}

impl Drop for SecurePayload {
    fn drop(&mut self) {
        self.shared_secret.zeroize();
        self.local_secret.zeroize();
    }
}

fn random<const N: usize>() -> Result<[u8; N], SecurePayloadError> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(|e| SecurePayloadError::Random(e.to_string()))?;
    Ok(out)
}

impl SecurePayload {
    /// A box under `holepunch_secret` (from [`super::noise_wrap::NoiseWrapResult`]) with a
    /// fresh random local token secret.
    pub fn new(holepunch_secret: [u8; 32]) -> Result<Self, SecurePayloadError> {
        Ok(Self::with_local_secret(holepunch_secret, random()?))
    }

    /// A box with a given local token secret (tests, or a secret kept elsewhere).
    pub fn with_local_secret(holepunch_secret: [u8; 32], local_secret: [u8; 32]) -> Self {
        SecurePayload { shared_secret: holepunch_secret, local_secret }
    }

    fn cipher(&self) -> XSalsa20Poly1305 {
        XSalsa20Poly1305::new(Key::from_slice(&self.shared_secret))
    }

    /// Seals `payload` under a random nonce.
    pub fn encrypt(&self, payload: &HolepunchPayload) -> Result<Vec<u8>, SecurePayloadError> {
        Ok(self.encrypt_with_nonce(payload, &random()?))
    }

    /// Seals `payload` under `nonce`, which must never repeat for this secret (known-answer
    /// tests only; use [`SecurePayload::encrypt`]).
    pub fn encrypt_with_nonce(&self, payload: &HolepunchPayload, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
        let mut plain = payload.to_bytes();
        // The AEAD cannot fail on a buffer this small (its limit is 2^38 bytes); an empty tag
        // would be refused by every receiver, never accepted.
        let tag = self
            .cipher()
            .encrypt_in_place_detached(Nonce::from_slice(nonce), &[], &mut plain)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + MAC_LEN + plain.len());
        out.extend_from_slice(nonce);
        out.extend_from_slice(&tag);
        out.extend_from_slice(&plain);
        out
    }

    /// Opens a box and decodes its payload (JS `decrypt`, which answers `null` where this
    /// errors). Bytes after the payload inside the box are ignored, as in JS.
    pub fn decrypt(&self, sealed: &[u8]) -> Result<HolepunchPayload, SecurePayloadError> {
        if sealed.len() < MIN_BOX_LEN {
            return Err(SecurePayloadError::TooShort(sealed.len()));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (tag, ciphertext) = rest.split_at(MAC_LEN);
        let mut plain = ciphertext.to_vec();
        self.cipher()
            .decrypt_in_place_detached(Nonce::from_slice(nonce), &[], &mut plain, Tag::from_slice(tag))
            .map_err(|_| SecurePayloadError::Authentication)?;
        Ok(decode::<HolepunchPayload>(&plain)?)
    }

    /// The address token for `host`: keyed BLAKE2b-256 of its dotted-decimal string (JS
    /// `token(addr)` hashes `addr.host`).
    pub fn token(&self, host: Ipv4Addr) -> [u8; 32] {
        self.token_for_host(&host.to_string())
    }

    /// [`SecurePayload::token`] of a host given as a string, hashed as it is.
    pub fn token_for_host(&self, host: &str) -> [u8; 32] {
        blake2b_keyed(&[host.as_bytes()], &self.local_secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn payload() -> HolepunchPayload {
        HolepunchPayload {
            firewall: 2,
            round: 1,
            punching: true,
            addresses: Some(vec![SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 5)]),
            token: Some([9; 32]),
            ..HolepunchPayload::default()
        }
    }

    #[test]
    fn seals_and_opens() {
        let a = SecurePayload::new([7; 32]).unwrap();
        let b = SecurePayload::new([7; 32]).unwrap();
        let sealed = a.encrypt(&payload()).unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + MAC_LEN + payload().to_bytes().len());
        assert_eq!(b.decrypt(&sealed).unwrap(), payload());
        assert_ne!(a.encrypt(&payload()).unwrap()[..NONCE_LEN], sealed[..NONCE_LEN]);
        // Local secrets differ, so do tokens; a token is stable for one box.
        let host = Ipv4Addr::new(10, 0, 0, 1);
        assert_ne!(a.token(host), b.token(host));
        assert_eq!(a.token(host), a.token_for_host("10.0.0.1"));
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_opens(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let a = SecurePayload::with_local_secret([7; 32], [0; 32]);
            let err = a.decrypt(&bytes).unwrap_err();
            proptest::prop_assert_eq!(err.code(), "HOLEPUNCH_INVALID");
        }
    }

    #[test]
    fn refuses_what_js_refuses() {
        let a = SecurePayload::with_local_secret([7; 32], [0; 32]);
        let sealed = a.encrypt_with_nonce(&payload(), &[1; NONCE_LEN]);
        let other = SecurePayload::with_local_secret([8; 32], [0; 32]);
        assert_eq!(other.decrypt(&sealed), Err(SecurePayloadError::Authentication));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x20;
            assert_eq!(a.decrypt(&bad), Err(SecurePayloadError::Authentication), "flip at {i}");
        }
        for n in 0..MIN_BOX_LEN {
            assert_eq!(a.decrypt(&sealed[..n.min(sealed.len())]), Err(SecurePayloadError::TooShort(n)));
        }
        assert!(matches!(a.decrypt(&sealed[..sealed.len() - 1]), Err(SecurePayloadError::Authentication)));
        // A box whose plaintext is not a holepunch payload: flags say "token", no token follows.
        let bad = HolepunchPayload { token: None, ..HolepunchPayload::default() };
        let mut sealed = a.encrypt_with_nonce(&bad, &[2; NONCE_LEN]);
        assert_eq!(a.decrypt(&sealed).unwrap(), bad);
        sealed.truncate(NONCE_LEN);
        let mut plain = vec![16u8, 0, 0, 0, 1];
        let tag = a
            .cipher()
            .encrypt_in_place_detached(Nonce::from_slice(&[2; NONCE_LEN]), &[], &mut plain)
            .unwrap();
        sealed.extend_from_slice(&tag);
        sealed.extend_from_slice(&plain);
        let err = a.decrypt(&sealed).unwrap_err();
        assert!(matches!(err, SecurePayloadError::Decode(DecodeError::Truncated { .. })), "{err:?}");
        assert_eq!(err.code(), "HOLEPUNCH_INVALID");
    }
}
