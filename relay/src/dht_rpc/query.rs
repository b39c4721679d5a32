//! The iterative query (`lib/query.js`) as a state machine driven by [`super::Rpc`].
//!
//! Seeds come from the caller's `nodes`, else from the routing table, topped up with the
//! bootstrap nodes when fewer than k. Candidates are visited at most `concurrency` at a time
//! (3 while a seeded query waits for its first answers; one more for every request that is
//! retrying). Each reply's closer nodes (ids computed as `hash(addr)`) are queued while they are
//! closer to the target than the k-th best reply so far. A reply counts among the closest only if
//! it has no error and a validated id. A timed-out node is marked down and the nodes that told us
//! about it get a DOWN_HINT. When nothing is left to ask the query is done and hands back its
//! closest replies; committing to them (e.g. hyperdht's ANNOUNCE) is the caller's business.

use super::peer::{self, cmp_distance};
use super::rpc::Response;
use super::table::Table;
use super::NodeId;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::SocketAddrV4;

/// JS's default query concurrency.
pub const DEFAULT_CONCURRENCY: usize = 10;
/// Retries per visited node (JS: 5, or 3 for DOWN_HINT queries).
pub const DEFAULT_RETRIES: u32 = 5;
/// Addresses one query remembers (a local cap: hostile closer-node lists cannot grow it further).
pub const MAX_SEEN: usize = 2048;

/// What to ask and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    /// The key the query converges on.
    pub target: [u8; 32],
    /// Command sent to every visited node.
    pub command: u64,
    /// dht-rpc's own command (FIND_NODE, DOWN_HINT) rather than an application command.
    pub internal: bool,
    /// Payload sent to every visited node.
    pub value: Option<Vec<u8>>,
    /// Parallel requests (default 10).
    pub concurrency: Option<usize>,
    /// Retries per node (default 5; 3 for internal DOWN_HINT).
    pub retries: Option<u32>,
    /// Start from these nodes instead of the routing table (JS `nodes` / `closestNodes`).
    pub nodes: Vec<SocketAddrV4>,
    /// Ask only the seed nodes, never the closer nodes they return (JS `onlyClosestNodes`).
    pub only_closest_nodes: bool,
    /// Bypass the congestion window, no retries (JS `force`).
    pub force: bool,
    /// Wait for retrying requests to nodes that could still be among the k closest. JS (and
    /// the default here) finishes as soon as every request in flight is retrying and k replies
    /// are in, which on a lossy network can leave out a close node whose first datagram was
    /// lost; this waits for it (up to its retries) instead.
    pub exhaustive: bool,
}

impl QuerySpec {
    /// A FIND_NODE query (internal command 2).
    pub fn find_node(target: [u8; 32]) -> Self {
        QuerySpec::command(super::commands::FIND_NODE, target, None).internal()
    }

    /// An application (non-internal) command query.
    pub fn command(command: u64, target: [u8; 32], value: Option<Vec<u8>>) -> Self {
        QuerySpec {
            target,
            command,
            internal: false,
            value,
            concurrency: None,
            retries: None,
            nodes: Vec::new(),
            only_closest_nodes: false,
            force: false,
            exhaustive: false,
        }
    }

    fn internal(mut self) -> Self {
        self.internal = true;
        self
    }
}

/// A node to visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) id: NodeId,
    pub(crate) addr: SocketAddrV4,
}

impl Candidate {
    pub(crate) fn at(addr: SocketAddrV4) -> Self {
        Candidate { id: peer::id(&addr), addr }
    }
}

#[derive(Debug, Clone)]
enum Seen {
    /// Queued or in flight; the nodes that referred us to it.
    Refs(Vec<SocketAddrV4>),
    Done,
    Down,
}

/// One query's state.
#[derive(Debug)]
pub(crate) struct Query {
    pub(crate) target: [u8; 32],
    pub(crate) command: u64,
    pub(crate) internal: bool,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) retries: u32,
    pub(crate) force: bool,
    pub(crate) concurrency: usize,
    k: usize,
    pub(crate) closest: Vec<Response>,
    seen: HashMap<SocketAddrV4, Seen>,
    pending: Vec<Candidate>,
    pub(crate) inflight: usize,
    /// Ids of the nodes being visited (for `exhaustive`).
    visiting: HashMap<SocketAddrV4, NodeId>,
    exhaustive: bool,
    slow: usize,
    slowdown: bool,
    from_table: bool,
    pub(crate) successes: usize,
    pub(crate) errors: usize,
    only_closest: bool,
    pub(crate) finished: bool,
    down_hints: Vec<(SocketAddrV4, SocketAddrV4)>,
}

impl Query {
    pub(crate) fn new(spec: QuerySpec, k: usize, default_concurrency: usize) -> Self {
        let retries =
            spec.retries.unwrap_or(if spec.internal && spec.command == super::commands::DOWN_HINT {
                3
            } else {
                DEFAULT_RETRIES
            });
        let mut q = Query {
            target: spec.target,
            command: spec.command,
            internal: spec.internal,
            value: spec.value,
            retries,
            force: spec.force,
            concurrency: spec.concurrency.unwrap_or(default_concurrency).max(1),
            k: k.max(1),
            closest: Vec::new(),
            seen: HashMap::new(),
            pending: Vec::new(),
            inflight: 0,
            visiting: HashMap::new(),
            exhaustive: spec.exhaustive,
            slow: 0,
            slowdown: false,
            from_table: false,
            successes: 0,
            errors: 0,
            only_closest: false,
            finished: false,
            down_hints: Vec::new(),
        };
        // Added in reverse: the pending list is popped from the end.
        for addr in spec.nodes.iter().rev() {
            q.add_pending(Candidate::at(*addr), None);
        }
        q.only_closest = spec.only_closest_nodes;
        q
    }

    /// JS `_open`: seeds from the table, then the bootstrap nodes if still short of k.
    pub(crate) fn open(&mut self, table: &Table, bootstrap: &[SocketAddrV4]) {
        self.add_from_table(table);
        if self.pending.len() >= self.k {
            return;
        }
        for addr in bootstrap {
            self.add_pending(Candidate::at(*addr), None);
        }
    }

    fn add_from_table(&mut self, table: &Table) {
        if self.pending.len() >= self.k {
            return;
        }
        self.from_table = true;
        let want = self.k - self.pending.len();
        let nodes: Vec<Candidate> = table
            .closest_exact(&self.target, want)
            .into_iter()
            .map(|n| Candidate { id: n.id, addr: n.addr })
            .collect();
        for c in nodes {
            self.add_pending(c, None);
        }
    }

    fn is_closer(&self, id: &NodeId) -> bool {
        match self.closest.last() {
            Some(worst) if self.closest.len() >= self.k => {
                worst.from_id.is_none_or(|w| cmp_distance(&self.target, id, &w) == Ordering::Less)
            }
            _ => true,
        }
    }

    /// JS `_addPending`: whether the node is still worth following (false stops the caller's walk
    /// through a closer-node list).
    fn add_pending(&mut self, node: Candidate, referrer: Option<SocketAddrV4>) -> bool {
        if self.only_closest {
            return false;
        }
        let closer = self.is_closer(&node.id);
        match self.seen.get_mut(&node.addr) {
            Some(Seen::Done) => return closer,
            Some(Seen::Down) => {
                if let Some(r) = referrer {
                    self.down_hints.push((r, node.addr));
                }
                return closer;
            }
            Some(Seen::Refs(refs)) => {
                if let Some(r) = referrer {
                    if refs.len() < 64 {
                        refs.push(r);
                    }
                }
                return closer;
            }
            None => {}
        }
        if !closer || self.seen.len() >= MAX_SEEN {
            return false;
        }
        self.seen.insert(node.addr, Seen::Refs(referrer.into_iter().collect()));
        self.pending.push(node);
        true
    }

    /// JS `_readMore`: the nodes to visit now (each counted in flight). Marks the query
    /// finished when nothing is pending and nothing worth waiting for is in flight.
    pub(crate) fn read_more(&mut self, table: &Table) -> Vec<Candidate> {
        let mut visits = Vec::new();
        self.read_more_into(table, &mut visits);
        visits
    }

    fn read_more_into(&mut self, table: &Table, visits: &mut Vec<Candidate>) {
        if self.finished {
            return;
        }
        let concurrency = if self.slowdown { 3 } else { self.concurrency } + self.slow;
        while self.inflight < concurrency {
            let Some(next) = self.pending.pop() else { break };
            if !self.is_closer(&next.id) {
                continue;
            }
            self.inflight += 1;
            self.visiting.insert(next.addr, next.id);
            visits.push(next);
        }
        if !self.from_table && self.successes == 0 && self.errors == 0 {
            self.slowdown = true;
        }
        if !self.pending.is_empty() {
            return;
        }
        let stragglers_matter = self.exhaustive && self.visiting.values().any(|id| self.is_closer(id));
        if self.inflight == 0
            || (self.slow == self.inflight && self.closest.len() >= self.k && !stragglers_matter)
        {
            if !self.from_table && self.successes * 4 < self.k {
                self.add_from_table(table);
                self.read_more_into(table, visits);
                return;
            }
            self.finished = true;
        }
    }

    fn dec(&mut self, visited: SocketAddrV4, cycled: bool) {
        self.visiting.remove(&visited);
        if cycled {
            self.slow = self.slow.saturating_sub(1);
        }
        self.inflight = self.inflight.saturating_sub(1);
    }

    /// A visited node's reply. Returns whether it is a result (no error) to hand out.
    pub(crate) fn on_reply(
        &mut self,
        visited: SocketAddrV4,
        cycled: bool,
        res: &Response,
        table_id: &NodeId,
        filter: Option<fn(SocketAddrV4) -> bool>,
    ) -> bool {
        self.dec(visited, cycled);
        self.seen.insert(visited, Seen::Done);
        if self.finished {
            return false;
        }
        if res.error == 0 {
            self.successes += 1;
        } else {
            self.errors += 1;
        }
        if res.error == 0 {
            if let Some(id) = res.from_id {
                if self.is_closer(&id) {
                    self.push_closest(res.clone());
                }
            }
        }
        // JS replies carry at most k closer nodes (more are ignored: a local bound), in the
        // responder's row order. JS walks them in that order and stops at the first one that is
        // not closer than our k-th best, which can skip closer ones listed after it (its own
        // TODO notes this); sorting them by distance first makes the early stop exact.
        let mut closer: Vec<Candidate> = res
            .closer_nodes
            .iter()
            .take(self.k)
            .filter(|a| a.port() != 0 && !a.ip().is_unspecified())
            .filter(|a| filter.is_none_or(|f| f(**a)))
            .map(|a| Candidate::at(*a))
            .filter(|c| c.id != *table_id)
            .collect();
        closer.sort_by(|a, b| cmp_distance(&self.target, &a.id, &b.id));
        for c in closer {
            if !self.add_pending(c, Some(res.from)) {
                break;
            }
        }
        if !self.from_table && self.successes + self.errors >= self.concurrency {
            self.slowdown = false;
        }
        res.error == 0
    }

    /// A visited node's request failed (`timeout`: no reply after the retries).
    pub(crate) fn on_error(&mut self, visited: SocketAddrV4, cycled: bool, timeout: bool) {
        if timeout {
            if let Some(Seen::Refs(refs)) = self.seen.insert(visited, Seen::Down) {
                self.down_hints.extend(refs.into_iter().map(|r| (r, visited)));
            }
        }
        self.dec(visited, cycled);
        self.errors += 1;
    }

    /// A request of this query timed out once and is being retried (counts as slow).
    pub(crate) fn on_cycle(&mut self) {
        self.slow += 1;
    }

    /// DOWN_HINTs to send: `(to, down)`.
    pub(crate) fn take_down_hints(&mut self) -> Vec<(SocketAddrV4, SocketAddrV4)> {
        std::mem::take(&mut self.down_hints)
    }

    /// Number of remembered addresses (for bounds checks).
    pub(crate) fn seen_len(&self) -> usize {
        self.seen.len()
    }

    fn push_closest(&mut self, m: Response) {
        let Some(id) = m.from_id else { return };
        let mut pos = self.closest.len();
        while pos > 0 {
            let prev = self.closest[pos - 1].from_id.unwrap_or([0xff; 32]);
            match cmp_distance(&self.target, &prev, &id) {
                Ordering::Less => break,
                Ordering::Equal => return,
                Ordering::Greater => pos -= 1,
            }
        }
        self.closest.insert(pos, m);
        self.closest.truncate(self.k);
    }
}

#[cfg(test)]
mod tests;
