//! The tokio driver of one `@hyperswarm/dht-relay` session (PROTOCOL.md §9): wires the sans-IO
//! [`Session`] of `js_compat/` to its WebSocket and to the [`Dht`]'s delegate API.
//!
//! The session has no resume, so the driver owns the whole socket once the channel opened
//! (`socket.rs` hands it over): it reads the WebSocket into the Protomux and the session, and a
//! writer task writes the session's frames, reporting each batch it flushed
//! ([`Session::on_flushed`]) so the session's queue counts what the client has not taken yet.
//!
//! Flow control both ways:
//! - client-bound: every stream's reader pump reads its UDX stream only while the session does
//!   not ask to pause (`PauseReading` above the high-water mark of queued bytes,
//!   `ResumeReading` at the low-water mark), 64 KiB at a time, through a bounded channel;
//!   the writer task holds at most [`WRITER_BYTES`] of them (plus one message), the rest waits
//!   in the session;
//! - client input: while the session's queued bytes (in the session or with the writer, not yet
//!   flushed to the socket) exceed [`WS_HIGH_WATER`], the driver stops reading the WebSocket
//!   until they drain to [`WS_LOW_WATER`], so a client that sends and never reads (a `ping`
//!   flood: a `pong` each) cannot make the relay queue without bound;
//! - peer-bound: each `data` becomes one UDX write queued to the stream's writer pump; while the
//!   writes the UDX side has not accepted yet (its send buffer is full) exceed
//!   [`WRITE_BACKLOG`], the driver stops reading the WebSocket.
//!
//! Asks: each delegated operation carries a tag (query id, server or stream id, offset into its
//! own range); the node's asks arrive tagged, get an [`AskId`] and go to the session as
//! [`DhtEvent`]s; the session's [`DhtCommand::Answer`] resolves the ask's `oneshot`. An ask the
//! node gave up on (timeout, operation over) is reported as [`DhtEvent::AskDropped`].

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::StreamExt;
use hyperwasm::protomux::{ChannelId, Mux, MuxEvent};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use warp::ws::{Message as WsMessage, WebSocket};

use crate::dht::delegate::{Asked, Delegate, DelegatedConnection};
use crate::dht::handles::OpRequest;
use crate::dht::{Dht, DhtError, ReadHalf, WriteHalf};

use super::js_compat::codecs::{Announcers, DhtNode};
use super::js_compat::dht_side::{
    Answer, AskId, DhtCommand, DhtEvent, ServerId, SignKind, SignOwner, StreamId,
};
use super::js_compat::session::{
    CloseReason, Session, SessionConfig, BAD_MESSAGE, CUSTODIAL_REFUSED, ID_IN_USE, LIMIT_SERVERS, TIMED_OUT,
};
use super::limits::TokenBucket;
use super::metrics::Metrics;
use super::query_permits::QueryPermits;
use super::Ctx;

mod asks;
mod pumps;
use asks::Reply;
use pumps::{read_pump, write_pump, write_socket};

/// Asks a session may have queued before more are refused.
const ASK_QUEUE: usize = 256;
/// Delegate tags: the high 32 bits name the kind of operation, the low 32 its id.
const TAG_QUERY: u64 = 0;
const TAG_SERVER: u64 = 1 << 32;
const TAG_DIAL: u64 = 2 << 32;
/// Largest read from a UDX stream (one `data` message).
const READ_CHUNK: usize = 64 * 1024;
/// Reads on their way from the reader pumps to the session (each at most [`READ_CHUNK`]).
const READS_IN_FLIGHT: usize = 16;
/// Bytes of `data` the UDX side has not accepted yet above which the WebSocket is not read.
pub const WRITE_BACKLOG: u64 = 256 * 1024;
/// Session bytes handed to the writer task and not flushed yet above which no more are handed
/// over (they wait in the session, counted the same).
pub const WRITER_BYTES: usize = 256 * 1024;
/// Bytes queued for the client above which the WebSocket is not read (above the session's
/// default high-water mark for UDX reads, so a download alone seldom stops the client's input).
pub const WS_HIGH_WATER: usize = 2 << 20;
/// Queued bytes at or below which the WebSocket is read again.
pub const WS_LOW_WATER: usize = 1 << 20;
/// How long an accepted handshake may take to connect before the session forgets it.
const ACCEPT_TIMEOUT_MS: u64 = 30_000;
/// How often asks the node gave up on are looked for while some are pending.
const SWEEP_MS: u64 = 1_000;
/// How long the writer may take to flush the last frames and the close.
const CLOSE_FLUSH: Duration = Duration::from_secs(5);
/// How long a released stream's writer may take to hand its last writes and END to the UDX
/// side (the session ended after the client's `end`) before the stream is destroyed.
const LINGER: Duration = Duration::from_secs(30);
/// Close code when the relay drains.
const DRAINING: &str = "RELAY_DRAINING";
/// Close code when the client's socket went away.
const GONE: &str = "DESTROYED";

/// What `socket.rs` hands over once the client opened the `@hyperswarm/dht-relay` channel.
pub(crate) struct Handoff {
    /// The socket's Protomux (our `open` of the channel queued, the client's messages maybe too).
    pub mux: Mux,
    /// The channel.
    pub channel: ChannelId,
    /// The socket's write half.
    pub sink: SplitSink<WebSocket, WsMessage>,
    /// The socket's read half.
    pub stream: SplitStream<WebSocket>,
    /// The socket's read rate limit.
    pub bucket: TokenBucket,
    /// The DHT query permits this session's queries take (the relay's and its IP's share).
    pub permits: QueryPermits,
}

/// The WebSocket close code for a session's close reason.
pub fn ws_close_code(code: &str) -> u16 {
    match code {
        CUSTODIAL_REFUSED | LIMIT_SERVERS => 1008,
        BAD_MESSAGE | ID_IN_USE => 1002,
        TIMED_OUT | DRAINING => 1001,
        _ => 1000,
    }
}

/// The session's limits from the relay's (`--max-streams` …).
fn session_config(ctx: &Ctx) -> SessionConfig {
    let v1 = &ctx.session_config;
    let cap = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    SessionConfig {
        max_streams: cap(v1.max_streams),
        max_servers: cap(v1.max_servers),
        max_queries: cap(v1.max_queries),
        sign_timeout_ms: v1.ask_timeout_ms,
        ..SessionConfig::default()
    }
}

enum WriterIn {
    /// Frames of one session message and what it counted in `queued_bytes`.
    Frames(Vec<Vec<u8>>, usize),
    Close(u16, String),
}

enum Internal {
    Dht(DhtEvent),
    QueryOver(u32),
    Connected(StreamId, DelegatedConnection),
    Incoming(ServerId, DelegatedConnection),
    ServerGone(ServerId),
    WriteFailed(StreamId, String),
    WriteEnded(StreamId),
}

enum ReadEv {
    Data(StreamId, Vec<u8>),
    Eof(StreamId),
    Failed(StreamId, String),
}

struct Pumps {
    writes: Option<mpsc::UnboundedSender<Option<Vec<u8>>>>,
    pending: Arc<AtomicU64>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    read_ended: bool,
    write_ended: bool,
}

impl Pumps {
    /// Starts the reader and writer pumps of a stream's halves.
    fn start(
        stream: StreamId,
        (read, write): (ReadHalf, WriteHalf),
        paused: watch::Receiver<bool>,
        reads: mpsc::Sender<ReadEv>,
        backlog: Arc<Notify>,
        internal: mpsc::UnboundedSender<Internal>,
    ) -> Pumps {
        let (wtx, wrx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicU64::new(0));
        let reader = tokio::spawn(read_pump(stream, read, paused, reads));
        let writer = tokio::spawn(write_pump(stream, write, wrx, pending.clone(), backlog, internal));
        Pumps { writes: Some(wtx), pending, reader, writer, read_ended: false, write_ended: false }
    }

    /// Destroys the stream: both halves dropped without an END (UDX DESTROY).
    fn abort(&self) {
        self.reader.abort();
        self.writer.abort();
    }

    /// Lets go of a stream whose write side was ended (`end` queued to the writer pump, maybe
    /// not written yet): reads stop, the writes before the END and the END itself still go
    /// out (the writer pump shuts its half down and drops it; the dht driver then lets the
    /// stream finish, dropping what the peer still sends). A writer that cannot get them out
    /// within [`LINGER`] (the peer does not take them) is aborted: the stream is destroyed.
    /// A stream whose side was not ended is destroyed at once.
    fn release(self) {
        if self.writes.is_some() {
            return self.abort();
        }
        self.reader.abort();
        let mut writer = self.writer;
        tokio::spawn(async move {
            if tokio::time::timeout(LINGER, &mut writer).await.is_err() {
                writer.abort();
            }
        });
    }
}

fn code_of(e: &DhtError) -> String {
    e.code().to_string()
}

/// Runs the session on the handed-over socket until it ends.
pub(crate) async fn run(handoff: Handoff, ctx: Arc<Ctx>) {
    let Handoff { mux, channel, sink, stream, bucket, permits } = handoff;
    let (writer_tx, writer_rx) = mpsc::unbounded_channel();
    let (flushed_tx, flushed) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_socket(sink, writer_rx, flushed_tx));
    let (internal_tx, internal) = mpsc::unbounded_channel();
    let (reads_tx, reads) = mpsc::channel(READS_IN_FLIGHT);
    let (asks_tx, asks) = mpsc::channel(ASK_QUEUE);
    let (paused, _) = watch::channel(false);
    let now = ctx.now();
    let mut driver = Driver {
        session: Session::new(session_config(&ctx), now),
        mux,
        channel,
        dht: ctx.dht.clone(),
        metrics: ctx.metrics.clone(),
        writer_tx,
        flushed,
        internal_tx,
        internal,
        reads_tx,
        reads,
        asks_tx,
        asks,
        paused,
        backlog: Arc::new(Notify::new()),
        replies: HashMap::new(),
        next_ask: 0,
        hs_server: HashMap::new(),
        accepted: HashMap::new(),
        tasks: HashMap::new(),
        streams: HashMap::new(),
        ws_close: None,
        in_writer: 0,
        ws_paused: false,
        gauged: 0,
        ctx: ctx.clone(),
        permits,
    };
    driver.metrics.sessions.fetch_add(1, Ordering::Relaxed);
    driver.run(stream, bucket).await;
    driver.shutdown();
    let (code, reason) = match driver.ws_close.take() {
        Some(c) => c,
        None => match driver.session.close_reason() {
            Some(CloseReason { code, .. }) => (ws_close_code(code), (*code).to_string()),
            None => (1000, String::new()),
        },
    };
    if code != 0 {
        let _ = driver.writer_tx.send(WriterIn::Close(code, reason));
    }
    driver.gauge(0);
    drop(driver);
    let _ = tokio::time::timeout(CLOSE_FLUSH, writer).await;
    ctx.metrics.sessions.fetch_sub(1, Ordering::Relaxed);
}

struct Driver {
    session: Session,
    mux: Mux,
    channel: ChannelId,
    dht: Dht,
    metrics: Arc<Metrics>,
    writer_tx: mpsc::UnboundedSender<WriterIn>,
    flushed: mpsc::UnboundedReceiver<usize>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal: mpsc::UnboundedReceiver<Internal>,
    reads_tx: mpsc::Sender<ReadEv>,
    reads: mpsc::Receiver<ReadEv>,
    asks_tx: mpsc::Sender<Asked>,
    asks: mpsc::Receiver<Asked>,
    paused: watch::Sender<bool>,
    backlog: Arc<Notify>,
    replies: HashMap<AskId, Reply>,
    next_ask: u64,
    /// The server of each handshake ask not answered yet (node handshake id).
    hs_server: HashMap<u64, ServerId>,
    /// Accepted handshakes (node handshake id) waiting for their connection.
    accepted: HashMap<u64, (StreamId, ServerId, u64)>,
    tasks: HashMap<u64, JoinHandle<()>>,
    streams: HashMap<StreamId, Pumps>,
    /// A close the socket itself decided (protocol errors below the session).
    ws_close: Option<(u16, String)>,
    /// Session bytes handed to the writer and not reported flushed yet.
    in_writer: usize,
    /// Whether the WebSocket is not read because too much waits for the client.
    ws_paused: bool,
    /// This session's share of the `js_compat_queued_bytes` gauge.
    gauged: u64,
    ctx: Arc<Ctx>,
    /// Taken by each query while it runs (as v1 sessions' queries do).
    permits: QueryPermits,
}

impl Driver {
    fn now(&self) -> u64 {
        self.ctx.now()
    }

    fn write_backlog(&self) -> u64 {
        self.streams.values().map(|s| s.pending.load(Ordering::Acquire)).sum()
    }

    /// Whether the WebSocket may be read: the client takes what is queued for it (hysteresis
    /// between [`WS_HIGH_WATER`] and [`WS_LOW_WATER`]) and the UDX side takes its `data`.
    fn may_read_ws(&mut self) -> bool {
        let queued = self.session.queued_bytes();
        if queued > WS_HIGH_WATER {
            self.ws_paused = true;
        } else if queued <= WS_LOW_WATER {
            self.ws_paused = false;
        }
        !self.ws_paused && self.write_backlog() < WRITE_BACKLOG
    }

    /// Sets this session's share of the queued-bytes gauge.
    fn gauge(&mut self, bytes: u64) {
        let g = &self.metrics.js_compat_queued_bytes;
        if bytes > self.gauged {
            g.fetch_add(bytes - self.gauged, Ordering::Relaxed);
        } else {
            g.fetch_sub(self.gauged - bytes, Ordering::Relaxed);
        }
        self.gauged = bytes;
    }

    fn on_flushed(&mut self, n: usize) {
        self.in_writer = self.in_writer.saturating_sub(n);
        self.session.on_flushed(n);
    }

    fn next_deadline(&self) -> Option<u64> {
        let mut t = self.session.poll_timeout();
        let mut earlier = |d: u64| t = Some(t.map_or(d, |t| t.min(d)));
        if let Some(d) = self.accepted.values().map(|(_, _, d)| *d).min() {
            earlier(d);
        }
        if !self.replies.is_empty() {
            earlier(self.now().saturating_add(SWEEP_MS));
        }
        t
    }

    async fn run(&mut self, mut ws: SplitStream<WebSocket>, mut bucket: TokenBucket) {
        let mut draining = self.ctx.draining.clone();
        let origin = self.ctx.origin;
        // Frames from before the handoff (our `open`), and messages batched with the client's.
        self.flush_mux(0);
        self.on_mux_events();
        loop {
            self.pump(WRITER_BYTES);
            if self.session.is_closed() || self.ws_close.is_some() {
                return;
            }
            self.gauge(self.session.queued_bytes() as u64);
            let read_ws = self.may_read_ws();
            let deadline = self.next_deadline().map(|t| origin + Duration::from_millis(t));
            let backlog = self.backlog.clone();
            tokio::select! {
                msg = ws.next(), if read_ws => self.on_ws(msg, &mut bucket).await,
                Some(n) = self.flushed.recv() => self.on_flushed(n),
                Some(r) = self.reads.recv() => self.on_read(r),
                Some(i) = self.internal.recv() => self.on_internal(i),
                Some(a) = self.asks.recv() => self.on_ask(a),
                () = backlog.notified(), if !read_ws => {}
                () = async {
                    match deadline {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => self.on_timer(),
                r = draining.changed() => {
                    if r.is_err() || *draining.borrow() {
                        self.session.close(DRAINING, "the relay is shutting down");
                    }
                }
            }
        }
    }

    async fn on_ws(&mut self, msg: Option<Result<WsMessage, warp::Error>>, bucket: &mut TokenBucket) {
        let msg = match msg {
            Some(Ok(m)) if !m.is_close() => m,
            _ => {
                self.ws_close = Some((0, String::new()));
                return self.session.close(GONE, "the socket closed");
            }
        };
        if msg.is_ping() || msg.is_pong() {
            return;
        }
        if !msg.is_binary() {
            return self.fail_socket(1003, "binary messages only");
        }
        let bytes = msg.into_bytes();
        if bytes.is_empty() {
            return self.fail_socket(1002, "empty message");
        }
        let wait = bucket.take(bytes.len(), self.now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.metrics.bytes_in.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if self.mux.on_message(&bytes).is_err() {
            return self.fail_socket(1002, "bad protomux frame");
        }
        self.on_mux_events();
    }

    fn fail_socket(&mut self, code: u16, reason: &str) {
        self.ws_close = Some((code, reason.to_string()));
        self.session.close(BAD_MESSAGE, reason.to_string());
    }

    fn on_mux_events(&mut self) {
        while let Some(ev) = self.mux.poll_event() {
            match ev {
                MuxEvent::Message { channel, message_type, payload } if channel == self.channel => {
                    let now = self.now();
                    self.session.handle_message(message_type, &payload, now);
                }
                MuxEvent::Message { .. } | MuxEvent::Opened { .. } => {}
                MuxEvent::RemoteOpen { protocol, id } => {
                    self.mux.reject(&protocol, id.as_deref());
                    self.flush_mux(0);
                    return self.fail_socket(1002, "one channel per session");
                }
                MuxEvent::Closed { .. } => {
                    self.ws_close = Some((1000, "channel closed".into()));
                    return self.session.close(GONE, "the channel closed");
                }
            }
        }
        self.flush_mux(0);
    }

    /// Sends the mux's pending frames to the writer; `len` session bytes go with them.
    fn flush_mux(&mut self, len: usize) {
        let mut frames = Vec::new();
        while let Some(f) = self.mux.poll_transmit() {
            frames.push(f);
        }
        if frames.is_empty() && len == 0 {
            return;
        }
        if self.writer_tx.send(WriterIn::Frames(frames, len)).is_err() {
            if len > 0 {
                self.session.on_flushed(len);
            }
        } else {
            self.in_writer += len;
        }
    }

    /// Moves what the session queued: messages to the socket while the writer holds less than
    /// `writer_limit` session bytes, commands to the DHT side.
    fn pump(&mut self, writer_limit: usize) {
        loop {
            let mut moved = false;
            while self.in_writer < writer_limit {
                let Some(t) = self.session.poll_transmit() else { break };
                moved = true;
                let len = t.queued_len();
                self.metrics.bytes_out.fetch_add(t.payload.len() as u64, Ordering::Relaxed);
                if self.mux.send(self.channel, t.message_type, &t.payload).is_err() {
                    self.ws_close = Some((1011, "send failed".into()));
                }
                self.flush_mux(len);
            }
            while let Some(c) = self.session.poll_command() {
                moved = true;
                self.command(c);
            }
            if !moved {
                break;
            }
        }
    }

    fn delegate(&self, tag: u64) -> Delegate {
        Delegate { tag, asks: self.asks_tx.clone() }
    }

    fn spawn_task(&mut self, key: u64, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        if let Some(old) = self.tasks.insert(key, tokio::spawn(fut)) {
            old.abort();
        }
    }

    fn report(&self) -> impl Fn(Internal) + Send + 'static {
        let tx = self.internal_tx.clone();
        move |i| {
            let _ = tx.send(i);
        }
    }

    fn query(&mut self, query: u32, req: OpRequest) {
        self.metrics.queries.fetch_add(1, Ordering::Relaxed);
        let report = self.report();
        let (dht, permits) = (self.dht.clone(), self.permits.clone());
        let local = self.dht.loopback_addr();
        self.spawn_task(TAG_QUERY | u64::from(query), async move {
            // Waits its turn instead of running into the node's own cap (Overloaded).
            let _permit = permits.acquire().await;
            if let Ok(mut op) = dht.op(req) {
                while let Some(r) = op.next().await {
                    report(Internal::Dht(DhtEvent::QueryReply { query, reply: announcers(r, local) }));
                }
                // Success or not, the JS protocol only has `finished`.
                let _ = op.finish().await;
            }
            report(Internal::QueryOver(query));
        });
    }

    fn command(&mut self, c: DhtCommand) {
        match c {
            DhtCommand::Lookup { query, topic } => self.query(query, OpRequest::Lookup { topic }),
            DhtCommand::Announce { query, topic, public_key, relay_addresses } => {
                let delegate = self.delegate(TAG_QUERY | u64::from(query));
                self.query(
                    query,
                    OpRequest::AnnounceDelegated { topic, public_key, relay_addresses, delegate },
                )
            }
            DhtCommand::Unannounce { query, topic, public_key } => {
                let delegate = self.delegate(TAG_QUERY | u64::from(query));
                self.query(query, OpRequest::UnannounceDelegated { topic, public_key, delegate })
            }
            DhtCommand::CancelQuery { query } => {
                if let Some(t) = self.tasks.remove(&(TAG_QUERY | u64::from(query))) {
                    t.abort();
                }
            }
            DhtCommand::Connect { stream, public_key, remote_public_key } => {
                let dht = self.dht.clone();
                let delegate = self.delegate(TAG_DIAL | u64::from(stream.0));
                let report = self.report();
                self.spawn_task(TAG_DIAL | u64::from(stream.0), async move {
                    match dht.connect_delegated(remote_public_key, public_key, Vec::new(), delegate).await {
                        Ok(conn) => report(Internal::Connected(stream, conn)),
                        Err(e) => {
                            report(Internal::Dht(DhtEvent::ConnectFailed { stream, error: code_of(&e) }))
                        }
                    }
                });
            }
            DhtCommand::Listen { server, public_key } => self.listen(server, public_key),
            DhtCommand::Unlisten { server } => {
                if let Some(t) = self.tasks.remove(&(TAG_SERVER | u64::from(server.0))) {
                    t.abort();
                }
                self.server_gone(server);
            }
            DhtCommand::Answer(a) => self.answer(a),
            DhtCommand::Write { stream, data } => {
                if let Some(p) = self.streams.get(&stream) {
                    if let Some(w) = &p.writes {
                        p.pending.fetch_add(data.len() as u64, Ordering::AcqRel);
                        let _ = w.send(Some(data));
                    }
                }
            }
            DhtCommand::End { stream } => {
                if let Some(w) = self.streams.get_mut(&stream).and_then(|p| p.writes.take()) {
                    let _ = w.send(None);
                }
            }
            DhtCommand::Destroy { stream } => {
                if let Some(t) = self.tasks.remove(&(TAG_DIAL | u64::from(stream.0))) {
                    t.abort();
                }
                self.accepted.retain(|_, (s, _, _)| *s != stream);
                self.drop_stream(stream);
            }
            DhtCommand::Release { stream } => {
                if let Some(p) = self.streams.remove(&stream) {
                    p.release();
                    self.metrics.streams.fetch_sub(1, Ordering::Relaxed);
                    self.backlog.notify_one();
                }
            }
            DhtCommand::PauseReading => {
                self.paused.send_replace(true);
            }
            DhtCommand::ResumeReading => {
                self.paused.send_replace(false);
            }
        }
    }

    fn listen(&mut self, server: ServerId, public_key: [u8; 32]) {
        let dht = self.dht.clone();
        let delegate = self.delegate(TAG_SERVER | u64::from(server.0));
        let report = self.report();
        let address = self.dht.loopback_addr();
        self.spawn_task(TAG_SERVER | u64::from(server.0), async move {
            let mut srv = match dht.listen_delegated(public_key, delegate).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(code = code_of(&e), "a dht-relay server failed to listen");
                    return report(Internal::ServerGone(server));
                }
            };
            let relay_addresses = srv.relay_addresses().await;
            report(Internal::Dht(DhtEvent::Listening { server, address, relay_addresses }));
            while let Some(conn) = srv.accept().await {
                report(Internal::Incoming(server, conn));
            }
            report(Internal::ServerGone(server));
        });
    }

    fn server_gone(&mut self, server: ServerId) {
        self.accepted.retain(|_, (_, s, _)| *s != server);
        let now = self.now();
        self.session.handle_dht(DhtEvent::ServerClosed { server }, now);
    }

    fn on_timer(&mut self) {
        let now = self.now();
        self.session.handle_timeout(now);
        self.sweep_asks();
        let late: Vec<u64> =
            self.accepted.iter().filter(|(_, (_, _, d))| *d <= now).map(|(hs, _)| *hs).collect();
        for hs in late {
            if let Some((stream, _, _)) = self.accepted.remove(&hs) {
                self.session.handle_dht(DhtEvent::HandshakeFailed { stream }, now);
            }
        }
    }

    fn on_internal(&mut self, i: Internal) {
        let now = self.now();
        match i {
            Internal::Dht(ev) => self.session.handle_dht(ev, now),
            Internal::QueryOver(query) => {
                self.tasks.remove(&(TAG_QUERY | u64::from(query)));
                self.session.handle_dht(DhtEvent::QueryDone { query }, now);
            }
            Internal::Connected(stream, conn) => {
                self.tasks.remove(&(TAG_DIAL | u64::from(stream.0)));
                let remote_address = conn.info().remote_address;
                self.start_stream(stream, conn);
                self.session.handle_dht(DhtEvent::Connected { stream, remote_address }, now);
            }
            Internal::Incoming(server, conn) => {
                let hs = conn.info().handshake_id;
                let found = hs.and_then(|hs| self.accepted.remove(&hs));
                // A connection whose handshake the session did not accept is dropped (destroyed).
                if let Some((stream, _, _)) = found.filter(|(_, s, _)| *s == server) {
                    let remote_address = conn.info().remote_address;
                    self.start_stream(stream, conn);
                    self.session.handle_dht(DhtEvent::Incoming { stream, remote_address }, now);
                }
            }
            Internal::ServerGone(server) => {
                self.tasks.remove(&(TAG_SERVER | u64::from(server.0)));
                self.server_gone(server);
            }
            Internal::WriteFailed(stream, code) => {
                if self.drop_stream(stream) {
                    self.session.handle_dht(DhtEvent::Closed { stream, error: Some(code) }, now);
                }
            }
            Internal::WriteEnded(stream) => {
                if let Some(p) = self.streams.get_mut(&stream) {
                    p.write_ended = true;
                }
                self.maybe_closed(stream);
            }
        }
    }

    fn on_read(&mut self, r: ReadEv) {
        let now = self.now();
        match r {
            ReadEv::Data(stream, data) => {
                if self.streams.contains_key(&stream) {
                    self.session.handle_dht(DhtEvent::Data { stream, data }, now);
                }
            }
            ReadEv::Eof(stream) => {
                if let Some(p) = self.streams.get_mut(&stream) {
                    p.read_ended = true;
                    self.session.handle_dht(DhtEvent::End { stream }, now);
                    self.maybe_closed(stream);
                }
            }
            ReadEv::Failed(stream, code) => {
                if self.drop_stream(stream) {
                    self.session.handle_dht(DhtEvent::Closed { stream, error: Some(code) }, now);
                }
            }
        }
    }

    /// A stream whose two sides ended is closed cleanly.
    fn maybe_closed(&mut self, stream: StreamId) {
        let done = self.streams.get(&stream).is_some_and(|p| p.read_ended && p.write_ended);
        if done {
            // Both pumps are over (their halves dropped: the stream is released).
            if self.streams.remove(&stream).is_some() {
                self.metrics.streams.fetch_sub(1, Ordering::Relaxed);
            }
            let now = self.now();
            self.session.handle_dht(DhtEvent::Closed { stream, error: None }, now);
        }
    }

    /// Destroys a stream's pumps; whether it was live.
    fn drop_stream(&mut self, stream: StreamId) -> bool {
        match self.streams.remove(&stream) {
            Some(p) => {
                p.abort();
                self.metrics.streams.fetch_sub(1, Ordering::Relaxed);
                self.backlog.notify_one();
                true
            }
            None => false,
        }
    }

    fn start_stream(&mut self, stream: StreamId, conn: DelegatedConnection) {
        let pumps = Pumps::start(
            stream,
            conn.into_split(),
            self.paused.subscribe(),
            self.reads_tx.clone(),
            self.backlog.clone(),
            self.internal_tx.clone(),
        );
        self.metrics.streams.fetch_add(1, Ordering::Relaxed);
        if let Some(old) = self.streams.insert(stream, pumps) {
            old.abort();
            self.metrics.streams.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn shutdown(&mut self) {
        // Let the session tear down (destroy, unlisten, cancel, refuse) and flush what it says.
        if !self.session.is_closed() {
            self.session.close(GONE, "the session ended");
        }
        // Everything left goes to the writer for its last flush (bounded: the session's queue
        // is, and the writer gets [`CLOSE_FLUSH`] to write it).
        self.pump(usize::MAX);
        for (_, t) in self.tasks.drain() {
            t.abort();
        }
        for (_, p) in self.streams.drain() {
            p.abort();
            self.metrics.streams.fetch_sub(1, Ordering::Relaxed);
        }
        self.replies.clear();
        self.accepted.clear();
    }
}

fn announcers(r: crate::dht::LookupReply, local: SocketAddrV4) -> Announcers {
    Announcers {
        // The handle does not expose the reply's token; JS reads 32 zero bytes as none.
        token: [0; 32],
        from: DhtNode { id: None, address: r.from },
        to: DhtNode { id: None, address: local },
        peers: r.peers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_follow_the_close_reason() {
        assert_eq!(ws_close_code(CUSTODIAL_REFUSED), 1008);
        assert_eq!(ws_close_code(LIMIT_SERVERS), 1008);
        assert_eq!(ws_close_code(BAD_MESSAGE), 1002);
        assert_eq!(ws_close_code(ID_IN_USE), 1002);
        assert_eq!(ws_close_code(TIMED_OUT), 1001);
        assert_eq!(ws_close_code(DRAINING), 1001);
        assert_eq!(ws_close_code(GONE), 1000);
    }

    /// Starts pumps on a fresh stream's halves (nothing runs until the test yields).
    fn pumps_on(shared: &Arc<crate::dht::conn::Shared>) -> Pumps {
        let (_, paused) = watch::channel(false);
        let (reads, _) = mpsc::channel(4);
        let (internal, _) = mpsc::unbounded_channel();
        let halves = crate::dht::conn::halves(shared, None);
        Pumps::start(StreamId(1), halves, paused, reads, Arc::new(Notify::new()), internal)
    }

    /// Runs the pumps until the stream's halves are both gone; what the UDX side was given.
    async fn until_released(shared: &crate::dht::conn::Shared) -> (Vec<u8>, crate::dht::conn::Outbound) {
        let mut written = Vec::new();
        for _ in 0..100 {
            tokio::task::yield_now().await;
            let mut buf = Vec::new();
            let out = shared.take_send(&mut buf);
            written.extend_from_slice(&buf);
            if out.released {
                return (written, out);
            }
        }
        panic!("the stream was never released");
    }

    /// The session ended right after the client's `end` (the JS client closes its socket as soon
    /// as both sides of its stream ended): the END queued to the writer pump, which has not run
    /// yet, still reaches the UDX side, after the last data; destroying would reset the peer.
    #[tokio::test]
    async fn a_stream_released_before_its_writer_ran_still_ends_cleanly() {
        let shared = crate::dht::conn::Shared::new(7, Arc::new(|_| {}));
        let mut p = pumps_on(&shared);
        let writes = p.writes.take().unwrap();
        writes.send(Some(b"last".to_vec())).unwrap();
        writes.send(None).unwrap();
        p.release();
        let (written, out) = until_released(&shared).await;
        assert_eq!(written, b"last");
        assert_eq!(out, crate::dht::conn::Outbound { end: true, released: true });
    }

    /// A stream the client did not end is destroyed on release (and on `destroy`): no END.
    #[tokio::test]
    async fn a_stream_not_ended_is_destroyed() {
        for release in [true, false] {
            let shared = crate::dht::conn::Shared::new(7, Arc::new(|_| {}));
            let p = pumps_on(&shared);
            p.writes.as_ref().unwrap().send(Some(b"lost".to_vec())).unwrap();
            if release {
                p.release();
            } else {
                p.abort();
            }
            let (written, out) = until_released(&shared).await;
            assert!(written.is_empty());
            assert_eq!(out, crate::dht::conn::Outbound { end: false, released: true });
        }
    }

    #[test]
    fn lookup_replies_become_announcers_with_no_token() {
        let from = SocketAddrV4::new([127, 0, 0, 1].into(), 4000);
        let local = SocketAddrV4::new([127, 0, 0, 1].into(), 5000);
        let peer = hyperwasm::hyperdht::messages::Peer { public_key: [9; 32], relay_addresses: vec![from] };
        let a = announcers(crate::dht::LookupReply { from, peers: vec![peer.clone()] }, local);
        assert_eq!(a.token, [0; 32]);
        assert_eq!((a.from.address, a.to.address), (from, local));
        assert_eq!(a.peers, vec![peer]);
        // JS decodes it back (same codec): round trip.
        let bytes = a.to_bytes();
        let mut dec = hyperwasm::encoding::Decoder::new(&bytes);
        assert_eq!(Announcers::decode(&mut dec).unwrap(), a);
    }
}
