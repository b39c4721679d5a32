//! The tokio task of one `hyperwasm-relay/1` session: wires the sans-IO [`Session`] to the
//! socket that is attached to it (if any) and to the [`Dht`].
//!
//! The task outlives its socket for the grace period. It owns everything the session started:
//! query tasks, dial tasks, server tasks, and two pump tasks per stream. They report back on
//! one channel ([`Internal`]); the node's asks of the session's delegated operations arrive
//! tagged on another and are answered through the session ([`SessionCommand::Answer`]).
//! Events and ask tags carry the generation of the task that made them: ids are reused after
//! a cancel or close, and what an old task queued is dropped, never credited to the new one.
//!
//! Streams: the reader pump reads the UDX side only within the allowance the session grants
//! (`ReadMore`, the client's credit), at most 64 KiB at a time, and only while the session's
//! unacked replay bytes are below [`REPLAY_HIGH_WATER`] (PROTOCOL.md §4); the writer pump
//! reports each write the UDX side accepted (`Written`), from which the session grants the
//! client credit.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyperwasm::hyperdht::messages::NoisePayload;
use hyperwasm::relay_protocol::MAX_DATA_LEN;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::dht::delegate::{Ask, Asked, Delegate, DelegatedConnection};
use crate::dht::handles::{OpDone, OpRequest};
use crate::dht::{Dht, DhtError};

use super::metrics::Metrics;
use super::query_permits::QueryPermits;
use super::session::{
    AskAnswer, AskId, DhtEvent, QueryKind, Session, SessionCommand, SocketClose, REPLAY_HIGH_WATER,
};

/// Asks a session may have queued before more are refused.
const ASK_QUEUE: usize = 256;
/// Task keys: queries use their id; servers and dials are offset into their own ranges.
const TAG_SERVER: u64 = 1 << 32;
const TAG_DIAL: u64 = 2 << 32;
/// Bits of a delegate tag that hold the task key; the generation of the task fills the rest
/// (an ask of a cancelled task whose id was reused must not reach the new one).
const KEY_BITS: u32 = 34;
const KEY_MASK: u64 = (1 << KEY_BITS) - 1;

/// The delegate tag of the task `key` of generation `gen` (truncated to the bits left).
fn delegate_tag(key: u64, gen: u64) -> u64 {
    (gen << KEY_BITS) | (key & KEY_MASK)
}

/// What the session task sends its socket.
#[derive(Debug)]
pub enum SocketOut {
    /// One message of the channel: `(type, payload)`.
    Frame(u64, Vec<u8>),
    /// Close the WebSocket with this code and reason.
    Close(u16, String),
}

/// What a socket tells the session task.
#[derive(Debug)]
pub enum SessionIn {
    /// A channel message (after `hello`) read by socket `.0`: `(socket, type, payload)`. The
    /// session drops it unless that socket is the one attached now (after a resume, frames the
    /// replaced socket had read are not processed: the client resends them by `received`).
    Frame(u64, u64, Vec<u8>),
    /// A socket resumes the session (`hello{resume}`): `ok` answers whether it worked.
    Attach {
        /// The socket's id.
        socket: u64,
        /// Where frames for it go.
        out: mpsc::UnboundedSender<SocketOut>,
        /// The client's `received`.
        received: u64,
        /// Whether the resume was accepted.
        ok: oneshot::Sender<bool>,
    },
    /// The socket `socket` is gone.
    Detached(u64),
    /// The relay drains: end the session.
    Drain,
}

/// What the pumps and operation tasks report, each tagged with the generation of the task
/// that sent it: an id is reused after a cancel/close, and what the old task queued before it
/// was aborted must not be credited to the new one.
enum Internal {
    Dht(u64, DhtEvent),
    Connected(u64, u32, DelegatedConnection),
    Incoming(u64, u32, DelegatedConnection),
}

enum Reply {
    Sign(oneshot::Sender<Option<[u8; 64]>>),
    Msg1(oneshot::Sender<Option<Vec<u8>>>),
    Remote(oneshot::Sender<Option<NoisePayload>>),
    Hs(oneshot::Sender<Option<(Vec<u8>, NoisePayload)>>),
}

struct Allowance {
    bytes: AtomicU64,
    more: Notify,
}

/// Largest total credit a stream's allowance holds (as `StreamCredit`: below 2^53).
const MAX_ALLOWANCE: u64 = (1 << 53) - 1;
/// Released writers (both sides ended, still flushing to a peer) a session keeps at once; the
/// oldest is aborted beyond this.
const MAX_RELEASED: usize = 64;

/// The session-wide read gate (PROTOCOL.md §4): the stream pumps read only while the client's
/// unacknowledged bytes (the replay buffer) plus the bytes read and not yet handed to the
/// session stay below [`REPLAY_HIGH_WATER`].
#[derive(Default)]
struct ReadGate {
    /// The session's replay bytes, as of its last pump.
    replay: AtomicU64,
    /// Bytes read from streams and not yet taken by the session.
    in_flight: AtomicU64,
    below: Notify,
}

impl ReadGate {
    fn open(&self) -> bool {
        let level =
            self.replay.load(Ordering::Acquire).saturating_add(self.in_flight.load(Ordering::Acquire));
        level < REPLAY_HIGH_WATER as u64
    }

    /// Waits until the level is below the high-water mark.
    async fn wait_open(&self) {
        loop {
            let below = self.below.notified();
            tokio::pin!(below);
            below.as_mut().enable();
            if self.open() {
                return;
            }
            below.await;
        }
    }
}

struct StreamPumps {
    gen: u64,
    allowance: Arc<Allowance>,
    writes: Option<mpsc::UnboundedSender<Option<Vec<u8>>>>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl StreamPumps {
    fn abort(&self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// The running session (see the module docs).
pub struct SessionTask {
    session: Session,
    dht: Dht,
    query_permits: QueryPermits,
    metrics: Arc<Metrics>,
    origin: Instant,
    socket: Option<(u64, mpsc::UnboundedSender<SocketOut>)>,
    inbox: mpsc::UnboundedReceiver<SessionIn>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal: mpsc::UnboundedReceiver<Internal>,
    asks_tx: mpsc::Sender<Asked>,
    asks: mpsc::Receiver<Asked>,
    replies: HashMap<AskId, Reply>,
    next_ask: u64,
    /// Query, dial and server tasks by key, with their generation.
    tasks: HashMap<u64, (u64, JoinHandle<()>)>,
    next_gen: u64,
    streams: HashMap<u32, StreamPumps>,
    gate: Arc<ReadGate>,
    /// Writers of released streams, flushing; aborted when the session ends.
    released: Vec<JoinHandle<()>>,
    incoming: HashMap<u64, DelegatedConnection>,
    next_conn: u64,
}

fn code_of(e: &DhtError) -> String {
    e.code().to_string()
}

fn io_code(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut => "ETIMEDOUT",
        io::ErrorKind::ConnectionReset => "ECONNRESET",
        _ => "ECONNRESET",
    }
    .to_string()
}

impl SessionTask {
    /// A task for `session`, attached to socket `socket_id` whose frames go to `out`. Its DHT
    /// queries each hold a permit of `query_permits` (the relay's and its client IP's) while
    /// they run.
    pub fn new(
        session: Session,
        (dht, query_permits): (Dht, QueryPermits),
        metrics: Arc<Metrics>,
        origin: Instant,
        socket: (u64, mpsc::UnboundedSender<SocketOut>),
        inbox: mpsc::UnboundedReceiver<SessionIn>,
    ) -> Self {
        let (internal_tx, internal) = mpsc::unbounded_channel();
        let (asks_tx, asks) = mpsc::channel(ASK_QUEUE);
        SessionTask {
            session,
            dht,
            query_permits,
            metrics,
            origin,
            socket: Some(socket),
            inbox,
            internal_tx,
            internal,
            asks_tx,
            asks,
            replies: HashMap::new(),
            next_ask: 0,
            tasks: HashMap::new(),
            next_gen: 1,
            streams: HashMap::new(),
            gate: Arc::default(),
            released: Vec::new(),
            incoming: HashMap::new(),
            next_conn: 0,
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs until the session ends or expires.
    pub async fn run(mut self) {
        self.metrics.sessions.fetch_add(1, Ordering::Relaxed);
        loop {
            self.pump();
            if self.session.is_ended() && self.socket.is_none() {
                break;
            }
            let now = self.now();
            if self.session.is_expired(now) {
                break;
            }
            let deadline = self.session.poll_timeout().map(|t| self.origin + Duration::from_millis(t));
            tokio::select! {
                msg = self.inbox.recv() => match msg {
                    Some(m) => self.on_socket(m),
                    None => break,
                },
                Some(i) = self.internal.recv() => self.on_internal(i),
                Some(a) = self.asks.recv() => self.on_ask(a),
                () = async {
                    match deadline {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = self.now();
                    self.session.handle_timeout(now);
                }
            }
        }
        self.shutdown();
        self.metrics.sessions.fetch_sub(1, Ordering::Relaxed);
    }

    fn shutdown(&mut self) {
        for (_, (_, t)) in self.tasks.drain() {
            t.abort();
        }
        for (_, s) in self.streams.drain() {
            s.abort();
            self.metrics.streams.fetch_sub(1, Ordering::Relaxed);
        }
        // A peer that never reads must not hold a released writer open after the session.
        for w in self.released.drain(..) {
            w.abort();
        }
        self.incoming.clear();
        if let Some((_, out)) = self.socket.take() {
            let _ = out.send(SocketOut::Close(1001, "session ended".into()));
        }
    }

    fn on_socket(&mut self, m: SessionIn) {
        let now = self.now();
        match m {
            SessionIn::Frame(from, t, p) => {
                if !self.is_current_socket(from) {
                    return;
                }
                self.metrics.bytes_in.fetch_add(p.len() as u64, Ordering::Relaxed);
                self.session.handle_frame(t, &p, now);
            }
            SessionIn::Attach { socket, out, received, ok } => {
                if self.session.is_ended() {
                    let _ = ok.send(false);
                    return;
                }
                // A failed resume leaves the session (and a socket still attached) alone.
                match self.session.resume(received, now) {
                    Ok(()) => {
                        if let Some((_, old)) = self.socket.replace((socket, out)) {
                            let _ = old.send(SocketOut::Close(4000, "replaced".into()));
                        }
                        let _ = ok.send(true);
                    }
                    Err(_) => {
                        let _ = ok.send(false);
                    }
                }
            }
            SessionIn::Detached(id) => {
                if self.socket.as_ref().is_some_and(|(s, _)| *s == id) {
                    self.socket = None;
                    if !self.session.is_ended() {
                        self.session.detach(now);
                    }
                }
            }
            SessionIn::Drain => self.session.drain(now),
        }
    }

    /// Whether `socket` is the socket attached now (frames of any other are stale).
    fn is_current_socket(&self, socket: u64) -> bool {
        self.socket.as_ref().is_some_and(|(s, _)| *s == socket)
    }

    /// Moves everything the session queued: frames to the socket, commands to the DHT side.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some((t, p)) = self.session.poll_transmit() {
                moved = true;
                if let Some((_, out)) = &self.socket {
                    self.metrics.bytes_out.fetch_add(p.len() as u64, Ordering::Relaxed);
                    if t == hyperwasm::relay_protocol::types::ERROR {
                        self.metrics.count_error(&p);
                    }
                    let _ = out.send(SocketOut::Frame(t, p));
                }
            }
            while let Some(c) = self.session.poll_command() {
                moved = true;
                self.command(c);
            }
            if let Some(close) = self.session.poll_socket_close() {
                moved = true;
                if let Some((_, out)) = self.socket.take() {
                    let (code, reason) = match close {
                        SocketClose::Idle => (1001, "idle".to_string()),
                        SocketClose::Ended { ws_code, code } => (ws_code, code.to_string()),
                    };
                    let _ = out.send(SocketOut::Close(code, reason));
                }
            }
            if !moved {
                break;
            }
        }
        self.gate.replay.store(self.session.replay_bytes() as u64, Ordering::Release);
        if self.gate.open() {
            self.gate.below.notify_waiters();
        }
    }

    fn delegate(&self, key: u64, gen: u64) -> Delegate {
        Delegate { tag: delegate_tag(key, gen), asks: self.asks_tx.clone() }
    }

    fn next_gen(&mut self) -> u64 {
        let gen = self.next_gen;
        self.next_gen += 1;
        gen
    }

    /// Spawns the task `key` of generation `gen` (the current `next_gen`, which moves on).
    fn spawn_task(
        &mut self,
        key: u64,
        gen: u64,
        fut: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.next_gen = self.next_gen.max(gen + 1);
        if let Some((_, old)) = self.tasks.insert(key, (gen, tokio::spawn(fut))) {
            old.abort();
        }
    }

    /// Whether `gen` is the generation of the live task `key`.
    fn is_current(&self, key: u64, gen: u64) -> bool {
        self.tasks.get(&key).is_some_and(|(g, _)| *g == gen)
    }

    /// Removes the task `key` if it is of generation `gen` (it finished).
    fn task_done(&mut self, key: u64, gen: u64) {
        if self.is_current(key, gen) {
            self.tasks.remove(&key);
        }
    }

    fn abort_task(&mut self, key: u64) {
        if let Some((_, t)) = self.tasks.remove(&key) {
            t.abort();
        }
    }

    fn command(&mut self, c: SessionCommand) {
        // The generation of the task this command may spawn.
        let gen = self.next_gen;
        let tx = self.internal_tx.clone();
        let report = move |ev: DhtEvent| {
            let _ = tx.send(Internal::Dht(gen, ev));
        };
        match c {
            SessionCommand::Query { id, kind } => {
                self.metrics.queries.fetch_add(1, Ordering::Relaxed);
                let req = match kind {
                    QueryKind::Lookup { topic } => OpRequest::Lookup { topic },
                    QueryKind::FindPeer { public_key } => OpRequest::FindPeer { public_key },
                    QueryKind::Announce { topic, public_key, relay_addresses } => {
                        let delegate = self.delegate(u64::from(id), gen);
                        OpRequest::AnnounceDelegated { topic, public_key, relay_addresses, delegate }
                    }
                    QueryKind::Unannounce { topic, public_key } => {
                        let delegate = self.delegate(u64::from(id), gen);
                        OpRequest::UnannounceDelegated { topic, public_key, delegate }
                    }
                };
                let (dht, permits) = (self.dht.clone(), self.query_permits.clone());
                self.spawn_task(u64::from(id), gen, async move {
                    // Closed only if the relay is gone; then the query runs unthrottled.
                    let _permit = permits.acquire().await;
                    let mut op = match dht.op(req) {
                        Ok(op) => op,
                        Err(e) => return report(DhtEvent::QueryFailed { id, code: code_of(&e) }),
                    };
                    while let Some(r) = op.next().await {
                        report(DhtEvent::QueryReply { id, from: r.from, peers: r.peers });
                    }
                    match op.finish().await {
                        Ok(OpDone::Committed(list)) => {
                            let commits = list.iter().filter(|c| c.result == Ok(0)).count() as u64;
                            report(DhtEvent::QueryDone { id, commits });
                        }
                        Ok(_) => report(DhtEvent::QueryDone { id, commits: 0 }),
                        Err(e) => report(DhtEvent::QueryFailed { id, code: code_of(&e) }),
                    }
                });
            }
            SessionCommand::CancelQuery { id } => self.abort_task(u64::from(id)),
            SessionCommand::Connect { stream, remote_public_key, public_key, relay_addresses } => {
                let dht = self.dht.clone();
                let delegate = self.delegate(TAG_DIAL | u64::from(stream), gen);
                let tx = self.internal_tx.clone();
                self.spawn_task(TAG_DIAL | u64::from(stream), gen, async move {
                    match dht
                        .connect_delegated(remote_public_key, public_key, relay_addresses, delegate)
                        .await
                    {
                        Ok(conn) => {
                            let _ = tx.send(Internal::Connected(gen, stream, conn));
                        }
                        Err(e) => report(DhtEvent::ConnectFailed { stream, code: code_of(&e) }),
                    }
                });
            }
            SessionCommand::Listen { server, public_key } => {
                let dht = self.dht.clone();
                let delegate = self.delegate(TAG_SERVER | u64::from(server), gen);
                let tx = self.internal_tx.clone();
                self.spawn_task(TAG_SERVER | u64::from(server), gen, async move {
                    let mut srv = match dht.listen_delegated(public_key, delegate).await {
                        Ok(s) => s,
                        Err(e) => return report(DhtEvent::ListenFailed { server, code: code_of(&e) }),
                    };
                    let relay_addresses = srv.relay_addresses().await;
                    report(DhtEvent::Listening { server, relay_addresses });
                    while let Some(conn) = srv.accept().await {
                        if tx.send(Internal::Incoming(gen, server, conn)).is_err() {
                            break;
                        }
                    }
                });
            }
            SessionCommand::Unlisten { server } => self.abort_task(TAG_SERVER | u64::from(server)),
            SessionCommand::Answer { ask, answer } => self.answer(ask, answer),
            SessionCommand::AdoptIncoming { conn, stream } => {
                if let Some(c) = self.incoming.remove(&conn) {
                    self.start_stream(stream, c);
                }
            }
            SessionCommand::DropIncoming { conn } => {
                self.incoming.remove(&conn);
            }
            SessionCommand::ReadMore { stream, bytes } => {
                if let Some(s) = self.streams.get(&stream) {
                    let add = |a: u64| Some(a.saturating_add(bytes).min(MAX_ALLOWANCE));
                    let _ = s.allowance.bytes.fetch_update(Ordering::AcqRel, Ordering::Acquire, add);
                    s.allowance.more.notify_one();
                }
            }
            SessionCommand::Write { stream, bytes } => {
                if let Some(w) = self.streams.get(&stream).and_then(|s| s.writes.as_ref()) {
                    let _ = w.send(Some(bytes));
                }
            }
            SessionCommand::End { stream } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    if let Some(w) = s.writes.take() {
                        let _ = w.send(None);
                    }
                }
            }
            SessionCommand::Destroy { stream } => {
                self.abort_task(TAG_DIAL | u64::from(stream));
                if let Some(s) = self.streams.remove(&stream) {
                    s.abort();
                    self.metrics.streams.fetch_sub(1, Ordering::Relaxed);
                }
            }
            SessionCommand::Release { stream } => {
                // Both sides ended: the writer finishes what it has (then drops its half).
                if let Some(s) = self.streams.remove(&stream) {
                    s.reader.abort();
                    self.metrics.streams.fetch_sub(1, Ordering::Relaxed);
                    self.released.retain(|w| !w.is_finished());
                    if self.released.len() >= MAX_RELEASED {
                        self.released.remove(0).abort();
                    }
                    self.released.push(s.writer);
                }
            }
        }
    }

    fn answer(&mut self, ask: AskId, answer: AskAnswer) {
        let Some(reply) = self.replies.remove(&ask) else { return };
        match (reply, answer) {
            (Reply::Sign(tx), AskAnswer::Signature(v)) => {
                let _ = tx.send(v);
            }
            (Reply::Msg1(tx), AskAnswer::Msg1(v)) => {
                let _ = tx.send(v);
            }
            (Reply::Remote(tx), AskAnswer::Remote(v)) => {
                let _ = tx.send(v);
            }
            (Reply::Hs(tx), AskAnswer::Handshake(v)) => {
                let _ = tx.send(v);
            }
            _ => {} // a mismatched answer refuses (the sender drops)
        }
    }

    fn on_ask(&mut self, Asked { tag, ask }: Asked) {
        let key = tag & KEY_MASK;
        let stale = self.tasks.get(&key).is_none_or(|(g, _)| delegate_tag(key, *g) != tag);
        if stale {
            // An ask of a task that is gone (its id may be reused): refused (the reply drops).
            return;
        }
        let id = AskId(self.next_ask);
        self.next_ask += 1;
        let now = self.now();
        let low = u32::try_from(key & 0xffff_ffff).unwrap_or(0);
        let ev = match ask {
            Ask::Sign { parts, reply, .. } => {
                self.replies.insert(id, Reply::Sign(reply));
                DhtEvent::Sign { id: low, ask: id, parts }
            }
            Ask::InitiatorMessage { local_payload, reply } => {
                self.replies.insert(id, Reply::Msg1(reply));
                DhtEvent::NoiseInit { stream: low, ask: id, local_payload }
            }
            Ask::ResponderMessage { msg2, reply } => {
                self.replies.insert(id, Reply::Remote(reply));
                DhtEvent::NoiseMsg2 { stream: low, ask: id, msg2 }
            }
            Ask::Handshake { hs, msg1, local_payload, peer_address, reply } => {
                self.replies.insert(id, Reply::Hs(reply));
                DhtEvent::Handshake { server: low, ask: id, hs, peer_address, msg1, local_payload }
            }
        };
        self.session.handle_dht(ev, now);
        // Replies of asks the DHT side gave up on (timeout) are dropped with their oneshot.
        self.replies.retain(|_, r| match r {
            Reply::Sign(t) => !t.is_closed(),
            Reply::Msg1(t) => !t.is_closed(),
            Reply::Remote(t) => !t.is_closed(),
            Reply::Hs(t) => !t.is_closed(),
        });
    }

    fn on_internal(&mut self, i: Internal) {
        let now = self.now();
        match i {
            Internal::Dht(gen, ev) => {
                if let DhtEvent::StreamData { bytes, .. } = &ev {
                    self.gate.in_flight.fetch_sub(bytes.len() as u64, Ordering::AcqRel);
                }
                if !self.is_current_event(&ev, gen) {
                    return; // from a task that was cancelled, closed or replaced
                }
                if let DhtEvent::QueryDone { id, .. } | DhtEvent::QueryFailed { id, .. } = &ev {
                    self.task_done(u64::from(*id), gen);
                }
                self.session.handle_dht(ev, now);
            }
            Internal::Connected(gen, stream, conn) => {
                let key = TAG_DIAL | u64::from(stream);
                if !self.is_current(key, gen) {
                    return; // an abandoned dial: the connection drops (destroyed)
                }
                self.tasks.remove(&key);
                let remote_address = conn.info().remote_address;
                self.start_stream(stream, conn);
                self.session.handle_dht(DhtEvent::Opened { stream, remote_address }, now);
            }
            Internal::Incoming(gen, server, conn) => {
                if !self.is_current(TAG_SERVER | u64::from(server), gen) {
                    return; // from a server that was closed: dropped
                }
                let key = self.next_conn;
                self.next_conn += 1;
                let info = conn.info().clone();
                self.incoming.insert(key, conn);
                let hs = info.handshake_id.unwrap_or(u64::MAX);
                let ev = DhtEvent::Incoming { server, hs, conn: key, remote_address: info.remote_address };
                self.session.handle_dht(ev, now);
                // The session adopts it (`AdoptIncoming`) or not; one not adopted is dropped
                // (destroyed).
                self.pump();
                self.incoming.remove(&key);
            }
        }
    }

    /// Whether `ev` comes from the live task (or stream pumps) it names.
    fn is_current_event(&self, ev: &DhtEvent, gen: u64) -> bool {
        match ev {
            DhtEvent::QueryReply { id, .. }
            | DhtEvent::QueryDone { id, .. }
            | DhtEvent::QueryFailed { id, .. } => self.is_current(u64::from(*id), gen),
            DhtEvent::ConnectFailed { stream, .. } => self.is_current(TAG_DIAL | u64::from(*stream), gen),
            DhtEvent::Listening { server, .. } | DhtEvent::ListenFailed { server, .. } => {
                self.is_current(TAG_SERVER | u64::from(*server), gen)
            }
            DhtEvent::StreamData { stream, .. }
            | DhtEvent::Written { stream, .. }
            | DhtEvent::StreamEnded { stream }
            | DhtEvent::StreamClosed { stream, .. } => self.streams.get(stream).is_some_and(|s| s.gen == gen),
            // Made here, never sent by a task.
            DhtEvent::Sign { .. }
            | DhtEvent::NoiseInit { .. }
            | DhtEvent::NoiseMsg2 { .. }
            | DhtEvent::Opened { .. }
            | DhtEvent::Handshake { .. }
            | DhtEvent::Incoming { .. } => false,
        }
    }

    fn start_stream(&mut self, stream: u32, conn: DelegatedConnection) {
        let (read, write) = conn.into_split();
        self.start_pumps(stream, read, write);
    }

    fn start_pumps<R, W>(&mut self, stream: u32, read: R, write: W)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let gen = self.next_gen();
        let allowance = Arc::new(Allowance { bytes: AtomicU64::new(0), more: Notify::new() });
        let (wtx, wrx) = mpsc::unbounded_channel();
        let tx = self.internal_tx.clone();
        let reader =
            tokio::spawn(read_pump((gen, stream), read, (allowance.clone(), self.gate.clone()), tx.clone()));
        let writer = tokio::spawn(write_pump((gen, stream), write, wrx, tx));
        self.metrics.streams.fetch_add(1, Ordering::Relaxed);
        let pumps = StreamPumps { gen, allowance, writes: Some(wtx), reader, writer };
        let old = self.streams.insert(stream, pumps);
        if let Some(old) = old {
            old.abort();
            self.metrics.streams.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Reads the stream within the client's credit (`allowance`) and while the session's read
/// gate is open.
async fn read_pump(
    (gen, stream): (u64, u32),
    mut read: impl AsyncRead + Unpin,
    (allowance, gate): (Arc<Allowance>, Arc<ReadGate>),
    tx: mpsc::UnboundedSender<Internal>,
) {
    let report = |ev| tx.send(Internal::Dht(gen, ev)).is_ok();
    let mut buf = vec![0u8; MAX_DATA_LEN];
    loop {
        let allowed = allowance.bytes.load(Ordering::Acquire);
        if allowed == 0 {
            allowance.more.notified().await;
            continue;
        }
        gate.wait_open().await;
        let want = usize::try_from(allowed).unwrap_or(usize::MAX).min(MAX_DATA_LEN);
        match read.read(&mut buf[..want]).await {
            Ok(0) => {
                report(DhtEvent::StreamEnded { stream });
                return;
            }
            Ok(n) => {
                allowance.bytes.fetch_sub(n as u64, Ordering::AcqRel);
                gate.in_flight.fetch_add(n as u64, Ordering::AcqRel);
                if !report(DhtEvent::StreamData { stream, bytes: buf[..n].to_vec() }) {
                    return;
                }
            }
            Err(e) => {
                report(DhtEvent::StreamClosed { stream, code: io_code(&e) });
                return;
            }
        }
    }
}

async fn write_pump(
    (gen, stream): (u64, u32),
    mut write: impl AsyncWrite + Unpin,
    mut writes: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    tx: mpsc::UnboundedSender<Internal>,
) {
    while let Some(op) = writes.recv().await {
        let result = match op {
            Some(bytes) => write.write_all(&bytes).await.map(|()| bytes.len()),
            None => {
                let _ = write.shutdown().await;
                return;
            }
        };
        match result {
            Ok(n) => {
                let _ = tx.send(Internal::Dht(gen, DhtEvent::Written { stream, bytes: n as u64 }));
            }
            Err(e) => {
                let _ = tx.send(Internal::Dht(gen, DhtEvent::StreamClosed { stream, code: io_code(&e) }));
                return;
            }
        }
    }
}

#[cfg(test)]
#[path = "session_io_tests.rs"]
mod tests;
