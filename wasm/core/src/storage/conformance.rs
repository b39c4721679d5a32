//! A conformance suite every [`Storage`] backend must pass.
//!
//! It uses no threads, no tokio and no `std::fs`, so the browser backend can run it under
//! `wasm-bindgen-test`. Each check takes a fresh, empty store and panics with a descriptive
//! message on failure. Run everything in one line:
//!
//! ```text
//! futures::executor::block_on(hyperwasm::storage::conformance::run_all(|| async { MyStorage::new() }));
//! ```
//!
//! The factory returns a future so backends that open asynchronously (IndexedDB) fit too;
//! every call must yield a new, empty store.

use super::{Scan, Storage, WriteBatch};
use std::future::Future;
use std::ops::Bound;

fn k(bytes: &[u8]) -> Vec<u8> {
    bytes.to_vec()
}

async fn put_all<S: Storage>(s: &S, entries: &[(&[u8], &[u8])]) {
    let mut batch = WriteBatch::new();
    for (key, value) in entries {
        batch.put(k(key), k(value));
    }
    s.write(batch).await.expect("conformance: write failed");
}

async fn keys_of<S: Storage>(s: &S, scan: Scan) -> Vec<Vec<u8>> {
    s.scan(scan).await.expect("conformance: scan failed").into_iter().map(|(key, _)| key).collect()
}

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(mut make: F)
where
    S: Storage,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    put_get_delete(&make().await).await;
    overwrite(&make().await).await;
    get_many_with_misses(&make().await).await;
    scan_order_reverse_limit(&make().await).await;
    scan_bounds(&make().await).await;
    scan_floor(&make().await).await;
    delete_range(&make().await).await;
    batch_ordering(&make().await).await;
    empty_batch(&make().await).await;
    large_values(&make().await).await;
    empty_values(&make().await).await;
    binary_keys(&make().await).await;
}

/// Put, get, delete of single keys; deleting an absent key is not an error.
pub async fn put_get_delete<S: Storage>(s: &S) {
    assert_eq!(s.get(k(b"a")).await.expect("get"), None, "empty store must miss");
    put_all(s, &[(b"a", b"1"), (b"b", b"2")]).await;
    assert_eq!(s.get(k(b"a")).await.expect("get"), Some(k(b"1")), "get after put");
    assert_eq!(s.get(k(b"b")).await.expect("get"), Some(k(b"2")), "get after put");
    let mut batch = WriteBatch::new();
    batch.delete(k(b"a")).delete(k(b"missing"));
    s.write(batch).await.expect("delete must succeed even for absent keys");
    assert_eq!(s.get(k(b"a")).await.expect("get"), None, "get after delete");
    assert_eq!(s.get(k(b"b")).await.expect("get"), Some(k(b"2")), "other key survives delete");
}

/// A second put replaces the value.
pub async fn overwrite<S: Storage>(s: &S) {
    put_all(s, &[(b"x", b"old value")]).await;
    put_all(s, &[(b"x", b"new")]).await;
    assert_eq!(s.get(k(b"x")).await.expect("get"), Some(k(b"new")), "overwrite must replace");
    assert_eq!(keys_of(s, Scan::range(vec![], vec![0xff])).await.len(), 1, "overwrite must not duplicate");
}

/// `get_many` returns one slot per key, in request order, with `None` for misses.
pub async fn get_many_with_misses<S: Storage>(s: &S) {
    put_all(s, &[(b"a", b"1"), (b"c", b"3")]).await;
    let got = s.get_many(&[k(b"c"), k(b"b"), k(b"a"), k(b"c")]).await.expect("get_many");
    assert_eq!(got, vec![Some(k(b"3")), None, Some(k(b"1")), Some(k(b"3"))], "get_many order and misses");
    assert!(s.get_many(&[]).await.expect("get_many of nothing").is_empty(), "get_many(&[]) is empty");
}

/// Scans return key order, reverse order and honour limits.
pub async fn scan_order_reverse_limit<S: Storage>(s: &S) {
    put_all(s, &[(b"d", b"4"), (b"a", b"1"), (b"c", b"3"), (b"b", b"2")]).await;
    let all = s.scan(Scan::range(k(b"a"), k(b"z"))).await.expect("scan");
    let expect: Vec<_> = [(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4")]
        .iter()
        .map(|(a, b)| (k(*a), k(*b)))
        .collect();
    assert_eq!(all, expect, "forward scan returns sorted entries with values");
    let mut rev = Scan::range(k(b"a"), k(b"z"));
    rev.reverse = true;
    assert_eq!(keys_of(s, rev.clone()).await, vec![k(b"d"), k(b"c"), k(b"b"), k(b"a")], "reverse scan");
    rev.limit = Some(2);
    assert_eq!(keys_of(s, rev).await, vec![k(b"d"), k(b"c")], "reverse scan with limit");
    let mut fwd = Scan::range(k(b"a"), k(b"z"));
    fwd.limit = Some(3);
    assert_eq!(keys_of(s, fwd.clone()).await, vec![k(b"a"), k(b"b"), k(b"c")], "forward limit");
    fwd.limit = Some(0);
    assert!(keys_of(s, fwd).await.is_empty(), "limit 0 returns nothing");
}

/// Included, excluded and unbounded ends, and empty or inverted ranges.
pub async fn scan_bounds<S: Storage>(s: &S) {
    put_all(s, &[(b"a", b""), (b"b", b""), (b"c", b""), (b"d", b"")]).await;
    let scan = |start, end| Scan { start, end, limit: None, reverse: false };
    let inc = |b: &[u8]| Bound::Included(k(b));
    let exc = |b: &[u8]| Bound::Excluded(k(b));
    assert_eq!(keys_of(s, scan(inc(b"b"), inc(b"c"))).await, vec![k(b"b"), k(b"c")], "[b, c]");
    assert_eq!(keys_of(s, scan(exc(b"b"), inc(b"d"))).await, vec![k(b"c"), k(b"d")], "(b, d]");
    assert_eq!(keys_of(s, scan(inc(b"b"), exc(b"d"))).await, vec![k(b"b"), k(b"c")], "[b, d)");
    assert_eq!(keys_of(s, scan(exc(b"a"), exc(b"d"))).await, vec![k(b"b"), k(b"c")], "(a, d)");
    assert_eq!(keys_of(s, scan(Bound::Unbounded, exc(b"c"))).await, vec![k(b"a"), k(b"b")], "(.., c)");
    assert_eq!(keys_of(s, scan(exc(b"b"), Bound::Unbounded)).await, vec![k(b"c"), k(b"d")], "(b, ..)");
    assert_eq!(keys_of(s, scan(Bound::Unbounded, Bound::Unbounded)).await.len(), 4, "unbounded");
    assert_eq!(keys_of(s, scan(inc(b"bb"), exc(b"cc"))).await, vec![k(b"c")], "bounds between keys");
    assert!(keys_of(s, scan(inc(b"c"), exc(b"c"))).await.is_empty(), "[c, c) is empty");
    assert!(keys_of(s, scan(exc(b"c"), inc(b"c"))).await.is_empty(), "(c, c] is empty");
    assert_eq!(keys_of(s, scan(inc(b"c"), inc(b"c"))).await, vec![k(b"c")], "[c, c]");
    assert!(keys_of(s, scan(inc(b"d"), inc(b"a"))).await.is_empty(), "inverted range is empty");
}

/// `Scan::floor` finds the greatest key ≤ the probe, within the lower bound.
pub async fn scan_floor<S: Storage>(s: &S) {
    put_all(s, &[(&[1, 0, 10], b"ten"), (&[1, 0, 20], b"twenty"), (&[2, 0, 0], b"other")]).await;
    let floor = |probe: &[u8]| s.scan(Scan::floor(vec![1], probe.to_vec()));
    assert_eq!(floor(&[1, 0, 15]).await.expect("floor"), vec![(vec![1, 0, 10], k(b"ten"))], "floor between");
    assert_eq!(floor(&[1, 0, 20]).await.expect("floor"), vec![(vec![1, 0, 20], k(b"twenty"))], "floor exact");
    assert_eq!(floor(&[1, 0, 255]).await.expect("floor").len(), 1, "floor above last");
    assert_eq!(floor(&[1, 0, 255]).await.expect("floor")[0].0, vec![1, 0, 20], "floor above last key");
    assert!(floor(&[1, 0, 9]).await.expect("floor").is_empty(), "floor below first is empty");
    assert!(floor(&[0, 255]).await.expect("floor").is_empty(), "floor below lower bound is empty");
    let above = s.scan(Scan::floor(vec![1], vec![1, 255])).await.expect("floor");
    assert_eq!(above[0].0, vec![1, 0, 20], "floor must not leave the lower bound or pass the probe");
}

/// `delete_range` removes `start..end` only.
pub async fn delete_range<S: Storage>(s: &S) {
    put_all(s, &[(b"a", b""), (b"b", b""), (b"ba", b""), (b"c", b""), (b"d", b"")]).await;
    let mut batch = WriteBatch::new();
    batch.delete_range(k(b"b"), k(b"c"));
    s.write(batch).await.expect("delete_range");
    assert_eq!(
        keys_of(s, Scan::range(vec![], vec![0xff])).await,
        vec![k(b"a"), k(b"c"), k(b"d")],
        "b..c gone"
    );
    let mut batch = WriteBatch::new();
    batch.delete_range(k(b"d"), k(b"a"));
    s.write(batch).await.expect("inverted delete_range is a no-op");
    assert_eq!(keys_of(s, Scan::range(vec![], vec![0xff])).await.len(), 3, "inverted delete_range no-op");
    let mut batch = WriteBatch::new();
    batch.delete_range(vec![], vec![0xff]);
    s.write(batch).await.expect("delete everything");
    assert!(keys_of(s, Scan::range(vec![], vec![0xff])).await.is_empty(), "everything deleted");
}

/// Operations inside one batch apply in order, and the whole batch becomes visible.
pub async fn batch_ordering<S: Storage>(s: &S) {
    put_all(s, &[(b"keep", b"1"), (b"r1", b"1"), (b"r2", b"1")]).await;
    let mut batch = WriteBatch::new();
    batch
        .put(k(b"a"), k(b"first"))
        .put(k(b"a"), k(b"second"))
        .put(k(b"b"), k(b"x"))
        .delete(k(b"b"))
        .delete(k(b"c"))
        .put(k(b"c"), k(b"after delete"))
        .delete_range(k(b"r"), k(b"s"))
        .put(k(b"r2"), k(b"after range"));
    s.write(batch).await.expect("batch");
    let got = s.get_many(&[k(b"a"), k(b"b"), k(b"c"), k(b"r1"), k(b"r2"), k(b"keep")]).await.expect("get");
    assert_eq!(
        got,
        vec![
            Some(k(b"second")),
            None,
            Some(k(b"after delete")),
            None,
            Some(k(b"after range")),
            Some(k(b"1"))
        ],
        "batch ops must apply in order"
    );
}

/// An empty batch is accepted and changes nothing.
pub async fn empty_batch<S: Storage>(s: &S) {
    put_all(s, &[(b"a", b"1")]).await;
    s.write(WriteBatch::new()).await.expect("empty batch");
    assert_eq!(s.get(k(b"a")).await.expect("get"), Some(k(b"1")), "empty batch changes nothing");
}

/// Values of 1 MiB and more round-trip intact.
pub async fn large_values<S: Storage>(s: &S) {
    let big: Vec<u8> = (0..(1usize << 20) + 7).map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8).collect();
    let bigger: Vec<u8> = big.iter().rev().chain(big.iter()).copied().collect();
    let mut batch = WriteBatch::new();
    batch.put(k(b"big"), big.clone()).put(k(b"bigger"), bigger.clone());
    s.write(batch).await.expect("large write");
    assert!(s.get(k(b"big")).await.expect("get") == Some(big), "1 MiB value must round-trip");
    let got = s.scan(Scan::range(k(b"bigger"), k(b"c"))).await.expect("scan");
    assert!(got.len() == 1 && got[0].1 == bigger, "2 MiB value must round-trip through scan");
}

/// Empty values are stored and are distinct from absent keys.
pub async fn empty_values<S: Storage>(s: &S) {
    put_all(s, &[(b"empty", b"")]).await;
    assert_eq!(s.get(k(b"empty")).await.expect("get"), Some(vec![]), "empty value is present");
    assert_eq!(s.scan(Scan::range(k(b"e"), k(b"f"))).await.expect("scan"), vec![(k(b"empty"), vec![])]);
}

/// Keys are compared bytewise, including 0x00 and 0xff bytes and prefixes.
pub async fn binary_keys<S: Storage>(s: &S) {
    let keys: [&[u8]; 8] = [
        &[0x00],
        &[0x00, 0x00],
        &[0x00, 0xff],
        &[0x01],
        &[0x7f, 0x80],
        &[0xff],
        &[0xff, 0x00],
        &[0xff, 0xff],
    ];
    let mut batch = WriteBatch::new();
    for (i, key) in keys.iter().enumerate().rev() {
        batch.put(key.to_vec(), vec![i as u8]);
    }
    s.write(batch).await.expect("write binary keys");
    let all =
        s.scan(Scan { start: Bound::Unbounded, end: Bound::Unbounded, limit: None, reverse: false }).await;
    let all = all.expect("scan");
    let expect: Vec<_> = keys.iter().enumerate().map(|(i, key)| (key.to_vec(), vec![i as u8])).collect();
    assert_eq!(all, expect, "binary keys must sort bytewise");
    let hi = s.scan(Scan::floor(vec![0xff], vec![0xff, 0xff, 0xff])).await.expect("floor");
    assert_eq!(hi, vec![(vec![0xff, 0xff], vec![7])], "floor over 0xff keys");
    let mut batch = WriteBatch::new();
    batch.delete_range(vec![0x00], vec![0x00, 0xff]);
    s.write(batch).await.expect("delete_range binary");
    let left = keys_of(s, Scan::range(vec![0x00], vec![0x01])).await;
    assert_eq!(left, vec![vec![0x00, 0xff]], "delete_range over 0x00 keys");
}
