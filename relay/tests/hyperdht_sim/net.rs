//! An in-memory UDP network of HyperDHT [`Node`]s: a deterministic clock, 5–40 ms latency,
//! optional loss, optional NAT filtering (a firewalled node only hears from addresses it sent
//! to), a tap of every datagram, and a key holder per node that answers the asked-for events
//! with real keys (Ed25519 signatures, Noise IK through `noise_wrap`, secret-stream over the
//! UDX streams).

use crate::holder::Holder;
use hyperwasm::crypto::KeyPair;
use hyperwasm_relay::dht_rpc::{RpcOptions, SocketKind};
use hyperwasm_relay::hyperdht::node::{ConnId, Event, Node, NodeOptions};
use hyperwasm_relay::hyperdht::server::ServerId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};

/// One datagram seen on the wire.
#[derive(Debug, Clone)]
pub struct Tapped {
    pub to: SocketAddrV4,
    pub bytes: Vec<u8>,
}

pub struct SimNode {
    pub node: Node,
    pub addr: SocketAddrV4,
    /// NAT filtering: only addresses we sent to may reach us.
    pub firewalled: bool,
    contacted: HashSet<SocketAddrV4>,
    pub holder: Holder,
    pub log: Vec<Event>,
}

impl std::ops::Deref for SimNode {
    type Target = Holder;
    fn deref(&self) -> &Holder {
        &self.holder
    }
}

impl std::ops::DerefMut for SimNode {
    fn deref_mut(&mut self) -> &mut Holder {
        &mut self.holder
    }
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
            holder: Holder::default(),
            log: Vec::new(),
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
        let id = n.holder.listen(&mut n.node, kp, now);
        self.flush();
        id
    }

    pub fn connect(&mut self, i: usize, kp: &KeyPair, server: [u8; 32]) -> ConnId {
        let now = self.now;
        let n = &mut self.nodes[i];
        let id = n.holder.connect(&mut n.node, kp, server, now);
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
                        self.tap.push(Tapped { to: t.to, bytes: t.bytes.clone() });
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
                let now = self.now;
                let n = &mut self.nodes[i];
                while let Some(ev) = n.node.poll_event() {
                    moved = true;
                    n.holder.answer(&mut n.node, &ev, now);
                    n.log.push(ev);
                }
                moved |= n.holder.pump_streams(&mut n.node);
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
