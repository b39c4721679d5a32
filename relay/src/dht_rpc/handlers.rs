//! Incoming datagrams and request outcomes (`index.js _onrequest` / `_onresponse` /
//! `_ontimeout`, `lib/io.js onmessage`): token checks, dht-rpc's internal commands answered as
//! JS answers them, application requests surfaced as events, replies and timeouts routed to
//! whoever made the request.

use super::commands::{DELAYED_PING, DOWN_HINT, FIND_NODE, INVALID_TOKEN, PING, PING_NAT, UNKNOWN_COMMAND};
use super::errors::RpcError;
use super::io::{Expired, Inflight, Owner};
use super::messages::{RequestMessage, ResponseMessage};
use super::peer;
use super::rpc::{DelayedReply, Rpc};
use super::types::{IncomingRequest, Response, RpcEvent};
use super::SocketKind;
use hyperwasm::encoding::Decoder;
use hyperwasm::hyperdht::messages::get_ipv4;
use std::net::SocketAddrV4;

impl Rpc {
    pub(super) fn on_request(
        &mut self,
        msg: RequestMessage,
        from: SocketAddrV4,
        socket: SocketKind,
        now_ms: u64,
    ) {
        let remote_id = msg.id.and_then(|id| peer::validate_id(&id, &from));
        let external = socket != SocketKind::Main;
        if let Some(token) = &msg.token {
            if !self.io.tokens.is_valid(*from.ip(), token) {
                self.stats.invalid_tokens += 1;
                // JS `req.error(INVALID_TOKEN, { token: true })`: a fresh token, closer nodes.
                self.send_reply(msg.tid, from, socket, msg.target, INVALID_TOKEN, None, true);
                return;
            }
        }
        self.stats.incoming_requests += 1;
        if remote_id.is_some() {
            self.add_node_from_network(!external, from, remote_id, msg.to);
        }
        let req = IncomingRequest {
            tid: msg.tid,
            from,
            socket,
            to: msg.to,
            remote_id,
            token: msg.token,
            internal: msg.internal,
            command: msg.command,
            target: msg.target,
            value: msg.value,
        };
        if req.internal {
            self.on_internal_request(req, now_ms);
            return;
        }
        if self.events.len() >= self.cfg.limits.max_pending_requests {
            self.stats.requests_dropped += 1;
            return;
        }
        self.events.push_back(RpcEvent::Request(req));
    }

    fn on_internal_request(&mut self, req: IncomingRequest, now_ms: u64) {
        if let Some(n) =
            usize::try_from(req.command).ok().and_then(|c| self.stats.incoming_internal.get_mut(c))
        {
            *n += 1;
        }
        let value = req.value.as_deref().unwrap_or(&[]);
        match req.command {
            PING => self.send_reply(req.tid, req.from, req.socket, None, 0, None, false),
            DELAYED_PING => {
                let Some(delay) = value.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])) else {
                    return;
                };
                if delay > self.cfg.max_ping_delay_ms {
                    return;
                }
                if self.delayed.len() >= self.cfg.limits.max_delayed_pings {
                    self.stats.delayed_pings_dropped += 1;
                    return;
                }
                // Encoded when it leaves (the id depends on the state then), as JS does.
                self.delayed_seq += 1;
                let at = now_ms.saturating_add(u64::from(delay));
                let reply = DelayedReply { tid: req.tid, to: req.from, socket: req.socket };
                self.delayed.insert((at, self.delayed_seq), reply);
            }
            PING_NAT => {
                let Some(port) = value.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]])) else { return };
                if port == 0 {
                    return;
                }
                let to = SocketAddrV4::new(*req.from.ip(), port);
                self.send_reply(req.tid, to, req.socket, None, 0, None, false);
            }
            FIND_NODE => {
                if req.target.is_none() {
                    return;
                }
                self.send_reply(req.tid, req.from, req.socket, req.target, 0, None, false);
            }
            DOWN_HINT => {
                // The first 6 bytes, trailing ones ignored (JS `c.decode`).
                let Ok(down) = get_ipv4(&mut Decoder::new(value)) else { return };
                if self.checks < super::maintenance::MAX_CHECKS {
                    let id = peer::id(&down);
                    let tick = self.tick;
                    if let Some(node) = self.table.get_mut(&id) {
                        if node.pinged < tick || node.down_hints == 0 {
                            node.down_hints += 1;
                            self.check(id, now_ms);
                        }
                    }
                }
                self.send_reply(req.tid, req.from, req.socket, None, 0, None, false);
            }
            _ => self.send_reply(req.tid, req.from, req.socket, req.target, UNKNOWN_COMMAND, None, false),
        }
    }

    pub(super) fn on_response(
        &mut self,
        msg: ResponseMessage,
        from: SocketAddrV4,
        socket: SocketKind,
        now_ms: u64,
    ) {
        let Some(req) = self.io.take_response(msg.tid) else {
            self.stats.unmatched_responses += 1;
            return;
        };
        let from_id = msg.id.and_then(|id| peer::validate_id(&id, &from));
        let res = Response {
            tid: msg.tid,
            from,
            from_id,
            to: msg.to,
            token: msg.token,
            closer_nodes: msg.closer_nodes,
            error: msg.error,
            value: msg.value,
            socket,
            rtt_ms: now_ms.saturating_sub(req.started_ms),
        };
        self.add_node_from_network(socket == SocketKind::Main, from, from_id, res.to);
        self.on_request_done(req, Ok(res), now_ms);
    }

    pub(super) fn expire_requests(&mut self, now_ms: u64) {
        for expired in self.io.handle_timeout(now_ms) {
            match expired {
                Expired::FirstCycle(tid) => {
                    if let Some(Owner::Query(qid)) = self.io.get(tid).map(|r| r.owner.clone()) {
                        self.query_cycle(qid, now_ms);
                    }
                }
                Expired::Failed(req) => {
                    // JS `_ontimeout`: a query's node that never answered leaves the table.
                    if let Some(id) = req.to_id {
                        if self.table.get(&id).is_some_and(|n| n.addr == req.to) {
                            self.table.remove(&id);
                        }
                    }
                    self.on_request_done(req, Err(RpcError::RequestTimeout), now_ms);
                }
            }
        }
    }

    /// Routes a request's outcome to its owner.
    fn on_request_done(&mut self, req: Inflight, outcome: Result<Response, RpcError>, now_ms: u64) {
        let from_probe = req.socket == SocketKind::Probe;
        self.route_outcome(req, outcome, now_ms);
        if from_probe {
            self.maybe_close_probe();
        }
    }

    fn route_outcome(&mut self, req: Inflight, outcome: Result<Response, RpcError>, now_ms: u64) {
        match req.owner {
            Owner::User(id) => self.events.push_back(match outcome {
                Ok(response) => RpcEvent::Response { id, response },
                Err(error) => RpcEvent::RequestFailed { id, error },
            }),
            Owner::Query(qid) => match outcome {
                Ok(res) => self.query_reply(qid, req.to, req.cycled, res, now_ms),
                Err(e) => self.query_error(qid, req.to, req.cycled, e == RpcError::RequestTimeout, now_ms),
            },
            Owner::QueryAux(_) => {}
            Owner::Check { id, last_seen } => {
                self.checks = self.checks.saturating_sub(1);
                match outcome {
                    Ok(_) => self.remove_stale_node(&id, last_seen),
                    Err(_) => self.remove_node(&id),
                }
            }
            Owner::Swap { old, last_seen, new_node } => {
                self.repinging = self.repinging.saturating_sub(1);
                let alive = outcome.is_ok() && self.table.get(&old).is_some_and(|n| n.seen > last_seen);
                if !alive {
                    self.remove_node(&old);
                    self.add_table_node(*new_node);
                }
            }
            Owner::QuickNat => {
                if outcome.is_ok() {
                    self.boot.test_nat = true;
                }
            }
            Owner::Firewall => {
                let arrived = match &outcome {
                    Ok(res) if res.socket == SocketKind::Main => Some(res.to),
                    _ => None,
                };
                self.firewall_probe_done(arrived, now_ms);
            }
        }
    }
}
