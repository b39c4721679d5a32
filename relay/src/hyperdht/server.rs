//! The server side of connections (hyperdht `lib/server.js`), with the Noise reply asked for.
//!
//! A new msg1 (keyed by its bytes) gets a UDX stream and a local payload, and the key holder
//! is asked for msg2 ([`ServerEvent::IncomingHandshake`]). Every copy of that msg1 — the same
//! client tries several relays with the same bytes — is answered with the *same* reply; copies
//! that arrive while the key holder works wait for it. Once answered, the path is picked as JS:
//! the client is OPEN or came directly → connect to it now; else wait ≤ 10 s for its first UDX
//! packet (it connects to us: we advertise no holepunch info, so a JS client goes direct).
//! Entries are forgotten 10 s after they finish (JS `handshakeClearWait`), so late duplicates
//! still get the cached reply.
//!
//! Strangers can send msg1s that never decrypt (or that the firewall refuses): a handshake that
//! ends without a reply leaves the table at once and only its msg1 hash is remembered, in a
//! small LRU, so its copies stay silent without holding one of the [`MAX_HANDSHAKES`] slots.
//! At most [`MAX_HANDSHAKES_PER_HOST`] handshakes per client host are in progress at once.

use super::announcer::Announcer;
use super::router::{server_handshake_answer, ServerHandshake};
use super::{hash, Answer, Cmd, HyperDhtError, Key};
use hyperwasm::hyperdht::constants::{error, firewall, PAYLOAD_VERSION};
use hyperwasm::hyperdht::messages::NoisePayload;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

/// A listening server (node-wide id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u64);

/// One incoming handshake (node-wide id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HsId(pub u64);

/// How long the key holder may take to answer, and how long we wait for the client's first
/// UDX packet (JS `HANDSHAKE_INITIAL_TIMEOUT`).
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// How long a finished handshake is remembered for duplicates (JS `HANDSHAKE_CLEAR_WAIT`).
pub const HANDSHAKE_CLEAR_WAIT_MS: u64 = 10_000;
/// Handshakes tracked at once per server (new ones beyond are ignored).
pub const MAX_HANDSHAKES: usize = 1024;
/// Handshakes in progress (asked, or waiting for the client) per client IPv4 host; more are
/// ignored until one finishes.
pub const MAX_HANDSHAKES_PER_HOST: usize = 16;
/// msg1s that ended without a reply (rejected, unanswered, reset) remembered so their copies
/// stay silent; the oldest is forgotten first.
pub const MAX_REJECTED: usize = 256;
/// Copies of one msg1 waiting for the key holder.
const MAX_WAITING: usize = 8;

/// The `error` a server payload must carry for the client payload it answers (JS
/// `_addHandshake`): VERSION_MISMATCH for another version, ABORTED without UDX, else NONE.
pub fn payload_error(remote: &NoisePayload) -> u64 {
    if remote.version != PAYLOAD_VERSION {
        error::VERSION_MISMATCH
    } else if remote.udx.is_none() {
        error::ABORTED
    } else {
        error::NONE
    }
}

/// Events of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// A new msg1: decrypt it, set `local_payload.error` to [`payload_error`] of the client's
    /// payload, encrypt msg2 and accept (or reject) the handshake.
    IncomingHandshake {
        /// The handshake.
        hs: HsId,
        /// The client's Noise message.
        msg1: Vec<u8>,
        /// Our payload (UDX stream id, firewall, addresses, relays).
        local_payload: Box<NoisePayload>,
        /// The client's address as the first relay (or we) saw it.
        peer_address: SocketAddrV4,
    },
    /// A handshake's stream is connected to the client.
    Incoming {
        /// The handshake (whose keys the stream uses).
        hs: HsId,
        /// Our stream id.
        stream: u32,
        /// The client's address.
        remote_address: SocketAddrV4,
    },
    /// An accepted handshake never connected (its stream is destroyed).
    HandshakeFailed {
        /// The handshake.
        hs: HsId,
        /// Why.
        error: HyperDhtError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HsState {
    /// Waiting for the key holder.
    Asked,
    /// Answered; waiting for the client's first UDX packet.
    AwaitingClient,
    /// Finished (connected, rejected or failed); kept for duplicates until `clear_at`.
    Finished,
}

/// A request waiting for a handshake's reply, with how to route the reply.
#[derive(Debug, Clone)]
struct Waiting<W> {
    req: W,
    route: ServerHandshake,
    from: SocketAddrV4,
}

#[derive(Debug)]
struct Hs<W> {
    id: HsId,
    stream: u32,
    client_address: SocketAddrV4,
    direct: bool,
    state: HsState,
    reply: Option<Vec<u8>>,
    remote_id: Option<u32>,
    waiting: Vec<Waiting<W>>,
    firewall_from: Option<SocketAddrV4>,
    deadline: u64,
}

/// A new handshake for [`Server::begin`].
#[derive(Debug)]
pub struct NewHandshake<W> {
    /// Its node-wide id.
    pub id: HsId,
    /// How it was routed to us.
    pub route: ServerHandshake,
    /// The request's UDP source.
    pub from: SocketAddrV4,
    /// The request, to answer later.
    pub req: W,
    /// The UDX stream created for it.
    pub stream: u32,
    /// Our payload (carrying `stream`).
    pub local_payload: NoisePayload,
}

/// What to do with an incoming handshake for this server.
#[derive(Debug)]
pub enum HsAction<W> {
    /// Known msg1: answer these requests (possibly none: still waiting, or rejected).
    Answers(Vec<(W, Answer)>),
    /// A new msg1: create a stream and call [`Server::begin`].
    New(W),
}

/// A listening server: its announcer and its handshakes. `W` is the caller's request handle.
#[derive(Debug)]
pub struct Server<W> {
    public_key: Key,
    target: Key,
    /// The server's self-announce.
    pub announcer: Announcer,
    handshakes: HashMap<Key, Hs<W>>,
    by_id: HashMap<HsId, Key>,
    /// Hashes of msg1s that ended without a reply, oldest first, with when to forget them.
    rejected: VecDeque<(Key, u64)>,
    rejected_keys: HashSet<Key>,
    events: VecDeque<ServerEvent>,
    cmds: VecDeque<Cmd<u64>>,
}

impl<W> Server<W> {
    /// A server for `public_key`; its announcer starts at once.
    pub fn new(public_key: Key) -> Self {
        let target = hash(&public_key);
        Server {
            public_key,
            target,
            announcer: Announcer::new(public_key, target),
            handshakes: HashMap::new(),
            by_id: HashMap::new(),
            rejected: VecDeque::new(),
            rejected_keys: HashSet::new(),
            events: VecDeque::new(),
            cmds: VecDeque::new(),
        }
    }

    /// The server's key.
    pub fn public_key(&self) -> &Key {
        &self.public_key
    }

    /// `hash(public_key)`.
    pub fn target(&self) -> &Key {
        &self.target
    }

    /// Handshakes tracked.
    pub fn handshake_count(&self) -> usize {
        self.handshakes.len()
    }

    /// msg1s remembered as rejected.
    pub fn rejected_count(&self) -> usize {
        self.rejected.len()
    }

    /// Whether `hs` belongs to this server.
    pub fn has(&self, hs: HsId) -> bool {
        self.by_id.contains_key(&hs)
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Next stream command (connect, destroy).
    pub fn poll_cmd(&mut self) -> Option<Cmd<u64>> {
        self.cmds.pop_front()
    }

    /// A routed handshake for us arrived as request `req` from `from`.
    ///
    /// A new msg1 is [`HsAction::New`] only while a slot is free and its client host has fewer
    /// than [`MAX_HANDSHAKES_PER_HOST`] in progress; else it is ignored.
    pub fn on_handshake(&mut self, route: ServerHandshake, from: SocketAddrV4, req: W) -> HsAction<W> {
        let key = hash(&route.noise);
        if self.rejected_keys.contains(&key) {
            return HsAction::Answers(Vec::new());
        }
        let Some(hs) = self.handshakes.get_mut(&key) else {
            let host = *route.peer_address.unwrap_or(from).ip();
            if !self.can_begin() || self.in_progress_from(host) >= MAX_HANDSHAKES_PER_HOST {
                return HsAction::Answers(Vec::new());
            }
            return HsAction::New(req);
        };
        match (&hs.reply, hs.state) {
            (Some(reply), _) => {
                let answer = server_handshake_answer(&route, from, reply);
                HsAction::Answers(vec![(req, answer)])
            }
            (None, HsState::Asked) => {
                if hs.waiting.len() < MAX_WAITING {
                    hs.waiting.push(Waiting { req, route, from });
                }
                HsAction::Answers(Vec::new())
            }
            (None, _) => HsAction::Answers(Vec::new()),
        }
    }

    /// Whether another handshake can be taken.
    pub fn can_begin(&self) -> bool {
        self.handshakes.len() < MAX_HANDSHAKES
    }

    fn in_progress_from(&self, host: Ipv4Addr) -> usize {
        self.handshakes
            .values()
            .filter(|h| h.state != HsState::Finished && *h.client_address.ip() == host)
            .count()
    }

    /// Handshake `key` ended without a reply: it leaves the table (its slot is free at once)
    /// and its msg1 joins the rejected LRU.
    fn forget_unanswered(&mut self, key: Key, now_ms: u64) {
        if let Some(hs) = self.handshakes.remove(&key) {
            self.by_id.remove(&hs.id);
        }
        if !self.rejected_keys.insert(key) {
            return;
        }
        if self.rejected.len() >= MAX_REJECTED {
            if let Some((old, _)) = self.rejected.pop_front() {
                self.rejected_keys.remove(&old);
            }
        }
        self.rejected.push_back((key, now_ms + HANDSHAKE_CLEAR_WAIT_MS));
    }

    /// Starts a new handshake: `stream` was created for it and `local_payload` carries its id.
    pub fn begin(&mut self, new: NewHandshake<W>, now_ms: u64) {
        let NewHandshake { id, route, from, req, stream, local_payload } = new;
        let key = hash(&route.noise);
        let client_address = route.peer_address.unwrap_or(from);
        let direct = route.peer_address.is_none();
        let msg1 = route.noise.clone();
        let hs = Hs {
            id,
            stream,
            client_address,
            direct,
            state: HsState::Asked,
            reply: None,
            remote_id: None,
            waiting: vec![Waiting { req, route, from }],
            firewall_from: None,
            deadline: now_ms + HANDSHAKE_TIMEOUT_MS,
        };
        self.handshakes.insert(key, hs);
        self.by_id.insert(id, key);
        self.events.push_back(ServerEvent::IncomingHandshake {
            hs: id,
            msg1,
            local_payload: Box::new(local_payload),
            peer_address: client_address,
        });
    }

    /// The key holder's answer: `msg2` and the client's decrypted payload. Returns the
    /// requests to answer (every copy of msg1 so far gets the same reply).
    pub fn accept(
        &mut self,
        id: HsId,
        msg2: Vec<u8>,
        remote_payload: &NoisePayload,
        now_ms: u64,
    ) -> Result<Vec<(W, Answer)>, HyperDhtError> {
        let key = *self.by_id.get(&id).ok_or(HyperDhtError::UnknownId)?;
        let hs = self.handshakes.get_mut(&key).ok_or(HyperDhtError::UnknownId)?;
        if hs.state != HsState::Asked {
            return Err(HyperDhtError::UnknownId);
        }
        let answers: Vec<(W, Answer)> = hs
            .waiting
            .drain(..)
            .map(|w| {
                let a = server_handshake_answer(&w.route, w.from, &msg2);
                (w.req, a)
            })
            .collect();
        hs.reply = Some(msg2);
        let remote_id = remote_payload.udx.and_then(|u| u32::try_from(u.id).ok());
        if payload_error(remote_payload) != error::NONE || remote_id.is_none() {
            // The reply carries the error; nothing to connect.
            hs.state = HsState::Finished;
            hs.deadline = now_ms + HANDSHAKE_CLEAR_WAIT_MS;
            self.cmds.push_back(Cmd::StreamDestroy(hs.stream));
            return Ok(answers);
        }
        hs.remote_id = remote_id;
        hs.state = HsState::AwaitingClient;
        hs.deadline = now_ms + HANDSHAKE_TIMEOUT_MS;
        if remote_payload.firewall == firewall::OPEN || hs.direct {
            let to = hs.client_address;
            self.connect(key, to, now_ms);
        } else if let Some(from) = hs.firewall_from {
            self.connect(key, from, now_ms);
        }
        Ok(answers)
    }

    /// The key holder refused the handshake (or could not read msg1): stay silent.
    pub fn reject(&mut self, id: HsId, now_ms: u64) -> Result<(), HyperDhtError> {
        let key = *self.by_id.get(&id).ok_or(HyperDhtError::UnknownId)?;
        let hs = self.handshakes.get_mut(&key).ok_or(HyperDhtError::UnknownId)?;
        if hs.state != HsState::Asked {
            return Err(HyperDhtError::UnknownId);
        }
        self.cmds.push_back(Cmd::StreamDestroy(hs.stream));
        self.forget_unanswered(key, now_ms);
        Ok(())
    }

    fn connect(&mut self, key: Key, to: SocketAddrV4, now_ms: u64) {
        let Some(hs) = self.handshakes.get_mut(&key) else { return };
        let Some(remote_id) = hs.remote_id else { return };
        hs.state = HsState::Finished;
        hs.deadline = now_ms + HANDSHAKE_CLEAR_WAIT_MS;
        self.cmds.push_back(Cmd::StreamConnect { stream: hs.stream, remote_id, to });
        self.events.push_back(ServerEvent::Incoming { hs: hs.id, stream: hs.stream, remote_address: to });
    }

    /// A UDX packet for `stream` came from `from` before the stream was connected. Returns
    /// whether the stream is one of ours.
    pub fn on_firewall(&mut self, stream: u32, from: SocketAddrV4, now_ms: u64) -> bool {
        let Some((key, state)) =
            self.handshakes.iter().find(|(_, h)| h.stream == stream).map(|(k, h)| (*k, h.state))
        else {
            return false;
        };
        match state {
            HsState::AwaitingClient => self.connect(key, from, now_ms),
            HsState::Asked => {
                if let Some(h) = self.handshakes.get_mut(&key) {
                    h.firewall_from = Some(from);
                }
            }
            HsState::Finished => {}
        }
        true
    }

    /// Stream `stream` closed before it was handed over (the peer reset it): the handshake
    /// fails. Returns whether the stream was one of ours.
    pub fn on_stream_closed(&mut self, stream: u32, now_ms: u64) -> bool {
        let Some((&key, hs)) = self.handshakes.iter_mut().find(|(_, h)| h.stream == stream) else {
            return false;
        };
        if hs.state != HsState::Finished {
            hs.state = HsState::Finished;
            hs.waiting.clear();
            hs.deadline = now_ms + HANDSHAKE_CLEAR_WAIT_MS;
            let error = HyperDhtError::PeerConnectionFailed;
            self.events.push_back(ServerEvent::HandshakeFailed { hs: hs.id, error });
            if hs.reply.is_none() {
                self.forget_unanswered(key, now_ms);
            }
        }
        true
    }

    /// Earliest handshake deadline.
    pub fn poll_timeout(&self) -> Option<u64> {
        let forget = self.rejected.front().map(|&(_, t)| t);
        self.handshakes.values().map(|h| h.deadline).chain(forget).min()
    }

    /// Fails handshakes whose time is up and forgets finished ones after the clear wait.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        while let Some(&(key, at)) = self.rejected.front() {
            if at > now_ms {
                break;
            }
            self.rejected.pop_front();
            self.rejected_keys.remove(&key);
        }
        let due: Vec<Key> =
            self.handshakes.iter().filter(|(_, h)| now_ms >= h.deadline).map(|(k, _)| *k).collect();
        for key in due {
            let Some(hs) = self.handshakes.get_mut(&key) else { continue };
            match hs.state {
                HsState::Asked | HsState::AwaitingClient => {
                    let error = if hs.state == HsState::Asked {
                        HyperDhtError::HandshakeUnfinished
                    } else {
                        HyperDhtError::HolepunchAborted
                    };
                    hs.state = HsState::Finished;
                    hs.waiting.clear();
                    hs.deadline = now_ms + HANDSHAKE_CLEAR_WAIT_MS;
                    self.cmds.push_back(Cmd::StreamDestroy(hs.stream));
                    self.events.push_back(ServerEvent::HandshakeFailed { hs: hs.id, error });
                    if hs.reply.is_none() {
                        self.forget_unanswered(key, now_ms);
                    }
                }
                HsState::Finished => {
                    let id = hs.id;
                    self.handshakes.remove(&key);
                    self.by_id.remove(&id);
                }
            }
        }
    }

    /// Stops: destroys the streams of unfinished handshakes and starts unannouncing.
    pub fn close(&mut self) {
        for hs in self.handshakes.values_mut() {
            if hs.state != HsState::Finished {
                hs.state = HsState::Finished;
                hs.waiting.clear();
                self.cmds.push_back(Cmd::StreamDestroy(hs.stream));
            }
        }
        self.announcer.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperwasm::hyperdht::constants::mode;
    use hyperwasm::hyperdht::messages::{SecretStreamInfo, UdxInfo};
    use std::net::Ipv4Addr;

    fn addr(i: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(20, 0, 0, i), 3000 + i as u16)
    }

    fn route(m: u64, noise: &[u8], peer: Option<SocketAddrV4>) -> ServerHandshake {
        ServerHandshake {
            server: ServerId(1),
            mode: m,
            noise: noise.to_vec(),
            peer_address: peer,
            relay_address: None,
        }
    }

    fn client_payload(fw: u64) -> NoisePayload {
        NoisePayload {
            firewall: fw,
            udx: Some(UdxInfo { id: 42, ..UdxInfo::default() }),
            secret_stream: Some(SecretStreamInfo::default()),
            ..NoisePayload::incompatible(PAYLOAD_VERSION)
        }
    }

    fn new_server() -> Server<u32> {
        let mut s = Server::new([3; 32]);
        while s.announcer.poll_cmd().is_some() {}
        s
    }

    fn begin(s: &mut Server<u32>, id: u64, r: ServerHandshake, from: SocketAddrV4, req: u32) {
        let HsAction::New(req) = s.on_handshake(r.clone(), from, req) else { panic!("not new") };
        let local = client_payload(firewall::OPEN);
        s.begin(
            NewHandshake { id: HsId(id), route: r, from, req, stream: 100 + id as u32, local_payload: local },
            0,
        );
    }

    fn cmds(s: &mut Server<u32>) -> Vec<Cmd<u64>> {
        std::iter::from_fn(|| s.poll_cmd()).collect()
    }

    #[test]
    fn copies_of_msg1_wait_and_then_all_get_the_same_reply() {
        let mut s = new_server();
        begin(&mut s, 1, route(mode::FROM_RELAY, b"m1", Some(addr(9))), addr(1), 10);
        let Some(ServerEvent::IncomingHandshake { hs, msg1, peer_address, .. }) = s.poll_event() else {
            panic!()
        };
        assert_eq!((hs, msg1.as_slice(), peer_address), (HsId(1), &b"m1"[..], addr(9)));
        // A second relay brings the same msg1 while the key holder works: it waits.
        let HsAction::Answers(a) = s.on_handshake(route(mode::FROM_RELAY, b"m1", Some(addr(9))), addr(2), 11)
        else {
            panic!()
        };
        assert!(a.is_empty());
        assert!(s.poll_event().is_none(), "no second IncomingHandshake");
        let answers = s.accept(HsId(1), b"m2".to_vec(), &client_payload(firewall::OPEN), 0).unwrap();
        let tos: Vec<(u32, SocketAddrV4)> = answers
            .iter()
            .map(|(req, a)| match a {
                Answer::Relay { to, .. } => (*req, *to),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tos, vec![(10, addr(1)), (11, addr(2))]);
        assert_eq!(answers[0].1.clone(), answers[1].1.clone().clone_with_to(addr(1)));
        // The client is OPEN: the stream connects to it at once.
        assert_eq!(cmds(&mut s), vec![Cmd::StreamConnect { stream: 101, remote_id: 42, to: addr(9) }]);
        assert_eq!(
            s.poll_event(),
            Some(ServerEvent::Incoming { hs: HsId(1), stream: 101, remote_address: addr(9) })
        );
        // A late copy gets the cached reply; after the clear wait it is forgotten.
        let HsAction::Answers(a) = s.on_handshake(route(mode::FROM_CLIENT, b"m1", None), addr(3), 12) else {
            panic!()
        };
        assert_eq!(a.len(), 1);
        s.handle_timeout(HANDSHAKE_CLEAR_WAIT_MS);
        assert_eq!(s.handshake_count(), 0);
        assert!(matches!(
            s.on_handshake(route(mode::FROM_CLIENT, b"m1", None), addr(3), 13),
            HsAction::New(13)
        ));
    }

    #[test]
    fn firewalled_client_must_come_to_us_within_the_timeout() {
        let mut s = new_server();
        begin(&mut s, 1, route(mode::FROM_RELAY, b"a", Some(addr(9))), addr(1), 1);
        begin(&mut s, 2, route(mode::FROM_RELAY, b"b", Some(addr(8))), addr(1), 2);
        while s.poll_event().is_some() {}
        s.accept(HsId(1), b"x".to_vec(), &client_payload(firewall::UNKNOWN), 0).unwrap();
        s.accept(HsId(2), b"y".to_vec(), &client_payload(firewall::UNKNOWN), 0).unwrap();
        assert!(cmds(&mut s).is_empty());
        // Client 1's first UDX packet arrives (from its real address).
        assert!(s.on_firewall(101, addr(19), 5));
        assert!(!s.on_firewall(999, addr(19), 5));
        assert_eq!(cmds(&mut s), vec![Cmd::StreamConnect { stream: 101, remote_id: 42, to: addr(19) }]);
        assert!(matches!(s.poll_event(), Some(ServerEvent::Incoming { hs: HsId(1), .. })));
        // Client 2 never comes.
        s.handle_timeout(HANDSHAKE_TIMEOUT_MS);
        assert_eq!(cmds(&mut s), vec![Cmd::StreamDestroy(102)]);
        assert_eq!(
            s.poll_event(),
            Some(ServerEvent::HandshakeFailed { hs: HsId(2), error: HyperDhtError::HolepunchAborted })
        );
    }

    #[test]
    fn direct_clients_are_connected_at_once_and_errors_are_answered_without_a_stream() {
        let mut s = new_server();
        begin(&mut s, 1, route(mode::FROM_CLIENT, b"a", None), addr(5), 1);
        let answers = s.accept(HsId(1), b"r".to_vec(), &client_payload(firewall::UNKNOWN), 0).unwrap();
        assert!(matches!(answers[0].1, Answer::Reply { to: None, token: false, closer_nodes: false, .. }));
        assert_eq!(cmds(&mut s), vec![Cmd::StreamConnect { stream: 101, remote_id: 42, to: addr(5) }]);
        // A client without UDX: the reply (carrying ABORTED) still goes out, the stream goes.
        begin(&mut s, 2, route(mode::FROM_CLIENT, b"b", None), addr(5), 2);
        let no_udx = NoisePayload { udx: None, ..client_payload(firewall::OPEN) };
        assert_eq!(payload_error(&no_udx), error::ABORTED);
        assert_eq!(payload_error(&NoisePayload::incompatible(3)), error::VERSION_MISMATCH);
        assert_eq!(s.accept(HsId(2), b"r".to_vec(), &no_udx, 0).unwrap().len(), 1);
        assert_eq!(cmds(&mut s), vec![Cmd::StreamDestroy(102)]);
    }

    #[test]
    fn rejected_and_unanswered_handshakes_stay_silent() {
        let mut s = new_server();
        begin(&mut s, 1, route(mode::FROM_RELAY, b"a", Some(addr(9))), addr(1), 1);
        begin(&mut s, 2, route(mode::FROM_RELAY, b"b", Some(addr(9))), addr(1), 2);
        s.reject(HsId(1), 0).unwrap();
        assert_eq!(s.reject(HsId(1), 0), Err(HyperDhtError::UnknownId));
        let HsAction::Answers(a) = s.on_handshake(route(mode::FROM_RELAY, b"a", Some(addr(9))), addr(2), 3)
        else {
            panic!()
        };
        assert!(a.is_empty());
        s.handle_timeout(HANDSHAKE_TIMEOUT_MS);
        let evs: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(evs.contains(&ServerEvent::HandshakeFailed {
            hs: HsId(2),
            error: HyperDhtError::HandshakeUnfinished
        }));
        assert_eq!(
            s.accept(HsId(2), vec![], &client_payload(firewall::OPEN), 0).unwrap_err(),
            HyperDhtError::UnknownId
        );
    }

    fn host(i: u64) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(0x1e00_0000 + i as u32), 5000)
    }

    #[test]
    fn handshakes_per_server_are_bounded() {
        let mut s = new_server();
        for i in 0..MAX_HANDSHAKES as u64 {
            begin(&mut s, i, route(mode::FROM_CLIENT, &i.to_le_bytes(), None), host(i), 0);
        }
        assert!(!s.can_begin());
        let late = route(mode::FROM_CLIENT, b"late", None);
        assert!(matches!(s.on_handshake(late, host(5000), 0), HsAction::Answers(a) if a.is_empty()));
        s.handle_timeout(HANDSHAKE_TIMEOUT_MS); // unanswered → failed and forgotten
        assert_eq!(s.handshake_count(), 0);
        assert!(s.can_begin());
        s.handle_timeout(HANDSHAKE_TIMEOUT_MS + HANDSHAKE_CLEAR_WAIT_MS);
        assert_eq!(s.rejected_count(), 0, "the rejected msg1s are forgotten after the clear wait");
    }

    #[test]
    fn rejected_garbage_does_not_hold_the_slots_real_handshakes_need() {
        let mut s = new_server();
        // 2000 undecryptable msg1s from ever new (spoofable) sources, each rejected at once.
        for i in 0..2000u64 {
            begin(&mut s, i, route(mode::FROM_CLIENT, &i.to_le_bytes(), None), host(i), 0);
            s.reject(HsId(i), 0).unwrap();
        }
        assert_eq!(s.handshake_count(), 0);
        assert_eq!(s.rejected_count(), MAX_REJECTED);
        assert!(s.can_begin(), "garbage must not lock real clients out");
        // A copy of a recent one stays silent; the oldest were forgotten first.
        let recent = route(mode::FROM_CLIENT, &1999u64.to_le_bytes(), None);
        assert!(matches!(s.on_handshake(recent, host(1), 0), HsAction::Answers(a) if a.is_empty()));
        let oldest = route(mode::FROM_CLIENT, &0u64.to_le_bytes(), None);
        assert!(matches!(s.on_handshake(oldest, host(1), 0), HsAction::New(_)));
        // A real client goes through.
        begin(&mut s, 5000, route(mode::FROM_CLIENT, b"real", None), addr(7), 0);
        let answers = s.accept(HsId(5000), b"r".to_vec(), &client_payload(firewall::OPEN), 0).unwrap();
        assert_eq!(answers.len(), 1);
        assert_eq!(
            cmds(&mut s).last(),
            Some(&Cmd::StreamConnect { stream: 5100, remote_id: 42, to: addr(7) })
        );
    }

    #[test]
    fn handshakes_in_progress_per_host_are_capped() {
        let mut s = new_server();
        let n = MAX_HANDSHAKES_PER_HOST as u64;
        for i in 0..n {
            begin(&mut s, i, route(mode::FROM_RELAY, &i.to_le_bytes(), Some(addr(9))), host(i), 0);
        }
        // One more from the same client host (via any relay) is ignored …
        let more = route(mode::FROM_RELAY, b"more", Some(addr(9)));
        assert!(matches!(s.on_handshake(more.clone(), host(99), 0), HsAction::Answers(a) if a.is_empty()));
        // … another host is not …
        let other = route(mode::FROM_RELAY, b"other", Some(addr(8)));
        assert!(matches!(s.on_handshake(other, host(99), 0), HsAction::New(_)));
        // … and once one of them finished, the host may start another.
        s.accept(HsId(0), b"r".to_vec(), &client_payload(firewall::OPEN), 0).unwrap();
        assert!(matches!(s.on_handshake(more, host(99), 0), HsAction::New(_)));
    }

    trait WithTo {
        fn clone_with_to(self, to: SocketAddrV4) -> Answer;
    }

    impl WithTo for Answer {
        fn clone_with_to(self, to: SocketAddrV4) -> Answer {
            match self {
                Answer::Relay { value, .. } => Answer::Relay { value, to },
                other => other,
            }
        }
    }
}
