//! The table against JS `kademlia-routing-table` (`tests/fixtures/dht-rpc/routing-table.json`,
//! made by `tests/js/gen-dht-rpc-fixtures.mjs`), plus the recency list.

use super::*;
use serde_json::Value;
use std::net::Ipv4Addr;

fn id(hex: &str) -> NodeId {
    hex::decode(hex).unwrap().try_into().unwrap()
}

fn addr(i: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), i)
}

#[test]
fn same_rows_and_closest_as_js() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/dht-rpc/routing-table.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let tables = fixture["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 3);
    let mut refused = 0;
    for (t, spec) in tables.iter().enumerate() {
        let k = spec["k"].as_u64().unwrap() as usize;
        let mut table = Table::new(id(spec["id"].as_str().unwrap()), k);
        for (i, add) in spec["adds"].as_array().unwrap().iter().enumerate() {
            let outcome = table.add(Node::new(id(add["id"].as_str().unwrap()), addr(i as u16)));
            let js_added = add["added"].as_bool().unwrap();
            assert_eq!(!matches!(outcome, AddOutcome::Full(_)), js_added, "table {t} add {i}");
            refused += usize::from(!js_added);
        }
        assert_eq!(table.len() as u64, spec["size"].as_u64().unwrap(), "table {t} size");
        for (q, query) in spec["queries"].as_array().unwrap().iter().enumerate() {
            let target = id(query["target"].as_str().unwrap());
            let kq = query["k"].as_u64().map_or(k, |n| n as usize);
            let got: Vec<String> = table.closest(&target, kq).iter().map(|n| hex::encode(n.id)).collect();
            let want: Vec<String> = query["closest"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, want, "table {t} query {q}");
        }
    }
    assert!(refused > 100, "full rows were exercised");
}

#[test]
fn rows_replace_remove_and_recency() {
    let own = [0u8; 32];
    let mut t = Table::new(own, 2);
    let mut a = [0u8; 32];
    a[0] = 0x80; // row 0
    let mut b = a;
    b[31] = 1; // row 0
    let mut c = a;
    c[31] = 2; // row 0
    let mut d = [0u8; 32];
    d[1] = 0x01; // row 15
    assert_eq!(t.row_of(&a), 0);
    assert_eq!(t.row_of(&d), 15);
    assert_eq!(t.row_of(&own), 255);
    assert_eq!(t.add(Node::new(a, addr(1))), AddOutcome::Added);
    assert_eq!(t.add(Node::new(b, addr(2))), AddOutcome::Added);
    assert_eq!(t.add(Node::new(c, addr(3))), AddOutcome::Full(0));
    assert_eq!(t.add(Node::new(d, addr(4))), AddOutcome::Added);
    assert_eq!(t.oldest(10), vec![a, b, d]);
    assert_eq!(t.add(Node::new(a, addr(5))), AddOutcome::Updated);
    assert_eq!(t.get(&a).unwrap().addr, addr(5));
    assert_eq!(t.oldest(10), vec![b, d, a]);
    t.touch(&b);
    assert_eq!(t.latest(2), vec![b, a]);
    assert_eq!(t.len(), 3);
    assert_eq!(t.remove(&a).map(|n| n.addr), Some(addr(5)));
    assert!(t.remove(&a).is_none());
    assert_eq!(t.oldest(10), vec![d, b]);
    assert_eq!(t.len(), 2);
    assert_eq!(t.nth(0).unwrap().id, b);
    assert_eq!(t.nth(1).unwrap().id, d);
    assert!(t.nth(2).is_none());
    assert_eq!(t.to_vec().len(), 2);
}

#[test]
fn closest_exact_is_the_xor_order() {
    let own = hyperwasm::crypto::blake2b(b"own");
    let mut t = Table::new(own, 20);
    let mut all = Vec::new();
    for i in 0..3000u32 {
        let mut id = hyperwasm::crypto::blake2b(&i.to_le_bytes());
        if i % 4 == 0 {
            id[..2].copy_from_slice(&own[..2]);
        }
        if t.add(Node::new(id, addr(i as u16))) == AddOutcome::Added {
            all.push(id);
        }
    }
    for q in 0..50u32 {
        let mut target = hyperwasm::crypto::blake2b(&(q + 100_000).to_le_bytes());
        if q % 3 == 0 {
            target[..q as usize % 4].copy_from_slice(&own[..q as usize % 4]);
        }
        if q == 7 {
            target = own;
        }
        for k in [1, 5, 20, 45] {
            let mut want = all.clone();
            want.sort_by(|a, b| crate::dht_rpc::peer::cmp_distance(&target, a, b));
            want.truncate(k);
            let got: Vec<NodeId> = t.closest_exact(&target, k).iter().map(|n| n.id).collect();
            assert_eq!(got, want, "target {q} k {k}");
        }
    }
}
