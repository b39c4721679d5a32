//! Many [`Rpc`]s on the simulated network of [`crate::testing::sim`] (deterministic clock,
//! latency, datagram loss): queries must find the true k closest nodes; adaptive nodes pass (or
//! fail) the firewall check as their simulated NAT dictates.

use super::peer::{self, cmp_distance};
use super::query::QuerySpec;
use super::rpc::{Rpc, RpcOptions};
use super::types::{QueryId, RpcEvent};
use super::{NodeId, SocketKind};
use crate::testing::sim::{Host, Nat, SimNet};
use crate::testing::true_closest;
use std::net::{Ipv4Addr, SocketAddrV4};

/// An `Rpc` and the events it reported.
pub(super) struct SimRpc {
    rpc: Rpc,
    events: Vec<RpcEvent>,
}

impl Host for SimRpc {
    fn handle_datagram(&mut self, from: SocketAddrV4, socket: SocketKind, bytes: &[u8], now_ms: u64) {
        self.rpc.handle_datagram(from, socket, bytes, now_ms);
    }

    fn poll_transmit_into(&mut self, buf: &mut Vec<u8>) -> Option<(SocketAddrV4, SocketKind)> {
        let t = self.rpc.poll_transmit()?;
        *buf = t.bytes;
        Some((t.to, t.socket))
    }

    fn poll_timeout(&self) -> Option<u64> {
        self.rpc.poll_timeout()
    }

    fn handle_timeout(&mut self, now_ms: u64) {
        self.rpc.handle_timeout(now_ms);
    }

    fn poll_events(&mut self, _now_ms: u64) -> bool {
        let before = self.events.len();
        self.events.extend(std::iter::from_fn(|| self.rpc.poll_event()));
        self.events.len() > before
    }
}

pub(super) type Sim = SimNet<SimRpc>;

impl SimNet<SimRpc> {
    pub(super) fn addr_of(i: usize) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, (i / 200) as u8, (i % 200) as u8 + 1, 7), 4000 + i as u16)
    }

    fn add_rpc(&mut self, mut opts: RpcOptions, nat: Nat) -> usize {
        let addr = Sim::addr_of(self.nodes.len());
        opts.port = addr.port();
        opts.seed = Some(self.host_seed());
        let rpc = Rpc::new(opts, self.now);
        self.add(SimRpc { rpc, events: Vec::new() }, addr, nat)
    }

    /// A persistent node at a known public address (as testnet nodes).
    pub(super) fn add_persistent(&mut self, bootstrap: Vec<SocketAddrV4>) -> usize {
        let opts = RpcOptions {
            bootstrap,
            ephemeral: Some(false),
            firewalled: false,
            host: *Sim::addr_of(self.nodes.len()).ip(),
            ..RpcOptions::default()
        };
        self.add_rpc(opts, Nat::Open)
    }

    pub(super) fn add_client(&mut self, bootstrap: Vec<SocketAddrV4>) -> usize {
        self.add_rpc(RpcOptions { bootstrap, ..RpcOptions::default() }, Nat::Open)
    }

    fn add_adaptive(&mut self, bootstrap: Vec<SocketAddrV4>, nat: Nat) -> usize {
        let opts = RpcOptions { bootstrap, ephemeral: None, ..RpcOptions::default() };
        self.add_rpc(opts, nat)
    }

    pub(super) fn rpc(&mut self, i: usize) -> &mut Rpc {
        &mut self.nodes[i].rpc
    }

    fn events(&mut self, i: usize) -> &mut Vec<RpcEvent> {
        &mut self.nodes[i].events
    }

    /// Runs a query from node `i` to completion; returns the closest ids.
    pub(super) fn query(&mut self, i: usize, spec: QuerySpec) -> Vec<NodeId> {
        let now = self.now;
        let id = self.nodes[i].rpc.query(spec, now);
        let deadline = self.now + 120_000;
        while self.now < deadline {
            self.run(50);
            if let Some(closest) = take_done(self.events(i), id) {
                return closest;
            }
        }
        panic!("query from node {i} did not finish");
    }
}

fn take_done(events: &mut Vec<RpcEvent>, id: QueryId) -> Option<Vec<NodeId>> {
    let pos = events.iter().position(|e| matches!(e, RpcEvent::QueryDone { id: x, .. } if *x == id))?;
    match events.remove(pos) {
        RpcEvent::QueryDone { closest, error, .. } => {
            assert_eq!(error, None);
            Some(closest.iter().map(|r| r.from_id.expect("closest replies have ids")).collect())
        }
        _ => None,
    }
}

#[test]
fn queries_find_the_true_k_closest_without_loss() {
    let (exact, recall) = converge(0, false);
    assert_eq!((exact, recall), (30, 600));
}

#[test]
fn exhaustive_queries_find_the_true_k_closest_with_loss() {
    let (exact, recall) = converge(100, true); // 10% of datagrams lost
    assert_eq!((exact, recall), (30, 600));
}

#[test]
fn js_style_queries_find_nearly_all_k_closest_with_loss() {
    // JS stops waiting for retrying requests once k replies are in: a close node whose first
    // datagram was lost is often missed (measured: 1/30 exact, 545/600 found with this seed).
    let (exact, recall) = converge(100, false);
    eprintln!("JS-style at 10% loss: {exact}/30 exact, {recall}/600 of the true closest");
    assert!(recall >= 510, "recall {recall}/600");
}

/// 120 persistent nodes, 5 clients, 30 FIND_NODE queries: (exact results, true closest found).
fn converge(loss_per_mille: u64, exhaustive: bool) -> (usize, usize) {
    let mut sim = Sim::new(0x5eed_1234, loss_per_mille);
    let boot = Sim::addr_of(0);
    sim.add_persistent(Vec::new());
    for _ in 1..120 {
        sim.add_persistent(vec![boot]);
        sim.run(150);
    }
    sim.run(60_000);
    let persistent: Vec<NodeId> = (0..120).map(|i| peer::id(&Sim::addr_of(i))).collect();
    for (i, id) in persistent.iter().enumerate() {
        assert_eq!(sim.rpc(i).id(), Some(*id), "node {i} is persistent at its address");
        assert!(sim.rpc(i).is_bootstrapped());
    }
    let clients: Vec<usize> = (0..5).map(|_| sim.add_client(vec![boot, Sim::addr_of(7)])).collect();
    let t0 = sim.now;
    while clients.iter().any(|&c| !sim.rpc(c).is_bootstrapped()) {
        sim.run(100);
        assert!(sim.now - t0 < 60_000, "clients bootstrap within a minute");
    }
    for &c in &clients {
        assert_eq!(sim.rpc(c).id(), None, "clients stay ephemeral");
        assert!(sim.rpc(c).is_bootstrapped());
    }
    let mut exact = 0;
    let mut recall = 0;
    for q in 0..30u8 {
        let target = hyperwasm::crypto::blake2b(&[b'q', q]);
        let client = clients[q as usize % clients.len()];
        let t0 = sim.now;
        let got = sim.query(client, QuerySpec { exhaustive, ..QuerySpec::find_node(target) });
        assert!(sim.now - t0 < 30_000);
        let want = true_closest(&persistent, &target, 20);
        assert!(got.windows(2).all(|w| cmp_distance(&target, &w[0], &w[1]).is_lt()), "sorted, no duplicates");
        assert!(got.iter().all(|id| persistent.contains(id)));
        recall += want.iter().filter(|w| got.contains(w)).count();
        exact += usize::from(got == want);
    }
    if loss_per_mille > 0 {
        assert!(
            sim.lost > sim.delivered / 20,
            "loss was applied ({} lost, {} delivered)",
            sim.lost,
            sim.delivered
        );
    }
    // Persistent nodes' tables are well filled and bounded.
    for i in 0..120 {
        let stats = sim.rpc(i).stats();
        assert!(stats.table_size >= 20, "node {i} knows {} nodes", stats.table_size);
        assert!(stats.requests_active <= 2048);
    }
    // No client is in anyone's table (they never send an id).
    for i in 0..120 {
        for &c in &clients {
            assert!(!sim.rpc(i).has_node(&Sim::addr_of(c)));
        }
    }
    (exact, recall)
}

#[test]
fn persistent_node_without_a_known_host_takes_its_id_from_nat_samples() {
    let mut sim = Sim::new(5, 0);
    let boot = Sim::addr_of(0);
    sim.add_persistent(Vec::new());
    for _ in 1..8 {
        sim.add_persistent(vec![boot]);
        sim.run(100);
    }
    // Bound to 0.0.0.0: the id comes from what the others report as our address.
    let opts = RpcOptions {
        bootstrap: vec![boot],
        ephemeral: Some(false),
        firewalled: false,
        ..RpcOptions::default()
    };
    let n = sim.add_rpc(opts, Nat::Open);
    assert!(sim.rpc(n).is_ephemeral(), "not before the bootstrap query");
    sim.run(5_000);
    assert_eq!(sim.rpc(n).id(), Some(peer::id(&Sim::addr_of(n))));
    let events = sim.events(n).clone();
    let persistent = events.iter().position(|e| *e == RpcEvent::Persistent).unwrap();
    let ready = events.iter().position(|e| *e == RpcEvent::Ready).unwrap();
    assert!(persistent < ready, "persistent during bootstrap, then a second round, then ready");
    let known = (0..8).filter(|&i| sim.rpc(i).has_node(&Sim::addr_of(n))).count();
    assert!(known >= 4, "{known}/8 nodes hold it");
}

#[test]
fn adaptive_node_becomes_persistent_only_behind_an_open_nat() {
    let mut sim = Sim::new(77, 20);
    let boot = Sim::addr_of(0);
    sim.add_persistent(Vec::new());
    for _ in 1..20 {
        sim.add_persistent(vec![boot]);
        sim.run(100);
    }
    sim.run(10_000);
    let open = sim.add_adaptive(vec![boot], Nat::Open);
    let remapped = sim.add_adaptive(vec![boot], Nat::Remapping);
    sim.run(20_000);
    // The quick PING_NAT at bootstrap came back to the open node's main socket: no longer
    // firewalled, but still ephemeral until the network has been stable for ~20 minutes.
    assert!(!sim.rpc(open).is_firewalled());
    assert!(sim.rpc(open).is_ephemeral());
    assert!(sim.rpc(remapped).is_firewalled());
    assert_eq!(sim.rpc(open).remote_address(), Some(Sim::addr_of(open)));
    assert_eq!(sim.rpc(remapped).remote_address(), None, "public port != bound port");
    assert!(sim.events(open).contains(&RpcEvent::Ready));
    assert!(sim.events(open).contains(&RpcEvent::CloseProbe));
    sim.run(22 * 60 * 1000);
    assert_eq!(sim.rpc(open).id(), Some(peer::id(&Sim::addr_of(open))));
    assert!(sim.events(open).contains(&RpcEvent::Persistent));
    assert!(sim.rpc(remapped).is_ephemeral() && sim.rpc(remapped).is_firewalled());
    assert!(!sim.events(remapped).contains(&RpcEvent::Persistent));
    // The new persistent node is now known to others.
    sim.run(10 * 60 * 1000);
    let known = (0..20).filter(|&i| sim.rpc(i).has_node(&Sim::addr_of(open))).count();
    assert!(known >= 5, "{known} persistent nodes have the adaptive node in their table");
    let known_remapped = (0..20)
        .filter(|&i| {
            sim.rpc(i)
                .has_node(&SocketAddrV4::new(*Sim::addr_of(remapped).ip(), Sim::addr_of(remapped).port() + 1))
        })
        .count();
    assert_eq!(known_remapped, 0);
}
