//! The handshake state machine (npm `noise-handshake`'s `noise.js`) for `XX` and `IK`.

use zeroize::Zeroize;

use super::cipher::TAG_LEN;
use super::dh::{DhKeyPair, PUBLIC_KEY_LEN};
use super::symmetric_state::SymmetricState;
use super::NoiseError;
use crate::crypto::KeyPair;

/// A handshake pattern.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Pattern {
    /// `XX`: both static keys are transmitted (hyperswarm secret-stream).
    XX,
    /// `IK`: the initiator knows the responder's static key beforehand (HyperDHT).
    IK {
        /// The responder's static public key. Only the initiator uses it; a responder may
        /// pass anything (see [`Pattern::ik_responder`]).
        remote_static: [u8; 32],
    },
}

impl Pattern {
    /// `IK` for the responder side, which needs no remote key.
    pub fn ik_responder() -> Self {
        Pattern::IK { remote_static: [0; 32] }
    }

    /// The pattern's name in the protocol name (`"XX"`, `"IK"`).
    pub fn name(&self) -> &'static str {
        match self {
            Pattern::XX => "XX",
            Pattern::IK { .. } => "IK",
        }
    }

    /// The full Noise protocol name, e.g. `Noise_XX_Ed25519_ChaChaPoly_BLAKE2b`.
    pub fn protocol_name(&self) -> &'static str {
        match self {
            Pattern::XX => "Noise_XX_Ed25519_ChaChaPoly_BLAKE2b",
            Pattern::IK { .. } => "Noise_IK_Ed25519_ChaChaPoly_BLAKE2b",
        }
    }

    fn messages(&self) -> &'static [&'static [Token]] {
        match self {
            Pattern::XX => XX,
            Pattern::IK { .. } => IK,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Token {
    E,
    S,
    EE,
    ES,
    SE,
    SS,
}

use Token::{E, EE, ES, S, SE, SS};

const XX: &[&[Token]] = &[&[E], &[E, EE, S, ES], &[S, SE]];
const IK: &[&[Token]] = &[&[E, ES, S, SS], &[E, EE, SE]];

/// What a finished handshake yields.
#[derive(Clone, PartialEq, Eq)]
pub struct HandshakeResult {
    /// Whether this side initiated.
    pub is_initiator: bool,
    /// Our sending key (first split key for the initiator, second for the responder).
    pub tx: [u8; 32],
    /// Our receiving key.
    pub rx: [u8; 32],
    /// The 64-byte handshake hash.
    pub hash: [u8; 64],
    /// Our static public key.
    pub public_key: [u8; 32],
    /// The remote's static public key.
    pub remote_public_key: [u8; 32],
}

impl std::fmt::Debug for HandshakeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeResult")
            .field("is_initiator", &self.is_initiator)
            .field("public_key", &self.public_key)
            .field("remote_public_key", &self.remote_public_key)
            .finish_non_exhaustive()
    }
}

/// One side of a Noise handshake. Sans-IO: [`Handshake::send`] produces the next message
/// (without any framing), [`Handshake::recv`] consumes the remote's.
///
/// Any error poisons the handshake: later calls return [`NoiseError::Failed`].
pub struct Handshake {
    pattern: Pattern,
    is_initiator: bool,
    step: usize,
    s: DhKeyPair,
    e: Option<DhKeyPair>,
    re: Option<[u8; 32]>,
    rs: Option<[u8; 32]>,
    state: SymmetricState,
    failed: bool,
    result: Option<HandshakeResult>,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("pattern", &self.pattern.name())
            .field("is_initiator", &self.is_initiator)
            .field("step", &self.step)
            .field("failed", &self.failed)
            .field("complete", &self.result.is_some())
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// A handshake with our static key pair and `prologue` (hyperswarm secret-stream uses an
    /// empty prologue). For `IK` the initiator mixes in the responder's key, the responder
    /// its own.
    pub fn new(pattern: Pattern, is_initiator: bool, static_key: &KeyPair, prologue: &[u8]) -> Self {
        let s = DhKeyPair::from_key_pair(static_key);
        let mut state = SymmetricState::new(pattern.protocol_name().as_bytes());
        state.mix_hash(prologue);
        let mut rs = None;
        if let Pattern::IK { remote_static } = pattern {
            if is_initiator {
                state.mix_hash(&remote_static);
                rs = Some(remote_static);
            } else {
                state.mix_hash(s.public_key());
            }
        }
        Handshake {
            pattern,
            is_initiator,
            step: 0,
            s,
            e: None,
            re: None,
            rs,
            state,
            failed: false,
            result: None,
        }
    }

    /// Uses `key_pair` as the ephemeral key instead of a fresh random one. For known-answer
    /// tests only: reusing an ephemeral key breaks the handshake's security. Has no effect
    /// once the ephemeral key was sent.
    pub fn set_ephemeral(&mut self, key_pair: &KeyPair) {
        let sent_e = self
            .pattern
            .messages()
            .iter()
            .take(self.step)
            .enumerate()
            .any(|(i, tokens)| (i % 2 == 0) == self.is_initiator && tokens.contains(&E));
        if !sent_e {
            self.e = Some(DhKeyPair::from_key_pair(key_pair));
        }
    }

    /// The pattern.
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// Whether we initiate.
    pub fn is_initiator(&self) -> bool {
        self.is_initiator
    }

    /// Our static public key.
    pub fn public_key(&self) -> [u8; 32] {
        *self.s.public_key()
    }

    /// The remote static key once known (received, or given for `IK`).
    pub fn remote_public_key(&self) -> Option<[u8; 32]> {
        self.rs
    }

    /// The handshake hash so far (final once [`Handshake::is_complete`]).
    pub fn handshake_hash(&self) -> [u8; 64] {
        match &self.result {
            Some(r) => r.hash,
            None => self.state.handshake_hash(),
        }
    }

    /// Whether every message was sent or received.
    pub fn is_complete(&self) -> bool {
        self.result.is_some()
    }

    /// Whether the next message is ours to send (false once complete or failed).
    pub fn is_my_turn(&self) -> bool {
        !self.failed && self.result.is_none() && (self.step % 2 == 0) == self.is_initiator
    }

    fn check_turn(&self, sending: bool) -> Result<&'static [Token], NoiseError> {
        if self.failed {
            return Err(NoiseError::Failed);
        }
        if self.result.is_some() {
            return Err(NoiseError::AlreadyComplete);
        }
        if self.is_my_turn() != sending {
            return Err(NoiseError::OutOfOrder);
        }
        self.pattern.messages().get(self.step).copied().ok_or(NoiseError::AlreadyComplete)
    }

    /// The next outgoing handshake message (without a length frame), carrying `payload`
    /// (encrypted once a key is mixed in).
    pub fn send(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let tokens = self.check_turn(true)?;
        let mut out = Vec::with_capacity(2 * (PUBLIC_KEY_LEN + TAG_LEN) + payload.len() + TAG_LEN);
        let r = self.write_message(tokens, payload, &mut out);
        self.advance(r)?;
        Ok(out)
    }

    /// Consumes one incoming handshake message (without its length frame) and returns its
    /// payload.
    pub fn recv(&mut self, message: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let tokens = self.check_turn(false)?;
        let r = self.read_message(tokens, message);
        self.advance(r)
    }

    fn advance<T>(&mut self, r: Result<T, NoiseError>) -> Result<T, NoiseError> {
        match r {
            Ok(v) => {
                self.step += 1;
                if self.step == self.pattern.messages().len() {
                    self.complete()?;
                }
                Ok(v)
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn complete(&mut self) -> Result<(), NoiseError> {
        let Some(remote_public_key) = self.rs else {
            self.failed = true;
            return Err(NoiseError::Failed);
        };
        let (k1, k2) = self.state.split();
        let (tx, rx) = if self.is_initiator { (k1, k2) } else { (k2, k1) };
        self.result = Some(HandshakeResult {
            is_initiator: self.is_initiator,
            tx,
            rx,
            hash: self.state.handshake_hash(),
            public_key: *self.s.public_key(),
            remote_public_key,
        });
        self.e = None;
        if let Some(re) = &mut self.re {
            re.zeroize();
        }
        Ok(())
    }

    fn mix_dh(&mut self, token: Token) -> Result<(), NoiseError> {
        // Which of our keys and which of theirs (noise.js `keyPattern`).
        let (local_static, remote_static) = match token {
            EE => (false, false),
            ES => (!self.is_initiator, self.is_initiator),
            SE => (self.is_initiator, !self.is_initiator),
            _ => (true, true),
        };
        let local = if local_static { Some(&self.s) } else { self.e.as_ref() };
        let remote = if remote_static { self.rs.as_ref() } else { self.re.as_ref() };
        let (Some(local), Some(remote)) = (local, remote) else {
            return Err(NoiseError::MissingKey);
        };
        let mut shared = local.dh(remote)?;
        self.state.mix_key(&shared);
        shared.zeroize();
        Ok(())
    }

    fn write_message(
        &mut self,
        tokens: &[Token],
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        for &token in tokens {
            match token {
                E => {
                    if self.e.is_none() {
                        let kp = KeyPair::generate().map_err(|e| NoiseError::Random(e.to_string()))?;
                        self.e = Some(DhKeyPair::from_key_pair(&kp));
                    }
                    let Some(e) = &self.e else { return Err(NoiseError::MissingKey) };
                    let public = *e.public_key();
                    self.state.mix_hash(&public);
                    out.extend_from_slice(&public);
                }
                S => {
                    let public = *self.s.public_key();
                    self.state.encrypt_and_hash(&public, out)?;
                }
                _ => self.mix_dh(token)?,
            }
        }
        self.state.encrypt_and_hash(payload, out)
    }

    fn read_message(&mut self, tokens: &[Token], message: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut rest = message;
        for &token in tokens {
            match token {
                E => {
                    let re: [u8; 32] =
                        take(&mut rest, PUBLIC_KEY_LEN)?.try_into().map_err(|_| NoiseError::Truncated)?;
                    self.state.mix_hash(&re);
                    self.re = Some(re);
                }
                S => {
                    let len = if self.state.has_key() { PUBLIC_KEY_LEN + TAG_LEN } else { PUBLIC_KEY_LEN };
                    let plain = self.state.decrypt_and_hash(take(&mut rest, len)?)?;
                    let rs: [u8; 32] = plain.as_slice().try_into().map_err(|_| NoiseError::Truncated)?;
                    self.rs = Some(rs);
                }
                _ => self.mix_dh(token)?,
            }
        }
        self.state.decrypt_and_hash(rest)
    }

    /// The split keys, handshake hash and static keys; errors unless complete.
    pub fn finish(self) -> Result<HandshakeResult, NoiseError> {
        if self.failed {
            return Err(NoiseError::Failed);
        }
        self.result.ok_or(NoiseError::Incomplete)
    }
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], NoiseError> {
    if rest.len() < n {
        return Err(NoiseError::Truncated);
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(n: u8) -> KeyPair {
        KeyPair::from_seed(&[n; 32])
    }

    fn run(pattern_i: Pattern, pattern_r: Pattern) -> (HandshakeResult, HandshakeResult) {
        let mut i = Handshake::new(pattern_i, true, &kp(1), b"prologue");
        let mut r = Handshake::new(pattern_r, false, &kp(2), b"prologue");
        let n = pattern_i.messages().len();
        for step in 0..n {
            let payload = format!("payload {step}");
            let (a, b) = if step % 2 == 0 { (&mut i, &mut r) } else { (&mut r, &mut i) };
            let m = a.send(payload.as_bytes()).unwrap();
            assert_eq!(b.recv(&m).unwrap(), payload.as_bytes());
        }
        assert!(i.is_complete() && r.is_complete());
        (i.finish().unwrap(), r.finish().unwrap())
    }

    #[test]
    fn xx_and_ik_agree() {
        let ik = Pattern::IK { remote_static: kp(2).public_key() };
        for (pi, pr) in [(Pattern::XX, Pattern::XX), (ik, Pattern::ik_responder())] {
            let (a, b) = run(pi, pr);
            assert_eq!(a.tx, b.rx);
            assert_eq!(a.rx, b.tx);
            assert_ne!(a.tx, a.rx);
            assert_eq!(a.hash, b.hash);
            assert_eq!(a.remote_public_key, kp(2).public_key());
            assert_eq!(b.remote_public_key, kp(1).public_key());
            assert!(a.is_initiator && !b.is_initiator);
        }
    }

    #[test]
    fn wrong_turns_and_poisoning() {
        let mut i = Handshake::new(Pattern::XX, true, &kp(1), b"");
        let mut r = Handshake::new(Pattern::XX, false, &kp(2), b"");
        assert_eq!(i.recv(&[0; 32]), Err(NoiseError::OutOfOrder));
        assert_eq!(r.send(b""), Err(NoiseError::OutOfOrder));
        let m1 = i.send(b"").unwrap();
        assert_eq!(r.recv(&m1[..31]), Err(NoiseError::Truncated));
        assert_eq!(r.recv(&m1), Err(NoiseError::Failed));
        let mut r = Handshake::new(Pattern::XX, false, &kp(2), b"");
        r.recv(&m1).unwrap();
        let mut m2 = r.send(b"").unwrap();
        m2[40] ^= 1;
        assert_eq!(i.recv(&m2), Err(NoiseError::Decrypt));
        assert_eq!(i.finish().map(|_| ()), Err(NoiseError::Failed));
        assert_eq!(r.finish().map(|_| ()), Err(NoiseError::Incomplete));
    }

    #[test]
    fn prologue_mismatch_fails() {
        let mut i = Handshake::new(Pattern::XX, true, &kp(1), b"a");
        let mut r = Handshake::new(Pattern::XX, false, &kp(2), b"b");
        let m1 = i.send(b"").unwrap();
        r.recv(&m1).unwrap();
        let m2 = r.send(b"").unwrap();
        assert_eq!(i.recv(&m2), Err(NoiseError::Decrypt));
    }

    #[test]
    fn ik_wrong_responder_key_fails() {
        let mut i = Handshake::new(Pattern::IK { remote_static: kp(3).public_key() }, true, &kp(1), b"");
        let mut r = Handshake::new(Pattern::ik_responder(), false, &kp(2), b"");
        let m1 = i.send(b"hello").unwrap();
        assert_eq!(r.recv(&m1), Err(NoiseError::Decrypt));
    }

    #[test]
    fn low_order_ephemeral_is_refused() {
        let mut i = Handshake::new(Pattern::XX, true, &kp(1), b"");
        let mut r = Handshake::new(Pattern::XX, false, &kp(2), b"");
        i.send(b"").unwrap();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        r.recv(&identity).unwrap();
        assert!(matches!(r.send(b""), Err(NoiseError::InvalidKey(_))));
    }
}
