//! `share <dir>... --listen HOST:PORT`: hypercore replication over TCP — accept loop, one task
//! per connection, Ctrl-C shutdown. (`serve` is the WebSocket relay.)

use crate::commands::signal::shutdown_signal;
use crate::core_dir::{self, CoreSummary};
use crate::cores::CoreSet;
use crate::error::RelayError;
use crate::log;
use crate::replicate::{serve_connection, ConnectionReport};
use clap::Args;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{Id, JoinError, JoinSet};

/// Arguments of `share`.
#[derive(Debug, Args)]
pub struct ShareArgs {
    /// Core directories to serve (each made by `create` or `fetch`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Address to listen on (port 0: any free port; the ready line tells which).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:0")]
    pub listen: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServedCore {
    dir: PathBuf,
    #[serde(flatten)]
    summary: CoreSummary,
}

#[derive(Serialize)]
struct Ready {
    listening: String,
    port: u16,
    cores: Vec<ServedCore>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Shutdown {
    shutdown: bool,
    connections: u64,
    failed_connections: u64,
    #[serde(flatten)]
    totals: ConnectionReport,
}

type Joined = Result<(Id, Result<ConnectionReport, RelayError>), JoinError>;

impl Shutdown {
    /// Accounts for a finished connection task.
    fn joined(&mut self, peers: &mut HashMap<Id, SocketAddr>, joined: Joined) {
        let (id, result) = match joined {
            Ok((id, result)) => (id, Ok(result)),
            Err(e) => (e.id(), Err(e)),
        };
        let peer = peers.remove(&id).unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        self.add(peer, result);
    }

    fn add(&mut self, peer: SocketAddr, result: Result<Result<ConnectionReport, RelayError>, JoinError>) {
        match result {
            Ok(Ok(report)) => {
                log!(
                    "{peer}: closed ({} blocks up, {} down)",
                    report.blocks_uploaded,
                    report.blocks_downloaded
                );
                self.totals.bytes_in += report.bytes_in;
                self.totals.bytes_out += report.bytes_out;
                self.totals.blocks_downloaded += report.blocks_downloaded;
                self.totals.blocks_uploaded += report.blocks_uploaded;
            }
            Ok(Err(e)) => {
                self.failed_connections += 1;
                log!("{peer}: {e}");
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                self.failed_connections += 1;
                log!("{peer}: connection task failed: {e}");
            }
        }
    }
}

/// Serves until Ctrl-C / SIGTERM. Prints a ready line
/// `{"listening":"HOST:PORT","port":P,"cores":[{dir,key,discoveryKey,length,…}]}` once
/// listening and `{"shutdown":true,"connections":n,…}` on the way out; logs to stderr.
pub async fn run(args: ShareArgs) -> Result<(), RelayError> {
    let cores = CoreSet::new();
    let mut served = Vec::new();
    for dir in &args.dirs {
        let core = core_dir::open(dir).await?;
        if cores.get(core.discovery_key()).is_some() {
            return Err(RelayError::BadArgument(format!(
                "{}: core {} is already served from another directory",
                dir.display(),
                hex::encode(core.key())
            )));
        }
        served.push(ServedCore { dir: dir.clone(), summary: CoreSummary::from(&core.info()) });
        cores.insert(core);
    }
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|source| RelayError::Listen { addr: args.listen.clone(), source })?;
    let local = listener.local_addr().map_err(|e| RelayError::io("listening address", e))?;
    log!("serving {} core(s) on {local}", served.len());
    crate::print_json(&Ready { listening: local.to_string(), port: local.port(), cores: served })?;

    let mut tasks = JoinSet::new();
    let mut peers: HashMap<Id, SocketAddr> = HashMap::new();
    let mut summary = Shutdown { shutdown: true, ..Shutdown::default() };
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    log!("{peer}: connected");
                    summary.connections += 1;
                    let cores = cores.clone();
                    let task = tasks.spawn(serve_connection(stream, cores));
                    peers.insert(task.id(), peer);
                }
                Err(e) => {
                    // Usually transient (out of file descriptors, aborted handshake).
                    log!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                summary.joined(&mut peers, joined);
            }
        }
    }
    drop(listener);
    log!("shutting down ({} open connection(s))", tasks.len());
    // Connections that already ended still report; the others are cut.
    tasks.abort_all();
    while let Some(joined) = tasks.join_next_with_id().await {
        summary.joined(&mut peers, joined);
    }
    crate::print_json(&summary)
}
