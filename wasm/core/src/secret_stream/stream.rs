//! [`SecretStream`]: the connection state machine.

use std::collections::VecDeque;

use zeroize::Zeroizing;

use super::error::SecretStreamError;
use super::framing::{write_frame_header, FrameDecoder, MAX_FRAME_LEN};
use super::secretstream::{Decryptor, Encryptor, ABYTES, HEADERBYTES};
use super::{stream_id, ID_HEADER_LEN};
use crate::crypto::KeyPair;
use crate::noise::{Handshake, HandshakeResult, Pattern};

/// The largest message [`SecretStream::send`] accepts: one frame of 2^24 − 1 bytes minus the
/// secretstream overhead.
pub const MAX_MESSAGE_LEN: usize = MAX_FRAME_LEN - ABYTES;

/// Options of a [`SecretStream`]. `Default` is XX without timers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecretStreamOptions {
    /// Send an empty message when nothing was sent for this long (JS `keepAlive`). Only
    /// enable it when the remote swallows empty messages: JS does when it has `keepAlive`
    /// set itself (or `filterZeroByteMessages`).
    pub keep_alive_ms: Option<u64>,
    /// Fail with [`SecretStreamError::Timeout`] when nothing was received for this long (JS
    /// `timeout`).
    pub timeout_ms: Option<u64>,
    /// The handshake pattern; `None` is XX. With `IK` the initiator gives the responder's key.
    pub pattern: Option<Pattern>,
}

/// What the stream has for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretStreamEvent {
    /// Handshake done and both headers exchanged: messages may flow.
    Connected {
        /// The remote's static public key.
        remote_public_key: [u8; 32],
        /// The 64-byte Noise handshake hash (hypercore derives capabilities from it).
        handshake_hash: [u8; 64],
    },
    /// One decrypted message (never empty: keep-alives are swallowed).
    Message(Vec<u8>),
}

enum Phase {
    /// The Noise handshake runs.
    Handshake(Box<Handshake>),
    /// Our header is out; waiting for the remote's.
    Header { rx: Zeroizing<[u8; 32]>, hash: [u8; 64] },
    /// Both headers exchanged.
    Open(Box<Decryptor>),
    /// Failed (the error is kept in `SecretStream::error`).
    Failed,
}

/// One secret-stream connection, sans-IO: feed it the transport's bytes with
/// [`SecretStream::on_bytes`], write out what [`SecretStream::take_outgoing`] returns, read
/// [`SecretStream::poll_event`], and call [`SecretStream::handle_timeout`] at
/// [`SecretStream::poll_timeout`].
///
/// Every error is fatal: the stream keeps it and returns it from every later call (events
/// queued before it stay readable).
pub struct SecretStream {
    is_initiator: bool,
    public_key: [u8; 32],
    phase: Phase,
    encryptor: Option<Encryptor>,
    decoder: FrameDecoder,
    outgoing: Vec<u8>,
    /// Messages sent before our encryptor exists.
    pending: Vec<Vec<u8>>,
    events: VecDeque<SecretStreamEvent>,
    remote_public_key: Option<[u8; 32]>,
    handshake_hash: Option<[u8; 64]>,
    error: Option<SecretStreamError>,
    started: bool,
    keep_alive_ms: Option<u64>,
    timeout_ms: Option<u64>,
    /// The latest time seen (calls that take no time use it).
    now_ms: u64,
    last_sent_ms: u64,
    last_recv_ms: u64,
}

impl std::fmt::Debug for SecretStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStream")
            .field("is_initiator", &self.is_initiator)
            .field("connected", &self.is_connected())
            .field("remote_public_key", &self.remote_public_key)
            .field("error", &self.error)
            .field("outgoing", &self.outgoing.len())
            .finish_non_exhaustive()
    }
}

impl SecretStream {
    /// A stream that runs its own handshake with our static `key_pair`.
    pub fn new(is_initiator: bool, key_pair: &KeyPair, opts: SecretStreamOptions) -> Self {
        let pattern = opts.pattern.unwrap_or(Pattern::XX);
        let handshake = Handshake::new(pattern, is_initiator, key_pair, &[]);
        Self::with_phase(is_initiator, key_pair.public_key(), Phase::Handshake(Box::new(handshake)), &opts)
    }

    /// For HyperDHT: the Noise handshake already happened elsewhere. The header message is
    /// queued at once (JS does the same).
    pub fn from_handshake(result: HandshakeResult, opts: SecretStreamOptions) -> Self {
        let mut stream = Self::with_phase(result.is_initiator, result.public_key, Phase::Failed, &opts);
        if let Err(e) = stream.setup(&result) {
            stream.fail(e);
        }
        stream
    }

    fn with_phase(
        is_initiator: bool,
        public_key: [u8; 32],
        phase: Phase,
        opts: &SecretStreamOptions,
    ) -> Self {
        SecretStream {
            is_initiator,
            public_key,
            phase,
            encryptor: None,
            decoder: FrameDecoder::new(),
            outgoing: Vec::new(),
            pending: Vec::new(),
            events: VecDeque::new(),
            remote_public_key: None,
            handshake_hash: None,
            error: None,
            started: false,
            keep_alive_ms: opts.keep_alive_ms.filter(|&ms| ms > 0),
            timeout_ms: opts.timeout_ms.filter(|&ms| ms > 0),
            now_ms: 0,
            last_sent_ms: 0,
            last_recv_ms: 0,
        }
    }

    /// Queues the first handshake message (initiator) and arms the timers. Called
    /// implicitly by the first [`SecretStream::on_bytes`]; later calls do nothing.
    pub fn start(&mut self, now_ms: u64) {
        if self.started {
            return;
        }
        self.started = true;
        self.now_ms = now_ms;
        self.last_sent_ms = now_ms;
        self.last_recv_ms = now_ms;
        if self.error.is_none() {
            if let Err(e) = self.advance_handshake(None) {
                self.fail(e);
            }
        }
    }

    /// Raw bytes from the transport, cut anywhere; any bytes refresh the idle timeout.
    /// Errors are fatal for the stream.
    pub fn on_bytes(&mut self, bytes: &[u8], now_ms: u64) -> Result<(), SecretStreamError> {
        self.check()?;
        self.start(now_ms);
        self.check()?;
        self.now_ms = self.now_ms.max(now_ms);
        if bytes.is_empty() {
            return Ok(());
        }
        self.last_recv_ms = self.now_ms;
        let mut decoder = std::mem::take(&mut self.decoder);
        let r = decoder.decode(bytes, |frame| self.on_frame(frame));
        self.decoder = decoder;
        r.map_err(|e| self.fail(e))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<SecretStreamEvent> {
        self.events.pop_front()
    }

    /// Encrypts one message (queued until our side of the handshake is done, then sent in
    /// order after the header). An empty message is a keep-alive. A message longer than
    /// [`MAX_MESSAGE_LEN`] is refused without harming the stream.
    pub fn send(&mut self, message: &[u8]) -> Result<(), SecretStreamError> {
        self.check()?;
        if message.len() > MAX_MESSAGE_LEN {
            return Err(SecretStreamError::MessageTooLarge { len: message.len(), max: MAX_MESSAGE_LEN });
        }
        match &mut self.encryptor {
            Some(encryptor) => {
                if let Err(e) = encrypt_frame(encryptor, message, &mut self.outgoing) {
                    return Err(self.fail(e));
                }
            }
            None => self.pending.push(message.to_vec()),
        }
        self.last_sent_ms = self.now_ms;
        Ok(())
    }

    /// Bytes to write to the transport (everything queued so far, concatenated).
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outgoing)
    }

    /// Like [`SecretStream::take_outgoing`] without allocating: `buf` is cleared and swapped
    /// with the outgoing buffer, so the stream reuses `buf`'s capacity.
    pub fn swap_outgoing(&mut self, buf: &mut Vec<u8>) {
        buf.clear();
        std::mem::swap(buf, &mut self.outgoing);
    }

    /// The queued outgoing bytes, for transports that write partially (then call
    /// [`SecretStream::consume_outgoing`]).
    pub fn outgoing(&self) -> &[u8] {
        &self.outgoing
    }

    /// Drops the first `n` queued outgoing bytes (written by the caller).
    pub fn consume_outgoing(&mut self, n: usize) {
        let n = n.min(self.outgoing.len());
        self.outgoing.drain(..n);
    }

    /// Whether bytes wait to be written.
    pub fn has_outgoing(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// When [`SecretStream::handle_timeout`] must be called next (keep-alive send or idle
    /// timeout), or `None` without armed timers.
    pub fn poll_timeout(&self) -> Option<u64> {
        if !self.started || self.error.is_some() {
            return None;
        }
        let keep_alive = self
            .keep_alive_ms
            .filter(|_| self.encryptor.is_some())
            .map(|ms| self.last_sent_ms.saturating_add(ms));
        let timeout = self.timeout_ms.map(|ms| self.last_recv_ms.saturating_add(ms));
        match (keep_alive, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs due timers: fails with [`SecretStreamError::Timeout`] after `timeout_ms` without
    /// received bytes; queues a keep-alive after `keep_alive_ms` without sent messages.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), SecretStreamError> {
        self.check()?;
        if !self.started {
            return Ok(());
        }
        self.now_ms = self.now_ms.max(now_ms);
        if let Some(ms) = self.timeout_ms {
            if self.now_ms >= self.last_recv_ms.saturating_add(ms) {
                return Err(self.fail(SecretStreamError::Timeout));
            }
        }
        if let Some(ms) = self.keep_alive_ms {
            if self.encryptor.is_some() && self.now_ms >= self.last_sent_ms.saturating_add(ms) {
                self.send(&[])?;
            }
        }
        Ok(())
    }

    /// Whether we initiated.
    pub fn is_initiator(&self) -> bool {
        self.is_initiator
    }

    /// Whether the handshake is done and both headers were exchanged.
    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    /// Our static public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The remote's static public key, once the handshake is done.
    pub fn remote_public_key(&self) -> Option<[u8; 32]> {
        self.remote_public_key
    }

    /// The handshake hash, once the handshake is done.
    pub fn handshake_hash(&self) -> Option<[u8; 64]> {
        self.handshake_hash
    }

    /// The error that ended the stream, if any.
    pub fn error(&self) -> Option<&SecretStreamError> {
        self.error.as_ref()
    }

    fn check(&self) -> Result<(), SecretStreamError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Records a fatal error, drops the key material, returns the error.
    fn fail(&mut self, e: SecretStreamError) -> SecretStreamError {
        self.error = Some(e.clone());
        self.phase = Phase::Failed;
        self.encryptor = None;
        self.pending.clear();
        e
    }

    /// Feeds a handshake message (if any), sends ours when it is our turn, and sets up the
    /// transport once the handshake completes.
    fn advance_handshake(&mut self, incoming: Option<&[u8]>) -> Result<(), SecretStreamError> {
        let Phase::Handshake(handshake) = &mut self.phase else {
            return Ok(());
        };
        if let Some(message) = incoming {
            handshake.recv(message)?;
        }
        if handshake.is_my_turn() {
            let message = handshake.send(&[])?;
            write_frame_header(&mut self.outgoing, message.len())?;
            self.outgoing.extend_from_slice(&message);
        }
        if !handshake.is_complete() {
            return Ok(());
        }
        if let Phase::Handshake(handshake) = std::mem::replace(&mut self.phase, Phase::Failed) {
            let result = handshake.finish()?;
            self.setup(&result)?;
        }
        Ok(())
    }

    /// Handshake done: our encryptor and header, then whatever was queued.
    fn setup(&mut self, result: &HandshakeResult) -> Result<(), SecretStreamError> {
        let (mut encryptor, header) =
            Encryptor::new(&result.tx).map_err(|e| SecretStreamError::Random(e.to_string()))?;
        write_frame_header(&mut self.outgoing, ID_HEADER_LEN)?;
        self.outgoing.extend_from_slice(&stream_id(&result.hash, self.is_initiator));
        self.outgoing.extend_from_slice(&header);
        self.remote_public_key = Some(result.remote_public_key);
        self.handshake_hash = Some(result.hash);
        self.phase = Phase::Header { rx: Zeroizing::new(result.rx), hash: result.hash };
        for message in std::mem::take(&mut self.pending) {
            encrypt_frame(&mut encryptor, &message, &mut self.outgoing)?;
        }
        self.encryptor = Some(encryptor);
        Ok(())
    }

    fn on_frame(&mut self, frame: &[u8]) -> Result<(), SecretStreamError> {
        match &mut self.phase {
            Phase::Handshake(_) => self.advance_handshake(Some(frame)),
            Phase::Header { rx, hash } => {
                if frame.len() != ID_HEADER_LEN {
                    return Err(SecretStreamError::InvalidHeader(frame.len()));
                }
                let (id, header) = frame.split_at(32);
                if id != stream_id(hash, !self.is_initiator) {
                    return Err(SecretStreamError::BadStreamId);
                }
                let header: [u8; HEADERBYTES] =
                    header.try_into().map_err(|_| SecretStreamError::InvalidHeader(frame.len()))?;
                let decryptor = Decryptor::new(rx, &header);
                let handshake_hash = *hash;
                self.phase = Phase::Open(Box::new(decryptor));
                if let Some(remote_public_key) = self.remote_public_key {
                    self.events.push_back(SecretStreamEvent::Connected { remote_public_key, handshake_hash });
                }
                Ok(())
            }
            Phase::Open(decryptor) => {
                if frame.len() < ABYTES {
                    return Err(SecretStreamError::InvalidMessage(frame.len()));
                }
                let message = decryptor.decrypt(frame).map_err(|_| SecretStreamError::Decrypt)?;
                if !message.is_empty() {
                    self.events.push_back(SecretStreamEvent::Message(message));
                }
                Ok(())
            }
            Phase::Failed => Err(self.error.clone().unwrap_or(SecretStreamError::Decrypt)),
        }
    }
}

/// Appends `uint24le(len + ABYTES) ‖ push(message)` to `out`.
fn encrypt_frame(
    encryptor: &mut Encryptor,
    message: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), SecretStreamError> {
    write_frame_header(out, message.len() + ABYTES)?;
    encryptor.encrypt_into(message, out);
    Ok(())
}
