//! @hyperswarm/secret-stream as a sans-IO state machine: uint24 framing, the Noise XX
//! handshake, the 56-byte stream header, libsodium secretstream (xchacha20poly1305)
//! messages and keep-alives.
//!
//! CONTRACT (issue 3, helper "noise"). Time is milliseconds supplied by the caller (no
//! `Instant`: wasm32 has none).
//!
//! ```ignore
//! pub struct SecretStreamOptions { pub keep_alive_ms: Option<u64>, pub timeout_ms: Option<u64>,
//!     pub pattern: Option<crate::noise::Pattern> /* default XX */ }
//! pub enum SecretStreamEvent {
//!     /// Handshake done and both headers exchanged: messages may flow.
//!     Connected { remote_public_key: [u8; 32], handshake_hash: [u8; 64] },
//!     /// One decrypted message (never empty: keep-alives are swallowed).
//!     Message(Vec<u8>),
//! }
//! pub struct SecretStream { .. }
//! impl SecretStream {
//!     pub fn new(is_initiator: bool, key_pair: &KeyPair, opts: SecretStreamOptions) -> Self;
//!     /// For HyperDHT: the Noise IK handshake already happened elsewhere.
//!     pub fn from_handshake(result: HandshakeResult, opts: SecretStreamOptions) -> Self;
//!     /// Queues the first handshake message (initiator) and arms timers.
//!     pub fn start(&mut self, now_ms: u64);
//!     /// Raw bytes from the transport, any split. Errors are fatal for the stream.
//!     pub fn on_bytes(&mut self, bytes: &[u8], now_ms: u64) -> Result<(), SecretStreamError>;
//!     pub fn poll_event(&mut self) -> Option<SecretStreamEvent>;
//!     /// Encrypts one message (queued until connected). Max plaintext 2^24 − 1 − 17.
//!     pub fn send(&mut self, message: &[u8]) -> Result<(), SecretStreamError>;
//!     /// Bytes to write to the transport (everything queued so far, concatenated).
//!     pub fn take_outgoing(&mut self) -> Vec<u8>;
//!     pub fn has_outgoing(&self) -> bool;
//!     /// When `handle_timeout` must be called next (keep-alive send / idle timeout).
//!     pub fn poll_timeout(&self) -> Option<u64>;
//!     pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), SecretStreamError>;
//!     pub fn is_initiator(&self) -> bool; pub fn is_connected(&self) -> bool;
//!     pub fn remote_public_key(&self) -> Option<[u8; 32]>; pub fn handshake_hash(&self) -> Option<[u8; 64]>;
//! }
//! ```
//! Files: `framing.rs` (uint24 frame decoder, bounded), `secretstream.rs` (push/pull),
//! `stream.rs` (the state machine), `error.rs` (`SecretStreamError` with `code()`).
