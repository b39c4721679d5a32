//! The browser driver of a `hyperwasm-relay/1` session: one [`Driver`] moves bytes between
//! a browser `WebSocket` and the sans-IO [`hyperwasm::relay_protocol::RelayClient`], runs its
//! timers on `setTimeout`, reconnects a dropped socket with backoff (the state machine resumes
//! the session), and turns the machine's events into per-query, per-stream and per-server
//! state the JS classes (`RelayClient`, `RelayQuery`, `RelayStream`, `RelayServer`) await.
//!
//! Everything runs on the page's single thread: the state sits in one `RefCell`, futures are
//! `!Send`, and JS callbacks (firewall, `onconnection`) run in tasks of their own, never while
//! the state is borrowed. Borrow order: the driver's state, then a stream's core.
//!
//! Each stream carries secret-stream *ciphertext* over the relay. Its [`StreamCore`] starts
//! secret-stream (with the Noise result of the dial or the accept) at the first read, write or
//! end from JS, or hands the raw ciphertext pipe to hypercore replication instead
//! ([`crate::relay_stream`]), which runs its own secret-stream from the same handshake.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;
use std::rc::{Rc, Weak};
use std::task::Waker;

use futures::channel::oneshot;
use hyperwasm::hyperdht::messages::Peer;
use hyperwasm::noise::HandshakeResult;
use hyperwasm::relay_protocol::client::{QueryId, ServerId, StreamId};
use hyperwasm::relay_protocol::{ClientEvent, RelayClient, RelayClientConfig, RelayError};
use hyperwasm::secret_stream::{SecretStream, SecretStreamEvent, SecretStreamOptions};
use js_sys::{ArrayBuffer, Function, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::clock::{sleep, BrowserClock};
use crate::error::js_error;

/// Ciphertext queued for the relay (waiting for credit) above which `write()` waits.
pub const WRITE_HIGH_WATER: usize = 1 << 20;
/// Received bytes not yet read below which credit is granted back at once.
pub const READ_LOW_WATER: usize = 256 * 1024;
/// Largest plaintext message `write()` hands secret-stream (bigger writes are split).
pub const MAX_WRITE_CHUNK: usize = 64 * 1024;
/// First reconnect delay; it doubles per failed attempt up to [`MAX_BACKOFF_MS`].
pub const MIN_BACKOFF_MS: u64 = 250;
/// Longest reconnect delay.
pub const MAX_BACKOFF_MS: u64 = 5_000;

/// A failure as a code and a message, turned into a JS `Error` with `.code` when reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    pub code: String,
    pub message: String,
}

impl Fail {
    pub(crate) fn new(code: &str, message: impl Into<String>) -> Self {
        Fail { code: code.to_string(), message: message.into() }
    }

    pub(crate) fn relay(e: &RelayError) -> Self {
        Fail::new(e.code(), e.to_string())
    }

    pub(crate) fn to_js(&self) -> JsValue {
        js_error(&self.code, &format!("{}: {}", self.code, self.message))
    }
}

/// One reply of a query.
#[derive(Debug, Clone)]
pub(crate) enum QueryItem {
    Result { from: SocketAddrV4, peers: Vec<Peer> },
    Done { commits: u64 },
    Failed(Fail),
}

#[derive(Default)]
pub(crate) struct Query {
    pub items: VecDeque<QueryItem>,
    pub waker: Option<Waker>,
}

/// A server of this page on the relay's DHT node.
pub(crate) struct Server {
    pub listening: Option<oneshot::Sender<Result<Vec<SocketAddrV4>, Fail>>>,
    pub incoming: VecDeque<Rc<RefCell<StreamCore>>>,
    pub waker: Option<Waker>,
    /// Set once it stopped (`""` after `unlisten`).
    pub closed: Option<Fail>,
    pub unlistened: Vec<oneshot::Sender<()>>,
    pub firewall: Option<Function>,
    pub on_connection: Option<Function>,
}

/// What reads a stream's bytes.
pub(crate) enum Mode {
    /// Nothing yet: ciphertext is buffered.
    Idle,
    /// JS reads and writes plaintext through secret-stream.
    Secret(Box<SecretStream>),
    /// Hypercore replication reads and writes the ciphertext itself.
    Raw,
}

/// One stream's state, shared by the driver and the JS object.
pub(crate) struct StreamCore {
    pub id: StreamId,
    pub public_key: [u8; 32],
    pub remote_public_key: [u8; 32],
    pub remote_address: SocketAddrV4,
    pub handshake: Option<HandshakeResult>,
    pub mode: Mode,
    /// Ciphertext received, not yet read (Idle and Raw modes).
    pub raw_in: VecDeque<Vec<u8>>,
    pub raw_in_bytes: usize,
    /// Ciphertext received and not yet granted back as credit.
    pub unreported: u64,
    /// Ciphertext waiting for send credit.
    pub raw_out: VecDeque<u8>,
    /// Decrypted messages not yet read.
    pub plain_in: VecDeque<Vec<u8>>,
    pub plain_bytes: usize,
    /// Secret-stream exchanged headers with the remote.
    pub connected: bool,
    pub remote_ended: bool,
    pub end_requested: bool,
    pub end_sent: bool,
    /// Set once the stream is gone: `""` clean, else the code.
    pub closed: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<Fail>,
    pub wakers: Vec<Waker>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl StreamCore {
    fn new(
        id: StreamId,
        remote_public_key: [u8; 32],
        remote_address: SocketAddrV4,
        handshake: HandshakeResult,
    ) -> Self {
        StreamCore {
            id,
            public_key: handshake.public_key,
            remote_public_key,
            remote_address,
            handshake: Some(handshake),
            mode: Mode::Idle,
            raw_in: VecDeque::new(),
            raw_in_bytes: 0,
            unreported: 0,
            raw_out: VecDeque::new(),
            plain_in: VecDeque::new(),
            plain_bytes: 0,
            connected: false,
            remote_ended: false,
            end_requested: false,
            end_sent: false,
            closed: None,
            error: None,
            wakers: Vec::new(),
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    pub(crate) fn wake(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }

    /// The error a read or write reports now, if the stream failed.
    pub(crate) fn failure(&self) -> Option<Fail> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        match self.closed.as_deref() {
            Some("") | None => None,
            Some(code) => Some(Fail::new(code, "the relay stream closed")),
        }
    }

    /// Whether the remote's bytes are over (nothing more will arrive).
    pub(crate) fn input_over(&self) -> bool {
        self.remote_ended || self.closed.is_some()
    }

    /// Secret-stream's output moves to the send queue; its events to the read queue.
    fn drain_secret(&mut self) {
        let Mode::Secret(secret) = &mut self.mode else { return };
        let out = secret.take_outgoing();
        self.raw_out.extend(out);
        while let Some(event) = secret.poll_event() {
            match event {
                SecretStreamEvent::Connected { .. } => self.connected = true,
                SecretStreamEvent::Message(m) => {
                    self.plain_bytes += m.len();
                    self.plain_in.push_back(m);
                }
            }
        }
        if let Some(e) = secret.error() {
            if self.error.is_none() {
                self.error = Some(Fail::new(e.code(), e.to_string()));
            }
        }
    }

    /// Feeds ciphertext to secret-stream.
    fn feed_secret(&mut self, bytes: &[u8]) {
        if let Mode::Secret(secret) = &mut self.mode {
            let _ = secret.on_bytes(bytes, BrowserClock::now());
        }
        self.drain_secret();
    }

    /// Starts secret-stream over the buffered ciphertext (once; not after replication took
    /// the stream).
    pub(crate) fn start_secret(&mut self) -> Result<(), Fail> {
        match self.mode {
            Mode::Secret(_) => return Ok(()),
            Mode::Raw => return Err(Fail::new("INVALID_STATE", "the stream is replicating a hypercore")),
            Mode::Idle => {}
        }
        let Some(handshake) = self.handshake.take() else {
            return Err(Fail::new("INVALID_STATE", "the stream has no handshake"));
        };
        let mut secret = SecretStream::from_handshake(handshake, SecretStreamOptions::default());
        secret.start(BrowserClock::now());
        self.mode = Mode::Secret(Box::new(secret));
        let buffered: Vec<Vec<u8>> = self.raw_in.drain(..).collect();
        self.raw_in_bytes = 0;
        self.drain_secret();
        for bytes in buffered {
            self.feed_secret(&bytes);
        }
        Ok(())
    }

    /// Hands the ciphertext pipe to replication: returns the handshake to start from.
    pub(crate) fn take_raw(&mut self) -> Result<HandshakeResult, Fail> {
        if !matches!(self.mode, Mode::Idle) {
            return Err(Fail::new("INVALID_STATE", "the stream was already read or written"));
        }
        let handshake = self.handshake.take().ok_or_else(|| Fail::new("INVALID_STATE", "no handshake"))?;
        self.mode = Mode::Raw;
        Ok(handshake)
    }

    /// Bytes received and not read yet.
    fn buffered(&self) -> usize {
        self.raw_in_bytes + self.plain_bytes
    }
}

/// The driver's state.
pub(crate) struct State {
    pub client: RelayClient,
    pub url: String,
    socket: Option<Socket>,
    generation: u32,
    pub closing: bool,
    ever_ready: bool,
    attempts: u32,
    reconnecting: bool,
    timer_at: Option<u64>,
    ready: Vec<oneshot::Sender<Result<(), Fail>>>,
    pub queries: HashMap<QueryId, Query>,
    pub dials: HashMap<StreamId, oneshot::Sender<Result<Rc<RefCell<StreamCore>>, Fail>>>,
    pub streams: HashMap<StreamId, Rc<RefCell<StreamCore>>>,
    pub servers: HashMap<ServerId, Server>,
    /// Sessions started (1 + expiries survived).
    pub sessions: u32,
    /// Reconnects that resumed the session.
    pub resumes: u32,
    /// WebSockets opened.
    pub sockets: u32,
    /// The last session error the relay sent.
    pub last_error: Option<Fail>,
    /// An event asked for the socket to be dropped (idle timeout, channel closed).
    drop_requested: bool,
}

/// A WebSocket with its handlers; dropping it detaches them and closes the socket.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let state = self.ws.ready_state();
        if state == WebSocket::CONNECTING || state == WebSocket::OPEN {
            let _ = self.ws.close_with_code_and_reason(1000, "closed");
        }
    }
}

/// One relay session in the page (see the module docs).
pub(crate) struct Driver {
    pub st: RefCell<State>,
    me: RefCell<Weak<Driver>>,
    pumping: Cell<bool>,
}

impl Driver {
    /// A driver for `url`; call [`Driver::start`] to open the first socket.
    pub(crate) fn new(url: String) -> Rc<Driver> {
        let st = State {
            client: RelayClient::new(RelayClientConfig::default(), BrowserClock::now()),
            url,
            socket: None,
            generation: 0,
            closing: false,
            ever_ready: false,
            attempts: 0,
            reconnecting: false,
            timer_at: None,
            ready: Vec::new(),
            queries: HashMap::new(),
            dials: HashMap::new(),
            streams: HashMap::new(),
            servers: HashMap::new(),
            sessions: 0,
            resumes: 0,
            sockets: 0,
            last_error: None,
            drop_requested: false,
        };
        let driver = Rc::new(Driver {
            st: RefCell::new(st),
            me: RefCell::new(Weak::new()),
            pumping: Cell::new(false),
        });
        *driver.me.borrow_mut() = Rc::downgrade(&driver);
        driver
    }

    fn rc(&self) -> Option<Rc<Driver>> {
        self.me.borrow().upgrade()
    }

    /// Opens the first socket and resolves once the relay welcomed the session.
    pub(crate) async fn start(&self) -> Result<(), Fail> {
        let (tx, rx) = oneshot::channel();
        self.st.borrow_mut().ready.push(tx);
        self.open_socket()?;
        rx.await.unwrap_or_else(|_| Err(Fail::new("DESTROYED", "the relay client closed")))
    }

    fn open_socket(&self) -> Result<(), Fail> {
        let Some(me) = self.rc() else { return Ok(()) };
        let mut st = self.st.borrow_mut();
        if st.closing {
            return Ok(());
        }
        st.generation += 1;
        let generation = st.generation;
        let ws = WebSocket::new(&st.url)
            .map_err(|e| Fail::new("BAD_ARGUMENT", format!("invalid relay URL {}: {e:?}", st.url)))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let weak = Rc::downgrade(&me);
        let on_open = Closure::<dyn FnMut()>::new({
            let weak = weak.clone();
            move || {
                if let Some(d) = weak.upgrade() {
                    d.on_open(generation);
                }
            }
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
            let weak = weak.clone();
            move |ev: MessageEvent| {
                if let Some(d) = weak.upgrade() {
                    let bytes =
                        ev.data().dyn_into::<ArrayBuffer>().ok().map(|b| Uint8Array::new(&b).to_vec());
                    d.on_frame(generation, bytes);
                }
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
            if let Some(d) = weak.upgrade() {
                d.on_close(generation, ev.code(), ev.reason());
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        st.socket = Some(Socket { ws, _on_open: on_open, _on_message: on_message, _on_close: on_close });
        Ok(())
    }

    fn on_open(&self, generation: u32) {
        {
            let mut st = self.st.borrow_mut();
            if st.generation != generation {
                return;
            }
            st.sockets += 1;
            st.client.on_connected(BrowserClock::now());
        }
        self.pump();
    }

    fn on_frame(&self, generation: u32, bytes: Option<Vec<u8>>) {
        {
            let mut st = self.st.borrow_mut();
            if st.generation != generation || st.socket.is_none() {
                return;
            }
            let result = match bytes {
                Some(bytes) => st.client.handle_frame(&bytes, BrowserClock::now()),
                None => Err(RelayError::protocol("text message from the relay")),
            };
            if let Err(e) = result {
                web_sys::console::warn_1(&JsValue::from_str(&format!("relay: {e}; reconnecting")));
                st.last_error = Some(Fail::relay(&e));
                drop(st);
                self.drop_socket(1002);
            }
        }
        self.pump();
    }

    fn on_close(&self, generation: u32, code: u16, reason: String) {
        {
            let mut st = self.st.borrow_mut();
            if st.generation != generation || st.socket.is_none() {
                return;
            }
            st.socket = None;
            st.client.on_disconnected(BrowserClock::now());
            if !st.ever_ready {
                let fail = st.last_error.clone().unwrap_or_else(|| {
                    Fail::new("WEBSOCKET_FAILED", format!("relay socket closed ({code} {reason})").trim_end())
                });
                for tx in st.ready.drain(..) {
                    let _ = tx.send(Err(fail.clone()));
                }
                st.closing = true;
                return;
            }
        }
        self.reconnect_later();
        self.pump();
    }

    /// Drops the socket as a network failure would (the session is resumed on a new one).
    pub(crate) fn simulate_drop(&self) {
        if self.st.borrow().socket.is_some() {
            self.drop_socket(4001);
            self.pump();
        }
    }

    /// Drops the current socket (the session lives on) and schedules a reconnect.
    fn drop_socket(&self, code: u16) {
        {
            let mut st = self.st.borrow_mut();
            if let Some(socket) = st.socket.take() {
                let _ = socket.ws.close_with_code_and_reason(code, "");
            }
            st.client.on_disconnected(BrowserClock::now());
            if !st.ever_ready {
                let fail =
                    st.last_error.clone().unwrap_or_else(|| Fail::new("WEBSOCKET_FAILED", "relay refused"));
                for tx in st.ready.drain(..) {
                    let _ = tx.send(Err(fail.clone()));
                }
                st.closing = true;
                return;
            }
        }
        self.reconnect_later();
    }

    fn reconnect_later(&self) {
        let delay = {
            let mut st = self.st.borrow_mut();
            if st.closing || st.reconnecting {
                return;
            }
            st.reconnecting = true;
            let delay = MIN_BACKOFF_MS.saturating_mul(1 << st.attempts.min(5)).min(MAX_BACKOFF_MS);
            st.attempts += 1;
            delay + (js_sys::Math::random() * delay as f64 / 4.0) as u64
        };
        let Some(me) = self.rc() else { return };
        spawn_local(async move {
            sleep(delay).await;
            me.st.borrow_mut().reconnecting = false;
            if me.st.borrow().socket.is_none() {
                if let Err(e) = me.open_socket() {
                    web_sys::console::warn_1(&JsValue::from_str(&e.message));
                }
            }
        });
    }

    /// Closes the client: every stream and server ends, the socket closes, waiters fail.
    pub(crate) fn close(&self) {
        {
            let mut st = self.st.borrow_mut();
            if st.closing && st.socket.is_none() {
                return;
            }
            let ids: Vec<StreamId> = st.streams.keys().copied().collect();
            for id in ids {
                let _ = st.client.stream_close(id);
            }
            let servers: Vec<ServerId> = st.servers.keys().copied().collect();
            for id in servers {
                let _ = st.client.unlisten(id);
            }
            let queries: Vec<QueryId> = st.queries.keys().copied().collect();
            for id in queries {
                let _ = st.client.cancel(id);
            }
        }
        self.pump();
        let mut st = self.st.borrow_mut();
        st.closing = true;
        st.generation += 1;
        // Queued frames go out before the close frame.
        if let Some(socket) = st.socket.take() {
            let _ = socket.ws.close_with_code_and_reason(1000, "closed");
        }
        let fail = Fail::new("DESTROYED", "the relay client closed");
        for tx in st.ready.drain(..) {
            let _ = tx.send(Err(fail.clone()));
        }
        for (_, tx) in st.dials.drain() {
            let _ = tx.send(Err(fail.clone()));
        }
        for (_, q) in st.queries.iter_mut() {
            q.items.push_back(QueryItem::Failed(fail.clone()));
            if let Some(w) = q.waker.take() {
                w.wake();
            }
        }
        for (_, s) in st.servers.iter_mut() {
            if let Some(tx) = s.listening.take() {
                let _ = tx.send(Err(fail.clone()));
            }
            s.closed.get_or_insert(Fail::new("", ""));
            for tx in s.unlistened.drain(..) {
                let _ = tx.send(());
            }
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
        for (_, s) in st.streams.drain() {
            let mut s = s.borrow_mut();
            s.closed.get_or_insert_with(String::new);
            s.wake();
        }
    }

    /// Sends what the state machine queued, dispatches its events, re-arms the timer.
    pub(crate) fn pump(&self) {
        if self.pumping.replace(true) {
            return;
        }
        let mut spawned: Vec<Spawn> = Vec::new();
        {
            let mut st = self.st.borrow_mut();
            loop {
                let mut progressed = false;
                while let Some(frame) = st.client.poll_transmit() {
                    progressed = true;
                    if let Some(socket) = &st.socket {
                        let _ = socket.ws.send_with_u8_array(&frame);
                    }
                }
                while let Some(event) = st.client.poll_event() {
                    progressed = true;
                    dispatch(&mut st, event, &mut spawned);
                }
                if !progressed {
                    break;
                }
            }
            self.arm_timer(&mut st);
        }
        self.pumping.set(false);
        let Some(me) = self.rc() else { return };
        for job in spawned {
            spawn_local(job.run(me.clone()));
        }
        let drop_requested = std::mem::take(&mut me.st.borrow_mut().drop_requested);
        if drop_requested {
            me.drop_socket(1000);
            me.pump();
        }
    }

    fn arm_timer(&self, st: &mut State) {
        let Some(deadline) = st.client.poll_timeout() else { return };
        if st.timer_at.is_some_and(|at| at <= deadline) {
            return;
        }
        st.timer_at = Some(deadline);
        let Some(me) = self.rc() else { return };
        let wait = deadline.saturating_sub(BrowserClock::now()) + 1;
        spawn_local(async move {
            sleep(wait).await;
            {
                let mut st = me.st.borrow_mut();
                if st.timer_at == Some(deadline) {
                    st.timer_at = None;
                }
                st.client.handle_timeout(BrowserClock::now());
            }
            me.pump();
        });
    }

    /// Moves a stream's queued ciphertext into `data` messages as credit allows, then its
    /// `end`; grants credit back when the reader keeps up.
    pub(crate) fn flush_stream(&self, core: &Rc<RefCell<StreamCore>>) {
        {
            let mut st = self.st.borrow_mut();
            let mut s = core.borrow_mut();
            flush(&mut st, &mut s);
        }
        self.pump();
    }
}

/// Work that calls JS, run outside the state borrow.
enum Spawn {
    Firewall { hs: u32, firewall: Function, remote_public_key: [u8; 32], address: SocketAddrV4 },
    Connection { callback: Function, core: Rc<RefCell<StreamCore>> },
}

impl Spawn {
    async fn run(self, driver: Rc<Driver>) {
        match self {
            Spawn::Firewall { hs, firewall, remote_public_key, address } => {
                let key = Uint8Array::from(&remote_public_key[..]);
                let addr = crate::relay_client::address_js(&address);
                let verdict = match firewall.call2(&JsValue::UNDEFINED, &key, &addr) {
                    Ok(v) => match v.dyn_into::<js_sys::Promise>() {
                        Ok(p) => JsFuture::from(p).await.unwrap_or(JsValue::TRUE),
                        Err(v) => v,
                    },
                    Err(_) => JsValue::TRUE,
                };
                // hyperdht's firewall: a truthy answer rejects.
                let accept = !verdict.is_truthy();
                let _ = driver.st.borrow_mut().client.firewall_decision(hs, accept);
                driver.pump();
            }
            Spawn::Connection { callback, core } => {
                let stream = crate::relay_stream::RelayStream::wrap(driver, core);
                let _ = callback.call1(&JsValue::UNDEFINED, &JsValue::from(stream));
            }
        }
    }
}

/// See [`Driver::flush_stream`].
pub(crate) fn flush(st: &mut State, s: &mut StreamCore) {
    if s.closed.is_some() {
        s.raw_out.clear();
        return;
    }
    while !s.raw_out.is_empty() {
        let (front, _) = s.raw_out.as_slices();
        match st.client.stream_write(s.id, front) {
            Ok(0) => break,
            Ok(n) => {
                s.bytes_out += n as u64;
                s.raw_out.drain(..n);
            }
            Err(e) => {
                s.error.get_or_insert_with(|| Fail::relay(&e));
                s.raw_out.clear();
                break;
            }
        }
    }
    if s.raw_out.is_empty() && s.end_requested && !s.end_sent {
        s.end_sent = true;
        let _ = st.client.stream_end(s.id);
    }
    if s.unreported > 0 && s.buffered() < READ_LOW_WATER {
        let _ = st.client.stream_consumed(s.id, s.unreported);
        s.unreported = 0;
    }
    if s.raw_out.len() < WRITE_HIGH_WATER {
        s.wake();
    }
}

fn dispatch(st: &mut State, event: ClientEvent, spawned: &mut Vec<Spawn>) {
    match event {
        ClientEvent::SessionStarted { .. } => {
            st.ever_ready = true;
            st.attempts = 0;
            st.sessions += 1;
            for tx in st.ready.drain(..) {
                let _ = tx.send(Ok(()));
            }
        }
        ClientEvent::SessionResumed => {
            st.attempts = 0;
            st.resumes += 1;
        }
        ClientEvent::SessionExpired => {}
        ClientEvent::SessionError { code, message } => {
            st.last_error = Some(Fail::new(&code, message));
        }
        ClientEvent::IdleTimeout | ClientEvent::RelayClosed => {
            // The state machine is disconnected already; drop the socket and reconnect.
            st.drop_requested = true;
        }
        ClientEvent::QueryResult { id, from, peers } => push_item(st, id, QueryItem::Result { from, peers }),
        ClientEvent::QueryDone { id, commits } => push_item(st, id, QueryItem::Done { commits }),
        ClientEvent::QueryFailed { id, code, message } => {
            push_item(st, id, QueryItem::Failed(Fail::new(&code, message)))
        }
        ClientEvent::SignRefused { id, reason } => {
            web_sys::console::warn_1(&JsValue::from_str(&format!(
                "relay: refused to sign for {id}: {reason}"
            )));
        }
        ClientEvent::Listening { server, relay_addresses } => {
            if let Some(s) = st.servers.get_mut(&server) {
                if let Some(tx) = s.listening.take() {
                    let _ = tx.send(Ok(relay_addresses));
                }
            }
        }
        ClientEvent::Unlistened { server } => end_server(st, server, Fail::new("", "")),
        ClientEvent::ServerClosed { server, code } => {
            end_server(st, server, Fail::new(&code, "the relay stopped the server"))
        }
        ClientEvent::FirewallRequest { server, hs, remote_public_key, peer_address, .. } => {
            match st.servers.get(&server).and_then(|s| s.firewall.clone()) {
                Some(firewall) => {
                    spawned.push(Spawn::Firewall { hs, firewall, remote_public_key, address: peer_address })
                }
                None => {
                    let _ = st.client.firewall_decision(hs, true);
                }
            }
        }
        ClientEvent::StreamOpen { id, remote_public_key, remote_address, handshake } => {
            let core =
                Rc::new(RefCell::new(StreamCore::new(id, remote_public_key, remote_address, handshake)));
            match st.dials.remove(&id) {
                Some(tx) => {
                    st.streams.insert(id, core.clone());
                    if tx.send(Ok(core)).is_err() {
                        // The caller went away: nobody will use the stream.
                        st.streams.remove(&id);
                        let _ = st.client.stream_close(id);
                    }
                }
                None => {
                    let _ = st.client.stream_close(id);
                }
            }
        }
        ClientEvent::Incoming { server, stream, remote_public_key, remote_address, handshake } => {
            let core =
                Rc::new(RefCell::new(StreamCore::new(stream, remote_public_key, remote_address, handshake)));
            match st.servers.get_mut(&server) {
                Some(s) if s.closed.is_none() => {
                    st.streams.insert(stream, core.clone());
                    match s.on_connection.clone() {
                        Some(callback) => spawned.push(Spawn::Connection { callback, core }),
                        None => {
                            s.incoming.push_back(core);
                            if let Some(w) = s.waker.take() {
                                w.wake();
                            }
                        }
                    }
                }
                _ => {
                    let _ = st.client.stream_close(stream);
                }
            }
        }
        ClientEvent::StreamData { id, bytes } => {
            let Some(core) = st.streams.get(&id).cloned() else { return };
            let mut s = core.borrow_mut();
            s.bytes_in += bytes.len() as u64;
            s.unreported += bytes.len() as u64;
            match s.mode {
                Mode::Secret(_) => s.feed_secret(&bytes),
                Mode::Idle | Mode::Raw => {
                    s.raw_in_bytes += bytes.len();
                    s.raw_in.push_back(bytes);
                }
            }
            if s.error.is_some() && s.closed.is_none() {
                // Secret-stream refused the bytes: the stream is over.
                let _ = st.client.stream_close(id);
                s.closed = Some(s.error.as_ref().map_or(String::new(), |e| e.code.clone()));
                st.streams.remove(&id);
            }
            flush(st, &mut s);
            s.wake();
        }
        ClientEvent::StreamWritable { id, .. } => {
            if let Some(core) = st.streams.get(&id).cloned() {
                flush(st, &mut core.borrow_mut());
            }
        }
        ClientEvent::StreamEnded { id } => {
            if let Some(core) = st.streams.get(&id) {
                let mut s = core.borrow_mut();
                s.remote_ended = true;
                s.wake();
            }
        }
        ClientEvent::StreamClosed { id, code } => {
            if let Some(tx) = st.dials.remove(&id) {
                let message = format!("could not connect through the relay ({code})");
                let _ = tx.send(Err(Fail::new(
                    if code.is_empty() { "PEER_CONNECTION_FAILED" } else { &code },
                    message,
                )));
            }
            if let Some(core) = st.streams.remove(&id) {
                let mut s = core.borrow_mut();
                s.closed.get_or_insert(code);
                s.wake();
            }
        }
    }
}

fn push_item(st: &mut State, id: QueryId, item: QueryItem) {
    if let Some(q) = st.queries.get_mut(&id) {
        q.items.push_back(item);
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }
}

fn end_server(st: &mut State, server: ServerId, why: Fail) {
    if let Some(s) = st.servers.get_mut(&server) {
        if let Some(tx) = s.listening.take() {
            let _ = tx.send(Err(if why.code.is_empty() {
                Fail::new("SERVER_CLOSED", "unlistened before listening")
            } else {
                why.clone()
            }));
        }
        s.closed.get_or_insert(why);
        for tx in s.unlistened.drain(..) {
            let _ = tx.send(());
        }
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}
