//! The session state machine against hand-built client messages (encoded with the shared
//! `hyperwasm::relay_protocol` codec) and scripted DHT events.

#![allow(clippy::unwrap_used)]

use super::*;
use hyperwasm::crypto::KeyPair;
use hyperwasm::hyperdht::messages::{Peer, UdxInfo};
use hyperwasm::relay_protocol::types;
use std::net::Ipv4Addr;
use std::net::SocketAddrV4;

const RELAY: u32 = CLIENT_ID_LIMIT;

fn addr(n: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, n), 4000 + u16::from(n))
}

fn config() -> SessionConfig {
    SessionConfig {
        max_streams: 2,
        max_servers: 1,
        max_queries: 2,
        stream_credit: 1000,
        ..SessionConfig::default()
    }
}

fn session() -> Session {
    let mut s = Session::new(config(), [7; 32], 0);
    let w = out(&mut s);
    assert_eq!(w.len(), 1);
    s
}

/// Frames the session queued, decoded.
fn out(s: &mut Session) -> Vec<Message> {
    std::iter::from_fn(|| s.poll_transmit()).map(|(t, p)| Message::decode(t, &p).unwrap()).collect()
}

fn cmds(s: &mut Session) -> Vec<SessionCommand> {
    std::iter::from_fn(|| s.poll_command()).collect()
}

fn send(s: &mut Session, m: Message, now: u64) {
    let (t, p) = m.encode();
    s.handle_frame(t, &p, now);
}

fn assert_bad(s: &mut Session) {
    let o = out(s);
    assert!(
        matches!(o.last(), Some(Message::Error { reference: 0, code, .. }) if code == "BAD_MESSAGE"),
        "{o:?}"
    );
    assert!(s.is_ended());
    assert_eq!(s.poll_socket_close(), Some(SocketClose::Ended { ws_code: 1002, code: "BAD_MESSAGE" }));
}

fn payload(id: u64) -> NoisePayload {
    NoisePayload { udx: Some(UdxInfo { id, ..UdxInfo::default() }), ..NoisePayload::default() }
}

#[test]
fn welcome_carries_token_limits_and_credit() {
    let mut s = Session::new(config(), [7; 32], 0);
    let o = out(&mut s);
    let Message::Welcome { resumed, token, received, grace_ms, stream_credit, limits } = &o[0] else {
        panic!("{o:?}")
    };
    assert!(!resumed);
    assert_eq!((*token, *received, *grace_ms, *stream_credit), ([7; 32], 0, 30_000, 1000));
    assert_eq!((limits.max_streams, limits.max_servers, limits.max_queries), (2, 1, 2));
}

#[test]
fn undecodable_unknown_and_wrong_direction_messages_end_the_session() {
    let mut s = session();
    s.handle_frame(99, &[], 1);
    assert_bad(&mut s);

    let mut s = session();
    let (t, mut p) = Message::Lookup { id: 1, topic: [1; 32] }.encode();
    p.pop();
    s.handle_frame(t, &p, 1);
    assert_bad(&mut s);

    let mut s = session();
    let (t, mut p) = Message::Lookup { id: 1, topic: [1; 32] }.encode();
    p.push(0);
    s.handle_frame(t, &p, 1);
    assert_bad(&mut s);

    let mut s = session();
    send(&mut s, Message::Done { id: 1, commits: 0 }, 1);
    assert_bad(&mut s);

    let mut s = session();
    send(&mut s, Message::Hello { version: 1, resume: None }, 1);
    assert_bad(&mut s);
    // Nothing more happens on an ended session.
    send(&mut s, Message::Lookup { id: 1, topic: [1; 32] }, 2);
    assert!(cmds(&mut s).is_empty());
    assert!(out(&mut s).is_empty());
}

#[test]
fn ids_outside_the_client_range_are_protocol_errors() {
    for id in [0, RELAY, u32::MAX] {
        let mut s = session();
        send(&mut s, Message::Lookup { id, topic: [1; 32] }, 1);
        assert_bad(&mut s);
        assert!(cmds(&mut s).iter().all(|c| !matches!(c, SessionCommand::Query { .. })));
    }
    let mut s = session();
    send(
        &mut s,
        Message::Connect {
            stream: 0,
            remote_public_key: [1; 32],
            public_key: [2; 32],
            relay_addresses: vec![],
        },
        1,
    );
    assert_bad(&mut s);
}

#[test]
fn live_ids_are_in_use_and_unknown_ids_are_reported() {
    let mut s = session();
    send(&mut s, Message::Lookup { id: 5, topic: [1; 32] }, 1);
    send(&mut s, Message::FindPeer { id: 5, public_key: [1; 32] }, 2);
    let c = cmds(&mut s);
    assert_eq!(c, vec![SessionCommand::Query { id: 5, kind: QueryKind::Lookup { topic: [1; 32] } }]);
    let o = out(&mut s);
    assert!(matches!(&o[..], [Message::Error { reference: 5, code, .. }] if code == "ID_IN_USE"), "{o:?}");

    send(&mut s, Message::Signature { sign: RELAY + 9, signature: Some([1; 64]) }, 3);
    send(&mut s, Message::Data { stream: 3, bytes: vec![1] }, 4);
    send(&mut s, Message::Accept { hs: RELAY, msg2: vec![1], remote_payload: payload(1).to_bytes() }, 5);
    let o = out(&mut s);
    let codes: Vec<_> = o
        .iter()
        .filter_map(|m| if let Message::Error { code, .. } = m { Some(code.as_str()) } else { None })
        .collect();
    assert_eq!(codes, vec!["UNKNOWN_ID"; 3], "{o:?}");
    assert!(!s.is_ended());
    // Cancelling an unknown query is ignored.
    send(&mut s, Message::Cancel { id: 77 }, 6);
    assert!(out(&mut s).is_empty());
}

/// PROTOCOL.md §3: queries and servers share one id space, both ways.
#[test]
fn queries_and_servers_share_one_id_space() {
    let mut s = session();
    send(&mut s, Message::Listen { server: 5, public_key: [2; 32] }, 1);
    send(&mut s, Message::Lookup { id: 5, topic: [1; 32] }, 2);
    send(
        &mut s,
        Message::Announce { id: 5, topic: [1; 32], public_key: [2; 32], relay_addresses: vec![] },
        3,
    );
    assert_eq!(cmds(&mut s), vec![SessionCommand::Listen { server: 5, public_key: [2; 32] }]);
    let o = out(&mut s);
    assert_eq!(o.len(), 2, "{o:?}");
    assert!(o.iter().all(|m| matches!(m, Message::Error { reference: 5, code, .. } if code == "ID_IN_USE")));

    send(&mut s, Message::Lookup { id: 6, topic: [1; 32] }, 4);
    send(&mut s, Message::Listen { server: 6, public_key: [3; 32] }, 5);
    assert_eq!(
        cmds(&mut s),
        vec![SessionCommand::Query { id: 6, kind: QueryKind::Lookup { topic: [1; 32] } }]
    );
    let o = out(&mut s);
    assert!(matches!(&o[..], [Message::Error { reference: 6, code, .. }] if code == "ID_IN_USE"), "{o:?}");
    assert_eq!(s.counts(), (0, 1, 1));

    // Once the server is gone its id is free for a query (and the query's for a server).
    send(&mut s, Message::Unlisten { server: 5 }, 6);
    send(&mut s, Message::Lookup { id: 5, topic: [1; 32] }, 7);
    s.handle_dht(DhtEvent::QueryDone { id: 6, commits: 0 }, 8);
    send(&mut s, Message::Listen { server: 6, public_key: [3; 32] }, 9);
    let c = cmds(&mut s);
    assert_eq!(c.len(), 3, "{c:?}");
    assert!(matches!(c[1], SessionCommand::Query { id: 5, .. }));
    assert!(matches!(c[2], SessionCommand::Listen { server: 6, .. }));
    assert!(!s.is_ended());
}

#[test]
fn query_limit_and_a_query_through_to_done() {
    let mut s = session();
    for id in 1..=3 {
        send(&mut s, Message::Lookup { id, topic: [id as u8; 32] }, 1);
    }
    assert_eq!(cmds(&mut s).len(), 2);
    let o = out(&mut s);
    assert!(
        matches!(&o[..], [Message::Error { reference: 3, code, .. }] if code == "LIMIT_QUERIES"),
        "{o:?}"
    );

    let peer = Peer { public_key: [9; 32], relay_addresses: vec![addr(1)] };
    s.handle_dht(DhtEvent::QueryReply { id: 1, from: addr(2), peers: vec![peer.clone()] }, 2);
    s.handle_dht(DhtEvent::QueryDone { id: 1, commits: 0 }, 3);
    s.handle_dht(DhtEvent::QueryFailed { id: 2, code: "PEER_NOT_FOUND".into() }, 3);
    // Late events of finished queries are dropped.
    s.handle_dht(DhtEvent::QueryReply { id: 1, from: addr(2), peers: vec![] }, 4);
    let o = out(&mut s);
    assert_eq!(o[0], Message::Result { id: 1, from: addr(2), peers: vec![peer] });
    assert_eq!(o[1], Message::Done { id: 1, commits: 0 });
    assert!(matches!(&o[2], Message::Error { reference: 2, code, .. } if code == "PEER_NOT_FOUND"));
    assert_eq!(o.len(), 3);
    // Both slots are free again.
    send(&mut s, Message::Lookup { id: 1, topic: [1; 32] }, 5);
    send(&mut s, Message::Lookup { id: 2, topic: [1; 32] }, 5);
    assert_eq!(cmds(&mut s).len(), 2);
    send(&mut s, Message::Cancel { id: 2 }, 6);
    assert_eq!(cmds(&mut s), vec![SessionCommand::CancelQuery { id: 2 }]);
    assert_eq!(out(&mut s), vec![Message::Done { id: 2, commits: 0 }]);
}

#[test]
fn announce_signatures_go_to_the_client_and_back() {
    let kp = KeyPair::from_seed(&[3; 32]);
    let mut s = session();
    let announce = Message::Announce {
        id: 4,
        topic: [5; 32],
        public_key: kp.public_key(),
        relay_addresses: vec![addr(1)],
    };
    send(&mut s, announce, 1);
    assert!(matches!(&cmds(&mut s)[..], [SessionCommand::Query { id: 4, kind: QueryKind::Announce { .. } }]));
    let peer = Peer { public_key: kp.public_key(), relay_addresses: vec![addr(1)] };
    let parts = SignParts {
        kind: SignKind::Announce,
        target: [5; 32],
        node_id: [6; 32],
        token: [8; 32],
        peer,
        refresh: None,
    };
    s.handle_dht(DhtEvent::Sign { id: 4, ask: AskId(77), parts: parts.clone() }, 2);
    let o = out(&mut s);
    let [Message::Sign(req)] = &o[..] else { panic!("{o:?}") };
    assert!(req.sign >= RELAY);
    assert_eq!(req.id, 4);
    // What the client gets is enough to recompute the exact signable.
    let wire = SignParts {
        kind: SignKind::Announce,
        target: req.target,
        node_id: req.node_id,
        token: req.token,
        peer: req.peer.clone(),
        refresh: req.refresh,
    };
    assert_eq!(wire.signable(), parts.signable());
    let sig = kp.sign(&wire.signable());
    send(&mut s, Message::Signature { sign: req.sign, signature: Some(sig) }, 3);
    assert_eq!(
        cmds(&mut s),
        vec![SessionCommand::Answer { ask: AskId(77), answer: AskAnswer::Signature(Some(sig)) }]
    );
    // A second answer to the same request is unknown.
    send(&mut s, Message::Signature { sign: req.sign, signature: None }, 4);
    assert!(matches!(&out(&mut s)[..], [Message::Error { code, .. }] if code == "UNKNOWN_ID"));
    // A sign for a query that is gone is refused at once.
    s.handle_dht(DhtEvent::Sign { id: 99, ask: AskId(78), parts }, 5);
    assert_eq!(
        cmds(&mut s),
        vec![SessionCommand::Answer { ask: AskId(78), answer: AskAnswer::Signature(None) }]
    );
    assert!(out(&mut s).is_empty());
}

fn sign_parts(kp: &KeyPair, target: [u8; 32]) -> SignParts {
    let peer = Peer { public_key: kp.public_key(), relay_addresses: vec![addr(1)] };
    SignParts { kind: SignKind::Announce, target, node_id: [6; 32], token: [8; 32], peer, refresh: None }
}

/// Raises a sign request for `id` and returns its wire id.
fn sign_request(s: &mut Session, id: u32, ask: u64, parts: SignParts, now: u64) -> u32 {
    s.handle_dht(DhtEvent::Sign { id, ask: AskId(ask), parts }, now);
    let o = out(s);
    let [Message::Sign(req)] = &o[..] else { panic!("{o:?}") };
    req.sign
}

#[test]
fn a_signature_that_does_not_verify_never_reaches_the_dht() {
    let kp = KeyPair::from_seed(&[3; 32]);
    let mut s = session();
    let announce =
        Message::Announce { id: 4, topic: [5; 32], public_key: kp.public_key(), relay_addresses: vec![] };
    send(&mut s, announce, 1);
    cmds(&mut s);
    let parts = sign_parts(&kp, [5; 32]);
    // Signed by another key, then a right key over other bytes: both refused to the node.
    for (n, sig) in [(0, KeyPair::from_seed(&[4; 32]).sign(&parts.signable())), (1, kp.sign(b"other"))] {
        let sign = sign_request(&mut s, 4, 70 + n, parts.clone(), 2);
        send(&mut s, Message::Signature { sign, signature: Some(sig) }, 3);
        assert_eq!(
            cmds(&mut s),
            vec![SessionCommand::Answer { ask: AskId(70 + n), answer: AskAnswer::Signature(None) }]
        );
    }
    // The query itself goes on (a storing node is skipped, as for a refusal).
    assert!(out(&mut s).is_empty());
    let sign = sign_request(&mut s, 4, 72, parts.clone(), 4);
    let sig = kp.sign(&parts.signable());
    send(&mut s, Message::Signature { sign, signature: Some(sig) }, 5);
    assert_eq!(
        cmds(&mut s),
        vec![SessionCommand::Answer { ask: AskId(72), answer: AskAnswer::Signature(Some(sig)) }]
    );
}

#[test]
fn a_server_whose_key_is_not_proven_is_closed() {
    let kp = KeyPair::from_seed(&[3; 32]);
    let parts = sign_parts(&kp, [9; 32]);
    let listen = |s: &mut Session, server: u32| {
        send(s, Message::Listen { server, public_key: kp.public_key() }, 1);
        assert!(matches!(&cmds(s)[..], [SessionCommand::Listen { .. }]));
    };
    let closed = |s: &mut Session, server: u32| {
        let o = out(s);
        assert!(
            matches!(&o[..], [Message::Error { reference, code, .. }] if *reference == u64::from(server) && code == "SIGNATURE_REFUSED"),
            "{o:?}"
        );
        assert!(cmds(s).contains(&SessionCommand::Unlisten { server }));
    };
    // Refused, a bad signature, no answer in time: the server is closed, the id free again.
    let mut s = session();
    listen(&mut s, 2);
    let sign = sign_request(&mut s, 2, 80, parts.clone(), 2);
    send(&mut s, Message::Signature { sign, signature: None }, 3);
    closed(&mut s, 2);

    listen(&mut s, 2);
    let sign = sign_request(&mut s, 2, 81, parts.clone(), 4);
    send(&mut s, Message::Signature { sign, signature: Some(kp.sign(b"not the signable")) }, 5);
    closed(&mut s, 2);

    listen(&mut s, 2);
    sign_request(&mut s, 2, 82, parts.clone(), 6);
    let timeout = 6 + config().ask_timeout_ms;
    s.handle_timeout(timeout);
    let o: Vec<Message> =
        out(&mut s).into_iter().filter(|m| !matches!(m, Message::Ping | Message::Ack { .. })).collect();
    assert!(
        matches!(&o[..], [Message::Error { reference: 2, code, .. }] if code == "SIGNATURE_REFUSED"),
        "{o:?}"
    );
    assert!(cmds(&mut s).contains(&SessionCommand::Unlisten { server: 2 }));
    send(&mut s, Message::Unlisten { server: 2 }, timeout + 1);
    assert!(matches!(&out(&mut s)[..], [Message::Error { code, .. }] if code == "UNKNOWN_ID"));

    // Proven once: a later refusal (a client declining one record) keeps the server.
    let mut s = session();
    listen(&mut s, 2);
    let sign = sign_request(&mut s, 2, 83, parts.clone(), 2);
    send(&mut s, Message::Signature { sign, signature: Some(kp.sign(&parts.signable())) }, 3);
    cmds(&mut s);
    let sign = sign_request(&mut s, 2, 84, parts, 4);
    send(&mut s, Message::Signature { sign, signature: None }, 5);
    assert!(out(&mut s).is_empty());
    assert_eq!(
        cmds(&mut s),
        vec![SessionCommand::Answer { ask: AskId(84), answer: AskAnswer::Signature(None) }]
    );
    send(&mut s, Message::Unlisten { server: 2 }, 6);
    assert!(matches!(&out(&mut s)[..], [Message::Unlistened { server: 2 }]));
}

/// Dials stream `id` to `open` and returns the session with nothing queued.
fn dial(s: &mut Session, id: u32) {
    send(
        s,
        Message::Connect {
            stream: id,
            remote_public_key: [1; 32],
            public_key: [2; 32],
            relay_addresses: vec![],
        },
        1,
    );
    assert!(matches!(&cmds(s)[..], [SessionCommand::Connect { stream, .. }] if *stream == id));
    s.handle_dht(DhtEvent::NoiseInit { stream: id, ask: AskId(1), local_payload: payload(11) }, 2);
    assert_eq!(out(s), vec![Message::NoiseInit { stream: id, local_payload: payload(11).to_bytes() }]);
    send(s, Message::NoiseMsg1 { stream: id, msg1: vec![1, 2, 3] }, 3);
    assert_eq!(
        cmds(s),
        vec![SessionCommand::Answer { ask: AskId(1), answer: AskAnswer::Msg1(Some(vec![1, 2, 3])) }]
    );
    s.handle_dht(DhtEvent::NoiseMsg2 { stream: id, ask: AskId(2), msg2: vec![4, 5] }, 4);
    assert_eq!(out(s), vec![Message::NoiseMsg2 { stream: id, msg2: vec![4, 5] }]);
    send(s, Message::NoiseRemote { stream: id, remote_payload: payload(12).to_bytes() }, 5);
    assert_eq!(
        cmds(s),
        vec![SessionCommand::Answer { ask: AskId(2), answer: AskAnswer::Remote(Some(payload(12))) }]
    );
    s.handle_dht(DhtEvent::Opened { stream: id, remote_address: addr(3) }, 6);
    assert_eq!(out(s), vec![Message::Open { stream: id, remote_address: addr(3), credit: 1000 }]);
    assert_eq!(cmds(s), vec![SessionCommand::ReadMore { stream: id, bytes: 1000 }]);
}

#[test]
fn a_dial_runs_noise_at_the_client_and_opens_with_credit() {
    let mut s = session();
    dial(&mut s, 1);
    // A bad payload from the client is a protocol error.
    send(
        &mut s,
        Message::Connect {
            stream: 2,
            remote_public_key: [1; 32],
            public_key: [2; 32],
            relay_addresses: vec![],
        },
        7,
    );
    s.handle_dht(DhtEvent::NoiseInit { stream: 2, ask: AskId(5), local_payload: payload(1) }, 7);
    s.handle_dht(DhtEvent::ConnectFailed { stream: 2, code: "PEER_NOT_FOUND".into() }, 8);
    let o = out(&mut s);
    assert_eq!(o.last(), Some(&Message::Close { stream: 2, code: "PEER_NOT_FOUND".into() }));
    // The pending ask of the failed dial is refused.
    assert!(cmds(&mut s).contains(&SessionCommand::Answer { ask: AskId(5), answer: AskAnswer::Msg1(None) }));
    send(&mut s, Message::NoiseRemote { stream: 1, remote_payload: vec![0xff] }, 9);
    assert_bad(&mut s);
}

#[test]
fn stream_limit_counts_dials_and_incoming() {
    let mut s = session();
    dial(&mut s, 1);
    dial(&mut s, 2);
    send(
        &mut s,
        Message::Connect {
            stream: 3,
            remote_public_key: [1; 32],
            public_key: [2; 32],
            relay_addresses: vec![],
        },
        7,
    );
    assert_eq!(out(&mut s), vec![Message::Close { stream: 3, code: "LIMIT_STREAMS".into() }]);
    assert!(cmds(&mut s).is_empty());
    // A handshake while at the limit is refused without asking the client.
    send(&mut s, Message::Listen { server: 1, public_key: [2; 32] }, 8);
    cmds(&mut s);
    let hs = DhtEvent::Handshake {
        server: 1,
        ask: AskId(9),
        hs: 1,
        peer_address: addr(4),
        msg1: vec![1],
        local_payload: payload(1),
    };
    s.handle_dht(hs, 9);
    assert_eq!(
        cmds(&mut s),
        vec![SessionCommand::Answer { ask: AskId(9), answer: AskAnswer::Handshake(None) }]
    );
    assert!(out(&mut s).is_empty());
    // Server limit.
    send(&mut s, Message::Listen { server: 2, public_key: [3; 32] }, 10);
    assert!(
        matches!(&out(&mut s)[..], [Message::Error { reference: 2, code, .. }] if code == "LIMIT_SERVERS")
    );
}

/// Found by the `relay_server_frame` fuzz target: handshakes accepted while below the limit
/// each turned into a stream when they connected, so a session went past `max_streams` (the
/// check let one more through, and nothing counted accepted handshakes). The connection that
/// would exceed the limit is dropped.
#[test]
fn incoming_connections_never_exceed_the_stream_limit() {
    let mut s = session();
    send(&mut s, Message::Listen { server: 1, public_key: [2; 32] }, 1);
    cmds(&mut s);
    // Three handshakes while no stream is open (limit 2): all reach the client, all accepted.
    let mut wires = Vec::new();
    for hs in 1..=3u64 {
        let ev = DhtEvent::Handshake {
            server: 1,
            ask: AskId(hs),
            hs,
            peer_address: addr(4),
            msg1: vec![1],
            local_payload: payload(1),
        };
        s.handle_dht(ev, 2);
        let o = out(&mut s);
        let [Message::Handshake { hs: wire, .. }] = &o[..] else { panic!("{o:?}") };
        wires.push(*wire);
    }
    for wire in &wires {
        send(&mut s, Message::Accept { hs: *wire, msg2: vec![8], remote_payload: payload(3).to_bytes() }, 3);
    }
    cmds(&mut s);
    for (hs, conn) in [(1, 11), (2, 12)] {
        s.handle_dht(DhtEvent::Incoming { server: 1, hs, conn, remote_address: addr(6) }, 4);
        assert!(matches!(&out(&mut s)[..], [Message::Incoming { .. }]));
        assert!(
            matches!(&cmds(&mut s)[..], [SessionCommand::AdoptIncoming { conn: c, .. }, _] if *c == conn)
        );
    }
    assert_eq!(s.counts().0, 2);
    s.handle_dht(DhtEvent::Incoming { server: 1, hs: 3, conn: 13, remote_address: addr(6) }, 5);
    assert_eq!(cmds(&mut s), vec![SessionCommand::DropIncoming { conn: 13 }]);
    assert!(out(&mut s).is_empty());
    assert_eq!(s.counts().0, 2);
}

#[test]
fn credit_bounds_both_directions() {
    let mut s = session();
    dial(&mut s, 1);
    // Peer → client: the DHT side reads within the credit; the session forwards it.
    s.handle_dht(DhtEvent::StreamData { stream: 1, bytes: vec![1; 600] }, 7);
    s.handle_dht(DhtEvent::StreamData { stream: 1, bytes: vec![2; 400] }, 7);
    assert_eq!(out(&mut s).len(), 2);
    send(&mut s, Message::Credit { stream: 1, bytes: 500 }, 8);
    assert_eq!(cmds(&mut s), vec![SessionCommand::ReadMore { stream: 1, bytes: 500 }]);
    // Reading beyond the client's credit is the DHT side's bug: the stream is dropped.
    s.handle_dht(DhtEvent::StreamData { stream: 1, bytes: vec![3; 501] }, 9);
    assert_eq!(out(&mut s), vec![Message::Close { stream: 1, code: "SERVER_ERROR".into() }]);
    assert_eq!(cmds(&mut s), vec![SessionCommand::Destroy { stream: 1 }]);

    // Client → peer: writes within credit; credit comes back as the UDX stream accepts them.
    dial(&mut s, 2);
    send(&mut s, Message::Data { stream: 2, bytes: vec![1; 700] }, 10);
    assert_eq!(cmds(&mut s), vec![SessionCommand::Write { stream: 2, bytes: vec![1; 700] }]);
    s.handle_dht(DhtEvent::Written { stream: 2, bytes: 300 }, 11);
    assert!(out(&mut s).is_empty(), "no grant before half the credit is consumed");
    s.handle_dht(DhtEvent::Written { stream: 2, bytes: 400 }, 12);
    let o = out(&mut s);
    assert!(matches!(&o[..], [Message::Credit { stream: 2, bytes }] if *bytes >= 500), "{o:?}");
    let granted = match o[0] {
        Message::Credit { bytes, .. } => bytes,
        _ => 0,
    };
    // Exactly the window: 300 left + the grant. One byte more is CREDIT_EXCEEDED.
    let window = 300 + granted as usize;
    send(&mut s, Message::Data { stream: 2, bytes: vec![2; window] }, 13);
    assert!(matches!(&cmds(&mut s)[..], [SessionCommand::Write { .. }]));
    send(&mut s, Message::Data { stream: 2, bytes: vec![3; 1] }, 14);
    assert_eq!(out(&mut s), vec![Message::Close { stream: 2, code: "CREDIT_EXCEEDED".into() }]);
    assert_eq!(cmds(&mut s), vec![SessionCommand::Destroy { stream: 2 }]);
    assert!(!s.is_ended(), "a stream's error closes the stream, not the session");
}

/// The client's credit grants add up to at most 2^53 - 1 of read allowance (no wrap).
#[test]
fn huge_credit_grants_are_clamped() {
    let mut s = session();
    dial(&mut s, 1);
    cmds(&mut s);
    out(&mut s);
    let mut total = 1000u64; // the credit given at open
    for n in 0..3 {
        send(&mut s, Message::Credit { stream: 1, bytes: (1 << 53) - 1 - n }, 5);
        for c in cmds(&mut s) {
            let SessionCommand::ReadMore { stream: 1, bytes } = c else { panic!("{c:?}") };
            total = total.checked_add(bytes).unwrap();
        }
    }
    assert_eq!(total, (1 << 53) - 1);
    assert!(!s.is_ended());
}

#[test]
fn both_ends_close_the_stream_cleanly_and_a_reset_reports_its_code() {
    let mut s = session();
    dial(&mut s, 1);
    send(&mut s, Message::End { stream: 1 }, 7);
    assert_eq!(cmds(&mut s), vec![SessionCommand::End { stream: 1 }]);
    s.handle_dht(DhtEvent::StreamEnded { stream: 1 }, 8);
    assert_eq!(
        out(&mut s),
        vec![Message::End { stream: 1 }, Message::Close { stream: 1, code: String::new() }]
    );
    assert_eq!(cmds(&mut s), vec![SessionCommand::Release { stream: 1 }]);
    // The id is free again.
    dial(&mut s, 1);
    s.handle_dht(DhtEvent::StreamClosed { stream: 1, code: "ECONNRESET".into() }, 9);
    assert_eq!(out(&mut s), vec![Message::Close { stream: 1, code: "ECONNRESET".into() }]);
    dial(&mut s, 1);
    send(&mut s, Message::Close { stream: 1, code: String::new() }, 10);
    assert_eq!(cmds(&mut s), vec![SessionCommand::Destroy { stream: 1 }]);
}

#[test]
fn a_server_gets_handshakes_and_incoming_streams() {
    let mut s = session();
    send(&mut s, Message::Listen { server: 3, public_key: [2; 32] }, 1);
    assert_eq!(cmds(&mut s), vec![SessionCommand::Listen { server: 3, public_key: [2; 32] }]);
    s.handle_dht(DhtEvent::Listening { server: 3, relay_addresses: vec![addr(1)] }, 2);
    assert_eq!(out(&mut s), vec![Message::Listening { server: 3, relay_addresses: vec![addr(1)] }]);
    let hs = DhtEvent::Handshake {
        server: 3,
        ask: AskId(4),
        hs: 900,
        peer_address: addr(5),
        msg1: vec![9],
        local_payload: payload(2),
    };
    s.handle_dht(hs, 3);
    let o = out(&mut s);
    let [Message::Handshake { server: 3, hs: wire, peer_address, msg1, local_payload }] = &o[..] else {
        panic!("{o:?}")
    };
    assert!(*wire >= RELAY);
    assert_eq!(
        (*peer_address, msg1.clone(), local_payload.clone()),
        (addr(5), vec![9], payload(2).to_bytes())
    );
    send(&mut s, Message::Accept { hs: *wire, msg2: vec![8], remote_payload: payload(3).to_bytes() }, 4);
    assert_eq!(
        cmds(&mut s),
        vec![SessionCommand::Answer {
            ask: AskId(4),
            answer: AskAnswer::Handshake(Some((vec![8], payload(3))))
        }]
    );
    s.handle_dht(DhtEvent::Incoming { server: 3, hs: 900, conn: 55, remote_address: addr(6) }, 5);
    let o = out(&mut s);
    let [Message::Incoming { server: 3, hs, stream, remote_address, credit: 1000 }] = &o[..] else {
        panic!("{o:?}")
    };
    assert_eq!((*hs, *remote_address), (*wire, addr(6)));
    assert!(*stream >= RELAY);
    assert_eq!(
        cmds(&mut s),
        vec![
            SessionCommand::AdoptIncoming { conn: 55, stream: *stream },
            SessionCommand::ReadMore { stream: *stream, bytes: 1000 }
        ]
    );
    // A second incoming for the same handshake, or an unknown one, is dropped.
    s.handle_dht(DhtEvent::Incoming { server: 3, hs: 900, conn: 56, remote_address: addr(6) }, 6);
    assert_eq!(cmds(&mut s), vec![SessionCommand::DropIncoming { conn: 56 }]);
    send(&mut s, Message::Reject { hs: *wire }, 7);
    assert!(matches!(&out(&mut s)[..], [Message::Error { code, .. }] if code == "UNKNOWN_ID"));
    send(&mut s, Message::Unlisten { server: 3 }, 8);
    assert_eq!(cmds(&mut s), vec![SessionCommand::Unlisten { server: 3 }]);
    assert_eq!(out(&mut s), vec![Message::Unlistened { server: 3 }]);
}

fn handshake_event(server: u32, ask: u64, hs: u64) -> DhtEvent {
    DhtEvent::Handshake {
        server,
        ask: AskId(ask),
        hs,
        peer_address: addr(5),
        msg1: vec![9],
        local_payload: payload(2),
    }
}

fn wire_hs(s: &mut Session) -> u32 {
    let o: Vec<_> =
        out(s).into_iter().filter(|m| !matches!(m, Message::Ack { .. } | Message::Pong)).collect();
    let [Message::Handshake { hs, .. }] = &o[..] else { panic!("{o:?}") };
    *hs
}

/// Handshakes the client rejected, left unanswered, or accepted but never connected are
/// forgotten; no more than `MAX_HANDSHAKES` are tracked at once.
#[test]
fn handshakes_are_forgotten_on_reject_timeout_and_expiry_and_capped() {
    let mut s = session();
    send(&mut s, Message::Listen { server: 3, public_key: [2; 32] }, 1);
    cmds(&mut s);
    // Rejected.
    s.handle_dht(handshake_event(3, 1, 901), 2);
    let wire = wire_hs(&mut s);
    send(&mut s, Message::Reject { hs: wire }, 3);
    assert_eq!(s.handshakes.len(), 0);
    assert_eq!(
        cmds(&mut s),
        vec![SessionCommand::Answer { ask: AskId(1), answer: AskAnswer::Handshake(None) }]
    );
    // Not answered before the ask timeout.
    s.handle_dht(handshake_event(3, 2, 902), 4);
    wire_hs(&mut s);
    assert_eq!(s.handshakes.len(), 1);
    let t = 4 + s.config.ask_timeout_ms;
    send(&mut s, Message::Ping, t - 1);
    s.handle_timeout(t);
    assert_eq!(s.handshakes.len(), 0);
    out(&mut s);
    // Accepted but never connected (the node's handshake failed): gone after the TTL.
    s.handle_dht(handshake_event(3, 3, 903), t);
    let wire = wire_hs(&mut s);
    send(&mut s, Message::Accept { hs: wire, msg2: vec![8], remote_payload: payload(3).to_bytes() }, t);
    assert_eq!(s.handshakes.len(), 1);
    let mut now = t;
    while now < t + HANDSHAKE_TTL_MS {
        now += 5_000;
        send(&mut s, Message::Ping, now);
        s.handle_timeout(now);
    }
    assert_eq!(s.handshakes.len(), 0);
    s.handle_dht(DhtEvent::Incoming { server: 3, hs: 903, conn: 1, remote_address: addr(6) }, now);
    assert!(cmds(&mut s).contains(&SessionCommand::DropIncoming { conn: 1 }));
    out(&mut s);

    // The cap: accepted handshakes waiting for their connection; one more is refused.
    for i in 0..MAX_HANDSHAKES as u64 {
        s.handle_dht(handshake_event(3, 100 + i, 1000 + i), now);
        let wire = wire_hs(&mut s);
        send(&mut s, Message::Accept { hs: wire, msg2: vec![8], remote_payload: payload(3).to_bytes() }, now);
    }
    cmds(&mut s);
    out(&mut s);
    assert_eq!(s.handshakes.len(), MAX_HANDSHAKES);
    s.handle_dht(handshake_event(3, 99, 99), now);
    assert!(out(&mut s).is_empty(), "a handshake beyond the cap reached the client");
    assert_eq!(
        cmds(&mut s),
        vec![SessionCommand::Answer { ask: AskId(99), answer: AskAnswer::Handshake(None) }]
    );
    // Unlisten forgets them all.
    send(&mut s, Message::Unlisten { server: 3 }, now);
    assert_eq!(s.handshakes.len(), 0);
    assert!(!s.is_ended());
}

#[test]
fn resume_replays_what_the_client_missed() {
    let mut s = session();
    send(&mut s, Message::Lookup { id: 1, topic: [1; 32] }, 1);
    for n in 0..4 {
        s.handle_dht(DhtEvent::QueryReply { id: 1, from: addr(n), peers: vec![] }, 2);
    }
    assert_eq!(out(&mut s).len(), 4);
    send(&mut s, Message::Ack { received: 1 }, 3);
    s.detach(4);
    // While detached nothing is sent, but sequenced messages are kept.
    s.handle_dht(DhtEvent::QueryDone { id: 1, commits: 0 }, 5);
    assert!(out(&mut s).is_empty());
    assert!(!s.is_expired(4 + 29_999));
    // The client got 2 of them.
    s.resume(2, 6).unwrap();
    let o = out(&mut s);
    let Message::Welcome { resumed: true, token, received, .. } = &o[0] else { panic!("{o:?}") };
    assert_eq!((*token, *received), ([7; 32], 1), "we processed one sequenced message (the lookup)");
    assert_eq!(
        &o[1..],
        &[
            Message::Result { id: 1, from: addr(2), peers: vec![] },
            Message::Result { id: 1, from: addr(3), peers: vec![] },
            Message::Done { id: 1, commits: 0 },
        ]
    );
    // A resume claiming more than was sent fails.
    s.detach(7);
    assert!(s.resume(99, 8).is_err());
    assert!(out(&mut s).is_empty(), "a failed resume sends nothing");
    assert!(s.is_expired(7 + 30_000), "and leaves the session detached");
    s.detach(9);
    assert!(s.is_expired(9 + 30_000));
    assert_eq!(s.poll_timeout(), Some(9 + 30_000));
}

#[test]
fn keepalive_pings_and_an_idle_socket_is_dropped() {
    let mut s = session();
    assert_eq!(s.poll_timeout(), Some(15_000));
    s.handle_timeout(15_000);
    assert_eq!(out(&mut s), vec![Message::Ping]);
    send(&mut s, Message::Ping, 16_000);
    assert_eq!(out(&mut s), vec![Message::Pong]);
    s.handle_timeout(16_000 + 45_000);
    assert_eq!(s.poll_socket_close(), Some(SocketClose::Idle));
    assert!(!s.is_ended(), "an idle socket leaves the session to its grace period");
    assert!(s.is_expired(16_000 + 45_000 + 30_000));
}

#[test]
fn acks_after_64_messages_or_200_ms() {
    let mut s = session();
    send(&mut s, Message::Lookup { id: 1, topic: [1; 32] }, 1);
    assert!(out(&mut s).is_empty());
    s.handle_timeout(201);
    assert_eq!(out(&mut s), vec![Message::Ack { received: 1 }]);
    for i in 0..64 {
        send(&mut s, Message::Cancel { id: 1000 + i }, 300);
    }
    assert_eq!(out(&mut s), vec![Message::Ack { received: 65 }]);
    assert_eq!(types::ACK, 2);
}

#[test]
fn drain_ends_the_session_and_drops_everything() {
    let mut s = session();
    send(&mut s, Message::Lookup { id: 1, topic: [1; 32] }, 1);
    send(&mut s, Message::Listen { server: 3, public_key: [1; 32] }, 1);
    cmds(&mut s);
    dial(&mut s, 2);
    cmds(&mut s);
    s.drain(10);
    assert!(
        matches!(&out(&mut s)[..], [Message::Error { reference: 0, code, .. }] if code == "RELAY_DRAINING")
    );
    assert_eq!(s.poll_socket_close(), Some(SocketClose::Ended { ws_code: 1001, code: "RELAY_DRAINING" }));
    let mut c = cmds(&mut s);
    c.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        c,
        vec![
            SessionCommand::CancelQuery { id: 1 },
            SessionCommand::Destroy { stream: 2 },
            SessionCommand::Unlisten { server: 3 },
        ]
    );
}
