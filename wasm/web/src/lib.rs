//! # hyperwasm-web
//!
//! The browser side of hyperwasm: [`hyperwasm`]'s storage trait on IndexedDB
//! ([`idb::IdbStorage`]) and the `wasm-bindgen` exports a web page calls.
//!
//! Module map:
//! - [`idb`]: `IdbStorage`, the IndexedDB backend of [`hyperwasm::storage::Storage`].
//! - [`hypercore`]: `class Hypercore` for JS (IndexedDB-backed core with group commit).
//! - [`hyperbee`]: `class Hyperbee` for JS (the Rust Hyperbee on a JS `Hypercore`);
//!   [`bee_batch`]: `class HyperbeeBatch`; [`bee_iterators`]: `class HyperbeeIterator` (the
//!   async iterator of its streams, opened by [`bee_streams`]); [`bee_watch`]: `watch`,
//!   `getAndWatch`; [`bee_writer`]: its write queue (call order, group
//!   commit); [`bee_codec`]: key/value encodings as JS `codecs`.
//! - [`replication`]: `Hypercore.openRemote`, `core.replicate(url)` and `class Replication`
//!   (replication with a peer over a WebSocket).
//! - [`relay_client`]: `class RelayClient` (the HyperDHT through `hyperwasm-relay`, keys kept
//!   in the page); [`relay_query`]: `class RelayQuery` (lookup replies); [`relay_stream`]:
//!   `class RelayStream` (plaintext over secret-stream); [`relay_server`]: `class RelayServer`;
//!   [`relay_socket`]: the driver (WebSocket ↔ the sans-IO client, timers, reconnect);
//!   [`relay_pipe`]: a relay stream's ciphertext for `core.replicate(stream)`.
//! - [`websocket`]: a browser `WebSocket` as futures-io byte stream halves.
//! - [`clock`]: `performance.now()` / `setTimeout` as the replication [`Clock`](hyperwasm::replicator::Clock).
//! - [`error`]: Rust errors → JS `Error` objects with hypercore's `.code`.
//! - [`bench`]: exported benchmark functions (`bench_idb_put`) driven by `tests/bench/browser/`.
//! - this file: `version()` / `selftest()` exports and the start hook (panic → `console.error`).
//!
//! Everything that touches the browser is compiled for `wasm32` only; on native targets this
//! crate is empty so `cargo build --workspace` / `cargo clippy --workspace` keep working.

#[cfg(target_arch = "wasm32")]
pub mod bee_batch;
#[cfg(target_arch = "wasm32")]
pub mod bee_codec;
#[cfg(target_arch = "wasm32")]
pub mod bee_iterators;
#[cfg(target_arch = "wasm32")]
pub mod bee_streams;
#[cfg(target_arch = "wasm32")]
pub mod bee_watch;
#[cfg(target_arch = "wasm32")]
pub mod bee_writer;
#[cfg(target_arch = "wasm32")]
pub mod bench;
#[cfg(target_arch = "wasm32")]
pub mod clock;
#[cfg(target_arch = "wasm32")]
pub mod error;
#[cfg(target_arch = "wasm32")]
pub mod hyperbee;
#[cfg(target_arch = "wasm32")]
pub mod hypercore;
#[cfg(target_arch = "wasm32")]
pub mod idb;
#[cfg(target_arch = "wasm32")]
pub mod relay_client;
#[cfg(target_arch = "wasm32")]
pub mod relay_pipe;
#[cfg(target_arch = "wasm32")]
pub mod relay_query;
#[cfg(target_arch = "wasm32")]
pub mod relay_server;
#[cfg(target_arch = "wasm32")]
pub mod relay_socket;
#[cfg(target_arch = "wasm32")]
pub mod relay_stream;
#[cfg(target_arch = "wasm32")]
pub mod replication;
#[cfg(target_arch = "wasm32")]
pub mod websocket;

#[cfg(target_arch = "wasm32")]
pub use crate::bee_batch::JsHyperbeeBatch;
#[cfg(target_arch = "wasm32")]
pub use crate::hyperbee::JsHyperbee;
#[cfg(target_arch = "wasm32")]
pub use crate::hypercore::JsHypercore;
#[cfg(target_arch = "wasm32")]
pub use crate::idb::{Durability, IdbOptions, IdbStorage};
#[cfg(target_arch = "wasm32")]
pub use crate::relay_client::RelayClient;
#[cfg(target_arch = "wasm32")]
pub use crate::replication::Replication;
#[cfg(target_arch = "wasm32")]
pub use exports::{selftest, version};

#[cfg(target_arch = "wasm32")]
mod exports {
    use wasm_bindgen::prelude::*;

    /// Runs once when the module is instantiated: routes Rust panics to `console.error`.
    #[wasm_bindgen(start)]
    pub fn start() {
        #[cfg(feature = "console-panic-hook")]
        std::panic::set_hook(Box::new(|info| {
            web_sys::console::error_1(&JsValue::from_str(&format!("hyperwasm panic: {info}")));
        }));
    }

    /// The crate version, e.g. `"0.1.0"`: lets a page check which build it loaded.
    #[wasm_bindgen]
    pub fn version() -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    /// Opens a fresh scratch IndexedDB database, writes one record, reads it
    /// back and deletes the database. Resolves to `true` when the round trip matched.
    #[wasm_bindgen]
    pub async fn selftest() -> Result<bool, JsValue> {
        use crate::idb::IdbStorage;
        use hyperwasm::storage::{Storage, WriteBatch};

        // A unique name, so concurrent self-tests (two tabs) do not close each other's database.
        let name = &format!("hyperwasm-selftest-{}", js_sys::Math::random());
        let err = |e: hyperwasm::storage::StorageError| JsValue::from_str(&e.to_string());
        let db = IdbStorage::open(name).await.map_err(err)?;
        let mut batch = WriteBatch::new();
        batch.put(b"hello".to_vec(), b"world".to_vec());
        db.write(batch).await.map_err(err)?;
        let ok = db.get(b"hello".to_vec()).await.map_err(err)?.as_deref() == Some(&b"world"[..]);
        db.close();
        IdbStorage::delete_database(name).await.map_err(err)?;
        Ok(ok)
    }
}
