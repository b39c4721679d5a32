//! HyperDHT [`Node`]s on the simulated network of `hyperwasm_relay::testing::sim`
//! (deterministic clock, 5–40 ms latency, optional loss, filtering NATs for firewalled nodes,
//! a tap of every datagram), each with a key holder that answers the asked-for events with real
//! keys (Ed25519 signatures, Noise IK through `noise_wrap`, secret-stream over the UDX streams).

use crate::holder::Holder;
use hyperwasm::crypto::KeyPair;
use hyperwasm_relay::dht_rpc::{RpcOptions, SocketKind};
use hyperwasm_relay::hyperdht::node::{ConnId, Event, Node, NodeOptions};
use hyperwasm_relay::hyperdht::server::ServerId;
use hyperwasm_relay::testing::sim::{Host, Nat, SimNet};
use std::net::{Ipv4Addr, SocketAddrV4};

pub struct SimNode {
    pub node: Node,
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

impl Host for SimNode {
    fn handle_datagram(&mut self, from: SocketAddrV4, socket: SocketKind, bytes: &[u8], now_ms: u64) {
        self.node.handle_datagram(from, socket, bytes, now_ms);
    }

    fn poll_transmit_into(&mut self, buf: &mut Vec<u8>) -> Option<(SocketAddrV4, SocketKind)> {
        self.node.poll_transmit_into(buf)
    }

    fn poll_timeout(&self) -> Option<u64> {
        self.node.poll_timeout()
    }

    fn handle_timeout(&mut self, now_ms: u64) {
        self.node.handle_timeout(now_ms);
    }

    /// Answers what the node asks for, then moves secret-stream bytes into the UDX streams.
    fn poll_events(&mut self, now_ms: u64) -> bool {
        let mut moved = false;
        while let Some(ev) = self.node.poll_event() {
            moved = true;
            self.holder.answer(&mut self.node, &ev, now_ms);
            self.log.push(ev);
        }
        moved | self.holder.pump_streams(&mut self.node)
    }
}

pub type Net = SimNet<SimNode>;

/// The HyperDHT network's own helpers.
pub trait NetExt {
    /// Public, non-bogon addresses (path choice skips bogons as JS does).
    fn addr_of(i: usize) -> SocketAddrV4;
    /// `n` persistent nodes, bootstrapped.
    fn testnet(seed: u64, loss_per_mille: u64, n: usize) -> Self;
    fn bootstrap(&self) -> Vec<SocketAddrV4>;
    /// A persistent, reachable node (as `hyperdht/testnet` nodes).
    fn add_persistent(&mut self) -> usize;
    /// An ephemeral node. `public`: it knows it is reachable (advertises OPEN, like our
    /// relay); else it is behind a filtering NAT and advertises nothing.
    fn add_client(&mut self, public: bool) -> usize;
    fn key(&mut self, i: usize, seed: u8) -> KeyPair;
    fn listen(&mut self, i: usize, kp: &KeyPair) -> ServerId;
    fn connect(&mut self, i: usize, kp: &KeyPair, server: [u8; 32]) -> ConnId;
    /// Sends an encrypted message on connection `stream` of node `i`.
    fn send(&mut self, i: usize, stream: u32, msg: &[u8]);
}

fn add_node(net: &mut Net, mut opts: NodeOptions, nat: Nat) -> usize {
    let addr = Net::addr_of(net.nodes.len());
    opts.rpc.port = addr.port();
    opts.rpc.seed = Some(net.host_seed());
    let node = Node::new(opts, net.now);
    net.add(SimNode { node, holder: Holder::default(), log: Vec::new() }, addr, nat)
}

impl NetExt for Net {
    fn addr_of(i: usize) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(20, (i / 200) as u8, (i % 200) as u8 + 1, 7), 4000 + i as u16)
    }

    fn testnet(seed: u64, loss_per_mille: u64, n: usize) -> Self {
        let mut net = Net::new(seed, loss_per_mille);
        for _ in 0..n {
            net.add_persistent();
        }
        net.run(10_000);
        net
    }

    fn bootstrap(&self) -> Vec<SocketAddrV4> {
        vec![Net::addr_of(0)]
    }

    fn add_persistent(&mut self) -> usize {
        let i = self.nodes.len();
        let bootstrap = if i == 0 { Vec::new() } else { self.bootstrap() };
        let rpc = RpcOptions {
            bootstrap,
            ephemeral: Some(false),
            firewalled: false,
            host: *Net::addr_of(i).ip(),
            ..RpcOptions::default()
        };
        add_node(self, NodeOptions { rpc, ..NodeOptions::default() }, Nat::Open)
    }

    fn add_client(&mut self, public: bool) -> usize {
        let i = self.nodes.len();
        let rpc = RpcOptions { bootstrap: self.bootstrap(), ..RpcOptions::default() };
        let public_address = public.then(|| Net::addr_of(i));
        let nat = if public { Nat::Open } else { Nat::Filtering };
        add_node(self, NodeOptions { rpc, public_address, ..NodeOptions::default() }, nat)
    }

    fn key(&mut self, i: usize, seed: u8) -> KeyPair {
        let kp = KeyPair::from_seed(&[seed; 32]);
        self.nodes[i].keys.insert(kp.public_key(), kp.clone());
        kp
    }

    fn listen(&mut self, i: usize, kp: &KeyPair) -> ServerId {
        let now = self.now;
        let n = &mut self.nodes[i];
        let id = n.holder.listen(&mut n.node, kp, now);
        self.flush();
        id
    }

    fn connect(&mut self, i: usize, kp: &KeyPair, server: [u8; 32]) -> ConnId {
        let now = self.now;
        let n = &mut self.nodes[i];
        let id = n.holder.connect(&mut n.node, kp, server, now);
        self.flush();
        id
    }

    fn send(&mut self, i: usize, stream: u32, msg: &[u8]) {
        self.nodes[i].holder.send(stream, msg);
        self.flush();
    }
}
