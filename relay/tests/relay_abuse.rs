//! Hostile and careless clients against the WebSocket relay: regression tests for the defects
//! an adversarial review found (each test names the property it guards).
//!
//! Every test runs an in-process relay on an embedded loopback testnet and speaks to it with
//! hand-built Protomux frames over a raw WebSocket (as `relay_server.rs` does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::relay_ws::{frame, open_frame, recv, send, Socket, V1};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hyperwasm::relay_protocol::messages::{Message, Resume};
use hyperwasm_relay::relay_server::{start, RelayArgs, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as Ws;

const LIMIT: Duration = Duration::from_secs(30);

async fn relay(per_ip: usize) -> Running {
    let mut args = RelayArgs::defaults(SocketAddr::from(([127, 0, 0, 1], 0)));
    args.local_testnet = Some(3);
    args.max_sessions_per_ip = per_ip;
    args.drain_secs = 1;
    start(args).await.unwrap()
}

async fn healthz(addr: SocketAddr) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = "GET /healthz HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n";
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    timeout(LIMIT, s.read_to_end(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    serde_json::from_str(&body).unwrap()
}

async fn wait_ready(addr: SocketAddr) {
    for _ in 0..400 {
        if healthz(addr).await["dhtReady"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the relay's DHT node never became ready");
}

async fn connect(addr: SocketAddr) -> Socket {
    tokio_tungstenite::connect_async(format!("ws://{addr}/relay")).await.unwrap().0
}

/// A WebSocket from the loopback address `from` (127.0.0.0/8: each one a distinct client IP
/// to the relay).
async fn connect_from(addr: SocketAddr, from: [u8; 4]) -> Socket {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::from((from, 0))).unwrap();
    let tcp = sock.connect(addr).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    tokio_tungstenite::client_async(format!("ws://{addr}/relay"), stream).await.unwrap().0
}

/// The next message that is not a keepalive/ack, signing every announce request with `kp`.
async fn recv_signing(ws: &mut Socket, kp: &hyperwasm::crypto::KeyPair) -> Message {
    use hyperwasm::relay_protocol::messages::SignKind;
    loop {
        match recv(ws).await {
            Message::Sign(r) if r.kind == SignKind::Announce => {
                let signable = hyperwasm::hyperdht::crypto::announce_signable(
                    &r.target,
                    &r.node_id,
                    &r.token,
                    &r.peer,
                    r.refresh.as_ref(),
                );
                let signature = Some(kp.sign(&signable));
                send(ws, &Message::Signature { sign: r.sign, signature }).await;
            }
            Message::Sign(r) => send(ws, &Message::Signature { sign: r.sign, signature: None }).await,
            Message::Ack { .. } | Message::Ping | Message::Pong => {}
            m => return m,
        }
    }
}

/// The next message that is not a keepalive/ack, refusing every sign request on the way.
async fn recv_refusing_signs(ws: &mut Socket) -> Message {
    loop {
        match recv(ws).await {
            Message::Ack { .. } | Message::Ping | Message::Pong => {}
            Message::Sign(req) => send(ws, &Message::Signature { sign: req.sign, signature: None }).await,
            other => return other,
        }
    }
}

async fn hello(ws: &mut Socket) -> [u8; 32] {
    ws.send(Ws::Binary(open_frame(V1))).await.unwrap();
    send(ws, &Message::Hello { version: 1, resume: None }).await;
    match recv(ws).await {
        Message::Welcome { token, .. } => token,
        other => panic!("{other:?}"),
    }
}

/// Defect 1. `--max-sessions-per-ip` (and `--max-sessions`) used to count WebSockets, but a
/// v1 session outlives its socket for the grace period (30 s) with everything it holds: one IP
/// could keep any number of sessions alive by opening a socket, saying hello and closing it.
/// Now sessions hold the slots until they end: a new session beyond the cap is refused
/// (`error{0, LIMIT_SESSIONS}` after `hello`, or 429 at the upgrade), and a resume of one of
/// the IP's own sessions still gets in (it reuses its session's slot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_cap_counts_sessions_kept_for_resume() {
    let running = relay(2).await;
    let addr = running.addr;
    wait_ready(addr).await;
    let (mut tokens, mut refused) = (Vec::new(), Vec::new());
    for _ in 0..6 {
        let mut ws = match tokio_tungstenite::connect_async(format!("ws://{addr}/relay")).await {
            Ok((ws, _)) => ws,
            Err(e) => {
                refused.push(format!("upgrade: {e}"));
                continue;
            }
        };
        ws.send(Ws::Binary(open_frame(V1))).await.unwrap();
        send(&mut ws, &Message::Hello { version: 1, resume: None }).await;
        match recv(&mut ws).await {
            Message::Welcome { token, .. } => tokens.push(token),
            Message::Error { reference: 0, code, .. } => refused.push(code),
            other => panic!("{other:?}"),
        }
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sessions = running.sessions();
    // Both sessions are detached (in their grace period) and the IP is at its cap: resuming
    // one of them is not refused.
    let mut ws = connect(addr).await;
    ws.send(Ws::Binary(open_frame(V1))).await.unwrap();
    let resume = Resume { token: tokens[0], received: 0 };
    send(&mut ws, &Message::Hello { version: 1, resume: Some(resume) }).await;
    let resumed = recv(&mut ws).await;
    let after = running.sessions();
    running.drain(Duration::from_secs(1)).await;
    assert!(sessions <= 2, "one IP capped at 2 sessions holds {sessions} live sessions");
    assert_eq!(tokens.len(), 2);
    assert_eq!(refused, vec!["LIMIT_SESSIONS"; 4]);
    match resumed {
        Message::Welcome { resumed: true, token, .. } => assert_eq!(token, tokens[0]),
        other => panic!("a resume at the cap was refused: {other:?}"),
    }
    assert_eq!(after, 2);
}

/// Defect 2. A `listen` whose task is aborted (unlisten, session end) before
/// the first self-announce resolves never closes its server: `listen_delegated` drops the
/// pending reply and `DelegatedServer` (whose Drop sends CloseServer) is never built. The
/// node keeps the server registered (and re-announcing) forever, and nobody on this relay can
/// listen on that key again (KEYPAIR_ALREADY_USED).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisten_before_first_announce_closes_the_server() {
    let running = relay(16).await;
    let addr = running.addr;
    wait_ready(addr).await;
    let kp = hyperwasm::crypto::KeyPair::from_seed(&[77; 32]);
    let key = kp.public_key();

    let mut a = connect(addr).await;
    hello(&mut a).await;
    send(&mut a, &Message::Listen { server: 1, public_key: key }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(&mut a, &Message::Unlisten { server: 1 }).await;
    match recv_refusing_signs(&mut a).await {
        Message::Unlistened { server: 1 } => {}
        other => panic!("{other:?}"),
    }
    // Past the node's 10 s listen wait: the dropped reply is answered into the void.
    tokio::time::sleep(Duration::from_secs(12)).await;

    let mut b = connect(addr).await;
    hello(&mut b).await;
    send(&mut b, &Message::Listen { server: 1, public_key: key }).await;
    let got = timeout(Duration::from_secs(20), recv_signing(&mut b, &kp)).await.unwrap();
    running.drain(Duration::from_secs(1)).await;
    match got {
        Message::Listening { server: 1, .. } => {}
        other => panic!("a key unlistened 12 s ago cannot be listened on again: {other:?}"),
    }
}

/// Defect 3. The 96 DHT query permits are shared by every v1 session and a query holds its
/// permit for its whole run. An announce whose `sign` requests are never answered runs until
/// the relay's 10 s sign timeout, so three sessions of one IP (32 queries each) held every
/// permit and another client's lookup waited ~10 s (and again, as long as they repeated it).
/// "A failing or malicious session never affects another." Now one IP holds at most its share
/// (`--max-queries-per-ip`, 16); the attacker (127.0.0.2) and the victim (127.0.0.3) are
/// distinct client IPs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_announces_of_one_client_do_not_stall_other_sessions() {
    let running = relay(16).await;
    let addr = running.addr;
    wait_ready(addr).await;

    let mut attackers = Vec::new();
    for s in 0..3u8 {
        let mut ws = connect_from(addr, [127, 0, 0, 2]).await;
        hello(&mut ws).await;
        for id in 1..=32u32 {
            let announce =
                Message::Announce { id, topic: [s; 32], public_key: [9; 32], relay_addresses: vec![] };
            send(&mut ws, &announce).await;
        }
        attackers.push(ws); // never reads, never signs
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut victim = connect_from(addr, [127, 0, 0, 3]).await;
    hello(&mut victim).await;
    let started = Instant::now();
    send(&mut victim, &Message::Lookup { id: 1, topic: [5; 32] }).await;
    loop {
        match recv(&mut victim).await {
            Message::Done { id: 1, .. } | Message::Error { reference: 1, .. } => break,
            _ => {}
        }
    }
    let took = started.elapsed();
    drop(attackers);
    running.drain(Duration::from_secs(1)).await;
    assert!(took < Duration::from_secs(3), "another client's lookup waited {took:?}");
}

/// Sends `frame` as fast as the relay takes it, never reading; true if a send blocked for 2 s
/// (the relay stopped reading: backpressure) before `max` were sent.
async fn flood_until_blocked(ws: &mut Socket, frame: Vec<u8>, max: usize) -> (bool, usize) {
    for i in 0..max {
        match timeout(Duration::from_secs(2), ws.send(Ws::Binary(frame.clone()))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return (false, i),
            Err(_) => return (true, i),
        }
    }
    (false, max)
}

/// Defect 4. The JS-compat driver read the WebSocket regardless of how much it had queued for
/// the client (the writer channel was unbounded; PauseReading only stops the UDX reads): a
/// client that floods `ping` and never reads made the relay queue a `pong` per ping without
/// bound (measured: +15 MB RSS per second from one socket). Now the driver stops reading the
/// socket above a high-water mark of queued bytes (2 MiB), which `/metrics` reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_compat_client_that_never_reads_is_backpressured() {
    let running = relay(16).await;
    let addr = running.addr;
    wait_ready(addr).await;
    let mut ws = connect(addr).await;
    ws.send(Ws::Binary(open_frame("@hyperswarm/dht-relay"))).await.unwrap();
    let mut handshake = vec![1, 0, 0];
    handshake.extend_from_slice(&[7; 32]);
    ws.send(Ws::Binary(handshake)).await.unwrap();
    let (blocked, sent) = flood_until_blocked(&mut ws, vec![1, 1], 3_000_000).await;
    let queued = metric(addr, "hyperwasm_relay_js_compat_queued_bytes").await;
    running.drain(Duration::from_secs(1)).await;
    assert!(blocked, "the relay took {sent} pings from a client that reads nothing");
    // The high-water mark (2 MiB) plus what one read of the socket can add.
    assert!(queued <= 3 << 20, "{queued} bytes queued for a client that reads nothing");
}

/// One sample of the relay's `/metrics`.
async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = "GET /metrics HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n";
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    timeout(LIMIT, s.read_to_end(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let line =
        text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name}"));
    line.rsplit_once(' ').unwrap().1.parse().unwrap()
}

/// The same flood on a v1 session is backpressured (control: passes on main).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_client_that_never_reads_is_backpressured() {
    let running = relay(16).await;
    let addr = running.addr;
    wait_ready(addr).await;
    let mut ws = connect(addr).await;
    hello(&mut ws).await;
    let (blocked, sent) = flood_until_blocked(&mut ws, frame(&Message::Ping), 3_000_000).await;
    running.drain(Duration::from_secs(1)).await;
    assert!(blocked, "the relay took {sent} pings from a client that reads nothing");
}

/// Defect 5 (spec mismatch). PROTOCOL.md §3: "Queries and servers share one id
/// space (`sign.id` and `error.ref` name either), so a live query and a live server never have
/// the same id. Reusing a live id is `ID_IN_USE`." The session checks queries against queries
/// and servers against servers only, so a `sign{id}` or `error{ref}` can name either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_and_servers_share_one_id_space() {
    let running = relay(16).await;
    let addr = running.addr;
    wait_ready(addr).await;
    let mut ws = connect(addr).await;
    hello(&mut ws).await;
    send(&mut ws, &Message::Listen { server: 5, public_key: [3; 32] }).await;
    send(&mut ws, &Message::Lookup { id: 5, topic: [4; 32] }).await;
    let got = timeout(Duration::from_secs(20), async {
        loop {
            match recv_refusing_signs(&mut ws).await {
                Message::Error { reference: 5, code, .. } => break Some(code),
                Message::Done { id: 5, .. } => break None,
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    running.drain(Duration::from_secs(1)).await;
    assert_eq!(got.as_deref(), Some("ID_IN_USE"), "a lookup reused a live server's id");
}

/// Suspicion S2 (confirmed by reading; fixed). Frames a replaced socket had already read used
/// to reach the session after a resume, after `welcome{received}` was computed: processed
/// twice once the client resent them (duplicated stream data corrupts secret-stream). Frames
/// are now tagged with the socket that read them and the session task drops those not from
/// its current socket. The race is hard to provoke end to end (the old socket must read a
/// frame between the new socket's `hello` and its own close), so this drives the session task
/// directly: a `lookup` read by the replaced socket is not processed, the same from the new
/// socket is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_from_a_replaced_socket_are_not_processed() {
    use hyperwasm::relay_protocol::types;
    use hyperwasm_relay::dht::{Dht, DhtConfig};
    use hyperwasm_relay::relay_server::metrics::Metrics;
    use hyperwasm_relay::relay_server::query_permits::QueryPermits;
    use hyperwasm_relay::relay_server::session::{Session, SessionConfig};
    use hyperwasm_relay::relay_server::session_io::{SessionIn, SessionTask, SocketOut};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use tokio::sync::{mpsc, oneshot, Semaphore};

    let mut cfg = DhtConfig::client(Vec::new());
    cfg.bind = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0);
    let dht = Dht::bind(cfg).await.unwrap();
    let metrics = Arc::new(Metrics::default());
    let permits = QueryPermits::new(QueryPermits::global(4), Arc::new(Semaphore::new(4)));
    let (out1, mut rx1) = mpsc::unbounded_channel();
    let (inbox_tx, inbox) = mpsc::unbounded_channel();
    let session = Session::new(SessionConfig::default(), [1; 32], 0);
    let task = SessionTask::new(
        session,
        (dht.clone(), permits),
        metrics.clone(),
        tokio::time::Instant::now(),
        (1, out1),
        inbox,
    );
    let run = tokio::spawn(task.run());
    match timeout(LIMIT, rx1.recv()).await.unwrap() {
        Some(SocketOut::Frame(t, _)) => assert_eq!(t, types::WELCOME),
        other => panic!("{other:?}"),
    }
    // Socket 2 resumes the session; socket 1 is replaced.
    let (out2, mut rx2) = mpsc::unbounded_channel();
    let (ok_tx, ok_rx) = oneshot::channel();
    inbox_tx.send(SessionIn::Attach { socket: 2, out: out2, received: 0, ok: ok_tx }).unwrap();
    assert!(ok_rx.await.unwrap());
    // A lookup socket 1 read before it closed, then a ping and a lookup from socket 2.
    let (t, p) = Message::Lookup { id: 7, topic: [7; 32] }.encode();
    inbox_tx.send(SessionIn::Frame(1, t, p)).unwrap();
    let (t, p) = Message::Ping.encode();
    inbox_tx.send(SessionIn::Frame(2, t, p)).unwrap();
    let mut to_socket2 = Vec::new();
    loop {
        match timeout(LIMIT, rx2.recv()).await.unwrap() {
            Some(SocketOut::Frame(t, p)) => {
                let m = Message::decode(t, &p).unwrap();
                let pong = matches!(m, Message::Pong);
                to_socket2.push(m);
                if pong {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    let stale_queries = metrics.queries.load(Ordering::Relaxed);
    let (t, p) = Message::Lookup { id: 8, topic: [8; 32] }.encode();
    inbox_tx.send(SessionIn::Frame(2, t, p)).unwrap();
    let (t, p) = Message::Ping.encode();
    inbox_tx.send(SessionIn::Frame(2, t, p)).unwrap();
    loop {
        match timeout(LIMIT, rx2.recv()).await.unwrap() {
            Some(SocketOut::Frame(t, p)) if matches!(Message::decode(t, &p), Ok(Message::Pong)) => break,
            Some(_) => {}
            None => panic!("socket 2 closed"),
        }
    }
    let fresh_queries = metrics.queries.load(Ordering::Relaxed);
    run.abort();
    dht.destroy().await;
    assert_eq!(stale_queries, 0, "a lookup read by the replaced socket was processed: {to_socket2:?}");
    assert!(!to_socket2.iter().any(|m| matches!(m, Message::Error { reference: 7, .. })));
    assert_eq!(fresh_queries, 1, "the same lookup from the current socket runs");
}

/// `hello` on a fresh socket from loopback with `X-Forwarded-For: xff`: the welcome's token,
/// or the code of the `error{0}` that refused it.
async fn hello_forwarded_for(addr: SocketAddr, xff: &str) -> Result<[u8; 32], String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/relay").into_client_request().unwrap();
    req.headers_mut().insert("x-forwarded-for", xff.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Ws::Binary(open_frame(V1))).await.unwrap();
    send(&mut ws, &Message::Hello { version: 1, resume: None }).await;
    let got = match recv(&mut ws).await {
        Message::Welcome { token, .. } => Ok(token),
        Message::Error { reference: 0, code, .. } => Err(code),
        other => panic!("{other:?}"),
    };
    std::mem::forget(ws); // stays open (and its session attached) until the relay drains
    got
}

/// S7 (proxy part): behind a reverse proxy every client had the proxy's IP. With
/// `--trusted-proxy`, a connection from that proxy is counted under the right-most
/// `X-Forwarded-For` entry; from any other peer the header changes nothing (a client cannot
/// dodge its per-IP cap by spoofing it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    // Not trusted: two "different" forwarded clients are one IP (127.0.0.1), capped at 1.
    let running = relay(1).await;
    wait_ready(running.addr).await;
    let a = hello_forwarded_for(running.addr, "203.0.113.1").await;
    let b = hello_forwarded_for(running.addr, "203.0.113.2").await;
    running.drain(Duration::from_secs(1)).await;
    assert!(a.is_ok());
    assert_eq!(b, Err("LIMIT_SESSIONS".to_string()), "a spoofed X-Forwarded-For dodged the per-IP cap");

    // 127.0.0.1 is a trusted proxy: each forwarded client has its own cap.
    let mut args = RelayArgs::defaults(SocketAddr::from(([127, 0, 0, 1], 0)));
    args.local_testnet = Some(3);
    args.max_sessions_per_ip = 1;
    args.drain_secs = 1;
    args.trusted_proxy = vec!["127.0.0.1".parse().unwrap()];
    let running = start(args).await.unwrap();
    wait_ready(running.addr).await;
    let a = hello_forwarded_for(running.addr, "198.51.100.1, 203.0.113.1").await;
    let b = hello_forwarded_for(running.addr, "203.0.113.2").await;
    // The right-most entry counts: a client's own claim further left does not.
    let c = hello_forwarded_for(running.addr, "203.0.113.2, 203.0.113.1").await;
    running.drain(Duration::from_secs(1)).await;
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    assert_eq!(c, Err("LIMIT_SESSIONS".to_string()));
}

/// S5. JS-compat queries used to call the node directly, past the shared query permits, into
/// the node's own cap of 128 queries: the relay_sessions bench found only 258 of 1,000
/// concurrent JS-client lookups returning the announced record (the rest ended `Overloaded`,
/// which the JS protocol reports as a bare `finished`). They now take the same fair-share
/// permits as v1 queries and wait their turn: 1,000 concurrent lookups on one JS-compat
/// session (its query cap raised to 1,000, the IP's share to all 96 permits) all find it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_compat_lookups_wait_for_query_permits() {
    use hyperwasm_relay::relay_server::js_compat::messages::Message as JsMessage;
    const N: u32 = 1_000;
    let mut args = RelayArgs::defaults(SocketAddr::from(([127, 0, 0, 1], 0)));
    args.local_testnet = Some(3);
    args.max_queries = u64::from(N);
    args.max_queries_per_ip = 96;
    args.drain_secs = 1;
    let running = start(args).await.unwrap();
    let addr = running.addr;
    wait_ready(addr).await;
    let topic = [42u8; 32];
    let key_pair = hyperwasm::crypto::KeyPair::from_seed(&[43; 32]);
    let public_key = key_pair.public_key();
    running.dht.announce(topic, &key_pair, Vec::new()).await.unwrap();

    let mut ws = connect(addr).await;
    ws.send(Ws::Binary(open_frame("@hyperswarm/dht-relay"))).await.unwrap();
    let mut handshake = vec![1, 0, 0];
    handshake.extend_from_slice(&[7; 32]);
    ws.send(Ws::Binary(handshake)).await.unwrap();
    let js_frame = |m: &JsMessage| {
        let mut f = vec![1, m.kind() as u8];
        m.encode(&mut f);
        f
    };
    for id in 0..N {
        ws.send(Ws::Binary(js_frame(&JsMessage::Lookup { id, topic }))).await.unwrap();
    }
    let mut found = std::collections::HashSet::new();
    let mut finished = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while finished < N && Instant::now() < deadline {
        let msg = timeout(LIMIT, ws.next()).await.expect("a message in time").unwrap().unwrap();
        let Ws::Binary(b) = msg else { continue };
        if b.first() != Some(&1) || b.len() < 2 {
            continue;
        }
        match JsMessage::decode(u64::from(b[1]), &b[2..]) {
            Ok(JsMessage::Result { id, data }) if data.windows(32).any(|w| w == public_key) => {
                found.insert(id);
            }
            Ok(JsMessage::Finished { .. }) => finished += 1,
            _ => {}
        }
    }
    running.drain(Duration::from_secs(1)).await;
    assert_eq!(finished, N);
    assert_eq!(found.len(), N as usize, "lookups that found the announced record");
}

/// Defect 1, JS-compat side: a JS-compat socket is one session under the same caps (it has no
/// resume); opening the channel beyond them closes the socket (1008 `LIMIT_SESSIONS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_compat_sessions_count_under_the_same_caps() {
    let running = relay(1).await;
    let addr = running.addr;
    wait_ready(addr).await;
    let mut v1 = connect(addr).await;
    hello(&mut v1).await;
    let mut js = connect(addr).await;
    js.send(Ws::Binary(open_frame("@hyperswarm/dht-relay"))).await.unwrap();
    let close = loop {
        match timeout(LIMIT, js.next()).await.unwrap() {
            Some(Ok(Ws::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    let close = close.map(|f| (u16::from(f.code), f.reason.to_string()));
    running.drain(Duration::from_secs(1)).await;
    assert_eq!(close, Some((1008, "LIMIT_SESSIONS".to_string())));
}

/// A session may `listen` on any public key, but it holds the key only while it proves it owns
/// it: a refused (or bad, or missing) signature of the server's self-announce closes the
/// server with `SIGNATURE_REFUSED`, and the key's owner can then listen on this relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_without_the_secret_key_cannot_hold_a_server_key() {
    let running = relay(16).await;
    let addr = running.addr;
    wait_ready(addr).await;
    let kp = hyperwasm::crypto::KeyPair::from_seed(&[78; 32]);

    let mut squatter = connect(addr).await;
    hello(&mut squatter).await;
    send(&mut squatter, &Message::Listen { server: 1, public_key: kp.public_key() }).await;
    let got = timeout(Duration::from_secs(20), recv_refusing_signs(&mut squatter)).await.unwrap();
    match got {
        Message::Error { reference: 1, code, .. } if code == "SIGNATURE_REFUSED" => {}
        other => panic!("an unproven server was kept: {other:?}"),
    }

    let mut owner = connect(addr).await;
    hello(&mut owner).await;
    send(&mut owner, &Message::Listen { server: 1, public_key: kp.public_key() }).await;
    let got = timeout(Duration::from_secs(20), recv_signing(&mut owner, &kp)).await.unwrap();
    running.drain(Duration::from_secs(1)).await;
    match got {
        Message::Listening { server: 1, .. } => {}
        other => panic!("the key's owner could not listen: {other:?}"),
    }
}

/// A socket that never says `hello` (silent, or only its channel open) holds a place under the
/// session caps: it is closed (1008) after `HELLO_TIMEOUT`, and the place is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_says_hello_is_closed() {
    let running = relay(2).await;
    let addr = running.addr;
    let mut silent = connect(addr).await;
    let mut opened = connect(addr).await;
    opened.send(Ws::Binary(open_frame(V1))).await.unwrap();
    let started = Instant::now();
    for ws in [&mut silent, &mut opened] {
        let code = loop {
            match timeout(Duration::from_secs(20), ws.next()).await.expect("closed in time") {
                Some(Ok(Ws::Close(Some(f)))) => break u16::from(f.code),
                Some(Ok(Ws::Close(None))) | None | Some(Err(_)) => break 0,
                Some(Ok(_)) => {}
            }
        };
        assert_eq!(code, 1008);
    }
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(9), "closed after {waited:?}");
    // Both places are free: two sessions fit under the per-IP cap of 2.
    let mut a = connect(addr).await;
    hello(&mut a).await;
    let mut b = connect(addr).await;
    hello(&mut b).await;
    running.drain(Duration::from_secs(1)).await;
}
