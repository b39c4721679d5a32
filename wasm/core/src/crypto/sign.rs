//! Ed25519 key pairs, detached signatures and verification (libsodium `crypto_sign_*`).

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

/// A 32-byte Ed25519 public key.
pub type PublicKey = [u8; 32];
/// A 64-byte libsodium-style secret key: seed ‖ public key.
pub type SecretKey = [u8; 64];
/// A 64-byte detached Ed25519 signature.
pub type Signature = [u8; 64];

/// Why a key pair could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyPairError {
    /// The secret key's public half does not match its seed.
    #[error("secret key does not match its public key")]
    Mismatch,
    /// The operating system's random source failed.
    #[error("random source unavailable: {0}")]
    Random(String),
}

/// An Ed25519 signing key pair.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("public_key", &self.public_key()).finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate() -> Result<Self, KeyPairError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| KeyPairError::Random(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// `crypto_sign_seed_keypair(seed)`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        KeyPair { signing: SigningKey::from_bytes(seed) }
    }

    /// From a libsodium 64-byte secret key (seed ‖ public key), checking both halves agree.
    pub fn from_secret_key(secret: &SecretKey) -> Result<Self, KeyPairError> {
        SigningKey::from_keypair_bytes(secret)
            .map(|signing| KeyPair { signing })
            .map_err(|_| KeyPairError::Mismatch)
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.signing.verifying_key().to_bytes()
    }

    /// The libsodium 64-byte secret key.
    pub fn secret_key(&self) -> SecretKey {
        self.signing.to_keypair_bytes()
    }

    /// Detached signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message).to_bytes()
    }
}

/// `crypto_sign_verify_detached`: false for a malformed key or a bad signature, never a panic.
pub fn verify(message: &[u8], signature: &[u8], public_key: &[u8]) -> bool {
    let (Ok(sig), Ok(pk)) = (<[u8; 64]>::try_from(signature), <[u8; 32]>::try_from(public_key)) else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_bytes(&pk) else {
        return false;
    };
    vk.verify(message, &ed25519_dalek::Signature::from_bytes(&sig)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let kp = KeyPair::from_seed(&[7; 32]);
        let sig = kp.sign(b"msg");
        assert!(verify(b"msg", &sig, &kp.public_key()));
        assert!(!verify(b"msh", &sig, &kp.public_key()));
        assert!(!verify(b"msg", &sig[..63], &kp.public_key()));
        let again = KeyPair::from_secret_key(&kp.secret_key()).unwrap();
        assert_eq!(again.public_key(), kp.public_key());
        let mut bad = kp.secret_key();
        bad[40] ^= 1;
        assert!(KeyPair::from_secret_key(&bad).is_err());
    }
}
