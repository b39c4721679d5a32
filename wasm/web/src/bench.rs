//! Benchmark functions exported to JS, driven by `tests/bench/browser/run.mjs` (and
//! `tests/browser/replicate.test.mjs` for the WebSocket transport).
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

/// Byte `i` of the [`bench_ws_echo`] stream.
fn echo_byte(i: u64) -> u8 {
    (i.wrapping_mul(31).wrapping_add(7) % 251) as u8
}

/// Streams `total` bytes (a fixed pattern, in writes of `chunk` bytes; 0 means 64 KiB) through
/// the WebSocket byte stream of [`crate::websocket`] to an echo server at `url` while reading
/// the echo back, checks every byte, then closes. Exercises the transport a replication runs
/// on: message reassembly across boundaries, write backpressure (`bufferedAmount`), clean
/// close. Resolves to one JSON line
/// `{"bench":"browser_ws_echo","value":MB/s,"unit":"MB/s","bytes","seconds","chunk","max_buffered","impl"}`;
/// rejects on a mismatch or a transport error.
#[wasm_bindgen]
pub async fn bench_ws_echo(url: String, total: f64, chunk: u32) -> Result<String, JsValue> {
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use std::cell::Cell;

    let err = |e: std::io::Error| JsValue::from_str(&format!("transport: {e}"));
    let total = if total.is_finite() && total >= 0.0 { total as u64 } else { 0 };
    let chunk = if chunk == 0 { 65536 } else { chunk as usize };
    let (mut reader, mut writer, control) =
        crate::websocket::connect(&url, 10_000).await.map_err(|e| JsValue::from_str(&e.to_string()))?;
    let max_buffered = Cell::new(0u32);
    let start = now_ms();
    let write = async {
        let mut sent = 0u64;
        let mut buf = vec![0u8; chunk];
        while sent < total {
            let n = chunk.min((total - sent) as usize);
            for (k, b) in buf[..n].iter_mut().enumerate() {
                *b = echo_byte(sent + k as u64);
            }
            writer.write_all(&buf[..n]).await.map_err(err)?;
            sent += n as u64;
            max_buffered.set(max_buffered.get().max(control.buffered()));
        }
        writer.flush().await.map_err(err)?;
        Ok::<(), JsValue>(())
    };
    let read = async {
        let mut got = 0u64;
        let mut buf = vec![0u8; 256 << 10];
        while got < total {
            let n = reader.read(&mut buf).await.map_err(err)?;
            if n == 0 {
                return Err(JsValue::from_str(&format!("echo ended after {got} of {total} bytes")));
            }
            if let Some(k) = buf[..n].iter().enumerate().position(|(k, b)| *b != echo_byte(got + k as u64)) {
                return Err(JsValue::from_str(&format!("echo byte {} differs", got + k as u64)));
            }
            got += n as u64;
        }
        Ok::<(), JsValue>(())
    };
    let (w, r) = futures::join!(write, read);
    w?;
    r?;
    let ms = now_ms() - start;
    writer.close().await.map_err(err)?;
    let secs = (ms / 1000.0).max(1e-9);
    Ok(format!(
        "{{\"bench\":\"browser_ws_echo\",\"value\":{:.2},\"unit\":\"MB/s\",\"bytes\":{total},\
         \"seconds\":{secs:.3},\"chunk\":{chunk},\"max_buffered\":{},\"impl\":\"hyperwasm-web@{}\"}}",
        total as f64 / secs / 1e6,
        max_buffered.get(),
        env!("CARGO_PKG_VERSION")
    ))
}
