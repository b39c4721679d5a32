//! Benchmark functions exported to JS, driven by `tests/bench/browser/run.mjs`.
//!
//! Each returns a one-line JSON string (`{"bench": …, "ops_per_sec": …}`) so the driver can
//! print it unchanged next to the other producers' lines.

use crate::idb::IdbStorage;
use hyperwasm::storage::{Storage, StorageError, WriteBatch};
use wasm_bindgen::prelude::*;

/// Size of one benchmark record.
const RECORD_BYTES: usize = 1024;

fn js_err(e: StorageError) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// `performance.now()` in the current global (window or worker), milliseconds.
fn now_ms() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))
        .ok()
        .and_then(|p| {
            let now = js_sys::Reflect::get(&p, &JsValue::from_str("now")).ok()?;
            let now: js_sys::Function = now.dyn_into().ok()?;
            now.call0(&p).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

/// Writes `n` records of 1 KiB of random (incompressible) bytes through [`IdbStorage`], in
/// write batches of `batch` records (one IndexedDB transaction each; 0 means 256), into a fresh
/// database, then deletes it. Resolves to one JSON line in the shape the other producers use:
/// `{"bench":"browser_idb_put_1k","value":…,"unit":"ops/s","n","seconds","batch",…,"impl"}`.
#[wasm_bindgen]
pub async fn bench_idb_put(n: u32, batch: u32) -> Result<String, JsValue> {
    let batch = if batch == 0 { 256 } else { batch };
    let name = "hyperwasm-bench-idb-put";
    IdbStorage::delete_database(name).await.map_err(js_err)?;
    let db = IdbStorage::open(name).await.map_err(js_err)?;

    // Random payloads generated up front so the timed loop measures storage only.
    let mut payload = vec![0u8; RECORD_BYTES * n as usize];
    for chunk in payload.chunks_mut(65536) {
        getrandom::getrandom(chunk).map_err(|e| JsValue::from_str(&e.to_string()))?;
    }

    let start = now_ms();
    let mut i = 0u32;
    while i < n {
        let end = n.min(i + batch);
        let mut wb = WriteBatch::new();
        for k in i..end {
            let off = k as usize * RECORD_BYTES;
            wb.put(k.to_be_bytes().to_vec(), payload[off..off + RECORD_BYTES].to_vec());
        }
        db.write(wb).await.map_err(js_err)?;
        i = end;
    }
    let ms = now_ms() - start;
    db.close();
    IdbStorage::delete_database(name).await.map_err(js_err)?;

    let secs = (ms / 1000.0).max(1e-9);
    Ok(format!(
        "{{\"bench\":\"browser_idb_put_1k\",\"value\":{:.2},\"unit\":\"ops/s\",\"n\":{n},\
         \"seconds\":{secs:.3},\"batch\":{batch},\"record_bytes\":{RECORD_BYTES},\"mb_per_sec\":{:.2},\
         \"impl\":\"hyperwasm-web@{}\"}}",
        f64::from(n) / secs,
        f64::from(n) * RECORD_BYTES as f64 / secs / 1e6,
        env!("CARGO_PKG_VERSION")
    ))
}
