//! `dht join [TOPIC] --dir D [--key K] [--serve] [--length N]`: Hyperswarm on one topic,
//! replicating hypercores with every peer met there.
//!
//! As a JS Hyperswarm peer does: a server listens on our key pair and announces the topic with
//! its relay addresses (refreshed every 10 minutes); a client looks the topic up (again and
//! again, backing off from 1 s to 60 s) and dials every announced key it has no connection
//! with. Both kinds of connection replicate through `hyperwasm::replicator::replicate` with
//! the connection's Noise IK keys (secret-stream over the raw UDX stream, as hyperdht does).
//! Duplicates are settled by Hyperswarm's rule (the server side decides): a new incoming
//! connection replaces an established one, and while both sides are still dialling the one
//! whose initiator has the larger public key wins. We never dial a peer we are connected to;
//! a duplicate the other side drops just ends.
//!
//! Without `--key` D's core is seeded: server and client, until stdin closes. With `--key` the
//! core is fetched into D (created if needed) as a client (`--serve`: also a server) until
//! blocks `0…N-1` are stored (N = `--length`, or the first length a peer reports).
//!
//! Output: `{"event":"ready","key","discoveryKey","topic","publicKey","length","byteLength",
//! "digest"}` (digest of the blocks held, `testdata::Digest`); `{"event":"connection",
//! "remotePublicKey","client"}`, `{"event":"disconnect","remotePublicKey","error"?}`; a fetch
//! ends with `{"event":"done","length","blocks","bytes","digest","ms","mbps","connections"}`.

use super::{hex32, key_pair, mbps, out, round3, start_client, NodeArgs, Stdin};
use crate::commands::signal::shutdown_signal;
use crate::core_dir;
use crate::cores::{CoreSet, DownloadRange, SharedCore};
use crate::dht::{Connection, Dht};
use crate::error::RelayError;
use crate::log;
use crate::replicate::{TokioClock, IDLE_TIMEOUT_MS};
use crate::testdata::Digest;
use clap::Args;
use hyperwasm::crypto::KeyPair;
use hyperwasm::hyperdht::messages::Peer;
use hyperwasm::replicator::{replicate, ConnectionOptions};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

/// How often the announce is refreshed (Hyperswarm's `REFRESH_INTERVAL`).
const REANNOUNCE: Duration = Duration::from_secs(600);
/// Lookups back off from this …
const LOOKUP_MIN: Duration = Duration::from_secs(1);
/// … to this.
const LOOKUP_MAX: Duration = Duration::from_secs(60);

/// Arguments of `dht join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Topic (64 hex characters; default: the core's discovery key).
    pub topic: Option<String>,
    /// Core directory (seeded as it is, or the replica of --key).
    #[arg(long)]
    pub dir: PathBuf,
    /// Fetch this core (64 hex characters) into --dir.
    #[arg(long)]
    pub key: Option<String>,
    /// With --key: also accept connections and announce (and keep serving once done).
    #[arg(long)]
    pub serve: bool,
    /// With --key: done once blocks 0…N-1 are stored.
    #[arg(long)]
    pub length: Option<u64>,
    /// Key pair seed (64 hex characters; random without).
    #[arg(long)]
    pub seed: Option<String>,
    /// With --key: give up after this long.
    #[arg(long, default_value_t = 60_000)]
    pub timeout_ms: u64,
    /// Shared options.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// What the swarm's tasks tell the main loop.
enum SwarmEvent {
    Found(Peer),
    Dialed([u8; 32], Result<Connection, crate::dht::DhtError>),
}

/// Digest and byte count of blocks `0…length-1`.
pub(crate) async fn digest(shared: &SharedCore, length: u64) -> Result<(String, u64), RelayError> {
    let mut d = Digest::new();
    for i in 0..length {
        match shared.get(i).await? {
            Some(block) => d.update(&block),
            None => return Err(RelayError::BlockMissing(i)),
        }
    }
    Ok((d.hex(), d.bytes()))
}

/// Replicates `cores` over one connection until it ends; returns the remote key and why.
async fn replicate_connection(cores: CoreSet, conn: Connection) -> ([u8; 32], Option<String>) {
    let remote = conn.remote_public_key();
    let mut opts = ConnectionOptions::new(conn.is_initiator());
    opts.handshake = Some(conn.handshake().clone());
    opts.timeout_ms = IDLE_TIMEOUT_MS;
    let (r, w) = conn.into_split();
    let result = replicate(&cores, r.compat(), w.compat_write(), TokioClock::new(), opts).await;
    (remote, result.err().map(|e| format!("{e} ({})", e.code())))
}

/// Announces the topic with the server's relay addresses; returns after the commits.
async fn announce(dht: &Dht, server: &crate::dht::Server, topic: [u8; 32], kp: &KeyPair) {
    let relays = server.relay_addresses().await;
    if let Err(e) = dht.announce(topic, kp, relays).await {
        log!("announce failed: {e}");
    }
}

/// Looks the topic up again and again (Hyperswarm's client side), reporting every peer.
async fn lookup_loop(dht: Dht, topic: [u8; 32], tx: mpsc::UnboundedSender<SwarmEvent>) {
    let mut wait = LOOKUP_MIN;
    loop {
        match dht.lookup(topic) {
            Ok(mut q) => {
                while let Some(reply) = q.next().await {
                    for peer in reply.peers {
                        if tx.send(SwarmEvent::Found(peer)).is_err() {
                            return;
                        }
                    }
                }
            }
            Err(_) => return,
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LOOKUP_MAX);
    }
}

/// Waits until the fetch goal is met; returns the length reached.
pub(crate) async fn fetch_goal(shared: &SharedCore, want: Option<u64>) -> u64 {
    let min = want.unwrap_or(1).max(1);
    let mut seen = 0;
    let length = loop {
        let length = shared.info().await.length;
        if length >= min {
            break length;
        }
        seen = shared.changed(seen).await;
    };
    let end = want.unwrap_or(length);
    shared.download(DownloadRange { start: 0, end: Some(end) });
    shared.downloaded().await;
    end
}

/// The connections of the swarm.
struct Conns {
    cores: CoreSet,
    tasks: JoinSet<(u64, [u8; 32], Option<String>)>,
    /// Open connections per remote key: (our number, its replication task).
    open: HashMap<[u8; 32], Vec<(u64, AbortHandle)>>,
    dialing: HashSet<[u8; 32]>,
    /// Connections opened so far.
    total: u64,
}

impl Conns {
    fn add(&mut self, conn: Connection, client: bool) -> Result<(), RelayError> {
        let remote = conn.remote_public_key();
        self.total += 1;
        let n = self.total;
        out(json!({ "event": "connection", "remotePublicKey": hex::encode(remote), "client": client }))?;
        let cores = self.cores.clone();
        let task = self.tasks.spawn(async move {
            let (remote, error) = replicate_connection(cores, conn).await;
            (n, remote, error)
        });
        self.open.entry(remote).or_default().push((n, task));
        Ok(())
    }

    /// A server connection, deduplicated as JS Hyperswarm does: while we dial the same peer,
    /// the side with the larger public key is the one expected to initiate, so an incoming
    /// connection loses to our dial when ours is larger; a connection that replaces an
    /// established one wins (the peer lost it and is reconnecting).
    fn add_incoming(&mut self, conn: Connection, ours: [u8; 32]) -> Result<(), RelayError> {
        let remote = conn.remote_public_key();
        if self.dialing.contains(&remote) && ours > remote {
            log!("{}: duplicate connection dropped (we dial it)", &hex::encode(remote)[..8]);
            return Ok(());
        }
        for (_, task) in self.open.remove(&remote).unwrap_or_default() {
            task.abort();
            out(
                json!({ "event": "disconnect", "remotePublicKey": hex::encode(remote), "error": "replaced by a newer connection" }),
            )?;
        }
        self.add(conn, false)
    }

    fn ended(&mut self, n: u64, remote: [u8; 32], error: Option<String>) -> Result<(), RelayError> {
        if let Some(list) = self.open.get_mut(&remote) {
            list.retain(|(m, _)| *m != n);
            if list.is_empty() {
                self.open.remove(&remote);
            }
        }
        out(json!({ "event": "disconnect", "remotePublicKey": hex::encode(remote), "error": error }))
    }

    /// Whether to dial `pk` now (not us, not connected, not being dialled); marks it dialled.
    fn should_dial(&mut self, pk: [u8; 32], ours: [u8; 32]) -> bool {
        pk != ours && !self.open.contains_key(&pk) && self.dialing.insert(pk)
    }

    /// Open connections.
    fn open_count(&self) -> usize {
        self.open.values().map(Vec::len).sum()
    }
}

/// Runs `dht join`.
pub async fn run(args: JoinArgs) -> Result<(), RelayError> {
    let kp = key_pair(args.seed.as_deref())?;
    let fetching = args.key.is_some();
    let core = match &args.key {
        Some(k) => core_dir::open_remote(&args.dir, core_dir::parse_key(k)?).await?,
        None => core_dir::open(&args.dir).await?,
    };
    let cores = CoreSet::new();
    let shared = cores.insert(core);
    let topic = match &args.topic {
        Some(t) => hex32(t, "TOPIC")?,
        None => shared.discovery_key(),
    };
    let info = shared.info().await;
    let held = if fetching { 0 } else { info.length };
    let (held_digest, _) = digest(&shared, held).await?;

    let mut stdin = Stdin::start();
    let dht = start_client(&args.node).await?;
    let our_key = kp.public_key();
    let mut background = JoinSet::new();
    let mut server = None;
    if !fetching || args.serve {
        let s = dht.listen(&kp).await?;
        announce(&dht, &s, topic, &kp).await;
        server = Some(s);
    }
    let mut reannounce = tokio::time::interval_at(tokio::time::Instant::now() + REANNOUNCE, REANNOUNCE);
    let (tx, mut rx) = mpsc::unbounded_channel();
    background.spawn(lookup_loop(dht.clone(), topic, tx.clone()));
    out(json!({
        "event": "ready",
        "key": hex::encode(shared.key()),
        "discoveryKey": hex::encode(shared.discovery_key()),
        "topic": hex::encode(topic),
        "publicKey": hex::encode(our_key),
        "length": info.length,
        "byteLength": info.byte_length,
        "digest": held_digest,
    }))?;

    let started = Instant::now();
    let mut conns =
        Conns { cores, tasks: JoinSet::new(), open: HashMap::new(), dialing: HashSet::new(), total: 0 };
    let goal = fetch_goal(&shared, args.length);
    tokio::pin!(goal);
    let mut done = !fetching;
    // A fetch ignores stdin closing (it ends when done, or on a signal); a seeder or
    // `--serve` stops then.
    let mut stdin_open = true;
    let deadline = tokio::time::sleep(Duration::from_millis(args.timeout_ms));
    tokio::pin!(deadline);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            conn = async { match server.as_mut() { Some(s) => s.accept().await, None => std::future::pending().await } } => {
                match conn {
                    Some(conn) => conns.add_incoming(conn, our_key)?,
                    None => break,
                }
            }
            _ = reannounce.tick(), if server.is_some() => {
                if let Some(s) = &server {
                    announce(&dht, s, topic, &kp).await;
                }
            }
            Some(event) = rx.recv() => match event {
                SwarmEvent::Found(peer) => {
                    let pk = peer.public_key;
                    if !conns.should_dial(pk, our_key) {
                        continue;
                    }
                    let (dht, kp, tx) = (dht.clone(), kp.clone(), tx.clone());
                    background.spawn(async move {
                        let r = dht.connect(pk, &kp, peer.relay_addresses).await;
                        let _ = tx.send(SwarmEvent::Dialed(pk, r));
                    });
                }
                SwarmEvent::Dialed(pk, result) => {
                    conns.dialing.remove(&pk);
                    match result {
                        Ok(conn) => conns.add(conn, true)?,
                        Err(e) => log!("connect to {}: {e} ({})", &hex::encode(pk)[..8], e.code()),
                    }
                }
            },
            Some(joined) = conns.tasks.join_next(), if !conns.tasks.is_empty() => {
                if let Ok((n, remote, error)) = joined {
                    conns.ended(n, remote, error)?;
                }
            }
            end = &mut goal, if !done => {
                done = true;
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                let (d, bytes) = digest(&shared, end).await?;
                let length = shared.info().await.length;
                out(json!({
                    "event": "done", "length": length, "blocks": end, "bytes": bytes, "digest": d,
                    "ms": round3(ms), "mbps": mbps(bytes, ms), "connections": conns.total,
                }))?;
                if !args.serve || !stdin_open {
                    break;
                }
            }
            () = &mut signal => {
                if !done {
                    return Err(RelayError::Interrupted);
                }
                break;
            }
            () = &mut deadline, if !done => {
                return Err(RelayError::Timeout(args.timeout_ms / 1000));
            }
            cmd = stdin.next(), if stdin_open => match cmd {
                Some(cmd) if cmd.name == "stats" => {
                    let info = shared.info().await;
                    out(json!({ "stats": { "length": info.length, "connections": conns.total,
                        "open": conns.open_count() } }))?;
                }
                Some(cmd) => super::unknown_command(&cmd)?,
                None if done => break,
                None => stdin_open = false,
            },
        }
    }
    conns.tasks.abort_all();
    background.abort_all();
    drop(server);
    dht.destroy().await;
    Ok(())
}
