//! One node fed hand-made datagrams: the replies to internal commands have the fields JS's
//! replies have (`index.js _onrequest`, `lib/io.js`), tokens, tids, retries, relaying, limits.

use super::*;
use crate::dht_rpc::commands::*;
use crate::dht_rpc::messages::{decode, Message, RequestMessage, ResponseMessage};
use hyperwasm::hyperdht::messages::ipv4_bytes;

const ME: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5000);

fn peer_addr(i: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, i), 6000 + u16::from(i))
}

fn node(persistent: bool) -> Rpc {
    let opts = RpcOptions {
        ephemeral: Some(!persistent),
        firewalled: !persistent,
        host: *ME.ip(),
        port: ME.port(),
        seed: Some([9; 32]),
        ..RpcOptions::default()
    };
    let mut rpc = Rpc::new(opts, 0);
    drain(&mut rpc);
    rpc
}

fn drain(rpc: &mut Rpc) -> (Vec<Transmit>, Vec<RpcEvent>) {
    let mut t = Vec::new();
    while let Some(x) = rpc.poll_transmit() {
        t.push(x);
    }
    let mut e = Vec::new();
    while let Some(x) = rpc.poll_event() {
        e.push(x);
    }
    (t, e)
}

/// Runs every timer up to `to`; returns what came out.
fn advance(rpc: &mut Rpc, to: u64) -> (Vec<Transmit>, Vec<RpcEvent>) {
    let (mut t, mut e) = (Vec::new(), Vec::new());
    while let Some(at) = rpc.poll_timeout() {
        if at > to {
            break;
        }
        rpc.handle_timeout(at);
        let (t2, e2) = drain(rpc);
        t.extend(t2);
        e.extend(e2);
    }
    (t, e)
}

fn request(tid: u16, command: u64, internal: bool) -> RequestMessage {
    RequestMessage { tid, to: ME, id: None, token: None, internal, command, target: None, value: None }
}

fn responses(t: &[Transmit]) -> Vec<(SocketAddrV4, SocketKind, ResponseMessage)> {
    t.iter()
        .filter_map(|x| match decode(&x.bytes) {
            Ok(Message::Response(r)) => Some((x.to, x.socket, r)),
            _ => None,
        })
        .collect()
}

fn requests(t: &[Transmit]) -> Vec<(SocketAddrV4, RequestMessage)> {
    t.iter()
        .filter_map(|x| match decode(&x.bytes) {
            Ok(Message::Request(r)) => Some((x.to, r)),
            _ => None,
        })
        .collect()
}

fn send(rpc: &mut Rpc, from: SocketAddrV4, msg: &RequestMessage, now: u64) -> (Vec<Transmit>, Vec<RpcEvent>) {
    rpc.handle_datagram(from, SocketKind::Main, &msg.encode(), now);
    drain(rpc)
}

#[test]
fn ping_reply_carries_id_only_when_persistent() {
    for persistent in [false, true] {
        let mut rpc = node(persistent);
        let (t, e) = send(&mut rpc, peer_addr(1), &request(0x1234, PING, true), 10);
        assert!(e.is_empty());
        let r = responses(&t);
        assert_eq!(r.len(), 1);
        let (to, socket, msg) = &r[0];
        assert_eq!((*to, *socket), (peer_addr(1), SocketKind::Main));
        assert_eq!(msg.tid, 0x1234);
        assert_eq!(msg.to, peer_addr(1), "`to` = the requester as we see it");
        assert_eq!(msg.id, persistent.then(|| peer::id(&ME)));
        assert!(msg.token.is_none() && msg.closer_nodes.is_empty() && msg.error == 0 && msg.value.is_none());
        // Byte layout as the JS reply in the research transcript: 13 01 tid to id.
        if persistent {
            assert_eq!(t[0].bytes[..2], [0x13, 0x01]);
            assert_eq!(t[0].bytes.len(), 1 + 1 + 2 + 6 + 32);
        } else {
            assert_eq!(t[0].bytes[..2], [0x13, 0x00]);
        }
    }
}

#[test]
fn ping_nat_replies_to_the_port_in_the_value() {
    let mut rpc = node(true);
    let mut req = request(7, PING_NAT, true);
    for bad in [None, Some(vec![1]), Some(vec![0, 0])] {
        req.value = bad;
        let (t, _) = send(&mut rpc, peer_addr(1), &req, 10);
        assert!(t.is_empty(), "no reply without a usable port");
    }
    req.value = Some(vec![0x39, 0x30, 0xff]); // 12345, trailing byte ignored
    let (t, _) = send(&mut rpc, peer_addr(1), &req, 10);
    let r = responses(&t);
    let other = SocketAddrV4::new(*peer_addr(1).ip(), 12345);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, other);
    assert_eq!(r[0].2.to, other);
    assert_eq!(r[0].2.tid, 7);
    assert!(r[0].2.token.is_none() && r[0].2.closer_nodes.is_empty());
}

#[test]
fn find_node_and_unknown_commands() {
    let mut rpc = node(true);
    for i in 1..=30 {
        rpc.add_node(peer_addr(i));
    }
    let mut req = request(1, FIND_NODE, true);
    let (t, _) = send(&mut rpc, peer_addr(200), &req, 10);
    assert!(t.is_empty(), "FIND_NODE without a target is ignored");
    let target = [0x42; 32];
    req.target = Some(target);
    let (t, _) = send(&mut rpc, peer_addr(200), &req, 10);
    let r = responses(&t);
    assert_eq!(r[0].2.closer_nodes, rpc.closest_nodes(&target, 20));
    assert_eq!(r[0].2.closer_nodes.len(), 20);
    assert!(r[0].2.token.is_none() && r[0].2.error == 0);
    // Unknown internal command: UNKNOWN_COMMAND, closer nodes only with a target.
    let (t, _) = send(&mut rpc, peer_addr(200), &request(2, 99, true), 10);
    let r = responses(&t);
    assert_eq!((r[0].2.error, r[0].2.closer_nodes.len()), (UNKNOWN_COMMAND, 0));
    let mut req = request(3, 99, true);
    req.target = Some(target);
    let (t, _) = send(&mut rpc, peer_addr(200), &req, 10);
    assert_eq!(responses(&t)[0].2.closer_nodes.len(), 20);
}

#[test]
fn application_requests_become_events_and_replies_carry_tokens() {
    let mut rpc = node(true);
    let mut req = request(0x77, 3, false);
    req.target = Some([1; 32]);
    req.value = Some(b"v".to_vec());
    let (t, e) = send(&mut rpc, peer_addr(1), &req, 10);
    assert!(t.is_empty(), "the application answers");
    let [RpcEvent::Request(inc)] = e.as_slice() else { panic!("{e:?}") };
    assert_eq!((inc.tid, inc.command, inc.internal, inc.from), (0x77, 3, false, peer_addr(1)));
    assert_eq!(inc.value.as_deref(), Some(&b"v"[..]));
    rpc.reply(inc, ReplySpec::value(Some(b"answer".to_vec())));
    let (t, _) = drain(&mut rpc);
    let r = responses(&t);
    let token = r[0].2.token.expect("reply() attaches a token");
    assert_eq!(r[0].2.value.as_deref(), Some(&b"answer"[..]));
    // The token is accepted back from the same host (any port), refused from another host.
    let mut again = req.clone();
    again.token = Some(token);
    let same_host = SocketAddrV4::new(*peer_addr(1).ip(), 1);
    let (_, e) = send(&mut rpc, same_host, &again, 20);
    assert!(matches!(&e[..], [RpcEvent::Request(r)] if r.token == Some(token)));
    let (t, e) = send(&mut rpc, peer_addr(2), &again, 20);
    assert!(e.is_empty());
    let r = responses(&t);
    assert_eq!(r[0].2.error, INVALID_TOKEN);
    let fresh = r[0].2.token.expect("INVALID_TOKEN carries a fresh token");
    assert_eq!(r[0].2.closer_nodes.len(), 0, "our table is empty");
    again.token = Some(fresh);
    let (_, e) = send(&mut rpc, peer_addr(2), &again, 20);
    assert_eq!(e.len(), 1, "the fresh token works");
    // Tokens survive one rotation (7.5 s), not two.
    advance(&mut rpc, 8_000);
    let (_, e) = send(&mut rpc, peer_addr(2), &again, 8_000);
    assert_eq!(e.len(), 1);
    advance(&mut rpc, 16_000);
    let (t, e) = send(&mut rpc, peer_addr(2), &again, 16_000);
    assert!(e.is_empty());
    assert_eq!(responses(&t)[0].2.error, INVALID_TOKEN);
    // error() / options.
    let (_, e) = send(&mut rpc, peer_addr(3), &req, 16_000);
    let RpcEvent::Request(inc) = &e[0] else { panic!() };
    let elsewhere = peer_addr(9);
    rpc.reply(inc, ReplySpec::error(16).with_closer_nodes(false).to(elsewhere));
    let (t, _) = drain(&mut rpc);
    let r = responses(&t);
    assert_eq!((r[0].0, r[0].2.to, r[0].2.error), (elsewhere, elsewhere, 16));
    assert!(r[0].2.token.is_none() && r[0].2.id == Some(peer::id(&ME)));
}

#[test]
fn relay_forwards_the_same_request() {
    let mut rpc = node(true);
    let mut req = request(0x99, 0, false);
    req.target = Some([5; 32]);
    req.value = Some(vec![1, 2, 3]);
    let (_, e) = send(&mut rpc, peer_addr(1), &req, 10);
    let RpcEvent::Request(inc) = &e[0] else { panic!() };
    rpc.relay(inc, Some(vec![4]), peer_addr(2));
    let (t, _) = drain(&mut rpc);
    let r = requests(&t);
    assert_eq!(r.len(), 1);
    let (to, fwd) = &r[0];
    assert_eq!(*to, peer_addr(2));
    assert_eq!((fwd.tid, fwd.command, fwd.internal, fwd.target), (0x99, 0, false, Some([5; 32])));
    assert_eq!((fwd.to, fwd.token, fwd.value.as_deref()), (peer_addr(2), None, Some(&[4u8][..])));
    assert_eq!(fwd.id, Some(peer::id(&ME)));
}

#[test]
fn down_hint_checks_the_named_node() {
    let mut rpc = node(true);
    rpc.add_node(peer_addr(1));
    let mut req = request(4, DOWN_HINT, true);
    req.value = Some(vec![1, 2, 3]);
    let (t, _) = send(&mut rpc, peer_addr(2), &req, 10);
    assert!(t.is_empty(), "short value: no reply");
    req.value = Some(ipv4_bytes(&peer_addr(1)).to_vec());
    let (t, _) = send(&mut rpc, peer_addr(2), &req, 10);
    let r = responses(&t);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].0, r[0].2.error), (peer_addr(2), 0));
    let pings: Vec<_> =
        requests(&t).into_iter().filter(|(to, m)| *to == peer_addr(1) && m.command == PING).collect();
    assert_eq!(pings.len(), 1, "the named node is pinged");
    // No answer within the retries: it leaves the table.
    assert!(rpc.has_node(&peer_addr(1)));
    advance(&mut rpc, 10_000);
    assert!(!rpc.has_node(&peer_addr(1)));
    assert_eq!(rpc.stats().checks, 0);
}

#[test]
fn delayed_ping_waits_and_is_capped() {
    let mut rpc = node(false);
    let mut req = request(5, DELAYED_PING, true);
    req.value = Some(300u32.to_le_bytes().to_vec());
    let (t, _) = send(&mut rpc, peer_addr(1), &req, 1000);
    assert!(t.is_empty());
    assert!(advance(&mut rpc, 1299).0.is_empty());
    assert_eq!(rpc.poll_timeout(), Some(1300));
    let r = responses(&advance(&mut rpc, 1300).0);
    assert_eq!((r[0].2.tid, r[0].0), (5, peer_addr(1)));
    req.value = Some(10_001u32.to_le_bytes().to_vec());
    assert!(send(&mut rpc, peer_addr(1), &req, 2000).0.is_empty());
    assert_eq!(rpc.stats().delayed_pings, 0, "above max delay: ignored");
    req.value = Some(5_000u32.to_le_bytes().to_vec());
    for i in 0..400u32 {
        let from = SocketAddrV4::new(Ipv4Addr::from(0x0b00_0000 + i), 1);
        send(&mut rpc, from, &req, 2000);
    }
    assert_eq!(rpc.stats().delayed_pings, 256);
    assert_eq!(rpc.stats().delayed_pings_dropped, 144);
}

#[test]
fn requests_retry_then_time_out_and_match_by_tid_only() {
    let mut rpc = node(false);
    let id = rpc.request(OutgoingRequest::new(peer_addr(1), 9), 0);
    let (t, _) = drain(&mut rpc);
    let first = requests(&t);
    assert_eq!(first.len(), 1);
    let tid = first[0].1.tid;
    assert!(first[0].1.id.is_none(), "ephemeral requests carry no id");
    let id2 = rpc.request(OutgoingRequest::new(peer_addr(1), 9), 0);
    let (t, _) = drain(&mut rpc);
    assert_eq!(requests(&t)[0].1.tid, tid.wrapping_add(1), "tids increment");
    // A reply from a different address completes the request (relayed answers).
    let reply = ResponseMessage {
        tid,
        to: ME,
        id: Some(peer::id(&peer_addr(3))),
        token: Some([8; 32]),
        closer_nodes: vec![peer_addr(4)],
        error: 0,
        value: Some(vec![1]),
    };
    rpc.handle_datagram(peer_addr(3), SocketKind::Main, &reply.encode(), 50);
    let (_, e) = drain(&mut rpc);
    let [RpcEvent::Response { id: got, response }] = e.as_slice() else { panic!("{e:?}") };
    assert_eq!(*got, id);
    assert_eq!(
        (response.from, response.from_id, response.token),
        (peer_addr(3), Some(peer::id(&peer_addr(3))), Some([8; 32]))
    );
    assert_eq!(response.rtt_ms, 50);
    assert!(rpc.has_node(&peer_addr(3)), "validated responders join the table");
    // The same tid again is unmatched.
    rpc.handle_datagram(peer_addr(3), SocketKind::Main, &reply.encode(), 60);
    assert_eq!(rpc.stats().unmatched_responses, 1);
    // The second request: 1 + 3 retries, 1 s apart, then REQUEST_TIMEOUT.
    let mut sent = 1;
    let mut failed = None;
    let mut now = 0;
    while now < 5_000 {
        now = rpc.poll_timeout().unwrap();
        rpc.handle_timeout(now);
        let (t, e) = drain(&mut rpc);
        sent += requests(&t).iter().filter(|(_, m)| m.tid == tid.wrapping_add(1)).count();
        for ev in e {
            if let RpcEvent::RequestFailed { id, error } = ev {
                failed = Some((id, error, now));
            }
        }
    }
    assert_eq!(sent, 4);
    let (fid, error, at) = failed.unwrap();
    assert_eq!((fid, error.code()), (id2, "REQUEST_TIMEOUT"));
    assert!((4000..4100).contains(&at), "failed at {at}");
}

#[test]
fn per_host_rate_limit_drops_floods() {
    let opts = RpcOptions {
        rate_limit: RateLimit { per_second: 10, burst: 20, max_hosts: 100 },
        seed: Some([1; 32]),
        ..RpcOptions::default()
    };
    let mut rpc = Rpc::new(opts, 0);
    drain(&mut rpc);
    let mut replies = 0;
    for i in 0..1000u16 {
        let (t, _) = send(&mut rpc, peer_addr(1), &request(i, PING, true), 100);
        replies += t.len();
    }
    assert_eq!(replies, 20, "the burst");
    assert_eq!(rpc.stats().rate_limited, 980);
    let (t, _) = send(&mut rpc, peer_addr(2), &request(1, PING, true), 100);
    assert_eq!(t.len(), 1, "other hosts are unaffected");
}

#[test]
fn persistent_at_once_and_ready_without_bootstrap() {
    let opts = RpcOptions {
        ephemeral: Some(false),
        firewalled: false,
        host: *ME.ip(),
        port: ME.port(),
        ..RpcOptions::default()
    };
    let mut rpc = Rpc::new(opts, 0);
    let (t, e) = drain(&mut rpc);
    assert!(t.is_empty(), "nobody to ask");
    assert_eq!(e, vec![RpcEvent::Persistent, RpcEvent::Ready]);
    assert_eq!(rpc.id(), Some(peer::id(&ME)));
    assert_eq!(rpc.remote_address(), Some(ME));
    assert!(!rpc.is_firewalled());
    // Ephemeral by default.
    let mut eph = Rpc::new(RpcOptions { bootstrap: vec![peer_addr(1)], ..RpcOptions::default() }, 0);
    let (t, _) = drain(&mut eph);
    let r = requests(&t);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].0, r[0].1.command, r[0].1.internal, r[0].1.id), (peer_addr(1), FIND_NODE, true, None));
    assert_eq!(r[0].1.target, Some(eph.table_id()));
    assert_eq!(eph.id(), None);
    assert!(eph.is_ephemeral() && eph.is_firewalled() && eph.remote_address().is_none());
}

#[test]
fn destroy_fails_everything_once() {
    let mut rpc = node(false);
    let r = rpc.request(OutgoingRequest::ping(peer_addr(1)), 0);
    let q = rpc.query(
        crate::dht_rpc::QuerySpec {
            nodes: vec![peer_addr(2)],
            ..crate::dht_rpc::QuerySpec::find_node([1; 32])
        },
        0,
    );
    drain(&mut rpc);
    rpc.destroy();
    let (_, e) = drain(&mut rpc);
    assert!(e.contains(&RpcEvent::RequestFailed { id: r, error: RpcError::Destroyed }));
    assert!(e.contains(&RpcEvent::QueryDone { id: q, closest: vec![], error: Some(RpcError::Destroyed) }));
    assert_eq!(rpc.poll_timeout(), None);
    rpc.destroy();
    rpc.handle_datagram(peer_addr(1), SocketKind::Main, &request(1, PING, true).encode(), 1);
    assert!(drain(&mut rpc).0.is_empty());
}

/// Addresses whose ids fall in row `row` of `rpc`'s table.
fn addrs_in_row(rpc: &Rpc, row: usize, n: usize) -> Vec<SocketAddrV4> {
    (0u32..)
        .map(|i| SocketAddrV4::new(Ipv4Addr::from(0x0c00_0000 + i), 7000))
        .filter(|a| rpc.table.row_of(&peer::id(a)) == row)
        .take(n)
        .collect()
}

fn id_request(from: SocketAddrV4, tid: u16) -> RequestMessage {
    RequestMessage { id: Some(peer::id(&from)), ..request(tid, PING, true) }
}

#[test]
fn full_row_pings_the_stalest_and_swaps_if_it_is_dead() {
    for old_answers in [false, true] {
        let mut rpc = node(true);
        let row = addrs_in_row(&rpc, 0, 21);
        for (i, a) in row[..20].iter().enumerate() {
            send(&mut rpc, *a, &id_request(*a, i as u16), 10);
        }
        assert_eq!(rpc.table.row(0).len(), 20);
        advance(&mut rpc, 6_000); // one tick: the row's nodes are no longer "pinged this tick"
        send(&mut rpc, row[1], &id_request(row[1], 99), 6_000); // row[1] is fresh again
        let (t, _) = send(&mut rpc, row[20], &id_request(row[20], 100), 6_000);
        let pings: Vec<_> = requests(&t).into_iter().filter(|(_, m)| m.command == PING).collect();
        assert_eq!(pings.len(), 1, "one re-ping");
        // JS `_onfullrow`: the least recently pinged, then earliest added, first in row order,
        // skipping nodes pinged this tick (row[1] just talked to us).
        let stalest = rpc.table.row(0).iter().find(|n| n.addr != row[1]).map(|n| n.addr).unwrap();
        assert_eq!(pings[0].0, stalest);
        let row: Vec<SocketAddrV4> =
            [vec![stalest], row.iter().copied().filter(|a| *a != stalest).collect()].concat();
        assert!(!rpc.has_node(&row[20]));
        if old_answers {
            let pong = ResponseMessage {
                tid: pings[0].1.tid,
                to: ME,
                id: Some(peer::id(&row[0])),
                token: None,
                closer_nodes: vec![],
                error: 0,
                value: None,
            };
            // Within its retries (the last one fails at 10 s); seen moves to this tick.
            advance(&mut rpc, 9_500);
            rpc.handle_datagram(row[0], SocketKind::Main, &pong.encode(), 9_500);
        }
        advance(&mut rpc, 20_000);
        assert_eq!(rpc.has_node(&row[0]), old_answers, "old node kept iff it answered");
        assert_eq!(rpc.has_node(&row[20]), !old_answers, "new node swapped in iff it did not");
        assert_eq!(rpc.stats().repinging, 0);
    }
}

#[test]
fn ticks_ping_the_oldest_and_refresh() {
    let opts = RpcOptions {
        bootstrap: vec![peer_addr(100)],
        ephemeral: Some(false),
        firewalled: false,
        host: *ME.ip(),
        port: ME.port(),
        seed: Some([9; 32]),
        ..RpcOptions::default()
    };
    let mut rpc = Rpc::new(opts, 0);
    advance(&mut rpc, 10_000); // the bootstrap query gives up on the silent bootstrap node
    assert!(rpc.is_bootstrapped());
    let nodes: Vec<SocketAddrV4> = (1..=5).map(peer_addr).collect();
    for a in &nodes {
        rpc.add_node(*a);
    }
    let (t, _) = advance(&mut rpc, 330_000);
    let reqs = requests(&t);
    let refreshes = reqs.iter().filter(|(to, m)| *to == peer_addr(100) && m.command == FIND_NODE).count();
    for a in &nodes {
        assert!(reqs.iter().any(|(to, m)| to == a && m.command == PING && m.internal), "{a} was pinged");
    }
    assert!(refreshes >= 1, "a refresh asked the bootstrap node again");
    // Nobody answered: the checks removed them all.
    assert!(nodes.iter().all(|a| !rpc.has_node(a)));
    assert_eq!(rpc.stats().checks, 0);
    assert!(reqs.iter().all(|(_, m)| m.id == Some(peer::id(&ME))), "a persistent node sends its id");
}

#[test]
fn requests_from_the_probe_socket_are_answered_there_without_id() {
    let mut rpc = node(true);
    let msg = id_request(peer_addr(1), 3);
    rpc.handle_datagram(peer_addr(1), SocketKind::Probe, &msg.encode(), 10);
    let (t, _) = drain(&mut rpc);
    let r = responses(&t);
    assert_eq!((r[0].1, r[0].2.id), (SocketKind::Probe, None));
    assert!(rpc.has_node(&peer_addr(1)), "a validated requester joins the table from either socket");
}
