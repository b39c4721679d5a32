//! The sampler against JS `nat-sampler` (`tests/fixtures/dht-rpc/nat-sampler.json`, made by
//! `tests/js/gen-dht-rpc-fixtures.mjs`).

use super::*;
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/dht-rpc/nat-sampler.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn same_answers_as_js_after_every_sample() {
    let fixture = fixture();
    let runs = fixture["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for (r, run) in runs.iter().enumerate() {
        let mut n = NatSampler::new();
        for (i, step) in run.as_array().unwrap().iter().enumerate() {
            let host: Ipv4Addr = step["host"].as_str().unwrap().parse().unwrap();
            let port = step["port"].as_u64().unwrap() as u16;
            let hits = n.add(host, port);
            let want_host = step["natHost"].as_str().map(|h| h.parse::<Ipv4Addr>().unwrap());
            assert_eq!(hits, step["hits"].as_i64().unwrap(), "run {r} step {i}: hits");
            assert_eq!(n.host(), want_host, "run {r} step {i}: host");
            assert_eq!(u64::from(n.port()), step["natPort"].as_u64().unwrap(), "run {r} step {i}: port");
            assert!(n.arena_len() <= ARENA_COMPACT_AT + 2, "arena stays small");
        }
        assert_eq!(n.size(), 16);
    }
}

#[test]
fn consistent_host_random_port() {
    let mut n = NatSampler::new();
    let host = Ipv4Addr::new(5, 6, 7, 8);
    for port in 1000..1020 {
        n.add(host, port);
    }
    assert_eq!((n.host(), n.port()), (Some(host), 0));
    for _ in 0..20 {
        n.add(host, 4000);
    }
    assert_eq!((n.host(), n.port()), (Some(host), 4000));
}
