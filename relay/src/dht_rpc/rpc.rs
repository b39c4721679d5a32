//! [`Rpc`]: one dht-rpc node (`dht-rpc index.js` + `lib/io.js`), sans-IO.
//!
//! The driver binds the main UDP socket, builds the node with the bound port, then loops:
//! datagrams in through [`Rpc::handle_datagram`], [`Rpc::handle_timeout`] at
//! [`Rpc::poll_timeout`], and after each call drains [`Rpc::poll_transmit`] and
//! [`Rpc::poll_event`]. The behaviour behind it lives in `handlers.rs` (incoming datagrams,
//! internal commands), `queries.rs`, `maintenance.rs` (routing table upkeep, ticks) and
//! `network.rs` (bootstrap, NAT sampling, firewall check, becoming persistent).

use super::congestion::DEFAULT_MAX_WINDOW;
use super::errors::RpcError;
use super::io::{Io, NewRequest, Owner};
use super::messages::{self, Message, RequestMessage, ResponseMessage};
use super::nat::NatSampler;
use super::network::{Boot, NetCheck};
use super::query::{Query, QuerySpec, DEFAULT_CONCURRENCY};
use super::rate_limit::{RateLimit, RateLimiter};
use super::rng::Rng;
use super::table::{Table, K};
use super::token::Tokens;
pub use super::types::{
    IncomingRequest, OutgoingRequest, QueryId, ReplySpec, RequestId, Response, RpcEvent, RpcStats,
};
use super::{commands, peer, NodeId, SocketKind, Transmit};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

pub(super) const TICK_INTERVAL_MS: u64 = 5000;

/// Local caps on what strangers (or a busy application) can make the node hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests in flight or waiting for the congestion window.
    pub max_requests: usize,
    /// Concurrent queries (user and background).
    pub max_queries: usize,
    /// DELAYED_PING replies waiting for their time.
    pub max_delayed_pings: usize,
    /// Undelivered [`RpcEvent::Request`]s (more are dropped and counted).
    pub max_pending_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_requests: 2048, max_queries: 128, max_delayed_pings: 256, max_pending_requests: 4096 }
    }
}

/// How to run the node.
#[derive(Debug, Clone)]
pub struct RpcOptions {
    /// Bootstrap nodes (resolved addresses).
    pub bootstrap: Vec<SocketAddrV4>,
    /// `Some(true)`: never send an id (default). `Some(false)`: be persistent — at once when
    /// `firewalled` is false and `host` is a concrete address (what `hyperdht/testnet` nodes and
    /// `DHT.bootstrapper` do), else after the bootstrap query once the NAT sample is consistent.
    /// `None`: adaptive, as JS's default — start ephemeral, become persistent after ~20 stable
    /// minutes if the firewall check passes.
    pub ephemeral: Option<bool>,
    /// Assume the main socket is unreachable until checked (JS default: true).
    pub firewalled: bool,
    /// The host the main socket is bound to (`0.0.0.0` when unknown). With `ephemeral:
    /// Some(false)` and `firewalled: false` a concrete host is taken as the address others see
    /// (the id becomes `hash(host:port)` at once), so it must be the public one.
    pub host: Ipv4Addr,
    /// The main socket's bound port.
    pub port: u16,
    /// Nodes to put in the routing table at start.
    pub nodes: Vec<SocketAddrV4>,
    /// Query concurrency (JS default 10; background queries use max(2, this / 8)).
    pub concurrency: usize,
    /// Congestion window per 750 ms slot (JS default 80).
    pub max_window: u32,
    /// Longest DELAYED_PING honoured (JS default 10 s).
    pub max_ping_delay_ms: u32,
    /// Per-attempt request timeout (JS default 1000 ms; JS's adaptive timeouts are not used).
    pub request_timeout_ms: u64,
    /// Send one PING_NAT during bootstrap to decide early whether to run the firewall check.
    pub quick_firewall: bool,
    /// Send DOWN_HINTs for nodes that time out in queries.
    pub send_down_hints: bool,
    /// DOWN_HINTs per 5 s tick (`None` = unlimited; JS default 50).
    pub down_hints_rate_limit: Option<u32>,
    /// Per-host limit on incoming requests.
    pub rate_limit: RateLimit,
    /// Caps.
    pub limits: Limits,
    /// Nodes to ignore (hyperdht's `filterNode`).
    pub filter_node: Option<fn(SocketAddrV4) -> bool>,
    /// Seed for the node's randomness (random table id, first tid, token secrets, tick offsets);
    /// `None` takes one from the OS. Tests only.
    pub seed: Option<[u8; 32]>,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            bootstrap: Vec::new(),
            ephemeral: Some(true),
            firewalled: true,
            host: Ipv4Addr::UNSPECIFIED,
            port: 0,
            nodes: Vec::new(),
            concurrency: DEFAULT_CONCURRENCY,
            max_window: DEFAULT_MAX_WINDOW,
            max_ping_delay_ms: 10_000,
            request_timeout_ms: 1000,
            quick_firewall: true,
            send_down_hints: true,
            down_hints_rate_limit: Some(50),
            rate_limit: RateLimit::default(),
            limits: Limits::default(),
            filter_node: None,
            seed: None,
        }
    }
}

pub(super) enum QueryKind {
    User,
    Bootstrap { full: usize, bg: usize },
    Refresh { full: usize, bg: usize },
}

pub(super) struct QueryEntry {
    pub(super) q: Query,
    pub(super) kind: QueryKind,
}

pub(super) struct DelayedReply {
    pub(super) tid: u16,
    pub(super) to: SocketAddrV4,
    pub(super) socket: SocketKind,
}

/// One dht-rpc node.
pub struct Rpc {
    /// The options it was made with (`concurrency` at least 1).
    pub(super) cfg: RpcOptions,
    pub(super) io: Io,
    pub(super) table: Table,
    pub(super) nat: NatSampler,
    pub(super) rng: Rng,
    pub(super) ephemeral: bool,
    pub(super) firewalled: bool,
    pub(super) adaptive: bool,
    pub(super) force_persistent: bool,
    pub(super) bootstrapped: bool,
    pub(super) destroyed: bool,
    pub(super) queries: HashMap<QueryId, QueryEntry>,
    pub(super) next_query: u64,
    pub(super) next_request: u64,
    pub(super) queries_total: u64,
    pub(super) tick: u64,
    pub(super) refresh_ticks: i64,
    pub(super) stable_ticks: i64,
    pub(super) next_tick_ms: u64,
    pub(super) last_tick_ms: u64,
    pub(super) last_host: Option<Ipv4Addr>,
    pub(super) repinging: usize,
    pub(super) checks: usize,
    pub(super) down_hints_sent: u32,
    pub(super) none_persistent_samples: Vec<SocketAddrV4>,
    pub(super) delayed: BTreeMap<(u64, u64), DelayedReply>,
    pub(super) delayed_seq: u64,
    pub(super) boot: Boot,
    pub(super) netcheck: Option<NetCheck>,
    pub(super) probe_open: bool,
    pub(super) rate: RateLimiter,
    pub(super) events: VecDeque<RpcEvent>,
    pub(super) stats: RpcStats,
    /// The latest time any entry point was given.
    pub(super) now_ms: u64,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rpc")
            .field("table_id", &hex::encode(self.table.id()))
            .field("ephemeral", &self.ephemeral)
            .field("firewalled", &self.firewalled)
            .field("bootstrapped", &self.bootstrapped)
            .field("table_size", &self.table.len())
            .finish_non_exhaustive()
    }
}

impl Rpc {
    /// A node; starts bootstrapping at once (the first transmits are ready to poll).
    pub fn new(mut opts: RpcOptions, now_ms: u64) -> Self {
        opts.concurrency = opts.concurrency.max(1);
        let mut rng = opts.seed.map_or_else(Rng::from_os, Rng::from_seed);
        let table = Table::new(rng.bytes32(), K);
        let tokens = Tokens::new(rng.bytes32(), rng.bytes32());
        let first_tid = rng.u64() as u16;
        let io = Io::new(
            opts.max_window,
            tokens,
            first_tid,
            opts.request_timeout_ms,
            opts.limits.max_requests,
            now_ms,
        );
        let adaptive = opts.ephemeral.is_none();
        let tick = 100 - rng.below(50);
        let refresh_ticks = 60 - rng.below(30) as i64;
        let mut rpc = Rpc {
            io,
            table,
            nat: NatSampler::new(),
            rng,
            ephemeral: true,
            firewalled: opts.firewalled,
            adaptive,
            force_persistent: opts.ephemeral == Some(false),
            bootstrapped: false,
            destroyed: false,
            queries: HashMap::new(),
            next_query: 1,
            next_request: 1,
            queries_total: 0,
            tick,
            refresh_ticks,
            stable_ticks: if adaptive { super::network::STABLE_TICKS } else { 0 },
            next_tick_ms: now_ms + TICK_INTERVAL_MS,
            last_tick_ms: now_ms,
            last_host: None,
            repinging: 0,
            checks: 0,
            down_hints_sent: 0,
            none_persistent_samples: Vec::new(),
            delayed: BTreeMap::new(),
            delayed_seq: 0,
            boot: Boot::default(),
            netcheck: None,
            probe_open: false,
            rate: RateLimiter::new(opts.rate_limit),
            events: VecDeque::new(),
            stats: RpcStats::default(),
            now_ms,
            cfg: opts,
        };
        for addr in std::mem::take(&mut rpc.cfg.nodes).into_iter().rev() {
            rpc.add_node(addr);
        }
        let (host, port) = (rpc.cfg.host, rpc.cfg.port);
        if rpc.force_persistent && !rpc.firewalled && !host.is_unspecified() {
            rpc.persist_at(SocketAddrV4::new(host, port));
        }
        rpc.start_bootstrap(now_ms);
        rpc
    }

    /// Feeds one datagram that arrived on `socket` from `from`. Anything that is not a
    /// well-formed dht-rpc message is dropped and counted.
    pub fn handle_datagram(&mut self, from: SocketAddrV4, socket: SocketKind, bytes: &[u8], now_ms: u64) {
        if self.destroyed {
            return;
        }
        self.now_ms = self.now_ms.max(now_ms);
        if bytes.len() < 2 || from.port() == 0 {
            self.stats.malformed += 1;
            return;
        }
        if bytes[0] == messages::REQUEST_ID && !self.rate.allow(*from.ip(), now_ms) {
            self.stats.rate_limited += 1;
            return;
        }
        match messages::decode(bytes) {
            Ok(Message::Request(req)) => self.on_request(req, from, socket, now_ms),
            Ok(Message::Response(res)) => self.on_response(res, from, socket, now_ms),
            Err(_) => self.stats.malformed += 1,
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.io.poll_transmit()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<RpcEvent> {
        self.events.pop_front()
    }

    /// When [`Rpc::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.destroyed {
            return None;
        }
        let mut t = self.io.next_deadline().min(self.next_tick_ms);
        if let Some((&(at, _), _)) = self.delayed.first_key_value() {
            t = t.min(at);
        }
        Some(t)
    }

    /// Runs timers due at `now_ms`: retries and timeouts, the 750 ms drain, delayed pings and
    /// the 5 s maintenance tick.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.destroyed {
            return;
        }
        self.now_ms = self.now_ms.max(now_ms);
        self.expire_requests(now_ms);
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            let r = entry.remove();
            self.send_reply(r.tid, r.to, r.socket, None, 0, None, false);
        }
        if now_ms >= self.next_tick_ms {
            self.next_tick_ms += TICK_INTERVAL_MS;
            if self.next_tick_ms <= now_ms {
                self.next_tick_ms = now_ms + TICK_INTERVAL_MS;
            }
            self.on_tick(now_ms);
        }
    }

    /// Sends a request; the outcome is [`RpcEvent::Response`] or [`RpcEvent::RequestFailed`].
    pub fn request(&mut self, req: OutgoingRequest, now_ms: u64) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.now_ms = self.now_ms.max(now_ms);
        if self.destroyed {
            self.events.push_back(RpcEvent::RequestFailed { id, error: RpcError::Destroyed });
            return id;
        }
        let new = NewRequest {
            to: req.to,
            to_id: None,
            socket: req.socket,
            id: self.id_for(req.socket),
            token: req.token,
            internal: req.internal,
            command: req.command,
            target: req.target,
            value: req.value,
            retries: if req.retry { 3 } else { 0 },
            timeout_ms: req.timeout_ms,
            force: false,
            owner: Owner::User(id),
        };
        if req.socket == SocketKind::Probe {
            self.probe_open = true;
        }
        if let Err(error) = self.io.create(new, now_ms) {
            self.events.push_back(RpcEvent::RequestFailed { id, error });
        }
        id
    }

    /// Drops a request made with [`Rpc::request`]; no event follows.
    pub fn cancel_request(&mut self, id: RequestId) {
        self.io.cancel_where(|r| matches!(r.owner, Owner::User(x) if x == id));
    }

    /// JS `dht.ping(addr)`.
    pub fn ping(&mut self, to: SocketAddrV4, now_ms: u64) -> RequestId {
        self.request(OutgoingRequest::ping(to), now_ms)
    }

    /// JS `dht.delayedPing(addr, delay)`: the reply comes after `delay_ms` (timeout extended).
    pub fn delayed_ping(&mut self, to: SocketAddrV4, delay_ms: u32, now_ms: u64) -> RequestId {
        let req = OutgoingRequest {
            internal: true,
            value: Some(delay_ms.to_le_bytes().to_vec()),
            timeout_ms: Some(u64::from(delay_ms) + 1000),
            ..OutgoingRequest::new(to, commands::DELAYED_PING)
        };
        self.request(req, now_ms)
    }

    /// Starts a query; events [`RpcEvent::QueryReply`]* then [`RpcEvent::QueryDone`].
    pub fn query(&mut self, spec: QuerySpec, now_ms: u64) -> QueryId {
        self.now_ms = self.now_ms.max(now_ms);
        self.refresh_ticks = super::maintenance::REFRESH_TICKS;
        self.start_query(spec, QueryKind::User, now_ms)
    }

    /// Stops a query; its requests are dropped and no further event follows.
    pub fn destroy_query(&mut self, id: QueryId) {
        if self.queries.remove(&id).is_some() {
            self.drop_query_requests(id);
        }
    }

    /// Answers a request (any time after it arrived).
    pub fn reply(&mut self, req: &IncomingRequest, reply: ReplySpec) {
        if self.destroyed {
            return;
        }
        let to = reply.to.unwrap_or(req.from);
        let socket = reply.socket.unwrap_or(req.socket);
        let target = if reply.closer_nodes { req.target } else { None };
        self.send_reply(req.tid, to, socket, target, reply.error, reply.value, reply.token);
    }

    /// JS `req.relay(value, to)`: forwards the request (same tid, command, target and internal
    /// flag, no token, new value) to `to`, from the socket it arrived on. The final node answers
    /// the original requester directly.
    pub fn relay(&mut self, req: &IncomingRequest, value: Option<Vec<u8>>, to: SocketAddrV4) {
        if self.destroyed {
            return;
        }
        let msg = RequestMessage {
            tid: req.tid,
            to,
            id: self.id_for(req.socket),
            token: None,
            internal: req.internal,
            command: req.command,
            target: req.target,
            value,
        };
        self.io.push_transmit(Transmit { to, socket: req.socket, bytes: msg.encode() });
    }

    /// Adds a node to the routing table (JS `addNode`).
    pub fn add_node(&mut self, addr: SocketAddrV4) {
        let node = super::table::Node::new(peer::id(&addr), addr);
        self.add_table_node(node);
    }

    /// Starts a background FIND_NODE refresh (JS `refresh()`).
    pub fn refresh(&mut self, now_ms: u64) {
        self.start_refresh(now_ms);
    }

    /// Stops everything: pending requests fail with `Destroyed`, user queries end with it.
    pub fn destroy(&mut self) {
        if self.destroyed {
            return;
        }
        self.destroyed = true;
        for req in self.io.clear() {
            if let Owner::User(id) = req.owner {
                self.events.push_back(RpcEvent::RequestFailed { id, error: RpcError::Destroyed });
            }
        }
        let mut ids: Vec<QueryId> = self.queries.keys().copied().collect();
        ids.sort();
        for id in ids {
            if let Some(entry) = self.queries.remove(&id) {
                if matches!(entry.kind, QueryKind::User) {
                    let error = Some(RpcError::Destroyed);
                    self.events.push_back(RpcEvent::QueryDone { id, closest: Vec::new(), error });
                }
            }
        }
        self.delayed.clear();
        self.netcheck = None;
        if self.probe_open {
            self.probe_open = false;
            self.events.push_back(RpcEvent::CloseProbe);
        }
    }

    /// Our id while persistent (JS `dht.id`), else `None`.
    pub fn id(&self) -> Option<NodeId> {
        (!self.ephemeral).then_some(*self.table.id())
    }

    /// The routing table's id (random until persistent).
    pub fn table_id(&self) -> NodeId {
        *self.table.id()
    }

    /// Whether the node sends no id.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Whether the main socket is believed unreachable.
    pub fn is_firewalled(&self) -> bool {
        self.firewalled
    }

    /// Whether the bootstrap query has finished.
    pub fn is_bootstrapped(&self) -> bool {
        self.bootstrapped
    }

    /// The sampled public host and port (port 0: host consistent, port random).
    pub fn nat_address(&self) -> (Option<Ipv4Addr>, u16) {
        (self.nat.host(), self.nat.port())
    }

    /// JS `remoteAddress()`: our public address if the NAT sample is consistent, the node is not
    /// firewalled and the public port equals the bound port.
    pub fn remote_address(&self) -> Option<SocketAddrV4> {
        let host = self.nat.host()?;
        let port = self.nat.port();
        if port == 0 || self.firewalled || port != self.cfg.port {
            return None;
        }
        Some(SocketAddrV4::new(host, port))
    }

    /// The `k` routing-table nodes nearest to `target`, nearest first (what replies carry as
    /// closer nodes). JS lists `kademlia-routing-table`'s row-order approximation instead, which
    /// can leave out nodes nearer than the ones it lists; the exact set is never worse for the
    /// asker.
    pub fn closest_nodes(&self, target: &[u8; 32], k: usize) -> Vec<SocketAddrV4> {
        self.table.closest_exact(target, k).into_iter().map(|n| n.addr).collect()
    }

    /// Routing-table nodes, most recently seen first (JS `toArray()`), at most `limit`.
    pub fn nodes(&self, limit: usize) -> Vec<SocketAddrV4> {
        self.table.latest(limit).iter().filter_map(|id| self.table.get(id)).map(|n| n.addr).collect()
    }

    /// Whether a node with this address is in the routing table.
    pub fn has_node(&self, addr: &SocketAddrV4) -> bool {
        self.table.get(&peer::id(addr)).is_some_and(|n| n.addr == *addr)
    }

    /// The token `host` is handed now (fuzzing and tests: requests carrying it pass the check).
    #[doc(hidden)]
    pub fn current_token(&self, host: std::net::Ipv4Addr) -> super::Token {
        self.io.tokens.current(host)
    }

    /// Counters and sizes.
    pub fn stats(&self) -> RpcStats {
        let mut s = self.stats.clone();
        s.io = self.io.stats;
        s.requests_active = self.io.len();
        s.requests_queued = self.io.queued_len();
        s.queries_active = self.queries.len();
        s.queries_total = self.queries_total;
        s.query_seen_max = self.queries.values().map(|e| e.q.seen_len()).max().unwrap_or(0);
        s.table_size = self.table.len();
        s.delayed_pings = self.delayed.len();
        s.checks = self.checks;
        s.repinging = self.repinging;
        s.rate_limited_hosts = self.rate.tracked_hosts();
        s.events_queued = self.events.len();
        s.transmits_queued = self.io.transmits_len();
        s.transmits_dropped = self.io.dropped_transmits;
        s
    }

    /// The id this node puts in datagrams leaving `socket` (persistent nodes, main socket only).
    pub(super) fn id_for(&self, socket: SocketKind) -> Option<NodeId> {
        (!self.ephemeral && socket == SocketKind::Main).then_some(*self.table.id())
    }

    /// Encodes and queues a reply (JS `_sendReply`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_reply(
        &mut self,
        tid: u16,
        to: SocketAddrV4,
        socket: SocketKind,
        closer_target: Option<[u8; 32]>,
        error: u64,
        value: Option<Vec<u8>>,
        token: bool,
    ) {
        let msg = self.reply_message(tid, to, socket, closer_target, error, value, token);
        self.io.send_response(&msg, socket);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn reply_message(
        &self,
        tid: u16,
        to: SocketAddrV4,
        socket: SocketKind,
        closer_target: Option<[u8; 32]>,
        error: u64,
        value: Option<Vec<u8>>,
        token: bool,
    ) -> ResponseMessage {
        let closer_nodes = closer_target.map_or_else(Vec::new, |t| self.closest_nodes(&t, self.table.k()));
        ResponseMessage {
            tid,
            to,
            id: self.id_for(socket),
            token: token.then(|| self.io.tokens.current(*to.ip())),
            closer_nodes,
            error,
            value,
        }
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
