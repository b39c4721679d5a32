//! `hyperwasm-relay serve` on loopback with an embedded testnet: the HTTP routes, the origin
//! allow-list, and a raw WebSocket client speaking `hyperwasm-relay/1` with hand-built
//! Protomux frames (hello/welcome, a lookup of a record a plain DHT node announced, an announce
//! signed by the client that a plain DHT node then finds, a bad message that ends only its own
//! session, and the drain).

#![allow(clippy::unwrap_used)]

mod common;

use common::relay_ws::{open_frame, recv, send, Socket, V1};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyperwasm::crypto::KeyPair;
use hyperwasm::relay_protocol::messages::{Message, SignKind as WireKind};
use hyperwasm_relay::dht::{Dht, DhtConfig};
use hyperwasm_relay::hyperdht::{SignKind, SignParts};
use hyperwasm_relay::relay_server::{start, RelayArgs, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Ws;

const LIMIT: Duration = Duration::from_secs(20);
const GOOD_ORIGIN: &str = "http://good.example";

async fn relay(web_root: &std::path::Path) -> Running {
    let mut args = RelayArgs::defaults(SocketAddr::from(([127, 0, 0, 1], 0)));
    args.local_testnet = Some(3);
    args.web_root = web_root.to_path_buf();
    args.origin = vec![GOOD_ORIGIN.into()];
    args.drain_secs = 2;
    start(args).await.unwrap()
}

/// `GET path` over a raw TCP connection: (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    timeout(LIMIT, s.read_to_end(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

async fn connect(addr: SocketAddr, origin: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{addr}/relay").into_client_request().unwrap();
    req.headers_mut().insert("origin", origin.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.map(|(s, _)| s)
}

async fn hello(ws: &mut Socket) -> [u8; 32] {
    ws.send(Ws::Binary(open_frame(V1))).await.unwrap();
    send(ws, &Message::Hello { version: 1, resume: None }).await;
    match recv(ws).await {
        Message::Welcome { resumed: false, token, received: 0, stream_credit, limits, .. } => {
            assert_eq!(stream_credit, 1024 * 1024);
            assert_eq!((limits.max_streams, limits.max_servers, limits.max_queries), (64, 8, 32));
            token
        }
        other => panic!("{other:?}"),
    }
}

async fn plain_node(running: &Running) -> Dht {
    let mut cfg = DhtConfig::client(running.testnet.clone().unwrap());
    cfg.bind = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let dht = Dht::bind(cfg).await.unwrap();
    timeout(LIMIT, dht.ready()).await.unwrap().unwrap();
    dht
}

async fn wait_ready(addr: SocketAddr) {
    for _ in 0..200 {
        let (status, body) = get(addr, "/healthz").await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if v["dhtReady"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the relay's DHT node never became ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_origin_and_a_v1_session_end_to_end() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<h1>demo</h1>").unwrap();
    let running = relay(web.path()).await;
    let addr = running.addr;
    wait_ready(addr).await;

    // Static files and metrics.
    let (status, body) = get(addr, "/index.html").await;
    assert_eq!((status, body.as_str()), (200, "<h1>demo</h1>"));
    let (status, metrics) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("\nhyperwasm_relay_sessions 0\n"), "{metrics}");
    assert!(metrics.contains("hyperwasm_relay_dht_ready 1"));

    // A foreign origin is refused before the upgrade.
    match connect(addr, "http://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }

    // A record announced by a plain node is found through the relay.
    let plain = plain_node(&running).await;
    let topic = [42u8; 32];
    let kp = KeyPair::from_seed(&[1; 32]);
    timeout(LIMIT, plain.announce(topic, &kp, Vec::new())).await.unwrap().unwrap();

    let mut ws = connect(addr, GOOD_ORIGIN).await.unwrap();
    let token = hello(&mut ws).await;
    assert_ne!(token, [0; 32]);
    send(&mut ws, &Message::Lookup { id: 1, topic }).await;
    let mut found = false;
    loop {
        match recv(&mut ws).await {
            Message::Result { id: 1, peers, .. } => {
                found |= peers.iter().any(|p| p.public_key == kp.public_key())
            }
            Message::Done { id: 1, .. } => break,
            Message::Ack { .. } | Message::Ping => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(found, "the lookup through the relay found the record");

    // An announce the client signs: the relay asks, the client checks and signs.
    let client_kp = KeyPair::from_seed(&[2; 32]);
    let topic2 = [43u8; 32];
    let announce = Message::Announce {
        id: 2,
        topic: topic2,
        public_key: client_kp.public_key(),
        relay_addresses: vec![],
    };
    send(&mut ws, &announce).await;
    let mut signed = 0;
    let commits = loop {
        match recv(&mut ws).await {
            Message::Sign(req) => {
                assert_eq!((req.id, req.kind), (2, WireKind::Announce));
                assert_eq!(req.target, topic2);
                assert_eq!(req.peer.public_key, client_kp.public_key());
                let parts = SignParts {
                    kind: SignKind::Announce,
                    target: req.target,
                    node_id: req.node_id,
                    token: req.token,
                    peer: req.peer.clone(),
                    refresh: req.refresh,
                };
                let signature = Some(client_kp.sign(&parts.signable()));
                send(&mut ws, &Message::Signature { sign: req.sign, signature }).await;
                signed += 1;
            }
            Message::Done { id: 2, commits } => break commits,
            Message::Result { id: 2, .. } | Message::Ack { .. } | Message::Ping => {}
            other => panic!("{other:?}"),
        }
    };
    assert!(signed > 0 && commits > 0, "signed {signed}, commits {commits}");
    let replies = timeout(LIMIT, plain.lookup(topic2).unwrap().collect()).await.unwrap().unwrap();
    assert!(replies.iter().flat_map(|r| &r.peers).any(|p| p.public_key == client_kp.public_key()));

    // A bad message ends its own session only.
    let mut bad = connect(addr, GOOD_ORIGIN).await.unwrap();
    hello(&mut bad).await;
    bad.send(Ws::Binary(vec![1, 99])).await.unwrap();
    match recv(&mut bad).await {
        Message::Error { reference: 0, code, .. } => assert_eq!(code, "BAD_MESSAGE"),
        other => panic!("{other:?}"),
    }
    let close = timeout(LIMIT, bad.next()).await.unwrap();
    assert!(matches!(close, Some(Ok(Ws::Close(Some(ref f)))) if u16::from(f.code) == 1002), "{close:?}");
    // Text is refused too (1003), again only for that socket.
    let mut text = connect(addr, GOOD_ORIGIN).await.unwrap();
    text.send(Ws::Text("hello".into())).await.unwrap();
    let close = timeout(LIMIT, text.next()).await.unwrap();
    assert!(matches!(close, Some(Ok(Ws::Close(Some(ref f)))) if u16::from(f.code) == 1003), "{close:?}");
    // The first session still answers.
    send(&mut ws, &Message::Ping).await;
    loop {
        match recv(&mut ws).await {
            Message::Pong => break,
            Message::Ack { .. } | Message::Ping => {}
            other => panic!("{other:?}"),
        }
    }
    let (_, metrics) = get(addr, "/metrics").await;
    assert!(metrics.contains("hyperwasm_relay_refused_total{reason=\"origin\"} 1"), "{metrics}");
    assert!(metrics.contains("hyperwasm_relay_errors_total{code=\"BAD_MESSAGE\"} 1"), "{metrics}");
    assert!(metrics.contains("\nhyperwasm_relay_sessions 1\n"), "{metrics}");

    // Drain: the session hears RELAY_DRAINING, then its socket closes.
    let drained = tokio::spawn(running.drain(Duration::from_secs(5)));
    match recv(&mut ws).await {
        Message::Error { code, .. } => assert_eq!(code, "RELAY_DRAINING"),
        other => panic!("{other:?}"),
    }
    let close = timeout(LIMIT, ws.next()).await.unwrap();
    assert!(matches!(close, Some(Ok(Ws::Close(Some(ref f)))) if u16::from(f.code) == 1001), "{close:?}");
    timeout(LIMIT, drained).await.unwrap().unwrap();
    plain.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_relay_channel_is_served_and_refuses_custodial_and_an_unknown_version_too() {
    use hyperwasm_relay::relay_server::js_compat::messages::{Handshake, Message as JsMessage, SecretKey};
    let web = tempfile::tempdir().unwrap();
    let running = relay(web.path()).await;
    let mut ws = connect(running.addr, GOOD_ORIGIN).await.unwrap();
    let name = b"@hyperswarm/dht-relay";
    let mut open = vec![0, 1, 1, name.len() as u8];
    open.extend_from_slice(name);
    open.push(0);
    ws.send(Ws::Binary(open.clone())).await.unwrap();
    // The relay opens the same channel (its channel 1): the JS relay's Protomux pairs them.
    let msg = timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(msg, Ws::Binary(open));
    // ping (type 1) on channel 1 → pong (type 2).
    ws.send(Ws::Binary(vec![1, 1])).await.unwrap();
    let msg = timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(msg, Ws::Binary(vec![1, 2]));
    // A custodial handshake (a secret key on the wire): close 1008 CUSTODIAL_REFUSED.
    let kp = KeyPair::generate().unwrap();
    let hs = JsMessage::Handshake(Handshake {
        public_key: kp.public_key(),
        secret_key: Some(SecretKey::from_bytes([7; 64])),
    });
    let mut frame = vec![1, 0];
    frame.extend_from_slice(&hs.to_bytes());
    ws.send(Ws::Binary(frame)).await.unwrap();
    let close = timeout(LIMIT, ws.next()).await.unwrap();
    assert!(
        matches!(close, Some(Ok(Ws::Close(Some(ref f)))) if u16::from(f.code) == 1008 && f.reason == "CUSTODIAL_REFUSED"),
        "{close:?}"
    );

    let mut ws = connect(running.addr, GOOD_ORIGIN).await.unwrap();
    ws.send(Ws::Binary(open_frame(V1))).await.unwrap();
    send(&mut ws, &Message::Hello { version: 2, resume: None }).await;
    match recv(&mut ws).await {
        Message::Error { code, .. } => assert_eq!(code, "UNSUPPORTED_VERSION"),
        other => panic!("{other:?}"),
    }
    running.drain(Duration::from_secs(1)).await;
}

/// Counts sequenced messages from the relay and acks them now and then.
struct Acker(u64);

impl Acker {
    async fn saw(&mut self, ws: &mut Socket, m: &Message) {
        if m.is_sequenced() {
            self.0 += 1;
            if self.0.is_multiple_of(16) {
                send(ws, &Message::Ack { received: self.0 }).await;
            }
        }
    }
}

/// Bridges relay stream `stream` (opened with `credit`) to a local byte pipe: the pipe's bytes
/// go out as `data` within the credit the relay grants, `data` from the relay is written into
/// the pipe and credited back; `end` both ways. Returns the pipe's other end and a task that
/// ends with the stream's close code.
fn bridge(
    mut ws: Socket,
    mut acker: Acker,
    stream: u32,
    credit: u64,
) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<String>) {
    let (local, mut pipe) = tokio::io::duplex(64 * 1024);
    let pump = tokio::spawn(async move {
        let mut allowance = credit;
        let mut consumed = 0u64;
        let mut buf = vec![0u8; 16 * 1024];
        let mut ended = false;
        loop {
            tokio::select! {
                n = pipe.read(&mut buf), if allowance > 0 && !ended => {
                    let n = n.unwrap();
                    if n == 0 {
                        send(&mut ws, &Message::End { stream }).await;
                        ended = true;
                        continue;
                    }
                    let n = n.min(allowance as usize);
                    allowance -= n as u64;
                    send(&mut ws, &Message::Data { stream, bytes: buf[..n].to_vec() }).await;
                }
                m = recv(&mut ws) => {
                    acker.saw(&mut ws, &m).await;
                    match m {
                        Message::Data { stream: s, bytes } if s == stream => {
                            pipe.write_all(&bytes).await.unwrap();
                            consumed += bytes.len() as u64;
                            if consumed >= credit / 2 {
                                send(&mut ws, &Message::Credit { stream, bytes: consumed }).await;
                                consumed = 0;
                            }
                        }
                        Message::Credit { stream: s, bytes } if s == stream => allowance += bytes,
                        Message::End { stream: s } if s == stream => pipe.shutdown().await.unwrap(),
                        Message::Close { stream: s, code } if s == stream => return code,
                        Message::Ack { .. } | Message::Ping | Message::Result { .. } => {}
                        other => panic!("{other:?}"),
                    }
                }
            }
        }
    });
    (local, pump)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_through_the_relay_carries_secret_stream_end_to_end() {
    use hyperwasm::encoding::Compact;
    use hyperwasm::hyperdht::messages::NoisePayload;
    use hyperwasm::hyperdht::noise_wrap::{check_server_payload, NoiseWrap};
    use hyperwasm_relay::dht::EncryptedStream;

    let web = tempfile::tempdir().unwrap();
    let running = relay(web.path()).await;
    wait_ready(running.addr).await;
    let plain = plain_node(&running).await;
    let server_kp = KeyPair::from_seed(&[7; 32]);
    let mut server = plain.listen(&server_kp).await.unwrap();
    // The plain server echoes everything, then ends.
    let echo = tokio::spawn(async move {
        let conn = server.accept().await.unwrap();
        let (mut r, mut w) = tokio::io::split(conn.encrypted());
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
        server
    });

    let client_kp = KeyPair::from_seed(&[8; 32]);
    let mut ws = connect(running.addr, GOOD_ORIGIN).await.unwrap();
    hello(&mut ws).await;
    let mut acker = Acker(0);
    let connect = Message::Connect {
        stream: 5,
        remote_public_key: server_kp.public_key(),
        public_key: client_kp.public_key(),
        relay_addresses: vec![],
    };
    send(&mut ws, &connect).await;
    // Noise IK runs here, in the client; the relay only routes it.
    let mut wrap = None;
    let mut result = None;
    let credit = loop {
        let m = recv(&mut ws).await;
        acker.saw(&mut ws, &m).await;
        match m {
            Message::NoiseInit { stream: 5, local_payload } => {
                let payload = NoisePayload::from_bytes(&local_payload).unwrap();
                let mut w = NoiseWrap::initiator(&client_kp, server_kp.public_key());
                let msg1 = w.send(&payload).unwrap();
                wrap = Some(w);
                send(&mut ws, &Message::NoiseMsg1 { stream: 5, msg1 }).await;
            }
            Message::NoiseMsg2 { stream: 5, msg2 } => {
                let mut w = wrap.take().unwrap();
                let remote = w.recv(&msg2).unwrap();
                check_server_payload(&remote).unwrap();
                result = Some(w.finish().unwrap());
                send(&mut ws, &Message::NoiseRemote { stream: 5, remote_payload: remote.to_bytes() }).await;
            }
            Message::Open { stream: 5, credit, .. } => break credit,
            Message::Ack { .. } | Message::Ping => {}
            other => panic!("{other:?}"),
        }
    };
    let result = result.expect("the handshake finished before open");

    // Bridge the relay stream to a local byte pipe and run secret-stream on the pipe.
    let (local, pump) = bridge(ws, acker, 5, credit);
    let mut enc = EncryptedStream::new(local, result.handshake);
    // 3 MiB: more than the credit, so grants must flow both ways.
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = tokio::io::split(&mut enc);
    let sent = data.clone();
    let (wrote, got) = tokio::join!(
        async move {
            w.write_all(&sent).await.unwrap();
            w.shutdown().await.unwrap();
        },
        async move {
            let mut got = Vec::new();
            timeout(Duration::from_secs(60), r.read_to_end(&mut got)).await.unwrap().unwrap();
            got
        }
    );
    let () = wrote;
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the echo came back intact");
    let code = timeout(LIMIT, pump).await.unwrap().unwrap();
    assert_eq!(code, "", "both sides ended: a clean close");
    timeout(LIMIT, echo).await.unwrap().unwrap();
    running.drain(Duration::from_secs(1)).await;
    plain.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_the_relay_accepts_a_plain_client() {
    use hyperwasm::encoding::Compact;
    use hyperwasm::hyperdht::crypto::hash;
    use hyperwasm::hyperdht::messages::NoisePayload;
    use hyperwasm::hyperdht::noise_wrap::{reply_error, NoiseWrap};
    use hyperwasm_relay::dht::EncryptedStream;

    let web = tempfile::tempdir().unwrap();
    let running = relay(web.path()).await;
    wait_ready(running.addr).await;
    let server_kp = KeyPair::from_seed(&[9; 32]);
    let mut ws = connect(running.addr, GOOD_ORIGIN).await.unwrap();
    hello(&mut ws).await;
    let mut acker = Acker(0);
    send(&mut ws, &Message::Listen { server: 3, public_key: server_kp.public_key() }).await;
    // Self-announce signatures, then `listening`.
    let mut signed = 0;
    loop {
        let m = recv(&mut ws).await;
        acker.saw(&mut ws, &m).await;
        match m {
            Message::Sign(req) => {
                assert_eq!((req.id, req.kind), (3, WireKind::Announce));
                assert_eq!(req.target, hash(&server_kp.public_key()), "a server announces under hash(key)");
                assert_eq!(req.peer.public_key, server_kp.public_key());
                let parts = SignParts {
                    kind: SignKind::Announce,
                    target: req.target,
                    node_id: req.node_id,
                    token: req.token,
                    peer: req.peer.clone(),
                    refresh: req.refresh,
                };
                let signature = Some(server_kp.sign(&parts.signable()));
                send(&mut ws, &Message::Signature { sign: req.sign, signature }).await;
                signed += 1;
            }
            Message::Listening { server: 3, relay_addresses } => {
                assert!(!relay_addresses.is_empty());
                break;
            }
            Message::Ack { .. } | Message::Ping => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(signed > 0);

    // A plain node dials the key; the handshake is answered by the client through the relay.
    let plain = plain_node(&running).await;
    let client_kp = KeyPair::from_seed(&[10; 32]);
    let dial = tokio::spawn({
        let plain = plain.clone();
        let server_pk = server_kp.public_key();
        async move { plain.connect(server_pk, &client_kp, Vec::new()).await.unwrap() }
    });
    let mut result = None;
    let (stream, credit) = loop {
        let m = recv(&mut ws).await;
        acker.saw(&mut ws, &m).await;
        match m {
            Message::Handshake { server: 3, hs, msg1, local_payload, .. } => {
                let mut w = NoiseWrap::responder(&server_kp);
                let remote = w.recv(&msg1).unwrap();
                let mut local = NoisePayload::from_bytes(&local_payload).unwrap();
                local.error = reply_error(&remote);
                let msg2 = w.send(&local).unwrap();
                result = Some((hs, w.finish().unwrap()));
                send(&mut ws, &Message::Accept { hs, msg2, remote_payload: remote.to_bytes() }).await;
            }
            Message::Incoming { server: 3, hs, stream, credit, .. } => {
                assert_eq!(Some(hs), result.as_ref().map(|(h, _)| *h));
                assert!(stream >= 1 << 31, "incoming streams have relay ids");
                break (stream, credit);
            }
            Message::Ack { .. } | Message::Ping | Message::Sign(_) => {}
            other => panic!("{other:?}"),
        }
    };
    let (_, result) = result.unwrap();
    assert_eq!(result.handshake.remote_public_key, KeyPair::from_seed(&[10; 32]).public_key());
    let (local, pump) = bridge(ws, acker, stream, credit);
    let mut enc = EncryptedStream::new(local, result.handshake);
    let conn = timeout(LIMIT, dial).await.unwrap().unwrap();
    let mut plain_side = conn.encrypted();
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 249) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        plain_side.write_all(&sent).await.unwrap();
        plain_side.shutdown().await.unwrap();
        let mut back = Vec::new();
        plain_side.read_to_end(&mut back).await.unwrap();
        back
    });
    let mut got = Vec::new();
    timeout(Duration::from_secs(60), enc.read_to_end(&mut got)).await.unwrap().unwrap();
    assert!(got == data, "the plain client's bytes arrived intact ({} of {})", got.len(), data.len());
    enc.write_all(b"ok").await.unwrap();
    enc.shutdown().await.unwrap();
    assert_eq!(timeout(LIMIT, writer).await.unwrap().unwrap(), b"ok");
    assert_eq!(timeout(LIMIT, pump).await.unwrap().unwrap(), "");
    running.drain(Duration::from_secs(1)).await;
    plain.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_resumes_and_gets_what_it_missed() {
    use hyperwasm::relay_protocol::messages::Resume;

    let web = tempfile::tempdir().unwrap();
    let running = relay(web.path()).await;
    wait_ready(running.addr).await;
    let plain = plain_node(&running).await;
    let topic = [44u8; 32];
    let kp = KeyPair::from_seed(&[11; 32]);
    timeout(LIMIT, plain.announce(topic, &kp, Vec::new())).await.unwrap().unwrap();

    let mut ws = connect(running.addr, GOOD_ORIGIN).await.unwrap();
    let token = hello(&mut ws).await;
    send(&mut ws, &Message::Lookup { id: 1, topic }).await;
    drop(ws); // gone before reading a single reply

    let mut ws = connect(running.addr, GOOD_ORIGIN).await.unwrap();
    ws.send(Ws::Binary(open_frame(V1))).await.unwrap();
    send(&mut ws, &Message::Hello { version: 1, resume: Some(Resume { token, received: 0 }) }).await;
    match recv(&mut ws).await {
        Message::Welcome { resumed: true, token: t, received, .. } => {
            assert_eq!(t, token);
            assert_eq!(received, 1, "the relay processed the lookup");
        }
        other => panic!("{other:?}"),
    }
    let mut found = false;
    loop {
        match recv(&mut ws).await {
            Message::Result { id: 1, peers, .. } => {
                found |= peers.iter().any(|p| p.public_key == kp.public_key())
            }
            Message::Done { id: 1, .. } => break,
            Message::Ack { .. } | Message::Ping => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(found, "the replies sent while detached were replayed");

    // An unknown token starts a new session.
    let mut other = connect(running.addr, GOOD_ORIGIN).await.unwrap();
    other.send(Ws::Binary(open_frame(V1))).await.unwrap();
    send(&mut other, &Message::Hello { version: 1, resume: Some(Resume { token: [1; 32], received: 0 }) })
        .await;
    match recv(&mut other).await {
        Message::Welcome { resumed: false, token: t, .. } => assert_ne!(t, [1; 32]),
        m => panic!("{m:?}"),
    }
    running.drain(Duration::from_secs(1)).await;
    plain.destroy().await;
}

/// More lookups at once than the relay's DHT node runs queries (its cap is 128): 6 sessions
/// × 30 lookups each. Every one ends with `done` (they wait for one of the relay's query
/// permits); none fails with the node's overload error (which read `DESTROYED`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_concurrent_lookups_than_the_node_runs_all_finish() {
    let web = tempfile::tempdir().unwrap();
    let running = relay(web.path()).await;
    wait_ready(running.addr).await;
    let mut tasks = Vec::new();
    for s in 0..6u8 {
        let addr = running.addr;
        tasks.push(tokio::spawn(async move {
            let mut ws = connect(addr, GOOD_ORIGIN).await.unwrap();
            hello(&mut ws).await;
            for id in 1..=30u32 {
                send(
                    &mut ws,
                    &Message::Lookup { id, topic: [s.wrapping_mul(31).wrapping_add(id as u8); 32] },
                )
                .await;
            }
            let (mut done, mut failed) = (0, Vec::new());
            while done + failed.len() < 30 {
                match timeout(Duration::from_secs(60), recv(&mut ws)).await.expect("every lookup ends") {
                    Message::Done { .. } => done += 1,
                    Message::Error { reference, code, .. } => failed.push((reference, code)),
                    _ => {}
                }
            }
            (done, failed)
        }));
    }
    for t in tasks {
        let (done, failed) = t.await.unwrap();
        assert!(failed.is_empty(), "failed lookups: {failed:?}");
        assert_eq!(done, 30);
    }
    running.drain(Duration::from_secs(1)).await;
}
