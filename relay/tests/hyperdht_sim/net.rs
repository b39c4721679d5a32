//! An in-memory UDP network of HyperDHT [`Node`]s: a deterministic clock, 5–40 ms latency,
//! optional loss, optional NAT filtering (a firewalled node only hears from addresses it sent
//! to), a tap of every datagram, and a key holder per node that answers the asked-for events
//! with real keys (Ed25519 signatures, Noise IK through `noise_wrap`, secret-stream over the
//! UDX streams).

use hyperwasm::crypto::KeyPair;
use hyperwasm::hyperdht::messages::NoisePayload;
use hyperwasm::hyperdht::noise_wrap::{NoiseWrap, NoiseWrapResult};
use hyperwasm::secret_stream::{SecretStream, SecretStreamEvent, SecretStreamOptions};
use hyperwasm_relay::dht_rpc::{RpcOptions, SocketKind};
use hyperwasm_relay::hyperdht::connect::ConnectOptions;
use hyperwasm_relay::hyperdht::node::{ConnId, Event, Node, NodeOptions};
use hyperwasm_relay::hyperdht::server::{payload_error, HsId, ServerId};
use hyperwasm_relay::udx;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};

/// One datagram seen on the wire.
#[derive(Debug, Clone)]
pub struct Tapped {
    pub at: u64,
    pub from: SocketAddrV4,
    pub to: SocketAddrV4,
    pub bytes: Vec<u8>,
}

/// The key holder's view of one secret-stream connection.
pub struct Conn {
    pub ss: SecretStream,
    pub received: Vec<Vec<u8>>,
    pub remote_public_key: [u8; 32],
}

pub struct SimNode {
    pub node: Node,
    pub addr: SocketAddrV4,
    /// NAT filtering: only addresses we sent to may reach us.
    pub firewalled: bool,
    contacted: HashSet<SocketAddrV4>,
    pub keys: HashMap<[u8; 32], KeyPair>,
    pub servers: HashMap<ServerId, [u8; 32]>,
    pub log: Vec<Event>,
    /// Client handshakes in progress: key pair, server key, Noise state.
    clients: HashMap<ConnId, (KeyPair, [u8; 32], Option<NoiseWrap>, Option<NoiseWrapResult>)>,
    /// Server handshakes answered: their Noise results.
    accepted: HashMap<HsId, NoiseWrapResult>,
    pub conns: HashMap<u32, Conn>,
    /// Client keys the servers of this node refuse (the firewall hook).
    pub reject: HashSet<[u8; 32]>,
    /// Echo every message received on server-side connections.
    pub echo: bool,
    /// Sign when asked.
    pub sign: bool,
    pub signatures: usize,
}

type Packet = Reverse<(u64, u64, usize, SocketKind, SocketAddrV4, Vec<u8>)>;

pub struct Net {
    pub now: u64,
    pub nodes: Vec<SimNode>,
    routes: HashMap<SocketAddrV4, (usize, SocketKind)>,
    queue: BinaryHeap<Packet>,
    seq: u64,
    rng: u64,
    pub loss_per_mille: u64,
    pub tap: Vec<Tapped>,
    pub tapping: bool,
    pub delivered: u64,
    pub lost: u64,
}

fn probe_addr(addr: SocketAddrV4) -> SocketAddrV4 {
    SocketAddrV4::new(*addr.ip(), addr.port().wrapping_add(20_000))
}

impl Net {
    pub fn new(seed: u64, loss_per_mille: u64) -> Self {
        Net {
            now: 1_000_000,
            nodes: Vec::new(),
            routes: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            rng: seed | 1,
            loss_per_mille,
            tap: Vec::new(),
            tapping: false,
            delivered: 0,
            lost: 0,
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Public, non-bogon addresses (path choice skips bogons as JS does).
    pub fn addr_of(i: usize) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(20, (i / 200) as u8, (i % 200) as u8 + 1, 7), 4000 + i as u16)
    }

    pub fn bootstrap(&self) -> Vec<SocketAddrV4> {
        vec![Net::addr_of(0)]
    }

    fn add(&mut self, mut opts: NodeOptions, firewalled: bool) -> usize {
        let i = self.nodes.len();
        let addr = Net::addr_of(i);
        opts.rpc.port = addr.port();
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.rand().to_le_bytes());
        opts.rpc.seed = Some(seed);
        self.routes.insert(addr, (i, SocketKind::Main));
        self.routes.insert(probe_addr(addr), (i, SocketKind::Probe));
        let node = Node::new(opts, self.now);
        self.nodes.push(SimNode {
            node,
            addr,
            firewalled,
            contacted: HashSet::new(),
            keys: HashMap::new(),
            servers: HashMap::new(),
            log: Vec::new(),
            clients: HashMap::new(),
            accepted: HashMap::new(),
            conns: HashMap::new(),
            reject: HashSet::new(),
            echo: true,
            sign: true,
            signatures: 0,
        });
        self.flush();
        i
    }

    /// A persistent, reachable node (as `hyperdht/testnet` nodes).
    pub fn add_persistent(&mut self) -> usize {
        let i = self.nodes.len();
        let bootstrap = if i == 0 { Vec::new() } else { self.bootstrap() };
        let rpc = RpcOptions {
            bootstrap,
            ephemeral: Some(false),
            firewalled: false,
            host: *Net::addr_of(i).ip(),
            ..RpcOptions::default()
        };
        self.add(NodeOptions { rpc, ..NodeOptions::default() }, false)
    }

    /// An ephemeral node. `public`: it knows it is reachable (advertises OPEN, like our
    /// relay); else it is behind a filtering NAT and advertises nothing.
    pub fn add_client(&mut self, public: bool) -> usize {
        let i = self.nodes.len();
        let rpc = RpcOptions { bootstrap: self.bootstrap(), ..RpcOptions::default() };
        let public_address = public.then(|| Net::addr_of(i));
        self.add(NodeOptions { rpc, public_address, ..NodeOptions::default() }, !public)
    }

    /// `n` persistent nodes, bootstrapped.
    pub fn testnet(seed: u64, loss_per_mille: u64, n: usize) -> Self {
        let mut net = Net::new(seed, loss_per_mille);
        for _ in 0..n {
            net.add_persistent();
        }
        net.run(10_000);
        net
    }

    pub fn key(&mut self, i: usize, seed: u8) -> KeyPair {
        let kp = KeyPair::from_seed(&[seed; 32]);
        self.nodes[i].keys.insert(kp.public_key(), kp.clone());
        kp
    }

    pub fn listen(&mut self, i: usize, kp: &KeyPair) -> ServerId {
        let now = self.now;
        let n = &mut self.nodes[i];
        n.keys.insert(kp.public_key(), kp.clone());
        let id = n.node.listen(kp.public_key(), now).expect("listen");
        n.servers.insert(id, kp.public_key());
        self.flush();
        id
    }

    pub fn connect(&mut self, i: usize, kp: &KeyPair, server: [u8; 32]) -> ConnId {
        let now = self.now;
        let n = &mut self.nodes[i];
        // Register the handshake state before the node asks for msg1.
        let id = n.node.connect(&server, ConnectOptions::default(), now);
        n.clients.insert(id, (kp.clone(), server, None, None));
        self.flush();
        id
    }

    /// Sends an encrypted message on connection `stream` of node `i`.
    pub fn send(&mut self, i: usize, stream: u32, msg: &[u8]) {
        let c = self.nodes[i].conns.get_mut(&stream).expect("connection");
        c.ss.send(msg).expect("send");
        self.flush();
    }

    /// Injects a datagram from a fake (or real) address.
    pub fn inject(&mut self, from: SocketAddrV4, to: usize, bytes: Vec<u8>) {
        self.seq += 1;
        self.queue.push(Reverse((self.now + 1, self.seq, to, SocketKind::Main, from, bytes)));
    }

    /// Moves transmits onto the wire and answers events, until quiet.
    pub fn flush(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].node.poll_transmit() {
                    moved = true;
                    let from = match t.socket {
                        SocketKind::Probe => probe_addr(self.nodes[i].addr),
                        SocketKind::Main => self.nodes[i].addr,
                    };
                    self.nodes[i].contacted.insert(t.to);
                    if self.tapping {
                        self.tap.push(Tapped { at: self.now, from, to: t.to, bytes: t.bytes.clone() });
                    }
                    if self.rand() % 1000 < self.loss_per_mille {
                        self.lost += 1;
                        continue;
                    }
                    let Some(&(to, socket)) = self.routes.get(&t.to) else { continue };
                    let at = self.now + 5 + self.rand() % 35;
                    self.seq += 1;
                    self.queue.push(Reverse((at, self.seq, to, socket, from, t.bytes)));
                }
                while let Some(ev) = self.nodes[i].node.poll_event() {
                    moved = true;
                    let now = self.now;
                    self.nodes[i].answer(&ev, now);
                    self.nodes[i].log.push(ev);
                }
                moved |= self.nodes[i].pump_streams();
            }
            if !moved {
                break;
            }
        }
    }

    /// Runs the network for `ms` of simulated time.
    pub fn run(&mut self, ms: u64) {
        let end = self.now + ms;
        loop {
            self.flush();
            let next_packet = self.queue.peek().map(|Reverse(p)| p.0);
            let next_timer = self.nodes.iter().filter_map(|n| n.node.poll_timeout()).min();
            let next = [next_packet, next_timer].into_iter().flatten().min().unwrap_or(end).max(self.now);
            if next > end {
                self.now = end;
                break;
            }
            self.now = next;
            while self.queue.peek().is_some_and(|Reverse(p)| p.0 <= self.now) {
                let Some(Reverse((_, _, to, socket, from, bytes))) = self.queue.pop() else { break };
                let n = &mut self.nodes[to];
                if n.firewalled && socket == SocketKind::Main && !n.contacted.contains(&from) {
                    self.lost += 1;
                    continue;
                }
                self.delivered += 1;
                n.node.handle_datagram(from, socket, &bytes, self.now);
            }
            for n in &mut self.nodes {
                if n.node.poll_timeout().is_some_and(|t| t <= self.now) {
                    n.node.handle_timeout(self.now);
                }
            }
        }
    }

    /// Runs until `pred` holds (checked every 10 ms), at most `ms`.
    pub fn run_until(&mut self, ms: u64, mut pred: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + ms;
        while self.now < end {
            if pred(self) {
                return true;
            }
            self.run(10);
        }
        pred(self)
    }
}

impl SimNode {
    /// The key holder: answers what the node asks for.
    fn answer(&mut self, ev: &Event, now: u64) {
        match ev {
            Event::NeedSignature { op, public_key, signable } => {
                if let (true, Some(kp)) = (self.sign, self.keys.get(public_key)) {
                    let sig = kp.sign(signable);
                    self.signatures += 1;
                    self.node.provide_signature(*op, sig, now).expect("signature");
                } else {
                    self.node.refuse_signature(*op, now);
                }
            }
            Event::NeedInitiatorMessage { conn, local_payload } => {
                let Some((kp, server, wrap, _)) = self.clients.get_mut(conn) else { return };
                let mut w = NoiseWrap::initiator(kp, *server);
                let Ok(msg1) = w.send(local_payload) else {
                    let _ = self.node.abort(*conn, hyperwasm_relay::hyperdht::HyperDhtError::HandshakeInvalid, now);
                    return;
                };
                *wrap = Some(w);
                self.node.provide_initiator_message(*conn, msg1, now).expect("provide msg1");
            }
            Event::ResponderMessage { conn, msg2 } => {
                let Some((_, _, wrap, result)) = self.clients.get_mut(conn) else { return };
                let Some(mut w) = wrap.take() else { return };
                match w.recv(msg2) {
                    Ok(payload) => {
                        *result = w.finish().ok();
                        let _ = self.node.provide_remote_payload(*conn, &payload, now);
                    }
                    Err(_) => {
                        let err = hyperwasm_relay::hyperdht::HyperDhtError::HandshakeInvalid;
                        let _ = self.node.abort(*conn, err, now);
                    }
                }
            }
            Event::Connected { conn, stream, .. } => {
                let Some((_, server, _, Some(result))) = self.clients.remove(conn) else { return };
                self.open(*stream, result, server, now);
            }
            Event::IncomingHandshake { server, hs, msg1, local_payload, .. } => {
                let Some(kp) = self.servers.get(server).and_then(|pk| self.keys.get(pk)) else { return };
                let mut w = NoiseWrap::responder(kp);
                let Ok(remote) = w.recv(msg1) else {
                    let _ = self.node.reject_handshake(*hs, now);
                    return;
                };
                let remote_key = w.remote_public_key().unwrap_or_default();
                if self.reject.contains(&remote_key) {
                    let _ = self.node.reject_handshake(*hs, now);
                    return;
                }
                let mut local: NoisePayload = local_payload.clone();
                local.error = payload_error(&remote);
                let msg2 = w.send(&local).expect("msg2");
                if let Ok(res) = w.finish() {
                    self.accepted.insert(*hs, res);
                }
                self.node.accept_handshake(*hs, msg2, &remote, now).expect("accept");
            }
            Event::Incoming { hs, stream, .. } => {
                let Some(result) = self.accepted.remove(hs) else { return };
                let remote = result.remote_public_key();
                self.open(*stream, result, remote, now);
            }
            Event::Stream(udx::Event::Readable { id }) => self.read(*id, now),
            _ => {}
        }
    }

    fn open(&mut self, stream: u32, result: NoiseWrapResult, remote: [u8; 32], now: u64) {
        let mut ss = SecretStream::from_handshake(result.handshake, SecretStreamOptions::default());
        ss.start(now);
        self.conns.insert(stream, Conn { ss, received: Vec::new(), remote_public_key: remote });
    }

    fn read(&mut self, stream: u32, now: u64) {
        if !self.conns.contains_key(&stream) {
            return;
        }
        let mut buf = Vec::new();
        while self.node.stream_read(stream, &mut buf) > 0 {}
        let Some(c) = self.conns.get_mut(&stream) else { return };
        if !buf.is_empty() {
            if let Err(e) = c.ss.on_bytes(&buf, now) {
                eprintln!("secret-stream error on {stream}: {e:?} ({} bytes: {:02x?})", buf.len(), &buf[..buf.len().min(64)]);
                return;
            }
        }
        while let Some(ev) = c.ss.poll_event() {
            if let SecretStreamEvent::Message(m) = ev {
                if self.echo && !c.ss.is_initiator() {
                    let mut reply = b"echo:".to_vec();
                    reply.extend_from_slice(&m);
                    let _ = c.ss.send(&reply);
                }
                c.received.push(m);
            }
        }
    }

    /// Writes pending secret-stream bytes to the UDX streams.
    fn pump_streams(&mut self) -> bool {
        let mut moved = false;
        for (id, c) in self.conns.iter_mut() {
            if c.ss.has_outgoing() {
                let n = self.node.stream_write(*id, c.ss.outgoing());
                if n > 0 {
                    c.ss.consume_outgoing(n);
                    moved = true;
                }
            }
        }
        moved
    }
}
