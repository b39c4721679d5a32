//! [`Connection`]: one UDX stream of the driver's endpoint as a tokio byte stream.
//!
//! The endpoint lives in the driver task; the application's halves and the driver meet in a
//! `Shared` buffer pair under a mutex. Chunks move whole: the driver pushes what
//! `Endpoint::read` produced, the application reads out of it; the application appends written
//! bytes into one `Vec` the driver swaps out in a single step. Both directions are bounded:
//!
//! - inbound: the driver stops calling `Endpoint::read` while [`RECV_HIGH_WATER`] bytes wait
//!   for the reader, so the UDX receive window closes on a slow reader; the reader asks the
//!   driver to resume once it drained below half of that.
//! - outbound: a write waits while [`SEND_HIGH_WATER`] bytes wait for the driver, and the
//!   driver only takes more once the endpoint's send buffer accepted what it had.
//!
//! The driver is poked through its command channel at most once per stream until it ran
//! (`poked` flag), so a stream of small writes costs one wake-up per driver round.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use hyperwasm::noise::HandshakeResult;
use tokio::io::ReadBuf;

use super::encrypted::EncryptedStream;
use super::Dht;

/// Inbound bytes buffered for the reader before the driver stops reading the endpoint.
pub const RECV_HIGH_WATER: usize = 2 * 1024 * 1024;
/// Outbound bytes buffered for the driver before writes wait.
pub const SEND_HIGH_WATER: usize = 2 * 1024 * 1024;

/// Where a stream's halves poke the driver: called with the local stream id.
pub(crate) type Poke = Arc<dyn Fn(u32) + Send + Sync>;

/// Why a stream failed, kept to hand out as fresh `io::Error`s.
#[derive(Debug, Clone)]
pub(crate) struct StreamError {
    kind: io::ErrorKind,
    message: String,
}

impl StreamError {
    /// A failure of `kind` with a message (`"ETIMEDOUT: …"` style).
    pub(crate) fn new(kind: io::ErrorKind, message: impl Into<String>) -> Self {
        StreamError { kind, message: message.into() }
    }

    fn to_io(&self) -> io::Error {
        io::Error::new(self.kind, self.message.clone())
    }
}

#[derive(Debug, Default)]
struct State {
    recv: VecDeque<Vec<u8>>,
    recv_pos: usize,
    recv_bytes: usize,
    /// The driver stopped reading the endpoint because `recv` was full.
    recv_blocked: bool,
    remote_ended: bool,
    reader: Option<Waker>,
    send: Vec<u8>,
    local_end: bool,
    writer: Option<Waker>,
    error: Option<StreamError>,
    /// Both halves are gone: the driver drops what it reads.
    released: bool,
    /// The driver saw the stream close (cleanly or not).
    closed: bool,
    close_wakers: Vec<Waker>,
    halves: u8,
    poked: bool,
}

/// The buffers one stream's halves share with the driver.
pub(crate) struct Shared {
    id: u32,
    state: Mutex<State>,
    poke: Poke,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("id", &self.id).finish_non_exhaustive()
    }
}

/// What the driver took for the endpoint.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Outbound {
    /// The application asked to end its side (after the bytes taken now and before).
    pub end: bool,
    /// Both halves are gone.
    pub released: bool,
}

impl Shared {
    /// Buffers for local stream `id`; `poke` wakes the driver for it.
    pub(crate) fn new(id: u32, poke: Poke) -> Arc<Self> {
        Arc::new(Shared { id, state: Mutex::new(State { halves: 0, ..State::default() }), poke })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain buffers behind: keep going with them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pokes the driver unless a poke is pending (call with the state unlocked: `poke` may
    /// run arbitrary code).
    fn poke_if(&self, needed: bool) {
        if needed {
            (self.poke)(self.id);
        }
    }

    // ---- driver side

    /// Called by the driver when it handles a poke: later changes poke again.
    pub(crate) fn clear_poke(&self) {
        self.lock().poked = false;
    }

    /// Swaps the written bytes into `buf` (which must be empty; its capacity is kept for the
    /// next round) and wakes a waiting writer.
    pub(crate) fn take_send(&self, buf: &mut Vec<u8>) -> Outbound {
        let mut st = self.lock();
        debug_assert!(buf.is_empty());
        std::mem::swap(&mut st.send, buf);
        let out = Outbound { end: st.local_end, released: st.released };
        let waker = st.writer.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        out
    }

    /// Whether the reader has room: the driver reads the endpoint only then. A `false`
    /// marks the stream blocked; the reader pokes once it drained.
    pub(crate) fn recv_room(&self) -> bool {
        let mut st = self.lock();
        if st.released {
            return true;
        }
        let room = st.recv_bytes < RECV_HIGH_WATER;
        st.recv_blocked = !room;
        room
    }

    /// Hands bytes read from the endpoint to the reader.
    pub(crate) fn push_recv(&self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        let mut st = self.lock();
        if st.released {
            return;
        }
        st.recv_bytes += data.len();
        st.recv.push_back(data);
        let waker = st.reader.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The remote ended its side: the reader sees EOF after the buffered bytes.
    pub(crate) fn remote_end(&self) {
        let waker = {
            let mut st = self.lock();
            st.remote_ended = true;
            st.reader.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The stream failed or closed: pending and later calls return `error` (reads still
    /// drain what was buffered first). `None` = closed cleanly.
    pub(crate) fn close(&self, error: Option<StreamError>) {
        let (reader, writer, closers) = {
            let mut st = self.lock();
            st.closed = true;
            if let Some(e) = error {
                st.error.get_or_insert(e);
            } else {
                st.remote_ended = true;
                if st.error.is_none() && !st.local_end {
                    st.error = Some(StreamError::new(io::ErrorKind::BrokenPipe, "stream closed"));
                }
            }
            (st.reader.take(), st.writer.take(), std::mem::take(&mut st.close_wakers))
        };
        for w in [reader, writer].into_iter().flatten().chain(closers) {
            w.wake();
        }
    }

    /// The stream closed cleanly but bytes may still be on their way to the reader:
    /// [`Connection::closed`] resolves now, EOF comes later (`remote_end` / `close`).
    pub(crate) fn mark_closed(&self) {
        let closers = {
            let mut st = self.lock();
            st.closed = true;
            std::mem::take(&mut st.close_wakers)
        };
        for w in closers {
            w.wake();
        }
    }

    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.lock();
        if st.closed {
            return Poll::Ready(());
        }
        if !st.close_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            st.close_wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    // ---- application side

    fn add_half(&self) {
        self.lock().halves += 1;
    }

    fn drop_half(&self) {
        let poke = {
            let mut st = self.lock();
            st.halves = st.halves.saturating_sub(1);
            if st.halves > 0 {
                return;
            }
            st.released = true;
            st.recv.clear();
            st.recv_bytes = 0;
            !std::mem::replace(&mut st.poked, true)
        };
        self.poke_if(poke);
    }

    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut st = self.lock();
        if st.recv.is_empty() {
            if st.remote_ended {
                return Poll::Ready(Ok(()));
            }
            if let Some(e) = &st.error {
                return Poll::Ready(Err(e.to_io()));
            }
            st.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        while buf.remaining() > 0 {
            let Some(front) = st.recv.front() else { break };
            let rest = &front[st.recv_pos..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            let front_len = front.len();
            st.recv_pos += n;
            st.recv_bytes -= n;
            if st.recv_pos >= front_len {
                st.recv.pop_front();
                st.recv_pos = 0;
            }
        }
        let poke = st.recv_blocked && st.recv_bytes < RECV_HIGH_WATER / 2 && !st.poked;
        if poke {
            st.recv_blocked = false;
            st.poked = true;
        }
        drop(st);
        self.poke_if(poke);
        Poll::Ready(Ok(()))
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut st = self.lock();
        if let Some(e) = &st.error {
            return Poll::Ready(Err(e.to_io()));
        }
        if st.local_end {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "write after end")));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = SEND_HIGH_WATER.saturating_sub(st.send.len());
        if room == 0 {
            st.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = data.len().min(room);
        st.send.extend_from_slice(&data[..n]);
        let poke = !std::mem::replace(&mut st.poked, true);
        drop(st);
        self.poke_if(poke);
        Poll::Ready(Ok(n))
    }

    pub(crate) fn shutdown(&self) -> io::Result<()> {
        let mut st = self.lock();
        if st.local_end {
            return Ok(());
        }
        if let Some(e) = &st.error {
            return Err(e.to_io());
        }
        st.local_end = true;
        let poke = !std::mem::replace(&mut st.poked, true);
        drop(st);
        self.poke_if(poke);
        Ok(())
    }
}

/// One half's hold on the shared buffers; the last one dropped releases the stream (the
/// driver destroys it, or lets it finish sending when the write side was shut down).
#[derive(Debug)]
pub(crate) struct Hold(pub(crate) Arc<Shared>);

impl Hold {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.add_half();
        Hold(shared.clone())
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.0.drop_half();
    }
}

/// What the connection flow established (both sides know the same).
#[derive(Clone)]
pub struct ConnectionInfo {
    /// The Noise IK result: keys for secret-stream, both static keys, the handshake hash.
    pub handshake: HandshakeResult,
    /// The peer's UDP address the stream runs to.
    pub remote_address: SocketAddrV4,
    /// Our UDX stream id.
    pub stream_id: u32,
}

impl std::fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("is_initiator", &self.handshake.is_initiator)
            .field("remote_public_key", &hex::encode(self.handshake.remote_public_key))
            .field("remote_address", &self.remote_address)
            .field("stream_id", &self.stream_id)
            .finish()
    }
}

/// An established HyperDHT connection: the raw UDX byte stream (ciphertext once
/// secret-stream runs on it) plus what the handshake produced. [`Connection::encrypted`]
/// gives the plaintext stream; the hypercore replicator takes the raw halves and the
/// handshake instead. Dropping it without `shutdown` destroys the stream.
#[derive(Debug)]
pub struct Connection {
    info: ConnectionInfo,
    hold: Hold,
    /// Keeps the node running while the connection lives.
    dht: Option<Dht>,
}

/// The reading half of a [`Connection`].
#[derive(Debug)]
pub struct ReadHalf {
    hold: Hold,
    _dht: Option<Dht>,
}

/// The writing half of a [`Connection`].
#[derive(Debug)]
pub struct WriteHalf {
    hold: Hold,
    _dht: Option<Dht>,
}

impl Connection {
    pub(crate) fn new(info: ConnectionInfo, shared: &Arc<Shared>) -> Self {
        Connection { info, hold: Hold::new(shared), dht: None }
    }

    /// Ties the node's lifetime to the connection's.
    pub(crate) fn attach(&mut self, dht: Dht) {
        self.dht = Some(dht);
    }

    /// The handshake, stream id and peer address.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The Noise IK result (keys for secret-stream).
    pub fn handshake(&self) -> &HandshakeResult {
        &self.info.handshake
    }

    /// The peer's static public key.
    pub fn remote_public_key(&self) -> [u8; 32] {
        self.info.handshake.remote_public_key
    }

    /// Our static public key on this connection.
    pub fn public_key(&self) -> [u8; 32] {
        self.info.handshake.public_key
    }

    /// Whether we dialled.
    pub fn is_initiator(&self) -> bool {
        self.info.handshake.is_initiator
    }

    /// The peer's UDP address.
    pub fn remote_address(&self) -> SocketAddrV4 {
        self.info.remote_address
    }

    /// The plaintext stream (secret-stream with hyperdht's keep-alive).
    pub fn encrypted(self) -> EncryptedStream<Connection> {
        let handshake = self.info.handshake.clone();
        EncryptedStream::new(self, handshake)
    }

    /// Resolves once the stream closed: both sides ended and everything was acknowledged, or
    /// it failed (JS `'close'`). Wait for it after `shutdown` to be sure the peer got it all.
    pub async fn closed(&self) {
        let shared = self.hold.0.clone();
        std::future::poll_fn(move |cx| shared.poll_closed(cx)).await
    }

    /// Separate read and write halves (e.g. for the replicator); dropping both releases the
    /// stream.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        let shared = &self.hold.0;
        (
            ReadHalf { hold: Hold::new(shared), _dht: self.dht.clone() },
            WriteHalf { hold: Hold::new(shared), _dht: self.dht.clone() },
        )
    }
}

/// `AsyncRead` for a type holding the stream in `self.hold` (reads drain the shared buffer).
macro_rules! shared_read {
    ($($t:ty),+) => {$(
        impl tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.hold.0.poll_read(cx, buf)
            }
        }
    )+};
}

/// `AsyncWrite` for a type holding the stream in `self.hold`: writes fill the shared buffer,
/// flush has nothing to do, shutdown ends our side (UDX END after everything written).
macro_rules! shared_write {
    ($($t:ty),+) => {$(
        impl tokio::io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                data: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.hold.0.poll_write(cx, data)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.hold.0.shutdown())
            }
        }
    )+};
}
pub(crate) use {shared_read, shared_write};

shared_read!(Connection, ReadHalf);
shared_write!(Connection, WriteHalf);

/// Read and write halves on `shared` (each holds the stream; `dht` keeps the node running).
pub(crate) fn halves(shared: &Arc<Shared>, dht: Option<Dht>) -> (ReadHalf, WriteHalf) {
    (
        ReadHalf { hold: Hold::new(shared), _dht: dht.clone() },
        WriteHalf { hold: Hold::new(shared), _dht: dht },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn info() -> ConnectionInfo {
        ConnectionInfo {
            handshake: HandshakeResult {
                is_initiator: true,
                tx: [1; 32],
                rx: [2; 32],
                hash: [3; 64],
                public_key: [4; 32],
                remote_public_key: [5; 32],
            },
            remote_address: "127.0.0.1:9".parse().unwrap(),
            stream_id: 7,
        }
    }

    fn counted() -> (Arc<AtomicUsize>, Poke) {
        let pokes = Arc::new(AtomicUsize::new(0));
        let p = pokes.clone();
        (
            pokes,
            Arc::new(move |_| {
                p.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    #[tokio::test]
    async fn writes_poke_once_per_round_and_wait_at_the_high_water_mark() {
        let (pokes, poke) = counted();
        let shared = Shared::new(7, poke);
        let mut conn = Connection::new(info(), &shared);
        conn.write_all(b"abc").await.unwrap();
        conn.write_all(b"def").await.unwrap();
        assert_eq!(pokes.load(Ordering::SeqCst), 1);
        let mut buf = Vec::new();
        assert_eq!(shared.take_send(&mut buf), Outbound::default());
        assert_eq!(buf, b"abcdef");
        shared.clear_poke();
        // Fill to the mark: the next write waits until the driver takes the bytes.
        let big = vec![9u8; SEND_HIGH_WATER];
        conn.write_all(&big).await.unwrap();
        let writer = tokio::spawn(async move {
            conn.write_all(b"more").await.unwrap();
            conn.shutdown().await.unwrap();
            conn
        });
        tokio::task::yield_now().await;
        assert!(!writer.is_finished());
        let mut taken = Vec::new();
        shared.take_send(&mut taken);
        assert_eq!(taken.len(), SEND_HIGH_WATER);
        let _conn = writer.await.unwrap();
        let mut rest = Vec::new();
        assert_eq!(shared.take_send(&mut rest), Outbound { end: true, released: false });
        assert_eq!(rest, b"more");
    }

    #[tokio::test]
    async fn reads_drain_chunks_and_reopen_a_blocked_stream() {
        let (pokes, poke) = counted();
        let shared = Shared::new(7, poke);
        let (mut r, _w) = Connection::new(info(), &shared).into_split();
        while shared.recv_room() {
            shared.push_recv(vec![1; 64 * 1024]);
        }
        shared.push_recv(b"tail".to_vec());
        shared.remote_end();
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), RECV_HIGH_WATER + 4);
        assert!(all.ends_with(b"tail"));
        // The reader drained a blocked stream: the driver was asked to read again, once.
        assert_eq!(pokes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failures_reach_both_halves_and_release_pokes() {
        let (pokes, poke) = counted();
        let shared = Shared::new(7, poke);
        let (mut r, mut w) = Connection::new(info(), &shared).into_split();
        let reader = tokio::spawn(async move {
            let mut buf = [0; 8];
            r.read(&mut buf).await
        });
        tokio::task::yield_now().await;
        shared.close(Some(StreamError::new(io::ErrorKind::TimedOut, "ETIMEDOUT")));
        assert_eq!(reader.await.unwrap().unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(w.write(b"x").await.unwrap_err().kind(), io::ErrorKind::TimedOut);
        drop(w);
        assert_eq!(pokes.load(Ordering::SeqCst), 1);
        let mut buf = Vec::new();
        assert!(shared.take_send(&mut buf).released);
    }

    #[tokio::test]
    async fn a_clean_close_with_bytes_still_coming_resolves_closed_but_not_eof() {
        let (_, poke) = counted();
        let shared = Shared::new(7, poke);
        let mut conn = Connection::new(info(), &shared);
        conn.shutdown().await.unwrap();
        shared.push_recv(b"head".to_vec());
        shared.mark_closed();
        conn.closed().await;
        let mut buf = [0u8; 16];
        assert_eq!(conn.read(&mut buf).await.unwrap(), 4);
        let reader = tokio::spawn(async move {
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).await.unwrap();
            rest
        });
        tokio::task::yield_now().await;
        assert!(!reader.is_finished(), "no EOF while the driver still drains the stream");
        shared.push_recv(b"tail".to_vec());
        shared.remote_end();
        shared.close(None);
        assert_eq!(reader.await.unwrap(), b"tail");
    }

    #[tokio::test]
    async fn closed_resolves_when_the_driver_closes_the_stream() {
        let (_, poke) = counted();
        let shared = Shared::new(7, poke);
        let conn = Connection::new(info(), &shared);
        let waiter = tokio::spawn(async move {
            conn.closed().await;
            conn
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        shared.remote_end();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the remote's END alone does not close the stream");
        shared.close(None);
        let mut conn = waiter.await.unwrap();
        let mut buf = Vec::new();
        conn.read_to_end(&mut buf).await.unwrap();
        assert!(buf.is_empty());
    }
}
