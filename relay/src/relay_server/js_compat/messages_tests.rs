//! Unit tests of [`super`] (the JS vectors are in `relay/tests/js_compat_messages.rs`).

use super::*;
use std::net::Ipv4Addr;

fn samples() -> Vec<Message> {
    let addr = SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 5);
    vec![
        Message::Handshake(Handshake { public_key: [1; 32], secret_key: None }),
        Message::Handshake(Handshake {
            public_key: [1; 32],
            secret_key: Some(SecretKey::from_bytes([9; 64])),
        }),
        Message::Ping,
        Message::Connect(Connect {
            alias: 7,
            public_key: [1; 32],
            secret_key: None,
            remote_public_key: [2; 32],
        }),
        Message::Connection(Connection {
            alias: 1,
            server_alias: 2,
            remote_public_key: [3; 32],
            handshake: HandshakeRef::Id(4),
        }),
        Message::Destroy(Destroy { target: DestroyTarget::Paired { alias: 3 }, error: Some("x".into()) }),
        Message::Destroy(Destroy { target: DestroyTarget::Unpaired { remote_alias: 3 }, error: None }),
        Message::Listening { alias: 1, remote_alias: 2, address: addr },
        Message::Data { alias: 1, data: vec![vec![1, 2], vec![]] },
        Message::SignAnnounce(SignRequest {
            id: 1,
            signee: 2,
            token: [4; 32],
            peer_id: Some(vec![5; 32]),
            relay_addresses: vec![addr],
        }),
        Message::NoiseSend(NoiseSend {
            id: 1,
            role: NoiseSendRole::Initiator { remote_stream_alias: 9 },
            payload: vec![1],
        }),
        Message::NoiseReceive(NoiseReceive {
            id: 1,
            role: NoiseReceiveRole::Responder { server_alias: 9 },
            payload: vec![1],
        }),
        Message::NoiseReply(NoiseReply {
            id: 1,
            is_initiator: false,
            payload: vec![],
            remote_public_key: Some([6; 32]),
            complete: None,
        }),
        Message::NoiseReply(NoiseReply {
            id: 1,
            is_initiator: true,
            payload: vec![1, 2],
            remote_public_key: None,
            complete: Some(Completion { remote_id: [7; 32], holepunch_secret: [8; 32] }),
        }),
    ]
}

#[test]
fn round_trip_and_every_truncation_fails() {
    for m in samples() {
        let bytes = m.to_bytes();
        assert_eq!(Message::decode(m.kind() as u64, &bytes).unwrap(), m);
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0xaa, 0xbb]);
        assert_eq!(Message::decode(m.kind() as u64, &longer).unwrap(), m, "trailing bytes are ignored");
        for cut in 0..bytes.len() {
            assert!(Message::decode(m.kind() as u64, &bytes[..cut]).is_err(), "{m:?} cut at {cut}");
        }
    }
}

#[test]
fn unknown_types_and_flag_bits() {
    assert_eq!(Message::decode(28, &[]), Err(MessageError::UnknownType(28)));
    // Unknown flag bits are ignored, as in JS.
    let mut b = Message::Handshake(Handshake { public_key: [1; 32], secret_key: None }).to_bytes();
    b[0] = 0xfe;
    assert_eq!(
        Message::decode(0, &b).unwrap(),
        Message::Handshake(Handshake { public_key: [1; 32], secret_key: None })
    );
}

#[test]
fn secret_keys_never_show_in_debug() {
    let m = Message::Handshake(Handshake {
        public_key: [1; 32],
        secret_key: Some(SecretKey::from_bytes([0x5a; 64])),
    });
    assert!(m.is_custodial_request());
    let s = format!("{m:?}");
    assert!(s.contains("redacted") && !s.contains("90"), "{s}");
}

#[test]
fn all_types_in_order() {
    for (i, t) in MessageType::ALL.iter().enumerate() {
        assert_eq!(*t as usize, i);
        assert_eq!(MessageType::from_u64(i as u64), Some(*t));
    }
    assert_eq!(MessageType::NoiseReply.name(), "noiseReply");
}
