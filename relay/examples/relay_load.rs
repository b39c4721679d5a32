//! Load generator for `tests/bench/relay_sessions.sh`: N concurrent WebSocket sessions to a
//! running `hyperwasm-relay serve`, one tokio task each, every one driving a core
//! [`RelayClient`]: hello → wait until all are up → lookup of a topic one extra session
//! announced (signed by that client) → wait for `done`. Reads the relay's VmRSS
//! (`/proc/PID/status`) idle, with all sessions open, and after the lookups (sessions still
//! open). Prints one JSON line: sessions, RSS figures (KiB), lookup latency percentiles (ms),
//! how many lookups found the record.
//!
//! `cargo run --release -p hyperwasm-relay --example relay_load -- URL RELAY_PID [SESSIONS]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hyperwasm::crypto::KeyPair;
use hyperwasm::relay_protocol::client::{ClientEvent, RelayClient, RelayClientConfig};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message as Ws;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// One session: the socket and the client state machine.
struct Conn {
    ws: Socket,
    client: RelayClient,
    start: Instant,
}

impl Conn {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    async fn open(url: &str, start: Instant) -> Result<Conn, String> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| e.to_string())?;
        let now = start.elapsed().as_millis() as u64;
        let mut client = RelayClient::new(RelayClientConfig::default(), now);
        client.on_connected(now);
        Ok(Conn { ws, client, start })
    }

    /// Sends what the client queued, then waits for its next event (timers run meanwhile).
    async fn next_event(&mut self) -> Result<ClientEvent, String> {
        loop {
            while let Some(frame) = self.client.poll_transmit() {
                self.ws.feed(Ws::Binary(frame)).await.map_err(|e| e.to_string())?;
            }
            self.ws.flush().await.map_err(|e| e.to_string())?;
            if let Some(ev) = self.client.poll_event() {
                return Ok(ev);
            }
            let wait = self.client.poll_timeout().map_or(60_000, |t| t.saturating_sub(self.now()));
            tokio::select! {
                msg = self.ws.next() => match msg {
                    Some(Ok(Ws::Binary(b))) => {
                        let now = self.now();
                        self.client.handle_frame(&b, now).map_err(|e| e.to_string())?;
                    }
                    Some(Ok(Ws::Close(c))) => return Err(format!("closed: {c:?}")),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err("socket ended".into()),
                },
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {
                    let now = self.now();
                    self.client.handle_timeout(now);
                }
            }
        }
    }

    async fn started(&mut self) -> Result<(), String> {
        match self.next_event().await? {
            ClientEvent::SessionStarted { .. } => Ok(()),
            other => Err(format!("expected SessionStarted, got {other:?}")),
        }
    }

    /// Runs a query to its end; whether a result carried `key`.
    async fn query_done(&mut self, id: u32, key: [u8; 32]) -> Result<bool, String> {
        let mut found = false;
        loop {
            match self.next_event().await? {
                ClientEvent::QueryResult { id: i, peers, .. } if i == id => {
                    found |= peers.iter().any(|p| p.public_key == key);
                }
                ClientEvent::QueryDone { id: i, .. } if i == id => return Ok(found),
                ClientEvent::QueryFailed { id: i, code, .. } if i == id => return Err(code),
                _ => {}
            }
        }
    }

    /// Keeps the session alive (timers, acks) until `stop` flips.
    async fn idle_until(&mut self, stop: &mut watch::Receiver<bool>) {
        loop {
            tokio::select! {
                r = self.next_event() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
        }
    }
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("URL").clone();
    let pid: u32 = args.get(2).expect("RELAY_PID").parse().expect("pid");
    let sessions: usize = args.get(3).map_or(1000, |s| s.parse().expect("sessions"));
    let start = Instant::now();

    // The record every session looks up, announced (and signed) by one more session.
    let topic = [0x5a; 32];
    let announcer = KeyPair::from_seed(&[0x11; 32]);
    let mut a = Conn::open(&url, start).await.expect("announcer connects");
    a.started().await.expect("announcer session");
    let id = a.client.announce(topic, &announcer, Vec::new()).expect("announce");
    a.query_done(id, [0; 32]).await.expect("announce done");
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut stop = stop_rx.clone();
    let announcer_task = tokio::spawn(async move { a.idle_until(&mut stop).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = vm_rss_kib(pid);

    // N sessions: connect + hello, report ready, wait for go, lookup, report, stay open.
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Result<(f64, bool), String>>();
    let (go_tx, go_rx) = watch::channel(false);
    let key = announcer.public_key();
    let url = Arc::new(url);
    let connect_start = Instant::now();
    for _ in 0..sessions {
        let (url, ready_tx, done_tx) = (url.clone(), ready_tx.clone(), done_tx.clone());
        let (mut go, mut stop) = (go_rx.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let mut conn = match Conn::open(&url, start).await {
                Ok(c) => c,
                Err(e) => return drop(ready_tx.send(Err(e))),
            };
            if let Err(e) = conn.started().await {
                return drop(ready_tx.send(Err(e)));
            }
            let _ = ready_tx.send(Ok(()));
            // Stay alive (pings, acks) until every session is up.
            while !*go.borrow() {
                tokio::select! {
                    r = conn.next_event() => if let Err(e) = r { return drop(done_tx.send(Err(e))) },
                    _ = go.changed() => {}
                }
            }
            let t0 = Instant::now();
            let result = match conn.client.lookup(topic) {
                Ok(id) => conn.query_done(id, key).await,
                Err(e) => Err(e.to_string()),
            };
            let _ = done_tx.send(result.map(|found| (t0.elapsed().as_secs_f64() * 1000.0, found)));
            conn.idle_until(&mut stop).await;
        });
    }
    drop((ready_tx, done_tx));
    let mut up = 0;
    let mut errors = Vec::new();
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(()) => up += 1,
            Err(e) => errors.push(e),
        }
        if up + errors.len() == sessions {
            break;
        }
    }
    let connect_secs = connect_start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_open = vm_rss_kib(pid);

    let lookups_start = Instant::now();
    let _ = go_tx.send(true);
    let mut latencies = Vec::with_capacity(sessions);
    let mut found = 0;
    while let Some(r) = done_rx.recv().await {
        match r {
            Ok((ms, f)) => {
                latencies.push(ms);
                found += usize::from(f);
            }
            Err(e) => errors.push(e),
        }
        if latencies.len() + errors.len() >= sessions {
            break;
        }
    }
    let lookups_secs = lookups_start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = vm_rss_kib(pid);
    let _ = stop_tx.send(true);
    let _ = announcer_task.await;

    latencies.sort_by(f64::total_cmp);
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let row = serde_json::json!({
        "sessions": sessions,
        "up": up,
        "lookups": latencies.len(),
        "found": found,
        "errors": errors.len(),
        "first_error": errors.first(),
        "rss_idle_kib": rss_idle,
        "rss_open_kib": rss_open,
        "rss_after_kib": rss_after,
        "p50_ms": round(percentile(&latencies, 50.0)),
        "p90_ms": round(percentile(&latencies, 90.0)),
        "p95_ms": round(percentile(&latencies, 95.0)),
        "p99_ms": round(percentile(&latencies, 99.0)),
        "max_ms": round(latencies.last().copied().unwrap_or(f64::NAN)),
        "connect_seconds": round(connect_secs),
        "lookups_seconds": round(lookups_secs),
    });
    println!("{row}");
}
