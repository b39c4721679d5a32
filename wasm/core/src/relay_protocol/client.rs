//! [`RelayClient`]: the client side of `hyperwasm-relay/1` as a sans-IO state machine.
//!
//! The client keeps every key: it signs announce records after checking what it signs, runs
//! Noise IK (initiator for [`RelayClient::connect`], responder for its servers' handshakes)
//! and hands the handshake results to the caller, who runs secret-stream over the stream's
//! bytes. The relay only ever sees public keys, payloads and ciphertext.
//!
//! Driving it:
//! - a WebSocket opened: [`RelayClient::on_connected`] (first time and every reconnect: it
//!   opens the Protomux channel and sends `hello`, resuming when there is a session);
//! - each binary WebSocket message: [`RelayClient::handle_frame`] (an error is a protocol
//!   violation: close the socket);
//! - the socket closed: [`RelayClient::on_disconnected`]; the session lives on for its grace
//!   period, and what is sent meanwhile is replayed after the next `on_connected`;
//! - after every call: send each [`RelayClient::poll_transmit`] frame as one binary message,
//!   handle each [`RelayClient::poll_event`], and call [`RelayClient::handle_timeout`] at
//!   [`RelayClient::poll_timeout`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;

pub use super::client_events::{
    ClientEvent, Firewall, HandshakeId, QueryId, RelayClientConfig, ServerId, StreamId,
};
use super::credit::StreamCredit;
use super::errors::RelayError;
use super::messages::{Message, Resume, SignKind, SignRequest};
use super::reliable::Reliable;
use super::{
    types, CLIENT_ID_LIMIT, DEFAULT_GRACE_MS, IDLE_TIMEOUT_MS, KEEPALIVE_MS, PROTOCOL_NAME, VERSION,
};
use crate::crypto::KeyPair;
use crate::hyperdht::crypto::{hash, sign_announce, sign_unannounce};
use crate::hyperdht::messages::NoisePayload;
use crate::hyperdht::noise_wrap::NoiseWrap;
use crate::noise::HandshakeResult;
use crate::protomux::{ChannelId, ChannelSpec, Mux, MuxEvent};

#[path = "client_streams.rs"]
mod streams;

enum Conn {
    Disconnected { since: u64 },
    Hello { mux: Mux, channel: ChannelId, resuming: bool },
    Ready { mux: Mux, channel: ChannelId },
}

enum QueryKind {
    Lookup,
    FindPeer,
    Announce { topic: [u8; 32], key_pair: KeyPair },
    Unannounce { topic: [u8; 32], key_pair: KeyPair },
}

struct Server {
    key_pair: KeyPair,
    firewall: Firewall,
    unlistening: bool,
}

enum StreamState {
    AwaitInit { key_pair: KeyPair },
    AwaitMsg2 { noise: Box<NoiseWrap> },
    AwaitOpen { handshake: HandshakeResult },
    Open { credit: StreamCredit, ended_local: bool, ended_remote: bool },
}

struct Stream {
    remote_public_key: [u8; 32],
    state: StreamState,
}

/// An incoming handshake waiting for the application's firewall decision.
struct Asking {
    server: ServerId,
    noise: Box<NoiseWrap>,
    local_payload: NoisePayload,
    remote_payload: NoisePayload,
    deadline: u64,
}

/// An accepted incoming handshake waiting for `incoming`.
struct Accepted {
    server: ServerId,
    handshake: HandshakeResult,
    deadline: u64,
}

/// The client state machine (see the module docs).
pub struct RelayClient {
    config: RelayClientConfig,
    conn: Conn,
    token: Option<[u8; 32]>,
    grace_ms: u64,
    reliable: Reliable,
    now: u64,
    last_sent: u64,
    last_recv: u64,
    next_id: u32,
    next_stream: u32,
    queries: HashMap<QueryId, QueryKind>,
    servers: HashMap<ServerId, Server>,
    streams: HashMap<StreamId, Stream>,
    asking: HashMap<HandshakeId, Asking>,
    accepted: HashMap<HandshakeId, Accepted>,
    events: VecDeque<ClientEvent>,
}

impl std::fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayClient")
            .field("connected", &matches!(self.conn, Conn::Ready { .. }))
            .field("queries", &self.queries.len())
            .field("servers", &self.servers.len())
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

fn next_free(counter: &mut u32, taken: impl Fn(u32) -> bool, live: usize) -> Result<u32, RelayError> {
    for _ in 0..=live {
        let id = *counter;
        *counter = if id + 1 >= CLIENT_ID_LIMIT { 1 } else { id + 1 };
        if !taken(id) {
            return Ok(id);
        }
    }
    Err(RelayError::IdsExhausted)
}

impl RelayClient {
    /// A client with no session yet, disconnected.
    pub fn new(config: RelayClientConfig, now_ms: u64) -> Self {
        RelayClient {
            reliable: Reliable::new(config.max_replay_bytes),
            config,
            conn: Conn::Disconnected { since: now_ms },
            token: None,
            grace_ms: DEFAULT_GRACE_MS,
            now: now_ms,
            last_sent: now_ms,
            last_recv: now_ms,
            next_id: 1,
            next_stream: 1,
            queries: HashMap::new(),
            servers: HashMap::new(),
            streams: HashMap::new(),
            asking: HashMap::new(),
            accepted: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Connection

    /// A WebSocket to the relay opened (first time or again): opens the `hyperwasm-relay/1`
    /// channel and sends `hello`, resuming the session if there is one.
    pub fn on_connected(&mut self, now_ms: u64) {
        self.now = now_ms;
        let mut mux = Mux::new();
        let spec = ChannelSpec { protocol: PROTOCOL_NAME, aliases: &[], id: None, handshake: &[] };
        // A fresh mux has no channel open: opening cannot fail.
        let Ok(channel) = mux.open(spec) else { return };
        let resume = self.token.map(|token| Resume { token, received: self.reliable.received() });
        self.reliable.acked_implicitly();
        let (t, payload) = Message::Hello { version: VERSION, resume }.encode();
        let _ = mux.send(channel, t, &payload);
        self.conn = Conn::Hello { mux, channel, resuming: resume.is_some() };
        self.last_sent = now_ms;
        self.last_recv = now_ms;
    }

    /// The WebSocket closed. Frames not yet polled are dropped (sequenced messages are
    /// replayed on resume); the session's grace period starts.
    pub fn on_disconnected(&mut self, now_ms: u64) {
        self.now = now_ms;
        if !matches!(self.conn, Conn::Disconnected { .. }) {
            self.conn = Conn::Disconnected { since: now_ms };
        }
    }

    /// Whether the session is established on a socket (`welcome` received).
    pub fn is_ready(&self) -> bool {
        matches!(self.conn, Conn::Ready { .. })
    }

    /// One binary WebSocket message (a Protomux frame). An error is a protocol violation:
    /// close the socket and call [`on_disconnected`](Self::on_disconnected).
    pub fn handle_frame(&mut self, frame: &[u8], now_ms: u64) -> Result<(), RelayError> {
        let mux = match &mut self.conn {
            Conn::Hello { mux, .. } | Conn::Ready { mux, .. } => mux,
            Conn::Disconnected { .. } => return Ok(()),
        };
        mux.on_message(frame)?;
        while let Some(event) = self.mux_event() {
            match event {
                MuxEvent::RemoteOpen { protocol, id } => {
                    if let Some(mux) = self.mux() {
                        mux.reject(&protocol, id.as_deref());
                    }
                }
                MuxEvent::Opened { .. } => {}
                MuxEvent::Message { message_type, payload, .. } => {
                    let message = Message::decode(message_type, &payload)?;
                    self.handle_message_sized(message, payload.len(), now_ms)?;
                }
                MuxEvent::Closed { .. } => {
                    self.events.push_back(ClientEvent::RelayClosed);
                    self.on_disconnected(now_ms);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn mux(&mut self) -> Option<&mut Mux> {
        match &mut self.conn {
            Conn::Hello { mux, .. } | Conn::Ready { mux, .. } => Some(mux),
            Conn::Disconnected { .. } => None,
        }
    }

    fn mux_event(&mut self) -> Option<MuxEvent> {
        self.mux()?.poll_event()
    }

    /// One decoded message from the relay (what [`handle_frame`](Self::handle_frame) does
    /// after decoding). An error is a protocol violation.
    pub fn handle_message(&mut self, message: Message, now_ms: u64) -> Result<(), RelayError> {
        let len = match &message {
            Message::Data { bytes, .. } => bytes.len() + 8,
            _ => 64,
        };
        self.handle_message_sized(message, len, now_ms)
    }

    fn handle_message_sized(&mut self, message: Message, len: usize, now_ms: u64) -> Result<(), RelayError> {
        self.now = now_ms;
        self.last_recv = now_ms;
        match (&self.conn, &message) {
            (Conn::Disconnected { .. }, _) => return Err(RelayError::InvalidState("not connected")),
            (Conn::Hello { .. }, Message::Welcome { .. }) => return self.on_welcome(message),
            (Conn::Hello { .. }, Message::Error { reference: 0, .. }) => return self.dispatch(message),
            (Conn::Hello { .. }, _) => return Err(RelayError::protocol("message before welcome")),
            (Conn::Ready { .. }, _) => {}
        }
        if message.is_sequenced() {
            self.reliable.on_receive(len, now_ms);
        }
        self.dispatch(message).map_err(|e| match e {
            // Answers the relay made us send while it acknowledges nothing.
            RelayError::ReplayFull { bytes } => {
                RelayError::protocol(format!("the relay left {bytes} bytes unacknowledged"))
            }
            e => e,
        })?;
        if self.reliable.ack_due(now_ms) {
            self.send_ack();
        }
        Ok(())
    }

    fn on_welcome(&mut self, message: Message) -> Result<(), RelayError> {
        let Message::Welcome { resumed, token, received, grace_ms, stream_credit, limits } = message else {
            return Ok(());
        };
        let resuming = matches!(self.conn, Conn::Hello { resuming: true, .. });
        if resumed && (!resuming || self.token != Some(token)) {
            return Err(RelayError::protocol("welcome resumes a session we did not ask for"));
        }
        if resumed {
            self.events.push_back(ClientEvent::SessionResumed);
        } else {
            if self.token.is_some() {
                self.expire();
            }
            self.events.push_back(ClientEvent::SessionStarted { limits, stream_credit, grace_ms });
        }
        self.token = Some(token);
        self.grace_ms = grace_ms;
        let conn = std::mem::replace(&mut self.conn, Conn::Disconnected { since: self.now });
        let (Conn::Hello { mut mux, channel, .. } | Conn::Ready { mut mux, channel }) = conn else {
            return Ok(());
        };
        // What the relay did not get, in order; it stays held until acknowledged.
        let resend = self.reliable.resume(received);
        match resend {
            Ok(messages) => {
                for m in messages {
                    let _ = mux.send(channel, m.message_type, &m.payload);
                }
            }
            Err(e) => {
                self.conn = Conn::Ready { mux, channel };
                return Err(e);
            }
        }
        self.conn = Conn::Ready { mux, channel };
        self.last_sent = self.now;
        Ok(())
    }

    /// Fails everything of the session (`SESSION_EXPIRED`) and starts over with no session.
    fn expire(&mut self) {
        let code = || "SESSION_EXPIRED".to_owned();
        let mut ids: Vec<u32> = self.queries.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.events.push_back(ClientEvent::QueryFailed {
                id,
                code: code(),
                message: "session expired".into(),
            });
        }
        let mut ids: Vec<u32> = self.servers.keys().copied().collect();
        ids.sort_unstable();
        for server in ids {
            self.events.push_back(ClientEvent::ServerClosed { server, code: code() });
        }
        let mut ids: Vec<u32> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.events.push_back(ClientEvent::StreamClosed { id, code: code() });
        }
        self.queries.clear();
        self.servers.clear();
        self.streams.clear();
        self.asking.clear();
        self.accepted.clear();
        self.reliable.reset_outbound();
        self.reliable.reset_inbound();
        self.token = None;
        self.events.push_back(ClientEvent::SessionExpired);
    }

    // -----------------------------------------------------------------------------------------
    // Output and timers

    /// The next frame to send as one binary WebSocket message.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.mux()?.poll_transmit()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<u64> {
        let hs =
            self.asking.values().map(|a| a.deadline).chain(self.accepted.values().map(|a| a.deadline)).min();
        let conn = match &self.conn {
            Conn::Disconnected { since } => self.token.map(|_| since.saturating_add(self.grace_ms)),
            Conn::Hello { .. } => Some(self.last_recv.saturating_add(IDLE_TIMEOUT_MS)),
            Conn::Ready { .. } => [
                Some(self.last_recv.saturating_add(IDLE_TIMEOUT_MS)),
                Some(self.last_sent.saturating_add(KEEPALIVE_MS)),
                self.reliable.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min(),
        };
        [hs, conn].into_iter().flatten().min()
    }

    /// Runs the timers due at `now_ms`: acks, keepalive pings, the idle timeout, the grace
    /// period, held handshakes.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.now = now_ms;
        let mut expired: Vec<HandshakeId> =
            self.asking.iter().filter(|(_, a)| a.deadline <= now_ms).map(|(hs, _)| *hs).collect();
        expired.sort_unstable();
        for hs in expired {
            // The application never decided: refuse, as a firewall that says no.
            self.asking.remove(&hs);
            let _ = self.send(&Message::Reject { hs });
        }
        self.accepted.retain(|_, a| a.deadline > now_ms);
        match &self.conn {
            Conn::Disconnected { since } => {
                if self.token.is_some() && now_ms >= since.saturating_add(self.grace_ms) {
                    self.expire();
                }
            }
            Conn::Hello { .. } | Conn::Ready { .. } => {
                if now_ms >= self.last_recv.saturating_add(IDLE_TIMEOUT_MS) {
                    self.events.push_back(ClientEvent::IdleTimeout);
                    self.on_disconnected(now_ms);
                    return;
                }
                if !self.is_ready() {
                    return;
                }
                if self.reliable.ack_due(now_ms) {
                    self.send_ack();
                }
                if now_ms >= self.last_sent.saturating_add(KEEPALIVE_MS) {
                    self.transmit(types::PING, &[]);
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Sending

    fn transmit(&mut self, message_type: u64, payload: &[u8]) {
        if let Conn::Ready { mux, channel } = &mut self.conn {
            let _ = mux.send(*channel, message_type, payload);
            self.last_sent = self.now;
        }
    }

    fn send_ack(&mut self) {
        if self.is_ready() {
            let received = self.reliable.take_ack();
            let (t, p) = Message::Ack { received }.encode();
            self.transmit(t, &p);
        }
    }

    /// Sends a message: sequenced ones are held for replay (and only held while no session
    /// is established on a socket), the others are sent only when connected.
    fn send(&mut self, message: &Message) -> Result<(), RelayError> {
        let (t, payload) = message.encode();
        if message.is_sequenced() {
            self.reliable.push(t, payload.clone())?;
            if self.is_ready() {
                self.transmit(t, &payload);
            }
        } else {
            self.transmit(t, &payload);
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Queries

    fn alloc_query_id(&mut self) -> Result<u32, RelayError> {
        let (queries, servers) = (&self.queries, &self.servers);
        let live = queries.len() + servers.len();
        next_free(&mut self.next_id, |id| queries.contains_key(&id) || servers.contains_key(&id), live)
    }

    fn start_query(
        &mut self,
        kind: QueryKind,
        message: impl FnOnce(u32) -> Message,
    ) -> Result<QueryId, RelayError> {
        let id = self.alloc_query_id()?;
        self.send(&message(id))?;
        self.queries.insert(id, kind);
        Ok(id)
    }

    /// Looks up the peers announced under `topic`: [`ClientEvent::QueryResult`]s, then
    /// [`ClientEvent::QueryDone`] or [`ClientEvent::QueryFailed`].
    pub fn lookup(&mut self, topic: [u8; 32]) -> Result<QueryId, RelayError> {
        self.start_query(QueryKind::Lookup, |id| Message::Lookup { id, topic })
    }

    /// Announces `key_pair`'s public key under `topic`, reachable through `relay_addresses`.
    /// The relay asks for each signature; the client signs only for this topic and key.
    pub fn announce(
        &mut self,
        topic: [u8; 32],
        key_pair: &KeyPair,
        relay_addresses: Vec<SocketAddrV4>,
    ) -> Result<QueryId, RelayError> {
        let public_key = key_pair.public_key();
        let kind = QueryKind::Announce { topic, key_pair: key_pair.clone() };
        self.start_query(kind, |id| Message::Announce { id, topic, public_key, relay_addresses })
    }

    /// Removes `key_pair`'s announcement under `topic`.
    pub fn unannounce(&mut self, topic: [u8; 32], key_pair: &KeyPair) -> Result<QueryId, RelayError> {
        let public_key = key_pair.public_key();
        let kind = QueryKind::Unannounce { topic, key_pair: key_pair.clone() };
        self.start_query(kind, |id| Message::Unannounce { id, topic, public_key })
    }

    /// Finds the DHT nodes holding `public_key`'s self-announce.
    pub fn find_peer(&mut self, public_key: [u8; 32]) -> Result<QueryId, RelayError> {
        self.start_query(QueryKind::FindPeer, |id| Message::FindPeer { id, public_key })
    }

    /// Stops a query; it ends with [`ClientEvent::QueryDone`]. Unknown ids are ignored.
    pub fn cancel(&mut self, id: QueryId) -> Result<(), RelayError> {
        if self.queries.contains_key(&id) {
            self.send(&Message::Cancel { id })?;
        }
        Ok(())
    }

    /// Answers a `sign` request after checking it (PROTOCOL.md §5): the target must be the
    /// topic the query named (or `hash(publicKey)` for a server's self-announce) and the record
    /// must carry our key; anything else is refused.
    fn on_sign(&mut self, req: SignRequest) -> Result<(), RelayError> {
        if req.sign < CLIENT_ID_LIMIT {
            return Err(RelayError::protocol("sign id below 2^31"));
        }
        let signed = {
            let owner = match (self.queries.get(&req.id), self.servers.get(&req.id)) {
                (Some(QueryKind::Announce { topic, key_pair }), _) if req.kind == SignKind::Announce => {
                    Ok((*topic, key_pair))
                }
                (Some(QueryKind::Unannounce { topic, key_pair }), _) if req.kind == SignKind::Unannounce => {
                    Ok((*topic, key_pair))
                }
                (Some(_), _) => Err("the query does not sign this kind"),
                (None, Some(server)) => Ok((hash(&server.key_pair.public_key()), &server.key_pair)),
                (None, None) => Err("unknown query or server"),
            };
            owner
                .and_then(|(target, kp)| match () {
                    _ if target != req.target => Err("wrong target"),
                    _ if kp.public_key() != req.peer.public_key => Err("wrong public key"),
                    _ => Ok(kp),
                })
                .map(|kp| {
                    let (t, n, tok, r) = (&req.target, &req.node_id, &req.token, req.refresh.as_ref());
                    match req.kind {
                        SignKind::Announce => sign_announce(t, n, tok, &req.peer, r, kp),
                        SignKind::Unannounce => sign_unannounce(t, n, tok, &req.peer, r, kp),
                    }
                })
        };
        let signature = match signed {
            Ok(signature) => Some(signature),
            Err(reason) => {
                self.events.push_back(ClientEvent::SignRefused { id: req.id, reason });
                None
            }
        };
        self.send(&Message::Signature { sign: req.sign, signature })
    }

    // -----------------------------------------------------------------------------------------
    // Relay messages

    fn dispatch(&mut self, message: Message) -> Result<(), RelayError> {
        match message {
            Message::Ack { received } => self.reliable.on_ack(received)?,
            Message::Ping => self.transmit(types::PONG, &[]),
            Message::Pong => {}
            Message::Error { reference, code, message } => self.on_error(reference, code, message),
            Message::Result { id, from, peers } => {
                if self.queries.contains_key(&id) {
                    self.events.push_back(ClientEvent::QueryResult { id, from, peers });
                }
            }
            Message::Done { id, commits } => {
                if self.queries.remove(&id).is_some() {
                    self.events.push_back(ClientEvent::QueryDone { id, commits });
                }
            }
            Message::Sign(req) => self.on_sign(req)?,
            Message::NoiseInit { stream, local_payload } => self.on_noise_init(stream, &local_payload)?,
            Message::NoiseMsg2 { stream, msg2 } => self.on_noise_msg2(stream, &msg2)?,
            Message::Open { stream, remote_address, credit } => {
                self.on_open(stream, remote_address, credit)?
            }
            Message::Listening { server, relay_addresses } => {
                if self.servers.get(&server).is_some_and(|s| !s.unlistening) {
                    self.events.push_back(ClientEvent::Listening { server, relay_addresses });
                }
            }
            Message::Unlistened { server } => {
                if self.servers.remove(&server).is_some() {
                    self.events.push_back(ClientEvent::Unlistened { server });
                }
            }
            Message::Handshake { server, hs, peer_address, msg1, local_payload } => {
                self.on_handshake(server, hs, peer_address, &msg1, &local_payload)?
            }
            Message::Incoming { server, hs, stream, remote_address, credit } => {
                self.on_incoming(server, hs, stream, remote_address, credit)?
            }
            Message::Data { stream, bytes } => self.on_data(stream, bytes)?,
            Message::Credit { stream, bytes } => self.on_credit(stream, bytes),
            Message::End { stream } => self.on_end(stream),
            Message::Close { stream, code } => {
                if self.streams.remove(&stream).is_some() {
                    self.events.push_back(ClientEvent::StreamClosed { id: stream, code });
                }
            }
            Message::Welcome { .. } => return Err(RelayError::protocol("second welcome")),
            other => {
                return Err(RelayError::protocol(format!(
                    "message type {} is client-to-relay",
                    other.message_type()
                )))
            }
        }
        Ok(())
    }

    fn on_error(&mut self, reference: u64, code: String, message: String) {
        let id = u32::try_from(reference).unwrap_or(0);
        if reference == 0 {
            self.events.push_back(ClientEvent::SessionError { code, message });
        } else if self.queries.remove(&id).is_some() {
            self.events.push_back(ClientEvent::QueryFailed { id, code, message });
        } else if self.servers.remove(&id).is_some() {
            self.events.push_back(ClientEvent::ServerClosed { server: id, code });
        }
    }
}
