//! `bee get|put|range`: a Hyperbee (JS hyperbee 2.27.3 format) on a core directory.
//!
//! - `bee get KEY... --dir D [--connect HOST:PORT... --core KEY]`: with `--connect`, a sparse
//!   replica in `D` downloads only the blocks on the path of each key (and what hyperbee's
//!   preload asks for beside it) and reports how many it stored; without, a local read.
//! - `bee put D`: JSON lines on stdin become one batch (one atomic append).
//! - `bee range D`: the entries in key order, read locally.

use crate::commands::fetch::Connections;
use crate::core_dir::{self, Core};
use crate::cores::{CoreSet, SharedCore};
use crate::error::RelayError;
use clap::{Args, Subcommand, ValueEnum};
use hyperwasm::bee::{BeeError, BeeOptions, Encoding, Entry, Hyperbee, RangeOptions, Value};
use hyperwasm::storage::FileStorage;
use serde::Serialize;
use serde_json::json;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long `bee get` waits, after a get, for the blocks hyperbee's preload asked for (so each
/// get's count holds its own blocks).
const SETTLE: Duration = Duration::from_secs(2);

/// Arguments of `bee`.
#[derive(Debug, Args)]
pub struct BeeArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: BeeCommand,
}

/// A `bee` subcommand.
#[derive(Debug, Subcommand)]
pub enum BeeCommand {
    /// Get keys, from a sparse replica (`--connect`) or locally.
    Get(GetArgs),
    /// Put (or delete) the entries of JSON lines on stdin, as one batch.
    Put(PutArgs),
    /// Print the entries in key order (local).
    Range(RangeArgs),
}

/// How keys and values are written on the command line and in JSON (JS `codecs` names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Enc {
    /// UTF-8 text (JSON strings).
    #[default]
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// Bytes, written as hex.
    Binary,
    /// JSON values (a command-line key is parsed as JSON, or taken as a string if it is not).
    Json,
}

impl Enc {
    fn codec(self) -> Encoding {
        match self {
            Enc::Utf8 => Encoding::Utf8,
            Enc::Binary => Encoding::Binary,
            Enc::Json => Encoding::Json,
        }
    }

    /// A key given on the command line.
    fn arg(self, s: &str) -> Result<Vec<u8>, RelayError> {
        let value = match self {
            Enc::Utf8 => Value::Text(s.to_string()),
            Enc::Binary => Value::Bytes(hex::decode(s).map_err(|_| bad(format!("key {s:?} is not hex")))?),
            Enc::Json => serde_json::from_str(s).map_or_else(|_| Value::Text(s.to_string()), Value::Json),
        };
        self.codec().encode(&value).map_err(bee_error)
    }

    /// A key or value given in JSON input.
    fn input(self, v: &serde_json::Value, what: &str) -> Result<Vec<u8>, RelayError> {
        let value = match (self, v) {
            (Enc::Json, v) => Value::Json(v.clone()),
            (Enc::Utf8, serde_json::Value::String(s)) => Value::Text(s.clone()),
            (Enc::Binary, serde_json::Value::String(s)) => {
                Value::Bytes(hex::decode(s).map_err(|_| bad(format!("{what} {s:?} is not hex")))?)
            }
            (_, other) => return Err(bad(format!("{what} must be a string, got {other}"))),
        };
        self.codec().encode(&value).map_err(bee_error)
    }

    /// Stored bytes as JSON output.
    fn output(self, bytes: &[u8]) -> serde_json::Value {
        match self {
            Enc::Utf8 => serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()),
            Enc::Binary => serde_json::Value::String(hex::encode(bytes)),
            Enc::Json => serde_json::from_slice(bytes)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned())),
        }
    }
}

fn bad(message: String) -> RelayError {
    RelayError::BadArgument(message)
}

fn bee_error(e: BeeError) -> RelayError {
    RelayError::Bee(format!("{e} ({})", e.code()))
}

/// Arguments of `bee get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Keys to get, in order.
    #[arg(required = true)]
    pub keys: Vec<String>,
    /// Directory of the core (a sparse replica with `--connect`; created if missing).
    #[arg(long)]
    pub dir: PathBuf,
    /// Peer to read from (repeatable). Without, the local core is read and a block it does
    /// not hold is an error.
    #[arg(long = "connect", value_name = "HOST:PORT", requires = "core")]
    pub connect: Vec<String>,
    /// Core key (64 hex characters); needed with `--connect`.
    #[arg(long, value_name = "KEY")]
    pub core: Option<String>,
    /// Key and value encoding.
    #[arg(long, value_enum, default_value_t)]
    pub encoding: Enc,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Log connections and their outcomes to stderr.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Arguments of `bee put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// Core directory (a writable core; created when the directory holds none).
    pub dir: PathBuf,
    /// Key and value encoding of the input.
    #[arg(long, value_enum, default_value_t)]
    pub encoding: Enc,
}

/// Arguments of `bee range`.
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// Core directory.
    pub dir: PathBuf,
    /// Only keys greater than this.
    #[arg(long)]
    pub gt: Option<String>,
    /// Only keys greater than or equal to this.
    #[arg(long, conflicts_with = "gt")]
    pub gte: Option<String>,
    /// Only keys less than this.
    #[arg(long)]
    pub lt: Option<String>,
    /// Only keys less than or equal to this.
    #[arg(long, conflicts_with = "lt")]
    pub lte: Option<String>,
    /// At most this many entries.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Key and value encoding.
    #[arg(long, value_enum, default_value_t)]
    pub encoding: Enc,
}

/// Runs a `bee` subcommand.
pub async fn run(args: BeeArgs) -> Result<(), RelayError> {
    match args.command {
        BeeCommand::Get(args) => get(args).await,
        BeeCommand::Put(args) => put(args).await,
        BeeCommand::Range(args) => range(args).await,
    }
}

// ---------------------------------------------------------------------------------------------
// get
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct GetResult {
    key: serde_json::Value,
    value: serde_json::Value,
    seq: Option<u64>,
    /// Blocks stored by this get (and the preloads it started).
    blocks: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Got {
    done: bool,
    key: String,
    length: u64,
    version: u64,
    results: Vec<GetResult>,
    blocks_downloaded: u64,
    blocks_stored: u64,
    seconds: f64,
}

/// Waits until every block the bee's preloads asked for arrived (or [`SETTLE`] passed).
async fn settle(shared: &SharedCore) {
    let quiet = async {
        let mut seen = 0;
        while shared.wanted_count() > 0 {
            seen = shared.changed(seen).await;
        }
    };
    let _ = tokio::time::timeout(SETTLE, quiet).await;
}

async fn get_all(
    bee: &Hyperbee<FileStorage>,
    shared: &SharedCore,
    args: &GetArgs,
) -> Result<Vec<GetResult>, RelayError> {
    let mut results = Vec::with_capacity(args.keys.len());
    for key in &args.keys {
        let encoded = args.encoding.arg(key)?;
        let before = shared.info().await.blocks_stored;
        let entry = bee.get(&encoded).await.map_err(bee_error)?;
        settle(shared).await;
        let blocks = shared.info().await.blocks_stored.saturating_sub(before);
        let (value, seq) = match entry {
            Some(Entry { seq, value, .. }) => {
                (value.map_or(serde_json::Value::Null, |v| args.encoding.output(&v)), Some(seq))
            }
            None => (serde_json::Value::Null, None),
        };
        results.push(GetResult { key: json!(key), value, seq, blocks });
    }
    Ok(results)
}

/// Reads the keys; with `--connect`, first learns the length from the peers. Prints
/// `{"done":true,"key","length","version","results":[{"key","value","seq","blocks"}],
/// "blocksDownloaded","blocksStored","seconds"}`.
async fn get(args: GetArgs) -> Result<(), RelayError> {
    crate::set_verbose(args.verbose);
    let started = Instant::now();
    let core = match &args.core {
        Some(key) => core_dir::open_remote(&args.dir, core_dir::parse_key(key)?).await?,
        None => core_dir::open(&args.dir).await?,
    };
    let before = core.info().blocks_stored;
    let cores = CoreSet::new();
    let shared = cores.insert(core);
    let opts = BeeOptions { readonly: true, wait: !args.connect.is_empty(), ..BeeOptions::default() };
    let bee = Hyperbee::open(shared.clone(), opts).await.map_err(bee_error)?;

    let results = if args.connect.is_empty() {
        get_all(&bee, &shared, &args).await?
    } else {
        let finding = shared.finding_peers();
        let mut conns = Connections::dial(&args.connect, &cores).await?;
        let work = async {
            shared.update().await;
            drop(finding);
            get_all(&bee, &shared, &args).await
        };
        let timeout = async {
            match args.timeout {
                Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                None => std::future::pending().await,
            }
        };
        let results = tokio::select! {
            results = work => results?,
            err = conns.all_ended() => return Err(err),
            () = timeout => return Err(RelayError::Timeout(args.timeout.unwrap_or_default())),
        };
        conns.close().await;
        results
    };
    let info = shared.info().await;
    crate::print_json(&Got {
        done: true,
        key: hex::encode(shared.key()),
        length: info.length,
        version: bee.version().await,
        results,
        blocks_downloaded: info.blocks_stored.saturating_sub(before),
        blocks_stored: info.blocks_stored,
        seconds: started.elapsed().as_secs_f64(),
    })
}

// ---------------------------------------------------------------------------------------------
// put
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Put {
    key: String,
    length: u64,
    puts: u64,
    dels: u64,
    created: bool,
}

/// Opens the writable core in `dir`, creating one if the directory holds no core.
async fn open_or_create(dir: &Path) -> Result<(Core, bool), RelayError> {
    match core_dir::open(dir).await {
        Ok(core) => Ok((core, false)),
        Err(RelayError::NoCore(_) | RelayError::MissingDir(_)) => {
            Ok((core_dir::create(dir, false).await?, true))
        }
        Err(e) => Err(e),
    }
}

/// Reads `{"key":K,"value":V}` (V absent or null: a put without value) or `{"key":K,"del":true}`
/// lines from stdin and writes them as one batch. Prints
/// `{"key","length","puts","dels","created"}`.
async fn put(args: PutArgs) -> Result<(), RelayError> {
    let (core, created) = open_or_create(&args.dir).await?;
    if !core.writable() {
        return Err(RelayError::NotWritable(args.dir.clone()));
    }
    let cores = CoreSet::new();
    let shared = cores.insert(core);
    let bee = Hyperbee::open(shared.clone(), BeeOptions::default()).await.map_err(bee_error)?;
    let mut batch = bee.batch().await.map_err(bee_error)?;
    let (mut puts, mut dels) = (0, 0);
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| RelayError::io("read stdin", e))?;
        if line.trim().is_empty() {
            continue;
        }
        let op: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(format!("stdin line {}: not JSON ({e})", n + 1)))?;
        let key = op.get("key").ok_or_else(|| bad(format!("stdin line {}: no \"key\"", n + 1)))?;
        let key = args.encoding.input(key, "key")?;
        if op.get("del").and_then(serde_json::Value::as_bool) == Some(true) {
            batch.del(&key).await.map_err(bee_error)?;
            dels += 1;
            continue;
        }
        let value = match op.get("value") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(args.encoding.input(v, "value")?),
        };
        batch.put_with(&key, value.as_deref(), None).await.map_err(bee_error)?;
        puts += 1;
    }
    batch.flush().await.map_err(bee_error)?;
    crate::print_json(&Put {
        key: hex::encode(shared.key()),
        length: shared.info().await.length,
        puts,
        dels,
        created,
    })
}

// ---------------------------------------------------------------------------------------------
// range
// ---------------------------------------------------------------------------------------------

/// Prints one JSON line `{"seq","key","value"}` per entry in key order, then
/// `{"done":true,"count":n,"version":v}`.
async fn range(args: RangeArgs) -> Result<(), RelayError> {
    let core = core_dir::open(&args.dir).await?;
    let cores = CoreSet::new();
    let shared = cores.insert(core);
    let opts = BeeOptions { readonly: true, wait: false, ..BeeOptions::default() };
    let bee = Hyperbee::open(shared, opts).await.map_err(bee_error)?;
    let enc = args.encoding;
    let bound = |s: &Option<String>| s.as_deref().map(|s| enc.arg(s)).transpose();
    let opts = RangeOptions {
        gt: bound(&args.gt)?,
        gte: bound(&args.gte)?,
        lt: bound(&args.lt)?,
        lte: bound(&args.lte)?,
        reverse: false,
        limit: args.limit,
    };
    let version = bee.version().await;
    let mut entries = bee.range(opts);
    let mut count = 0usize;
    while let Some(e) = entries.next().await.map_err(bee_error)? {
        let value = e.value.as_deref().map_or(serde_json::Value::Null, |v| enc.output(v));
        crate::print_json(&json!({ "seq": e.seq, "key": enc.output(&e.key), "value": value }))?;
        count += 1;
    }
    crate::print_json(&json!({ "done": true, "count": count, "version": version }))
}
