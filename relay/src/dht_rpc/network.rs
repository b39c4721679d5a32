//! Bootstrap, the firewall check and the switch to persistent (`index.js _bootstrap`,
//! `_updateNetworkState`, `_checkIfFirewalled`).
//!
//! Bootstrap: a background FIND_NODE for the table id through the bootstrap nodes; a firewalled
//! node that may become persistent sends one PING_NAT (from the probe socket, carrying the main
//! socket's port) to the first node that answers. If that comes back — or the node was asked to
//! be persistent — the network state is updated (firewall check if needed), and if that switched
//! anything the query runs once more before `Ready`.
//!
//! Firewall check: PING_NAT from the probe socket to the 5 most recently seen nodes (plus the
//! bootstrap nodes if fewer); the main socket counts as reachable if at least 3 of 5 (or 1 of
//! fewer) replies arrive on it, they agree on our host, and the sampled port is our bound port.
//!
//! With one main socket the check is weaker than JS's (JS keeps the checked socket silent until
//! then): the nodes asked have already seen traffic from our main socket, so an
//! address-restricted NAT lets their replies in. Only an unreachable or port-remapping NAT is
//! detected; set `ephemeral: Some(true)` where that matters.

use super::commands::PING_NAT;
use super::io::{NewRequest, Owner};
use super::nat::NatSampler;
use super::peer;
use super::rpc::{QueryKind, Rpc};
use super::table::Table;
use super::types::{Response, RpcEvent};
use super::SocketKind;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Ticks (~20 min) an adaptive node waits before checking whether it can be persistent.
pub(super) const STABLE_TICKS: i64 = 240;
/// Ticks before re-checking the same network.
pub(super) const MORE_STABLE_TICKS: i64 = 3 * STABLE_TICKS;

/// Bootstrap progress.
#[derive(Debug, Default)]
pub(crate) struct Boot {
    /// Send the quick PING_NAT on the first reply.
    first: bool,
    /// The quick PING_NAT came back.
    pub(super) test_nat: bool,
    /// 0 or 1: which bootstrap query runs.
    round: u8,
}

/// Who asked for a network-state update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Bootstrap,
    Stable,
}

/// A firewall check in progress.
#[derive(Debug)]
pub(crate) struct NetCheck {
    origin: Origin,
    only_firewall: bool,
    host: Ipv4Addr,
    port: u16,
    sampler: NatSampler,
    outstanding: usize,
    asked: usize,
    arrived: usize,
}

impl Rpc {
    pub(super) fn start_bootstrap(&mut self, now_ms: u64) {
        self.boot = Boot {
            first: self.firewalled && self.cfg.quick_firewall && !self.force_persistent,
            test_nat: false,
            round: 0,
        };
        self.bootstrap_round(now_ms);
    }

    fn bootstrap_round(&mut self, now_ms: u64) {
        let (full, bg) = self.background_concurrency();
        let target = *self.table.id();
        if self.background_query(target, QueryKind::Bootstrap { full, bg }, now_ms).is_none() {
            self.finish_bootstrap();
        }
    }

    /// The bootstrap query got an error-free reply.
    pub(super) fn bootstrap_data(&mut self, res: &Response, now_ms: u64) {
        if !self.boot.first {
            return;
        }
        self.boot.first = false;
        let req = self.ping_nat_request(res.from, Owner::QuickNat);
        self.probe_open = true;
        let _ = self.io.create(req, now_ms);
    }

    fn ping_nat_request(&self, to: SocketAddrV4, owner: Owner) -> NewRequest {
        NewRequest {
            to,
            to_id: None,
            socket: SocketKind::Probe,
            id: None,
            token: None,
            internal: true,
            command: PING_NAT,
            target: None,
            value: Some(self.cfg.port.to_le_bytes().to_vec()),
            retries: 3,
            timeout_ms: None,
            force: false,
            owner,
        }
    }

    pub(super) fn bootstrap_query_done(&mut self, now_ms: u64) {
        if self.bootstrapped || (!self.boot.test_nat && !self.force_persistent) || self.boot.round >= 1 {
            self.finish_bootstrap();
            return;
        }
        let only_firewall = !self.force_persistent;
        if let Some(changed) = self.start_network_update(only_firewall, Origin::Bootstrap, now_ms) {
            self.network_update_done(Origin::Bootstrap, changed, now_ms);
        }
    }

    fn finish_bootstrap(&mut self) {
        if !self.bootstrapped {
            self.bootstrapped = true;
            self.events.push_back(RpcEvent::Ready);
        }
        self.maybe_close_probe();
    }

    fn network_update_done(&mut self, origin: Origin, changed: bool, now_ms: u64) {
        if origin != Origin::Bootstrap || self.bootstrapped {
            return;
        }
        if changed {
            self.boot.round = 1;
            self.bootstrap_round(now_ms);
        } else {
            self.finish_bootstrap();
        }
    }

    /// JS `_updateNetworkState`: `Some(changed)` when decided at once, `None` while a firewall
    /// check runs (it calls back when done).
    pub(super) fn start_network_update(
        &mut self,
        only_firewall: bool,
        origin: Origin,
        now_ms: u64,
    ) -> Option<bool> {
        if self.netcheck.is_some() || !self.ephemeral || (only_firewall && !self.firewalled) {
            return Some(false);
        }
        let host = self.nat.host();
        let port = self.nat.port();
        if !only_firewall {
            self.stable_ticks = MORE_STABLE_TICKS;
            self.last_host = host;
        }
        let Some(host) = host else { return Some(false) };
        if port == 0 {
            return Some(false);
        }
        if !self.firewalled {
            return Some(self.apply_network_state(false, None, host, port, only_firewall));
        }
        // Ask recent nodes (and the bootstrap nodes if fewer than 5) to ping our main port.
        let mut targets: Vec<SocketAddrV4> =
            self.table.latest(5).iter().filter_map(|id| self.table.get(id)).map(|n| n.addr).collect();
        if targets.len() < 5 {
            targets.extend(self.cfg.bootstrap.iter().copied());
        }
        if targets.is_empty() {
            return Some(false);
        }
        let mut check = NetCheck {
            origin,
            only_firewall,
            host,
            port,
            sampler: NatSampler::new(),
            outstanding: 0,
            asked: targets.len(),
            arrived: 0,
        };
        self.probe_open = true;
        for to in targets {
            let req = self.ping_nat_request(to, Owner::Firewall);
            if self.io.create(req, now_ms).is_ok() {
                check.outstanding += 1;
            }
        }
        if check.outstanding == 0 {
            self.maybe_close_probe();
            return Some(false);
        }
        self.netcheck = Some(check);
        None
    }

    /// One PING_NAT of the firewall check finished; `arrived` is the reply's `to` if it came in
    /// on the main socket.
    pub(super) fn firewall_probe_done(&mut self, arrived: Option<SocketAddrV4>, now_ms: u64) {
        let Some(check) = self.netcheck.as_mut() else { return };
        check.outstanding = check.outstanding.saturating_sub(1);
        if let Some(to) = arrived {
            check.arrived += 1;
            check.sampler.add(*to.ip(), to.port());
        }
        if check.outstanding > 0 {
            return;
        }
        let Some(check) = self.netcheck.take() else { return };
        self.maybe_close_probe();
        let needed = if check.asked >= 5 { 3 } else { 1 };
        let firewalled = check.arrived < needed
            || check.sampler.host().is_none()
            || self.nat.host() != check.sampler.host()
            || check.sampler.port() == 0
            || check.sampler.port() != self.cfg.port;
        let changed = self.apply_network_state(
            firewalled,
            Some(check.sampler),
            check.host,
            check.port,
            check.only_firewall,
        );
        self.network_update_done(check.origin, changed, now_ms);
    }

    /// The second half of JS `_updateNetworkState`.
    fn apply_network_state(
        &mut self,
        firewalled: bool,
        fresh: Option<NatSampler>,
        host: Ipv4Addr,
        port: u16,
        only_firewall: bool,
    ) -> bool {
        if firewalled {
            return false;
        }
        self.firewalled = false;
        if !self.ephemeral || Some(host) != self.nat.host() || port != self.nat.port() {
            return false;
        }
        let sampler = fresh.as_ref().unwrap_or(&self.nat);
        let (Some(s_host), s_port) = (sampler.host(), sampler.port()) else { return false };
        if s_host != host || s_port == 0 {
            return false;
        }
        let id = peer::id(&SocketAddrV4::new(s_host, s_port));
        if !only_firewall {
            self.ephemeral = false;
        }
        if let Some(fresh) = fresh {
            self.none_persistent_samples.clear();
            self.nat = fresh;
        }
        if *self.table.id() != id {
            self.rebuild_table(id);
            if self.bootstrapped {
                self.start_refresh(self.now_ms);
            }
        }
        if !self.ephemeral {
            self.events.push_back(RpcEvent::Persistent);
        }
        true
    }

    /// Persistent at once at a known public address (JS testnet nodes and `bootstrapper`).
    pub(super) fn persist_at(&mut self, addr: SocketAddrV4) {
        self.nat.add(*addr.ip(), addr.port());
        self.firewalled = false;
        self.ephemeral = false;
        let id = peer::id(&addr);
        if *self.table.id() != id {
            self.rebuild_table(id);
        }
        self.events.push_back(RpcEvent::Persistent);
    }

    /// A new table around `id` with the old nodes (those that fit), recency kept.
    fn rebuild_table(&mut self, id: [u8; 32]) {
        let k = self.table.k();
        let old = std::mem::replace(&mut self.table, Table::new(id, k));
        for node in old.to_vec() {
            if node.id != id {
                self.table.add(node);
            }
        }
        for nid in old.oldest(usize::MAX) {
            self.table.touch(&nid);
        }
    }

    /// Emits [`RpcEvent::CloseProbe`] once nothing uses the probe socket any more.
    pub(super) fn maybe_close_probe(&mut self) {
        if !self.probe_open || self.netcheck.is_some() {
            return;
        }
        if self.io.iter().any(|r| r.socket == SocketKind::Probe) {
            return;
        }
        self.probe_open = false;
        self.events.push_back(RpcEvent::CloseProbe);
    }
}
