//! [`RelayConnection`]: one relayed stream (secret-stream ciphertext) as a tokio byte stream.
//!
//! The client task owns the [`RelayClient`](hyperwasm::relay_protocol::RelayClient); the
//! application's halves and the task meet in a `StreamShared` under a mutex, as
//! `crate::dht::conn` does for UDX streams:
//!
//! - inbound: the task pushes each `data` payload; reading takes bytes out and counts them as
//!   consumed; the task reports consumed bytes to the state machine, which grants the relay
//!   more credit. So at most one credit window (1 MiB by default) waits here, and a reader
//!   that stops reading stops the relay from sending (PROTOCOL.md §8).
//! - outbound: a write appends to a buffer of at most [`SEND_HIGH_WATER`] bytes; the task
//!   moves it into `data` messages as the relay's credit allows and wakes the writer.
//!
//! The task is poked through its command channel at most once per stream until it ran.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddrV4;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use hyperwasm::noise::HandshakeResult;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

use super::driver::Cmd;
use crate::dht::EncryptedStream;

/// Outbound bytes buffered for the client task before writes wait.
pub const SEND_HIGH_WATER: usize = 256 * 1024;

#[derive(Debug, Default)]
struct State {
    recv: VecDeque<Vec<u8>>,
    recv_pos: usize,
    /// Bytes read since the task last reported them to the state machine.
    consumed: u64,
    remote_ended: bool,
    reader: Option<Waker>,
    send: Vec<u8>,
    local_end: bool,
    end_sent: bool,
    writer: Option<Waker>,
    /// Why the stream failed (code), or `Some("")` once it closed cleanly.
    closed: Option<String>,
    close_wakers: Vec<Waker>,
    halves: u8,
    released: bool,
    poked: bool,
}

/// The buffers one stream's halves share with the client task.
pub(crate) struct StreamShared {
    id: u32,
    state: Mutex<State>,
    cmds: mpsc::UnboundedSender<Cmd>,
}

impl std::fmt::Debug for StreamShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamShared").field("id", &self.id).finish_non_exhaustive()
    }
}

/// What the task should do for a stream after a poke.
#[derive(Debug, Default)]
pub(crate) struct Service {
    /// Consumed bytes to report.
    pub consumed: u64,
    /// Send `end` now (everything written was handed over).
    pub end: bool,
    /// Both halves are gone: close the stream.
    pub released: bool,
}

fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

impl StreamShared {
    pub(crate) fn new(id: u32, cmds: mpsc::UnboundedSender<Cmd>) -> Arc<Self> {
        Arc::new(StreamShared { id, state: Mutex::new(State::default()), cmds })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poke(&self, st: &mut State) {
        if !st.poked {
            st.poked = true;
            let _ = self.cmds.send(Cmd::Poke(self.id));
        }
    }

    // ---- task side

    /// Bytes from the relay.
    pub(crate) fn push(&self, bytes: Vec<u8>) {
        let mut st = self.lock();
        if st.released {
            // Nobody reads: count them consumed so credit never stalls a stream being closed.
            st.consumed += bytes.len() as u64;
            return;
        }
        st.recv.push_back(bytes);
        let w = st.reader.take();
        drop(st);
        wake(w);
    }

    /// The remote half-closed.
    pub(crate) fn remote_end(&self) {
        let mut st = self.lock();
        st.remote_ended = true;
        let w = st.reader.take();
        drop(st);
        wake(w);
    }

    /// The stream is gone (`code` empty = clean).
    pub(crate) fn close(&self, code: &str) {
        let mut st = self.lock();
        if st.closed.is_none() {
            st.closed = Some(code.to_owned());
        }
        let wakers: Vec<Waker> =
            st.reader.take().into_iter().chain(st.writer.take()).chain(st.close_wakers.drain(..)).collect();
        drop(st);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Runs the task's part after a poke or a credit grant: `write` takes as many buffered
    /// bytes as it can (returns how many); the answer says what else to do.
    pub(crate) fn service(&self, write: impl FnOnce(&[u8]) -> usize) -> Service {
        let mut st = self.lock();
        st.poked = false;
        let mut out = Service { consumed: std::mem::take(&mut st.consumed), ..Service::default() };
        if st.released {
            out.released = true;
            st.send.clear();
            return out;
        }
        if !st.send.is_empty() && st.closed.is_none() {
            let n = write(&st.send).min(st.send.len());
            st.send.drain(..n);
        }
        if st.local_end && st.send.is_empty() && !st.end_sent && st.closed.is_none() {
            st.end_sent = true;
            out.end = true;
        }
        let w = if st.send.len() < SEND_HIGH_WATER { st.writer.take() } else { None };
        drop(st);
        wake(w);
        out
    }

    /// Whether the application wrote bytes not yet handed to the state machine.
    pub(crate) fn has_pending_send(&self) -> bool {
        let st = self.lock();
        !st.send.is_empty() || (st.local_end && !st.end_sent)
    }

    // ---- application side

    fn io_error(code: &str) -> io::Error {
        let kind = match code {
            "ETIMEDOUT" => io::ErrorKind::TimedOut,
            "ECONNRESET" => io::ErrorKind::ConnectionReset,
            "DESTROYED" | "SESSION_EXPIRED" => io::ErrorKind::ConnectionAborted,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, format!("relayed stream closed: {code}"))
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut st = self.lock();
        let mut n = 0usize;
        while buf.remaining() > 0 {
            let pos = st.recv_pos;
            let Some(front) = st.recv.front() else { break };
            let take = (front.len() - pos).min(buf.remaining());
            buf.put_slice(&front[pos..pos + take]);
            n += take;
            if pos + take == front.len() {
                st.recv.pop_front();
                st.recv_pos = 0;
            } else {
                st.recv_pos = pos + take;
            }
        }
        if n > 0 {
            st.consumed += n as u64;
            self.poke(&mut st);
            return Poll::Ready(Ok(()));
        }
        match &st.closed {
            Some(code) if !code.is_empty() => return Poll::Ready(Err(Self::io_error(code))),
            Some(_) => return Poll::Ready(Ok(())),
            None if st.remote_ended => return Poll::Ready(Ok(())),
            None => {}
        }
        st.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut st = self.lock();
        match st.closed.as_deref() {
            Some("") => return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "stream closed"))),
            Some(code) => return Poll::Ready(Err(Self::io_error(code))),
            None => {}
        }
        if st.local_end {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "write after shutdown")));
        }
        let room = SEND_HIGH_WATER.saturating_sub(st.send.len());
        if room == 0 {
            st.writer = Some(cx.waker().clone());
            self.poke(&mut st);
            return Poll::Pending;
        }
        let n = room.min(data.len());
        st.send.extend_from_slice(&data[..n]);
        self.poke(&mut st);
        Poll::Ready(Ok(n))
    }

    fn shutdown(&self) -> io::Result<()> {
        let mut st = self.lock();
        if !st.local_end {
            st.local_end = true;
            self.poke(&mut st);
        }
        Ok(())
    }

    fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.lock();
        if st.closed.is_some() {
            return Poll::Ready(());
        }
        st.close_wakers.push(cx.waker().clone());
        Poll::Pending
    }

    fn add_half(self: &Arc<Self>) -> Hold {
        self.lock().halves += 1;
        Hold(self.clone())
    }
}

/// One holder of a stream; the last one dropped releases it (the task closes it).
#[derive(Debug)]
struct Hold(Arc<StreamShared>);

impl Drop for Hold {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.halves = st.halves.saturating_sub(1);
        if st.halves == 0 && !st.released {
            st.released = true;
            st.recv.clear();
            self.0.poke(&mut st);
        }
    }
}

/// A stream through the relay: the raw byte stream (secret-stream ciphertext; the relay sees
/// nothing else) plus the Noise handshake our side ran. [`RelayConnection::encrypted`] gives
/// the plaintext stream. Dropping it without `shutdown` closes the stream.
#[derive(Debug)]
pub struct RelayConnection {
    hold: Hold,
    handshake: HandshakeResult,
    remote_address: SocketAddrV4,
}

/// The reading half of a [`RelayConnection`].
#[derive(Debug)]
pub struct RelayReadHalf {
    hold: Hold,
}

/// The writing half of a [`RelayConnection`].
#[derive(Debug)]
pub struct RelayWriteHalf {
    hold: Hold,
}

impl RelayConnection {
    pub(crate) fn new(
        shared: &Arc<StreamShared>,
        handshake: HandshakeResult,
        remote_address: SocketAddrV4,
    ) -> Self {
        RelayConnection { hold: shared.add_half(), handshake, remote_address }
    }

    /// The Noise IK result (keys for secret-stream, both static keys, the handshake hash).
    pub fn handshake(&self) -> &HandshakeResult {
        &self.handshake
    }

    /// The peer's static public key (checked by Noise IK).
    pub fn remote_public_key(&self) -> [u8; 32] {
        self.handshake.remote_public_key
    }

    /// Our static public key on this stream.
    pub fn public_key(&self) -> [u8; 32] {
        self.handshake.public_key
    }

    /// Whether we dialled.
    pub fn is_initiator(&self) -> bool {
        self.handshake.is_initiator
    }

    /// The peer's address as the relay sees it.
    pub fn remote_address(&self) -> SocketAddrV4 {
        self.remote_address
    }

    /// The relay-protocol stream id.
    pub fn stream_id(&self) -> u32 {
        self.hold.0.id
    }

    /// The plaintext stream (secret-stream with hyperdht's keep-alive), as
    /// [`crate::dht::Connection::encrypted`].
    pub fn encrypted(self) -> EncryptedStream<RelayConnection> {
        let handshake = self.handshake.clone();
        EncryptedStream::new(self, handshake)
    }

    /// Resolves once the stream closed (both sides ended, or it failed).
    pub async fn closed(&self) {
        let shared = self.hold.0.clone();
        std::future::poll_fn(move |cx| shared.poll_closed(cx)).await
    }

    /// Separate read and write halves (e.g. for the replicator); dropping both closes it.
    pub fn into_split(self) -> (RelayReadHalf, RelayWriteHalf) {
        let shared = &self.hold.0;
        (RelayReadHalf { hold: shared.add_half() }, RelayWriteHalf { hold: shared.add_half() })
    }
}

impl AsyncRead for RelayConnection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.hold.0.poll_read(cx, buf)
    }
}

impl AsyncWrite for RelayConnection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.hold.0.poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Ends our side (`end` after everything written); reading goes on.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.hold.0.shutdown())
    }
}

impl AsyncRead for RelayReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.hold.0.poll_read(cx, buf)
    }
}

impl AsyncWrite for RelayWriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.hold.0.poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.hold.0.shutdown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn handshake() -> HandshakeResult {
        HandshakeResult {
            is_initiator: true,
            tx: [1; 32],
            rx: [2; 32],
            hash: [3; 64],
            public_key: [4; 32],
            remote_public_key: [5; 32],
        }
    }

    fn setup() -> (Arc<StreamShared>, RelayConnection, mpsc::UnboundedReceiver<Cmd>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = StreamShared::new(7, tx);
        let conn = RelayConnection::new(&shared, handshake(), "127.0.0.1:9".parse().unwrap());
        (shared, conn, rx)
    }

    fn pokes(rx: &mut mpsc::UnboundedReceiver<Cmd>) -> usize {
        let mut n = 0;
        while let Ok(cmd) = rx.try_recv() {
            assert!(matches!(cmd, Cmd::Poke(7)));
            n += 1;
        }
        n
    }

    #[tokio::test]
    async fn reads_count_as_consumed_and_poke_once() {
        let (shared, mut conn, mut rx) = setup();
        shared.push(vec![1; 100]);
        shared.push(vec![2; 50]);
        let mut buf = [0u8; 120];
        assert_eq!(conn.read(&mut buf).await.unwrap(), 120);
        assert_eq!(&buf[..100], &[1; 100][..]);
        assert_eq!(&buf[100..], &[2; 20][..]);
        let mut rest = [0u8; 64];
        assert_eq!(conn.read(&mut rest).await.unwrap(), 30);
        assert_eq!(pokes(&mut rx), 1, "one poke until the task ran");
        let s = shared.service(|_| 0);
        assert_eq!((s.consumed, s.end, s.released), (150, false, false));
        assert_eq!(shared.service(|_| 0).consumed, 0);
    }

    #[tokio::test]
    async fn eof_after_remote_end_and_errors_after_a_failed_close() {
        let (shared, mut conn, _rx) = setup();
        shared.push(vec![9; 10]);
        shared.remote_end();
        let mut all = Vec::new();
        conn.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, vec![9; 10]);

        let (shared, mut conn, _rx) = setup();
        shared.close("ECONNRESET");
        let err = conn.read(&mut [0u8; 4]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(conn.write(b"x").await.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        conn.closed().await;
    }

    #[tokio::test]
    async fn writes_stop_at_the_high_water_mark_until_the_task_takes_bytes() {
        let (shared, mut conn, _rx) = setup();
        let big = vec![7u8; SEND_HIGH_WATER + 1000];
        let n = conn.write(&big).await.unwrap();
        assert_eq!(n, SEND_HIGH_WATER);
        // Full: the next write waits.
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut fut = Box::pin(conn.write(&big[n..]));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        drop(fut);
        // The task takes 1000 bytes (credit allowed no more): room again.
        let mut taken = 0;
        shared.service(|b| {
            taken = b.len().min(1000);
            taken
        });
        assert_eq!(taken, 1000);
        assert_eq!(conn.write(&big[n..]).await.unwrap(), 1000);
        // `end` waits until every buffered byte went out.
        conn.shutdown().await.unwrap();
        assert!(!shared.service(|_| 0).end);
        assert!(shared.has_pending_send());
        let out = shared.service(|b| b.len());
        assert!(out.end);
        assert!(!shared.has_pending_send());
        assert!(!shared.service(|b| b.len()).end, "end is sent once");
    }

    #[tokio::test]
    async fn dropping_every_half_releases_the_stream() {
        let (shared, conn, mut rx) = setup();
        let (r, w) = conn.into_split();
        drop(r);
        assert_eq!(pokes(&mut rx), 0);
        drop(w);
        assert_eq!(pokes(&mut rx), 1);
        // Bytes that still arrive count as consumed at once (credit keeps flowing).
        shared.push(vec![0; 500]);
        let out = shared.service(|_| panic!("nothing to write"));
        assert!(out.released);
        assert_eq!(out.consumed, 500);
    }
}
