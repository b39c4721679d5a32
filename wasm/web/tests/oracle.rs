//! The storage-generic JS oracle suite (`hyperwasm::testing::oracle`) on `IdbStorage` in
//! headless Chromium: `Hypercore` over IndexedDB must reproduce JS hypercore 11.39.5's cores
//! (exact signatures, reopen by database name) and proofs byte for byte.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

use hyperwasm::testing::oracle;
use hyperwasm_web::IdbStorage;
use std::cell::Cell;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CORES: &str = include_str!("../../../tests/fixtures/hypercore/cores.json");
const PROOFS: &str = include_str!("../../../tests/fixtures/hypercore/proofs.json");

thread_local! {
    static SEQ: Cell<u32> = const { Cell::new(0) };
}

/// A fresh, empty database with a unique name.
async fn fresh(tag: &'static str) -> IdbStorage {
    let n = SEQ.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    let name = format!("hyperwasm-oracle-{tag}-{n}-{}", js_sys::Math::random());
    IdbStorage::delete_database(&name).await.unwrap();
    IdbStorage::open(&name).await.unwrap()
}

#[wasm_bindgen_test]
async fn oracle_cores_on_idb() {
    // Reopen = close this connection and open the same database by name.
    let reopen = |s: &IdbStorage| {
        let name = s.name().to_string();
        s.close();
        async move { IdbStorage::open(&name).await.unwrap() }
    };
    oracle::cores(|| fresh("cores"), reopen, CORES).await;
}

#[wasm_bindgen_test]
async fn oracle_proofs_on_idb() {
    oracle::proofs(|| fresh("proofs"), PROOFS).await;
}
