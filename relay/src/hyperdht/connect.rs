//! The client side of a connection (hyperdht `lib/connect.js`), with the Noise messages asked
//! for: the UDX stream is allocated first (its id goes in our payload), msg1 is asked for
//! while FIND_PEER runs, PEER_HANDSHAKE FROM_CLIENT goes to the nodes that store the server's
//! record (a few in parallel, the same msg1), the first REPLY *from the node asked* wins and its
//! msg2 is handed to the key holder, whose decrypted server payload picks the path:
//!
//! - a UDX packet from the server already arrived for our stream → connect to its source;
//! - the server answered directly → connect to the node asked;
//! - the server is OPEN (or relayed and not holepunchable) → its first non-bogon `addresses4`
//!   entry, else its address as the relay saw it;
//! - we are OPEN → wait ≤ 10 s for the server to connect to us (its first UDX packet);
//! - otherwise both sides are firewalled: holepunching is not done here → `CANNOT_HOLEPUNCH`.

use super::{command, is_bogon, Cmd, HyperDhtError, Key, OutQuery, OutRequest, Reply};
use hyperwasm::encoding::Compact;
use hyperwasm::hyperdht::constants::{error, firewall, mode, PAYLOAD_VERSION};
use hyperwasm::hyperdht::messages::{decode, Handshake, NoisePayload, Peer};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddrV4;

/// How long the key holder may take to provide a Noise message or payload.
pub const ASK_TIMEOUT_MS: u64 = 10_000;
/// How long we wait for the server's first UDX packet when we are reachable (JS
/// `passiveConnectTimeout`).
pub const PASSIVE_CONNECT_MS: u64 = 10_000;
/// Parallel handshake attempts (JS: 2, or 3 when relay addresses are known up front).
const PARALLEL: usize = 2;
const PARALLEL_PRECONNECT: usize = 3;
/// Candidate relays remembered per attempt round.
const MAX_CANDIDATES: usize = 64;

/// Options of a connect.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Nodes known to relay for the server (JS `relayAddresses`): tried first, and used as the
    /// FIND_PEER seeds of the first try.
    pub relay_addresses: Vec<SocketAddrV4>,
}

/// What the handshake REPLY told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HsReply {
    /// The node we sent msg1 to (and got the REPLY from).
    relay_address: SocketAddrV4,
    /// The server's address (the REPLY's `peerAddress`, or the node asked).
    server_address: SocketAddrV4,
    /// Whether the REPLY came through a relay (`peerAddress` was set).
    relayed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Handshaking: waiting for msg1 and/or REPLYs.
    Handshaking,
    /// Got msg2, waiting for the key holder's decrypted payload.
    AwaitPayload(HsReply),
    /// Waiting for the server's first UDX packet.
    Passive,
    /// Done (connected or failed).
    Done,
}

/// Events of a connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectEvent {
    /// Make msg1 (Noise IK initiator, payload = this) and call `provide_initiator_message`.
    NeedInitiatorMessage(Box<NoisePayload>),
    /// The server's msg2: decrypt it and call `provide_remote_payload` (or `abort`).
    ResponderMessage(Vec<u8>),
    /// The UDX stream is connected to the server.
    Connected {
        /// Our stream id.
        stream: u32,
        /// The server's address the stream talks to.
        remote_address: SocketAddrV4,
    },
    /// The connection failed; the stream was destroyed.
    Failed(HyperDhtError),
}

/// One outgoing connection's state machine.
#[derive(Debug)]
pub struct Connect {
    target: Key,
    stream: u32,
    local_open: bool,
    msg1: Option<Vec<u8>>,
    phase: Phase,
    query: Option<u64>,
    query_done: bool,
    tries_left: u32,
    parallel: usize,
    candidates: VecDeque<SocketAddrV4>,
    tried: BTreeSet<SocketAddrV4>,
    inflight: HashMap<u64, SocketAddrV4>,
    attempts: usize,
    firewall_from: Option<SocketAddrV4>,
    remote_id: Option<u32>,
    deadline: Option<u64>,
    next_key: u64,
    cmds: VecDeque<Cmd<u64>>,
    events: VecDeque<ConnectEvent>,
}

impl Connect {
    /// Starts connecting to the server whose key hashes to `target`, over our already created
    /// UDX `stream`; `local_payload` is what goes in msg1 (its firewall says whether we are
    /// reachable). Asks for msg1 and starts FIND_PEER at once.
    pub fn new(
        target: Key,
        stream: u32,
        local_payload: NoisePayload,
        opts: ConnectOptions,
        now_ms: u64,
    ) -> Self {
        let preconnect = !opts.relay_addresses.is_empty();
        let mut c = Connect {
            target,
            stream,
            local_open: local_payload.firewall == firewall::OPEN,
            msg1: None,
            phase: Phase::Handshaking,
            query: None,
            query_done: false,
            tries_left: if preconnect { 2 } else { 1 },
            parallel: if preconnect { PARALLEL_PRECONNECT } else { PARALLEL },
            candidates: VecDeque::new(),
            tried: BTreeSet::new(),
            inflight: HashMap::new(),
            attempts: 0,
            firewall_from: None,
            remote_id: None,
            deadline: Some(now_ms + ASK_TIMEOUT_MS),
            next_key: 0,
            cmds: VecDeque::new(),
            events: VecDeque::new(),
        };
        c.events.push_back(ConnectEvent::NeedInitiatorMessage(Box::new(local_payload)));
        for a in &opts.relay_addresses {
            c.add_candidate(*a);
        }
        c.start_query(opts.relay_addresses);
        c
    }

    /// Our UDX stream.
    pub fn stream(&self) -> u32 {
        self.stream
    }

    /// Whether the connect has finished (connected or failed).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Next command.
    pub fn poll_cmd(&mut self) -> Option<Cmd<u64>> {
        self.cmds.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ConnectEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline (asked-for answers, passive wait).
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.phase == Phase::Done {
            return None;
        }
        self.deadline
    }

    /// Fails the connect if a deadline passed.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.deadline.is_some_and(|d| now_ms >= d) {
            let err = match self.phase {
                Phase::Passive => HyperDhtError::HolepunchAborted,
                _ => HyperDhtError::HandshakeUnfinished,
            };
            self.fail(err);
        }
    }

    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    fn start_query(&mut self, nodes: Vec<SocketAddrV4>) {
        let k = self.key();
        self.query = Some(k);
        self.query_done = false;
        self.cmds.push_back(Cmd::Query(
            k,
            OutQuery { command: command::FIND_PEER, target: self.target, value: None, nodes },
        ));
    }

    fn add_candidate(&mut self, addr: SocketAddrV4) {
        if self.tried.contains(&addr)
            || self.candidates.contains(&addr)
            || self.candidates.len() >= MAX_CANDIDATES
        {
            return;
        }
        self.candidates.push_back(addr);
    }

    /// Ends the connect with `error` (also the key holder's `abort`).
    pub fn fail(&mut self, error: HyperDhtError) {
        if self.phase == Phase::Done {
            return;
        }
        self.phase = Phase::Done;
        if let Some(q) = self.query.take() {
            self.cmds.push_back(Cmd::DestroyQuery(q));
        }
        self.cmds.push_back(Cmd::StreamDestroy(self.stream));
        self.events.push_back(ConnectEvent::Failed(error));
    }

    /// The key holder's msg1.
    pub fn on_initiator_message(&mut self, msg1: Vec<u8>, now_ms: u64) {
        if self.phase != Phase::Handshaking || self.msg1.is_some() {
            return;
        }
        self.msg1 = Some(msg1);
        // The rest of the handshake phase is bounded by the query and request timeouts.
        self.deadline = None;
        self.pump(now_ms);
    }

    fn pump(&mut self, _now_ms: u64) {
        if self.phase != Phase::Handshaking {
            return;
        }
        let Some(msg1) = self.msg1.clone() else { return };
        while self.inflight.len() < self.parallel {
            let Some(to) = self.candidates.pop_front() else { break };
            self.tried.insert(to);
            self.attempts += 1;
            let value = Handshake {
                mode: mode::FROM_CLIENT,
                noise: msg1.clone(),
                peer_address: None,
                relay_address: None,
            }
            .to_bytes();
            let k = self.key();
            self.inflight.insert(k, to);
            self.cmds.push_back(Cmd::Request(
                k,
                OutRequest::command(to, command::PEER_HANDSHAKE, self.target, None, Some(value)),
            ));
        }
        if self.query_done && self.inflight.is_empty() && self.candidates.is_empty() {
            if self.tries_left > 0 {
                self.start_query(Vec::new());
            } else {
                self.fail(if self.attempts > 0 {
                    HyperDhtError::PeerConnectionFailed
                } else {
                    HyperDhtError::PeerNotFound
                });
            }
        }
    }

    /// A FIND_PEER reply.
    pub fn on_query_reply(&mut self, key: u64, reply: &Reply, now_ms: u64) {
        if self.query != Some(key) || self.phase != Phase::Handshaking {
            return;
        }
        // JS only tries nodes whose reply decodes as a `peer` record.
        if reply.value.as_deref().and_then(|v| decode::<Peer>(v).ok()).is_none() {
            return;
        }
        self.add_candidate(reply.from);
        self.pump(now_ms);
    }

    /// The FIND_PEER query ended.
    pub fn on_query_done(&mut self, key: u64, now_ms: u64) {
        if self.query != Some(key) {
            return;
        }
        self.query = None;
        self.query_done = true;
        self.tries_left = self.tries_left.saturating_sub(1);
        self.pump(now_ms);
    }

    /// The response to a PEER_HANDSHAKE attempt.
    pub fn on_response(&mut self, key: u64, reply: &Reply, now_ms: u64) {
        let Some(asked) = self.inflight.remove(&key) else { return };
        if self.phase != Phase::Handshaking {
            return;
        }
        let hs = reply.value.as_deref().and_then(|v| decode::<Handshake>(v).ok());
        match hs {
            Some(hs) if hs.mode == mode::REPLY && reply.from == asked => {
                let info = HsReply {
                    relay_address: asked,
                    server_address: hs.peer_address.unwrap_or(asked),
                    relayed: hs.peer_address.is_some(),
                };
                self.phase = Phase::AwaitPayload(info);
                self.deadline = Some(now_ms + ASK_TIMEOUT_MS);
                if let Some(q) = self.query.take() {
                    self.cmds.push_back(Cmd::DestroyQuery(q));
                }
                self.events.push_back(ConnectEvent::ResponderMessage(hs.noise));
            }
            // A node without a route answers with closer nodes only; anything else is a bad
            // reply. Either way this attempt is over.
            _ => self.pump(now_ms),
        }
    }

    /// A PEER_HANDSHAKE attempt got no response.
    pub fn on_request_failed(&mut self, key: u64, now_ms: u64) {
        if self.inflight.remove(&key).is_some() {
            self.pump(now_ms);
        }
    }

    /// A UDX packet for our stream arrived from `from` before the stream was connected (the
    /// server may connect to us before its REPLY reaches us).
    pub fn on_firewall(&mut self, from: SocketAddrV4) {
        match self.phase {
            Phase::Passive => self.connect_to(from),
            Phase::Done => {}
            _ => self.firewall_from = Some(from),
        }
    }

    /// The key holder's decryption of msg2: the server's payload. Picks the path.
    pub fn on_remote_payload(&mut self, payload: &NoisePayload, now_ms: u64) {
        let Phase::AwaitPayload(info) = self.phase else { return };
        if payload.version != PAYLOAD_VERSION {
            return self.fail(HyperDhtError::ServerIncompatible);
        }
        if payload.error != error::NONE {
            return self.fail(HyperDhtError::ServerError("Server returned an error"));
        }
        let Some(udx) = payload.udx else {
            return self.fail(HyperDhtError::ServerError("Server did not send UDX data"));
        };
        let Ok(remote_id) = u32::try_from(udx.id) else {
            return self.fail(HyperDhtError::ServerError("Server sent an invalid UDX id"));
        };
        self.remote_id = Some(remote_id);
        if let Some(from) = self.firewall_from {
            return self.connect_to(from);
        }
        if !info.relayed {
            return self.connect_to(info.relay_address);
        }
        let holepunchable = payload.holepunch.as_ref().is_some_and(|h| !h.relays.is_empty());
        let via_relay = info.server_address != info.relay_address;
        if payload.firewall == firewall::OPEN || (via_relay && !holepunchable) {
            let addr = payload.addresses4.iter().find(|a| !is_bogon(*a.ip())).copied();
            return self.connect_to(addr.unwrap_or(info.server_address));
        }
        if self.local_open {
            self.phase = Phase::Passive;
            self.deadline = Some(now_ms + PASSIVE_CONNECT_MS);
            return;
        }
        self.fail(HyperDhtError::CannotHolepunch);
    }

    fn connect_to(&mut self, to: SocketAddrV4) {
        let Some(remote_id) = self.remote_id else {
            self.firewall_from = Some(to);
            return;
        };
        self.phase = Phase::Done;
        self.deadline = None;
        self.cmds.push_back(Cmd::StreamConnect { stream: self.stream, remote_id, to });
        self.events.push_back(ConnectEvent::Connected { stream: self.stream, remote_address: to });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperwasm::hyperdht::messages::{HolepunchInfo, RelayInfo, SecretStreamInfo, UdxInfo};
    use std::net::Ipv4Addr;

    fn addr(i: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(20, 0, 0, i), 3000 + i as u16)
    }

    fn payload(firewall: u64, addresses4: Vec<SocketAddrV4>) -> NoisePayload {
        NoisePayload {
            firewall,
            addresses4,
            udx: Some(UdxInfo { id: 77, ..UdxInfo::default() }),
            secret_stream: Some(SecretStreamInfo::default()),
            ..NoisePayload::incompatible(PAYLOAD_VERSION)
        }
    }

    fn reply(from: SocketAddrV4, value: Option<Vec<u8>>) -> Reply {
        Reply { from, from_id: None, to: addr(99), token: None, error: 0, value }
    }

    fn peer_value() -> Vec<u8> {
        Peer { public_key: [1; 32], relay_addresses: vec![] }.to_bytes()
    }

    fn hs_reply(peer: Option<SocketAddrV4>) -> Vec<u8> {
        Handshake { mode: mode::REPLY, noise: b"msg2".to_vec(), peer_address: peer, relay_address: None }
            .to_bytes()
    }

    /// Drains commands: (handshake requests as (key, to), query keys, connects, destroys).
    #[allow(clippy::type_complexity)]
    fn drain(c: &mut Connect) -> (Vec<(u64, SocketAddrV4)>, Vec<u64>, Vec<(u32, u32, SocketAddrV4)>, usize) {
        let (mut reqs, mut queries, mut connects, mut destroys) = (vec![], vec![], vec![], 0);
        while let Some(cmd) = c.poll_cmd() {
            match cmd {
                Cmd::Request(k, r) => {
                    assert_eq!(r.command, command::PEER_HANDSHAKE);
                    let h: Handshake = decode(r.value.as_deref().unwrap()).unwrap();
                    assert_eq!((h.mode, h.noise.as_slice()), (mode::FROM_CLIENT, &b"msg1"[..]));
                    reqs.push((k, r.to));
                }
                Cmd::Query(k, q) => {
                    assert_eq!(q.command, command::FIND_PEER);
                    queries.push(k);
                }
                Cmd::StreamConnect { stream, remote_id, to } => connects.push((stream, remote_id, to)),
                Cmd::StreamDestroy(_) => destroys += 1,
                _ => {}
            }
        }
        (reqs, queries, connects, destroys)
    }

    fn events(c: &mut Connect) -> Vec<ConnectEvent> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    /// A connect that got msg1 and a REPLY through relay `addr(1)` (peerAddress `server`).
    fn replied(local_open: bool, server: Option<SocketAddrV4>) -> Connect {
        let fw = if local_open { firewall::OPEN } else { firewall::UNKNOWN };
        let mut c = Connect::new([9; 32], 5, payload(fw, vec![]), ConnectOptions::default(), 0);
        let (_, q, _, _) = drain(&mut c);
        assert!(matches!(events(&mut c)[..], [ConnectEvent::NeedInitiatorMessage(_)]));
        c.on_initiator_message(b"msg1".to_vec(), 0);
        c.on_query_reply(q[0], &reply(addr(1), Some(peer_value())), 0);
        let (reqs, _, _, _) = drain(&mut c);
        c.on_response(reqs[0].0, &reply(addr(1), Some(hs_reply(server))), 0);
        assert_eq!(events(&mut c), vec![ConnectEvent::ResponderMessage(b"msg2".to_vec())]);
        c
    }

    #[test]
    fn attempts_run_two_at_a_time_with_the_same_msg1_and_only_after_it_is_known() {
        let mut c = Connect::new([9; 32], 5, payload(firewall::OPEN, vec![]), ConnectOptions::default(), 0);
        let (reqs, q, _, _) = drain(&mut c);
        assert!(reqs.is_empty());
        for i in 1..=4 {
            c.on_query_reply(q[0], &reply(addr(i), Some(peer_value())), 0);
        }
        // Replies without a peer record are no candidates.
        c.on_query_reply(q[0], &reply(addr(9), None), 0);
        assert!(drain(&mut c).0.is_empty(), "no attempt before msg1");
        c.on_initiator_message(b"msg1".to_vec(), 0);
        let (reqs, _, _, _) = drain(&mut c);
        assert_eq!(reqs.iter().map(|r| r.1).collect::<Vec<_>>(), vec![addr(1), addr(2)]);
        // A failed attempt makes room for the next candidate.
        c.on_request_failed(reqs[0].0, 0);
        assert_eq!(drain(&mut c).0.iter().map(|r| r.1).collect::<Vec<_>>(), vec![addr(3)]);
    }

    #[test]
    fn a_reply_from_another_node_or_not_a_reply_does_not_count() {
        let mut c = Connect::new([9; 32], 5, payload(firewall::OPEN, vec![]), ConnectOptions::default(), 0);
        let (_, q, _, _) = drain(&mut c);
        c.on_initiator_message(b"msg1".to_vec(), 0);
        c.on_query_reply(q[0], &reply(addr(1), Some(peer_value())), 0);
        let (reqs, _, _, _) = drain(&mut c);
        events(&mut c);
        // The REPLY comes from addr(2), not the node asked.
        c.on_response(reqs[0].0, &reply(addr(2), Some(hs_reply(None))), 0);
        assert!(events(&mut c).is_empty());
        // Query over, nothing left: failure, PEER_CONNECTION_FAILED since an attempt was made.
        c.on_query_done(q[0], 0);
        let (_, _, _, destroys) = drain(&mut c);
        assert_eq!(destroys, 1);
        assert_eq!(events(&mut c), vec![ConnectEvent::Failed(HyperDhtError::PeerConnectionFailed)]);
    }

    #[test]
    fn no_record_means_peer_not_found() {
        let mut c = Connect::new([9; 32], 5, payload(firewall::OPEN, vec![]), ConnectOptions::default(), 0);
        let (_, q, _, _) = drain(&mut c);
        events(&mut c);
        c.on_initiator_message(b"msg1".to_vec(), 0);
        c.on_query_done(q[0], 0);
        drain(&mut c);
        assert_eq!(events(&mut c), vec![ConnectEvent::Failed(HyperDhtError::PeerNotFound)]);
    }

    #[test]
    fn relay_hints_are_tried_first_and_allow_a_second_query() {
        let opts = ConnectOptions { relay_addresses: vec![addr(7)] };
        let mut c = Connect::new([9; 32], 5, payload(firewall::OPEN, vec![]), opts, 0);
        let (_, q, _, _) = drain(&mut c);
        c.on_initiator_message(b"msg1".to_vec(), 0);
        let (reqs, _, _, _) = drain(&mut c);
        assert_eq!(reqs[0].1, addr(7));
        c.on_request_failed(reqs[0].0, 0);
        c.on_query_done(q[0], 0);
        let (_, q2, _, _) = drain(&mut c);
        assert_eq!(q2.len(), 1, "second try: a fresh FIND_PEER");
    }

    #[test]
    fn payload_checks_fail_with_js_codes() {
        for (p, want) in [
            (NoisePayload::incompatible(2), HyperDhtError::ServerIncompatible),
            (
                NoisePayload { error: 1, ..payload(firewall::OPEN, vec![]) },
                HyperDhtError::ServerError("Server returned an error"),
            ),
            (
                NoisePayload { udx: None, ..payload(firewall::OPEN, vec![]) },
                HyperDhtError::ServerError("Server did not send UDX data"),
            ),
        ] {
            let mut c = replied(true, Some(addr(50)));
            c.on_remote_payload(&p, 0);
            let (_, _, connects, destroys) = drain(&mut c);
            assert!(connects.is_empty());
            assert_eq!(destroys, 1);
            assert_eq!(events(&mut c), vec![ConnectEvent::Failed(want.clone())]);
            assert_eq!(
                want.code(),
                if want == HyperDhtError::ServerIncompatible {
                    "SERVER_INCOMPATIBLE"
                } else {
                    "SERVER_ERROR"
                }
            );
        }
    }

    #[test]
    fn open_server_is_reached_at_its_first_public_address() {
        let mut c = replied(false, Some(addr(50)));
        let local = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 4), 9);
        c.on_remote_payload(&payload(firewall::OPEN, vec![local, addr(60)]), 0);
        let (_, _, connects, _) = drain(&mut c);
        assert_eq!(connects, vec![(5, 77, addr(60))]);
        assert_eq!(events(&mut c), vec![ConnectEvent::Connected { stream: 5, remote_address: addr(60) }]);
        // Only bogons: the relay-seen address.
        let mut c = replied(false, Some(addr(50)));
        c.on_remote_payload(&payload(firewall::OPEN, vec![local]), 0);
        assert_eq!(drain(&mut c).2, vec![(5, 77, addr(50))]);
    }

    #[test]
    fn direct_reply_connects_to_the_node_asked() {
        let mut c = replied(false, None);
        c.on_remote_payload(&payload(firewall::UNKNOWN, vec![]), 0);
        assert_eq!(drain(&mut c).2, vec![(5, 77, addr(1))]);
    }

    #[test]
    fn an_early_udx_packet_from_the_server_wins() {
        let mut c = replied(true, Some(addr(50)));
        c.on_firewall(addr(51));
        c.on_remote_payload(&payload(firewall::UNKNOWN, vec![]), 0);
        assert_eq!(drain(&mut c).2, vec![(5, 77, addr(51))]);
    }

    #[test]
    fn when_we_are_open_we_wait_for_the_server_then_time_out() {
        let holepunchable = |fw| NoisePayload {
            holepunch: Some(HolepunchInfo {
                id: 0,
                relays: vec![RelayInfo { relay_address: addr(1), peer_address: addr(50) }],
            }),
            ..payload(fw, vec![])
        };
        let mut c = replied(true, Some(addr(50)));
        c.on_remote_payload(&holepunchable(firewall::UNKNOWN), 100);
        assert!(drain(&mut c).2.is_empty());
        assert_eq!(c.poll_timeout(), Some(100 + PASSIVE_CONNECT_MS));
        c.on_firewall(addr(52));
        assert_eq!(drain(&mut c).2, vec![(5, 77, addr(52))]);
        // Nobody comes: HOLEPUNCH_ABORTED.
        let mut c = replied(true, Some(addr(50)));
        c.on_remote_payload(&holepunchable(firewall::UNKNOWN), 100);
        c.handle_timeout(100 + PASSIVE_CONNECT_MS);
        drain(&mut c);
        assert_eq!(events(&mut c), vec![ConnectEvent::Failed(HyperDhtError::HolepunchAborted)]);
        // Both firewalled and the server wants holepunching: CANNOT_HOLEPUNCH, clearly.
        let mut c = replied(false, Some(addr(50)));
        c.on_remote_payload(&holepunchable(firewall::CONSISTENT), 0);
        drain(&mut c);
        assert_eq!(events(&mut c), vec![ConnectEvent::Failed(HyperDhtError::CannotHolepunch)]);
    }

    #[test]
    fn the_key_holder_must_answer_in_time() {
        let mut c = Connect::new([9; 32], 5, payload(firewall::OPEN, vec![]), ConnectOptions::default(), 0);
        drain(&mut c);
        events(&mut c);
        c.handle_timeout(ASK_TIMEOUT_MS);
        drain(&mut c);
        assert_eq!(events(&mut c), vec![ConnectEvent::Failed(HyperDhtError::HandshakeUnfinished)]);
        assert!(c.is_done() && c.poll_timeout().is_none());
    }
}
