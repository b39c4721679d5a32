//! The connection harness of the replication tests (`protocol_stream.rs`, `sparse_fetch.rs`):
//! a current-thread tokio runtime, a test clock, and two `CoreSet`s joined by an in-memory
//! duplex pipe, each end running `replicate`.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::oneshot;
use futures::FutureExt;
use hyperwasm::replicator::{replicate, Clock, ConnectionError, ConnectionOptions, ConnectionStats, CoreSet};
use hyperwasm::storage::memory::MemoryStorage;
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

pub type Set = CoreSet<MemoryStorage>;
pub type Outcome = Result<ConnectionStats, ConnectionError>;

/// Runs one test on a current-thread runtime (tasks need not be `Send`), failing after
/// `limit`.
pub fn run_for(limit: Duration, test: impl Future<Output = ()>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        tokio::time::timeout(limit, test).await.expect("test timed out");
    });
}

/// Bytes a pipe holds before its writer waits for the reader.
pub const PIPE_BYTES: usize = 64 << 10;

#[derive(Clone)]
pub struct TestClock(pub tokio::time::Instant);

impl Clock for TestClock {
    type Sleep = tokio::time::Sleep;

    fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }

    fn sleep(&self, ms: u64) -> Self::Sleep {
        tokio::time::sleep(Duration::from_millis(ms))
    }
}

/// What a [`Wire`] saw the connection read.
#[derive(Default)]
pub struct Tap {
    /// Bytes handed to the connection.
    pub consumed: u64,
    /// `consumed` at the last read that found nothing to read (the connection was idle,
    /// waiting for input, having processed everything before).
    pub idle_at: Option<u64>,
}

/// The read half a connection gets: ends (EOF) when its hang-up sender is dropped, and
/// records what was read.
pub struct Wire<R> {
    pub inner: R,
    pub hangup: Option<oneshot::Receiver<()>>,
    pub hung_up: bool,
    pub tap: Arc<Mutex<Tap>>,
}

impl<R: futures::io::AsyncRead + Unpin> futures::io::AsyncRead for Wire<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.hung_up {
            return Poll::Ready(Ok(0));
        }
        if let Some(rx) = self.hangup.as_mut() {
            if rx.poll_unpin(cx).is_ready() {
                self.hung_up = true;
                return Poll::Ready(Ok(0));
            }
        }
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let mut tap = self.tap.lock().unwrap();
        match &poll {
            Poll::Ready(Ok(n)) => tap.consumed += *n as u64,
            Poll::Pending => tap.idle_at = Some(tap.consumed),
            Poll::Ready(Err(_)) => {}
        }
        poll
    }
}

/// Runs `replicate` for `set` over one end of a pipe, in a local task.
pub fn spawn_end(
    set: &Set,
    io: DuplexStream,
    opts: ConnectionOptions,
    hangup: Option<oneshot::Receiver<()>>,
) -> (JoinHandle<Outcome>, Arc<Mutex<Tap>>) {
    let (reader, writer) = tokio::io::split(io);
    let tap = Arc::new(Mutex::new(Tap::default()));
    let reader = Wire { inner: reader.compat(), hangup, hung_up: false, tap: tap.clone() };
    let set = set.clone();
    let clock = TestClock(tokio::time::Instant::now());
    let task =
        tokio::task::spawn_local(
            async move { replicate(&set, reader, writer.compat_write(), clock, opts).await },
        );
    (task, tap)
}

/// A running connection between two sets; `a` dialled.
pub struct Conn {
    pub hangup: Option<oneshot::Sender<()>>,
    pub a: JoinHandle<Outcome>,
    pub b: JoinHandle<Outcome>,
}

impl Conn {
    /// `a` hangs up; both ends finish cleanly. Returns both ends' stats.
    pub async fn close(mut self) -> (ConnectionStats, ConnectionStats) {
        drop(self.hangup.take());
        let a = self.a.await.unwrap().expect("a ended with an error");
        let b = self.b.await.unwrap().expect("b ended with an error");
        (a, b)
    }
}

pub fn connect_with(a: &Set, a_opts: ConnectionOptions, b: &Set, b_opts: ConnectionOptions) -> Conn {
    assert!(a_opts.is_initiator && !b_opts.is_initiator);
    let (io_a, io_b) = tokio::io::duplex(PIPE_BYTES);
    let (tx, rx) = oneshot::channel();
    let (a, _) = spawn_end(a, io_a, a_opts, Some(rx));
    let (b, _) = spawn_end(b, io_b, b_opts, None);
    Conn { hangup: Some(tx), a, b }
}

pub fn connect(a: &Set, b: &Set) -> Conn {
    connect_with(a, ConnectionOptions::new(true), b, ConnectionOptions::new(false))
}
