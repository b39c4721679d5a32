//! Hostile bees: hand-built cores whose blocks are garbage or whose trees are impossible
//! (pointers up the tree, cycles inside one block, wrong child counts, keys out of order,
//! shared subtrees 2^40 paths deep, pointers at the header). Every read and write returns a
//! typed error or a correct answer; none panics, none hangs: each operation runs in a single
//! poll (`now`), so a walk that does not end by construction fails the test.
#![allow(clippy::unwrap_used, missing_docs)]

mod bee_support;

use bee_support::{
    bee_of, block, blocks_from, drain_diff, drain_history, drain_range, exercise, header, level, now, probes,
    Bee,
};
use hyperwasm::bee::{BeeError, HistoryOptions, Level, RangeOptions};
use proptest::prelude::*;

fn code<T: std::fmt::Debug>(r: Result<T, BeeError>) -> &'static str {
    r.unwrap_err().code()
}

fn all() -> RangeOptions {
    RangeOptions::default()
}

/// Range, peek, history, diff, get, put and del all fail with `code` on `bee`.
async fn everything_fails(bee: &Bee, code_: &str) {
    assert_eq!(code(bee.get(b"k").await), code_, "get");
    assert_eq!(code(bee.range(all()).next().await), code_, "range");
    assert_eq!(code(bee.range(RangeOptions { reverse: true, ..all() }).next().await), code_);
    assert_eq!(code(bee.peek(all()).await), code_, "peek");
    assert_eq!(code(bee.history(HistoryOptions::default()).next().await), code_, "history");
    assert_eq!(code(bee.diff(1, all()).next().await), code_, "diff");
    assert_eq!(code(bee.put(b"k", b"v").await), code_, "put");
    assert_eq!(code(bee.del(b"k").await), code_, "del");
}

#[test]
fn garbage_and_truncated_blocks() {
    now(async {
        let bee = bee_of(&[header(), vec![0xff, 0xff, 0xff, 0x07, 1, 2]]).await;
        everything_fails(&bee, "DECODING_ERROR").await;

        let good = block(b"a", Some(b"1"), vec![level(&[1], &[])]);
        let cut = good[..good.len() / 2].to_vec();
        assert!(hyperwasm::bee::Node::decode(&cut).is_err());
        let bee = bee_of(&[header(), cut]).await;
        everything_fails(&bee, "DECODING_ERROR").await;

        // A node whose index is not a YoloIndex.
        let bad_index = hyperwasm::bee::Node { index: vec![0x0a, 0x05, 1], key: b"a".to_vec(), value: None };
        assert!(hyperwasm::bee::YoloIndex::decode(&bad_index.index).is_err());
        let bee = bee_of(&[header(), bad_index.encode()]).await;
        everything_fails(&bee, "DECODING_ERROR").await;

        // A root block without levels.
        let bee = bee_of(&[header(), block(b"a", Some(b"1"), vec![])]).await;
        everything_fails(&bee, "DECODING_ERROR").await;

        // Garbage in the middle: the history reads up to it, then fails.
        let bee = bee_of(&[
            header(),
            block(b"a", Some(b"1"), vec![level(&[1], &[])]),
            b"not a node at all".to_vec(),
            block(b"b", Some(b"2"), vec![level(&[1, 3], &[])]),
        ])
        .await;
        let mut h = bee.history(HistoryOptions::default());
        assert_eq!(h.next().await.unwrap().unwrap().seq, 1);
        assert_eq!(code(h.next().await), "DECODING_ERROR");
        assert!(h.next().await.unwrap().is_none());
        assert_eq!(bee.get(b"b").await.unwrap().unwrap().seq, 3);
        assert_eq!(drain_range(&bee, all()).await, Some(2));
    });
}

#[test]
fn pointers_that_do_not_go_down() {
    now(async {
        let a = block(b"a", Some(b"1"), vec![level(&[1], &[])]);
        // The root points to a child in a later block, then in block 0, then to itself.
        for children in [[(1, 0), (3, 0)], [(0, 0), (1, 0)], [(1, 0), (2, 0)]] {
            let root = block(b"b", Some(b"2"), vec![level(&[2], &children)]);
            let bee = bee_of(&[header(), a.clone(), root]).await;
            everything_fails(&bee, "DECODING_ERROR").await;
        }
        // A key seq pointing at the header block, or past the block.
        for keys in [[0u64, 2], [2, 3]] {
            let bee = bee_of(&[header(), a.clone(), block(b"b", Some(b"2"), vec![level(&keys, &[])])]).await;
            everything_fails(&bee, "DECODING_ERROR").await;
        }
        // Children and keys counts do not match.
        let root = block(b"b", Some(b"2"), vec![level(&[2], &[(1, 0)])]);
        everything_fails(&bee_of(&[header(), a.clone(), root]).await, "DECODING_ERROR").await;
        let root = block(b"b", Some(b"2"), vec![level(&[2], &[(1, 0), (1, 0), (1, 0)])]);
        everything_fails(&bee_of(&[header(), a.clone(), root]).await, "DECODING_ERROR").await;
        // A child that is not a node of its block.
        let root = block(b"b", Some(b"2"), vec![level(&[2], &[(1, 0), (1, 7)])]);
        let bee = bee_of(&[header(), a.clone(), root]).await;
        assert_eq!(code(drain(&bee, all()).await), "DECODING_ERROR");
    });
}

#[test]
fn cycles_inside_one_block() {
    now(async {
        let a = block(b"a", Some(b"1"), vec![level(&[1], &[])]);
        // Level 0 and level 1 point at each other, round the block's own key "b".
        let cyclic = |seq| {
            block(
                b"b",
                Some(b"2"),
                vec![level(&[seq], &[(seq, 1), (seq, 1)]), level(&[seq], &[(seq, 0), (seq, 0)])],
            )
        };
        // As an old root (a checkout at 3 reads block 2 as its root).
        let c = block(b"c", Some(b"3"), vec![level(&[1, 2, 3], &[])]);
        let bee = bee_of(&[header(), a.clone(), cyclic(2), c]).await;
        assert_eq!(drain_range(&bee, all()).await, Some(3));
        let cyc = bee.checkout(3).await;
        assert_eq!(cyc.get(b"b").await.unwrap().unwrap().seq, 2, "the root block's own key is found first");
        assert_eq!(code(cyc.get(b"a").await), "DECODING_ERROR");
        assert_eq!(code(cyc.range(all()).next().await), "DECODING_ERROR");
        assert_eq!(code(cyc.range(RangeOptions { reverse: true, ..all() }).next().await), "DECODING_ERROR");
        let from_a = RangeOptions { gte: Some(b"a".to_vec()), ..all() };
        assert_eq!(code(cyc.range(from_a).next().await), "DECODING_ERROR");
        assert_eq!(code(cyc.diff(2, all()).next().await), "DECODING_ERROR");
        assert_eq!(code(bee.diff(3, all()).next().await), "DECODING_ERROR");
        assert_eq!(drain_diff(&cyc, 3, all()).await, Some(0), "a diff with itself skips everything");
        // As the live root: writes fail the same way.
        let c = block(b"c", Some(b"3"), vec![level(&[1, 2], &[])]);
        let bee = bee_of(&[header(), a, c, cyclic(3)]).await;
        assert_eq!(code(bee.get(b"zz").await), "DECODING_ERROR");
        assert_eq!(code(bee.put(b"zz", b"v").await), "DECODING_ERROR");
        assert_eq!(code(bee.del(b"zz").await), "DECODING_ERROR");
        assert_eq!(code(bee.del(b"a").await), "DECODING_ERROR");
    });
}

#[test]
fn keys_out_of_order() {
    now(async {
        let b = block(b"b", Some(b"1"), vec![level(&[1], &[])]);
        let a = block(b"a", Some(b"2"), vec![level(&[1, 2], &[])]);
        let root = block(b"c", Some(b"3"), vec![level(&[2, 1, 3], &[])]); // "a", "b", "c" is fine
        let bee = bee_of(&[header(), b.clone(), a.clone(), root]).await;
        assert_eq!(drain_range(&bee, all()).await, Some(3));
        let root = block(b"c", Some(b"3"), vec![level(&[1, 2, 3], &[])]); // "b", "a", "c"
        let bee = bee_of(&[header(), b, a, root]).await;
        let mut it = bee.range(all());
        assert_eq!(it.next().await.unwrap().unwrap().key, b"b");
        assert_eq!(code(it.next().await), "DECODING_ERROR");
        assert!(it.next().await.unwrap().is_none());
        let mut it = bee.range(RangeOptions { reverse: true, ..all() });
        assert_eq!(it.next().await.unwrap().unwrap().key, b"c");
        assert_eq!(it.next().await.unwrap().unwrap().key, b"a");
        assert_eq!(code(it.next().await), "DECODING_ERROR");
        assert_eq!(code(drain_diff_err(&bee, 1).await), "DECODING_ERROR");
        // Binary search on the disorder: JS's answers (found or not), no error.
        assert_eq!(bee.get(b"c").await.unwrap().unwrap().seq, 3);
        assert!(bee.get(b"b").await.is_ok());
    });
}

/// Block `seq` holding `depth + 1` levels: level `j < depth` has key `keys[j]` and both
/// children at level `j + 1` of the same block; the last level is a leaf with `keys[depth]`.
/// Every path is `depth` deep, and there are 2^depth of them.
fn dag(key: &[u8], depth: u64, keys: &[u64], seq: u64) -> Vec<u8> {
    let mut levels: Vec<Level> =
        (0..depth).map(|j| level(&[keys[j as usize]], &[(seq, j + 1), (seq, j + 1)])).collect();
    levels.push(level(&[keys[depth as usize]], &[]));
    block(key, Some(b"dag"), levels)
}

#[test]
fn shared_subtrees_2_pow_40() {
    now(async {
        const DEPTH: u64 = 40;
        // Key blocks 1..=41 ("k40" down to "k00"), keys increasing towards the root ("k00" at
        // the leaf), so the first path looks like a valid tree: leaf < its parent's key.
        let mut blocks = vec![header()];
        for i in 0..=DEPTH {
            blocks.push(block(format!("k{:02}", DEPTH - i).as_bytes(), Some(b"v"), vec![level(&[], &[])]));
        }
        let keys: Vec<u64> = (1..=DEPTH + 1).collect(); // level j holds "k{40 - j}": the root "k40"
        let first = DEPTH + 2;
        blocks.push(dag(b"k99", DEPTH, &keys, first));
        blocks.push(dag(b"k98", DEPTH, &keys, first + 1));
        let bee = bee_of(&blocks).await;
        let before = bee.checkout(first + 1).await;
        // Reads along one path are fine.
        assert_eq!(bee.get(b"k20").await.unwrap().unwrap().seq, 21);
        assert_eq!(bee.get(b"k00").await.unwrap().unwrap().seq, DEPTH + 1);
        assert!(bee.get(b"k001").await.unwrap().is_none());
        assert_eq!(bee.peek(all()).await.unwrap().unwrap().key, b"k00");
        // In reverse the walk also starts at the leaf (every last child is the same leaf).
        let rev = bee.peek(RangeOptions { reverse: true, ..all() }).await.unwrap().unwrap();
        assert_eq!(rev.key, b"k00");
        // Walking it all repeats keys: refused at the first repeat.
        assert_eq!(code(drain(&bee, all()).await), "DECODING_ERROR");
        assert_eq!(code(drain(&bee, RangeOptions { reverse: true, ..all() }).await), "DECODING_ERROR");
        assert_eq!(
            code(drain(&bee, RangeOptions { gt: Some(b"k10".to_vec()), ..all() }).await),
            "DECODING_ERROR"
        );
        // Past every key, or before: nothing to walk.
        assert_eq!(drain_range(&bee, RangeOptions { gt: Some(b"k99".to_vec()), ..all() }).await, Some(0));
        assert_eq!(drain_range(&bee, RangeOptions { lt: Some(b"k".to_vec()), ..all() }).await, Some(0));
        // Two such trees sharing every key: a diff skips keys and opens both subtrees at
        // every level; the node budget stops it.
        assert_eq!(code(drain_diff_err(&bee, first + 1).await), "DECODING_ERROR");
        assert_eq!(code(drain_diff_err(&before, first + 2).await), "DECODING_ERROR");
        assert_eq!(code(drain_diff_err(&bee, 1).await), "DECODING_ERROR");
        assert_eq!(drain_history(&bee, HistoryOptions::default()).await, Some(first as usize + 1));
        // Writes walk one path: bounded, and whatever they make reads back bounded too.
        let probes = vec![b"k00".to_vec(), b"k20".to_vec(), b"k5".to_vec(), b"zz".to_vec()];
        exercise(&bee, &probes).await;
    });
}

async fn drain(bee: &Bee, opts: RangeOptions) -> Result<usize, BeeError> {
    let mut it = bee.range(opts);
    let mut n = 0;
    while it.next().await?.is_some() {
        n += 1;
    }
    Ok(n)
}

async fn drain_diff_err(bee: &Bee, other: u64) -> Result<usize, BeeError> {
    let mut it = bee.diff(other, all());
    let mut n = 0;
    while it.next().await?.is_some() {
        n += 1;
    }
    Ok(n)
}

#[test]
fn empty_nodes() {
    now(async {
        let a = block(b"a", Some(b"1"), vec![level(&[1], &[])]);
        // An internal root whose children are empty leaves.
        let root =
            block(b"b", Some(b"2"), vec![level(&[2], &[(2, 1), (2, 2)]), Level::default(), Level::default()]);
        let bee = bee_of(&[header(), a.clone(), root]).await;
        assert_eq!(drain_range(&bee, all()).await, Some(1), "JS walks empty leaves as nothing");
        assert_eq!(code(drain_diff_err(&bee, 2).await), "DECODING_ERROR");
        // An empty root: an empty bee.
        let bee = bee_of(&[header(), a, block(b"b", None, vec![Level::default()])]).await;
        assert_eq!(drain_range(&bee, all()).await, Some(0));
        assert_eq!(drain_diff(&bee, 1, all()).await, Some(0));
        assert_eq!(drain_diff(&bee, 2, all()).await, Some(1));
        assert!(bee.get(b"a").await.unwrap().is_none());
    });
}

#[test]
fn fuzz_corpus_seeds() {
    // A few fixed inputs of the fuzz target's format (both modes).
    for data in [
        &b""[..],
        b"\x00\x05\x03abc\x00\xff",
        b"\x01\x0b\x01a\x01\x03\x02\x01\x02\x02\x01\x00\x02\x00",
        &[1; 64],
    ] {
        now(async {
            let bee = bee_of(&blocks_from(data)).await;
            let keys = probes(&bee).await;
            exercise(&bee, &keys).await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// The fuzz target `fuzz/fuzz_targets/bee_node.rs` as a proptest: arbitrary bytes as
    /// blocks (raw, or assembled into trees), then every operation.
    #[test]
    fn arbitrary_blocks_never_panic_or_hang(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        now(async {
            let bee = bee_of(&blocks_from(&data)).await;
            let keys = probes(&bee).await;
            exercise(&bee, &keys).await;
        });
    }
}
