//! The relay's side of one `@hyperswarm/dht-relay` session (JS `lib/node-proxy.js`,
//! `server-proxy.js`, `handshake-proxy.js`, `signee-proxy.js`), non-custodial only, sans-IO.
//!
//! Input: the channel's messages ([`Session::handle_message`]: Protomux type + payload), the
//! DHT side's [`DhtEvent`]s ([`Session::handle_dht`]), time ([`Session::handle_timeout`]) and
//! socket progress ([`Session::on_flushed`]). Output: messages for the client
//! ([`Session::poll_transmit`]), [`DhtCommand`]s ([`Session::poll_command`]), the next deadline
//! ([`Session::poll_timeout`]) and, once over, why ([`Session::close_reason`]).
//!
//! Differences from the JS relay, all on the side of correctness:
//! - a custodial request (a secret key on the wire) is refused: `connect` gets
//!   `destroy{CUSTODIAL_REFUSED}`, `announce`/`unannounce` get `finished`, and the session
//!   closes with [`CUSTODIAL_REFUSED`]; the key is dropped at once (never stored or logged);
//! - signature requests carry the record's real relay addresses (JS passed the whole peer
//!   object, so servers never announced); the session checks every record against what the
//!   client asked for and against the node's signable, and checks the client's signature;
//! - every stream end is reported: `destroy` with the right `paired` flag (JS sent nothing on a
//!   clean close, and crashed on `paired` unset), including streams the client never saw open;
//! - the liveness timer runs from the start (JS armed it only with the first `pong`);
//! - limits on streams, servers, queries and pending asks.
//!
//! The JS client's `noiseReply{complete}` carries `remoteId` and `holepunchSecret`; this relay
//! does no holepunching of its own and keeps neither.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;

use hyperwasm::encoding::Compact;
use hyperwasm::hyperdht::messages::{decode as decode_payload, NoisePayload};

use super::codecs::Key;
use super::dht_side::{Accepted, Answer, AskId, DhtCommand, ServerId, StreamId};
use super::messages::{
    Announce, Connect, Destroy, DestroyTarget, Listen, Message, MessageError, NoiseReply, NoiseSend,
    NoiseSendRole,
};
use crate::hyperdht::server::payload_error;

mod dht_events;

/// Close code: the client sent a secret key.
pub const CUSTODIAL_REFUSED: &str = "CUSTODIAL_REFUSED";
/// Close code: a message that does not decode, or that breaks the protocol.
pub const BAD_MESSAGE: &str = "BAD_MESSAGE";
/// Close code: nothing received for [`SessionConfig::liveness_ms`].
pub const TIMED_OUT: &str = "ETIMEDOUT";
/// Close code: the client reused a live query id, stream or server alias.
pub const ID_IN_USE: &str = "ID_IN_USE";
/// Close code: too many servers.
pub const LIMIT_SERVERS: &str = "LIMIT_SERVERS";

/// Bytes of Protomux framing counted per queued message (channel id and type).
const FRAME_OVERHEAD: usize = 2;

/// Timers and limits of a session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// `ping` period (JS: 15 s).
    pub ping_interval_ms: u64,
    /// The session ends after this long without a message (JS: 45 s).
    pub liveness_ms: u64,
    /// A signature request not answered in this time is refused.
    pub sign_timeout_ms: u64,
    /// Above this many queued bytes the session asks to stop reading UDX streams.
    pub high_water: usize,
    /// At or below this many it asks to read them again.
    pub low_water: usize,
    /// Live streams (connects and incoming connections).
    pub max_streams: usize,
    /// Live servers.
    pub max_servers: usize,
    /// Live queries.
    pub max_queries: usize,
    /// Signature requests and handshakes waiting for the client.
    pub max_asks: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ping_interval_ms: 15_000,
            liveness_ms: 45_000,
            sign_timeout_ms: 10_000,
            high_water: 1 << 20,
            low_water: 256 << 10,
            max_streams: 256,
            max_servers: 16,
            max_queries: 64,
            max_asks: 256,
        }
    }
}

/// One message for the client: the payload of Protomux message `message_type` on the
/// session's channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The Protomux message type ([`super::messages::MessageType`] as a number).
    pub message_type: u64,
    /// The encoded message.
    pub payload: Vec<u8>,
}

impl Transmit {
    /// What this message counts in [`Session::queued_bytes`]: pass it to
    /// [`Session::on_flushed`] once the socket wrote it.
    pub fn queued_len(&self) -> usize {
        self.payload.len() + FRAME_OVERHEAD
    }
}

/// Why a session ended: close the WebSocket with it (after flushing what is queued).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseReason {
    /// Machine-readable code ([`CUSTODIAL_REFUSED`], [`BAD_MESSAGE`], …).
    pub code: &'static str,
    /// Human-readable detail (never key material).
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    AwaitHandshake,
    Open,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QueryKind {
    Lookup,
    Announce,
    Unannounce,
}

#[derive(Debug)]
struct Query {
    kind: QueryKind,
    topic: Key,
    public_key: Key,
}

#[derive(Debug)]
struct Server {
    client_alias: u32,
    public_key: Key,
    listening: bool,
    closing: bool,
    /// A valid signature of a self-announce proved the client holds the key.
    proven: bool,
    relay_addresses: Vec<SocketAddrV4>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Outgoing,
    Incoming(ServerId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamPhase {
    /// Outgoing, before `open`; incoming, accepted but not connected.
    Pending,
    /// `open` / `connection` sent: the client knows the relay's alias.
    Announced,
}

#[derive(Debug)]
struct Stream {
    client_alias: Option<u32>,
    direction: Direction,
    phase: StreamPhase,
    handshake: Option<u32>,
    remote_public_key: Key,
    /// The client sent `end`: when the session ends, the stream is released (its END still
    /// reaches the peer), not destroyed.
    client_ended: bool,
}

#[derive(Debug)]
enum HsStep {
    /// `noiseSend` sent for msg1.
    InitAwaitMsg1,
    /// msg1 handed to the node; msg2 not here yet.
    InitAwaitMsg2,
    /// `noiseReceive` sent with msg2.
    InitAwaitPayload,
    /// `noiseReceive` sent with msg1.
    RespAwaitPayload { server: ServerId, local_payload: Box<NoisePayload> },
    /// `noiseSend` sent with our payload.
    RespAwaitMsg2 { server: ServerId, remote_payload: Box<NoisePayload>, remote_public_key: Key },
}

#[derive(Debug)]
struct Hs {
    /// The ask waiting on the client (none in `InitAwaitMsg2`).
    ask: Option<AskId>,
    step: HsStep,
}

#[derive(Debug)]
struct PendingSign {
    ask: AskId,
    /// The server whose self-announce this is (none: a query's record).
    server: Option<ServerId>,
    deadline: u64,
    signable: [u8; 64],
    public_key: Key,
}

/// See the module docs.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    phase: Phase,
    client_key: Option<Key>,
    outbox: VecDeque<Transmit>,
    outbox_bytes: usize,
    unflushed: usize,
    paused: bool,
    commands: VecDeque<DhtCommand>,
    close: Option<CloseReason>,
    next_id: u32,
    last_recv: u64,
    next_ping: u64,
    queries: HashMap<u32, Query>,
    signs: HashMap<u32, PendingSign>,
    handshakes: HashMap<u32, Hs>,
    streams: HashMap<StreamId, Stream>,
    client_streams: HashMap<u32, StreamId>,
    servers: HashMap<ServerId, Server>,
    client_servers: HashMap<u32, ServerId>,
}

impl Session {
    /// A session whose channel just opened at `now_ms`.
    pub fn new(config: SessionConfig, now_ms: u64) -> Self {
        let next_ping = now_ms.saturating_add(config.ping_interval_ms);
        Session {
            config,
            phase: Phase::AwaitHandshake,
            client_key: None,
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            unflushed: 0,
            paused: false,
            commands: VecDeque::new(),
            close: None,
            next_id: 1,
            last_recv: now_ms,
            next_ping,
            queries: HashMap::new(),
            signs: HashMap::new(),
            handshakes: HashMap::new(),
            streams: HashMap::new(),
            client_streams: HashMap::new(),
            servers: HashMap::new(),
            client_servers: HashMap::new(),
        }
    }

    /// The client's default public key, once its `handshake` arrived.
    pub fn client_key(&self) -> Option<&Key> {
        self.client_key.as_ref()
    }

    /// Whether the session ended (flush the queued messages, then close the socket).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Why the session ended.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close.as_ref()
    }

    /// Bytes queued for the client: not yet polled, or polled and not yet reported flushed.
    pub fn queued_bytes(&self) -> usize {
        self.outbox_bytes + self.unflushed
    }

    /// Whether the session currently asks not to read its UDX streams.
    pub fn is_reading_paused(&self) -> bool {
        self.paused
    }

    /// Live streams (for metrics and tests).
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// The next message for the client.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.outbox.pop_front()?;
        let n = t.queued_len();
        self.outbox_bytes -= n;
        self.unflushed += n;
        Some(t)
    }

    /// The socket wrote `bytes` (sums of [`Transmit::queued_len`]).
    pub fn on_flushed(&mut self, bytes: usize) {
        self.unflushed = self.unflushed.saturating_sub(bytes);
        self.check_pressure();
    }

    /// The next request for the DHT side.
    pub fn poll_command(&mut self) -> Option<DhtCommand> {
        self.commands.pop_front()
    }

    /// The next deadline ([`Session::handle_timeout`] then).
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.phase == Phase::Closed {
            return None;
        }
        let live = self.last_recv.saturating_add(self.config.liveness_ms);
        let sign = self.signs.values().map(|s| s.deadline).min();
        Some(sign.map_or(live.min(self.next_ping), |s| s.min(live).min(self.next_ping)))
    }

    /// Runs the timers due at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.phase == Phase::Closed {
            return;
        }
        if now_ms >= self.last_recv.saturating_add(self.config.liveness_ms) {
            let secs = self.config.liveness_ms / 1000;
            self.close(TIMED_OUT, format!("nothing received for {secs} s"));
            return;
        }
        if now_ms >= self.next_ping {
            self.send(&Message::Ping);
            self.next_ping = now_ms.saturating_add(self.config.ping_interval_ms);
        }
        let expired: Vec<u32> =
            self.signs.iter().filter(|(_, s)| s.deadline <= now_ms).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some(s) = self.signs.remove(&id) {
                self.answer(Answer::Sign { ask: s.ask, signature: None });
                if let Some(server) = s.server {
                    self.settle_proof(server, false);
                }
            }
        }
    }

    /// Ends the session (also when the socket went away): every stream is destroyed, every
    /// server closed, every query cancelled and every ask refused. Queued messages stay for
    /// the socket to flush.
    pub fn close(&mut self, code: &'static str, message: impl Into<String>) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.close = Some(CloseReason { code, message: message.into() });
        let mut streams: Vec<StreamId> = self.streams.keys().copied().collect();
        streams.sort();
        for stream in streams {
            // A client that ended its side and then went away (the JS client closes its socket
            // as soon as both sides ended) still ends the stream cleanly for the peer.
            let ended = self.streams.get(&stream).is_some_and(|s| s.client_ended);
            self.commands.push_back(if ended {
                DhtCommand::Release { stream }
            } else {
                DhtCommand::Destroy { stream }
            });
        }
        let mut servers: Vec<ServerId> = self.servers.keys().copied().collect();
        servers.sort();
        for server in servers {
            self.commands.push_back(DhtCommand::Unlisten { server });
        }
        let mut queries: Vec<u32> = self.queries.keys().copied().collect();
        queries.sort_unstable();
        for query in queries {
            self.commands.push_back(DhtCommand::CancelQuery { query });
        }
        let signs: Vec<AskId> = self.signs.drain().map(|(_, s)| s.ask).collect();
        for ask in signs {
            self.answer(Answer::Sign { ask, signature: None });
        }
        let hss: Vec<Hs> = self.handshakes.drain().map(|(_, h)| h).collect();
        for hs in hss {
            self.refuse_hs(hs);
        }
        self.streams.clear();
        self.client_streams.clear();
        self.servers.clear();
        self.client_servers.clear();
        self.queries.clear();
    }

    /// One message from the client (Protomux `message_type` and payload).
    pub fn handle_message(&mut self, message_type: u64, payload: &[u8], now_ms: u64) {
        if self.phase == Phase::Closed {
            return;
        }
        self.last_recv = now_ms;
        let msg = match Message::decode(message_type, payload) {
            Ok(m) => m,
            // JS Protomux ignores message types its channel does not have.
            Err(MessageError::UnknownType(_)) => return,
            Err(e) => return self.close(BAD_MESSAGE, e.to_string()),
        };
        if msg.is_custodial_request() {
            return self.refuse_custodial(msg);
        }
        match (self.phase, msg) {
            (_, Message::Ping) => self.send(&Message::Pong),
            (_, Message::Pong) => {}
            (Phase::AwaitHandshake, Message::Handshake(h)) => {
                self.client_key = Some(h.public_key);
                self.phase = Phase::Open;
            }
            (Phase::AwaitHandshake, other) => {
                self.close(BAD_MESSAGE, format!("{} before handshake", other.kind().name()))
            }
            (_, Message::Handshake(_)) => self.close(BAD_MESSAGE, "second handshake"),
            (_, Message::Connect(c)) => self.on_connect(c),
            (_, Message::Connected { alias, remote_alias }) => self.on_connected(alias, remote_alias),
            (_, Message::Destroy(d)) => self.on_destroy(d),
            (_, Message::Listen(l)) => self.on_listen(l),
            (_, Message::Close { alias }) => self.on_close(alias),
            (_, Message::End { alias }) => {
                if let Some(stream) = self.client_stream(alias) {
                    if let Some(s) = self.streams.get_mut(&stream) {
                        s.client_ended = true;
                    }
                    self.commands.push_back(DhtCommand::End { stream });
                }
            }
            (_, Message::Data { alias, data }) => self.on_data(alias, data),
            (_, Message::Lookup { id, topic }) => {
                self.start_query(id, Query { kind: QueryKind::Lookup, topic, public_key: [0; 32] })
            }
            (_, Message::Announce(a)) => self.start_announce(a, QueryKind::Announce),
            (_, Message::Unannounce(a)) => self.start_announce(a, QueryKind::Unannounce),
            (_, Message::Signature { id, signature }) => self.on_signature(id, &signature),
            (_, Message::NoiseReply(r)) => self.on_noise_reply(r),
            // Custodial firewall answers (no custodial servers here) and relay-to-client
            // messages: the JS relay has no listener for them either.
            (_, _) => {}
        }
    }

    fn refuse_custodial(&mut self, msg: Message) {
        let text = "this relay is non-custodial: it never takes secret keys (use { custodial: false })";
        match &msg {
            Message::Connect(c) => self.send(&Message::Destroy(Destroy {
                target: DestroyTarget::Unpaired { remote_alias: c.alias },
                error: Some(format!("{CUSTODIAL_REFUSED}: {text}")),
            })),
            Message::Announce(a) | Message::Unannounce(a) => self.send(&Message::Finished { id: a.id }),
            _ => {}
        }
        let name = msg.kind().name();
        drop(msg);
        self.close(CUSTODIAL_REFUSED, format!("custodial {name} refused: {text}"));
    }

    fn send(&mut self, msg: &Message) {
        let t = Transmit { message_type: msg.kind() as u64, payload: msg.to_bytes() };
        self.outbox_bytes += t.queued_len();
        self.outbox.push_back(t);
        self.check_pressure();
    }

    fn check_pressure(&mut self) {
        let queued = self.queued_bytes();
        if !self.paused && queued > self.config.high_water {
            self.paused = true;
            self.commands.push_back(DhtCommand::PauseReading);
        } else if self.paused && queued <= self.config.low_water {
            self.paused = false;
            self.commands.push_back(DhtCommand::ResumeReading);
        }
    }

    fn answer(&mut self, a: Answer) {
        self.commands.push_back(DhtCommand::Answer(a));
    }

    fn alloc(&mut self, taken: impl Fn(&Self, u32) -> bool) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            if !taken(self, id) {
                return id;
            }
        }
    }

    fn asks_full(&self) -> bool {
        self.signs.len() + self.handshakes.len() >= self.config.max_asks
    }

    fn client_stream(&self, alias: u32) -> Option<StreamId> {
        let id = *self.client_streams.get(&alias)?;
        let s = self.streams.get(&id)?;
        (s.phase == StreamPhase::Announced).then_some(id)
    }

    fn on_connect(&mut self, c: Connect) {
        if self.client_streams.contains_key(&c.alias) {
            return self.close(ID_IN_USE, format!("stream alias {} is in use", c.alias));
        }
        if self.streams.len() >= self.config.max_streams {
            return self.send(&Message::Destroy(Destroy {
                target: DestroyTarget::Unpaired { remote_alias: c.alias },
                error: Some("LIMIT_STREAMS: too many streams in this session".into()),
            }));
        }
        let stream = StreamId(self.alloc(|s, id| s.streams.contains_key(&StreamId(id))));
        self.streams.insert(
            stream,
            Stream {
                client_alias: Some(c.alias),
                direction: Direction::Outgoing,
                phase: StreamPhase::Pending,
                handshake: None,
                remote_public_key: c.remote_public_key,
                client_ended: false,
            },
        );
        self.client_streams.insert(c.alias, stream);
        self.commands.push_back(DhtCommand::Connect {
            stream,
            public_key: c.public_key,
            remote_public_key: c.remote_public_key,
        });
    }

    fn on_connected(&mut self, alias: u32, remote_alias: u32) {
        if self.client_streams.contains_key(&alias) {
            return self.close(ID_IN_USE, format!("stream alias {alias} is in use"));
        }
        let id = StreamId(remote_alias);
        if let Some(s) = self.streams.get_mut(&id) {
            if matches!(s.direction, Direction::Incoming(_))
                && s.phase == StreamPhase::Announced
                && s.client_alias.is_none()
            {
                s.client_alias = Some(alias);
                self.client_streams.insert(alias, id);
            }
        }
    }

    fn on_destroy(&mut self, d: Destroy) {
        let id = match d.target {
            DestroyTarget::Paired { alias } => self.client_streams.get(&alias).copied(),
            // The relay's alias of a stream the client saw (`connection`) but never paired.
            DestroyTarget::Unpaired { remote_alias } => {
                let id = StreamId(remote_alias);
                self.streams
                    .get(&id)
                    .filter(|s| s.client_alias.is_none() && s.phase == StreamPhase::Announced)
                    .map(|_| id)
            }
        };
        if let Some(stream) = id {
            self.remove_stream(stream);
            self.commands.push_back(DhtCommand::Destroy { stream });
        }
    }

    fn remove_stream(&mut self, id: StreamId) -> Option<Stream> {
        let s = self.streams.remove(&id)?;
        if let Some(a) = s.client_alias {
            self.client_streams.remove(&a);
        }
        if let Some(h) = s.handshake {
            if let Some(hs) = self.handshakes.remove(&h) {
                self.refuse_hs(hs);
            }
        }
        Some(s)
    }

    fn on_listen(&mut self, l: Listen) {
        if self.client_servers.contains_key(&l.alias) {
            return self.close(ID_IN_USE, format!("server alias {} is in use", l.alias));
        }
        if self.servers.len() >= self.config.max_servers {
            let max = self.config.max_servers;
            return self.close(LIMIT_SERVERS, format!("at most {max} servers per session"));
        }
        let server = ServerId(self.alloc(|s, id| s.servers.contains_key(&ServerId(id))));
        self.servers.insert(
            server,
            Server {
                client_alias: l.alias,
                public_key: l.public_key,
                listening: false,
                closing: false,
                proven: false,
                relay_addresses: Vec::new(),
            },
        );
        self.client_servers.insert(l.alias, server);
        self.commands.push_back(DhtCommand::Listen { server, public_key: l.public_key });
    }

    fn on_close(&mut self, alias: u32) {
        let Some(&server) = self.client_servers.get(&alias) else { return };
        if let Some(s) = self.servers.get_mut(&server) {
            if !s.closing {
                s.closing = true;
                self.commands.push_back(DhtCommand::Unlisten { server });
            }
        }
    }

    fn on_data(&mut self, alias: u32, data: Vec<Vec<u8>>) {
        let Some(stream) = self.client_stream(alias) else { return };
        let total: usize = data.iter().map(Vec::len).sum();
        if total == 0 {
            return; // keep-alive chunks of the client's raw stream
        }
        let bytes = if data.len() == 1 { data.into_iter().next().unwrap_or_default() } else { data.concat() };
        self.commands.push_back(DhtCommand::Write { stream, data: bytes });
    }

    fn start_query(&mut self, id: u32, q: Query) {
        if self.queries.contains_key(&id) {
            return self.close(ID_IN_USE, format!("query id {id} is in use"));
        }
        if self.queries.len() >= self.config.max_queries {
            return self.send(&Message::Finished { id });
        }
        let cmd = match q.kind {
            QueryKind::Lookup => DhtCommand::Lookup { query: id, topic: q.topic },
            QueryKind::Announce => {
                let relay_addresses = self
                    .servers
                    .values()
                    .find(|s| s.public_key == q.public_key && s.listening && !s.closing)
                    .map(|s| s.relay_addresses.clone())
                    .unwrap_or_default();
                DhtCommand::Announce { query: id, topic: q.topic, public_key: q.public_key, relay_addresses }
            }
            QueryKind::Unannounce => {
                DhtCommand::Unannounce { query: id, topic: q.topic, public_key: q.public_key }
            }
        };
        self.queries.insert(id, q);
        self.commands.push_back(cmd);
    }

    fn start_announce(&mut self, a: Announce, kind: QueryKind) {
        self.start_query(a.id, Query { kind, topic: a.topic, public_key: a.public_key });
    }

    fn on_signature(&mut self, id: u32, signature: &[u8]) {
        let Some(p) = self.signs.remove(&id) else { return };
        let ok =
            signature.len() == 64 && hyperwasm::crypto::sign::verify(&p.signable, signature, &p.public_key);
        let signature = ok.then(|| {
            let mut s = [0u8; 64];
            s.copy_from_slice(signature);
            s
        });
        self.answer(Answer::Sign { ask: p.ask, signature });
        if let Some(server) = p.server {
            self.settle_proof(server, ok);
        }
    }

    /// A server is its key's owner's once a valid signature of its self-announce arrived; one
    /// whose first sign request is refused, answered badly or left to time out is closed (the
    /// client gets `closed`), so a client without the key's secret cannot keep that key
    /// listening on this relay beyond one sign timeout.
    fn settle_proof(&mut self, server: ServerId, valid: bool) {
        let Some(s) = self.servers.get_mut(&server) else { return };
        if s.proven || s.closing {
            return;
        }
        if valid {
            s.proven = true;
        } else {
            s.closing = true;
            self.commands.push_back(DhtCommand::Unlisten { server });
        }
    }

    fn on_noise_reply(&mut self, r: NoiseReply) {
        let Some(hs) = self.handshakes.remove(&r.id) else { return };
        let Some(ask) = hs.ask else {
            // Nothing asked (msg2 not here yet): JS would resolve nothing either.
            self.handshakes.insert(r.id, hs);
            return;
        };
        match hs.step {
            HsStep::InitAwaitMsg1 if r.is_initiator && r.complete.is_none() && !r.payload.is_empty() => {
                self.answer(Answer::InitiatorMessage { ask, msg1: Some(r.payload) });
                self.handshakes.insert(r.id, Hs { ask: None, step: HsStep::InitAwaitMsg2 });
            }
            HsStep::InitAwaitPayload if r.is_initiator && r.complete.is_some() => {
                let remote_payload = decode_payload::<NoisePayload>(&r.payload).ok().map(Box::new);
                self.answer(Answer::ResponderMessage { ask, remote_payload });
            }
            HsStep::RespAwaitPayload { server, mut local_payload }
                if !r.is_initiator && r.complete.is_none() =>
            {
                // An empty payload is the client firewall's denial.
                let remote = (!r.payload.is_empty())
                    .then(|| decode_payload::<NoisePayload>(&r.payload).ok())
                    .flatten();
                match (remote, r.remote_public_key) {
                    (Some(remote), Some(remote_public_key)) if self.servers.contains_key(&server) => {
                        local_payload.error = payload_error(&remote);
                        self.send(&Message::NoiseSend(NoiseSend {
                            id: r.id,
                            role: NoiseSendRole::Responder,
                            payload: local_payload.to_bytes(),
                        }));
                        let step = HsStep::RespAwaitMsg2 {
                            server,
                            remote_payload: Box::new(remote),
                            remote_public_key,
                        };
                        self.handshakes.insert(r.id, Hs { ask: Some(ask), step });
                    }
                    _ => self.answer(Answer::Handshake { ask, accept: None }),
                }
            }
            HsStep::RespAwaitMsg2 { server, remote_payload, remote_public_key }
                if !r.is_initiator && r.complete.is_some() && !r.payload.is_empty() =>
            {
                if self.streams.len() >= self.config.max_streams || !self.servers.contains_key(&server) {
                    return self.answer(Answer::Handshake { ask, accept: None });
                }
                let stream = StreamId(self.alloc(|s, id| s.streams.contains_key(&StreamId(id))));
                self.streams.insert(
                    stream,
                    Stream {
                        client_alias: None,
                        direction: Direction::Incoming(server),
                        phase: StreamPhase::Pending,
                        handshake: Some(r.id),
                        remote_public_key,
                        client_ended: false,
                    },
                );
                let accepted = Accepted { msg2: r.payload, remote_payload: *remote_payload, stream };
                self.answer(Answer::Handshake { ask, accept: Some(Box::new(accepted)) });
            }
            // A reply that does not fit the step: refuse the ask, forget the handshake.
            step => self.refuse_hs(Hs { ask: Some(ask), step }),
        }
    }

    fn refuse_hs(&mut self, hs: Hs) {
        let Some(ask) = hs.ask else { return };
        let a = match hs.step {
            HsStep::InitAwaitMsg1 => Answer::InitiatorMessage { ask, msg1: None },
            HsStep::InitAwaitMsg2 | HsStep::InitAwaitPayload => {
                Answer::ResponderMessage { ask, remote_payload: None }
            }
            HsStep::RespAwaitPayload { .. } | HsStep::RespAwaitMsg2 { .. } => {
                Answer::Handshake { ask, accept: None }
            }
        };
        self.answer(a);
    }
}
