//! Many HyperDHT `Node`s in memory (deterministic clock, simulated UDP with loss and NAT
//! filtering): announce/lookup, self-announce + connect + encrypted echo with real Noise IK and
//! secret-stream, duplicate msg1 through two relays, mutable/immutable records with SEQ errors,
//! refused signatures and tokens, hostile datagrams.

#![allow(clippy::unwrap_used)]

mod holder;
mod net;
mod wire;

use hyperwasm::hyperdht::messages::Peer;
use hyperwasm_relay::hyperdht::node::Event;
use hyperwasm_relay::hyperdht::ops::{AnnounceOptions, OpOutcome};
use hyperwasm_relay::hyperdht::HyperDhtError;
use net::{Net, NetExt};

fn op_done(
    net: &Net,
    i: usize,
    op: hyperwasm_relay::hyperdht::node::OpId,
) -> Option<Result<OpOutcome, HyperDhtError>> {
    net.nodes[i].log.iter().find_map(|e| match e {
        Event::OpDone { op: o, result } if *o == op => Some(result.clone()),
        _ => None,
    })
}

fn run_op(
    net: &mut Net,
    i: usize,
    op: hyperwasm_relay::hyperdht::node::OpId,
) -> Result<OpOutcome, HyperDhtError> {
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
        .filter(
            |e| matches!(e, Event::LookupReply { op: o, reply } if *o == op && reply.peers.contains(&want)),
        )
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
    let rounds = net.nodes[a]
        .log
        .iter()
        .filter(|e| matches!(e, Event::Announced { op: o, result: Ok(_) } if *o == op))
        .count();
    assert!(rounds >= 8, "{rounds} rounds");
    assert!(op_done(&net, a, op).is_none(), "kept-alive announce is still running");
    let now = net.now;
    let l = net.nodes[b].node.lookup(topic, now);
    run_op(&mut net, b, l).unwrap();
    let found = net.nodes[b].log.iter().any(|e| matches!(e, Event::LookupReply { op: o, reply } if *o == l && reply.peers.iter().any(|p| p.public_key == kp.public_key())));
    assert!(found);
    net.nodes[a].node.cancel(op);
}

fn connected(
    net: &Net,
    i: usize,
    conn: hyperwasm_relay::hyperdht::node::ConnId,
) -> Option<Result<u32, HyperDhtError>> {
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
    assert!(net.run_until(30_000, |n| n.nodes[s].log.iter().any(
        |e| matches!(e, Event::ServerAnnounced { server: id, relays } if *id == server && relays.len() == 3)
    )));
    let conn = net.connect(c, &client_kp, server_kp.public_key());
    assert!(net.run_until(30_000, |n| connected(n, c, conn).is_some()));
    let cs = connected(net, c, conn).unwrap().expect("client connected");
    assert!(net.run_until(10_000, |n| n.nodes[s]
        .conns
        .values()
        .any(|x| x.remote_public_key == client_kp.public_key())));
    let ss =
        *net.nodes[s].conns.iter().find(|(_, x)| x.remote_public_key == client_kp.public_key()).unwrap().0;
    net.send(c, cs, b"hello server");
    let big = vec![0xabu8; 200_000];
    net.send(c, cs, &big);
    let ok = net.run_until(30_000, |n| n.nodes[c].conns[&cs].received.len() == 2);
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
fn bytes_and_end_that_arrive_before_the_reply_reach_the_client() {
    // The client is OPEN: the server connects its stream at once, sends a greeting and ends,
    // and both can arrive before the relayed reply makes the client hand the stream over.
    let greeting = b"hello and goodbye".to_vec();
    let mut early = 0;
    for seed in 0..4 {
        let mut net = Net::testnet(40 + seed, 0, 8);
        let s = net.add_client(true);
        let c = net.add_client(true);
        net.run(3000);
        net.nodes[s].greeting = Some(greeting.clone());
        let server_kp = net.key(s, 0x55);
        let client_kp = net.key(c, 0x66);
        let server = net.listen(s, &server_kp);
        assert!(net.run_until(30_000, |n| n.nodes[s]
            .log
            .iter()
            .any(|e| matches!(e, Event::ServerAnnounced { server: id, .. } if *id == server))));
        let conn = net.connect(c, &client_kp, server_kp.public_key());
        assert!(net.run_until(30_000, |n| connected(n, c, conn).is_some()));
        let cs = connected(&net, c, conn).unwrap().expect("client connected");
        let ended = |net: &Net| {
            net.nodes[c].log.iter().position(
                |e| matches!(e, Event::Stream(hyperwasm_relay::udx::Event::Ended { id }) if *id == cs),
            )
        };
        assert!(net.run_until(5_000, |n| ended(n).is_some()), "seed {seed}: the client never saw the END");
        assert_eq!(net.nodes[c].conns[&cs].received, vec![greeting.clone()], "seed {seed}");
        let connected_at = net.nodes[c]
            .log
            .iter()
            .position(|e| matches!(e, Event::Connected { conn: x, .. } if *x == conn))
            .unwrap();
        assert!(ended(&net).unwrap() > connected_at, "stream events follow the hand-over");
        // Did the END beat the reply? (Then it was held back and raised after Connected.)
        early += usize::from(net.nodes[c].ended_before_connected.contains(&cs));
    }
    assert!(early > 0, "no seed produced an early END");
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
    assert!(net.run_until(30_000, |n| n.nodes[s]
        .log
        .iter()
        .any(|e| matches!(e, Event::ServerAnnounced { server: id, .. } if *id == server))));
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
    assert!(
        net.run_until(30_000, |n| n.nodes[s].log.iter().any(|e| matches!(e, Event::ServerAnnounced { .. })))
    );
    let now = net.now;
    let op = net.nodes[c].node.find_peer(&kp.public_key(), now);
    run_op(&mut net, c, op).unwrap();
    let found = |net: &Net, op| {
        net.nodes[c]
            .log
            .iter()
            .filter(|e| matches!(e, Event::FindPeerReply { op: o, .. } if *o == op))
            .count()
    };
    assert_eq!(found(&net, op), 3, "three relays store the self-announce");
    let now = net.now;
    net.nodes[s].node.unlisten(server, now);
    assert!(net.run_until(30_000, |n| n.nodes[s]
        .log
        .iter()
        .any(|e| matches!(e, Event::ServerClosed { server: id } if *id == server))));
    let now = net.now;
    let op = net.nodes[c].node.find_peer(&kp.public_key(), now);
    run_op(&mut net, c, op).unwrap();
    assert_eq!(found(&net, op), 0, "the relays forgot the server");
}

mod injected {
    use super::*;
    use crate::wire::{fake, request, requests, responses};
    use hyperwasm::crypto::KeyPair;
    use hyperwasm::encoding::Compact;
    use hyperwasm::hyperdht::constants::{command, firewall, mode};
    use hyperwasm::hyperdht::crypto::{hash, sign_announce};
    use hyperwasm::hyperdht::messages::{decode, Announce, Handshake, LookupRawReply, NoisePayload, UdxInfo};
    use hyperwasm::hyperdht::noise_wrap::NoiseWrap;

    #[test]
    fn duplicate_msg1_via_two_relays_gets_identical_replies() {
        let mut net = Net::testnet(11, 0, 8);
        let s = net.add_client(true);
        net.run(3000);
        let server_kp = net.key(s, 0x55);
        net.listen(s, &server_kp);
        net.run(5000);
        let client_kp = KeyPair::from_seed(&[0x77; 32]);
        let payload = NoisePayload {
            firewall: firewall::OPEN,
            addresses4: vec![fake(9)],
            udx: Some(UdxInfo { id: 1234, ..UdxInfo::default() }),
            secret_stream: Some(Default::default()),
            ..NoisePayload::incompatible(1)
        };
        let mut wrap = NoiseWrap::initiator(&client_kp, server_kp.public_key());
        let msg1 = wrap.send(&payload).unwrap();
        let target = hash(&server_kp.public_key());
        let hs = |m| {
            Handshake { mode: m, noise: msg1.clone(), peer_address: Some(fake(9)), relay_address: None }
                .to_bytes()
        };
        net.tapping = true;
        // Two relays forward the same msg1 (FROM_RELAY) at once; a third relay is a second hop.
        request(
            &mut net,
            fake(1),
            s,
            101,
            command::PEER_HANDSHAKE,
            Some(target),
            None,
            Some(hs(mode::FROM_RELAY)),
        );
        request(
            &mut net,
            fake(2),
            s,
            202,
            command::PEER_HANDSHAKE,
            Some(target),
            None,
            Some(hs(mode::FROM_RELAY)),
        );
        net.run(3000);
        // A late copy after the connection exists still gets the cached reply.
        let second_hop = Handshake {
            mode: mode::FROM_SECOND_RELAY,
            noise: msg1.clone(),
            peer_address: Some(fake(9)),
            relay_address: Some(fake(4)),
        }
        .to_bytes();
        request(&mut net, fake(3), s, 303, command::PEER_HANDSHAKE, Some(target), None, Some(second_hop));
        net.run(3000);
        let asked = net.nodes[s].log.iter().filter(|e| matches!(e, Event::IncomingHandshake { .. })).count();
        assert_eq!(asked, 1);
        let r1 = requests(&net, fake(1), 101);
        let r2 = requests(&net, fake(2), 202);
        let r3 = requests(&net, fake(4), 303);
        assert_eq!(
            (r1.len(), r2.len(), r3.len()),
            (1, 1, 1),
            "one FROM_SERVER request per copy, original tids"
        );
        let h: Vec<Handshake> =
            [&r1[0], &r2[0], &r3[0]].iter().map(|r| decode(r.value.as_ref().unwrap()).unwrap()).collect();
        assert!(h.iter().all(|h| h.mode == mode::FROM_SERVER && h.peer_address == Some(fake(9))));
        assert_eq!(h[0].noise, h[1].noise);
        assert_eq!(h[0].noise, h[2].noise);
        assert!(
            r1[0].target == Some(target) && r1[0].token.is_none() && r1[0].command == command::PEER_HANDSHAKE
        );
        // The reply is a real Noise IK msg2 for our msg1, with the server's UDX stream id.
        let server_payload = wrap.recv(&h[0].noise).unwrap();
        assert_eq!(server_payload.error, 0);
        assert_eq!(server_payload.firewall, firewall::OPEN);
        assert_eq!(server_payload.addresses4, vec![net.addr(s)]);
        let udx_id = server_payload.udx.unwrap().id as u32;
        // The client said OPEN: the server connected its stream to the client address at once.
        let incoming = net.nodes[s].log.iter().find_map(|e| match e {
            Event::Incoming { stream, remote_address, .. } => Some((*stream, *remote_address)),
            _ => None,
        });
        assert_eq!(incoming, Some((udx_id, fake(9))));
        let info = net.nodes[s].node.udx().info(udx_id).unwrap();
        assert_eq!(info.remote_id, 1234);
    }

    #[test]
    fn announce_tokens_and_signatures_are_checked() {
        let mut net = Net::testnet(12, 0, 6);
        let p = 3;
        let node_id = net.nodes[p].node.rpc().id().expect("persistent");
        let kp = KeyPair::from_seed(&[0x31; 32]);
        let topic = [0x21u8; 32];
        let peer = Peer { public_key: kp.public_key(), relay_addresses: vec![] };
        let signed = |token: &[u8; 32]| {
            let sig = sign_announce(&topic, &node_id, token, &peer, None, &kp);
            Announce { peer: Some(peer.clone()), refresh: None, signature: Some(sig), bump: 0 }.to_bytes()
        };
        net.tapping = true;
        // A token we never got: INVALID_TOKEN (2) with a fresh token.
        request(
            &mut net,
            fake(1),
            p,
            1,
            command::ANNOUNCE,
            Some(topic),
            Some([9; 32]),
            Some(signed(&[9; 32])),
        );
        net.run(500);
        let r = responses(&net, fake(1), 1);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].error, 2);
        let token = r[0].token.expect("fresh token");
        // A valid token with a signature over another token: no answer at all.
        request(&mut net, fake(1), p, 2, command::ANNOUNCE, Some(topic), Some(token), Some(signed(&[8; 32])));
        // A valid token without any token field in the request: no answer either.
        request(&mut net, fake(1), p, 3, command::ANNOUNCE, Some(topic), None, Some(signed(&token)));
        net.run(500);
        assert!(responses(&net, fake(1), 2).is_empty());
        assert!(responses(&net, fake(1), 3).is_empty());
        assert_eq!(net.nodes[p].node.stored_records(), 0);
        // Properly signed: a bare reply (no token, no closer nodes, no error).
        request(&mut net, fake(1), p, 4, command::ANNOUNCE, Some(topic), Some(token), Some(signed(&token)));
        net.run(500);
        let r = responses(&net, fake(1), 4);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].error, r[0].token, r[0].closer_nodes.len(), r[0].value.clone()), (0, None, 0, None));
        assert_eq!(r[0].id, Some(node_id));
        assert_eq!(net.nodes[p].node.stored_records(), 1);
        // LOOKUP answers with token, closer nodes and the record.
        request(&mut net, fake(1), p, 5, command::LOOKUP, Some(topic), None, None);
        net.run(500);
        let r = responses(&net, fake(1), 5);
        assert!(r[0].token.is_some() && !r[0].closer_nodes.is_empty());
        let l: LookupRawReply = decode(r[0].value.as_ref().unwrap()).unwrap();
        assert_eq!(l.peers, vec![peer]);
        // An ephemeral node answers storage commands with UNKNOWN_COMMAND and closer nodes.
        let e = net.add_client(true); // reachable: no NAT filter in front of it
        net.run(3000);
        request(&mut net, fake(2), e, 6, command::LOOKUP, Some(topic), None, None);
        request(&mut net, fake(2), e, 7, 99, Some(topic), None, None);
        net.run(500);
        for tid in [6, 7] {
            let r = responses(&net, fake(2), tid);
            assert_eq!(r.len(), 1);
            assert_eq!((r[0].error, r[0].token, r[0].id), (1, None, None));
            assert!(!r[0].closer_nodes.is_empty());
        }
    }

    #[test]
    fn mutable_and_immutable_records_with_seq_errors() {
        let mut net = Net::testnet(13, 0, 10);
        let a = net.add_client(false);
        let b = net.add_client(false);
        net.run(3000);
        let kp = net.key(a, 0x44);
        let pk = kp.public_key();
        let put = |net: &mut Net, seq: u64, v: &[u8]| {
            let now = net.now;
            let op = net.nodes[a].node.mutable_put(pk, v.to_vec(), seq, now);
            match run_op(net, a, op).unwrap() {
                OpOutcome::Committed(c) => c.iter().map(|c| c.result.clone().unwrap()).collect::<Vec<u64>>(),
                other => panic!("{other:?}"),
            }
        };
        let get = |net: &mut Net, seq: u64| {
            let now = net.now;
            let op = net.nodes[b].node.mutable_get(pk, seq, true, now);
            match run_op(net, b, op).unwrap() {
                OpOutcome::Mutable(m) => m.map(|m| (m.seq, m.value)),
                other => panic!("{other:?}"),
            }
        };
        let codes = put(&mut net, 1, b"one");
        assert!(codes.len() >= 10 && codes.iter().all(|c| *c == 0), "{codes:?}");
        assert_eq!(get(&mut net, 0), Some((1, b"one".to_vec())));
        assert_eq!(get(&mut net, 2), None, "nothing at seq ≥ 2 yet");
        assert!(put(&mut net, 1, b"uno").iter().all(|c| *c == 16), "SEQ_REUSED");
        assert!(put(&mut net, 0, b"zero").iter().all(|c| *c == 17), "SEQ_TOO_LOW");
        assert!(put(&mut net, 1, b"one").iter().all(|c| *c == 0), "same seq and value is accepted");
        assert!(put(&mut net, 5, b"five").iter().all(|c| *c == 0));
        assert_eq!(get(&mut net, 0), Some((5, b"five".to_vec())));

        let value = b"an immutable value".to_vec();
        let now = net.now;
        let op = net.nodes[a].node.immutable_put(value.clone(), now);
        assert!(matches!(run_op(&mut net, a, op).unwrap(), OpOutcome::Committed(c) if c.len() >= 10));
        let now = net.now;
        let op = net.nodes[b].node.immutable_get(hash(&value), now);
        let OpOutcome::Immutable(Some((_, got))) = run_op(&mut net, b, op).unwrap() else { panic!() };
        assert_eq!(got, value);
        let now = net.now;
        let op = net.nodes[b].node.immutable_get([3; 32], now);
        assert_eq!(run_op(&mut net, b, op).unwrap(), OpOutcome::Immutable(None));
    }

    #[test]
    fn hostile_datagrams_never_panic_and_the_network_keeps_working() {
        let mut net = Net::testnet(14, 0, 8);
        let s = net.add_client(true);
        let c = net.add_client(false);
        net.run(3000);
        let server_kp = net.key(s, 0x55);
        net.listen(s, &server_kp);
        net.tapping = true;
        net.run(5000);
        // Real datagrams to mutate.
        let samples: Vec<Vec<u8>> = net.tap.iter().map(|t| t.bytes.clone()).take(200).collect();
        let mut rng = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let streams: Vec<u32> = (0..4).map(|_| next() as u32).collect();
        for round in 0..20_000u64 {
            let to = (next() as usize) % net.nodes.len();
            let mut bytes = match round % 4 {
                0 => samples[(next() as usize) % samples.len()].clone(),
                1 => (0..(next() % 80)).map(|_| next() as u8).collect(),
                2 => {
                    // UDX-looking packets, sometimes for real stream ids.
                    let mut b = vec![0xff, 1, (next() % 32) as u8, (next() % 4) as u8];
                    let id = if next() % 2 == 0 { streams[(next() as usize) % 4] } else { next() as u32 };
                    b.extend_from_slice(&id.to_le_bytes());
                    b.extend((0..(next() % 64)).map(|_| next() as u8));
                    b
                }
                _ => {
                    // Valid hyperdht requests with random values.
                    let cmd = next() % 12;
                    let value: Vec<u8> = (0..(next() % 100)).map(|_| next() as u8).collect();
                    let mut t = [0u8; 32];
                    t.iter_mut().for_each(|b| *b = next() as u8);
                    if next() % 3 == 0 {
                        t = hash(&server_kp.public_key());
                    }
                    RequestMessage {
                        tid: next() as u16,
                        to: net.addr(to),
                        id: None,
                        token: None,
                        internal: false,
                        command: cmd,
                        target: Some(t),
                        value: Some(value),
                    }
                    .encode()
                }
            };
            if round % 4 == 0 && !bytes.is_empty() {
                let n = bytes.len();
                for _ in 0..=(next() % 4) {
                    bytes[(next() as usize) % n] ^= (next() as u8) | 1;
                }
                if next() % 3 == 0 {
                    bytes.truncate((next() as usize) % n);
                }
            }
            let from = fake((next() % 200) as u8 + 1);
            net.inject(from, to, bytes);
            if round % 500 == 0 {
                net.run(50);
            }
        }
        net.run(2000);
        // Still works: a connection and an echo.
        let client_kp = net.key(c, 0x66);
        let conn = net.connect(c, &client_kp, server_kp.public_key());
        assert!(net.run_until(30_000, |n| connected(n, c, conn).is_some()));
        assert!(connected(&net, c, conn).unwrap().is_ok());
    }

    #[test]
    fn a_flood_of_garbage_msg1s_does_not_lock_out_a_real_client() {
        let mut net = Net::testnet(16, 0, 10);
        let s = net.add_client(true);
        let c = net.add_client(false);
        net.run(3000);
        let server_kp = net.key(s, 0x55);
        let client_kp = net.key(c, 0x66);
        let server = net.listen(s, &server_kp);
        assert!(net.run_until(30_000, |n| n.nodes[s]
            .log
            .iter()
            .any(|e| matches!(e, Event::ServerAnnounced { server: id, .. } if *id == server))));
        let target = hash(&server_kp.public_key());
        // Undecryptable msg1s sent straight to the server from spoofed sources (no answer is
        // needed, so the per-host rate limit never bites): 2000 within a second …
        let mut sent = 0u32;
        let mut flood = |net: &mut Net, n: u32| {
            for _ in 0..n {
                sent += 1;
                let mut noise = vec![0x5a; 96];
                noise[..4].copy_from_slice(&sent.to_le_bytes());
                let hs =
                    Handshake { mode: mode::FROM_CLIENT, noise, peer_address: None, relay_address: None };
                let from = fake((sent % 250) as u8 + 1);
                let tid = sent as u16;
                request(net, from, s, tid, command::PEER_HANDSHAKE, Some(target), None, Some(hs.to_bytes()));
            }
        };
        for _ in 0..100 {
            flood(&mut net, 20);
            net.run(10);
        }
        let asked = net.nodes[s].log.iter().filter(|e| matches!(e, Event::IncomingHandshake { .. })).count();
        assert!(asked >= 1000, "the garbage reached the key holder: {asked}");
        // … and 200 a second more while a real client connects.
        let conn = net.connect(c, &client_kp, server_kp.public_key());
        let mut waited = 0;
        while connected(&net, c, conn).is_none() && waited < 20_000 {
            flood(&mut net, 2);
            net.run(10);
            waited += 10;
        }
        assert!(
            matches!(connected(&net, c, conn), Some(Ok(_))),
            "the real client got {:?} after {waited} ms",
            connected(&net, c, conn)
        );
    }

    use hyperwasm_relay::dht_rpc::messages::RequestMessage;
}

#[test]
fn listen_twice_and_a_destroyed_node_fail_with_js_codes() {
    let mut net = Net::testnet(15, 0, 4);
    let a = net.add_client(true);
    net.run(2000);
    let kp = net.key(a, 1);
    net.listen(a, &kp);
    let now = net.now;
    let again = net.nodes[a].node.listen(kp.public_key(), now).unwrap_err();
    assert_eq!(again.code(), "KEYPAIR_ALREADY_USED");
    net.nodes[a].node.destroy();
    assert_eq!(net.nodes[a].node.poll_timeout(), None);
    assert_eq!(net.nodes[a].node.listen([2; 32], now).unwrap_err().code(), "DESTROYED");
    let op = net.nodes[a].node.lookup([1; 32], now);
    let conn = net.nodes[a].node.connect(&kp.public_key(), Default::default(), now);
    let evs: Vec<Event> = std::iter::from_fn(|| net.nodes[a].node.poll_event()).collect();
    assert!(evs.contains(&Event::OpDone { op, result: Err(HyperDhtError::Destroyed) }));
    assert!(evs.contains(&Event::ConnectFailed { conn, error: HyperDhtError::Destroyed }));
    // Datagrams to a destroyed node are ignored.
    net.run(5000);
    assert!(net.nodes[a].node.poll_transmit().is_none());
}
