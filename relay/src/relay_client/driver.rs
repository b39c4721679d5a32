//! The client task: owns the [`RelayClient`] state machine and the WebSocket, reconnects with
//! the session's token when the socket drops, and routes the state machine's events to the
//! handles (queries, dials, servers, streams).
//!
//! One `select!` loop: commands from the handles, frames from the socket, the state machine's
//! timer, the reconnect timer and the pending WebSocket handshake. Frames to send go to a
//! writer task per socket through an unbounded channel: what it holds is bounded by the
//! state machine (everything sequenced waits in its replay buffer until the relay acknowledges
//! it, stream data stops at the credit and at the replay room).

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{SplitStream, StreamExt};
use futures::SinkExt;
use hyperwasm::crypto::KeyPair;
use hyperwasm::relay_protocol::{ClientEvent, Firewall, RelayClient};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::stream::{RelayConnection, StreamShared};
use super::{RelayClientError, RelayDhtOptions, RelayStats};
use crate::dht::LookupReply;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Connecting = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Socket, String>> + Send>>;

/// A query the handles can start.
#[derive(Debug)]
pub(crate) enum QueryKind {
    Lookup([u8; 32]),
    FindPeer([u8; 32]),
    Announce { topic: [u8; 32], key_pair: KeyPair, relay_addresses: Vec<SocketAddrV4> },
    Unannounce { topic: [u8; 32], key_pair: KeyPair },
}

/// What the task streams to a query's handle.
#[derive(Debug)]
pub(crate) enum QueryUpdate {
    Reply(LookupReply),
    Done(Result<u64, RelayClientError>),
}

/// A server's start: its id and first relay addresses.
pub(crate) type Listened = Result<(u32, Vec<SocketAddrV4>), RelayClientError>;

/// A request to the client task.
pub(crate) enum Cmd {
    Query {
        key: u64,
        kind: QueryKind,
        updates: mpsc::UnboundedSender<QueryUpdate>,
    },
    Cancel(u64),
    Connect {
        remote_public_key: [u8; 32],
        key_pair: KeyPair,
        hints: Vec<SocketAddrV4>,
        reply: oneshot::Sender<Result<RelayConnection, RelayClientError>>,
    },
    Listen {
        key_pair: KeyPair,
        incoming: mpsc::Sender<RelayConnection>,
        reply: oneshot::Sender<Listened>,
    },
    Unlisten(u32),
    ServerRelays(u32, oneshot::Sender<Vec<SocketAddrV4>>),
    Poke(u32),
    Stats(oneshot::Sender<RelayStats>),
    /// Drop the WebSocket now (as if the network failed); the session resumes on reconnect.
    Disconnect,
    Destroy(oneshot::Sender<()>),
}

struct ServerEntry {
    incoming: mpsc::Sender<RelayConnection>,
    started: Option<oneshot::Sender<Listened>>,
    relays: Vec<SocketAddrV4>,
}

struct Query {
    key: u64,
    updates: mpsc::UnboundedSender<QueryUpdate>,
}

struct Live {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    reader: SplitStream<Socket>,
}

pub(crate) struct Driver {
    client: RelayClient,
    opts: RelayDhtOptions,
    url: String,
    origin: Instant,
    cmds: mpsc::WeakUnboundedSender<Cmd>,
    live: Option<Live>,
    connecting: Option<Connecting>,
    reconnect_at: Option<Instant>,
    backoff: Duration,
    ready: Option<oneshot::Sender<Result<(), RelayClientError>>>,
    queries: HashMap<u32, Query>,
    query_keys: HashMap<u64, u32>,
    dials: HashMap<u32, oneshot::Sender<Result<RelayConnection, RelayClientError>>>,
    servers: HashMap<u32, ServerEntry>,
    streams: HashMap<u32, Arc<StreamShared>>,
    stats: RelayStats,
}

/// Opens a WebSocket to `url` (with an `Origin` header when given), giving up after `limit`.
fn open(url: String, origin: Option<String>, limit: Duration) -> Connecting {
    Box::pin(async move {
        let mut req = url.as_str().into_client_request().map_err(|e| e.to_string())?;
        if let Some(o) = origin {
            let v = o.parse().map_err(|_| format!("bad origin {o:?}"))?;
            req.headers_mut().insert("origin", v);
        }
        // TCP_NODELAY: small frames (replication requests, credit, acks) go out at once
        // instead of waiting out Nagle's delay against the relay's delayed ACKs.
        let connect = tokio_tungstenite::connect_async_with_config(req, None, true);
        match tokio::time::timeout(limit, connect).await {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no WebSocket within {limit:?}")),
        }
    })
}

async fn ws_next(live: &mut Option<Live>) -> Option<Result<Ws, String>> {
    match live {
        Some(l) => l.reader.next().await.map(|r| r.map_err(|e| e.to_string())),
        None => std::future::pending().await,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn connecting_opt(c: &mut Option<Connecting>) -> Result<Socket, String> {
    match c {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

impl Driver {
    pub(crate) fn spawn(
        url: String,
        opts: RelayDhtOptions,
        ready: oneshot::Sender<Result<(), RelayClientError>>,
    ) -> mpsc::UnboundedSender<Cmd> {
        let (tx, rx) = mpsc::unbounded_channel();
        let origin = Instant::now();
        let driver = Driver {
            client: RelayClient::new(opts.client, 0),
            connecting: Some(open(url.clone(), opts.origin.clone(), opts.connect_timeout)),
            url,
            opts,
            origin,
            cmds: tx.downgrade(),
            live: None,
            reconnect_at: None,
            backoff: Duration::ZERO,
            ready: Some(ready),
            queries: HashMap::new(),
            query_keys: HashMap::new(),
            dials: HashMap::new(),
            servers: HashMap::new(),
            streams: HashMap::new(),
            stats: RelayStats::default(),
        };
        tokio::spawn(driver.run(rx));
        tx
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        self.backoff = self.opts.backoff_min;
        let first_deadline = Instant::now() + self.opts.connect_timeout;
        loop {
            let timer = self.client.poll_timeout().map(|ms| self.origin + Duration::from_millis(ms));
            let first = if self.ready.is_some() { Some(first_deadline) } else { None };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Destroy(done)) => {
                        self.shutdown();
                        let _ = done.send(());
                        return;
                    }
                    Some(cmd) => self.command(cmd),
                    None => {
                        self.shutdown();
                        return;
                    }
                },
                msg = ws_next(&mut self.live) => self.on_ws(msg),
                res = connecting_opt(&mut self.connecting) => {
                    self.connecting = None;
                    match res {
                        Ok(ws) => self.attach(ws),
                        Err(e) => {
                            crate::vlog!("relay client: connect failed: {e}");
                            if self.ready.is_some() && self.stats.sessions == 0 && !self.opts.retry_first {
                                if let Some(r) = self.ready.take() {
                                    let _ = r.send(Err(RelayClientError::Unreachable(e)));
                                }
                                self.shutdown();
                                return;
                            }
                            self.schedule_reconnect();
                        }
                    }
                }
                () = sleep_opt(self.reconnect_at) => {
                    self.reconnect_at = None;
                    self.stats.reconnects += 1;
                    self.connecting = Some(open(self.url.clone(), self.opts.origin.clone(), self.opts.connect_timeout));
                }
                () = sleep_opt(timer) => {
                    let now = self.now();
                    self.client.handle_timeout(now);
                }
                () = sleep_opt(first) => {
                    if let Some(r) = self.ready.take() {
                        let _ = r.send(Err(RelayClientError::Unreachable("no welcome in time".into())));
                    }
                    self.shutdown();
                    return;
                }
            }
            self.pump();
        }
    }

    fn schedule_reconnect(&mut self) {
        self.reconnect_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(self.opts.backoff_max);
    }

    fn attach(&mut self, ws: Socket) {
        let (mut sink, reader) = ws.split();
        let (frames, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            // Frames queued together go out in one flush (one write for a burst).
            while let Some(f) = rx.recv().await {
                if sink.feed(Ws::Binary(f)).await.is_err() {
                    return;
                }
                let mut more = 0;
                while more < 256 {
                    let Ok(f) = rx.try_recv() else { break };
                    if sink.feed(Ws::Binary(f)).await.is_err() {
                        return;
                    }
                    more += 1;
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            let _ = sink.close().await;
        });
        self.live = Some(Live { frames, reader });
        let now = self.now();
        self.client.on_connected(now);
    }

    /// Drops the socket: the session waits for the next one (grace period).
    fn detach(&mut self) {
        if self.live.take().is_some() || self.connecting.take().is_some() {
            let now = self.now();
            self.client.on_disconnected(now);
            self.stats.disconnects += 1;
        }
        if self.reconnect_at.is_none() {
            self.schedule_reconnect();
        }
    }

    fn on_ws(&mut self, msg: Option<Result<Ws, String>>) {
        match msg {
            Some(Ok(Ws::Binary(frame))) => {
                let now = self.now();
                self.stats.bytes_in += frame.len() as u64;
                if let Err(e) = self.client.handle_frame(&frame, now) {
                    crate::log!("relay client: protocol error from the relay: {e} ({})", e.code());
                    self.detach();
                }
            }
            Some(Ok(Ws::Ping(_) | Ws::Pong(_) | Ws::Frame(_))) => {}
            Some(Ok(Ws::Text(_))) => {
                crate::log!("relay client: text message from the relay");
                self.detach();
            }
            Some(Ok(Ws::Close(_))) | Some(Err(_)) | None => self.detach(),
        }
    }

    fn shutdown(&mut self) {
        for (_, q) in self.queries.drain() {
            let _ = q.updates.send(QueryUpdate::Done(Err(RelayClientError::Destroyed)));
        }
        for (_, d) in self.dials.drain() {
            let _ = d.send(Err(RelayClientError::Destroyed));
        }
        for (_, s) in self.servers.drain() {
            if let Some(r) = s.started {
                let _ = r.send(Err(RelayClientError::Destroyed));
            }
        }
        for (_, s) in self.streams.drain() {
            s.close("DESTROYED");
        }
        if let Some(live) = self.live.take() {
            // Closing the frame channel makes the writer send a close frame.
            drop(live);
        }
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Query { key, kind, updates } => {
                let started = match kind {
                    QueryKind::Lookup(topic) => self.client.lookup(topic),
                    QueryKind::FindPeer(pk) => self.client.find_peer(pk),
                    QueryKind::Announce { topic, key_pair, relay_addresses } => {
                        self.client.announce(topic, &key_pair, relay_addresses)
                    }
                    QueryKind::Unannounce { topic, key_pair } => self.client.unannounce(topic, &key_pair),
                };
                match started {
                    Ok(id) => {
                        self.queries.insert(id, Query { key, updates });
                        self.query_keys.insert(key, id);
                    }
                    Err(e) => {
                        let _ = updates.send(QueryUpdate::Done(Err(e.into())));
                    }
                }
            }
            Cmd::Cancel(key) => {
                if let Some(id) = self.query_keys.get(&key) {
                    let _ = self.client.cancel(*id);
                }
            }
            Cmd::Connect { remote_public_key, key_pair, hints, reply } => {
                match self.client.connect(remote_public_key, &key_pair, hints) {
                    Ok(id) => {
                        self.dials.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Cmd::Listen { key_pair, incoming, reply } => {
                match self.client.listen(&key_pair, Firewall::AcceptAll) {
                    Ok(id) => {
                        self.servers
                            .insert(id, ServerEntry { incoming, started: Some(reply), relays: Vec::new() });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Cmd::Unlisten(id) => {
                let _ = self.client.unlisten(id);
            }
            Cmd::ServerRelays(id, reply) => {
                let _ = reply.send(self.servers.get(&id).map(|s| s.relays.clone()).unwrap_or_default());
            }
            Cmd::Poke(id) => self.service(id),
            Cmd::Stats(reply) => {
                let mut stats = self.stats.clone();
                stats.connected = self.client.is_ready();
                stats.streams = self.streams.len();
                let _ = reply.send(stats);
            }
            Cmd::Disconnect => {
                if self.live.is_some() {
                    self.detach();
                }
            }
            Cmd::Destroy(_) => {}
        }
    }

    /// A stream's buffers changed (written, read, ended, released) or credit arrived.
    fn service(&mut self, id: u32) {
        let Some(shared) = self.streams.get(&id).cloned() else { return };
        let client = &mut self.client;
        let mut failed = None;
        let out = shared.service(|bytes| match client.stream_write(id, bytes) {
            Ok(n) => n,
            Err(e) => {
                failed = Some(e);
                0
            }
        });
        if out.consumed > 0 {
            let _ = self.client.stream_consumed(id, out.consumed);
        }
        if out.released {
            let _ = self.client.stream_close(id);
            self.streams.remove(&id);
            return;
        }
        if out.end {
            let _ = self.client.stream_end(id);
        }
        if let Some(e) = failed {
            crate::vlog!("relay client: stream {id} write failed: {e}");
        }
    }

    /// Sends what the state machine queued and routes its events, until both are empty.
    fn pump(&mut self) {
        loop {
            let mut any = false;
            while let Some(frame) = self.client.poll_transmit() {
                any = true;
                self.stats.bytes_out += frame.len() as u64;
                if let Some(live) = &self.live {
                    let _ = live.frames.send(frame);
                }
            }
            while let Some(ev) = self.client.poll_event() {
                any = true;
                self.event(ev);
            }
            if !any {
                return;
            }
        }
    }

    fn new_stream(&mut self, id: u32) -> Option<Arc<StreamShared>> {
        let cmds = self.cmds.upgrade()?;
        let shared = StreamShared::new(id, cmds);
        self.streams.insert(id, shared.clone());
        Some(shared)
    }

    fn event(&mut self, ev: ClientEvent) {
        match ev {
            ClientEvent::SessionStarted { .. } => {
                self.stats.sessions += 1;
                self.backoff = self.opts.backoff_min;
                if let Some(r) = self.ready.take() {
                    let _ = r.send(Ok(()));
                }
            }
            ClientEvent::SessionResumed => {
                self.stats.resumes += 1;
                self.backoff = self.opts.backoff_min;
            }
            ClientEvent::SessionExpired => self.stats.expired += 1,
            ClientEvent::SessionError { code, message } => {
                crate::log!("relay client: session error {code}: {message}");
                self.detach();
            }
            ClientEvent::IdleTimeout | ClientEvent::RelayClosed => self.detach(),
            ClientEvent::QueryResult { id, from, peers } => {
                if let Some(q) = self.queries.get(&id) {
                    let _ = q.updates.send(QueryUpdate::Reply(LookupReply { from, peers }));
                }
            }
            ClientEvent::QueryDone { id, commits } => self.end_query(id, Ok(commits)),
            ClientEvent::QueryFailed { id, code, message } => {
                self.end_query(id, Err(RelayClientError::remote(code, message)))
            }
            ClientEvent::SignRefused { id, reason } => {
                crate::log!("relay client: refused to sign for {id}: {reason}");
            }
            ClientEvent::Listening { server, relay_addresses } => {
                if let Some(s) = self.servers.get_mut(&server) {
                    s.relays = relay_addresses.clone();
                    if let Some(r) = s.started.take() {
                        let _ = r.send(Ok((server, relay_addresses)));
                    }
                }
            }
            ClientEvent::Unlistened { server } => {
                self.servers.remove(&server);
            }
            ClientEvent::ServerClosed { server, code } => {
                if let Some(s) = self.servers.remove(&server) {
                    if let Some(r) = s.started {
                        let _ = r.send(Err(RelayClientError::remote(code, "server failed")));
                    }
                }
            }
            ClientEvent::FirewallRequest { hs, .. } => {
                let _ = self.client.firewall_decision(hs, true);
            }
            ClientEvent::StreamOpen { id, remote_address, handshake, .. } => {
                let Some(reply) = self.dials.remove(&id) else {
                    let _ = self.client.stream_close(id);
                    return;
                };
                match self.new_stream(id) {
                    Some(shared) => {
                        // A caller that gave up drops the connection, which closes the stream.
                        let _ = reply.send(Ok(RelayConnection::new(&shared, handshake, remote_address)));
                    }
                    None => {
                        let _ = self.client.stream_close(id);
                    }
                }
            }
            ClientEvent::Incoming { server, stream, remote_address, handshake, .. } => {
                let Some(tx) = self.servers.get(&server).map(|s| s.incoming.clone()) else {
                    let _ = self.client.stream_close(stream);
                    return;
                };
                match self.new_stream(stream) {
                    Some(shared) => {
                        let conn = RelayConnection::new(&shared, handshake, remote_address);
                        // A full backlog or a dropped server drops the connection (closed).
                        let _ = tx.try_send(conn);
                    }
                    None => {
                        let _ = self.client.stream_close(stream);
                    }
                }
            }
            ClientEvent::StreamData { id, bytes } => match self.streams.get(&id) {
                Some(s) => s.push(bytes),
                None => {
                    let _ = self.client.stream_consumed(id, bytes.len() as u64);
                }
            },
            ClientEvent::StreamWritable { id, .. } => {
                if self.streams.get(&id).is_some_and(|s| s.has_pending_send()) {
                    self.service(id);
                }
            }
            ClientEvent::StreamEnded { id } => {
                if let Some(s) = self.streams.get(&id) {
                    s.remote_end();
                }
            }
            ClientEvent::StreamClosed { id, code } => {
                if let Some(reply) = self.dials.remove(&id) {
                    let _ = reply.send(Err(RelayClientError::remote(code, "connect failed")));
                } else if let Some(s) = self.streams.remove(&id) {
                    s.close(&code);
                }
            }
        }
    }

    fn end_query(&mut self, id: u32, result: Result<u64, RelayClientError>) {
        if let Some(q) = self.queries.remove(&id) {
            self.query_keys.remove(&q.key);
            let _ = q.updates.send(QueryUpdate::Done(result));
        }
    }
}
