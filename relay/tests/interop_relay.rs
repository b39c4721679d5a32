//! The native relay client (`hyperwasm_relay::relay_client::RelayDht`) through our relay
//! (`relay_server::start`, in-process) on a JS hyperdht testnet, against live JS peers
//! (`tests/js/dht-peer.mjs`): announce/lookup both ways, dials to a JS server, a JS client
//! dialling a server the relay client listens on, hypercore replication both ways, a WebSocket
//! cut mid-transfer (a TCP proxy between client and relay) that resumes the same session with
//! no loss, the proxy's recording free of secret keys and plaintext, and a client that stops
//! reading without the relay forwarding more than the stream credit.

#![allow(clippy::unwrap_used)]

mod common;

use common::{event, lines};
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::dht::{hex32, js, js_run, js_testnet, s, stream_hash, Testnet};
use common::{bin, p, relay, relay_stdin, run_program};
use hyperwasm::crypto::KeyPair;
use hyperwasm_relay::core_dir;
use hyperwasm_relay::cores::{CoreSet, DownloadRange};
use hyperwasm_relay::relay_client::{replicate_relayed, RelayConnection, RelayDht, RelayDhtOptions};
use hyperwasm_relay::relay_server::{start, RelayArgs, Running};
use hyperwasm_relay::testdata::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{block_in_place, AbortHandle};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

/// Our relay, in-process, on the JS testnet.
async fn relay_on(tn: &Testnet) -> Running {
    let mut args = RelayArgs::defaults(SocketAddr::from(([127, 0, 0, 1], 0)));
    args.bootstrap = tn.bootstrap.split(',').map(str::to_string).collect();
    args.dht_bind = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let running = start(args).await.unwrap();
    timeout(LIMIT, running.dht.ready()).await.unwrap().unwrap();
    running
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/relay")
}

async fn client(addr: SocketAddr) -> RelayDht {
    timeout(LIMIT, RelayDht::open(&url(addr), RelayDhtOptions::default())).await.unwrap().unwrap()
}

fn key_pair(byte: u8) -> KeyPair {
    KeyPair::from_seed(&[byte; 32])
}

/// A distinctive payload: 16-byte windows that never repeat (a counter and its complement).
fn pattern(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 16);
    let mut i: u64 = 0;
    while v.len() < len {
        v.extend_from_slice(&(i ^ 0x5a5a_1234_dead_beef).to_le_bytes());
        v.extend_from_slice(&(!i).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

/// Writes `payload` to an echo peer over secret-stream and reads it back; returns what came back.
async fn echo_through(conn: RelayConnection, payload: &[u8], mid: impl FnOnce() + Send + 'static) -> Vec<u8> {
    let enc = conn.encrypted();
    let (mut r, mut w) = tokio::io::split(enc);
    let data = payload.to_vec();
    let writer = tokio::spawn(async move {
        for chunk in data.chunks(16 * 1024) {
            w.write_all(chunk).await.unwrap();
        }
        w
    });
    let mut back = Vec::with_capacity(payload.len());
    let mut buf = vec![0u8; 64 * 1024];
    let mut mid = Some(mid);
    while back.len() < payload.len() {
        let n = timeout(LIMIT, r.read(&mut buf)).await.expect("echo in time").unwrap();
        assert!(n > 0, "echo ended after {} bytes", back.len());
        back.extend_from_slice(&buf[..n]);
        if back.len() >= payload.len() / 3 {
            if let Some(f) = mid.take() {
                f();
            }
        }
    }
    let mut w = writer.await.unwrap();
    let _ = w.shutdown().await;
    back
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy between the client and the relay: records both directions, can cut every
// connection it carries.

/// Every byte the proxy carried, one buffer per TCP direction of each connection
/// (`true` = client → relay).
#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Vec<(bool, Buf)>>>);

/// One recorded direction.
type Buf = Arc<Mutex<Vec<u8>>>;

impl Recording {
    fn direction(&self, upstream: bool) -> Buf {
        let buf: Buf = Arc::default();
        self.0.lock().unwrap().push((upstream, buf.clone()));
        buf
    }
}

/// The payload bytes of the WebSocket frames in one recorded direction (after the HTTP
/// upgrade), unmasked: client-to-server frames are XOR-masked on the wire, so the raw bytes
/// alone would hide a leak. A frame cut short by the proxy ends the list.
fn ws_payloads(raw: &[u8]) -> Vec<u8> {
    let Some(start) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return Vec::new() };
    let mut at = start + 4;
    let mut out = Vec::new();
    while at + 2 <= raw.len() {
        let (b1, mut i) = (raw[at + 1], at + 2);
        let mut len = u64::from(b1 & 0x7f);
        if len == 126 {
            let Some(b) = raw.get(i..i + 2) else { break };
            len = u64::from(u16::from_be_bytes([b[0], b[1]]));
            i += 2;
        } else if len == 127 {
            let Some(b) = raw.get(i..i + 8) else { break };
            len = u64::from_be_bytes(b.try_into().unwrap());
            i += 8;
        }
        let mask = if b1 & 0x80 != 0 {
            let Some(m) = raw.get(i..i + 4) else { break };
            i += 4;
            Some([m[0], m[1], m[2], m[3]])
        } else {
            None
        };
        let end = i + len as usize;
        let Some(payload) = raw.get(i..end) else { break };
        match mask {
            Some(m) => out.extend(payload.iter().enumerate().map(|(k, b)| b ^ m[k % 4])),
            None => out.extend_from_slice(payload),
        }
        at = end;
    }
    out
}

struct Proxy {
    addr: SocketAddr,
    recording: Recording,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    accepted: Arc<Mutex<u64>>,
    paused: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    rec: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        rec.lock().unwrap().extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let recording = Recording::default();
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accepted: Arc<Mutex<u64>> = Arc::default();
        let paused: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let (rec, cs, acc, pause) = (recording.clone(), conns.clone(), accepted.clone(), paused.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else { return };
                if pause.load(std::sync::atomic::Ordering::Relaxed) {
                    // The network is down: the connection closes at once.
                    continue;
                }
                let Ok(outbound) = TcpStream::connect(target).await else { continue };
                *acc.lock().unwrap() += 1;
                let (ir, iw) = inbound.into_split();
                let (or, ow) = outbound.into_split();
                let up = tokio::spawn(pipe(ir, ow, rec.direction(true)));
                let down = tokio::spawn(pipe(or, iw, rec.direction(false)));
                let mut list = cs.lock().unwrap();
                list.push(up.abort_handle());
                list.push(down.abort_handle());
            }
        });
        Proxy { addr, recording, conns, accepted, paused, task }
    }

    /// Drops every connection carried now (both sockets of each close).
    fn cut(&self) {
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    fn pause(&self, on: bool) {
        self.paused.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn accepted(&self) -> u64 {
        *self.accepted.lock().unwrap()
    }

    /// Every direction recorded: (client → relay?, raw bytes).
    fn recorded(&self) -> Vec<(bool, Vec<u8>)> {
        self.recording.0.lock().unwrap().iter().map(|(up, b)| (*up, b.lock().unwrap().clone())).collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announce_and_lookup_both_ways() {
    let tn = block_in_place(|| js_testnet(4, None));
    let running = relay_on(&tn).await;
    let dht = client(running.addr).await;
    let b = tn.bootstrap.clone();

    // The relay client announces; JS finds it.
    let kp = key_pair(0x41);
    let topic = [0x51; 32];
    let relays = vec![SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40001)];
    let done = timeout(LIMIT, dht.announce(topic, &kp, relays)).await.unwrap().unwrap();
    assert!(done.commits > 0, "no DHT node stored the record: {done:?}");
    let pk = hex::encode(kp.public_key());
    let found = block_in_place(|| {
        lines(
            &js_run(&["lookup", "--bootstrap", &b, "--topic", &hex::encode(topic), "--expect-key", &pk]),
            "JS lookup",
        )
    });
    let peer = found.iter().find(|v| v["event"] == "peer" && v["publicKey"] == pk.as_str()).unwrap();
    assert_eq!(peer["relayAddresses"][0]["port"], 40001, "{peer}");

    // JS announces; the relay client's lookup streams it.
    let topic2 = [0x52; 32];
    let jann = block_in_place(|| {
        js(
            "js announce",
            &["announce", "--bootstrap", &b, "--topic", &hex::encode(topic2), "--seed", &hex32(0x42)],
        )
    });
    let jpk: [u8; 32] = hex::decode(s(&jann.ready, "publicKey")).unwrap().try_into().unwrap();
    let mut q = dht.lookup(topic2).unwrap();
    let mut seen = false;
    while let Some(reply) = timeout(LIMIT, q.next()).await.unwrap() {
        seen |= reply.peers.iter().any(|p| p.public_key == jpk);
    }
    assert!(seen, "the relay client's lookup did not see the JS announce");
    // The same through the CLI (`relay-client lookup`, JSON lines).
    let u = url(running.addr);
    let cli = block_in_place(|| {
        lines(
            &run_program(&bin(), &["relay-client", "--url", &u, "lookup", &hex::encode(topic2)], None, None),
            "CLI lookup",
        )
    });
    assert!(cli.iter().any(|v| v["event"] == "peer" && v["publicKey"] == hex::encode(jpk)), "{cli:?}");
    assert_eq!(event(&cli, "done")["peers"], 1, "{cli:?}");

    // Unannounce removes ours: JS no longer finds it.
    let un = timeout(LIMIT, dht.unannounce(topic, &kp)).await.unwrap().unwrap();
    assert!(un.commits > 0, "{un:?}");
    let after = block_in_place(|| {
        lines(&js_run(&["lookup", "--bootstrap", &b, "--topic", &hex::encode(topic)]), "JS lookup after")
    });
    assert!(!after.iter().any(|v| v["publicKey"] == pk.as_str()), "{after:?}");

    // findPeer of a server listening through the relay names its relays.
    let skp = key_pair(0x43);
    let server = timeout(LIMIT, dht.listen(&skp)).await.unwrap().unwrap();
    assert!(!server.relay_addresses().is_empty());
    let replies = timeout(LIMIT, dht.find_peer(skp.public_key())).await.unwrap().unwrap();
    assert!(replies.iter().any(|r| r.peers.iter().any(|p| p.public_key == skp.public_key())), "{replies:?}");
    dht.destroy().await;
    running.drain(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dials_a_js_echo_server_and_accepts_a_js_client() {
    let tn = block_in_place(|| js_testnet(4, None));
    let running = relay_on(&tn).await;
    let dht = client(running.addr).await;
    let b = tn.bootstrap.clone();

    // Relay client → JS echo server: 1 MB echoed, the server's key checked by Noise.
    let mut jsrv =
        block_in_place(|| js("js echo", &["echo-server", "--bootstrap", &b, "--seed", &hex32(0x21)]));
    let jpk: [u8; 32] = hex::decode(s(&jsrv.ready, "publicKey")).unwrap().try_into().unwrap();
    let kp = key_pair(0x31);
    let conn = timeout(LIMIT, dht.connect(jpk, &kp, vec![])).await.unwrap().unwrap();
    assert_eq!(conn.remote_public_key(), jpk);
    assert_eq!(conn.public_key(), kp.public_key());
    assert!(conn.is_initiator());
    let payload = pattern(1_000_000);
    let back = echo_through(conn, &payload, || {}).await;
    assert!(back == payload, "echo differs");
    let c = block_in_place(|| jsrv.wait_event("connection"));
    assert_eq!(c["remotePublicKey"], hex::encode(kp.public_key()));
    // The same through the CLI (`relay-client connect`).
    let u = url(running.addr);
    let jkey = hex::encode(jpk);
    let cli = block_in_place(|| {
        lines(
            &run_program(
                &bin(),
                &["relay-client", "--url", &u, "connect", &jkey, "--bytes", "200000"],
                None,
                None,
            ),
            "CLI connect",
        )
    });
    assert_eq!(event(&cli, "connected")["remotePublicKey"], jkey.as_str());
    assert_eq!(
        (event(&cli, "echoed")["ok"].as_bool(), event(&cli, "echoed")["bytes"].as_u64()),
        (Some(true), Some(200_000))
    );

    // A connect to a key nobody serves fails with hyperdht's code.
    let nobody = key_pair(0x77).public_key();
    let err = timeout(LIMIT, dht.connect(nobody, &kp, vec![])).await.unwrap().unwrap_err();
    assert!(matches!(err.code(), "PEER_NOT_FOUND" | "PEER_CONNECTION_FAILED"), "{err} ({})", err.code());

    // JS client → a server the relay client listens on (echo).
    let skp = key_pair(0x22);
    let mut server = timeout(LIMIT, dht.listen(&skp)).await.unwrap().unwrap();
    let echo = tokio::spawn(async move {
        let conn = server.accept().await.unwrap();
        let remote = conn.remote_public_key();
        assert!(!conn.is_initiator());
        let (mut r, mut w) = tokio::io::split(conn.encrypted());
        let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
        let _ = w.shutdown().await;
        (remote, n)
    });
    let spk = hex::encode(skp.public_key());
    let out = block_in_place(|| {
        lines(
            &js_run(&[
                "connect",
                "--bootstrap",
                &b,
                "--key",
                &spk,
                "--bytes",
                "300000",
                "--seed",
                &hex32(0x32),
            ]),
            "JS connect",
        )
    });
    assert_eq!(event(&out, "connected")["remotePublicKey"], spk.as_str());
    assert_eq!(event(&out, "echoed")["ok"], true, "{out:?}");
    let (remote, n) = timeout(LIMIT, echo).await.unwrap().unwrap();
    assert_eq!(remote, key_pair(0x32).public_key());
    assert_eq!(n, 300_000);
    dht.destroy().await;
    running.drain(Duration::from_secs(2)).await;
}

/// Opens `dir`'s core (created by the CLI) into a fresh core set.
async fn core_set(
    dir: &std::path::Path,
    key: Option<[u8; 32]>,
) -> (CoreSet, hyperwasm_relay::cores::SharedCore) {
    let core = match key {
        Some(k) => core_dir::open_remote(dir, k).await.unwrap(),
        None => core_dir::open(dir).await.unwrap(),
    };
    let cores = CoreSet::new();
    let shared = cores.insert(core);
    (cores, shared)
}

async fn digest(shared: &hyperwasm_relay::cores::SharedCore, n: u64) -> String {
    let mut d = Digest::new();
    for i in 0..n {
        d.update(&shared.get(i).await.unwrap().unwrap());
    }
    d.hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicates_hypercores_both_ways_through_the_relay() {
    let tn = block_in_place(|| js_testnet(4, None));
    let running = relay_on(&tn).await;
    let dht = client(running.addr).await;
    let b = tn.bootstrap.clone();
    let tmp = tempfile::tempdir().unwrap();

    // A JS Hyperswarm seeder; the relay client looks the discovery key up, dials, fetches.
    let jseed = block_in_place(|| {
        js("js swarm-seed", &["swarm-seed", "--bootstrap", &b, "--blocks", "200", "--block-size", "1024"])
    });
    let key: [u8; 32] = hex::decode(s(&jseed.ready, "key")).unwrap().try_into().unwrap();
    let jdigest = s(&jseed.ready, "digest");
    let (cores, shared) = core_set(&tmp.path().join("from-js"), Some(key)).await;
    let topic = shared.discovery_key();
    let kp = key_pair(0x61);
    let peer = loop {
        let replies = timeout(LIMIT, dht.lookup(topic).unwrap().collect()).await.unwrap().unwrap();
        if let Some(p) = replies.into_iter().flat_map(|r| r.peers).next() {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let conn =
        timeout(LIMIT, dht.connect(peer.public_key, &kp, peer.relay_addresses)).await.unwrap().unwrap();
    let task = {
        let cores = cores.clone();
        tokio::spawn(async move { replicate_relayed(&cores, conn).await })
    };
    shared.download(DownloadRange { start: 0, end: Some(200) });
    timeout(LIMIT, shared.downloaded()).await.unwrap();
    assert_eq!(digest(&shared, 200).await, jdigest);
    task.abort();

    // The relay client seeds a core made by the CLI (same blocks); JS swarm-fetch gets it.
    let seed_dir = tmp.path().join("rust-seed");
    let rkey = s(&block_in_place(|| relay(&["create", p(&seed_dir)])).ok_json(), "key");
    let blocks = block_in_place(|| {
        run_program(&bin(), &["gen-blocks", "--count", "200", "--size", "1024"], None, None)
    });
    assert!(blocks.status.success());
    block_in_place(|| {
        relay_stdin(&["append", p(&seed_dir), "--chunk-size", "1024"], &blocks.stdout).ok_json()
    });
    let (cores, shared) = core_set(&seed_dir, None).await;
    assert_eq!(digest(&shared, 200).await, jdigest, "same blocks, same digest");
    let skp = key_pair(0x62);
    let mut server = timeout(LIMIT, dht.listen(&skp)).await.unwrap().unwrap();
    let relays = server.relay_addresses().to_vec();
    timeout(LIMIT, dht.announce(shared.discovery_key(), &skp, relays)).await.unwrap().unwrap();
    let serving = tokio::spawn(async move {
        while let Some(conn) = server.accept().await {
            let cores = cores.clone();
            tokio::spawn(async move { replicate_relayed(&cores, conn).await });
        }
    });
    let out = block_in_place(|| {
        lines(
            &js_run(&["swarm-fetch", "--bootstrap", &b, "--key", &rkey, "--length", "200"]),
            "JS swarm-fetch",
        )
    });
    let done = event(&out, "done");
    assert_eq!(
        (done["blocks"].as_u64(), done["digest"].as_str()),
        (Some(200), Some(jdigest.as_str())),
        "{done}"
    );
    serving.abort();
    dht.destroy().await;
    running.drain(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_websocket_resumes_the_session_and_nothing_secret_crosses_it() {
    let tn = block_in_place(|| js_testnet(4, None));
    let running = relay_on(&tn).await;
    let proxy = Proxy::start(running.addr).await;
    let dht = client(proxy.addr).await;
    let b = tn.bootstrap.clone();

    let jsrv = block_in_place(|| js("js echo", &["echo-server", "--bootstrap", &b, "--seed", &hex32(0x23)]));
    let jpk: [u8; 32] = hex::decode(s(&jsrv.ready, "publicKey")).unwrap().try_into().unwrap();
    let seed = [0x33u8; 32];
    let kp = KeyPair::from_seed(&seed);
    let conn = timeout(LIMIT, dht.connect(jpk, &kp, vec![])).await.unwrap().unwrap();
    // More than the relay may have sent ahead at the cut (a third read, plus at most the 1 MiB
    // stream credit), so the rest can only arrive over the resumed session.
    let payload = pattern(2_000_000);
    let cutter = {
        let conns = proxy.conns.clone();
        move || {
            for h in conns.lock().unwrap().drain(..) {
                h.abort();
            }
        }
    };
    let back = echo_through(conn, &payload, cutter).await;
    assert!(back == payload, "the echo lost or changed bytes across the cut");

    // The same session, resumed on a second socket.
    let mut stats = dht.stats().await.unwrap();
    for _ in 0..100 {
        if stats.resumes >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        stats = dht.stats().await.unwrap();
    }
    assert_eq!(stats.sessions, 1, "{stats:?}");
    assert!(stats.resumes >= 1 && stats.disconnects >= 1, "{stats:?}");
    assert!(proxy.accepted() >= 2, "the client never reconnected");
    assert_eq!(running.sessions(), 1);

    // Non-custodial: neither the seed, the secret key nor any 16-byte window of the
    // plaintext crossed the wire, though the transfer did.
    let recorded = proxy.recorded();
    let raw_len: usize = recorded.iter().map(|(_, b)| b.len()).sum();
    eprintln!("recorded {raw_len} bytes in {} directions, {stats:?}", recorded.len());
    assert!(raw_len > 2 * payload.len(), "recording of {raw_len} bytes");
    // What to search: the raw bytes and the unmasked WebSocket payloads of every direction.
    let mut views: Vec<Vec<u8>> = Vec::new();
    let mut upstream_payload = Vec::new();
    for (up, raw) in recorded {
        let frames = ws_payloads(&raw);
        if up {
            upstream_payload.extend_from_slice(&frames);
        }
        views.push(raw);
        views.push(frames);
    }
    // The unmasking works: the client's public key travels in the clear (`connect`), and
    // the client sent about as much as it echoed.
    assert!(contains(&upstream_payload, &kp.public_key()), "unmasking failed");
    assert!(upstream_payload.len() > payload.len(), "{} bytes upstream", upstream_payload.len());
    for view in &views {
        assert!(!contains(view, &seed), "the seed crossed the relay socket");
        assert!(!contains(view, &kp.secret_key()), "the secret key crossed the relay socket");
        let windows: HashSet<&[u8]> = view.windows(16).collect();
        let leaked = (0..payload.len().saturating_sub(16))
            .step_by(8)
            .filter(|at| windows.contains(&payload[*at..*at + 16]));
        assert_eq!(leaked.count(), 0, "plaintext windows found in the recording");
    }
    // The check can see plaintext: the payload itself would be found.
    assert!(contains(&payload, &payload[4096..4112]));
    drop(jsrv);
    dht.destroy().await;
    running.drain(Duration::from_secs(2)).await;
}

/// `hyperwasm_relay_bytes_out_total` from the relay's /metrics.
async fn bytes_out(addr: SocketAddr) -> u64 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    timeout(LIMIT, s.read_to_end(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().find(|l| l.starts_with("hyperwasm_relay_bytes_out_total ")).unwrap();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_holds_the_relay_to_its_credit() {
    let tn = block_in_place(|| js_testnet(4, None));
    let running = relay_on(&tn).await;
    let dht = client(running.addr).await;
    let b = tn.bootstrap.clone();

    // A JS source that would send 50 MB; the relay client never reads.
    let src =
        block_in_place(|| js("js source", &["source-server", "--bootstrap", &b, "--bytes", "50000000"]));
    let spk: [u8; 32] = hex::decode(s(&src.ready, "publicKey")).unwrap().try_into().unwrap();
    let before = bytes_out(running.addr).await;
    let conn = timeout(LIMIT, dht.connect(spk, &key_pair(0x34), vec![])).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let at3 = bytes_out(running.addr).await - before;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let at6 = bytes_out(running.addr).await - before;
    eprintln!("relay bytes out to the stalled client: {at3} after 3 s, {at6} after 6 s");
    let credit = 1024 * 1024;
    // Data frames carry a few bytes of header per 64 KiB; the rest is control.
    assert!(at3 >= credit / 2, "the source never sent: {at3} bytes");
    assert!(at6 <= credit + 64 * 1024, "the relay sent {at6} bytes past a {credit}-byte credit");
    assert!(at6 - at3 <= 64 * 1024, "the relay kept forwarding: {at3} → {at6}");
    let stats = dht.stats().await.unwrap();
    assert!(stats.bytes_in <= credit + 128 * 1024, "{stats:?}");

    // Reading again lets everything through: the stream was only paused.
    let mut enc = conn.encrypted();
    let mut got = 0u64;
    let mut h = blake2b_simd::Params::new().hash_length(32).to_state();
    let mut buf = vec![0u8; 64 * 1024];
    while got < 5_000_000 {
        let n = timeout(LIMIT, enc.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        let take = (n as u64).min(5_000_000 - got) as usize;
        h.update(&buf[..take]);
        got += take as u64;
    }
    assert_eq!(hex::encode(h.finalize().as_bytes()), stream_hash(5_000_000));
    dht.destroy().await;
    running.drain(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_past_its_grace_period_fails_its_streams_and_starts_anew() {
    // Our relay on its own embedded testnet, sessions kept 1 s after their socket drops.
    let mut args = RelayArgs::defaults(SocketAddr::from(([127, 0, 0, 1], 0)));
    args.local_testnet = Some(3);
    args.grace_secs = 1;
    let running = start(args).await.unwrap();
    timeout(LIMIT, running.dht.ready()).await.unwrap().unwrap();
    let proxy = Proxy::start(running.addr).await;
    let server_side = client(running.addr).await;
    let dht = client(proxy.addr).await;

    let skp = key_pair(0x71);
    let mut server = timeout(LIMIT, server_side.listen(&skp)).await.unwrap().unwrap();
    let conn = timeout(LIMIT, dht.connect(skp.public_key(), &key_pair(0x72), vec![])).await.unwrap().unwrap();
    let accepted = timeout(LIMIT, server.accept()).await.unwrap().unwrap();
    assert_eq!(accepted.remote_public_key(), key_pair(0x72).public_key());

    // The network goes down for longer than the grace period.
    proxy.pause(true);
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    proxy.pause(false);
    let mut enc = conn.encrypted();
    let err = timeout(LIMIT, enc.read(&mut [0u8; 16])).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionAborted, "{err}");
    assert!(err.to_string().contains("SESSION_EXPIRED"), "{err}");
    // A new session on the next socket; the client works again.
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let st = dht.stats().await.unwrap();
        if st.connected && st.sessions == 2 {
            assert!(st.expired >= 1, "{st:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{st:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again =
        timeout(LIMIT, dht.connect(skp.public_key(), &key_pair(0x72), vec![])).await.unwrap().unwrap();
    assert_eq!(again.remote_public_key(), skp.public_key());
    dht.destroy().await;
    server_side.destroy().await;
    running.drain(Duration::from_secs(2)).await;
}
