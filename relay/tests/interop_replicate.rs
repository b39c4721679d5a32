//! Replication interop matrix: the Rust CLI (`serve`, `fetch`) against live JS peers
//! (`tests/js/replicate-peer.mjs`, hypercore 11.39.5 / corestore 7.12.5) over loopback TCP.
//! Every case checks real outcomes: the length, and the digest of the replicated blocks against
//! both the seed's own digest and the one computed here from the shared generator
//! (`hyperwasm_relay::testdata`).
//!
//! Needs `node` and `tests/js/node_modules` (`make setup`); fails, never skips, without them.

#![allow(clippy::unwrap_used)]

mod common;

use common::{
    assert_clean_failure, node, p, peer_script, relay, relay_stdin, repo_root, run_program, Output, Peer,
};
use hyperwasm_relay::testdata;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::thread;

/// Seconds any one download may take before the CLI or the JS peer gives up.
const TIMEOUT: &str = "60";

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// What a seed made with `--blocks n --size size [--truncate l --then-append m]` holds.
fn seeded(n: u64, size: usize, truncate: Option<(u64, u64)>) -> Vec<Vec<u8>> {
    let mut blocks = testdata::blocks(0, 0, n, size);
    if let Some((l, m)) = truncate {
        blocks.truncate(l as usize);
        blocks.extend(testdata::blocks(1, l, m, size));
    }
    blocks
}

/// Starts a JS seed (`seed` mode) with extra arguments.
fn js_seed(args: &[&str]) -> Peer {
    let mut all = vec![p(&peer_script()).to_string(), "seed".into()];
    all.extend(args.iter().map(s));
    let mut peer = Peer::spawn("js seed", node(), &all, Some(&repo_root()));
    peer.exits_on_eof = true;
    peer
}

/// Runs the JS peer in `fetch` mode to completion.
fn js_fetch(key: &str, connect: &[String], extra: &[&str]) -> Output {
    let script = peer_script();
    let mut args = vec![p(&script), "fetch", "--key", key, "--timeout", TIMEOUT];
    for c in connect {
        args.extend(["--connect", c.as_str()]);
    }
    args.extend(extra);
    run_program(node(), &args, None, Some(&repo_root()))
}

/// Runs `hyperwasm-relay fetch KEY --connect … --dir DIR --verify --timeout 60 EXTRA`.
fn rust_fetch(key: &str, connect: &[String], dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["fetch", key, "--dir", p(dir), "--verify", "--timeout", TIMEOUT];
    for c in connect {
        args.extend(["--connect", c.as_str()]);
    }
    args.extend(extra);
    relay(&args)
}

/// A Rust core made with the CLI holding `blocks`; returns its key.
fn rust_core(dir: &Path, compat: bool, blocks: &[Vec<u8>]) -> String {
    let mut create = vec!["create", p(dir)];
    if compat {
        create.push("--compat");
    }
    let key = relay(&create).ok_json()["key"].as_str().unwrap().to_string();
    let size = blocks.first().map_or(1, Vec::len);
    assert!(blocks.iter().all(|b| b.len() == size));
    let out = relay_stdin(&["append", p(dir), "--chunk-size", &s(size)], &blocks.concat()).ok_json();
    assert_eq!(out["length"], blocks.len() as u64);
    key
}

/// The JS fetch's result; on failure the Rust server's log is shown too.
fn js_ok(out: &Output, server: &mut Peer) -> Value {
    if !out.status.success() {
        panic!(
            "JS fetch failed: {}\nstderr:\n{}\nRust serve stderr:\n{}",
            out.stdout_str(),
            out.stderr,
            server.stderr_text()
        );
    }
    out.json()
}

/// Checks a fetch result (Rust or JS: same keys) against the expected blocks of `start..end`.
fn check_fetched(result: &Value, expected: &[Vec<u8>], start: usize, end: usize) {
    assert_eq!(result["done"], true, "{result}");
    assert_eq!((result["start"].as_u64(), result["end"].as_u64()), (Some(start as u64), Some(end as u64)));
    let digest = testdata::digest(&expected[start..end]);
    assert_eq!(result["digest"], digest.as_str(), "digest of {start}..{end}: {result}");
    let bytes: usize = expected[start..end].iter().map(Vec::len).sum();
    assert_eq!(result["bytes"], bytes as u64, "{result}");
}

#[test]
fn testdata_matches_js() {
    let lib = peer_script().with_file_name("lib").join("testdata.mjs");
    let program = r#"
        const { testBlock, Digest } = await import(process.argv[1])
        const out = []
        for (const [gen, start, count, size] of [[0, 0, 5, 1024], [1, 7, 3, 33], [2, 1000000, 2, 1], [0, 0, 0, 5]]) {
          const d = new Digest()
          for (let i = start; i < start + count; i++) d.update(testBlock(gen, i, size))
          out.push(d.final())
        }
        console.log(JSON.stringify(out))
    "#;
    let out = run_program(node(), &["--input-type=module", "-e", program, p(&lib)], None, None).ok_json();
    let ours: Vec<String> = [(0, 0, 5, 1024), (1, 7, 3, 33), (2, 1_000_000, 2, 1), (0, 0, 0, 5)]
        .iter()
        .map(|&(gen, start, count, size)| testdata::digest(testdata::blocks(gen, start, count, size)))
        .collect();
    assert_eq!(out, json!(ours));
}

/// The harness itself, JS to JS: seeds (manifest, compat, truncated), full, sparse and live fetches.
#[test]
fn harness_js_to_js() {
    let expected = seeded(300, 700, None);
    let mut seed = js_seed(&["--blocks", "300", "--size", "700"]);
    assert_eq!(seed.ready["digest"], testdata::digest(&expected).as_str());
    let full = js_fetch(&seed.key(), &[seed.addr()], &[]).ok_json();
    check_fetched(&full, &expected, 0, 300);
    assert_eq!(full["downloadedBlocks"], 300);
    let sparse = js_fetch(&seed.key(), &[seed.addr()], &["--start", "120", "--end", "170"]).ok_json();
    check_fetched(&sparse, &expected, 120, 170);
    assert_eq!(sparse["downloadedBlocks"], 50);
    let answer = seed.command(json!({"digest": [120, 170]}));
    assert_eq!(answer["digest"], sparse["digest"]);

    let truncated = seeded(300, 64, Some((200, 150)));
    let compat = js_seed(&[
        "--compat",
        "--blocks",
        "300",
        "--size",
        "64",
        "--truncate",
        "200",
        "--then-append",
        "150",
    ]);
    assert_eq!((compat.ready["fork"].as_u64(), compat.ready["length"].as_u64()), (Some(1), Some(350)));
    assert_eq!(compat.ready["digest"], testdata::digest(&truncated).as_str());
    let fetched = js_fetch(&compat.key(), &[compat.addr()], &[]).ok_json();
    check_fetched(&fetched, &truncated, 0, 350);
    assert_eq!(fetched["fork"], 1);
}

#[test]
fn rust_fetches_compat_core_from_js() {
    let expected = seeded(500, 1024, None);
    let seed = js_seed(&["--compat", "--blocks", "500", "--size", "1024"]);
    assert_eq!(seed.ready["digest"], testdata::digest(&expected).as_str());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("replica");
    let out = rust_fetch(&seed.key(), &[seed.addr()], &dir, &[]).ok_json();
    check_fetched(&out, &expected, 0, 500);
    assert_eq!((out["length"].as_u64(), out["downloadedBlocks"].as_u64()), (Some(500), Some(500)));
    let info = relay(&["info", p(&dir)]).ok_json();
    assert_eq!((info["compat"].as_bool(), info["writable"].as_bool()), (Some(true), Some(false)));
    assert_eq!(info["contiguousLength"], 500);
    // The replica reads back on its own.
    assert_eq!(relay(&["digest", p(&dir)]).ok_json()["digest"], seed.ready["digest"]);
}

#[test]
fn rust_fetches_manifest_core_from_js() {
    let expected = seeded(500, 1000, None);
    let seed = js_seed(&["--blocks", "500", "--size", "1000"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("replica");
    let out = rust_fetch(&seed.key(), &[seed.addr()], &dir, &[]).ok_json();
    check_fetched(&out, &expected, 0, 500);
    assert_eq!(out["digest"], seed.ready["digest"]);
    let info = relay(&["info", p(&dir)]).ok_json();
    assert_eq!((info["compat"].as_bool(), info["byteLength"].as_u64()), (Some(false), Some(500_000)));
    assert_eq!(info["key"], seed.ready["key"]);
}

#[test]
fn rust_fetches_sparse_range_from_js() {
    let expected = seeded(3000, 256, None);
    let seed = js_seed(&["--blocks", "3000", "--size", "256"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("replica");
    let out = rust_fetch(&seed.key(), &[seed.addr()], &dir, &["--start", "1000", "--end", "1300"]).ok_json();
    check_fetched(&out, &expected, 1000, 1300);
    assert_eq!(out["downloadedBlocks"], 300);
    let info = relay(&["info", p(&dir)]).ok_json();
    assert_eq!((info["blocksStored"].as_u64(), info["contiguousLength"].as_u64()), (Some(300), Some(0)));
    // A second range resumes into the same replica.
    let more = rust_fetch(&seed.key(), &[seed.addr()], &dir, &["--start", "2990", "--end", "3000"]).ok_json();
    check_fetched(&more, &expected, 2990, 3000);
    assert_eq!(relay(&["info", p(&dir)]).ok_json()["blocksStored"], 310);
}

#[test]
fn rust_follows_live_appends_from_js() {
    let mut seed = js_seed(&["--blocks", "200", "--size", "512"]);
    let (key, addr) = (seed.key(), seed.addr());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("replica");
    let fetch = thread::spawn(move || rust_fetch(&key, &[addr], &dir, &["--live", "--until-length", "350"]));
    seed.wait_event("connection");
    let first = seed.command(json!({"append": 100}));
    assert_eq!(first["length"], 300);
    let second = seed.command(json!({"append": 50}));
    assert_eq!(second["length"], 350);
    let out = fetch.join().unwrap().ok_json();
    let expected = seeded(350, 512, None);
    check_fetched(&out, &expected, 0, 350);
    assert_eq!(out["digest"], second["digest"]);
    assert_eq!(out["length"], 350);
}

#[test]
fn rust_fetches_core_truncated_before_download_from_js() {
    for compat in [false, true] {
        let expected = seeded(400, 300, Some((250, 100)));
        let mut args = vec!["--blocks", "400", "--size", "300", "--truncate", "250", "--then-append", "100"];
        if compat {
            args.push("--compat");
        }
        let seed = js_seed(&args);
        assert_eq!((seed.ready["fork"].as_u64(), seed.ready["length"].as_u64()), (Some(1), Some(350)));
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("replica");
        let out = rust_fetch(&seed.key(), &[seed.addr()], &dir, &[]).ok_json();
        check_fetched(&out, &expected, 0, 350);
        assert_eq!((out["fork"].as_u64(), out["length"].as_u64()), (Some(1), Some(350)), "compat {compat}");
        assert_eq!(out["digest"], seed.ready["digest"]);
    }
}

#[test]
fn js_fetches_from_rust_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, c) = (tmp.path().join("manifest"), tmp.path().join("compat"));
    let blocks_m = testdata::blocks(0, 0, 400, 1024);
    let blocks_c = testdata::blocks(0, 0, 250, 100);
    let key_m = rust_core(&m, false, &blocks_m);
    let key_c = rust_core(&c, true, &blocks_c);
    let mut server = common::serve(&[&m, &c]);
    for (key, blocks) in [(&key_m, &blocks_m), (&key_c, &blocks_c)] {
        let digest = testdata::digest(blocks);
        let out = js_fetch(key, &[server.addr()], &["--expect-digest", &digest]);
        let out = js_ok(&out, &mut server);
        check_fetched(&out, blocks, 0, blocks.len());
        assert_eq!(out["downloadedBlocks"], blocks.len() as u64);
    }
    // Let the server see both connections close before it is stopped.
    thread::sleep(std::time::Duration::from_millis(500));
    let (status, rest) = server.interrupt();
    assert!(status.success());
    let last = rest.last().unwrap();
    assert_eq!(last["connections"], 2);
    assert!(last["blocksUploaded"].as_u64().unwrap() >= 650, "{last}");
}

#[test]
fn js_fetches_sparse_range_from_rust_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("core");
    let blocks = testdata::blocks(0, 0, 2000, 200);
    let key = rust_core(&dir, false, &blocks);
    let mut server = common::serve(&[&dir]);
    let out = js_fetch(&key, &[server.addr()], &["--start", "1500", "--end", "1600"]);
    let out = js_ok(&out, &mut server);
    check_fetched(&out, &blocks, 1500, 1600);
    assert_eq!(out["downloadedBlocks"], 100);
}

#[test]
fn rust_fetches_from_rust_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("core");
    let blocks = testdata::blocks(0, 0, 1000, 1024);
    let key = rust_core(&dir, false, &blocks);
    let server = common::serve(&[&dir]);
    let out = rust_fetch(&key, &[server.addr()], &tmp.path().join("replica"), &[]).ok_json();
    check_fetched(&out, &blocks, 0, 1000);
    let part =
        rust_fetch(&key, &[server.addr()], &tmp.path().join("part"), &["--start", "10", "--end", "20"]);
    check_fetched(&part.ok_json(), &blocks, 10, 20);
}

/// One core seeded by a JS peer and a Rust peer at once; a Rust and a JS reader fetch from both.
#[test]
fn rust_and_js_fetch_from_js_and_rust_seeds_at_once() {
    let expected = seeded(1500, 1024, None);
    let seed = js_seed(&["--blocks", "1500", "--size", "1024"]);
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("rust-seed");
    let first = rust_fetch(&seed.key(), &[seed.addr()], &copy, &[]).ok_json();
    check_fetched(&first, &expected, 0, 1500);
    let server = common::serve(&[&copy]);
    let both = [seed.addr(), server.addr()];

    let out = rust_fetch(&seed.key(), &both, &tmp.path().join("reader"), &[]).ok_json();
    check_fetched(&out, &expected, 0, 1500);
    assert_eq!(out["peers"].as_array().unwrap().len(), 2, "{out}");
    let js = js_fetch(&seed.key(), &both, &[]).ok_json();
    check_fetched(&js, &expected, 0, 1500);
}

/// A JS reader that holds only some ranges serves them; the Rust reader finds them (want/bitfield).
#[test]
fn rust_fetches_from_js_sparse_seed() {
    let expected = seeded(3000, 128, None);
    let seed = js_seed(&["--blocks", "3000", "--size", "128"]);
    let script = peer_script();
    let args: Vec<String> = [p(&script), "sparse-seed", "--key", &seed.key(), "--connect", &seed.addr()]
        .iter()
        .map(s)
        .chain(["--range", "0:100", "--range", "2100:2400", "--timeout", TIMEOUT].map(s))
        .collect();
    let mut sparse = Peer::spawn("js sparse-seed", node(), &args, Some(&repo_root()));
    sparse.exits_on_eof = true;
    assert_eq!(sparse.ready["length"], 3000);
    drop(seed); // only the sparse seed is left
    let tmp = tempfile::tempdir().unwrap();
    let out = rust_fetch(
        &sparse.key(),
        &[sparse.addr()],
        &tmp.path().join("r"),
        &["--start", "2100", "--end", "2400"],
    );
    check_fetched(&out.ok_json(), &expected, 2100, 2400);
    let head =
        rust_fetch(&sparse.key(), &[sparse.addr()], &tmp.path().join("h"), &["--start", "0", "--end", "100"]);
    check_fetched(&head.ok_json(), &expected, 0, 100);
    // Blocks it does not hold never arrive: the fetch times out cleanly.
    let missing = relay(&[
        "fetch",
        &sparse.key(),
        "--connect",
        &sparse.addr(),
        "--dir",
        p(&tmp.path().join("m")),
        "--start",
        "500",
        "--end",
        "510",
        "--timeout",
        "5",
    ]);
    let line = assert_clean_failure(&missing);
    assert!(line.contains("timed out"), "{line}");
}

/// A peer that answers the handshake with garbage: the fetch fails fast and cleanly.
#[test]
fn rust_fetch_from_garbage_peer_fails_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut frame = vec![64u8, 0, 0];
        frame.extend(testdata::block(9, 9, 64));
        let _ = socket.write_all(&frame);
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf);
    });
    let tmp = tempfile::tempdir().unwrap();
    let key = "cd".repeat(32);
    let out =
        relay(&["fetch", &key, "--connect", &addr, "--dir", p(&tmp.path().join("r")), "--timeout", "20"]);
    let line = assert_clean_failure(&out);
    assert!(!line.contains("timed out"), "a garbage handshake must fail at once: {line}");
    server.join().unwrap();
}

/// A peer that does not have the core: nothing arrives, the fetch times out cleanly.
#[test]
fn rust_fetch_of_a_core_the_peer_lacks_times_out() {
    let seed = js_seed(&["--blocks", "10", "--size", "10"]);
    let tmp = tempfile::tempdir().unwrap();
    let key = "ef".repeat(32);
    let out = relay(&[
        "fetch",
        &key,
        "--connect",
        &seed.addr(),
        "--dir",
        p(&tmp.path().join("r")),
        "--timeout",
        "5",
    ]);
    let line = assert_clean_failure(&out);
    assert!(line.contains("timed out"), "{line}");
}
