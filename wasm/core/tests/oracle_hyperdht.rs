//! HyperDHT against JS: vectors from `tests/js/gen-dht-fixtures.mjs` (`tests/fixtures/dht/`,
//! made by hyperdht's own `lib/messages.js`, `lib/crypto.js`, `lib/noise-wrap.js`,
//! `lib/secure-payload.js`, `lib/persistent.js`) and a live JS judge (`tests/js/dht-check.mjs`)
//! for what Rust makes.
#![allow(clippy::unwrap_used, missing_docs)]

mod dht_support;

use dht_support::*;
use hyperwasm::crypto::KeyPair;
use hyperwasm::encoding::Compact;
use hyperwasm::hyperdht::crypto::*;
use hyperwasm::hyperdht::messages::{decode, HolepunchPayload, NoisePayload, Peer};
use hyperwasm::hyperdht::noise_wrap::{NoiseWrap, NoiseWrapError, NoiseWrapResult};
use hyperwasm::hyperdht::secure_payload::SecurePayload;
use serde_json::{json, Value};

fn seeded(n: u64) -> KeyPair {
    KeyPair::from_seed(&[u8::try_from(n).unwrap(); 32])
}

/// Checks one vector: JS's `error` / `decoded` / `reencodedIfDifferent` against Rust.
fn check_vector(codec: &str, what: &str, bytes: &[u8], v: &Value) {
    match (judge(codec, bytes), v["error"].as_str()) {
        (Err(_), Some(_)) => {}
        (Err(e), None) => panic!("{codec} {what}: JS decodes {}, Rust refuses: {e}", hex::encode(bytes)),
        (Ok((json, _)), Some(js)) => panic!("{codec} {what}: JS refuses ({js}), Rust decodes {json}"),
        (Ok((json, again)), None) => {
            assert_eq!(json, v["decoded"], "{codec} {what}: decoded fields");
            let want = if v["reencodedIfDifferent"].is_null() {
                bytes.to_vec()
            } else {
                unhex(&v["reencodedIfDifferent"])
            };
            assert_eq!(hex::encode(again), hex::encode(want), "{codec} {what}: re-encoding");
        }
    }
}

#[test]
fn messages_match_js() {
    let v = load("messages.json");
    let mut counts = (0, 0, 0, 0);
    for codec in CODECS {
        let c = &v["codecs"][codec];
        let encode = c["encode"].as_array().unwrap();
        let decode = c["decode"].as_array().unwrap();
        assert!(encode.len() >= 3 && decode.len() >= 100, "{codec}: too few vectors");
        for e in encode {
            let bytes = unhex(&e["hex"]);
            check_vector(codec, s(&e["name"]), &bytes, e);
            counts.0 += 1;
            // Every truncation: refused, except the prefixes JS accepts.
            let accepted = e["acceptedPrefixes"].as_array().unwrap();
            for n in 0..bytes.len() {
                let name = format!("{} cut at {n}", s(&e["name"]));
                match accepted.iter().find(|p| num(&p["length"]) == n as u64) {
                    Some(p) => check_vector(codec, &name, &bytes[..n], p),
                    None => check_vector(codec, &name, &bytes[..n], &json!({ "error": "refused" })),
                }
                counts.1 += 1;
            }
        }
        for d in decode {
            check_vector(codec, s(&d["name"]), &unhex(&d["hex"]), d);
            if d["error"].is_null() {
                counts.2 += 1;
            } else {
                counts.3 += 1;
            }
        }
    }
    eprintln!(
        "{} encode vectors, {} truncations, {} odd inputs JS accepts, {} it refuses",
        counts.0, counts.1, counts.2, counts.3
    );
    assert!(counts.0 > 300 && counts.1 > 10_000 && counts.2 > 1000 && counts.3 > 1000, "{counts:?}");
}

#[test]
fn namespaces_hashes_and_signatures_match_js() {
    let v = load("crypto.json");
    let ns = &v["namespaces"];
    for (name, value) in [
        ("ANNOUNCE", NS_ANNOUNCE),
        ("UNANNOUNCE", NS_UNANNOUNCE),
        ("MUTABLE_PUT", NS_MUTABLE_PUT),
        ("PEER_HANDSHAKE", NS_PEER_HANDSHAKE),
        ("PEER_HOLEPUNCH", NS_PEER_HOLEPUNCH),
        ("PLUGIN", NS_PLUGIN),
    ] {
        assert_eq!(hex::encode(value), s(&ns[name]), "NS_{name}");
    }
    for h in v["hashes"].as_array().unwrap() {
        assert_eq!(hex::encode(hash(&unhex(&h["data"]))), s(&h["hash"]));
    }
    let records = v["records"].as_array().unwrap();
    assert!(records.len() >= 8);
    for r in records {
        let kp = seeded(num(&r["seedByte"]));
        assert_eq!(hex::encode(kp.public_key()), s(&r["publicKey"]));
        let (target, node_id, token) = (unhex_n(&r["target"]), unhex_n(&r["nodeId"]), unhex_n(&r["token"]));
        let peer = peer_from(&r["peer"]);
        let refresh: Option<[u8; 32]> =
            if r["refresh"].is_null() { None } else { Some(unhex_n(&r["refresh"])) };
        let refresh = refresh.as_ref();
        let ann = sign_announce(&target, &node_id, &token, &peer, refresh, &kp);
        assert_eq!(hex::encode(ann), s(&r["announceSignature"]));
        let unann = sign_unannounce(&target, &node_id, &token, &peer, refresh, &kp);
        assert_eq!(hex::encode(unann), s(&r["unannounceSignature"]));
        assert!(verify_announce(&ann, &target, &node_id, &token, &peer, refresh));
        assert!(verify_unannounce(&unann, &target, &node_id, &token, &peer, refresh));
        assert!(!verify_announce(&unann, &target, &node_id, &token, &peer, refresh));
        // The keyless signable is what gets signed (a relay asks the key holder to sign it).
        assert_eq!(kp.sign(&announce_signable(&target, &node_id, &token, &peer, refresh)), ann);
    }
    for m in v["mutables"].as_array().unwrap() {
        let kp = seeded(num(&m["seedByte"]));
        let (seq, value) = (num(&m["seq"]), unhex(&m["value"]));
        let sig = sign_mutable(seq, &value, &kp);
        assert_eq!(hex::encode(sig), s(&m["signature"]));
        assert!(verify_mutable(&sig, seq, &value, &kp.public_key()));
        assert!(!verify_mutable(&sig, seq ^ 1, &value, &kp.public_key()));
    }
}

/// A peer from its JSON form, through the bytes JS would encode.
fn peer_from(v: &Value) -> Peer {
    let mut bytes = unhex(&v["publicKey"]);
    let addrs = v["relayAddresses"].as_array().unwrap();
    hyperwasm::encoding::put_uint(&mut bytes, addrs.len() as u64);
    for a in addrs {
        let a: std::net::SocketAddrV4 = s(a).parse().unwrap();
        hyperwasm::hyperdht::messages::put_ipv4(&mut bytes, &a);
    }
    let p: Peer = decode(&bytes).unwrap();
    assert_eq!(peer(&p), *v);
    p
}

fn final_json(r: &NoiseWrapResult) -> Value {
    let h = &r.handshake;
    json!({
        "isInitiator": h.is_initiator,
        "publicKey": hex::encode(h.public_key),
        "remotePublicKey": hex::encode(h.remote_public_key),
        "remoteId": hex::encode(r.remote_id),
        "holepunchSecret": hex::encode(r.holepunch_secret),
        "hash": hex::encode(h.hash),
        "tx": hex::encode(h.tx),
        "rx": hex::encode(h.rx),
    })
}

#[test]
fn noise_transcripts_match_js_in_both_roles() {
    let v = load("noise.json");
    let list = v["transcripts"].as_array().unwrap();
    assert!(list.len() >= 6);
    for t in list {
        let name = s(&t["name"]);
        let (ck, sk) =
            (seeded(num(&t["client"]["staticSeedByte"])), seeded(num(&t["server"]["staticSeedByte"])));
        let mut client = NoiseWrap::initiator(&ck, sk.public_key());
        let mut server = NoiseWrap::responder(&sk);
        client.set_ephemeral(&seeded(num(&t["client"]["ephemeralSeedByte"])));
        server.set_ephemeral(&seeded(num(&t["server"]["ephemeralSeedByte"])));
        let client_payload = unhex(&t["clientPayload"]);
        let msg1 = unhex(&t["msg1"]);
        // Payloads JS builds are sent through `send`; raw ones (other versions, garbage) are
        // checked on the receiving side only.
        let sendable =
            decode::<NoisePayload>(&client_payload).ok().filter(|p| p.to_bytes() == client_payload);
        if let Some(p) = &sendable {
            assert_eq!(hex::encode(client.send(p).unwrap()), s(&t["msg1"]), "{name}: msg1");
        }
        let received = server.recv(&msg1);
        if let Some(err) = t["serverError"].as_str() {
            let e = received.unwrap_err();
            assert!(matches!(e, NoiseWrapError::Payload(_)), "{name}: {e:?} (JS: {err})");
            assert_eq!(e.code(), "HANDSHAKE_INVALID");
            continue;
        }
        let received = received.unwrap();
        assert_eq!(noise_payload(&received), t["serverReceived"], "{name}: server view");
        assert_eq!(server.remote_public_key(), Some(ck.public_key()));
        let server_payload: NoisePayload = decode(&unhex(&t["serverPayload"])).unwrap();
        let msg2 = server.send(&server_payload).unwrap();
        assert_eq!(hex::encode(&msg2), s(&t["msg2"]), "{name}: msg2");
        if sendable.is_some() {
            let got = client.recv(&msg2).unwrap();
            assert_eq!(noise_payload(&got), t["clientReceived"], "{name}: client view");
            assert_eq!(final_json(&client.finish().unwrap()), t["final"]["client"], "{name}: client final");
        }
        assert_eq!(final_json(&server.finish().unwrap()), t["final"]["server"], "{name}: server final");
    }
}

#[test]
fn secure_payloads_match_js() {
    let v = load("secure-payload.json");
    let boxes = v["boxes"].as_array().unwrap();
    assert!(boxes.len() >= 8);
    for b in boxes {
        let sp = SecurePayload::with_local_secret(unhex_n(&b["secret"]), unhex_n(&b["localSecret"]));
        let payload: HolepunchPayload = decode(&unhex(&b["plaintext"])).unwrap();
        assert_eq!(holepunch_payload(&payload), b["payload"]);
        let sealed = sp.encrypt_with_nonce(&payload, &unhex_n(&b["nonce"]));
        assert_eq!(hex::encode(&sealed), s(&b["sealed"]));
        assert_eq!(holepunch_payload(&sp.decrypt(&sealed).unwrap()), b["opened"]);
        for t in b["tokens"].as_array().unwrap() {
            let host: std::net::Ipv4Addr = s(&t["host"]).parse().unwrap();
            assert_eq!(hex::encode(sp.token(host)), s(&t["token"]), "token of {host}");
        }
    }
    let sp = SecurePayload::new(unhex_n(&v["openSecret"])).unwrap();
    for o in v["opens"].as_array().unwrap() {
        let got = sp.decrypt(&unhex(&o["sealed"]));
        match (&got, o["opened"].is_null()) {
            (Err(e), true) => assert_eq!(e.code(), "HOLEPUNCH_INVALID"),
            (Ok(p), false) => assert_eq!(holepunch_payload(p), o["opened"], "{}", s(&o["name"])),
            _ => panic!("{}: Rust {got:?}, JS {}", s(&o["name"]), o["opened"]),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What Rust makes, judged live by JS.

#[test]
fn js_decodes_what_rust_encodes() {
    let mut js = JsJudge::spawn();
    let mut g = Gen::new(5);
    let mut n = 0;
    for codec in CODECS {
        for _ in 0..40 {
            let (bytes, json) = g.value(codec);
            let answer = js.ask(json!({ "op": "decode", "codec": codec, "hex": hex::encode(&bytes) }));
            assert_eq!(answer["error"], Value::Null, "{codec}: JS refuses {}", hex::encode(&bytes));
            assert_eq!(answer["decoded"], json, "{codec}: JS reads other fields");
            assert_eq!(answer["reencodedIfDifferent"], Value::Null, "{codec}: JS re-encodes otherwise");
            n += 1;
        }
    }
    assert_eq!(n, 40 * CODECS.len());
}

#[test]
fn js_agrees_on_signatures_made_in_rust() {
    let mut js = JsJudge::spawn();
    let mut g = Gen::new(7);
    for i in 0..24u64 {
        let seed = 100 + i;
        let kp = seeded(seed);
        let peer = Peer { public_key: kp.public_key(), relay_addresses: g.v4s(3) };
        let (target, node_id, token): ([u8; 32], [u8; 32], [u8; 32]) = (g.bytes(), g.bytes(), g.bytes());
        let refresh: Option<[u8; 32]> = g.opt(|g| g.bytes());
        for (op, sig) in [
            ("signAnnounce", sign_announce(&target, &node_id, &token, &peer, refresh.as_ref(), &kp)),
            ("signUnannounce", sign_unannounce(&target, &node_id, &token, &peer, refresh.as_ref(), &kp)),
        ] {
            let answer = js.ask(json!({
                "op": op, "seedByte": seed, "target": hex::encode(target), "nodeId": hex::encode(node_id),
                "token": hex::encode(token), "peer": hex::encode(peer.to_bytes()),
                "refresh": refresh.map(hex::encode),
            }));
            assert_eq!(answer["signature"], json!(hex::encode(sig)), "{op} {i}");
        }
        let (seq, value) = (g.uint(false), g.vec(400));
        let sig = sign_mutable(seq, &value, &kp);
        let answer = js
            .ask(json!({ "op": "signMutable", "seedByte": seed, "seq": seq, "value": hex::encode(&value) }));
        assert_eq!(answer["signature"], json!(hex::encode(sig)));
        let verify = |js: &mut JsJudge, sig: [u8; 64]| {
            js.ask(json!({ "op": "verifyMutable", "publicKey": hex::encode(kp.public_key()), "seq": seq,
                "value": hex::encode(&value), "signature": hex::encode(sig) }))["valid"]
                .clone()
        };
        assert_eq!(verify(&mut js, sig), json!(true));
        let mut bad = sig;
        bad[5] ^= 1;
        assert_eq!(verify(&mut js, bad), json!(false));
    }
}

#[test]
fn noise_handshakes_with_live_js_in_both_roles() {
    let mut js = JsJudge::spawn();
    let mut g = Gen::new(11);
    for i in 0..12u64 {
        let (rust_kp, js_seed) = (seeded(150 + i), 200 + i);
        let js_pk =
            hex::decode(s(&js.ask(json!({ "op": "noiseNew", "id": 0, "seedByte": js_seed }))["publicKey"]))
                .unwrap();
        let js_pk: [u8; 32] = js_pk.try_into().unwrap();
        let (p1, p2) = (g.noise_payload(true), g.noise_payload(true));

        // Rust client, JS server (JS session 0 is a responder).
        let mut client = NoiseWrap::initiator(&rust_kp, js_pk);
        let msg1 = client.send(&p1).unwrap();
        let got = js.ask(json!({ "op": "noiseRecv", "id": 0, "message": hex::encode(&msg1) }));
        assert_eq!(got["received"], noise_payload(&p1), "{i}: JS server view");
        let msg2 = js.ask(json!({ "op": "noiseSend", "id": 0, "payload": hex::encode(p2.to_bytes()) }));
        assert_eq!(client.recv(&unhex(&msg2["message"])).unwrap(), p2, "{i}: client view");
        let js_final = js.ask(json!({ "op": "noiseFinal", "id": 0 }))["final"].clone();
        let ours = client.finish().unwrap();
        assert_same_session(&ours, &js_final);

        // JS client, Rust server (JS session 1 is an initiator).
        let id1 = 1;
        js.ask(json!({ "op": "noiseNew", "id": id1, "seedByte": js_seed, "remotePublicKey": hex::encode(rust_kp.public_key()) }));
        let msg1 = js.ask(json!({ "op": "noiseSend", "id": id1, "payload": hex::encode(p1.to_bytes()) }));
        let mut server = NoiseWrap::responder(&rust_kp);
        assert_eq!(server.recv(&unhex(&msg1["message"])).unwrap(), p1, "{i}: Rust server view");
        assert_eq!(server.remote_public_key(), Some(js_pk));
        let msg2 = server.send(&p2).unwrap();
        let got = js.ask(json!({ "op": "noiseRecv", "id": id1, "message": hex::encode(&msg2) }));
        assert_eq!(got["received"], noise_payload(&p2), "{i}: JS client view");
        let js_final = js.ask(json!({ "op": "noiseFinal", "id": id1 }))["final"].clone();
        assert_same_session(&server.finish().unwrap(), &js_final);
    }
    // JS refuses a first message that was tampered with.
    js.ask(json!({ "op": "noiseNew", "id": 2, "seedByte": 9 }));
    let mut client = NoiseWrap::initiator(&seeded(1), seeded(9).public_key());
    let mut msg1 = client.send(&NoisePayload::default()).unwrap();
    msg1[40] ^= 1;
    assert!(js.ask(json!({ "op": "noiseRecv", "id": 2, "message": hex::encode(&msg1) }))["error"].is_string());
}

/// Our result and the JS peer's describe the two ends of one session.
fn assert_same_session(ours: &NoiseWrapResult, js: &Value) {
    let h = &ours.handshake;
    assert_eq!(js["isInitiator"], json!(!h.is_initiator));
    assert_eq!(js["hash"], json!(hex::encode(h.hash)));
    assert_eq!(js["tx"], json!(hex::encode(h.rx)));
    assert_eq!(js["rx"], json!(hex::encode(h.tx)));
    assert_eq!(js["publicKey"], json!(hex::encode(h.remote_public_key)));
    assert_eq!(js["remotePublicKey"], json!(hex::encode(h.public_key)));
    assert_eq!(js["holepunchSecret"], json!(hex::encode(ours.holepunch_secret)));
    // JS's remoteId is the id *we* send: our stream id.
    assert_eq!(
        js["remoteId"],
        json!(hex::encode(hyperwasm::secret_stream::stream_id(&h.hash, h.is_initiator)))
    );
}

#[test]
fn secure_payloads_cross_between_rust_and_js() {
    let mut js = JsJudge::spawn();
    let mut g = Gen::new(13);
    for i in 0..30 {
        let (secret, local): ([u8; 32], [u8; 32]) = (g.bytes(), g.bytes());
        let sp = SecurePayload::with_local_secret(secret, local);
        let payload = g.holepunch_payload();
        let sealed = sp.encrypt(&payload).unwrap();
        let opened =
            js.ask(json!({ "op": "open", "secret": hex::encode(secret), "sealed": hex::encode(&sealed) }));
        assert_eq!(opened["opened"], holepunch_payload(&payload), "{i}: JS opens Rust's box");
        if payload.error < 0xfd && payload.firewall < 0xfd && payload.round < 0xfd {
            let theirs = js.ask(json!({ "op": "seal", "secret": hex::encode(secret), "payload": hex::encode(payload.to_bytes()) }));
            assert_eq!(sp.decrypt(&unhex(&theirs["sealed"])).unwrap(), payload, "{i}: Rust opens JS's box");
        }
        let host = g.v4();
        let token = js
            .ask(json!({ "op": "token", "secret": hex::encode(secret), "localSecret": hex::encode(local),
            "host": host.ip().to_string() }));
        assert_eq!(token["token"], json!(hex::encode(sp.token(*host.ip()))));
        // Wrong key: JS says null, Rust says HOLEPUNCH_INVALID.
        let other =
            js.ask(json!({ "op": "open", "secret": hex::encode(local), "sealed": hex::encode(&sealed) }));
        assert_eq!(other["opened"], Value::Null);
        assert_eq!(
            SecurePayload::with_local_secret(local, local).decrypt(&sealed).unwrap_err().code(),
            "HOLEPUNCH_INVALID"
        );
    }
}
