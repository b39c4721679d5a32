//! Running [`super::query::Query`] state machines inside the node: visits become requests,
//! replies and failures go back to the query, DOWN_HINTs go out (rate limited per tick), and a
//! finished query hands back its closest replies (user queries), continues the bootstrap, or
//! just ends (refreshes). A finished or destroyed query's requests are dropped, as JS destroys
//! the query's session.

use super::commands::DOWN_HINT;
use super::errors::RpcError;
use super::io::{NewRequest, Owner};
use super::query::{Query, QuerySpec};
use super::rpc::{QueryEntry, QueryKind, Rpc};
use super::types::{QueryId, Response, RpcEvent};
use super::SocketKind;
use hyperwasm::hyperdht::messages::ipv4_bytes;
use std::net::SocketAddrV4;

impl Rpc {
    pub(super) fn start_query(&mut self, spec: QuerySpec, kind: QueryKind, now_ms: u64) -> QueryId {
        let id = QueryId(self.next_query);
        self.next_query += 1;
        if self.destroyed || self.queries.len() >= self.cfg.limits.max_queries {
            if matches!(kind, QueryKind::User) {
                let error = Some(if self.destroyed { RpcError::Destroyed } else { RpcError::Overloaded });
                self.events.push_back(RpcEvent::QueryDone { id, closest: Vec::new(), error });
            }
            return id;
        }
        self.queries_total += 1;
        let mut q = Query::new(spec, self.table.k(), self.cfg.concurrency);
        q.open(&self.table, &self.cfg.bootstrap);
        self.queries.insert(id, QueryEntry { q, kind });
        self.drive_query(id, now_ms);
        id
    }

    /// Sends what the query wants sent; finishes it when it is done.
    fn drive_query(&mut self, id: QueryId, now_ms: u64) {
        loop {
            let my_id = self.id_for(SocketKind::Main);
            let Some(entry) = self.queries.get_mut(&id) else { return };
            let visits = entry.q.read_more(&self.table);
            let mut failed = false;
            for visit in visits {
                let q = &entry.q;
                let req = NewRequest {
                    to: visit.addr,
                    to_id: Some(visit.id),
                    socket: SocketKind::Main,
                    id: my_id,
                    token: None,
                    internal: q.internal,
                    command: q.command,
                    target: Some(q.target),
                    value: q.value.clone(),
                    retries: q.retries,
                    timeout_ms: None,
                    force: q.force,
                    owner: Owner::Query(id),
                };
                if self.io.create(req, now_ms).is_err() {
                    // Out of request slots: count it as a failed visit.
                    entry.q.on_error(visit.addr, false, false);
                    failed = true;
                }
            }
            self.send_down_hints(id, now_ms);
            let Some(entry) = self.queries.get(&id) else { return };
            if entry.q.finished {
                self.finish_query(id, now_ms);
                return;
            }
            if !failed {
                return;
            }
        }
    }

    pub(super) fn query_reply(
        &mut self,
        id: QueryId,
        visited: SocketAddrV4,
        cycled: bool,
        res: Response,
        now_ms: u64,
    ) {
        let table_id = *self.table.id();
        let filter = self.cfg.filter_node;
        let inflight = self.io.len();
        let Some(entry) = self.queries.get_mut(&id) else { return };
        let is_result = entry.q.on_reply(visited, cycled, &res, &table_id, filter);
        if is_result {
            match entry.kind {
                QueryKind::User => self.events.push_back(RpcEvent::QueryReply { id, reply: res.clone() }),
                QueryKind::Bootstrap { full, bg } | QueryKind::Refresh { full, bg } => {
                    // Yield to other traffic (JS `_backgroundQuery`).
                    entry.q.concurrency = if inflight < 3 { full } else { bg };
                }
            }
            if matches!(entry.kind, QueryKind::Bootstrap { .. }) {
                self.bootstrap_data(&res, now_ms);
            }
        }
        self.drive_query(id, now_ms);
    }

    pub(super) fn query_error(
        &mut self,
        id: QueryId,
        visited: SocketAddrV4,
        cycled: bool,
        timeout: bool,
        now_ms: u64,
    ) {
        let Some(entry) = self.queries.get_mut(&id) else { return };
        entry.q.on_error(visited, cycled, timeout);
        self.drive_query(id, now_ms);
    }

    pub(super) fn query_cycle(&mut self, id: QueryId, now_ms: u64) {
        let Some(entry) = self.queries.get_mut(&id) else { return };
        entry.q.on_cycle();
        self.drive_query(id, now_ms);
    }

    /// JS `_downHint`, rate limited per tick.
    fn send_down_hints(&mut self, id: QueryId, now_ms: u64) {
        let Some(entry) = self.queries.get_mut(&id) else { return };
        let hints = entry.q.take_down_hints();
        if !self.cfg.send_down_hints {
            return;
        }
        for (to, down) in hints {
            if self.cfg.down_hints_rate_limit.is_some_and(|limit| self.down_hints_sent >= limit) {
                return;
            }
            self.down_hints_sent += 1;
            let value = ipv4_bytes(&down).to_vec();
            self.internal_request(to, DOWN_HINT, Some(value), Owner::QueryAux(id), now_ms);
        }
    }

    fn finish_query(&mut self, id: QueryId, now_ms: u64) {
        let Some(entry) = self.queries.remove(&id) else { return };
        self.drop_query_requests(id);
        match entry.kind {
            QueryKind::User => {
                self.events.push_back(RpcEvent::QueryDone { id, closest: entry.q.closest, error: None });
            }
            QueryKind::Bootstrap { .. } => self.bootstrap_query_done(now_ms),
            QueryKind::Refresh { .. } => {}
        }
    }

    pub(super) fn drop_query_requests(&mut self, id: QueryId) {
        self.io.cancel_where(|r| matches!(r.owner, Owner::Query(q) | Owner::QueryAux(q) if q == id));
    }
}
