//! Hyperbee interop over live replication: the Rust CLI (`bee get|put|range`, `serve`) against
//! JS hyperbee 2.27.3 peers (`tests/js/replicate-peer.mjs bee-seed|bee-get`) over loopback TCP.
//!
//! - (d) a sparse Rust get against a JS-seeded bee of 100,000 keys downloads O(log n) blocks:
//!   every value right, missing keys absent, the blocks each get stored counted and bounded,
//!   and compared with what a sparse JS reader downloads for the same gets.
//! - a sparse JS reader reads a bee the Rust CLI wrote and serves: every key and the whole
//!   range right.
//!
//! Needs `node` and `tests/js/node_modules` (`make setup`); fails, never skips, without them.
//! The JS bee of 100k keys is built once (~20–40 s) and its blocks cached in
//! `target/bee-seed-cache/`; later runs take a few seconds.

#![allow(clippy::unwrap_used)]

mod common;

use common::{node, p, peer_script, relay, relay_stdin, repo_root, run_program, Output, Peer};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Keys of the JS seed bee.
const SEED_KEYS: u64 = 100_000;
/// Puts per JS batch when the seed bee was built (part of the cache key).
const SEED_BATCH: u64 = 1000;
/// Hyperbee's node size (JS `T = 5`): at most `2·MIN_KEYS = 8` keys and 9 children per node,
/// at least 5 children below the root.
const MAX_KEYS: u64 = 8;
const MAX_CHILDREN: u64 = MAX_KEYS + 1;
const MIN_CHILDREN: u64 = 5;

/// Key `i` of the JS seed bee (`beeKey` in replicate-peer.mjs).
fn bee_key(i: u64) -> String {
    format!("key-{:08x}", (i as u32).wrapping_mul(2_654_435_761))
}

/// Value `i` of the JS seed bee (`beeValue`).
fn bee_value(i: u64) -> String {
    format!("value-{i}")
}

/// `n` distinct indexes below `below` (splitmix64, fixed seed).
fn random_indexes(n: usize, below: u64, seed: u64) -> Vec<u64> {
    let mut state = seed;
    let mut out = Vec::new();
    while out.len() < n {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let i = (z ^ (z >> 31)) % below;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Depth bound of a hyperbee B-tree of `n` keys: every node below the root has at least
/// `MIN_CHILDREN` children, so level `d ≥ 1` holds at least `2·MIN_CHILDREN^(d−1)` nodes and a
/// tree of depth `h` at least `2·MIN_CHILDREN^(h−1) − 1` keys.
fn max_depth(n: u64) -> u64 {
    let mut h = 1;
    while 2 * MIN_CHILDREN.pow(h as u32) - 1 <= n {
        h += 1;
    }
    h
}

/// Builds the JS seed bee's block cache if it is missing (a run of `bee-seed` that exits at
/// once), so starting the seed later is quick.
fn ensure_seed_cache() {
    let cache = repo_root()
        .join("target/bee-seed-cache")
        .join(format!("keys-{SEED_KEYS}-batch-{SEED_BATCH}-v1.blocks"));
    if cache.is_file() {
        return;
    }
    let script = peer_script();
    let keys = SEED_KEYS.to_string();
    let batch = SEED_BATCH.to_string();
    let args = [p(&script), "bee-seed", "--keys", keys.as_str(), "--batch", batch.as_str()];
    let out = run_program(node(), &args, Some(b""), Some(&repo_root()));
    out.ok_json();
    eprintln!("built the JS seed bee: {}", out.stdout_str().lines().next().unwrap_or_default());
    assert!(cache.is_file(), "bee-seed did not write {}", cache.display());
}

/// Starts the JS seed bee (cached) and returns it.
fn js_bee_seed() -> Peer {
    ensure_seed_cache();
    let args: Vec<String> = vec![
        p(&peer_script()).into(),
        "bee-seed".into(),
        "--keys".into(),
        SEED_KEYS.to_string(),
        "--batch".into(),
        SEED_BATCH.to_string(),
    ];
    let mut peer = Peer::spawn("js bee-seed", node(), &args, Some(&repo_root()));
    peer.exits_on_eof = true;
    assert_eq!(peer.ready["length"], SEED_KEYS + 1, "{}", peer.ready);
    peer
}

/// Runs the JS sparse reader (`bee-get`) against `addr` for core `key`.
fn js_bee_get(key: &str, addr: &str, keys: &[String], extra: &[&str]) -> Value {
    let script = peer_script();
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("keys.txt");
    std::fs::write(&keys_file, keys.iter().map(|k| format!("{k}\n")).collect::<String>()).unwrap();
    let mut args = vec![
        p(&script),
        "bee-get",
        "--key",
        key,
        "--connect",
        addr,
        "--keys-file",
        p(&keys_file),
        "--timeout",
        "60",
    ];
    args.extend(extra);
    let out = run_program(node(), &args, None, Some(&repo_root()));
    ok(&out, "JS bee-get")
}

fn ok(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed (exit {}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout_str(),
        out.stderr
    );
    out.json()
}

/// `(value, seq)` per result of a get run (Rust or JS: same shape).
fn answers(result: &Value) -> Vec<(Value, Value)> {
    result["results"].as_array().unwrap().iter().map(|r| (r["value"].clone(), r["seq"].clone())).collect()
}

fn blocks_per_get(result: &Value) -> Vec<u64> {
    result["results"].as_array().unwrap().iter().map(|r| r["blocks"].as_u64().unwrap()).collect()
}

#[test]
fn d_sparse_get_against_a_js_bee_of_100k_keys_downloads_log_n_blocks() {
    let started = std::time::Instant::now();
    let seed = js_bee_seed();
    let seed_ready = started.elapsed();
    let (key, addr) = (seed.key(), seed.addr());

    // 24 random present keys, then keys that are not there: beyond the seeded indexes (distinct
    // from every seeded key, the index map being a permutation), a prefix of every key, and
    // keys sorting before and after all of them.
    let present = random_indexes(24, SEED_KEYS, 4);
    let mut keys: Vec<String> = present.iter().map(|&i| bee_key(i)).collect();
    let missing = [bee_key(SEED_KEYS + 7), "key-".to_string(), "a".to_string(), "zzz".to_string()];
    keys.extend(missing.iter().cloned());

    let dir = tempfile::tempdir().unwrap();
    let replica = dir.path().join("replica");
    let mut args =
        vec!["bee", "get", "--dir", p(&replica), "--core", &key, "--connect", &addr, "--timeout", "60"];
    args.extend(keys.iter().map(String::as_str));
    let rust = ok(&relay(&args), "hyperwasm-relay bee get");
    let rust_time = started.elapsed() - seed_ready;
    assert_eq!(rust["length"], SEED_KEYS + 1, "{rust}");
    assert_eq!(rust["version"], SEED_KEYS + 1, "the bee reads the version learnt by update()");

    // Values: key i holds value-i in block i + 1 (one put per block after the header, in order).
    let expected: Vec<(Value, Value)> = present
        .iter()
        .map(|&i| (json!(bee_value(i)), json!(i + 1)))
        .chain(missing.iter().map(|_| (Value::Null, Value::Null)))
        .collect();
    assert_eq!(answers(&rust), expected, "{rust}");

    // The bound. A get walks one node per level and hyperbee's preload (JS `TreeNode.preload`,
    // which the Rust reader does too) asks for all key and child blocks of each node it loads,
    // so a get stores at most `MAX_KEYS + MAX_CHILDREN = 17` blocks per level, plus the root
    // block, over at most `max_depth(n)` levels: O(log n).
    let depth = max_depth(SEED_KEYS);
    let per_get_bound = 1 + depth * (MAX_KEYS + MAX_CHILDREN);
    let rust_blocks = blocks_per_get(&rust);
    for (k, b) in keys.iter().zip(&rust_blocks) {
        assert!(*b <= per_get_bound, "get {k} stored {b} blocks > {per_get_bound} (depth ≤ {depth})");
    }
    let rust_total = rust["blocksDownloaded"].as_u64().unwrap();
    assert_eq!(rust_total, rust_blocks.iter().sum::<u64>(), "every stored block is counted in a get");
    assert!(rust_total <= keys.len() as u64 * per_get_bound);
    assert!(rust_total < SEED_KEYS / 50, "sparse: {rust_total} of {} blocks", SEED_KEYS + 1);

    // The JS reader, same gets, same seed: as apps run it (hyperbee's extension on: on a wait
    // it asks the seed to push the blocks of the path) and without the extension (the same walk
    // and preloads as ours, which has no extension).
    let js = js_bee_get(&key, &addr, &keys, &[]);
    assert_eq!(answers(&js), expected, "{js}");
    let js_plain = js_bee_get(&key, &addr, &keys, &["--no-extension"]);
    assert_eq!(answers(&js_plain), expected, "{js_plain}");
    let (js_total, js_plain_total) =
        (js["blocksDownloaded"].as_u64().unwrap(), js_plain["blocksDownloaded"].as_u64().unwrap());
    eprintln!(
        "(d) {} gets on a bee of {SEED_KEYS} keys (depth ≤ {depth}, ≤ {per_get_bound} blocks per get): \
         Rust {rust_total} blocks {rust_blocks:?}; JS {js_total} {:?}; JS without extension \
         {js_plain_total} {:?}; seed ready after {seed_ready:?}, Rust gets {rust_time:?}",
        keys.len(),
        blocks_per_get(&js),
        blocks_per_get(&js_plain),
    );
    // Same walk, same preloads as JS without its extension: the same blocks, give or take
    // timing (a preload landing before or after the next node is read).
    assert!(
        rust_total.abs_diff(js_plain_total) <= js_plain_total / 20 + 5,
        "Rust downloaded {rust_total} blocks, JS (no extension) {js_plain_total}"
    );
    // And not far from JS as apps run it.
    assert!(rust_total <= js_total + js_total / 4 + 10, "Rust downloaded {rust_total} blocks, JS {js_total}");
    drop(seed);
}

#[test]
fn js_sparse_reader_reads_a_rust_made_bee() {
    const N: u64 = 600;
    let dir = tempfile::tempdir().unwrap();
    let bee = dir.path().join("bee");
    // One batch of N puts, then a batch that deletes, overwrites and puts without a value.
    let first: String =
        (0..N).map(|i| format!("{}\n", json!({ "key": bee_key(i), "value": bee_value(i) }))).collect();
    let out = relay_stdin(&["bee", "put", p(&bee)], first.as_bytes()).ok_json();
    assert_eq!(
        (out["length"].as_u64(), out["puts"].as_u64(), out["created"].as_bool()),
        (Some(N + 1), Some(N), Some(true))
    );
    let mut expected: BTreeMap<String, Option<String>> =
        (0..N).map(|i| (bee_key(i), Some(bee_value(i)))).collect();
    let mut second = String::new();
    for i in (0..N).step_by(31) {
        second.push_str(&format!("{}\n", json!({ "key": bee_key(i), "del": true })));
        expected.remove(&bee_key(i));
    }
    for i in (5..N).step_by(47) {
        second.push_str(&format!("{}\n", json!({ "key": bee_key(i), "value": format!("new-{i}") })));
        expected.insert(bee_key(i), Some(format!("new-{i}")));
    }
    second.push_str(&format!("{}\n", json!({ "key": "no value" })));
    expected.insert("no value".into(), None);
    let out = relay_stdin(&["bee", "put", p(&bee)], second.as_bytes()).ok_json();
    assert_eq!(out["created"], false);

    // The Rust range (local) is the expected map, in key order.
    let range = relay(&["bee", "range", p(&bee)]);
    assert!(range.status.success(), "{}", range.stderr);
    let lines: Vec<Value> =
        range.stdout_str().lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>();
    let (summary, entries) = lines.split_last().unwrap();
    assert_eq!(summary["count"], expected.len() as u64);
    let rust_range: Vec<(String, Value)> =
        entries.iter().map(|e| (e["key"].as_str().unwrap().to_string(), e["value"].clone())).collect();
    let want: Vec<(String, Value)> = expected.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    assert_eq!(rust_range, want);

    // Served by the Rust CLI, read by a sparse JS reader: every key (present, deleted,
    // overwritten, missing), then the whole range.
    let server = common::serve(&[&bee]);
    let key = server.ready["cores"][0]["key"].as_str().unwrap().to_string();
    let addr = server.addr();
    let mut keys: Vec<String> = (0..N).map(bee_key).collect();
    keys.extend(["no value".to_string(), bee_key(N + 1), "zzz".to_string()]);
    let js = js_bee_get(&key, &addr, &keys, &["--settle-ms", "0", "--read-all"]);
    assert_eq!(js["length"].as_u64(), Some(N + 1 + second.lines().count() as u64));
    for (k, r) in keys.iter().zip(js["results"].as_array().unwrap()) {
        assert_eq!(r["key"], k.as_str());
        let want = expected.get(k).cloned().flatten();
        assert_eq!(r["value"], json!(want), "{k}: {r}");
        assert_eq!(r["seq"].is_null(), !expected.contains_key(k), "{k}: {r}");
    }
    let js_range: Vec<(String, Value)> = js["range"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["key"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect();
    assert_eq!(js_range, want, "JS range of the Rust bee");
    // And the seqs JS saw are the ones the Rust range printed.
    let seqs = |v: &[Value]| v.iter().map(|e| e["seq"].clone()).collect::<Vec<_>>();
    assert_eq!(seqs(js["range"].as_array().unwrap()), seqs(entries));

    // A sparse Rust replica of the same served bee reads only a few blocks.
    let sample: Vec<String> = [7, 31, 52, 599].iter().map(|&i| bee_key(i)).collect();
    let replica = dir.path().join("replica");
    let mut args =
        vec!["bee", "get", "--dir", p(&replica), "--core", &key, "--connect", &addr, "--timeout", "60"];
    args.extend(sample.iter().map(String::as_str));
    let rust = ok(&relay(&args), "hyperwasm-relay bee get");
    let values: Vec<Value> = rust["results"].as_array().unwrap().iter().map(|r| r["value"].clone()).collect();
    let want_values: Vec<Value> = sample.iter().map(|k| json!(expected.get(k).cloned().flatten())).collect();
    assert_eq!(values, want_values, "{rust}");
    let total = rust["blocksDownloaded"].as_u64().unwrap();
    assert!(total < (N + 35) / 2, "sparse: {total} blocks");
    drop(server);
}
