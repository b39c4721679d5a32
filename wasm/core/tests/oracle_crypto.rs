//! `crypto.json`: compact-encoding vectors, BLAKE2b, namespaces, discovery keys, Ed25519 key
//! pairs and signatures, Merkle hashes and the block generator, checked against the JS oracle.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::load;
use hyperwasm::crypto::hash::{
    blake2b, blake2b_batch, blake2b_keyed, discovery_key, leaf_hash, namespace, parent_hash, tree_hash,
};
use hyperwasm::crypto::{caps, sign, KeyPair};
use hyperwasm::encoding::{
    put_array, put_buffer, put_optional_buffer, put_string, put_u64, put_uint, put_uint32_array, DecodeError,
    Decoder, MAX_SAFE_INTEGER,
};
use hyperwasm::testing::fixtures::{blake2b_ctr, unhex, unhex_n, NodeJson};
use hyperwasm::tree::Node;
use serde_json::Value;

fn crypto() -> Value {
    load("crypto.json")
}

fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a Vec<Value> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_array().unwrap_or_else(|| panic!("{path:?} is not an array"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a string"))
}

fn node(v: &Value) -> Node {
    serde_json::from_value::<NodeJson>(v.clone()).unwrap().node()
}

/// Checks `encode(value) == hex` and `decode(hex) == value` with every byte consumed.
fn round_trip<T: PartialEq + std::fmt::Debug>(
    what: &str,
    value: T,
    hex_str: &str,
    enc: impl Fn(&mut Vec<u8>, &T),
    dec: impl Fn(&mut Decoder<'_>) -> Result<T, DecodeError>,
) {
    let mut out = Vec::new();
    enc(&mut out, &value);
    assert_eq!(hex::encode(&out), hex_str, "{what}: encoding of {value:?}");
    let bytes = unhex(hex_str);
    let mut d = Decoder::new(&bytes);
    assert_eq!(dec(&mut d).unwrap(), value, "{what}: decoding of {hex_str}");
    assert!(d.is_empty(), "{what}: {hex_str} left bytes");
}

#[test]
fn compact_encoding_vectors() {
    let v = crypto();
    let ce = &v["compactEncoding"];
    let mut checked = 0usize;
    let mut total = 0usize;
    for key in [
        "uint",
        "uint64",
        "buffer",
        "optionalBuffer",
        "string",
        "uint32array",
        "arrayOfUint",
        "arrayOfString",
        "bool",
    ] {
        total += arr(ce, &[key]).len();
    }

    for e in arr(ce, &["uint"]) {
        let n = e["value"].as_u64().unwrap();
        round_trip("uint", n, s(&e["hex"]), |o, n| put_uint(o, *n), |d| d.uint());
        checked += 1;
    }
    for e in arr(ce, &["uint64"]) {
        let n = e["value"].as_u64().unwrap();
        round_trip("uint64", n, s(&e["hex"]), |o, n| put_u64(o, *n), |d| d.u64());
        checked += 1;
    }
    for e in arr(ce, &["buffer"]) {
        round_trip(
            "buffer",
            unhex(s(&e["value"])),
            s(&e["hex"]),
            |o, b| put_buffer(o, b),
            |d| d.buffer().map(<[u8]>::to_vec),
        );
        checked += 1;
    }
    for e in arr(ce, &["optionalBuffer"]) {
        let value = e["value"].as_str().map(unhex);
        round_trip(
            "optionalBuffer",
            value,
            s(&e["hex"]),
            |o, b| put_optional_buffer(o, b.as_deref()),
            |d| d.optional_buffer().map(|b| b.map(<[u8]>::to_vec)),
        );
        checked += 1;
    }
    for e in arr(ce, &["string"]) {
        round_trip(
            "string",
            s(&e["value"]).to_owned(),
            s(&e["hex"]),
            |o, t| put_string(o, t),
            |d| d.string().map(str::to_owned),
        );
        checked += 1;
    }
    for e in arr(ce, &["uint32array"]) {
        let words: Vec<u32> =
            e["value"].as_array().unwrap().iter().map(|w| w.as_u64().unwrap() as u32).collect();
        round_trip("uint32array", words, s(&e["hex"]), |o, w| put_uint32_array(o, w), |d| d.uint32_array());
        checked += 1;
    }
    for e in arr(ce, &["arrayOfUint"]) {
        let items: Vec<u64> = e["value"].as_array().unwrap().iter().map(|w| w.as_u64().unwrap()).collect();
        round_trip(
            "arrayOfUint",
            items,
            s(&e["hex"]),
            |o, it| put_array(o, it, |o, n| put_uint(o, *n)),
            |d| d.array_of(|d| d.uint()),
        );
        checked += 1;
    }
    for e in arr(ce, &["arrayOfString"]) {
        let items: Vec<String> = e["value"].as_array().unwrap().iter().map(|w| s(w).to_owned()).collect();
        round_trip(
            "arrayOfString",
            items,
            s(&e["hex"]),
            |o, it| put_array(o, it, |o, t| put_string(o, t)),
            |d| d.array_of(|d| d.string().map(str::to_owned)),
        );
        checked += 1;
    }
    for e in arr(ce, &["bool"]) {
        // The crate has no `put_bool`: `c.bool` is one byte 0/1, which is what is encoded here;
        // the decoder under test is `Decoder::bool`.
        round_trip(
            "bool",
            e["value"].as_bool().unwrap(),
            s(&e["hex"]),
            |o, b| o.push(u8::from(*b)),
            |d| d.bool(),
        );
        checked += 1;
    }
    assert!(checked > 0);
    assert_eq!(checked, total);

    // uintOverflow: JS throws when encoding 2^53 with `c.uint`. Rust treats it as a caller bug
    // (debug assertion), and refuses to decode it.
    let overflow = &ce["uintOverflow"];
    assert_eq!(s(&overflow["value"]), "2^53");
    assert!(s(&overflow["error"]).contains("9007199254740991"));
    if cfg!(debug_assertions) {
        assert!(std::panic::catch_unwind(|| put_uint(&mut Vec::new(), MAX_SAFE_INTEGER + 1)).is_err());
    }
    let mut nine = vec![0xff];
    nine.extend_from_slice(&(MAX_SAFE_INTEGER + 1).to_le_bytes());
    assert_eq!(Decoder::new(&nine).uint(), Err(DecodeError::UintTooLarge(MAX_SAFE_INTEGER + 1)));
}

#[test]
fn blake2b_vectors() {
    let v = crypto();
    let mut checked = 0usize;
    for e in arr(&v, &["blake2b256", "plain"]) {
        let msg = unhex(s(&e["message"]));
        assert_eq!(hex::encode(blake2b(&msg)), s(&e["hash"]));
        assert_eq!(hex::encode(blake2b_batch(&[msg.as_slice()])), s(&e["hash"]));
        checked += 1;
    }
    for e in arr(&v, &["blake2b256", "keyed"]) {
        let msg = unhex(s(&e["message"]));
        let key = unhex(s(&e["key"]));
        assert_eq!(hex::encode(blake2b_keyed(&[msg.as_slice()], &key)), s(&e["hash"]));
        checked += 1;
    }
    for e in arr(&v, &["blake2b256", "batch"]) {
        let parts: Vec<Vec<u8>> = e["messages"].as_array().unwrap().iter().map(|m| unhex(s(m))).collect();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let got = match e["key"].as_str() {
            Some(k) => blake2b_keyed(&refs, &unhex(k)),
            None => blake2b_batch(&refs),
        };
        assert_eq!(hex::encode(got), s(&e["hash"]));
        checked += 1;
    }
    let total = ["plain", "keyed", "batch"].iter().map(|k| arr(&v, &["blake2b256", k]).len()).sum::<usize>();
    assert!(checked > 0);
    assert_eq!(checked, total);
}

#[test]
fn namespaces_and_discovery_keys() {
    let v = crypto();
    let mut checked = 0usize;
    for (key, rust_name) in [("hypercore", "hypercore"), ("secretStream", "hyperswarm/secret-stream")] {
        let ns = &v["namespaces"][key];
        assert_eq!(s(&ns["name"]), rust_name);
        let count = ns["count"].as_u64().unwrap() as u8;
        let got = namespace(s(&ns["name"]).as_bytes(), count);
        let entries = arr(ns, &["entries"]);
        assert_eq!(entries.len(), count as usize);
        assert_eq!(got.len(), entries.len());
        for (g, e) in got.iter().zip(entries) {
            assert_eq!(hex::encode(g), s(&e["hex"]), "{key} {}", s(&e["name"]));
            checked += 1;
        }
    }
    // The named capabilities the crate exposes.
    let hc = arr(&v, &["namespaces", "hypercore", "entries"]);
    let named = |n: &str| s(&hc.iter().find(|e| s(&e["name"]) == n).unwrap()["hex"]).to_owned();
    assert_eq!(hex::encode(caps::tree()), named("TREE"));
    assert_eq!(hex::encode(caps::manifest()), named("MANIFEST"));
    assert_eq!(hex::encode(caps::default_namespace()), named("DEFAULT_NAMESPACE"));
    assert_eq!(hex::encode(caps::default_encryption()), named("DEFAULT_ENCRYPTION"));
    assert_eq!(checked, 9);

    let dks = arr(&v, &["discoveryKeys"]);
    for e in dks {
        assert_eq!(hex::encode(discovery_key(&unhex_n(s(&e["key"])))), s(&e["discoveryKey"]));
    }
    assert!(!dks.is_empty());
}

#[test]
fn key_pairs_and_signatures() {
    let v = crypto();
    let kps = arr(&v, &["keyPairs"]);
    for e in kps {
        let seed: [u8; 32] = unhex_n(s(&e["seed"]));
        assert_eq!(seed, [e["seedByte"].as_u64().unwrap() as u8; 32]);
        let kp = KeyPair::from_seed(&seed);
        assert_eq!(hex::encode(kp.public_key()), s(&e["publicKey"]));
        assert_eq!(hex::encode(kp.secret_key()), s(&e["secretKey"]));
        let again = KeyPair::from_secret_key(&unhex_n(s(&e["secretKey"]))).unwrap();
        assert_eq!(again.public_key(), kp.public_key());
    }
    assert!(!kps.is_empty());

    let sigs = arr(&v, &["signatures"]);
    for e in sigs {
        let kp = KeyPair::from_secret_key(&unhex_n(s(&e["secretKey"]))).unwrap();
        assert_eq!(hex::encode(kp.public_key()), s(&e["publicKey"]));
        let msg = unhex(s(&e["message"]));
        let sig = unhex(s(&e["signature"]));
        let pk = unhex(s(&e["publicKey"]));
        let valid = e["valid"].as_bool().unwrap();
        if valid {
            // Ed25519 is deterministic: identical bytes.
            assert_eq!(hex::encode(kp.sign(&msg)), s(&e["signature"]));
        }
        assert_eq!(sign::verify(&msg, &sig, &pk), valid);
        // Negative controls derived from the vector.
        let mut bad_msg = msg.clone();
        bad_msg.push(0);
        assert!(!sign::verify(&bad_msg, &sig, &pk));
        let mut bad_sig = sig.clone();
        bad_sig[5] ^= 1;
        assert!(!sign::verify(&msg, &bad_sig, &pk));
        assert!(!sign::verify(&msg, &sig[..63], &pk));
    }
    assert!(!sigs.is_empty());
}

#[test]
fn merkle_hashes() {
    let v = crypto();
    let leaves = arr(&v, &["leafHashes"]);
    for e in leaves {
        let data = unhex(s(&e["data"]));
        assert_eq!(hex::encode(leaf_hash(&data)), s(&e["hash"]));
        assert_eq!(hex::encode(Node::leaf(0, &data).hash), s(&e["hash"]));
    }
    let parents = arr(&v, &["parentHashes"]);
    for e in parents {
        let (l, r) = (node(&e["left"]), node(&e["right"]));
        assert_eq!(hex::encode(parent_hash(l.size + r.size, &l.hash, &r.hash)), s(&e["hash"]));
        let p = Node::parent(&r, &l);
        assert_eq!(hex::encode(p.hash), s(&e["hash"]));
        assert_eq!(p.size, l.size + r.size);
    }
    let trees = arr(&v, &["treeHashes"]);
    for e in trees {
        let roots: Vec<Node> = e["roots"].as_array().unwrap().iter().map(node).collect();
        assert_eq!(hex::encode(tree_hash(roots.iter().map(|r| (&r.hash, r.index, r.size)))), s(&e["hash"]));
        assert_eq!(hex::encode(hyperwasm::tree::merkle_tree::hash_roots(&roots)), s(&e["hash"]));
    }
    assert!(trees.iter().any(|t| t["roots"].as_array().unwrap().is_empty()), "empty roots covered");
    assert!(!leaves.is_empty() && !parents.is_empty());
}

#[test]
fn prng_vectors() {
    let v = crypto();
    let vecs = arr(&v, &["prngVectors"]);
    for e in vecs {
        let size = e["size"].as_u64().unwrap() as usize;
        assert_eq!(hex::encode(blake2b_ctr(&unhex(s(&e["seed"])), size)), s(&e["bytes"]));
    }
    assert!(!vecs.is_empty());
}
