//! Noise handshakes as hyperswarm runs them (npm `noise-handshake` + `noise-curve-ed`):
//! `Noise_XX_Ed25519_ChaChaPoly_BLAKE2b` for secret-stream, `Noise_IK_Ed25519_ChaChaPoly_BLAKE2b`
//! for HyperDHT. Sans-IO: no sockets, no clocks; randomness only for ephemeral keys.
//!
//! ```
//! use hyperwasm::crypto::KeyPair;
//! use hyperwasm::noise::{Handshake, Pattern};
//!
//! let (a, b) = (KeyPair::from_seed(&[1; 32]), KeyPair::from_seed(&[2; 32]));
//! let mut initiator = Handshake::new(Pattern::XX, true, &a, b"");
//! let mut responder = Handshake::new(Pattern::XX, false, &b, b"");
//! let m1 = initiator.send(b"")?;
//! responder.recv(&m1)?;
//! let m2 = responder.send(b"")?;
//! initiator.recv(&m2)?;
//! let m3 = initiator.send(b"hi")?;
//! assert_eq!(responder.recv(&m3)?, b"hi");
//! let (i, r) = (initiator.finish()?, responder.finish()?);
//! assert_eq!((i.tx, i.hash), (r.rx, r.hash));
//! # Ok::<(), hyperwasm::noise::NoiseError>(())
//! ```
//!
//! Wire details, all as the JS modules do them:
//! - keys are Ed25519 signing key pairs; DH is `crypto_scalarmult_ed25519_noclamp` with the
//!   clamped `SHA-512(seed)[..32]` scalar ([`dh`]);
//! - ChaChaPoly nonces carry the counter as a little-endian `u32` at bytes 4..8;
//! - HASH is BLAKE2b-512, HKDF is HMAC-BLAKE2b-512, split keys are the first 32 bytes;
//! - the initial hash is the protocol name zero-padded to 64 bytes.
//!
//! Why our own state machine rather than the `snow` crate: the DH is not a standard Noise
//! DH (Ed25519 points, keys handed over as 64-byte libsodium secrets and expanded through
//! SHA-512), which snow's resolver model does not fit without wrapping its internals; the
//! HyperDHT layer needs `IK` with payloads and direct access to the split keys and hash
//! (snow exposes raw split keys only behind its `risky-raw-split` feature); and two patterns
//! over one cipher suite are a few hundred auditable lines with nothing to trim for wasm32.

mod cipher;
pub mod dh;
mod handshake;
mod symmetric_state;

pub use dh::DhError;
pub use handshake::{Handshake, HandshakeResult, Pattern};
pub use symmetric_state::HASHLEN;

/// Why a handshake step failed. Errors caused by remote input never panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// The message is shorter than its tokens require (or a ciphertext is shorter than its tag).
    #[error("handshake message truncated")]
    Truncated,
    /// A remote public key (ephemeral or static) was refused by the DH function.
    #[error("invalid remote key: {0}")]
    InvalidKey(#[from] DhError),
    /// Authentication of an encrypted static key or payload failed.
    #[error("handshake decryption failed")]
    Decrypt,
    /// A ciphertext would exceed Noise's 65535-byte limit.
    #[error("ciphertext of {0} bytes exceeds the 65535-byte Noise limit")]
    TooLong(usize),
    /// `send` while waiting for the remote, or `recv` when it is our turn.
    #[error("handshake message out of order")]
    OutOfOrder,
    /// Every message of the pattern has already been exchanged.
    #[error("handshake already complete")]
    AlreadyComplete,
    /// `finish` before the last message.
    #[error("handshake not complete")]
    Incomplete,
    /// A DH token found no key (a broken pattern; never expected).
    #[error("handshake key missing")]
    MissingKey,
    /// An earlier step failed; the handshake cannot continue.
    #[error("handshake failed earlier")]
    Failed,
    /// The nonce counter ran out.
    #[error("nonce exhausted")]
    NonceExhausted,
    /// The random source failed while generating the ephemeral key.
    #[error("random source unavailable: {0}")]
    Random(String),
}
