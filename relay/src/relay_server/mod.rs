//! `hyperwasm-relay serve`: the WebSocket relay (docs/relay.md, relay/PROTOCOL.md).
//!
//! [`start`] binds the DHT node (or an embedded loopback testnet) and the HTTP server and
//! returns a [`Running`] relay; [`run`] is the command: start, print a ready line, wait for
//! SIGTERM / Ctrl-C, drain. Each WebSocket runs in its own task (`socket.rs`), each session in
//! its own task (`session_io.rs`): a failing session closes only its own socket.

pub mod config;
pub mod js_compat;
pub mod js_compat_hook;
pub mod js_compat_io;
pub mod limits;
pub mod metrics;
pub mod query_permits;
pub mod routes;
pub mod session;
pub mod session_events;
pub mod session_io;
mod socket;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::commands::dht::testnet::Testnet;
use crate::dht::{Dht, DhtConfig};
use crate::error::RelayError;

pub use config::{LogFormat, RelayArgs};
use limits::PerIp;
use metrics::Metrics;
use session::SessionConfig;
use session_io::SessionIn;

/// What every socket and session shares.
pub struct Ctx {
    args: RelayArgs,
    session_config: SessionConfig,
    dht: Dht,
    /// Shared by every session's DHT queries ([`query_permits::DHT_QUERY_PERMITS`]); each
    /// client IP's share lives with its record in `per_ip`.
    query_permits: Arc<tokio::sync::Semaphore>,
    dht_ready: AtomicBool,
    metrics: Arc<Metrics>,
    per_ip: Arc<PerIp>,
    registry: Mutex<HashMap<[u8; 32], mpsc::UnboundedSender<SessionIn>>>,
    next_socket: AtomicU64,
    origin: Instant,
    draining: watch::Receiver<bool>,
}

impl Ctx {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A started relay.
pub struct Running {
    /// The HTTP address it listens on.
    pub addr: SocketAddr,
    /// The relay's DHT node.
    pub dht: Dht,
    /// The embedded testnet's bootstrap list (with `--local-testnet`).
    pub testnet: Option<Vec<SocketAddrV4>>,
    ctx: Arc<Ctx>,
    drain: watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    _testnet: Option<Testnet>,
}

/// Starts the relay (see the module docs).
pub async fn start(args: RelayArgs) -> Result<Running, RelayError> {
    let session_config = args.session_config()?;
    let (testnet, bootstrap) = match args.local_testnet {
        Some(n) => {
            let tn = Testnet::start(n, Ipv4Addr::LOCALHOST, 0, Vec::new()).await?;
            let b = tn.bootstrap.clone();
            (Some(tn), b)
        }
        None => (None, args.resolve_bootstrap().await?),
    };
    let mut cfg = DhtConfig::client(bootstrap);
    cfg.max_window = args.dht_max_window.max(1);
    cfg.bind = if testnet.is_some() { SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0) } else { args.dht_bind };
    let dht = Dht::bind(cfg).await?;
    let (drain, draining) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        args: args.clone(),
        session_config,
        dht: dht.clone(),
        query_permits: query_permits::QueryPermits::global(query_permits::DHT_QUERY_PERMITS),
        dht_ready: AtomicBool::new(false),
        metrics: Arc::new(Metrics::default()),
        per_ip: Arc::new(PerIp::new(
            usize::try_from(args.max_sessions).unwrap_or(usize::MAX),
            args.max_sessions_per_ip,
            args.max_queries_per_ip,
        )),
        registry: Mutex::new(HashMap::new()),
        next_socket: AtomicU64::new(1),
        origin: Instant::now(),
        draining,
    });
    {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            match ctx.dht.ready().await {
                Ok(()) => ctx.dht_ready.store(true, Ordering::Relaxed),
                Err(e) => tracing::error!(error = %e, "DHT bootstrap failed"),
            }
        });
    }
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr, server) = warp::serve(routes::routes(ctx.clone()))
        .try_bind_with_graceful_shutdown(args.listen, async {
            let _ = stop_rx.await;
        })
        .map_err(|e| RelayError::BadArgument(format!("--listen {}: {e}", args.listen)))?;
    let server = tokio::spawn(server);
    let testnet_list = testnet.as_ref().map(|t| t.bootstrap.clone());
    Ok(Running {
        addr,
        dht,
        testnet: testnet_list,
        ctx,
        drain,
        stop: Some(stop_tx),
        server,
        _testnet: testnet,
    })
}

impl Running {
    /// Live sessions.
    pub fn sessions(&self) -> u64 {
        self.ctx.metrics.sessions.load(Ordering::Relaxed)
    }

    /// Graceful drain: refuse new upgrades, stop accepting connections, tell every session
    /// (`error{RELAY_DRAINING}`, then its socket closes), wait up to `within` for them to end.
    pub async fn drain(mut self, within: Duration) {
        let _ = self.drain.send(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let sessions: Vec<_> =
            self.ctx.registry.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        for s in sessions {
            let _ = s.send(SessionIn::Drain);
        }
        let deadline = Instant::now() + within;
        while Instant::now() < deadline
            && (self.sessions() > 0 || self.ctx.metrics.sockets.load(Ordering::Relaxed) > 0)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), &mut self.server).await;
        self.server.abort();
        self.dht.destroy().await;
    }
}

/// `hyperwasm-relay serve`: prints `{"listening":"HOST:PORT","dht":"HOST:PORT",…}` once up,
/// runs until SIGTERM / Ctrl-C, then drains for `--drain-secs`.
pub async fn run(args: RelayArgs) -> Result<(), RelayError> {
    init_logs(&args);
    let drain_secs = args.drain_secs;
    let running = start(args).await?;
    let line = serde_json::json!({
        "listening": running.addr.to_string(),
        "port": running.addr.port(),
        "dht": running.dht.loopback_addr().to_string(),
        "testnet": running.testnet.as_ref().map(|l| l.iter().map(ToString::to_string).collect::<Vec<_>>()),
    });
    println!("{line}");
    tracing::info!(listening = %running.addr, dht = %running.dht.loopback_addr(), "relay up");
    crate::commands::signal::shutdown_signal().await;
    tracing::info!(sessions = running.sessions(), drain_secs, "draining");
    running.drain(Duration::from_secs(drain_secs)).await;
    tracing::info!("stopped");
    Ok(())
}

/// Structured logs on stderr (`tracing`): `--log-format text|json`, level from `RUST_LOG` or
/// `--log-level` (default `info`). Never logged: keys, tokens, payload bytes.
fn init_logs(args: &RelayArgs) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&args.log_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests running several relays in one process) keeps the first.
    let _ = match args.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
