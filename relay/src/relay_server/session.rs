//! The server side of `hyperwasm-relay/1` (PROTOCOL.md §4–§8) as a sans-IO state machine.
//!
//! In: the client's frames ([`Session::handle_frame`]), what the DHT side reports
//! ([`Session::handle_dht`], a [`DhtEvent`]), socket changes ([`Session::detach`],
//! [`Session::resume`]) and time ([`Session::handle_timeout`]). Out: frames for the client
//! ([`Session::poll_transmit`]), commands for the DHT side ([`Session::poll_command`], a
//! [`SessionCommand`]), and whether the socket must close ([`Session::poll_socket_close`]).
//!
//! The session never holds a key: signatures, Noise messages and payload checks come from the
//! client; the DHT side's asks are [`AskId`]s the session maps to the wire ids it sends, and
//! the client's answers go back as [`SessionCommand::Answer`].
//!
//! Flow control (§8): the DHT side reads a peer's UDX stream only as far as
//! [`SessionCommand::ReadMore`] allowed (the client's credit); it reports bytes the UDX stream
//! accepted ([`DhtEvent::Written`]) and the session grants the client credit for them.

use std::collections::{HashMap, VecDeque};

use hyperwasm::encoding::Compact;
use hyperwasm::hyperdht::messages::NoisePayload;
use hyperwasm::relay_protocol::credit::StreamCredit;
use hyperwasm::relay_protocol::messages::{Message, SignKind as WireSignKind, SignRequest};
use hyperwasm::relay_protocol::reliable::Reliable;
use hyperwasm::relay_protocol::{RelayError, CLIENT_ID_LIMIT, MAX_DATA_LEN};

use crate::hyperdht::{SignKind, SignParts};

mod signs;
use signs::SignCheck;

pub use super::session_events::{
    AskAnswer, AskId, DhtEvent, QueryKind, SessionCommand, SessionConfig, SocketClose, REPLAY_HIGH_WATER,
};

#[derive(Debug, PartialEq, Eq)]
enum StreamState {
    /// Dialling or waiting for its handshake.
    Dialing,
    Open {
        credit: StreamCredit,
        client_ended: bool,
        peer_ended: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AskKey {
    Sign(u32),
    Msg1(u32),
    Remote(u32),
    Hs(u32),
}

/// One client's session (see the module docs).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    token: [u8; 32],
    reliable: Reliable,
    out: VecDeque<(u64, Vec<u8>)>,
    cmds: VecDeque<SessionCommand>,
    attached: bool,
    detached_at: Option<u64>,
    close: Option<SocketClose>,
    ended: bool,
    last_sent: u64,
    last_received: u64,
    queries: HashMap<u32, ()>,
    /// Live servers; true once a valid signature of its self-announce proved the key.
    servers: HashMap<u32, bool>,
    /// Pending `sign` requests: what their answer must verify against.
    sign_checks: HashMap<u32, SignCheck>,
    streams: HashMap<u32, StreamState>,
    asks: HashMap<AskKey, (AskId, u64)>,
    /// The node's handshake id → (server, wire hs, forgotten after): handshakes shown to the
    /// client and not yet refused, rejected or connected. At most [`MAX_HANDSHAKES`].
    handshakes: HashMap<u64, (u32, u32, u64)>,
    next_relay_id: u32,
}

type Res = Result<(), RelayError>;

/// Handshakes a session tracks at once (shown to the client, not yet connected or refused);
/// more are refused until some finish.
pub const MAX_HANDSHAKES: usize = 256;
/// How long an accepted handshake may take to connect (holepunching included) before the
/// session forgets it (its late connection is then dropped).
pub const HANDSHAKE_TTL_MS: u64 = 60_000;

fn client_id(id: u32) -> Res {
    if id == 0 || id >= CLIENT_ID_LIMIT {
        return Err(RelayError::protocol(format!("id {id} outside the client's range")));
    }
    Ok(())
}

impl Session {
    /// A new session (token from the caller's randomness); `welcome` is queued.
    pub fn new(config: SessionConfig, token: [u8; 32], now_ms: u64) -> Self {
        let reliable = Reliable::new(config.max_replay_bytes());
        let mut s = Session {
            config,
            token,
            reliable,
            out: VecDeque::new(),
            cmds: VecDeque::new(),
            attached: true,
            detached_at: None,
            close: None,
            ended: false,
            last_sent: now_ms,
            last_received: now_ms,
            queries: HashMap::new(),
            servers: HashMap::new(),
            sign_checks: HashMap::new(),
            streams: HashMap::new(),
            asks: HashMap::new(),
            handshakes: HashMap::new(),
            next_relay_id: CLIENT_ID_LIMIT,
        };
        s.welcome(false, now_ms);
        s
    }

    /// The resume capability.
    pub fn token(&self) -> [u8; 32] {
        self.token
    }

    /// Whether the session is over (its socket must close after the queued frames).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Bytes of sequenced messages the client has not acknowledged (the replay buffer). The
    /// DHT side reads no stream data while this is above [`REPLAY_HIGH_WATER`].
    pub fn replay_bytes(&self) -> usize {
        self.reliable.replay_bytes()
    }

    /// Live streams, servers and queries.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.streams.len(), self.servers.len(), self.queries.len())
    }

    fn welcome(&mut self, resumed: bool, now_ms: u64) {
        let msg = Message::Welcome {
            resumed,
            token: self.token,
            received: self.reliable.received(),
            grace_ms: self.config.grace_ms,
            stream_credit: self.config.stream_credit,
            limits: self.config.limits(),
        };
        self.reliable.acked_implicitly();
        self.send_raw(msg.encode(), now_ms);
    }

    fn send_raw(&mut self, frame: (u64, Vec<u8>), now_ms: u64) {
        if self.attached {
            self.last_sent = now_ms;
            self.out.push_back(frame);
        }
    }

    /// Sends (and keeps for replay) a sequenced message. A full replay buffer ends the session.
    fn send(&mut self, msg: Message, now_ms: u64) {
        if self.ended {
            return;
        }
        let (t, payload) = msg.encode();
        if self.reliable.push(t, payload.clone()).is_err() {
            self.end_with("RATE_LIMITED", "replay buffer full", 1008, now_ms);
            return;
        }
        self.send_raw((t, payload), now_ms);
    }

    fn error(&mut self, reference: u64, code: &str, message: impl Into<String>, now_ms: u64) {
        let msg = Message::Error { reference, code: code.into(), message: message.into() };
        self.send(msg, now_ms);
    }

    fn end_with(&mut self, code: &'static str, message: &str, ws_code: u16, now_ms: u64) {
        if self.ended {
            return;
        }
        // The error goes out unsequenced-style: the session will not resume.
        let msg = Message::Error { reference: 0, code: code.into(), message: message.into() };
        self.send_raw(msg.encode(), now_ms);
        self.ended = true;
        self.close = Some(SocketClose::Ended { ws_code, code });
        self.teardown();
    }

    /// Tells the DHT side to drop everything.
    fn teardown(&mut self) {
        for id in std::mem::take(&mut self.queries).into_keys() {
            self.cmds.push_back(SessionCommand::CancelQuery { id });
        }
        for server in std::mem::take(&mut self.servers).into_keys() {
            self.cmds.push_back(SessionCommand::Unlisten { server });
        }
        for stream in std::mem::take(&mut self.streams).into_keys() {
            self.cmds.push_back(SessionCommand::Destroy { stream });
        }
        self.sign_checks.clear();
        for (key, (ask, _)) in std::mem::take(&mut self.asks) {
            self.cmds.push_back(SessionCommand::Answer { ask, answer: refusal(key) });
        }
        self.handshakes.clear();
    }

    /// Graceful drain: `error{0, RELAY_DRAINING}` and the session ends.
    pub fn drain(&mut self, now_ms: u64) {
        self.end_with("RELAY_DRAINING", "the relay is shutting down", 1001, now_ms);
    }

    /// The socket is gone: the session waits `grace_ms` for a resume.
    pub fn detach(&mut self, now_ms: u64) {
        self.attached = false;
        self.out.clear();
        self.close = None;
        self.detached_at = Some(now_ms);
    }

    /// A new socket resumes with `hello{resume, token, received}`: queues `welcome{resumed}`
    /// and every sequenced message the client did not get.
    /// A failed resume (`received` beyond what was sent, an ended session) changes nothing.
    pub fn resume(&mut self, received: u64, now_ms: u64) -> Res {
        if self.ended {
            return Err(RelayError::SessionExpired);
        }
        let frames: Vec<(u64, Vec<u8>)> =
            self.reliable.resume(received)?.map(|m| (m.message_type, m.payload.clone())).collect();
        self.attached = true;
        self.detached_at = None;
        self.out.clear();
        self.close = None;
        self.last_received = now_ms;
        self.welcome(true, now_ms);
        for f in frames {
            self.send_raw(f, now_ms);
        }
        Ok(())
    }

    /// Whether the grace period ran out (drop the session: everything it had is gone).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.detached_at.is_some_and(|t| now_ms >= t.saturating_add(self.config.grace_ms))
    }

    /// The next frame for the client: `(message type, payload)`.
    pub fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)> {
        self.out.pop_front()
    }

    /// The next command for the DHT side.
    pub fn poll_command(&mut self) -> Option<SessionCommand> {
        self.cmds.pop_front()
    }

    /// Whether the socket must close now (after sending the queued frames).
    pub fn poll_socket_close(&mut self) -> Option<SocketClose> {
        self.close.take()
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<u64> {
        if let Some(t) = self.detached_at {
            return Some(t.saturating_add(self.config.grace_ms));
        }
        let mut next = [
            Some(self.last_sent.saturating_add(self.config.keepalive_ms)),
            Some(self.last_received.saturating_add(self.config.idle_ms)),
            self.reliable.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(t) = self.asks.values().map(|(_, t)| *t).min() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next
    }

    /// Runs the timers: keepalive, idle drop, acks, expired asks.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let expired: Vec<AskKey> =
            self.asks.iter().filter(|(_, (_, t))| *t <= now_ms).map(|(k, _)| *k).collect();
        for k in expired {
            self.asks.remove(&k);
            if let AskKey::Sign(sign) = k {
                self.on_sign_timeout(sign, now_ms);
            }
            if let AskKey::Hs(wire) = k {
                // Not answered in time: the node rejects it; nothing will connect.
                self.forget_handshake(wire);
            }
        }
        self.handshakes.retain(|_, (_, _, until)| *until > now_ms);
        if !self.attached || self.ended {
            return;
        }
        if now_ms >= self.last_received.saturating_add(self.config.idle_ms) {
            self.detach(now_ms);
            self.close = Some(SocketClose::Idle);
            return;
        }
        self.maybe_ack(now_ms);
        if now_ms >= self.last_sent.saturating_add(self.config.keepalive_ms) {
            self.send_raw(Message::Ping.encode(), now_ms);
        }
    }

    fn maybe_ack(&mut self, now_ms: u64) {
        if self.reliable.ack_due(now_ms) {
            let received = self.reliable.take_ack();
            self.send_raw(Message::Ack { received }.encode(), now_ms);
        }
    }

    /// A frame from the client (not its `hello`, which the caller handled). A frame that does
    /// not decode, or breaks the protocol, ends the session with `BAD_MESSAGE`.
    pub fn handle_frame(&mut self, message_type: u64, payload: &[u8], now_ms: u64) {
        if self.ended {
            return;
        }
        self.last_received = now_ms;
        let result = Message::decode(message_type, payload).and_then(|m| {
            if m.is_sequenced() {
                self.reliable.on_receive(payload.len(), now_ms);
            }
            self.on_message(m, now_ms)
        });
        match result {
            Ok(()) => self.maybe_ack(now_ms),
            Err(e) if e.is_protocol_violation() => {
                self.end_with("BAD_MESSAGE", &e.to_string(), 1002, now_ms);
            }
            Err(e) => self.end_with(e.code(), &e.to_string(), 1002, now_ms),
        }
    }

    fn relay_id(&mut self) -> u32 {
        let id = self.next_relay_id;
        self.next_relay_id = if id == u32::MAX { CLIENT_ID_LIMIT } else { id + 1 };
        id
    }

    fn ask(&mut self, key: AskKey, ask: AskId, now_ms: u64) {
        self.asks.insert(key, (ask, now_ms.saturating_add(self.config.ask_timeout_ms)));
    }

    fn answer(&mut self, key: AskKey, answer: AskAnswer) -> bool {
        match self.asks.remove(&key) {
            Some((ask, _)) => {
                self.cmds.push_back(SessionCommand::Answer { ask, answer });
                true
            }
            None => false,
        }
    }

    fn on_message(&mut self, m: Message, now: u64) -> Res {
        match m {
            Message::Hello { .. } => return Err(RelayError::protocol("a second hello")),
            Message::Ack { received } => self.reliable.on_ack(received)?,
            Message::Ping => self.send_raw(Message::Pong.encode(), now),
            Message::Pong => {}
            Message::Lookup { id, topic } => self.query(id, QueryKind::Lookup { topic }, now)?,
            Message::FindPeer { id, public_key } => {
                self.query(id, QueryKind::FindPeer { public_key }, now)?
            }
            Message::Announce { id, topic, public_key, relay_addresses } => {
                self.query(id, QueryKind::Announce { topic, public_key, relay_addresses }, now)?
            }
            Message::Unannounce { id, topic, public_key } => {
                self.query(id, QueryKind::Unannounce { topic, public_key }, now)?
            }
            Message::Cancel { id } => {
                client_id(id)?;
                if self.queries.remove(&id).is_some() {
                    self.cmds.push_back(SessionCommand::CancelQuery { id });
                    self.send(Message::Done { id, commits: 0 }, now);
                }
            }
            Message::Signature { sign, signature } => {
                if !self.on_signature(sign, signature, now) {
                    self.error(u64::from(sign), "UNKNOWN_ID", "no such sign request", now);
                }
            }
            Message::Connect { stream, remote_public_key, public_key, relay_addresses } => {
                client_id(stream)?;
                if self.streams.contains_key(&stream) {
                    self.error(u64::from(stream), "ID_IN_USE", "stream id in use", now);
                } else if self.streams.len() as u64 >= self.config.max_streams {
                    self.send(Message::Close { stream, code: "LIMIT_STREAMS".into() }, now);
                } else {
                    self.streams.insert(stream, StreamState::Dialing);
                    let cmd =
                        SessionCommand::Connect { stream, remote_public_key, public_key, relay_addresses };
                    self.cmds.push_back(cmd);
                }
            }
            Message::NoiseMsg1 { stream, msg1 } => {
                if !self.answer(AskKey::Msg1(stream), AskAnswer::Msg1(Some(msg1))) {
                    self.error(u64::from(stream), "UNKNOWN_ID", "no handshake waits for msg1", now);
                }
            }
            Message::NoiseRemote { stream, remote_payload } => {
                let payload = NoisePayload::from_bytes(&remote_payload)?;
                if !self.answer(AskKey::Remote(stream), AskAnswer::Remote(Some(payload))) {
                    self.error(u64::from(stream), "UNKNOWN_ID", "no handshake waits for a payload", now);
                }
            }
            Message::Listen { server, public_key } => {
                client_id(server)?;
                if self.id_in_use(server) {
                    self.error(u64::from(server), "ID_IN_USE", "id in use by a query or server", now);
                } else if self.servers.len() as u64 >= self.config.max_servers {
                    self.error(u64::from(server), "LIMIT_SERVERS", "too many servers", now);
                } else {
                    self.servers.insert(server, false);
                    self.cmds.push_back(SessionCommand::Listen { server, public_key });
                }
            }
            Message::Unlisten { server } => {
                client_id(server)?;
                if self.servers.remove(&server).is_some() {
                    self.handshakes.retain(|_, (s, _, _)| *s != server);
                    self.cmds.push_back(SessionCommand::Unlisten { server });
                    self.send(Message::Unlistened { server }, now);
                } else {
                    self.error(u64::from(server), "UNKNOWN_ID", "no such server", now);
                }
            }
            Message::Accept { hs, msg2, remote_payload } => {
                let payload = NoisePayload::from_bytes(&remote_payload)?;
                if !self.answer(AskKey::Hs(hs), AskAnswer::Handshake(Some((msg2, payload)))) {
                    self.error(u64::from(hs), "UNKNOWN_ID", "no such handshake", now);
                }
            }
            Message::Reject { hs } => {
                if self.answer(AskKey::Hs(hs), AskAnswer::Handshake(None)) {
                    self.forget_handshake(hs);
                } else {
                    self.error(u64::from(hs), "UNKNOWN_ID", "no such handshake", now);
                }
            }
            Message::Data { stream, bytes } => self.client_data(stream, bytes, now),
            Message::Credit { stream, bytes } => match self.streams.get_mut(&stream) {
                Some(StreamState::Open { credit, .. }) => {
                    // The allowance grows by what the credit grew (it stays below 2^53).
                    let before = credit.send_allowance();
                    credit.on_credit(bytes);
                    let bytes = credit.send_allowance().saturating_sub(before);
                    if bytes > 0 {
                        self.cmds.push_back(SessionCommand::ReadMore { stream, bytes });
                    }
                }
                _ => self.error(u64::from(stream), "UNKNOWN_ID", "no such open stream", now),
            },
            Message::End { stream } => match self.streams.get_mut(&stream) {
                Some(StreamState::Open { client_ended, peer_ended, .. }) if !*client_ended => {
                    *client_ended = true;
                    let both = *peer_ended;
                    self.cmds.push_back(SessionCommand::End { stream });
                    if both {
                        self.finish_stream(stream, now);
                    }
                }
                Some(StreamState::Open { .. }) => return Err(RelayError::protocol("end after end")),
                _ => self.error(u64::from(stream), "UNKNOWN_ID", "no such open stream", now),
            },
            Message::Close { stream, .. } => {
                if self.streams.remove(&stream).is_some() {
                    self.forget_stream_asks(stream);
                    self.cmds.push_back(SessionCommand::Destroy { stream });
                }
            }
            Message::Welcome { .. }
            | Message::Error { .. }
            | Message::Result { .. }
            | Message::Done { .. }
            | Message::Sign(_)
            | Message::NoiseInit { .. }
            | Message::NoiseMsg2 { .. }
            | Message::Open { .. }
            | Message::Listening { .. }
            | Message::Handshake { .. }
            | Message::Incoming { .. }
            | Message::Unlistened { .. } => return Err(RelayError::protocol("a relay-to-client message")),
        }
        Ok(())
    }

    /// Queries and servers share one id space (PROTOCOL.md §3).
    fn id_in_use(&self, id: u32) -> bool {
        self.queries.contains_key(&id) || self.servers.contains_key(&id)
    }

    fn query(&mut self, id: u32, kind: QueryKind, now: u64) -> Res {
        client_id(id)?;
        if self.id_in_use(id) {
            self.error(u64::from(id), "ID_IN_USE", "id in use by a query or server", now);
        } else if self.queries.len() as u64 >= self.config.max_queries {
            self.error(u64::from(id), "LIMIT_QUERIES", "too many queries", now);
        } else {
            self.queries.insert(id, ());
            self.cmds.push_back(SessionCommand::Query { id, kind });
        }
        Ok(())
    }

    fn client_data(&mut self, stream: u32, bytes: Vec<u8>, now: u64) {
        let Some(StreamState::Open { credit, client_ended, .. }) = self.streams.get_mut(&stream) else {
            self.error(u64::from(stream), "UNKNOWN_ID", "no such open stream", now);
            return;
        };
        if *client_ended || credit.on_receive(bytes.len() as u64).is_err() {
            let code = if *client_ended { "BAD_MESSAGE" } else { "CREDIT_EXCEEDED" };
            self.streams.remove(&stream);
            self.cmds.push_back(SessionCommand::Destroy { stream });
            self.send(Message::Close { stream, code: code.into() }, now);
            return;
        }
        self.cmds.push_back(SessionCommand::Write { stream, bytes });
    }

    fn forget_stream_asks(&mut self, stream: u32) {
        for key in [AskKey::Msg1(stream), AskKey::Remote(stream)] {
            if let Some((ask, _)) = self.asks.remove(&key) {
                self.cmds.push_back(SessionCommand::Answer { ask, answer: refusal(key) });
            }
        }
    }

    fn finish_stream(&mut self, stream: u32, now: u64) {
        self.streams.remove(&stream);
        self.cmds.push_back(SessionCommand::Release { stream });
        self.send(Message::Close { stream, code: String::new() }, now);
    }

    fn open_stream(&mut self, stream: u32) {
        let credit = StreamCredit::new(stream, self.config.stream_credit);
        self.streams.insert(stream, StreamState::Open { credit, client_ended: false, peer_ended: false });
        self.cmds.push_back(SessionCommand::ReadMore { stream, bytes: self.config.stream_credit });
    }

    /// Something the DHT side reports. Events for ids the session dropped are ignored (and
    /// their asks refused, their connections dropped).
    pub fn handle_dht(&mut self, ev: DhtEvent, now: u64) {
        if self.ended {
            match ev {
                DhtEvent::Incoming { conn, .. } => self.cmds.push_back(SessionCommand::DropIncoming { conn }),
                DhtEvent::Sign { ask, .. } => self.refuse(ask, AskAnswer::Signature(None)),
                DhtEvent::NoiseInit { ask, .. } => self.refuse(ask, AskAnswer::Msg1(None)),
                DhtEvent::NoiseMsg2 { ask, .. } => self.refuse(ask, AskAnswer::Remote(None)),
                DhtEvent::Handshake { ask, .. } => self.refuse(ask, AskAnswer::Handshake(None)),
                _ => {}
            }
            return;
        }
        match ev {
            DhtEvent::QueryReply { id, from, peers } if self.queries.contains_key(&id) => {
                self.send(Message::Result { id, from, peers }, now);
            }
            DhtEvent::QueryDone { id, commits } if self.queries.remove(&id).is_some() => {
                self.send(Message::Done { id, commits }, now);
            }
            DhtEvent::QueryFailed { id, code } if self.queries.remove(&id).is_some() => {
                self.error(u64::from(id), &code, "query failed", now);
            }
            DhtEvent::Sign { id, ask, parts }
                if self.queries.contains_key(&id) || self.servers.contains_key(&id) =>
            {
                let sign = self.relay_id();
                self.ask(AskKey::Sign(sign), ask, now);
                let check =
                    SignCheck { owner: id, signable: parts.signable(), public_key: parts.peer.public_key };
                self.sign_checks.insert(sign, check);
                let kind = match parts.kind {
                    SignKind::Announce => WireSignKind::Announce,
                    SignKind::Unannounce => WireSignKind::Unannounce,
                };
                let SignParts { target, node_id, token, peer, refresh, .. } = parts;
                let req = SignRequest { sign, id, kind, target, node_id, token, peer, refresh };
                self.send(Message::Sign(req), now);
            }
            DhtEvent::Sign { ask, .. } => self.refuse(ask, AskAnswer::Signature(None)),
            DhtEvent::NoiseInit { stream, ask, local_payload } if self.is_dialing(stream) => {
                self.ask(AskKey::Msg1(stream), ask, now);
                self.send(Message::NoiseInit { stream, local_payload: local_payload.to_bytes() }, now);
            }
            DhtEvent::NoiseInit { ask, .. } => self.refuse(ask, AskAnswer::Msg1(None)),
            DhtEvent::NoiseMsg2 { stream, ask, msg2 } if self.is_dialing(stream) => {
                self.ask(AskKey::Remote(stream), ask, now);
                self.send(Message::NoiseMsg2 { stream, msg2 }, now);
            }
            DhtEvent::NoiseMsg2 { ask, .. } => self.refuse(ask, AskAnswer::Remote(None)),
            DhtEvent::Opened { stream, remote_address } if self.is_dialing(stream) => {
                self.open_stream(stream);
                let credit = self.config.stream_credit;
                self.send(Message::Open { stream, remote_address, credit }, now);
            }
            DhtEvent::Opened { stream, .. } => self.cmds.push_back(SessionCommand::Destroy { stream }),
            DhtEvent::ConnectFailed { stream, code } if self.is_dialing(stream) => {
                self.streams.remove(&stream);
                self.forget_stream_asks(stream);
                self.send(Message::Close { stream, code }, now);
            }
            DhtEvent::Listening { server, relay_addresses } if self.servers.contains_key(&server) => {
                self.send(Message::Listening { server, relay_addresses }, now);
            }
            DhtEvent::ListenFailed { server, code } if self.servers.remove(&server).is_some() => {
                self.error(u64::from(server), &code, "listen failed", now);
            }
            DhtEvent::Handshake { server, ask, hs, peer_address, msg1, local_payload }
                if self.servers.contains_key(&server) =>
            {
                if self.streams.len() as u64 >= self.config.max_streams {
                    return self.refuse(ask, AskAnswer::Handshake(None));
                }
                if self.handshakes.len() >= MAX_HANDSHAKES {
                    self.handshakes.retain(|_, (_, _, until)| *until > now);
                    if self.handshakes.len() >= MAX_HANDSHAKES {
                        return self.refuse(ask, AskAnswer::Handshake(None));
                    }
                }
                let wire = self.relay_id();
                self.ask(AskKey::Hs(wire), ask, now);
                self.handshakes.insert(hs, (server, wire, now.saturating_add(HANDSHAKE_TTL_MS)));
                let local_payload = local_payload.to_bytes();
                self.send(Message::Handshake { server, hs: wire, peer_address, msg1, local_payload }, now);
            }
            DhtEvent::Handshake { ask, .. } => self.refuse(ask, AskAnswer::Handshake(None)),
            DhtEvent::Incoming { server, hs, conn, remote_address } => {
                let known = self.handshakes.remove(&hs).filter(|(s, _, _)| *s == server);
                match known {
                    Some((_, wire, _)) if (self.streams.len() as u64) < self.config.max_streams => {
                        let stream = self.relay_id();
                        self.cmds.push_back(SessionCommand::AdoptIncoming { conn, stream });
                        self.open_stream(stream);
                        let credit = self.config.stream_credit;
                        self.send(
                            Message::Incoming { server, hs: wire, stream, remote_address, credit },
                            now,
                        );
                    }
                    _ => self.cmds.push_back(SessionCommand::DropIncoming { conn }),
                }
            }
            DhtEvent::StreamData { stream, bytes } => {
                let Some(StreamState::Open { credit, .. }) = self.streams.get_mut(&stream) else { return };
                if bytes.is_empty()
                    || bytes.len() > MAX_DATA_LEN
                    || credit.on_send(bytes.len() as u64).is_err()
                {
                    // The DHT side read beyond what it was allowed: a bug there; drop the stream.
                    tracing::warn!(stream, "a stream was read beyond its credit");
                    self.streams.remove(&stream);
                    self.cmds.push_back(SessionCommand::Destroy { stream });
                    self.send(Message::Close { stream, code: "SERVER_ERROR".into() }, now);
                    return;
                }
                self.send(Message::Data { stream, bytes }, now);
            }
            DhtEvent::Written { stream, bytes } => {
                let Some(StreamState::Open { credit, .. }) = self.streams.get_mut(&stream) else { return };
                if let Some(grant) = credit.on_consumed(bytes) {
                    self.send(Message::Credit { stream, bytes: grant }, now);
                }
            }
            DhtEvent::StreamEnded { stream } => {
                let Some(StreamState::Open { peer_ended, client_ended, .. }) = self.streams.get_mut(&stream)
                else {
                    return;
                };
                if *peer_ended {
                    return;
                }
                *peer_ended = true;
                let both = *client_ended;
                self.send(Message::End { stream }, now);
                if both {
                    self.finish_stream(stream, now);
                }
            }
            DhtEvent::StreamClosed { stream, code } => {
                if self.streams.remove(&stream).is_some() {
                    self.forget_stream_asks(stream);
                    self.send(Message::Close { stream, code }, now);
                }
            }
            // Events of queries/servers the client dropped.
            DhtEvent::QueryReply { .. }
            | DhtEvent::QueryDone { .. }
            | DhtEvent::QueryFailed { .. }
            | DhtEvent::ConnectFailed { .. }
            | DhtEvent::Listening { .. }
            | DhtEvent::ListenFailed { .. } => {}
        }
    }

    /// Forgets the handshake the client knows as `wire` (refused, rejected, timed out).
    fn forget_handshake(&mut self, wire: u32) {
        self.handshakes.retain(|_, (_, w, _)| *w != wire);
    }

    fn is_dialing(&self, stream: u32) -> bool {
        matches!(self.streams.get(&stream), Some(StreamState::Dialing))
    }

    fn refuse(&mut self, ask: AskId, answer: AskAnswer) {
        self.cmds.push_back(SessionCommand::Answer { ask, answer });
    }
}

/// The refusal of an ask of kind `key`.
fn refusal(key: AskKey) -> AskAnswer {
    match key {
        AskKey::Sign(_) => AskAnswer::Signature(None),
        AskKey::Msg1(_) => AskAnswer::Msg1(None),
        AskKey::Remote(_) => AskAnswer::Remote(None),
        AskKey::Hs(_) => AskAnswer::Handshake(None),
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
