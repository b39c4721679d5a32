//! Unit tests of the hyperdht value codecs: known bytes, hostile input, round trips. The JS
//! oracle vectors are in `tests/oracle_hyperdht.rs`.

use super::*;
use crate::encoding::MAX_ARRAY_LEN;
use proptest::prelude::*;

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port)
}

fn full_payload() -> NoisePayload {
    NoisePayload {
        version: 1,
        error: 3,
        firewall: 2,
        holepunch: Some(HolepunchInfo {
            id: 7,
            relays: vec![RelayInfo { relay_address: v4(1, 2, 3, 4, 5), peer_address: v4(6, 7, 8, 9, 10) }],
        }),
        addresses4: vec![v4(10, 0, 0, 1, 49737)],
        addresses6: vec![SocketAddrV6::new(Ipv6Addr::LOCALHOST, 443, 0, 0)],
        udx: Some(UdxInfo { version: 1, reusable_socket: true, id: 0xdead_beef, seq: 0 }),
        secret_stream: Some(SecretStreamInfo::default()),
        relay_through: Some(RelayThroughInfo { version: 1, public_key: [4; 32], token: [5; 32] }),
        relay_addresses: Some(vec![]),
    }
}

fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let peer =
        Peer { public_key: [9; 32], relay_addresses: vec![v4(127, 0, 0, 1, 1), v4(8, 8, 8, 8, 65535)] };
    vec![
        ("peer", peer.to_bytes()),
        ("lookup", LookupRawReply { peers: vec![peer.clone(), Peer::default()], bump: 300 }.to_bytes()),
        (
            "announce",
            Announce {
                peer: Some(peer.clone()),
                refresh: Some([1; 32]),
                signature: Some([2; 64]),
                bump: 70000,
            }
            .to_bytes(),
        ),
        ("mutable-signable", MutableSignable { seq: 5, value: b"v".to_vec() }.to_bytes()),
        (
            "mutable-put",
            MutablePutRequest { public_key: [3; 32], seq: 1 << 40, value: vec![0; 300], signature: [4; 64] }
                .to_bytes(),
        ),
        ("mutable-get", MutableGetResponse { seq: 0, value: vec![], signature: [5; 64] }.to_bytes()),
        (
            "handshake",
            Handshake {
                mode: 2,
                noise: vec![1, 2, 3],
                peer_address: Some(v4(1, 1, 1, 1, 1)),
                relay_address: Some(v4(2, 2, 2, 2, 2)),
            }
            .to_bytes(),
        ),
        (
            "holepunch",
            Holepunch { mode: 4, id: 1, payload: vec![7; 50], peer_address: Some(v4(3, 3, 3, 3, 3)) }
                .to_bytes(),
        ),
        ("noise-payload", full_payload().to_bytes()),
        (
            "holepunch-payload",
            HolepunchPayload {
                error: 0,
                firewall: 1,
                round: 2,
                connected: true,
                punching: true,
                addresses: Some(vec![v4(4, 4, 4, 4, 4)]),
                remote_address: Some(v4(5, 5, 5, 5, 5)),
                token: Some([6; 32]),
                remote_token: Some([7; 32]),
            }
            .to_bytes(),
        ),
        (
            "plugin",
            PluginRequest { plugin: "plüg".into(), version: 1, command: 2, value: Some(vec![1]) }.to_bytes(),
        ),
    ]
}

fn decode_as(kind: &str, bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    Ok(match kind {
        "peer" => decode::<Peer>(bytes)?.to_bytes(),
        "lookup" => decode::<LookupRawReply>(bytes)?.to_bytes(),
        "announce" => decode::<Announce>(bytes)?.to_bytes(),
        "mutable-signable" => decode::<MutableSignable>(bytes)?.to_bytes(),
        "mutable-put" => decode::<MutablePutRequest>(bytes)?.to_bytes(),
        "mutable-get" => decode::<MutableGetResponse>(bytes)?.to_bytes(),
        "handshake" => decode::<Handshake>(bytes)?.to_bytes(),
        "holepunch" => decode::<Holepunch>(bytes)?.to_bytes(),
        "noise-payload" => decode::<NoisePayload>(bytes)?.to_bytes(),
        "holepunch-payload" => decode::<HolepunchPayload>(bytes)?.to_bytes(),
        "plugin" => decode::<PluginRequest>(bytes)?.to_bytes(),
        _ => unreachable!("{kind}"),
    })
}

#[test]
fn ipv4_is_octets_then_port_le() {
    let mut out = Vec::new();
    put_ipv4(&mut out, &v4(10, 0, 0, 1, 49737));
    assert_eq!(out, [10, 0, 0, 1, 0x49, 0xc2]);
    assert_eq!(ipv4_bytes(&v4(10, 0, 0, 1, 49737))[..], out[..]);
    assert_eq!(get_ipv4(&mut Decoder::new(&out)).unwrap(), v4(10, 0, 0, 1, 49737));
    let mut out = Vec::new();
    put_ipv6(&mut out, &SocketAddrV6::new("2001:db8::1".parse().unwrap(), 0x1234, 9, 9));
    assert_eq!(out.len(), IPV6_LEN);
    assert_eq!(&out[..4], [0x20, 0x01, 0x0d, 0xb8]);
    assert_eq!(&out[15..], [1, 0x34, 0x12]);
    let back = get_ipv6(&mut Decoder::new(&out)).unwrap();
    assert_eq!((back.port(), back.flowinfo(), back.scope_id()), (0x1234, 0, 0));
}

#[test]
fn known_bytes() {
    let hs =
        Handshake { mode: 0, noise: vec![0xaa], peer_address: None, relay_address: Some(v4(1, 2, 3, 4, 1)) };
    assert_eq!(hs.to_bytes(), [2, 0, 1, 0xaa, 1, 2, 3, 4, 1, 0]);
    // JS always writes version 1 in the payload and its sections, whatever the struct says.
    let mut p =
        NoisePayload { udx: Some(UdxInfo { version: 9, ..UdxInfo::default() }), ..NoisePayload::default() };
    p.version = 5;
    p.secret_stream = Some(SecretStreamInfo { version: 7 });
    assert_eq!(p.to_bytes(), [1, 8 | 16, 0, 0, 1, 0, 0, 0, 1]);
    // Empty optional arrays: addresses4/6 are left out, relayAddresses and addresses are flagged.
    let p = NoisePayload { relay_addresses: Some(vec![]), ..NoisePayload::default() };
    assert_eq!(p.to_bytes(), [1, 64, 0, 0, 0]);
    let h = HolepunchPayload { addresses: Some(vec![]), ..HolepunchPayload::default() };
    assert_eq!(h.to_bytes(), [4, 0, 0, 0, 0]);
    // A zero bump is not sent; lookupRawReply always sends it.
    assert_eq!(Announce::default().to_bytes(), [0]);
    assert_eq!(LookupRawReply::default().to_bytes(), [0, 0]);
    assert_eq!(
        PluginRequest { plugin: String::new(), version: 0, command: 0, value: Some(vec![]) }.to_bytes(),
        [0, 0, 0, 1, 0]
    );
}

#[test]
fn encode_raw_matches_encode() {
    let peers = vec![Peer { public_key: [1; 32], relay_addresses: vec![v4(1, 1, 1, 1, 1)] }, Peer::default()];
    let records: Vec<Vec<u8>> = peers.iter().map(Compact::to_bytes).collect();
    let reply = LookupRawReply { peers, bump: 12345 };
    assert_eq!(LookupRawReply::encode_raw(&records, 12345), reply.to_bytes());
}

#[test]
fn samples_round_trip_and_ignore_trailing_bytes() {
    for (kind, bytes) in samples() {
        assert_eq!(decode_as(kind, &bytes).unwrap(), bytes, "{kind}");
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0xff; 3]);
        assert_eq!(decode_as(kind, &longer).unwrap(), bytes, "{kind} with trailing bytes");
    }
}

#[test]
fn every_truncation_is_a_typed_error() {
    for (kind, bytes) in samples() {
        for cut in 0..bytes.len() {
            let r = decode_as(kind, &bytes[..cut]);
            if kind == "lookup" && cut == bytes.len() - 3 {
                // The bump (fd 2c 01) is optional: a reply cut right before it is valid.
                assert_eq!(decode::<LookupRawReply>(&bytes[..cut]).unwrap().bump, 0);
                continue;
            }
            assert!(matches!(r, Err(DecodeError::Truncated { .. })), "{kind} cut at {cut}: {r:?}");
        }
    }
}

#[test]
fn version_mismatch_returns_defaults_without_reading_on() {
    let p: NoisePayload = decode(&[2, 0xff, 0xff]).unwrap();
    assert_eq!(p, NoisePayload::incompatible(2));
    let p: NoisePayload = decode(&[0]).unwrap();
    assert_eq!(p.version, 0);
    assert!(matches!(decode::<NoisePayload>(&[]), Err(DecodeError::Truncated { .. })));
}

#[test]
fn unknown_flag_bits_and_non_minimal_uints_are_accepted() {
    // Announce with flags 0x80 (unknown) written as a 3-byte uint.
    let a: Announce = decode(&[0xfd, 0x80, 0x00]).unwrap();
    assert_eq!(a, Announce::default());
    // Handshake with mode 4 written as a 5-byte uint.
    let h: Handshake = decode(&[0, 0xfe, 4, 0, 0, 0, 0]).unwrap();
    assert_eq!(h.mode, 4);
    assert_eq!(h.to_bytes(), [0, 4, 0]);
    // udx features other than bit 0, relayThrough flags: read and dropped.
    let p: NoisePayload = decode(&[1, 8, 0, 0, 3, 6, 1, 2]).unwrap();
    assert_eq!(p.udx, Some(UdxInfo { version: 3, reusable_socket: false, id: 1, seq: 2 }));
}

#[test]
fn uints_above_2_pow_53_are_refused() {
    let mut b = vec![0xff];
    b.extend_from_slice(&(1u64 << 53).to_le_bytes());
    assert!(matches!(decode::<Announce>(&b), Err(DecodeError::UintTooLarge(_))));
    let mut b = vec![0, 0xff];
    b.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(decode::<Handshake>(&b), Err(DecodeError::UintTooLarge(_))));
}

#[test]
fn huge_counts_are_refused_before_allocating() {
    let mut big = vec![9u8; 32];
    put_uint(&mut big, MAX_ARRAY_LEN + 1);
    assert_eq!(decode::<Peer>(&big), Err(DecodeError::ArrayTooLarge(MAX_ARRAY_LEN + 1)));
    // Within the JS limit but beyond what the input holds: refused up front.
    let mut b = vec![9u8; 32];
    put_uint(&mut b, MAX_ARRAY_LEN);
    b.extend_from_slice(&[0; 64]);
    assert!(matches!(decode::<Peer>(&b), Err(DecodeError::Truncated { .. })));
    // 10 peers need at least 330 bytes.
    let mut b = vec![10];
    b.extend_from_slice(&[0; 329]);
    assert!(matches!(decode::<LookupRawReply>(&b), Err(DecodeError::Truncated { .. })));
    let mut b = vec![1, 1, 0, 0, 0, 5];
    b.extend_from_slice(&[0; 59]);
    assert!(matches!(decode::<NoisePayload>(&b), Err(DecodeError::Truncated { .. })));
    // A buffer length past the end.
    assert!(matches!(
        decode::<MutableSignable>(&[0, 0xfe, 0xff, 0xff, 0xff, 0x7f]),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn plugin_names_decode_lossily() {
    let mut b = Vec::new();
    put_buffer(&mut b, &[b'a', 0xff, b'b', 0xe2, 0x82]);
    b.extend_from_slice(&[1, 2, 0]);
    let p: PluginRequest = decode(&b).unwrap();
    assert_eq!(p.plugin, "a\u{fffd}b\u{fffd}");
    assert_eq!((p.version, p.command, p.value), (1, 2, None));
}

fn arb_v4() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
}

fn arb_v6() -> impl Strategy<Value = SocketAddrV6> {
    (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV6::new(ip.into(), port, 0, 0))
}

fn arb_uint() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..300, 0u64..=crate::encoding::MAX_SAFE_INTEGER]
}

fn arb_payload() -> impl Strategy<Value = NoisePayload> {
    let holepunch = proptest::option::of(
        (arb_uint(), proptest::collection::vec((arb_v4(), arb_v4()), 0..3)).prop_map(|(id, r)| {
            HolepunchInfo {
                id,
                relays: r
                    .into_iter()
                    .map(|(relay_address, peer_address)| RelayInfo { relay_address, peer_address })
                    .collect(),
            }
        }),
    );
    let udx =
        proptest::option::of((any::<bool>(), arb_uint(), arb_uint()).prop_map(|(r, id, seq)| UdxInfo {
            version: 1,
            reusable_socket: r,
            id,
            seq,
        }));
    let relay_through = proptest::option::of(
        (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(public_key, token)| RelayThroughInfo {
            version: 1,
            public_key,
            token,
        }),
    );
    (
        (arb_uint(), arb_uint(), holepunch),
        proptest::collection::vec(arb_v4(), 0..3),
        proptest::collection::vec(arb_v6(), 0..3),
        (udx, any::<bool>(), relay_through),
        proptest::option::of(proptest::collection::vec(arb_v4(), 0..3)),
    )
        .prop_map(
            |(
                (error, firewall, holepunch),
                addresses4,
                addresses6,
                (udx, ss, relay_through),
                relay_addresses,
            )| {
                NoisePayload {
                    version: 1,
                    error,
                    firewall,
                    holepunch,
                    addresses4,
                    addresses6,
                    udx,
                    secret_stream: ss.then(SecretStreamInfo::default),
                    relay_through,
                    relay_addresses,
                }
            },
        )
}

fn arb_peer() -> impl Strategy<Value = Peer> {
    (any::<[u8; 32]>(), proptest::collection::vec(arb_v4(), 0..4))
        .prop_map(|(public_key, relay_addresses)| Peer { public_key, relay_addresses })
}

proptest! {
    #[test]
    fn noise_payload_round_trips(p in arb_payload()) {
        let bytes = p.to_bytes();
        prop_assert_eq!(decode::<NoisePayload>(&bytes).unwrap(), p);
    }

    #[test]
    fn records_round_trip(
        peers in proptest::collection::vec(arb_peer(), 0..4),
        bump in arb_uint(),
        refresh in proptest::option::of(any::<[u8; 32]>()),
        sig in proptest::option::of(proptest::collection::vec(any::<u8>(), 64)),
    ) {
        let reply = LookupRawReply { peers: peers.clone(), bump };
        prop_assert_eq!(decode::<LookupRawReply>(&reply.to_bytes()).unwrap(), reply);
        let signature = sig.map(|s| <[u8; 64]>::try_from(s).unwrap());
        let ann = Announce { peer: peers.first().cloned(), refresh, signature, bump };
        prop_assert_eq!(decode::<Announce>(&ann.to_bytes()).unwrap(), ann);
    }

    #[test]
    fn routed_values_round_trip(
        mode in arb_uint(), id in arb_uint(), noise in proptest::collection::vec(any::<u8>(), 0..200),
        a in proptest::option::of(arb_v4()), b in proptest::option::of(arb_v4()),
        flags in 0u8..64, round in arb_uint(), addrs in proptest::option::of(proptest::collection::vec(arb_v4(), 0..3)),
    ) {
        let hs = Handshake { mode, noise: noise.clone(), peer_address: a, relay_address: b };
        prop_assert_eq!(decode::<Handshake>(&hs.to_bytes()).unwrap(), hs);
        let hp = Holepunch { mode, id, payload: noise.clone(), peer_address: b };
        prop_assert_eq!(decode::<Holepunch>(&hp.to_bytes()).unwrap(), hp);
        let pl = HolepunchPayload {
            error: id, firewall: mode, round, connected: flags & 1 != 0, punching: flags & 2 != 0,
            addresses: addrs, remote_address: a, token: (flags & 16 != 0).then_some([1; 32]),
            remote_token: (flags & 32 != 0).then_some([2; 32]),
        };
        prop_assert_eq!(decode::<HolepunchPayload>(&pl.to_bytes()).unwrap(), pl);
        let m = MutablePutRequest { public_key: [3; 32], seq: id, value: noise, signature: [4; 64] };
        prop_assert_eq!(decode::<MutablePutRequest>(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for kind in ["peer", "lookup", "announce", "mutable-signable", "mutable-put", "mutable-get",
                     "handshake", "holepunch", "noise-payload", "holepunch-payload", "plugin"] {
            let _ = decode_as(kind, &bytes);
        }
    }
}
