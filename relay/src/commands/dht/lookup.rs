//! `dht lookup TOPIC` and `dht announce TOPIC` (outputs as `tests/js/dht-peer.mjs`).
//!
//! - lookup: `{"event":"peer","publicKey","relayAddresses":[…],"from"}` per new peer, then
//!   `{"event":"done","peers","rounds"}`. With `--expect-key` the lookup repeats (250 ms
//!   apart) until that key was seen, failing after `--timeout-ms`.
//! - announce: `{"event":"announced","publicKey","topic","relayAddresses","closestNodes",
//!   "commits"}`, then serves stdin: `announce` → `{"announced":true,…}`, `unannounce` →
//!   `{"unannounced":true,"publicKey","commits"}`. With `--listen` an echo server runs on the
//!   key pair and the record carries its relay addresses (what Hyperswarm announces).

use super::stream::echo_connection;
use super::{addr_json, addrs_json, commits_json, hex32, key_pair, out, start_client, NodeArgs, Stdin};
use crate::dht::{Announced, Dht};
use crate::error::RelayError;
use clap::Args;
use hyperwasm::crypto::KeyPair;
use serde_json::json;
use std::collections::HashSet;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

/// Arguments of `dht lookup`.
#[derive(Debug, Args)]
pub struct LookupArgs {
    /// Topic (64 hex characters).
    pub topic: String,
    /// Repeat until this public key was seen.
    #[arg(long)]
    pub expect_key: Option<String>,
    /// With --expect-key: give up after this long.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Shared options.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Arguments of `dht announce`.
#[derive(Debug, Args)]
pub struct AnnounceArgs {
    /// Topic (64 hex characters).
    pub topic: String,
    /// Key pair seed (64 hex characters; random without).
    #[arg(long)]
    pub seed: Option<String>,
    /// Also run an echo server on the key pair and announce its relay addresses.
    #[arg(long)]
    pub listen: bool,
    /// Relay addresses to announce (overrides --listen's).
    #[arg(long, value_name = "HOST:PORT", value_delimiter = ',')]
    pub relay: Vec<SocketAddrV4>,
    /// Unannounce before exiting.
    #[arg(long)]
    pub unannounce_on_exit: bool,
    /// Shared options.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Runs `dht lookup`.
pub async fn lookup(args: LookupArgs) -> Result<(), RelayError> {
    let topic = hex32(&args.topic, "TOPIC")?;
    let expect = args.expect_key.as_deref().map(|k| hex32(k, "--expect-key")).transpose()?;
    let dht = start_client(&args.node).await?;
    let deadline = Instant::now() + Duration::from_millis(args.timeout_ms);
    let mut seen = HashSet::new();
    let mut rounds = 0u64;
    loop {
        rounds += 1;
        let mut q = dht.lookup(topic)?;
        while let Some(reply) = q.next().await {
            for peer in reply.peers {
                if seen.insert(peer.public_key) {
                    out(json!({
                        "event": "peer",
                        "publicKey": hex::encode(peer.public_key),
                        "relayAddresses": addrs_json(&peer.relay_addresses),
                        "from": addr_json(reply.from),
                    }))?;
                }
            }
        }
        match expect {
            None => break,
            Some(k) if seen.contains(&k) => break,
            Some(k) if Instant::now() >= deadline => {
                return Err(RelayError::BadArgument(format!(
                    "lookup: {} not found after {} ms ({rounds} lookups)",
                    hex::encode(k),
                    args.timeout_ms
                )))
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    out(json!({ "event": "done", "peers": seen.len(), "rounds": rounds }))?;
    dht.destroy().await;
    Ok(())
}

fn closest_json(a: &Announced) -> serde_json::Value {
    addrs_json(&a.commits.iter().map(|c| c.to).collect::<Vec<_>>())
}

async fn announce_once(
    dht: &Dht,
    topic: [u8; 32],
    kp: &KeyPair,
    relays: &[SocketAddrV4],
) -> Result<serde_json::Value, RelayError> {
    let a = dht.announce(topic, kp, relays.to_vec()).await?;
    Ok(json!({ "closestNodes": closest_json(&a), "commits": commits_json(&a.commits) }))
}

async fn unannounce(dht: &Dht, topic: [u8; 32], kp: &KeyPair) -> Result<serde_json::Value, RelayError> {
    let a = dht.unannounce(topic, kp).await?;
    Ok(json!({ "publicKey": hex::encode(kp.public_key()), "commits": commits_json(&a.commits) }))
}

/// Runs `dht announce`.
pub async fn announce(args: AnnounceArgs) -> Result<(), RelayError> {
    let topic = hex32(&args.topic, "TOPIC")?;
    let kp = key_pair(args.seed.as_deref())?;
    let mut stdin = Stdin::start();
    let dht = start_client(&args.node).await?;
    let mut relays = args.relay.clone();
    let mut server_task = None;
    if args.listen {
        let mut server = dht.listen(&kp).await?;
        if relays.is_empty() {
            relays = server.relay_addresses().await;
        }
        server_task = Some(tokio::spawn(async move {
            while let Some(conn) = server.accept().await {
                tokio::spawn(echo_connection(conn));
            }
        }));
    }
    let public_key = hex::encode(kp.public_key());
    let mut first = announce_once(&dht, topic, &kp, &relays).await?;
    first["event"] = json!("announced");
    first["publicKey"] = json!(public_key);
    first["topic"] = json!(hex::encode(topic));
    first["relayAddresses"] = addrs_json(&relays);
    out(first)?;
    while let Some(cmd) = stdin.next().await {
        let answer = match cmd.name.as_str() {
            "announce" => announce_once(&dht, topic, &kp, &relays).await.map(|mut v| {
                v["announced"] = json!(true);
                v["publicKey"] = json!(public_key);
                v
            }),
            "unannounce" => unannounce(&dht, topic, &kp).await.map(|mut v| {
                v["unannounced"] = json!(true);
                v
            }),
            _ => {
                super::unknown_command(&cmd)?;
                continue;
            }
        };
        match answer {
            Ok(v) => out(v)?,
            Err(e) => out(json!({ "error": e.to_string() }))?,
        }
    }
    if args.unannounce_on_exit {
        let mut v = unannounce(&dht, topic, &kp).await?;
        v["event"] = json!("unannounced");
        out(v)?;
    }
    if let Some(t) = server_task {
        t.abort();
    }
    dht.destroy().await;
    Ok(())
}
