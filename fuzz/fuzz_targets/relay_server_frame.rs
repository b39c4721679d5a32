//! The relay's server side fed as `serve` feeds it: arbitrary WebSocket binary messages go
//! through a Protomux (`Mux::on_message`), the first channel's protocol name picks the session
//! (`hyperwasm-relay/1` → `hello` → the v1 `Session::handle_frame`; `@hyperswarm/dht-relay` →
//! the JS-compat `Session::handle_message`), interleaved with arbitrary DHT-side events (naming
//! the ids the session handed out), timers, socket drops and resumes, drains.
//!
//! Input: a mode byte (0: raw, no prelude; 1: a valid v1 `open` + `hello`; 2: a valid
//! JS-compat `open` + `handshake`), then `(op, …)` records whose fields are read from the
//! following bytes (zeros once the input runs out). Structured client messages name the ids
//! the relay sent (sign requests, handshakes, streams), and signatures can be real (the client
//! key is a fixed key pair), so the fuzzer gets past the checks into the deep states.
//!
//! Checks: no panic; live streams, servers and queries never exceed the configured limits;
//! the commands and frames one step produces stay bounded.
#![no_main]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use hyperwasm::crypto::KeyPair;
use hyperwasm::encoding::put_uint;
use hyperwasm::hyperdht::messages::{NoisePayload, Peer, UdxInfo};
use hyperwasm::protomux::{ChannelId, ChannelSpec, Mux, MuxEvent};
use hyperwasm::relay_protocol::messages::{Message as V1, Resume};
use hyperwasm::relay_protocol::{types, PROTOCOL_NAME, VERSION};
use hyperwasm_relay::hyperdht::{SignKind, SignParts};
use hyperwasm_relay::relay_server::js_compat::codecs::{Announcers, DhtNode};
use hyperwasm_relay::relay_server::js_compat::dht_side::{
    self as js_dht, Answer, DhtCommand, ServerId, SignOwner, StreamId,
};
use hyperwasm_relay::relay_server::js_compat::messages as jsm;
use hyperwasm_relay::relay_server::js_compat::session::{Session as JsSession, SessionConfig as JsConfig};
use hyperwasm_relay::relay_server::js_compat_hook;
use hyperwasm_relay::relay_server::session::{
    AskId, DhtEvent, Session, SessionCommand, SessionConfig, SocketClose,
};
use libfuzzer_sys::fuzz_target;

/// Reads fields; zeros once the input is used up.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = usize::from(self.u8()).min(max).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn key(&mut self) -> [u8; 32] {
        [self.u8(); 32]
    }
    fn addr(&mut self) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, self.u8()), u16::from(self.u8()) + 1)
    }
    fn addrs(&mut self) -> Vec<SocketAddrV4> {
        (0..self.u8() % 4).map(|_| self.addr()).collect()
    }
    /// One of `known` (by index), or a raw value when the high bit is set or none is known.
    fn pick<T: Copy>(&mut self, known: &[T], raw: impl FnOnce(u8) -> T) -> T {
        let b = self.u8();
        if b & 0x80 == 0 && !known.is_empty() {
            known[usize::from(b) % known.len()]
        } else {
            raw(b)
        }
    }
    fn payload(&mut self) -> NoisePayload {
        let b = self.u8();
        let mut p = NoisePayload { firewall: u64::from(b & 3), ..NoisePayload::default() };
        if b & 4 != 0 {
            p.udx = Some(UdxInfo { id: u64::from(b), ..UdxInfo::default() });
        }
        if b & 8 != 0 {
            p.addresses4 = vec![self.addr()];
        }
        if b & 16 != 0 {
            p.version = u64::from(b >> 5);
        }
        p
    }
}

/// Ids seen so far, for events and messages that name live things.
#[derive(Default)]
struct Known {
    queries: Vec<u32>,
    servers: Vec<u32>,
    streams: Vec<u32>,
    asks: Vec<u64>,
    next_ask: u64,
    hs: Vec<u64>,
    conns: Vec<u64>,
    /// Relay-chosen wire ids: sign requests, handshakes, noise ids.
    wire: Vec<u32>,
    /// Valid signatures for the relay's sign requests (wire id, signature).
    sigs: Vec<(u32, [u8; 64])>,
    /// Signables of the JS sign events, in the order the session forwards them.
    js_signables: VecDeque<[u8; 64]>,
}

fn remember<T: PartialEq>(list: &mut Vec<T>, x: T) {
    if list.len() >= 64 {
        list.remove(0);
    }
    if !list.contains(&x) {
        list.push(x);
    }
}

impl Known {
    fn new_ask(&mut self) -> u64 {
        self.next_ask += 1;
        remember(&mut self.asks, self.next_ask);
        self.next_ask
    }
}

enum Serving {
    None,
    Hello(ChannelId),
    V1(ChannelId),
    Js(ChannelId),
    /// The socket is closed (the v1 session may live on for a resume).
    Closed,
}

struct Server {
    mux: Mux,
    serving: Serving,
    v1: Option<Session>,
    js: Option<JsSession>,
    v1_config: SessionConfig,
    js_config: JsConfig,
    known: Known,
    key: KeyPair,
    now: u64,
    flush: bool,
}

const JS_TYPES: u64 = 30;
const V1_TYPES: u64 = 48;

impl Server {
    fn new() -> Self {
        let v1_config = SessionConfig {
            max_streams: 4,
            max_servers: 2,
            max_queries: 4,
            stream_credit: 4096,
            ..SessionConfig::default()
        };
        let js_config = JsConfig {
            max_streams: 4,
            max_servers: 2,
            max_queries: 4,
            max_asks: 4,
            high_water: 64 << 10,
            low_water: 16 << 10,
            ..JsConfig::default()
        };
        Server {
            mux: Mux::new(),
            serving: Serving::None,
            v1: None,
            js: None,
            v1_config,
            js_config,
            known: Known::default(),
            key: KeyPair::from_seed(&[1; 32]),
            now: 1_000,
            flush: true,
        }
    }

    fn close_socket(&mut self) {
        if matches!(self.serving, Serving::Closed) {
            return;
        }
        self.serving = Serving::Closed;
        if let Some(s) = &mut self.v1 {
            s.detach(self.now);
        }
        self.js = None;
    }

    /// A new WebSocket (the old one, if any, is gone).
    fn reconnect(&mut self) {
        self.close_socket();
        self.mux = Mux::new();
        self.serving = Serving::None;
    }

    /// One WebSocket binary message, as `socket.rs` takes it.
    fn on_ws(&mut self, bytes: &[u8]) {
        if matches!(self.serving, Serving::Closed) {
            return;
        }
        if bytes.is_empty() || self.mux.on_message(bytes).is_err() {
            return self.close_socket();
        }
        while let Some(ev) = self.mux.poll_event() {
            match ev {
                MuxEvent::RemoteOpen { protocol, id } => {
                    if !matches!(self.serving, Serving::None) || id.is_some() {
                        self.mux.reject(&protocol, id.as_deref());
                        return self.close_socket();
                    }
                    let name = if protocol == PROTOCOL_NAME {
                        PROTOCOL_NAME
                    } else if protocol == js_compat_hook::PROTOCOL_NAME {
                        js_compat_hook::PROTOCOL_NAME
                    } else {
                        self.mux.reject(&protocol, None);
                        return self.close_socket();
                    };
                    let spec = ChannelSpec { protocol: name, ..ChannelSpec::default() };
                    let Ok(channel) = self.mux.open(spec) else { return self.close_socket() };
                    if name == PROTOCOL_NAME {
                        self.serving = Serving::Hello(channel);
                    } else {
                        self.js = Some(JsSession::new(self.js_config.clone(), self.now));
                        self.serving = Serving::Js(channel);
                    }
                }
                MuxEvent::Opened { .. } => {}
                MuxEvent::Closed { .. } => return self.close_socket(),
                MuxEvent::Message { message_type, payload, .. } => match self.serving {
                    Serving::Hello(channel) => {
                        if !self.hello(channel, message_type, &payload) {
                            return self.close_socket();
                        }
                    }
                    Serving::V1(_) => {
                        if let Some(s) = &mut self.v1 {
                            s.handle_frame(message_type, &payload, self.now);
                        }
                    }
                    Serving::Js(_) => {
                        if let Some(s) = &mut self.js {
                            s.handle_message(message_type, &payload, self.now);
                        }
                    }
                    Serving::None | Serving::Closed => return self.close_socket(),
                },
            }
        }
    }

    /// `socket.rs`'s hello: a new session, or a resume of the one we hold.
    fn hello(&mut self, channel: ChannelId, message_type: u64, payload: &[u8]) -> bool {
        let resume = match V1::decode(message_type, payload) {
            Ok(V1::Hello { version, resume }) if message_type == types::HELLO && version == VERSION => resume,
            _ => return false,
        };
        if let (Some(r), Some(s)) = (resume, &mut self.v1) {
            if r.token == s.token() && !s.is_ended() && s.resume(r.received, self.now).is_ok() {
                self.serving = Serving::V1(channel);
                return true;
            }
        }
        self.v1 = Some(Session::new(self.v1_config.clone(), [7; 32], self.now));
        self.serving = Serving::V1(channel);
        true
    }

    /// Moves what the session produced: frames to the socket, commands into `known`.
    fn pump(&mut self) {
        let mut frames = 0usize;
        let mut commands = 0usize;
        if let Some(s) = &mut self.v1 {
            while let Some((t, p)) = s.poll_transmit() {
                frames += 1;
                if let Serving::V1(channel) = self.serving {
                    let _ = self.mux.send(channel, t, &p);
                }
                note_v1_out(&mut self.known, &self.key, t, &p);
            }
            while let Some(cmd) = s.poll_command() {
                commands += 1;
                note_v1_command(&mut self.known, cmd);
            }
            match s.poll_socket_close() {
                Some(SocketClose::Idle) | Some(SocketClose::Ended { .. }) => self.close_socket(),
                None => {}
            }
            if let Some(s) = &self.v1 {
                let (streams, servers, queries) = s.counts();
                assert!(streams as u64 <= self.v1_config.max_streams, "{streams} streams");
                assert!(servers as u64 <= self.v1_config.max_servers, "{servers} servers");
                assert!(queries as u64 <= self.v1_config.max_queries, "{queries} queries");
            }
            if self.v1.as_ref().is_some_and(|s| s.is_expired(self.now)) {
                self.v1 = None;
            }
        }
        if let Some(s) = &mut self.js {
            while let Some(t) = s.poll_transmit() {
                frames += 1;
                if let Serving::Js(channel) = self.serving {
                    let _ = self.mux.send(channel, t.message_type, &t.payload);
                }
                if self.flush {
                    s.on_flushed(t.queued_len());
                }
                note_js_out(&mut self.known, &self.key, t.message_type, &t.payload);
            }
            while let Some(cmd) = s.poll_command() {
                commands += 1;
                note_js_command(&mut self.known, cmd);
            }
            assert!(s.stream_count() <= self.js_config.max_streams, "{} streams", s.stream_count());
            if s.is_closed() {
                self.close_socket();
            }
        }
        while self.mux.poll_transmit().is_some() {}
        assert!(frames <= 4096 && commands <= 4096, "{frames} frames, {commands} commands in one step");
    }

    fn timeout(&mut self, input: &mut Input<'_>) {
        let b = input.u8();
        let next = self.v1.as_ref().and_then(Session::poll_timeout).into_iter();
        let next = next.chain(self.js.as_ref().and_then(JsSession::poll_timeout)).min();
        self.now = match next {
            Some(t) if b & 1 == 0 => t.max(self.now),
            _ => self.now + u64::from(b) * 250,
        };
        if let Some(s) = &mut self.v1 {
            s.handle_timeout(self.now);
        }
        if let Some(s) = &mut self.js {
            s.handle_timeout(self.now);
        }
    }
}

fn note_v1_out(known: &mut Known, key: &KeyPair, t: u64, p: &[u8]) {
    match V1::decode(t, p) {
        Ok(V1::Sign(req)) => {
            remember(&mut known.wire, req.sign);
            let kind = match req.kind {
                hyperwasm::relay_protocol::messages::SignKind::Announce => SignKind::Announce,
                hyperwasm::relay_protocol::messages::SignKind::Unannounce => SignKind::Unannounce,
            };
            let parts = SignParts {
                kind,
                target: req.target,
                node_id: req.node_id,
                token: req.token,
                peer: req.peer.clone(),
                refresh: req.refresh,
            };
            remember(&mut known.sigs, (req.sign, key.sign(&parts.signable())));
        }
        Ok(V1::Handshake { hs, .. }) => remember(&mut known.wire, hs),
        Ok(V1::Incoming { stream, hs, .. }) => {
            remember(&mut known.streams, stream);
            remember(&mut known.wire, hs);
        }
        _ => {}
    }
}

fn note_v1_command(known: &mut Known, cmd: SessionCommand) {
    match cmd {
        SessionCommand::Query { id, .. } => remember(&mut known.queries, id),
        SessionCommand::Connect { stream, .. } => remember(&mut known.streams, stream),
        SessionCommand::Listen { server, .. } => remember(&mut known.servers, server),
        SessionCommand::AdoptIncoming { stream, .. } => remember(&mut known.streams, stream),
        _ => {}
    }
}

fn note_js_out(known: &mut Known, key: &KeyPair, t: u64, p: &[u8]) {
    match jsm::Message::decode(t, p) {
        Ok(jsm::Message::SignAnnounce(r) | jsm::Message::SignUnannounce(r)) => {
            remember(&mut known.wire, r.id);
            if let Some(signable) = known.js_signables.pop_front() {
                remember(&mut known.sigs, (r.id, key.sign(&signable)));
            }
        }
        Ok(jsm::Message::NoiseSend(m)) => remember(&mut known.wire, m.id),
        Ok(jsm::Message::NoiseReceive(m)) => remember(&mut known.wire, m.id),
        Ok(jsm::Message::Open(o)) => remember(&mut known.wire, o.alias),
        Ok(jsm::Message::Connection(c)) => remember(&mut known.wire, c.alias),
        _ => {}
    }
}

fn note_js_command(known: &mut Known, cmd: DhtCommand) {
    match cmd {
        DhtCommand::Lookup { query, .. }
        | DhtCommand::Announce { query, .. }
        | DhtCommand::Unannounce { query, .. } => remember(&mut known.queries, query),
        DhtCommand::Connect { stream, .. } => remember(&mut known.streams, stream.0),
        DhtCommand::Listen { server, .. } => remember(&mut known.servers, server.0),
        DhtCommand::Answer(Answer::Handshake { accept: Some(a), .. }) => {
            remember(&mut known.streams, a.stream.0)
        }
        _ => {}
    }
}

fn code(b: u8) -> String {
    ["PEER_NOT_FOUND", "ECONNRESET", "ETIMEDOUT", "", "SERVER_ERROR"][usize::from(b % 5)].to_string()
}

fn raw_id(b: u8) -> u32 {
    u32::from(b & 0x3f) | if b & 0x40 != 0 { 1 << 31 } else { 0 }
}

/// A structured v1 client message.
fn v1_message(k: &Known, key: &KeyPair, i: &mut Input<'_>) -> V1 {
    let me = key.public_key();
    match i.u8() % 20 {
        0 => V1::Lookup { id: i.pick(&k.queries, raw_id), topic: i.key() },
        1 => V1::Announce {
            id: i.pick(&k.queries, raw_id),
            topic: i.key(),
            public_key: me,
            relay_addresses: i.addrs(),
        },
        2 => V1::Unannounce { id: i.pick(&k.queries, raw_id), topic: i.key(), public_key: me },
        3 => V1::FindPeer { id: i.pick(&k.queries, raw_id), public_key: i.key() },
        4 => V1::Cancel { id: i.pick(&k.queries, raw_id) },
        5 => {
            let sig = i.pick(&k.sigs, |b| (raw_id(b), [b; 64]));
            let signature = if i.u8() & 1 == 0 { Some(sig.1) } else { None };
            V1::Signature { sign: sig.0, signature }
        }
        6 => V1::Connect {
            stream: i.pick(&k.streams, raw_id),
            remote_public_key: i.key(),
            public_key: me,
            relay_addresses: i.addrs(),
        },
        7 => V1::NoiseMsg1 { stream: i.pick(&k.streams, raw_id), msg1: i.bytes(96) },
        8 => V1::NoiseRemote { stream: i.pick(&k.streams, raw_id), remote_payload: encode_payload(i) },
        9 => V1::Listen {
            server: i.pick(&k.servers, raw_id),
            public_key: if i.u8() & 1 == 0 { me } else { i.key() },
        },
        10 => V1::Unlisten { server: i.pick(&k.servers, raw_id) },
        11 => {
            V1::Accept { hs: i.pick(&k.wire, raw_id), msg2: i.bytes(96), remote_payload: encode_payload(i) }
        }
        12 => V1::Reject { hs: i.pick(&k.wire, raw_id) },
        13 => {
            let stream = i.pick(&k.streams, raw_id);
            let mut bytes = i.bytes(255);
            let repeat = usize::from(i.u8() % 8);
            bytes = bytes.repeat(1 + repeat * 64);
            V1::Data { stream, bytes }
        }
        14 => V1::Credit { stream: i.pick(&k.streams, raw_id), bytes: u64::from(i.u32()) },
        15 => V1::End { stream: i.pick(&k.streams, raw_id) },
        16 => V1::Close { stream: i.pick(&k.streams, raw_id), code: code(i.u8()) },
        17 => V1::Ack { received: u64::from(i.u8()) },
        18 => V1::Ping,
        _ => V1::Hello { version: 1, resume: None },
    }
}

fn encode_payload(i: &mut Input<'_>) -> Vec<u8> {
    use hyperwasm::encoding::Compact;
    let mut out = Vec::new();
    i.payload().encode(&mut out);
    out
}

/// A structured JS-compat client message.
fn js_message(k: &Known, key: &KeyPair, i: &mut Input<'_>) -> jsm::Message {
    use jsm::Message as M;
    let me = key.public_key();
    match i.u8() % 16 {
        0 => M::Lookup { id: i.pick(&k.queries, raw_id), topic: i.key() },
        1 => M::Announce(jsm::Announce {
            id: i.pick(&k.queries, raw_id),
            topic: i.key(),
            public_key: me,
            secret_key: None,
        }),
        2 => M::Unannounce(jsm::Announce {
            id: i.pick(&k.queries, raw_id),
            topic: i.key(),
            public_key: me,
            secret_key: None,
        }),
        3 => {
            let sig = i.pick(&k.sigs, |b| (raw_id(b), [b; 64]));
            let signature = if i.u8() & 1 == 0 { sig.1.to_vec() } else { i.bytes(64) };
            M::Signature { id: sig.0, signature }
        }
        4 => M::Connect(jsm::Connect {
            alias: i.pick(&k.streams, raw_id),
            public_key: me,
            secret_key: None,
            remote_public_key: i.key(),
        }),
        5 => M::Listen(jsm::Listen { alias: i.pick(&k.servers, raw_id), public_key: me, secret_key: None }),
        6 => M::Close { alias: i.pick(&k.servers, raw_id) },
        7 => {
            let id = i.pick(&k.wire, raw_id);
            let b = i.u8();
            let payload = if b & 2 != 0 { encode_payload(i) } else { i.bytes(96) };
            let complete = if b & 4 != 0 {
                Some(jsm::Completion { remote_id: i.key(), holepunch_secret: i.key() })
            } else {
                None
            };
            let remote_public_key = if b & 8 != 0 { Some(i.key()) } else { None };
            M::NoiseReply(jsm::NoiseReply {
                id,
                is_initiator: b & 1 != 0,
                payload,
                remote_public_key,
                complete,
            })
        }
        8 => M::Data { alias: i.pick(&k.wire, raw_id), data: vec![i.bytes(255)] },
        9 => M::End { alias: i.pick(&k.wire, raw_id) },
        10 => {
            let b = i.u8();
            let target = if b & 1 == 0 {
                jsm::DestroyTarget::Paired { alias: i.pick(&k.wire, raw_id) }
            } else {
                jsm::DestroyTarget::Unpaired { remote_alias: i.pick(&k.streams, raw_id) }
            };
            M::Destroy(jsm::Destroy { target, error: if b & 2 != 0 { Some(code(b)) } else { None } })
        }
        11 => M::Handshake(jsm::Handshake { public_key: me, secret_key: None }),
        12 => M::Connect(jsm::Connect {
            alias: i.pick(&k.streams, raw_id),
            public_key: me,
            secret_key: Some(jsm::SecretKey::from_bytes([9; 64])),
            remote_public_key: i.key(),
        }),
        13 => M::Open(jsm::Open {
            alias: i.pick(&k.wire, raw_id),
            remote_alias: i.pick(&k.streams, raw_id),
            handshake: jsm::HandshakeRef::Id(i.pick(&k.wire, raw_id)),
        }),
        14 => M::Ping,
        _ => M::Pong,
    }
}

fn v1_event(k: &mut Known, key: &KeyPair, i: &mut Input<'_>) -> DhtEvent {
    let me = key.public_key();
    match i.u8() % 16 {
        0 => {
            let peers =
                (0..i.u8() % 3).map(|_| Peer { public_key: i.key(), relay_addresses: i.addrs() }).collect();
            DhtEvent::QueryReply { id: i.pick(&k.queries, raw_id), from: i.addr(), peers }
        }
        1 => DhtEvent::QueryDone { id: i.pick(&k.queries, raw_id), commits: u64::from(i.u8()) },
        2 => DhtEvent::QueryFailed { id: i.pick(&k.queries, raw_id), code: code(i.u8()) },
        3 => {
            let b = i.u8();
            let ids: Vec<u32> = k.queries.iter().chain(&k.servers).copied().collect();
            let parts = SignParts {
                kind: if b & 1 == 0 { SignKind::Announce } else { SignKind::Unannounce },
                target: i.key(),
                node_id: i.key(),
                token: i.key(),
                peer: Peer { public_key: if b & 2 == 0 { me } else { i.key() }, relay_addresses: i.addrs() },
                refresh: if b & 4 != 0 { Some(i.key()) } else { None },
            };
            DhtEvent::Sign { id: i.pick(&ids, raw_id), ask: AskId(k.new_ask()), parts }
        }
        4 => DhtEvent::NoiseInit {
            stream: i.pick(&k.streams, raw_id),
            ask: AskId(k.new_ask()),
            local_payload: i.payload(),
        },
        5 => DhtEvent::NoiseMsg2 {
            stream: i.pick(&k.streams, raw_id),
            ask: AskId(k.new_ask()),
            msg2: i.bytes(96),
        },
        6 => DhtEvent::Opened { stream: i.pick(&k.streams, raw_id), remote_address: i.addr() },
        7 => DhtEvent::ConnectFailed { stream: i.pick(&k.streams, raw_id), code: code(i.u8()) },
        8 => DhtEvent::Listening { server: i.pick(&k.servers, raw_id), relay_addresses: i.addrs() },
        9 => DhtEvent::ListenFailed { server: i.pick(&k.servers, raw_id), code: code(i.u8()) },
        10 => {
            k.next_ask += 1;
            let hs = k.next_ask;
            remember(&mut k.hs, hs);
            DhtEvent::Handshake {
                server: i.pick(&k.servers, raw_id),
                ask: AskId(k.new_ask()),
                hs,
                peer_address: i.addr(),
                msg1: i.bytes(96),
                local_payload: i.payload(),
            }
        }
        11 => {
            k.next_ask += 1;
            let conn = k.next_ask;
            remember(&mut k.conns, conn);
            DhtEvent::Incoming {
                server: i.pick(&k.servers, raw_id),
                hs: i.pick(&k.hs, u64::from),
                conn,
                remote_address: i.addr(),
            }
        }
        12 => {
            let stream = i.pick(&k.streams, raw_id);
            let bytes = i.bytes(255).repeat(1 + usize::from(i.u8() % 4) * 64);
            DhtEvent::StreamData { stream, bytes }
        }
        13 => DhtEvent::Written { stream: i.pick(&k.streams, raw_id), bytes: u64::from(i.u32()) },
        14 => DhtEvent::StreamEnded { stream: i.pick(&k.streams, raw_id) },
        _ => DhtEvent::StreamClosed { stream: i.pick(&k.streams, raw_id), code: code(i.u8()) },
    }
}

fn js_event(k: &mut Known, key: &KeyPair, i: &mut Input<'_>) -> js_dht::DhtEvent {
    use js_dht::DhtEvent as E;
    let me = key.public_key();
    let node = |i: &mut Input<'_>| DhtNode {
        id: if i.u8() & 1 == 0 { Some(i.bytes(40)) } else { None },
        address: i.addr(),
    };
    match i.u8() % 17 {
        0 => {
            let reply = Announcers {
                token: i.key(),
                from: node(i),
                to: node(i),
                peers: (0..i.u8() % 3)
                    .map(|_| Peer { public_key: i.key(), relay_addresses: i.addrs() })
                    .collect(),
            };
            E::QueryReply { query: i.pick(&k.queries, raw_id), reply }
        }
        1 => E::QueryDone { query: i.pick(&k.queries, raw_id) },
        2 => {
            let b = i.u8();
            let owner = if b & 1 == 0 {
                SignOwner::Query(i.pick(&k.queries, raw_id))
            } else {
                SignOwner::Server(ServerId(i.pick(&k.servers, raw_id)))
            };
            let signable = [i.u8(); 64];
            k.js_signables.push_back(signable);
            if k.js_signables.len() > 64 {
                k.js_signables.pop_front();
            }
            E::Sign {
                ask: js_dht::AskId(k.new_ask()),
                owner,
                kind: if b & 2 == 0 { js_dht::SignKind::Announce } else { js_dht::SignKind::Unannounce },
                target: i.key(),
                node_id: i.key(),
                token: i.key(),
                peer: Peer { public_key: if b & 4 == 0 { me } else { i.key() }, relay_addresses: i.addrs() },
                refresh: if b & 8 != 0 { Some(i.key()) } else { None },
                signable,
            }
        }
        3 => E::InitiatorMessage {
            ask: js_dht::AskId(k.new_ask()),
            stream: StreamId(i.pick(&k.streams, raw_id)),
            local_payload: Box::new(i.payload()),
        },
        4 => E::ResponderMessage {
            ask: js_dht::AskId(k.new_ask()),
            stream: StreamId(i.pick(&k.streams, raw_id)),
            msg2: i.bytes(96),
        },
        5 => E::Handshake {
            ask: js_dht::AskId(k.new_ask()),
            server: ServerId(i.pick(&k.servers, raw_id)),
            msg1: i.bytes(96),
            local_payload: Box::new(i.payload()),
            peer_address: i.addr(),
        },
        6 => E::AskDropped { ask: js_dht::AskId(i.pick(&k.asks, u64::from)) },
        7 => E::Connected { stream: StreamId(i.pick(&k.streams, raw_id)), remote_address: i.addr() },
        8 => E::ConnectFailed { stream: StreamId(i.pick(&k.streams, raw_id)), error: code(i.u8()) },
        9 => E::Listening {
            server: ServerId(i.pick(&k.servers, raw_id)),
            address: i.addr(),
            relay_addresses: i.addrs(),
        },
        10 => E::ServerClosed { server: ServerId(i.pick(&k.servers, raw_id)) },
        11 => E::Incoming { stream: StreamId(i.pick(&k.streams, raw_id)), remote_address: i.addr() },
        12 => E::HandshakeFailed { stream: StreamId(i.pick(&k.streams, raw_id)) },
        13 => {
            let stream = StreamId(i.pick(&k.streams, raw_id));
            E::Data { stream, data: i.bytes(255).repeat(1 + usize::from(i.u8() % 4) * 64) }
        }
        14 => E::End { stream: StreamId(i.pick(&k.streams, raw_id)) },
        15 => E::Closed {
            stream: StreamId(i.pick(&k.streams, raw_id)),
            error: if i.u8() & 1 == 0 { None } else { Some(code(i.u8())) },
        },
        _ => E::AskDropped { ask: js_dht::AskId(u64::from(i.u8())) },
    }
}

/// A client frame on channel 1 (the client's first local channel).
fn frame(message_type: u64, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![1];
    put_uint(&mut f, message_type);
    f.extend_from_slice(payload);
    f
}

/// The client's `open` of `protocol`.
fn open_frame(protocol: &str) -> Vec<u8> {
    let mut client = Mux::new();
    let _ = client.open(ChannelSpec { protocol, ..ChannelSpec::default() });
    client.poll_transmit().unwrap_or_default()
}

fn prelude(server: &mut Server, mode: u8, resume: Option<Resume>) {
    match mode % 3 {
        1 => {
            server.on_ws(&open_frame(PROTOCOL_NAME));
            let (t, p) = V1::Hello { version: VERSION, resume }.encode();
            server.on_ws(&frame(t, &p));
        }
        2 => {
            server.on_ws(&open_frame(js_compat_hook::PROTOCOL_NAME));
            let m = jsm::Message::Handshake(jsm::Handshake {
                public_key: server.key.public_key(),
                secret_key: None,
            });
            server.on_ws(&frame(m.kind() as u64, &m.to_bytes()));
        }
        _ => {}
    }
    server.pump();
}

fuzz_target!(|data: &[u8]| {
    let mut i = Input(data);
    let mode = i.u8();
    let mut server = Server::new();
    prelude(&mut server, mode, None);
    let mut steps = 0;
    while !i.is_empty() && steps < 512 {
        steps += 1;
        let op = i.u8();
        match op % 10 {
            0 => {
                let bytes = i.bytes(255);
                server.on_ws(&bytes);
            }
            1 => {
                let types = if matches!(server.serving, Serving::Js(_)) { JS_TYPES } else { V1_TYPES };
                let t = u64::from(i.u8()) % types;
                let payload = i.bytes(255);
                server.on_ws(&frame(t, &payload));
            }
            2 | 3 => {
                if matches!(server.serving, Serving::Js(_)) {
                    let m = js_message(&server.known, &server.key, &mut i);
                    server.on_ws(&frame(m.kind() as u64, &m.to_bytes()));
                } else {
                    let (t, p) = v1_message(&server.known, &server.key, &mut i).encode();
                    server.on_ws(&frame(t, &p));
                }
            }
            4 | 5 => {
                if let Some(s) = &mut server.v1 {
                    let ev = v1_event(&mut server.known, &server.key, &mut i);
                    s.handle_dht(ev, server.now);
                } else if let Some(s) = &mut server.js {
                    let ev = js_event(&mut server.known, &server.key, &mut i);
                    s.handle_dht(ev, server.now);
                }
            }
            6 => server.timeout(&mut i),
            7 => {
                // The socket drops; a new one comes with a (maybe resuming) prelude.
                server.reconnect();
                let b = i.u8();
                let resume = (b & 1 != 0).then(|| Resume {
                    token: if b & 2 == 0 { [7; 32] } else { [8; 32] },
                    received: u64::from(i.u8()),
                });
                prelude(&mut server, if b & 4 == 0 { mode } else { b >> 3 }, resume);
            }
            8 => {
                if let Some(s) = &mut server.v1 {
                    s.drain(server.now);
                }
                if let Some(s) = &mut server.js {
                    s.close("RELAY_DRAINING", "draining");
                }
            }
            _ => server.flush = !server.flush,
        }
        server.pump();
    }
});
