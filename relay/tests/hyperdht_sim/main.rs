//! Many HyperDHT `Node`s in memory (deterministic clock, simulated UDP with loss and NAT
//! filtering): announce/lookup, self-announce + connect + encrypted echo with real Noise IK and
//! secret-stream, duplicate msg1 through two relays, mutable/immutable records with SEQ errors,
//! refused signatures and tokens, hostile datagrams.

#![allow(clippy::unwrap_used)]

mod net;
mod wire;

use hyperwasm::hyperdht::messages::Peer;
use hyperwasm_relay::hyperdht::node::Event;
use hyperwasm_relay::hyperdht::ops::{AnnounceOptions, OpOutcome};
use hyperwasm_relay::hyperdht::HyperDhtError;
use net::Net;

fn op_done(net: &Net, i: usize, op: hyperwasm_relay::hyperdht::node::OpId) -> Option<Result<OpOutcome, HyperDhtError>> {
    net.nodes[i].log.iter().find_map(|e| match e {
        Event::OpDone { op: o, result } if *o == op => Some(result.clone()),
        _ => None,
    })
}

fn run_op(net: &mut Net, i: usize, op: hyperwasm_relay::hyperdht::node::OpId) -> Result<OpOutcome, HyperDhtError> {
    assert!(net.run_until(60_000, |n| op_done(n, i, op).is_some()), "operation did not finish");
    op_done(net, i, op).unwrap()
}

#[test]
fn announce_then_lookup_finds_the_record_and_unannounce_removes_it() {
    let mut net = Net::testnet(1, 0, 12);
    let a = net.add_client(false);
    let b = net.add_client(false);
    net.run(3000);
    let kp = net.key(a, 1);
    let topic = [0x42u8; 32];
    let relay = Net::addr_of(3);
    let now = net.now;
    let op = net.nodes[a].node.announce(topic, kp.public_key(), vec![relay], AnnounceOptions::default(), now);
    let OpOutcome::Committed(commits) = run_op(&mut net, a, op).unwrap() else { panic!() };
    // Every node but the ephemeral bootstrap-less ones is among the closest: ≥ 10 stores.
    assert!(commits.len() >= 10, "{commits:?}");
    assert!(commits.iter().all(|c| c.result == Ok(0)));
    assert!(net.nodes[a].signatures >= 10);
    let stored: usize = net.nodes.iter().map(|n| n.node.stored_records()).sum();
    assert_eq!(stored, commits.len());

    let now = net.now;
    let op = net.nodes[b].node.lookup(topic, now);
    assert!(matches!(run_op(&mut net, b, op), Ok(OpOutcome::Done)));
    let want = Peer { public_key: kp.public_key(), relay_addresses: vec![relay] };
    let hits = net.nodes[b]
        .log
        .iter()
        .filter(|e| matches!(e, Event::LookupReply { op: o, reply } if *o == op && reply.peers.contains(&want)))
        .count();
    assert!(hits >= 5, "lookup saw the record {hits} times");

    let now = net.now;
    let op = net.nodes[a].node.unannounce(topic, kp.public_key(), now);
    run_op(&mut net, a, op).unwrap();
    let stored: usize = net.nodes.iter().map(|n| n.node.stored_records()).sum();
    assert_eq!(stored, 0, "unannounce removed every record");
}

#[test]
fn announce_without_signatures_stores_nothing() {
    let mut net = Net::testnet(2, 0, 8);
    let a = net.add_client(false);
    net.run(3000);
    let kp = net.key(a, 1);
    net.nodes[a].sign = false;
    let now = net.now;
    let op = net.nodes[a].node.announce([1; 32], kp.public_key(), vec![], AnnounceOptions::default(), now);
    assert!(run_op(&mut net, a, op).is_err());
    assert_eq!(net.nodes.iter().map(|n| n.node.stored_records()).sum::<usize>(), 0);
}

#[test]
fn kept_alive_announce_re_announces_before_records_expire() {
    let mut net = Net::testnet(3, 0, 8);
    let a = net.add_client(false);
    let b = net.add_client(false);
    net.run(3000);
    let kp = net.key(a, 9);
    let topic = [7u8; 32];
    let opts = AnnounceOptions { refresh_ms: Some(5 * 60 * 1000), ..AnnounceOptions::default() };
    let now = net.now;
    let op = net.nodes[a].node.announce(topic, kp.public_key(), vec![], opts, now);
    // 45 simulated minutes: records would have expired (20 min, at most 4/3 of it) without
    // re-announces.
    net.run(45 * 60 * 1000);
    let rounds = net.nodes[a].log.iter().filter(|e| matches!(e, Event::Announced { op: o, result: Ok(_) } if *o == op)).count();
    assert!(rounds >= 8, "{rounds} rounds");
    assert!(op_done(&net, a, op).is_none(), "kept-alive announce is still running");
    let now = net.now;
    let l = net.nodes[b].node.lookup(topic, now);
    run_op(&mut net, b, l).unwrap();
    let found = net.nodes[b].log.iter().any(|e| matches!(e, Event::LookupReply { op: o, reply } if *o == l && reply.peers.iter().any(|p| p.public_key == kp.public_key())));
    assert!(found);
    net.nodes[a].node.cancel(op);
}

fn connected(net: &Net, i: usize, conn: hyperwasm_relay::hyperdht::node::ConnId) -> Option<Result<u32, HyperDhtError>> {
    net.nodes[i].log.iter().find_map(|e| match e {
        Event::Connected { conn: c, stream, .. } if *c == conn => Some(Ok(*stream)),
        Event::ConnectFailed { conn: c, error } if *c == conn => Some(Err(error.clone())),
        _ => None,
    })
}

/// Server on `s`, client on `c`: listen, wait for the self-announce, connect, exchange
/// encrypted messages both ways. Returns (client stream, server stream).
fn connect_and_echo(net: &mut Net, s: usize, c: usize) -> (u32, u32) {
    let server_kp = net.key(s, 0x55);
    let client_kp = net.key(c, 0x66);
    let server = net.listen(s, &server_kp);
    assert!(net.run_until(30_000, |n| n.nodes[s].log.iter().any(|e| matches!(e, Event::ServerAnnounced { server: id, relays } if *id == server && relays.len() == 3))));
    let conn = net.connect(c, &client_kp, server_kp.public_key());
    assert!(net.run_until(30_000, |n| connected(n, c, conn).is_some()));
    let cs = connected(net, c, conn).unwrap().expect("client connected");
    assert!(net.run_until(10_000, |n| n.nodes[s].conns.values().any(|x| x.remote_public_key == client_kp.public_key())));
    let ss = *net.nodes[s].conns.iter().find(|(_, x)| x.remote_public_key == client_kp.public_key()).unwrap().0;
    net.send(c, cs, b"hello server");
    let big = vec![0xabu8; 200_000];
    net.send(c, cs, &big);
    let ok = net.run_until(30_000, |n| n.nodes[c].conns[&cs].received.len() == 2);
    if !ok {
        for t in net.tap.iter().filter(|t| t.bytes.len() >= 20 && t.bytes[0] == 0xff).take(30) {
            let b = &t.bytes;
            eprintln!("{} {} -> {} type {} id {} seq {} ack {} len {}", t.at, t.from, t.to, b[2], u32::from_le_bytes([b[4],b[5],b[6],b[7]]), u32::from_le_bytes([b[12],b[13],b[14],b[15]]), u32::from_le_bytes([b[16],b[17],b[18],b[19]]), b.len());
        }
        for i in [s, c] {
            eprintln!("node {i}:");
            for e in &net.nodes[i].log {
                if !matches!(e, Event::NeedSignature { .. } | Event::LookupReply { .. }) {
                    eprintln!("  {e:?}");
                }
            }
            for (id, _) in &net.nodes[i].conns {
                eprintln!("  stream {id}: {:?}", net.nodes[i].node.udx().info(*id));
            }
        }
    }
    assert!(ok, "echoes did not arrive");
    assert_eq!(net.nodes[s].conns[&ss].received, vec![b"hello server".to_vec(), big.clone()]);
    let mut want = b"echo:".to_vec();
    want.extend_from_slice(&big);
    assert_eq!(net.nodes[c].conns[&cs].received, vec![b"echo:hello server".to_vec(), want]);
    assert_eq!(net.nodes[c].conns[&cs].remote_public_key, server_kp.public_key());
    (cs, ss)
}

#[test]
fn connect_to_a_reachable_server_from_a_firewalled_client() {
    let mut net = Net::testnet(4, 0, 10);
    let s = net.add_client(true);
    let c = net.add_client(false);
    net.run(3000);
    connect_and_echo(&mut net, s, c);
}

#[test]
fn connect_to_a_firewalled_server_from_a_reachable_client() {
    let mut net = Net::testnet(5, 0, 10);
    let s = net.add_client(false);
    let c = net.add_client(true);
    net.run(3000);
    net.tapping = true;
    connect_and_echo(&mut net, s, c);
}

#[test]
fn connect_and_echo_over_a_lossy_network() {
    let mut net = Net::testnet(6, 0, 10);
    net.loss_per_mille = 50;
    let s = net.add_client(true);
    let c = net.add_client(false);
    net.run(3000);
    connect_and_echo(&mut net, s, c);
    assert!(net.lost > 0);
}

#[test]
fn connect_to_a_server_on_a_persistent_node() {
    let mut net = Net::testnet(7, 0, 10);
    let c = net.add_client(false);
    net.run(3000);
    connect_and_echo(&mut net, 4, c);
}

#[test]
fn connect_to_an_unknown_key_fails_with_peer_not_found() {
    let mut net = Net::testnet(8, 0, 10);
    let c = net.add_client(false);
    net.run(3000);
    let kp = net.key(c, 1);
    let nobody = hyperwasm::crypto::KeyPair::from_seed(&[0x99; 32]).public_key();
    let conn = net.connect(c, &kp, nobody);
    assert!(net.run_until(60_000, |n| connected(n, c, conn).is_some()));
    assert_eq!(connected(&net, c, conn).unwrap(), Err(HyperDhtError::PeerNotFound));
    assert_eq!(net.nodes[c].node.udx().len(), 0, "the stream was destroyed");
}

#[test]
fn a_refused_client_fails_with_peer_connection_failed() {
    let mut net = Net::testnet(9, 0, 10);
    let s = net.add_client(true);
    let c = net.add_client(false);
    net.run(3000);
    let server_kp = net.key(s, 0x55);
    let client_kp = net.key(c, 0x66);
    net.nodes[s].reject.insert(client_kp.public_key());
    let server = net.listen(s, &server_kp);
    assert!(net.run_until(30_000, |n| n.nodes[s].log.iter().any(|e| matches!(e, Event::ServerAnnounced { server: id, .. } if *id == server))));
    let conn = net.connect(c, &client_kp, server_kp.public_key());
    assert!(net.run_until(120_000, |n| connected(n, c, conn).is_some()));
    assert_eq!(connected(&net, c, conn).unwrap(), Err(HyperDhtError::PeerConnectionFailed));
    assert!(net.nodes[s].conns.is_empty());
    let asked = net.nodes[s].log.iter().filter(|e| matches!(e, Event::IncomingHandshake { .. })).count();
    assert_eq!(asked, 1, "every copy of msg1 maps to one handshake");
}

#[test]
fn unlisten_unannounces_and_closes() {
    let mut net = Net::testnet(10, 0, 10);
    let s = net.add_client(true);
    let c = net.add_client(false);
    net.run(3000);
    let kp = net.key(s, 0x55);
    let server = net.listen(s, &kp);
    assert!(net.run_until(30_000, |n| n.nodes[s].log.iter().any(|e| matches!(e, Event::ServerAnnounced { .. }))));
    let now = net.now;
    let op = net.nodes[c].node.find_peer(&kp.public_key(), now);
    run_op(&mut net, c, op).unwrap();
    let found = |net: &Net, op| net.nodes[c].log.iter().filter(|e| matches!(e, Event::FindPeerReply { op: o, .. } if *o == op)).count();
    assert_eq!(found(&net, op), 3, "three relays store the self-announce");
    let now = net.now;
    net.nodes[s].node.unlisten(server, now);
    assert!(net.run_until(30_000, |n| n.nodes[s].log.iter().any(|e| matches!(e, Event::ServerClosed { server: id } if *id == server))));
    let now = net.now;
    let op = net.nodes[c].node.find_peer(&kp.public_key(), now);
    run_op(&mut net, c, op).unwrap();
    assert_eq!(found(&net, op), 0, "the relays forgot the server");
}
