//! @hyperswarm/secret-stream as a sans-IO state machine: uint24 framing, the Noise XX (or IK)
//! handshake, the 56-byte stream header, libsodium secretstream (xchacha20poly1305)
//! messages and keep-alives. Time is milliseconds supplied by the caller (no `Instant`:
//! wasm32 has none); randomness is only drawn for the ephemeral key and the secretstream
//! header.
//!
//! The wire, as the JS module writes it:
//!
//! 1. Handshake: each Noise message (empty payloads, empty prologue) in a
//!    `uint24le(len) ‖ message` frame; the initiator speaks first.
//! 2. Header: once its handshake completes, each side sends one 56-byte frame body,
//!    `streamId ‖ secretstreamHeader(24)`, where `streamId = BLAKE2b-256(NS_INITIATOR or
//!    NS_RESPONDER, key = handshakeHash)` by the sender's role and the namespaces are
//!    `crypto.namespace('hyperswarm/secret-stream', 3)`. The receiver checks the id.
//! 3. Messages: each frame body is one `crypto_secretstream_xchacha20poly1305_push` output
//!    (`TAG_MESSAGE`, 17 bytes of overhead). Empty messages are keep-alives and are never
//!    surfaced.
//!
//! ```
//! use hyperwasm::crypto::KeyPair;
//! use hyperwasm::secret_stream::{SecretStream, SecretStreamEvent, SecretStreamOptions};
//!
//! let mut a = SecretStream::new(true, &KeyPair::from_seed(&[1; 32]), SecretStreamOptions::default());
//! let mut b = SecretStream::new(false, &KeyPair::from_seed(&[2; 32]), SecretStreamOptions::default());
//! a.start(0);
//! b.start(0);
//! a.send(b"hello")?; // queued until the handshake is done
//! while a.has_outgoing() || b.has_outgoing() {
//!     b.on_bytes(&a.take_outgoing(), 0)?;
//!     a.on_bytes(&b.take_outgoing(), 0)?;
//! }
//! assert!(matches!(b.poll_event(), Some(SecretStreamEvent::Connected { .. })));
//! assert_eq!(b.poll_event(), Some(SecretStreamEvent::Message(b"hello".to_vec())));
//! # Ok::<(), hyperwasm::secret_stream::SecretStreamError>(())
//! ```

mod error;
pub mod framing;
mod poly1305;
pub mod secretstream;
mod stream;

pub use error::SecretStreamError;
pub use framing::{FrameDecoder, FrameTooLarge, MAX_FRAME_LEN};
pub use stream::{SecretStream, SecretStreamEvent, SecretStreamOptions, MAX_MESSAGE_LEN};

use crate::crypto::hash::{blake2b_keyed, namespace, Hash};
use std::sync::OnceLock;

/// Length of the header message body: stream id (32) ‖ secretstream header (24).
pub const ID_HEADER_LEN: usize = 32 + secretstream::HEADERBYTES;

/// `crypto.namespace('hyperswarm/secret-stream', 3)`: `[NS_INITIATOR, NS_RESPONDER, NS_SEND]`.
pub fn namespaces() -> &'static [Hash; 3] {
    static NS: OnceLock<[Hash; 3]> = OnceLock::new();
    NS.get_or_init(|| {
        let v = namespace(b"hyperswarm/secret-stream", 3);
        [v[0], v[1], v[2]]
    })
}

/// JS `SecretStream.id(handshakeHash, isInitiator)`: the stream id the side in that role sends.
pub fn stream_id(handshake_hash: &[u8; 64], is_initiator: bool) -> [u8; 32] {
    let ns = namespaces();
    blake2b_keyed(&[&ns[if is_initiator { 0 } else { 1 }]], handshake_hash)
}

#[cfg(test)]
mod tests;
