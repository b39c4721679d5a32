//! `hyperwasm-relay dht …`: a native HyperDHT node on the command line — a local testnet,
//! lookup/announce, echo and throughput peers, records, Hyperswarm-style `join` with hypercore
//! replication, and the Rust side of the DHT benchmark.
//!
//! Output mirrors `tests/js/dht-peer.mjs` so the interop tests read both alike: JSON lines on
//! stdout, spontaneous notices carry `"event"`, answers to stdin commands do not; logs go to
//! stderr; a failure is one stderr line and exit 1. Serving commands run until stdin closes
//! (or reads `exit`), SIGINT or SIGTERM. Keys, topics and values are lowercase hex, addresses
//! `{"host","port"}`.

pub mod bench;
pub mod join;
pub mod lookup;
pub mod records;
pub mod stream;
pub mod testnet;

use crate::commands::signal::shutdown_signal;
use crate::dht::{Commit, Dht, DhtConfig, LossShim};
use crate::error::RelayError;
use clap::{Args, Subcommand};
use hyperwasm::crypto::KeyPair;
use serde_json::{json, Value};
use std::io::BufRead;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// A `dht` subcommand.
#[derive(Debug, Subcommand)]
pub enum DhtCommand {
    /// Run N persistent nodes on one host until stdin closes; prints the bootstrap list.
    Testnet(testnet::TestnetArgs),
    /// Look up who announced a topic.
    Lookup(lookup::LookupArgs),
    /// Announce a key pair under a topic (optionally with an echo server on it); stays up.
    Announce(lookup::AnnounceArgs),
    /// Accept connections and echo every byte back.
    EchoServer(stream::ServerArgs),
    /// Connect to a server, send bytes and check they come back.
    Connect(stream::ConnectArgs),
    /// Accept connections and read each to its end (test stream, hashed).
    SinkServer(stream::ServerArgs),
    /// Accept connections and send each N test-stream bytes.
    SourceServer(stream::SourceServerArgs),
    /// Connect and read the server's stream to its end.
    SinkClient(stream::ClientArgs),
    /// Connect and send N test-stream bytes.
    SourceClient(stream::SourceClientArgs),
    /// Store a value under its hash.
    ImmutablePut(records::ImmutablePutArgs),
    /// Fetch a value by hash.
    ImmutableGet(records::ImmutableGetArgs),
    /// Store a signed value under a public key.
    MutablePut(records::MutablePutArgs),
    /// Fetch the signed value of a public key.
    MutableGet(records::MutableGetArgs),
    /// Join a topic like Hyperswarm and replicate a hypercore with the peers met there.
    Join(join::JoinArgs),
    /// The Rust side of the DHT benchmark (stream throughput, connect latency).
    Bench(bench::BenchArgs),
}

/// Runs one `dht` subcommand.
pub async fn run(command: DhtCommand) -> Result<(), RelayError> {
    match command {
        DhtCommand::Testnet(a) => testnet::run(a).await,
        DhtCommand::Lookup(a) => lookup::lookup(a).await,
        DhtCommand::Announce(a) => lookup::announce(a).await,
        DhtCommand::EchoServer(a) => stream::echo_server(a).await,
        DhtCommand::Connect(a) => stream::connect(a).await,
        DhtCommand::SinkServer(a) => stream::sink_server(a).await,
        DhtCommand::SourceServer(a) => stream::source_server(a).await,
        DhtCommand::SinkClient(a) => stream::sink_client(a).await,
        DhtCommand::SourceClient(a) => stream::source_client(a).await,
        DhtCommand::ImmutablePut(a) => records::immutable_put(a).await,
        DhtCommand::ImmutableGet(a) => records::immutable_get(a).await,
        DhtCommand::MutablePut(a) => records::mutable_put(a).await,
        DhtCommand::MutableGet(a) => records::mutable_get(a).await,
        DhtCommand::Join(a) => join::run(a).await,
        DhtCommand::Bench(a) => bench::run(a).await,
    }
}

/// Where a node binds and whom it asks first.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Bootstrap nodes (comma-separated or repeated).
    #[arg(long, value_name = "HOST:PORT", value_delimiter = ',')]
    pub bootstrap: Vec<SocketAddrV4>,
    /// IPv4 address to bind.
    #[arg(long, default_value = "0.0.0.0")]
    pub host: Ipv4Addr,
    /// UDP port to bind (0: any).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Drop this share of datagrams in both directions (loss tests).
    #[arg(long, hide = true, value_name = "RATE")]
    pub loss: Option<f64>,
    /// Seed of the loss shim.
    #[arg(long, hide = true, default_value_t = 1)]
    pub loss_seed: u64,
}

impl NodeArgs {
    /// An ephemeral client node's configuration (JS `createNode()`).
    pub fn client_config(&self) -> DhtConfig {
        let mut cfg = DhtConfig::client(self.bootstrap.clone());
        cfg.bind = SocketAddrV4::new(self.host, self.port);
        cfg.loss = self.loss.map(|rate| LossShim { rate, seed: self.loss_seed });
        cfg
    }
}

/// Starts an ephemeral node and waits until it is bootstrapped; fails when no node with an id
/// answered (as dht-peer.mjs does).
pub async fn start_client(args: &NodeArgs) -> Result<Dht, RelayError> {
    if args.bootstrap.is_empty() {
        return Err(RelayError::BadArgument("--bootstrap HOST:PORT[,HOST:PORT…] is required".into()));
    }
    start(args.client_config()).await
}

/// Starts a node and waits for its bootstrap.
pub async fn start(cfg: DhtConfig) -> Result<Dht, RelayError> {
    let bootstrap = cfg.bootstrap.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let dht = Dht::bind(cfg).await?;
    dht.ready().await?;
    if !bootstrap.is_empty() && dht.info().await?.table_size == 0 {
        dht.destroy().await;
        return Err(crate::dht::DhtError::Bootstrap(bootstrap).into());
    }
    Ok(dht)
}

/// `--seed HEX` → `DHT.keyPair(seed)`; random without.
pub fn key_pair(seed: Option<&str>) -> Result<KeyPair, RelayError> {
    match seed {
        Some(s) => Ok(KeyPair::from_seed(&hex32(s, "--seed")?)),
        None => KeyPair::generate().map_err(|e| RelayError::BadArgument(format!("no randomness: {e}"))),
    }
}

/// 64 hex characters → 32 bytes. `what` names the argument as it is typed: `"--seed"` for an
/// option, `"TOPIC"` for a positional one.
pub fn hex32(s: &str, what: &str) -> Result<[u8; 32], RelayError> {
    hex_bytes(s, what)?
        .try_into()
        .map_err(|_| RelayError::BadArgument(format!("{what} must be 32 bytes (64 hex characters)")))
}

/// Hex → bytes (`what` as for [`hex32`]).
pub fn hex_bytes(s: &str, what: &str) -> Result<Vec<u8>, RelayError> {
    hex::decode(s).map_err(|_| RelayError::BadArgument(format!("{what} must be hex, got {s:?}")))
}

/// One JSON line on stdout.
pub fn out(value: Value) -> Result<(), RelayError> {
    crate::print_json(&value)
}

/// `{"host","port"}`.
pub fn addr_json(a: SocketAddrV4) -> Value {
    json!({ "host": a.ip().to_string(), "port": a.port() })
}

/// Addresses as `[{"host","port"}]`.
pub fn addrs_json(list: &[SocketAddrV4]) -> Value {
    Value::Array(list.iter().map(|a| addr_json(*a)).collect())
}

/// `[{"host","port","error"}]` as dht-peer.mjs's `commits` (error: number or failure code).
pub fn commits_json(commits: &[Commit]) -> Value {
    Value::Array(
        commits
            .iter()
            .map(|c| {
                let error = match c.result {
                    Ok(n) => json!(n),
                    Err(code) => json!(code),
                };
                json!({ "host": c.to.ip().to_string(), "port": c.to.port(), "error": error })
            })
            .collect(),
    )
}

/// Milliseconds since the Unix epoch, fractional (comparable with JS `performance.timeOrigin +
/// performance.now()`).
pub fn epoch_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// Rounds to three decimals (as the JS scripts print).
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// MB/s (10^6 bytes) for `bytes` in `ms`; `None` for no time.
pub fn mbps(bytes: u64, ms: f64) -> Option<f64> {
    (ms > 0.0).then(|| round3(bytes as f64 / 1e6 / (ms / 1000.0)))
}

/// A command read from stdin: a bare word (`stats`, `exit`) or a JSON object whose first key
/// names it.
#[derive(Debug, Clone, PartialEq)]
pub struct StdinCommand {
    /// The command's name.
    pub name: String,
    /// Its argument (`true` for bare words).
    pub arg: Value,
}

/// Parses one stdin line; `None` for blank lines, `Err` for unparsable JSON.
pub fn parse_command(line: &str) -> Option<Result<StdinCommand, String>> {
    let text = line.trim();
    if text.is_empty() {
        return None;
    }
    if text.starts_with('{') {
        return Some(match serde_json::from_str::<serde_json::Map<String, Value>>(text) {
            Ok(map) => match map.into_iter().next() {
                Some((name, arg)) => Ok(StdinCommand { name, arg }),
                None => Err(format!("bad command (empty object): {text}")),
            },
            Err(_) => Err(format!("bad command (not JSON): {text}")),
        });
    }
    let (name, arg) = match text.split_once(' ') {
        Some((n, a)) => (n.to_string(), Value::String(a.trim().to_string())),
        None => (text.to_string(), Value::Bool(true)),
    };
    Some(Ok(StdinCommand { name, arg }))
}

/// Stdin commands of a serving process: `next()` yields commands until stdin closes, reads
/// `exit`, or SIGINT/SIGTERM arrives (then `None`). Unparsable lines are answered
/// `{"error": …}` right away.
pub struct Stdin {
    rx: mpsc::Receiver<StdinCommand>,
}

impl Stdin {
    /// Starts reading stdin (and watching for signals).
    pub fn start() -> Stdin {
        let (tx, rx) = mpsc::channel(16);
        let lines = read_lines();
        tokio::spawn(async move {
            let mut lines = lines;
            let signal = shutdown_signal();
            tokio::pin!(signal);
            loop {
                let line = tokio::select! {
                    () = &mut signal => break,
                    line = lines.recv() => line,
                };
                let Some(line) = line else { break };
                let cmd = match parse_command(&line) {
                    None => continue,
                    Some(Err(e)) => {
                        let _ = out(json!({ "error": e }));
                        continue;
                    }
                    Some(Ok(cmd)) => cmd,
                };
                if cmd.name == "exit" || tx.send(cmd).await.is_err() {
                    break;
                }
            }
        });
        Stdin { rx }
    }

    /// The next command; `None`: time to shut down.
    pub async fn next(&mut self) -> Option<StdinCommand> {
        self.rx.recv().await
    }
}

/// Stdin's lines, read on a plain thread: a read blocked in the runtime's blocking pool would
/// keep the runtime from shutting down while stdin stays open (the thread just dies with the
/// process). The channel closes at EOF or on a read error.
fn read_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(16);
    let reader = move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    };
    if let Err(e) = std::thread::Builder::new().name("stdin".into()).spawn(reader) {
        crate::log!("cannot read stdin: {e}");
    }
    rx
}

/// Answers `{"error": "unknown command: NAME"}`.
pub fn unknown_command(cmd: &StdinCommand) -> Result<(), RelayError> {
    out(json!({ "error": format!("unknown command: {}", cmd.name) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_commands_parse_like_dht_peer() {
        assert_eq!(parse_command("  "), None);
        assert_eq!(parse_command("stats"), Some(Ok(StdinCommand { name: "stats".into(), arg: json!(true) })));
        assert_eq!(
            parse_command(r#"{"announce": {"x": 1}}"#),
            Some(Ok(StdinCommand { name: "announce".into(), arg: json!({"x": 1}) }))
        );
        assert!(matches!(parse_command("{oops"), Some(Err(_))));
    }

    #[test]
    fn hex_arguments_are_checked() {
        assert_eq!(hex32(&"ab".repeat(32), "TOPIC").unwrap(), [0xab; 32]);
        assert_eq!(
            hex32("abcd", "TOPIC").unwrap_err().to_string(),
            "TOPIC must be 32 bytes (64 hex characters)"
        );
        assert_eq!(hex32("zz", "--seed").unwrap_err().to_string(), "--seed must be hex, got \"zz\"");
        assert_eq!(mbps(5_000_000, 1000.0), Some(5.0));
        assert_eq!(mbps(1, 0.0), None);
    }
}
