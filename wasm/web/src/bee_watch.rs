//! Watching a JS `Hyperbee`: `db.watch(range)` (`class HyperbeeWatcher`, an async iterator of
//! `[current, previous]` snapshots each time entries in the range changed) and
//! `db.getAndWatch(key)` (`class HyperbeeEntryWatcher`: `.node` kept current, `update` events).
//!
//! ```js
//! for await (const [current, previous] of db.watch({ gte: 'a', lt: 'b' })) {
//!   for await (const { left, right } of current.createDiffStream(previous.version)) …
//! }
//! const w = await db.getAndWatch('config'); w.node; w.on('update', () => render(w.node)); await w.close()
//! ```
//!
//! Both follow every change of the core (local writes, downloads of a replica, truncations)
//! and stop when closed or when the bee is closed.

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{select, Either, LocalBoxFuture};
use futures::FutureExt;
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

use crate::bee_codec::Codecs;
use crate::bee_iterators::{async_iterable, step};
use crate::bee_streams::range_options;
use crate::error::bad_argument;
use crate::hyperbee::{bee_error, encode_key, entry_object, Bee, Fifo, Handle, JsHyperbee};
use crate::idb::IdbStorage;

type RustWatcher = hyperwasm::bee::Watcher<IdbStorage>;
type RustEntryWatcher = hyperwasm::bee::EntryWatcher<IdbStorage>;

struct WatchState {
    h: Handle,
    codecs: Codecs,
    watcher: RefCell<Option<RustWatcher>>,
    /// Resolves when `close()` (or the bee's `close()`) is called: ends a waiting `next()`.
    stop: RefCell<Option<LocalBoxFuture<'static, ()>>>,
    /// Fires `stop` (this watcher's `close()`).
    close: RefCell<Option<oneshot::Sender<()>>>,
    closed: std::cell::Cell<bool>,
    /// Opening failed (watching a checkout): the first `next()` rejects with it.
    failed: RefCell<Option<JsValue>>,
    ops: Fifo,
}

/// The async iterator of `db.watch(range)` (JS: `HyperbeeWatcher`).
#[wasm_bindgen(js_name = HyperbeeWatcher)]
pub struct JsBeeWatcher {
    st: Rc<WatchState>,
}

impl JsBeeWatcher {
    fn end(&self) {
        self.st.closed.set(true);
        self.st.watcher.borrow_mut().take();
        if let Some(close) = self.st.close.borrow_mut().take() {
            let _ = close.send(());
        }
    }
}

#[wasm_bindgen(js_class = HyperbeeWatcher)]
impl JsBeeWatcher {
    /// Waits for the next change in the range: `{ value: [current, previous], done: false }`
    /// (two read-only snapshots), or `{ done: true }` once closed.
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<[Hyperbee, Hyperbee]>>")]
    pub fn next(&self) -> Promise {
        let st = self.st.clone();
        let op = st.ops.ticket();
        future_to_promise(async move {
            let _turn = op.wait().await;
            if let Some(e) = st.failed.borrow_mut().take() {
                st.watcher.borrow_mut().take();
                return Err(e);
            }
            let Some(mut w) = st.watcher.borrow_mut().take() else {
                return Ok(step(&JsValue::UNDEFINED, true));
            };
            let stop = st.stop.borrow_mut().take();
            let next = Box::pin(w.next());
            let (got, stop) = match stop {
                Some(stop) => match select(next, stop).await {
                    Either::Left((got, stop)) => (Some(got), Some(stop)),
                    Either::Right(_) => (None, None),
                },
                None => (Some(next.await), None),
            };
            let Some(got) = got else {
                st.closed.set(true);
                return Ok(step(&JsValue::UNDEFINED, true));
            };
            let got = got.map_err(|e| bee_error(&e))?;
            *st.stop.borrow_mut() = stop;
            let Some((current, previous)) = got else {
                st.closed.set(true);
                return Ok(step(&JsValue::UNDEFINED, true));
            };
            if !st.closed.get() {
                *st.watcher.borrow_mut() = Some(w);
            }
            let wrap = |bee: Bee| async {
                let version = bee.version().await;
                JsValue::from(JsHyperbee::wrap_bee(&st.h, bee, version, st.codecs.clone()))
            };
            let pair = Array::of2(&wrap(current).await, &wrap(previous).await);
            Ok(step(&pair.into(), false))
        })
    }

    /// Stops watching (what `break` in `for await` calls).
    #[wasm_bindgen(js_name = "return", unchecked_return_type = "Promise<IteratorResult<any>>")]
    pub fn finish(&self, value: JsValue) -> Promise {
        self.end();
        Promise::resolve(&step(&value, true))
    }

    /// Stops watching; a waiting `next()` resolves with `done: true`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        self.end();
        Promise::resolve(&JsValue::UNDEFINED)
    }
}

struct EntryState {
    codecs: Codecs,
    node: RefCell<JsValue>,
    listeners: RefCell<Vec<Function>>,
    error_listeners: RefCell<Vec<Function>>,
    stop: RefCell<Option<oneshot::Sender<()>>>,
}

/// `db.getAndWatch(key)` (JS: an EntryWatcher): `.node` is the entry as of the latest change.
#[wasm_bindgen(js_name = HyperbeeEntryWatcher)]
pub struct JsBeeEntryWatcher {
    st: Rc<EntryState>,
}

#[wasm_bindgen(js_class = HyperbeeEntryWatcher)]
impl JsBeeEntryWatcher {
    /// The entry (`{ seq, key, value }`) or `null`.
    #[wasm_bindgen(getter, unchecked_return_type = "{ seq: number, key: any, value: any } | null")]
    pub fn node(&self) -> JsValue {
        self.st.node.borrow().clone()
    }

    /// `on('update', fn)`: `fn()` after `.node` changed; `on('error', fn)`: `fn(err)` when a
    /// read failed. Returns the watcher.
    pub fn on(&self, event: String, f: Function) -> Result<JsBeeEntryWatcher, JsValue> {
        match event.as_str() {
            "update" => self.st.listeners.borrow_mut().push(f),
            "error" => self.st.error_listeners.borrow_mut().push(f),
            other => return Err(bad_argument(&format!("no event '{other}' (update, error)"))),
        }
        Ok(JsBeeEntryWatcher { st: self.st.clone() })
    }

    /// Removes a listener added with `on`.
    pub fn off(&self, event: String, f: Function) {
        let list = if event == "error" { &self.st.error_listeners } else { &self.st.listeners };
        list.borrow_mut().retain(|g| g != &f);
    }

    /// Stops watching.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        if let Some(stop) = self.st.stop.borrow_mut().take() {
            let _ = stop.send(());
        }
        self.st.listeners.borrow_mut().clear();
        self.st.error_listeners.borrow_mut().clear();
        Promise::resolve(&JsValue::UNDEFINED)
    }
}

async fn follow(st: Rc<EntryState>, mut w: RustEntryWatcher, stop: oneshot::Receiver<()>) {
    let mut stop = stop;
    loop {
        let changed = Box::pin(w.changed());
        let r = match select(changed, stop).await {
            Either::Left((r, s)) => {
                stop = s;
                r
            }
            Either::Right(_) => return,
        };
        match r {
            Ok(now) => {
                let node = match &now {
                    Some(e) => entry_object(e, &st.codecs, true),
                    None => Ok(JsValue::NULL),
                };
                match node {
                    Ok(n) => {
                        *st.node.borrow_mut() = n;
                        let listeners = st.listeners.borrow().clone();
                        for f in listeners {
                            let _ = f.call0(&JsValue::UNDEFINED);
                        }
                    }
                    Err(e) => emit_error(&st, &e),
                }
            }
            Err(e) => emit_error(&st, &bee_error(&e)),
        }
    }
}

fn emit_error(st: &EntryState, e: &JsValue) {
    let listeners = st.error_listeners.borrow().clone();
    for f in listeners {
        let _ = f.call1(&JsValue::UNDEFINED, e);
    }
}

#[wasm_bindgen(js_class = Hyperbee)]
impl JsHyperbee {
    /// Watches `range` (`{ gt, gte, lt, lte }` in the key encoding): an async iterator yielding
    /// `[current, previous]` snapshots whenever entries in the range changed. `opts`:
    /// `{ keyEncoding, valueEncoding }` for the snapshots.
    #[wasm_bindgen(unchecked_return_type = "HyperbeeWatcher")]
    pub fn watch(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeRange")] range: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeEncodingOptions")] opts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let opts = crate::bee_streams::merge(&range, &opts);
        let codecs = self.h.codecs.with(&opts)?;
        let ro = range_options(&codecs.key, &opts)?;
        let (bee_tx, bee_rx) = oneshot::channel();
        self.h.root.add_watcher(bee_tx);
        let (close_tx, close_rx) = oneshot::channel::<()>();
        let stop = async move {
            let _ = select(bee_rx, close_rx).await;
        }
        .boxed_local();
        let st = Rc::new(WatchState {
            h: self.h.clone(),
            codecs,
            watcher: RefCell::new(None),
            stop: RefCell::new(Some(stop)),
            close: RefCell::new(Some(close_tx)),
            closed: std::cell::Cell::new(false),
            failed: RefCell::new(None),
            ops: Fifo::default(),
        });
        // Open now (the watch starts from the current version), in the background.
        let h = self.h.clone();
        let st2 = st.clone();
        let ticket = st.ops.ticket();
        spawn_local(async move {
            let _turn = ticket.wait().await;
            if let Ok(bee) = h.bee().await {
                let mut w = bee.watch(ro);
                // The baseline: the version now (a checkout cannot be watched: next() fails).
                let ready = w.ready().await;
                if !st2.closed.get() {
                    if let Err(e) = ready {
                        *st2.failed.borrow_mut() = Some(bee_error(&e));
                    }
                    *st2.watcher.borrow_mut() = Some(w);
                }
            }
        });
        Ok(async_iterable(&JsBeeWatcher { st }.into()))
    }

    /// The entry of `key` now, kept current: resolves with a `HyperbeeEntryWatcher` whose
    /// `.node` follows every change of `key` (`on('update', fn)` to hear about them).
    #[wasm_bindgen(js_name = getAndWatch, unchecked_return_type = "Promise<HyperbeeEntryWatcher>")]
    pub fn get_and_watch(
        &self,
        key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeEncodingOptions")] opts: JsValue,
    ) -> Promise {
        let h = self.h.clone();
        future_to_promise(async move {
            let codecs = h.codecs.with(&opts)?;
            let k = encode_key(&codecs, &key)?;
            let bee = h.bee().await?;
            let w = bee.get_and_watch(&k).await.map_err(|e| bee_error(&e))?;
            let node = match w.node() {
                Some(e) => entry_object(&e, &codecs, true)?,
                None => JsValue::NULL,
            };
            let (tx, rx) = oneshot::channel();
            let (bee_tx, bee_rx) = oneshot::channel::<()>();
            h.root.add_watcher(bee_tx);
            let st = Rc::new(EntryState {
                codecs,
                node: RefCell::new(node),
                listeners: RefCell::new(Vec::new()),
                error_listeners: RefCell::new(Vec::new()),
                stop: RefCell::new(Some(tx)),
            });
            // Either the watcher's close() or the bee's close() stops it.
            let stop = async move {
                let _ = select(rx, bee_rx).await;
            };
            let (stop_tx, stop_rx) = oneshot::channel();
            spawn_local(async move {
                stop.await;
                let _ = stop_tx.send(());
            });
            spawn_local(follow(st.clone(), w, stop_rx));
            Ok(JsBeeEntryWatcher { st }.into())
        })
    }
}
