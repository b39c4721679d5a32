//! The `@hyperswarm/dht-relay` stream path under a client that stops reading: the real JS
//! client (0.4.3, `tests/js/dht-relay-client.mjs sink --stall`) dials a JS `source-server`
//! (`tests/js/dht-peer.mjs`, 50 MB to every connection) on a live JS testnet through our relay
//! (in-process), then pauses its WebSocket's TCP socket. The relay must hold a bounded amount
//! for that stream (its `hyperwasm_relay_js_compat_queued_bytes` gauge, its output counter and
//! the process's RSS stay flat), and once the client reads again every byte arrives in order
//! (the client's stream hash equals the source's).

#![allow(clippy::unwrap_used)]

mod common;

use common::relay_ws::relay_on;
use std::net::SocketAddr;
use std::time::Duration;

use common::dht::{js, js_testnet, s};
use common::{node, repo_root, Peer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::block_in_place;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);
const TOTAL: u64 = 50_000_000;

/// Samples of the relay's `/metrics`, by name.
async fn metrics(addr: SocketAddr, names: &[&str]) -> Vec<u64> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    timeout(LIMIT, s.read_to_end(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    names
        .iter()
        .map(|name| {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no {name} in /metrics"));
            line.rsplit_once(' ').unwrap().1.parse().unwrap()
        })
        .collect()
}

/// This process's resident set (the relay runs in it), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_client_that_stops_reading_holds_the_relay_to_a_bound_then_gets_every_byte() {
    let tn = block_in_place(|| js_testnet(4, None));
    let running = relay_on(&tn.bootstrap).await;
    let b = tn.bootstrap.clone();
    let total = TOTAL.to_string();
    let mut src =
        block_in_place(|| js("js source", &["source-server", "--bootstrap", &b, "--bytes", &total]));
    let key = s(&src.ready, "publicKey");

    let script = repo_root().join("tests/js/dht-relay-client.mjs");
    assert!(repo_root().join("tests/js/node_modules/@hyperswarm/dht-relay").is_dir(), "run `make setup`");
    let url = format!("ws://{}/relay", running.addr);
    let args: Vec<String> = [script.to_str().unwrap(), "sink", "--relay", &url, "--key", &key, "--stall"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let mut sink =
        block_in_place(|| Peer::spawn("js sink", node(), &args, Some(&repo_root().join("tests/js"))));
    assert_eq!(sink.ready["event"], "open", "{}", sink.ready);

    const NAMES: [&str; 2] = ["hyperwasm_relay_js_compat_queued_bytes", "hyperwasm_relay_bytes_out_total"];
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (at3, rss3) = (metrics(running.addr, &NAMES).await, rss());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (at6, rss6) = (metrics(running.addr, &NAMES).await, rss());
    eprintln!(
        "queued {} / {} bytes, out {} / {} bytes, rss {rss3} / {rss6} at 3 s / 6 s",
        at3[0], at6[0], at3[1], at6[1]
    );
    // The session's queue: the UDX reads pause above 1 MiB (plus the reads in flight, 17 x
    // 64 KiB); the WebSocket reads above 2 MiB.
    for q in [at3[0], at6[0]] {
        assert!(q <= 3 << 20, "{q} bytes queued for a stalled client");
    }
    // Some data went out (into the socket buffers), then nothing more.
    assert!(at3[1] >= 1 << 20, "the source never sent: {} bytes out", at3[1]);
    assert!(at6[1] - at3[1] <= 64 * 1024, "the relay kept forwarding: {} → {}", at3[1], at6[1]);
    assert!(at6[1] < TOTAL / 2, "the relay forwarded {} of {TOTAL} bytes to a stalled client", at6[1]);
    assert!(rss6 <= rss3 + (16 << 20), "the relay's RSS grew from {rss3} to {rss6} while stalled");

    // Reading again lets every byte through, in order.
    let resumed = block_in_place(|| sink.command(json!({ "resume": true })));
    assert_eq!(resumed["resumed"], true);
    let received = block_in_place(|| sink.wait_event("received"));
    assert_eq!(received["bytes"].as_u64(), Some(TOTAL), "{received}");
    let sent = block_in_place(|| loop {
        let v = src.next_json();
        eprintln!("source: {v}");
        if v["event"] == "sent" || v["event"] == "send-failed" {
            break v;
        }
    });
    assert_eq!(sent["bytes"].as_u64(), Some(TOTAL), "{sent}");
    assert_eq!(s(&received, "hash"), s(&sent, "hash"));
    let after = metrics(running.addr, &NAMES).await;
    assert!(after[1] >= TOTAL, "{after:?}");
    drop(sink);
    drop(src);
    running.drain(Duration::from_secs(2)).await;
}
