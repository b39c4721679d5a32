//! JS behaviours the iterators keep on purpose (each checked against JS hyperbee 2.27.3).

use futures::executor::block_on;
use futures::StreamExt;

use super::{HistoryKind, HistoryOptions, RangeOptions};
use crate::bee::{BeeOptions, Hyperbee};
use crate::core::{CreateOptions, Hypercore};
use crate::replicator::CoreSet;
use crate::storage::MemoryStorage;

type Bee = Hyperbee<MemoryStorage>;

async fn bee() -> Bee {
    let core = Hypercore::create(MemoryStorage::new(), CreateOptions::default()).await.unwrap();
    Hyperbee::open(CoreSet::new().insert(core), BeeOptions::default()).await.unwrap()
}

async fn keys(bee: &Bee, o: RangeOptions) -> Vec<Vec<u8>> {
    bee.range(o).into_stream().map(|e| e.unwrap().key).collect().await
}

fn k(s: &[u8]) -> Option<Vec<u8>> {
    Some(s.to_vec())
}

#[test]
fn sub_default_range_starts_after_prefix_and_0x00() {
    block_on(async {
        let bee = bee().await;
        let sub = bee.sub(b"s", None);
        for key in [&b""[..], b"\0", b"\0\x01", b"a", b"\xff"] {
            sub.put(key, b"v").await.unwrap();
        }
        bee.put(b"s", b"main").await.unwrap();
        bee.put(b"s\x01", b"main").await.unwrap();
        // JS `encRange`: gt = prefix ‖ 0x00 (so "" and "\0" are not listed), lt = bump(prefix).
        assert_eq!(
            keys(&sub, RangeOptions::default()).await,
            [b"\0\x01".to_vec(), b"a".to_vec(), b"\xff".to_vec()]
        );
        // An explicit empty lower bound is a bound (truthy in JS).
        let all = keys(&sub, RangeOptions { gte: k(b""), ..RangeOptions::default() }).await;
        assert_eq!(all.len(), 5);
        assert_eq!(
            sub.peek(RangeOptions { reverse: true, ..RangeOptions::default() }).await.unwrap().unwrap().key,
            b"\xff"
        );
        // The diff of a sub has the same default range.
        let d: Vec<_> =
            sub.diff(1, RangeOptions::default()).into_stream().map(|d| d.unwrap()).collect().await;
        assert_eq!(d.len(), 3);
    });
}

#[test]
fn range_bounds_gt_beats_gte_and_lt_beats_lte() {
    block_on(async {
        let bee = bee().await;
        for key in [b"a", b"b", b"c", b"d"] {
            bee.put(key, b"v").await.unwrap();
        }
        let o =
            RangeOptions { gt: k(b"a"), gte: k(b"a"), lt: k(b"d"), lte: k(b"d"), ..RangeOptions::default() };
        assert_eq!(keys(&bee, o.clone()).await, [b"b".to_vec(), b"c".to_vec()]);
        let rev = keys(&bee, RangeOptions { reverse: true, ..o.clone() }).await;
        assert_eq!(rev, [b"c".to_vec(), b"b".to_vec()]);
        // Limit 0: nothing.
        assert!(keys(&bee, RangeOptions { limit: Some(0), ..RangeOptions::default() }).await.is_empty());
        // The diff's bounds are `gt || gte`, inclusive when `gte` is set, and `lt || lte`,
        // inclusive when `lte` is set: with both, "a" and "d" are in.
        let d: Vec<_> = bee.diff(1, o).into_stream().map(|d| d.unwrap().left.unwrap().key).collect().await;
        assert_eq!(d, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        // And `reverse` does not apply to diffs.
        let o = RangeOptions { reverse: true, limit: Some(2), ..RangeOptions::default() };
        let d: Vec<_> = bee.diff(1, o).into_stream().map(|d| d.unwrap().left.unwrap().key).collect().await;
        assert_eq!(d, [b"a".to_vec(), b"b".to_vec()]);
    });
}

#[test]
fn diff_pairs_and_sides() {
    block_on(async {
        let bee = bee().await;
        for i in 0..30u8 {
            bee.put(&[b'k', i], &[i]).await.unwrap();
        }
        let v = bee.version().await;
        bee.put(&[b'k', 3], b"new").await.unwrap();
        bee.del(&[b'k', 7]).await.unwrap();
        bee.put(b"z", b"added").await.unwrap();
        let d: Vec<_> =
            bee.diff(v, RangeOptions::default()).into_stream().map(|d| d.unwrap()).collect().await;
        assert_eq!(d.len(), 3);
        let (l, r) = (d[0].left.as_ref().unwrap(), d[0].right.as_ref().unwrap());
        assert_eq!((l.key.as_slice(), l.value.as_deref(), r.seq), (&[b'k', 3][..], Some(&b"new"[..]), 4));
        assert!(d[1].left.is_none() && d[1].right.as_ref().unwrap().key == [b'k', 7]);
        assert!(d[2].right.is_none() && d[2].left.as_ref().unwrap().key == b"z");
        // The other way round swaps the sides.
        let back = bee.checkout(v).await;
        let e: Vec<_> =
            back.diff(v + 3, RangeOptions::default()).into_stream().map(|d| d.unwrap()).collect().await;
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].left, d[0].right);
        assert_eq!(bee.diff(v + 3, RangeOptions::default()).next().await.unwrap(), None);
    });
}

#[test]
fn history_of_a_sub_slices_every_key() {
    block_on(async {
        let bee = bee().await;
        let sub = bee.sub(b"sub", None);
        bee.put(b"ab", b"1").await.unwrap();
        sub.put(b"k", b"2").await.unwrap();
        bee.del(b"ab").await.unwrap();
        bee.put(b"longer-main-key", b"3").await.unwrap();
        let h: Vec<_> =
            sub.history(HistoryOptions::default()).into_stream().map(|e| e.unwrap()).collect().await;
        let got: Vec<_> = h.iter().map(|e| (e.kind, e.seq, e.key.clone())).collect();
        assert_eq!(
            got,
            [
                (HistoryKind::Put, 1, b"".to_vec()),
                (HistoryKind::Put, 2, b"k".to_vec()),
                (HistoryKind::Del, 3, b"".to_vec()),
                (HistoryKind::Put, 4, b"er-main-key".to_vec()),
            ]
        );
        assert_eq!(h[2].value, None);
    });
}

#[test]
fn history_bounds_and_checkouts() {
    block_on(async {
        let bee = bee().await;
        for i in 0..8u8 {
            bee.put(&[i], &[i]).await.unwrap();
        }
        let seqs = |o: HistoryOptions, b: Bee| async move {
            b.history(o).into_stream().map(|e| e.unwrap().seq).collect::<Vec<_>>().await
        };
        let o = |gt, gte, lt, lte, reverse, limit| HistoryOptions {
            gt,
            gte,
            lt,
            lte,
            reverse,
            limit,
            live: false,
        };
        assert_eq!(seqs(o(Some(-3), None, None, None, false, None), bee.clone()).await, [7, 8]);
        assert_eq!(seqs(o(None, Some(-3), None, Some(-2), false, None), bee.clone()).await, [6, 7]);
        assert_eq!(seqs(o(None, None, None, None, true, Some(2)), bee.clone()).await, [8, 7]);
        assert_eq!(seqs(o(None, Some(0), Some(0), None, false, None), bee.clone()).await, Vec::<u64>::new());
        assert_eq!(seqs(o(Some(0), None, Some(3), None, false, None), bee.clone()).await, [1, 2]);
        // A checkout counts from its version but reads what its core snapshot holds.
        let c = bee.checkout(4).await;
        assert_eq!(seqs(o(None, Some(-1), None, None, false, None), c.clone()).await, [3]);
        assert_eq!(seqs(o(None, Some(2), Some(7), None, false, None), c.clone()).await, [2, 3, 4, 5, 6]);
        // Past what it holds, or at the header: refused, then finished.
        let mut it = bee.history(o(None, Some(5), Some(20), None, false, None));
        for want in 5..9 {
            assert_eq!(it.next().await.unwrap().unwrap().seq, want);
        }
        assert_eq!(it.next().await.unwrap_err().code(), "BAD_ARGUMENT");
        assert!(it.next().await.unwrap().is_none());
        let mut it = bee.history(o(None, Some(-9), None, None, false, None));
        assert_eq!(it.next().await.unwrap_err().code(), "BAD_ARGUMENT");
    });
}

#[test]
fn limit_zero_still_opens_the_walk() {
    block_on(async {
        let core = Hypercore::create(MemoryStorage::new(), CreateOptions::default()).await.unwrap();
        let core = CoreSet::new().insert(core);
        let header = crate::bee::Header { protocol: "hyperbee".into(), metadata: None };
        core.append_batch(&[header.encode(), b"garbage".to_vec()]).await.unwrap();
        let bee = Hyperbee::open(core, BeeOptions::default()).await.unwrap();
        // JS opens (reads the root) before it looks at the limit.
        let mut it = bee.range(RangeOptions { limit: Some(0), ..RangeOptions::default() });
        assert_eq!(it.next().await.unwrap_err().code(), "DECODING_ERROR");
        let mut it = bee.history(HistoryOptions { limit: Some(0), ..HistoryOptions::default() });
        assert_eq!(it.next().await.unwrap_err().code(), "DECODING_ERROR");
        // A stream ends after its error.
        let items: Vec<_> = bee.range(RangeOptions::default()).into_stream().collect().await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
    });
}

/// The iterators and watchers work on multi-threaded runtimes (native): their futures are
/// `Send`.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    block_on(async {
        let bee = bee().await;
        let mut r = bee.range(RangeOptions::default());
        send(&r.next());
        let mut h = bee.history(HistoryOptions::default());
        send(&h.next());
        let mut d = bee.diff(1, RangeOptions::default());
        send(&d.next());
        let mut w = bee.watch(RangeOptions::default());
        send(&w.next());
        send(&bee.peek(RangeOptions::default()));
        let mut e = bee.get_and_watch(b"k").await.unwrap();
        send(&e.changed());
        send(&bee.range(RangeOptions::default()).into_stream());
    });
}
