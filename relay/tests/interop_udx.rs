//! Live interop between our sans-IO UDX (`hyperwasm_relay::udx::Endpoint`) and JS udx-native
//! (`tests/js/udx-peer.mjs`) over loopback UDP. The Rust side is a minimal tokio loop around
//! the endpoint (a test harness, not the real driver), with optional random loss on its send
//! and receive paths.

#![allow(clippy::unwrap_used)]

mod common;

use common::Peer;
use hyperwasm_relay::testing::random_bytes;
use hyperwasm_relay::udx::{Endpoint, Event, UdxError};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// Whole-scenario limit.
const LIMIT: Duration = Duration::from_secs(90);

/// The JS peer process (killed on drop) and the JSON lines it printed so far.
struct JsPeer {
    peer: Peer,
    seen: Vec<Value>,
}

impl JsPeer {
    /// Starts `udx-peer.mjs ARGS` and waits for its first line (`listening`).
    fn spawn(args: &[String]) -> JsPeer {
        let root = common::repo_root();
        assert!(
            root.join("tests/js/node_modules/udx-native").is_dir(),
            "tests/js/node_modules is missing: run `make setup` (or `cd tests/js && npm ci`)"
        );
        let mut a = vec!["udx-peer.mjs".to_string()];
        a.extend_from_slice(args);
        let peer = Peer::spawn("udx-peer", common::node(), &a, Some(&root.join("tests/js")));
        let seen = vec![peer.ready.clone()];
        JsPeer { peer, seen }
    }

    /// Collects lines that arrived so far.
    fn poll(&mut self) {
        while let Some(v) = self.peer.try_next_json() {
            eprintln!("js: {v}");
            self.seen.push(v);
        }
    }

    fn event(&self, name: &str) -> Option<&Value> {
        self.seen.iter().find(|v| v["event"] == name)
    }

    async fn wait_event(&mut self, name: &str) -> Value {
        let deadline = Instant::now() + LIMIT;
        loop {
            self.poll();
            if let Some(v) = self.event(name) {
                return v.clone();
            }
            assert!(Instant::now() < deadline, "no JS {name} event; seen {:?}", self.seen);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Our side: one UDP socket, one endpoint, one stream, optional loss.
struct Node {
    sock: UdpSocket,
    ep: Endpoint,
    id: u32,
    start: Instant,
    loss: f64,
    rng: u64,
    buf: Vec<u8>,
    rbuf: Vec<u8>,
    events: Vec<Event>,
    dropped: u64,
}

impl Node {
    async fn bind(loss: f64) -> Node {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut ep = Endpoint::new();
        let id = ep.create_stream();
        Node {
            sock,
            ep,
            id,
            start: Instant::now(),
            loss,
            rng: 0x1234_5678_9abc_def0,
            buf: Vec::with_capacity(2048),
            rbuf: vec![0; 65536],
            events: Vec::new(),
            dropped: 0,
        }
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn lose(&mut self) -> bool {
        if self.loss == 0.0 {
            return false;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let lost = ((self.rng >> 11) as f64 / (1u64 << 53) as f64) < self.loss;
        self.dropped += lost as u64;
        lost
    }

    async fn flush(&mut self) {
        let now = self.now();
        while let Some(to) = self.ep.poll_transmit(now, &mut self.buf) {
            if self.lose() {
                continue;
            }
            let _ = self.sock.send_to(&self.buf, to).await;
        }
    }

    fn take(&mut self, n: usize, from: SocketAddr) {
        let SocketAddr::V4(from) = from else { return };
        if self.lose() {
            return;
        }
        let now = self.now();
        let bytes = self.rbuf[..n].to_vec();
        assert!(
            self.ep.handle_packet(from, &bytes, now) || !self.ep.contains(self.id),
            "datagram was not UDX for our stream"
        );
    }

    /// Waits up to 20 ms for datagrams (taking every one queued), runs due timers, sends.
    async fn turn(&mut self) {
        let now = self.now();
        let wait = self.ep.poll_timeout().map_or(20, |t| t.saturating_sub(now)).min(20);
        if let Ok(Ok((n, from))) =
            tokio::time::timeout(Duration::from_millis(wait), self.sock.recv_from(&mut self.rbuf)).await
        {
            self.take(n, from);
            while let Ok((n, from)) = self.sock.try_recv_from(&mut self.rbuf) {
                self.take(n, from);
            }
        }
        let now = self.now();
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
        self.flush().await;
        while let Some(ev) = self.ep.poll_event() {
            self.events.push(ev);
        }
    }

    fn closed(&self) -> Option<Option<UdxError>> {
        self.events.iter().find_map(|e| match e {
            Event::Closed { id, error } if *id == self.id => Some(*error),
            _ => None,
        })
    }

    fn ended(&self) -> bool {
        self.events.iter().any(|e| matches!(e, Event::Ended { id } if *id == self.id))
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn js_args(node: &Node, js_id: u32, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--id".into(),
        js_id.to_string(),
        "--remote-id".into(),
        node.id.to_string(),
        "--remote-port".into(),
        node.port().to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn js_addr(js: &JsPeer) -> SocketAddrV4 {
    let port = js.event("listening").unwrap()["port"].as_u64().unwrap() as u16;
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

/// Connects our stream to the JS one, writes `data` and ends, and runs until our stream
/// closes; returns what JS sent.
async fn send_all(node: &mut Node, js: &mut JsPeer, js_id: u32, data: &[u8]) -> Vec<u8> {
    node.ep.connect(node.id, js_id, js_addr(js), node.now()).unwrap();
    let deadline = Instant::now() + LIMIT;
    let mut written = 0;
    let mut got = Vec::new();
    while node.closed().is_none() {
        if written < data.len() {
            written += node.ep.write(node.id, &data[written..]);
            if written == data.len() {
                node.ep.end(node.id);
            }
        }
        node.turn().await;
        node.ep.read(node.id, &mut got);
        js.poll();
        assert!(Instant::now() < deadline, "timed out: {:?}; js {:?}", node.ep.info(node.id), js.seen);
    }
    got
}

/// Rust sends `data` (and ends); JS (`js_extra`, e.g. `--end-on-eof`) sends nothing.
async fn rust_to_js(loss: f64, data: &[u8], js_extra: &[&str]) -> (Node, JsPeer) {
    let mut node = Node::bind(loss).await;
    let js_id = 0x0a0b_0c0d;
    let mut js = JsPeer::spawn(&js_args(&node, js_id, js_extra));
    let got = send_all(&mut node, &mut js, js_id, data).await;
    assert!(got.is_empty(), "JS sent nothing");
    (node, js)
}

#[tokio::test]
async fn rust_to_js_5mb_then_close_both_ways() {
    let data = random_bytes(5 << 20, 1);
    let (node, mut js) = rust_to_js(0.0, &data, &["--end-on-eof"]).await;
    assert_eq!(node.closed(), Some(None), "clean close");
    assert!(node.ended(), "JS end() is our EOF");
    let end = js.wait_event("end").await;
    assert_eq!(end["bytes"], data.len());
    assert_eq!(end["sha256"], sha256_hex(&data));
    // JS's stream closes too: our END was acked, nothing left to retransmit
    let close = js.wait_event("close").await;
    assert!(js.event("error").is_none(), "{:?}", js.seen);
    eprintln!("rust→js close: {close}; ours {:?}", node.ep.info(node.id));
}

#[tokio::test]
async fn js_to_rust_5mb_then_close_both_ways() {
    let mut node = Node::bind(0.0).await;
    let js_id = 0x1111_2222;
    let mut js = JsPeer::spawn(&js_args(&node, js_id, &["--send", &(5u32 << 20).to_string()]));
    let deadline = Instant::now() + LIMIT;
    let mut got = Vec::new();
    let mut connected = false;
    let mut ended_sent = false;
    while node.closed().is_none() {
        node.turn().await;
        node.ep.read(node.id, &mut got);
        js.poll();
        if !connected {
            // connect to wherever the first packet came from (hyperdht's firewall step)
            if let Some(from) = node.events.iter().find_map(|e| match e {
                Event::Firewall { id, from } if *id == node.id => Some(*from),
                _ => None,
            }) {
                assert_eq!(from, js_addr(&js));
                node.ep.connect(node.id, js_id, from, node.now()).unwrap();
                connected = true;
            }
        }
        if node.ended() && !ended_sent {
            node.ep.read(node.id, &mut got);
            node.ep.end(node.id);
            ended_sent = true;
        }
        assert!(Instant::now() < deadline, "timed out: {:?}; js {:?}", node.ep.info(node.id), js.seen);
    }
    assert!(connected, "the JS stream's first packets raised Firewall");
    assert_eq!(node.closed(), Some(None));
    let sent = js.wait_event("sent").await;
    assert_eq!(got.len() as u64, sent["bytes"].as_u64().unwrap());
    assert_eq!(sha256_hex(&got), sent["sha256"].as_str().unwrap());
    let end = js.wait_event("end").await;
    assert_eq!(end["bytes"], 0, "our END-only packet is JS's EOF");
    let close = js.wait_event("close").await;
    assert!(js.event("error").is_none(), "{:?}", js.seen);
    eprintln!("js→rust close: {close}; ours {:?}", node.ep.info(node.id));
}

#[tokio::test]
async fn js_destroying_mid_stream_resets_ours() {
    let data = random_bytes(5 << 20, 2);
    let (node, mut js) = rust_to_js(0.0, &data, &["--destroy-after", "1000000"]).await;
    js.wait_event("destroyed").await;
    assert_eq!(node.closed(), Some(Some(UdxError::Reset)));
    assert_eq!(UdxError::Reset.code(), "ECONNRESET");
    // the id is gone: late packets are not UDX for us any more
    assert!(!node.ep.contains(node.id));
}

#[tokio::test]
async fn both_ways_with_five_percent_loss_in_the_rust_harness() {
    let mut node = Node::bind(0.05).await;
    let js_id = 0x3333_4444;
    let ours = random_bytes(2 << 20, 3);
    let mut js =
        JsPeer::spawn(&js_args(&node, js_id, &["--send", &(2u32 << 20).to_string(), "--end-on-eof"]));
    let got = send_all(&mut node, &mut js, js_id, &ours).await;
    assert_eq!(node.closed(), Some(None));
    let sent = js.wait_event("sent").await;
    assert_eq!(sha256_hex(&got), sent["sha256"].as_str().unwrap());
    let end = js.wait_event("end").await;
    assert_eq!(end["sha256"], sha256_hex(&ours));
    let close = js.wait_event("close").await;
    assert!(js.event("error").is_none(), "{:?}", js.seen);
    let info = node.ep.info(node.id);
    eprintln!("lossy: dropped {} datagrams; js {close}; ours {info:?}", node.dropped);
    assert!(node.dropped > 100);
}
