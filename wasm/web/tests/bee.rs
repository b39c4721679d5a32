//! The Rust Hyperbee on IndexedDB in headless Chromium, against JS hyperbee 2.27.3:
//! - the JS-recorded op scripts replayed on an IndexedDB core write the same bytes as JS, block
//!   by block (through the Rust API and through the JS `Hyperbee` class, concurrent calls
//!   included), and read back after closing and reopening the database;
//! - a bee JS made (its blocks appended to an IndexedDB core) reads as JS reads it;
//! - the JS class: encodings (JSON bytes = `JSON.stringify`), subs, batches, cas, checkouts,
//!   errors with `.code`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

use std::cell::Cell;

use hyperwasm::bee::{BeeOptions, Hyperbee, Metadata, Node};
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::replicator::{CoreSet, SharedCore};
use hyperwasm_web::{IdbStorage, JsHyperbee, JsHypercore};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CODEC: &str = include_str!("../../../tests/fixtures/bee/codec.json");

thread_local! {
    static SEQ: Cell<u32> = const { Cell::new(0) };
}

fn name(tag: &str) -> String {
    let n = SEQ.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    format!("hyperwasm-bee-{tag}-{n}-{}", js_sys::Math::random())
}

async fn idb_core(name: &str) -> SharedCore<IdbStorage> {
    IdbStorage::delete_database(name).await.unwrap();
    let storage = IdbStorage::open(name).await.unwrap();
    let core = Hypercore::create(storage, CreateOptions::default()).await.unwrap();
    CoreSet::new().insert(core)
}

async fn reopen_idb_core(name: &str) -> SharedCore<IdbStorage> {
    let storage = IdbStorage::open(name).await.unwrap();
    CoreSet::new().insert(Hypercore::open(storage).await.unwrap())
}

async fn close_idb_core(core: SharedCore<IdbStorage>) {
    core.lock().await.storage().storage().close();
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

fn bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(k)).unwrap()
}

async fn ok(p: Promise) -> JsValue {
    JsFuture::from(p).await.unwrap()
}

async fn code_of(p: Promise) -> String {
    let err = JsFuture::from(p).await.expect_err("expected a rejection");
    assert!(err.is_instance_of::<js_sys::Error>(), "rejections are Error objects: {err:?}");
    get(&err, "code").as_string().unwrap()
}

fn to_vec(v: &JsValue) -> Vec<u8> {
    v.dyn_ref::<Uint8Array>().expect("a Uint8Array").to_vec()
}

/// The `bee` scenario of codec.json: ops, and every block JS wrote.
fn codec_bee() -> (Vec<(String, String)>, Vec<Vec<u8>>) {
    let f: Value = serde_json::from_str(CODEC).unwrap();
    let ops = f["bee"]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o[0].as_str().unwrap().to_string(), o[1].as_str().unwrap().to_string()))
        .collect();
    let blocks = f["bee"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| hex::decode(b.as_str().unwrap()).unwrap())
        .collect();
    (ops, blocks)
}

fn codec_bee_options() -> BeeOptions {
    BeeOptions {
        metadata: Some(Metadata { content_feed: None, user_data: Some(b"hyperwasm".to_vec()) }),
        ..BeeOptions::default()
    }
}

/// What the codec.json bee holds at the end: key → value (from the JS blocks).
fn codec_bee_final(ops: &[(String, String)], blocks: &[Vec<u8>]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut m = std::collections::BTreeMap::new();
    for (i, (op, key)) in ops.iter().enumerate() {
        let node = Node::decode(&blocks[i + 1]).unwrap();
        let full = if op == "sub.put" {
            [b"sub\0".as_slice(), key.as_bytes()].concat()
        } else {
            key.as_bytes().to_vec()
        };
        match op.as_str() {
            "put" | "sub.put" => {
                m.insert(full, Some(node.value.unwrap()));
            }
            "del" => {
                m.remove(&full);
            }
            other => panic!("unknown op {other}"),
        }
    }
    m.into_iter().collect()
}

#[wasm_bindgen_test]
async fn codec_bee_replays_byte_for_byte_on_idb_and_reopens() {
    let (ops, blocks) = codec_bee();
    let n = name("replay");
    let core = idb_core(&n).await;
    let bee = Hyperbee::open(core.clone(), codec_bee_options()).await.unwrap();
    let sub = bee.sub(b"sub", None);
    for (i, (op, key)) in ops.iter().enumerate() {
        let seq = i as u64 + 1;
        let js = Node::decode(&blocks[seq as usize]).unwrap();
        match op.as_str() {
            "put" => bee.put(key.as_bytes(), js.value.as_deref().unwrap()).await.unwrap(),
            "del" => assert!(bee.del(key.as_bytes()).await.unwrap()),
            "sub.put" => sub.put(key.as_bytes(), js.value.as_deref().unwrap()).await.unwrap(),
            other => panic!("unknown op {other}"),
        }
        let ours = core.get(seq).await.unwrap().unwrap();
        assert_eq!(hex::encode(&ours), hex::encode(&blocks[seq as usize]), "block {seq} after {op} {key}");
    }
    assert_eq!(core.get(0).await.unwrap().unwrap(), blocks[0], "header block");
    drop((bee, sub));
    close_idb_core(core).await;

    // Reopen the database by name: every block and every entry is read back from IndexedDB.
    let core = reopen_idb_core(&n).await;
    assert_eq!(core.info().await.length, blocks.len() as u64);
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(&core.get(i as u64).await.unwrap().unwrap(), b, "block {i} after reopen");
    }
    let bee = Hyperbee::open(core.clone(), BeeOptions::default()).await.unwrap();
    let want = codec_bee_final(&ops, &blocks);
    for (k, v) in &want {
        let got = bee.get(k).await.unwrap().unwrap_or_else(|| panic!("{k:?} missing after reopen"));
        assert_eq!(&got.value, v, "{k:?}");
    }
    for i in (0..40).step_by(3) {
        assert!(bee.get(format!("key-{i:03}").as_bytes()).await.unwrap().is_none(), "deleted key-{i:03}");
    }
    let header = bee.header().await.unwrap().unwrap();
    assert_eq!(header.protocol, "hyperbee");
    assert_eq!(header.metadata.unwrap().user_data.as_deref(), Some(&b"hyperwasm"[..]));
    close_idb_core(core).await;
    IdbStorage::delete_database(&n).await.unwrap();
}

/// The same script through the JS class, every call issued at once without awaiting: the write
/// order is the call order, so the blocks are still JS's.
#[wasm_bindgen_test]
async fn codec_bee_through_the_js_class_concurrently() {
    let (ops, blocks) = codec_bee();
    let n = name("jsclass");
    JsHypercore::delete_storage(n.clone()).await.unwrap();
    let core = JsHypercore::create(n.clone(), JsValue::UNDEFINED).await.unwrap();
    let opts = obj(&[
        ("keyEncoding", s("utf-8")),
        ("valueEncoding", s("binary")),
        ("metadata", obj(&[("userData", bytes(b"hyperwasm"))])),
    ]);
    let db = JsHyperbee::new(&core, opts).unwrap();
    let sub = db.sub(s("sub"), JsValue::UNDEFINED).unwrap();
    let mut pending = Vec::new();
    for (i, (op, key)) in ops.iter().enumerate() {
        let js = Node::decode(&blocks[i + 1]).unwrap();
        let value = js.value.as_deref().map_or(JsValue::NULL, bytes);
        pending.push(match op.as_str() {
            "put" => db.put(s(key), value, JsValue::UNDEFINED),
            "del" => db.del(s(key), JsValue::UNDEFINED),
            "sub.put" => sub.put(s(key), value, JsValue::UNDEFINED),
            other => panic!("unknown op {other}"),
        });
    }
    ok(Promise::all(&pending.into_iter().collect::<Array>())).await;
    assert_eq!(db.append_batches(), 1.0, "66 concurrent writes are one group commit");
    assert_eq!(core.length(), blocks.len() as f64, "the core's length is current once the writes resolved");
    assert_eq!(db.version(), blocks.len() as f64);
    for (i, want) in blocks.iter().enumerate() {
        let got = to_vec(&ok(core.get(i as f64)).await);
        assert_eq!(hex::encode(got), hex::encode(want), "block {i}");
    }

    // Reads through the class decode with its encodings.
    let e = ok(db.get(s("key-001"), JsValue::UNDEFINED)).await;
    assert_eq!(get(&e, "key").as_string().unwrap(), "key-001");
    assert_eq!(to_vec(&get(&e, "value")), Node::decode(&blocks[24]).unwrap().value.unwrap());
    assert_eq!(get(&e, "seq").as_f64().unwrap(), 24.0);
    assert!(ok(db.get(s("key-000"), JsValue::UNDEFINED)).await.is_null());
    let e = ok(sub.get(s("s3"), JsValue::UNDEFINED)).await;
    assert_eq!(
        (get(&e, "key").as_string().unwrap(), to_vec(&get(&e, "value"))),
        ("s3".into(), b"v3".to_vec())
    );
    let by_seq = ok(db.get_by_seq(41.0, JsValue::UNDEFINED)).await;
    assert_eq!(get(&by_seq, "key").as_string().unwrap(), "key-000");
    assert!(get(&by_seq, "value").is_null(), "a deletion record has no value");
    let header = ok(db.get_header()).await;
    assert_eq!(get(&header, "protocol").as_string().unwrap(), "hyperbee");
    assert_eq!(to_vec(&get(&get(&header, "metadata"), "userData")), b"hyperwasm");
    ok(db.close()).await;
    assert!(core.closed(), "closing the main bee closes its core (as JS)");

    // Reopen by name through the class.
    let core = JsHypercore::open(n.clone(), JsValue::UNDEFINED).await.unwrap();
    let db = JsHyperbee::new(&core, obj(&[("keyEncoding", s("utf-8"))])).unwrap();
    let e = ok(db.get(s("big"), JsValue::UNDEFINED)).await;
    assert_eq!(to_vec(&get(&e, "value")), Node::decode(&blocks[66]).unwrap().value.unwrap());
    assert_eq!(ok(JsHyperbee::is_hyperbee(&core)).await.as_bool(), Some(true));
    ok(db.close()).await;
    JsHypercore::delete_storage(n).await.unwrap();
}

/// A bee JS made: its blocks appended as they are to an IndexedDB core, read as JS reads it.
#[wasm_bindgen_test]
async fn reads_a_js_made_bee() {
    let (ops, blocks) = codec_bee();
    let n = name("jsmade");
    JsHypercore::delete_storage(n.clone()).await.unwrap();
    let core = JsHypercore::create(n.clone(), JsValue::UNDEFINED).await.unwrap();
    let all: Array = blocks.iter().map(|b| bytes(b)).collect();
    ok(core.append(all.into())).await;
    let db =
        JsHyperbee::new(&core, obj(&[("keyEncoding", s("utf-8")), ("readonly", JsValue::TRUE)])).unwrap();
    for (k, v) in codec_bee_final(&ops, &blocks) {
        let key = String::from_utf8(k).unwrap();
        let e = ok(db.get(s(&key), JsValue::UNDEFINED)).await;
        assert!(!e.is_null(), "{key}");
        assert_eq!(Some(to_vec(&get(&e, "value"))), v, "{key}");
    }
    assert_eq!(code_of(db.put(s("x"), s("y"), JsValue::UNDEFINED)).await, "SESSION_NOT_WRITABLE");
    ok(core.close()).await;
    JsHypercore::delete_storage(n).await.unwrap();
}

#[wasm_bindgen_test]
async fn encodings_subs_batches_cas_checkouts_and_errors() {
    let n = name("api");
    JsHypercore::delete_storage(n.clone()).await.unwrap();
    let core = JsHypercore::create(n.clone(), JsValue::UNDEFINED).await.unwrap();
    let db =
        JsHyperbee::new(&core, obj(&[("keyEncoding", s("utf-8")), ("valueEncoding", s("json"))])).unwrap();
    ok(db.ready()).await;
    assert_eq!(db.version(), 1.0);

    // JSON values are the bytes of the page's JSON.stringify.
    let value = js_sys::JSON::parse(r#"{"b":[1,2.5,"x"],"a":null,"c":{"d":true}}"#).unwrap();
    ok(db.put(s("j"), value.clone(), JsValue::UNDEFINED)).await;
    let raw = Node::decode(&to_vec(&ok(core.get(1.0)).await)).unwrap();
    assert_eq!(raw.key, b"j");
    assert_eq!(raw.value.unwrap(), js_sys::JSON::stringify(&value).unwrap().as_string().unwrap().as_bytes());
    let e = ok(db.get(s("j"), JsValue::UNDEFINED)).await;
    assert_eq!(js_sys::JSON::stringify(&get(&e, "value")).unwrap(), js_sys::JSON::stringify(&value).unwrap());
    // Per-call encodings.
    let e = ok(db.get(s("j"), obj(&[("valueEncoding", s("utf-8"))]))).await;
    assert_eq!(get(&e, "value").as_string().unwrap(), r#"{"b":[1,2.5,"x"],"a":null,"c":{"d":true}}"#);
    assert_eq!(
        code_of(db.put(s("bad"), JsValue::UNDEFINED, obj(&[("valueEncoding", s("nope"))]))).await,
        "BAD_ARGUMENT"
    );
    assert_eq!(code_of(db.get(JsValue::NULL, JsValue::UNDEFINED)).await, "BAD_ARGUMENT");

    // Subs: own key space, own encodings.
    let users = db.sub(s("users"), obj(&[("valueEncoding", s("utf-8"))])).unwrap();
    ok(users.put(s("ann"), s("admin"), JsValue::UNDEFINED)).await;
    assert_eq!(
        get(&ok(users.get(s("ann"), JsValue::UNDEFINED)).await, "value").as_string().unwrap(),
        "admin"
    );
    assert!(ok(db.get(s("ann"), JsValue::UNDEFINED)).await.is_null());
    let raw = Node::decode(&to_vec(&ok(core.get(2.0)).await)).unwrap();
    assert_eq!(raw.key, b"users\0ann");
    let nested = users.sub(s("x"), obj(&[("sep", s("!"))])).unwrap();
    ok(nested.put(s("k"), s("v"), JsValue::UNDEFINED)).await;
    assert_eq!(Node::decode(&to_vec(&ok(core.get(3.0)).await)).unwrap().key, b"users\0x!k");

    // Batches: reads see the batch, flush appends every block at once, close drops them.
    let b = db.batch(JsValue::UNDEFINED).unwrap();
    let puts: Array = (0..20)
        .map(|i| JsValue::from(b.put(s(&format!("b{i:02}")), JsValue::from(i), JsValue::UNDEFINED)))
        .collect();
    // A bee write issued meanwhile waits for the batch.
    let later = db.put(s("after"), JsValue::from(1), JsValue::UNDEFINED);
    ok(Promise::all(&puts)).await;
    assert_eq!(b.length(), 20.0);
    assert_eq!(get(&ok(b.get(s("b07"), JsValue::UNDEFINED)).await, "value").as_f64(), Some(7.0));
    assert!(ok(db.get(s("b07"), JsValue::UNDEFINED)).await.is_null(), "not flushed yet");
    assert_eq!(core.length(), 4.0);
    ok(b.flush()).await;
    assert_eq!(core.length(), 24.0);
    ok(later).await;
    assert_eq!(core.length(), 25.0);
    assert_eq!(Node::decode(&to_vec(&ok(core.get(24.0)).await)).unwrap().key, b"after");
    let b2 = db.batch(JsValue::UNDEFINED).unwrap();
    ok(b2.put(s("dropped"), JsValue::from(1), JsValue::UNDEFINED)).await;
    ok(b2.close()).await;
    assert!(ok(db.get(s("dropped"), JsValue::UNDEFINED)).await.is_null());
    assert_eq!(core.length(), 25.0);

    // cas: (prev, next) → boolean; prev decoded, next as given.
    let refuse = Function::new_with_args("prev, next", "return prev.value.n !== next.value.n");
    ok(db.put(s("c"), obj(&[("n", JsValue::from(1))]), JsValue::UNDEFINED)).await;
    let len = core.length();
    ok(db.put(s("c"), obj(&[("n", JsValue::from(1))]), obj(&[("cas", refuse.clone().into())]))).await;
    assert_eq!(core.length(), len, "vetoed by cas");
    ok(db.put(s("c"), obj(&[("n", JsValue::from(2))]), obj(&[("cas", refuse.into())]))).await;
    assert_eq!(core.length(), len + 1.0);
    let never = Function::new_with_args("prev, next", "return next.value === null && prev.seq < 0");
    ok(db.del(s("c"), obj(&[("cas", never.into())]))).await;
    assert!(!ok(db.get(s("c"), JsValue::UNDEFINED)).await.is_null(), "del vetoed by cas");
    let throws = Function::new_with_args("prev, next", "throw new Error('no')");
    assert!(JsFuture::from(db.put(s("c"), JsValue::from(3), obj(&[("cas", throws.into())]))).await.is_err());
    let promised = Function::new_with_args("prev, next", "return Promise.resolve(true)");
    assert_eq!(
        code_of(db.put(s("c"), JsValue::from(3), obj(&[("cas", promised.into())]))).await,
        "BAD_ARGUMENT"
    );
    ok(db.del(s("c"), JsValue::UNDEFINED)).await;
    assert!(ok(db.get(s("c"), JsValue::UNDEFINED)).await.is_null());

    // Concurrent writes with cas and on a checkout keep their place: cas ones run alone, the
    // checkout's is refused, the others of the group are written.
    let before = db.append_batches();
    let len = core.length();
    let yes = Function::new_with_args("prev, next", "return true");
    let old_view = db.checkout(len, JsValue::UNDEFINED).unwrap();
    let calls: Array = [
        db.put(s("g1"), JsValue::from(1), JsValue::UNDEFINED),
        db.put(s("g2"), JsValue::from(2), JsValue::UNDEFINED),
        db.put(s("g1"), JsValue::from(3), obj(&[("cas", yes.into())])),
        db.put(s("g3"), JsValue::from(4), JsValue::UNDEFINED),
        db.del(s("g2"), JsValue::UNDEFINED),
    ]
    .into_iter()
    .map(JsValue::from)
    .collect();
    let refused = old_view.put(s("g4"), JsValue::from(5), JsValue::UNDEFINED);
    ok(Promise::all(&calls)).await;
    assert_eq!(code_of(refused).await, "SESSION_NOT_WRITABLE");
    assert_eq!(db.append_batches(), before + 3.0, "[g1, g2] | cas g1 | [g3, del g2]");
    assert_eq!(core.length(), len + 5.0);
    let keys: Vec<Vec<u8>> = {
        let mut v = Vec::new();
        for i in 0..5 {
            v.push(Node::decode(&to_vec(&ok(core.get(len + i as f64)).await)).unwrap().key);
        }
        v
    };
    assert_eq!(keys, [b"g1".to_vec(), b"g2".to_vec(), b"g1".to_vec(), b"g3".to_vec(), b"g2".to_vec()]);
    assert_eq!(get(&ok(db.get(s("g1"), JsValue::UNDEFINED)).await, "value").as_f64(), Some(3.0));
    assert!(ok(db.get(s("g2"), JsValue::UNDEFINED)).await.is_null());

    // Checkouts and snapshots are fixed versions, read-only.
    let v = db.version();
    let snap = db.snapshot(JsValue::UNDEFINED).unwrap();
    let old = db.checkout(2.0, JsValue::UNDEFINED).unwrap();
    ok(db.put(s("j"), JsValue::from(5), JsValue::UNDEFINED)).await;
    assert_eq!(snap.version(), v);
    assert_eq!(db.version(), v + 1.0);
    assert_ne!(get(&ok(snap.get(s("j"), JsValue::UNDEFINED)).await, "value").as_f64(), Some(5.0));
    assert_eq!(get(&ok(db.get(s("j"), JsValue::UNDEFINED)).await, "value").as_f64(), Some(5.0));
    assert!(ok(old.get(s("after"), JsValue::UNDEFINED)).await.is_null());
    assert!(!ok(old.get(s("j"), JsValue::UNDEFINED)).await.is_null());
    assert_eq!(code_of(old.put(s("x"), JsValue::from(1), JsValue::UNDEFINED)).await, "SESSION_NOT_WRITABLE");
    assert!(!old.writable() && db.writable());

    // Errors.
    assert_eq!(code_of(db.get_by_seq(10_000.0, JsValue::UNDEFINED)).await, "BAD_ARGUMENT");
    ok(core.close()).await;
    assert_eq!(code_of(db.get(s("j"), JsValue::UNDEFINED)).await, "SESSION_CLOSED");
    assert_eq!(code_of(db.put(s("j"), JsValue::from(1), JsValue::UNDEFINED)).await, "SESSION_CLOSED");
    JsHypercore::delete_storage(n).await.unwrap();
}

/// Calls method `name` of a JS object.
fn call(o: &JsValue, name: &str, args: &[JsValue]) -> JsValue {
    let f: Function = get(o, name).dyn_into().unwrap_or_else(|_| panic!("no method {name}"));
    f.apply(o, &args.iter().collect::<Array>()).unwrap_or_else(|e| panic!("{name} threw {e:?}"))
}

async fn next_of(it: &JsValue) -> JsValue {
    ok(call(it, "next", &[]).dyn_into().unwrap()).await
}

/// Resolves after `ms` milliseconds.
async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        let set_timeout: Function = get(&js_sys::global(), "setTimeout").dyn_into().unwrap();
        set_timeout.call2(&JsValue::UNDEFINED, &resolve, &JsValue::from(ms)).unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

#[wasm_bindgen_test]
async fn streams_watchers_and_iterator_protocol() {
    let n = name("streams");
    JsHypercore::delete_storage(n.clone()).await.unwrap();
    let core = JsHypercore::create(n.clone(), JsValue::UNDEFINED).await.unwrap();
    let db =
        JsHyperbee::new(&core, obj(&[("keyEncoding", s("utf-8")), ("valueEncoding", s("utf-8"))])).unwrap();
    for k in ["b", "a", "d", "c"] {
        ok(db.put(s(k), s(&k.to_uppercase()), JsValue::UNDEFINED)).await;
    }
    ok(db.del(s("d"), JsValue::UNDEFINED)).await;

    // A read stream is an async iterator: Symbol.asyncIterator returns itself; next/return.
    let it = db.create_read_stream(obj(&[("gt", s("a"))]), JsValue::UNDEFINED).unwrap();
    let sym = js_sys::Symbol::async_iterator();
    let iter_fn: Function = Reflect::get(&it, &sym).unwrap().dyn_into().unwrap();
    assert_eq!(iter_fn.call0(&it).unwrap(), it);
    let first = next_of(&it).await;
    assert_eq!(get(&first, "done").as_bool(), Some(false));
    assert_eq!(get(&get(&first, "value"), "key").as_string().unwrap(), "b");
    ok(call(&it, "return", &[JsValue::UNDEFINED]).dyn_into().unwrap()).await;
    assert_eq!(get(&next_of(&it).await, "done").as_bool(), Some(true));

    let keys = |arr: JsValue| -> Vec<String> {
        Array::from(&arr).iter().map(|e| get(&e, "key").as_string().unwrap()).collect()
    };
    let all = db.create_read_stream(obj(&[("reverse", JsValue::TRUE)]), JsValue::UNDEFINED).unwrap();
    assert_eq!(keys(ok(call(&all, "toArray", &[]).dyn_into().unwrap()).await), ["c", "b", "a"]);
    assert_eq!(
        get(&ok(db.peek(obj(&[("gte", s("b"))]), JsValue::UNDEFINED)).await, "value").as_string().unwrap(),
        "B"
    );

    // History: puts and the deletion, by seq; negative bounds count from the version.
    let h = db.create_history_stream(obj(&[("gte", JsValue::from(-2))])).unwrap();
    let h = Array::from(&ok(call(&h, "toArray", &[]).dyn_into().unwrap()).await);
    let kinds: Vec<(String, String)> = h
        .iter()
        .map(|e| (get(&e, "type").as_string().unwrap(), get(&e, "key").as_string().unwrap()))
        .collect();
    assert_eq!(kinds, [("put".to_string(), "c".to_string()), ("del".to_string(), "d".to_string())]);

    // Diff against an older version, by number and by handle.
    let old = db.checkout(3.0, JsValue::UNDEFINED).unwrap();
    for other in [JsValue::from(3), JsValue::from(old)] {
        let d = db.create_diff_stream(other, JsValue::UNDEFINED, JsValue::UNDEFINED).unwrap();
        let d = Array::from(&ok(call(&d, "toArray", &[]).dyn_into().unwrap()).await);
        // Version 3 had b and a; now c was added (d was added and deleted since).
        assert_eq!(d.length(), 1, "{d:?}");
        let e = d.get(0);
        assert_eq!(get(&get(&e, "left"), "key").as_string().unwrap(), "c");
        assert!(get(&e, "right").is_null());
    }

    // A live history stream yields appends as they come.
    let live = db.create_history_stream(obj(&[("live", JsValue::TRUE), ("gte", JsValue::from(-1))])).unwrap();
    // gte -1: from the last block on (the deletion of d).
    assert_eq!(get(&get(&next_of(&live).await, "value"), "key").as_string().unwrap(), "d");
    let pending = call(&live, "next", &[]).dyn_into::<Promise>().unwrap();
    ok(db.put(s("e"), s("E"), JsValue::UNDEFINED)).await;
    assert_eq!(get(&get(&ok(pending).await, "value"), "key").as_string().unwrap(), "e");
    ok(call(&live, "return", &[JsValue::UNDEFINED]).dyn_into().unwrap()).await;

    // watch(range): [current, previous] snapshots when the range changed, not otherwise.
    let w = db.watch(obj(&[("gte", s("m")), ("lt", s("n"))]), JsValue::UNDEFINED).unwrap();
    let change = call(&w, "next", &[]).dyn_into::<Promise>().unwrap();
    ok(db.put(s("z"), s("outside"), JsValue::UNDEFINED)).await;
    ok(db.put(s("m1"), s("inside"), JsValue::UNDEFINED)).await;
    let step = ok(change).await;
    let pair = Array::from(&get(&step, "value"));
    let (current, previous) = (pair.get(0), pair.get(1));
    assert!(get(&current, "version").as_f64().unwrap() > get(&previous, "version").as_f64().unwrap());
    let cur_db: JsValue = current.clone();
    let got = ok(call(&cur_db, "get", &[s("m1")]).dyn_into().unwrap()).await;
    assert_eq!(get(&got, "value").as_string().unwrap(), "inside");
    let prev_got = ok(call(&previous, "get", &[s("m1")]).dyn_into().unwrap()).await;
    assert!(prev_got.is_null());
    // close() ends a waiting next() with done.
    let waiting = call(&w, "next", &[]).dyn_into::<Promise>().unwrap();
    sleep(20).await; // next() is waiting for a change by now
    ok(call(&w, "close", &[]).dyn_into().unwrap()).await;
    assert_eq!(get(&ok(waiting).await, "done").as_bool(), Some(true));

    // getAndWatch(key): .node follows the key; 'update' listeners hear each change.
    let ew = ok(db.get_and_watch(s("k"), JsValue::UNDEFINED)).await;
    assert!(get(&ew, "node").is_null());
    let count = Array::new();
    let listener = Function::new_with_args("", "this.push(1)").bind0(&count);
    call(&ew, "on", &[s("update"), listener.into()]);
    ok(db.put(s("k"), s("v1"), JsValue::UNDEFINED)).await;
    ok(db.put(s("other"), s("x"), JsValue::UNDEFINED)).await;
    for _ in 0..100 {
        if !get(&ew, "node").is_null() {
            break;
        }
        sleep(10).await;
    }
    assert_eq!(get(&get(&ew, "node"), "value").as_string().unwrap(), "v1");
    ok(db.del(s("k"), JsValue::UNDEFINED)).await;
    for _ in 0..100 {
        if get(&ew, "node").is_null() {
            break;
        }
        sleep(10).await;
    }
    assert!(get(&ew, "node").is_null());
    assert_eq!(count.length(), 2, "one update per change of k");
    ok(call(&ew, "close", &[]).dyn_into().unwrap()).await;

    // Watching a checkout fails like JS.
    let cw =
        db.checkout(2.0, JsValue::UNDEFINED).unwrap().watch(JsValue::UNDEFINED, JsValue::UNDEFINED).unwrap();
    assert!(JsFuture::from(call(&cw, "next", &[]).dyn_into::<Promise>().unwrap()).await.is_err());
    ok(db.close()).await;
    JsHypercore::delete_storage(n).await.unwrap();
}
