//! The native relay client: reaches the HyperDHT through `hyperwasm-relay serve` over one
//! WebSocket (`relay/PROTOCOL.md`), keeping every key on this side.
//!
//! [`RelayDht`] has the shape of [`crate::dht::Dht`] so code can switch between a local DHT
//! node and a relay (only the constructor differs: [`RelayDht::open`] takes the relay URL):
//! `lookup`, `announce`, `unannounce`, `find_peer`, `connect` (a
//! [`RelayConnection`]: the raw ciphertext stream plus the Noise result, `.encrypted()` for
//! plaintext), `listen` (a [`RelayServer`] with `accept`), `destroy`.
//!
//! One task (`driver.rs`) owns the sans-IO [`RelayClient`](hyperwasm::relay_protocol::RelayClient)
//! and the socket; the handles talk to it through channels. When the WebSocket drops the task
//! reconnects (backoff 100 ms doubling to 5 s) and resumes the session with its token: queries,
//! servers and streams carry on, the state machine replays what the relay missed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hyperwasm_relay::relay_client::RelayClientError> {
//! use hyperwasm_relay::relay_client::{RelayDht, RelayDhtOptions};
//! use hyperwasm::crypto::KeyPair;
//! let dht = RelayDht::open("ws://127.0.0.1:8080/relay", RelayDhtOptions::default()).await?;
//! let key_pair = KeyPair::generate().expect("randomness");
//! let mut server = dht.listen(&key_pair).await?;
//! let conn = server.accept().await;
//! # Ok(()) }
//! ```

mod driver;
mod error;
pub mod replicate;
pub mod stream;

use std::net::SocketAddrV4;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyperwasm::crypto::KeyPair;
use hyperwasm::relay_protocol::RelayClientConfig;
use tokio::sync::{mpsc, oneshot};

use driver::{Cmd, Driver, QueryKind, QueryUpdate};
pub use error::RelayClientError;
pub use replicate::replicate_relayed;
pub use stream::{RelayConnection, RelayReadHalf, RelayWriteHalf};

pub use crate::dht::LookupReply;

/// Options of [`RelayDht::open`].
#[derive(Debug, Clone)]
pub struct RelayDhtOptions {
    /// How long the first connection (WebSocket and `welcome`) may take.
    pub connect_timeout: Duration,
    /// First reconnect delay after the socket dropped (doubles per failure).
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Keep trying when the very first WebSocket fails (until `connect_timeout`).
    pub retry_first: bool,
    /// `Origin` header to send (relays may allow only some origins).
    pub origin: Option<String>,
    /// The state machine's options.
    pub client: RelayClientConfig,
}

impl Default for RelayDhtOptions {
    fn default() -> Self {
        RelayDhtOptions {
            connect_timeout: Duration::from_secs(15),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            retry_first: false,
            origin: None,
            client: RelayClientConfig::default(),
        }
    }
}

/// Counters of a client's life (for tests and logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Whether a session is established on a socket now.
    pub connected: bool,
    /// Sessions started (`welcome` without `resumed`): 1 unless a session expired.
    pub sessions: u64,
    /// Sessions resumed on a new socket.
    pub resumes: u64,
    /// Sessions that expired (their streams and queries failed with `SESSION_EXPIRED`).
    pub expired: u64,
    /// Sockets lost.
    pub disconnects: u64,
    /// Reconnect attempts.
    pub reconnects: u64,
    /// Live streams.
    pub streams: usize,
    /// WebSocket payload bytes received.
    pub bytes_in: u64,
    /// WebSocket payload bytes sent.
    pub bytes_out: u64,
}

struct Inner {
    cmds: mpsc::UnboundedSender<Cmd>,
    next_key: AtomicU64,
}

/// A HyperDHT reached through a relay: the handle to the client task. Clones share it.
#[derive(Clone)]
pub struct RelayDht {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RelayDht {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayDht").finish_non_exhaustive()
    }
}

/// What an announce or unannounce did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayAnnounced {
    /// Records the DHT nodes stored or removed.
    pub commits: u64,
}

impl RelayDht {
    /// Opens a session with the relay at `url` (`ws://host:port/relay`); resolves once the
    /// relay's `welcome` arrived.
    pub async fn open(url: &str, opts: RelayDhtOptions) -> Result<RelayDht, RelayClientError> {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(RelayClientError::BadUrl(url.to_owned()));
        }
        let (ready_tx, ready_rx) = oneshot::channel();
        let cmds = Driver::spawn(url.to_owned(), opts, ready_tx);
        ready_rx.await.map_err(|_| RelayClientError::Destroyed)??;
        Ok(RelayDht { inner: Arc::new(Inner { cmds, next_key: AtomicU64::new(1) }) })
    }

    fn send(&self, cmd: Cmd) -> Result<(), RelayClientError> {
        self.inner.cmds.send(cmd).map_err(|_| RelayClientError::Destroyed)
    }

    fn query(&self, kind: QueryKind) -> Result<RelayLookup, RelayClientError> {
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        let (updates, rx) = mpsc::unbounded_channel();
        self.send(Cmd::Query { key, kind, updates })?;
        Ok(RelayLookup { rx, key, cmds: self.inner.cmds.clone(), done: None })
    }

    /// Looks up who announced `topic`: replies stream from [`RelayLookup::next`].
    pub fn lookup(&self, topic: [u8; 32]) -> Result<RelayLookup, RelayClientError> {
        self.query(QueryKind::Lookup(topic))
    }

    /// Finds the DHT nodes holding `public_key`'s self-announce (its server's relays).
    pub async fn find_peer(&self, public_key: [u8; 32]) -> Result<Vec<LookupReply>, RelayClientError> {
        self.query(QueryKind::FindPeer(public_key))?.collect().await
    }

    /// Announces `key_pair`'s public key under `topic` with `relay_addresses`; the relay asks
    /// this side for each signature (the key never leaves).
    pub async fn announce(
        &self,
        topic: [u8; 32],
        key_pair: &KeyPair,
        relay_addresses: Vec<SocketAddrV4>,
    ) -> Result<RelayAnnounced, RelayClientError> {
        let kind = QueryKind::Announce { topic, key_pair: key_pair.clone(), relay_addresses };
        let commits = self.query(kind)?.finish().await?;
        Ok(RelayAnnounced { commits })
    }

    /// Removes `key_pair`'s record under `topic`.
    pub async fn unannounce(
        &self,
        topic: [u8; 32],
        key_pair: &KeyPair,
    ) -> Result<RelayAnnounced, RelayClientError> {
        let kind = QueryKind::Unannounce { topic, key_pair: key_pair.clone() };
        let commits = self.query(kind)?.finish().await?;
        Ok(RelayAnnounced { commits })
    }

    /// Connects to the server of `remote_public_key` as `key_pair` (`hints`: its relay
    /// addresses, if known). Noise IK runs here; the relay routes it and carries ciphertext.
    pub async fn connect(
        &self,
        remote_public_key: [u8; 32],
        key_pair: &KeyPair,
        hints: Vec<SocketAddrV4>,
    ) -> Result<RelayConnection, RelayClientError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Connect { remote_public_key, key_pair: key_pair.clone(), hints, reply })?;
        rx.await.map_err(|_| RelayClientError::Destroyed)?
    }

    /// Accepts connections for `key_pair` on the relay's node; resolves after the first
    /// self-announce (the server is then reachable).
    pub async fn listen(&self, key_pair: &KeyPair) -> Result<RelayServer, RelayClientError> {
        let (incoming, incoming_rx) = mpsc::channel(SERVER_BACKLOG);
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Listen { key_pair: key_pair.clone(), incoming, reply })?;
        let (id, relay_addresses) = rx.await.map_err(|_| RelayClientError::Destroyed)??;
        Ok(RelayServer {
            dht: self.clone(),
            id,
            public_key: key_pair.public_key(),
            relay_addresses,
            incoming: incoming_rx,
        })
    }

    /// The client's counters.
    pub async fn stats(&self) -> Result<RelayStats, RelayClientError> {
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Stats(tx))?;
        rx.await.map_err(|_| RelayClientError::Destroyed)
    }

    /// Drops the WebSocket as a network failure would (tests, manual failover): the client
    /// reconnects and resumes the session.
    pub fn drop_socket(&self) -> Result<(), RelayClientError> {
        self.send(Cmd::Disconnect)
    }

    /// Ends the session: queries, dials and servers fail with `DESTROYED`, streams close.
    pub async fn destroy(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Cmd::Destroy(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Connections a [`RelayServer`] holds for `accept` before dropping new ones.
pub const SERVER_BACKLOG: usize = 64;

/// A running query: replies as they come, then the outcome. Dropping it cancels the query.
/// Also a `futures::Stream` of replies.
#[derive(Debug)]
pub struct RelayLookup {
    rx: mpsc::UnboundedReceiver<QueryUpdate>,
    key: u64,
    cmds: mpsc::UnboundedSender<Cmd>,
    done: Option<Result<u64, RelayClientError>>,
}

impl RelayLookup {
    /// The next reply; `None` once the query finished (see [`RelayLookup::collect`]).
    pub async fn next(&mut self) -> Option<LookupReply> {
        std::future::poll_fn(|cx| self.poll_reply(cx)).await
    }

    fn poll_reply(&mut self, cx: &mut Context<'_>) -> Poll<Option<LookupReply>> {
        if self.done.is_some() {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(QueryUpdate::Reply(r))) => Poll::Ready(Some(r)),
            Poll::Ready(Some(QueryUpdate::Done(d))) => {
                self.done = Some(d);
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.done = Some(Err(RelayClientError::Destroyed));
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Waits for the end; the commit count (announce/unannounce) or the failure.
    pub async fn finish(mut self) -> Result<u64, RelayClientError> {
        while self.next().await.is_some() {}
        self.done.take().unwrap_or(Err(RelayClientError::Destroyed))
    }

    /// Every reply, or the error that ended the query.
    pub async fn collect(mut self) -> Result<Vec<LookupReply>, RelayClientError> {
        let mut all = Vec::new();
        while let Some(r) = self.next().await {
            all.push(r);
        }
        self.done.take().unwrap_or(Err(RelayClientError::Destroyed)).map(|_| all)
    }
}

impl futures::Stream for RelayLookup {
    type Item = LookupReply;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LookupReply>> {
        self.get_mut().poll_reply(cx)
    }
}

impl Drop for RelayLookup {
    fn drop(&mut self) {
        if self.done.is_none() {
            let _ = self.cmds.send(Cmd::Cancel(self.key));
        }
    }
}

/// Connections accepted for one key pair through the relay. Dropping it stops listening.
#[derive(Debug)]
pub struct RelayServer {
    dht: RelayDht,
    id: u32,
    public_key: [u8; 32],
    relay_addresses: Vec<SocketAddrV4>,
    incoming: mpsc::Receiver<RelayConnection>,
}

impl RelayServer {
    /// The key clients connect to.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The next connection (Noise done here, stream open); `None` once the server or the
    /// client is gone.
    pub async fn accept(&mut self) -> Option<RelayConnection> {
        self.incoming.recv().await
    }

    /// The DHT nodes that held our self-announce when listening started.
    pub fn relay_addresses(&self) -> &[SocketAddrV4] {
        &self.relay_addresses
    }

    /// The nodes holding our self-announce now (after re-announces).
    pub async fn current_relay_addresses(&self) -> Vec<SocketAddrV4> {
        let (tx, rx) = oneshot::channel();
        if self.dht.send(Cmd::ServerRelays(self.id, tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// The client this server runs on.
    pub fn dht(&self) -> &RelayDht {
        &self.dht
    }
}

impl Drop for RelayServer {
    fn drop(&mut self) {
        let _ = self.dht.send(Cmd::Unlisten(self.id));
    }
}
