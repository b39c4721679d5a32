//! The connection's public types (options, stats, errors, the runtime's [`Clock`]) and the
//! writer half of the driver in [`super::protocol_stream`].

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures::io::{AsyncWrite, AsyncWriteExt};
use futures::StreamExt;

use super::user_channels::UserChannels;
use super::ReplicatorOptions;
use crate::crypto::sign::KeyPair;
use crate::noise::HandshakeResult;
use crate::protomux::MuxError;
use crate::secret_stream::SecretStreamError;
use crate::MaybeSend;

/// Milliseconds clock and timers, supplied by the runtime (tokio, the browser).
pub trait Clock: Clone + MaybeSend + 'static {
    /// The timer future.
    type Sleep: Future<Output = ()> + MaybeSend + 'static;
    /// Milliseconds since any fixed origin.
    fn now_ms(&self) -> u64;
    /// Resolves after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> Self::Sleep;
}

/// How to run a connection.
#[derive(Debug)]
pub struct ConnectionOptions {
    /// We dialled (Noise initiator).
    pub is_initiator: bool,
    /// Our Noise static key pair (= hyperswarm identity); random when `None`.
    pub key_pair: Option<KeyPair>,
    /// Send a keep-alive after this long without traffic (JS hypercore: 5000).
    pub keep_alive_ms: u64,
    /// Close the connection after this long without receiving anything (0 = never).
    pub timeout_ms: u64,
    /// Request pipelining and limits.
    pub replicator: ReplicatorOptions,
    /// Application channels, if the application wants any.
    pub user: Option<UserChannels>,
    /// A Noise handshake that already happened elsewhere (HyperDHT's IK, done while
    /// connecting): the stream starts with its keys instead of running XX, and `key_pair` is
    /// not used. `is_initiator` must match the handshake's role.
    pub handshake: Option<HandshakeResult>,
}

impl ConnectionOptions {
    /// Defaults for one side of a connection.
    pub fn new(is_initiator: bool) -> Self {
        ConnectionOptions {
            is_initiator,
            key_pair: None,
            keep_alive_ms: 5000,
            timeout_ms: 0,
            replicator: ReplicatorOptions::default(),
            user: None,
            handshake: None,
        }
    }
}

/// What a connection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Raw bytes read from the transport.
    pub bytes_in: u64,
    /// Raw bytes written to the transport.
    pub bytes_out: u64,
    /// Blocks verified and stored from this peer.
    pub blocks_downloaded: u64,
    /// Blocks sent to this peer.
    pub blocks_uploaded: u64,
    /// Peer channels closed by us for misbehaving, with the reason.
    pub peers_closed: Vec<String>,
    /// The remote's Noise static public key.
    pub remote_public_key: Option<[u8; 32]>,
    /// Most bytes ever waiting for the writer at once (backpressure check).
    pub max_queued_bytes: u64,
}

/// Why a connection ended abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// Reading or writing the transport failed.
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
    /// Handshake, decryption, framing or timeout failure.
    #[error(transparent)]
    SecretStream(#[from] SecretStreamError),
    /// The remote broke the protomux protocol.
    #[error(transparent)]
    Mux(#[from] MuxError),
    /// The remote's replication capability did not match (it does not know the key, or a
    /// man in the middle relays the stream).
    #[error("remote sent an invalid replication capability")]
    InvalidCapability,
    /// Generating a key pair failed.
    #[error("no randomness for a key pair")]
    KeyPair,
    /// The peer kept asking while not reading our answers: more than
    /// [`MAX_BACKLOG_BYTES`](super::protocol_stream::MAX_BACKLOG_BYTES) waited for it, or more than [`MAX_PARKED`](super::protocol_stream::MAX_PARKED) requests.
    #[error("peer does not read what it asks for ({0})")]
    PeerNotReading(&'static str),
}

impl ConnectionError {
    /// A stable code, JS `err.code` style.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectionError::Io(_) => "TRANSPORT_ERROR",
            ConnectionError::SecretStream(e) => e.code(),
            ConnectionError::Mux(e) => e.code(),
            ConnectionError::InvalidCapability => "INVALID_CAPABILITY",
            ConnectionError::KeyPair => "KEY_PAIR_FAILED",
            ConnectionError::PeerNotReading(_) => "PEER_NOT_READING",
        }
    }
}

/// Writes queued buffers in order, flushing when the queue runs dry; ends when the queue
/// closes (then closes the writer). Counts the bytes written in `written`.
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut rx: UnboundedReceiver<Vec<u8>>,
    drained: UnboundedSender<()>,
    queued: Arc<AtomicUsize>,
    written: Arc<AtomicU64>,
) -> Result<(), ConnectionError> {
    let mut next = rx.next().await;
    while let Some(buf) = next {
        let result = writer.write_all(&buf).await;
        queued.fetch_sub(buf.len(), Ordering::AcqRel);
        let _ = drained.unbounded_send(());
        if let Err(e) = result {
            rx.close();
            return Err(e.into());
        }
        written.fetch_add(buf.len() as u64, Ordering::AcqRel);
        next = match rx.try_recv() {
            Ok(more) => Some(more),
            Err(_) => {
                writer.flush().await?;
                rx.next().await
            }
        };
    }
    let _ = writer.flush().await;
    let _ = writer.close().await;
    Ok(())
}

/// Returns `Pending` once (waking itself), so other futures of the task get polled.
pub(super) async fn yield_now() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
