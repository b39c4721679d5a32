//! The Rust Hyperbee against a live JS hyperbee 2.27.3 (node, `tests/js`):
//!
//! - `random_scripts_match_js`: `tests/js/bee-random.mjs` runs a random operation script
//!   (puts, dels, overwrites, batches, subs, cas, gets; keys of 0..6 bytes) and a random read
//!   plan on a real JS Hyperbee; Rust replays the script (every block, length, cas call and get
//!   must be JS's) and runs the plan on JS's blocks (every result must be JS's). Fresh seeds
//!   every run; `BEE_SEED=S` pins one, `BEE_OPS=N` sets the script length, `BEE_SEEDS=K` the
//!   number of seeds. A failure prints the seed.
//! - `js_reads_rust_made_bees`: the bees Rust makes from every `ops.json` scenario and from
//!   random scripts are read by JS (`tests/js/bee-read.mjs`) with the same plans; JS's results
//!   must equal Rust's own reads.
//!
//! Both fail (never skip) when node or `tests/js/node_modules` is missing.
#![allow(clippy::unwrap_used, missing_docs)]

mod bee_common;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use bee_common::{bee_over, build, first_difference, load_json, node_json, replay, run_plan, unhex, Bee};
use futures::executor::block_on;
use serde_json::{json, Value};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")))
}

/// Seeds for this run: `BEE_SEED`, or `BEE_SEEDS` (default 3) fresh random ones.
fn seeds() -> Vec<u32> {
    if let Some(s) = env_u64("BEE_SEED") {
        return vec![u32::try_from(s).expect("BEE_SEED < 2^32")];
    }
    let n = env_u64("BEE_SEEDS").unwrap_or(3);
    (0..n).map(|i| (RandomState::new().build_hasher().finish() ^ i) as u32).collect()
}

fn ops_count() -> String {
    env_u64("BEE_OPS").unwrap_or(300).to_string()
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().unwrap()
}

async fn blocks_hex(bee: &Bee) -> Vec<Value> {
    bee_common::core_blocks(bee.core()).await.iter().map(|b| Value::String(hex::encode(b))).collect()
}

/// JS reads `bees` (`[{blocks, plan}]`) with bee-read.mjs; one result per bee.
fn js_reads(bees: Vec<Value>) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bees.json");
    let n = bees.len();
    std::fs::write(&file, serde_json::to_vec(&json!({ "bees": bees })).unwrap()).unwrap();
    let out = node_json("bee-read.mjs", &[file.to_str().unwrap()]);
    let results = out["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), n, "bee-read.mjs: one result per bee");
    results
}

#[test]
fn random_scripts_match_js() {
    let n = ops_count();
    let mut rust_made = Vec::new();
    for seed in seeds() {
        let repro = format!(
            "seed {seed} (reproduce: BEE_SEED={seed} BEE_OPS={n} cargo test -p hyperwasm --test interop_bee)"
        );
        let seed_arg = seed.to_string();
        let js = node_json("bee-random.mjs", &["--seed", &seed_arg, "--ops", &n]);
        assert_eq!(js["seed"], json!(seed));
        let steps = arr(&js["ops"]);
        assert_eq!(steps.len().to_string(), n, "{repro}: script length");
        block_on(async {
            // every block and step output
            let name = format!("random {seed}");
            let replayed = replay(&name, &js["options"], steps, arr(&js["lengths"]), arr(&js["blocks"]))
                .await
                .unwrap_or_else(|e| panic!("{e}\n{repro}"));
            // every read, on JS's blocks
            let blocks: Vec<Vec<u8>> = arr(&js["blocks"]).iter().map(unhex).collect();
            let on_js = bee_over(&blocks).await;
            let got = run_plan(&on_js, &js["plan"]).await;
            if let Some(d) = first_difference(&js["reads"], &got, &js["plan"], &name) {
                panic!("reads differ from JS at {d}\n{repro}");
            }
            eprintln!(
                "interop_bee: seed {seed}: {} steps, {} blocks, reads match",
                steps.len(),
                blocks.len()
            );
            rust_made.push((seed, replayed.bee, js["plan"].clone()));
        });
    }
    // and JS reading the bees Rust made from those scripts
    let (bees, mine): (Vec<Value>, Vec<Value>) = block_on(async {
        let mut bees = Vec::new();
        let mut mine = Vec::new();
        for (_, bee, plan) in &rust_made {
            bees.push(json!({ "blocks": blocks_hex(bee).await, "plan": plan }));
            mine.push(run_plan(bee, plan).await);
        }
        (bees, mine)
    });
    for (((seed, _, plan), js), rust) in rust_made.iter().zip(js_reads(bees)).zip(mine) {
        if let Some(d) = first_difference(&js, &rust, plan, &format!("random {seed}")) {
            panic!("JS reads the Rust-made bee differently at {d}\nseed {seed}");
        }
    }
}

/// A small plan for scenarios reads.json has none for.
fn default_plan(steps: &[Value]) -> Value {
    let keys: Vec<Value> = steps.iter().filter_map(|s| s.get("key").cloned()).collect();
    json!({
        "version": true, "header": true, "gets": keys, "getBySeq": [1],
        "ranges": [{}, { "reverse": true }], "peeks": [{}], "history": [{}, { "reverse": true }],
        "diffs": [{ "version": 1 }]
    })
}

#[test]
fn js_reads_rust_made_bees() {
    let ops = load_json("tests/fixtures/bee/ops.json");
    let reads = load_json("tests/fixtures/bee/reads.json");
    let mut names = Vec::new();
    let mut plans = Vec::new();
    let mut bees = Vec::new();
    let mut mine = Vec::new();
    block_on(async {
        for s in arr(&ops["scenarios"]) {
            let name = s["name"].as_str().unwrap();
            let plan = arr(&reads["scenarios"])
                .iter()
                .find(|r| r["scenario"] == name)
                .map_or_else(|| default_plan(arr(&s["steps"])), |r| r["plan"].clone());
            let made = build(&s["options"], arr(&s["steps"])).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            mine.push(run_plan(&made.bee, &plan).await);
            bees.push(json!({ "blocks": blocks_hex(&made.bee).await, "plan": plan }));
            plans.push(plan);
            names.push(name.to_owned());
        }
    });
    assert!(names.len() >= 14, "scenarios in ops.json");
    for (((name, plan), js), rust) in names.iter().zip(&plans).zip(js_reads(bees)).zip(mine) {
        if let Some(d) = first_difference(&js, &rust, plan, name) {
            panic!("JS reads the Rust-made bee differently at {d}");
        }
    }
}

/// JS `checkout(v).getBySeq(seq)` with `seq >= v` returns block `seq` of the core (JS
/// `getBySeq` never looks at the version). 20 puts, `checkout(5).getBySeq(3 | 10 | 20)`.
#[test]
fn get_by_seq_past_a_checkout_version() {
    let plan = json!({ "checkouts": [{ "version": 5, "plan": { "getBySeq": [3, 10, 20] } }] });
    let steps: Vec<Value> = (0..20)
        .map(|i| json!({ "op": "put", "key": hex::encode(format!("k{i:02}")), "value": "76" }))
        .collect();
    let (bee, mine) = block_on(async {
        let made = build(&json!({}), &steps).await.unwrap();
        let mine = run_plan(&made.bee, &plan).await;
        (json!({ "blocks": blocks_hex(&made.bee).await, "plan": plan }), mine)
    });
    let js = js_reads(vec![bee]).remove(0);
    if let Some(d) = first_difference(&js, &mine, &plan, "getBySeq past a checkout") {
        panic!("{d}");
    }
}
