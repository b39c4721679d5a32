//! HyperDHT interop helpers: JS peers from `tests/js/dht-peer.mjs` (hyperdht 6.34.0) and the
//! CLI's `dht` subcommands, on loopback testnets of either language. Every long-running peer
//! is killed when its handle drops (JS peers get stdin closed first, so they clean up).

use super::{bin, node, repo_root, run_program, Output, Peer};
use serde_json::Value;
use std::path::PathBuf;

/// `tests/js/dht-peer.mjs`, after checking node and the pinned hyperdht are there (the tests
/// fail, never skip, without the JS oracle).
pub fn dht_script() -> String {
    let root = repo_root();
    assert!(
        root.join("tests/js/node_modules/hyperdht").is_dir()
            && root.join("tests/js/node_modules/hyperswarm").is_dir(),
        "tests/js/node_modules is missing hyperdht/hyperswarm: run `make setup` (or `cd tests/js && npm ci`)"
    );
    root.join("tests/js/dht-peer.mjs").to_str().unwrap().to_string()
}

fn js_dir() -> PathBuf {
    repo_root().join("tests/js")
}

/// A long-running JS peer (`dht-peer.mjs COMMAND ARGS`), started and awaited for its first line.
pub fn js(name: &str, args: &[&str]) -> Peer {
    let mut a = vec![dht_script()];
    a.extend(args.iter().map(|s| s.to_string()));
    let mut p = Peer::spawn(name, node(), &a, Some(&js_dir()));
    p.exits_on_eof = true;
    p
}

/// A one-shot JS command; its output.
pub fn js_run(args: &[&str]) -> Output {
    let mut a = vec![dht_script()];
    a.extend(args.iter().map(|s| s.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    run_program(node(), &a, None, Some(&js_dir()))
}

/// `ARGS` of a Rust `dht` command, bound to loopback.
fn rust_args(args: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["dht".into()];
    a.extend(args.iter().map(|s| s.to_string()));
    let needs_host = !matches!(args.first(), Some(&"testnet") | Some(&"bench"));
    if needs_host && !args.contains(&"--host") {
        a.extend(["--host".into(), "127.0.0.1".into()]);
    }
    a
}

/// A long-running Rust `dht` command (it exits when stdin closes).
pub fn rust(name: &str, args: &[&str]) -> Peer {
    let mut p = Peer::spawn(name, &bin(), &rust_args(args), None);
    p.exits_on_eof = true;
    p
}

/// A one-shot Rust `dht` command; its output.
pub fn rust_run(args: &[&str]) -> Output {
    let a = rust_args(args);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    run_program(&bin(), &a, None, None)
}

/// A running testnet of either language.
pub struct Testnet {
    /// The process (killed on drop).
    pub peer: Peer,
    /// `HOST:PORT[,…]` to bootstrap from.
    pub bootstrap: String,
    /// Every node as `HOST:PORT`.
    pub nodes: Vec<String>,
}

fn testnet_of(peer: Peer) -> Testnet {
    assert_eq!(peer.ready["event"], "ready", "{}: {}", peer.name, peer.ready);
    let list = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
    };
    let bootstrap = list(&peer.ready["bootstrap"]).join(",");
    let nodes = peer.ready["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("{}:{}", n["host"].as_str().unwrap(), n["port"]))
        .collect();
    Testnet { peer, bootstrap, nodes }
}

/// `testnet --size N [--bootstrap B]`, started with `spawn` (`js` or `rust`).
fn testnet(spawn: fn(&str, &[&str]) -> Peer, name: &str, size: usize, bootstrap: Option<&str>) -> Testnet {
    let size = size.to_string();
    let mut args = vec!["testnet", "--size", &size];
    if let Some(b) = bootstrap {
        args.extend(["--bootstrap", b]);
    }
    testnet_of(spawn(name, &args))
}

/// `dht-peer.mjs testnet --size N [--bootstrap B]` (hyperdht's testnet.js).
pub fn js_testnet(size: usize, bootstrap: Option<&str>) -> Testnet {
    testnet(js, "js testnet", size, bootstrap)
}

/// `hyperwasm-relay dht testnet --size N [--bootstrap B]`.
pub fn rust_testnet(size: usize, bootstrap: Option<&str>) -> Testnet {
    testnet(rust, "rust testnet", size, bootstrap)
}

/// 32 bytes of `byte`, hex.
pub fn hex32(byte: u8) -> String {
    hex::encode([byte; 32])
}

/// A string field of a JSON line.
pub fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("no string {key:?} in {v}")).to_string()
}

/// BLAKE2b-256 (hex) of the first `n` bytes of the deterministic test stream (dht-peer.mjs's
/// sink/source content): chunk `i` = `block(0, i, 65536)`.
pub fn stream_hash(n: u64) -> String {
    let mut h = blake2b_simd::Params::new().hash_length(32).to_state();
    let mut done = 0u64;
    let mut i = 0u64;
    while done < n {
        let len = (n - done).min(65536) as usize;
        h.update(&hyperwasm_relay::testdata::block(0, i, len));
        done += len as u64;
        i += 1;
    }
    hex::encode(h.finalize().as_bytes())
}
