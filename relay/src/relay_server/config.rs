//! `hyperwasm-relay serve` flags; every flag can also come from a `HYPERWASM_RELAY_*`
//! environment variable (flags win).

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use clap::Args;

use super::query_permits::DEFAULT_QUERIES_PER_IP;
use super::session::SessionConfig;
use crate::error::RelayError;

/// The public HyperDHT bootstrap nodes (hyperdht's `BOOTSTRAP_NODES`, by their addresses).
pub const PUBLIC_BOOTSTRAP: [&str; 3] = ["88.99.3.86:49737", "142.93.90.113:49737", "138.68.147.8:49737"];

/// The relay node's default request window: about the requests the shared query permits
/// allow in flight ([`super::query_permits::DHT_QUERY_PERMITS`] queries × up to 10 each), so a
/// burst of session queries is not held back for whole 750 ms drains (JS: 80).
pub const DEFAULT_DHT_MAX_WINDOW: u32 = 1024;

/// Arguments of `hyperwasm-relay serve`.
#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// HTTP address to listen on (port 0: any; the ready line tells which).
    #[arg(long, env = "HYPERWASM_RELAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Static files served at `/` (the web demo and the built npm package under it).
    #[arg(long, env = "HYPERWASM_RELAY_WEB_ROOT", default_value = "web-demo")]
    pub web_root: PathBuf,
    /// Allowed `Origin`s of WebSocket upgrades, comma-separated (empty: allow all).
    #[arg(long, env = "HYPERWASM_RELAY_ORIGIN", value_delimiter = ',')]
    pub origin: Vec<String>,
    /// DHT bootstrap nodes HOST:PORT,… (default: the public HyperDHT bootstrap nodes).
    #[arg(long, env = "HYPERWASM_RELAY_BOOTSTRAP", value_delimiter = ',', conflicts_with = "local_testnet")]
    pub bootstrap: Vec<String>,
    /// Run an embedded loopback testnet of N nodes and use it instead of the public DHT.
    #[arg(long, env = "HYPERWASM_RELAY_LOCAL_TESTNET", value_name = "N")]
    pub local_testnet: Option<usize>,
    /// UDP address of the relay's DHT node.
    #[arg(long, env = "HYPERWASM_RELAY_DHT_BIND", default_value = "0.0.0.0:0")]
    pub dht_bind: SocketAddrV4,
    /// The relay DHT node's outbound request window per 750 ms (JS dht-rpc `maxWindow`; JS's
    /// default, 80, throttles a node that queries for hundreds of sessions at once).
    #[arg(long, env = "HYPERWASM_RELAY_DHT_MAX_WINDOW", default_value_t = DEFAULT_DHT_MAX_WINDOW)]
    pub dht_max_window: u32,
    /// Most sessions at once (a v1 session counts until it ends, its grace period included).
    #[arg(long, env = "HYPERWASM_RELAY_MAX_SESSIONS", default_value_t = 1024)]
    pub max_sessions: u64,
    /// Most sessions per client IP (counted like `--max-sessions`).
    #[arg(long, env = "HYPERWASM_RELAY_MAX_SESSIONS_PER_IP", default_value_t = 16)]
    pub max_sessions_per_ip: usize,
    /// Most DHT queries one client IP's sessions run at once, together (the rest wait in
    /// order); the relay runs at most 96 in all.
    #[arg(long, env = "HYPERWASM_RELAY_MAX_QUERIES_PER_IP", default_value_t = DEFAULT_QUERIES_PER_IP)]
    pub max_queries_per_ip: usize,
    /// Reverse proxies (IP addresses, comma-separated) whose `X-Forwarded-For` names the
    /// client: for a connection from one of them, the client IP (per-IP limits, logs) is the
    /// header's right-most entry. Any other peer's header is ignored.
    #[arg(long, env = "HYPERWASM_RELAY_TRUSTED_PROXY", value_delimiter = ',', value_name = "ADDR")]
    pub trusted_proxy: Vec<IpAddr>,
    /// Most live streams per session.
    #[arg(long, env = "HYPERWASM_RELAY_MAX_STREAMS", default_value_t = 64)]
    pub max_streams: u64,
    /// Most live servers per session.
    #[arg(long, env = "HYPERWASM_RELAY_MAX_SERVERS", default_value_t = 8)]
    pub max_servers: u64,
    /// Most live queries per session.
    #[arg(long, env = "HYPERWASM_RELAY_MAX_QUERIES", default_value_t = 32)]
    pub max_queries: u64,
    /// Bytes per second read from each session's WebSocket (0: no limit).
    #[arg(long, env = "HYPERWASM_RELAY_BYTES_PER_SECOND", default_value_t = 0)]
    pub bytes_per_second: u64,
    /// Stream credit per direction, bytes.
    #[arg(long, env = "HYPERWASM_RELAY_STREAM_CREDIT", default_value_t = 1024 * 1024)]
    pub stream_credit: u64,
    /// Seconds a session survives its WebSocket (resume window).
    #[arg(long, env = "HYPERWASM_RELAY_GRACE_SECS", default_value_t = 30)]
    pub grace_secs: u64,
    /// Seconds to wait for sessions to close on SIGTERM before stopping.
    #[arg(long, env = "HYPERWASM_RELAY_DRAIN_SECS", default_value_t = 10)]
    pub drain_secs: u64,
    /// Log lines on stderr: `text` or `json` (one object per event, for log collectors).
    #[arg(long, env = "HYPERWASM_RELAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log level (or a `tracing` filter such as `info,hyperwasm_relay=debug`); `RUST_LOG` wins.
    #[arg(long, env = "HYPERWASM_RELAY_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// How `serve` writes its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines with key=value fields.
    Text,
    /// One JSON object per event.
    Json,
}

impl RelayArgs {
    /// Every default, listening on `listen` (tests).
    pub fn defaults(listen: SocketAddr) -> Self {
        RelayArgs {
            listen,
            web_root: PathBuf::from("web-demo"),
            origin: Vec::new(),
            bootstrap: Vec::new(),
            local_testnet: None,
            dht_bind: SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0),
            dht_max_window: DEFAULT_DHT_MAX_WINDOW,
            max_sessions: 1024,
            max_sessions_per_ip: 16,
            max_queries_per_ip: DEFAULT_QUERIES_PER_IP,
            trusted_proxy: Vec::new(),
            max_streams: 64,
            max_servers: 8,
            max_queries: 32,
            bytes_per_second: 0,
            stream_credit: 1024 * 1024,
            grace_secs: 30,
            drain_secs: 10,
            log_format: LogFormat::Text,
            log_level: "info".into(),
        }
    }

    /// The per-session configuration.
    pub fn session_config(&self) -> Result<SessionConfig, RelayError> {
        if self.stream_credit == 0 || self.stream_credit > 1 << 30 {
            return Err(RelayError::BadArgument("--stream-credit must be 1 B – 1 GiB".into()));
        }
        Ok(SessionConfig {
            max_streams: self.max_streams,
            max_servers: self.max_servers,
            max_queries: self.max_queries,
            bytes_per_second: self.bytes_per_second,
            grace_ms: self.grace_secs.saturating_mul(1000),
            stream_credit: self.stream_credit,
            ..SessionConfig::default()
        })
    }

    /// Whether `origin` may open a WebSocket (no list: all may).
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        self.origin.is_empty() || origin.is_some_and(|o| self.origin.iter().any(|a| a == o))
    }

    /// The client's IP: the TCP peer's, or, when the peer is a `--trusted-proxy`, the
    /// right-most `X-Forwarded-For` entry (the address that proxy saw; entries further left
    /// are the client's own claims). A missing or unparsable header leaves the peer's.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusted_proxy.contains(&peer) {
            return peer;
        }
        forwarded_for
            .and_then(|h| h.rsplit(',').next())
            .map(str::trim)
            .and_then(|e| {
                // `1.2.3.4`, `::1`, or a bracketed / port-suffixed form some proxies write.
                e.parse::<IpAddr>().ok().or_else(|| e.parse::<SocketAddr>().ok().map(|a| a.ip())).or_else(
                    || e.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.parse().ok()),
                )
            })
            .map_or(peer, |ip: IpAddr| ip.to_canonical())
    }

    /// The bootstrap nodes, resolved to IPv4 (the public ones when none were given).
    pub async fn resolve_bootstrap(&self) -> Result<Vec<SocketAddrV4>, RelayError> {
        let list: Vec<String> = if self.bootstrap.is_empty() {
            PUBLIC_BOOTSTRAP.iter().map(|s| s.to_string()).collect()
        } else {
            self.bootstrap.clone()
        };
        let mut out = Vec::new();
        for name in list {
            let addrs = tokio::net::lookup_host(name.as_str())
                .await
                .map_err(|e| RelayError::BadArgument(format!("--bootstrap {name}: {e}")))?;
            match addrs.filter_map(|a| if let SocketAddr::V4(v4) = a { Some(v4) } else { None }).next() {
                Some(a) => out.push(a),
                None => return Err(RelayError::BadArgument(format!("--bootstrap {name}: no IPv4 address"))),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_list() {
        let mut a = RelayArgs::defaults(SocketAddr::from(([127, 0, 0, 1], 0)));
        assert!(a.origin_allowed(None));
        a.origin = vec!["https://a.example".into()];
        assert!(a.origin_allowed(Some("https://a.example")));
        assert!(!a.origin_allowed(Some("https://b.example")));
        assert!(!a.origin_allowed(None));
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let mut a = RelayArgs::defaults(SocketAddr::from(([127, 0, 0, 1], 0)));
        let peer = IpAddr::from([10, 0, 0, 1]);
        let client = IpAddr::from([203, 0, 113, 7]);
        // Not trusted: the header is ignored.
        assert_eq!(a.client_ip(peer, Some("203.0.113.7")), peer);
        a.trusted_proxy = vec![peer];
        assert_eq!(a.client_ip(peer, Some("203.0.113.7")), client);
        // The right-most entry: the ones before it are the client's own claims.
        assert_eq!(a.client_ip(peer, Some("1.1.1.1, 203.0.113.7")), client);
        assert_eq!(a.client_ip(peer, Some("1.1.1.1,203.0.113.7:4711")), client);
        assert_eq!(a.client_ip(peer, Some("[2001:db8::1]")), "2001:db8::1".parse().unwrap_or(peer));
        assert_eq!(a.client_ip(peer, Some("::ffff:203.0.113.7")), client);
        // Missing or garbage: the peer.
        assert_eq!(a.client_ip(peer, None), peer);
        assert_eq!(a.client_ip(peer, Some("203.0.113.7, nonsense")), peer);
        assert_eq!(a.client_ip(peer, Some("")), peer);
        // Another peer's header still counts for nothing.
        assert_eq!(
            a.client_ip(IpAddr::from([10, 0, 0, 2]), Some("203.0.113.7")),
            IpAddr::from([10, 0, 0, 2])
        );
    }

    #[test]
    fn the_new_flags_parse() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            relay: RelayArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "serve",
            "--trusted-proxy",
            "10.0.0.1,::1",
            "--max-queries-per-ip",
            "4",
        ]);
        let relay = cli.map(|c| c.relay).ok();
        assert_eq!(relay.as_ref().map(|r| r.max_queries_per_ip), Some(4));
        let proxies: Vec<IpAddr> = vec![IpAddr::from([10, 0, 0, 1]), IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1])];
        assert_eq!(relay.map(|r| r.trusted_proxy), Some(proxies));
        let default = <Cli as clap::Parser>::try_parse_from(["serve"]).map(|c| c.relay).ok();
        assert_eq!(default.map(|r| (r.max_queries_per_ip, r.trusted_proxy.len())), Some((16, 0)));
    }

    #[tokio::test]
    async fn bootstrap_defaults_to_the_public_nodes() {
        let a = RelayArgs::defaults(SocketAddr::from(([127, 0, 0, 1], 0)));
        let list = a.resolve_bootstrap().await.unwrap_or_default();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].to_string(), "88.99.3.86:49737");
    }
}
