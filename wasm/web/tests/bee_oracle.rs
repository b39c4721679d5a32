//! The hyperbee oracle (JS hyperbee 2.27.3, `tests/fixtures/bee/ops.json` and `reads.json`,
//! made by `tests/js/gen-bee-ops.mjs`; the native twin is `wasm/core/tests/oracle_bee_ops.rs`)
//! on IndexedDB in headless Chromium:
//!
//! - every scenario's operation script (but the two 2,000-put ones, for time) replayed through
//!   the Rust API on an IndexedDB core, step by step: core length after each step, every block byte for byte, what `cas` was
//!   called with, what gets (also inside batches) return;
//! - every scenario replayed through the JS `Hyperbee` class with the writes between two reads
//!   issued at once (so they are group-committed): the same blocks, the same reads;
//! - every read plan (gets, getBySeq, ranges, peeks, history, diffs, checkouts, subs, version,
//!   header) run through the JS class on the blocks JS wrote, stored in IndexedDB, closed and
//!   reopened: JS's results.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

use std::cell::{Cell, RefCell};

use hyperwasm::bee::{BeeOptions, Entry, Hyperbee, Metadata};
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::replicator::{CoreSet, SharedCore};
use hyperwasm_web::{IdbStorage, JsHyperbee, JsHypercore};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const OPS: &str = include_str!("../../../tests/fixtures/bee/ops.json");
const READS: &str = include_str!("../../../tests/fixtures/bee/reads.json");

thread_local! {
    static SEQ: Cell<u32> = const { Cell::new(0) };
    static FIXTURES: RefCell<Option<(Value, Value)>> = const { RefCell::new(None) };
}

fn fixtures() -> (Value, Value) {
    FIXTURES.with(|f| {
        f.borrow_mut()
            .get_or_insert_with(|| (serde_json::from_str(OPS).unwrap(), serde_json::from_str(READS).unwrap()))
            .clone()
    })
}

fn db_name(tag: &str) -> String {
    let n = SEQ.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    format!("hyperwasm-bee-oracle-{tag}-{n}-{}", js_sys::Math::random())
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Fixture bytes (schema: tests/js/README.md)

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn opt_unhex(v: Option<&Value>) -> Option<Vec<u8>> {
    v.filter(|v| !v.is_null()).map(unhex)
}

/// xorshift32 (13, 17, 5), the top byte of the state per step; seed 0 → 0x9e3779b9.
fn xorshift_bytes(seed: u32, len: usize) -> Vec<u8> {
    let mut x = if seed == 0 { 0x9e37_79b9 } else { seed };
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// A step's value: absent/null → none, hex, or `{prng, len}`.
fn step_value(v: Option<&Value>) -> Option<Vec<u8>> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(hex::decode(s).unwrap()),
        Some(Value::Object(o)) => {
            Some(xorshift_bytes(o["prng"].as_u64().unwrap() as u32, o["len"].as_u64().unwrap() as usize))
        }
        Some(other) => panic!("bad value {other}"),
    }
}

fn bytes_json(b: &[u8]) -> Value {
    if b.len() <= 65536 {
        Value::String(hex::encode(b))
    } else {
        json!({ "len": b.len(), "sha256": hex::encode(Sha256::digest(b)) })
    }
}

fn block_matches(expected: &Value, got: &[u8]) -> bool {
    match expected {
        Value::String(_) => unhex(expected) == got,
        other => bytes_json(got) == *other,
    }
}

fn entry_json(e: &Entry) -> Value {
    json!({ "seq": e.seq, "key": bytes_json(&e.key), "value": e.value.as_deref().map_or(Value::Null, bytes_json) })
}

fn bee_options(options: &Value) -> BeeOptions {
    let mut o = BeeOptions::default();
    if let Some(m) = options.get("metadata").filter(|m| !m.is_null()) {
        o.metadata = Some(Metadata {
            content_feed: opt_unhex(m.get("contentFeed")),
            user_data: opt_unhex(m.get("userData")),
        });
    }
    if options.get("alwaysDuplicate") == Some(&Value::Bool(false)) {
        o.always_duplicate = false;
    }
    o
}

// ---------------------------------------------------------------------------------------------
// JS values ↔ fixture JSON

fn js_bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(k)).unwrap()
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn js_bytes_json(v: &JsValue) -> Value {
    if v.is_null() || v.is_undefined() {
        Value::Null
    } else {
        bytes_json(&v.dyn_ref::<Uint8Array>().unwrap_or_else(|| panic!("bytes expected, got {v:?}")).to_vec())
    }
}

/// `{seq?, key, value}` of a JS entry object (`null` stays null).
fn js_entry_json(v: &JsValue) -> Value {
    if v.is_null() || v.is_undefined() {
        return Value::Null;
    }
    let mut m = Map::new();
    let seq = get(v, "seq");
    if !seq.is_undefined() {
        m.insert("seq".into(), json!(seq.as_f64().unwrap() as u64));
    }
    m.insert("key".into(), js_bytes_json(&get(v, "key")));
    m.insert("value".into(), js_bytes_json(&get(v, "value")));
    Value::Object(m)
}

async fn ok(p: Promise) -> Result<JsValue, String> {
    JsFuture::from(p).await.map_err(|e| {
        let code = Reflect::get(&e, &JsValue::from_str("code")).ok().and_then(|c| c.as_string());
        let msg = Reflect::get(&e, &JsValue::from_str("message")).ok().and_then(|c| c.as_string());
        format!("{} {}", code.unwrap_or_default(), msg.unwrap_or_default())
    })
}

/// Left out of the step-by-step replay on IndexedDB for time (one transaction per step; a
/// test binary has 120 s): the JS-class replay below and the native oracle cover them.
const LONG_SEQUENTIAL: [&str; 2] = ["ascending-2000", "descending-2000"];

// ---------------------------------------------------------------------------------------------
// Cores

async fn idb_core(name: &str) -> SharedCore<IdbStorage> {
    IdbStorage::delete_database(name).await.unwrap();
    let storage = IdbStorage::open(name).await.unwrap();
    CoreSet::new().insert(Hypercore::create(storage, CreateOptions::default()).await.unwrap())
}

async fn drop_core(core: SharedCore<IdbStorage>) {
    let name = core.lock().await.storage().storage().name().to_string();
    core.lock().await.storage().storage().close();
    IdbStorage::delete_database(&name).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 1. The Rust API, step by step

type Bee = Hyperbee<IdbStorage>;

fn sub_of(bee: &Bee, path: &Value) -> Bee {
    let mut b = bee.clone();
    for p in arr(path) {
        let sep = opt_unhex(p.get("sep"));
        b = b.sub(&unhex(&p["name"]), sep.as_deref());
    }
    b
}

enum Target<'a> {
    Bee(&'a Bee),
    Batch(&'a mut hyperwasm::bee::Batch<IdbStorage>),
}

async fn run_op(target: Target<'_>, op: &Value) -> Result<(), String> {
    let key = unhex(&op["key"]);
    let calls = RefCell::new(Vec::new());
    let answer = op.get("cas").map(|c| c == "allow");
    let record = |prev: &Entry, next: &Entry| {
        calls.borrow_mut().push(json!({ "prev": entry_json(prev), "next": entry_json(next) }));
        answer.unwrap()
    };
    let cas: Option<hyperwasm::bee::Cas<'_>> = answer.map(|_| &record as hyperwasm::bee::Cas<'_>);
    match op["op"].as_str().unwrap() {
        "put" => {
            let value = step_value(op.get("value"));
            match target {
                Target::Bee(b) => b.put_with(&key, value.as_deref(), cas).await.map(|_| ()),
                Target::Batch(b) => b.put_with(&key, value.as_deref(), cas).await.map(|_| ()),
            }
            .map_err(|e| format!("put: {e}"))?;
        }
        "del" => match target {
            Target::Bee(b) => b.del_with(&key, cas).await.map(|_| ()),
            Target::Batch(b) => b.del_with(&key, cas).await.map(|_| ()),
        }
        .map_err(|e| format!("del: {e}"))?,
        "get" => {
            let got = match target {
                Target::Bee(b) => b.get(&key).await,
                Target::Batch(b) => b.get(&key).await,
            }
            .map_err(|e| format!("get: {e}"))?;
            let got = got.as_ref().map_or(Value::Null, entry_json);
            if got != op["expect"] {
                return Err(format!("get returned {got}, JS {}", op["expect"]));
            }
        }
        other => panic!("unknown op {other}"),
    }
    if answer.is_some() && Value::Array(calls.borrow().clone()) != op["casCalls"] {
        return Err(format!("cas was called with {:?}, JS {}", calls.borrow(), op["casCalls"]));
    }
    Ok(())
}

async fn replay_rust(s: &Value) -> Result<(), String> {
    let name = s["name"].as_str().unwrap();
    let blocks = arr(&s["blocks"]);
    let lengths = arr(&s["lengths"]);
    let core = idb_core(&db_name("rust")).await;
    let bee = Hyperbee::open(core.clone(), bee_options(&s["options"])).await.unwrap();
    let mut cur = bee.clone();
    let mut checked = 0u64;
    let result = async {
        for (i, step) in arr(&s["steps"]).iter().enumerate() {
            let ctx = format!("{name}: step {i}");
            match step["op"].as_str().unwrap() {
                "sub" => cur = sub_of(&bee, &step["path"]),
                "batch" => {
                    let mut batch = cur.batch().await.map_err(|e| format!("{ctx}: batch: {e}"))?;
                    for (j, op) in arr(&step["ops"]).iter().enumerate() {
                        run_op(Target::Batch(&mut batch), op)
                            .await
                            .map_err(|e| format!("{ctx} op {j}: {e}"))?;
                    }
                    batch.flush().await.map_err(|e| format!("{ctx}: flush: {e}"))?;
                }
                _ => run_op(Target::Bee(&cur), step).await.map_err(|e| format!("{ctx}: {e}"))?,
            }
            let length = core.info().await.length;
            let want = lengths[i].as_u64().unwrap();
            for seq in checked..length.min(want) {
                let got = core.get(seq).await.unwrap().unwrap();
                if !block_matches(&blocks[seq as usize], &got) {
                    return Err(format!("{ctx}: block {seq} differs from JS's"));
                }
            }
            if length != want {
                return Err(format!("{ctx}: core length {length}, JS {want}"));
            }
            checked = length;
        }
        if checked != blocks.len() as u64 {
            return Err(format!("{name}: {checked} blocks, JS {}", blocks.len()));
        }
        Ok(())
    }
    .await;
    drop_core(core).await;
    result
}

#[wasm_bindgen_test]
async fn ops_replayed_through_the_rust_api_on_idb() {
    let (ops, _) = fixtures();
    let mut failures = Vec::new();
    for s in arr(&ops["scenarios"]) {
        let name = s["name"].as_str().unwrap();
        if LONG_SEQUENTIAL.contains(&name) {
            continue;
        }
        if let Err(e) = replay_rust(s).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------------
// 2. The JS class, writes issued at once between reads

/// A `cas` for the JS class that answers `answer` and records its calls.
fn recording_cas(answer: bool, calls: &Array) -> JsValue {
    let state = obj(&[("calls", calls.into()), ("answer", JsValue::from_bool(answer))]);
    let f = Function::new_with_args("prev, next", "this.calls.push({ prev, next }); return this.answer");
    f.bind0(&state).into()
}

fn js_sub_of(db: &JsHyperbee, path: &Value) -> JsHyperbee {
    let mut cur: Option<JsHyperbee> = None;
    for p in arr(path) {
        let opts = match opt_unhex(p.get("sep")) {
            Some(sep) => obj(&[("sep", js_bytes(&sep))]),
            None => JsValue::UNDEFINED,
        };
        let name = js_bytes(&unhex(&p["name"]));
        cur = Some(cur.as_ref().unwrap_or(db).sub(name, opts).unwrap());
    }
    cur.unwrap_or_else(|| db.sub(js_bytes(b""), obj(&[("sep", js_bytes(b""))])).unwrap())
}

struct Pending {
    promises: Vec<Promise>,
    /// cas checks to make once the writes resolved: (context, calls, JS's casCalls).
    cas: Vec<(String, Array, Value)>,
}

impl Pending {
    async fn settle(&mut self) -> Result<(), String> {
        for p in self.promises.drain(..) {
            ok(p).await?;
        }
        for (ctx, calls, want) in self.cas.drain(..) {
            let got: Vec<Value> = calls
                .iter()
                .map(|c| {
                    let next = get(&c, "next");
                    json!({ "prev": js_entry_json(&get(&c, "prev")), "next": {
                        "seq": get(&next, "seq").as_f64().unwrap() as u64,
                        "key": js_bytes_json(&get(&next, "key")),
                        "value": js_bytes_json(&get(&next, "value")),
                    }})
                })
                .collect();
            if Value::Array(got.clone()) != want {
                return Err(format!("{ctx}: cas was called with {got:?}, JS {want}"));
            }
        }
        Ok(())
    }
}

/// Queues one put/del on the bee or a batch (`None` for a get, which the caller handles).
fn queue_op(
    on_bee: Option<&JsHyperbee>,
    on_batch: Option<&hyperwasm_web::JsHyperbeeBatch>,
    op: &Value,
    ctx: &str,
    pending: &mut Pending,
) {
    let key = js_bytes(&unhex(&op["key"]));
    let mut opts = JsValue::UNDEFINED;
    if let Some(c) = op.get("cas") {
        let calls = Array::new();
        opts = obj(&[("cas", recording_cas(c == "allow", &calls))]);
        pending.cas.push((ctx.to_string(), calls, op["casCalls"].clone()));
    }
    let p = match op["op"].as_str().unwrap() {
        "put" => {
            let value = step_value(op.get("value")).map_or(JsValue::UNDEFINED, |v| js_bytes(&v));
            match (on_bee, on_batch) {
                (Some(b), _) => b.put(key, value, opts),
                (_, Some(b)) => b.put(key, value, opts),
                _ => unreachable!(),
            }
        }
        "del" => match (on_bee, on_batch) {
            (Some(b), _) => b.del(key, opts),
            (_, Some(b)) => b.del(key, opts),
            _ => unreachable!(),
        },
        other => panic!("not a write: {other}"),
    };
    pending.promises.push(p);
}

async fn replay_js_class(s: &Value) -> Result<u64, String> {
    let name = s["name"].as_str().unwrap();
    let blocks = arr(&s["blocks"]);
    let n = db_name("class");
    let core = JsHypercore::create(n.clone(), JsValue::UNDEFINED).await.unwrap();
    let options = &s["options"];
    let o = Object::new();
    if let Some(m) = options.get("metadata").filter(|m| !m.is_null()) {
        let mo = Object::new();
        for k in ["contentFeed", "userData"] {
            if let Some(b) = opt_unhex(m.get(k)) {
                Reflect::set(&mo, &JsValue::from_str(k), &js_bytes(&b)).unwrap();
            }
        }
        Reflect::set(&o, &JsValue::from_str("metadata"), &mo).unwrap();
    }
    if options.get("alwaysDuplicate") == Some(&Value::Bool(false)) {
        Reflect::set(&o, &JsValue::from_str("alwaysDuplicate"), &JsValue::FALSE).unwrap();
    }
    let db = JsHyperbee::new(&core, o.into()).unwrap();
    let result = async {
        let mut cur: Option<JsHyperbee> = None;
        let mut pending = Pending { promises: Vec::new(), cas: Vec::new() };
        for (i, step) in arr(&s["steps"]).iter().enumerate() {
            let ctx = format!("{name}: step {i}");
            let target = cur.as_ref().unwrap_or(&db);
            match step["op"].as_str().unwrap() {
                "sub" => {
                    cur = if arr(&step["path"]).is_empty() {
                        None
                    } else {
                        Some(js_sub_of(&db, &step["path"]))
                    };
                }
                "get" => {
                    pending.settle().await.map_err(|e| format!("{ctx}: {e}"))?;
                    let got = ok(target.get(js_bytes(&unhex(&step["key"])), JsValue::UNDEFINED)).await?;
                    if js_entry_json(&got) != step["expect"] {
                        return Err(format!(
                            "{ctx}: get returned {}, JS {}",
                            js_entry_json(&got),
                            step["expect"]
                        ));
                    }
                }
                "batch" => {
                    let b = target.batch(JsValue::UNDEFINED).unwrap();
                    for (j, op) in arr(&step["ops"]).iter().enumerate() {
                        if op["op"] == "get" {
                            pending.settle().await.map_err(|e| format!("{ctx} op {j}: {e}"))?;
                            let got = ok(b.get(js_bytes(&unhex(&op["key"])), JsValue::UNDEFINED)).await?;
                            if js_entry_json(&got) != op["expect"] {
                                return Err(format!(
                                    "{ctx} op {j}: batch get {}, JS {}",
                                    js_entry_json(&got),
                                    op["expect"]
                                ));
                            }
                        } else {
                            queue_op(None, Some(&b), op, &format!("{ctx} op {j}"), &mut pending);
                        }
                    }
                    pending.promises.push(b.flush());
                }
                _ => queue_op(Some(target), None, step, &ctx, &mut pending),
            }
        }
        pending.settle().await.map_err(|e| format!("{name}: {e}"))?;
        if core.length() != blocks.len() as f64 {
            return Err(format!("{name}: core length {}, JS {}", core.length(), blocks.len()));
        }
        for (seq, want) in blocks.iter().enumerate() {
            let got = ok(core.get(seq as f64)).await?.dyn_into::<Uint8Array>().unwrap().to_vec();
            if !block_matches(want, &got) {
                return Err(format!("{name}: block {seq} differs from JS's"));
            }
        }
        Ok(db.append_batches() as u64)
    }
    .await;
    let _ = JsFuture::from(db.close()).await;
    JsHypercore::delete_storage(n).await.unwrap();
    result
}

#[wasm_bindgen_test]
async fn ops_replayed_through_the_js_class_group_committed() {
    let (ops, _) = fixtures();
    let mut failures = Vec::new();
    let mut appends = Vec::new();
    for s in arr(&ops["scenarios"]) {
        match replay_js_class(s).await {
            Ok(n) => appends.push(format!("{}: {} steps, {n} appends", s["name"], arr(&s["steps"]).len())),
            Err(e) => failures.push(e),
        }
    }
    web_sys::console::log_1(&JsValue::from_str(&appends.join("\n")));
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------------
// 3. Read plans on JS's blocks, through the JS class

async fn run_plan(db: &JsHyperbee, plan: &Value) -> Value {
    let mut out = Map::new();
    let err = |e: String| json!({ "error": e });
    if plan.get("version") == Some(&Value::Bool(true)) {
        out.insert("version".into(), json!(db.version() as u64));
    }
    if plan.get("header") == Some(&Value::Bool(true)) {
        let h = match ok(db.get_header()).await {
            Ok(h) if h.is_null() => Value::Null,
            Ok(h) => {
                let m = get(&h, "metadata");
                json!({
                    "protocol": get(&h, "protocol").as_string().unwrap(),
                    "metadata": if m.is_null() { Value::Null } else {
                        json!({ "contentFeed": js_bytes_json(&get(&m, "contentFeed")), "userData": js_bytes_json(&get(&m, "userData")) })
                    },
                })
            }
            Err(e) => err(e),
        };
        out.insert("header".into(), h);
    }
    if let Some(keys) = plan.get("gets").and_then(Value::as_array) {
        let mut v = Vec::new();
        for k in keys {
            v.push(
                ok(db.get(js_bytes(&unhex(k)), JsValue::UNDEFINED))
                    .await
                    .map_or_else(err, |e| js_entry_json(&e)),
            );
        }
        out.insert("gets".into(), Value::Array(v));
    }
    if let Some(seqs) = plan.get("getBySeq").and_then(Value::as_array) {
        let mut v = Vec::new();
        for s in seqs {
            v.push(
                ok(db.get_by_seq(s.as_f64().unwrap(), JsValue::UNDEFINED))
                    .await
                    .map_or_else(err, |e| js_entry_json(&e)),
            );
        }
        out.insert("getBySeq".into(), Value::Array(v));
    }
    iterator_reads(db, plan, &mut out).await;
    if let Some(cs) = plan.get("checkouts").and_then(Value::as_array) {
        let mut v = Vec::new();
        for c in cs {
            let snap = db.checkout(c["version"].as_f64().unwrap(), JsValue::UNDEFINED).unwrap();
            v.push(Box::pin(run_plan(&snap, &c["plan"])).await);
        }
        out.insert("checkouts".into(), Value::Array(v));
    }
    if let Some(ss) = plan.get("subs").and_then(Value::as_array) {
        let mut v = Vec::new();
        for s in ss {
            let sub = js_sub_of(db, &s["path"]);
            v.push(Box::pin(run_plan(&sub, &s["plan"])).await);
        }
        out.insert("subs".into(), Value::Array(v));
    }
    Value::Object(out)
}

/// Every entry of a `HyperbeeIterator` (through its `toArray`).
async fn collect(it: &JsValue) -> Result<Vec<JsValue>, String> {
    let to_array: Function = get(it, "toArray").dyn_into().unwrap();
    let all = ok(to_array.call0(it).unwrap().dyn_into().unwrap()).await?;
    Ok(Array::from(&all).iter().collect())
}

/// A fixture range (`{gt?, gte?, lt?, lte?, reverse?, limit?}`, hex bounds) as JS options.
fn js_range(r: Option<&Value>) -> JsValue {
    let o = Object::new();
    if let Some(Value::Object(m)) = r {
        for (k, v) in m {
            let js = match k.as_str() {
                "gt" | "gte" | "lt" | "lte" => js_bytes(&unhex(v)),
                "reverse" => JsValue::from_bool(v.as_bool().unwrap()),
                _ => JsValue::from_f64(v.as_f64().unwrap()),
            };
            Reflect::set(&o, &JsValue::from_str(k), &js).unwrap();
        }
    }
    o.into()
}

/// A plain JSON value as a JS value.
trait FromJson {
    fn from_serde_json(v: &Value) -> JsValue;
}

impl FromJson for JsValue {
    fn from_serde_json(v: &Value) -> JsValue {
        js_sys::JSON::parse(&v.to_string()).unwrap()
    }
}

fn js_history_json(v: &JsValue) -> Value {
    let mut e = js_entry_json(v);
    e.as_object_mut().unwrap().insert("type".into(), Value::String(get(v, "type").as_string().unwrap()));
    e
}

async fn iterator_reads(db: &JsHyperbee, plan: &Value, out: &mut Map<String, Value>) {
    let err = |e: String| json!({ "error": e });
    let list = |k: &str| plan.get(k).and_then(Value::as_array).cloned();
    if let Some(ranges) = list("ranges") {
        let mut v = Vec::new();
        for r in &ranges {
            let it = db.create_read_stream(js_range(Some(r)), JsValue::UNDEFINED).unwrap();
            v.push(collect(&it).await.map_or_else(err, |es| es.iter().map(js_entry_json).collect()));
        }
        out.insert("ranges".into(), Value::Array(v));
    }
    if let Some(peeks) = list("peeks") {
        let mut v = Vec::new();
        for r in &peeks {
            v.push(
                ok(db.peek(js_range(Some(r)), JsValue::UNDEFINED))
                    .await
                    .map_or_else(err, |e| js_entry_json(&e)),
            );
        }
        out.insert("peeks".into(), Value::Array(v));
    }
    if let Some(hs) = list("history") {
        let mut v = Vec::new();
        for h in &hs {
            // History bounds are seqs (numbers), not keys.
            let it = db.create_history_stream(JsValue::from_serde_json(h)).unwrap();
            v.push(collect(&it).await.map_or_else(err, |es| es.iter().map(js_history_json).collect()));
        }
        out.insert("history".into(), Value::Array(v));
    }
    if let Some(ds) = list("diffs") {
        let mut v = Vec::new();
        for d in &ds {
            let it = db
                .create_diff_stream(
                    JsValue::from_f64(d["version"].as_f64().unwrap()),
                    js_range(d.get("range")),
                    JsValue::UNDEFINED,
                )
                .unwrap();
            v.push(collect(&it).await.map_or_else(err, |es| {
                es.iter()
                    .map(|e| json!({ "left": js_entry_json(&get(e, "left")), "right": js_entry_json(&get(e, "right")) }))
                    .collect()
            }));
        }
        out.insert("diffs".into(), Value::Array(v));
    }
}

fn first_difference(want: &Value, got: &Value, path: &str) -> Option<String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => {
                        if let Some(d) = first_difference(wv, gv, &p) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{p}: missing")),
                }
            }
            None
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                if let Some(d) = first_difference(wv, gv, &format!("{path}[{i}]")) {
                    return Some(d);
                }
            }
            (w.len() != g.len()).then(|| format!("{path}: {} items, JS {}", g.len(), w.len()))
        }
        _ => (want != got).then(|| format!("{path}: got {got}, JS {want}")),
    }
}

#[wasm_bindgen_test]
async fn read_plans_on_js_blocks_in_idb() {
    let (ops, reads) = fixtures();
    let mut failures = Vec::new();
    for r in arr(&reads["scenarios"]) {
        let name = r["scenario"].as_str().unwrap();
        let s = arr(&ops["scenarios"]).iter().find(|s| s["name"] == name).unwrap();
        let blocks = arr(&s["blocks"]);
        if !blocks.iter().all(Value::is_string) {
            // Blocks stored as digests: the Rust replay (checked above) is JS's bee.
            continue;
        }
        let n = db_name("reads");
        let core = JsHypercore::create(n.clone(), JsValue::UNDEFINED).await.unwrap();
        let all: Array = blocks.iter().map(|b| js_bytes(&unhex(b))).collect();
        ok(core.append(all.into())).await.unwrap();
        JsFuture::from(core.close()).await.unwrap();
        // Read back from IndexedDB.
        let core = JsHypercore::open(n.clone(), JsValue::UNDEFINED).await.unwrap();
        let db = JsHyperbee::new(&core, JsValue::UNDEFINED).unwrap();
        let got = run_plan(&db, &r["plan"]).await;
        if let Some(d) = first_difference(&r["results"], &got, name) {
            failures.push(d);
        }
        JsFuture::from(db.close()).await.unwrap();
        JsHypercore::delete_storage(n).await.unwrap();
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
