//! Noise handshakes as hyperswarm runs them (npm `noise-handshake` + `noise-curve-ed`):
//! `Noise_XX_Ed25519_ChaChaPoly_BLAKE2b` for secret-stream, `Noise_IK_…` for HyperDHT.
//!
//! CONTRACT (issue 3, helper "noise"): a sans-IO handshake state machine, no I/O, no time.
//!
//! ```ignore
//! pub enum Pattern { XX, IK { remote_static: [u8; 32] } }   // IK: initiator knows responder's key
//! pub struct Handshake { .. }
//! impl Handshake {
//!     pub fn new(pattern: Pattern, is_initiator: bool, static_key: &KeyPair, prologue: &[u8]) -> Self;
//!     /// Next outgoing handshake message (without the uint24 frame), carrying `payload`.
//!     pub fn send(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError>;
//!     /// Consumes one incoming handshake message; returns its payload.
//!     pub fn recv(&mut self, message: &[u8]) -> Result<Vec<u8>, NoiseError>;
//!     pub fn is_complete(&self) -> bool;
//!     /// After completion: split keys, the 64-byte handshake hash, both static keys.
//!     pub fn finish(self) -> Result<HandshakeResult, NoiseError>;
//! }
//! pub struct HandshakeResult { pub is_initiator: bool, pub tx: [u8; 32], pub rx: [u8; 32],
//!     pub hash: [u8; 64], pub public_key: [u8; 32], pub remote_public_key: [u8; 32] }
//! ```
//! Files: `dh.rs` (noise-curve-ed DH), `cipher.rs`, `symmetric_state.rs`, `handshake.rs`.
