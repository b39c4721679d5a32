//! The driver's key holder: answers what the `Node` asks for with the local key pairs (Ed25519
//! signatures, Noise IK through `noise_wrap`) and connects the node's events to the handles
//! waiting for them (operations, connects, servers, `ready`).
//!
//! Key pairs are held only while something uses them: an operation that signs, a server.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::Arc;

use hyperwasm::crypto::KeyPair;
use hyperwasm::hyperdht::noise_wrap::{NoiseWrap, NoiseWrapResult};
use tokio::sync::{mpsc, oneshot};

use crate::hyperdht::connect::ConnectOptions;
use crate::hyperdht::node::{ConnId, Event, Node, OpId, SignOrigin};
use crate::hyperdht::ops::{AnnounceOptions, CommitResult, OpOutcome};
use crate::hyperdht::server::{payload_error, HsId, ServerId};
use crate::hyperdht::HyperDhtError;

use super::conn::{Connection, ConnectionInfo, Poke};
use super::delegate::{Answer, Ask, Delegate, DelegatedConnection, DelegatedInfo};
use super::handles::{Command, Commit, LookupReply, MutableValue, NodeInfo, OpDone, OpRequest, OpUpdate};
use super::streams::Streams;
use super::DhtError;

/// How long `listen` waits for the first self-announce before answering anyway.
const LISTEN_WAIT_MS: u64 = 10_000;
/// Accepted handshakes waiting for their stream, across servers; more are refused.
const MAX_ACCEPTED: usize = 4096;

fn node_error(e: &HyperDhtError) -> DhtError {
    DhtError::Node { code: e.code(), message: e.to_string() }
}

struct OpSlot {
    tx: mpsc::UnboundedSender<OpUpdate>,
    /// The key pair the operation signs with.
    key: Option<[u8; 32]>,
    /// Who signs instead (a delegated operation).
    delegate: Option<Delegate>,
}

#[allow(clippy::large_enum_variant)] // one per connect in flight; boxing buys nothing
enum Client {
    Local {
        key_pair: KeyPair,
        remote: [u8; 32],
        wrap: Option<NoiseWrap>,
        result: Option<NoiseWrapResult>,
        reply: oneshot::Sender<Result<Connection, DhtError>>,
    },
    Delegated {
        public_key: [u8; 32],
        remote: [u8; 32],
        delegate: Delegate,
        /// The delegate returned the server's payload (so msg2 was good).
        confirmed: bool,
        reply: oneshot::Sender<Result<DelegatedConnection, DhtError>>,
    },
}

impl Client {
    fn fail(self, e: DhtError) {
        match self {
            Client::Local { reply, .. } => {
                let _ = reply.send(Err(e));
            }
            Client::Delegated { reply, .. } => {
                let _ = reply.send(Err(e));
            }
        }
    }
}

enum ServerKey {
    Local { key_pair: KeyPair, incoming: mpsc::Sender<Connection> },
    Delegated { public_key: [u8; 32], delegate: Delegate, incoming: mpsc::Sender<DelegatedConnection> },
}

/// A handshake we answered: the keys (local) or nothing (the delegate has them).
enum Accepted {
    Local(Box<NoiseWrapResult>),
    Delegated,
}

struct ServerSlot {
    key: ServerKey,
    relays: Vec<SocketAddrV4>,
    /// `listen` answers after the first self-announce (as JS `server.listen()` resolves).
    listen_reply: Option<(oneshot::Sender<Result<u64, DhtError>>, u64)>,
}

/// See the module docs.
pub(crate) struct KeyHolder {
    poke: Poke,
    cmds: mpsc::WeakUnboundedSender<Command>,
    local: SocketAddrV4,
    keys: HashMap<[u8; 32], (KeyPair, usize)>,
    ready: bool,
    ready_waiters: Vec<oneshot::Sender<Result<(), DhtError>>>,
    ops: HashMap<OpId, OpSlot>,
    clients: HashMap<ConnId, Client>,
    servers: HashMap<ServerId, ServerSlot>,
    /// Handshakes we answered, waiting for `Incoming` (or `HandshakeFailed`).
    accepted: HashMap<HsId, (ServerId, Accepted)>,
    /// Handshakes asked of a delegate, waiting for its answer.
    pending_hs: HashMap<HsId, ServerId>,
}

impl KeyHolder {
    /// A key holder whose connections poke the driver through `cmds`.
    pub(crate) fn new(cmds: mpsc::WeakUnboundedSender<Command>, local: SocketAddrV4) -> Self {
        let weak = cmds.clone();
        let poke: Poke = Arc::new(move |id| {
            if let Some(tx) = weak.upgrade() {
                let _ = tx.send(Command::Poke(id));
            }
        });
        KeyHolder {
            poke,
            cmds,
            local,
            keys: HashMap::new(),
            ready: false,
            ready_waiters: Vec::new(),
            ops: HashMap::new(),
            clients: HashMap::new(),
            servers: HashMap::new(),
            accepted: HashMap::new(),
            pending_hs: HashMap::new(),
        }
    }

    fn hold(&mut self, kp: &KeyPair) -> [u8; 32] {
        let pk = kp.public_key();
        self.keys.entry(pk).or_insert_with(|| (kp.clone(), 0)).1 += 1;
        pk
    }

    fn release(&mut self, pk: &[u8; 32]) {
        if let Some((_, n)) = self.keys.get_mut(pk) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.keys.remove(pk);
            }
        }
    }

    /// The earliest deadline of a waiting `listen`.
    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        self.servers.values().filter_map(|s| s.listen_reply.as_ref().map(|(_, t)| *t)).min()
    }

    /// Answers `listen`s whose server never announced in time, and those whose caller went away
    /// (its future dropped: [`Self::answer_listen`] then closes the server, as nothing else
    /// ever would).
    pub(crate) fn handle_timeout(&mut self, node: &mut Node, now: u64) {
        let mut due = Vec::new();
        for (id, s) in self.servers.iter_mut() {
            if s.listen_reply.as_ref().is_some_and(|(reply, t)| *t <= now || reply.is_closed()) {
                if let Some((reply, _)) = s.listen_reply.take() {
                    due.push((*id, reply));
                }
            }
        }
        for (id, reply) in due {
            Self::answer_listen(node, id, reply, now);
        }
    }

    /// Answers a waiting `listen`. Nobody waiting any more (the `listen` future was dropped, so
    /// no server handle exists whose drop would close it): the server is closed here.
    fn answer_listen(node: &mut Node, id: ServerId, reply: oneshot::Sender<Result<u64, DhtError>>, now: u64) {
        if reply.send(Ok(id.0)).is_err() {
            node.unlisten(id, now);
        }
    }

    /// A command from a handle (not `Poke`/`Destroy`, which the driver keeps).
    pub(crate) fn command(&mut self, node: &mut Node, cmd: Command, now: u64) {
        if matches!(cmd, Command::Listen { .. } | Command::ListenDelegated { .. }) {
            // A key an abandoned listen still holds is free for a new one.
            self.handle_timeout(node, now);
        }
        match cmd {
            Command::Ready(reply) => {
                if self.ready || node.rpc().is_bootstrapped() {
                    self.ready = true;
                    let _ = reply.send(Ok(()));
                } else {
                    self.ready_waiters.push(reply);
                }
            }
            Command::Info(reply) => {
                let rpc = node.rpc();
                let _ = reply.send(NodeInfo {
                    local_address: self.local,
                    remote_address: rpc.remote_address(),
                    id: rpc.id(),
                    ephemeral: rpc.is_ephemeral(),
                    firewalled: rpc.is_firewalled(),
                    table_size: rpc.stats().table_size,
                });
            }
            Command::Op(req, tx) => self.start_op(node, req, tx, now),
            Command::Connect { remote_public_key, key_pair, relay_addresses, reply } => {
                let id = node.connect(&remote_public_key, ConnectOptions { relay_addresses }, now);
                let client =
                    Client::Local { key_pair, remote: remote_public_key, wrap: None, result: None, reply };
                self.clients.insert(id, client);
            }
            Command::ConnectDelegated { remote_public_key, public_key, relay_addresses, delegate, reply } => {
                let id = node.connect(&remote_public_key, ConnectOptions { relay_addresses }, now);
                let remote = remote_public_key;
                let client = Client::Delegated { public_key, remote, delegate, confirmed: false, reply };
                self.clients.insert(id, client);
            }
            Command::Listen { key_pair, incoming, reply } => match node.listen(key_pair.public_key(), now) {
                Ok(id) => {
                    self.hold(&key_pair);
                    let key = ServerKey::Local { key_pair, incoming };
                    self.add_server(id, key, reply, now);
                }
                Err(e) => {
                    let _ = reply.send(Err(node_error(&e)));
                }
            },
            Command::ListenDelegated { public_key, delegate, incoming, reply } => {
                match node.listen(public_key, now) {
                    Ok(id) => self.add_server(
                        id,
                        ServerKey::Delegated { public_key, delegate, incoming },
                        reply,
                        now,
                    ),
                    Err(e) => {
                        let _ = reply.send(Err(node_error(&e)));
                    }
                }
            }
            Command::Answer(answer) => self.answer(node, answer, now),
            Command::ServerRelays(id, reply) => {
                let relays = self.servers.get(&ServerId(id)).map(|s| s.relays.clone()).unwrap_or_default();
                let _ = reply.send(relays);
            }
            Command::CloseServer(id) => node.unlisten(ServerId(id), now),
            Command::Poke(_) | Command::Destroy(_) => {}
        }
    }

    fn add_server(
        &mut self,
        id: ServerId,
        key: ServerKey,
        reply: oneshot::Sender<Result<u64, DhtError>>,
        now: u64,
    ) {
        let listen_reply = Some((reply, now + LISTEN_WAIT_MS));
        self.servers.insert(id, ServerSlot { key, relays: Vec::new(), listen_reply });
    }

    /// A delegate's answer (or its refusal) goes back to the node.
    fn answer(&mut self, node: &mut Node, answer: Answer, now: u64) {
        match answer {
            Answer::Signature(op, Some(sig)) => {
                let _ = node.provide_signature(op, sig, now);
            }
            Answer::Signature(op, None) => node.refuse_signature(op, now),
            Answer::Initiator(conn, Some(msg1)) if self.clients.contains_key(&conn) => {
                let _ = node.provide_initiator_message(conn, msg1, now);
            }
            Answer::Responder(conn, Some(payload)) => {
                let Some(Client::Delegated { confirmed, .. }) = self.clients.get_mut(&conn) else { return };
                *confirmed = true;
                let _ = node.provide_remote_payload(conn, &payload, now);
            }
            Answer::Initiator(conn, _) | Answer::Responder(conn, None) => {
                let _ = node.abort(conn, HyperDhtError::HandshakeInvalid, now);
            }
            Answer::Handshake(hs, Some((msg2, remote))) => {
                let Some(sid) = self.pending_hs.remove(&hs) else { return };
                self.accepted.insert(hs, (sid, Accepted::Delegated));
                if node.accept_handshake(hs, msg2, &remote, now).is_err() {
                    self.accepted.remove(&hs);
                }
            }
            Answer::Handshake(hs, None) => {
                self.pending_hs.remove(&hs);
                let _ = node.reject_handshake(hs, now);
            }
        }
    }

    fn start_op(&mut self, node: &mut Node, req: OpRequest, tx: mpsc::UnboundedSender<OpUpdate>, now: u64) {
        let mut delegate = None;
        let (id, key) = match req {
            OpRequest::Lookup { topic } => (node.lookup(topic, now), None),
            OpRequest::FindPeer { public_key } => (node.find_peer(&public_key, now), None),
            OpRequest::Announce { topic, key_pair, relay_addresses } => {
                let pk = self.hold(&key_pair);
                (node.announce(topic, pk, relay_addresses, AnnounceOptions::default(), now), Some(pk))
            }
            OpRequest::Unannounce { topic, key_pair } => {
                let pk = self.hold(&key_pair);
                (node.unannounce(topic, pk, now), Some(pk))
            }
            OpRequest::AnnounceDelegated { topic, public_key, relay_addresses, delegate: d } => {
                delegate = Some(d);
                (node.announce(topic, public_key, relay_addresses, AnnounceOptions::default(), now), None)
            }
            OpRequest::UnannounceDelegated { topic, public_key, delegate: d } => {
                delegate = Some(d);
                (node.unannounce(topic, public_key, now), None)
            }
            OpRequest::ImmutablePut { value } => (node.immutable_put(value, now), None),
            OpRequest::ImmutableGet { hash } => (node.immutable_get(hash, now), None),
            OpRequest::MutablePut { key_pair, seq, value } => {
                let pk = self.hold(&key_pair);
                (node.mutable_put(pk, value, seq, now), Some(pk))
            }
            OpRequest::MutableGet { public_key, seq, latest } => {
                (node.mutable_get(public_key, seq, latest, now), None)
            }
        };
        self.ops.insert(id, OpSlot { tx, key, delegate });
    }

    fn op_update(&mut self, node: &mut Node, op: OpId, update: OpUpdate) {
        let done = matches!(update, OpUpdate::Done(_));
        let Some(slot) = self.ops.get(&op) else { return };
        let gone = slot.tx.send(update).is_err();
        if done || gone {
            if gone && !done {
                node.cancel(op); // the handle was dropped
            }
            if let Some(slot) = self.ops.remove(&op) {
                if let Some(pk) = slot.key {
                    self.release(&pk);
                }
            }
        }
    }

    /// A node event other than stream events.
    pub(crate) fn on_event(&mut self, node: &mut Node, streams: &mut Streams, ev: Event, now: u64) {
        match ev {
            Event::Ready => {
                self.ready = true;
                for w in self.ready_waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            Event::NeedSignature { op, public_key, signable, origin, parts } => {
                let delegate = match origin {
                    SignOrigin::Op(id) => self.ops.get(&id).and_then(|o| o.delegate.as_ref()),
                    SignOrigin::Server(id) => self.servers.get(&id).and_then(|s| match &s.key {
                        ServerKey::Delegated { delegate, .. } => Some(delegate),
                        ServerKey::Local { .. } => None,
                    }),
                    SignOrigin::Conn(_) => None,
                };
                if let Some(d) = delegate {
                    // A delegate signs only what it can check.
                    let Some(parts) = parts else { return node.refuse_signature(op, now) };
                    let make = |reply| Ask::Sign { parts, public_key, signable, reply };
                    if let Some(a) = d.ask(&self.cmds, make, move |sig| Answer::Signature(op, sig)) {
                        self.answer(node, a, now);
                    }
                    return;
                }
                match self.keys.get(&public_key) {
                    Some((kp, _)) => {
                        let _ = node.provide_signature(op, kp.sign(&signable), now);
                    }
                    None => node.refuse_signature(op, now),
                }
            }
            Event::LookupReply { op, reply } => {
                let r = LookupReply { from: reply.from, peers: reply.peers };
                self.op_update(node, op, OpUpdate::Reply(r));
            }
            Event::FindPeerReply { op, reply } => {
                let r = LookupReply { from: reply.from, peers: vec![reply.peer] };
                self.op_update(node, op, OpUpdate::Reply(r));
            }
            Event::OpDone { op, result } => {
                let done = result.map(op_done).map_err(|e| node_error(&e));
                self.op_update(node, op, OpUpdate::Done(done));
            }
            Event::NeedInitiatorMessage { conn, local_payload } => {
                let Some(c) = self.clients.get_mut(&conn) else { return };
                let (key_pair, remote, wrap) = match c {
                    Client::Local { key_pair, remote, wrap, .. } => (key_pair, remote, wrap),
                    Client::Delegated { delegate, .. } => {
                        let make = |reply| Ask::InitiatorMessage { local_payload, reply };
                        let ask = delegate.ask(&self.cmds, make, move |m| Answer::Initiator(conn, m));
                        if let Some(a) = ask {
                            self.answer(node, a, now);
                        }
                        return;
                    }
                };
                let mut w = NoiseWrap::initiator(key_pair, *remote);
                match w.send(&local_payload) {
                    Ok(msg1) => {
                        *wrap = Some(w);
                        let _ = node.provide_initiator_message(conn, msg1, now);
                    }
                    Err(_) => {
                        let _ = node.abort(conn, HyperDhtError::HandshakeInvalid, now);
                    }
                }
            }
            Event::ResponderMessage { conn, msg2 } => {
                let Some(c) = self.clients.get_mut(&conn) else { return };
                let (wrap, result) = match c {
                    Client::Local { wrap, result, .. } => (wrap, result),
                    Client::Delegated { delegate, .. } => {
                        let make = |reply| Ask::ResponderMessage { msg2, reply };
                        let ask = delegate.ask(&self.cmds, make, move |p| Answer::Responder(conn, p));
                        if let Some(a) = ask {
                            self.answer(node, a, now);
                        }
                        return;
                    }
                };
                let Some(mut w) = wrap.take() else { return };
                match w.recv(&msg2) {
                    Ok(payload) => {
                        *result = w.finish().ok();
                        let _ = node.provide_remote_payload(conn, &payload, now);
                    }
                    Err(_) => {
                        let _ = node.abort(conn, HyperDhtError::HandshakeInvalid, now);
                    }
                }
            }
            Event::Connected { conn, stream, remote_address } => {
                let Some(c) = self.clients.remove(&conn) else {
                    node.stream_destroy(stream);
                    return;
                };
                match c {
                    Client::Local { result: Some(result), reply, .. } => {
                        let shared = streams.open(stream, self.poke.clone());
                        let info =
                            ConnectionInfo { handshake: result.handshake, remote_address, stream_id: stream };
                        // A dropped `connect` future drops the connection, which destroys the stream.
                        let _ = reply.send(Ok(Connection::new(info, &shared)));
                    }
                    Client::Delegated { public_key, remote, confirmed: true, reply, .. } => {
                        let shared = streams.open(stream, self.poke.clone());
                        let info = DelegatedInfo {
                            is_initiator: true,
                            public_key,
                            remote_public_key: Some(remote),
                            handshake_id: None,
                            remote_address,
                            stream_id: stream,
                        };
                        let _ = reply.send(Ok(DelegatedConnection::new(info, &shared)));
                    }
                    c => {
                        node.stream_destroy(stream);
                        c.fail(node_error(&HyperDhtError::HandshakeUnfinished));
                    }
                }
            }
            Event::ConnectFailed { conn, error } => {
                if let Some(c) = self.clients.remove(&conn) {
                    c.fail(node_error(&error));
                }
            }
            Event::ServerAnnounced { server, relays } => {
                if let Some(s) = self.servers.get_mut(&server) {
                    s.relays = relays.iter().map(|r| r.relay_address).collect();
                    if let Some((reply, _)) = s.listen_reply.take() {
                        Self::answer_listen(node, server, reply, now);
                    }
                }
            }
            Event::IncomingHandshake { server, hs, msg1, local_payload, peer_address } => {
                let Some(s) = self.servers.get(&server) else {
                    let _ = node.reject_handshake(hs, now);
                    return;
                };
                let (room, closed) = match &s.key {
                    ServerKey::Local { incoming, .. } => (incoming.capacity(), incoming.is_closed()),
                    ServerKey::Delegated { incoming, .. } => (incoming.capacity(), incoming.is_closed()),
                };
                if room == 0 || closed || self.accepted.len() + self.pending_hs.len() >= MAX_ACCEPTED {
                    // Backlog full, nobody accepting, or too many handshakes in flight.
                    let _ = node.reject_handshake(hs, now);
                    return;
                }
                let key_pair = match &s.key {
                    ServerKey::Local { key_pair, .. } => key_pair,
                    ServerKey::Delegated { delegate, .. } => {
                        let make =
                            |reply| Ask::Handshake { hs: hs.0, msg1, local_payload, peer_address, reply };
                        let ask = delegate.ask(&self.cmds, make, move |r| Answer::Handshake(hs, r));
                        self.pending_hs.insert(hs, server);
                        if let Some(a) = ask {
                            self.answer(node, a, now);
                        }
                        return;
                    }
                };
                let mut w = NoiseWrap::responder(key_pair);
                let Ok(remote) = w.recv(&msg1) else {
                    let _ = node.reject_handshake(hs, now);
                    return;
                };
                let mut local = local_payload;
                local.error = payload_error(&remote);
                let Ok(msg2) = w.send(&local) else {
                    let _ = node.reject_handshake(hs, now);
                    return;
                };
                match w.finish() {
                    Ok(res) if local.error == 0 => {
                        self.accepted.insert(hs, (server, Accepted::Local(Box::new(res))));
                    }
                    _ => {}
                }
                let _ = node.accept_handshake(hs, msg2, &remote, now);
            }
            Event::Incoming { server, hs, stream, remote_address } => {
                let (Some((_, accepted)), Some(s)) = (self.accepted.remove(&hs), self.servers.get(&server))
                else {
                    node.stream_destroy(stream);
                    return;
                };
                // Full backlog or a dropped Server: the connection drops and is destroyed.
                match (accepted, &s.key) {
                    (Accepted::Local(result), ServerKey::Local { incoming, .. }) => {
                        let shared = streams.open(stream, self.poke.clone());
                        let info =
                            ConnectionInfo { handshake: result.handshake, remote_address, stream_id: stream };
                        let _ = incoming.try_send(Connection::new(info, &shared));
                    }
                    (Accepted::Delegated, ServerKey::Delegated { public_key, incoming, .. }) => {
                        let shared = streams.open(stream, self.poke.clone());
                        let info = DelegatedInfo {
                            is_initiator: false,
                            public_key: *public_key,
                            remote_public_key: None,
                            handshake_id: Some(hs.0),
                            remote_address,
                            stream_id: stream,
                        };
                        let _ = incoming.try_send(DelegatedConnection::new(info, &shared));
                    }
                    _ => node.stream_destroy(stream),
                }
            }
            Event::HandshakeFailed { hs, .. } => {
                self.accepted.remove(&hs);
                self.pending_hs.remove(&hs);
            }
            Event::ServerClosed { server } => {
                self.accepted.retain(|_, (sid, _)| *sid != server);
                self.pending_hs.retain(|_, sid| *sid != server);
                if let Some(s) = self.servers.remove(&server) {
                    if let ServerKey::Local { key_pair, .. } = &s.key {
                        let pk = key_pair.public_key();
                        self.release(&pk);
                    }
                    if let Some((reply, _)) = s.listen_reply {
                        let _ = reply.send(Err(DhtError::Destroyed));
                    }
                }
            }
            Event::Persistent | Event::Ephemeral | Event::CloseProbe | Event::Announced { .. } => {}
            Event::Stream(_) => {}
        }
    }

    /// Fails everything waiting (the node is going away).
    pub(crate) fn fail_all(&mut self) {
        for w in self.ready_waiters.drain(..) {
            let _ = w.send(Err(DhtError::Destroyed));
        }
        for (_, slot) in self.ops.drain() {
            let _ = slot.tx.send(OpUpdate::Done(Err(DhtError::Destroyed)));
        }
        for (_, c) in self.clients.drain() {
            c.fail(DhtError::Destroyed);
        }
        for (_, s) in self.servers.drain() {
            if let Some((reply, _)) = s.listen_reply {
                let _ = reply.send(Err(DhtError::Destroyed));
            }
        }
        self.accepted.clear();
        self.pending_hs.clear();
        self.keys.clear();
    }
}

fn commits(list: Vec<CommitResult>) -> Vec<Commit> {
    list.into_iter().map(|c| Commit { to: c.to, result: c.result.map_err(|e| e.code()) }).collect()
}

fn op_done(outcome: OpOutcome) -> OpDone {
    match outcome {
        OpOutcome::Done => OpDone::Queried,
        OpOutcome::Committed(list) => OpDone::Committed(commits(list)),
        OpOutcome::Mutable(found) => OpDone::Mutable(found.map(|m| MutableValue {
            from: m.from,
            seq: m.seq,
            value: m.value,
            signature: m.signature,
        })),
        OpOutcome::Immutable(found) => OpDone::Immutable(found),
    }
}
