//! `RelayClient` against a relay played by hand: a real Protomux on the relay side, real Noise
//! IK peers (`hyperdht::noise_wrap`), hyperdht's signature checks and secret-stream on the
//! resulting keys.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use hyperwasm::crypto::KeyPair;
use hyperwasm::encoding::Compact;
use hyperwasm::hyperdht::constants::error;
use hyperwasm::hyperdht::crypto::{hash, verify_announce, verify_unannounce};
use hyperwasm::hyperdht::messages::{decode, NoisePayload, Peer, UdxInfo};
use hyperwasm::hyperdht::noise_wrap::NoiseWrap;
use hyperwasm::protomux::{ChannelId, ChannelSpec, Mux, MuxEvent};
use hyperwasm::relay_protocol::client::{ClientEvent, Firewall, RelayClient, RelayClientConfig};
use hyperwasm::relay_protocol::messages::{Limits, Message, Resume, SignKind, SignRequest};
use hyperwasm::relay_protocol::{CLIENT_ID_LIMIT, PROTOCOL_NAME};
use hyperwasm::secret_stream::{SecretStream, SecretStreamEvent, SecretStreamOptions};

const TOKEN: [u8; 32] = [0x77; 32];

fn addr(n: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, n), 49_000 + u16::from(n))
}

fn kp(n: u8) -> KeyPair {
    KeyPair::from_seed(&[n; 32])
}

fn with_udx(id: u64) -> NoisePayload {
    NoisePayload {
        udx: Some(UdxInfo { id, ..UdxInfo::default() }),
        addresses4: vec![addr(200)],
        ..NoisePayload::default()
    }
}

/// The relay's end of one WebSocket: its own Protomux, answering the client's open.
struct Relay {
    mux: Mux,
    channel: Option<ChannelId>,
    inbox: VecDeque<Message>,
    /// Sequenced messages received (what the relay would ack).
    received: u64,
}

impl Relay {
    fn new() -> Self {
        Relay { mux: Mux::new(), channel: None, inbox: VecDeque::new(), received: 0 }
    }

    fn feed(&mut self, frame: &[u8]) {
        self.mux.on_message(frame).unwrap();
        while let Some(event) = self.mux.poll_event() {
            match event {
                MuxEvent::RemoteOpen { protocol, id } => {
                    assert_eq!((protocol.as_str(), id), (PROTOCOL_NAME, None));
                    let spec =
                        ChannelSpec { protocol: PROTOCOL_NAME, aliases: &[], id: None, handshake: &[] };
                    self.channel = Some(self.mux.open(spec).unwrap());
                }
                MuxEvent::Opened { handshake, .. } => assert!(handshake.is_empty()),
                MuxEvent::Message { message_type, payload, .. } => {
                    let m = Message::decode(message_type, &payload).unwrap();
                    if m.is_sequenced() {
                        self.received += 1;
                    }
                    self.inbox.push_back(m);
                }
                MuxEvent::Closed { .. } => panic!("client closed the channel"),
            }
        }
    }

    fn send(&mut self, m: &Message) {
        let (t, p) = m.encode();
        self.mux.send(self.channel.unwrap(), t, &p).unwrap();
    }
}

struct Net {
    client: RelayClient,
    relay: Relay,
    now: u64,
}

fn welcome(resumed: bool, token: [u8; 32], received: u64) -> Message {
    let limits = Limits { max_streams: 64, max_servers: 8, max_queries: 64, bytes_per_second: 0 };
    Message::Welcome { resumed, token, received, grace_ms: 30_000, stream_credit: 1 << 20, limits }
}

impl Net {
    fn new(config: RelayClientConfig) -> Net {
        let mut net = Net { client: RelayClient::new(config, 1000), relay: Relay::new(), now: 1000 };
        net.client.on_connected(net.now);
        assert_eq!(net.sent(), Message::Hello { version: 1, resume: None });
        net.deliver(welcome(false, TOKEN, 0));
        assert!(matches!(net.events()[..], [ClientEvent::SessionStarted { grace_ms: 30_000, .. }]));
        assert!(net.client.is_ready());
        net
    }

    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(f) = self.client.poll_transmit() {
                self.relay.feed(&f);
                moved = true;
            }
            while let Some(f) = self.relay.mux.poll_transmit() {
                self.client.handle_frame(&f, self.now).unwrap();
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// The next message the client sent, skipping acks.
    fn sent(&mut self) -> Message {
        self.pump();
        loop {
            match self.relay.inbox.pop_front().expect("the client sent nothing") {
                Message::Ack { .. } => continue,
                m => return m,
            }
        }
    }

    fn nothing_sent(&mut self) {
        self.pump();
        let left: Vec<_> = self.relay.inbox.drain(..).filter(|m| !matches!(m, Message::Ack { .. })).collect();
        let types: Vec<u64> = left.iter().map(Message::message_type).collect();
        assert!(types.is_empty(), "unexpected messages of types {types:?}");
    }

    fn deliver(&mut self, m: Message) {
        self.relay.send(&m);
        self.pump();
    }

    fn events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }
}

fn sign_request(sign: u32, id: u32, kind: SignKind, target: [u8; 32], public_key: [u8; 32]) -> SignRequest {
    SignRequest {
        sign,
        id,
        kind,
        target,
        node_id: [0x11; 32],
        token: [0x22; 32],
        peer: Peer { public_key, relay_addresses: vec![addr(1), addr(2)] },
        refresh: None,
    }
}

#[test]
fn lookup_results_then_done() {
    let mut net = Net::new(RelayClientConfig::default());
    let id = net.client.lookup([5; 32]).unwrap();
    assert!((1..CLIENT_ID_LIMIT).contains(&id));
    assert_eq!(net.sent(), Message::Lookup { id, topic: [5; 32] });
    let peers = vec![Peer { public_key: [9; 32], relay_addresses: vec![addr(3)] }];
    net.deliver(Message::Result { id, from: addr(4), peers: peers.clone() });
    net.deliver(Message::Result { id, from: addr(5), peers: vec![] });
    net.deliver(Message::Done { id, commits: 0 });
    // A late result for a finished query is dropped.
    net.deliver(Message::Result { id, from: addr(6), peers: vec![] });
    assert_eq!(
        net.events(),
        [
            ClientEvent::QueryResult { id, from: addr(4), peers },
            ClientEvent::QueryResult { id, from: addr(5), peers: vec![] },
            ClientEvent::QueryDone { id, commits: 0 },
        ]
    );
    // A failure ends a query with the relay's code.
    let id2 = net.client.find_peer([3; 32]).unwrap();
    assert_ne!(id2, id);
    assert_eq!(net.sent(), Message::FindPeer { id: id2, public_key: [3; 32] });
    net.deliver(Message::Error {
        reference: u64::from(id2),
        code: "PEER_NOT_FOUND".into(),
        message: String::new(),
    });
    assert_eq!(
        net.events(),
        [ClientEvent::QueryFailed { id: id2, code: "PEER_NOT_FOUND".into(), message: String::new() }]
    );
    // Cancel is sent for live queries only.
    let id3 = net.client.lookup([6; 32]).unwrap();
    net.sent();
    net.client.cancel(id3).unwrap();
    net.client.cancel(999).unwrap();
    assert_eq!(net.sent(), Message::Cancel { id: id3 });
    net.nothing_sent();
}

#[test]
fn announce_signatures_verify_only_for_the_right_target_and_key() {
    let mut net = Net::new(RelayClientConfig::default());
    let me = kp(1);
    let topic = [0xaa; 32];
    let id = net.client.announce(topic, &me, vec![addr(1), addr(2)]).unwrap();
    let Message::Announce { public_key, relay_addresses, .. } = net.sent() else { panic!() };
    assert_eq!((public_key, relay_addresses), (me.public_key(), vec![addr(1), addr(2)]));

    // The right request: a signature hyperdht's storing node accepts.
    let s1 = CLIENT_ID_LIMIT + 1;
    let req = sign_request(s1, id, SignKind::Announce, topic, me.public_key());
    net.deliver(Message::Sign(req.clone()));
    let Message::Signature { sign, signature: Some(sig) } = net.sent() else { panic!("refused") };
    assert_eq!(sign, s1);
    assert!(verify_announce(&sig, &topic, &req.node_id, &req.token, &req.peer, None));
    // … and not for another target or as an unannounce.
    assert!(!verify_announce(&sig, &[0xbb; 32], &req.node_id, &req.token, &req.peer, None));
    assert!(!verify_unannounce(&sig, &topic, &req.node_id, &req.token, &req.peer, None));
    // With a refresh token.
    let with_refresh = SignRequest { refresh: Some([3; 32]), ..req.clone() };
    net.deliver(Message::Sign(with_refresh));
    let Message::Signature { signature: Some(sig), .. } = net.sent() else { panic!("refused") };
    assert!(verify_announce(&sig, &topic, &req.node_id, &req.token, &req.peer, Some(&[3; 32])));
    assert!(net.events().is_empty());

    // Wrong target, wrong key, wrong kind, unknown id: refused.
    let bad = [
        (sign_request(s1 + 1, id, SignKind::Announce, [0xbb; 32], me.public_key()), "wrong target"),
        (sign_request(s1 + 2, id, SignKind::Announce, topic, kp(2).public_key()), "wrong public key"),
        (
            sign_request(s1 + 3, id, SignKind::Unannounce, topic, me.public_key()),
            "the query does not sign this kind",
        ),
        (sign_request(s1 + 4, 4242, SignKind::Announce, topic, me.public_key()), "unknown query or server"),
    ];
    for (req, reason) in bad {
        net.deliver(Message::Sign(req.clone()));
        assert_eq!(net.sent(), Message::Signature { sign: req.sign, signature: None }, "{reason}");
        assert_eq!(net.events(), [ClientEvent::SignRefused { id: req.id, reason }]);
    }

    // Unannounce signs under NS_UNANNOUNCE.
    let uid = net.client.unannounce(topic, &me).unwrap();
    assert_eq!(net.sent(), Message::Unannounce { id: uid, topic, public_key: me.public_key() });
    let req = sign_request(s1 + 5, uid, SignKind::Unannounce, topic, me.public_key());
    net.deliver(Message::Sign(req.clone()));
    let Message::Signature { signature: Some(sig), .. } = net.sent() else { panic!("refused") };
    assert!(verify_unannounce(&sig, &topic, &req.node_id, &req.token, &req.peer, None));

    // A server's self-announce: the target is hash(publicKey).
    let server_kp = kp(3);
    let server = net.client.listen(&server_kp, Firewall::AcceptAll).unwrap();
    assert_eq!(net.sent(), Message::Listen { server, public_key: server_kp.public_key() });
    let target = hash(&server_kp.public_key());
    let req = sign_request(s1 + 6, server, SignKind::Announce, target, server_kp.public_key());
    net.deliver(Message::Sign(req.clone()));
    let Message::Signature { signature: Some(sig), .. } = net.sent() else { panic!("refused") };
    assert!(verify_announce(&sig, &target, &req.node_id, &req.token, &req.peer, None));
    net.deliver(Message::Sign(sign_request(
        s1 + 7,
        server,
        SignKind::Announce,
        topic,
        server_kp.public_key(),
    )));
    assert_eq!(net.sent(), Message::Signature { sign: s1 + 7, signature: None });
    net.deliver(Message::Listening { server, relay_addresses: vec![addr(8)] });
    let events = net.events();
    assert_eq!(events.last(), Some(&ClientEvent::Listening { server, relay_addresses: vec![addr(8)] }));

    // A sign id in the client's range is a protocol violation.
    net.relay.send(&Message::Sign(sign_request(5, id, SignKind::Announce, topic, me.public_key())));
    let frame = net.relay.mux.poll_transmit().unwrap();
    assert_eq!(net.client.handle_frame(&frame, net.now).unwrap_err().code(), "BAD_MESSAGE");
}

/// Dials `server` and plays its Noise IK responder; returns the stream and both results.
fn dial(
    net: &mut Net,
    client_kp: &KeyPair,
    server_kp: &KeyPair,
    credit: u64,
) -> (u32, SecretStream, SecretStream) {
    let stream = net.client.connect(server_kp.public_key(), client_kp, vec![addr(9)]).unwrap();
    assert_eq!(
        net.sent(),
        Message::Connect {
            stream,
            remote_public_key: server_kp.public_key(),
            public_key: client_kp.public_key(),
            relay_addresses: vec![addr(9)]
        }
    );
    let offered = with_udx(17);
    net.deliver(Message::NoiseInit { stream, local_payload: offered.to_bytes() });
    let Message::NoiseMsg1 { stream: s, msg1 } = net.sent() else { panic!() };
    assert_eq!(s, stream);
    let mut responder = NoiseWrap::responder(server_kp);
    // The client sent exactly the payload the relay offered.
    assert_eq!(responder.recv(&msg1).unwrap(), offered);
    assert_eq!(responder.remote_public_key(), Some(client_kp.public_key()));
    let reply = with_udx(33);
    let msg2 = responder.send(&reply).unwrap();
    net.deliver(Message::NoiseMsg2 { stream, msg2 });
    let Message::NoiseRemote { stream: s, remote_payload } = net.sent() else { panic!() };
    assert_eq!((s, decode::<NoisePayload>(&remote_payload).unwrap()), (stream, reply));
    assert!(net.events().is_empty());
    net.deliver(Message::Open { stream, remote_address: addr(10), credit });
    let server_result = responder.finish().unwrap().handshake;
    let events = net.events();
    let [ClientEvent::StreamOpen { id, remote_public_key, remote_address, handshake }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!((*id, *remote_public_key, *remote_address), (stream, server_kp.public_key(), addr(10)));
    assert_eq!(
        (handshake.tx, handshake.rx, handshake.hash),
        (server_result.rx, server_result.tx, server_result.hash)
    );
    let opts = SecretStreamOptions::default();
    (
        stream,
        SecretStream::from_handshake(handshake.clone(), opts),
        SecretStream::from_handshake(server_result, opts),
    )
}

/// Carries secret-stream bytes from `from` to `to` through the client's stream.
fn write_through(net: &mut Net, stream: u32, from: &mut SecretStream, to: &mut SecretStream) {
    let bytes = from.take_outgoing();
    assert_eq!(net.client.stream_write(stream, &bytes).unwrap(), bytes.len());
    let mut got = Vec::new();
    net.pump();
    for m in net.relay.inbox.drain(..) {
        match m {
            Message::Data { stream: s, bytes } if s == stream => got.extend(bytes),
            Message::Ack { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    to.on_bytes(&got, 0).unwrap();
}

#[test]
fn connect_runs_noise_ik_and_secret_stream_over_data() {
    let mut net = Net::new(RelayClientConfig::default());
    let (stream, mut client_ss, mut server_ss) = dial(&mut net, &kp(1), &kp(2), 1 << 20);
    write_through(&mut net, stream, &mut client_ss, &mut server_ss);
    // The server's header and a message come back as data.
    server_ss.send(b"hello through the relay").unwrap();
    let back = server_ss.take_outgoing();
    net.deliver(Message::Data { stream, bytes: back.clone() });
    let events = net.events();
    assert_eq!(events, [ClientEvent::StreamData { id: stream, bytes: back.clone() }]);
    client_ss.on_bytes(&back, 0).unwrap();
    let got: Vec<_> = std::iter::from_fn(|| client_ss.poll_event()).collect();
    assert!(matches!(got[0], SecretStreamEvent::Connected { .. }));
    assert_eq!(got[1], SecretStreamEvent::Message(b"hello through the relay".to_vec()));
    // End and close.
    net.client.stream_end(stream).unwrap();
    assert_eq!(net.sent(), Message::End { stream });
    assert!(net.client.stream_write(stream, b"x").is_err());
    net.deliver(Message::End { stream });
    net.deliver(Message::Close { stream, code: String::new() });
    assert_eq!(
        net.events(),
        [
            ClientEvent::StreamEnded { id: stream },
            ClientEvent::StreamClosed { id: stream, code: String::new() }
        ]
    );
}

#[test]
fn a_server_reply_with_an_error_is_refused() {
    let mut net = Net::new(RelayClientConfig::default());
    let (c, s) = (kp(1), kp(2));
    let stream = net.client.connect(s.public_key(), &c, vec![]).unwrap();
    net.sent();
    net.deliver(Message::NoiseInit { stream, local_payload: with_udx(1).to_bytes() });
    let Message::NoiseMsg1 { msg1, .. } = net.sent() else { panic!() };
    let mut responder = NoiseWrap::responder(&s);
    responder.recv(&msg1).unwrap();
    let msg2 = responder.send(&NoisePayload { error: error::ABORTED, ..with_udx(2) }).unwrap();
    net.deliver(Message::NoiseMsg2 { stream, msg2 });
    assert_eq!(net.sent(), Message::Close { stream, code: "SERVER_ERROR".into() });
    assert_eq!(net.events(), [ClientEvent::StreamClosed { id: stream, code: "SERVER_ERROR".into() }]);
    // A garbled msg2 too (with hyperdht's HANDSHAKE_INVALID).
    let stream = net.client.connect(s.public_key(), &c, vec![]).unwrap();
    net.sent();
    net.deliver(Message::NoiseInit { stream, local_payload: with_udx(1).to_bytes() });
    net.sent();
    net.deliver(Message::NoiseMsg2 { stream, msg2: vec![1; 80] });
    assert_eq!(net.sent(), Message::Close { stream, code: "HANDSHAKE_INVALID".into() });
    // A relay failure closes a dial in progress.
    let stream = net.client.connect(s.public_key(), &c, vec![]).unwrap();
    net.sent();
    net.events();
    net.deliver(Message::Close { stream, code: "PEER_NOT_FOUND".into() });
    assert_eq!(net.events(), [ClientEvent::StreamClosed { id: stream, code: "PEER_NOT_FOUND".into() }]);
}

#[test]
fn incoming_handshakes_are_answered_as_ik_responder() {
    let mut net = Net::new(RelayClientConfig::default());
    let (server_kp, remote) = (kp(5), kp(6));
    let server = net.client.listen(&server_kp, Firewall::AcceptAll).unwrap();
    net.sent();

    let hs = CLIENT_ID_LIMIT + 40;
    let mut initiator = NoiseWrap::initiator(&remote, server_kp.public_key());
    let client_payload = with_udx(5);
    let msg1 = initiator.send(&client_payload).unwrap();
    let relay_payload = with_udx(6);
    net.deliver(Message::Handshake {
        server,
        hs,
        peer_address: addr(20),
        msg1,
        local_payload: relay_payload.to_bytes(),
    });
    let Message::Accept { hs: h, msg2, remote_payload } = net.sent() else { panic!() };
    assert_eq!(h, hs);
    assert_eq!(decode::<NoisePayload>(&remote_payload).unwrap(), client_payload);
    // msg2 carries the relay's payload with error NONE.
    assert_eq!(initiator.recv(&msg2).unwrap(), relay_payload);
    let remote_result = initiator.finish().unwrap().handshake;
    let stream = CLIENT_ID_LIMIT + 7;
    net.deliver(Message::Incoming { server, hs, stream, remote_address: addr(21), credit: 4096 });
    let events = net.events();
    let [ClientEvent::Incoming { server: sv, stream: st, remote_public_key, remote_address, handshake }] =
        &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        (*sv, *st, *remote_public_key, *remote_address),
        (server, stream, remote.public_key(), addr(21))
    );
    assert_eq!((handshake.tx, handshake.rx), (remote_result.rx, remote_result.tx));
    assert!(!handshake.is_initiator);
    net.client.stream_write(stream, b"ciphertext").unwrap();
    assert_eq!(net.sent(), Message::Data { stream, bytes: b"ciphertext".to_vec() });

    // A client payload without UDX gets msg2 with error ABORTED and no stream.
    let mut initiator = NoiseWrap::initiator(&remote, server_kp.public_key());
    let msg1 = initiator.send(&NoisePayload::default()).unwrap();
    let hs2 = hs + 1;
    net.deliver(Message::Handshake {
        server,
        hs: hs2,
        peer_address: addr(20),
        msg1,
        local_payload: relay_payload.to_bytes(),
    });
    let Message::Accept { msg2, .. } = net.sent() else { panic!() };
    assert_eq!(initiator.recv(&msg2).unwrap().error, error::ABORTED);
    net.deliver(Message::Incoming {
        server,
        hs: hs2,
        stream: stream + 1,
        remote_address: addr(21),
        credit: 1,
    });
    assert_eq!(net.sent(), Message::Close { stream: stream + 1, code: "UNKNOWN_ID".into() });

    // Garbage msg1 and unknown servers are rejected.
    net.deliver(Message::Handshake {
        server,
        hs: hs + 2,
        peer_address: addr(20),
        msg1: vec![0; 90],
        local_payload: vec![1, 0, 0, 0],
    });
    assert_eq!(net.sent(), Message::Reject { hs: hs + 2 });
    let msg1 = NoiseWrap::initiator(&remote, server_kp.public_key()).send(&client_payload).unwrap();
    net.deliver(Message::Handshake {
        server: 999,
        hs: hs + 3,
        peer_address: addr(20),
        msg1,
        local_payload: vec![1, 0, 0, 0],
    });
    assert_eq!(net.sent(), Message::Reject { hs: hs + 3 });
    assert!(net.events().is_empty());
}

#[test]
fn an_asking_firewall_lets_the_application_decide() {
    let mut net = Net::new(RelayClientConfig { handshake_timeout_ms: 10_000, ..Default::default() });
    let (server_kp, remote) = (kp(5), kp(6));
    let server = net.client.listen(&server_kp, Firewall::Ask).unwrap();
    net.sent();
    for (i, accept) in [(0u32, false), (1, true)] {
        let hs = CLIENT_ID_LIMIT + i;
        let mut initiator = NoiseWrap::initiator(&remote, server_kp.public_key());
        let msg1 = initiator.send(&with_udx(5)).unwrap();
        net.deliver(Message::Handshake {
            server,
            hs,
            peer_address: addr(30),
            msg1,
            local_payload: with_udx(1).to_bytes(),
        });
        net.nothing_sent();
        let events = net.events();
        let [ClientEvent::FirewallRequest { hs: h, remote_public_key, remote_payload, peer_address, .. }] =
            &events[..]
        else {
            panic!("{events:?}")
        };
        assert_eq!(
            (*h, *remote_public_key, remote_payload, *peer_address),
            (hs, remote.public_key(), &with_udx(5), addr(30))
        );
        net.client.firewall_decision(hs, accept).unwrap();
        match net.sent() {
            Message::Reject { hs: h } => assert!(!accept && h == hs),
            Message::Accept { hs: h, msg2, .. } => {
                assert!(accept && h == hs);
                assert_eq!(initiator.recv(&msg2).unwrap().error, error::NONE);
            }
            other => panic!("{other:?}"),
        }
    }
    // A request the application leaves unanswered is rejected at its timeout.
    let hs = CLIENT_ID_LIMIT + 9;
    let msg1 = NoiseWrap::initiator(&remote, server_kp.public_key()).send(&with_udx(5)).unwrap();
    net.deliver(Message::Handshake {
        server,
        hs,
        peer_address: addr(30),
        msg1,
        local_payload: with_udx(1).to_bytes(),
    });
    assert_eq!(net.events().len(), 1);
    let deadline = net.now + 10_000;
    net.now += 200; // the ack of the handshake
    net.client.handle_timeout(net.now);
    net.nothing_sent();
    assert_eq!(net.client.poll_timeout(), Some(deadline));
    net.now = deadline;
    net.client.handle_timeout(net.now);
    assert_eq!(net.sent(), Message::Reject { hs });
    net.client.firewall_decision(hs, true).unwrap();
    net.nothing_sent();
}

#[test]
fn writes_stop_at_the_credit_and_credit_reopens_them() {
    let mut net = Net::new(RelayClientConfig::default());
    let (stream, _, _) = dial(&mut net, &kp(1), &kp(2), 100_000);
    assert_eq!(net.client.stream_writable(stream), 100_000);
    assert_eq!(net.client.stream_write(stream, &[7; 150_000]).unwrap(), 100_000);
    let sizes: Vec<usize> = std::iter::from_fn(|| {
        net.pump();
        net.relay.inbox.pop_front()
    })
    .filter_map(|m| match m {
        Message::Data { bytes, .. } => Some(bytes.len()),
        _ => None,
    })
    .collect();
    assert_eq!(sizes, [65_536, 34_464]);
    assert_eq!(net.client.stream_write(stream, &[7; 10]).unwrap(), 0);
    net.deliver(Message::Credit { stream, bytes: 50_000 });
    assert_eq!(net.events(), [ClientEvent::StreamWritable { id: stream, available: 50_000 }]);
    assert_eq!(net.client.stream_write(stream, &[7; 60_000]).unwrap(), 50_000);
    net.pump();
    net.relay.inbox.clear();

    // Receiving: consumption grants credit back at half the grant; data beyond it closes.
    net.deliver(Message::Data { stream, bytes: vec![1; 60_000] });
    net.events();
    net.client.stream_consumed(stream, 40_000).unwrap();
    net.nothing_sent();
    net.client.stream_consumed(stream, 10_000).unwrap();
    assert_eq!(net.sent(), Message::Credit { stream, bytes: 50_000 });
    // Window now 100_000 − 60_000 + 50_000 = 90_000.
    net.deliver(Message::Data { stream, bytes: vec![1; 60_000] });
    net.deliver(Message::Data { stream, bytes: vec![1; 30_001] });
    assert_eq!(net.sent(), Message::Close { stream, code: "CREDIT_EXCEEDED".into() });
    let events = net.events();
    assert_eq!(
        events.last(),
        Some(&ClientEvent::StreamClosed { id: stream, code: "CREDIT_EXCEEDED".into() })
    );
}

#[test]
fn the_replay_buffer_bounds_writes() {
    let config =
        RelayClientConfig { max_replay_bytes: 200_000, control_headroom: 10_000, ..Default::default() };
    let mut net = Net::new(config);
    let (stream, _, _) = dial(&mut net, &kp(1), &kp(2), 1 << 20);
    // Nothing acknowledged: the replay buffer fills below the credit.
    let n = net.client.stream_write(stream, &vec![0; 1 << 20]).unwrap();
    assert!((180_000..190_000).contains(&n), "{n}");
    assert_eq!(net.client.stream_write(stream, &[0; 100]).unwrap(), 0);
    net.pump();
    // The relay acknowledges everything: room again.
    let received = net.relay.received;
    net.deliver(Message::Ack { received });
    assert!(net.client.stream_write(stream, &[0; 100]).unwrap() == 100);
}

#[test]
fn acks_every_64_messages_or_200_ms_and_keepalive() {
    let mut net = Net::new(RelayClientConfig::default());
    let id = net.client.lookup([1; 32]).unwrap();
    net.sent();
    for _ in 0..63 {
        net.deliver(Message::Result { id, from: addr(1), peers: vec![] });
    }
    assert!(net.relay.inbox.iter().all(|m| !matches!(m, Message::Ack { .. })));
    net.deliver(Message::Result { id, from: addr(1), peers: vec![] });
    assert_eq!(net.relay.inbox.pop_back(), Some(Message::Ack { received: 64 }));
    net.deliver(Message::Done { id, commits: 0 });
    assert_eq!(net.client.poll_timeout(), Some(net.now + 200));
    net.now += 200;
    net.client.handle_timeout(net.now);
    net.pump();
    assert_eq!(net.relay.inbox.pop_back(), Some(Message::Ack { received: 65 }));
    // Keepalive: ping after 15 s of silence, pong answers pings, idle after 45 s.
    net.now += 15_000;
    assert!(net.client.poll_timeout().unwrap() <= net.now);
    net.client.handle_timeout(net.now);
    net.pump();
    assert_eq!(net.relay.inbox.pop_back(), Some(Message::Ping));
    net.deliver(Message::Ping);
    assert_eq!(net.relay.inbox.pop_back(), Some(Message::Pong));
    net.now += 45_000;
    net.client.handle_timeout(net.now);
    assert!(net.events().contains(&ClientEvent::IdleTimeout));
    assert!(!net.client.is_ready());
}

#[test]
fn resume_replays_what_was_lost_in_order_without_duplicates() {
    let mut net = Net::new(RelayClientConfig::default());
    let a = net.client.lookup([1; 32]).unwrap();
    let b = net.client.lookup([2; 32]).unwrap();
    net.pump(); // the relay got a and b (2 sequenced)
    assert_eq!(net.relay.received, 2);
    net.deliver(Message::Result { id: a, from: addr(1), peers: vec![] }); // client processed 1
                                                                          // c is sent but lost with the socket; the relay's result for b is lost too.
    let c = net.client.lookup([3; 32]).unwrap();
    while net.client.poll_transmit().is_some() {}
    net.relay.send(&Message::Result { id: b, from: addr(2), peers: vec![] });
    net.client.on_disconnected(net.now);
    // While disconnected: d is queued, nothing goes out.
    let d = net.client.lookup([4; 32]).unwrap();
    assert!(net.client.poll_transmit().is_none());
    assert!(net.client.poll_timeout().is_some_and(|t| t == net.now + 30_000));

    // New socket: hello resumes with what the client processed.
    net.relay = Relay { received: 2, ..Relay::new() };
    net.client.on_connected(net.now);
    assert_eq!(net.sent(), Message::Hello { version: 1, resume: Some(Resume { token: TOKEN, received: 1 }) });
    net.deliver(welcome(true, TOKEN, 2));
    assert_eq!(
        net.events()[..],
        [ClientEvent::QueryResult { id: a, from: addr(1), peers: vec![] }, ClientEvent::SessionResumed]
    );
    // Exactly c and d, in order, once.
    assert_eq!(net.sent(), Message::Lookup { id: c, topic: [3; 32] });
    assert_eq!(net.sent(), Message::Lookup { id: d, topic: [4; 32] });
    net.nothing_sent();
    assert_eq!(net.relay.received, 4);
    // The relay resends its lost result; the client's acks count it once.
    net.deliver(Message::Result { id: b, from: addr(2), peers: vec![] });
    assert_eq!(net.events(), [ClientEvent::QueryResult { id: b, from: addr(2), peers: vec![] }]);
    net.now += 200;
    net.client.handle_timeout(net.now);
    net.pump();
    assert_eq!(net.relay.inbox.pop_back(), Some(Message::Ack { received: 2 }));
    // After the relay's ack nothing is replayed on the next resume.
    net.deliver(Message::Ack { received: 4 });
    net.client.on_disconnected(net.now);
    net.relay = Relay { received: 4, ..Relay::new() };
    net.client.on_connected(net.now);
    assert_eq!(net.sent(), Message::Hello { version: 1, resume: Some(Resume { token: TOKEN, received: 2 }) });
    net.deliver(welcome(true, TOKEN, 4));
    net.nothing_sent();
}

#[test]
fn an_expired_session_fails_everything() {
    let mut net = Net::new(RelayClientConfig::default());
    let q = net.client.lookup([1; 32]).unwrap();
    let server = net.client.listen(&kp(3), Firewall::AcceptAll).unwrap();
    net.pump();
    net.relay.inbox.clear();
    let (stream, _, _) = dial(&mut net, &kp(1), &kp(2), 1000);
    net.client.on_disconnected(net.now);
    net.relay = Relay::new();
    net.client.on_connected(net.now);
    assert!(matches!(net.sent(), Message::Hello { resume: Some(_), .. }));
    net.deliver(welcome(false, [0x55; 32], 0));
    let code = || "SESSION_EXPIRED".to_owned();
    let events = net.events();
    assert_eq!(
        events[..4],
        [
            ClientEvent::QueryFailed { id: q, code: code(), message: "session expired".into() },
            ClientEvent::ServerClosed { server, code: code() },
            ClientEvent::StreamClosed { id: stream, code: code() },
            ClientEvent::SessionExpired,
        ]
    );
    assert!(matches!(events[4], ClientEvent::SessionStarted { .. }));
    net.nothing_sent();
    // The grace period also expires a session that never reconnects.
    let q = net.client.lookup([1; 32]).unwrap();
    net.client.on_disconnected(net.now);
    net.client.handle_timeout(net.now + 29_999);
    assert!(net.events().is_empty());
    net.client.handle_timeout(net.now + 30_000);
    assert_eq!(net.events().len(), 2);
    net.client.on_connected(net.now + 30_001);
    let mut relay = Relay::new();
    while let Some(f) = net.client.poll_transmit() {
        relay.feed(&f);
    }
    assert_eq!(relay.inbox.pop_front(), Some(Message::Hello { version: 1, resume: None }));
    let _ = q;
}

#[test]
fn protocol_violations_are_errors() {
    let mut net = Net::new(RelayClientConfig::default());
    let mut bad = |m: Message| {
        net.relay.send(&m);
        let frame = net.relay.mux.poll_transmit().unwrap();
        net.client.handle_frame(&frame, net.now).unwrap_err()
    };
    assert!(bad(welcome(false, TOKEN, 0)).is_protocol_violation());
    assert!(bad(Message::Lookup { id: 1, topic: [0; 32] }).is_protocol_violation());
    assert!(bad(Message::Ack { received: 99 }).is_protocol_violation());
    assert!(bad(Message::Incoming {
        server: 1,
        hs: CLIENT_ID_LIMIT,
        stream: 5,
        remote_address: addr(1),
        credit: 1
    })
    .is_protocol_violation());
    // Trailing bytes in a frame.
    let channel = net.relay.channel.unwrap();
    net.relay.mux.send(channel, 3, &[0]).unwrap();
    let frame = net.relay.mux.poll_transmit().unwrap();
    assert_eq!(net.client.handle_frame(&frame, net.now).unwrap_err().code(), "BAD_MESSAGE");
}

#[test]
fn a_relay_that_never_acknowledges_breaks_the_session() {
    let config = RelayClientConfig { max_replay_bytes: 1000, control_headroom: 0, ..Default::default() };
    let mut net = Net::new(config);
    let mut answered = 0;
    let err = loop {
        let req = sign_request(CLIENT_ID_LIMIT + answered, 77, SignKind::Announce, [0; 32], [0; 32]);
        net.relay.send(&Message::Sign(req));
        let frame = net.relay.mux.poll_transmit().unwrap();
        match net.client.handle_frame(&frame, net.now) {
            Ok(()) => answered += 1,
            Err(e) => break e,
        }
        assert!(answered < 100);
    };
    // Each refusal holds 6 + 16 bytes until acknowledged.
    assert_eq!(answered, 1000 / 22);
    assert!(err.is_protocol_violation(), "{err}");
    // An app call meets the full buffer as an ordinary error.
    assert_eq!(net.client.lookup([0; 32]).unwrap_err().code(), "RATE_LIMITED");
}

#[test]
fn the_client_can_move_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<RelayClient>();
    send_and_sync::<ClientEvent>();
}
