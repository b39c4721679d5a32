//! A browser `WebSocket` as a byte stream: futures-io [`AsyncRead`] / [`AsyncWrite`] halves
//! a replication connection runs over (the other end pipes the bytes to a peer's TCP
//! stream; message boundaries carry no meaning).
//!
//! - **Reading** drains the binary messages `onmessage` queued, in order, across message
//!   boundaries. Text messages are a protocol violation (the stream fails).
//! - **Writing** hands each buffer to `WebSocket.send` (the browser copies it). While more
//!   than [`HIGH_WATER_BYTES`] are still unsent (`bufferedAmount`), a write waits, polling
//!   every [`DRAIN_POLL_MS`] (the API has no "drained" event).
//! - **Ending**: a clean close by the remote (code 1000, or 1005 "no status") reads as end of
//!   stream (later writes are discarded); an error or an abnormal close fails reads and
//!   writes with an `io::Error`. After [`WsControl::close`] (our side ends it) reads see the
//!   end of the stream and writes are discarded, so the connection on top winds down
//!   without an error.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::channel::oneshot;
use futures::future::{select, Either};
use futures::io::{AsyncRead, AsyncWrite};
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::clock::{sleep, Sleep};

/// Unsent bytes above which writes wait.
pub const HIGH_WATER_BYTES: u32 = 4 << 20;
/// How often a waiting write re-checks `bufferedAmount`.
pub const DRAIN_POLL_MS: u64 = 5;
/// Largest buffer handed to one `send` (bigger writes are split).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Default time allowed for the WebSocket to open.
pub const DEFAULT_OPEN_TIMEOUT_MS: u64 = 10_000;

/// Why [`connect`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The URL was rejected by the `WebSocket` constructor (bad scheme, syntax, port).
    BadUrl(String),
    /// The connection failed or was closed before it opened.
    Failed {
        /// The URL dialled.
        url: String,
        /// The close code the browser reported (1006 when it tells nothing more).
        code: u16,
    },
    /// No answer within the timeout.
    Timeout {
        /// The URL dialled.
        url: String,
        /// The timeout, in milliseconds.
        ms: u64,
    },
}

impl ConnectError {
    /// A stable code for JS `err.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::BadUrl(_) => "BAD_ARGUMENT",
            ConnectError::Failed { .. } => "WEBSOCKET_FAILED",
            ConnectError::Timeout { .. } => "WEBSOCKET_TIMEOUT",
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::BadUrl(e) => write!(f, "invalid WebSocket URL: {e}"),
            ConnectError::Failed { url, code } => {
                write!(f, "WebSocket to {url} failed to open (close code {code})")
            }
            ConnectError::Timeout { url, ms } => write!(f, "WebSocket to {url} did not open within {ms} ms"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// How the stream ended.
#[derive(Debug, Clone)]
enum End {
    /// We closed it ([`WsControl::close`]).
    Local,
    /// The remote closed it cleanly.
    Clean,
    /// Error or abnormal close.
    Failed(String),
}

#[derive(Default)]
struct State {
    /// Received messages not yet read, the first possibly partly read.
    queue: VecDeque<Vec<u8>>,
    /// Read offset into `queue[0]`.
    offset: usize,
    end: Option<End>,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
    opened: Option<oneshot::Sender<Result<(), u16>>>,
}

impl State {
    fn finish(&mut self, end: End) {
        if self.end.is_none() {
            self.end = Some(end);
        }
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

/// Transport byte counters, readable while the connection runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes received.
    pub bytes_in: Cell<u64>,
    /// Bytes handed to `send`.
    pub bytes_out: Cell<u64>,
}

/// The socket, its handlers and its state, shared by the halves and the control handle.
struct Conn {
    ws: WebSocket,
    state: Rc<RefCell<State>>,
    counters: Rc<Counters>,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut()>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Conn {
    fn close(&self) {
        self.state.borrow_mut().finish(End::Local);
        let _ = self.ws.close_with_code_and_reason(1000, "closed");
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Detach the handlers before their closures are freed, then end the socket.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onerror(None);
        self.ws.set_onclose(None);
        let state = self.ws.ready_state();
        if state == WebSocket::CONNECTING || state == WebSocket::OPEN {
            let _ = self.ws.close_with_code_and_reason(1000, "closed");
        }
    }
}

/// Reading half of a WebSocket byte stream.
pub struct WsReader {
    conn: Rc<Conn>,
}

/// Writing half of a WebSocket byte stream.
pub struct WsWriter {
    conn: Rc<Conn>,
    /// Pending `bufferedAmount` re-check.
    poll: Option<Sleep>,
}

/// Ends the stream from outside the connection and reads its byte counters.
#[derive(Clone)]
pub struct WsControl {
    conn: Rc<Conn>,
}

impl std::fmt::Debug for WsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsReader").field("url", &self.conn.ws.url()).finish()
    }
}

impl std::fmt::Debug for WsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsWriter").field("url", &self.conn.ws.url()).finish()
    }
}

impl std::fmt::Debug for WsControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsControl").field("url", &self.conn.ws.url()).finish()
    }
}

impl WsControl {
    /// Ends the stream from our side: reads return end of stream, writes are discarded,
    /// the socket closes with code 1000.
    pub fn close(&self) {
        self.conn.close();
    }

    /// Bytes in and out so far.
    pub fn counters(&self) -> Rc<Counters> {
        self.conn.counters.clone()
    }

    /// Unsent bytes (`bufferedAmount`).
    pub fn buffered(&self) -> u32 {
        self.conn.ws.buffered_amount()
    }
}

/// Opens a WebSocket to `url` (binary frames) and waits up to `timeout_ms` for it to open.
pub async fn connect(url: &str, timeout_ms: u64) -> Result<(WsReader, WsWriter, WsControl), ConnectError> {
    let ws = WebSocket::new(url).map_err(|e| ConnectError::BadUrl(js_message(&e)))?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let (opened_tx, opened_rx) = oneshot::channel();
    let state = Rc::new(RefCell::new(State { opened: Some(opened_tx), ..State::default() }));
    let counters = Rc::new(Counters::default());

    let on_open = {
        let state = state.clone();
        Closure::<dyn FnMut()>::new(move || {
            if let Some(tx) = state.borrow_mut().opened.take() {
                let _ = tx.send(Ok(()));
            }
        })
    };
    let on_message = {
        let state = state.clone();
        let counters = counters.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let mut s = state.borrow_mut();
            if s.end.is_some() {
                return;
            }
            match ev.data().dyn_into::<ArrayBuffer>() {
                Ok(buf) => {
                    let bytes = Uint8Array::new(&buf).to_vec();
                    if bytes.is_empty() {
                        return;
                    }
                    counters.bytes_in.set(counters.bytes_in.get() + bytes.len() as u64);
                    s.queue.push_back(bytes);
                    if let Some(w) = s.read_waker.take() {
                        w.wake();
                    }
                }
                Err(_) => s.finish(End::Failed("received a text message on a binary stream".into())),
            }
        })
    };
    let on_error = {
        let state = state.clone();
        Closure::<dyn FnMut()>::new(move || {
            let mut s = state.borrow_mut();
            if let Some(tx) = s.opened.take() {
                let _ = tx.send(Err(1006));
            }
            s.finish(End::Failed("WebSocket error".into()));
        })
    };
    let on_close = {
        let state = state.clone();
        Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
            let mut s = state.borrow_mut();
            let code = ev.code();
            if let Some(tx) = s.opened.take() {
                let _ = tx.send(Err(code));
            }
            let end = if ev.was_clean() && (code == 1000 || code == 1005) {
                End::Clean
            } else {
                End::Failed(
                    format!("WebSocket closed with code {code} {}", ev.reason()).trim_end().to_string(),
                )
            };
            s.finish(end);
        })
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let conn = Rc::new(Conn {
        ws,
        state,
        counters,
        _on_open: on_open,
        _on_message: on_message,
        _on_error: on_error,
        _on_close: on_close,
    });

    match select(opened_rx, sleep(timeout_ms)).await {
        Either::Left((Ok(Ok(())), _)) => {}
        Either::Left((Ok(Err(code)), _)) => return Err(ConnectError::Failed { url: url.to_string(), code }),
        // The sender lives in the handlers, which `conn` keeps: cannot happen.
        Either::Left((Err(_), _)) => return Err(ConnectError::Failed { url: url.to_string(), code: 1006 }),
        Either::Right(_) => return Err(ConnectError::Timeout { url: url.to_string(), ms: timeout_ms }),
    }
    Ok((WsReader { conn: conn.clone() }, WsWriter { conn: conn.clone(), poll: None }, WsControl { conn }))
}

/// The message of a JS exception, for error texts.
fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

fn failed(kind: io::ErrorKind, reason: &str) -> io::Error {
    io::Error::new(kind, reason.to_string())
}

impl AsyncRead for WsReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut s = self.conn.state.borrow_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if matches!(s.end, Some(End::Local)) {
            return Poll::Ready(Ok(0));
        }
        let mut n = 0;
        while n < buf.len() {
            let offset = s.offset;
            let Some(front) = s.queue.front() else { break };
            let take = (front.len() - offset).min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&front[offset..offset + take]);
            n += take;
            if offset + take == front.len() {
                s.queue.pop_front();
                s.offset = 0;
            } else {
                s.offset = offset + take;
            }
        }
        if n > 0 {
            return Poll::Ready(Ok(n));
        }
        match &s.end {
            Some(End::Local | End::Clean) => Poll::Ready(Ok(0)),
            Some(End::Failed(reason)) => Poll::Ready(Err(failed(io::ErrorKind::ConnectionReset, reason))),
            None => {
                s.read_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl WsWriter {
    /// Ready with `true` when the socket may take more bytes (at most `limit` unsent), with
    /// `false` when it was closed cleanly (by us or the remote: writes are discarded), with
    /// an error when it failed.
    fn poll_room(&mut self, cx: &mut Context<'_>, limit: u32) -> Poll<io::Result<bool>> {
        loop {
            match &self.conn.state.borrow().end {
                Some(End::Local | End::Clean) => return Poll::Ready(Ok(false)),
                Some(End::Failed(reason)) => {
                    return Poll::Ready(Err(failed(io::ErrorKind::BrokenPipe, reason)))
                }
                None => {}
            }
            if self.conn.ws.buffered_amount() <= limit {
                self.poll = None;
                return Poll::Ready(Ok(true));
            }
            let timer = self.poll.get_or_insert_with(|| sleep(DRAIN_POLL_MS));
            match Pin::new(timer).poll(cx) {
                Poll::Ready(()) => self.poll = None,
                Poll::Pending => {
                    // A close wakes us early.
                    self.conn.state.borrow_mut().write_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
    }
}

impl AsyncWrite for WsWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let open = match self.poll_room(cx, HIGH_WATER_BYTES) {
            Poll::Ready(Ok(open)) => open,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let n = buf.len().min(MAX_MESSAGE_BYTES);
        if !open || n == 0 {
            // Closed cleanly (by us, or the remote ended the stream): discard, so the
            // connection above winds down on the end of its input without an error.
            return Poll::Ready(Ok(buf.len()));
        }
        match self.conn.ws.send_with_u8_array(&buf[..n]) {
            Ok(()) => {
                let c = &self.conn.counters;
                c.bytes_out.set(c.bytes_out.get() + n as u64);
                Poll::Ready(Ok(n))
            }
            Err(e) => {
                let reason = js_message(&e);
                self.conn.state.borrow_mut().finish(End::Failed(reason.clone()));
                Poll::Ready(Err(failed(io::ErrorKind::BrokenPipe, &reason)))
            }
        }
    }

    /// The browser sends on its own; flushing only reports a failed socket.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.conn.state.borrow().end {
            Some(End::Failed(reason)) => Poll::Ready(Err(failed(io::ErrorKind::BrokenPipe, reason))),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// Waits until every byte left (`bufferedAmount` is 0), then closes with code 1000.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_room(cx, 0) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(_)) => {
                self.conn.close();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}
