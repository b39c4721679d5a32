//! The browser pieces of replication that need no peer, in headless Chromium: the clock,
//! `whenLength`, and the `Replication` error paths (a peer is needed for the rest: see
//! `tests/browser/replicate.test.mjs`).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

use hyperwasm::replicator::Clock;
use hyperwasm_web::clock::{sleep, BrowserClock};
use hyperwasm_web::JsHypercore;
use js_sys::{Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn name(tag: &str) -> String {
    format!("hyperwasm-repl-{tag}-{}", js_sys::Math::random())
}

fn opts(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

async fn code_of(p: Promise) -> String {
    let err = JsFuture::from(p).await.expect_err("expected a rejection");
    assert!(err.is_instance_of::<js_sys::Error>(), "rejections are Error objects: {err:?}");
    Reflect::get(&err, &JsValue::from_str("code")).unwrap().as_string().unwrap()
}

fn code_of_thrown(err: JsValue) -> String {
    Reflect::get(&err, &JsValue::from_str("code")).unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
async fn clock_sleeps_and_a_dropped_sleep_never_fires() {
    let clock = BrowserClock;
    let t0 = clock.now_ms();
    clock.sleep(30).await;
    let elapsed = clock.now_ms() - t0;
    assert!(elapsed >= 29, "slept {elapsed} ms");
    // Dropping a pending timer clears it (no callback into a freed closure).
    drop(sleep(5));
    sleep(20).await;
    // A zero-length sleep resolves on the next timer turn.
    sleep(0).await;
}

#[wasm_bindgen_test]
async fn when_length_follows_appends_and_rejects_on_close() {
    let core = JsHypercore::create(name("when"), JsValue::UNDEFINED).await.unwrap();
    let now = JsFuture::from(core.when_length(0.0)).await.unwrap();
    assert_eq!(now.as_f64(), Some(0.0));
    let later = core.when_length(3.0);
    let never = core.when_length(100.0);
    JsFuture::from(core.append(Uint8Array::from(&b"a"[..]).into())).await.unwrap();
    JsFuture::from(core.append(Uint8Array::from(&b"b"[..]).into())).await.unwrap();
    JsFuture::from(core.append(Uint8Array::from(&b"c"[..]).into())).await.unwrap();
    assert_eq!(JsFuture::from(later).await.unwrap().as_f64(), Some(3.0));
    assert_eq!(code_of(core.when_length(-1.0)).await, "BAD_ARGUMENT");
    JsFuture::from(core.close()).await.unwrap();
    assert_eq!(code_of(never).await, "SESSION_CLOSED");
    assert_eq!(code_of(core.when_length(1.0)).await, "SESSION_CLOSED");
}

#[wasm_bindgen_test]
async fn replication_errors_reach_closed_and_downloaded() {
    let key = "11".repeat(32);
    let core =
        JsHypercore::open_remote(name("errs"), JsValue::from_str(&key), JsValue::UNDEFINED).await.unwrap();
    assert!(!core.writable());
    assert_eq!(core.length(), 0.0);

    // Not a WebSocket URL: the connection fails with BAD_ARGUMENT.
    let r = core.replicate("ftp://127.0.0.1/".into(), JsValue::UNDEFINED).unwrap();
    assert_eq!(code_of(r.closed()).await, "BAD_ARGUMENT");
    assert_eq!(code_of(r.downloaded()).await, "BAD_ARGUMENT");

    // Nothing listens on port 9 (discard) here: WEBSOCKET_FAILED.
    let r = core.replicate("ws://127.0.0.1:9".into(), opts(&[("openTimeout", 5000.into())])).unwrap();
    assert_eq!(code_of(r.closed()).await, "WEBSOCKET_FAILED");
    let stats = r.stats();
    assert_eq!(Reflect::get(&stats, &"open".into()).unwrap().as_bool(), Some(false));
    assert_eq!(Reflect::get(&stats, &"bytesIn".into()).unwrap().as_f64(), Some(0.0));

    // close() while opening ends it quietly; closing twice is fine.
    let r = core.replicate("ws://127.0.0.1:9".into(), JsValue::UNDEFINED).unwrap();
    JsFuture::from(r.close()).await.unwrap();
    JsFuture::from(r.close()).await.unwrap();
    let closed = JsFuture::from(r.closed()).await;
    assert!(closed.is_ok() || code_of_thrown(closed.unwrap_err()) == "WEBSOCKET_FAILED");

    // Bad options throw synchronously.
    let bad = |pairs: &[(&str, JsValue)]| {
        code_of_thrown(core.replicate("ws://127.0.0.1:9".into(), opts(pairs)).err().unwrap())
    };
    assert_eq!(bad(&[("start", 5.into()), ("end", 2.into())]), "BAD_ARGUMENT");
    assert_eq!(bad(&[("live", "yes".into())]), "BAD_ARGUMENT");
    assert_eq!(bad(&[("start", (-1).into())]), "BAD_ARGUMENT");

    // Keys: 64 hex characters or 32 bytes.
    let bad_key = JsHypercore::open_remote(name("k"), JsValue::from_str("abc"), JsValue::UNDEFINED).await;
    assert_eq!(code_of_thrown(bad_key.err().unwrap()), "BAD_ARGUMENT");
    let short =
        JsHypercore::open_remote(name("k"), Uint8Array::new_with_length(31).into(), JsValue::UNDEFINED).await;
    assert_eq!(code_of_thrown(short.err().unwrap()), "BAD_ARGUMENT");

    JsFuture::from(core.close()).await.unwrap();
    let after = core.replicate("ws://127.0.0.1:9".into(), JsValue::UNDEFINED).err().unwrap();
    assert_eq!(code_of_thrown(after), "SESSION_CLOSED");
}

#[wasm_bindgen_test]
async fn open_remote_reopens_the_same_replica() {
    let n = name("reopen");
    let key = [7u8; 32];
    let core = JsHypercore::open_remote(n.clone(), Uint8Array::from(&key[..]).into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(core.key().to_vec(), key.to_vec());
    JsFuture::from(core.close()).await.unwrap();
    let again = JsHypercore::open_remote(n.clone(), JsValue::from_str(&"07".repeat(32)), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(again.key().to_vec(), key.to_vec());
    JsFuture::from(again.close()).await.unwrap();
    // Also through plain `open`.
    let plain = JsHypercore::open(n.clone(), JsValue::UNDEFINED).await.unwrap();
    assert!(!plain.writable());
    JsFuture::from(plain.close()).await.unwrap();
    // A different key: STORAGE_CONFLICT.
    let other = JsHypercore::open_remote(n, JsValue::from_str(&"08".repeat(32)), JsValue::UNDEFINED).await;
    assert_eq!(code_of_thrown(other.err().unwrap()), "STORAGE_CONFLICT");
}
