//! The query state machine alone, with hand-made replies.

use super::*;
use crate::dht_rpc::SocketKind;
use std::net::Ipv4Addr;

fn addr(i: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8), 1000u16.wrapping_add(i).max(1))
}

fn reply(from: SocketAddrV4, with_id: bool, error: u64, closer: Vec<SocketAddrV4>) -> Response {
    Response {
        tid: 0,
        from,
        from_id: with_id.then(|| peer::id(&from)),
        to: addr(9999),
        token: None,
        closer_nodes: closer,
        error,
        value: None,
        socket: SocketKind::Main,
        rtt_ms: 1,
    }
}

fn empty_table() -> Table {
    Table::new([0xee; 32], 20)
}

#[test]
fn seeds_then_closer_nodes_then_done() {
    let table = empty_table();
    let target = [0u8; 32];
    let spec = QuerySpec { nodes: vec![addr(1), addr(2)], ..QuerySpec::find_node(target) };
    let mut q = Query::new(spec, 20, 10);
    q.open(&table, &[]);
    let visits = q.read_more(&table);
    assert_eq!(visits.iter().map(|c| c.addr).collect::<Vec<_>>(), vec![addr(1), addr(2)], "seed order kept");
    assert_eq!(q.inflight, 2);
    // An ephemeral node (no id) and an error reply never count among the closest.
    assert!(q.on_reply(addr(1), false, &reply(addr(1), false, 0, vec![addr(3), addr(4)]), &[0xee; 32], None));
    assert!(!q.on_reply(addr(2), false, &reply(addr(2), true, 1, vec![addr(5)]), &[0xee; 32], None));
    assert!(q.closest.is_empty());
    let visits = q.read_more(&table);
    assert_eq!(visits.len(), 3);
    for v in &visits {
        assert!(q.on_reply(v.addr, false, &reply(v.addr, true, 0, vec![addr(1)]), &[0xee; 32], None));
    }
    assert!(q.read_more(&table).is_empty());
    assert!(q.finished, "nothing pending, nothing in flight");
    let ids: Vec<NodeId> = q.closest.iter().map(|r| r.from_id.unwrap()).collect();
    let mut want: Vec<NodeId> = [3, 4, 5].iter().map(|&i| peer::id(&addr(i))).collect();
    want.sort_by(|a, b| cmp_distance(&target, a, b));
    assert_eq!(ids, want, "sorted by XOR distance");
    assert_eq!(q.successes, 4);
    assert_eq!(q.errors, 1);
}

#[test]
fn only_k_closest_kept_and_farther_candidates_skipped() {
    let table = empty_table();
    let target = [0u8; 32];
    let k = 4;
    let seeds: Vec<SocketAddrV4> = (1..=12).map(addr).collect();
    let spec = QuerySpec { nodes: seeds.clone(), concurrency: Some(100), ..QuerySpec::find_node(target) };
    let mut q = Query::new(spec, k, 10);
    let visits = q.read_more(&table);
    assert_eq!(visits.len(), 12, "the first round asks every seed (concurrency 100)");
    assert_eq!(q.read_more(&table).len(), 0);
    for v in visits {
        q.on_reply(v.addr, false, &reply(v.addr, true, 0, vec![]), &[0xee; 32], None);
    }
    loop {
        let visits = q.read_more(&table);
        if visits.is_empty() {
            break;
        }
        for v in visits {
            q.on_reply(v.addr, false, &reply(v.addr, true, 0, vec![]), &[0xee; 32], None);
        }
    }
    assert!(q.finished);
    assert_eq!(q.closest.len(), k);
    let mut all: Vec<NodeId> = seeds.iter().map(peer::id).collect();
    all.sort_by(|a, b| cmp_distance(&target, a, b));
    let got: Vec<NodeId> = q.closest.iter().map(|r| r.from_id.unwrap()).collect();
    // Every visited node's reply competed; the kept ones are the k closest of those visited.
    assert!(got.windows(2).all(|w| cmp_distance(&target, &w[0], &w[1]) == Ordering::Less));
    assert!(q.successes <= 12);
}

#[test]
fn timeouts_send_down_hints_to_referrers() {
    let table = empty_table();
    let spec = QuerySpec { nodes: vec![addr(1)], ..QuerySpec::find_node([0; 32]) };
    let mut q = Query::new(spec, 20, 10);
    let v = q.read_more(&table);
    assert_eq!(v.len(), 1);
    q.on_reply(addr(1), false, &reply(addr(1), true, 0, vec![addr(2)]), &[0xee; 32], None);
    let v = q.read_more(&table);
    assert_eq!(v[0].addr, addr(2));
    q.on_cycle();
    assert_eq!(q.read_more(&table).len(), 0, "nothing else to ask");
    q.on_error(addr(2), true, true);
    assert_eq!(q.take_down_hints(), vec![(addr(1), addr(2))]);
    // A later reply naming the dead node again also triggers a hint.
    let _ = q.read_more(&table);
    assert!(q.finished);
}

#[test]
fn falls_back_to_table_when_seeds_fail() {
    let mut table = empty_table();
    for i in 50..60 {
        table.add(crate::dht_rpc::table::Node::new(peer::id(&addr(i)), addr(i)));
    }
    let spec = QuerySpec { nodes: vec![addr(1)], ..QuerySpec::find_node([0; 32]) };
    let mut q = Query::new(spec, 20, 10);
    let v = q.read_more(&table);
    assert_eq!(v.len(), 1);
    q.on_error(addr(1), false, true);
    let v = q.read_more(&table);
    assert_eq!(v.len(), 3, "too few successes: the routing table is asked, slowly (3)");
    for n in &v {
        assert!((50..60).any(|i| addr(i) == n.addr));
    }
    assert!(!q.finished);
}

#[test]
fn hostile_closer_lists_are_bounded() {
    let table = empty_table();
    let spec = QuerySpec { nodes: vec![addr(1)], ..QuerySpec::find_node([0; 32]) };
    let mut q = Query::new(spec, 20, 10);
    let mut next = 2u16;
    for round in 0..500 {
        let visits = q.read_more(&table);
        if visits.is_empty() {
            break;
        }
        for v in visits {
            let closer: Vec<SocketAddrV4> = (0..200).map(|j| addr(next.wrapping_add(j))).collect();
            next = next.wrapping_add(200);
            // Ephemeral repliers: never "closest", so every candidate keeps looking closer.
            q.on_reply(v.addr, false, &reply(v.addr, false, 0, closer), &[0xee; 32], None);
        }
        assert!(q.seen_len() <= MAX_SEEN, "round {round}");
    }
    assert!(q.seen_len() <= MAX_SEEN);
}
