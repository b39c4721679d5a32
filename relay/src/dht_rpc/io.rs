//! Requests in flight (`lib/io.js`): transaction ids, per-request timeouts and retries, the
//! congestion window with its 750 ms drain, token secrets, and the outgoing datagram queue.
//! Responses are matched to requests by tid alone, as JS does (a relayed request is answered by a
//! node other than the one asked).

use super::congestion::{CongestionWindow, DRAIN_INTERVAL_MS};
use super::errors::RpcError;
use super::messages::{RequestMessage, ResponseMessage};
use super::rpc::{QueryId, RequestId};
use super::table::Node;
use super::token::Tokens;
use super::{NodeId, SocketKind, Token, Transmit};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddrV4;

/// Who waits for a request's outcome.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    /// [`super::Rpc::request`].
    User(RequestId),
    /// A query's visit.
    Query(QueryId),
    /// A DOWN_HINT a query sent (dropped with the query).
    QueryAux(QueryId),
    /// A liveness check (`_check`): ping tick, DOWN_HINT.
    Check { id: NodeId, last_seen: u64 },
    /// A full row's stalest node, pinged before `new_node` may replace it.
    Swap { old: NodeId, last_seen: u64, new_node: Box<Node> },
    /// The quick PING_NAT during bootstrap.
    QuickNat,
    /// A PING_NAT of the firewall check.
    Firewall,
}

/// One request in flight (or waiting for the congestion window).
#[derive(Debug)]
pub(crate) struct Inflight {
    pub(crate) tid: u16,
    pub(crate) to: SocketAddrV4,
    /// The id we expect there (query visits): a timeout removes it from the table.
    pub(crate) to_id: Option<NodeId>,
    pub(crate) socket: SocketKind,
    bytes: Vec<u8>,
    pub(crate) sent: u32,
    pub(crate) retries: u32,
    timeout_ms: u64,
    deadline: Option<u64>,
    queued: bool,
    /// Timed out at least once and was retried.
    pub(crate) cycled: bool,
    pub(crate) internal: bool,
    pub(crate) command: u64,
    pub(crate) owner: Owner,
    pub(crate) started_ms: u64,
}

/// What to send.
pub(crate) struct NewRequest {
    pub(crate) to: SocketAddrV4,
    pub(crate) to_id: Option<NodeId>,
    pub(crate) socket: SocketKind,
    /// Our id, if the request carries it.
    pub(crate) id: Option<NodeId>,
    pub(crate) token: Option<Token>,
    pub(crate) internal: bool,
    pub(crate) command: u64,
    pub(crate) target: Option<[u8; 32]>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) retries: u32,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) force: bool,
    pub(crate) owner: Owner,
}

/// A request's deadline passed.
#[derive(Debug)]
pub(crate) enum Expired {
    /// First timeout; it is being retried.
    FirstCycle(u16),
    /// Out of retries: removed.
    Failed(Inflight),
}

/// Counters of `stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Requests created.
    pub total: u64,
    /// Responses matched.
    pub responses: u64,
    /// Requests that ran out of retries.
    pub timeouts: u64,
    /// Retransmissions.
    pub retries: u64,
    /// Internal requests sent, by command (PING, PING_NAT, FIND_NODE, DOWN_HINT, DELAYED_PING).
    pub commands_tx: [u64; 5],
    /// Replies to those.
    pub commands_rx: [u64; 5],
}

pub(crate) struct Io {
    next_tid: u16,
    inflight: HashMap<u16, Inflight>,
    timers: BTreeSet<(u64, u16)>,
    queue: VecDeque<u16>,
    congestion: CongestionWindow,
    pub(crate) tokens: Tokens,
    transmits: VecDeque<Transmit>,
    next_drain: u64,
    default_timeout_ms: u64,
    max_requests: usize,
    max_transmits: usize,
    pub(crate) stats: IoStats,
    pub(crate) dropped_transmits: u64,
}

impl Io {
    pub(crate) fn new(
        max_window: u32,
        tokens: Tokens,
        first_tid: u16,
        default_timeout_ms: u64,
        max_requests: usize,
        now_ms: u64,
    ) -> Self {
        Io {
            next_tid: first_tid,
            inflight: HashMap::new(),
            timers: BTreeSet::new(),
            queue: VecDeque::new(),
            congestion: CongestionWindow::new(max_window),
            tokens,
            transmits: VecDeque::new(),
            next_drain: now_ms + DRAIN_INTERVAL_MS,
            default_timeout_ms: default_timeout_ms.max(1),
            max_requests: max_requests.clamp(1, 60_000),
            max_transmits: 16_384,
            stats: IoStats::default(),
            dropped_transmits: 0,
        }
    }

    /// Requests in flight or queued.
    pub(crate) fn len(&self) -> usize {
        self.inflight.len()
    }

    pub(crate) fn queued_len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn transmits_len(&self) -> usize {
        self.transmits.len()
    }

    pub(crate) fn get(&self, tid: u16) -> Option<&Inflight> {
        self.inflight.get(&tid)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Inflight> {
        self.inflight.values()
    }

    pub(crate) fn create(&mut self, req: NewRequest, now_ms: u64) -> Result<u16, RpcError> {
        if self.inflight.len() >= self.max_requests {
            return Err(RpcError::Overloaded);
        }
        let mut tid = self.next_tid;
        while self.inflight.contains_key(&tid) {
            tid = tid.wrapping_add(1);
        }
        self.next_tid = tid.wrapping_add(1);
        let bytes = RequestMessage {
            tid,
            to: req.to,
            id: req.id,
            token: req.token,
            internal: req.internal,
            command: req.command,
            target: req.target,
            value: req.value,
        }
        .encode();
        if req.internal {
            if let Some(n) = usize::try_from(req.command).ok().and_then(|c| self.stats.commands_tx.get_mut(c))
            {
                *n += 1;
            }
        }
        self.stats.total += 1;
        self.inflight.insert(
            tid,
            Inflight {
                tid,
                to: req.to,
                to_id: req.to_id,
                socket: req.socket,
                bytes,
                sent: 0,
                retries: if req.force { 0 } else { req.retries },
                timeout_ms: req.timeout_ms.unwrap_or(self.default_timeout_ms).max(1),
                deadline: None,
                queued: false,
                cycled: false,
                internal: req.internal,
                command: req.command,
                owner: req.owner,
                started_ms: now_ms,
            },
        );
        self.send(tid, req.force, now_ms);
        Ok(tid)
    }

    /// JS `Request.send`: now, or when the window opens.
    fn send(&mut self, tid: u16, force: bool, now_ms: u64) {
        if !force && self.congestion.is_full() {
            if let Some(req) = self.inflight.get_mut(&tid) {
                if !req.queued {
                    req.queued = true;
                    self.queue.push_back(tid);
                }
            }
            if self.queue.len() > 2 * self.inflight.len() + 64 {
                // Cancelled requests leave stale tids behind; forget them.
                let inflight = &self.inflight;
                self.queue.retain(|t| inflight.get(t).is_some_and(|r| r.queued));
            }
            return;
        }
        self.send_now(tid, now_ms);
    }

    fn send_now(&mut self, tid: u16, now_ms: u64) {
        let Some(req) = self.inflight.get_mut(&tid) else { return };
        req.queued = false;
        req.sent += 1;
        self.congestion.send();
        if let Some(old) = req.deadline.take() {
            self.timers.remove(&(old, tid));
        }
        let deadline = now_ms + req.timeout_ms;
        req.deadline = Some(deadline);
        self.timers.insert((deadline, tid));
        let t = Transmit { to: req.to, socket: req.socket, bytes: req.bytes.clone() };
        self.push_transmit(t);
    }

    pub(crate) fn push_transmit(&mut self, t: Transmit) {
        if self.transmits.len() >= self.max_transmits {
            // UDP is lossy anyway: a driver that stops polling loses the oldest datagrams.
            self.transmits.pop_front();
            self.dropped_transmits += 1;
        }
        self.transmits.push_back(t);
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn remove(&mut self, tid: u16) -> Option<Inflight> {
        let req = self.inflight.remove(&tid)?;
        if let Some(d) = req.deadline {
            self.timers.remove(&(d, tid));
        }
        self.congestion.recv();
        Some(req)
    }

    /// A response with this tid arrived: the request is done.
    pub(crate) fn take_response(&mut self, tid: u16) -> Option<Inflight> {
        let req = self.remove(tid)?;
        self.stats.responses += 1;
        if req.internal {
            if let Some(n) = usize::try_from(req.command).ok().and_then(|c| self.stats.commands_rx.get_mut(c))
            {
                *n += 1;
            }
        }
        Some(req)
    }

    /// Drops every request `pred` selects.
    pub(crate) fn cancel_where(&mut self, pred: impl Fn(&Inflight) -> bool) -> Vec<Inflight> {
        let tids: Vec<u16> = self.inflight.values().filter(|r| pred(r)).map(|r| r.tid).collect();
        tids.into_iter().filter_map(|t| self.remove(t)).collect()
    }

    /// Earliest deadline: a request timeout or the next drain.
    pub(crate) fn next_deadline(&self) -> u64 {
        match self.timers.first() {
            Some(&(d, _)) => d.min(self.next_drain),
            None => self.next_drain,
        }
    }

    /// Runs the drain if due, then expires requests.
    pub(crate) fn handle_timeout(&mut self, now_ms: u64) -> Vec<Expired> {
        if now_ms >= self.next_drain {
            self.drain(now_ms);
            self.next_drain += DRAIN_INTERVAL_MS;
            if self.next_drain <= now_ms {
                // The driver was late (or the machine slept): one drain, then on schedule again.
                self.next_drain = now_ms + DRAIN_INTERVAL_MS;
            }
        }
        let mut out = Vec::new();
        while let Some(&(deadline, tid)) = self.timers.first() {
            if deadline > now_ms {
                break;
            }
            self.timers.remove(&(deadline, tid));
            let Some(req) = self.inflight.get_mut(&tid) else { continue };
            req.deadline = None;
            if req.sent > req.retries {
                self.stats.timeouts += 1;
                if let Some(req) = self.remove(tid) {
                    out.push(Expired::Failed(req));
                }
                continue;
            }
            let first = !req.cycled;
            req.cycled = true;
            self.stats.retries += 1;
            self.send(tid, false, now_ms);
            if first {
                out.push(Expired::FirstCycle(tid));
            }
        }
        out
    }

    /// JS `_drain`: rotate token secrets, slide the window, send what waited.
    fn drain(&mut self, now_ms: u64) {
        self.tokens.on_drain();
        self.congestion.drain();
        while !self.congestion.is_full() {
            let Some(tid) = self.queue.pop_front() else { break };
            if self.inflight.get(&tid).is_some_and(|r| r.queued) {
                self.send_now(tid, now_ms);
            }
        }
    }

    /// Encodes and queues a response.
    pub(crate) fn send_response(&mut self, msg: &ResponseMessage, socket: SocketKind) {
        let t = Transmit { to: msg.to, socket, bytes: msg.encode() };
        self.push_transmit(t);
    }

    /// Drops everything (destroy).
    pub(crate) fn clear(&mut self) -> Vec<Inflight> {
        self.timers.clear();
        self.queue.clear();
        self.congestion.clear();
        self.inflight.drain().map(|(_, r)| r).collect()
    }
}
