//! `IdbStorage` in headless Chromium (`make test-browser`).
//!
//! Every test opens its own uniquely named database through [`fresh`] and deletes it at the
//! end, so tests are independent. The shared conformance suite
//! (`hyperwasm::storage::conformance`, feature `test-utils`) plugs in with one more test that
//! hands it [`fresh`] as its backend factory.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

use hyperwasm::storage::{Scan, Storage, StorageError, WriteBatch};
use hyperwasm_web::{Durability, IdbOptions, IdbStorage};
use std::cell::Cell;
use std::ops::Bound;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

thread_local! {
    static SEQ: Cell<u32> = const { Cell::new(0) };
}

/// A fresh, empty database with a unique name (a leftover from an aborted run is deleted first).
async fn fresh(tag: &str) -> IdbStorage {
    let n = SEQ.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    let name = format!("hyperwasm-test-{tag}-{n}-{}", js_sys::Math::random());
    IdbStorage::delete_database(&name).await.unwrap();
    IdbStorage::open(&name).await.unwrap()
}

async fn drop_db(db: IdbStorage) {
    let name = db.name().to_string();
    db.close();
    IdbStorage::delete_database(&name).await.unwrap();
}

fn kv(k: &[u8], v: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (k.to_vec(), v.to_vec())
}

async fn put_all(db: &IdbStorage, entries: &[(&[u8], &[u8])]) {
    let mut b = WriteBatch::new();
    for (k, v) in entries {
        b.put(k.to_vec(), v.to_vec());
    }
    db.write(b).await.unwrap();
}

#[wasm_bindgen_test]
async fn put_get_overwrite_delete() {
    let db = fresh("put").await;
    assert_eq!(db.get(b"a".to_vec()).await.unwrap(), None);
    put_all(&db, &[(b"a", b"1"), (b"b", b"")]).await;
    assert_eq!(db.get(b"a".to_vec()).await.unwrap(), Some(b"1".to_vec()));
    // An empty value is a value, not an absence.
    assert_eq!(db.get(b"b".to_vec()).await.unwrap(), Some(Vec::new()));
    put_all(&db, &[(b"a", b"2")]).await;
    assert_eq!(db.get(b"a".to_vec()).await.unwrap(), Some(b"2".to_vec()));

    let mut b = WriteBatch::new();
    b.delete(b"a".to_vec()).delete(b"missing".to_vec());
    db.write(b).await.unwrap();
    assert_eq!(db.get(b"a".to_vec()).await.unwrap(), None);
    drop_db(db).await;
}

#[wasm_bindgen_test]
async fn get_many_in_order_with_gaps() {
    let db = fresh("getmany").await;
    put_all(&db, &[(b"k1", b"v1"), (b"k3", b"v3")]).await;
    let keys = vec![b"k3".to_vec(), b"k2".to_vec(), b"k1".to_vec(), b"k3".to_vec()];
    let got = db.get_many(&keys).await.unwrap();
    assert_eq!(got, vec![Some(b"v3".to_vec()), None, Some(b"v1".to_vec()), Some(b"v3".to_vec())]);
    assert_eq!(db.get_many(&[]).await.unwrap(), Vec::<Option<Vec<u8>>>::new());
    drop_db(db).await;
}

#[wasm_bindgen_test]
async fn binary_keys_sort_bytewise() {
    let db = fresh("order").await;
    // Unsigned bytewise order: "" < 00 < 00 00 < 01 < 7f < 80 < ff < ff 00.
    let keys: Vec<&[u8]> =
        vec![&[0xff, 0x00], &[0x80], &[], &[0x00, 0x00], &[0x7f], &[0x01], &[0x00], &[0xff]];
    let mut b = WriteBatch::new();
    for (i, k) in keys.iter().enumerate() {
        b.put(k.to_vec(), vec![i as u8]);
    }
    db.write(b).await.unwrap();
    let all = db.scan(Scan { start: Bound::Unbounded, end: Bound::Unbounded, limit: None, reverse: false });
    let got: Vec<Vec<u8>> = all.await.unwrap().into_iter().map(|(k, _)| k).collect();
    let mut want: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    want.sort();
    assert_eq!(got, want);
    drop_db(db).await;
}

#[wasm_bindgen_test]
async fn scan_bounds_limits_and_reverse() {
    let db = fresh("scan").await;
    put_all(&db, &[(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4"), (b"e", b"5")]).await;

    let s = db.scan(Scan::range(b"b".to_vec(), b"d".to_vec())).await.unwrap();
    assert_eq!(s, vec![kv(b"b", b"2"), kv(b"c", b"3")]);

    let s = Scan {
        start: Bound::Excluded(b"a".to_vec()),
        end: Bound::Included(b"d".to_vec()),
        limit: Some(2),
        reverse: false,
    };
    assert_eq!(db.scan(s).await.unwrap(), vec![kv(b"b", b"2"), kv(b"c", b"3")]);

    // Reverse with a limit (cursor `prev`) and without (getAll, reversed).
    let s =
        Scan { start: Bound::Unbounded, end: Bound::Excluded(b"e".to_vec()), limit: Some(2), reverse: true };
    assert_eq!(db.scan(s).await.unwrap(), vec![kv(b"d", b"4"), kv(b"c", b"3")]);
    let s = Scan { start: Bound::Included(b"c".to_vec()), end: Bound::Unbounded, limit: None, reverse: true };
    assert_eq!(db.scan(s).await.unwrap(), vec![kv(b"e", b"5"), kv(b"d", b"4"), kv(b"c", b"3")]);

    // Floor look-ups: exact hit, in-between key, below everything.
    assert_eq!(db.scan(Scan::floor(b"".to_vec(), b"c".to_vec())).await.unwrap(), vec![kv(b"c", b"3")]);
    assert_eq!(db.scan(Scan::floor(b"".to_vec(), b"cc".to_vec())).await.unwrap(), vec![kv(b"c", b"3")]);
    assert_eq!(db.scan(Scan::floor(b"".to_vec(), b"0".to_vec())).await.unwrap(), vec![]);

    // Empty and inverted ranges are empty, not errors; limit 0 returns nothing.
    assert_eq!(db.scan(Scan::range(b"c".to_vec(), b"c".to_vec())).await.unwrap(), vec![]);
    assert_eq!(db.scan(Scan::range(b"d".to_vec(), b"b".to_vec())).await.unwrap(), vec![]);
    let s = Scan { start: Bound::Unbounded, end: Bound::Unbounded, limit: Some(0), reverse: false };
    assert_eq!(db.scan(s).await.unwrap(), vec![]);
    let s = Scan { start: Bound::Unbounded, end: Bound::Unbounded, limit: Some(0), reverse: true };
    assert_eq!(db.scan(s).await.unwrap(), vec![]);
    drop_db(db).await;
}

#[wasm_bindgen_test]
async fn delete_range_is_half_open() {
    let db = fresh("delrange").await;
    put_all(&db, &[(b"a", b"1"), (b"b", b"2"), (b"ba", b"x"), (b"c", b"3"), (b"d", b"4")]).await;
    let mut b = WriteBatch::new();
    b.delete_range(b"b".to_vec(), b"c".to_vec());
    // Empty and inverted ranges delete nothing.
    b.delete_range(b"d".to_vec(), b"d".to_vec()).delete_range(b"z".to_vec(), b"a".to_vec());
    db.write(b).await.unwrap();
    let all = Scan { start: Bound::Unbounded, end: Bound::Unbounded, limit: None, reverse: false };
    assert_eq!(db.scan(all).await.unwrap(), vec![kv(b"a", b"1"), kv(b"c", b"3"), kv(b"d", b"4")]);
    drop_db(db).await;
}

#[wasm_bindgen_test]
async fn batch_applies_in_order() {
    let db = fresh("batch").await;
    put_all(&db, &[(b"x1", b"old"), (b"x2", b"old")]).await;
    let mut b = WriteBatch::new();
    b.put(b"x3".to_vec(), b"new".to_vec())
        .delete_range(b"x".to_vec(), b"y".to_vec()) // removes x1, x2 and the x3 just put
        .put(b"x2".to_vec(), b"again".to_vec()) // later ops see earlier ones
        .put(b"y".to_vec(), b"1".to_vec())
        .delete(b"y".to_vec())
        .put(b"y".to_vec(), b"2".to_vec());
    db.write(b).await.unwrap();
    let all = Scan { start: Bound::Unbounded, end: Bound::Unbounded, limit: None, reverse: false };
    assert_eq!(db.scan(all).await.unwrap(), vec![kv(b"x2", b"again"), kv(b"y", b"2")]);
    // An empty batch is a no-op.
    db.write(WriteBatch::new()).await.unwrap();
    drop_db(db).await;
}

#[wasm_bindgen_test]
async fn large_batch_and_values() {
    let db = fresh("large").await;
    let mut b = WriteBatch::new();
    for i in 0u32..1000 {
        b.put(i.to_be_bytes().to_vec(), vec![(i % 251) as u8; 1024]);
    }
    // One value just under Chromium's 64 KiB blob-file threshold.
    b.put(b"big".to_vec(), (0..60 * 1024).map(|i| (i * 7 % 256) as u8).collect());
    db.write(b).await.unwrap();
    let s = Scan::range(0u32.to_be_bytes().to_vec(), 1000u32.to_be_bytes().to_vec());
    let got = db.scan(s).await.unwrap();
    assert_eq!(got.len(), 1000);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, (k, v))| k == &(i as u32).to_be_bytes() && v[0] == (i % 251) as u8));
    let big = db.get(b"big".to_vec()).await.unwrap().unwrap();
    assert_eq!(big.len(), 60 * 1024);
    assert_eq!(big[12345], (12345 * 7 % 256) as u8);
    drop_db(db).await;
}

#[wasm_bindgen_test]
async fn survives_reopen() {
    let name = format!("hyperwasm-test-reopen-{}", js_sys::Math::random());
    IdbStorage::delete_database(&name).await.unwrap();
    let db = IdbStorage::open(&name).await.unwrap();
    put_all(&db, &[(b"persist", b"me"), (b"and", b"me too")]).await;
    db.close();
    assert!(db.is_closed());
    assert_eq!(db.get(b"persist".to_vec()).await, Err(StorageError::Closed));
    assert_eq!(db.write(WriteBatch::new()).await, Err(StorageError::Closed));

    let db = IdbStorage::open_with(&name, IdbOptions { durability: Durability::Strict }).await.unwrap();
    assert_eq!(db.get(b"persist".to_vec()).await.unwrap(), Some(b"me".to_vec()));
    assert_eq!(db.get(b"and".to_vec()).await.unwrap(), Some(b"me too".to_vec()));
    // Strict durability writes work too.
    put_all(&db, &[(b"strict", b"yes")]).await;
    assert_eq!(db.get(b"strict".to_vec()).await.unwrap(), Some(b"yes".to_vec()));
    drop_db(db).await;

    // After deletion the database comes back empty.
    let db = IdbStorage::open(&name).await.unwrap();
    assert_eq!(db.get(b"persist".to_vec()).await.unwrap(), None);
    drop_db(db).await;
}

#[wasm_bindgen_test]
async fn delete_database_closes_open_connection() {
    let db = fresh("vchange").await;
    put_all(&db, &[(b"k", b"v")]).await;
    // Deleting while `db` is still open must not hang: the connection steps aside.
    IdbStorage::delete_database(db.name()).await.unwrap();
    assert!(db.is_closed());
    assert_eq!(db.get(b"k".to_vec()).await, Err(StorageError::Closed));
}

#[wasm_bindgen_test]
async fn browser_default_durability_writes() {
    let name = format!("hyperwasm-test-default-{}", js_sys::Math::random());
    let db =
        IdbStorage::open_with(&name, IdbOptions { durability: Durability::BrowserDefault }).await.unwrap();
    put_all(&db, &[(b"k", b"v")]).await;
    assert_eq!(db.get(b"k".to_vec()).await.unwrap(), Some(b"v".to_vec()));
    drop_db(db).await;
}

/// The shared conformance suite (`hyperwasm::storage::conformance`, feature `test-utils`, enabled
/// in [dev-dependencies]), each check on a fresh database.
#[wasm_bindgen_test]
async fn conformance() {
    hyperwasm::storage::conformance::run_all(|| fresh("conformance")).await;
}

#[wasm_bindgen_test]
async fn exported_selftest_passes() {
    assert!(hyperwasm_web::selftest().await.unwrap());
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8).collect()
}

fn all() -> Scan {
    Scan { start: Bound::Unbounded, end: Bound::Unbounded, limit: None, reverse: false }
}

#[wasm_bindgen_test]
async fn large_values_are_chunked_and_round_trip() {
    let db = fresh("chunks").await;
    let mib = pattern(1024 * 1024, 1);
    let k200 = pattern(200 * 1024, 2);
    // Exactly at the threshold stays one record; one byte more is chunked.
    let edge = pattern(hyperwasm_web::idb::CHUNK_SIZE, 3);
    let edge1 = pattern(hyperwasm_web::idb::CHUNK_SIZE + 1, 4);
    put_all(&db, &[(b"a", b"small"), (b"b", &mib), (b"c", &k200), (b"d", &edge), (b"e", &edge1)]).await;
    // 1 MiB = 18 chunks of 60 KiB, 200 KiB = 4, CHUNK_SIZE + 1 = 2.
    assert_eq!(db.chunk_record_count().await.unwrap(), 18 + 4 + 2);

    let got = db.get_many(&[b"c".to_vec(), b"b".to_vec(), b"x".to_vec(), b"a".to_vec()]).await.unwrap();
    assert_eq!(got, vec![Some(k200.clone()), Some(mib.clone()), None, Some(b"small".to_vec())]);
    assert_eq!(db.get(b"e".to_vec()).await.unwrap(), Some(edge1.clone()));
    let want = vec![kv(b"a", b"small"), kv(b"b", &mib), kv(b"c", &k200), kv(b"d", &edge), kv(b"e", &edge1)];
    assert_eq!(db.scan(all()).await.unwrap(), want);
    // Reverse without a limit (getAll) and with one (cursor).
    let rev = Scan { reverse: true, ..all() };
    assert_eq!(db.scan(rev).await.unwrap(), want.iter().rev().cloned().collect::<Vec<_>>());
    let floor = db.scan(Scan::floor(b"".to_vec(), b"bz".to_vec())).await.unwrap();
    assert_eq!(floor, vec![kv(b"b", &mib)]);
    let limited = Scan { start: Bound::Included(b"b".to_vec()), limit: Some(2), ..all() };
    assert_eq!(db.scan(limited).await.unwrap(), vec![kv(b"b", &mib), kv(b"c", &k200)]);
    // Key listings show main-store keys only.
    let keys: Vec<Vec<u8>> = [b"a", b"b", b"c", b"d", b"e"].iter().map(|k| k.to_vec()).collect();
    assert_eq!(db.scan_keys(all()).await.unwrap(), keys);
    let rev_keys = db.scan_keys(Scan { reverse: true, limit: Some(2), ..all() }).await.unwrap();
    assert_eq!(rev_keys, vec![b"e".to_vec(), b"d".to_vec()]);
    drop_db(db).await;
}

#[wasm_bindgen_test]
async fn chunked_overwrite_delete_and_delete_range() {
    let db = fresh("chunkw").await;
    let mib = pattern(1024 * 1024, 5);
    let k200 = pattern(200 * 1024, 6);
    put_all(&db, &[(b"k", &mib)]).await;
    assert_eq!(db.chunk_record_count().await.unwrap(), 18);
    // Chunked → smaller chunked: the surplus chunks go.
    put_all(&db, &[(b"k", &k200)]).await;
    assert_eq!(db.chunk_record_count().await.unwrap(), 4);
    assert_eq!(db.get(b"k".to_vec()).await.unwrap(), Some(k200.clone()));
    // Chunked → small.
    put_all(&db, &[(b"k", b"tiny")]).await;
    assert_eq!(db.chunk_record_count().await.unwrap(), 0);
    assert_eq!(db.get(b"k".to_vec()).await.unwrap(), Some(b"tiny".to_vec()));
    // Small → chunked.
    put_all(&db, &[(b"k", &mib)]).await;
    assert_eq!(db.get(b"k".to_vec()).await.unwrap(), Some(mib.clone()));
    assert_eq!(db.chunk_record_count().await.unwrap(), 18);
    // Delete.
    let mut b = WriteBatch::new();
    b.delete(b"k".to_vec());
    db.write(b).await.unwrap();
    assert_eq!(db.get(b"k".to_vec()).await.unwrap(), None);
    assert_eq!(db.chunk_record_count().await.unwrap(), 0);

    // Delete range: removes the chunks of keys inside [b, c) only ("b" and the prefix-extended
    // "ba"), not those of "a", "c" or "c\0".
    put_all(&db, &[(b"a", &k200), (b"b", &k200), (b"ba", &k200), (b"c", &k200), (b"c\0", &k200)]).await;
    assert_eq!(db.chunk_record_count().await.unwrap(), 20);
    let mut b = WriteBatch::new();
    b.delete_range(b"b".to_vec(), b"c".to_vec());
    db.write(b).await.unwrap();
    assert_eq!(db.chunk_record_count().await.unwrap(), 12);
    assert_eq!(db.scan_keys(all()).await.unwrap(), vec![b"a".to_vec(), b"c".to_vec(), b"c\0".to_vec()]);
    assert_eq!(db.get(b"c\0".to_vec()).await.unwrap(), Some(k200.clone()));
    // In one batch: a put then a range delete covering it, then a re-put; all in order.
    let mut b = WriteBatch::new();
    b.put(b"x".to_vec(), mib.clone())
        .delete_range(b"".to_vec(), b"z".to_vec())
        .put(b"y".to_vec(), k200.clone());
    db.write(b).await.unwrap();
    assert_eq!(db.scan(all()).await.unwrap(), vec![kv(b"y", &k200)]);
    assert_eq!(db.chunk_record_count().await.unwrap(), 4);
    drop_db(db).await;
}

#[wasm_bindgen_test]
async fn chunked_values_survive_reopen() {
    let name = format!("hyperwasm-test-chunkreopen-{}", js_sys::Math::random());
    let mib = pattern(1024 * 1024, 7);
    let db = IdbStorage::open(&name).await.unwrap();
    put_all(&db, &[(b"big", &mib), (b"small", b"s")]).await;
    db.close();
    let db = IdbStorage::open(&name).await.unwrap();
    assert_eq!(db.get(b"big".to_vec()).await.unwrap(), Some(mib));
    assert_eq!(db.chunk_record_count().await.unwrap(), 18);
    drop_db(db).await;
}

/// A schema-1 database (one store, large values stored whole) opens, upgrades and stays readable.
#[wasm_bindgen_test]
async fn upgrades_version_1_database() {
    let name = format!("hyperwasm-test-v1-{}", js_sys::Math::random());
    let old = pattern(100 * 1024, 8);
    {
        let factory = idb::Factory::new().unwrap();
        let mut request = factory.open(&name, Some(1)).unwrap();
        request.on_upgrade_needed(|event| {
            use idb::event::DatabaseEvent;
            let db = event.database().unwrap();
            db.create_object_store(hyperwasm_web::idb::STORE, idb::ObjectStoreParams::new()).unwrap();
        });
        let db = request.await.unwrap();
        let tx = db.transaction(&[hyperwasm_web::idb::STORE], idb::TransactionMode::ReadWrite).unwrap();
        let store = tx.object_store(hyperwasm_web::idb::STORE).unwrap();
        let key: wasm_bindgen::JsValue = js_sys::Uint8Array::from(&b"old"[..]).into();
        store.put(&js_sys::Uint8Array::from(old.as_slice()).into(), Some(&key)).unwrap();
        tx.await.unwrap();
        db.close();
    }
    let db = IdbStorage::open(&name).await.unwrap();
    assert_eq!(db.get(b"old".to_vec()).await.unwrap(), Some(old.clone()));
    assert_eq!(db.chunk_record_count().await.unwrap(), 0);
    // Overwriting it with a large value chunks it from now on.
    let new = pattern(100 * 1024, 9);
    put_all(&db, &[(b"old", &new)]).await;
    assert_eq!(db.scan(all()).await.unwrap(), vec![kv(b"old", &new)]);
    assert_eq!(db.chunk_record_count().await.unwrap(), 2);
    drop_db(db).await;
}
