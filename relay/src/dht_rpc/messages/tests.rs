//! Codec tests: datagrams captured from JS `dht-rpc@6.27.0` on loopback (a JS client sending to a
//! raw socket on port 33392, and replies of a persistent `hyperdht/testnet` node on port 45214 to
//! hand-made requests), round trips, and hostile bytes at every truncation.

use super::*;
use crate::dht_rpc::peer;
use hyperwasm::encoding::{DecodeError as FieldError, MAX_SAFE_INTEGER};
use hyperwasm::hyperdht::messages::ipv4_bytes;
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn local(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

const JS_NODE_ID: &str = "701ac4714f8e1697df9392ca36b378c7f5836e6704ad7db78ee39b128d34b445";

/// Requests a JS ephemeral node sent: `ping()`, `request({token, command: 9, target, value})`,
/// `request({command: 300, value: empty})`.
const JS_REQUESTS: [&str; 3] = [
    "0304ad497f000001708200",
    "031aae497f0000017082070707070707070707070707070707070707070707070707070707070707070709aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa026869",
    "0310af497f0000017082fd2c0100",
];

/// Replies of the persistent JS node to PING, FIND_NODE, internal command 99 and LOOKUP with a
/// bad token (tids 0x1234..0x1237, requester 127.0.0.1:33392).
const JS_REPLIES: [&str; 4] = [
    "130134127f0000017082701ac4714f8e1697df9392ca36b378c7f5836e6704ad7db78ee39b128d34b445",
    "130535127f0000017082701ac4714f8e1697df9392ca36b378c7f5836e6704ad7db78ee39b128d34b445027f000001fbd57f000001ead8",
    "130d36127f0000017082701ac4714f8e1697df9392ca36b378c7f5836e6704ad7db78ee39b128d34b445027f000001fbd57f000001ead801",
    "130f37127f0000017082701ac4714f8e1697df9392ca36b378c7f5836e6704ad7db78ee39b128d34b44534257f509788c14da2beb589c031d92cbc2c1014077e3c5fe95968e50619bcab027f000001fbd57f000001ead802",
];

fn request(i: usize) -> RequestMessage {
    match decode(&h(JS_REQUESTS[i])).unwrap() {
        Message::Request(r) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn response(i: usize) -> ResponseMessage {
    match decode(&h(JS_REPLIES[i])).unwrap() {
        Message::Response(r) => r,
        other => panic!("not a response: {other:?}"),
    }
}

#[test]
fn js_requests_decode_and_reencode() {
    let ping = request(0);
    assert_eq!(ping.tid, 0x49ad);
    assert_eq!(ping.to, local(33392));
    assert!(ping.internal && ping.id.is_none() && ping.token.is_none() && ping.target.is_none());
    assert_eq!((ping.command, ping.value.as_deref()), (0, None));

    let full = request(1);
    assert_eq!(full.tid, 0x49ae);
    assert!(!full.internal);
    assert_eq!(full.token, Some([7; 32]));
    assert_eq!(full.command, 9);
    assert_eq!(full.target, Some([0xaa; 32]));
    assert_eq!(full.value.as_deref(), Some(&b"hi"[..]));

    let wide = request(2);
    assert_eq!(wide.command, 300);
    assert_eq!(wide.value.as_deref(), Some(&[][..]), "an empty value is still sent");

    for (i, hex) in JS_REQUESTS.iter().enumerate() {
        assert_eq!(hex::encode(request(i).encode()), *hex, "request {i} re-encodes byte for byte");
    }
}

#[test]
fn js_replies_decode_and_reencode() {
    let node = local(45214);
    let id: NodeId = h(JS_NODE_ID).try_into().unwrap();
    assert_eq!(peer::id(&node), id, "JS node id is hash(127.0.0.1:45214)");

    let ping = response(0);
    assert_eq!((ping.tid, ping.to, ping.id, ping.error), (0x1234, local(33392), Some(id), 0));
    assert!(ping.token.is_none() && ping.closer_nodes.is_empty() && ping.value.is_none());

    let find = response(1);
    assert_eq!(find.closer_nodes, vec![local(0xd5fb), local(0xd8ea)]);
    assert!(find.token.is_none());

    let unknown = response(2);
    assert_eq!(unknown.error, 1);
    assert_eq!(unknown.closer_nodes.len(), 2);

    let bad_token = response(3);
    assert_eq!(bad_token.error, 2);
    assert!(bad_token.token.is_some(), "INVALID_TOKEN carries a fresh token");

    for (i, hex) in JS_REPLIES.iter().enumerate() {
        assert_eq!(hex::encode(response(i).encode()), *hex, "reply {i} re-encodes byte for byte");
    }
}

#[test]
fn every_truncation_is_an_error() {
    for hex in JS_REQUESTS.iter().chain(JS_REPLIES.iter()) {
        let bytes = h(hex);
        for len in 0..bytes.len() {
            // Truncating inside the value of the last request still fails (length prefix).
            let got = decode(&bytes[..len]);
            assert!(got.is_err(), "{hex} cut at {len} decoded: {got:?}");
        }
        assert!(decode(&bytes).is_ok());
    }
}

#[test]
fn odd_but_valid_inputs() {
    // Non-minimal flags varint, unknown flag bits, error flag with 0 and trailing bytes: accepted.
    let mut b = vec![RESPONSE_ID, 0xfd, 0x48, 0x00, 1, 0];
    b.extend_from_slice(&ipv4_bytes(&local(9)));
    b.push(0); // error 0 (flag 8)
    b.extend_from_slice(b"trailing");
    let Message::Response(r) = decode(&b).unwrap() else { panic!() };
    assert_eq!((r.tid, r.error, r.to), (1, 0, local(9)));
    // A closer-node count larger than the datagram is rejected before allocating.
    let mut b = vec![RESPONSE_ID, 4, 0, 0];
    b.extend_from_slice(&ipv4_bytes(&local(9)));
    b.extend_from_slice(&[0xfe, 0xff, 0xff, 0x0f, 0x00]);
    assert!(matches!(decode(&b), Err(DecodeError::Field(FieldError::Truncated { .. }))));
    b.truncate(10);
    b.extend_from_slice(&[0xfe, 0x01, 0x00, 0x20, 0x00]);
    assert_eq!(decode(&b), Err(DecodeError::Field(FieldError::ArrayTooLarge(0x20_0001))));
    assert_eq!(decode(&[0x23, 0]), Err(DecodeError::NotRpc(0x23)));
    // 64-bit varints: up to 2^53 - 1, as JS (compact-encoding 3 throws above it, so dht-rpc
    // drops the datagram).
    let mut b = vec![REQUEST_ID, 0, 0, 0];
    b.extend_from_slice(&ipv4_bytes(&local(9)));
    b.push(0xff);
    b.extend_from_slice(&MAX_SAFE_INTEGER.to_le_bytes());
    let Message::Request(r) = decode(&b).unwrap() else { panic!() };
    assert_eq!(r.command, MAX_SAFE_INTEGER);
    assert_eq!(r.encode(), b);
    b.truncate(b.len() - 8);
    b.extend_from_slice(&(MAX_SAFE_INTEGER + 1).to_le_bytes());
    assert_eq!(decode(&b), Err(DecodeError::Field(FieldError::UintTooLarge(MAX_SAFE_INTEGER + 1))));
}

fn addr_strategy() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
}

fn request_strategy() -> impl Strategy<Value = RequestMessage> {
    (
        any::<u16>(),
        addr_strategy(),
        proptest::option::of(any::<[u8; 32]>()),
        proptest::option::of(any::<[u8; 32]>()),
        any::<bool>(),
        prop_oneof![0u64..300, 0..=MAX_SAFE_INTEGER],
        proptest::option::of(any::<[u8; 32]>()),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
    )
        .prop_map(|(tid, to, id, token, internal, command, target, value)| RequestMessage {
            tid,
            to,
            id,
            token,
            internal,
            command,
            target,
            value,
        })
}

fn response_strategy() -> impl Strategy<Value = ResponseMessage> {
    (
        any::<u16>(),
        addr_strategy(),
        proptest::option::of(any::<[u8; 32]>()),
        proptest::option::of(any::<[u8; 32]>()),
        proptest::collection::vec(addr_strategy(), 0..30),
        prop_oneof![Just(0u64), 1u64..100, 0..=MAX_SAFE_INTEGER],
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
    )
        .prop_map(|(tid, to, id, token, closer_nodes, error, value)| ResponseMessage {
            tid,
            to,
            id,
            token,
            closer_nodes,
            error,
            value,
        })
}

proptest! {
    #[test]
    fn request_roundtrip(m in request_strategy()) {
        let bytes = m.encode();
        prop_assert_eq!(decode(&bytes), Ok(Message::Request(m)));
        for len in 0..bytes.len() {
            prop_assert!(decode(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn response_roundtrip(m in response_strategy()) {
        let bytes = m.encode();
        prop_assert_eq!(decode(&bytes), Ok(Message::Response(m)));
        for len in 0..bytes.len() {
            prop_assert!(decode(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), first in prop_oneof![Just(REQUEST_ID), Just(RESPONSE_ID), any::<u8>()]) {
        let mut b = bytes;
        if !b.is_empty() {
            b[0] = first;
        }
        let _ = decode(&b);
    }
}
