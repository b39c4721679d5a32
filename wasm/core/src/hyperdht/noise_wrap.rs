//! The PEER_HANDSHAKE Noise wrapper (hyperdht `lib/noise-wrap.js`): Noise
//! `IK_Ed25519_ChaChaPoly_BLAKE2b` with the prologue [`NS_PEER_HANDSHAKE`], whose two messages
//! carry encoded [`NoisePayload`]s.
//!
//! The client is the initiator (it knows the server's public key), the server the responder:
//!
//! ```
//! use hyperwasm::crypto::KeyPair;
//! use hyperwasm::hyperdht::messages::NoisePayload;
//! use hyperwasm::hyperdht::noise_wrap::NoiseWrap;
//!
//! let (client, server) = (KeyPair::from_seed(&[1; 32]), KeyPair::from_seed(&[2; 32]));
//! let mut c = NoiseWrap::initiator(&client, server.public_key());
//! let mut s = NoiseWrap::responder(&server);
//! let msg1 = c.send(&NoisePayload::default())?;
//! let from_client = s.recv(&msg1)?;
//! let msg2 = s.send(&NoisePayload::default())?;
//! let from_server = c.recv(&msg2)?;
//! let (c, s) = (c.finish()?, s.finish()?);
//! assert_eq!(c.holepunch_secret, s.holepunch_secret);
//! // Hand over to secret-stream:
//! // SecretStream::from_handshake(c.handshake, SecretStreamOptions::default())
//! # Ok::<(), hyperwasm::hyperdht::noise_wrap::NoiseWrapError>(())
//! ```
//!
//! What the *contents* of a reply mean (version, error, udx) is checked by the connection
//! flow; [`check_server_payload`] and [`reply_error`] are JS's two checks.

use super::constants::{error, PAYLOAD_VERSION};
use super::crypto::{holepunch_secret, NS_PEER_HANDSHAKE};
use super::messages::{decode, NoisePayload};
use crate::crypto::KeyPair;
use crate::encoding::{Compact, DecodeError};
use crate::noise::{Handshake, HandshakeResult, NoiseError, Pattern};
use crate::secret_stream::stream_id;

/// Why a PEER_HANDSHAKE step failed. Every variant caused by remote bytes has a JS code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoiseWrapError {
    /// The Noise layer refused a message (bad key, failed decryption, truncation) or a step
    /// was out of order.
    #[error("noise handshake failed: {0}")]
    Noise(#[from] NoiseError),
    /// The Noise message decrypted but its payload is not a `noisePayload`.
    #[error("invalid noise payload: {0}")]
    Payload(#[from] DecodeError),
    /// [`NoiseWrap::finish`] before both messages were exchanged.
    #[error("handshake did not finish")]
    Unfinished,
    /// The server's payload has another version (JS client: `SERVER_INCOMPATIBLE`).
    #[error("server speaks payload version {version}")]
    ServerIncompatible {
        /// The version it sent.
        version: u64,
    },
    /// The server's payload carries an error, or no UDX section (JS client: `SERVER_ERROR`).
    #[error("server returned error {error}{}", if *.missing_udx { " (no UDX data)" } else { "" })]
    ServerError {
        /// The error number it sent ([`super::constants::error`]).
        error: u64,
        /// It sent no error but no `udx` section either.
        missing_udx: bool,
    },
}

impl NoiseWrapError {
    /// The JS `err.code` for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            NoiseWrapError::Noise(_) | NoiseWrapError::Payload(_) => "HANDSHAKE_INVALID",
            NoiseWrapError::Unfinished => "HANDSHAKE_UNFINISHED",
            NoiseWrapError::ServerIncompatible { .. } => "SERVER_INCOMPATIBLE",
            NoiseWrapError::ServerError { .. } => "SERVER_ERROR",
        }
    }
}

/// One side of a PEER_HANDSHAKE: two Noise IK messages carrying [`NoisePayload`]s. Sans-IO.
/// Any failure poisons it: [`NoiseWrap::finish`] then fails.
pub struct NoiseWrap {
    handshake: Handshake,
    failed: bool,
}

impl std::fmt::Debug for NoiseWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseWrap").field("handshake", &self.handshake).field("failed", &self.failed).finish()
    }
}

/// What a finished PEER_HANDSHAKE yields (JS `NoiseWrap.final()`).
#[derive(Clone, PartialEq, Eq)]
pub struct NoiseWrapResult {
    /// The Noise result: `tx`, `rx`, the 64-byte `hash`, our and the remote's static keys.
    /// Give it to [`crate::secret_stream::SecretStream::from_handshake`].
    pub handshake: HandshakeResult,
    /// `BLAKE2b-256(NS_PEER_HOLEPUNCH, key = hash)`: the [`super::secure_payload`] key.
    pub holepunch_secret: [u8; 32],
    /// The secret-stream id the remote will send (`SecretStream.id(hash, !isInitiator)`).
    pub remote_id: [u8; 32],
}

impl std::fmt::Debug for NoiseWrapResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseWrapResult")
            .field("handshake", &self.handshake)
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}

impl NoiseWrapResult {
    /// Whether this side initiated (the client).
    pub fn is_initiator(&self) -> bool {
        self.handshake.is_initiator
    }

    /// Our static public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.handshake.public_key
    }

    /// The remote's static public key.
    pub fn remote_public_key(&self) -> [u8; 32] {
        self.handshake.remote_public_key
    }
}

impl From<NoiseWrapResult> for HandshakeResult {
    fn from(r: NoiseWrapResult) -> Self {
        r.handshake
    }
}

impl NoiseWrap {
    /// The client side: we know the server's public key.
    pub fn initiator(key_pair: &KeyPair, remote_public_key: [u8; 32]) -> Self {
        let pattern = Pattern::IK { remote_static: remote_public_key };
        NoiseWrap { handshake: Handshake::new(pattern, true, key_pair, &NS_PEER_HANDSHAKE), failed: false }
    }

    /// The server side: the client's key arrives in its first message.
    pub fn responder(key_pair: &KeyPair) -> Self {
        NoiseWrap {
            handshake: Handshake::new(Pattern::ik_responder(), false, key_pair, &NS_PEER_HANDSHAKE),
            failed: false,
        }
    }

    /// Uses `key_pair` as the ephemeral key instead of a random one. Known-answer tests only:
    /// reusing an ephemeral key breaks the handshake's security.
    pub fn set_ephemeral(&mut self, key_pair: &KeyPair) {
        self.handshake.set_ephemeral(key_pair);
    }

    /// Whether we are the client.
    pub fn is_initiator(&self) -> bool {
        self.handshake.is_initiator()
    }

    /// Our static public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.handshake.public_key()
    }

    /// The remote's static key: given (client) or received in the first message (server).
    pub fn remote_public_key(&self) -> Option<[u8; 32]> {
        self.handshake.remote_public_key()
    }

    /// Whether both messages were exchanged without error.
    pub fn is_complete(&self) -> bool {
        !self.failed && self.handshake.is_complete()
    }

    /// Our next Noise message carrying `payload` (JS always writes payload version 1).
    pub fn send(&mut self, payload: &NoisePayload) -> Result<Vec<u8>, NoiseWrapError> {
        self.check()?;
        self.handshake.send(&payload.to_bytes()).map_err(|e| self.fail(e.into()))
    }

    /// Consumes the remote's Noise message and returns its payload. A payload of another
    /// version decodes to [`NoisePayload::incompatible`] (not an error: the caller decides).
    pub fn recv(&mut self, message: &[u8]) -> Result<NoisePayload, NoiseWrapError> {
        self.check()?;
        let plain = self.handshake.recv(message).map_err(|e| self.fail(e.into()))?;
        decode::<NoisePayload>(&plain).map_err(|e| self.fail(e.into()))
    }

    fn check(&self) -> Result<(), NoiseWrapError> {
        if self.failed {
            return Err(NoiseError::Failed.into());
        }
        Ok(())
    }

    fn fail(&mut self, e: NoiseWrapError) -> NoiseWrapError {
        self.failed = true;
        e
    }

    /// JS `final()`: the keys, the hash and the holepunch secret. Fails unless complete.
    pub fn finish(self) -> Result<NoiseWrapResult, NoiseWrapError> {
        if self.failed {
            return Err(NoiseError::Failed.into());
        }
        let handshake = self.handshake.finish().map_err(|e| match e {
            NoiseError::Incomplete => NoiseWrapError::Unfinished,
            e => e.into(),
        })?;
        Ok(NoiseWrapResult {
            holepunch_secret: holepunch_secret(&handshake.hash),
            remote_id: stream_id(&handshake.hash, !handshake.is_initiator),
            handshake,
        })
    }
}

/// The client's checks of the server's payload (JS `connectThroughNode`): version 1, no
/// error, a `udx` section.
pub fn check_server_payload(payload: &NoisePayload) -> Result<(), NoiseWrapError> {
    if payload.version != PAYLOAD_VERSION {
        return Err(NoiseWrapError::ServerIncompatible { version: payload.version });
    }
    if payload.error != error::NONE {
        return Err(NoiseWrapError::ServerError { error: payload.error, missing_udx: false });
    }
    if payload.udx.is_none() {
        return Err(NoiseWrapError::ServerError { error: error::NONE, missing_udx: true });
    }
    Ok(())
}

/// The error number a server puts in its reply to `client_payload` (JS `server.js`):
/// `VERSION_MISMATCH` for another version, `ABORTED` without a `udx` section, else `NONE`.
pub fn reply_error(client_payload: &NoisePayload) -> u64 {
    if client_payload.version != PAYLOAD_VERSION {
        error::VERSION_MISMATCH
    } else if client_payload.udx.is_none() {
        error::ABORTED
    } else {
        error::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hyperdht::messages::UdxInfo;
    use crate::secret_stream::{SecretStream, SecretStreamOptions};

    fn kp(n: u8) -> KeyPair {
        KeyPair::from_seed(&[n; 32])
    }

    fn with_udx(id: u64) -> NoisePayload {
        NoisePayload { udx: Some(UdxInfo { id, ..UdxInfo::default() }), ..NoisePayload::default() }
    }

    #[test]
    fn both_sides_agree_and_hand_over_to_secret_stream() {
        let mut c = NoiseWrap::initiator(&kp(1), kp(2).public_key());
        let mut s = NoiseWrap::responder(&kp(2));
        assert_eq!(s.remote_public_key(), None);
        let got = s.recv(&c.send(&with_udx(5)).unwrap()).unwrap();
        assert_eq!(got, with_udx(5));
        assert_eq!(s.remote_public_key(), Some(kp(1).public_key()));
        assert_eq!(c.recv(&s.send(&with_udx(6)).unwrap()).unwrap(), with_udx(6));
        assert!(c.is_complete() && s.is_complete());
        let (c, s) = (c.finish().unwrap(), s.finish().unwrap());
        assert_eq!((c.handshake.tx, c.handshake.rx), (s.handshake.rx, s.handshake.tx));
        assert_eq!(c.holepunch_secret, s.holepunch_secret);
        assert_eq!(c.holepunch_secret, holepunch_secret(&c.handshake.hash));
        assert_eq!(c.remote_id, stream_id(&s.handshake.hash, false));
        assert_eq!(s.remote_id, stream_id(&c.handshake.hash, true));
        assert!(c.is_initiator() && !s.is_initiator());
        assert_eq!((c.public_key(), c.remote_public_key()), (kp(1).public_key(), kp(2).public_key()));

        // Both secret-streams queue a header; each accepts the other's.
        let opts = SecretStreamOptions::default();
        let mut a = SecretStream::from_handshake(c.into(), opts);
        let mut b = SecretStream::from_handshake(s.handshake, opts);
        let (ha, hb) = (a.take_outgoing(), b.take_outgoing());
        a.on_bytes(&hb, 0).unwrap();
        b.on_bytes(&ha, 0).unwrap();
        assert!(a.is_connected() && b.is_connected());
    }

    #[test]
    fn failures_are_typed_and_poison() {
        let mut c = NoiseWrap::initiator(&kp(1), kp(2).public_key());
        let mut s = NoiseWrap::responder(&kp(2));
        let msg1 = c.send(&NoisePayload::default()).unwrap();
        let err = s.recv(&msg1[..40]).unwrap_err();
        assert_eq!(err.code(), "HANDSHAKE_INVALID");
        assert_eq!(s.recv(&msg1).unwrap_err(), NoiseWrapError::Noise(NoiseError::Failed));
        assert_eq!(s.finish().unwrap_err().code(), "HANDSHAKE_INVALID");
        // Wrong server key: decryption fails.
        let mut other = NoiseWrap::responder(&kp(3));
        assert_eq!(other.recv(&msg1).unwrap_err(), NoiseWrapError::Noise(NoiseError::Decrypt));
        assert_eq!(c.finish().unwrap_err(), NoiseWrapError::Unfinished);
        assert_eq!(NoiseWrapError::Unfinished.code(), "HANDSHAKE_UNFINISHED");
    }

    #[test]
    fn a_payload_that_is_not_a_noise_payload_is_refused() {
        // A raw Noise initiator's first message carrying `payload` as is.
        let raw_msg1 = |payload: &[u8]| {
            let mut raw = Handshake::new(
                Pattern::IK { remote_static: kp(2).public_key() },
                true,
                &kp(1),
                &NS_PEER_HANDSHAKE,
            );
            raw.send(payload).unwrap()
        };
        // An empty (undecodable) payload.
        let mut s = NoiseWrap::responder(&kp(2));
        let err = s.recv(&raw_msg1(&[])).unwrap_err();
        assert!(matches!(err, NoiseWrapError::Payload(DecodeError::Truncated { .. })), "{err:?}");
        assert!(!s.is_complete());
        // Another version is not an error here; the checks below classify it.
        let mut s = NoiseWrap::responder(&kp(2));
        let p = s.recv(&raw_msg1(&[2, 0xff])).unwrap();
        assert_eq!(p, NoisePayload::incompatible(2));
        assert_eq!(reply_error(&p), error::VERSION_MISMATCH);
        assert_eq!(check_server_payload(&p).unwrap_err().code(), "SERVER_INCOMPATIBLE");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]
        #[test]
        fn garbage_first_messages_are_refused(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut s = NoiseWrap::responder(&kp(2));
            let err = s.recv(&bytes).unwrap_err();
            proptest::prop_assert_eq!(err.code(), "HANDSHAKE_INVALID");
        }
    }

    #[test]
    fn altered_replies_are_refused() {
        let mut s = NoiseWrap::responder(&kp(2));
        let mut c = NoiseWrap::initiator(&kp(1), kp(2).public_key());
        c.set_ephemeral(&kp(11));
        s.recv(&c.send(&with_udx(1)).unwrap()).unwrap();
        let msg2 = s.send(&with_udx(2)).unwrap();
        for i in [0, 1, 31, 32, 33, msg2.len() / 2, msg2.len() - 17, msg2.len() - 1] {
            let mut bad = msg2.clone();
            bad[i] ^= 0x40;
            let mut c = NoiseWrap::initiator(&kp(1), kp(2).public_key());
            c.set_ephemeral(&kp(11));
            c.send(&with_udx(1)).unwrap();
            assert_eq!(c.recv(&bad).unwrap_err().code(), "HANDSHAKE_INVALID", "flip at {i}");
            assert_eq!(c.finish().unwrap_err().code(), "HANDSHAKE_INVALID");
        }
        for n in [0, 31, 32, msg2.len() - 1] {
            let mut c = NoiseWrap::initiator(&kp(1), kp(2).public_key());
            c.set_ephemeral(&kp(11));
            c.send(&with_udx(1)).unwrap();
            assert!(c.recv(&msg2[..n]).is_err(), "cut at {n}");
        }
    }

    #[test]
    fn payload_checks_follow_js() {
        assert_eq!(reply_error(&with_udx(1)), error::NONE);
        assert_eq!(reply_error(&NoisePayload::default()), error::ABORTED);
        assert_eq!(check_server_payload(&with_udx(1)), Ok(()));
        let e = check_server_payload(&NoisePayload { error: error::ABORTED, ..with_udx(1) }).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), ("SERVER_ERROR", "server returned error 1"));
        let e = check_server_payload(&NoisePayload::default()).unwrap_err();
        assert_eq!(e, NoiseWrapError::ServerError { error: 0, missing_udx: true });
    }
}
