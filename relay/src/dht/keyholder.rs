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
use crate::hyperdht::node::{ConnId, Event, Node, OpId};
use crate::hyperdht::ops::{AnnounceOptions, CommitResult, OpOutcome};
use crate::hyperdht::server::{payload_error, HsId, ServerId};
use crate::hyperdht::HyperDhtError;

use super::conn::{Connection, ConnectionInfo, Poke};
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
}

struct Client {
    key_pair: KeyPair,
    remote: [u8; 32],
    wrap: Option<NoiseWrap>,
    result: Option<NoiseWrapResult>,
    reply: oneshot::Sender<Result<Connection, DhtError>>,
}

struct ServerSlot {
    key_pair: KeyPair,
    incoming: mpsc::Sender<Connection>,
    relays: Vec<SocketAddrV4>,
    /// `listen` answers after the first self-announce (as JS `server.listen()` resolves).
    listen_reply: Option<(oneshot::Sender<Result<u64, DhtError>>, u64)>,
}

/// See the module docs.
pub(crate) struct KeyHolder {
    poke: Poke,
    local: SocketAddrV4,
    keys: HashMap<[u8; 32], (KeyPair, usize)>,
    ready: bool,
    ready_waiters: Vec<oneshot::Sender<Result<(), DhtError>>>,
    ops: HashMap<OpId, OpSlot>,
    clients: HashMap<ConnId, Client>,
    servers: HashMap<ServerId, ServerSlot>,
    /// Handshakes we answered, waiting for `Incoming` (or `HandshakeFailed`).
    accepted: HashMap<HsId, (ServerId, NoiseWrapResult)>,
}

impl KeyHolder {
    /// A key holder whose connections poke the driver through `cmds`.
    pub(crate) fn new(cmds: mpsc::WeakUnboundedSender<Command>, local: SocketAddrV4) -> Self {
        let poke: Poke = Arc::new(move |id| {
            if let Some(tx) = cmds.upgrade() {
                let _ = tx.send(Command::Poke(id));
            }
        });
        KeyHolder {
            poke,
            local,
            keys: HashMap::new(),
            ready: false,
            ready_waiters: Vec::new(),
            ops: HashMap::new(),
            clients: HashMap::new(),
            servers: HashMap::new(),
            accepted: HashMap::new(),
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

    /// Answers `listen`s whose server never announced in time.
    pub(crate) fn handle_timeout(&mut self, _node: &mut Node, now: u64) {
        for (id, s) in self.servers.iter_mut() {
            if s.listen_reply.as_ref().is_some_and(|(_, t)| *t <= now) {
                if let Some((reply, _)) = s.listen_reply.take() {
                    let _ = reply.send(Ok(id.0));
                }
            }
        }
    }

    /// A command from a handle (not `Poke`/`Destroy`, which the driver keeps).
    pub(crate) fn command(&mut self, node: &mut Node, cmd: Command, now: u64) {
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
                let client = Client { key_pair, remote: remote_public_key, wrap: None, result: None, reply };
                self.clients.insert(id, client);
            }
            Command::Listen { key_pair, incoming, reply } => match node.listen(key_pair.public_key(), now) {
                Ok(id) => {
                    self.hold(&key_pair);
                    let listen_reply = Some((reply, now + LISTEN_WAIT_MS));
                    self.servers
                        .insert(id, ServerSlot { key_pair, incoming, relays: Vec::new(), listen_reply });
                }
                Err(e) => {
                    let _ = reply.send(Err(node_error(&e)));
                }
            },
            Command::ServerRelays(id, reply) => {
                let relays = self.servers.get(&ServerId(id)).map(|s| s.relays.clone()).unwrap_or_default();
                let _ = reply.send(relays);
            }
            Command::CloseServer(id) => node.unlisten(ServerId(id), now),
            Command::Poke(_) | Command::Destroy(_) => {}
        }
    }

    fn start_op(&mut self, node: &mut Node, req: OpRequest, tx: mpsc::UnboundedSender<OpUpdate>, now: u64) {
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
        self.ops.insert(id, OpSlot { tx, key });
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
            Event::NeedSignature { op, public_key, signable } => match self.keys.get(&public_key) {
                Some((kp, _)) => {
                    let _ = node.provide_signature(op, kp.sign(&signable), now);
                }
                None => node.refuse_signature(op, now),
            },
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
                let mut w = NoiseWrap::initiator(&c.key_pair, c.remote);
                match w.send(&local_payload) {
                    Ok(msg1) => {
                        c.wrap = Some(w);
                        let _ = node.provide_initiator_message(conn, msg1, now);
                    }
                    Err(_) => {
                        let _ = node.abort(conn, HyperDhtError::HandshakeInvalid, now);
                    }
                }
            }
            Event::ResponderMessage { conn, msg2 } => {
                let Some(c) = self.clients.get_mut(&conn) else { return };
                let Some(mut w) = c.wrap.take() else { return };
                match w.recv(&msg2) {
                    Ok(payload) => {
                        c.result = w.finish().ok();
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
                let Some(result) = c.result else {
                    node.stream_destroy(stream);
                    let _ = c.reply.send(Err(node_error(&HyperDhtError::HandshakeUnfinished)));
                    return;
                };
                let shared = streams.open(stream, self.poke.clone());
                let info = ConnectionInfo { handshake: result.handshake, remote_address, stream_id: stream };
                // A dropped `connect` future drops the connection, which destroys the stream.
                let _ = c.reply.send(Ok(Connection::new(info, &shared)));
            }
            Event::ConnectFailed { conn, error } => {
                if let Some(c) = self.clients.remove(&conn) {
                    let _ = c.reply.send(Err(node_error(&error)));
                }
            }
            Event::ServerAnnounced { server, relays } => {
                if let Some(s) = self.servers.get_mut(&server) {
                    s.relays = relays.iter().map(|r| r.relay_address).collect();
                    if let Some((reply, _)) = s.listen_reply.take() {
                        let _ = reply.send(Ok(server.0));
                    }
                }
            }
            Event::IncomingHandshake { server, hs, msg1, local_payload, .. } => {
                let Some(s) = self.servers.get(&server) else {
                    let _ = node.reject_handshake(hs, now);
                    return;
                };
                if s.incoming.capacity() == 0 || s.incoming.is_closed() || self.accepted.len() >= MAX_ACCEPTED
                {
                    // Backlog full, nobody accepting, or too many handshakes in flight.
                    let _ = node.reject_handshake(hs, now);
                    return;
                }
                let mut w = NoiseWrap::responder(&s.key_pair);
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
                        self.accepted.insert(hs, (server, res));
                    }
                    _ => {}
                }
                let _ = node.accept_handshake(hs, msg2, &remote, now);
            }
            Event::Incoming { server, hs, stream, remote_address } => {
                let (Some((_, result)), Some(s)) = (self.accepted.remove(&hs), self.servers.get(&server))
                else {
                    node.stream_destroy(stream);
                    return;
                };
                let shared = streams.open(stream, self.poke.clone());
                let info = ConnectionInfo { handshake: result.handshake, remote_address, stream_id: stream };
                // Full backlog or a dropped Server: the connection drops and is destroyed.
                let _ = s.incoming.try_send(Connection::new(info, &shared));
            }
            Event::HandshakeFailed { hs, .. } => {
                self.accepted.remove(&hs);
            }
            Event::ServerClosed { server } => {
                self.accepted.retain(|_, (sid, _)| *sid != server);
                if let Some(s) = self.servers.remove(&server) {
                    let pk = s.key_pair.public_key();
                    self.release(&pk);
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
            let _ = c.reply.send(Err(DhtError::Destroyed));
        }
        for (_, s) in self.servers.drain() {
            if let Some((reply, _)) = s.listen_reply {
                let _ = reply.send(Err(DhtError::Destroyed));
            }
        }
        self.accepted.clear();
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
