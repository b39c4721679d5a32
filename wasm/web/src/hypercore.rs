//! `class Hypercore` for JS: a writable (or opened) hypercore persisted in one IndexedDB
//! database.
//!
//! ```js
//! import init, { Hypercore } from 'hyperwasm-web'
//! await init()
//! const core = await Hypercore.create('my-core', { compat: false, seed })  // or Hypercore.open('my-core')
//! await Promise.all(blocks.map((b) => core.append(b)))   // group-committed, see below
//! const block = await core.get(0)                          // Uint8Array | null
//! await core.close()
//! ```
//!
//! # Group commit
//!
//! Each IndexedDB readwrite transaction costs roughly a millisecond or more in Chromium no
//! matter how little it writes, so one transaction per `append` caps a page at a few hundred
//! appends per second. Instead `append` only *queues* its blocks (synchronously, in call order)
//! and returns a promise; one flusher task per core drains the queue: every append queued
//! before the previous write completed is concatenated into **one** `append_batch`, i.e. one
//! signed head and one IndexedDB transaction, and each caller's promise then resolves with the
//! length right after *its own* blocks (`start + blocks queued up to and including it`), exactly
//! what sequential appends would have returned. A group is capped at
//! [`MAX_GROUP_BYTES`] so a flood of appends does not build one giant transaction. If the
//! batch fails, nothing of it is stored and every promise of that group rejects with the same
//! error. An `await`-each-append loop therefore still costs one transaction per append; code
//! that issues appends without awaiting each one (`Promise.all`, event handlers firing
//! during a write) gets them batched automatically.
//!
//! # Read coalescing and caches
//!
//! The same trick serves reads: `get` queues its index and one reader task per core serves
//! every `get` queued by the time it gets the core with **one** `Hypercore::get_many`, i.e.
//! at most one IndexedDB transaction for all their uncached block packs and tree pages
//! (at most [`MAX_READ_GROUP`] per group). Decoded packs and tree pages are cached in wasm
//! memory: [`DEFAULT_PACK_CACHE_BYTES`] and [`DEFAULT_TREE_CACHE_PAGES`] unless `create`/`open`
//! get `{ packCacheBytes, treeCachePages }`.
//!
//! Other mutations (`truncate`, `clear`, `close`) are ordered with the queue: they wait for
//! the appends issued before them and hold back appends issued after them. Reads (`get`,
//! `has`, `info`) wait only for a write in progress.
//!
//! # Replication
//!
//! The core lives in a [`SharedCore`] of its own [`CoreSet`], so connections started with
//! `core.replicate(url)` (see [`crate::replication`]) share it with the group-commit and
//! reader tasks: appends, truncations and clears made here are announced to every peer, and
//! blocks the connections download show up in `get`, `length` and `info`. `close()` ends the
//! connections first.
//!
//! # Durability
//!
//! By default writes use IndexedDB's `durability: "relaxed"` (see [`Durability`]): a resolved
//! `append` survives a tab or browser crash, **not necessarily a power loss or OS crash** (the
//! browser has handed the data to the OS but not flushed it). Blocks of a replicated core can
//! be fetched again from peers, and relaxed transactions are several times cheaper. Pass
//! `{ strict: true }` to `create`/`open` for `durability: "strict"`: a resolved append has
//! been flushed to disk.

use crate::error::{bad_argument, closed, core_error, storage_error};
use crate::idb::{Durability, IdbOptions, IdbStorage};
use futures::channel::oneshot;
use hyperwasm::core::{CreateOptions, HypercoreError};
use hyperwasm::crypto::KeyPair;
use hyperwasm::replicator::{CoreSet, LocalChange, SharedCore};
use hyperwasm::storage::StorageError;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

pub(crate) type Core = hyperwasm::core::Hypercore<IdbStorage>;

/// Upper bound on the block bytes of one group commit (values ≥ this still go alone).
pub const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// Most `get`s served by one `get_many`.
pub const MAX_READ_GROUP: usize = 1024;

/// Default byte budget of the decoded block-pack cache of a JS `Hypercore`.
pub const DEFAULT_PACK_CACHE_BYTES: usize = 16 << 20;

/// Default number of decoded tree pages (256 nodes, ≈ 10 KiB each) of a JS `Hypercore`:
/// the whole tree of a core of up to 256k blocks.
pub const DEFAULT_TREE_CACHE_PAGES: usize = 2048;

type ReadWaiter = oneshot::Sender<Result<Option<Vec<u8>>, JsValue>>;

/// The head as JS getters see it, refreshed after every mutation (getters are synchronous
/// while the core itself sits behind an async lock).
#[derive(Debug, Clone, Default)]
pub(crate) struct Head {
    pub(crate) key: [u8; 32],
    pub(crate) discovery_key: [u8; 32],
    pub(crate) length: u64,
    pub(crate) byte_length: u64,
    pub(crate) fork: u64,
    pub(crate) writable: bool,
    pub(crate) closed: bool,
}

enum Job {
    Append {
        blocks: Vec<Vec<u8>>,
        done: oneshot::Sender<Result<u64, HypercoreError>>,
    },
    /// An exclusive operation: the flusher sends `go`, then waits until `done` is dropped.
    Barrier {
        go: oneshot::Sender<()>,
        done: oneshot::Receiver<()>,
    },
}

pub(crate) struct Inner {
    name: String,
    /// The set of connections of this core (one core per set: a connection replicates it).
    pub(crate) set: CoreSet<IdbStorage>,
    /// The core, shared with its connections.
    pub(crate) shared: SharedCore<IdbStorage>,
    /// Set under the core lock by `close()`: the storage is closed, every later call fails.
    pub(crate) closed: Cell<bool>,
    pub(crate) head: RefCell<Head>,
    /// `whenLength(n)` callers, resolved by [`Inner::refresh`].
    pub(crate) length_waiters: RefCell<Vec<(u64, oneshot::Sender<u64>)>>,
    /// Running replications, closed by `close()`.
    pub(crate) replications: RefCell<Vec<Rc<crate::replication::ReplState>>>,
    /// Dropping it stops the task that follows changes made by connections.
    pub(crate) watch_stop: RefCell<Option<oneshot::Sender<()>>>,
    queue: RefCell<VecDeque<Job>>,
    flushing: Cell<bool>,
    append_batches: Cell<u64>,
    reads: RefCell<Vec<(u64, ReadWaiter)>>,
    reading: Cell<bool>,
    read_batches: Cell<u64>,
}

impl Inner {
    /// Copies the head of `core` into the cached [`Head`] and resolves `whenLength` callers
    /// it satisfies.
    pub(crate) fn refresh(&self, core: &Core) {
        let length = {
            let mut h = self.head.borrow_mut();
            h.length = core.length();
            h.byte_length = core.byte_length();
            h.fork = core.fork();
            h.writable = core.writable();
            h.length
        };
        let ready: Vec<_> = {
            let mut waiters = self.length_waiters.borrow_mut();
            let (ready, wait) = waiters.drain(..).partition(|(want, _)| *want <= length);
            *waiters = wait;
            ready
        };
        for (_, tx) in ready {
            let _ = tx.send(length);
        }
    }

    /// The core, locked, unless `close()` closed it (`SESSION_CLOSED`).
    pub(crate) async fn lock_open(&self) -> Result<futures::lock::MutexGuard<'_, Core>, JsValue> {
        let core = self.shared.lock().await;
        if self.closed.get() {
            Err(closed())
        } else {
            Ok(core)
        }
    }

    fn push(self: &Rc<Self>, job: Job) {
        self.queue.borrow_mut().push_back(job);
        if !self.flushing.replace(true) {
            spawn_local(flush(self.clone()));
        }
    }

    /// Takes a turn in the queue **now** (synchronously, so call order is queue order):
    /// awaiting the returned [`Turn`] waits for every job queued before it, and the guard it
    /// yields holds back later jobs until dropped.
    fn turn(self: &Rc<Self>) -> Turn {
        let (go_tx, go_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        self.push(Job::Barrier { go: go_tx, done: done_rx });
        Turn { go: go_rx, done: done_tx }
    }
}

/// A place in the queue for an exclusive operation (see [`Inner::turn`]).
struct Turn {
    go: oneshot::Receiver<()>,
    done: oneshot::Sender<()>,
}

impl Turn {
    async fn wait(self) -> oneshot::Sender<()> {
        let _ = self.go.await;
        self.done
    }
}

/// Lets every task already woken run before this one continues: the core's mutex does not
/// queue waiters fairly, so a loop that drops and re-takes it at once would starve them.
async fn yield_now() {
    let _ = JsFuture::from(Promise::resolve(&JsValue::UNDEFINED)).await;
}

/// The flusher: drains the queue, one `append_batch` per run of queued appends.
async fn flush(inner: Rc<Inner>) {
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            yield_now().await;
        }
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut waiters: Vec<(u64, oneshot::Sender<Result<u64, HypercoreError>>)> = Vec::new();
        let barrier = {
            let mut q = inner.queue.borrow_mut();
            let mut bytes = 0usize;
            while matches!(q.front(), Some(Job::Append { .. })) {
                if !waiters.is_empty() && bytes >= MAX_GROUP_BYTES {
                    break;
                }
                if let Some(Job::Append { blocks: b, done }) = q.pop_front() {
                    bytes += b.iter().map(Vec::len).sum::<usize>();
                    waiters.push((b.len() as u64, done));
                    blocks.extend(b);
                }
            }
            if waiters.is_empty() {
                q.pop_front()
            } else {
                None
            }
        };
        if !waiters.is_empty() {
            let result = if inner.closed.get() {
                Err(HypercoreError::Storage(StorageError::Closed))
            } else {
                inner.append_batches.set(inner.append_batches.get() + 1);
                // Appends through the shared core are announced to every connection.
                let r = inner.shared.append_batch(&blocks).await;
                inner.refresh(&*inner.shared.lock().await);
                r
            };
            match result {
                Ok(end) => {
                    let mut at = end - blocks.len() as u64;
                    for (count, done) in waiters {
                        at += count;
                        let _ = done.send(Ok(at));
                    }
                }
                Err(e) => {
                    for (_, done) in waiters {
                        let _ = done.send(Err(e.clone()));
                    }
                }
            }
            continue;
        }
        match barrier {
            Some(Job::Barrier { go, done }) => {
                if go.send(()).is_ok() {
                    let _ = done.await;
                }
            }
            Some(Job::Append { .. }) => unreachable!("appends are drained above"),
            None => {
                inner.flushing.set(false);
                return;
            }
        }
    }
}

/// The reader: serves every queued `get` with one `get_many` per turn on the core.
async fn read_loop(inner: Rc<Inner>) {
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            yield_now().await;
        }
        let guard = inner.shared.lock().await;
        let group: Vec<(u64, ReadWaiter)> = {
            let mut q = inner.reads.borrow_mut();
            let n = q.len().min(MAX_READ_GROUP);
            q.drain(..n).collect()
        };
        if group.is_empty() {
            inner.reading.set(false);
            return;
        }
        if inner.closed.get() {
            for (_, done) in group {
                let _ = done.send(Err(closed()));
            }
            continue;
        }
        let core = &*guard;
        inner.read_batches.set(inner.read_batches.get() + 1);
        let indexes: Vec<u64> = group.iter().map(|(i, _)| *i).collect();
        match core.get_many(&indexes).await {
            Ok(results) => {
                for ((_, done), r) in group.into_iter().zip(results) {
                    let _ = done.send(r.map_err(|e| core_error(&e)));
                }
            }
            Err(e) => {
                for (_, done) in group {
                    let _ = done.send(Err(core_error(&e)));
                }
            }
        }
    }
}

/// Cache bounds from `{ packCacheBytes?, treeCachePages? }`.
pub(crate) fn cache_limits(opts: &JsValue) -> Result<(usize, usize), JsValue> {
    let mut limits = (DEFAULT_PACK_CACHE_BYTES, DEFAULT_TREE_CACHE_PAGES);
    if opts.is_object() {
        for (name, slot) in [("packCacheBytes", &mut limits.0), ("treeCachePages", &mut limits.1)] {
            if let Some(v) = Reflect::get(opts, &JsValue::from_str(name)).ok().and_then(|v| v.as_f64()) {
                *slot = usize::try_from(uint(v, name)?).unwrap_or(usize::MAX);
            }
        }
    }
    Ok(limits)
}

/// A JS number as a block index / length: a non-negative integer up to 2^53.
pub(crate) fn uint(v: f64, what: &str) -> Result<u64, JsValue> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(bad_argument(&format!("{what} must be a non-negative integer, got {v}")))
    }
}

fn blocks_of(data: &JsValue) -> Result<Vec<Vec<u8>>, JsValue> {
    fn one(v: &JsValue) -> Result<Vec<u8>, JsValue> {
        if let Some(a) = v.dyn_ref::<Uint8Array>() {
            Ok(a.to_vec())
        } else if let Some(s) = v.as_string() {
            Ok(s.into_bytes())
        } else {
            Err(bad_argument("a block must be a Uint8Array (or a string)"))
        }
    }
    if Array::is_array(data) {
        Array::from(data).iter().map(|v| one(&v)).collect()
    } else {
        Ok(vec![one(data)?])
    }
}

pub(crate) fn opt_bool(opts: &JsValue, name: &str) -> bool {
    opts.is_object()
        && Reflect::get(opts, &JsValue::from_str(name)).ok().and_then(|v| v.as_bool()) == Some(true)
}

pub(crate) fn durability(opts: &JsValue) -> IdbOptions {
    IdbOptions { durability: if opt_bool(opts, "strict") { Durability::Strict } else { Durability::Relaxed } }
}

pub(crate) fn set(obj: &Object, key: &str, value: JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value);
}

/// A hypercore stored in the IndexedDB database of the same name (JS: `Hypercore`).
///
/// See the [module docs](self) for group commit and durability.
#[wasm_bindgen(js_name = Hypercore)]
pub struct JsHypercore {
    pub(crate) inner: Rc<Inner>,
}

impl JsHypercore {
    pub(crate) fn wrap(name: &str, mut core: Core, limits: (usize, usize)) -> JsHypercore {
        core.set_cache_limits(limits.0, limits.1);
        let head = Head {
            key: *core.key(),
            discovery_key: *core.discovery_key(),
            length: core.length(),
            byte_length: core.byte_length(),
            fork: core.fork(),
            writable: core.writable(),
            closed: false,
        };
        let set = CoreSet::new();
        let shared = set.insert(core);
        JsHypercore {
            inner: Rc::new(Inner {
                name: name.to_string(),
                set,
                shared,
                closed: Cell::new(false),
                head: RefCell::new(head),
                length_waiters: RefCell::new(Vec::new()),
                replications: RefCell::new(Vec::new()),
                watch_stop: RefCell::new(None),
                queue: RefCell::new(VecDeque::new()),
                flushing: Cell::new(false),
                append_batches: Cell::new(0),
                reads: RefCell::new(Vec::new()),
                reading: Cell::new(false),
                read_batches: Cell::new(0),
            }),
        }
    }
}

/// Mutations other than appends, queued in call order with them.
enum Exclusive {
    Truncate { length: u64, fork: Option<u64> },
    Clear { start: u64, end: u64 },
}

#[wasm_bindgen(js_class = Hypercore)]
impl JsHypercore {
    /// Creates a new writable core in the (empty) IndexedDB database `name`.
    ///
    /// `opts`: `{ compat?: boolean, seed?: Uint8Array(32), strict?: boolean }`. `seed` derives the
    /// Ed25519 key pair (otherwise a random one is generated); `compat` makes the key the public
    /// key (hypercore 10 style); `strict` selects strict IndexedDB durability. Rejects with
    /// `STORAGE_CONFLICT` if the database already holds a core.
    pub async fn create(name: String, opts: JsValue) -> Result<JsHypercore, JsValue> {
        let key_pair = if opts.is_object() {
            match Reflect::get(&opts, &JsValue::from_str("seed")) {
                Ok(v) if !v.is_undefined() && !v.is_null() => {
                    let seed: [u8; 32] = v
                        .dyn_ref::<Uint8Array>()
                        .map(Uint8Array::to_vec)
                        .and_then(|s| s.try_into().ok())
                        .ok_or_else(|| bad_argument("seed must be a 32-byte Uint8Array"))?;
                    Some(KeyPair::from_seed(&seed))
                }
                _ => None,
            }
        } else {
            None
        };
        let compat = opt_bool(&opts, "compat");
        let limits = cache_limits(&opts)?;
        let storage = IdbStorage::open_with(&name, durability(&opts)).await.map_err(storage_error)?;
        let core = match Core::create(storage, CreateOptions { key_pair, manifest: None, compat }).await {
            Ok(core) => core,
            Err(e) => return Err(core_error(&e)),
        };
        Ok(Self::wrap(&name, core, limits))
    }

    /// Opens the core stored in the IndexedDB database `name` (`opts`: `{ strict?: boolean,
    /// packCacheBytes?: number, treeCachePages?: number }`). Rejects with `STORAGE_EMPTY` if
    /// there is none.
    pub async fn open(name: String, opts: JsValue) -> Result<JsHypercore, JsValue> {
        let limits = cache_limits(&opts)?;
        let storage = IdbStorage::open_with(&name, durability(&opts)).await.map_err(storage_error)?;
        let core = Core::open(storage).await.map_err(|e| core_error(&e))?;
        Ok(Self::wrap(&name, core, limits))
    }

    /// Deletes the IndexedDB database `name` (close the core first, or it is closed for you).
    #[wasm_bindgen(js_name = deleteStorage)]
    pub async fn delete_storage(name: String) -> Result<(), JsValue> {
        IdbStorage::delete_database(&name).await.map_err(storage_error)
    }

    /// Appends one block (`Uint8Array`) or several (`Uint8Array[]`) atomically; resolves with
    /// the core's length after these blocks. Concurrent calls are group-committed.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn append(&self, data: JsValue) -> Promise {
        if self.inner.head.borrow().closed {
            return Promise::reject(&closed());
        }
        let blocks = match blocks_of(&data) {
            Ok(b) => b,
            Err(e) => return Promise::reject(&e),
        };
        let (tx, rx) = oneshot::channel();
        self.inner.push(Job::Append { blocks, done: tx });
        future_to_promise(async move {
            match rx.await {
                Ok(Ok(length)) => Ok(JsValue::from_f64(length as f64)),
                Ok(Err(e)) => Err(core_error(&e)),
                Err(_) => Err(closed()),
            }
        })
    }

    /// Block `index`, or `null` when it is not stored locally (or beyond the length).
    /// Concurrent calls are served together (see the module docs).
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array | null>")]
    pub fn get(&self, index: f64) -> Promise {
        let index = match uint(index, "index") {
            Ok(i) => i,
            Err(e) => return Promise::reject(&e),
        };
        let (tx, rx) = oneshot::channel();
        self.inner.reads.borrow_mut().push((index, tx));
        if !self.inner.reading.replace(true) {
            spawn_local(read_loop(self.inner.clone()));
        }
        future_to_promise(async move {
            match rx.await {
                Ok(Ok(Some(block))) => Ok(Uint8Array::from(block.as_slice()).into()),
                Ok(Ok(None)) => Ok(JsValue::NULL),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(closed()),
            }
        })
    }

    /// Whether block `index` is stored locally.
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn has(&self, index: f64) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let index = uint(index, "index")?;
            let core = inner.lock_open().await?;
            Ok(JsValue::from_bool(core.has(index)))
        })
    }

    /// Truncates to `length`, bumping the fork (to `fork` if given) and re-signing the head.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn truncate(&self, length: f64, fork: Option<f64>) -> Promise {
        let (length, fork) = match (uint(length, "length"), fork.map(|f| uint(f, "fork")).transpose()) {
            (Ok(l), Ok(f)) => (l, f),
            (Err(e), _) | (_, Err(e)) => return Promise::reject(&e),
        };
        self.exclusive(Exclusive::Truncate { length, fork })
    }

    /// Drops the local data of blocks `start..end` (`end` defaults to `start + 1`); the tree
    /// and length stay.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn clear(&self, start: f64, end: Option<f64>) -> Promise {
        let (start, end) = match (uint(start, "start"), end.map(|e| uint(e, "end")).transpose()) {
            (Ok(s), Ok(e)) => (s, e.unwrap_or(s.saturating_add(1))),
            (Err(e), _) | (_, Err(e)) => return Promise::reject(&e),
        };
        self.exclusive(Exclusive::Clear { start, end })
    }

    /// Runs a mutation in its turn of the write queue (after earlier appends, before later
    /// ones) and refreshes the cached head whatever the outcome.
    fn exclusive(&self, op: Exclusive) -> Promise {
        let inner = self.inner.clone();
        let turn = inner.turn();
        future_to_promise(async move {
            let _turn = turn.wait().await;
            let mut core = inner.lock_open().await?;
            let (r, change) = match op {
                Exclusive::Truncate { length, fork } => {
                    let r = core.truncate(length, fork).await;
                    (r, LocalChange::Truncated { length: core.length(), fork: core.fork() })
                }
                Exclusive::Clear { start, end } => {
                    (core.clear(start, end).await, LocalChange::Cleared { start, end })
                }
            };
            inner.refresh(&core);
            drop(core);
            r.map_err(|e| core_error(&e))?;
            // Tell the connections, so peers learn of it.
            inner.shared.notify(change, 0);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `{ key, discoveryKey, length, contiguousLength, byteLength, fork, blocksStored, writable }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ key: Uint8Array, discoveryKey: Uint8Array, \
        length: number, contiguousLength: number, byteLength: number, fork: number, \
        blocksStored: number, writable: boolean }>")]
    pub fn info(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let core = inner.lock_open().await?;
            let i = core.info();
            let o = Object::new();
            set(&o, "key", Uint8Array::from(&i.key[..]).into());
            set(&o, "discoveryKey", Uint8Array::from(&i.discovery_key[..]).into());
            set(&o, "length", JsValue::from_f64(i.length as f64));
            set(&o, "contiguousLength", JsValue::from_f64(i.contiguous_length as f64));
            set(&o, "byteLength", JsValue::from_f64(i.byte_length as f64));
            set(&o, "fork", JsValue::from_f64(i.fork as f64));
            set(&o, "blocksStored", JsValue::from_f64(i.blocks_stored as f64));
            set(&o, "writable", JsValue::from_bool(i.writable));
            Ok(o.into())
        })
    }

    /// Waits for queued appends, ends every replication of this core (waiting until they
    /// have), then closes the database connection. Later calls reject with `SESSION_CLOSED`;
    /// closing twice is a no-op.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let inner = self.inner.clone();
        let turn = inner.turn();
        future_to_promise(async move {
            let _turn = turn.wait().await;
            // Connections first: they use the storage until they end.
            crate::replication::close_all(&inner).await;
            let core = inner.shared.lock().await;
            if !inner.closed.replace(true) {
                core.storage().storage().close();
            }
            drop(core);
            inner.head.borrow_mut().closed = true;
            // Wakes `whenLength` callers (their senders drop): they reject with SESSION_CLOSED.
            inner.length_waiters.borrow_mut().clear();
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The IndexedDB database name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The 32-byte core key.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> Uint8Array {
        Uint8Array::from(&self.inner.head.borrow().key[..])
    }

    /// The 32-byte discovery key.
    #[wasm_bindgen(getter, js_name = discoveryKey)]
    pub fn discovery_key(&self) -> Uint8Array {
        Uint8Array::from(&self.inner.head.borrow().discovery_key[..])
    }

    /// Number of blocks (as of the last completed write or download: while a replication
    /// runs, downloads refresh it within a task turn; `whenLength(n)` waits for it).
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> f64 {
        self.inner.head.borrow().length as f64
    }

    /// Total bytes of all blocks.
    #[wasm_bindgen(getter, js_name = byteLength)]
    pub fn byte_length(&self) -> f64 {
        self.inner.head.borrow().byte_length as f64
    }

    /// Fork id (bumped by every truncation).
    #[wasm_bindgen(getter)]
    pub fn fork(&self) -> f64 {
        self.inner.head.borrow().fork as f64
    }

    /// Whether this core can append (it holds the signing key pair and is open).
    #[wasm_bindgen(getter)]
    pub fn writable(&self) -> bool {
        let h = self.inner.head.borrow();
        h.writable && !h.closed
    }

    /// Whether `close()` completed.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.inner.head.borrow().closed
    }

    /// How many `get_many` groups `get` calls have used so far (read coalescing makes this
    /// smaller than the number of `get` calls when they are issued concurrently).
    #[wasm_bindgen(getter, js_name = readBatches)]
    pub fn read_batches(&self) -> f64 {
        self.inner.read_batches.get() as f64
    }

    /// The cache bounds in use: `{ packCacheBytes, treeCachePages }`.
    #[wasm_bindgen(js_name = cacheLimits, unchecked_return_type = "Promise<{ packCacheBytes: number, treeCachePages: number }>")]
    pub fn cache_limits(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let core = inner.lock_open().await?;
            let (packs, pages) = core.storage().cache_limits();
            let o = Object::new();
            set(&o, "packCacheBytes", JsValue::from_f64(packs as f64));
            set(&o, "treeCachePages", JsValue::from_f64(pages as f64));
            Ok(o.into())
        })
    }

    /// How many storage write batches appends have used so far (group commit makes this far
    /// smaller than the number of `append` calls when they are issued concurrently).
    #[wasm_bindgen(getter, js_name = appendBatches)]
    pub fn append_batches(&self) -> f64 {
        self.inner.append_batches.get() as f64
    }
}
