//! `dht testnet --size N [--bootstrap …]`: N persistent nodes on one host, as hyperdht's
//! `testnet.js` makes them: the first bootstraps off `--bootstrap` (or nothing: it starts the
//! network), the others off the bootstrap list, which is the first node when none was given.
//!
//! → `{"event":"ready","bootstrap":["H:P"…],"nodes":[{"host","port","id","ephemeral","firewalled"}…]}`;
//! stdin `stats` → `{"stats":[{…node, "tableSize"}…]}`. Runs until stdin closes, SIGINT or
//! SIGTERM (a signal also stops a start under way). At most [`MAX_SIZE`] nodes.

use super::{out, Stdin};
use crate::commands::signal::shutdown_signal;
use crate::dht::{Dht, DhtConfig};
use crate::error::RelayError;
use clap::Args;
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Most nodes one testnet runs (each is a socket and a driver task in this process).
pub const MAX_SIZE: usize = 256;

/// Arguments of `dht testnet`.
#[derive(Debug, Args)]
pub struct TestnetArgs {
    /// Number of nodes (1–256).
    #[arg(long, default_value_t = 5)]
    pub size: usize,
    /// Bootstrap nodes of an existing network to join (default: start a new one).
    #[arg(long, value_name = "HOST:PORT", value_delimiter = ',')]
    pub bootstrap: Vec<SocketAddrV4>,
    /// IPv4 address the nodes bind and announce.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: Ipv4Addr,
    /// UDP port of the first node (0: any).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// A running testnet.
pub struct Testnet {
    /// Its nodes, the first one first.
    pub nodes: Vec<Dht>,
    /// What other nodes bootstrap from.
    pub bootstrap: Vec<SocketAddrV4>,
}

/// A testnet member. On loopback every peer shares one source address, so the per-host request
/// limit would throttle the whole local network as if it were one stranger (a relay's 1,000
/// concurrent lookups ran at ~110/s): loopback members allow 100× more.
fn member(bind: SocketAddrV4, bootstrap: Vec<SocketAddrV4>) -> DhtConfig {
    let mut cfg = DhtConfig::persistent(bind, bootstrap);
    if bind.ip().is_loopback() {
        let d = crate::dht_rpc::RateLimit::default();
        cfg.rate_limit =
            crate::dht_rpc::RateLimit { per_second: d.per_second * 100, burst: d.burst * 100, ..d };
    }
    cfg
}

impl Testnet {
    /// Starts `size` nodes on `host` (see the module docs).
    pub async fn start(
        size: usize,
        host: Ipv4Addr,
        port: u16,
        bootstrap: Vec<SocketAddrV4>,
    ) -> Result<Testnet, RelayError> {
        if !(1..=MAX_SIZE).contains(&size) {
            let value = u64::try_from(size).unwrap_or(u64::MAX);
            return Err(RelayError::OutOfRange { arg: "--size", value, min: 1, max: MAX_SIZE as u64 });
        }
        let first = super::start(member(SocketAddrV4::new(host, port), bootstrap.clone())).await?;
        let bootstrap = if bootstrap.is_empty() { vec![first.loopback_addr()] } else { bootstrap };
        let mut nodes = vec![first];
        while nodes.len() < size {
            let cfg = member(SocketAddrV4::new(host, 0), bootstrap.clone());
            nodes.push(super::start(cfg).await?);
        }
        Ok(Testnet { nodes, bootstrap })
    }

    /// The nodes as dht-peer.mjs prints them.
    pub async fn nodes_json(&self, with_table: bool) -> Result<Vec<Value>, RelayError> {
        let mut list = Vec::new();
        for node in &self.nodes {
            let info = node.info().await?;
            let addr = node.loopback_addr();
            let mut v = json!({
                "host": addr.ip().to_string(),
                "port": addr.port(),
                "id": info.id.map(hex::encode),
                "ephemeral": info.ephemeral,
                "firewalled": info.firewalled,
            });
            if with_table {
                v["tableSize"] = json!(info.table_size);
            }
            list.push(v);
        }
        Ok(list)
    }

    /// Destroys every node, the last one first.
    pub async fn destroy(self) {
        for node in self.nodes.iter().rev() {
            node.destroy().await;
        }
    }
}

/// Runs `dht testnet`.
pub async fn run(args: TestnetArgs) -> Result<(), RelayError> {
    let mut stdin = Stdin::start();
    // A signal during a long start stops it (the nodes started so far go with the future).
    let tn = tokio::select! {
        tn = Testnet::start(args.size, args.host, args.port, args.bootstrap) => tn?,
        () = shutdown_signal() => return Ok(()),
    };
    let bootstrap: Vec<String> = tn.bootstrap.iter().map(ToString::to_string).collect();
    out(json!({ "event": "ready", "bootstrap": bootstrap, "nodes": tn.nodes_json(false).await? }))?;
    while let Some(cmd) = stdin.next().await {
        match cmd.name.as_str() {
            "stats" => out(json!({ "stats": tn.nodes_json(true).await? }))?,
            _ => super::unknown_command(&cmd)?,
        }
    }
    tn.destroy().await;
    Ok(())
}
