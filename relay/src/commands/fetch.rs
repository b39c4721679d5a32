//! `fetch <key> --connect HOST:PORT... --dir <dir> [--start N --end M] [--live [--until-length N]]
//! [--verify] [--timeout S]`.

use crate::commands::signal::shutdown_signal;
use crate::core_dir;
use crate::cores::{CoreSet, DownloadRange, SharedCore};
use crate::error::RelayError;
use crate::replicate::{fetch_connection, ConnectionReport};
use crate::testdata::Digest;
use crate::vlog;
use clap::Args;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::task::{Id, JoinSet};

/// How long one TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Core key (64 hex characters).
    pub key: String,
    /// Peer to download from (repeatable: blocks are spread across peers).
    #[arg(long = "connect", value_name = "HOST:PORT", required = true)]
    pub connect: Vec<String>,
    /// Directory of the local replica (created if missing; resumed if it holds this core).
    #[arg(long)]
    pub dir: PathBuf,
    /// First block to download (default 0).
    #[arg(long)]
    pub start: Option<u64>,
    /// End of the range, exclusive (default: the length learnt from the peers).
    #[arg(long, conflicts_with = "live")]
    pub end: Option<u64>,
    /// Keep following appends: with --until-length, until the core is that long and
    /// downloaded; without, until Ctrl-C.
    #[arg(long)]
    pub live: bool,
    /// With --live: stop once the length reached N and `start..N` is stored.
    #[arg(long, value_name = "N", requires = "live")]
    pub until_length: Option<u64>,
    /// Re-read every block of the range afterwards (each is checked against its tree hash)
    /// and print their digest.
    #[arg(long)]
    pub verify: bool,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Log connections and their outcomes to stderr.
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeerOutcome {
    peer: String,
    /// `None` while still connected when the download finished.
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<ConnectionReport>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Fetched {
    done: bool,
    key: String,
    length: u64,
    fork: u64,
    start: u64,
    end: u64,
    blocks: u64,
    downloaded_blocks: u64,
    bytes: Option<u64>,
    seconds: f64,
    mbps: Option<f64>,
    digest: Option<String>,
    verify_seconds: Option<f64>,
    peers: Vec<PeerOutcome>,
}

/// The replication connections of one fetch (or `bee get`), one task each.
pub(crate) struct Connections {
    tasks: JoinSet<Result<ConnectionReport, RelayError>>,
    peers: HashMap<Id, String>,
    outcomes: Vec<PeerOutcome>,
}

impl Connections {
    /// Dials every address; fails only if none could be reached.
    pub(crate) async fn dial(addrs: &[String], cores: &CoreSet) -> Result<Self, RelayError> {
        let mut conns = Connections { tasks: JoinSet::new(), peers: HashMap::new(), outcomes: Vec::new() };
        let mut first_error = None;
        for addr in addrs {
            match connect(addr).await {
                Ok(stream) => {
                    vlog!("{addr}: connected");
                    let task = conns.tasks.spawn(fetch_connection(stream, cores.clone()));
                    conns.peers.insert(task.id(), addr.clone());
                }
                Err(e) => {
                    vlog!("{e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if conns.tasks.is_empty() => Err(e),
            _ => Ok(conns),
        }
    }

    /// Waits until every connection ended; returns why the download cannot go on.
    pub(crate) async fn all_ended(&mut self) -> RelayError {
        let mut errors = Vec::new();
        while let Some(joined) = self.tasks.join_next_with_id().await {
            let (id, result) = match joined {
                Ok((id, result)) => (id, result),
                Err(e) => {
                    (e.id(), Err(RelayError::Replication { peer: String::new(), reason: e.to_string() }))
                }
            };
            let peer = self.peers.remove(&id).unwrap_or_default();
            let (error, report) = match result {
                Ok(report) => (RelayError::PeersGone(format!("{peer}: closed by the peer")), Some(report)),
                Err(e) => (e, None),
            };
            vlog!("{peer}: {error}");
            self.outcomes.push(PeerOutcome { peer, error: Some(error.to_string()), report });
            errors.push(error);
        }
        if errors.len() == 1 {
            if let Some(e) = errors.pop() {
                return e;
            }
        }
        RelayError::PeersGone(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
    }

    /// Ends the connections still open.
    pub(crate) async fn close(mut self) -> Vec<PeerOutcome> {
        self.tasks.abort_all();
        while let Some(joined) = self.tasks.join_next_with_id().await {
            let (id, outcome) = match joined {
                Ok((id, Ok(report))) => (id, (None, Some(report))),
                Ok((id, Err(e))) => (id, (Some(e.to_string()), None)),
                Err(e) if e.is_cancelled() => (e.id(), (None, None)),
                Err(e) => (e.id(), (Some(e.to_string()), None)),
            };
            let peer = self.peers.remove(&id).unwrap_or_default();
            self.outcomes.push(PeerOutcome { peer, error: outcome.0, report: outcome.1 });
        }
        self.outcomes
    }
}

async fn connect(addr: &str) -> Result<TcpStream, RelayError> {
    let fail = |reason: String| RelayError::Connect { addr: addr.to_string(), reason };
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            stream.set_nodelay(true).map_err(|e| fail(e.to_string()))?;
            Ok(stream)
        }
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
    }
}

/// Waits until the core is at least `min` blocks long; returns the length.
async fn wait_length(shared: &SharedCore, min: u64) -> u64 {
    let mut seen = 0;
    loop {
        let length = shared.info().await.length;
        if length >= min {
            return length;
        }
        seen = shared.changed(seen).await;
    }
}

/// Downloads what `args` asks for; returns the end of the range.
async fn reach_goal(shared: &SharedCore, start: u64, args: &FetchArgs) -> Result<u64, RelayError> {
    let end = match (args.live, args.end, args.until_length) {
        (false, Some(end), _) => end,
        // Everything: as long as every peer that told us its length.
        (false, None, _) => {
            shared.download(DownloadRange { start, end: None });
            shared.downloaded().await;
            let length = shared.info().await.length;
            if length < start {
                return Err(RelayError::BadRange { start, end: length, length });
            }
            return Ok(length);
        }
        (true, _, Some(n)) => wait_length(shared, n).await.min(n),
        (true, _, None) => std::future::pending().await,
    };
    let length = shared.info().await.length;
    if end < start || (args.end.is_none() && end > length) {
        return Err(RelayError::BadRange { start, end, length });
    }
    shared.download(DownloadRange { start, end: Some(end) });
    shared.downloaded().await;
    Ok(end)
}

/// Whether the goal is already met (checked once, when every peer has gone).
async fn met_now(shared: &SharedCore, start: u64, args: &FetchArgs) -> Option<u64> {
    let length = shared.info().await.length;
    let end = match (args.live, args.end, args.until_length) {
        (false, Some(end), _) => end,
        (false, None, _) if length > start => length,
        (true, _, Some(n)) if length >= n => n,
        _ => return None,
    };
    shared.with(|c| c.has_range(start, end)).await.then_some(end)
}

/// Downloads, then prints one JSON object: `{"done":true,"length","fork","start","end","blocks",
/// "downloadedBlocks","bytes","seconds","mbps","digest","verifySeconds","peers"}`. `seconds` runs
/// from the first TCP connect until every block of the range is stored (verified against the
/// signed tree on arrival); `digest` and `bytes` of a partial range need `--verify`.
pub async fn run(args: FetchArgs) -> Result<(), RelayError> {
    crate::set_verbose(args.verbose);
    let key = core_dir::parse_key(&args.key)?;
    let start = args.start.unwrap_or(0);
    if let Some(end) = args.end.or(args.until_length) {
        if start > end {
            return Err(RelayError::BadArgument(format!("--start {start} is beyond the end {end}")));
        }
    }
    let core = core_dir::open_remote(&args.dir, key).await?;
    let before = core.info();
    let cores = CoreSet::new();
    let shared = cores.insert(core);
    shared.download(DownloadRange { start, end: if args.live { None } else { args.end } });

    let started = Instant::now();
    let mut conns = Connections::dial(&args.connect, &cores).await?;
    let timeout = async {
        match args.timeout {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    let end = tokio::select! {
        end = reach_goal(&shared, start, &args) => end?,
        err = conns.all_ended() => match met_now(&shared, start, &args).await {
            Some(end) => end,
            None => return Err(err),
        },
        () = timeout => return Err(RelayError::Timeout(args.timeout.unwrap_or_default())),
        () = shutdown_signal() => {
            if !(args.live && args.until_length.is_none()) {
                return Err(RelayError::Interrupted);
            }
            shared.info().await.length.max(start)
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let peers = conns.close().await;

    let info = shared.info().await;
    let (mut bytes, mut digest, mut verify_seconds) = (None, None, None);
    if args.verify {
        let verify_started = Instant::now();
        let mut d = Digest::new();
        for index in start..end {
            match shared.get(index).await {
                Ok(Some(block)) => d.update(&block),
                Ok(None) => return Err(RelayError::Verify(format!("block {index} is not stored"))),
                Err(e) => return Err(RelayError::Verify(format!("block {index}: {e}"))),
            }
        }
        verify_seconds = Some(verify_started.elapsed().as_secs_f64());
        bytes = Some(d.bytes());
        digest = Some(d.hex());
    } else if start == 0 && end == info.length {
        bytes = Some(info.byte_length);
    }
    crate::print_json(&Fetched {
        done: true,
        key: hex::encode(shared.key()),
        length: info.length,
        fork: info.fork,
        start,
        end,
        blocks: end - start,
        downloaded_blocks: info.blocks_stored.saturating_sub(before.blocks_stored),
        bytes,
        seconds,
        mbps: bytes.filter(|_| seconds > 0.0).map(|b| b as f64 / 1e6 / seconds),
        digest,
        verify_seconds,
        peers,
    })
}
