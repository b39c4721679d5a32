//! A listening server's self-announce (hyperdht `lib/announcer.js`).
//!
//! One *update*: FIND_PEER query for `hash(publicKey)`, then ANNOUNCE `peer{publicKey, []}` to
//! the 3 closest repliers (each signature asked for); every node that accepts becomes a relay
//! (`relayAddress` = it, `peerAddress` = us as it saw us). Between updates the relays are
//! PINGed every 3 s (keeps their router entry and our NAT mapping fresh); after 100 pings
//! (~5 min), or as soon as fewer than `min(relays, 3)` answer, the next update runs. Relays of
//! the update before last that are no longer relays are UNANNOUNCEd (three generations, as
//! JS). Stopping unannounces the current relays.

use super::{
    bare_announce, command, Cmd, HyperDhtError, Key, OutQuery, OutRequest, Reply, SignAsk, SignKind,
    SignParts,
};
use hyperwasm::encoding::Compact;
use hyperwasm::hyperdht::messages::{Peer, RelayInfo};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddrV4;

/// Ping period between updates (JS `_sleeper.pause(3000)`).
pub const PING_INTERVAL_MS: u64 = 3000;
/// Ping rounds before a scheduled update (JS: 100 × 3 s ≈ 5 min).
pub const PING_ROUNDS: u32 = 100;
/// Nodes announced to per update (JS `pickBest`).
pub const ANNOUNCE_TO: usize = 3;
/// Relays that must keep answering (JS `MIN_ACTIVE`).
const MIN_ACTIVE: usize = 3;
/// An update that found no relay is retried after this long (JS waits a full ping cycle).
pub const EMPTY_RETRY_MS: u64 = 5000;

/// Events of an announcer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnouncerEvent {
    /// An update finished; `relays` is the new relay list (empty: nobody accepted).
    Updated {
        /// Nodes now relaying handshakes to us.
        relays: Vec<RelayInfo>,
    },
    /// Stopped, and the unannounces have settled.
    Stopped,
}

#[derive(Debug, Clone)]
enum Pending {
    /// Waiting for the ANNOUNCE signature for this replier.
    AnnounceSign(Reply),
    /// ANNOUNCE sent to `from`; `to` is our address as it saw us.
    Announce { from: SocketAddrV4, to: SocketAddrV4 },
    /// FIND_PEER sent to a former relay to get a token for unannouncing.
    UnannounceFind,
    /// Waiting for the UNANNOUNCE signature.
    UnannounceSign(Reply),
    /// UNANNOUNCE sent.
    Unannounce,
    /// PING of ping round `round`.
    Ping(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// The FIND_PEER query runs (key).
    Querying(u64),
    /// Announcing to the picked repliers.
    Committing,
    /// Between updates: ping round `round`, `sent`/`answered` pings, next round at `next_at`
    /// once all have settled.
    Pinging { round: u32, sent: usize, answered: usize, settled: usize, next_at: Option<u64> },
    /// Waiting to start an update at the time given.
    Waiting(u64),
    /// Stopped (unannounces may still be settling).
    Stopped,
}

/// The self-announce state machine of one server key.
#[derive(Debug)]
pub struct Announcer {
    target: Key,
    public_key: Key,
    phase: Phase,
    relays: Vec<RelayInfo>,
    relay_addresses: Vec<SocketAddrV4>,
    new_relays: Vec<RelayInfo>,
    new_relay_addresses: Vec<SocketAddrV4>,
    /// Generations of relay sets; `[2]` is the current one.
    server_relays: [BTreeSet<SocketAddrV4>; 3],
    closest_nodes: Vec<SocketAddrV4>,
    query_closest: Vec<SocketAddrV4>,
    pending: HashMap<u64, Pending>,
    next_key: u64,
    refresh_wanted: bool,
    cmds: VecDeque<Cmd<u64>>,
    events: VecDeque<AnnouncerEvent>,
    stop_reported: bool,
}

impl Announcer {
    /// Starts announcing `public_key` (target `hash(public_key)`): the first update begins.
    pub fn new(public_key: Key, target: Key) -> Self {
        let mut a = Announcer {
            target,
            public_key,
            phase: Phase::Stopped,
            relays: Vec::new(),
            relay_addresses: Vec::new(),
            new_relays: Vec::new(),
            new_relay_addresses: Vec::new(),
            server_relays: Default::default(),
            closest_nodes: Vec::new(),
            query_closest: Vec::new(),
            pending: HashMap::new(),
            next_key: 0,
            refresh_wanted: false,
            cmds: VecDeque::new(),
            events: VecDeque::new(),
            stop_reported: false,
        };
        a.start_update();
        a
    }

    /// The record this server announces (`peer{publicKey, relayAddresses: []}`).
    pub fn record(&self) -> Vec<u8> {
        Peer { public_key: self.public_key, relay_addresses: Vec::new() }.to_bytes()
    }

    /// Current relays (`{relayAddress, peerAddress}`), for the server's holepunch info.
    pub fn relays(&self) -> &[RelayInfo] {
        &self.relays
    }

    /// Current relay addresses (our own address first when reachable), for payloads.
    pub fn relay_addresses(&self) -> &[SocketAddrV4] {
        &self.relay_addresses
    }

    /// Whether `addr` is one of our relays (any of the three generations).
    pub fn is_relay(&self, addr: &SocketAddrV4) -> bool {
        self.server_relays.iter().any(|g| g.contains(addr))
    }

    /// Asks for an update as soon as the current ping round ends (network change).
    pub fn refresh(&mut self) {
        self.refresh_wanted = true;
    }

    /// Next command.
    pub fn poll_cmd(&mut self) -> Option<Cmd<u64>> {
        self.cmds.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<AnnouncerEvent> {
        self.events.pop_front()
    }

    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    fn start_update(&mut self) {
        // Rotate the generations: [0] ← [1] ← [2] ← fresh.
        self.server_relays.rotate_left(1);
        self.server_relays[2].clear();
        self.refresh_wanted = false;
        let k = self.key();
        self.phase = Phase::Querying(k);
        self.cmds.push_back(Cmd::Query(
            k,
            OutQuery {
                command: command::FIND_PEER,
                target: self.target,
                value: None,
                nodes: self.closest_nodes.clone(),
            },
        ));
    }

    /// The FIND_PEER query under `key` ended. `own_address` is this node's reachable address
    /// (first relay address, as JS does for a non-firewalled node).
    pub fn on_query_done(&mut self, key: u64, closest: &[Reply], own_address: Option<SocketAddrV4>) {
        if self.phase != Phase::Querying(key) {
            return;
        }
        self.phase = Phase::Committing;
        self.query_closest = closest.iter().map(|r| r.from).collect();
        self.new_relays.clear();
        self.new_relay_addresses = own_address.into_iter().collect();
        for reply in closest.iter().take(ANNOUNCE_TO) {
            let (Some(id), Some(token)) = (reply.from_id, reply.token) else { continue };
            let peer = Peer { public_key: self.public_key, relay_addresses: Vec::new() };
            let parts = SignParts {
                kind: SignKind::Announce,
                target: self.target,
                node_id: id,
                token,
                peer,
                refresh: None,
            };
            let k = self.key();
            self.pending.insert(k, Pending::AnnounceSign(reply.clone()));
            self.cmds.push_back(Cmd::Sign(k, SignAsk::record(self.public_key, parts)));
        }
        self.check_committed();
    }

    /// The signature asked for under `key` (None: not given).
    pub fn on_signature(&mut self, key: u64, signature: Option<[u8; 64]>) {
        let Some(p) = self.pending.remove(&key) else { return };
        match (p, signature) {
            (Pending::AnnounceSign(r), Some(sig)) if self.phase == Phase::Committing => {
                let value = bare_announce(self.public_key, sig);
                let k = self.key();
                self.pending.insert(k, Pending::Announce { from: r.from, to: r.to });
                self.cmds.push_back(Cmd::Request(
                    k,
                    OutRequest::command(r.from, command::ANNOUNCE, self.target, r.token, Some(value)),
                ));
            }
            (Pending::UnannounceSign(r), Some(sig)) => {
                let value = bare_announce(self.public_key, sig);
                let k = self.key();
                self.pending.insert(k, Pending::Unannounce);
                self.cmds.push_back(Cmd::Request(
                    k,
                    OutRequest::command(r.from, command::UNANNOUNCE, self.target, r.token, Some(value)),
                ));
            }
            _ => {}
        }
        self.check_committed();
        self.check_stopped();
    }

    /// The response to the request sent under `key`.
    pub fn on_response(&mut self, key: u64, reply: &Reply, now_ms: u64) {
        let Some(p) = self.pending.remove(&key) else { return };
        match p {
            Pending::Announce { from, to } if self.phase == Phase::Committing && reply.error == 0 => {
                if self.new_relay_addresses.len() < 3 {
                    self.new_relay_addresses.push(from);
                }
                self.new_relays.push(RelayInfo { relay_address: from, peer_address: to });
                self.server_relays[2].insert(from);
            }
            Pending::UnannounceFind => {
                if let (Some(id), Some(token), Some(_)) = (reply.from_id, reply.token, reply.value.as_ref()) {
                    let peer = Peer { public_key: self.public_key, relay_addresses: Vec::new() };
                    let kind = SignKind::Unannounce;
                    let parts =
                        SignParts { kind, target: self.target, node_id: id, token, peer, refresh: None };
                    let k = self.key();
                    self.pending.insert(k, Pending::UnannounceSign(reply.clone()));
                    self.cmds.push_back(Cmd::Sign(k, SignAsk::record(self.public_key, parts)));
                }
            }
            Pending::Ping(round) => self.ping_settled(round, true, now_ms),
            _ => {}
        }
        self.check_committed();
        self.check_stopped();
    }

    /// The request sent under `key` failed.
    pub fn on_request_failed(&mut self, key: u64, _error: HyperDhtError, now_ms: u64) {
        let Some(p) = self.pending.remove(&key) else { return };
        if let Pending::Ping(round) = p {
            self.ping_settled(round, false, now_ms);
        }
        self.check_committed();
        self.check_stopped();
    }

    fn check_committed(&mut self) {
        if self.phase != Phase::Committing {
            return;
        }
        let busy =
            self.pending.values().any(|p| matches!(p, Pending::AnnounceSign(_) | Pending::Announce { .. }));
        if busy {
            return;
        }
        self.closest_nodes = std::mem::take(&mut self.query_closest);
        self.relays = std::mem::take(&mut self.new_relays);
        self.relay_addresses = std::mem::take(&mut self.new_relay_addresses);
        let removed: Vec<SocketAddrV4> =
            self.server_relays[1].difference(&self.server_relays[2]).copied().collect();
        for addr in removed {
            self.unannounce(addr);
        }
        self.events.push_back(AnnouncerEvent::Updated { relays: self.relays.clone() });
        // Ping round 0 starts at the next timeout check.
        self.phase = Phase::Pinging { round: 0, sent: 0, answered: 0, settled: 0, next_at: Some(0) };
    }

    fn unannounce(&mut self, to: SocketAddrV4) {
        let k = self.key();
        self.pending.insert(k, Pending::UnannounceFind);
        self.cmds
            .push_back(Cmd::Request(k, OutRequest::command(to, command::FIND_PEER, self.target, None, None)));
    }

    fn ping_settled(&mut self, round: u32, ok: bool, now_ms: u64) {
        let Phase::Pinging { round: r, sent, answered, settled, next_at } = &mut self.phase else { return };
        if *r != round {
            return;
        }
        *settled += 1;
        if ok {
            *answered += 1;
        }
        if *settled < *sent {
            return;
        }
        let lost = *answered < (*sent).min(MIN_ACTIVE);
        if lost || self.refresh_wanted {
            self.start_update();
            return;
        }
        *next_at = Some(now_ms + PING_INTERVAL_MS);
        *r += 1;
        let _ = next_at;
    }

    /// When the announcer next needs [`Announcer::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<u64> {
        match &self.phase {
            Phase::Pinging { next_at, .. } => *next_at,
            Phase::Waiting(at) => Some(*at),
            _ => None,
        }
    }

    /// Runs a due ping round or update.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        match self.phase.clone() {
            Phase::Waiting(at) if now_ms >= at => self.start_update(),
            Phase::Pinging { round, next_at: Some(at), .. } if now_ms >= at => {
                if round >= PING_ROUNDS || self.refresh_wanted {
                    return self.start_update();
                }
                let relays: Vec<SocketAddrV4> = self.server_relays[2].iter().copied().collect();
                if relays.is_empty() {
                    // Nobody accepted our announce: try again soon rather than in 5 minutes.
                    self.phase = Phase::Waiting(now_ms + EMPTY_RETRY_MS);
                    return;
                }
                self.phase =
                    Phase::Pinging { round, sent: relays.len(), answered: 0, settled: 0, next_at: None };
                for to in relays {
                    let k = self.key();
                    self.pending.insert(k, Pending::Ping(round));
                    self.cmds.push_back(Cmd::Request(k, OutRequest::ping(to)));
                }
            }
            _ => {}
        }
    }

    /// Stops announcing: ends the running query and unannounces the current relays. A
    /// [`AnnouncerEvent::Stopped`] follows once those requests have settled.
    pub fn stop(&mut self) {
        if let Phase::Querying(k) = self.phase {
            self.cmds.push_back(Cmd::DestroyQuery(k));
        }
        if self.phase == Phase::Stopped {
            return;
        }
        self.phase = Phase::Stopped;
        // Drop whatever was in flight for the update; only unannounces matter now.
        self.pending.retain(|_, p| {
            matches!(p, Pending::UnannounceFind | Pending::UnannounceSign(_) | Pending::Unannounce)
        });
        let current: Vec<SocketAddrV4> = self.server_relays[2].iter().copied().collect();
        for addr in current {
            self.unannounce(addr);
        }
        self.check_stopped();
    }

    fn check_stopped(&mut self) {
        if self.phase != Phase::Stopped || self.stop_reported || !self.pending.is_empty() {
            return;
        }
        self.stop_reported = true;
        self.events.push_back(AnnouncerEvent::Stopped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hyperdht::CMD_PING;
    use hyperwasm::crypto::KeyPair;
    use hyperwasm::hyperdht::crypto::{hash, verify_announce, verify_unannounce};
    use hyperwasm::hyperdht::messages::{decode, Announce};
    use std::net::Ipv4Addr;

    fn addr(i: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(20, 0, 0, i), 3000 + i as u16)
    }

    fn reply(i: u8) -> Reply {
        Reply {
            from: addr(i),
            from_id: Some([i; 32]),
            to: addr(99),
            token: Some([i + 100; 32]),
            error: 0,
            value: None,
        }
    }

    fn cmds(a: &mut Announcer) -> Vec<Cmd<u64>> {
        std::iter::from_fn(|| a.poll_cmd()).collect()
    }

    struct Fixture {
        a: Announcer,
        kp: KeyPair,
        target: Key,
    }

    impl Fixture {
        fn new() -> Self {
            let kp = KeyPair::from_seed(&[5; 32]);
            let target = hash(&kp.public_key());
            Fixture { a: Announcer::new(kp.public_key(), target), kp, target }
        }

        /// Runs one update against repliers `ids`; `accept` says who accepts the ANNOUNCE.
        /// Returns the other requests seen (unannounce FIND_PEERs, UNANNOUNCEs).
        fn update(&mut self, ids: &[u8], accept: impl Fn(u8) -> bool) -> Vec<OutRequest> {
            let mut other = Vec::new();
            let q = cmds(&mut self.a)
                .into_iter()
                .find_map(|c| match c {
                    Cmd::Query(k, q) => {
                        assert_eq!((q.command, q.target), (command::FIND_PEER, self.target));
                        Some(k)
                    }
                    _ => None,
                })
                .expect("query");
            let closest: Vec<Reply> = ids.iter().map(|i| reply(*i)).collect();
            self.a.on_query_done(q, &closest, Some(addr(77)));
            let pk = self.kp.public_key();
            let mut signed = 0;
            loop {
                let batch = cmds(&mut self.a);
                if batch.is_empty() {
                    break;
                }
                for c in batch {
                    match c {
                        Cmd::Sign(k, ask) => {
                            assert_eq!(ask.public_key, pk);
                            assert_eq!(ask.parts.as_ref().map(|p| p.signable()), Some(ask.signable));
                            signed += 1;
                            self.a.on_signature(k, Some(self.kp.sign(&ask.signable)));
                        }
                        Cmd::Request(k, r) if r.command == command::ANNOUNCE => {
                            let i = r.to.ip().octets()[3];
                            let ann: Announce = decode(r.value.as_ref().unwrap()).unwrap();
                            let peer = ann.peer.unwrap();
                            assert!(peer.relay_addresses.is_empty());
                            assert_eq!(r.token, Some([i + 100; 32]));
                            assert!(verify_announce(
                                &ann.signature.unwrap(),
                                &self.target,
                                &[i; 32],
                                &[i + 100; 32],
                                &peer,
                                None
                            ));
                            let res = Reply { error: if accept(i) { 0 } else { 1 }, ..reply(i) };
                            self.a.on_response(k, &res, 0);
                        }
                        Cmd::Request(_, r) => other.push(r),
                        _ => {}
                    }
                }
            }
            assert!(signed >= ids.len().min(ANNOUNCE_TO));
            other
        }
    }

    #[test]
    fn announces_to_the_three_closest_and_keeps_them_as_relays() {
        let mut f = Fixture::new();
        let other = f.update(&[1, 2, 3, 4, 5], |i| i != 2);
        assert!(other.is_empty());
        let relays: Vec<SocketAddrV4> = f.a.relays().iter().map(|r| r.relay_address).collect();
        assert_eq!(relays, vec![addr(1), addr(3)], "top 3 asked, 2 refused");
        assert!(f.a.relays().iter().all(|r| r.peer_address == addr(99)));
        assert_eq!(f.a.relay_addresses(), &[addr(77), addr(1), addr(3)]);
        assert!(f.a.is_relay(&addr(1)) && !f.a.is_relay(&addr(4)));
        assert_eq!(f.a.poll_event(), Some(AnnouncerEvent::Updated { relays: f.a.relays().to_vec() }));
    }

    #[test]
    fn pings_relays_every_three_seconds_and_re_announces_when_they_go_quiet() {
        let mut f = Fixture::new();
        f.update(&[1, 2, 3], |_| true);
        let mut now = 0;
        for round in 0..3 {
            assert_eq!(f.a.poll_timeout(), Some(now));
            f.a.handle_timeout(now);
            let pings = cmds(&mut f.a);
            assert_eq!(pings.len(), 3, "round {round}");
            for c in pings {
                let Cmd::Request(k, r) = c else { panic!() };
                assert!(r.internal && r.command == CMD_PING);
                f.a.on_response(k, &reply(1), now);
            }
            now += PING_INTERVAL_MS;
        }
        // Two of three relays stop answering: a new update starts at once.
        f.a.handle_timeout(now);
        let pings = cmds(&mut f.a);
        for (n, c) in pings.into_iter().enumerate() {
            let Cmd::Request(k, _) = c else { panic!() };
            if n == 0 {
                f.a.on_response(k, &reply(1), now);
            } else {
                f.a.on_request_failed(k, HyperDhtError::RequestTimeout, now);
            }
        }
        // The new closest set is 4, 5, 6: the relays of the previous update that are no
        // longer relays (1, 2, 3) are unannounced, each after a FIND_PEER for a fresh token.
        let other = f.update(&[4, 5, 6], |_| true);
        let finds: Vec<SocketAddrV4> =
            other.iter().filter(|r| r.command == command::FIND_PEER).map(|r| r.to).collect();
        assert_eq!(finds.len(), 3, "{other:?}");
        assert!(finds.contains(&addr(1)) && finds.contains(&addr(2)) && finds.contains(&addr(3)));
        // Same set again (a refresh): nothing to unannounce.
        f.a.refresh();
        f.a.handle_timeout(now + 1);
        let other = f.update(&[4, 5, 6], |_| true);
        assert!(other.iter().all(|r| r.command != command::FIND_PEER), "{other:?}");
    }

    #[test]
    fn stop_unannounces_current_relays_with_fresh_tokens() {
        let mut f = Fixture::new();
        f.update(&[1, 2, 3], |_| true);
        f.a.stop();
        let finds = cmds(&mut f.a);
        assert_eq!(finds.len(), 3);
        for c in finds {
            let Cmd::Request(k, r) = c else { panic!() };
            assert_eq!(r.command, command::FIND_PEER);
            let i = r.to.ip().octets()[3];
            let res = Reply { value: Some(f.a.record()), ..reply(i) };
            f.a.on_response(k, &res, 0);
        }
        let mut unann = 0;
        loop {
            let batch = cmds(&mut f.a);
            if batch.is_empty() {
                break;
            }
            for c in batch {
                match c {
                    Cmd::Sign(k, ask) => f.a.on_signature(k, Some(f.kp.sign(&ask.signable))),
                    Cmd::Request(k, r) => {
                        assert_eq!(r.command, command::UNANNOUNCE);
                        let i = r.to.ip().octets()[3];
                        let ann: Announce = decode(r.value.as_ref().unwrap()).unwrap();
                        let peer = ann.peer.unwrap();
                        assert!(verify_unannounce(
                            &ann.signature.unwrap(),
                            &f.target,
                            &[i; 32],
                            &[i + 100; 32],
                            &peer,
                            None
                        ));
                        unann += 1;
                        f.a.on_response(k, &reply(i), 0);
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(unann, 3);
        let evs: Vec<_> = std::iter::from_fn(|| f.a.poll_event()).collect();
        assert_eq!(evs.last(), Some(&AnnouncerEvent::Stopped));
    }
}
