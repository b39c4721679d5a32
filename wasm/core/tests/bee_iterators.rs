//! Range, peek, history and diff on bees written by our own writer, against a plain model
//! (a `BTreeMap` of live keys per version, and the op log), over random op sequences with
//! subs, batches and truncations; every option combination; checkouts; watchers.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;

use futures::executor::block_on;
use futures::{FutureExt, StreamExt};
use hyperwasm::bee::{
    BeeOptions, DiffEntry, Entry, HistoryEntry, HistoryKind, HistoryOptions, Hyperbee, RangeOptions,
};
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::replicator::{CoreSet, SharedCore};
use hyperwasm::storage::MemoryStorage;
use proptest::prelude::*;

type Bee = Hyperbee<MemoryStorage>;
type Map = BTreeMap<Vec<u8>, (u64, Vec<u8>)>;

async fn new_core() -> SharedCore<MemoryStorage> {
    let core = Hypercore::create(MemoryStorage::new(), CreateOptions::default()).await.unwrap();
    CoreSet::new().insert(core)
}

/// Sub-database paths: main, `s`, `s/t`.
const SUBS: [&[&[u8]]; 3] = [&[], &[b"s"], &[b"s", b"t"]];

fn handle(bee: &Bee, sub: usize) -> Bee {
    SUBS[sub % SUBS.len()].iter().fold(bee.clone(), |h, name| h.sub(name, None))
}

fn prefix_of(sub: usize) -> Vec<u8> {
    SUBS[sub % SUBS.len()].iter().flat_map(|n| n.iter().copied().chain([0])).collect()
}

#[derive(Debug, Clone)]
enum Op {
    Put(usize, Vec<u8>, u8),
    Del(usize, Vec<u8>),
    /// One batch on one handle: `(delete?, key, value)`.
    Batch(usize, Vec<(bool, Vec<u8>, u8)>),
    /// Truncate to a valid version picked by this number.
    Truncate(u16),
}

/// The model: live keys per version (`None` inside a batch: no tree there), log by seq.
#[derive(Debug, Default)]
struct Model {
    map: Map,
    versions: Vec<Option<Map>>,
    /// `(is deletion, full key, value)` by seq; index 0 is the header.
    log: Vec<(bool, Vec<u8>, Option<Vec<u8>>)>,
}

impl Model {
    fn len(&self) -> u64 {
        self.log.len() as u64
    }

    fn header(&mut self) {
        if self.log.is_empty() {
            self.log.push((false, Vec::new(), None));
            self.versions = vec![Some(Map::new()), Some(Map::new())];
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let seq = self.len();
        self.map.insert(key.clone(), (seq, value.clone()));
        self.log.push((false, key, Some(value)));
        self.versions.push(None);
    }

    fn del(&mut self, key: &[u8]) -> bool {
        if self.map.remove(key).is_none() {
            return false;
        }
        self.log.push((true, key.to_vec(), None));
        self.versions.push(None);
        true
    }

    /// The current state is a readable version.
    fn seal(&mut self) {
        let v = self.len() as usize;
        self.versions[v] = Some(self.map.clone());
    }

    fn valid_versions(&self) -> Vec<u64> {
        (1..self.versions.len()).filter(|&v| self.versions[v].is_some()).map(|v| v as u64).collect()
    }
}

fn value(v: u8, seq: u64) -> Vec<u8> {
    format!("v{v}@{seq}").into_bytes()
}

async fn run(bee: &Bee, ops: &[Op]) -> Model {
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Put(sub, key, v) => {
                m.header();
                let val = value(*v, m.len());
                handle(bee, *sub).put(key, &val).await.unwrap();
                m.put([prefix_of(*sub), key.clone()].concat(), val);
                m.seal();
            }
            Op::Del(sub, key) => {
                m.header();
                let done = handle(bee, *sub).del(key).await.unwrap();
                assert_eq!(done, m.del(&[prefix_of(*sub), key.clone()].concat()));
                m.seal();
            }
            Op::Batch(sub, list) => {
                m.header();
                let h = handle(bee, *sub);
                let mut b = h.batch().await.unwrap();
                for (del, key, v) in list {
                    let full = [prefix_of(*sub), key.clone()].concat();
                    if *del {
                        assert_eq!(b.del(key).await.unwrap(), m.del(&full));
                    } else {
                        let val = value(*v, m.len());
                        b.put(key, &val).await.unwrap();
                        m.put(full, val);
                    }
                }
                b.flush().await.unwrap();
                m.seal();
            }
            Op::Truncate(pick) => {
                let valid = m.valid_versions();
                if valid.is_empty() {
                    continue;
                }
                let to = valid[*pick as usize % valid.len()];
                bee.core().truncate(to).await.unwrap();
                m.log.truncate(to as usize);
                m.versions.truncate(to as usize + 1);
                m.map = m.versions[to as usize].clone().unwrap();
            }
        }
        let len = bee.core().lock().await.length();
        assert_eq!(len, m.len(), "core length after {op:?}");
    }
    m
}

/// Model range: JS bounds (gt over gte, lt over lte; a sub's default range).
fn model_range(map: &Map, prefix: &[u8], o: &RangeOptions) -> Vec<Entry> {
    let enc = |k: &Option<Vec<u8>>| k.as_ref().map(|k| [prefix, k].concat());
    let (mut gt, gte, mut lt, lte) = (enc(&o.gt), enc(&o.gte), enc(&o.lt), enc(&o.lte));
    if !prefix.is_empty() {
        if gt.is_none() && gte.is_none() {
            gt = Some([prefix, &[0]].concat());
        }
        if lt.is_none() && lte.is_none() {
            let mut p = prefix.to_vec();
            *p.last_mut().unwrap() = p.last().unwrap().wrapping_add(1);
            lt = Some(p);
        }
    }
    let mut out: Vec<Entry> = map
        .iter()
        .filter(|(k, _)| match (&gt, &gte) {
            (Some(g), _) => k.as_slice() > g.as_slice(),
            (None, Some(g)) => k.as_slice() >= g.as_slice(),
            _ => true,
        })
        .filter(|(k, _)| match (&lt, &lte) {
            (Some(l), _) => k.as_slice() < l.as_slice(),
            (None, Some(l)) => k.as_slice() <= l.as_slice(),
            _ => true,
        })
        .map(|(k, (seq, v))| Entry {
            seq: *seq,
            key: k[prefix.len().min(k.len())..].to_vec(),
            value: Some(v.clone()),
        })
        .collect();
    if o.reverse {
        out.reverse();
    }
    out.truncate(o.limit.unwrap_or(usize::MAX));
    out
}

/// Model diff: keys whose seq differs, JS `TreeIterator` bounds (`gt || gte`, inclusive if
/// `gte`; `lt || lte`, inclusive if `lte`).
fn model_diff(left: &Map, right: &Map, prefix: &[u8], o: &RangeOptions) -> Vec<DiffEntry> {
    let enc = |k: &Option<Vec<u8>>| k.as_ref().map(|k| [prefix, k].concat());
    let (mut gt, gte, mut lt, lte) = (enc(&o.gt), enc(&o.gte), enc(&o.lt), enc(&o.lte));
    if !prefix.is_empty() {
        if gt.is_none() && gte.is_none() {
            gt = Some([prefix, &[0]].concat());
        }
        if lt.is_none() && lte.is_none() {
            let mut p = prefix.to_vec();
            *p.last_mut().unwrap() = p.last().unwrap().wrapping_add(1);
            lt = Some(p);
        }
    }
    let (lo, lo_incl) = (gt.clone().or(gte.clone()), gte.is_some());
    let (hi, hi_incl) = (lt.clone().or(lte.clone()), lte.is_some());
    let entry = |k: &[u8], (seq, v): &(u64, Vec<u8>)| Entry {
        seq: *seq,
        key: k[prefix.len().min(k.len())..].to_vec(),
        value: Some(v.clone()),
    };
    let keys: std::collections::BTreeSet<&Vec<u8>> = left.keys().chain(right.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        let inside_lo = lo.as_ref().is_none_or(|g| if lo_incl { k >= g } else { k > g });
        let inside_hi = hi.as_ref().is_none_or(|l| if hi_incl { k <= l } else { k < l });
        if !inside_lo || !inside_hi {
            continue;
        }
        let (l, r) = (left.get(k), right.get(k));
        if l.map(|x| x.0) == r.map(|x| x.0) {
            continue;
        }
        out.push(DiffEntry { left: l.map(|x| entry(k, x)), right: r.map(|x| entry(k, x)) });
    }
    out.truncate(o.limit.unwrap_or(usize::MAX));
    out
}

/// Model history: JS's position arithmetic; `Err(())` where we refuse to read (block 0 or
/// below, or past what the view holds).
fn model_history(
    m: &Model,
    version: u64,
    readable: u64,
    prefix: &[u8],
    o: &HistoryOptions,
) -> Vec<Result<HistoryEntry, ()>> {
    let v = version as i64;
    let rel = |x: i64| if x < 0 { x + v } else { x };
    let mut gte = match o.gt {
        Some(g) if g != 0 => rel(g) + 1,
        _ => rel(o.gte.filter(|&g| g != 0).unwrap_or(1)),
    };
    let mut lt = if o.lt == Some(0) || o.lte == Some(0) {
        0
    } else if let Some(l) = o.lte {
        rel(l) + 1
    } else {
        rel(o.lt.unwrap_or(v))
    };
    let mut limit = o.limit.map(|l| l as i64).unwrap_or(-1);
    let mut out = Vec::new();
    loop {
        if limit == 0 {
            return out;
        }
        limit -= 1;
        if gte >= lt {
            return out;
        }
        let seq = if o.reverse {
            if lt <= 1 {
                return out;
            }
            lt -= 1;
            lt
        } else {
            gte += 1;
            gte - 1
        };
        if seq < 1 || seq as u64 >= readable {
            out.push(Err(()));
            return out;
        }
        let (del, key, value) = &m.log[seq as usize];
        out.push(Ok(HistoryEntry {
            kind: if *del { HistoryKind::Del } else { HistoryKind::Put },
            seq: seq as u64,
            key: key.get(prefix.len()..).unwrap_or_default().to_vec(),
            value: value.clone(),
        }));
    }
}

async fn collect_range(h: &Bee, o: &RangeOptions) -> Vec<Entry> {
    let mut it = h.range(o.clone());
    let mut out = Vec::new();
    while let Some(e) = it.next().await.unwrap() {
        out.push(e);
    }
    assert!(it.next().await.unwrap().is_none(), "fused");
    out
}

async fn collect_history(h: &Bee, o: &HistoryOptions) -> Vec<Result<HistoryEntry, ()>> {
    let mut it = h.history(o.clone());
    let mut out = Vec::new();
    loop {
        match it.next().await {
            Ok(Some(e)) => out.push(Ok(e)),
            Ok(None) => return out,
            Err(e) => {
                assert_eq!(e.code(), "BAD_ARGUMENT", "{e}");
                out.push(Err(()));
                return out;
            }
        }
    }
}

async fn collect_diff(h: &Bee, other: u64, o: &RangeOptions) -> Vec<DiffEntry> {
    let mut it = h.diff(other, o.clone());
    let mut out = Vec::new();
    while let Some(e) = it.next().await.unwrap() {
        out.push(e);
    }
    out
}

fn key_strategy() -> impl Strategy<Value = Vec<u8>> + Clone {
    prop_oneof![
        // Few, short keys over awkward bytes: collisions, prefixes, the empty key, 0x00/0xff.
        3 => proptest::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b'b', b's', 0xff]), 0..3),
        // Many keys: deeper trees.
        2 => (0u8..120).prop_map(|k| vec![b'k', k]),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let sub = prop::sample::select(vec![0usize, 0, 0, 1, 2]);
    prop_oneof![
        10 => (sub.clone(), key_strategy(), any::<u8>()).prop_map(|(s, k, v)| Op::Put(s, k, v)),
        4 => (sub.clone(), key_strategy()).prop_map(|(s, k)| Op::Del(s, k)),
        2 => (sub, proptest::collection::vec((any::<bool>(), key_strategy(), any::<u8>()), 1..12))
            .prop_map(|(s, l)| Op::Batch(s, l)),
        1 => any::<u16>().prop_map(Op::Truncate),
    ]
}

/// Range options from keys near the live ones, every bound kind.
fn range_strategy() -> impl Strategy<Value = RangeOptions> {
    let bound = proptest::option::weighted(0.3, key_strategy());
    (
        bound.clone(),
        bound.clone(),
        bound.clone(),
        bound,
        any::<bool>(),
        proptest::option::weighted(0.3, 0usize..6),
    )
        .prop_map(|(gt, gte, lt, lte, reverse, limit)| RangeOptions { gt, gte, lt, lte, reverse, limit })
}

fn history_strategy() -> impl Strategy<Value = HistoryOptions> {
    let b = proptest::option::weighted(0.35, -12i64..40);
    (b.clone(), b.clone(), b.clone(), b, any::<bool>(), proptest::option::weighted(0.3, 0usize..6)).prop_map(
        |(gt, gte, lt, lte, reverse, limit)| HistoryOptions { gt, gte, lt, lte, reverse, limit, live: false },
    )
}

async fn at(bee: &Bee, m: &Model, v: u64, sub: usize) -> Bee {
    let h = handle(bee, sub);
    if v == m.len().max(1) {
        h
    } else {
        h.checkout(v).await
    }
}

type Checks = (
    Vec<(RangeOptions, u16, usize)>,
    Vec<(HistoryOptions, u16, usize)>,
    Vec<(RangeOptions, u16, u16, usize)>,
);

fn check(ops: &[Op], (ranges, histories, diffs): Checks) {
    block_on(async {
        let bee = Hyperbee::open(new_core().await, BeeOptions::default()).await.unwrap();
        let m = run(&bee, ops).await;
        let valid = m.valid_versions();
        if valid.is_empty() {
            return;
        }
        let pick = |p: u16| valid[p as usize % valid.len()];
        for (o, p, sub) in &ranges {
            let v = pick(*p);
            let h = at(&bee, &m, v, *sub).await;
            let map = m.versions[v as usize].as_ref().unwrap();
            let want = model_range(map, &prefix_of(*sub), o);
            assert_eq!(collect_range(&h, o).await, want, "range {o:?} at {v} sub {sub}");
            let stream: Vec<Entry> = h.range(o.clone()).into_stream().map(Result::unwrap).collect().await;
            assert_eq!(stream, want);
            let peek = h.peek(o.clone()).await.unwrap();
            let first = model_range(map, &prefix_of(*sub), &RangeOptions { limit: Some(1), ..o.clone() });
            assert_eq!(peek, first.into_iter().next(), "peek {o:?}");
        }
        for (o, p, sub) in &histories {
            let v = pick(*p);
            let h = at(&bee, &m, v, *sub).await;
            // A checkout reads through its core snapshot (the whole core here).
            let readable = if h.is_checkout() { m.len() } else { v };
            let want = model_history(&m, v, readable, &prefix_of(*sub), o);
            assert_eq!(collect_history(&h, o).await, want, "history {o:?} at {v} sub {sub}");
        }
        for (o, p, q, sub) in &diffs {
            let (vl, vr) = (pick(*p), pick(*q));
            let h = at(&bee, &m, vl, *sub).await;
            let (l, r) =
                (m.versions[vl as usize].as_ref().unwrap(), m.versions[vr as usize].as_ref().unwrap());
            let want = model_diff(l, r, &prefix_of(*sub), o);
            assert_eq!(collect_diff(&h, vr, o).await, want, "diff {vl}→{vr} {o:?} sub {sub}");
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reads_match_the_model(
        ops in proptest::collection::vec(op_strategy(), 1..90),
        checks in checks_strategy(),
    ) {
        check(&ops, checks);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Bigger bees (three levels and more), fewer cases.
    #[test]
    fn deep_reads_match_the_model(
        ops in proptest::collection::vec(op_strategy(), 250..400),
        checks in checks_strategy(),
    ) {
        check(&ops, checks);
    }
}

fn checks_strategy() -> impl Strategy<Value = Checks> {
    (
        proptest::collection::vec((range_strategy(), any::<u16>(), 0usize..3), 12),
        proptest::collection::vec((history_strategy(), any::<u16>(), 0usize..3), 8),
        proptest::collection::vec((range_strategy(), any::<u16>(), any::<u16>(), 0usize..3), 8),
    )
}

// ---------------------------------------------------------------------------------------
// checkouts across a truncation, watchers

async fn bee_with(n: u8) -> Bee {
    let bee = Hyperbee::open(new_core().await, BeeOptions::default()).await.unwrap();
    for i in 0..n {
        bee.put(&[b'a' + i], &[i]).await.unwrap();
    }
    bee
}

/// The output of a future that must be ready at once (a watcher that should have woken):
/// fails instead of hanging.
async fn now<F: std::future::Future + Unpin>(f: &mut F) -> F::Output {
    match futures::poll!(f) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("not woken"),
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, hyperwasm::bee::BeeError>) -> &'static str {
    r.unwrap_err().code()
}

#[test]
fn checkout_reads_past_a_truncation_fail() {
    block_on(async {
        let bee = bee_with(10).await; // blocks 1..=10
        let before = bee.checkout(11).await;
        let low = bee.checkout(5).await;
        bee.core().truncate(6).await.unwrap();
        bee.put(b"new", b"x").await.unwrap();
        // The live bee reads the new fork.
        let live: Vec<Vec<u8>> =
            bee.range(RangeOptions::default()).into_stream().map(|e| e.unwrap().key).collect().await;
        assert_eq!(
            live,
            [b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec(), b"e".to_vec(), b"new".to_vec()]
        );
        // A checkout past the cut cannot be read any more.
        assert_eq!(code(before.range(RangeOptions::default()).next().await), "SNAPSHOT_NOT_AVAILABLE");
        assert_eq!(code(before.get(b"a").await), "SNAPSHOT_NOT_AVAILABLE");
        assert_eq!(code(before.peek(RangeOptions::default()).await), "SNAPSHOT_NOT_AVAILABLE");
        let mut h = before.history(HistoryOptions { gte: Some(7), ..HistoryOptions::default() });
        assert_eq!(code(h.next().now_or_never().expect("ready at once")), "SNAPSHOT_NOT_AVAILABLE");
        assert!(
            h.next().now_or_never().expect("ready at once").unwrap().is_none(),
            "finished after an error"
        );
        assert_eq!(code(before.diff(3, RangeOptions::default()).next().await), "SNAPSHOT_NOT_AVAILABLE");
        // Below the cut, old checkouts still read.
        let keys: Vec<Vec<u8>> =
            low.range(RangeOptions::default()).into_stream().map(|e| e.unwrap().key).collect().await;
        assert_eq!(keys, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        let d =
            low.diff(3, RangeOptions::default()).into_stream().map(|d| d.unwrap()).collect::<Vec<_>>().await;
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.right.is_none()));
    });
}

#[test]
fn live_history_follows_appends_and_truncations() {
    block_on(async {
        let bee = bee_with(3).await;
        let mut h = bee.history(HistoryOptions { live: true, gte: Some(2), ..HistoryOptions::default() });
        assert_eq!(h.next().now_or_never().expect("ready at once").unwrap().unwrap().seq, 2);
        assert_eq!(h.next().now_or_never().expect("ready at once").unwrap().unwrap().seq, 3);
        {
            let mut next = std::pin::pin!(h.next());
            assert!(futures::poll!(&mut next).is_pending());
            bee.put(b"z", b"1").await.unwrap();
            let e = now(&mut next).await.unwrap().unwrap();
            assert_eq!((e.seq, e.key.as_slice(), e.kind), (4, &b"z"[..], HistoryKind::Put));
        }
        bee.core().truncate(3).await.unwrap();
        bee.del(b"a").await.unwrap(); // seq 3 again
        bee.put(b"y", b"2").await.unwrap(); // 4 again
        bee.put(b"w", b"3").await.unwrap(); // 5: the next one the live history reads
        let e = h.next().now_or_never().expect("ready at once").unwrap().unwrap();
        assert_eq!((e.seq, e.key.as_slice()), (5, &b"w"[..]));
        let mut rev = bee.history(HistoryOptions { live: true, reverse: true, ..HistoryOptions::default() });
        assert_eq!(code(rev.next().now_or_never().expect("ready at once")), "BAD_ARGUMENT");
    });
}

#[test]
fn watcher_yields_on_changes_in_range_and_on_truncation() {
    block_on(async {
        let bee = bee_with(2).await; // a, b; version 3
        let range =
            RangeOptions { gte: Some(b"a".to_vec()), lt: Some(b"m".to_vec()), ..RangeOptions::default() };
        let mut w = bee.watch(range);
        assert_eq!(w.current().unwrap().version().await, 3);
        bee.put(b"x", b"out of range").await.unwrap(); // 4
        {
            let mut next = std::pin::pin!(w.next());
            assert!(futures::poll!(&mut next).is_pending(), "a change outside the range does not wake");
            bee.put(b"c", b"in range").await.unwrap(); // 5
            let (cur, prev) = now(&mut next).await.unwrap().unwrap();
            assert_eq!((cur.version().await, prev.version().await), (5, 4));
            assert!(cur.is_checkout() && prev.is_checkout());
        }
        // Changes made while nobody waits are not lost.
        bee.del(b"a").await.unwrap(); // 6
        let (cur, prev) = w.next().now_or_never().expect("ready at once").unwrap().unwrap();
        assert_eq!((cur.version().await, prev.version().await), (6, 5));
        // A truncation always yields, even if the range did not change.
        bee.put(b"y", b"out").await.unwrap(); // 7
        bee.core().truncate(6).await.unwrap();
        let (cur, prev) = w.next().now_or_never().expect("ready at once").unwrap().unwrap();
        assert_eq!((cur.version().await, prev.version().await), (6, 6));
        w.close();
        assert!(w.next().now_or_never().expect("ready at once").unwrap().is_none());
        // Watching a checkout is refused.
        let mut wc = bee.checkout(3).await.watch(RangeOptions::default());
        assert_eq!(code(wc.next().now_or_never().expect("ready at once")), "BAD_ARGUMENT");
        assert!(wc.next().now_or_never().expect("ready at once").unwrap().is_none());
    });
}

#[test]
fn watcher_on_a_sub_sees_only_the_sub() {
    block_on(async {
        let bee = bee_with(1).await;
        let sub = bee.sub(b"s", None);
        let mut w = sub.watch(RangeOptions::default());
        w.ready().await.unwrap();
        bee.put(b"s", b"main key s").await.unwrap();
        let mut next = std::pin::pin!(w.next());
        assert!(futures::poll!(&mut next).is_pending());
        sub.put(b"k", b"v").await.unwrap();
        let (cur, _) = now(&mut next).await.unwrap().unwrap();
        assert_eq!(cur.get(b"k").await.unwrap().unwrap().value.unwrap(), b"v");
    });
}

#[test]
fn entry_watcher_wakes_when_its_entry_changes() {
    block_on(async {
        let bee = bee_with(2).await;
        let mut ew = bee.get_and_watch(b"a").await.unwrap();
        assert_eq!(ew.node().unwrap().seq, 1);
        {
            let mut changed = std::pin::pin!(ew.changed());
            assert!(futures::poll!(&mut changed).is_pending());
            bee.put(b"q", b"other").await.unwrap(); // 3
            assert!(futures::poll!(&mut changed).is_pending(), "another key does not wake");
            bee.put(b"a", b"again").await.unwrap(); // 4
            assert_eq!(now(&mut changed).await.unwrap().unwrap().seq, 4);
        }
        bee.del(b"a").await.unwrap(); // 5
        assert_eq!(ew.changed().now_or_never().expect("ready at once").unwrap(), None);
        assert_eq!(ew.node(), None);
        // A truncation forces an update even when the entry is the same (JS `_forceUpdate`).
        bee.put(b"a", b"back").await.unwrap(); // 6
        assert_eq!(ew.changed().now_or_never().expect("ready at once").unwrap().unwrap().seq, 6);
        bee.put(b"zz", b"1").await.unwrap(); // 7
        bee.core().truncate(7).await.unwrap();
        assert_eq!(ew.changed().now_or_never().expect("ready at once").unwrap().unwrap().seq, 6);
        // On a sub, keys are the sub's.
        let sub = bee.sub(b"s", None);
        sub.put(b"a", b"sub").await.unwrap();
        let ew = sub.get_and_watch(b"a").await.unwrap();
        assert_eq!(ew.node().unwrap().value.unwrap(), b"sub");
        assert_eq!(code(bee.checkout(2).await.get_and_watch(b"a").await), "BAD_ARGUMENT");
    });
}
