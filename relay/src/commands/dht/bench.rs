//! `dht bench`: the Rust ↔ Rust side of the DHT benchmark, the same workloads as
//! `tests/js/bench-dht.mjs` (whose JS ↔ JS figures are the anchor; `tests/bench/dht.sh` runs
//! both in one run).
//!
//! Setup (not timed): a fresh testnet of `--size` nodes in this process on 127.0.0.1 (or the
//! one at `--bootstrap`); the server is `hyperwasm-relay dht sink-server --no-hash` in a child
//! process (`--same-process`: in this process), reading every connection to its end. Clients
//! are ephemeral nodes in this process, bootstrapped before any clock starts.
//!
//! - `dht_stream`: one client connects and writes `--mb` × 10^6 bytes (one random 64 KiB
//!   buffer again and again) over the encrypted connection, then ends. value = MB/s from the
//!   first byte written to the last byte the server received (epoch clocks).
//! - `dht_connect_latency`: `--connects` K connections, each from a fresh client node with its
//!   own key pair, timed from `connect()` to the established connection (Noise IK done, UDX
//!   connected); value = median.
//!
//! Output: `{"bench":"dht_stream","value","unit":"MB/s","n","seconds","value_from_connect",
//! "seconds_from_connect","connect_ms","impl",…}` and `{"bench":"dht_connect_latency","value",
//! "unit":"ms","n","seconds","p90","min","max","mean","samples","client":"fresh-node",…}`.

use super::stream::{receive_bytes, received_json, send_bytes, Source};
use super::testnet::Testnet;
use super::{epoch_ms, out, round3};
use crate::dht::{Dht, DhtConfig, DhtError};
use crate::error::RelayError;
use crate::log;
use clap::Args;
use hyperwasm::crypto::KeyPair;
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The server's key pair seed (as bench-dht.mjs: 32 × 0x5e).
const SERVER_SEED: [u8; 32] = [0x5e; 32];

/// Arguments of `dht bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Stream size in MB (10^6 bytes).
    #[arg(long, default_value_t = 100.0)]
    pub mb: f64,
    /// Connects for the latency workload.
    #[arg(long, default_value_t = 20)]
    pub connects: usize,
    /// Testnet size.
    #[arg(long, default_value_t = 5)]
    pub size: usize,
    /// Use the testnet at these nodes instead of starting one.
    #[arg(long, value_name = "HOST:PORT", value_delimiter = ',')]
    pub bootstrap: Vec<SocketAddrV4>,
    /// Only this workload (dht_stream or dht_connect_latency).
    #[arg(long)]
    pub only: Option<String>,
    /// Stream runs; the fastest is reported.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Run the server in this process.
    #[arg(long)]
    pub same_process: bool,
}

/// The sink's notices: `received` / `receive-failed` lines (child) or the same from a task.
struct Sink {
    public_key: [u8; 32],
    events: mpsc::UnboundedReceiver<Value>,
    where_: &'static str,
    _child: Option<tokio::process::Child>,
    _node: Option<Dht>,
}

impl Sink {
    async fn next_received(&mut self, timeout: Duration) -> Result<Value, RelayError> {
        loop {
            let ev = tokio::time::timeout(timeout, self.events.recv())
                .await
                .map_err(|_| RelayError::Timeout(timeout.as_secs()))?
                .ok_or_else(|| RelayError::BadArgument("the sink server exited".into()))?;
            match ev["event"].as_str() {
                Some("received") => return Ok(ev),
                Some("receive-failed") => {
                    return Err(RelayError::BadArgument(format!("sink: {}", ev["error"])))
                }
                _ if ev.get("error").is_some() => return Err(RelayError::BadArgument(format!("sink: {ev}"))),
                _ => {}
            }
        }
    }
}

async fn child_sink(bootstrap: &[SocketAddrV4]) -> Result<Sink, RelayError> {
    let exe = std::env::current_exe().map_err(|e| RelayError::io("locate the binary", e))?;
    let list = bootstrap.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let mut child = tokio::process::Command::new(exe)
        .args(["dht", "sink-server", "--no-hash", "--host", "127.0.0.1", "--seed", &hex::encode(SERVER_SEED)])
        .args(["--bootstrap", &list])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| RelayError::io("start the sink server", e))?;
    let stdout = child.stdout.take().ok_or_else(|| RelayError::BadArgument("no child stdout".into()))?;
    let (tx, mut events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
                Err(_) => log!("server: {line}"),
            }
        }
    });
    let ready = tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .map_err(|_| RelayError::Timeout(30))?
        .ok_or_else(|| RelayError::BadArgument("the sink server exited before listening".into()))?;
    if ready["event"] != "listening" {
        return Err(RelayError::BadArgument(format!("the sink server failed to start: {ready}")));
    }
    Ok(Sink {
        public_key: KeyPair::from_seed(&SERVER_SEED).public_key(),
        events,
        where_: "child-process",
        _child: Some(child),
        _node: None,
    })
}

async fn in_process_sink(bootstrap: &[SocketAddrV4]) -> Result<Sink, RelayError> {
    let kp = KeyPair::from_seed(&SERVER_SEED);
    let node = client(bootstrap).await?;
    let mut server = node.listen(&kp).await?;
    let (tx, events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(conn) = server.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut s = conn.encrypted();
                match receive_bytes(&mut s, false).await {
                    Ok(r) => {
                        let mut v = received_json(&r);
                        v["event"] = json!("received");
                        let _ = tx.send(v);
                        let _ = s.shutdown().await;
                        let _ = tokio::time::timeout(Duration::from_secs(5), s.get_ref().closed()).await;
                    }
                    Err(e) => {
                        let _ = tx.send(json!({ "event": "receive-failed", "error": e.to_string() }));
                    }
                }
            });
        }
    });
    Ok(Sink { public_key: kp.public_key(), events, where_: "same-process", _child: None, _node: Some(node) })
}

async fn client(bootstrap: &[SocketAddrV4]) -> Result<Dht, RelayError> {
    let mut cfg = DhtConfig::client(bootstrap.to_vec());
    cfg.bind = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    super::start(cfg).await
}

fn random_key_pair() -> Result<KeyPair, RelayError> {
    KeyPair::generate().map_err(|e| RelayError::BadArgument(format!("no randomness: {e}")))
}

async fn connect(node: &Dht, sink: &Sink) -> Result<crate::dht::Connection, RelayError> {
    let kp = random_key_pair()?;
    tokio::time::timeout(Duration::from_secs(30), node.connect(sink.public_key, &kp, Vec::new()))
        .await
        .map_err(|_| RelayError::Timeout(30))?
        .map_err(|e: DhtError| e.into())
}

async fn stream_once(bootstrap: &[SocketAddrV4], sink: &mut Sink, bytes: u64) -> Result<Value, RelayError> {
    let node = client(bootstrap).await?;
    let connect_at = epoch_ms();
    let conn = connect(&node, sink).await?;
    let open_at = epoch_ms();
    let mut s = conn.encrypted();
    let sent = send_bytes(&mut s, bytes, Source::Reuse).await.map_err(|e| RelayError::io("send", e))?;
    let r = sink.next_received(Duration::from_secs(600)).await?;
    if r["bytes"].as_u64() != Some(bytes) {
        return Err(RelayError::Verify(format!("the server received {} of {bytes} bytes", r["bytes"])));
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), receive_bytes(&mut s, false)).await;
    drop(s);
    node.destroy().await;
    let last = r["lastByteAt"].as_f64().unwrap_or(0.0);
    let seconds = (last - sent.first_write_at) / 1000.0;
    let from_connect = (last - connect_at) / 1000.0;
    let mb = bytes as f64 / 1e6;
    Ok(json!({
        "value": round3(mb / seconds),
        "seconds": round3(seconds),
        "value_from_connect": round3(mb / from_connect),
        "seconds_from_connect": round3(from_connect),
        "connect_ms": round3(open_at - connect_at),
    }))
}

async fn connect_once(node: &Dht, sink: &mut Sink) -> Result<f64, RelayError> {
    let t0 = Instant::now();
    let conn = connect(node, sink).await?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut s = conn.encrypted();
    let _ = s.shutdown().await;
    sink.next_received(Duration::from_secs(10)).await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), receive_bytes(&mut s, false)).await;
    Ok(ms)
}

async fn connect_latency(bootstrap: &[SocketAddrV4], sink: &mut Sink, k: usize) -> Result<Value, RelayError> {
    let mut samples = Vec::with_capacity(k);
    for _ in 0..k {
        let node = client(bootstrap).await?;
        let r = connect_once(&node, sink).await;
        node.destroy().await;
        samples.push(r?);
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 };
    let p90 = sorted[((0.9 * sorted.len() as f64).ceil() as usize).saturating_sub(1)];
    let sum: f64 = samples.iter().sum();
    Ok(json!({
        "value": round3(median),
        "p90": round3(p90),
        "min": round3(sorted[0]),
        "max": round3(sorted[sorted.len() - 1]),
        "mean": round3(sum / samples.len() as f64),
        "seconds": round3(sum / 1000.0),
        "samples": samples.iter().map(|&s| round3(s)).collect::<Vec<_>>(),
    }))
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// Runs `dht bench`.
pub async fn run(args: BenchArgs) -> Result<(), RelayError> {
    let only = args.only.as_deref();
    if !matches!(only, None | Some("dht_stream") | Some("dht_connect_latency")) {
        return Err(RelayError::BadArgument("--only dht_stream|dht_connect_latency".into()));
    }
    if args.connects == 0 || args.mb.is_nan() || args.mb <= 0.0 {
        return Err(RelayError::BadArgument("--connects and --mb must be positive".into()));
    }
    let bytes = (args.mb * 1e6).round() as u64;
    let (testnet, bootstrap) = if args.bootstrap.is_empty() {
        let tn = Testnet::start(args.size, Ipv4Addr::LOCALHOST, 0, Vec::new()).await?;
        let b = tn.bootstrap.clone();
        log!(
            "testnet of {} nodes at {}",
            args.size,
            b.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        );
        (Some(tn), b)
    } else {
        (None, args.bootstrap.clone())
    };
    let mut sink =
        if args.same_process { in_process_sink(&bootstrap).await? } else { child_sink(&bootstrap).await? };
    let common = json!({
        "impl": format!("hyperwasm-relay@{}", env!("CARGO_PKG_VERSION")),
        "server": sink.where_,
        "testnet": if args.bootstrap.is_empty() { json!(args.size) } else { json!("external") },
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    });
    if only.is_none() || only == Some("dht_stream") {
        let mut runs = Vec::new();
        for i in 0..args.repeat.max(1) {
            let r = stream_once(&bootstrap, &mut sink, bytes).await?;
            log!("dht_stream run {}: {r}", i + 1);
            runs.push(r);
        }
        let best = runs
            .iter()
            .max_by(|a, b| a["value"].as_f64().unwrap_or(0.0).total_cmp(&b["value"].as_f64().unwrap_or(0.0)))
            .cloned()
            .unwrap_or(Value::Null);
        let mut row = merge(json!({ "bench": "dht_stream" }), best);
        row = merge(row, json!({ "unit": "MB/s", "n": bytes }));
        row = merge(row, common.clone());
        if runs.len() > 1 {
            row["runs"] = Value::Array(runs);
        }
        out(row)?;
    }
    if only.is_none() || only == Some("dht_connect_latency") {
        let r = connect_latency(&bootstrap, &mut sink, args.connects).await?;
        let mut row = merge(json!({ "bench": "dht_connect_latency", "unit": "ms", "n": args.connects }), r);
        row["client"] = json!("fresh-node");
        out(merge(row, common))?;
    }
    drop(sink);
    if let Some(tn) = testnet {
        tn.destroy().await;
    }
    Ok(())
}
