//! [`IdbStorage`]: [`hyperwasm::storage::Storage`] on IndexedDB.
//!
//! # Layout
//!
//! One database per storage (opened by name, schema version 1) holding one object store,
//! [`STORE`], with out-of-line **binary keys** (`Uint8Array` in, `ArrayBuffer` out) and
//! `Uint8Array` values. IndexedDB compares binary keys bytewise as unsigned bytes, which is
//! exactly the order the [`Storage`] trait promises, so range scans map one-to-one onto
//! `IDBKeyRange`s.
//!
//! # Transactions (see `research/browser-wasm.md` §1.2 and §2.3)
//!
//! - [`Storage::write`]: **one** readwrite transaction per [`WriteBatch`]. Every request is
//!   issued synchronously without awaiting it; only the transaction's completion is awaited,
//!   once. That is ≈3× faster than awaiting each put, and it can never hit the auto-commit
//!   trap because nothing but the transaction is awaited. A request that fails aborts the
//!   whole transaction (IndexedDB's default for an unhandled request error), and a
//!   synchronous failure while issuing makes us call `abort()`: a batch is all-or-nothing.
//! - [`Storage::get_many`]: all `get`s issued in one readonly transaction before the first
//!   await.
//! - [`Storage::scan`]: `getAllKeys` + `getAll` over the same `IDBKeyRange` in one readonly
//!   transaction (forward, or reverse without a limit); a `prev` cursor for reverse scans with a
//!   limit (the common "floor" look-up reads a single record).
//! - [`Storage::scan_keys`]: one `getAllKeys` (no values are read).
//!
//! Do not build this crate with `+atomics`: awaiting IDB requests inside a transaction relies
//! on the single-threaded `wasm-bindgen-futures` executor (devashishdxt/idb#18).
//!
//! # Why the `idb` crate plus a little `web-sys`
//!
//! `idb` 0.6.5 gives futures for requests and transactions, which is the fiddly part. It cannot
//! open a transaction with a durability option, so transactions are created on the raw
//! `web_sys::IdbDatabase` (through a one-method extern binding when a durability is asked for,
//! since `IdbTransactionOptions` is behind `web_sys_unstable_apis`) and wrapped with
//! `idb::Transaction::from`.

use hyperwasm::storage::{Entry, Scan, Storage, StorageError, WriteBatch, WriteOp};
use idb::{CursorDirection, KeyRange, Query, TransactionResult};
use js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
use std::cell::Cell;
use std::future::IntoFuture;
use std::ops::Bound;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{IdbDatabase, IdbTransaction, IdbTransactionMode};

/// Name of the single object store.
pub const STORE: &str = "kv";

/// Schema version of the database.
const SCHEMA_VERSION: u32 = 1;

#[wasm_bindgen]
extern "C" {
    /// `IDBDatabase` seen through the IDB 3.0 `transaction(names, mode, options)` overload.
    #[wasm_bindgen(extends = IdbDatabase)]
    type IdbDatabaseWithOptions;

    #[wasm_bindgen(method, catch, js_name = transaction)]
    fn transaction_with_options(
        this: &IdbDatabaseWithOptions,
        store_names: &JsValue,
        mode: &str,
        options: &JsValue,
    ) -> Result<IdbTransaction, JsValue>;
}

/// How hard a readwrite transaction pushes data to disk before it reports completion.
///
/// The default is [`Durability::Relaxed`]: `complete` fires once the browser has handed the data
/// to the OS, not after an fsync. It is what Chrome (since 121), Firefox and Safari do by
/// default, and it is an order of magnitude cheaper per transaction than `strict` on Chrome.
/// An acknowledged write then survives a tab or browser crash but not necessarily a power
/// loss. hypercore data can be re-fetched from peers, so that trade-off is right for blocks,
/// tree nodes and bitfields; pick [`Durability::Strict`] (per storage, via [`IdbOptions`]) for
/// a store whose acknowledgement must survive power loss. We name `relaxed` explicitly rather
/// than relying on the browser default so older Chromes (default `strict`) behave the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `durability: "relaxed"`: complete once the OS has the data (no flush).
    #[default]
    Relaxed,
    /// `durability: "strict"`: complete only after the data is flushed to disk.
    Strict,
    /// No option passed: whatever the browser's default is.
    BrowserDefault,
}

impl Durability {
    fn as_str(self) -> Option<&'static str> {
        match self {
            Durability::Relaxed => Some("relaxed"),
            Durability::Strict => Some("strict"),
            Durability::BrowserDefault => None,
        }
    }
}

/// Options for [`IdbStorage::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdbOptions {
    /// Durability of write transactions.
    pub durability: Durability,
}

/// A [`Storage`] backed by one IndexedDB database.
///
/// `!Send` (it holds JS handles): use it from the page's (or a worker's) single thread and
/// spawn its futures with `wasm_bindgen_futures::spawn_local`.
pub struct IdbStorage {
    db: IdbDatabase,
    name: String,
    options: IdbOptions,
    closed: Rc<Cell<bool>>,
    // Keeps the `versionchange` handler alive for as long as the connection.
    _on_version_change: Closure<dyn FnMut(web_sys::Event)>,
}

impl std::fmt::Debug for IdbStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdbStorage")
            .field("name", &self.name)
            .field("options", &self.options)
            .field("closed", &self.closed.get())
            .finish()
    }
}

fn io(context: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Io(format!("IndexedDB {context}: {e}"))
}

fn js_io(context: &str, e: &JsValue) -> StorageError {
    let msg = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.to_string()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"));
    io(context, msg)
}

fn key_js(key: &[u8]) -> JsValue {
    Uint8Array::from(key).into()
}

/// Copies a stored key or value (`ArrayBuffer` or `Uint8Array`) into a `Vec`.
fn bytes(v: &JsValue, what: &str) -> Result<Vec<u8>, StorageError> {
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        Ok(a.to_vec())
    } else if let Some(b) = v.dyn_ref::<ArrayBuffer>() {
        Ok(Uint8Array::new(b).to_vec())
    } else {
        Err(StorageError::Corrupt(format!("IndexedDB {what} is not binary: {v:?}")))
    }
}

/// The `IDBKeyRange` for a pair of bounds: `Ok(None)` when the range is empty (IndexedDB
/// throws on `lower > upper`), `Ok(Some(None))` when unbounded.
fn key_range(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> Result<Option<Option<Query>>, StorageError> {
    let err = |e| io("key range", e);
    let range = match (start, end) {
        (Bound::Unbounded, Bound::Unbounded) => return Ok(Some(None)),
        (Bound::Included(s) | Bound::Excluded(s), Bound::Unbounded) => {
            KeyRange::lower_bound(&key_js(s), Some(matches!(start, Bound::Excluded(_)))).map_err(err)?
        }
        (Bound::Unbounded, Bound::Included(e) | Bound::Excluded(e)) => {
            KeyRange::upper_bound(&key_js(e), Some(matches!(end, Bound::Excluded(_)))).map_err(err)?
        }
        (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => {
            let lower_open = matches!(start, Bound::Excluded(_));
            let upper_open = matches!(end, Bound::Excluded(_));
            if s > e || (s == e && (lower_open || upper_open)) {
                return Ok(None);
            }
            KeyRange::bound(&key_js(s), &key_js(e), Some(lower_open), Some(upper_open)).map_err(err)?
        }
    };
    Ok(Some(Some(Query::KeyRange(range))))
}

impl IdbStorage {
    /// Opens (creating if needed) the database `name` with default [`IdbOptions`].
    pub async fn open(name: &str) -> Result<Self, StorageError> {
        Self::open_with(name, IdbOptions::default()).await
    }

    /// Opens (creating if needed) the database `name`.
    pub async fn open_with(name: &str, options: IdbOptions) -> Result<Self, StorageError> {
        let factory = idb::Factory::new().map_err(|e| io("unavailable", e))?;
        let mut request = factory.open(name, Some(SCHEMA_VERSION)).map_err(|e| io("open", e))?;
        request.on_upgrade_needed(|event| {
            use idb::event::DatabaseEvent;
            // Errors here surface as a failed open request (the upgrade transaction aborts).
            if let Ok(db) = event.database() {
                if !db.store_names().iter().any(|s| s == STORE) {
                    let params = idb::ObjectStoreParams::new();
                    let _ = db.create_object_store(STORE, params);
                }
            }
        });
        let db: IdbDatabase = request.await.map_err(|e| io("open", e))?.into();
        if !db.object_store_names().contains(STORE) {
            db.close();
            return Err(StorageError::Io(format!("IndexedDB database {name:?} has no {STORE:?} store")));
        }

        // Another connection wants to upgrade or delete this database: step aside instead of
        // blocking it forever. Further calls on this storage then fail with `Closed`.
        let closed = Rc::new(Cell::new(false));
        let on_version_change = {
            let closed = closed.clone();
            let db = db.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                closed.set(true);
                db.close();
            })
        };
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));

        Ok(IdbStorage { db, name: name.to_string(), options, closed, _on_version_change: on_version_change })
    }

    /// Deletes the database `name` (no error if it does not exist). Waits until every open
    /// connection has closed; [`IdbStorage`] closes itself when asked to.
    pub async fn delete_database(name: &str) -> Result<(), StorageError> {
        let factory = idb::Factory::new().map_err(|e| io("unavailable", e))?;
        factory.delete(name).map_err(|e| io("delete", e))?.await.map_err(|e| io("delete", e))
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The options this storage was opened with.
    pub fn options(&self) -> IdbOptions {
        self.options
    }

    /// Closes the connection (after pending transactions finish). Later calls return
    /// [`StorageError::Closed`].
    pub fn close(&self) {
        self.closed.set(true);
        self.db.close();
    }

    /// Whether [`close`](Self::close) was called or another connection forced a close.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    fn check_open(&self) -> Result<(), StorageError> {
        if self.closed.get() {
            Err(StorageError::Closed)
        } else {
            Ok(())
        }
    }

    fn read_tx(&self) -> Result<(IdbTransaction, idb::ObjectStore), StorageError> {
        self.check_open()?;
        let tx = self
            .db
            .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readonly)
            .map_err(|e| js_io("transaction", &e))?;
        let store = tx.object_store(STORE).map_err(|e| js_io("object store", &e))?;
        Ok((tx, store.into()))
    }

    fn write_tx(&self) -> Result<(IdbTransaction, idb::ObjectStore), StorageError> {
        self.check_open()?;
        let tx = match self.options.durability.as_str() {
            None => self.db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite),
            Some(durability) => {
                let opts = Object::new();
                Reflect::set(&opts, &"durability".into(), &durability.into())
                    .map_err(|e| js_io("transaction options", &e))?;
                self.db.unchecked_ref::<IdbDatabaseWithOptions>().transaction_with_options(
                    &Array::of1(&STORE.into()),
                    "readwrite",
                    &opts,
                )
            }
        }
        .map_err(|e| js_io("transaction", &e))?;
        let store = tx.object_store(STORE).map_err(|e| js_io("object store", &e))?;
        Ok((tx, store.into()))
    }

    /// Issues every op of `batch` on `store` without awaiting any request.
    fn issue(store: &idb::ObjectStore, batch: WriteBatch) -> Result<(), StorageError> {
        for op in batch.ops {
            match op {
                WriteOp::Put { key, value } => {
                    // `Uint8Array::from(&[u8])` copies into a fresh buffer of exactly this size,
                    // so the structured clone never sees wasm memory.
                    let value: JsValue = Uint8Array::from(value.as_slice()).into();
                    store.put(&value, Some(&key_js(&key))).map_err(|e| io("put", e))?;
                }
                WriteOp::Delete { key } => {
                    store.delete(Query::Key(key_js(&key))).map_err(|e| io("delete", e))?;
                }
                WriteOp::DeleteRange { start, end } => {
                    if start < end {
                        let range = KeyRange::bound(&key_js(&start), &key_js(&end), Some(false), Some(true))
                            .map_err(|e| io("key range", e))?;
                        store.delete(Query::KeyRange(range)).map_err(|e| io("delete range", e))?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn scan_cursor(
        store: &idb::ObjectStore,
        query: Option<Query>,
        direction: CursorDirection,
        limit: usize,
    ) -> Result<Vec<Entry>, StorageError> {
        let err = |e| io("cursor", e);
        let mut out = Vec::new();
        let Some(cursor) = store.open_cursor(query, Some(direction)).map_err(err)?.await.map_err(err)? else {
            return Ok(out);
        };
        let mut cursor = cursor.into_managed();
        while out.len() < limit {
            let (Some(k), Some(v)) = (cursor.key().map_err(err)?, cursor.value().map_err(err)?) else {
                break;
            };
            out.push((bytes(&k, "key")?, bytes(&v, "value")?));
            if out.len() < limit {
                cursor.next(None).await.map_err(err)?;
            }
        }
        Ok(out)
    }
}

/// Dropping the storage closes its connection (after pending transactions finish), so a
/// later `delete_database` or schema upgrade is not blocked by a forgotten handle (e.g. one
/// consumed by a `Hypercore::create` that failed).
impl Drop for IdbStorage {
    fn drop(&mut self) {
        self.close();
    }
}

impl Storage for IdbStorage {
    async fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        if keys.is_empty() {
            self.check_open()?;
            return Ok(Vec::new());
        }
        let (_tx, store) = self.read_tx()?;
        // Issue every request (and install its callbacks) before the first await.
        let pending = keys
            .iter()
            .map(|k| store.get(Query::Key(key_js(k))).map(IntoFuture::into_future))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io("get", e))?;
        let mut out = Vec::with_capacity(keys.len());
        for request in pending {
            let value = request.await.map_err(|e| io("get", e))?;
            out.push(value.filter(|v| !v.is_undefined()).map(|v| bytes(&v, "value")).transpose()?);
        }
        Ok(out)
    }

    async fn scan(&self, scan: Scan) -> Result<Vec<Entry>, StorageError> {
        self.check_open()?;
        let Some(query) = key_range(&scan.start, &scan.end)? else {
            return Ok(Vec::new());
        };
        if scan.limit == Some(0) {
            return Ok(Vec::new());
        }
        let (_tx, store) = self.read_tx()?;
        if let (true, Some(limit)) = (scan.reverse, scan.limit) {
            return Self::scan_cursor(&store, query, CursorDirection::Prev, limit).await;
        }
        let limit = scan.limit.map(|l| u32::try_from(l).unwrap_or(u32::MAX));
        let err = |e| io("getAll", e);
        let keys = store.get_all_keys(query.clone(), limit).map_err(err)?.into_future();
        let values = store.get_all(query, limit).map_err(err)?.into_future();
        let keys = keys.await.map_err(err)?;
        let values = values.await.map_err(err)?;
        if keys.len() != values.len() {
            return Err(StorageError::Io(format!(
                "IndexedDB getAllKeys/getAll disagree: {} keys, {} values",
                keys.len(),
                values.len()
            )));
        }
        let mut out = keys
            .iter()
            .zip(values.iter())
            .map(|(k, v)| Ok((bytes(k, "key")?, bytes(v, "value")?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        if scan.reverse {
            out.reverse();
        }
        Ok(out)
    }

    async fn scan_keys(&self, scan: Scan) -> Result<Vec<Vec<u8>>, StorageError> {
        if scan.reverse || scan.limit.is_some() {
            return Ok(self.scan(scan).await?.into_iter().map(|(k, _)| k).collect());
        }
        self.check_open()?;
        let Some(query) = key_range(&scan.start, &scan.end)? else {
            return Ok(Vec::new());
        };
        let (_tx, store) = self.read_tx()?;
        let err = |e| io("getAllKeys", e);
        let keys = store.get_all_keys(query, None).map_err(err)?.await.map_err(err)?;
        keys.iter().map(|k| bytes(&k, "key")).collect()
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        self.check_open()?;
        if batch.is_empty() {
            return Ok(());
        }
        let (tx, store) = self.write_tx()?;
        if let Err(e) = Self::issue(&store, batch) {
            // Without this the requests issued so far would commit: a batch is all-or-nothing.
            let _ = tx.abort();
            return Err(e);
        }
        let raw = tx.clone();
        match idb::Transaction::from(tx).await {
            Ok(TransactionResult::Committed) => Ok(()),
            Ok(TransactionResult::Aborted) => {
                let why = raw.error().map(|e| format!("{}: {}", e.name(), e.message()));
                Err(StorageError::Io(format!(
                    "IndexedDB write transaction aborted{}",
                    why.map(|w| format!(" ({w})")).unwrap_or_default()
                )))
            }
            Err(e) => Err(io("write transaction", e)),
        }
    }
}
