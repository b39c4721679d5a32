//! Shared helpers of the Hyperbee oracle tests (`oracle_bee_ops.rs`, `interop_bee.rs`): the
//! Rust side of `tests/js/lib/bee-ops.mjs`. Operation scripts are replayed through the Rust
//! [`Hyperbee`] on a memory core, block by block against JS's; read plans are run by Rust and
//! give JSON in exactly the shape the JS plan runner prints. Schema: `tests/js/README.md`.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use hyperwasm::bee::{BeeOptions, Cas, Entry, Header, Hyperbee, Metadata};
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::replicator::{CoreSet, SharedCore};
use hyperwasm::storage::memory::MemoryStorage;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub type Bee = Hyperbee<MemoryStorage>;
pub type Core = SharedCore<MemoryStorage>;

// ---------------------------------------------------------------------------------------------
// Files, node

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

pub fn load_json(rel: &str) -> Value {
    let path = repo_path(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Runs `node tests/js/<script> args…` and parses its stdout as JSON. Fails (never skips)
/// when node or tests/js/node_modules is missing.
pub fn node_json(script: &str, args: &[&str]) -> Value {
    let modules = repo_path("tests/js/node_modules/hyperbee");
    assert!(modules.exists(), "{} missing: run `make setup` (npm ci in tests/js)", modules.display());
    let path = repo_path(&format!("tests/js/{script}"));
    let out = Command::new("node")
        .arg(&path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawning `node {}` (is node installed?): {e}", path.display()));
    assert!(
        out.status.success(),
        "node {script} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        let text = String::from_utf8_lossy(&out.stdout);
        panic!("node {script}: bad JSON ({e}): {}", &text[..text.len().min(500)])
    })
}

// ---------------------------------------------------------------------------------------------
// Bytes

/// xorshift32 (13, 17, 5), one byte (the top byte of the state) per step; seed 0 → 0x9e3779b9.
/// Same as `xorshiftBytes` in `tests/js/lib/bee-ops.mjs`.
pub fn xorshift_bytes(seed: u32, len: usize) -> Vec<u8> {
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

pub fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("expected a hex string, got {v}")))
        .unwrap_or_else(|e| panic!("bad hex {v}: {e}"))
}

pub fn opt_unhex(v: &Value) -> Option<Vec<u8>> {
    (!v.is_null()).then(|| unhex(v))
}

/// A step's value: absent/null → no value, hex, or `{prng, len}`.
pub fn step_value(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null => None,
        Value::String(_) => Some(unhex(v)),
        Value::Object(o) => Some(xorshift_bytes(
            u32::try_from(o["prng"].as_u64().unwrap()).unwrap(),
            usize::try_from(o["len"].as_u64().unwrap()).unwrap(),
        )),
        _ => panic!("bad value {v}"),
    }
}

/// Bytes longer than this are `{len, sha256}` in fixtures and results (as `bytesJson` in JS).
pub const BIG: usize = 65536;

pub fn bytes_json(b: &[u8]) -> Value {
    if b.len() <= BIG {
        Value::String(hex::encode(b))
    } else {
        json!({ "len": b.len(), "sha256": hex::encode(Sha256::digest(b)) })
    }
}

pub fn opt_bytes_json(b: Option<&[u8]>) -> Value {
    b.map_or(Value::Null, bytes_json)
}

pub fn entry_json(e: &Entry) -> Value {
    json!({ "seq": e.seq, "key": bytes_json(&e.key), "value": opt_bytes_json(e.value.as_deref()) })
}

pub fn opt_entry_json(e: Option<&Entry>) -> Value {
    e.map_or(Value::Null, entry_json)
}

pub fn header_json(h: Option<&Header>) -> Value {
    match h {
        None => Value::Null,
        Some(h) => json!({
            "protocol": h.protocol,
            "metadata": h.metadata.as_ref().map(|m| json!({
                "contentFeed": opt_bytes_json(m.content_feed.as_deref()),
                "userData": opt_bytes_json(m.user_data.as_deref()),
            })),
        }),
    }
}

/// A short, readable form of a block for failure messages.
pub fn show(b: &[u8]) -> String {
    let h = hex::encode(b);
    if h.len() > 400 {
        format!("{}…({} bytes)", &h[..400], b.len())
    } else {
        h
    }
}

// ---------------------------------------------------------------------------------------------
// Bees

/// Scenario options (`{metadata?, alwaysDuplicate?}`) → Rust options.
pub fn bee_options(options: &Value) -> BeeOptions {
    let mut o = BeeOptions::default();
    if let Some(m) = options.get("metadata").filter(|m| !m.is_null()) {
        let field = |k: &str| m.get(k).and_then(opt_unhex_ref);
        o.metadata = Some(Metadata { content_feed: field("contentFeed"), user_data: field("userData") });
    }
    if options.get("alwaysDuplicate") == Some(&Value::Bool(false)) {
        o.always_duplicate = false;
    }
    o
}

fn opt_unhex_ref(v: &Value) -> Option<Vec<u8>> {
    opt_unhex(v)
}

/// A fresh writable memory core in a fresh core set.
pub async fn fresh_core() -> Core {
    let core = Hypercore::create(MemoryStorage::new(), CreateOptions::default()).await.unwrap();
    CoreSet::new().insert(core)
}

pub async fn fresh_bee(options: &Value) -> (Bee, Core) {
    let core = fresh_core().await;
    let bee = Hyperbee::open(core.clone(), bee_options(options)).await.unwrap();
    (bee, core)
}

/// A Rust bee over `blocks` (block 0 the header) appended to a fresh memory core.
pub async fn bee_over(blocks: &[Vec<u8>]) -> Bee {
    let core = fresh_core().await;
    if !blocks.is_empty() {
        core.append_batch(blocks).await.unwrap();
    }
    Hyperbee::open(core, BeeOptions::default()).await.unwrap()
}

pub async fn core_blocks(core: &Core) -> Vec<Vec<u8>> {
    let length = core.info().await.length;
    let mut out = Vec::new();
    for i in 0..length {
        out.push(core.get(i).await.unwrap().unwrap_or_else(|| panic!("block {i} missing")));
    }
    out
}

/// `path`: `[{name, sep?}]` → `bee.sub(name, sep)` for each level.
pub fn sub_of(bee: &Bee, path: &Value) -> Bee {
    let mut b = bee.clone();
    for p in path.as_array().unwrap() {
        let sep = p.get("sep").and_then(opt_unhex_ref);
        b = b.sub(&unhex(&p["name"]), sep.as_deref());
    }
    b
}

/// A fixture block: hex, or `{len, sha256}` for big ones.
pub fn block_matches(expected: &Value, got: &[u8]) -> bool {
    match expected {
        Value::String(_) => unhex(expected) == got,
        _ => bytes_json(got) == *expected,
    }
}

// ---------------------------------------------------------------------------------------------
// Replaying operation scripts

/// What a replay found; `Err` describes the first difference from JS.
pub struct Replayed {
    pub bee: Bee,
    pub core: Core,
}

fn op_desc(op: &Value) -> String {
    let s = op.to_string();
    if s.len() > 300 {
        format!("{}…", &s[..300])
    } else {
        s
    }
}

/// Runs `steps` on a fresh Rust bee with `options` without comparing anything with JS (the
/// Rust-made bee for JS to read).
pub async fn build(options: &Value, steps: &[Value]) -> Result<Replayed, String> {
    let (bee, core) = fresh_bee(options).await;
    let mut cur = bee.clone();
    for (i, step) in steps.iter().enumerate() {
        let ctx = format!("step {i} {}", op_desc(step));
        match step["op"].as_str().unwrap() {
            "sub" => cur = sub_of(&bee, &step["path"]),
            "batch" => {
                let mut batch = cur.batch().await.map_err(|e| format!("{ctx}: batch(): {e}"))?;
                for op in step["ops"].as_array().unwrap() {
                    run_op(Target::Batch(&mut batch), op, false).await.map_err(|e| format!("{ctx}: {e}"))?;
                }
                batch.flush().await.map_err(|e| format!("{ctx}: flush: {e}"))?;
            }
            _ => run_op(Target::Bee(&cur), step, false).await.map_err(|e| format!("{ctx}: {e}"))?,
        }
    }
    Ok(Replayed { bee, core })
}

/// Replays `steps` on a fresh Rust bee with `options`; after every step compares the core
/// length with `lengths[i]` and the blocks appended so far with `blocks` (JS's), and checks
/// the JS outputs of the steps (`casCalls`, `expect`). Returns the first difference.
pub async fn replay(
    name: &str,
    options: &Value,
    steps: &[Value],
    lengths: &[Value],
    blocks: &[Value],
) -> Result<Replayed, String> {
    assert_eq!(steps.len(), lengths.len(), "{name}: one length per step");
    let (bee, core) = fresh_bee(options).await;
    let mut cur = bee.clone();
    let mut checked = 0u64;
    for (i, step) in steps.iter().enumerate() {
        let ctx = format!("{name}: step {i} {}", op_desc(step));
        match step["op"].as_str().unwrap() {
            "sub" => cur = sub_of(&bee, &step["path"]),
            "batch" => {
                let mut batch = cur.batch().await.map_err(|e| format!("{ctx}: batch(): {e}"))?;
                for (j, op) in step["ops"].as_array().unwrap().iter().enumerate() {
                    run_op(Target::Batch(&mut batch), op, true)
                        .await
                        .map_err(|e| format!("{ctx}: op {j}: {e}"))?;
                }
                batch.flush().await.map_err(|e| format!("{ctx}: flush: {e}"))?;
            }
            _ => run_op(Target::Bee(&cur), step, true).await.map_err(|e| format!("{ctx}: {e}"))?,
        }
        let length = core.info().await.length;
        let want = lengths[i].as_u64().unwrap();
        // blocks first: a wrong length usually comes with a wrong block before it
        for seq in checked..length.min(want) {
            let got = core.get(seq).await.unwrap().unwrap();
            let exp = &blocks[usize::try_from(seq).unwrap()];
            if !block_matches(exp, &got) {
                let exp = match exp {
                    Value::String(_) => show(&unhex(exp)),
                    other => other.to_string(),
                };
                return Err(format!("{ctx}: block {seq} differs\n  JS:   {exp}\n  Rust: {}", show(&got)));
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
    Ok(Replayed { bee, core })
}

enum Target<'a> {
    Bee(&'a Bee),
    Batch(&'a mut hyperwasm::bee::Batch<MemoryStorage>),
}

/// One put/del/get; with `check`, compares the op's JS outputs (`casCalls`, `expect`).
async fn run_op(target: Target<'_>, op: &Value, check: bool) -> Result<(), String> {
    let key = unhex(&op["key"]);
    let calls: Mutex<Vec<Value>> = Mutex::new(Vec::new());
    let answer = op.get("cas").map(|c| c == "allow");
    let record = |prev: &Entry, next: &Entry| {
        calls.lock().unwrap().push(json!({ "prev": entry_json(prev), "next": entry_json(next) }));
        answer.unwrap()
    };
    let cas: Option<Cas<'_>> = answer.map(|_| &record as Cas<'_>);
    match op["op"].as_str().unwrap() {
        "put" => {
            let value = step_value(op.get("value").unwrap_or(&Value::Null));
            match target {
                Target::Bee(b) => b.put_with(&key, value.as_deref(), cas).await.map(|_| ()),
                Target::Batch(b) => b.put_with(&key, value.as_deref(), cas).await.map(|_| ()),
            }
            .map_err(|e| format!("put: {e}"))?;
        }
        "del" => {
            match target {
                Target::Bee(b) => b.del_with(&key, cas).await.map(|_| ()),
                Target::Batch(b) => b.del_with(&key, cas).await.map(|_| ()),
            }
            .map_err(|e| format!("del: {e}"))?;
        }
        "get" => {
            let got = match target {
                Target::Bee(b) => b.get(&key).await,
                Target::Batch(b) => b.get(&key).await,
            }
            .map_err(|e| format!("get: {e}"))?;
            let got = opt_entry_json(got.as_ref());
            if check && got != op["expect"] {
                return Err(format!("get returned {got}, JS {}", op["expect"]));
            }
        }
        other => panic!("unknown op {other}"),
    }
    if check && answer.is_some() {
        let got = Value::Array(calls.into_inner().unwrap());
        if got != op["casCalls"] {
            return Err(format!("cas was called with {got}, JS {}", op["casCalls"]));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Read plans

mod iterators;

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

pub(crate) fn list<'a>(plan: &'a Value, k: &str) -> Option<&'a Vec<Value>> {
    plan.get(k).and_then(Value::as_array)
}

/// Runs a read plan on `bee` (see `runPlan` in `tests/js/lib/bee-ops.mjs`); errors are
/// reported as `{"error": "..."}` in place of the result so the comparison shows them.
pub fn run_plan<'a>(bee: &'a Bee, plan: &'a Value) -> BoxFut<'a, Value> {
    Box::pin(async move {
        let mut out = Map::new();
        let err = |e: hyperwasm::bee::BeeError| json!({ "error": e.to_string() });
        if plan.get("version") == Some(&Value::Bool(true)) {
            out.insert("version".into(), json!(bee.version().await));
        }
        if plan.get("header") == Some(&Value::Bool(true)) {
            out.insert("header".into(), bee.header().await.map_or_else(err, |h| header_json(h.as_ref())));
        }
        if let Some(keys) = list(plan, "gets") {
            let mut v = Vec::new();
            for k in keys {
                v.push(bee.get(&unhex(k)).await.map_or_else(err, |e| opt_entry_json(e.as_ref())));
            }
            out.insert("gets".into(), Value::Array(v));
        }
        if let Some(seqs) = list(plan, "getBySeq") {
            let mut v = Vec::new();
            for s in seqs {
                v.push(bee.get_by_seq(s.as_u64().unwrap()).await.map_or_else(
                    err,
                    |e| json!({ "key": bytes_json(&e.key), "value": opt_bytes_json(e.value.as_deref()) }),
                ));
            }
            out.insert("getBySeq".into(), Value::Array(v));
        }
        iterators::reads(bee, plan, &mut out).await;
        if let Some(cs) = list(plan, "checkouts") {
            let mut v = Vec::new();
            for c in cs {
                let snap = bee.checkout(c["version"].as_u64().unwrap()).await;
                v.push(run_plan(&snap, &c["plan"]).await);
            }
            out.insert("checkouts".into(), Value::Array(v));
        }
        if let Some(ss) = list(plan, "subs") {
            let mut v = Vec::new();
            for s in ss {
                let sub = sub_of(bee, &s["path"]);
                v.push(run_plan(&sub, &s["plan"]).await);
            }
            out.insert("subs".into(), Value::Array(v));
        }
        Value::Object(out)
    })
}

/// The first place where `got` differs from `want` (a JSON path), with both values.
pub fn first_difference(want: &Value, got: &Value, plan: &Value, path: &str) -> Option<String> {
    let is_error = |v: &Value| v.get("error").is_some();
    match (want, got) {
        (Value::Object(a), Value::Object(b)) if !is_error(want) && !is_error(got) => {
            for (k, va) in a {
                let Some(vb) = b.get(k) else {
                    return Some(format!("{path}.{k}: missing in Rust's results"));
                };
                if let Some(d) =
                    first_difference(va, vb, plan.get(k).unwrap_or(&Value::Null), &format!("{path}.{k}"))
                {
                    return Some(d);
                }
            }
            b.keys().find(|k| !a.contains_key(*k)).map(|k| format!("{path}.{k}: not in JS's results"))
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                let item = plan.get(i).unwrap_or(&Value::Null);
                // checkouts and subs: {version|path, plan}
                let sub_plan = item.get("plan").unwrap_or(item);
                if let Some(d) = first_difference(va, vb, sub_plan, &format!("{path}[{i}]")) {
                    // the plan item that produced it, to reproduce the case
                    let item =
                        if item.is_null() { String::new() } else { format!("\n  for {}", op_desc(item)) };
                    return Some(format!("{d}{item}"));
                }
            }
            (a.len() != b.len()).then(|| {
                let extra = if a.len() > b.len() { &a[b.len()] } else { &b[a.len()] };
                format!(
                    "{path}: JS has {} items, Rust {}; first extra item: {}",
                    a.len(),
                    b.len(),
                    op_desc(extra)
                )
            })
        }
        _ => (want != got).then(|| format!("{path}:\n  JS:   {}\n  Rust: {}", op_desc(want), op_desc(got))),
    }
}
