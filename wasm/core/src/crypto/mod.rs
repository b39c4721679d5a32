//! Hashing and signatures as npm `hypercore-crypto` and hypercore's `lib/caps.js` define them.

pub mod caps;
pub mod hash;
pub mod sign;

pub use hash::{blake2b, blake2b_batch, blake2b_keyed, discovery_key, namespace, Hash};
pub use sign::{KeyPair, PublicKey, SecretKey, Signature};
