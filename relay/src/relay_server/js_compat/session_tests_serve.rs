//! Session tests, continued: servers, malformed input, backpressure, limits, arbitrary input.

use super::*;

// --- listen ---------------------------------------------------------------------------------

/// `listen` up to `listening`; returns the server.
fn listen(h: &mut Harness, alias: u32, kp: &KeyPair) -> ServerId {
    h.client(Message::Listen(Listen { alias, public_key: kp.public_key(), secret_key: None }));
    let DhtCommand::Listen { server, public_key } = h.one_cmd() else { panic!() };
    assert_eq!(public_key, kp.public_key());
    // The self-announce's signature, for target hash(publicKey) with the record's addresses.
    let peer = Peer { public_key: kp.public_key(), relay_addresses: vec![] };
    let target = hash(&kp.public_key());
    h.dht(sign_event(50, SignOwner::Server(server), SignKind::Announce, target, peer));
    let Message::SignAnnounce(req) = h.one_out() else { panic!() };
    assert_eq!(req.signee, alias, "the client's server alias is its signee");
    h.client(Message::Signature { id: req.id, signature: js_signee_signature(kp, &target, &req, true) });
    assert!(matches!(h.one_cmd(), DhtCommand::Answer(Answer::Sign { signature: Some(_), .. })));
    h.dht(DhtEvent::Listening {
        server,
        address: addr(100, 49737),
        relay_addresses: vec![addr(3, 3), addr(4, 4)],
    });
    assert_eq!(
        h.one_out(),
        Message::Listening { alias: server.0, remote_alias: alias, address: addr(100, 49737) }
    );
    server
}

#[test]
fn a_server_whose_key_is_not_proven_is_closed() {
    let kp = KeyPair::from_seed(&[9; 32]);
    let other = KeyPair::from_seed(&[10; 32]);
    let peer = Peer { public_key: kp.public_key(), relay_addresses: vec![] };
    let target = hash(&kp.public_key());
    // Signed by another key, refused (empty), or never answered: the server is closed.
    for answer in [Some(other), None] {
        let mut h = Harness::new();
        h.client(Message::Listen(Listen { alias: 1, public_key: kp.public_key(), secret_key: None }));
        let DhtCommand::Listen { server, .. } = h.one_cmd() else { panic!() };
        h.dht(sign_event(50, SignOwner::Server(server), SignKind::Announce, target, peer.clone()));
        let Message::SignAnnounce(req) = h.one_out() else { panic!() };
        let signature = answer.map(|k| js_signee_signature(&k, &target, &req, true)).unwrap_or_default();
        h.client(Message::Signature { id: req.id, signature });
        let cmds = h.cmds();
        assert!(matches!(cmds[0], DhtCommand::Answer(Answer::Sign { signature: None, .. })), "{cmds:?}");
        assert_eq!(cmds[1..], [DhtCommand::Unlisten { server }]);
    }
    let mut h = Harness::new();
    h.client(Message::Listen(Listen { alias: 1, public_key: kp.public_key(), secret_key: None }));
    let DhtCommand::Listen { server, .. } = h.one_cmd() else { panic!() };
    h.dht(sign_event(50, SignOwner::Server(server), SignKind::Announce, target, peer.clone()));
    let Message::SignAnnounce(_) = h.one_out() else { panic!() };
    h.s.handle_timeout(h.now + SessionConfig::default().sign_timeout_ms);
    let cmds = h.cmds();
    assert!(matches!(cmds[0], DhtCommand::Answer(Answer::Sign { signature: None, .. })), "{cmds:?}");
    assert_eq!(cmds[1..], [DhtCommand::Unlisten { server }]);

    // Proven once (the `listen` helper signs): a later refusal keeps the server.
    let mut h = Harness::new();
    let server = listen(&mut h, 1, &kp);
    h.dht(sign_event(51, SignOwner::Server(server), SignKind::Announce, target, peer));
    let Message::SignAnnounce(req) = h.one_out() else { panic!() };
    h.client(Message::Signature { id: req.id, signature: Vec::new() });
    let cmds = h.cmds();
    assert_eq!(cmds.len(), 1, "{cmds:?}");
}

/// A peer dials the server: returns (stream, handshake id) once `connection` went out.
fn incoming(h: &mut Harness, server: ServerId, ask: u64) -> (StreamId, u32) {
    let local = payload(true);
    h.dht(DhtEvent::Handshake {
        ask: AskId(ask),
        server,
        msg1: vec![0x41; 96],
        local_payload: Box::new(local.clone()),
        peer_address: addr(8, 8),
    });
    let Message::NoiseReceive(recv) = h.one_out() else { panic!() };
    assert_eq!(recv.role, NoiseReceiveRole::Responder { server_alias: server.0 });
    assert_eq!(recv.payload, vec![0x41; 96]);
    let remote = payload(true);
    h.client(Message::NoiseReply(NoiseReply {
        id: recv.id,
        is_initiator: false,
        payload: remote.to_bytes(),
        remote_public_key: Some([0xee; 32]),
        complete: None,
    }));
    let Message::NoiseSend(send) = h.one_out() else { panic!() };
    assert_eq!((send.id, send.role), (recv.id, NoiseSendRole::Responder));
    assert_eq!(send.payload, local.to_bytes(), "error NONE for a UDX client of our version");
    h.client(Message::NoiseReply(NoiseReply {
        id: recv.id,
        is_initiator: false,
        payload: vec![0x42; 72],
        remote_public_key: None,
        complete: Some(Completion { remote_id: [1; 32], holepunch_secret: [2; 32] }),
    }));
    let DhtCommand::Answer(Answer::Handshake { ask: a, accept: Some(acc) }) = h.one_cmd() else { panic!() };
    assert_eq!(a, AskId(ask));
    let Accepted { msg2, remote_payload, stream } = *acc;
    assert_eq!((msg2, remote_payload), (vec![0x42; 72], remote));
    assert!(h.out().is_empty(), "nothing before the stream connects");
    h.dht(DhtEvent::Incoming { stream, remote_address: addr(8, 8) });
    assert_eq!(
        h.one_out(),
        Message::Connection(Connection {
            alias: stream.0,
            server_alias: server.0,
            remote_public_key: [0xee; 32],
            handshake: HandshakeRef::Id(recv.id),
        })
    );
    (stream, recv.id)
}

#[test]
fn listen_accepts_connections_through_the_client_and_pairs_them() {
    let kp = KeyPair::from_seed(&[7; 32]);
    let mut h = Harness::new();
    let server = listen(&mut h, 30, &kp);
    let (stream, _) = incoming(&mut h, server, 60);
    // Data may flow before the client's `connected`.
    h.dht(DhtEvent::Data { stream, data: vec![1] });
    assert_eq!(h.one_out(), Message::Data { alias: stream.0, data: vec![vec![1]] });
    h.client(Message::Connected { alias: 31, remote_alias: stream.0 });
    h.client(Message::Data { alias: 31, data: vec![vec![2]] });
    assert_eq!(h.one_cmd(), DhtCommand::Write { stream, data: vec![2] });
    // An announce of the server's key carries the server's relay addresses.
    h.client(Message::Announce(Announce {
        id: 40,
        topic: [1; 32],
        public_key: kp.public_key(),
        secret_key: None,
    }));
    assert_eq!(
        h.one_cmd(),
        DhtCommand::Announce {
            query: 40,
            topic: [1; 32],
            public_key: kp.public_key(),
            relay_addresses: vec![addr(3, 3), addr(4, 4)]
        }
    );
    h.dht(DhtEvent::Closed { stream, error: Some("ETIMEDOUT".into()) });
    assert_eq!(
        h.one_out(),
        Message::Destroy(Destroy {
            target: DestroyTarget::Paired { alias: stream.0 },
            error: Some("ETIMEDOUT".into())
        })
    );
    // close → Unlisten → closed with the relay's alias.
    h.client(Message::Close { alias: 30 });
    assert_eq!(h.cmds(), vec![DhtCommand::Unlisten { server }]);
    h.client(Message::Close { alias: 30 });
    assert!(h.cmds().is_empty());
    h.dht(DhtEvent::ServerClosed { server });
    assert_eq!(h.one_out(), Message::Closed { alias: server.0 });
}

#[test]
fn the_client_firewall_denies_and_payload_errors_are_set() {
    let kp = KeyPair::from_seed(&[8; 32]);
    let mut h = Harness::new();
    let server = listen(&mut h, 1, &kp);
    // Denial: an empty payload.
    h.dht(DhtEvent::Handshake {
        ask: AskId(1),
        server,
        msg1: vec![1; 96],
        local_payload: Box::new(payload(true)),
        peer_address: addr(1, 1),
    });
    let Message::NoiseReceive(recv) = h.one_out() else { panic!() };
    h.client(Message::NoiseReply(NoiseReply {
        id: recv.id,
        is_initiator: false,
        payload: vec![],
        remote_public_key: Some([1; 32]),
        complete: None,
    }));
    assert_eq!(h.one_cmd(), DhtCommand::Answer(Answer::Handshake { ask: AskId(1), accept: None }));
    assert!(h.out().is_empty());
    // A client payload without UDX gets error ABORTED in ours, as hyperdht's server sets it.
    h.dht(DhtEvent::Handshake {
        ask: AskId(2),
        server,
        msg1: vec![1; 96],
        local_payload: Box::new(payload(true)),
        peer_address: addr(1, 1),
    });
    let Message::NoiseReceive(recv) = h.one_out() else { panic!() };
    h.client(Message::NoiseReply(NoiseReply {
        id: recv.id,
        is_initiator: false,
        payload: payload(false).to_bytes(),
        remote_public_key: Some([1; 32]),
        complete: None,
    }));
    let Message::NoiseSend(send) = h.one_out() else { panic!() };
    let ours: NoisePayload = hyperwasm::hyperdht::messages::decode(&send.payload).unwrap();
    assert_eq!(ours.error, payload_errors::ABORTED);
    // Handshakes for a closing server are refused.
    h.client(Message::Close { alias: 1 });
    h.cmds();
    h.dht(DhtEvent::Handshake {
        ask: AskId(3),
        server,
        msg1: vec![1; 96],
        local_payload: Box::new(payload(true)),
        peer_address: addr(1, 1),
    });
    assert_eq!(h.one_cmd(), DhtCommand::Answer(Answer::Handshake { ask: AskId(3), accept: None }));
    // The server's end refuses its open handshake.
    h.dht(DhtEvent::ServerClosed { server });
    assert_eq!(h.one_cmd(), DhtCommand::Answer(Answer::Handshake { ask: AskId(2), accept: None }));
}

#[test]
fn an_incoming_stream_the_client_never_pairs_can_be_destroyed_unpaired() {
    let kp = KeyPair::from_seed(&[9; 32]);
    let mut h = Harness::new();
    let server = listen(&mut h, 1, &kp);
    let (stream, _) = incoming(&mut h, server, 1);
    h.client(Message::Destroy(Destroy {
        target: DestroyTarget::Unpaired { remote_alias: stream.0 },
        error: None,
    }));
    assert_eq!(h.one_cmd(), DhtCommand::Destroy { stream });
    // An accepted handshake that never connects is forgotten without a word to the client.
    let (stream2, _) = {
        h.dht(DhtEvent::Handshake {
            ask: AskId(9),
            server,
            msg1: vec![1; 96],
            local_payload: Box::new(payload(true)),
            peer_address: addr(1, 1),
        });
        let Message::NoiseReceive(recv) = h.one_out() else { panic!() };
        for complete in [None, Some(Completion { remote_id: [1; 32], holepunch_secret: [1; 32] })] {
            let p = if complete.is_some() { vec![5; 72] } else { payload(true).to_bytes() };
            let rpk = complete.is_none().then_some([1; 32]);
            h.client(Message::NoiseReply(NoiseReply {
                id: recv.id,
                is_initiator: false,
                payload: p,
                remote_public_key: rpk,
                complete,
            }));
        }
        h.out();
        let DhtCommand::Answer(Answer::Handshake { accept: Some(acc), .. }) = h.one_cmd() else { panic!() };
        (acc.stream, recv.id)
    };
    h.dht(DhtEvent::HandshakeFailed { stream: stream2 });
    assert!(h.out().is_empty());
    assert_eq!(h.s.stream_count(), 0);
}

// --- malformed input, close, backpressure -------------------------------------------------------

#[test]
fn malformed_messages_close_only_this_session_and_tear_everything_down() {
    let kp = KeyPair::from_seed(&[10; 32]);
    let mut h = Harness::new();
    let (stream, _) = connect(&mut h, 5);
    let server = listen(&mut h, 6, &kp);
    h.client(Message::Lookup { id: 7, topic: [7; 32] });
    h.cmds();
    // Unknown types are ignored and trailing bytes accepted, as in JS.
    h.s.handle_message(28, &[1, 2, 3], h.now);
    h.s.handle_message(MessageType::Ping as u64, &[9, 9], h.now);
    assert_eq!(h.one_out(), Message::Pong);
    h.dht(DhtEvent::Handshake {
        ask: AskId(70),
        server,
        msg1: vec![1; 96],
        local_payload: Box::new(payload(true)),
        peer_address: addr(1, 1),
    });
    h.out();
    assert!(!h.s.is_closed());
    // A truncated `data`.
    h.s.handle_message(MessageType::Data as u64, &[5, 0, 0], h.now);
    assert_eq!(h.s.close_reason().unwrap().code, BAD_MESSAGE);
    assert_eq!(
        h.cmds(),
        vec![
            DhtCommand::Destroy { stream },
            DhtCommand::Unlisten { server },
            DhtCommand::CancelQuery { query: 7 },
            DhtCommand::Answer(Answer::Handshake { ask: AskId(70), accept: None }),
        ]
    );
    // Asks arriving afterwards are refused; reports are ignored.
    h.dht(sign_event(
        1,
        SignOwner::Server(server),
        SignKind::Announce,
        [0; 32],
        Peer { public_key: [0; 32], relay_addresses: vec![] },
    ));
    h.dht(DhtEvent::Data { stream, data: vec![1] });
    assert_eq!(h.cmds(), vec![DhtCommand::Answer(Answer::Sign { ask: AskId(1), signature: None })]);
    assert!(h.out().is_empty());
}

#[test]
fn reading_pauses_above_the_high_water_mark_and_resumes_below_the_low() {
    let config = SessionConfig { high_water: 10_000, low_water: 2_500, ..SessionConfig::default() };
    let mut h = Harness::with(config);
    let (stream, _) = connect(&mut h, 1);
    for _ in 0..9 {
        h.dht(DhtEvent::Data { stream, data: vec![0; 1000] });
    }
    assert!(h.cmds().is_empty());
    h.dht(DhtEvent::Data { stream, data: vec![0; 1000] });
    assert!(h.s.queued_bytes() > 10_000);
    assert_eq!(h.cmds(), vec![DhtCommand::PauseReading]);
    assert!(h.s.is_reading_paused());
    // Polled is not flushed: still paused until the socket reports the bytes written.
    let polled: Vec<_> = std::iter::from_fn(|| h.s.poll_transmit()).collect();
    assert_eq!(polled.len(), 10);
    assert!(h.cmds().is_empty());
    for t in &polled[..7] {
        h.s.on_flushed(t.queued_len());
    }
    assert!(h.cmds().is_empty(), "3 KiB still queued");
    h.s.on_flushed(polled[7].queued_len());
    assert_eq!(h.cmds(), vec![DhtCommand::ResumeReading]);
    assert_eq!(
        h.s.queued_bytes(),
        2 * 1010,
        "two 1 KB data messages (1000 + 8 bytes of payload, 2 of framing)"
    );
}

#[test]
fn limits_and_reused_aliases() {
    let config = SessionConfig { max_streams: 1, max_queries: 1, ..SessionConfig::default() };
    let mut h = Harness::with(config);
    connect(&mut h, 1);
    h.client(Message::Connect(Connect {
        alias: 2,
        public_key: [1; 32],
        secret_key: None,
        remote_public_key: [2; 32],
    }));
    assert!(matches!(
        h.one_out(),
        Message::Destroy(Destroy { target: DestroyTarget::Unpaired { remote_alias: 2 }, error: Some(e) }) if e.starts_with("LIMIT_STREAMS")
    ));
    h.client(Message::Lookup { id: 1, topic: [0; 32] });
    h.client(Message::Lookup { id: 2, topic: [0; 32] });
    assert_eq!(h.out(), vec![Message::Finished { id: 2 }]);
    assert_eq!(h.cmds().len(), 1);
    h.client(Message::Connect(Connect {
        alias: 1,
        public_key: [1; 32],
        secret_key: None,
        remote_public_key: [2; 32],
    }));
    assert_eq!(h.s.close_reason().unwrap().code, ID_IN_USE);
}

// --- arbitrary frames -----------------------------------------------------------------------

fn frame() -> impl Strategy<Value = (u64, Vec<u8>)> {
    let valid = prop_oneof![
        any::<u32>().prop_map(|id| Message::Lookup { id: id % 4, topic: [1; 32] }),
        (any::<u32>(), any::<bool>()).prop_map(|(a, p)| Message::Destroy(Destroy {
            target: if p {
                DestroyTarget::Paired { alias: a % 4 }
            } else {
                DestroyTarget::Unpaired { remote_alias: a % 4 }
            },
            error: None
        })),
        any::<u32>().prop_map(|a| Message::Data { alias: a % 4, data: vec![vec![1; 3]] }),
        any::<u32>().prop_map(|a| Message::Connect(Connect {
            alias: a % 4,
            public_key: [1; 32],
            secret_key: None,
            remote_public_key: [2; 32]
        })),
        any::<u32>().prop_map(|a| Message::Listen(Listen {
            alias: a % 4,
            public_key: [1; 32],
            secret_key: None
        })),
        (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(
            |(id, p)| Message::NoiseReply(NoiseReply {
                id: id % 4,
                is_initiator: id.is_multiple_of(2),
                payload: p,
                remote_public_key: (id % 2 == 1).then_some([1; 32]),
                complete: None
            })
        ),
        any::<u32>().prop_map(|id| Message::Signature { id: id % 4, signature: vec![0; 64] }),
    ]
    .prop_map(|m| (m.kind() as u64, m.to_bytes()));
    prop_oneof![valid, (0u64..32, proptest::collection::vec(any::<u8>(), 0..120))]
}

fn dht_event() -> impl Strategy<Value = DhtEvent> {
    let s = (1u32..6).prop_map(StreamId);
    prop_oneof![
        (s.clone(), any::<u64>()).prop_map(|(stream, a)| DhtEvent::InitiatorMessage {
            ask: AskId(a % 8),
            stream,
            local_payload: Box::new(payload(true))
        }),
        (s.clone(), any::<u64>()).prop_map(|(stream, a)| DhtEvent::ResponderMessage {
            ask: AskId(a % 8),
            stream,
            msg2: vec![1; 10]
        }),
        (1u32..4, any::<u64>()).prop_map(|(srv, a)| DhtEvent::Handshake {
            ask: AskId(a % 8),
            server: ServerId(srv),
            msg1: vec![1; 10],
            local_payload: Box::new(payload(true)),
            peer_address: addr(1, 1)
        }),
        s.clone().prop_map(|stream| DhtEvent::Connected { stream, remote_address: addr(1, 1) }),
        s.clone().prop_map(|stream| DhtEvent::Incoming { stream, remote_address: addr(1, 1) }),
        s.clone().prop_map(|stream| DhtEvent::Data { stream, data: vec![1; 5] }),
        s.clone().prop_map(|stream| DhtEvent::Closed { stream, error: None }),
        s.prop_map(|stream| DhtEvent::ConnectFailed { stream, error: "X".into() }),
        (1u32..4).prop_map(|srv| DhtEvent::Listening {
            server: ServerId(srv),
            address: addr(1, 1),
            relay_addresses: vec![]
        }),
        (1u32..4).prop_map(|srv| DhtEvent::ServerClosed { server: ServerId(srv) }),
        (0u32..4).prop_map(|q| DhtEvent::QueryDone { query: q }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames_and_events_never_panic(
        steps in proptest::collection::vec(prop_oneof![frame().prop_map(Ok), dht_event().prop_map(Err)], 0..60),
        handshake_first in any::<bool>(),
    ) {
        let mut s = Session::new(SessionConfig { max_streams: 4, max_asks: 4, ..SessionConfig::default() }, 0);
        if handshake_first {
            let m = Message::Handshake(Handshake { public_key: [1; 32], secret_key: None });
            s.handle_message(0, &m.to_bytes(), 0);
        }
        let mut now = 0;
        for step in steps {
            now += 1_000;
            match step {
                Ok((ty, bytes)) => s.handle_message(ty, &bytes, now),
                Err(ev) => s.handle_dht(ev, now),
            }
            s.handle_timeout(now);
            while let Some(t) = s.poll_transmit() {
                // Everything we send decodes.
                prop_assert!(Message::decode(t.message_type, &t.payload).is_ok());
                s.on_flushed(t.queued_len());
            }
            while s.poll_command().is_some() {}
            prop_assert_eq!(s.queued_bytes(), 0);
            prop_assert!(s.stream_count() <= 4);
        }
        if s.is_closed() {
            prop_assert!(s.close_reason().is_some());
            prop_assert_eq!(s.poll_timeout(), None);
        }
    }
}
