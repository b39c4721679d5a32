//! Client operations (hyperdht `index.js`): lookup, announce (optionally kept alive),
//! unannounce, findPeer, mutable and immutable put/get. Each is a query followed, for the
//! writing ones, by a *commit*: one signed request to each of the closest repliers, with the
//! token that replier gave us. Signatures are asked for ([`Cmd::Sign`]); the operation never
//! sees a secret key.

use super::{
    bare_announce, command, hash, Cmd, HyperDhtError, Key, OutQuery, OutRequest, Reply, SignAsk, SignKind,
    SignParts,
};
use hyperwasm::encoding::{put_uint, Compact};
use hyperwasm::hyperdht::crypto::{mutable_signable, verify_mutable};
use hyperwasm::hyperdht::messages::{
    decode, Announce, LookupRawReply, MutableGetResponse, MutablePutRequest, Peer,
};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;

/// How long a kept-alive announce waits between rounds by default (records live 20 min).
pub const DEFAULT_REANNOUNCE_MS: u64 = 10 * 60 * 1000;
/// Stored-record count at which a LOOKUP reply is unannounced from even without our key
/// (JS `lookupAndUnannounce`).
const FULL_REPLY: usize = 20;

/// Options of an announce.
#[derive(Debug, Clone, Default)]
pub struct AnnounceOptions {
    /// Remove our record from the nodes that have it first (JS `clear`).
    pub clear: bool,
    /// Bump value (JS `bump`), 0 for none.
    pub bump: u64,
    /// Re-announce every this many ms until cancelled (keep the record alive); `None`: once.
    pub refresh_ms: Option<u64>,
}

/// What an operation does.
#[derive(Debug, Clone)]
pub enum OpKind {
    /// LOOKUP a topic.
    Lookup,
    /// FIND_PEER a target (`hash(publicKey)`).
    FindPeer,
    /// ANNOUNCE `peer` under a topic.
    Announce {
        /// The record.
        peer: Peer,
        /// Options.
        opts: AnnounceOptions,
    },
    /// UNANNOUNCE our key from a topic.
    Unannounce {
        /// Our key.
        public_key: Key,
    },
    /// MUTABLE_PUT a signed value.
    MutablePut {
        /// Signer.
        public_key: Key,
        /// Sequence number.
        seq: u64,
        /// Value.
        value: Vec<u8>,
    },
    /// MUTABLE_GET the value of a key.
    MutableGet {
        /// Signer.
        public_key: Key,
        /// Lowest acceptable sequence number.
        seq: u64,
        /// Keep querying for the highest seq (true) or stop at the first valid value.
        latest: bool,
    },
    /// IMMUTABLE_PUT a value.
    ImmutablePut {
        /// Value.
        value: Vec<u8>,
    },
    /// IMMUTABLE_GET a value by hash.
    ImmutableGet,
}

/// One LOOKUP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupResult {
    /// Replier.
    pub from: SocketAddrV4,
    /// Our address as it saw it.
    pub to: SocketAddrV4,
    /// Its token.
    pub token: Option<Key>,
    /// Stored records.
    pub peers: Vec<Peer>,
    /// Topic bump.
    pub bump: u64,
}

/// One FIND_PEER reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindPeerResult {
    /// Replier (a node that relays handshakes to the peer).
    pub from: SocketAddrV4,
    /// Our address as it saw it.
    pub to: SocketAddrV4,
    /// The peer's record.
    pub peer: Peer,
}

/// A signed mutable value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutableRecord {
    /// Who returned it.
    pub from: SocketAddrV4,
    /// Sequence number.
    pub seq: u64,
    /// Value.
    pub value: Vec<u8>,
    /// Signature (verified).
    pub signature: [u8; 64],
}

/// The outcome of one commit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitResult {
    /// The node written to.
    pub to: SocketAddrV4,
    /// `Ok(error number of its response)` (0 = accepted; e.g. 16 SEQ_REUSED, 17 SEQ_TOO_LOW),
    /// or why no response came.
    pub result: Result<u64, HyperDhtError>,
}

/// What a finished operation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpOutcome {
    /// The query ran (lookup, find_peer: results came as events).
    Done,
    /// The commits of a writing operation.
    Committed(Vec<CommitResult>),
    /// mutable_get's value.
    Mutable(Option<MutableRecord>),
    /// immutable_get's value (hash checked) and who returned it.
    Immutable(Option<(SocketAddrV4, Vec<u8>)>),
}

/// Events of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpEvent {
    /// A LOOKUP reply (lookup, announce, unannounce).
    Lookup(LookupResult),
    /// A FIND_PEER reply.
    FindPeer(FindPeerResult),
    /// One announce round finished (every round of a kept-alive announce).
    Announced(Result<Vec<CommitResult>, HyperDhtError>),
    /// The operation finished; no more events.
    Done(Result<OpOutcome, HyperDhtError>),
}

/// Why a request key is outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqFor {
    Commit(SocketAddrV4),
    Unannounce,
}

/// What a signature key will sign for.
#[derive(Debug, Clone)]
enum SignFor {
    /// The mutable value (before the query).
    Mutable,
    /// An ANNOUNCE to this replier.
    Announce(Reply),
    /// An UNANNOUNCE to this replier.
    Unannounce(Reply),
}

/// One client operation's state machine.
#[derive(Debug)]
pub struct Op {
    kind: OpKind,
    target: Key,
    cmds: VecDeque<Cmd<u64>>,
    events: VecDeque<OpEvent>,
    next_key: u64,
    query: Option<u64>,
    signs: HashMap<u64, SignFor>,
    requests: HashMap<u64, ReqFor>,
    /// Closest replies of the finished query, waiting for unannounces to settle.
    closest: Option<Vec<Reply>>,
    committing: bool,
    commits: Vec<CommitResult>,
    mutable_signature: Option<[u8; 64]>,
    best: Option<MutableRecord>,
    next_round: Option<u64>,
    finished: bool,
}

fn uint_bytes(n: u64) -> Vec<u8> {
    let mut v = Vec::new();
    put_uint(&mut v, n);
    v
}

impl Op {
    /// Starts an operation on `target` (for FindPeer/MutableGet/MutablePut the caller passes
    /// `hash(publicKey)`; for ImmutablePut `hash(value)`).
    pub fn new(kind: OpKind, target: Key) -> Self {
        let mut op = Op {
            kind,
            target,
            cmds: VecDeque::new(),
            events: VecDeque::new(),
            next_key: 0,
            query: None,
            signs: HashMap::new(),
            requests: HashMap::new(),
            closest: None,
            committing: false,
            commits: Vec::new(),
            mutable_signature: None,
            best: None,
            next_round: None,
            finished: false,
        };
        if let OpKind::MutablePut { public_key, seq, value } = &op.kind {
            let (pk, signable) = (*public_key, mutable_signable(*seq, value));
            let k = op.key();
            op.signs.insert(k, SignFor::Mutable);
            op.cmds.push_back(Cmd::Sign(k, SignAsk { public_key: pk, signable, parts: None }));
        } else {
            op.start_query();
        }
        op
    }

    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    /// The operation's target.
    pub fn target(&self) -> &Key {
        &self.target
    }

    /// Whether the operation has finished (its `Done` event is queued or taken).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Next command for `Node`.
    pub fn poll_cmd(&mut self) -> Option<Cmd<u64>> {
        self.cmds.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<OpEvent> {
        self.events.pop_front()
    }

    /// When the next kept-alive round is due.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.next_round
    }

    /// Starts the next round if due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.next_round.is_some_and(|t| now_ms >= t) {
            self.next_round = None;
            self.start_query();
        }
    }

    fn start_query(&mut self) {
        let (command, value) = match &self.kind {
            OpKind::Lookup | OpKind::Announce { .. } | OpKind::Unannounce { .. } => (command::LOOKUP, None),
            OpKind::FindPeer => (command::FIND_PEER, None),
            OpKind::MutablePut { .. } => (command::MUTABLE_GET, Some(uint_bytes(0))),
            OpKind::MutableGet { seq, .. } => (command::MUTABLE_GET, Some(uint_bytes(*seq))),
            OpKind::ImmutablePut { .. } | OpKind::ImmutableGet => (command::IMMUTABLE_GET, None),
        };
        let k = self.key();
        self.query = Some(k);
        self.closest = None;
        self.committing = false;
        self.commits.clear();
        self.cmds
            .push_back(Cmd::Query(k, OutQuery { command, target: self.target, value, nodes: Vec::new() }));
    }

    fn finish(&mut self, result: Result<OpOutcome, HyperDhtError>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.next_round = None;
        if let Some(q) = self.query.take() {
            self.cmds.push_back(Cmd::DestroyQuery(q));
        }
        self.events.push_back(OpEvent::Done(result));
    }

    /// Ends the operation without a `Done` event (the caller cancelled it).
    pub fn cancel(&mut self) {
        self.finished = true;
        self.next_round = None;
        if let Some(q) = self.query.take() {
            self.cmds.push_back(Cmd::DestroyQuery(q));
        }
    }

    /// A reply of the query started under `key`.
    pub fn on_query_reply(&mut self, key: u64, reply: &Reply) {
        if self.finished || self.query != Some(key) {
            return;
        }
        let Some(value) = reply.value.as_deref() else { return };
        match &self.kind {
            OpKind::Lookup | OpKind::Announce { .. } | OpKind::Unannounce { .. } => {
                let Ok(l) = decode::<LookupRawReply>(value) else { return };
                let unannounce = match &self.kind {
                    OpKind::Unannounce { public_key } => Some(*public_key),
                    OpKind::Announce { peer, opts } if opts.clear => Some(peer.public_key),
                    _ => None,
                };
                if let (Some(pk), Some(_), Some(_)) = (unannounce, reply.token, reply.from_id) {
                    if l.peers.len() >= FULL_REPLY || l.peers.iter().any(|p| p.public_key == pk) {
                        self.sign_for(pk, SignFor::Unannounce(reply.clone()));
                    }
                }
                self.events.push_back(OpEvent::Lookup(LookupResult {
                    from: reply.from,
                    to: reply.to,
                    token: reply.token,
                    peers: l.peers,
                    bump: l.bump,
                }));
            }
            OpKind::FindPeer => {
                if let Ok(peer) = decode::<Peer>(value) {
                    self.events.push_back(OpEvent::FindPeer(FindPeerResult {
                        from: reply.from,
                        to: reply.to,
                        peer,
                    }));
                }
            }
            OpKind::MutableGet { public_key, seq: min_seq, latest } => {
                let Ok(m) = decode::<MutableGetResponse>(value) else { return };
                if self.best.as_ref().is_some_and(|b| m.seq <= b.seq) {
                    return;
                }
                if m.seq < *min_seq || !verify_mutable(&m.signature, m.seq, &m.value, public_key) {
                    return;
                }
                let rec =
                    MutableRecord { from: reply.from, seq: m.seq, value: m.value, signature: m.signature };
                if !*latest {
                    self.finish(Ok(OpOutcome::Mutable(Some(rec))));
                } else {
                    self.best = Some(rec);
                }
            }
            OpKind::ImmutableGet => {
                if hash(value) == self.target {
                    self.finish(Ok(OpOutcome::Immutable(Some((reply.from, value.to_vec())))));
                }
            }
            OpKind::MutablePut { .. } | OpKind::ImmutablePut { .. } => {}
        }
    }

    fn sign_for(&mut self, public_key: Key, what: SignFor) {
        let parts = match &what {
            SignFor::Mutable => return,
            SignFor::Announce(r) | SignFor::Unannounce(r) => {
                let (Some(node_id), Some(token)) = (r.from_id, r.token) else { return };
                let (kind, peer) = match (&what, &self.kind) {
                    (SignFor::Announce(_), OpKind::Announce { peer, .. }) => {
                        (SignKind::Announce, peer.clone())
                    }
                    _ => (SignKind::Unannounce, Peer { public_key, relay_addresses: Vec::new() }),
                };
                SignParts { kind, target: self.target, node_id, token, peer, refresh: None }
            }
        };
        let k = self.key();
        self.signs.insert(k, what);
        self.cmds.push_back(Cmd::Sign(k, SignAsk::record(public_key, parts)));
    }

    /// The query started under `key` ended; `closest` are its closest repliers (error-free,
    /// with ids), best first.
    pub fn on_query_done(&mut self, key: u64, closest: &[Reply], error: Option<HyperDhtError>, now_ms: u64) {
        if self.finished || self.query != Some(key) {
            return;
        }
        self.query = None;
        match &self.kind {
            OpKind::Lookup | OpKind::FindPeer => {
                self.finish(match error {
                    Some(e) => Err(e),
                    None => Ok(OpOutcome::Done),
                });
            }
            OpKind::MutableGet { .. } => {
                let best = self.best.take();
                self.finish(Ok(OpOutcome::Mutable(best)));
            }
            OpKind::ImmutableGet => self.finish(Ok(OpOutcome::Immutable(None))),
            _ => {
                self.closest = Some(closest.to_vec());
                self.maybe_commit(now_ms);
            }
        }
    }

    /// Starts the commit once the query is done and every unannounce has settled.
    fn maybe_commit(&mut self, now_ms: u64) {
        if self.committing || self.closest.is_none() {
            return;
        }
        let unannouncing = self.signs.values().any(|s| matches!(s, SignFor::Unannounce(_)))
            || self.requests.values().any(|r| *r == ReqFor::Unannounce);
        if unannouncing {
            return;
        }
        self.committing = true;
        let closest = self.closest.take().unwrap_or_default();
        if closest.is_empty() {
            return self.round_done(Err(HyperDhtError::TooFewNodes), now_ms);
        }
        for reply in closest {
            match &self.kind {
                OpKind::Announce { peer, .. } => {
                    let pk = peer.public_key;
                    if reply.token.is_some() && reply.from_id.is_some() {
                        self.sign_for(pk, SignFor::Announce(reply));
                    } else {
                        self.commits
                            .push(CommitResult { to: reply.from, result: Err(HyperDhtError::TooFewNodes) });
                    }
                }
                OpKind::Unannounce { .. } => {
                    self.commits.push(CommitResult { to: reply.from, result: Ok(0) });
                }
                OpKind::MutablePut { public_key, seq, value } => {
                    let Some(signature) = self.mutable_signature else { return };
                    let v = MutablePutRequest {
                        public_key: *public_key,
                        seq: *seq,
                        value: value.clone(),
                        signature,
                    }
                    .to_bytes();
                    self.commit_request(&reply, command::MUTABLE_PUT, v);
                }
                OpKind::ImmutablePut { value } => {
                    let v = value.clone();
                    self.commit_request(&reply, command::IMMUTABLE_PUT, v);
                }
                _ => {}
            }
        }
        self.check_round(now_ms);
    }

    fn commit_request(&mut self, reply: &Reply, command: u64, value: Vec<u8>) {
        let k = self.key();
        self.requests.insert(k, ReqFor::Commit(reply.from));
        self.cmds.push_back(Cmd::Request(
            k,
            OutRequest::command(reply.from, command, self.target, reply.token, Some(value)),
        ));
    }

    fn check_round(&mut self, now_ms: u64) {
        if !self.committing {
            return self.maybe_commit(now_ms);
        }
        let pending = self.signs.values().any(|s| matches!(s, SignFor::Announce(_)))
            || self.requests.values().any(|r| matches!(r, ReqFor::Commit(_)));
        if pending {
            return;
        }
        let commits = std::mem::take(&mut self.commits);
        let result = if commits.iter().any(|c| c.result.is_ok()) {
            Ok(commits)
        } else {
            Err(commits.last().and_then(|c| c.result.clone().err()).unwrap_or(HyperDhtError::TooFewNodes))
        };
        self.round_done(result, now_ms);
    }

    fn round_done(&mut self, result: Result<Vec<CommitResult>, HyperDhtError>, now_ms: u64) {
        self.committing = false;
        if let OpKind::Announce { opts, .. } = &self.kind {
            let refresh = opts.refresh_ms;
            self.events.push_back(OpEvent::Announced(result.clone()));
            if let Some(ms) = refresh {
                self.next_round = Some(now_ms.saturating_add(ms.max(1000)));
                return;
            }
        }
        self.finish(result.map(OpOutcome::Committed));
    }

    /// The signature asked for under `key` (None: the key holder failed or never answered).
    pub fn on_signature(&mut self, key: u64, signature: Option<[u8; 64]>, now_ms: u64) {
        let Some(what) = self.signs.remove(&key) else { return };
        if self.finished {
            return;
        }
        match (what, signature) {
            (SignFor::Mutable, Some(sig)) => {
                self.mutable_signature = Some(sig);
                self.start_query();
            }
            (SignFor::Mutable, None) => self.finish(Err(HyperDhtError::InvalidArgument("no signature"))),
            (SignFor::Announce(r), Some(sig)) => {
                let OpKind::Announce { peer, opts } = &self.kind else { return };
                let value = Announce {
                    peer: Some(peer.clone()),
                    refresh: None,
                    signature: Some(sig),
                    bump: opts.bump,
                }
                .to_bytes();
                self.commit_request(&r, command::ANNOUNCE, value);
            }
            (SignFor::Announce(r), None) => {
                self.commits.push(CommitResult {
                    to: r.from,
                    result: Err(HyperDhtError::InvalidArgument("no signature")),
                });
                self.check_round(now_ms);
            }
            (SignFor::Unannounce(r), Some(sig)) => {
                let public_key = match &self.kind {
                    OpKind::Announce { peer, .. } => peer.public_key,
                    OpKind::Unannounce { public_key } => *public_key,
                    _ => return,
                };
                let value = bare_announce(public_key, sig);
                let k = self.key();
                self.requests.insert(k, ReqFor::Unannounce);
                self.cmds.push_back(Cmd::Request(
                    k,
                    OutRequest::command(r.from, command::UNANNOUNCE, self.target, r.token, Some(value)),
                ));
            }
            (SignFor::Unannounce(_), None) => self.check_round(now_ms),
        }
    }

    /// The response to the request sent under `key`.
    pub fn on_response(&mut self, key: u64, reply: &Reply, now_ms: u64) {
        self.settle(key, Ok(reply.error), now_ms);
    }

    /// The request sent under `key` failed (timed out or was destroyed).
    pub fn on_request_failed(&mut self, key: u64, error: HyperDhtError, now_ms: u64) {
        self.settle(key, Err(error), now_ms);
    }

    fn settle(&mut self, key: u64, result: Result<u64, HyperDhtError>, now_ms: u64) {
        let Some(what) = self.requests.remove(&key) else { return };
        if self.finished {
            return;
        }
        if let ReqFor::Commit(to) = what {
            self.commits.push(CommitResult { to, result });
        }
        self.check_round(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperwasm::crypto::KeyPair;
    use hyperwasm::hyperdht::crypto::sign_mutable;
    use std::net::Ipv4Addr;

    fn addr(i: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(20, 0, 0, i), 3000 + i as u16)
    }

    fn reply(i: u8, value: Option<Vec<u8>>) -> Reply {
        Reply { from: addr(i), from_id: Some([i; 32]), to: addr(99), token: Some([i; 32]), error: 0, value }
    }

    fn cmds(op: &mut Op) -> Vec<Cmd<u64>> {
        std::iter::from_fn(|| op.poll_cmd()).collect()
    }

    fn query_key(c: &[Cmd<u64>]) -> u64 {
        c.iter().find_map(|c| if let Cmd::Query(k, _) = c { Some(*k) } else { None }).unwrap()
    }

    fn done(op: &mut Op) -> Option<Result<OpOutcome, HyperDhtError>> {
        std::iter::from_fn(|| op.poll_event())
            .find_map(|e| if let OpEvent::Done(r) = e { Some(r) } else { None })
    }

    #[test]
    fn a_commit_with_no_closest_node_fails_like_js() {
        let mut op = Op::new(OpKind::ImmutablePut { value: b"v".to_vec() }, hash(b"v"));
        let q = query_key(&cmds(&mut op));
        op.on_query_done(q, &[], None, 0);
        assert_eq!(done(&mut op), Some(Err(HyperDhtError::TooFewNodes)));
    }

    #[test]
    fn commits_succeed_if_any_node_answers() {
        let mut op = Op::new(OpKind::ImmutablePut { value: b"v".to_vec() }, hash(b"v"));
        let q = query_key(&cmds(&mut op));
        op.on_query_done(q, &[reply(1, None), reply(2, None)], None, 0);
        let reqs: Vec<(u64, OutRequest)> = cmds(&mut op)
            .into_iter()
            .filter_map(|c| if let Cmd::Request(k, r) = c { Some((k, r)) } else { None })
            .collect();
        assert_eq!(reqs.len(), 2);
        assert!(reqs.iter().all(
            |(_, r)| r.command == command::IMMUTABLE_PUT && r.token == Some([r.to.ip().octets()[3]; 32])
        ));
        op.on_request_failed(reqs[0].0, HyperDhtError::RequestTimeout, 0);
        assert!(done(&mut op).is_none());
        op.on_response(reqs[1].0, &reply(2, None), 0);
        let Some(Ok(OpOutcome::Committed(c))) = done(&mut op) else { panic!() };
        assert_eq!(c.len(), 2);
        assert!(op.is_finished());
    }

    #[test]
    fn announce_with_clear_unannounces_first_where_our_record_is() {
        let pk = [4u8; 32];
        let peer = Peer { public_key: pk, relay_addresses: vec![] };
        let opts = AnnounceOptions { clear: true, ..AnnounceOptions::default() };
        let mut op = Op::new(OpKind::Announce { peer: peer.clone(), opts }, [1; 32]);
        let q = query_key(&cmds(&mut op));
        let with_us = LookupRawReply { peers: vec![peer.clone()], bump: 0 }.to_bytes();
        let without = LookupRawReply { peers: vec![], bump: 0 }.to_bytes();
        op.on_query_reply(q, &reply(1, Some(with_us)));
        op.on_query_reply(q, &reply(2, Some(without)));
        let signs: Vec<u64> = cmds(&mut op)
            .into_iter()
            .filter_map(|c| if let Cmd::Sign(k, _) = c { Some(k) } else { None })
            .collect();
        assert_eq!(signs.len(), 1, "only the node holding our record");
        op.on_query_done(q, &[reply(1, None), reply(2, None)], None, 0);
        assert!(cmds(&mut op).is_empty(), "announce waits for the unannounce");
        op.on_signature(signs[0], Some([0; 64]), 0);
        let c = cmds(&mut op);
        let Cmd::Request(k, r) = &c[0] else { panic!() };
        assert_eq!(r.command, command::UNANNOUNCE);
        op.on_response(*k, &reply(1, None), 0);
        let c = cmds(&mut op);
        assert_eq!(
            c.iter().filter(|c| matches!(c, Cmd::Sign(..))).count(),
            2,
            "now the two announce signatures"
        );
    }

    #[test]
    fn mutable_get_keeps_the_highest_valid_seq_or_stops_at_the_first() {
        let kp = KeyPair::from_seed(&[8; 32]);
        let pk = kp.public_key();
        let rec = |seq: u64, v: &[u8], good: bool| {
            let sig = if good { sign_mutable(seq, v, &kp) } else { [0; 64] };
            MutableGetResponse { seq, value: v.to_vec(), signature: sig }.to_bytes()
        };
        let mut op = Op::new(OpKind::MutableGet { public_key: pk, seq: 2, latest: true }, hash(&pk));
        let q = query_key(&cmds(&mut op));
        op.on_query_reply(q, &reply(1, Some(rec(3, b"three", true))));
        op.on_query_reply(q, &reply(2, Some(rec(9, b"forged", false))));
        op.on_query_reply(q, &reply(3, Some(rec(1, b"old", true))));
        op.on_query_reply(q, &reply(4, Some(rec(5, b"five", true))));
        op.on_query_done(q, &[], None, 0);
        let Some(Ok(OpOutcome::Mutable(Some(m)))) = done(&mut op) else { panic!() };
        assert_eq!((m.seq, m.value.as_slice(), m.from), (5, &b"five"[..], addr(4)));

        let mut op = Op::new(OpKind::MutableGet { public_key: pk, seq: 0, latest: false }, hash(&pk));
        let q = query_key(&cmds(&mut op));
        op.on_query_reply(q, &reply(1, Some(rec(3, b"three", true))));
        let Some(Ok(OpOutcome::Mutable(Some(m)))) = done(&mut op) else { panic!() };
        assert_eq!(m.seq, 3);
        assert!(cmds(&mut op).iter().any(|c| matches!(c, Cmd::DestroyQuery(k) if *k == q)));
    }

    #[test]
    fn immutable_get_checks_the_hash() {
        let mut op = Op::new(OpKind::ImmutableGet, hash(b"real"));
        let q = query_key(&cmds(&mut op));
        op.on_query_reply(q, &reply(1, Some(b"fake".to_vec())));
        assert!(done(&mut op).is_none());
        op.on_query_reply(q, &reply(2, Some(b"real".to_vec())));
        assert_eq!(done(&mut op), Some(Ok(OpOutcome::Immutable(Some((addr(2), b"real".to_vec()))))));
    }
}
