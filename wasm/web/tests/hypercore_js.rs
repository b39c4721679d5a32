//! The JS-facing `Hypercore` class (`hyperwasm_web::JsHypercore`) in headless Chromium:
//! group commit, reads, truncate/clear ordering, reopen by name, error objects with `.code`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

use hyperwasm_web::JsHypercore;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn name(tag: &str) -> String {
    format!("hyperwasm-jscore-{tag}-{}", js_sys::Math::random())
}

fn opts(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

async fn ok(p: Promise) -> JsValue {
    JsFuture::from(p).await.unwrap()
}

async fn code_of(p: Promise) -> String {
    let err = JsFuture::from(p).await.expect_err("expected a rejection");
    assert!(err.is_instance_of::<js_sys::Error>(), "rejections are Error objects: {err:?}");
    Reflect::get(&err, &JsValue::from_str("code")).unwrap().as_string().unwrap()
}

fn block(i: u32) -> JsValue {
    Uint8Array::from(format!("block-{i}").as_bytes()).into()
}

#[wasm_bindgen_test]
async fn group_commit_resolves_each_append_with_its_own_length() {
    let n = name("group");
    let seed: JsValue = Uint8Array::from(&[7u8; 32][..]).into();
    let core = JsHypercore::create(n.clone(), opts(&[("seed", seed)])).await.unwrap();
    assert!(core.writable());
    assert_eq!(core.key().length(), 32);

    // 200 single appends and one 3-block append issued without awaiting: a few batches.
    let mut promises: Vec<Promise> = (0..100).map(|i| core.append(block(i))).collect();
    let three: JsValue = Array::of3(&block(1000), &block(1001), &block(1002)).into();
    promises.push(core.append(three));
    promises.extend((100..200).map(|i| core.append(block(i))));
    let all = ok(Promise::all(&promises.iter().cloned().collect::<Array>())).await;
    let lengths: Vec<f64> = Array::from(&all).iter().map(|v| v.as_f64().unwrap()).collect();
    let mut want: Vec<f64> = (1..=100).map(f64::from).collect();
    want.push(103.0);
    want.extend((104..=203).map(f64::from));
    assert_eq!(lengths, want);
    assert_eq!(core.length(), 203.0);
    assert!(core.append_batches() <= 3.0, "203 blocks took {} batches", core.append_batches());

    // Reads see every block in order.
    let b = ok(core.get(0.0)).await.dyn_into::<Uint8Array>().unwrap().to_vec();
    assert_eq!(b, b"block-0");
    let b = ok(core.get(101.0)).await.dyn_into::<Uint8Array>().unwrap().to_vec();
    assert_eq!(b, b"block-1001");
    assert!(ok(core.get(203.0)).await.is_null());
    assert_eq!(ok(core.has(5.0)).await.as_bool(), Some(true));

    // Sequential awaits: one batch each.
    let before = core.append_batches();
    for i in 0..3 {
        ok(core.append(block(i))).await;
    }
    assert_eq!(core.append_batches(), before + 3.0);
    ok(core.close()).await;
    assert_eq!(code_of(core.append(block(0))).await, "SESSION_CLOSED");

    // Reopen by name: same key and head, still writable.
    let again = JsHypercore::open(n.clone(), JsValue::UNDEFINED).await.unwrap();
    assert_eq!(again.length(), 206.0);
    assert_eq!(again.key().to_vec(), core.key().to_vec());
    assert!(again.writable());
    ok(again.close()).await;
    JsHypercore::delete_storage(n).await.unwrap();
}

#[wasm_bindgen_test]
async fn truncate_and_clear_are_ordered_with_appends() {
    let n = name("order");
    let core = JsHypercore::create(n.clone(), opts(&[("compat", JsValue::TRUE), ("strict", JsValue::TRUE)]))
        .await
        .unwrap();
    let a = core.append(Array::of3(&block(0), &block(1), &block(2)).into());
    let t = core.truncate(1.0, None);
    let b = core.append(block(9));
    assert_eq!(ok(a).await.as_f64(), Some(3.0));
    ok(t).await;
    assert_eq!(ok(b).await.as_f64(), Some(2.0));
    assert_eq!(core.fork(), 1.0);
    let b1 = ok(core.get(1.0)).await.dyn_into::<Uint8Array>().unwrap().to_vec();
    assert_eq!(b1, b"block-9");

    ok(core.clear(0.0, None)).await;
    assert!(ok(core.get(0.0)).await.is_null());
    assert_eq!(ok(core.has(0.0)).await.as_bool(), Some(false));
    let info = ok(core.info()).await;
    assert_eq!(Reflect::get(&info, &"length".into()).unwrap().as_f64(), Some(2.0));
    assert_eq!(Reflect::get(&info, &"blocksStored".into()).unwrap().as_f64(), Some(1.0));

    assert_eq!(code_of(core.truncate(10.0, None)).await, "BAD_ARGUMENT");
    assert_eq!(code_of(core.get(-1.0)).await, "BAD_ARGUMENT");
    assert_eq!(code_of(core.append(JsValue::from_f64(3.0))).await, "BAD_ARGUMENT");
    ok(core.close()).await;

    let err = match JsHypercore::create(n.clone(), JsValue::UNDEFINED).await {
        Ok(_) => panic!("create over an existing core must fail"),
        Err(e) => e,
    };
    assert_eq!(Reflect::get(&err, &"code".into()).unwrap().as_string().as_deref(), Some("STORAGE_CONFLICT"));
    JsHypercore::delete_storage(n).await.unwrap();

    let err = match JsHypercore::open(name("missing"), JsValue::UNDEFINED).await {
        Ok(_) => panic!("open of an empty database must fail"),
        Err(e) => e,
    };
    assert_eq!(Reflect::get(&err, &"code".into()).unwrap().as_string().as_deref(), Some("STORAGE_EMPTY"));
}

#[wasm_bindgen_test]
async fn concurrent_gets_are_coalesced_and_each_gets_its_own_block() {
    let n = name("coalesce");
    let core = JsHypercore::create(n.clone(), JsValue::UNDEFINED).await.unwrap();
    let blocks: Array = (0..300).map(block).collect();
    ok(core.append(blocks.into())).await;
    ok(core.clear(10.0, Some(20.0))).await;
    ok(core.close()).await;

    // No caches: every get goes to IndexedDB, together.
    let zero = JsValue::from_f64(0.0);
    let cold =
        JsHypercore::open(n.clone(), opts(&[("packCacheBytes", zero.clone()), ("treeCachePages", zero)]))
            .await
            .unwrap();
    let limits = ok(cold.cache_limits()).await;
    assert_eq!(js_sys::Reflect::get(&limits, &"packCacheBytes".into()).unwrap().as_f64(), Some(0.0));
    let order: Vec<u32> = (0..300).rev().chain([5, 299, 300, 100_000]).collect();
    let promises: Array = order.iter().map(|&i| JsValue::from(cold.get(f64::from(i)))).collect();
    let all = ok(Promise::all(&promises)).await;
    for (i, v) in order.iter().zip(Array::from(&all).iter()) {
        if *i >= 300 || (10..20).contains(i) {
            assert!(v.is_null(), "block {i} should be absent");
        } else {
            assert_eq!(v.dyn_into::<Uint8Array>().unwrap().to_vec(), format!("block-{i}").into_bytes());
        }
    }
    assert!(cold.read_batches() <= 2.0, "{} gets took {} reads", order.len(), cold.read_batches());
    assert_eq!(code_of(cold.get(-1.0)).await, "BAD_ARGUMENT");

    // Sequential gets: one read each.
    let before = cold.read_batches();
    for i in 0..3 {
        ok(cold.get(f64::from(i))).await;
    }
    assert_eq!(cold.read_batches(), before + 3.0);
    ok(cold.close()).await;
    assert_eq!(code_of(cold.get(0.0)).await, "SESSION_CLOSED");
    JsHypercore::delete_storage(n).await.unwrap();
}

/// Liveness: a page that keeps reads in flight all the time (a prefetcher) must not starve
/// writes — an append issued in the middle completes while the reads keep coming. (This load
/// did not starve writes here even before the loops yielded; it guards the property.)
#[wasm_bindgen_test]
async fn steady_reads_do_not_starve_an_append() {
    use std::cell::Cell;
    use std::rc::Rc;
    let n = name("starve");
    let core = Rc::new(JsHypercore::create(n.clone(), JsValue::UNDEFINED).await.unwrap());
    let blocks: Array = (0..64).map(block).collect();
    ok(core.append(blocks.into())).await;

    const READS: u32 = 3000;
    let done_reads = Rc::new(Cell::new(0u32));
    // 32 reader "threads", each re-issuing a get as soon as its previous one resolves.
    let mut readers = Vec::new();
    for r in 0..32u32 {
        let (core, done_reads) = (core.clone(), done_reads.clone());
        readers.push(wasm_bindgen_futures::future_to_promise(async move {
            let mut i = r;
            while done_reads.get() < READS {
                JsFuture::from(core.get(f64::from(i % 64))).await?;
                done_reads.set(done_reads.get() + 1);
                i += 32;
            }
            Ok(JsValue::UNDEFINED)
        }));
    }
    // Let the readers get going, then append in the middle of the stream.
    JsFuture::from(core.get(0.0)).await.unwrap();
    let length = ok(core.append(block(64))).await;
    let reads_when_appended = done_reads.get();
    ok(Promise::all(&readers.into_iter().collect::<Array>())).await;
    assert_eq!(length.as_f64(), Some(65.0));
    assert!(
        reads_when_appended < READS,
        "the append only completed after all {READS} reads ({reads_when_appended})"
    );
    ok(core.close()).await;
    JsHypercore::delete_storage(n).await.unwrap();
}
