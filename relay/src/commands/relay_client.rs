//! `hyperwasm-relay relay-client --url ws://HOST:PORT/relay <lookup|announce|connect|sink> …`:
//! the native relay client by hand (JSON lines on stdout, as the `dht` commands print them).
//!
//! - `lookup TOPIC`: `{"event":"peer","publicKey","relayAddresses","from"}` per new key, then
//!   `{"event":"done","peers","ms"}`.
//! - `announce TOPIC [--seed S]`: `{"event":"announced","publicKey","topic","commits","ms"}`.
//! - `connect KEY [--seed S] [--bytes N]`: dials, writes N random bytes over secret-stream and
//!   waits for them echoed: `{"event":"connected","ms","publicKey","remotePublicKey"}`, then
//!   `{"event":"echoed","bytes","ok","ms","mbps"}` (exit 1 if they differ).
//! - `sink KEY [--seed S]`: dials and reads to the end: `{"event":"received",…}` as
//!   `dht sink-client` prints it (bytes, hash of the test stream, ms, mbps).
//!
//! - `fetch KEY --dir D [--length N]`: looks the core's discovery key up, dials the first peer
//!   and replicates until blocks 0…N-1 (default: the remote length) are stored:
//!   `{"event":"done","blocks","bytes","digest","ms","mbps"}` (`ms` from the first lookup).
//!
//! Every line also carries nothing secret; the key pair comes from `--seed` or is random.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::dht::stream::{receive_bytes, received_json, STREAM_CHUNK};
use super::dht::{hex32, key_pair, mbps, out, round3};
use crate::error::RelayError;
use crate::relay_client::{RelayDht, RelayDhtOptions};

/// Arguments of `relay-client`.
#[derive(Debug, Args)]
pub struct RelayClientArgs {
    /// The relay's WebSocket URL (`ws://HOST:PORT/relay`).
    #[arg(long)]
    pub url: String,
    /// `Origin` header to send.
    #[arg(long)]
    pub origin: Option<String>,
    /// Give up after this long.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: RelayClientCommand,
}

/// A `relay-client` action.
#[derive(Debug, Subcommand)]
pub enum RelayClientCommand {
    /// Look a topic up.
    Lookup {
        /// Topic (64 hex characters).
        topic: String,
    },
    /// Announce our key under a topic.
    Announce {
        /// Topic (64 hex characters).
        topic: String,
        /// Key pair seed (64 hex characters; random without).
        #[arg(long)]
        seed: Option<String>,
    },
    /// Connect to a server and echo bytes through it.
    Connect {
        /// The server's public key (64 hex characters).
        key: String,
        /// Key pair seed (64 hex characters; random without).
        #[arg(long)]
        seed: Option<String>,
        /// Bytes to send and expect back.
        #[arg(long, default_value_t = 1024)]
        bytes: usize,
    },
    /// Fetch a core from the peers announced on its discovery key (Hyperswarm's topic).
    Fetch {
        /// The core's key (64 hex characters).
        key: String,
        /// Directory to store it in (created if needed).
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Done once blocks 0…N-1 are stored (default: the remote's length).
        #[arg(long)]
        length: Option<u64>,
        /// Key pair seed (64 hex characters; random without).
        #[arg(long)]
        seed: Option<String>,
    },
    /// Connect to a server and read what it sends until it ends.
    Sink {
        /// The server's public key (64 hex characters).
        key: String,
        /// Key pair seed (64 hex characters; random without).
        #[arg(long)]
        seed: Option<String>,
    },
}

fn ms_since(t: Instant) -> f64 {
    round3(t.elapsed().as_secs_f64() * 1000.0)
}

/// Runs `relay-client`.
pub async fn run(args: RelayClientArgs) -> Result<(), RelayError> {
    let limit = Duration::from_millis(args.timeout_ms);
    let timed_out = |_| RelayError::Timeout(args.timeout_ms / 1000);
    let opts = RelayDhtOptions { origin: args.origin.clone(), ..RelayDhtOptions::default() };
    let dht = tokio::time::timeout(limit, RelayDht::open(&args.url, opts)).await.map_err(timed_out)??;
    let result = tokio::time::timeout(limit, command(&dht, args.command)).await.map_err(timed_out);
    dht.destroy().await;
    result?
}

async fn command(dht: &RelayDht, command: RelayClientCommand) -> Result<(), RelayError> {
    let t0 = Instant::now();
    match command {
        RelayClientCommand::Lookup { topic } => {
            let mut q = dht.lookup(hex32(&topic, "TOPIC")?)?;
            let mut seen = HashSet::new();
            while let Some(reply) = q.next().await {
                for peer in reply.peers {
                    if seen.insert(peer.public_key) {
                        let relays: Vec<String> =
                            peer.relay_addresses.iter().map(ToString::to_string).collect();
                        out(json!({ "event": "peer", "publicKey": hex::encode(peer.public_key),
                            "relayAddresses": relays, "from": reply.from.to_string() }))?;
                    }
                }
            }
            q.finish().await?;
            out(json!({ "event": "done", "peers": seen.len(), "ms": ms_since(t0) }))
        }
        RelayClientCommand::Announce { topic, seed } => {
            let kp = key_pair(seed.as_deref())?;
            let done = dht.announce(hex32(&topic, "TOPIC")?, &kp, Vec::new()).await?;
            out(json!({ "event": "announced", "publicKey": hex::encode(kp.public_key()), "topic": topic,
                "commits": done.commits, "ms": ms_since(t0) }))
        }
        RelayClientCommand::Connect { key, seed, bytes } => {
            if bytes == 0 {
                return Err(RelayError::BadArgument("--bytes must be at least 1".into()));
            }
            let kp = key_pair(seed.as_deref())?;
            let conn = dht.connect(hex32(&key, "KEY")?, &kp, Vec::new()).await?;
            out(
                json!({ "event": "connected", "ms": ms_since(t0), "publicKey": hex::encode(kp.public_key()),
                "remotePublicKey": hex::encode(conn.remote_public_key()) }),
            )?;
            let mut payload = vec![0; bytes];
            getrandom::getrandom(&mut payload).map_err(|e| RelayError::BadArgument(e.to_string()))?;
            let (mut r, mut w) = tokio::io::split(conn.encrypted());
            let t1 = Instant::now();
            let writer = async {
                for chunk in payload.chunks(STREAM_CHUNK) {
                    w.write_all(chunk).await?;
                }
                w.flush().await
            };
            let reader = async {
                let mut got = Vec::with_capacity(bytes);
                let mut buf = vec![0; 64 * 1024];
                while got.len() < bytes {
                    let n = r.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                Ok::<_, std::io::Error>(got)
            };
            let (wrote, got) = tokio::join!(writer, reader);
            wrote.map_err(|e| RelayError::io("write", e))?;
            let got = got.map_err(|e| RelayError::io("read", e))?;
            let ms = t1.elapsed().as_secs_f64() * 1000.0;
            let ok = got == payload;
            out(json!({ "event": "echoed", "bytes": got.len(), "ok": ok, "ms": round3(ms),
                "mbps": mbps(bytes as u64, ms) }))?;
            let _ = w.shutdown().await;
            if ok {
                Ok(())
            } else {
                Err(RelayError::Verify("the echoed bytes differ from those sent".into()))
            }
        }
        RelayClientCommand::Fetch { key, dir, length, seed } => {
            fetch(dht, &key, &dir, length, seed, t0).await
        }
        RelayClientCommand::Sink { key, seed } => {
            let kp = key_pair(seed.as_deref())?;
            let conn = dht.connect(hex32(&key, "KEY")?, &kp, Vec::new()).await?;
            let remote = hex::encode(conn.remote_public_key());
            out(
                json!({ "event": "connected", "ms": ms_since(t0), "publicKey": hex::encode(kp.public_key()),
                "remotePublicKey": remote }),
            )?;
            let mut s = conn.encrypted();
            let got = receive_bytes(&mut s, true).await.map_err(|e| RelayError::io("read", e))?;
            let _ = s.shutdown().await;
            let mut v = received_json(&got);
            v["event"] = json!("received");
            v["remotePublicKey"] = json!(remote);
            out(v)
        }
    }
}

/// `relay-client fetch`: lookup → dial the first peer (others on failure) → replicate.
async fn fetch(
    dht: &RelayDht,
    key: &str,
    dir: &std::path::Path,
    length: Option<u64>,
    seed: Option<String>,
    t0: Instant,
) -> Result<(), RelayError> {
    use crate::commands::dht::join::{digest, fetch_goal};
    use crate::core_dir;
    use crate::cores::CoreSet;
    use crate::relay_client::replicate_relayed;

    let kp = key_pair(seed.as_deref())?;
    let core = core_dir::open_remote(dir, core_dir::parse_key(key)?).await?;
    let cores = CoreSet::new();
    let shared = cores.insert(core);
    let goal = fetch_goal(&shared, length);
    tokio::pin!(goal);
    let mut tried = HashSet::new();
    let mut q = dht.lookup(shared.discovery_key())?;
    let replication = loop {
        let Some(reply) = q.next().await else {
            return Err(RelayError::Verify("no peer announced on the core's discovery key".into()));
        };
        let mut dialed = None;
        for peer in reply.peers {
            if !tried.insert(peer.public_key) {
                continue;
            }
            match dht.connect(peer.public_key, &kp, peer.relay_addresses).await {
                Ok(conn) => {
                    dialed = Some(conn);
                    break;
                }
                Err(e) => crate::log!("connect to {}: {e}", &hex::encode(peer.public_key)[..8]),
            }
        }
        if let Some(conn) = dialed {
            let cores = cores.clone();
            break tokio::spawn(async move { replicate_relayed(&cores, conn).await });
        }
    };
    drop(q);
    let end = tokio::select! {
        end = &mut goal => end,
        r = replication => {
            let why = match r {
                Ok(Ok(_)) => "the peer closed the connection".to_string(),
                Ok(Err(e)) => format!("{e} ({})", e.code()),
                Err(e) => e.to_string(),
            };
            return Err(RelayError::Verify(format!("replication ended before the goal: {why}")));
        }
    };
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (d, bytes) = digest(&shared, end).await?;
    out(json!({ "event": "done", "blocks": end, "bytes": bytes, "digest": d, "ms": round3(ms),
        "mbps": mbps(bytes, ms) }))
}
