use super::*;
use std::net::Ipv4Addr;

fn addr(n: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, n), 4000 + u16::from(n))
}

fn peer(n: u8) -> Peer {
    Peer { public_key: [n; 32], relay_addresses: vec![addr(n), addr(n + 1)] }
}

/// One instance of every message, with non-default values everywhere (both flag states where
/// a flag exists).
pub(crate) fn samples() -> Vec<Message> {
    let limits = Limits { max_streams: 64, max_servers: 4, max_queries: 300, bytes_per_second: 1 << 20 };
    let sign = SignRequest {
        sign: (1 << 31) + 5,
        id: 7,
        kind: SignKind::Announce,
        target: [1; 32],
        node_id: [2; 32],
        token: [3; 32],
        peer: peer(4),
        refresh: None,
    };
    vec![
        Message::Hello { version: 1, resume: None },
        Message::Hello { version: 1, resume: Some(Resume { token: [9; 32], received: 70_000 }) },
        Message::Welcome {
            resumed: false,
            token: [8; 32],
            received: 0,
            grace_ms: 30_000,
            stream_credit: 1 << 20,
            limits,
        },
        Message::Welcome {
            resumed: true,
            token: [8; 32],
            received: 300,
            grace_ms: 1,
            stream_credit: 5,
            limits,
        },
        Message::Ack { received: 1 << 40 },
        Message::Ping,
        Message::Pong,
        Message::Error { reference: 3, code: "PEER_NOT_FOUND".into(), message: "no such peer ✓".into() },
        Message::Lookup { id: 1, topic: [5; 32] },
        Message::Announce { id: 2, topic: [5; 32], public_key: [6; 32], relay_addresses: vec![addr(1)] },
        Message::Unannounce { id: 3, topic: [5; 32], public_key: [6; 32] },
        Message::FindPeer { id: 4, public_key: [6; 32] },
        Message::Cancel { id: u32::MAX },
        Message::Result {
            id: 5,
            from: addr(3),
            peers: vec![peer(1), Peer { public_key: [7; 32], relay_addresses: vec![] }],
        },
        Message::Done { id: 5, commits: 20 },
        Message::Sign(sign.clone()),
        Message::Sign(SignRequest { kind: SignKind::Unannounce, refresh: Some([4; 32]), ..sign }),
        Message::Signature { sign: (1 << 31) + 5, signature: Some([0xab; 64]) },
        Message::Signature { sign: (1 << 31) + 6, signature: None },
        Message::Connect {
            stream: 9,
            remote_public_key: [1; 32],
            public_key: [2; 32],
            relay_addresses: vec![addr(9)],
        },
        Message::NoiseInit { stream: 9, local_payload: vec![1, 8, 0, 0, 1, 2, 0] },
        Message::NoiseMsg1 { stream: 9, msg1: vec![7; 96] },
        Message::NoiseMsg2 { stream: 9, msg2: vec![6; 70] },
        Message::NoiseRemote { stream: 9, remote_payload: vec![1, 0, 0, 0] },
        Message::Open { stream: 9, remote_address: addr(4), credit: 1 << 20 },
        Message::Listen { server: 11, public_key: [3; 32] },
        Message::Listening { server: 11, relay_addresses: vec![addr(1), addr(2), addr(3)] },
        Message::Unlisten { server: 11 },
        Message::Handshake {
            server: 11,
            hs: 1 << 31,
            peer_address: addr(5),
            msg1: vec![1; 90],
            local_payload: vec![2; 10],
        },
        Message::Accept { hs: 1 << 31, msg2: vec![3; 60], remote_payload: vec![4; 9] },
        Message::Reject { hs: (1 << 31) + 1 },
        Message::Incoming {
            server: 11,
            hs: 1 << 31,
            stream: (1 << 31) + 2,
            remote_address: addr(6),
            credit: 65_536,
        },
        Message::Unlistened { server: 11 },
        Message::Data { stream: 9, bytes: vec![0x55; 300] },
        Message::Credit { stream: 9, bytes: 1 << 19 },
        Message::End { stream: 9 },
        Message::Close { stream: 9, code: "ECONNRESET".into() },
        Message::Close { stream: 10, code: String::new() },
    ]
}

#[test]
fn every_message_round_trips() {
    let all = samples();
    let mut seen = std::collections::BTreeSet::new();
    for m in &all {
        let (t, payload) = m.encode();
        seen.insert(t);
        assert_eq!(Message::decode(t, &payload).unwrap(), *m, "type {t}");
        let mut again = Vec::new();
        m.encode_payload(&mut again);
        assert_eq!(again, payload);
    }
    // Every type of PROTOCOL.md §4–§8: 0–5, 10–18, 20–25, 30–37, 40–43.
    let expected: std::collections::BTreeSet<u64> =
        (0..=5).chain(10..=18).chain(20..=25).chain(30..=37).chain(40..=43).collect();
    assert_eq!(seen, expected);
}

#[test]
fn some_encodings_are_pinned() {
    // Hand-built from the tables: varint u32s, u8 flags, raw fixed fields.
    assert_eq!(Message::Ack { received: 300 }.encode(), (2, vec![0xfd, 0x2c, 0x01]));
    assert_eq!(Message::Cancel { id: 1 << 31 }.encode(), (14, vec![0xfe, 0, 0, 0, 0x80]));
    assert_eq!(Message::Hello { version: 1, resume: None }.encode(), (0, vec![1, 0]));
    let close = Message::Close { stream: 3, code: "ETIMEDOUT".into() }.encode();
    assert_eq!(close, (43, [&[3u8, 9][..], b"ETIMEDOUT"].concat()));
    let (t, p) = Message::Signature { sign: 2, signature: None }.encode();
    assert_eq!((t, p), (18, vec![2, 1]));
    let (_, p) = Message::Open { stream: 1, remote_address: addr(1), credit: 16 }.encode();
    assert_eq!(p, vec![1, 10, 0, 0, 1, 0xa1, 0x0f, 16]);
    assert!(Message::Data { stream: 1, bytes: vec![1] }.is_sequenced());
    assert!(!Message::Ping.is_sequenced() && !Message::Ack { received: 0 }.is_sequenced());
}

#[test]
fn every_truncation_is_refused() {
    for m in samples() {
        let (t, payload) = m.encode();
        for cut in 0..payload.len() {
            assert!(
                Message::decode(t, &payload[..cut]).is_err(),
                "type {t} cut at {cut} of {}",
                payload.len()
            );
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    for m in samples() {
        let (t, mut payload) = m.encode();
        payload.push(0);
        let err = Message::decode(t, &payload).unwrap_err();
        assert_eq!(err, RelayError::Decode(DecodeError::TrailingBytes(1)), "type {t}");
        assert_eq!(err.code(), "BAD_MESSAGE");
    }
}

#[test]
fn invalid_values_are_refused() {
    let bad = |t: u64, p: &[u8]| Message::decode(t, p).unwrap_err();
    assert_eq!(bad(6, &[]), RelayError::UnknownType(6));
    assert_eq!(bad(44, &[1]).code(), "BAD_MESSAGE");
    // Unknown flag bits.
    assert!(matches!(bad(types::HELLO, &[1, 2]), RelayError::Decode(DecodeError::Invalid { .. })));
    assert!(matches!(bad(types::SIGNATURE, &[1, 3]), RelayError::Decode(DecodeError::Invalid { .. })));
    // A u32 field above 2^32 − 1.
    assert!(bad(types::CANCEL, &[0xff, 0, 0, 0, 0, 1, 0, 0, 0]).to_string().contains("32 bits"));
    // data of 0 bytes or more than 64 KiB.
    assert!(bad(types::DATA, &[1, 0]).to_string().contains("0 bytes"));
    let (_, mut big) = Message::Data { stream: 1, bytes: vec![0; MAX_DATA_LEN] }.encode();
    Message::decode(types::DATA, &big).unwrap();
    big = [&[1u8, 0xfe][..], &(MAX_DATA_LEN as u32 + 1).to_le_bytes(), &vec![0; MAX_DATA_LEN + 1]].concat();
    assert!(bad(types::DATA, &big).to_string().contains("65537"));
    // Sign kinds other than 1 and 2.
    let (_, mut sign) = samples().into_iter().find(|m| matches!(m, Message::Sign(_))).unwrap().encode();
    sign[6] = 3;
    assert!(bad(types::SIGN, &sign).to_string().contains("sign kind"));
    // An array of 1,025 addresses, and a count bigger than the input.
    let mut listening = vec![1u8, 0xfd, 0x01, 0x04];
    listening.extend(std::iter::repeat_n(1, 6 * 1025));
    assert_eq!(bad(types::LISTENING, &listening), RelayError::Decode(DecodeError::ArrayTooLarge(1025)));
    assert!(matches!(
        bad(types::LISTENING, &[1, 200, 1, 2]),
        RelayError::Decode(DecodeError::Truncated { .. })
    ));
    // Exactly 1,024 is fine.
    let addrs = vec![addr(1); MAX_ARRAY_ITEMS];
    let (t, p) = Message::Listening { server: 1, relay_addresses: addrs.clone() }.encode();
    assert_eq!(Message::decode(t, &p).unwrap(), Message::Listening { server: 1, relay_addresses: addrs });
    // Invalid UTF-8 in a code.
    assert_eq!(bad(types::CLOSE, &[1, 1, 0xff]), RelayError::Decode(DecodeError::InvalidUtf8));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]
    #[test]
    fn arbitrary_bytes_never_panic(t in 0u64..48, bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        if let Ok(m) = Message::decode(t, &bytes) {
            // Whatever decodes re-encodes to the same bytes (the encoding is canonical
            // except for non-minimal varints, which decode but re-encode shorter).
            let (t2, p) = m.encode();
            proptest::prop_assert_eq!(t2, t);
            proptest::prop_assert_eq!(Message::decode(t, &p).unwrap(), m);
        }
    }
}
