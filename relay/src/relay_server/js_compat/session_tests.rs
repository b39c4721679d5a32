//! The session against a fake DHT side: every flow of the JS non-custodial client, custodial
//! refusal, malformed input, timers, backpressure, and arbitrary frames (proptest).

use std::net::{Ipv4Addr, SocketAddrV4};

use hyperwasm::crypto::KeyPair;
use hyperwasm::encoding::Compact;
use hyperwasm::hyperdht::constants::error as payload_errors;
use hyperwasm::hyperdht::crypto::{announce_signable, hash, unannounce_signable};
use hyperwasm::hyperdht::messages::{NoisePayload, UdxInfo};
use proptest::prelude::*;

use super::codecs::{Announcers, DhtNode, Key, Peer};
use super::dht_side::{
    Accepted, Answer, AskId, DhtCommand, DhtEvent, ServerId, SignKind, SignOwner, StreamId,
};
use super::messages::*;
use super::session::{Session, SessionConfig, BAD_MESSAGE, CUSTODIAL_REFUSED, ID_IN_USE, TIMED_OUT};

fn addr(a: u8, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, a), port)
}

fn payload(udx: bool) -> NoisePayload {
    let mut p = NoisePayload { firewall: 1, addresses4: vec![addr(9, 4000)], ..NoisePayload::default() };
    if udx {
        p.udx = Some(UdxInfo { id: 7, seq: 0, ..UdxInfo::default() });
    }
    p
}

struct Harness {
    s: Session,
    now: u64,
}

impl Harness {
    fn new() -> Self {
        Self::with(SessionConfig::default())
    }

    fn with(config: SessionConfig) -> Self {
        let mut h = Harness { s: Session::new(config, 1_000), now: 1_000 };
        h.client(Message::Handshake(Handshake { public_key: [0xc1; 32], secret_key: None }));
        assert_eq!(h.s.client_key(), Some(&[0xc1; 32]));
        h
    }

    fn client(&mut self, m: Message) {
        self.s.handle_message(m.kind() as u64, &m.to_bytes(), self.now);
    }

    fn dht(&mut self, ev: DhtEvent) {
        self.s.handle_dht(ev, self.now);
    }

    /// Everything sent to the client, decoded as the JS client would.
    fn out(&mut self) -> Vec<Message> {
        let mut v = Vec::new();
        while let Some(t) = self.s.poll_transmit() {
            self.s.on_flushed(t.queued_len());
            v.push(Message::decode(t.message_type, &t.payload).unwrap());
        }
        v
    }

    fn one_out(&mut self) -> Message {
        let mut v = self.out();
        assert_eq!(v.len(), 1, "{v:?}");
        v.pop().unwrap()
    }

    fn cmds(&mut self) -> Vec<DhtCommand> {
        std::iter::from_fn(|| self.s.poll_command()).collect()
    }

    fn one_cmd(&mut self) -> DhtCommand {
        let mut v = self.cmds();
        assert_eq!(v.len(), 1, "{v:?}");
        v.pop().unwrap()
    }
}

// --- session, keepalive -------------------------------------------------------------------

#[test]
fn pings_every_15_s_answers_pings_and_times_out_after_45_s_of_silence() {
    let mut h = Harness::new();
    assert_eq!(h.s.poll_timeout(), Some(16_000));
    h.s.handle_timeout(16_000);
    assert_eq!(h.one_out(), Message::Ping);
    assert_eq!(h.s.poll_timeout(), Some(31_000));
    h.now = 20_000;
    h.client(Message::Ping);
    assert_eq!(h.one_out(), Message::Pong);
    h.client(Message::Pong);
    assert!(h.out().is_empty());
    // 45 s after the last message (20 s), with pings in between.
    for t in [31_000, 46_000, 61_000] {
        h.s.handle_timeout(t);
        assert_eq!(h.one_out(), Message::Ping);
    }
    assert!(!h.s.is_closed());
    h.s.handle_timeout(65_000);
    assert!(h.s.is_closed());
    assert_eq!(h.s.close_reason().unwrap().code, TIMED_OUT);
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn anything_but_ping_before_the_handshake_closes_the_session() {
    let mut s = Session::new(SessionConfig::default(), 0);
    let m = Message::Lookup { id: 1, topic: [1; 32] };
    s.handle_message(m.kind() as u64, &m.to_bytes(), 0);
    assert_eq!(s.close_reason().unwrap().code, BAD_MESSAGE);
    assert!(s.poll_command().is_none());
}

#[test]
fn a_second_handshake_closes_the_session() {
    let mut h = Harness::new();
    h.client(Message::Handshake(Handshake { public_key: [2; 32], secret_key: None }));
    assert_eq!(h.s.close_reason().unwrap().code, BAD_MESSAGE);
}

// --- custodial refusal --------------------------------------------------------------------

fn secret() -> SecretKey {
    let mut b = [0u8; 64];
    for (i, x) in b.iter_mut().enumerate() {
        *x = 0xa0u8.wrapping_add(i as u8 * 3);
    }
    SecretKey::from_bytes(b)
}

/// Asserts that no 8-byte window of the secret key, nor its decimal `Debug` rendering, nor its
/// hex, appears in what the session sent, asked, keeps or says.
fn assert_no_secret(h: &mut Harness, outputs: &[Vec<u8>]) {
    let key = *secret().expose();
    for out in outputs {
        for w in key.windows(8) {
            assert!(!out.windows(8).any(|x| x == w), "secret bytes sent to the client");
        }
    }
    let dec: Vec<String> = key.iter().map(|b| b.to_string()).collect();
    let needles = [dec[..6].join(", "), hex::encode(&key[..8])];
    let texts = [
        format!("{:?}", h.s),
        format!("{:?}", h.cmds()),
        format!("{:?}", h.s.close_reason()),
        h.s.close_reason().map(|r| r.message.clone()).unwrap_or_default(),
    ];
    for t in &texts {
        for n in &needles {
            assert!(!t.contains(n.as_str()), "secret key material in {t}");
        }
    }
}

#[test]
fn custodial_requests_are_refused_and_the_session_closed_without_keeping_the_key() {
    let pk = [0x11; 32];
    let cases: Vec<(Message, Option<Message>)> = vec![
        (Message::Handshake(Handshake { public_key: pk, secret_key: Some(secret()) }), None),
        (
            Message::Connect(Connect {
                alias: 4,
                public_key: pk,
                secret_key: Some(secret()),
                remote_public_key: [2; 32],
            }),
            Some(Message::Destroy(Destroy {
                target: DestroyTarget::Unpaired { remote_alias: 4 },
                error: Some(String::new()),
            })),
        ),
        (Message::Listen(Listen { alias: 5, public_key: pk, secret_key: Some(secret()) }), None),
        (
            Message::Announce(Announce { id: 6, topic: [3; 32], public_key: pk, secret_key: Some(secret()) }),
            Some(Message::Finished { id: 6 }),
        ),
        (
            Message::Unannounce(Announce {
                id: 7,
                topic: [3; 32],
                public_key: pk,
                secret_key: Some(secret()),
            }),
            Some(Message::Finished { id: 7 }),
        ),
    ];
    for (msg, answer) in cases {
        let mut h = if matches!(msg, Message::Handshake(_)) {
            Harness { s: Session::new(SessionConfig::default(), 0), now: 0 }
        } else {
            Harness::new()
        };
        let bytes = msg.to_bytes();
        assert!(bytes.windows(64).any(|w| w == secret().expose()), "the key is on the wire");
        h.s.handle_message(msg.kind() as u64, &bytes, 0);
        drop(msg);
        assert!(h.s.is_closed());
        let reason = h.s.close_reason().unwrap().clone();
        assert_eq!(reason.code, CUSTODIAL_REFUSED);
        let mut raw = Vec::new();
        let mut sent = Vec::new();
        while let Some(t) = h.s.poll_transmit() {
            raw.push(t.payload.clone());
            sent.push(Message::decode(t.message_type, &t.payload).unwrap());
        }
        match (answer, sent.as_slice()) {
            (None, []) => {}
            (Some(Message::Destroy(want)), [Message::Destroy(got)]) => {
                assert_eq!(got.target, want.target);
                assert!(got.error.as_deref().unwrap().starts_with("CUSTODIAL_REFUSED"));
            }
            (Some(want), [got]) => assert_eq!(got, &want),
            (want, got) => panic!("sent {got:?}, wanted {want:?}"),
        }
        // Nothing reached the DHT side.
        assert_no_secret(&mut h, &raw);
        // Later messages are ignored.
        let m = Message::Lookup { id: 1, topic: [1; 32] };
        h.s.handle_message(m.kind() as u64, &m.to_bytes(), 0);
        assert!(h.cmds().is_empty() && h.s.poll_transmit().is_none());
    }
}

// --- queries --------------------------------------------------------------------------------

fn announcers(n: u8) -> Announcers {
    Announcers {
        token: [n; 32],
        from: DhtNode { id: Some(vec![n; 32]), address: addr(n, 49737) },
        to: DhtNode { id: None, address: addr(200, 1) },
        peers: vec![Peer { public_key: [n; 32], relay_addresses: vec![addr(n, 1)] }],
    }
}

#[test]
fn lookup_results_and_finished() {
    let mut h = Harness::new();
    h.client(Message::Lookup { id: 9, topic: [7; 32] });
    assert_eq!(h.one_cmd(), DhtCommand::Lookup { query: 9, topic: [7; 32] });
    h.dht(DhtEvent::QueryReply { query: 9, reply: announcers(1) });
    h.dht(DhtEvent::QueryReply { query: 8, reply: announcers(2) }); // not ours: dropped
    h.dht(DhtEvent::QueryDone { query: 9 });
    h.dht(DhtEvent::QueryReply { query: 9, reply: announcers(3) }); // after the end: dropped
    assert_eq!(
        h.out(),
        vec![Message::Result { id: 9, data: announcers(1).to_bytes() }, Message::Finished { id: 9 }]
    );
    // The id is free again; a live one reused closes the session.
    h.client(Message::Lookup { id: 9, topic: [7; 32] });
    h.client(Message::Lookup { id: 9, topic: [7; 32] });
    assert_eq!(h.s.close_reason().unwrap().code, ID_IN_USE);
}

fn sign_event(ask: u64, owner: SignOwner, kind: SignKind, target: Key, peer: Peer) -> DhtEvent {
    let (node_id, token) = ([0x4e; 32], [0x70; 32]);
    let signable = match kind {
        SignKind::Announce => announce_signable(&target, &node_id, &token, &peer, None),
        SignKind::Unannounce => unannounce_signable(&target, &node_id, &token, &peer, None),
    };
    DhtEvent::Sign { ask: AskId(ask), owner, kind, target, node_id, token, peer, refresh: None, signable }
}

/// What the JS client's `lib/signee.js` signs: `ns ‖ BLAKE2b-256(target ‖ peerId ‖ token ‖
/// encode(peer{publicKey, relayAddresses}))`, from the request's fields only.
fn js_signee_signature(kp: &KeyPair, target: &Key, req: &SignRequest, announce: bool) -> Vec<u8> {
    let peer = Peer { public_key: kp.public_key(), relay_addresses: req.relay_addresses.clone() };
    let node_id: Key = req.peer_id.as_deref().unwrap().try_into().unwrap();
    let signable = if announce {
        announce_signable(target, &node_id, &req.token, &peer, None)
    } else {
        unannounce_signable(target, &node_id, &req.token, &peer, None)
    };
    kp.sign(&signable).to_vec()
}

#[test]
fn announce_signatures_round_trip_with_real_relay_addresses() {
    let kp = KeyPair::from_seed(&[5; 32]);
    let topic = [0x70; 32];
    let mut h = Harness::new();
    h.client(Message::Announce(Announce { id: 3, topic, public_key: kp.public_key(), secret_key: None }));
    assert_eq!(
        h.one_cmd(),
        DhtCommand::Announce { query: 3, topic, public_key: kp.public_key(), relay_addresses: vec![] }
    );
    let peer = Peer { public_key: kp.public_key(), relay_addresses: vec![addr(1, 1), addr(2, 2)] };
    h.dht(sign_event(100, SignOwner::Query(3), SignKind::Announce, topic, peer.clone()));
    let Message::SignAnnounce(req) = h.one_out() else { panic!() };
    assert_eq!(req.signee, 3);
    assert_eq!(req.token, [0x70; 32]);
    assert_eq!(req.peer_id.as_deref(), Some(&[0x4e; 32][..]));
    assert_eq!(req.relay_addresses, peer.relay_addresses, "the record's addresses, not the JS bug's []");
    let sig = js_signee_signature(&kp, &topic, &req, true);
    h.client(Message::Signature { id: req.id, signature: sig.clone() });
    assert_eq!(
        h.one_cmd(),
        DhtCommand::Answer(Answer::Sign { ask: AskId(100), signature: Some(sig.try_into().unwrap()) })
    );
    // A wrong signature (signed for another token) is refused.
    h.dht(sign_event(101, SignOwner::Query(3), SignKind::Announce, topic, peer.clone()));
    let Message::SignAnnounce(mut req) = h.one_out() else { panic!() };
    let id = req.id;
    req.token = [0; 32];
    h.client(Message::Signature { id, signature: js_signee_signature(&kp, &topic, &req, true) });
    assert_eq!(h.one_cmd(), DhtCommand::Answer(Answer::Sign { ask: AskId(101), signature: None }));
    // Records the client did not ask for are refused without asking it.
    let other = Peer { public_key: [9; 32], relay_addresses: vec![] };
    h.dht(sign_event(102, SignOwner::Query(3), SignKind::Announce, topic, other));
    h.dht(sign_event(103, SignOwner::Query(3), SignKind::Announce, [1; 32], peer.clone()));
    h.dht(sign_event(104, SignOwner::Query(4), SignKind::Announce, topic, peer.clone()));
    let DhtEvent::Sign { ask, owner, kind, target, node_id, token, peer: p, signable, .. } =
        sign_event(105, SignOwner::Query(3), SignKind::Announce, topic, peer.clone())
    else {
        unreachable!()
    };
    let refresh = Some([1; 32]);
    h.dht(DhtEvent::Sign { ask, owner, kind, target, node_id, token, peer: p.clone(), refresh, signable });
    let mut wrong = signable;
    wrong[40] ^= 1;
    h.dht(DhtEvent::Sign {
        ask: AskId(106),
        owner,
        kind,
        target,
        node_id,
        token,
        peer: p,
        refresh: None,
        signable: wrong,
    });
    assert!(h.out().is_empty());
    let refused: Vec<DhtCommand> =
        (102..=106).map(|a| DhtCommand::Answer(Answer::Sign { ask: AskId(a), signature: None })).collect();
    assert_eq!(h.cmds(), refused);
    // A request the client never answers is refused after 10 s.
    h.dht(sign_event(107, SignOwner::Query(3), SignKind::Announce, topic, peer));
    assert_eq!(h.out().len(), 1);
    assert_eq!(h.s.poll_timeout(), Some(h.now + 10_000));
    h.s.handle_timeout(h.now + 10_000);
    assert_eq!(h.cmds(), vec![DhtCommand::Answer(Answer::Sign { ask: AskId(107), signature: None })]);
    h.dht(DhtEvent::QueryDone { query: 3 });
    assert_eq!(h.one_out(), Message::Finished { id: 3 });
}

#[test]
fn unannounce_asks_for_unannounce_signatures_only() {
    let kp = KeyPair::from_seed(&[6; 32]);
    let topic = [0x71; 32];
    let mut h = Harness::new();
    h.client(Message::Unannounce(Announce { id: 4, topic, public_key: kp.public_key(), secret_key: None }));
    assert_eq!(h.one_cmd(), DhtCommand::Unannounce { query: 4, topic, public_key: kp.public_key() });
    let peer = Peer { public_key: kp.public_key(), relay_addresses: vec![] };
    h.dht(sign_event(1, SignOwner::Query(4), SignKind::Announce, topic, peer.clone()));
    assert_eq!(h.one_cmd(), DhtCommand::Answer(Answer::Sign { ask: AskId(1), signature: None }));
    h.dht(sign_event(2, SignOwner::Query(4), SignKind::Unannounce, topic, peer));
    let Message::SignUnannounce(req) = h.one_out() else { panic!() };
    assert_eq!(req.signee, 4);
    let sig = js_signee_signature(&kp, &topic, &req, false);
    h.client(Message::Signature { id: req.id, signature: sig.clone() });
    assert_eq!(
        h.one_cmd(),
        DhtCommand::Answer(Answer::Sign { ask: AskId(2), signature: Some(sig.try_into().unwrap()) })
    );
}

// --- connect --------------------------------------------------------------------------------

/// Runs a client `connect` up to `open`; returns (relay stream id, handshake id).
fn connect(h: &mut Harness, alias: u32) -> (StreamId, u32) {
    h.client(Message::Connect(Connect {
        alias,
        public_key: [0xc1; 32],
        secret_key: None,
        remote_public_key: [0x5e; 32],
    }));
    let DhtCommand::Connect { stream, public_key, remote_public_key } = h.one_cmd() else { panic!() };
    assert_eq!((public_key, remote_public_key), ([0xc1; 32], [0x5e; 32]));
    let local = payload(true);
    h.dht(DhtEvent::InitiatorMessage { ask: AskId(1), stream, local_payload: Box::new(local.clone()) });
    let Message::NoiseSend(send) = h.one_out() else { panic!() };
    assert_eq!(send.role, NoiseSendRole::Initiator { remote_stream_alias: alias });
    assert_eq!(send.payload, local.to_bytes());
    let hs = send.id;
    h.client(Message::NoiseReply(NoiseReply {
        id: hs,
        is_initiator: true,
        payload: vec![0x31; 96],
        remote_public_key: None,
        complete: None,
    }));
    assert_eq!(
        h.one_cmd(),
        DhtCommand::Answer(Answer::InitiatorMessage { ask: AskId(1), msg1: Some(vec![0x31; 96]) })
    );
    h.dht(DhtEvent::ResponderMessage { ask: AskId(2), stream, msg2: vec![0x32; 80] });
    assert_eq!(
        h.one_out(),
        Message::NoiseReceive(NoiseReceive {
            id: hs,
            role: NoiseReceiveRole::Initiator,
            payload: vec![0x32; 80]
        })
    );
    let remote = payload(true);
    h.client(Message::NoiseReply(NoiseReply {
        id: hs,
        is_initiator: true,
        payload: remote.to_bytes(),
        remote_public_key: None,
        complete: Some(Completion { remote_id: [1; 32], holepunch_secret: [2; 32] }),
    }));
    assert_eq!(
        h.one_cmd(),
        DhtCommand::Answer(Answer::ResponderMessage {
            ask: AskId(2),
            remote_payload: Some(Box::new(remote))
        })
    );
    h.dht(DhtEvent::Connected { stream, remote_address: addr(9, 4000) });
    assert_eq!(
        h.one_out(),
        Message::Open(Open { alias: stream.0, remote_alias: alias, handshake: HandshakeRef::Id(hs) })
    );
    (stream, hs)
}

#[test]
fn connect_runs_noise_through_the_client_then_carries_ciphertext_both_ways() {
    let mut h = Harness::new();
    let (stream, _) = connect(&mut h, 77);
    h.client(Message::Data { alias: 77, data: vec![vec![1, 2], vec![], vec![3]] });
    assert_eq!(h.one_cmd(), DhtCommand::Write { stream, data: vec![1, 2, 3] });
    h.client(Message::Data { alias: 77, data: vec![vec![]] }); // keep-alive: nothing to write
    h.client(Message::Data { alias: stream.0, data: vec![vec![9]] }); // the relay's alias: not the client's
    assert!(h.cmds().is_empty());
    h.dht(DhtEvent::Data { stream, data: vec![4, 5] });
    assert_eq!(h.one_out(), Message::Data { alias: stream.0, data: vec![vec![4, 5]] });
    h.client(Message::End { alias: 77 });
    assert_eq!(h.one_cmd(), DhtCommand::End { stream });
    h.dht(DhtEvent::End { stream });
    assert_eq!(h.one_out(), Message::End { alias: stream.0 });
    // A clean close is reported too (JS sent nothing), paired, with the relay's alias.
    h.dht(DhtEvent::Closed { stream, error: None });
    assert_eq!(
        h.one_out(),
        Message::Destroy(Destroy { target: DestroyTarget::Paired { alias: stream.0 }, error: None })
    );
    assert_eq!(h.s.stream_count(), 0);
    h.client(Message::Data { alias: 77, data: vec![vec![1]] });
    assert!(h.cmds().is_empty());
}

#[test]
fn client_destroy_and_peer_reset() {
    let mut h = Harness::new();
    let (a, _) = connect(&mut h, 1);
    let (b, _) = connect(&mut h, 2);
    assert_ne!(a, b);
    h.client(Message::Destroy(Destroy { target: DestroyTarget::Paired { alias: 1 }, error: None }));
    assert_eq!(h.one_cmd(), DhtCommand::Destroy { stream: a });
    assert!(h.out().is_empty(), "no echo");
    h.dht(DhtEvent::Closed { stream: b, error: Some("ECONNRESET".into()) });
    assert_eq!(
        h.one_out(),
        Message::Destroy(Destroy {
            target: DestroyTarget::Paired { alias: b.0 },
            error: Some("ECONNRESET".into())
        })
    );
}

/// The JS client closes its socket as soon as both sides of its stream ended, right after its
/// `end`: a stream the client ended is released (its END still reaches the peer), the others
/// are destroyed.
#[test]
fn a_session_that_ends_after_the_clients_end_releases_that_stream() {
    let mut h = Harness::new();
    let (ended, _) = connect(&mut h, 1);
    let (open, _) = connect(&mut h, 2);
    assert!(ended < open);
    h.client(Message::End { alias: 1 });
    assert_eq!(h.one_cmd(), DhtCommand::End { stream: ended });
    h.s.close("DESTROYED", "the socket closed");
    assert_eq!(h.cmds(), vec![DhtCommand::Release { stream: ended }, DhtCommand::Destroy { stream: open }]);
    assert!(h.out().is_empty());
}

#[test]
fn a_failed_connect_is_destroyed_unpaired_with_the_client_alias() {
    let mut h = Harness::new();
    h.client(Message::Connect(Connect {
        alias: 12,
        public_key: [1; 32],
        secret_key: None,
        remote_public_key: [2; 32],
    }));
    let DhtCommand::Connect { stream, .. } = h.one_cmd() else { panic!() };
    h.dht(DhtEvent::InitiatorMessage { ask: AskId(1), stream, local_payload: Box::new(payload(true)) });
    assert_eq!(h.out().len(), 1);
    h.dht(DhtEvent::ConnectFailed { stream, error: "PEER_NOT_FOUND".into() });
    assert_eq!(
        h.one_out(),
        Message::Destroy(Destroy {
            target: DestroyTarget::Unpaired { remote_alias: 12 },
            error: Some("PEER_NOT_FOUND".into())
        })
    );
    // The pending ask is refused.
    assert_eq!(h.cmds(), vec![DhtCommand::Answer(Answer::InitiatorMessage { ask: AskId(1), msg1: None })]);
    // Connected without a finished handshake never opens.
    h.client(Message::Connect(Connect {
        alias: 13,
        public_key: [1; 32],
        secret_key: None,
        remote_public_key: [2; 32],
    }));
    let DhtCommand::Connect { stream, .. } = h.one_cmd() else { panic!() };
    h.dht(DhtEvent::Connected { stream, remote_address: addr(1, 1) });
    assert!(matches!(
        h.one_out(),
        Message::Destroy(Destroy { target: DestroyTarget::Unpaired { remote_alias: 13 }, .. })
    ));
    assert_eq!(h.cmds(), vec![DhtCommand::Destroy { stream }]);
}

#[test]
fn a_noise_reply_that_does_not_fit_refuses_the_ask() {
    let mut h = Harness::new();
    h.client(Message::Connect(Connect {
        alias: 1,
        public_key: [1; 32],
        secret_key: None,
        remote_public_key: [2; 32],
    }));
    let DhtCommand::Connect { stream, .. } = h.one_cmd() else { panic!() };
    h.dht(DhtEvent::InitiatorMessage { ask: AskId(5), stream, local_payload: Box::new(payload(true)) });
    let Message::NoiseSend(send) = h.one_out() else { panic!() };
    h.client(Message::NoiseReply(NoiseReply {
        id: send.id,
        is_initiator: false,
        payload: vec![1],
        remote_public_key: Some([3; 32]),
        complete: None,
    }));
    assert_eq!(h.one_cmd(), DhtCommand::Answer(Answer::InitiatorMessage { ask: AskId(5), msg1: None }));
    h.client(Message::NoiseReply(NoiseReply {
        id: 999,
        is_initiator: true,
        payload: vec![1],
        remote_public_key: None,
        complete: None,
    }));
    assert!(h.cmds().is_empty() && !h.s.is_closed());
}

#[path = "session_tests_serve.rs"]
mod serve;
