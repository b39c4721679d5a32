//! [`Node`]: a HyperDHT node (hyperdht `index.js`) as one sans-IO state machine: the dht-rpc
//! [`Rpc`], the UDX [`Endpoint`] sharing its socket, the storage of a persistent node, the
//! handshake router, listening servers (self-announce + incoming handshakes), outgoing
//! connections and client operations.
//!
//! The driver feeds datagrams ([`Node::handle_datagram`]) and time ([`Node::handle_timeout`])
//! and, after every call, drains [`Node::poll_transmit`] and [`Node::poll_event`] until *both*
//! return `None` (answering an event can queue datagrams, and taking an event can route more
//! work), then sleeps until [`Node::poll_timeout`]. Datagrams from the short-lived probe socket
//! of a firewall check go in with [`SocketKind::Probe`]; [`Event::CloseProbe`] says when it can
//! be closed. Secrets stay with the key holder: signatures and Noise messages are
//! asked for with events ([`Event::NeedSignature`], [`Event::NeedInitiatorMessage`],
//! [`Event::ResponderMessage`], [`Event::IncomingHandshake`]) and given back with the matching
//! calls. Streams are plain UDX streams: the key holder runs secret-stream over
//! [`Node::stream_write`] / [`Node::stream_read`].

use super::connect::{Connect, ConnectOptions};
use super::ops::{AnnounceOptions, Op, OpKind};
use super::persistent::{Persistent, PersistentOptions};
use super::router::{Routed, Router};
use super::server::{HsAction, HsId, NewHandshake, Server, ServerId};
use super::{command, hash, Answer, Cmd, HyperDhtError, Incoming, Key, OutQuery, OutRequest, Reply, SignAsk};
use crate::dht_rpc::{
    IncomingRequest, OutgoingRequest, QueryId, QuerySpec, ReplySpec, RequestId, Response, Rpc, RpcError,
    RpcOptions, SocketKind, Transmit,
};
use crate::udx::{self, Endpoint};
use hyperwasm::hyperdht::constants::{firewall, PAYLOAD_VERSION};
use hyperwasm::hyperdht::messages::{NoisePayload, Peer, SecretStreamInfo, UdxInfo};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddrV4;

pub use super::node_events::{ConnId, Event, OpId, SignId, SignOrigin};

/// How long the key holder may take to sign.
pub const SIGN_TIMEOUT_MS: u64 = 30_000;

/// How to run a [`Node`].
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// The dht-rpc node (bootstrap, port, ephemeral/firewalled, …).
    pub rpc: RpcOptions,
    /// Storage bounds of a persistent node.
    pub persistent: PersistentOptions,
    /// Advertise this address as reachable (`firewall: OPEN`) in handshakes; without it the
    /// node advertises what dht-rpc found (`remoteAddress()`), if anything.
    pub public_address: Option<SocketAddrV4>,
    /// Added to `now_ms` to get Unix time in ms (announce bumps are wall-clock times).
    pub unix_offset_ms: u64,
}

/// Who is waiting for a request, query or signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Owner {
    Op(OpId, u64),
    Conn(ConnId, u64),
    Server(ServerId, u64),
}

/// What happened to a stream before it was handed over (see [`Node`]'s `early`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Early {
    /// Bytes arrived: a Readable follows Connected / Incoming.
    pub(super) readable: bool,
    /// The peer ended: an Ended follows (after the Readable).
    pub(super) ended: bool,
}

/// Who owns a stream that is not connected yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamOwner {
    Conn(ConnId),
    Server(ServerId),
}

/// One HyperDHT node.
pub struct Node {
    pub(super) rpc: Rpc,
    pub(super) udx: Endpoint,
    pub(super) router: Router,
    pub(super) persistent: Option<Persistent>,
    pub(super) persistent_opts: PersistentOptions,
    pub(super) public_address: Option<SocketAddrV4>,
    pub(super) unix_offset_ms: u64,
    pub(super) ops: BTreeMap<OpId, Op>,
    pub(super) conns: BTreeMap<ConnId, Connect>,
    pub(super) servers: BTreeMap<ServerId, Server<IncomingRequest>>,
    pub(super) hs_server: HashMap<HsId, ServerId>,
    pub(super) requests: HashMap<RequestId, Owner>,
    pub(super) queries: HashMap<QueryId, Owner>,
    pub(super) query_ids: HashMap<Owner, QueryId>,
    pub(super) signs: HashMap<SignId, (Owner, u64)>,
    pub(super) streams: HashMap<u32, StreamOwner>,
    /// Stream events held back while a handshake owns the stream, raised once it is handed
    /// over.
    pub(super) early: HashMap<u32, Early>,
    pub(super) events: VecDeque<Event>,
    pub(super) next_id: u64,
    pub(super) now_ms: u64,
    pub(super) dropped_datagrams: u64,
    pub(super) destroyed: bool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.rpc.id().map(hex::encode))
            .field("ops", &self.ops.len())
            .field("conns", &self.conns.len())
            .field("servers", &self.servers.len())
            .finish_non_exhaustive()
    }
}

pub(super) fn reply_of(r: &Response) -> Reply {
    Reply {
        from: r.from,
        from_id: r.from_id,
        to: r.to,
        token: r.token,
        error: r.error,
        value: r.value.clone(),
    }
}

pub(super) fn rpc_error(e: &RpcError) -> HyperDhtError {
    match e {
        RpcError::RequestTimeout => HyperDhtError::RequestTimeout,
        RpcError::Overloaded => HyperDhtError::Overloaded,
        RpcError::Destroyed => HyperDhtError::Destroyed,
    }
}

impl Node {
    /// A node; its dht-rpc side starts bootstrapping at once. A test seed (`opts.rpc.seed`)
    /// makes its UDX stream ids deterministic too.
    pub fn new(opts: NodeOptions, now_ms: u64) -> Self {
        let mut udx = Endpoint::new();
        if let Some(seed) = opts.rpc.seed {
            udx.seed_stream_ids(seed);
        }
        Node {
            rpc: Rpc::new(opts.rpc, now_ms),
            udx,
            router: Router::new(now_ms),
            persistent: None,
            persistent_opts: opts.persistent,
            public_address: opts.public_address,
            unix_offset_ms: opts.unix_offset_ms,
            ops: BTreeMap::new(),
            conns: BTreeMap::new(),
            servers: BTreeMap::new(),
            hs_server: HashMap::new(),
            requests: HashMap::new(),
            queries: HashMap::new(),
            query_ids: HashMap::new(),
            signs: HashMap::new(),
            streams: HashMap::new(),
            early: HashMap::new(),
            events: VecDeque::new(),
            next_id: 0,
            now_ms,
            dropped_datagrams: 0,
            destroyed: false,
        }
    }

    pub(super) fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn tick(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
    }

    // -----------------------------------------------------------------------------------------
    // Driver surface

    /// One datagram from the main socket (or the probe socket). Demux as the contract says:
    /// UDX for a known stream id, else dht-rpc (`0x03`/`0x13`), else dropped (1-byte
    /// holepunch probes included: this node does not punch).
    pub fn handle_datagram(&mut self, from: SocketAddrV4, socket: SocketKind, bytes: &[u8], now_ms: u64) {
        self.tick(now_ms);
        if self.destroyed {
            return;
        }
        let is_udx = socket == SocketKind::Main
            && bytes.len() >= udx::HEADER_LEN
            && bytes[0] == 0xff
            && bytes[1] == 1
            && self.udx.handle_packet(from, bytes, self.now_ms);
        if !is_udx {
            match bytes.first() {
                Some(0x03) | Some(0x13) => self.rpc.handle_datagram(from, socket, bytes, self.now_ms),
                _ => self.dropped_datagrams += 1,
            }
        }
        self.process();
    }

    /// The next datagram to send (dht-rpc's first, then UDX's), in a new buffer; see
    /// [`Node::poll_transmit_into`] for the allocation-free form.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.rpc.poll_transmit() {
            return Some(t);
        }
        let mut bytes = Vec::new();
        let to = self.udx.poll_transmit(self.now_ms, &mut bytes)?;
        Some(Transmit { to, socket: SocketKind::Main, bytes })
    }

    /// The next datagram to send, written into `buf` (cleared first; its capacity is reused,
    /// so a driver sending a stream's packets allocates nothing per datagram). Returns where
    /// it goes and from which socket; `None` (with `buf` unspecified) when nothing is queued.
    pub fn poll_transmit_into(&mut self, buf: &mut Vec<u8>) -> Option<(SocketAddrV4, SocketKind)> {
        if let Some(t) = self.rpc.poll_transmit() {
            buf.clear();
            buf.extend_from_slice(&t.bytes);
            return Some((t.to, t.socket));
        }
        let to = self.udx.poll_transmit(self.now_ms, buf)?;
        Some((to, SocketKind::Main))
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events.is_empty() {
            self.process();
        }
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.destroyed {
            return None;
        }
        let pieces = self
            .ops
            .values()
            .filter_map(Op::poll_timeout)
            .chain(self.conns.values().filter_map(Connect::poll_timeout))
            .chain(self.servers.values().filter_map(|s| s.poll_timeout()))
            .chain(self.servers.values().filter_map(|s| s.announcer.poll_timeout()))
            .chain(self.signs.values().map(|(_, d)| *d));
        [self.rpc.poll_timeout(), self.udx.poll_timeout()].into_iter().flatten().chain(pieces).min()
    }

    /// Runs everything due at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.tick(now_ms);
        if self.destroyed {
            return;
        }
        let now = self.now_ms;
        self.rpc.handle_timeout(now);
        self.udx.handle_timeout(now);
        for op in self.ops.values_mut() {
            op.handle_timeout(now);
        }
        for c in self.conns.values_mut() {
            c.handle_timeout(now);
        }
        for s in self.servers.values_mut() {
            s.handle_timeout(now);
            s.announcer.handle_timeout(now);
        }
        let expired: Vec<SignId> =
            self.signs.iter().filter(|(_, (_, d))| now >= *d).map(|(k, _)| *k).collect();
        for sid in expired {
            if let Some((owner, _)) = self.signs.remove(&sid) {
                self.deliver_signature(owner, None);
            }
        }
        self.hs_server.retain(|hs, sid| self.servers.get(sid).is_some_and(|s| s.has(*hs)));
        self.flush_all();
        self.process();
    }

    /// Datagrams dropped by the demux (neither UDX for a known stream nor dht-rpc).
    pub fn dropped_datagrams(&self) -> u64 {
        self.dropped_datagrams
    }

    /// The dht-rpc node (ids, table, stats).
    pub fn rpc(&self) -> &Rpc {
        &self.rpc
    }

    /// The UDX endpoint (stream info).
    pub fn udx(&self) -> &Endpoint {
        &self.udx
    }

    /// The address advertised in handshakes as reachable, if any.
    pub fn public_address(&self) -> Option<SocketAddrV4> {
        self.public_address.or_else(|| self.rpc.remote_address())
    }

    /// Where the server with key hash `target` self-announced from, if this node stores its
    /// record (it then relays handshakes to that address).
    pub fn stored_relay(&self, target: &Key) -> Option<SocketAddrV4> {
        self.router.peek(target).and_then(|f| f.relay)
    }

    /// Records stored by this node (0 while ephemeral).
    pub fn stored_records(&self) -> usize {
        self.persistent.as_ref().map_or(0, Persistent::record_count)
    }

    /// Stops everything: connections fail with `DESTROYED`, servers close without
    /// unannouncing, streams are destroyed, dht-rpc stops.
    pub fn destroy(&mut self) {
        if self.destroyed {
            return;
        }
        for (id, c) in std::mem::take(&mut self.conns) {
            if !c.is_done() {
                self.events.push_back(Event::ConnectFailed { conn: id, error: HyperDhtError::Destroyed });
            }
        }
        self.ops.clear();
        self.servers.clear();
        for s in std::mem::take(&mut self.streams).into_keys() {
            self.early.remove(&s);
            self.udx.destroy(s);
        }
        self.signs.clear();
        self.rpc.destroy();
        self.destroyed = true;
        while self.rpc.poll_event().is_some() {}
    }

    // -----------------------------------------------------------------------------------------
    // Client operations

    fn start_op(&mut self, kind: OpKind, target: Key) -> OpId {
        let id = OpId(self.next());
        if self.destroyed {
            self.events.push_back(Event::OpDone { op: id, result: Err(HyperDhtError::Destroyed) });
            return id;
        }
        self.ops.insert(id, Op::new(kind, target));
        self.flush_op(id);
        self.process();
        id
    }

    /// LOOKUP `topic`: [`Event::LookupReply`]s, then [`Event::OpDone`].
    pub fn lookup(&mut self, topic: Key, now_ms: u64) -> OpId {
        self.tick(now_ms);
        self.start_op(OpKind::Lookup, topic)
    }

    /// FIND_PEER `hash(public_key)`: [`Event::FindPeerReply`]s, then [`Event::OpDone`].
    pub fn find_peer(&mut self, public_key: &Key, now_ms: u64) -> OpId {
        self.tick(now_ms);
        self.start_op(OpKind::FindPeer, hash(public_key))
    }

    /// ANNOUNCE `public_key` (with `relay_addresses`) under `topic` to the closest nodes:
    /// [`Event::LookupReply`]s, one [`Event::NeedSignature`] per closest node, then
    /// [`Event::Announced`] per round and [`Event::OpDone`] (after the first round, or on
    /// [`Node::cancel`] for a kept-alive announce).
    pub fn announce(
        &mut self,
        topic: Key,
        public_key: Key,
        relay_addresses: Vec<SocketAddrV4>,
        opts: AnnounceOptions,
        now_ms: u64,
    ) -> OpId {
        self.tick(now_ms);
        let peer = Peer { public_key, relay_addresses };
        if opts.clear {
            self.unlink_local(&topic, &public_key);
        }
        self.start_op(OpKind::Announce { peer, opts }, topic)
    }

    /// Removes `public_key`'s record under `topic` from the nodes that have it.
    pub fn unannounce(&mut self, topic: Key, public_key: Key, now_ms: u64) -> OpId {
        self.tick(now_ms);
        self.unlink_local(&topic, &public_key);
        self.start_op(OpKind::Unannounce { public_key }, topic)
    }

    fn unlink_local(&mut self, topic: &Key, public_key: &Key) {
        if let Some(p) = self.persistent.as_mut() {
            p.unannounce(&mut self.router, topic, public_key);
        }
    }

    /// MUTABLE_PUT `value` at `seq` under `public_key` (one signature asked for first):
    /// [`Event::OpDone`] with the commits (their error numbers show SEQ_REUSED/SEQ_TOO_LOW).
    pub fn mutable_put(&mut self, public_key: Key, value: Vec<u8>, seq: u64, now_ms: u64) -> OpId {
        self.tick(now_ms);
        self.start_op(OpKind::MutablePut { public_key, seq, value }, hash(&public_key))
    }

    /// MUTABLE_GET: the highest-seq (or, with `latest == false`, the first) value whose
    /// signature verifies and whose seq is at least `seq`, in [`Event::OpDone`].
    pub fn mutable_get(&mut self, public_key: Key, seq: u64, latest: bool, now_ms: u64) -> OpId {
        self.tick(now_ms);
        self.start_op(OpKind::MutableGet { public_key, seq, latest }, hash(&public_key))
    }

    /// IMMUTABLE_PUT `value` under `hash(value)`.
    pub fn immutable_put(&mut self, value: Vec<u8>, now_ms: u64) -> OpId {
        self.tick(now_ms);
        let target = hash(&value);
        self.start_op(OpKind::ImmutablePut { value }, target)
    }

    /// IMMUTABLE_GET the value hashing to `target`.
    pub fn immutable_get(&mut self, target: Key, now_ms: u64) -> OpId {
        self.tick(now_ms);
        self.start_op(OpKind::ImmutableGet, target)
    }

    /// Stops an operation; no further events for it.
    pub fn cancel(&mut self, op: OpId) {
        if let Some(o) = self.ops.get_mut(&op) {
            o.cancel();
            self.flush_op(op);
            self.ops.remove(&op);
            self.forget_owner(|o| matches!(o, Owner::Op(id, _) if *id == op));
        }
    }

    /// Answers [`Event::NeedSignature`].
    pub fn provide_signature(
        &mut self,
        op: SignId,
        signature: [u8; 64],
        now_ms: u64,
    ) -> Result<(), HyperDhtError> {
        self.tick(now_ms);
        let (owner, _) = self.signs.remove(&op).ok_or(HyperDhtError::UnknownId)?;
        self.deliver_signature(owner, Some(signature));
        self.flush_all();
        self.process();
        Ok(())
    }

    /// The key holder cannot sign (the operation treats it as a failed commit).
    pub fn refuse_signature(&mut self, op: SignId, now_ms: u64) {
        self.tick(now_ms);
        if let Some((owner, _)) = self.signs.remove(&op) {
            self.deliver_signature(owner, None);
            self.flush_all();
            self.process();
        }
    }

    fn deliver_signature(&mut self, owner: Owner, sig: Option<[u8; 64]>) {
        let now = self.now_ms;
        match owner {
            Owner::Op(id, k) => {
                if let Some(o) = self.ops.get_mut(&id) {
                    o.on_signature(k, sig, now);
                }
            }
            Owner::Server(id, k) => {
                if let Some(s) = self.servers.get_mut(&id) {
                    s.announcer.on_signature(k, sig);
                }
            }
            Owner::Conn(..) => {}
        }
    }

    // -----------------------------------------------------------------------------------------
    // Connections

    fn udx_payload(&self, stream: u32) -> NoisePayload {
        let ours = self.public_address();
        NoisePayload {
            version: PAYLOAD_VERSION,
            error: 0,
            firewall: if ours.is_some() { firewall::OPEN } else { firewall::UNKNOWN },
            holepunch: None,
            addresses4: ours.into_iter().collect(),
            addresses6: Vec::new(),
            udx: Some(UdxInfo { id: u64::from(stream), ..UdxInfo::default() }),
            secret_stream: Some(SecretStreamInfo::default()),
            relay_through: None,
            relay_addresses: None,
        }
    }

    /// Connects to the server `remote_public_key`: a UDX stream is created at once and
    /// [`Event::NeedInitiatorMessage`] asks for msg1; then [`Event::ResponderMessage`] asks for
    /// the server's payload; then [`Event::Connected`] or [`Event::ConnectFailed`].
    pub fn connect(&mut self, remote_public_key: &Key, mut opts: ConnectOptions, now_ms: u64) -> ConnId {
        self.tick(now_ms);
        let id = ConnId(self.next());
        if self.destroyed {
            self.events.push_back(Event::ConnectFailed { conn: id, error: HyperDhtError::Destroyed });
            return id;
        }
        let target = hash(remote_public_key);
        if opts.relay_addresses.is_empty() {
            // We store the server's record ourselves: its announcer is the relay.
            if let Some(relay) = self.router.get(&target, self.now_ms).and_then(|f| f.relay) {
                opts.relay_addresses.push(relay);
            }
        }
        let stream = self.udx.create_stream();
        self.streams.insert(stream, StreamOwner::Conn(id));
        let payload = self.udx_payload(stream);
        self.conns.insert(id, Connect::new(target, stream, payload, opts, self.now_ms));
        self.flush_conn(id);
        self.process();
        id
    }

    fn with_conn(&mut self, conn: ConnId, f: impl FnOnce(&mut Connect, u64)) -> Result<(), HyperDhtError> {
        let now = self.now_ms;
        let c = self.conns.get_mut(&conn).ok_or(HyperDhtError::UnknownId)?;
        f(c, now);
        self.flush_conn(conn);
        self.process();
        Ok(())
    }

    /// Answers [`Event::NeedInitiatorMessage`] with the Noise IK msg1.
    pub fn provide_initiator_message(
        &mut self,
        conn: ConnId,
        msg1: Vec<u8>,
        now_ms: u64,
    ) -> Result<(), HyperDhtError> {
        self.tick(now_ms);
        self.with_conn(conn, |c, now| c.on_initiator_message(msg1, now))
    }

    /// Answers [`Event::ResponderMessage`] with the server's decrypted payload.
    pub fn provide_remote_payload(
        &mut self,
        conn: ConnId,
        payload: &NoisePayload,
        now_ms: u64,
    ) -> Result<(), HyperDhtError> {
        self.tick(now_ms);
        self.with_conn(conn, |c, now| c.on_remote_payload(payload, now))
    }

    /// Gives up a connection (e.g. msg2 did not decrypt): [`Event::ConnectFailed`] with `error`.
    pub fn abort(&mut self, conn: ConnId, error: HyperDhtError, now_ms: u64) -> Result<(), HyperDhtError> {
        self.tick(now_ms);
        self.with_conn(conn, |c, _| c.fail(error))
    }

    /// Listens on `public_key`: registers the server with the router and starts its
    /// self-announce ([`Event::NeedSignature`]s, then [`Event::ServerAnnounced`]).
    pub fn listen(&mut self, public_key: Key, now_ms: u64) -> Result<ServerId, HyperDhtError> {
        self.tick(now_ms);
        if self.destroyed {
            return Err(HyperDhtError::Destroyed);
        }
        if self.servers.values().any(|s| *s.public_key() == public_key) {
            return Err(HyperDhtError::KeypairAlreadyUsed);
        }
        let id = ServerId(self.next());
        let server = Server::new(public_key);
        self.router.set_server(*server.target(), id, server.announcer.record());
        self.servers.insert(id, server);
        self.flush_server(id);
        self.process();
        Ok(id)
    }

    /// Stops listening: unfinished handshakes are dropped, the relays are unannounced, then
    /// [`Event::ServerClosed`].
    pub fn unlisten(&mut self, server: ServerId, now_ms: u64) {
        self.tick(now_ms);
        let Some(s) = self.servers.get_mut(&server) else { return };
        let target = *s.target();
        s.close();
        self.router.delete_server(&target);
        self.flush_server(server);
        self.process();
    }

    /// Answers [`Event::IncomingHandshake`]: `msg2` and the client's decrypted payload. Every
    /// copy of the client's msg1 (via any relay) is answered with these same bytes.
    pub fn accept_handshake(
        &mut self,
        hs: HsId,
        msg2: Vec<u8>,
        remote_payload: &NoisePayload,
        now_ms: u64,
    ) -> Result<(), HyperDhtError> {
        self.tick(now_ms);
        let sid = *self.hs_server.get(&hs).ok_or(HyperDhtError::UnknownId)?;
        let s = self.servers.get_mut(&sid).ok_or(HyperDhtError::UnknownId)?;
        let answers = s.accept(hs, msg2, remote_payload, self.now_ms)?;
        for (req, answer) in answers {
            self.apply(&req, answer);
        }
        self.flush_server(sid);
        self.process();
        Ok(())
    }

    /// Refuses [`Event::IncomingHandshake`] (the firewall said no, or msg1 did not decrypt):
    /// nothing is sent, duplicates stay unanswered.
    pub fn reject_handshake(&mut self, hs: HsId, now_ms: u64) -> Result<(), HyperDhtError> {
        self.tick(now_ms);
        let sid = *self.hs_server.get(&hs).ok_or(HyperDhtError::UnknownId)?;
        let s = self.servers.get_mut(&sid).ok_or(HyperDhtError::UnknownId)?;
        s.reject(hs, self.now_ms)?;
        self.flush_server(sid);
        self.process();
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Streams (passthrough to the UDX endpoint)

    /// Queues bytes on a connected stream; returns how many were taken.
    pub fn stream_write(&mut self, stream: u32, data: &[u8]) -> usize {
        self.udx.write(stream, data)
    }

    /// Reads in-order bytes into `buf`; returns how many.
    pub fn stream_read(&mut self, stream: u32, buf: &mut Vec<u8>) -> usize {
        self.udx.read(stream, buf)
    }

    /// Ends our side of a stream (UDX END).
    pub fn stream_end(&mut self, stream: u32) {
        self.udx.end(stream)
    }

    /// Destroys a stream (UDX DESTROY).
    pub fn stream_destroy(&mut self, stream: u32) {
        self.streams.remove(&stream);
        self.early.remove(&stream);
        self.udx.destroy(stream)
    }

    // -----------------------------------------------------------------------------------------
    // Incoming requests

    pub(super) fn on_request(&mut self, req: IncomingRequest) {
        let now = self.now_ms;
        let inc = Incoming {
            from: req.from,
            command: req.command,
            target: req.target,
            token: req.token,
            value: req.value.as_deref(),
        };
        match req.command {
            command::PEER_HANDSHAKE => match self.router.on_peer_handshake(&inc, now) {
                Routed::Answer(a) => self.apply(&req, a),
                Routed::ToServer(route) => self.server_handshake(route, req),
            },
            command::PEER_HOLEPUNCH => {
                let a = self.router.on_peer_holepunch(&inc, now);
                self.apply(&req, a);
            }
            command::FIND_PEER..=command::PLUGIN => match self.rpc.id() {
                Some(id) => {
                    let opts = &self.persistent_opts;
                    let p = self.persistent.get_or_insert_with(|| Persistent::new(opts, now));
                    let unix = now.saturating_add(self.unix_offset_ms);
                    let a = p.on_request(&mut self.router, &id, &inc, unix, now);
                    self.apply(&req, a);
                }
                None => self.rpc.reply(&req, ReplySpec::error(super::ERR_UNKNOWN_COMMAND)),
            },
            _ => self.rpc.reply(&req, ReplySpec::error(super::ERR_UNKNOWN_COMMAND)),
        }
    }

    fn server_handshake(&mut self, route: super::router::ServerHandshake, req: IncomingRequest) {
        let sid = route.server;
        let from = req.from;
        let Some(s) = self.servers.get_mut(&sid) else { return };
        match s.on_handshake(route.clone(), from, req) {
            HsAction::Answers(list) => {
                for (r, a) in list {
                    self.apply(&r, a);
                }
            }
            HsAction::New(req) => {
                if !s.can_begin() {
                    return;
                }
                let hs = HsId(self.next());
                let stream = self.udx.create_stream();
                self.streams.insert(stream, StreamOwner::Server(sid));
                self.hs_server.insert(hs, sid);
                let mut payload = self.udx_payload(stream);
                let Some(s) = self.servers.get_mut(&sid) else { return };
                let relays = s.announcer.relay_addresses().to_vec();
                if !relays.is_empty() {
                    payload.relay_addresses = Some(relays);
                }
                s.begin(
                    NewHandshake { id: hs, route, from, req, stream, local_payload: payload },
                    self.now_ms,
                );
                self.flush_server(sid);
            }
        }
    }

    pub(super) fn apply(&mut self, req: &IncomingRequest, answer: Answer) {
        match answer {
            Answer::Silent => {}
            Answer::Reply { value, token, closer_nodes, to } => {
                self.rpc.reply(req, ReplySpec { value, error: 0, token, closer_nodes, to, socket: None })
            }
            Answer::Error { code } => self.rpc.reply(req, ReplySpec::error(code)),
            Answer::Relay { value, to } => self.rpc.relay(req, Some(value), to),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Commands from the pieces

    pub(super) fn exec(&mut self, owner_of: impl Fn(u64) -> Owner, cmd: Cmd<u64>) {
        let now = self.now_ms;
        match cmd {
            Cmd::Request(k, r) => {
                let OutRequest { to, command, internal, target, token, value } = r;
                let req =
                    OutgoingRequest { token, internal, target, value, ..OutgoingRequest::new(to, command) };
                let id = self.rpc.request(req, now);
                self.requests.insert(id, owner_of(k));
            }
            Cmd::Query(k, q) => {
                let OutQuery { command, target, value, nodes } = q;
                let spec = QuerySpec { nodes, ..QuerySpec::command(command, target, value) };
                let id = self.rpc.query(spec, now);
                let owner = owner_of(k);
                self.queries.insert(id, owner);
                self.query_ids.insert(owner, id);
            }
            Cmd::DestroyQuery(k) => {
                if let Some(id) = self.query_ids.remove(&owner_of(k)) {
                    self.queries.remove(&id);
                    self.rpc.destroy_query(id);
                }
            }
            Cmd::Sign(k, ask) => {
                let sid = SignId(self.next());
                let owner = owner_of(k);
                self.signs.insert(sid, (owner, now + SIGN_TIMEOUT_MS));
                let origin = match owner {
                    Owner::Op(id, _) => SignOrigin::Op(id),
                    Owner::Server(id, _) => SignOrigin::Server(id),
                    Owner::Conn(id, _) => SignOrigin::Conn(id),
                };
                let SignAsk { public_key, signable, parts } = ask;
                self.events.push_back(Event::NeedSignature { op: sid, origin, public_key, signable, parts });
            }
            Cmd::StreamConnect { stream, remote_id, to } => {
                self.streams.remove(&stream);
                // An id collision or a stream closed meanwhile surfaces as stream events.
                let _ = self.udx.connect(stream, remote_id, to, now);
            }
            Cmd::StreamDestroy(stream) => {
                self.streams.remove(&stream);
                self.early.remove(&stream);
                self.udx.destroy(stream);
            }
        }
    }

    pub(super) fn forget_owner(&mut self, pred: impl Fn(&Owner) -> bool) {
        self.requests.retain(|_, o| !pred(o));
        self.queries.retain(|_, o| !pred(o));
        let dead: Vec<Owner> = self.query_ids.keys().filter(|o| pred(o)).copied().collect();
        for o in dead {
            if let Some(q) = self.query_ids.remove(&o) {
                self.rpc.destroy_query(q);
            }
        }
        self.signs.retain(|_, (o, _)| !pred(o));
    }
}
