//! The Diffie-Hellman function of npm `noise-curve-ed`: Noise over Ed25519 key pairs.
//!
//! Keys are ordinary Ed25519 signing key pairs (libsodium `crypto_sign_*`): the 32-byte
//! public key is a compressed Edwards point, the secret is the 32-byte seed. The DH scalar is
//! libsodium's expanded secret: `SHA-512(seed)[..32]`, clamped. The shared secret is
//! `crypto_scalarmult_ed25519_noclamp(scalar, remote_public_key)`, i.e. the compressed
//! Edwards point `scalar · remote`.
//!
//! Like libsodium, the remote point must be canonically encoded, on the curve, not of small
//! order and in the prime-order subgroup; a result that is the identity is refused as well.
//! Every refusal is a [`DhError`], never a panic.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::KeyPair;

/// Length of a public key (a compressed Edwards point).
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a DH output.
pub const DH_LEN: usize = 32;

/// Why a DH computation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DhError {
    /// The remote public key is not a canonical encoding of a curve point.
    #[error("remote public key is not a valid Ed25519 point")]
    InvalidPoint,
    /// The remote public key has small order (or is the identity).
    #[error("remote public key has small order")]
    SmallOrder,
    /// The remote public key has a torsion component (not in the prime-order subgroup).
    #[error("remote public key is not in the prime-order subgroup")]
    NotInSubgroup,
    /// The product is the identity, or the local scalar is zero.
    #[error("DH output is the identity")]
    Identity,
}

/// A Noise key pair for this curve: the Ed25519 public key and the expanded, clamped scalar.
#[derive(Clone)]
pub struct DhKeyPair {
    public_key: [u8; 32],
    scalar: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DhKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhKeyPair").field("public_key", &self.public_key).finish_non_exhaustive()
    }
}

impl DhKeyPair {
    /// The DH key pair of an Ed25519 signing key pair (noise-curve-ed with a 64-byte secret key).
    pub fn from_key_pair(key_pair: &KeyPair) -> Self {
        let mut secret = key_pair.secret_key();
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&secret[..32]);
        secret.zeroize();
        let kp = Self::from_seed_and_public(&seed, key_pair.public_key());
        seed.zeroize();
        kp
    }

    fn from_seed_and_public(seed: &[u8; 32], public_key: [u8; 32]) -> Self {
        let mut expanded: [u8; 64] = Sha512::digest(seed).into();
        let mut scalar = Zeroizing::new([0u8; 32]);
        scalar.copy_from_slice(&expanded[..32]);
        expanded.zeroize();
        scalar[0] &= 248;
        scalar[31] &= 127;
        scalar[31] |= 64;
        DhKeyPair { public_key, scalar }
    }

    /// The public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// `dh(remote, self)`: the shared secret with `remote_public_key`.
    pub fn dh(&self, remote_public_key: &[u8; 32]) -> Result<[u8; 32], DhError> {
        dh(&self.scalar, remote_public_key)
    }
}

/// Decodes a remote public key as libsodium's `crypto_scalarmult_ed25519` accepts it.
pub fn validate_public_key(bytes: &[u8; 32]) -> Result<EdwardsPoint, DhError> {
    let point = CompressedEdwardsY(*bytes).decompress().ok_or(DhError::InvalidPoint)?;
    // `decompress` reduces y modulo p and ignores a sign bit on x = 0; libsodium refuses
    // both non-canonical forms, so the encoding must round-trip.
    if point.compress().as_bytes() != bytes {
        return Err(DhError::InvalidPoint);
    }
    if point.is_small_order() {
        return Err(DhError::SmallOrder);
    }
    if !point.is_torsion_free() {
        return Err(DhError::NotInSubgroup);
    }
    Ok(point)
}

/// `crypto_scalarmult_ed25519_noclamp(scalar, remote)` (libsodium also clears the top bit).
///
/// The remote point lies in the prime-order subgroup (checked), so reducing the scalar modulo
/// the group order gives the same product as libsodium's multiplication by the raw integer.
pub fn dh(scalar: &[u8; 32], remote_public_key: &[u8; 32]) -> Result<[u8; 32], DhError> {
    let point = validate_public_key(remote_public_key)?;
    let mut bytes = Zeroizing::new(*scalar);
    bytes[31] &= 127;
    if bytes.iter().all(|&b| b == 0) {
        return Err(DhError::Identity);
    }
    let s = Zeroizing::new(Scalar::from_bytes_mod_order(*bytes));
    let product = point * *s;
    if product.is_identity() {
        return Err(DhError::Identity);
    }
    Ok(product.compress().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(n: u8) -> KeyPair {
        KeyPair::from_seed(&[n; 32])
    }

    #[test]
    fn dh_agrees_both_ways() {
        let a = DhKeyPair::from_key_pair(&kp(1));
        let b = DhKeyPair::from_key_pair(&kp(2));
        let ab = a.dh(b.public_key()).unwrap();
        let ba = b.dh(a.public_key()).unwrap();
        assert_eq!(ab, ba);
        assert_ne!(ab, [0; 32]);
    }

    #[test]
    fn refuses_bad_points() {
        let a = DhKeyPair::from_key_pair(&kp(1));
        // The identity (y = 1) and the order-2 point (y = -1).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(a.dh(&identity), Err(DhError::SmallOrder));
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        assert_eq!(a.dh(&minus_one), Err(DhError::SmallOrder));
        // Negative zero: y = 1 with the sign bit set (non-canonical).
        let mut neg_zero = identity;
        neg_zero[31] |= 0x80;
        assert_eq!(a.dh(&neg_zero), Err(DhError::InvalidPoint));
        // y = p (non-canonical encoding of y = 0).
        let mut y_p = [0xffu8; 32];
        y_p[0] = 0xed;
        y_p[31] = 0x7f;
        assert!(a.dh(&y_p).is_err());
        // Not on the curve: y = 2 has no x.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert!(a.dh(&two).is_err());
        // A valid key plus an order-8 torsion component.
        let b = kp(2).public_key();
        let p = CompressedEdwardsY(b).decompress().unwrap();
        let torsion = curve25519_dalek::constants::EIGHT_TORSION[1];
        let mixed = (p + torsion).compress().to_bytes();
        assert_eq!(a.dh(&mixed), Err(DhError::NotInSubgroup));
    }

    #[test]
    fn scalar_is_clamped_sha512_of_seed() {
        let k = kp(7);
        let d = DhKeyPair::from_key_pair(&k);
        let h = Sha512::digest([7u8; 32]);
        let mut s = [0u8; 32];
        s.copy_from_slice(&h[..32]);
        s[0] &= 248;
        s[31] &= 127;
        s[31] |= 64;
        assert_eq!(*d.scalar, s);
        // scalar · B is the public key: the expanded secret of the Ed25519 key.
        let pk = EdwardsPoint::mul_base(&Scalar::from_bytes_mod_order(s)).compress().to_bytes();
        assert_eq!(pk, k.public_key());
    }
}
