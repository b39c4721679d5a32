//! The plaintext side of a HyperDHT connection: @hyperswarm/secret-stream over the raw byte
//! stream, keyed by the Noise IK handshake the connection flow already ran (JS hyperdht hands
//! its `NoiseSecretStream` the same `{tx, rx, hash, publicKey, remotePublicKey}`).
//!
//! [`EncryptedStream`] wraps any tokio `AsyncRead + AsyncWrite` transport (a
//! [`Connection`](super::Connection) in the driver, an in-memory pipe in tests). No task of its
//! own: reading, writing and the keep-alive timer all run inside the caller's polls.
//!
//! - Writes are encrypted straight into the secret stream's outgoing buffer and written from
//!   there (one copy: plaintext → ciphertext); a write is refused (`Pending`) while more than
//!   [`WRITE_HIGH_WATER`] ciphertext bytes wait for the transport, so the transport's
//!   backpressure reaches the writer.
//! - Reads pull transport bytes only when no decrypted message is waiting, so a slow reader
//!   stops reading the transport (and, over UDX, the receive window closes).
//! - Keep-alive: an empty message after [`KEEP_ALIVE_MS`] without sending, as hyperdht's
//!   `connectionKeepAlive`; the timer is armed by `poll_read` (a reader is normally always
//!   waiting) and checked by every write.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyperwasm::noise::HandshakeResult;
use hyperwasm::secret_stream::{SecretStream, SecretStreamError, SecretStreamEvent, SecretStreamOptions};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// hyperdht's `connectionKeepAlive`: an empty message after this long without sending.
pub const KEEP_ALIVE_MS: u64 = 5000;
/// Largest plaintext one `poll_write` encrypts into one message.
pub const MAX_WRITE: usize = 64 * 1024;
/// Ciphertext waiting for the transport above which writes wait.
pub const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Bytes read from the transport at once.
const READ_CHUNK: usize = 64 * 1024;

/// Options of an [`EncryptedStream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncryptedOptions {
    /// Keep-alive interval in ms (`None`: no keep-alives). hyperdht: 5000.
    pub keep_alive_ms: Option<u64>,
    /// Fail after this long without receiving anything (`None`: never, hyperdht's default).
    pub timeout_ms: Option<u64>,
}

impl Default for EncryptedOptions {
    fn default() -> Self {
        EncryptedOptions { keep_alive_ms: Some(KEEP_ALIVE_MS), timeout_ms: None }
    }
}

/// Secret-stream over a raw transport: AsyncRead/AsyncWrite of plaintext.
pub struct EncryptedStream<T> {
    raw: T,
    secret: SecretStream,
    origin: Instant,
    timer: Pin<Box<Sleep>>,
    /// The deadline `timer` is set to (ms from `origin`).
    timer_at: Option<u64>,
    rx_buf: Box<[u8]>,
    /// Decrypted messages not yet read, the first one from `plain_pos`.
    plain: VecDeque<Vec<u8>>,
    plain_pos: usize,
    /// Ciphertext being written, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    read_eof: bool,
    write_closed: bool,
    /// The task whose write (or flush/shutdown) last waited on the transport. A read also
    /// writes (header, keep-alives) and so may take the transport's write-waker slot; it then
    /// hands the write interest back by waking this task.
    write_waker: Option<Waker>,
    remote_public_key: [u8; 32],
    handshake_hash: [u8; 64],
    connected: bool,
}

impl<T> std::fmt::Debug for EncryptedStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedStream")
            .field("remote_public_key", &hex::encode(self.remote_public_key))
            .field("connected", &self.connected)
            .field("read_eof", &self.read_eof)
            .field("write_closed", &self.write_closed)
            .finish_non_exhaustive()
    }
}

/// A secret-stream failure as an `io::Error` (the stream stays failed).
fn io_error(e: SecretStreamError) -> io::Error {
    let kind = match e {
        SecretStreamError::Timeout => io::ErrorKind::TimedOut,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e)
}

impl<T: AsyncRead + AsyncWrite + Unpin> EncryptedStream<T> {
    /// Starts secret-stream on `raw` with the keys of `handshake` and hyperdht's defaults; our
    /// header is written with the first poll.
    pub fn new(raw: T, handshake: HandshakeResult) -> Self {
        Self::with_options(raw, handshake, EncryptedOptions::default())
    }

    /// [`EncryptedStream::new`] with explicit timers.
    pub fn with_options(raw: T, handshake: HandshakeResult, opts: EncryptedOptions) -> Self {
        let remote_public_key = handshake.remote_public_key;
        let handshake_hash = handshake.hash;
        let ss_opts = SecretStreamOptions {
            keep_alive_ms: opts.keep_alive_ms,
            timeout_ms: opts.timeout_ms,
            pattern: None,
        };
        let mut secret = SecretStream::from_handshake(handshake, ss_opts);
        secret.start(0);
        let origin = Instant::now();
        EncryptedStream {
            raw,
            secret,
            origin,
            timer: Box::pin(tokio::time::sleep_until(origin)),
            timer_at: None,
            rx_buf: vec![0; READ_CHUNK].into_boxed_slice(),
            plain: VecDeque::new(),
            plain_pos: 0,
            out: Vec::new(),
            out_pos: 0,
            read_eof: false,
            write_closed: false,
            write_waker: None,
            remote_public_key,
            handshake_hash,
            connected: false,
        }
    }

    /// The remote's static public key (from the handshake).
    pub fn remote_public_key(&self) -> [u8; 32] {
        self.remote_public_key
    }

    /// The Noise handshake hash.
    pub fn handshake_hash(&self) -> [u8; 64] {
        self.handshake_hash
    }

    /// Whether the remote's header arrived (JS `'connect'`).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The transport.
    pub fn get_ref(&self) -> &T {
        &self.raw
    }

    /// The transport, mutably (writing to it directly breaks the stream).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.raw
    }

    /// Drops the secret stream and returns the transport.
    pub fn into_inner(self) -> T {
        self.raw
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Ciphertext queued but not yet taken by the transport.
    fn pending_out(&self) -> usize {
        self.out.len() - self.out_pos + self.secret.outgoing().len()
    }

    /// Writes queued ciphertext until none is left (`Ready`) or the transport is full.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.out_pos >= self.out.len() {
                self.secret.swap_outgoing(&mut self.out);
                self.out_pos = 0;
                if self.out.is_empty() {
                    return Poll::Ready(Ok(()));
                }
            }
            match Pin::new(&mut self.raw).poll_write(cx, &self.out[self.out_pos..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.out_pos += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Runs due secret-stream timers. With `arm`, the sleep is polled so the task wakes at the
    /// next deadline.
    fn poll_timers(&mut self, cx: &mut Context<'_>, arm: bool) -> io::Result<()> {
        loop {
            let Some(at) = self.secret.poll_timeout() else {
                self.timer_at = None;
                return Ok(());
            };
            let now = self.now_ms();
            if now >= at {
                self.secret.handle_timeout(now).map_err(io_error)?;
                if self.secret.poll_timeout() == Some(at) {
                    // Nothing moved the deadline: do not spin.
                    return Ok(());
                }
                continue;
            }
            if !arm {
                return Ok(());
            }
            if self.timer_at != Some(at) {
                self.timer_at = Some(at);
                self.timer.as_mut().reset(self.origin + Duration::from_millis(at));
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
        }
    }

    /// Remembers the task whose write waits for the transport (see `write_waker`).
    fn wait_writable(&mut self, cx: &Context<'_>) {
        match &self.write_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.write_waker = Some(cx.waker().clone()),
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.secret.poll_event() {
            match event {
                SecretStreamEvent::Connected { .. } => self.connected = true,
                SecretStreamEvent::Message(m) => self.plain.push_back(m),
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for EncryptedStream<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            this.poll_timers(cx, true)?;
            // Header and keep-alives go out even when the application only reads.
            if !this.write_closed {
                let out = this.poll_write_out(cx);
                if let Some(w) = this.write_waker.take() {
                    w.wake();
                }
                if let Poll::Ready(Err(e)) = out {
                    return Poll::Ready(Err(e));
                }
            }
            if let Some(front) = this.plain.front() {
                let rest = &front[this.plain_pos..];
                let n = rest.len().min(buf.remaining());
                buf.put_slice(&rest[..n]);
                this.plain_pos += n;
                if this.plain_pos >= front.len() {
                    this.plain.pop_front();
                    this.plain_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.read_eof {
                return Poll::Ready(Ok(()));
            }
            let mut raw_buf = ReadBuf::new(&mut this.rx_buf);
            match Pin::new(&mut this.raw).poll_read(cx, &mut raw_buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let n = raw_buf.filled().len();
                    if n == 0 {
                        this.read_eof = true;
                        continue;
                    }
                    let now = this.now_ms();
                    this.secret.on_bytes(&this.rx_buf[..n], now).map_err(io_error)?;
                    this.drain_events();
                }
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for EncryptedStream<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        this.poll_timers(cx, false)?;
        if let Poll::Ready(Err(e)) = this.poll_write_out(cx) {
            return Poll::Ready(Err(e));
        }
        if this.pending_out() >= WRITE_HIGH_WATER {
            // The transport returned Pending above and will wake us (or a read will).
            this.wait_writable(cx);
            return Poll::Pending;
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = data.len().min(MAX_WRITE);
        this.secret.send(&data[..n]).map_err(io_error)?;
        if let Poll::Ready(Err(e)) = this.poll_write_out(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let out = match this.poll_write_out(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.raw).poll_flush(cx),
            other => other,
        };
        if out.is_pending() {
            this.wait_writable(cx);
        }
        out
    }

    /// Flushes, then half-closes the transport (UDX: END); reading goes on to the remote's end.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_closed {
            match this.poll_write_out(cx) {
                Poll::Ready(Ok(())) => this.write_closed = true,
                Poll::Pending => {
                    this.wait_writable(cx);
                    return Poll::Pending;
                }
                other => return other,
            }
        }
        Pin::new(&mut this.raw).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperwasm::crypto::KeyPair;
    use hyperwasm::noise::{Handshake, Pattern};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Runs an IK handshake in memory (as hyperdht's noise-wrap does over the DHT).
    fn ik_pair() -> (HandshakeResult, HandshakeResult) {
        let a = KeyPair::from_seed(&[1; 32]);
        let b = KeyPair::from_seed(&[2; 32]);
        let mut hi = Handshake::new(Pattern::IK { remote_static: b.public_key() }, true, &a, &[]);
        let mut hr = Handshake::new(Pattern::ik_responder(), false, &b, &[]);
        let m1 = hi.send(&[]).unwrap();
        hr.recv(&m1).unwrap();
        let m2 = hr.send(&[]).unwrap();
        hi.recv(&m2).unwrap();
        (hi.finish().unwrap(), hr.finish().unwrap())
    }

    #[tokio::test]
    async fn both_directions_with_half_close() {
        let (ra, rb) = ik_pair();
        let (ta, tb) = tokio::io::duplex(8 * 1024);
        let mut a = EncryptedStream::new(ta, ra.clone());
        let mut b = EncryptedStream::new(tb, rb);
        assert_eq!(a.remote_public_key(), KeyPair::from_seed(&[2; 32]).public_key());
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            a.write_all(&sent).await.unwrap();
            a.shutdown().await.unwrap();
            let mut back = Vec::new();
            a.read_to_end(&mut back).await.unwrap();
            back
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert!(b.is_connected());
        assert_eq!(got, data);
        b.write_all(b"thanks").await.unwrap();
        b.shutdown().await.unwrap();
        assert_eq!(writer.await.unwrap(), b"thanks");
    }

    /// The halves of one stream in two tasks, the transport full: the reader's polls also
    /// write (header, keep-alives) and so take the transport's single write-waker slot from
    /// the writer. The writer must still be woken (it used to wait forever with bytes unsent).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_split_writer_is_not_starved_by_its_reader() {
        const N: usize = 4_000_000;
        let (ra, rb) = ik_pair();
        let (ta, tb) = tokio::io::duplex(16 * 1024);
        let a = EncryptedStream::new(ta, ra);
        let mut b = EncryptedStream::new(tb, rb);
        // b echoes everything and ends after a ended.
        let echo = tokio::spawn(async move {
            let mut buf = vec![0; 32 * 1024];
            loop {
                let n = b.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                b.write_all(&buf[..n]).await.unwrap();
            }
            b.shutdown().await.unwrap();
        });
        let (mut r, mut w) = tokio::io::split(a);
        let data: Vec<u8> = (0..N).map(|i| (i * 13 + i / 7) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            for chunk in sent.chunks(100_000) {
                w.write_all(chunk).await.unwrap();
            }
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), r.read_to_end(&mut got)).await;
        assert!(read.is_ok(), "stalled after {} of {N} echoed bytes", got.len());
        writer.await.unwrap();
        echo.await.unwrap();
        assert!(got == data);
    }

    #[tokio::test]
    async fn tampered_ciphertext_fails_the_reader() {
        let (ra, rb) = ik_pair();
        let (ta, mut tb) = tokio::io::duplex(64 * 1024);
        let mut a = EncryptedStream::new(ta, ra);
        a.write_all(b"hello world").await.unwrap();
        a.flush().await.unwrap();
        let mut wire = vec![0; 3 + 56 + 3 + 11 + 17];
        tb.read_exact(&mut wire).await.unwrap();
        let last = wire.len() - 1;
        wire[last] ^= 1;
        let (tc, mut td) = tokio::io::duplex(64 * 1024);
        td.write_all(&wire).await.unwrap();
        let mut b = EncryptedStream::new(tc, rb);
        let mut buf = [0; 64];
        let err = b.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alives_flow_while_idle() {
        let (ra, _rb) = ik_pair();
        let (ta, mut tb) = tokio::io::duplex(64 * 1024);
        let mut a = EncryptedStream::new(ta, ra);
        let reader = tokio::spawn(async move {
            let mut buf = [0; 16];
            let _ = a.read(&mut buf).await;
        });
        // Header (3 + 56), then one empty message (3 + 17) per 5 s.
        let mut header = vec![0; 59];
        tb.read_exact(&mut header).await.unwrap();
        for _ in 0..2 {
            let t0 = Instant::now();
            let mut ka = [0; 20];
            tb.read_exact(&mut ka).await.unwrap();
            assert_eq!(&ka[..3], &[17, 0, 0]);
            let waited = t0.elapsed().as_millis();
            assert!((4900..=5100).contains(&waited), "{waited}");
        }
        reader.abort();
    }
}
