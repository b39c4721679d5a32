//! The sans-IO HyperDHT `Node` in a minimal tokio UDP loop against live JS HyperDHT peers
//! (`tests/js/dht-peer.mjs`, hyperdht 6.34.0) on a loopback testnet: announces and lookups in
//! both directions, mutable/immutable records in both directions, Rust client → JS echo server
//! and JS client → Rust server, with real Noise IK and secret-stream (the key holder of
//! `hyperdht_sim/holder.rs`).

#![allow(clippy::unwrap_used)]

mod common;
#[path = "hyperdht_sim/holder.rs"]
mod holder;

use common::{node, repo_root, Peer};
use holder::Holder;
use hyperwasm::crypto::KeyPair;
use hyperwasm::hyperdht::crypto::hash;
use hyperwasm_relay::dht_rpc::messages::{decode, Message};
use hyperwasm_relay::dht_rpc::{RpcOptions, SocketKind};
use hyperwasm_relay::hyperdht::node::{Event, Node, NodeOptions, OpId};
use hyperwasm_relay::hyperdht::ops::{AnnounceOptions, OpOutcome};
use hyperwasm_relay::hyperdht::HyperDhtError;
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn script() -> String {
    let root = repo_root();
    assert!(
        root.join("tests/js/node_modules/hyperdht").is_dir(),
        "tests/js/node_modules is missing: run `cd tests/js && npm ci`"
    );
    root.join("tests/js/dht-peer.mjs").to_str().unwrap().to_string()
}

fn peer(name: &str, args: &[&str]) -> Peer {
    let mut a = vec![script()];
    a.extend(args.iter().map(|s| s.to_string()));
    let mut p = Peer::spawn(name, node(), &a, Some(&repo_root().join("tests/js")));
    p.exits_on_eof = true;
    p
}

/// A JS peer started and awaited on its own thread (its output is read blocking), so the Rust
/// node keeps running meanwhile. Returns the peer and the event line awaited.
fn background(name: &'static str, args: Vec<String>, event: &'static str) -> JoinHandle<(Peer, Value)> {
    std::thread::spawn(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut p = peer(name, &a);
        let v = if p.ready["event"] == event { p.ready.clone() } else { p.wait_event(event) };
        (p, v)
    })
}

/// The JS testnet: 5 nodes, node 0 the (ephemeral) bootstrap node.
fn testnet() -> (Peer, Vec<SocketAddrV4>) {
    let t = peer("testnet", &["testnet", "--size", "5"]);
    assert_eq!(t.ready["event"], "ready", "{}", t.ready);
    let boot = t.ready["bootstrap"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect();
    (t, boot)
}

struct Live {
    node: Node,
    holder: Holder,
    sock: UdpSocket,
    start: Instant,
    log: Vec<Event>,
    /// PEER_HANDSHAKE requests we sent (as client, or relayed as a router).
    handshakes_sent: usize,
}

impl Live {
    async fn new(bootstrap: Vec<SocketAddrV4>) -> Live {
        Live::with(bootstrap, false, true).await
    }

    /// `persistent`: join as a reachable, persistent node (as testnet nodes do) that stores
    /// records and routes handshakes for the JS peers. `public`: advertise our address as
    /// reachable in handshakes (firewall OPEN).
    async fn with(bootstrap: Vec<SocketAddrV4>, persistent: bool, public: bool) -> Live {
        let sock = UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
        let port = sock.local_addr().unwrap().port();
        let addr = SocketAddrV4::new(LOOPBACK, port);
        let mut rpc = RpcOptions { bootstrap, host: LOOPBACK, port, ..RpcOptions::default() };
        if persistent {
            rpc.ephemeral = Some(false);
            rpc.firewalled = false;
        }
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        // Reachable on loopback: advertise OPEN, as the relay does on a public host.
        let opts = NodeOptions {
            rpc,
            public_address: public.then_some(addr),
            unix_offset_ms: unix,
            ..NodeOptions::default()
        };
        let mut live = Live {
            node: Node::new(opts, 0),
            holder: Holder::default(),
            sock,
            start: Instant::now(),
            log: Vec::new(),
            handshakes_sent: 0,
        };
        assert!(
            live.run_until(Duration::from_secs(20), |l| l.log.contains(&Event::Ready)).await,
            "bootstrap"
        );
        live
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    async fn flush(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.node.poll_transmit() {
                moved = true;
                if t.socket == SocketKind::Main {
                    if let Ok(Message::Request(r)) = decode(&t.bytes) {
                        if !r.internal && r.command == 0 {
                            self.handshakes_sent += 1;
                        }
                    }
                    let _ = self.sock.send_to(&t.bytes, t.to).await;
                }
                // The probe socket is not run here: the node stays ephemeral.
            }
            let now = self.now();
            while let Some(ev) = self.node.poll_event() {
                moved = true;
                self.holder.answer(&mut self.node, &ev, now);
                self.log.push(ev);
            }
            moved |= self.holder.pump_streams(&mut self.node);
            if !moved {
                break;
            }
        }
    }

    async fn run_until(&mut self, limit: Duration, mut pred: impl FnMut(&Live) -> bool) -> bool {
        let end = Instant::now() + limit;
        let mut buf = vec![0u8; 65536];
        loop {
            self.flush().await;
            if pred(self) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            let now = self.now();
            let wake = self.node.poll_timeout().unwrap_or(now + 50).clamp(now, now + 50);
            let wait = Duration::from_millis(wake - now);
            match tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await {
                Ok(Ok((n, std::net::SocketAddr::V4(from)))) => {
                    let now = self.now();
                    self.node.handle_datagram(from, SocketKind::Main, &buf[..n], now);
                }
                _ => {
                    let now = self.now();
                    if self.node.poll_timeout().is_some_and(|t| t <= now) {
                        self.node.handle_timeout(now);
                    }
                }
            }
        }
    }

    async fn op(&mut self, op: OpId) -> Result<OpOutcome, HyperDhtError> {
        let done = |l: &Live| l.log.iter().any(|e| matches!(e, Event::OpDone { op: o, .. } if *o == op));
        assert!(self.run_until(Duration::from_secs(30), done).await, "operation did not finish");
        self.log
            .iter()
            .find_map(|e| match e {
                Event::OpDone { op: o, result } if *o == op => Some(result.clone()),
                _ => None,
            })
            .unwrap()
    }

    /// Drives the node until the background JS peer is done.
    async fn serve(&mut self, js: JoinHandle<(Peer, Value)>, limit: Duration) -> (Peer, Value) {
        assert!(self.run_until(limit, |_| js.is_finished()).await, "JS peer did not finish");
        js.join().unwrap()
    }
}

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn rust_announce_is_seen_by_js_lookup_and_js_announce_by_rust_lookup() {
    let (_t, boot) = testnet();
    let mut live = Live::new(boot.clone()).await;
    let kp = KeyPair::from_seed(&[0x11; 32]);
    live.holder.keys.insert(kp.public_key(), kp.clone());
    let topic = [0xa1u8; 32];
    let now = live.now();
    let relay = SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 5);
    let op = live.node.announce(topic, kp.public_key(), vec![relay], AnnounceOptions::default(), now);
    let OpOutcome::Committed(commits) = live.op(op).await.unwrap() else { panic!() };
    assert!(commits.len() >= 3, "JS persistent nodes stored it: {commits:?}");
    assert!(commits.iter().all(|c| c.result == Ok(0)), "{commits:?}");

    let b = boot.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
    let pk = hex::encode(kp.public_key());
    let args = vec![
        "lookup".into(),
        "--bootstrap".into(),
        b.clone(),
        "--topic".into(),
        hex::encode(topic),
        "--expect-key".into(),
        pk.clone(),
        "--timeout-ms".into(),
        "20000".into(),
    ];
    let (_p, peer_ev) = live.serve(background("js-lookup", args, "peer"), Duration::from_secs(60)).await;
    assert_eq!(peer_ev["publicKey"], pk.as_str());
    assert_eq!(peer_ev["relayAddresses"][0]["host"], "1.2.3.4");

    // And back: a JS announce found by a Rust lookup.
    let seed = "22".repeat(32);
    let topic2 = [0xa2u8; 32];
    let args = vec![
        "announce".into(),
        "--bootstrap".into(),
        b,
        "--topic".into(),
        hex::encode(topic2),
        "--seed".into(),
        seed,
    ];
    let (_js, ann) = live.serve(background("js-announce", args, "announced"), Duration::from_secs(60)).await;
    let js_pk = hex32(&ann["publicKey"]);
    let now = live.now();
    let op = live.node.lookup(topic2, now);
    live.op(op).await.unwrap();
    let seen = live.log.iter().any(|e| matches!(e, Event::LookupReply { op: o, reply } if *o == op && reply.peers.iter().any(|p| p.public_key == js_pk)));
    assert!(seen, "Rust lookup found the JS record");
    // Unannounce: our record disappears for JS.
    let now = live.now();
    let op = live.node.unannounce(topic, kp.public_key(), now);
    live.op(op).await.unwrap();
    let now = live.now();
    let op = live.node.lookup(topic, now);
    live.op(op).await.unwrap();
    let still = live
        .log
        .iter()
        .any(|e| matches!(e, Event::LookupReply { op: o, reply } if *o == op && !reply.peers.is_empty()));
    assert!(!still, "JS nodes removed the record on our UNANNOUNCE");
}

#[tokio::test(flavor = "current_thread")]
async fn rust_client_connects_to_a_js_echo_server() {
    let (_t, boot) = testnet();
    let mut live = Live::new(boot.clone()).await;
    let b = boot.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
    let seed = "33".repeat(32);
    let args = vec!["echo-server".into(), "--bootstrap".into(), b, "--seed".into(), seed];
    let (_js, listening) =
        live.serve(background("js-echo", args, "listening"), Duration::from_secs(60)).await;
    let server_pk = hex32(&listening["publicKey"]);
    let kp = KeyPair::from_seed(&[0x44; 32]);
    let now = live.now();
    let conn = live.holder.connect(&mut live.node, &kp, server_pk, now);
    let connected = |l: &Live| {
        l.log.iter().any(|e| matches!(e, Event::Connected { conn: c, .. } | Event::ConnectFailed { conn: c, .. } if *c == conn))
    };
    assert!(live.run_until(Duration::from_secs(30), connected).await);
    let stream = live
        .log
        .iter()
        .find_map(|e| match e {
            Event::Connected { conn: c, stream, .. } if *c == conn => Some(*stream),
            Event::ConnectFailed { conn: c, error } if *c == conn => panic!("connect failed: {error}"),
            _ => None,
        })
        .unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    live.holder.send(stream, b"hello from rust");
    live.holder.send(stream, &big);
    let echoed =
        |l: &Live| l.holder.conns.get(&stream).is_some_and(|c| c.received.concat().len() >= 15 + big.len());
    assert!(live.run_until(Duration::from_secs(30), echoed).await, "echo did not come back");
    let mut want = b"hello from rust".to_vec();
    want.extend_from_slice(&big);
    assert_eq!(live.holder.conns[&stream].received.concat(), want);
    assert_eq!(live.holder.conns[&stream].remote_public_key, server_pk);
}

#[tokio::test(flavor = "current_thread")]
async fn js_client_connects_to_a_rust_server() {
    let (_t, boot) = testnet();
    let mut live = Live::new(boot.clone()).await;
    live.holder.echo = Some(Vec::new()); // plain echo, as the JS client expects its bytes back
    let kp = KeyPair::from_seed(&[0x55; 32]);
    let now = live.now();
    let server = live.holder.listen(&mut live.node, &kp, now);
    let announced = |l: &Live| {
        l.log.iter().any(|e| matches!(e, Event::ServerAnnounced { server: s, relays } if *s == server && !relays.is_empty()))
    };
    assert!(live.run_until(Duration::from_secs(30), announced).await, "self-announce");
    let b = boot.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
    let args = vec![
        "connect".into(),
        "--bootstrap".into(),
        b,
        "--key".into(),
        hex::encode(kp.public_key()),
        "--bytes".into(),
        "65536".into(),
        "--seed".into(),
        "66".repeat(32),
    ];
    let (_js, echoed) = live.serve(background("js-connect", args, "echoed"), Duration::from_secs(60)).await;
    assert_eq!(echoed["ok"], true, "{echoed}");
    assert_eq!(echoed["bytes"], 65536);
    let incoming =
        live.log.iter().filter(|e| matches!(e, Event::Incoming { server: s, .. } if *s == server)).count();
    let asked = live.log.iter().filter(|e| matches!(e, Event::IncomingHandshake { .. })).count();
    assert_eq!((incoming, asked), (1, 1), "one handshake for every copy of msg1");
    let js_pk = KeyPair::from_seed(&[0x66; 32]).public_key();
    assert!(live.holder.conns.values().any(|c| c.remote_public_key == js_pk));
}

#[tokio::test(flavor = "current_thread")]
async fn records_interop_both_ways() {
    let (_t, boot) = testnet();
    let mut live = Live::new(boot.clone()).await;
    let b = boot.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
    // Rust mutable_put → JS mutable-get.
    let kp = KeyPair::from_seed(&[0x77; 32]);
    live.holder.keys.insert(kp.public_key(), kp.clone());
    let now = live.now();
    let op = live.node.mutable_put(kp.public_key(), b"rust value".to_vec(), 3, now);
    let OpOutcome::Committed(c) = live.op(op).await.unwrap() else { panic!() };
    assert!(!c.is_empty() && c.iter().all(|c| c.result == Ok(0)), "{c:?}");
    let args = vec![
        "mutable-get".into(),
        "--bootstrap".into(),
        b.clone(),
        "--key".into(),
        hex::encode(kp.public_key()),
    ];
    let (_p, got) = live.serve(background("js-mget", args, "mutable-get"), Duration::from_secs(60)).await;
    assert_eq!((got["found"].clone(), got["seq"].clone()), (Value::Bool(true), Value::from(3)));
    assert_eq!(got["value"], hex::encode(b"rust value"));
    // Same seq, other value: every JS node answers SEQ_REUSED.
    let now = live.now();
    let op = live.node.mutable_put(kp.public_key(), b"other".to_vec(), 3, now);
    let OpOutcome::Committed(c) = live.op(op).await.unwrap() else { panic!() };
    assert!(c.iter().all(|c| c.result == Ok(16)), "{c:?}");
    // JS immutable-put → Rust immutable_get.
    let value = b"js immutable".to_vec();
    let args = vec!["immutable-put".into(), "--bootstrap".into(), b, "--value".into(), hex::encode(&value)];
    let (_p, put) = live.serve(background("js-iput", args, "immutable-put"), Duration::from_secs(60)).await;
    assert_eq!(hex32(&put["hash"]), hash(&value));
    let now = live.now();
    let op = live.node.immutable_get(hash(&value), now);
    let OpOutcome::Immutable(Some((_, got))) = live.op(op).await.unwrap() else { panic!("not found") };
    assert_eq!(got, value);
}

/// A Rust persistent node running on its own thread until `stop`; returns it when done.
fn relay_node(boot: Vec<SocketAddrV4>, stop: Arc<AtomicBool>) -> (u16, JoinHandle<Live>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut relay = Live::with(boot, true, true).await;
            let persistent = |l: &Live| l.node.rpc().id().is_some();
            assert!(relay.run_until(Duration::from_secs(10), persistent).await, "persistent");
            tx.send(relay.port()).unwrap();
            relay.run_until(Duration::from_secs(300), |_| stop.load(Ordering::Relaxed)).await;
            relay
        })
    });
    (rx.recv_timeout(Duration::from_secs(30)).unwrap(), h)
}

#[tokio::test(flavor = "current_thread")]
async fn rust_persistent_node_stores_and_routes_for_js_peers() {
    // A testnet of one ephemeral JS bootstrap node: the Rust relay is the only node that
    // stores anything, so every record, self-announce and handshake goes through it.
    let t = peer("testnet", &["testnet", "--size", "1"]);
    let boot: Vec<SocketAddrV4> = t.ready["bootstrap"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (relay_port, relay) = relay_node(boot.clone(), stop.clone());
    let b = boot.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");

    // A JS announce commits to the Rust node (it checked the signature over its id and token)
    // and a JS lookup reads the record back from it.
    let mut m = Live::with(boot.clone(), false, false).await;
    let topic = hex::encode([0xb1u8; 32]);
    let args = vec![
        "announce".into(),
        "--bootstrap".into(),
        b.clone(),
        "--topic".into(),
        topic.clone(),
        "--seed".into(),
        "88".repeat(32),
    ];
    let (_a, ann) = m.serve(background("js-announce", args, "announced"), Duration::from_secs(60)).await;
    let commits = ann["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 1, "{ann}");
    assert_eq!(
        (commits[0]["port"].as_u64(), commits[0]["error"].as_u64()),
        (Some(relay_port as u64), Some(0))
    );
    let pk = ann["publicKey"].as_str().unwrap().to_string();
    let args = vec![
        "lookup".into(),
        "--bootstrap".into(),
        b.clone(),
        "--topic".into(),
        topic,
        "--expect-key".into(),
        pk,
    ];
    let (_l, seen) = m.serve(background("js-lookup", args, "peer"), Duration::from_secs(60)).await;
    assert_eq!(
        (seen["publicKey"].clone(), seen["from"]["port"].as_u64()),
        (ann["publicKey"].clone(), Some(relay_port as u64))
    );

    // JS client → Rust relay → Rust server that does not claim to be reachable (firewall
    // UNKNOWN, no holepunch info): the JS client goes direct to the address the relay saw.
    m.holder.echo = Some(Vec::new());
    let kp = KeyPair::from_seed(&[0x5a; 32]);
    let now = m.now();
    let server = m.holder.listen(&mut m.node, &kp, now);
    let announced = |l: &Live| {
        l.log.iter().any(|e| matches!(e, Event::ServerAnnounced { server: s, relays } if *s == server && relays.len() == 1))
    };
    assert!(m.run_until(Duration::from_secs(30), announced).await, "self-announce to the Rust relay");
    let args = vec![
        "connect".into(),
        "--bootstrap".into(),
        b.clone(),
        "--key".into(),
        hex::encode(kp.public_key()),
        "--bytes".into(),
        "20000".into(),
    ];
    let (_c, echoed) = m.serve(background("js-connect", args, "echoed"), Duration::from_secs(60)).await;
    assert_eq!(echoed["ok"], true, "{echoed}");

    // Rust client (reachable) → Rust relay → JS echo server (firewalled).
    let mut c = Live::new(boot.clone()).await;
    let args = vec!["echo-server".into(), "--bootstrap".into(), b, "--seed".into(), "99".repeat(32)];
    let (_s, listening) = c.serve(background("js-echo", args, "listening"), Duration::from_secs(60)).await;
    let server_pk = hex32(&listening["publicKey"]);
    let client = KeyPair::from_seed(&[0x5b; 32]);
    let now = c.now();
    let conn = c.holder.connect(&mut c.node, &client, server_pk, now);
    let connected =
        |l: &Live| l.log.iter().any(|e| matches!(e, Event::Connected { conn: x, .. } if *x == conn));
    assert!(c.run_until(Duration::from_secs(30), connected).await, "{:?}", c.log.last());
    let stream = c
        .log
        .iter()
        .find_map(|e| if let Event::Connected { stream, .. } = e { Some(*stream) } else { None })
        .unwrap();
    c.holder.send(stream, b"through the rust relay");
    let echoed = |l: &Live| l.holder.conns.get(&stream).is_some_and(|x| !x.received.is_empty());
    assert!(c.run_until(Duration::from_secs(30), echoed).await);
    assert_eq!(c.holder.conns[&stream].received, vec![b"through the rust relay".to_vec()]);

    stop.store(true, Ordering::Relaxed);
    let relay = relay.join().unwrap();
    assert_eq!(relay.node.stored_records(), 1, "the JS announce");
    assert!(relay.node.stored_relay(&hash(&kp.public_key())).is_some(), "the Rust server's self-announce");
    assert!(relay.node.stored_relay(&hash(&server_pk)).is_some(), "the JS server's self-announce");
    assert!(relay.handshakes_sent >= 2, "relayed FROM_RELAY handshakes: {}", relay.handshakes_sent);
    drop(t);
}
