//! A relay stream's *ciphertext* as futures-io halves, for hypercore replication over a
//! `RelayStream` (`core.replicate(stream)`): the replication connection runs secret-stream
//! itself from the stream's Noise IK result (`ConnectionOptions::handshake`), as JS
//! hypercore does on a hyperdht socket.
//!
//! Reading drains what the relay delivered and grants credit back as it goes; writing
//! queues ciphertext for the relay's credit (waiting above
//! [`WRITE_HIGH_WATER`](crate::relay_socket::WRITE_HIGH_WATER)); closing the writer ends
//! our half. [`PipeControl::close`] closes the stream (reads end, writes are discarded).

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use hyperwasm::noise::HandshakeResult;
use wasm_bindgen::JsValue;

use crate::error::bad_argument;
use crate::relay_socket::{flush, Driver, StreamCore, WRITE_HIGH_WATER};
use crate::websocket::Counters;

/// Reading half.
pub struct PipeReader {
    driver: Rc<Driver>,
    core: Rc<RefCell<StreamCore>>,
    counters: Rc<Counters>,
}

/// Writing half.
pub struct PipeWriter {
    driver: Rc<Driver>,
    core: Rc<RefCell<StreamCore>>,
    counters: Rc<Counters>,
}

/// Closes the stream from outside the connection.
#[derive(Clone)]
pub struct PipeControl {
    driver: Rc<Driver>,
    core: Rc<RefCell<StreamCore>>,
    counters: Rc<Counters>,
}

impl std::fmt::Debug for PipeControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeControl").field("stream", &self.core.borrow().id).finish()
    }
}

impl PipeControl {
    /// Closes the relay stream: reads see its end, writes are discarded.
    pub fn close(&self) {
        {
            let mut st = self.driver.st.borrow_mut();
            let mut s = self.core.borrow_mut();
            if s.closed.is_none() {
                let _ = st.client.stream_close(s.id);
                st.streams.remove(&s.id);
                s.closed = Some(String::new());
                s.wake();
            }
        }
        self.driver.pump();
    }

    /// Ciphertext bytes in and out so far.
    pub fn counters(&self) -> Rc<Counters> {
        self.counters.clone()
    }
}

/// The `RelayStream` JS object `target` as a ciphertext pipe and the handshake to run
/// secret-stream from. Fails with `BAD_ARGUMENT` for anything else, `INVALID_STATE` for a
/// stream that was already read or written.
pub fn take(target: &JsValue) -> Result<(PipeReader, PipeWriter, PipeControl, HandshakeResult), JsValue> {
    let handle = js_sys::Reflect::get(target, &JsValue::from_str("relayHandle"))
        .ok()
        .and_then(|h| h.as_f64())
        .ok_or_else(|| bad_argument("replicate takes a URL or a RelayStream"))?;
    let (driver, core) = crate::relay_stream::lookup_handle(handle as u32)
        .ok_or_else(|| bad_argument("the RelayStream is gone"))?;
    let handshake = core.borrow_mut().take_raw().map_err(|e| e.to_js())?;
    let counters = Rc::new(Counters::default());
    let reader = PipeReader { driver: driver.clone(), core: core.clone(), counters: counters.clone() };
    let writer = PipeWriter { driver: driver.clone(), core: core.clone(), counters: counters.clone() };
    Ok((reader, writer, PipeControl { driver, core, counters }, handshake))
}

fn broken(code: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, format!("relay stream failed: {code}"))
}

impl AsyncRead for PipeReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = {
            let mut st = this.driver.st.borrow_mut();
            let mut s = this.core.borrow_mut();
            let mut n = 0;
            while n < buf.len() {
                let Some(front) = s.raw_in.front_mut() else { break };
                let take = front.len().min(buf.len() - n);
                buf[n..n + take].copy_from_slice(&front[..take]);
                if take == front.len() {
                    s.raw_in.pop_front();
                } else {
                    front.drain(..take);
                }
                n += take;
            }
            if n == 0 {
                if let Some(e) = s.failure() {
                    return Poll::Ready(Err(broken(&e.code)));
                }
                if s.input_over() || buf.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                s.wakers.push(cx.waker().clone());
                return Poll::Pending;
            }
            s.raw_in_bytes -= n;
            flush(&mut st, &mut s);
            n
        };
        this.counters.bytes_in.set(this.counters.bytes_in.get() + n as u64);
        this.driver.pump();
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for PipeWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        {
            let mut st = this.driver.st.borrow_mut();
            let mut s = this.core.borrow_mut();
            if let Some(e) = s.failure() {
                return Poll::Ready(Err(broken(&e.code)));
            }
            if s.closed.is_some() || s.end_requested {
                // Closed cleanly: discard, so the connection winds down on its input's end.
                return Poll::Ready(Ok(buf.len()));
            }
            if s.raw_out.len() >= WRITE_HIGH_WATER {
                s.wakers.push(cx.waker().clone());
                return Poll::Pending;
            }
            s.raw_out.extend(buf);
            flush(&mut st, &mut s);
        }
        this.counters.bytes_out.set(this.counters.bytes_out.get() + buf.len() as u64);
        this.driver.pump();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.core.borrow().failure() {
            Some(e) => Poll::Ready(Err(broken(&e.code))),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.core.borrow_mut().end_requested = true;
        self.driver.flush_stream(&self.core);
        Poll::Ready(Ok(()))
    }
}
