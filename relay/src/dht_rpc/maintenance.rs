//! Routing-table upkeep and the 5 s tick (`index.js`: `_addNodeFromNetwork`, `_addNode`,
//! `_onfullrow`, `_repingAndSwap`, `_check`, `_pingSome`, `_ontick`, `_onwakeup`, `refresh`).

use super::commands::PING;
use super::io::{NewRequest, Owner};
use super::query::QuerySpec;
use super::rpc::{QueryKind, Rpc};
use super::table::{AddOutcome, Node};
use super::types::RpcEvent;
use super::{NodeId, SocketKind};
use std::net::SocketAddrV4;

/// Refresh every ~5 min when idle.
pub(super) const REFRESH_TICKS: i64 = 60;
/// Heard from less than a minute ago.
const RECENT_NODE: u64 = 12;
/// Around for more than 30 minutes.
pub(super) const OLD_NODE: u64 = 360;
/// A tick gap above this means the machine slept.
const SLEEPING_INTERVAL_MS: u64 = 3 * super::rpc::TICK_INTERVAL_MS;
/// Concurrent liveness checks (DOWN_HINT / ping tick).
pub(super) const MAX_CHECKS: usize = 10;
/// Concurrent full-row re-pings.
const MAX_REPINGING: usize = 3;

impl Rpc {
    /// JS `_addNodeFromNetwork`: a validated sender joins (or refreshes) the table; an id-less one
    /// only feeds the NAT sampler, and only the first few (the bootstrap nodes, usually).
    pub(super) fn add_node_from_network(
        &mut self,
        sample: bool,
        from: SocketAddrV4,
        from_id: Option<NodeId>,
        to: SocketAddrV4,
    ) {
        if self.cfg.filter_node.is_some_and(|f| !f(from)) {
            return;
        }
        let Some(id) = from_id else {
            self.sample_bootstrap_maybe(from, to);
            return;
        };
        let tick = self.tick;
        if let Some(old) = self.table.get_mut(&id) {
            let mut nat_sample = None;
            if sample && (old.sampled == 0 || tick.saturating_sub(old.sampled) >= OLD_NODE) {
                old.to = Some(to);
                old.sampled = tick;
                nat_sample = Some(to);
            }
            old.pinged = tick;
            old.seen = tick;
            self.table.touch(&id);
            if let Some(to) = nat_sample {
                self.nat_add(to);
            }
            return;
        }
        let mut node = Node::new(id, from);
        node.to = Some(to);
        self.add_table_node(node);
    }

    /// JS `_addNode`.
    pub(super) fn add_table_node(&mut self, mut node: Node) {
        if node.id == *self.table.id() {
            return;
        }
        node.added = self.tick;
        node.pinged = self.tick;
        node.seen = self.tick;
        let to = node.to;
        let first_sample = node.to.is_some() && node.sampled == 0;
        let id = node.id;
        match self.table.add(node.clone()) {
            AddOutcome::Full(row) => self.on_full_row(node, row),
            AddOutcome::Added | AddOutcome::Updated => {
                if let (true, Some(to)) = (first_sample, to) {
                    if let Some(n) = self.table.get_mut(&id) {
                        n.sampled = self.tick;
                    }
                    self.nat_add(to);
                }
            }
        }
    }

    /// JS `_onfullrow`: ping the row's stalest node; if it does not answer, the new one takes
    /// its place.
    fn on_full_row(&mut self, new_node: Node, row: usize) {
        if !self.bootstrapped || self.repinging >= MAX_REPINGING {
            return;
        }
        let tick = self.tick;
        let oldest = self
            .table
            .row(row)
            .iter()
            .filter(|n| n.pinged != tick)
            .min_by(|a, b| a.pinged.cmp(&b.pinged).then(a.added.cmp(&b.added)));
        let Some(oldest) = oldest else { return };
        if tick.saturating_sub(oldest.pinged) < RECENT_NODE && tick.saturating_sub(oldest.added) > OLD_NODE {
            return;
        }
        let old = oldest.id;
        self.reping_and_swap(new_node, old);
    }

    fn reping_and_swap(&mut self, new_node: Node, old: NodeId) {
        let tick = self.tick;
        let Some(node) = self.table.get_mut(&old) else { return };
        let last_seen = node.seen;
        node.pinged = tick;
        let addr = node.addr;
        let owner = Owner::Swap { old, last_seen, new_node: Box::new(new_node) };
        if self.internal_request(addr, PING, None, owner, self.now_ms).is_some() {
            self.repinging += 1;
        }
    }

    /// JS `_check`: ping a node; it leaves the table unless it answers (with its id).
    pub(super) fn check(&mut self, id: NodeId, now_ms: u64) {
        let tick = self.tick;
        let Some(node) = self.table.get_mut(&id) else { return };
        node.pinged = tick;
        let last_seen = node.seen;
        let addr = node.addr;
        if self.internal_request(addr, PING, None, Owner::Check { id, last_seen }, now_ms).is_some() {
            self.checks += 1;
        }
    }

    pub(super) fn remove_stale_node(&mut self, id: &NodeId, last_seen: u64) {
        if self.table.get(id).is_some_and(|n| n.seen <= last_seen) {
            self.remove_node(id);
        }
    }

    pub(super) fn remove_node(&mut self, id: &NodeId) {
        self.table.remove(id);
    }

    /// Sends an internal request from the main socket; `None` if the request cap is reached.
    pub(super) fn internal_request(
        &mut self,
        to: SocketAddrV4,
        command: u64,
        value: Option<Vec<u8>>,
        owner: Owner,
        now_ms: u64,
    ) -> Option<u16> {
        let req = NewRequest {
            to,
            to_id: None,
            socket: SocketKind::Main,
            id: self.id_for(SocketKind::Main),
            token: None,
            internal: true,
            command,
            target: None,
            value,
            retries: 3,
            timeout_ms: None,
            force: false,
            owner,
        };
        self.io.create(req, now_ms).ok()
    }

    /// JS `_pingSome`: check a few of the least recently seen nodes.
    fn ping_some(&mut self, now_ms: u64) {
        let mut count = if self.io.len() > 2 { 3 } else { 5 };
        let Some(oldest) = self.table.oldest(1).first().and_then(|id| self.table.get(id)) else {
            // A tiny network: ask the bootstrap nodes again.
            self.start_refresh(now_ms);
            return;
        };
        if self.tick.saturating_sub(oldest.pinged) < RECENT_NODE {
            count = 2;
        }
        for id in self.table.oldest(count) {
            if self.table.get(&id).is_none_or(|n| n.pinged == self.tick) {
                break;
            }
            self.check(id, now_ms);
        }
    }

    /// JS `_ontick`.
    pub(super) fn on_tick(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.last_tick_ms) > SLEEPING_INTERVAL_MS {
            self.on_wakeup();
        } else {
            self.tick += 1;
        }
        self.last_tick_ms = now_ms;
        if !self.bootstrapped {
            return;
        }
        if self.adaptive && self.ephemeral {
            self.stable_ticks -= 1;
            if self.stable_ticks <= 0 {
                if self.last_host == self.nat.host() {
                    // Do not recheck the same network.
                    self.stable_ticks = super::network::MORE_STABLE_TICKS;
                } else {
                    self.start_network_update(false, super::network::Origin::Stable, now_ms);
                }
            }
        }
        if self.tick & 7 == 0 {
            self.ping_some(now_ms);
        }
        let small = self.tick & 63 == 0 && self.table.len() < self.table.k();
        if small || {
            self.refresh_ticks -= 1;
            self.refresh_ticks <= 0
        } {
            self.start_refresh(now_ms);
        }
        self.down_hints_sent = 0;
    }

    /// JS `_onwakeup`: everything looks old now, pings in two ticks, refresh next tick; an
    /// adaptive node goes back to ephemeral.
    fn on_wakeup(&mut self) {
        self.tick += 2 * OLD_NODE;
        self.tick = self.tick + 6 - (self.tick & 7);
        self.stable_ticks = super::network::MORE_STABLE_TICKS;
        self.refresh_ticks = 1;
        self.last_host = None;
        if self.adaptive && !self.ephemeral {
            self.ephemeral = true;
            self.events.push_back(RpcEvent::Ephemeral);
        }
    }

    /// JS `refresh()`: a background FIND_NODE for a random table node's id (or our own).
    pub(super) fn start_refresh(&mut self, now_ms: u64) {
        let target = match self.table.len() {
            0 => *self.table.id(),
            n => {
                let i = self.rng.below(n as u64) as usize;
                self.table.nth(i).map_or(*self.table.id(), |node| node.id)
            }
        };
        let (full, bg) = self.background_concurrency();
        self.background_query(target, QueryKind::Refresh { full, bg }, now_ms);
    }

    pub(super) fn background_concurrency(&self) -> (usize, usize) {
        let full = self.cfg.concurrency;
        (full, full.min((full / 8).max(2)))
    }

    /// JS `_backgroundQuery`.
    pub(super) fn background_query(
        &mut self,
        target: [u8; 32],
        kind: QueryKind,
        now_ms: u64,
    ) -> Option<super::rpc::QueryId> {
        self.refresh_ticks = REFRESH_TICKS;
        let bg = match kind {
            QueryKind::Bootstrap { bg, .. } | QueryKind::Refresh { bg, .. } => bg,
            QueryKind::User => self.cfg.concurrency,
        };
        if self.queries.len() >= self.cfg.limits.max_queries {
            return None;
        }
        let spec = QuerySpec { concurrency: Some(bg), ..QuerySpec::find_node(target) };
        Some(self.start_query(spec, kind, now_ms))
    }

    pub(super) fn nat_add(&mut self, to: SocketAddrV4) {
        self.nat.add(*to.ip(), to.port());
    }

    /// JS `_sampleBootstrapMaybe`: at most one sample per bootstrap node from id-less repliers.
    fn sample_bootstrap_maybe(&mut self, from: SocketAddrV4, to: SocketAddrV4) {
        if self.none_persistent_samples.len() >= self.cfg.bootstrap.len().max(1) {
            return;
        }
        if self.none_persistent_samples.contains(&from) {
            return;
        }
        self.none_persistent_samples.push(from);
        self.nat_add(to);
    }
}
