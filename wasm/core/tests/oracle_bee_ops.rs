//! The Rust Hyperbee against JS hyperbee 2.27.3 (the judge), from recorded fixtures:
//!
//! - `tests/fixtures/bee/ops.json` (`tests/js/gen-bee-ops.mjs`): every scenario's operation
//!   script is replayed through the Rust bee on a memory core; after every step the core
//!   length must be JS's and every block appended so far byte-identical to JS's; cas callbacks
//!   must see JS's `(prev, next)` and gets (also inside batches) JS's answers.
//! - `tests/fixtures/bee/reads.json`: read plans (get, getBySeq, ranges, peek, history, diffs,
//!   checkouts, subs, version, header) run by Rust on the blocks JS wrote must give JS's
//!   results.
//!
//! One test per scenario, so a mismatch names its scenario, step and block.
#![allow(clippy::unwrap_used, missing_docs)]

mod bee_common;

use std::sync::OnceLock;

use bee_common::{bee_over, first_difference, replay, run_plan, unhex};
use futures::executor::block_on;
use serde_json::Value;

fn ops() -> &'static Value {
    static OPS: OnceLock<Value> = OnceLock::new();
    OPS.get_or_init(|| bee_common::load_json("tests/fixtures/bee/ops.json"))
}

fn reads() -> &'static Value {
    static READS: OnceLock<Value> = OnceLock::new();
    READS.get_or_init(|| bee_common::load_json("tests/fixtures/bee/reads.json"))
}

fn scenario(name: &str) -> &'static Value {
    ops()["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario {name} in ops.json"))
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().unwrap()
}

/// Replays scenario `name` and checks every block, length and step output.
fn check_blocks(name: &str) {
    let s = scenario(name);
    let r = block_on(replay(name, &s["options"], arr(&s["steps"]), arr(&s["lengths"]), arr(&s["blocks"])));
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// Runs the read plan recorded for scenario `name` on JS's blocks (or, when some blocks are
/// stored only as digests, on the Rust replay, which `check_blocks` proves identical).
fn check_reads(name: &str) {
    let s = scenario(name);
    let r = arr(&reads()["scenarios"])
        .iter()
        .find(|r| r["scenario"] == name)
        .unwrap_or_else(|| panic!("no reads for {name} in reads.json"));
    block_on(async {
        let blocks = arr(&s["blocks"]);
        let bee = if blocks.iter().all(Value::is_string) {
            bee_over(&blocks.iter().map(unhex).collect::<Vec<_>>()).await
        } else {
            let replayed = replay(name, &s["options"], arr(&s["steps"]), arr(&s["lengths"]), blocks).await;
            replayed.unwrap_or_else(|e| panic!("reads of {name} need the replay: {e}")).bee
        };
        let got = run_plan(&bee, &r["plan"]).await;
        if let Some(d) = first_difference(&r["results"], &got, &r["plan"], name) {
            panic!("reads differ from JS at {d}");
        }
    });
}

macro_rules! scenarios {
    ($($(#[$attr:meta])* $test:ident: $name:literal $(reads $reads:ident)?;)*) => {
        $(
            #[test]
            $(#[$attr])*
            fn $test() {
                check_blocks($name);
            }
            $(
                #[test]
                fn $reads() {
                    check_reads($name);
                }
            )?
        )*

        /// Every scenario of the fixture has a test here (and every read plan).
        #[test]
        fn every_scenario_is_tested() {
            let mut tested: Vec<&str> = vec![$($name),*];
            let mut present: Vec<&str> =
                arr(&ops()["scenarios"]).iter().map(|s| s["name"].as_str().unwrap()).collect();
            tested.sort_unstable();
            present.sort_unstable();
            assert_eq!(tested, present, "ops.json scenarios vs tests");
            let mut with_reads: Vec<&str> = vec![$($( { stringify!($reads); $name }, )?)*];
            let mut recorded: Vec<&str> =
                arr(&reads()["scenarios"]).iter().map(|r| r["scenario"].as_str().unwrap()).collect();
            with_reads.sort_unstable();
            recorded.sort_unstable();
            assert_eq!(with_reads, recorded, "reads.json plans vs tests");
        }
    };
}

scenarios! {
    ascending_2000: "ascending-2000" reads ascending_2000_reads;
    descending_2000: "descending-2000" reads descending_2000_reads;
    shuffled_2000_overwrites: "shuffled-2000-overwrites" reads shuffled_2000_overwrites_reads;
    rebalance: "rebalance" reads rebalance_reads;
    edge_keys: "edge-keys" reads edge_keys_reads;
    cas: "cas" reads cas_reads;
    batches: "batches" reads batches_reads;
    batch_on_empty: "batch-on-empty" reads batch_on_empty_reads;
    subs: "subs" reads subs_reads;
    always_duplicate_false: "always-duplicate-false" reads always_duplicate_false_reads;
    metadata_content_feed: "metadata-content-feed" reads metadata_content_feed_reads;
    // JS subs ignore the bee's `alwaysDuplicate: false` (JS `sub()` does not pass it on)
    always_duplicate_false_sub: "always-duplicate-false-sub";
    metadata_user_data: "metadata-user-data";
    metadata_empty: "metadata-empty";
    large_value: "large-value" reads large_value_reads;
}

/// The generator's branch coverage (from an instrumented JS hyperbee) is recorded with the
/// scenarios: every put/del/split/rebalance path JS has is exercised by some scenario.
#[test]
fn fixtures_cover_every_js_branch() {
    let paths = arr(&ops()["paths"]);
    assert!(paths.len() >= 19);
    for p in paths {
        let p = p.as_str().unwrap();
        let hits: u64 = arr(&ops()["scenarios"]).iter().filter_map(|s| s["coverage"][p].as_u64()).sum();
        assert!(hits > 0, "no scenario hits JS branch {p}");
    }
    let rebalance = &scenario("rebalance")["coverage"];
    for p in [
        "borrow-left-leaf",
        "borrow-right-internal",
        "merge-left-internal",
        "merge-right-leaf",
        "root-shrink",
    ] {
        assert!(rebalance[p].as_u64().unwrap() > 0, "rebalance scenario misses {p}");
    }
}

/// A version inside a batch (blocks whose tree nodes were all rewritten later in the same
/// batch) has no readable root: JS throws (a TypeError in `getTreeNode`); Rust must fail
/// cleanly too, not panic or invent a tree.
#[test]
fn version_inside_a_batch_is_an_error() {
    let s = scenario("batches");
    let lengths: Vec<u64> = arr(&s["lengths"]).iter().map(|l| l.as_u64().unwrap()).collect();
    // the first non-empty batch starts at block 1 and appends 80 blocks at once
    assert_eq!(lengths[1], 81);
    let blocks: Vec<Vec<u8>> = arr(&s["blocks"]).iter().map(unhex).collect();
    block_on(async {
        let bee = bee_over(&blocks).await;
        let inside = bee.checkout(2).await;
        let r = inside.get(&blocks_key(&blocks[1])).await;
        assert!(r.is_err(), "get at a version inside a batch: {r:?}");
    });
}

fn blocks_key(block: &[u8]) -> Vec<u8> {
    hyperwasm::bee::Node::decode(block).unwrap().key
}
