//! Our `@hyperswarm/dht-relay` session against the real JS client (0.4.3, non-custodial),
//! frame by frame over stdio (`tests/js/dht-relay-stdio-client.mjs`), with a fake DHT side
//! whose remote peer is real: Rust Noise IK (`NoiseWrap`) and secret-stream at the far end.
//! The JS client runs its Noise handshakes and secret-stream through the session and our
//! Protomux, signs announce records the session checks, and reads lookup results.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use hyperwasm::crypto::KeyPair;
use hyperwasm::hyperdht::crypto::{announce_signable, hash};
use hyperwasm::hyperdht::messages::{NoisePayload, UdxInfo};
use hyperwasm::hyperdht::noise_wrap::{reply_error, NoiseWrap};
use hyperwasm::protomux::{ChannelId, ChannelSpec, Mux, MuxEvent};
use hyperwasm::secret_stream::{SecretStream, SecretStreamEvent, SecretStreamOptions};
use hyperwasm_relay::relay_server::js_compat::codecs::{Announcers, DhtNode, Peer};
use hyperwasm_relay::relay_server::js_compat::dht_side::{
    Answer, AskId, DhtCommand, DhtEvent, ServerId, SignKind, SignOwner, StreamId,
};
use hyperwasm_relay::relay_server::js_compat::messages::PROTOCOL;
use hyperwasm_relay::relay_server::js_compat::session::{Session, SessionConfig, CUSTODIAL_REFUSED};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

enum Line {
    Frame(Vec<u8>),
    Event(Value),
}

struct Js {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Line>,
}

impl Drop for Js {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Js {
    fn spawn(mode: &str, args: Value) -> Js {
        let root = common::repo_root();
        assert!(root.join("tests/js/node_modules/@hyperswarm/dht-relay").is_dir(), "run `make setup`");
        let mut child = Command::new(common::node())
            .arg(root.join("tests/js/dht-relay-stdio-client.mjs"))
            .arg(mode)
            .arg(args.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node is needed for this test (it does not skip)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                let parsed = if let Some(h) = line.strip_prefix("F ") {
                    Line::Frame(hex::decode(h).unwrap())
                } else if let Some(j) = line.strip_prefix("E ") {
                    Line::Event(serde_json::from_str(j).unwrap())
                } else {
                    continue;
                };
                if tx.send(parsed).is_err() {
                    break;
                }
            }
        });
        Js { child, stdin, lines }
    }
}

/// The relay end: our Protomux and session; `dht` plays the DHT side.
struct Relay {
    mux: Mux,
    channel: Option<ChannelId>,
    session: Session,
    now: u64,
    events: Vec<Value>,
}

impl Relay {
    fn new() -> Relay {
        let mut mux = Mux::new();
        let channel = mux.open(ChannelSpec { protocol: PROTOCOL, ..ChannelSpec::default() }).unwrap();
        Relay {
            mux,
            channel: Some(channel),
            session: Session::new(SessionConfig::default(), 0),
            now: 0,
            events: vec![],
        }
    }

    /// Moves bytes both ways and commands to `dht` until `done(events)` or the time limit.
    fn run(
        &mut self,
        js: &mut Js,
        dht: &mut dyn FnMut(DhtCommand, &mut Session),
        done: impl Fn(&[Value]) -> bool,
    ) {
        let start = Instant::now();
        loop {
            // Session → mux → JS.
            while let Some(t) = self.session.poll_transmit() {
                if let Some(ch) = self.channel {
                    self.mux.send(ch, t.message_type, &t.payload).unwrap();
                }
                self.session.on_flushed(t.queued_len());
            }
            while let Some(frame) = self.mux.poll_transmit() {
                writeln!(js.stdin, "F {}", hex::encode(frame)).unwrap();
            }
            js.stdin.flush().unwrap();
            let mut moved = false;
            while let Some(cmd) = self.session.poll_command() {
                dht(cmd, &mut self.session);
                moved = true;
            }
            if moved {
                continue;
            }
            if done(&self.events) || self.session.is_closed() {
                return;
            }
            assert!(start.elapsed() < LIMIT, "timed out; JS events: {:?}", self.events);
            match js.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(Line::Frame(f)) => {
                    self.mux.on_message(&f).unwrap();
                    while let Some(ev) = self.mux.poll_event() {
                        match ev {
                            MuxEvent::RemoteOpen { protocol, .. } => {
                                assert_eq!(protocol, PROTOCOL);
                                self.channel = Some(
                                    self.mux
                                        .open(ChannelSpec { protocol: PROTOCOL, ..Default::default() })
                                        .unwrap(),
                                );
                            }
                            MuxEvent::Message { message_type, payload, .. } => {
                                self.now += 1;
                                self.session.handle_message(message_type, &payload, self.now);
                            }
                            MuxEvent::Opened { .. } | MuxEvent::Closed { .. } => {}
                        }
                    }
                }
                Ok(Line::Event(e)) => self.events.push(e),
                Err(_) => {}
            }
        }
    }
}

fn addr(a: u8, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, a), port)
}

fn payload(stream_id: u64) -> NoisePayload {
    NoisePayload {
        firewall: 1,
        addresses4: vec![addr(50, 4000)],
        udx: Some(UdxInfo { id: stream_id, seq: 0, ..UdxInfo::default() }),
        ..NoisePayload::default()
    }
}

/// Hands what the far end's secret-stream wrote to the session as stream data.
fn pump(far: &mut SecretStream, stream: StreamId, s: &mut Session) {
    let out = far.take_outgoing();
    if !out.is_empty() {
        s.handle_dht(DhtEvent::Data { stream, data: out }, 0);
    }
}

fn has(events: &[Value], e: &str) -> bool {
    events.iter().any(|v| v["event"] == e)
}

fn js_key(seed: u8) -> KeyPair {
    // DHT.keyPair(seed) is hypercore-crypto's keyPair(seed): the same Ed25519 seed.
    KeyPair::from_seed(&[seed; 32])
}

#[test]
fn a_js_server_signs_its_announce_and_accepts_a_rust_peer_through_the_session() {
    let js_kp = js_key(3);
    let peer_kp = KeyPair::from_seed(&[0x77; 32]);
    let mut js = Js::spawn("server", json!({"seed": 3}));
    let mut relay = Relay::new();
    let relays = vec![addr(1, 49737), addr(2, 49737)];
    let (node_id, token) = ([0x4e; 32], [0x70; 32]);
    let client_payload = payload(11);
    let server_payload = payload(22);
    let mut server = None;
    let mut initiator = Some(NoiseWrap::initiator(&peer_kp, js_kp.public_key()));
    let mut far: Option<SecretStream> = None;
    let mut far_stream = StreamId(0);
    let received = RefCell::new(Vec::new());
    let mut signed = false;
    let mut dht = |cmd: DhtCommand, s: &mut Session| match cmd {
        DhtCommand::Listen { server: id, public_key } => {
            assert_eq!(public_key, js_kp.public_key());
            server = Some(id);
            let target = hash(&public_key);
            let peer = Peer { public_key, relay_addresses: relays.clone() };
            let signable = announce_signable(&target, &node_id, &token, &peer, None);
            let owner = SignOwner::Server(id);
            let kind = SignKind::Announce;
            s.handle_dht(
                DhtEvent::Sign {
                    ask: AskId(1),
                    owner,
                    kind,
                    target,
                    node_id,
                    token,
                    peer,
                    refresh: None,
                    signable,
                },
                0,
            );
        }
        DhtCommand::Answer(Answer::Sign { ask: AskId(1), signature }) => {
            // The JS client signed the record with its real relay addresses, and it verifies.
            let sig = signature.expect("the JS client's announce signature verifies");
            let peer = Peer { public_key: js_kp.public_key(), relay_addresses: relays.clone() };
            let signable = announce_signable(&hash(&js_kp.public_key()), &node_id, &token, &peer, None);
            assert!(hyperwasm::crypto::sign::verify(&signable, &sig, &js_kp.public_key()));
            signed = true;
            let id: ServerId = server.unwrap();
            s.handle_dht(
                DhtEvent::Listening {
                    server: id,
                    address: addr(100, 49737),
                    relay_addresses: relays.clone(),
                },
                0,
            );
            // A Rust peer dials the JS server.
            let msg1 = initiator.as_mut().unwrap().send(&client_payload).unwrap();
            let local_payload = Box::new(server_payload.clone());
            s.handle_dht(
                DhtEvent::Handshake {
                    ask: AskId(2),
                    server: id,
                    msg1,
                    local_payload,
                    peer_address: addr(9, 9),
                },
                0,
            );
        }
        DhtCommand::Answer(Answer::Handshake { ask: AskId(2), accept }) => {
            let acc = accept.expect("the JS server accepts");
            assert_eq!(acc.remote_payload, client_payload, "JS decrypted our peer's payload");
            let mut w = initiator.take().unwrap();
            let theirs = w.recv(&acc.msg2).unwrap();
            assert_eq!(theirs, server_payload, "msg2 carries the relay-built payload");
            let result = w.finish().unwrap();
            let mut ss = SecretStream::from_handshake(result.handshake, SecretStreamOptions::default());
            ss.start(0);
            ss.send(b"hello through the relay").unwrap();
            far_stream = acc.stream;
            s.handle_dht(DhtEvent::Incoming { stream: acc.stream, remote_address: addr(9, 9) }, 0);
            pump(&mut ss, acc.stream, s);
            far = Some(ss);
        }
        DhtCommand::Write { stream, data } => {
            assert_eq!(stream, far_stream);
            let ss = far.as_mut().unwrap();
            ss.on_bytes(&data, 0).unwrap();
            while let Some(ev) = ss.poll_event() {
                if let SecretStreamEvent::Message(m) = ev {
                    received.borrow_mut().push(m);
                }
            }
            pump(ss, stream, s);
        }
        other => panic!("unexpected {other:?}"),
    };
    // Until the JS server's echo came back through the session to our far end.
    relay.run(&mut js, &mut dht, |_| !received.borrow().is_empty());
    assert!(signed);
    let ev = &relay.events;
    let listening = ev.iter().find(|e| e["event"] == "listening").unwrap();
    assert_eq!((listening["host"].as_str(), listening["port"].as_u64()), (Some("10.0.0.100"), Some(49737)));
    let conn = ev.iter().find(|e| e["event"] == "connection").unwrap();
    assert_eq!(conn["remotePublicKey"], hex::encode(peer_kp.public_key()));
    assert!(ev.iter().any(|e| e["event"] == "data" && e["data"] == "hello through the relay"), "{ev:?}");
    assert_eq!(*received.borrow(), vec![b"hello through the relay".to_vec()]);
}

#[test]
fn a_js_client_dials_a_rust_server_through_the_session() {
    let server_kp = KeyPair::from_seed(&[0x55; 32]);
    let mut js = Js::spawn(
        "client",
        json!({"seed": 4, "remote": hex::encode(server_kp.public_key()), "message": "ping from js"}),
    );
    let mut relay = Relay::new();
    let client_payload = payload(5);
    let mut responder = Some(NoiseWrap::responder(&server_kp));
    let mut server_payload = payload(6);
    let mut far: Option<SecretStream> = None;
    let mut conn = StreamId(0);
    let mut dht = |cmd: DhtCommand, s: &mut Session| match cmd {
        DhtCommand::Connect { stream, public_key, remote_public_key } => {
            assert_eq!(public_key, js_key(4).public_key());
            assert_eq!(remote_public_key, server_kp.public_key());
            conn = stream;
            s.handle_dht(
                DhtEvent::InitiatorMessage {
                    ask: AskId(1),
                    stream,
                    local_payload: Box::new(client_payload.clone()),
                },
                0,
            );
        }
        DhtCommand::Answer(Answer::InitiatorMessage { ask: AskId(1), msg1 }) => {
            let w = responder.as_mut().unwrap();
            let got = w.recv(&msg1.expect("JS wrote msg1")).unwrap();
            assert_eq!(got, client_payload, "msg1 carries the relay-built payload");
            assert_eq!(w.remote_public_key(), Some(js_key(4).public_key()));
            server_payload.error = reply_error(&got);
            let msg2 = w.send(&server_payload).unwrap();
            s.handle_dht(DhtEvent::ResponderMessage { ask: AskId(2), stream: conn, msg2 }, 0);
        }
        DhtCommand::Answer(Answer::ResponderMessage { ask: AskId(2), remote_payload }) => {
            assert_eq!(*remote_payload.expect("JS decrypted msg2"), server_payload);
            let result = responder.take().unwrap().finish().unwrap();
            let mut ss = SecretStream::from_handshake(result.handshake, SecretStreamOptions::default());
            ss.start(0);
            let out = ss.take_outgoing();
            far = Some(ss);
            s.handle_dht(DhtEvent::Connected { stream: conn, remote_address: addr(50, 4000) }, 0);
            if !out.is_empty() {
                s.handle_dht(DhtEvent::Data { stream: conn, data: out }, 0);
            }
        }
        DhtCommand::Write { stream, data } => {
            assert_eq!(stream, conn);
            let ss = far.as_mut().unwrap();
            ss.on_bytes(&data, 0).unwrap();
            while let Some(ev) = ss.poll_event() {
                if let SecretStreamEvent::Message(m) = ev {
                    ss.send(&m).unwrap(); // echo
                }
            }
            let out = ss.take_outgoing();
            if !out.is_empty() {
                s.handle_dht(DhtEvent::Data { stream, data: out }, 0);
            }
        }
        DhtCommand::End { stream } => s.handle_dht(DhtEvent::End { stream }, 0),
        other => panic!("unexpected {other:?}"),
    };
    relay.run(&mut js, &mut dht, |ev| has(ev, "data"));
    let ev = &relay.events;
    assert!(has(ev, "open"), "{ev:?}");
    assert!(ev.iter().any(|e| e["event"] == "data" && e["data"] == "ping from js"), "{ev:?}");
}

#[test]
fn a_js_client_reads_lookup_results_and_signs_announces() {
    let topic = [0x0b; 32];
    let reply = Announcers {
        token: [1; 32],
        from: DhtNode { id: Some(vec![2; 32]), address: addr(7, 49737) },
        to: DhtNode { id: None, address: addr(8, 1234) },
        peers: vec![Peer { public_key: [3; 32], relay_addresses: vec![addr(9, 9)] }],
    };
    let mut js = Js::spawn("lookup", json!({"seed": 5, "topic": hex::encode(topic)}));
    let mut relay = Relay::new();
    let r = reply.clone();
    let mut dht = |cmd: DhtCommand, s: &mut Session| match cmd {
        DhtCommand::Lookup { query, topic: t } => {
            assert_eq!(t, topic);
            s.handle_dht(DhtEvent::QueryReply { query, reply: r.clone() }, 0);
            s.handle_dht(DhtEvent::QueryDone { query }, 0);
        }
        other => panic!("unexpected {other:?}"),
    };
    relay.run(&mut js, &mut dht, |ev| has(ev, "finished"));
    let result = relay.events.iter().find(|e| e["event"] == "result").unwrap();
    assert_eq!(result["token"], hex::encode([1; 32]));
    assert_eq!(result["from"], json!({"id": hex::encode([2; 32]), "host": "10.0.0.7", "port": 49737}));
    assert_eq!(result["to"], json!({"id": null, "host": "10.0.0.8", "port": 1234}));
    assert_eq!(
        result["peers"],
        json!([{"publicKey": hex::encode([3; 32]), "relayAddresses": [{"host": "10.0.0.9", "port": 9}]}])
    );

    // announce: the record's signature comes from the JS client and verifies.
    let kp = js_key(6);
    let mut js = Js::spawn("announce", json!({"seed": 6, "topic": hex::encode(topic)}));
    let mut relay = Relay::new();
    let peer = Peer { public_key: kp.public_key(), relay_addresses: vec![addr(4, 4)] };
    let (node_id, token) = ([0x31; 32], [0x32; 32]);
    let signable = announce_signable(&topic, &node_id, &token, &peer, None);
    let mut query_id = 0;
    let mut verified = false;
    let mut dht = |cmd: DhtCommand, s: &mut Session| match cmd {
        DhtCommand::Announce { query, topic: t, public_key, relay_addresses } => {
            assert_eq!((t, public_key, relay_addresses), (topic, kp.public_key(), vec![]));
            query_id = query;
            let owner = SignOwner::Query(query);
            let p = peer.clone();
            let kind = SignKind::Announce;
            s.handle_dht(
                DhtEvent::Sign {
                    ask: AskId(9),
                    owner,
                    kind,
                    target: topic,
                    node_id,
                    token,
                    peer: p,
                    refresh: None,
                    signable,
                },
                0,
            );
        }
        DhtCommand::Answer(Answer::Sign { ask: AskId(9), signature }) => {
            let sig = signature.expect("the JS signature verifies");
            assert!(hyperwasm::crypto::sign::verify(&signable, &sig, &kp.public_key()));
            verified = true;
            s.handle_dht(DhtEvent::QueryDone { query: query_id }, 0);
        }
        other => panic!("unexpected {other:?}"),
    };
    relay.run(&mut js, &mut dht, |ev| has(ev, "finished"));
    assert!(verified);
}

#[test]
fn a_custodial_js_client_is_refused() {
    let mut js = Js::spawn("lookup", json!({"seed": 7, "custodial": true, "topic": hex::encode([1; 32])}));
    let mut relay = Relay::new();
    let mut dht = |cmd: DhtCommand, _: &mut Session| panic!("nothing reaches the DHT: {cmd:?}");
    relay.run(&mut js, &mut dht, |_| false);
    assert_eq!(relay.session.close_reason().unwrap().code, CUSTODIAL_REFUSED);
}
