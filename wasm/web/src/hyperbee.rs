//! `class Hyperbee` for JS: the Rust Hyperbee ([`hyperwasm::bee`], byte-compatible with JS
//! hyperbee 2.27.3) on a JS [`Hypercore`](crate::hypercore::JsHypercore) in IndexedDB.
//!
//! ```js
//! import init, { Hypercore, Hyperbee } from 'hyperwasm-web'
//! await init()
//! const core = await Hypercore.create('my-bee')          // or Hypercore.open / openRemote
//! const db = new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: 'json' })
//! await db.put('a', { n: 1 })
//! const { seq, key, value } = await db.get('a')
//! for await (const { key, value } of db.createReadStream({ gte: 'a', lt: 'b' })) …
//! const b = db.batch(); await b.put('x', 1); await b.put('y', 2); await b.flush()
//! const users = db.sub('users', { valueEncoding: 'utf-8' })
//! ```
//!
//! The API follows JS hyperbee's names and argument shapes: `get(key, { wait })`,
//! `getBySeq(seq)`, `put(key, value, { cas })`, `del(key, { cas })`, `batch()`,
//! `createReadStream(range)`, `peek(range)`, `createHistoryStream(opts)`,
//! `createDiffStream(otherVersion, range)`, `sub(name, { sep, keyEncoding, valueEncoding })`,
//! `version`, `checkout(version)`, `snapshot()`, `watch(range)`, `getAndWatch(key)`,
//! `getHeader()`, `close()`, `Hyperbee.isHyperbee(core)`. Differences from JS:
//! - streams are async iterators (`for await`, `next()`, `return()`), not Node streams;
//! - `cas(prev, next)` must answer synchronously (a returned Promise is a `BAD_ARGUMENT`);
//! - the encodings are `binary` (default), `utf-8`, `json` or an `{ encode, decode }` object.
//!
//! # Ordering
//!
//! Writes (`put`, `del`, a batch from its first operation to `flush`/`close`) of one bee and
//! its subs and checkouts are applied **in call order** (JS hyperbee's mutex is FIFO too),
//! whatever order their promises are awaited in, and concurrent `put`/`del` calls are
//! group-committed without changing a byte (see [`crate::bee_writer`]). Reads pin the
//! version at the moment they run. After a write resolves, the core's `length` already
//! includes its blocks.
//!
//! Errors are JS `Error`s whose `.code` is [`BeeError::code`] (`SESSION_NOT_WRITABLE`,
//! `DECODING_ERROR`, `BLOCK_NOT_AVAILABLE`, `SNAPSHOT_NOT_AVAILABLE`, `BAD_ARGUMENT`,
//! `SESSION_CLOSED`, …).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{LocalBoxFuture, Shared};
use futures::FutureExt;
use hyperwasm::bee::{BeeError, BeeOptions, Entry, Header, Hyperbee, Metadata};
use js_sys::{Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

use crate::bee_batch::JsHyperbeeBatch;
use crate::bee_codec::{absent, bytes_or_string, field, Codec, Codecs};
use crate::bee_writer::{CasArgs, WriteOp, Writer};
use crate::error::{bad_argument, closed, js_error};
use crate::hypercore::{set, uint, Inner, JsHypercore};
use crate::idb::IdbStorage;

/// The Rust bee on IndexedDB.
pub(crate) type Bee = Hyperbee<IdbStorage>;

/// A bee handle being opened (or opened): awaiting it yields the Rust handle.
pub(crate) type Opening = Shared<LocalBoxFuture<'static, Result<Bee, JsValue>>>;

/// A [`BeeError`] as a JS `Error` with `.code`.
pub(crate) fn bee_error(e: &BeeError) -> JsValue {
    js_error(e.code(), &format!("{}: {e}", e.code()))
}

/// What every handle (main bee, subs, checkouts) of one opened bee shares.
pub(crate) struct Root {
    /// The JS core underneath.
    pub(crate) core: Rc<Inner>,
    /// Options the bee was opened with.
    pub(crate) opts: BeeOptions,
    /// The main bee (writes of every handle go through its batches).
    pub(crate) main: Opening,
    /// The write queue (see [`crate::bee_writer`]).
    pub(crate) writer: Writer,
    /// `close()` was called on the main bee.
    pub(crate) closed: Cell<bool>,
    /// Stop signals of running watchers (`close()` ends them).
    pub(crate) watchers: RefCell<Vec<oneshot::Sender<()>>>,
}

/// A first-in first-out turn order: [`Fifo::ticket`] (synchronous, so call order is turn
/// order), then [`Ticket::wait`] resolves once every earlier ticket's [`Turn`] was dropped.
/// A ticket must be waited for (dropping it unwaited would let the next one overtake the
/// previous holder); every caller here waits at once.
#[derive(Default)]
pub(crate) struct Fifo {
    last: RefCell<Option<oneshot::Receiver<()>>>,
}

/// A place in a [`Fifo`].
pub(crate) struct Ticket {
    prev: Option<oneshot::Receiver<()>>,
    mine: oneshot::Sender<()>,
}

/// Held while a turn runs; dropping it lets the next ticket go.
pub(crate) struct Turn {
    _mine: oneshot::Sender<()>,
}

impl Fifo {
    /// Whether every ticket taken so far has finished its turn.
    pub(crate) fn idle(&self) -> bool {
        let mut last = self.last.borrow_mut();
        match last.as_mut().map(|rx| rx.try_recv()) {
            None | Some(Err(_)) => {
                *last = None;
                true
            }
            Some(Ok(_)) => false,
        }
    }

    pub(crate) fn ticket(&self) -> Ticket {
        let (tx, rx) = oneshot::channel();
        let prev = self.last.replace(Some(rx));
        Ticket { prev, mine: tx }
    }
}

impl Ticket {
    pub(crate) async fn wait(self) -> Turn {
        if let Some(prev) = self.prev {
            // Ok or Canceled: either way the previous holder is done.
            let _ = prev.await;
        }
        Turn { _mine: self.mine }
    }
}

impl Root {
    /// `SESSION_CLOSED` once the bee or its core was closed.
    pub(crate) fn check_open(&self) -> Result<(), JsValue> {
        if self.closed.get() || self.core.closed.get() || self.core.head.borrow().closed {
            Err(closed())
        } else {
            Ok(())
        }
    }

    /// Registers a watcher's stop signal (fired by `close()`), forgetting ended ones.
    pub(crate) fn add_watcher(&self, stop: oneshot::Sender<()>) {
        let mut w = self.watchers.borrow_mut();
        w.retain(|s| !s.is_canceled());
        w.push(stop);
    }

    /// Copies the core's head into the JS `Hypercore` getters after a write.
    pub(crate) async fn refresh(&self) {
        if let Ok(core) = self.core.lock_open().await {
            self.core.refresh(&core);
        }
    }
}

/// One handle: the main bee, a sub or a checkout, with its encodings.
#[derive(Clone)]
pub(crate) struct Handle {
    pub(crate) bee: Opening,
    pub(crate) root: Rc<Root>,
    pub(crate) codecs: Codecs,
    /// The fixed version of a checkout or snapshot.
    pub(crate) checkout: Option<u64>,
    /// A sub-database (not the main bee).
    pub(crate) sub: bool,
    /// Separator for `sub()` of this handle.
    pub(crate) sep: Vec<u8>,
}

impl Handle {
    /// The Rust handle, once open.
    pub(crate) async fn bee(&self) -> Result<Bee, JsValue> {
        self.root.check_open()?;
        self.bee.clone().await
    }

    /// The Rust handle for a read with `opts.wait`.
    /// On a replica (a core we cannot write), a read of the live bee first waits until the
    /// connections are caught up with their peers, as JS hyperbee's reads call
    /// `core.update()`; `opts.update: false` skips that.
    pub(crate) async fn reader_bee(&self, opts: &JsValue) -> Result<Bee, JsValue> {
        let bee = self.bee().await?;
        if self.checkout.is_none()
            && !self.root.core.head.borrow().writable
            && field(opts, "update").as_bool() != Some(false)
        {
            bee.core().update().await;
            self.root.refresh().await;
        }
        // A per-call `{ wait }` is the same view (version, fork, sub, cache) reading with or
        // without waiting for missing blocks.
        Ok(match field(opts, "wait").as_bool() {
            Some(wait) => bee.with_wait(wait),
            None => bee,
        })
    }

    /// A handle of the same bee derived from this one by `f` (sub, checkout), opened lazily and
    /// driven at once so a checkout pins its snapshot now.
    fn derive(
        &self,
        codecs: Codecs,
        checkout: Option<u64>,
        sub: bool,
        f: impl FnOnce(Bee) -> LocalBoxFuture<'static, Bee> + 'static,
    ) -> Handle {
        let parent = self.bee.clone();
        let bee: Opening = async move { Ok(f(parent.await?).await) }.boxed_local().shared();
        spawn_local(bee.clone().map(|_| ()));
        Handle { bee, root: self.root.clone(), codecs, checkout, sub, sep: self.sep.clone() }
    }

    /// The current version (`max(1, length)`, or the checkout's).
    pub(crate) fn version(&self) -> u64 {
        match self.checkout {
            Some(v) => v.max(1),
            None => self.root.core.head.borrow().length.max(1),
        }
    }

    /// `{ seq, key, value }` of an entry with this handle's encodings (`codecs` overrides).
    pub(crate) fn entry(&self, e: &Entry, codecs: &Codecs) -> Result<JsValue, JsValue> {
        entry_object(e, codecs, true)
    }
}

/// `{ seq?, key, value }` (`value` null when absent).
pub(crate) fn entry_object(e: &Entry, codecs: &Codecs, with_seq: bool) -> Result<JsValue, JsValue> {
    let key = codecs.key.decode(&e.key)?;
    let value = match &e.value {
        Some(v) => codecs.value.decode(v)?,
        None => JsValue::NULL,
    };
    // One call into JS per object (an object literal there) instead of one per property.
    Ok(if with_seq { js::entry(e.seq as f64, &key, &value) } else { js::key_value(&key, &value) })
}

/// Object literals built in JS: much cheaper than `Reflect.set` per property from wasm (each
/// property name would be a new JS string), which matters for streams of many entries.
pub(crate) mod js {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen(inline_js = "\
export function hwEntry(seq, key, value) { return { seq, key, value } }\
export function hwKeyValue(key, value) { return { key, value } }\
export function hwHistory(type, seq, key, value) { return { type, seq, key, value } }\
export function hwDiff(left, right) { return { left, right } }\
export function hwStep(value, done) { return { value, done } }")]
    extern "C" {
        /// `{ seq, key, value }`.
        #[wasm_bindgen(js_name = hwEntry)]
        pub fn entry(seq: f64, key: &JsValue, value: &JsValue) -> JsValue;
        /// `{ key, value }`.
        #[wasm_bindgen(js_name = hwKeyValue)]
        pub fn key_value(key: &JsValue, value: &JsValue) -> JsValue;
        /// `{ type, seq, key, value }`.
        #[wasm_bindgen(js_name = hwHistory)]
        pub fn history(kind: &str, seq: f64, key: &JsValue, value: &JsValue) -> JsValue;
        /// `{ left, right }`.
        #[wasm_bindgen(js_name = hwDiff)]
        pub fn diff(left: &JsValue, right: &JsValue) -> JsValue;
        /// `{ value, done }` (an iterator result).
        #[wasm_bindgen(js_name = hwStep)]
        pub fn step(value: &JsValue, done: bool) -> JsValue;
    }
}

/// The JS `cas(prev, next)` of `opts`, if any.
pub(crate) fn cas_of(opts: &JsValue) -> Result<Option<js_sys::Function>, JsValue> {
    let cas = field(opts, "cas");
    if absent(&cas) {
        return Ok(None);
    }
    cas.dyn_into::<js_sys::Function>().map(Some).map_err(|_| bad_argument("cas must be a function"))
}

/// Calls a JS `cas(prev, next)` for the Rust bee: `prev` decoded with `codecs`, `next` with the
/// caller's own key and value (as JS hyperbee passes them). An exception or a non-boolean
/// promise answer is kept in `error` and vetoes the write.
pub(crate) struct CasCall<'a> {
    pub(crate) f: &'a js_sys::Function,
    pub(crate) codecs: &'a Codecs,
    pub(crate) key: &'a JsValue,
    pub(crate) value: &'a JsValue,
    pub(crate) error: RefCell<Option<JsValue>>,
}

impl CasCall<'_> {
    pub(crate) fn call(&self, prev: &Entry, next: &Entry) -> bool {
        if self.error.borrow().is_some() {
            return false;
        }
        let result = (|| -> Result<bool, JsValue> {
            let prev = entry_object(prev, self.codecs, true)?;
            let n = Object::new();
            set(&n, "seq", JsValue::from_f64(next.seq as f64));
            set(&n, "key", self.key.clone());
            set(&n, "value", if absent(self.value) { JsValue::NULL } else { self.value.clone() });
            let out = self.f.call2(&JsValue::UNDEFINED, &prev, &n.into())?;
            if out.is_instance_of::<Promise>()
                || js_sys::Reflect::has(&out, &JsValue::from_str("then")).unwrap_or(false)
            {
                return Err(bad_argument("cas must return a boolean synchronously (not a Promise)"));
            }
            Ok(out.is_truthy())
        })();
        match result {
            Ok(ok) => ok,
            Err(e) => {
                *self.error.borrow_mut() = Some(e);
                false
            }
        }
    }

    /// The error a cas call raised, if any.
    pub(crate) fn take_error(&self) -> Result<(), JsValue> {
        match self.error.borrow_mut().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Reads `{ keyEncoding, valueEncoding, metadata, readonly, sep, alwaysDuplicate, wait,
/// cacheBytes }`.
fn parse_open(opts: &JsValue) -> Result<(Codecs, BeeOptions), JsValue> {
    let codecs = Codecs::default().with(opts)?;
    let mut o = BeeOptions::default();
    let metadata = field(opts, "metadata");
    if !absent(&metadata) {
        let bytes = |name: &str| -> Result<Option<Vec<u8>>, JsValue> {
            let v = field(&metadata, name);
            if absent(&v) {
                Ok(None)
            } else {
                bytes_or_string(&v, &format!("metadata.{name}")).map(Some)
            }
        };
        o.metadata = Some(Metadata { content_feed: bytes("contentFeed")?, user_data: bytes("userData")? });
    }
    let flag = |name: &str, default: bool| -> Result<bool, JsValue> {
        let v = field(opts, name);
        if absent(&v) {
            Ok(default)
        } else {
            v.as_bool().ok_or_else(|| bad_argument(&format!("{name} must be a boolean")))
        }
    };
    o.readonly = flag("readonly", false)?;
    o.always_duplicate = flag("alwaysDuplicate", true)?;
    o.wait = flag("wait", true)?;
    let sep = field(opts, "sep");
    if !absent(&sep) {
        o.sep = bytes_or_string(&sep, "sep")?;
    }
    let cache = field(opts, "cacheBytes");
    if !absent(&cache) {
        let n = cache.as_f64().ok_or_else(|| bad_argument("cacheBytes must be a number"))?;
        o.cache_bytes = uint(n, "cacheBytes")? as usize;
    }
    Ok((codecs, o))
}

/// A Hyperbee on a JS `Hypercore` (JS: `Hyperbee`). See the [module docs](self).
#[wasm_bindgen(js_name = Hyperbee)]
pub struct JsHyperbee {
    pub(crate) h: Handle,
    /// Key of this handle in [`HANDLES`].
    id: u32,
}

thread_local! {
    /// Live JS handles by id, so a method given another `Hyperbee` object (JS
    /// `createDiffStream(otherBee)`) can reach its Rust handle (version *and* fork).
    static HANDLES: RefCell<std::collections::HashMap<u32, Opening>> = RefCell::new(Default::default());
    static NEXT_HANDLE: Cell<u32> = const { Cell::new(1) };
}

impl Drop for JsHyperbee {
    fn drop(&mut self) {
        HANDLES.with(|m| m.borrow_mut().remove(&self.id));
    }
}

/// The Rust handle of a JS `Hyperbee` object, if `value` is one that is still alive.
pub(crate) fn opening_of(value: &JsValue) -> Option<Opening> {
    let id = js_sys::Reflect::get(value, &JsValue::from_str("__handle")).ok()?.as_f64()? as u32;
    HANDLES.with(|m| m.borrow().get(&id).cloned())
}

#[wasm_bindgen(js_class = Hyperbee)]
impl JsHyperbee {
    /// Internal: this handle's id (lets another handle's method find it).
    #[wasm_bindgen(getter, js_name = __handle)]
    pub fn handle_id(&self) -> u32 {
        self.id
    }
}

impl JsHyperbee {
    /// A JS handle for `h`, registered in [`HANDLES`].
    fn register(h: Handle) -> JsHyperbee {
        let id = NEXT_HANDLE.with(|n| {
            let id = n.get();
            n.set(id.wrapping_add(1).max(1));
            id
        });
        HANDLES.with(|m| m.borrow_mut().insert(id, h.bee.clone()));
        JsHyperbee { h, id }
    }

    fn start(core: &JsHypercore, opts: &JsValue) -> Result<JsHyperbee, JsValue> {
        let (codecs, bee_opts) = parse_open(opts)?;
        let inner = core.inner.clone();
        if inner.head.borrow().closed {
            return Err(closed());
        }
        let shared = inner.shared.clone();
        let o = bee_opts.clone();
        let bee: Opening =
            async move { Hyperbee::open(shared, o).await.map_err(|e| bee_error(&e)) }.boxed_local().shared();
        spawn_local(bee.clone().map(|_| ()));
        let sep = bee_opts.sep.clone();
        let root = Rc::new(Root {
            core: inner,
            opts: bee_opts,
            main: bee.clone(),
            writer: Writer::default(),
            closed: Cell::new(false),
            watchers: RefCell::new(Vec::new()),
        });
        Ok(JsHyperbee::register(Handle { bee, root, codecs, checkout: None, sub: false, sep }))
    }

    /// Encodes a `put`/`del` now and queues it (see [`crate::bee_writer`]).
    fn queue_write(&self, key: JsValue, value: JsValue, opts: JsValue, del: bool) -> Promise {
        let h = &self.h;
        let (tx, rx) = oneshot::channel();
        let prepared = (move || -> Result<WriteOp, JsValue> {
            h.root.check_open()?;
            let codecs = h.codecs.with(&opts)?;
            let k = encode_key(&codecs, &key)?;
            let v = if del || absent(&value) { None } else { Some(codecs.value.encode(&value, "value")?) };
            let cas = cas_of(&opts)?.map(|f| CasArgs { f, codecs, key: key.clone(), value: value.clone() });
            Ok(WriteOp { bee: h.bee.clone(), key: k, value: v, del, cas, done: tx })
        })();
        match prepared {
            Ok(op) => h.root.write(op),
            Err(e) => return Promise::reject(&e),
        }
        promise(async move {
            match rx.await {
                Ok(Ok(())) => Ok(JsValue::UNDEFINED),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(closed()),
            }
        })
    }

    pub(crate) fn from_handle(h: Handle) -> JsHyperbee {
        JsHyperbee::register(h)
    }

    /// A JS handle for a Rust handle of the same bee (watch snapshots).
    pub(crate) fn wrap_bee(like: &Handle, bee: Bee, version: u64, codecs: Codecs) -> JsHyperbee {
        let opening: Opening = futures::future::ready(Ok(bee)).boxed_local().shared();
        JsHyperbee::register(Handle {
            bee: opening,
            root: like.root.clone(),
            codecs,
            checkout: Some(version),
            sub: like.sub,
            sep: like.sep.clone(),
        })
    }
}

/// Runs `f` and turns its result into a promise.
fn promise<F>(f: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue, JsValue>> + 'static,
{
    future_to_promise(f)
}

#[wasm_bindgen(js_class = Hyperbee)]
impl JsHyperbee {
    /// `new Hyperbee(core, opts)`: a bee on the JS `Hypercore` `core` (empty: the first write
    /// appends the header block; or a core holding a bee, local or replicated).
    ///
    /// `opts`: `{ keyEncoding, valueEncoding, metadata: { contentFeed, userData }, readonly,
    /// sep, alwaysDuplicate = true, wait = true, cacheBytes }`. Throws `BAD_ARGUMENT` for bad
    /// options, `SESSION_CLOSED` for a closed core.
    #[wasm_bindgen(constructor)]
    pub fn new(
        core: &JsHypercore,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeOptions")] opts: JsValue,
    ) -> Result<JsHyperbee, JsValue> {
        JsHyperbee::start(core, &opts)
    }

    /// `await Hyperbee.open(core, opts)`: `new Hyperbee(core, opts)` that resolves once ready.
    #[wasm_bindgen(unchecked_return_type = "Promise<Hyperbee>")]
    pub fn open(
        core: &JsHypercore,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeOptions")] opts: JsValue,
    ) -> Promise {
        match JsHyperbee::start(core, &opts) {
            Ok(db) => promise(async move {
                db.h.bee().await?;
                Ok(db.into())
            }),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Waits until the core's connections are caught up with their peers and resolves with the
    /// bee's version (JS `db.update()`; reads of a replica do this by themselves).
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn update(&self) -> Promise {
        let h = self.h.clone();
        promise(async move {
            let bee = h.bee().await?;
            bee.core().update().await;
            h.root.refresh().await;
            Ok(JsValue::from_f64(h.version() as f64))
        })
    }

    /// Resolves once the bee is open (JS `db.ready()`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn ready(&self) -> Promise {
        let h = self.h.clone();
        promise(async move {
            h.bee().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Whether block 0 of `core` is a hyperbee header (`BLOCK_NOT_AVAILABLE` for an empty
    /// core, as JS).
    #[wasm_bindgen(js_name = isHyperbee, unchecked_return_type = "Promise<boolean>")]
    pub fn is_hyperbee(core: &JsHypercore) -> Promise {
        let shared = core.inner.shared.clone();
        promise(async move {
            let yes = Hyperbee::is_hyperbee(&shared).await.map_err(|e| bee_error(&e))?;
            Ok(JsValue::from_bool(yes))
        })
    }

    /// `max(1, core.length)`, or the version of a checkout/snapshot.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> f64 {
        self.h.version() as f64
    }

    /// The JS `Hypercore` underneath (the same core; closing it closes the bee).
    #[wasm_bindgen(getter)]
    pub fn core(&self) -> JsHypercore {
        JsHypercore { inner: self.h.root.core.clone() }
    }

    /// The core key.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> Uint8Array {
        Uint8Array::from(&self.h.root.core.head.borrow().key[..])
    }

    /// The core's discovery key.
    #[wasm_bindgen(getter, js_name = discoveryKey)]
    pub fn discovery_key(&self) -> Uint8Array {
        Uint8Array::from(&self.h.root.core.head.borrow().discovery_key[..])
    }

    /// Whether puts are possible (writable core, not read-only, not a checkout).
    #[wasm_bindgen(getter)]
    pub fn writable(&self) -> bool {
        let head = self.h.root.core.head.borrow();
        head.writable && !head.closed && !self.h.root.opts.readonly && self.h.checkout.is_none()
    }

    /// Always `true` until closed (reads of missing blocks wait for peers or fail).
    #[wasm_bindgen(getter)]
    pub fn readable(&self) -> bool {
        self.h.root.check_open().is_ok()
    }

    /// How many appends this bee's `put`/`del` calls have used so far (concurrent calls are
    /// group-committed, so this is smaller than the number of calls; batches not included).
    #[wasm_bindgen(getter, js_name = appendBatches)]
    pub fn append_batches(&self) -> f64 {
        self.h.root.writer.appends.get() as f64
    }

    /// Whether this handle is a checkout or snapshot.
    #[wasm_bindgen(getter, js_name = isCheckout)]
    pub fn is_checkout(&self) -> bool {
        self.h.checkout.is_some()
    }

    /// The entry for `key`: `{ seq, key, value }`, or `null`.
    ///
    /// `opts`: `{ wait = true, keyEncoding, valueEncoding }`; `wait: false` fails with
    /// `BLOCK_NOT_AVAILABLE` instead of fetching a missing block from peers.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ seq: number, key: any, value: any } | null>")]
    pub fn get(
        &self,
        key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeGetOptions")] opts: JsValue,
    ) -> Promise {
        let h = self.h.clone();
        promise(async move {
            let codecs = h.codecs.with(&opts)?;
            let k = encode_key(&codecs, &key)?;
            let bee = h.reader_bee(&opts).await?;
            match bee.get(&k).await.map_err(|e| bee_error(&e))? {
                Some(e) => h.entry(&e, &codecs),
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// `{ key, value }` of the entry block `seq` wrote (a deletion has `value: null`).
    #[wasm_bindgen(js_name = getBySeq, unchecked_return_type = "Promise<{ key: any, value: any }>")]
    pub fn get_by_seq(
        &self,
        seq: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeGetOptions")] opts: JsValue,
    ) -> Promise {
        let h = self.h.clone();
        promise(async move {
            let seq = uint(seq, "seq")?;
            let codecs = h.codecs.with(&opts)?;
            let bee = h.reader_bee(&opts).await?;
            let e = bee.get_by_seq(seq).await.map_err(|e| bee_error(&e))?;
            entry_object(&e, &codecs, false)
        })
    }

    /// Puts `key = value` (one block). `value` `undefined`/`null` stores a key without value.
    /// `opts`: `{ cas(prev, next) → boolean, keyEncoding, valueEncoding }`: with `cas`, an
    /// existing key is only replaced when it returns true. Concurrent calls are group-committed
    /// (see [`crate::bee_writer`]); call order is write order.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn put(
        &self,
        key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "any")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeePutOptions")] opts: JsValue,
    ) -> Promise {
        self.queue_write(key, value, opts, false)
    }

    /// Deletes `key` (nothing is written when it is absent). `opts`: `{ cas(prev, next),
    /// keyEncoding }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn del(
        &self,
        key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeePutOptions")] opts: JsValue,
    ) -> Promise {
        self.queue_write(key, JsValue::NULL, opts, true)
    }

    /// A write batch (JS `db.batch()`): `put`/`del`/`get` on it, then `flush()` appends all its
    /// blocks at once (or `close()` drops them). It takes its turn in the write order at its
    /// first operation and holds it until `flush`/`close`.
    pub fn batch(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeEncodingOptions")] opts: JsValue,
    ) -> Result<JsHyperbeeBatch, JsValue> {
        let codecs = self.h.codecs.with(&opts)?;
        Ok(JsHyperbeeBatch::new(self.h.clone(), codecs))
    }

    /// A sub-database: keys `prefix ‖ name ‖ sep ‖ key` in the same tree. `opts`: `{ sep,
    /// keyEncoding, valueEncoding }` (inherited from this handle when not given).
    pub fn sub(
        &self,
        name: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeSubOptions")] opts: JsValue,
    ) -> Result<JsHyperbee, JsValue> {
        let name = bytes_or_string(&name, "sub name")?;
        let sep_v = field(&opts, "sep");
        let sep = if absent(&sep_v) { self.h.sep.clone() } else { bytes_or_string(&sep_v, "sep")? };
        let codecs = self.h.codecs.with(&opts)?;
        let checkout = self.h.checkout;
        Ok(JsHyperbee::from_handle(self.h.derive(codecs, checkout, true, move |bee| {
            async move { bee.sub(&name, Some(&sep)) }.boxed_local()
        })))
    }

    /// This bee as of `version` (a read-only view; 0 reads as 1). `opts`: `{ keyEncoding,
    /// valueEncoding }`.
    pub fn checkout(
        &self,
        version: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeEncodingOptions")] opts: JsValue,
    ) -> Result<JsHyperbee, JsValue> {
        let version = uint(version, "version")?.max(1);
        let codecs = self.h.codecs.with(&opts)?;
        Ok(JsHyperbee::from_handle(self.h.derive(codecs, Some(version), self.h.sub, move |bee| {
            async move { bee.checkout(version).await }.boxed_local()
        })))
    }

    /// A checkout of the current version.
    pub fn snapshot(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeEncodingOptions")] opts: JsValue,
    ) -> Result<JsHyperbee, JsValue> {
        self.checkout(self.h.version() as f64, opts)
    }

    /// The header block: `{ protocol, metadata: { contentFeed, userData } | null }`, or `null`
    /// for an empty core.
    #[wasm_bindgen(js_name = getHeader, unchecked_return_type = "Promise<{ protocol: string, metadata: { contentFeed: Uint8Array | null, userData: Uint8Array | null } | null } | null>")]
    pub fn get_header(&self) -> Promise {
        let h = self.h.clone();
        promise(async move {
            let bee = h.reader_bee(&JsValue::UNDEFINED).await?;
            match bee.header().await.map_err(|e| bee_error(&e))? {
                Some(header) => Ok(header_object(&header)),
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// Closes the bee: ends its watchers and, for the main bee, closes the core (as JS
    /// hyperbee does). Closing a sub or checkout only ends that handle's use.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let h = self.h.clone();
        if h.sub || h.checkout.is_some() {
            return Promise::resolve(&JsValue::UNDEFINED);
        }
        // After the writes issued before close.
        let ticket = h.root.ticket();
        promise(async move {
            let _turn = ticket.wait().await;
            h.root.closed.set(true);
            for stop in h.root.watchers.borrow_mut().drain(..) {
                let _ = stop.send(());
            }
            let core = JsHypercore { inner: h.root.core.clone() };
            wasm_bindgen_futures::JsFuture::from(core.close()).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// A key through `codecs.key` (`BAD_ARGUMENT` for `undefined`/`null`).
pub(crate) fn encode_key(codecs: &Codecs, key: &JsValue) -> Result<Vec<u8>, JsValue> {
    if absent(key) {
        return Err(bad_argument("key must not be null or undefined"));
    }
    codecs.key.encode(key, "key")
}

/// A range bound through `codec` (`None` for `undefined`/`null`).
pub(crate) fn encode_bound(codec: &Codec, range: &JsValue, name: &str) -> Result<Option<Vec<u8>>, JsValue> {
    let v = field(range, name);
    if absent(&v) {
        Ok(None)
    } else {
        codec.encode(&v, name).map(Some)
    }
}

fn header_object(header: &Header) -> JsValue {
    let o = Object::new();
    set(&o, "protocol", JsValue::from_str(&header.protocol));
    let metadata = match &header.metadata {
        Some(m) => {
            let mo = Object::new();
            let bytes =
                |b: &Option<Vec<u8>>| b.as_ref().map_or(JsValue::NULL, |b| Uint8Array::from(&b[..]).into());
            set(&mo, "contentFeed", bytes(&m.content_feed));
            set(&mo, "userData", bytes(&m.user_data));
            mo.into()
        }
        None => JsValue::NULL,
    };
    set(&o, "metadata", metadata);
    o.into()
}
