//! The `@hyperswarm/dht-relay` channel's 28 messages against the JS package (0.4.3):
//! `tests/fixtures/dht-relay/messages.json` (values the package's codecs encoded, decoded by
//! us to the same fields and re-encoded byte for byte; trailing bytes and unknown flag bits
//! decoded as JS decodes them) and a live JS decoder (`tests/js/check-dht-relay-decode.mjs`)
//! reading what our encoder writes for every message the relay sends.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Command, Stdio};

use hyperwasm::encoding::Decoder;
use hyperwasm_relay::relay_server::js_compat::codecs::{Announcers, DhtNode, Peer};
use hyperwasm_relay::relay_server::js_compat::messages::*;
use hyperwasm_relay::split_mix::SplitMix;
use serde_json::{json, Value};

fn h(b: &[u8]) -> Value {
    Value::String(hex::encode(b))
}

fn addr(a: &SocketAddrV4) -> Value {
    json!({ "host": a.ip().to_string(), "port": a.port() })
}

fn secret(k: &Option<SecretKey>) -> Value {
    k.as_ref().map_or(Value::Null, |k| h(k.expose()))
}

fn hs_fields(r: &HandshakeRef) -> (bool, Value, Value) {
    match r {
        HandshakeRef::Hash(x) => (true, h(&x[..]), Value::Null),
        HandshakeRef::Id(i) => (false, Value::Null, json!(i)),
    }
}

/// The message as JS's decoder returns it (field names, nulls), buffers as hex.
fn to_json(m: &Message) -> Value {
    match m {
        Message::Handshake(x) => {
            json!({"custodial": x.secret_key.is_some(), "publicKey": h(&x.public_key), "secretKey": secret(&x.secret_key)})
        }
        Message::Ping | Message::Pong => Value::Null,
        Message::Connect(x) => json!({
            "custodial": x.secret_key.is_some(), "alias": x.alias, "publicKey": h(&x.public_key),
            "secretKey": secret(&x.secret_key), "remotePublicKey": h(&x.remote_public_key)
        }),
        Message::Connection(x) => {
            let (custodial, hash, id) = hs_fields(&x.handshake);
            json!({"custodial": custodial, "alias": x.alias, "serverAlias": x.server_alias,
                   "remotePublicKey": h(&x.remote_public_key), "handshakeHash": hash, "handshakeId": id})
        }
        Message::Connected { alias, remote_alias } => json!({"alias": alias, "remoteAlias": remote_alias}),
        Message::Incoming { id, server_alias, remote_public_key, payload } => json!({
            "id": id, "serverAlias": server_alias, "remotePublicKey": h(remote_public_key), "payload": h(payload)
        }),
        Message::Deny { id } | Message::Accept { id } | Message::Finished { id } => json!({ "id": id }),
        Message::Close { alias } | Message::Closed { alias } | Message::End { alias } => {
            json!({ "alias": alias })
        }
        Message::Destroy(x) => {
            let (paired, alias, remote) = match x.target {
                DestroyTarget::Paired { alias } => (true, json!(alias), Value::Null),
                DestroyTarget::Unpaired { remote_alias } => (false, Value::Null, json!(remote_alias)),
            };
            json!({"paired": paired, "alias": alias, "remoteAlias": remote, "error": x.error})
        }
        Message::Listen(x) => json!({
            "custodial": x.secret_key.is_some(), "alias": x.alias, "publicKey": h(&x.public_key),
            "secretKey": secret(&x.secret_key)
        }),
        Message::Listening { alias, remote_alias, address } => json!({
            "alias": alias, "remoteAlias": remote_alias, "host": address.ip().to_string(), "port": address.port()
        }),
        Message::Open(x) => {
            let (custodial, hash, id) = hs_fields(&x.handshake);
            json!({"custodial": custodial, "alias": x.alias, "remoteAlias": x.remote_alias,
                   "handshakeHash": hash, "handshakeId": id})
        }
        Message::Data { alias, data } => {
            json!({"alias": alias, "data": data.iter().map(|d| h(d)).collect::<Vec<_>>()})
        }
        Message::Result { id, data } => json!({"id": id, "data": h(data)}),
        Message::Lookup { id, topic } => json!({"id": id, "topic": h(topic)}),
        Message::Announce(x) | Message::Unannounce(x) => json!({
            "custodial": x.secret_key.is_some(), "id": x.id, "topic": h(&x.topic), "publicKey": h(&x.public_key),
            "secretKey": secret(&x.secret_key)
        }),
        Message::SignAnnounce(x) | Message::SignUnannounce(x) => json!({
            "id": x.id, "signee": x.signee, "token": h(&x.token),
            "peerId": x.peer_id.as_deref().map_or(Value::Null, h),
            "relayAddresses": x.relay_addresses.iter().map(addr).collect::<Vec<_>>()
        }),
        Message::Signature { id, signature } => json!({"id": id, "signature": h(signature)}),
        Message::NoiseSend(x) => {
            let (init, alias) = match x.role {
                NoiseSendRole::Initiator { remote_stream_alias } => (true, json!(remote_stream_alias)),
                NoiseSendRole::Responder => (false, Value::Null),
            };
            json!({"isInitiator": init, "id": x.id, "remoteStreamAlias": alias, "payload": h(&x.payload)})
        }
        Message::NoiseReceive(x) => {
            let (init, alias) = match x.role {
                NoiseReceiveRole::Initiator => (true, Value::Null),
                NoiseReceiveRole::Responder { server_alias } => (false, json!(server_alias)),
            };
            json!({"isInitiator": init, "id": x.id, "serverAlias": alias, "payload": h(&x.payload)})
        }
        Message::NoiseReply(x) => json!({
            "isInitiator": x.is_initiator, "complete": x.complete.is_some(), "id": x.id, "payload": h(&x.payload),
            "remotePublicKey": x.remote_public_key.as_ref().map_or(Value::Null, |k| h(k)),
            "remoteId": x.complete.as_ref().map_or(Value::Null, |c| h(&c.remote_id)),
            "holepunchSecret": x.complete.as_ref().map_or(Value::Null, |c| h(&c.holepunch_secret)),
        }),
    }
}

fn fixtures() -> Value {
    let path = common::repo_root().join("tests/fixtures/dht-relay/messages.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn js_order_is_ours() {
    let f = fixtures();
    let order: Vec<&str> = f["order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(order.len(), 28);
    for (i, name) in order.iter().enumerate() {
        assert_eq!(MessageType::ALL[i].name(), *name);
    }
}

#[test]
fn js_encodings_decode_to_the_same_fields_and_re_encode_byte_for_byte() {
    let f = fixtures();
    let vectors = f["encode"].as_array().unwrap();
    let mut seen = std::collections::HashSet::new();
    for v in vectors {
        let ty = v["type"].as_u64().unwrap();
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        let m = Message::decode(ty, &bytes).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(m.kind() as u64, ty);
        assert_eq!(to_json(&m), v["value"], "fields of {}", v["name"]);
        assert_eq!(hex::encode(m.to_bytes()), v["hex"].as_str().unwrap(), "re-encoding of {}", v["name"]);
        assert!(v["truncationsAccepted"].as_array().unwrap().is_empty());
        for cut in 0..bytes.len() {
            assert!(Message::decode(ty, &bytes[..cut]).is_err(), "{} cut at {cut} decodes", v["name"]);
        }
        seen.insert(ty);
    }
    assert_eq!(seen.len(), 28, "every message type has a vector");
}

#[test]
fn js_decodings_of_trailing_bytes_and_unknown_flags() {
    let f = fixtures();
    let vectors = f["decode"].as_array().unwrap();
    assert!(vectors.len() > 50);
    for v in vectors {
        let ty = v["type"].as_u64().unwrap();
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        match Message::decode(ty, &bytes) {
            Ok(m) => assert_eq!(to_json(&m), v["value"], "{v}"),
            Err(e) => assert!(v["error"].is_string(), "we refuse what JS decodes: {v}: {e}"),
        }
    }
}

#[test]
fn announcers_match_js() {
    let f = fixtures();
    let bytes = hex::decode(f["announcers"]["hex"].as_str().unwrap()).unwrap();
    let a = Announcers::decode(&mut Decoder::new(&bytes)).unwrap();
    let want = &f["announcers"]["value"];
    let node = |n: &DhtNode| json!({"id": n.id.as_deref().map_or(Value::Null, h), "host": n.address.ip().to_string(), "port": n.address.port()});
    let peer = |p: &Peer| json!({"publicKey": h(&p.public_key), "relayAddresses": p.relay_addresses.iter().map(addr).collect::<Vec<_>>()});
    let got = json!({"token": h(&a.token), "from": node(&a.from), "to": node(&a.to), "peers": a.peers.iter().map(peer).collect::<Vec<_>>()});
    assert_eq!(&got, want);
    assert_eq!(a.to_bytes(), bytes);
}

/// Deterministic values for the messages the relay sends.
fn relay_sent(rng: &mut SplitMix) -> Vec<Message> {
    let mut out = Vec::new();
    let key = |rng: &mut SplitMix| {
        let mut k = [0u8; 32];
        for b in k.iter_mut() {
            *b = rng.next_u64() as u8;
        }
        k
    };
    let bytes = |rng: &mut SplitMix, max: u64| -> Vec<u8> {
        let n = rng.next_u64() % (max + 1);
        (0..n).map(|_| rng.next_u64() as u8).collect()
    };
    let addr = |rng: &mut SplitMix| {
        let r = rng.next_u64();
        SocketAddrV4::new(Ipv4Addr::from((r >> 16) as u32), r as u16)
    };
    for _ in 0..20 {
        let id = rng.next_u64() as u32;
        let id2 = rng.next_u64() as u32;
        out.push(Message::Ping);
        out.push(Message::Pong);
        out.push(Message::Connection(Connection {
            alias: id,
            server_alias: id2,
            remote_public_key: key(rng),
            handshake: HandshakeRef::Id(id ^ id2),
        }));
        let error = match rng.next_u64() % 3 {
            0 => None,
            1 => Some("Stream was destroyed".to_string()),
            _ => Some("CUSTODIAL_REFUSED: this relay is non-custodial ✓".to_string()),
        };
        let target = if rng.next_u64().is_multiple_of(2) {
            DestroyTarget::Paired { alias: id }
        } else {
            DestroyTarget::Unpaired { remote_alias: id }
        };
        out.push(Message::Destroy(Destroy { target, error }));
        out.push(Message::Listening { alias: id, remote_alias: id2, address: addr(rng) });
        out.push(Message::Closed { alias: id });
        out.push(Message::Open(Open { alias: id, remote_alias: id2, handshake: HandshakeRef::Id(id2) }));
        out.push(Message::End { alias: id });
        let chunks = (0..rng.next_u64() % 3).map(|_| bytes(rng, 70_000)).filter(|c| !c.is_empty()).collect();
        out.push(Message::Data { alias: id, data: chunks });
        let a = Announcers {
            token: key(rng),
            from: DhtNode { id: Some(key(rng).to_vec()), address: addr(rng) },
            to: DhtNode { id: None, address: addr(rng) },
            peers: (0..rng.next_u64() % 4)
                .map(|_| Peer {
                    public_key: key(rng),
                    relay_addresses: (0..rng.next_u64() % 3).map(|_| addr(rng)).collect(),
                })
                .collect(),
        };
        out.push(Message::Result { id, data: a.to_bytes() });
        out.push(Message::Finished { id });
        let req = |rng: &mut SplitMix| SignRequest {
            id: rng.next_u64() as u32,
            signee: id,
            token: key(rng),
            peer_id: Some(key(rng).to_vec()),
            relay_addresses: (0..rng.next_u64() % 4).map(|_| addr(rng)).collect(),
        };
        out.push(Message::SignAnnounce(req(rng)));
        out.push(Message::SignUnannounce(req(rng)));
        let role = if rng.next_u64().is_multiple_of(2) {
            NoiseSendRole::Initiator { remote_stream_alias: id2 }
        } else {
            NoiseSendRole::Responder
        };
        out.push(Message::NoiseSend(NoiseSend { id, role, payload: bytes(rng, 200) }));
        let role = if rng.next_u64().is_multiple_of(2) {
            NoiseReceiveRole::Initiator
        } else {
            NoiseReceiveRole::Responder { server_alias: id2 }
        };
        let mut payload = bytes(rng, 200);
        payload.push(1);
        out.push(Message::NoiseReceive(NoiseReceive { id, role, payload }));
    }
    out
}

#[test]
fn js_decodes_what_the_relay_sends() {
    let script = common::repo_root().join("tests/js/check-dht-relay-decode.mjs");
    assert!(
        common::repo_root().join("tests/js/node_modules/@hyperswarm/dht-relay").is_dir(),
        "tests/js/node_modules is missing: run `make setup`"
    );
    let mut child = Command::new(common::node())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node is needed for this test (it does not skip)");
    let msgs = relay_sent(&mut SplitMix::new(0x6a73_636f_6d70_6174));
    {
        let mut stdin = child.stdin.take().unwrap();
        for m in &msgs {
            let line = json!({"type": m.kind() as u64, "hex": hex::encode(m.to_bytes())});
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut n = 0;
    for (m, line) in msgs.iter().zip(stdout.lines()) {
        let got: Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(got["error"], Value::Null, "JS cannot decode our {m:?}");
        assert_eq!(got["name"], m.kind().name());
        assert_eq!(got["value"], to_json(m), "JS reads our {} differently", m.kind().name());
        assert_eq!(got["used"], got["length"], "JS leaves bytes of our {} unread", m.kind().name());
        n += 1;
    }
    assert_eq!(n, msgs.len());
    assert!(child.wait().unwrap().success());
}
