//! [`IdbStorage`]: [`hyperwasm::storage::Storage`] on IndexedDB.
//!
//! # Layout
//!
//! One database per storage (opened by name, schema version 2) holding two object stores:
//!
//! - [`STORE`], with out-of-line **binary keys** (`Uint8Array` in, `ArrayBuffer` out) and
//!   `Uint8Array` values. IndexedDB compares binary keys bytewise as unsigned bytes, which is
//!   exactly the order the [`Storage`] trait promises, so range scans map one-to-one onto
//!   `IDBKeyRange`s.
//! - [`CHUNKS`]: values longer than [`CHUNK_SIZE`] bytes. Chromium writes any IndexedDB value of
//!   64 KiB or more to a separate blob file (≈2.5× slower, and a lost blob file later reads as
//!   `NotReadableError`; `research/browser-wasm.md` §2.2), so such a value is split into
//!   records of at most [`CHUNK_SIZE`] bytes keyed by the array key `[key, i]`, and its [`STORE`]
//!   record holds a marker object `{chunks: n, len}` instead (a plain object, never a
//!   `Uint8Array`, so the two cannot be confused). Array keys compare element by element, so
//!   `[key, 0] ..= [key, +Infinity]` holds exactly the chunks of `key` and `[start] .. [end]` the
//!   chunks of every key in `start..end`. Readers never see chunks: [`Storage::scan_keys`]
//!   lists [`STORE`] keys only, and reads reassemble values in the same transaction.
//!
//! Version 1 databases (no [`CHUNKS`] store) are upgraded by creating the store; their large
//! values stay plain `Uint8Array`s, which remain valid.
//!
//! # Transactions (see `research/browser-wasm.md` §1.2 and §2.3)
//!
//! - [`Storage::write`]: **one** readwrite transaction per [`WriteBatch`]. Every request is
//!   issued synchronously without awaiting it; only the transaction's completion is awaited,
//!   once. That is ≈3× faster than awaiting each put, and it can never hit the auto-commit
//!   trap because nothing but the transaction is awaited. A request that fails aborts the
//!   whole transaction (IndexedDB's default for an unhandled request error), and a
//!   synchronous failure while issuing makes us call `abort()`: a batch is all-or-nothing.
//!   Writing a key (put, delete, delete range) also deletes its old chunks in the same
//!   transaction, before a chunked put writes the new ones.
//! - [`Storage::get_many`]: all `get`s issued in one readonly transaction before the first
//!   await; then, in the same transaction, one `getAll` per chunked value (again all issued
//!   before the first await). Only IDB requests are awaited, so the transaction stays active.
//! - [`Storage::scan`]: `getAllKeys` + `getAll` over the same `IDBKeyRange` in one readonly
//!   transaction (forward, or reverse without a limit); a `prev` cursor for reverse scans with a
//!   limit (the common "floor" look-up reads a single record). Chunked values are then
//!   reassembled as in `get_many`.
//! - [`Storage::scan_keys`]: one `getAllKeys` (no values are read); with a limit or reversed,
//!   the `scan` path without reassembly (no chunk is read).
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

/// Name of the object store holding the chunks of large values (see the module docs).
pub const CHUNKS: &str = "chunks";

/// Values longer than this are stored as chunks of at most this many bytes: comfortably below
/// Chromium's 64 KiB blob-file threshold, which counts the structured-clone envelope too.
pub const CHUNK_SIZE: usize = 60 * 1024;

/// Schema version of the database (2 added [`CHUNKS`]).
const SCHEMA_VERSION: u32 = 2;

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

/// The array key `[key, i]` of chunk `i` of `key`.
fn chunk_key(key: &[u8], i: u32) -> JsValue {
    Array::of2(&key_js(key), &JsValue::from(i)).into()
}

/// Every chunk of `key`: `[key, 0] ..= [key, +Infinity]`.
fn chunks_of(key: &[u8]) -> Result<Query, StorageError> {
    let (lo, hi) = (chunk_key(key, 0), Array::of2(&key_js(key), &JsValue::from(f64::INFINITY)));
    let range = KeyRange::bound(&lo, &hi, Some(false), Some(false)).map_err(|e| io("chunk range", e))?;
    Ok(Query::KeyRange(range))
}

/// A value as stored in [`STORE`]: the bytes, or the marker of a chunked value.
enum Stored {
    Bytes(Vec<u8>),
    Chunked { chunks: u32, len: usize },
}

fn marker(chunks: usize, len: usize) -> Result<JsValue, StorageError> {
    let m = Object::new();
    let set = |k: &str, v: usize| {
        Reflect::set(&m, &k.into(), &JsValue::from(v as f64)).map_err(|e| js_io("chunk marker", &e))
    };
    set("chunks", chunks)?;
    set("len", len)?;
    Ok(m.into())
}

fn decode(v: &JsValue) -> Result<Stored, StorageError> {
    if v.is_instance_of::<Uint8Array>() || v.is_instance_of::<ArrayBuffer>() {
        return bytes(v, "value").map(Stored::Bytes);
    }
    let field = |k: &str| {
        v.is_object()
            .then(|| Reflect::get(v, &k.into()).ok())
            .flatten()
            .and_then(|f| f.as_f64())
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64)
    };
    match (field("chunks"), field("len")) {
        (Some(chunks), Some(len)) => Ok(Stored::Chunked { chunks: chunks as u32, len: len as usize }),
        _ => {
            Err(StorageError::Corrupt(format!("IndexedDB value is neither binary nor a chunk marker: {v:?}")))
        }
    }
}

/// Turns raw [`STORE`] values into bytes, fetching the chunks of chunked values from `chunks`
/// (one `getAll` each, all issued before the first await, in the caller's transaction).
async fn resolve(
    chunks: &idb::ObjectStore,
    raw: Vec<(&[u8], Option<JsValue>)>,
) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
    enum Slot<F> {
        Ready(Option<Vec<u8>>),
        Pending(F, u32, usize),
    }
    let err = |e| io("chunk getAll", e);
    let mut slots = Vec::with_capacity(raw.len());
    for (key, value) in raw {
        slots.push(match value.filter(|v| !v.is_undefined()) {
            None => Slot::Ready(None),
            Some(v) => match decode(&v)? {
                Stored::Bytes(b) => Slot::Ready(Some(b)),
                Stored::Chunked { chunks: n, len } => Slot::Pending(
                    chunks.get_all(Some(chunks_of(key)?), None).map_err(err)?.into_future(),
                    n,
                    len,
                ),
            },
        });
    }
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        out.push(match slot {
            Slot::Ready(v) => v,
            Slot::Pending(request, n, len) => {
                let parts = request.await.map_err(err)?;
                let mut value = Vec::with_capacity(len);
                for part in &parts {
                    value.extend_from_slice(&bytes(part, "chunk")?);
                }
                if parts.len() != n as usize || value.len() != len {
                    return Err(StorageError::Corrupt(format!(
                        "IndexedDB chunked value: marker says {n} chunks / {len} bytes, found {} / {}",
                        parts.len(),
                        value.len()
                    )));
                }
                Some(value)
            }
        });
    }
    Ok(out)
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
                // Version 0 → 2 creates both stores, 1 → 2 adds CHUNKS.
                let names = db.store_names();
                for store in [STORE, CHUNKS] {
                    if !names.iter().any(|s| s == store) {
                        let _ = db.create_object_store(store, idb::ObjectStoreParams::new());
                    }
                }
            }
        });
        let db: IdbDatabase = request.await.map_err(|e| io("open", e))?.into();
        for store in [STORE, CHUNKS] {
            if !db.object_store_names().contains(store) {
                db.close();
                return Err(StorageError::Io(format!("IndexedDB database {name:?} has no {store:?} store")));
            }
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

    fn stores(tx: &IdbTransaction) -> Result<Stores, StorageError> {
        let store =
            |name| tx.object_store(name).map(idb::ObjectStore::from).map_err(|e| js_io("object store", &e));
        Ok(Stores { kv: store(STORE)?, chunks: store(CHUNKS)? })
    }

    fn read_tx(&self) -> Result<(IdbTransaction, Stores), StorageError> {
        self.check_open()?;
        let names = Array::of2(&STORE.into(), &CHUNKS.into());
        let tx = self
            .db
            .transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readonly)
            .map_err(|e| js_io("transaction", &e))?;
        let stores = Self::stores(&tx)?;
        Ok((tx, stores))
    }

    fn write_tx(&self) -> Result<(IdbTransaction, Stores), StorageError> {
        self.check_open()?;
        let names = Array::of2(&STORE.into(), &CHUNKS.into());
        let tx = match self.options.durability.as_str() {
            None => self.db.transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readwrite),
            Some(durability) => {
                let opts = Object::new();
                Reflect::set(&opts, &"durability".into(), &durability.into())
                    .map_err(|e| js_io("transaction options", &e))?;
                self.db.unchecked_ref::<IdbDatabaseWithOptions>().transaction_with_options(
                    &names,
                    "readwrite",
                    &opts,
                )
            }
        }
        .map_err(|e| js_io("transaction", &e))?;
        let stores = Self::stores(&tx)?;
        Ok((tx, stores))
    }

    /// Issues every op of `batch` without awaiting any request. Every op on a key first drops
    /// the key's chunks (a no-op unless its old value was chunked).
    fn issue(stores: &Stores, batch: WriteBatch) -> Result<(), StorageError> {
        let Stores { kv, chunks } = stores;
        for op in batch.ops {
            match op {
                WriteOp::Put { key, value } => {
                    chunks.delete(chunks_of(&key)?).map_err(|e| io("delete chunks", e))?;
                    // `Uint8Array::from(&[u8])` copies into a fresh buffer of exactly this size,
                    // so the structured clone never sees wasm memory (nor a larger buffer).
                    let stored: JsValue = if value.len() > CHUNK_SIZE {
                        for (i, part) in value.chunks(CHUNK_SIZE).enumerate() {
                            let i = u32::try_from(i).map_err(|_| io("put", "value too large"))?;
                            let part: JsValue = Uint8Array::from(part).into();
                            chunks.put(&part, Some(&chunk_key(&key, i))).map_err(|e| io("put chunk", e))?;
                        }
                        marker(value.len().div_ceil(CHUNK_SIZE), value.len())?
                    } else {
                        Uint8Array::from(value.as_slice()).into()
                    };
                    kv.put(&stored, Some(&key_js(&key))).map_err(|e| io("put", e))?;
                }
                WriteOp::Delete { key } => {
                    kv.delete(Query::Key(key_js(&key))).map_err(|e| io("delete", e))?;
                    chunks.delete(chunks_of(&key)?).map_err(|e| io("delete chunks", e))?;
                }
                WriteOp::DeleteRange { start, end } => {
                    if start < end {
                        let range = KeyRange::bound(&key_js(&start), &key_js(&end), Some(false), Some(true))
                            .map_err(|e| io("key range", e))?;
                        kv.delete(Query::KeyRange(range)).map_err(|e| io("delete range", e))?;
                        // `[start] .. [end]`: every chunk of every key in `start..end`.
                        let (lo, hi) = (Array::of1(&key_js(&start)), Array::of1(&key_js(&end)));
                        let range = KeyRange::bound(&lo, &hi, Some(false), Some(true))
                            .map_err(|e| io("chunk range", e))?;
                        chunks.delete(Query::KeyRange(range)).map_err(|e| io("delete chunks", e))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of records in the [`CHUNKS`] store (diagnostics and tests).
    pub async fn chunk_record_count(&self) -> Result<u32, StorageError> {
        let (_tx, stores) = self.read_tx()?;
        let err = |e| io("count", e);
        stores.chunks.count(None).map_err(err)?.await.map_err(err)
    }

    /// The raw [`STORE`] entries of `scan` (chunked values still as markers), plus the stores
    /// of the still-active readonly transaction they were read in.
    async fn scan_raw(&self, scan: Scan) -> Result<Option<(Stores, Vec<(Vec<u8>, JsValue)>)>, StorageError> {
        self.check_open()?;
        let Some(query) = key_range(&scan.start, &scan.end)? else {
            return Ok(None);
        };
        if scan.limit == Some(0) {
            return Ok(None);
        }
        let (_tx, stores) = self.read_tx()?;
        if let (true, Some(limit)) = (scan.reverse, scan.limit) {
            let out = Self::scan_cursor(&stores.kv, query, CursorDirection::Prev, limit).await?;
            return Ok(Some((stores, out)));
        }
        let limit = scan.limit.map(|l| u32::try_from(l).unwrap_or(u32::MAX));
        let err = |e| io("getAll", e);
        let keys = stores.kv.get_all_keys(query.clone(), limit).map_err(err)?.into_future();
        let values = stores.kv.get_all(query, limit).map_err(err)?.into_future();
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
            .zip(values)
            .map(|(k, v)| Ok((bytes(k, "key")?, v)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        if scan.reverse {
            out.reverse();
        }
        Ok(Some((stores, out)))
    }

    async fn scan_cursor(
        store: &idb::ObjectStore,
        query: Option<Query>,
        direction: CursorDirection,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, JsValue)>, StorageError> {
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
            out.push((bytes(&k, "key")?, v));
            if out.len() < limit {
                cursor.next(None).await.map_err(err)?;
            }
        }
        Ok(out)
    }
}

/// The two object stores of one transaction.
struct Stores {
    kv: idb::ObjectStore,
    chunks: idb::ObjectStore,
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
        let (_tx, stores) = self.read_tx()?;
        // Issue every request (and install its callbacks) before the first await.
        let pending = keys
            .iter()
            .map(|k| stores.kv.get(Query::Key(key_js(k))).map(IntoFuture::into_future))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io("get", e))?;
        let mut raw = Vec::with_capacity(keys.len());
        for (key, request) in keys.iter().zip(pending) {
            raw.push((key.as_slice(), request.await.map_err(|e| io("get", e))?));
        }
        resolve(&stores.chunks, raw).await
    }

    async fn scan(&self, scan: Scan) -> Result<Vec<Entry>, StorageError> {
        let Some((stores, raw)) = self.scan_raw(scan).await? else {
            return Ok(Vec::new());
        };
        let values =
            resolve(&stores.chunks, raw.iter().map(|(k, v)| (k.as_slice(), Some(v.clone()))).collect())
                .await?;
        raw.into_iter()
            .zip(values)
            .map(|((k, _), v)| {
                v.map(|v| (k, v))
                    .ok_or_else(|| StorageError::Corrupt("IndexedDB scan: undefined value".into()))
            })
            .collect()
    }

    async fn scan_keys(&self, scan: Scan) -> Result<Vec<Vec<u8>>, StorageError> {
        if scan.reverse || scan.limit.is_some() {
            // Markers are not resolved: no chunk is read for a key listing.
            let raw = self.scan_raw(scan).await?;
            return Ok(raw.map(|(_, raw)| raw.into_iter().map(|(k, _)| k).collect()).unwrap_or_default());
        }
        self.check_open()?;
        let Some(query) = key_range(&scan.start, &scan.end)? else {
            return Ok(Vec::new());
        };
        let (_tx, stores) = self.read_tx()?;
        let err = |e| io("getAllKeys", e);
        let keys = stores.kv.get_all_keys(query, None).map_err(err)?.await.map_err(err)?;
        keys.iter().map(|k| bytes(&k, "key")).collect()
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        self.check_open()?;
        if batch.is_empty() {
            return Ok(());
        }
        let (tx, stores) = self.write_tx()?;
        if let Err(e) = Self::issue(&stores, batch) {
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
