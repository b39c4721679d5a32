//! Hostile-bee helpers shared by `tests/bee_hostile.rs` and the cargo-fuzz target
//! `fuzz/fuzz_targets/bee_node.rs` (included there by path): build a memory core from raw
//! blocks, turn arbitrary bytes into blocks, and run every read and write of the public API
//! on it, checking that each returns a typed error or a sane answer.
//!
//! Everything runs with [`now`], which polls once: on a local memory core no bee operation
//! may wait, so a walk that would hang is a failure, not a stuck test.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use hyperwasm::bee::{
    BeeError, BeeOptions, Header, HistoryOptions, Hyperbee, Level, Node, RangeOptions, YoloIndex,
};
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::replicator::{CoreSet, SharedCore};
use hyperwasm::storage::MemoryStorage;

pub type Bee = Hyperbee<MemoryStorage>;

/// Error codes a bee operation may return.
pub const CODES: &[&str] =
    &["DECODING_ERROR", "BAD_ARGUMENT", "BLOCK_NOT_AVAILABLE", "SNAPSHOT_NOT_AVAILABLE"];

/// Runs `f` to completion in one poll; panics if it would wait.
pub fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a bee operation on a local memory core waited"),
    }
}

/// The header block JS writes.
pub fn header() -> Vec<u8> {
    Header { protocol: "hyperbee".into(), metadata: None }.encode()
}

/// An entry block.
pub fn block(key: &[u8], value: Option<&[u8]>, levels: Vec<Level>) -> Vec<u8> {
    Node { index: YoloIndex { levels }.encode(), key: key.to_vec(), value: value.map(<[u8]>::to_vec) }
        .encode()
}

/// A tree node.
pub fn level(keys: &[u64], children: &[(u64, u64)]) -> Level {
    Level { keys: keys.to_vec(), children: children.iter().flat_map(|&(s, o)| [s, o]).collect() }
}

/// A writable memory core holding `blocks` (block 0 first), and a bee on it.
pub async fn bee_of(blocks: &[Vec<u8>]) -> Bee {
    let core = Hypercore::create(MemoryStorage::new(), CreateOptions::default()).await.unwrap();
    let core: SharedCore<MemoryStorage> = CoreSet::new().insert(core);
    if !blocks.is_empty() {
        core.append_batch(blocks).await.unwrap();
    }
    Hyperbee::open(core, BeeOptions::default()).await.unwrap()
}

/// A little reader of fuzz bytes.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
}

/// Blocks from arbitrary bytes: the header, then either raw chunks (first byte ≡ 0 mod 4)
/// or entry blocks whose index is assembled from the bytes: one-byte keys, a few levels,
/// pointers mostly plausible (earlier blocks, `keys + 1` children) and sometimes not (block
/// 0, the block itself, later blocks, wrong child counts, missing levels).
pub fn blocks_from(data: &[u8]) -> Vec<Vec<u8>> {
    let mut r = Bytes(data);
    let mode = r.byte();
    let count = 1 + usize::from(r.byte() % 16);
    let mut out = vec![header()];
    // Key of each block so far (to sort node keys, most of the time).
    let mut key_of = vec![Vec::new()];
    for i in 0..count {
        let seq = i as u64 + 1;
        if mode & 3 == 0 {
            let len = usize::from(r.byte());
            out.push(r.take(len));
            continue;
        }
        let key = vec![r.byte() % 16];
        key_of.push(key.clone());
        let value = (r.byte() & 7 != 0).then(|| vec![b'v']);
        // A pointer to a block: mostly `1..=seq`, sometimes anything in `0..=seq + 1`.
        let pointer = |r: &mut Bytes<'_>| {
            let b = r.byte();
            if b & 0xe0 == 0xe0 {
                u64::from(b) % (seq + 2)
            } else {
                1 + u64::from(b) % seq
            }
        };
        let mut levels = Vec::new();
        for _ in 0..1 + r.byte() % 4 {
            let mut keys: Vec<u64> = (0..r.byte() % 6).map(|_| pointer(&mut r)).collect();
            let shape = r.byte();
            if shape & 0x40 == 0 {
                let k = |s: &u64| key_of.get(*s as usize).cloned().unwrap_or_default();
                keys.sort_by_key(k);
                keys.dedup_by_key(|s| k(s));
            }
            let children = match shape % 8 {
                0..=3 => 0,
                4 if shape & 0x80 != 0 => keys.len() + 2,
                5 if shape & 0x80 != 0 => keys.len(),
                _ => keys.len() + 1,
            };
            let children: Vec<(u64, u64)> =
                (0..children).map(|_| (pointer(&mut r), offset(r.byte()))).collect();
            levels.push(level(&keys, &children));
        }
        out.push(block(&key, value.as_deref(), levels));
    }
    out
}

/// A level offset: mostly 0, sometimes up to 3.
fn offset(b: u8) -> u64 {
    if b & 0xc0 == 0xc0 {
        u64::from(b % 4)
    } else {
        0
    }
}

/// `r`'s value, or `None` after checking the error is a typed bee error.
pub fn typed<T>(r: Result<T, BeeError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            assert!(CODES.contains(&e.code()), "unexpected error code {} ({e})", e.code());
            None
        }
    }
}

/// Drains a range: keys strictly ordered, never more entries than blocks.
pub async fn drain_range(bee: &Bee, opts: RangeOptions) -> Option<usize> {
    let version = bee.version().await as usize;
    let reverse = opts.reverse;
    let mut it = bee.range(opts);
    let mut last: Option<Vec<u8>> = None;
    let mut n = 0;
    while let Some(e) = typed(it.next().await)? {
        if let Some(l) = &last {
            assert!(if reverse { e.key < *l } else { e.key > *l }, "range keys out of order");
        }
        last = Some(e.key);
        n += 1;
        assert!(n < version, "more entries than blocks");
    }
    Some(n)
}

/// Drains a diff: never more than two entries per block.
pub async fn drain_diff(bee: &Bee, other: u64, opts: RangeOptions) -> Option<usize> {
    let version = bee.version().await.max(other) as usize;
    let mut it = bee.diff(other, opts);
    let mut n = 0;
    while typed(it.next().await)?.is_some() {
        n += 1;
        assert!(n <= 2 * version, "more differences than blocks");
    }
    Some(n)
}

/// Drains a history.
pub async fn drain_history(bee: &Bee, opts: HistoryOptions) -> Option<usize> {
    let version = bee.version().await as usize;
    let mut it = bee.history(opts);
    let mut n = 0;
    while typed(it.next().await)?.is_some() {
        n += 1;
        assert!(n <= version, "more history than blocks");
    }
    Some(n)
}

fn bounds(keys: &[Vec<u8>]) -> Vec<RangeOptions> {
    let mut out = vec![
        RangeOptions::default(),
        RangeOptions { reverse: true, ..RangeOptions::default() },
        RangeOptions { limit: Some(0), ..RangeOptions::default() },
    ];
    for k in keys.iter().take(4) {
        out.push(RangeOptions { gte: Some(k.clone()), ..RangeOptions::default() });
        out.push(RangeOptions {
            gt: Some(k.clone()),
            reverse: true,
            limit: Some(3),
            ..RangeOptions::default()
        });
        out.push(RangeOptions { lte: Some(k.clone()), reverse: true, ..RangeOptions::default() });
        out.push(RangeOptions { gt: Some(vec![]), lt: Some(k.clone()), ..RangeOptions::default() });
    }
    out
}

/// Every read (and then a few writes) of the public API on `bee`; `keys` are probes.
pub async fn exercise(bee: &Bee, keys: &[Vec<u8>]) {
    let version = bee.version().await;
    typed(bee.header().await);
    for k in keys {
        typed(bee.get(k).await);
    }
    for seq in 0..=version {
        typed(bee.get_by_seq(seq).await);
    }
    for o in bounds(keys) {
        drain_range(bee, o.clone()).await;
        typed(bee.peek(o.clone()).await);
        for other in [1, version / 2, version.saturating_sub(1), version] {
            drain_diff(bee, other, o.clone()).await;
        }
    }
    for o in [
        HistoryOptions::default(),
        HistoryOptions { reverse: true, ..HistoryOptions::default() },
        HistoryOptions { gte: Some(-2), limit: Some(3), ..HistoryOptions::default() },
        HistoryOptions { gt: Some(-40), lt: Some(3), ..HistoryOptions::default() },
    ] {
        drain_history(bee, o).await;
    }
    drain_range(&bee.sub(b"s", None), RangeOptions::default()).await;
    for v in (1..version).take(6) {
        let c = bee.checkout(v).await;
        drain_range(&c, RangeOptions::default()).await;
        drain_diff(&c, version, RangeOptions::default()).await;
    }
    // Writes on top of whatever is there: typed errors or new blocks.
    for k in keys.iter().take(3) {
        typed(bee.put(k, b"x").await);
        typed(bee.del(k).await);
        let mut b = match typed(bee.batch().await) {
            Some(b) => b,
            None => continue,
        };
        if typed(b.put(k, b"y").await).is_some()
            && typed(b.put(&[k.as_slice(), b"+"].concat(), b"z").await).is_some()
        {
            typed(b.flush().await);
        }
    }
    drain_range(bee, RangeOptions::default()).await;
    drain_diff(bee, version, RangeOptions::default()).await;
}

/// Probe keys: the keys the blocks hold, and a few others.
pub async fn probes(bee: &Bee) -> Vec<Vec<u8>> {
    let version = bee.version().await;
    let mut keys = vec![Vec::new(), vec![0], b"m".to_vec(), vec![0xff; 3]];
    for seq in 1..version.min(12) {
        if let Ok(e) = bee.get_by_seq(seq).await {
            keys.push(e.key);
        }
    }
    keys
}
