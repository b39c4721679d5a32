//! `class HyperbeeIterator` for JS: the async iterator behind `createReadStream`,
//! `createHistoryStream` and `createDiffStream` (and `peek`).
//!
//! ```js
//! for await (const { seq, key, value } of db.createReadStream({ gte: 'a', lt: 'b' })) …
//! for await (const { type, seq, key, value } of db.createHistoryStream({ reverse: true })) …
//! for await (const { left, right } of db.createDiffStream(oldVersion)) …
//! const it = db.createReadStream(); await it.next(); await it.return()   // by hand
//! ```
//!
//! Nothing is read until the first `next()`. The view is pinned to the bee's version at that
//! moment (a live history stream follows appends). Entries are decoded with the handle's (or
//! the call's) encodings. Reads that find their blocks in memory are served in runs: one
//! `next()` that has to wait also collects up to [`PREFETCH`] further entries that are
//! available at once, and the following `next()` calls return those without entering wasm's
//! async machinery.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use futures::future::{abortable, AbortHandle, LocalBoxFuture, Shared};
use futures::stream::LocalBoxStream;
use futures::{FutureExt, StreamExt};
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use wasm_bindgen_futures::spawn_local;

use crate::hyperbee::Fifo;

/// Entries collected ahead by one `next()` that had to wait.
pub const PREFETCH: usize = 256;

/// A stream of JS values (entries already decoded).
pub(crate) type JsStream = LocalBoxStream<'static, Result<JsValue, JsValue>>;

#[wasm_bindgen(inline_js = "export function hwAsyncIterable(o) {\
  const p = Object.getPrototypeOf(o);\
  if (!Object.prototype.hasOwnProperty.call(p, Symbol.asyncIterator)) {\
    Object.defineProperty(p, Symbol.asyncIterator, { value: function () { return this }, configurable: true, writable: true });\
  }\
  return o;\
}")]
extern "C" {
    /// Gives `o`'s class `[Symbol.asyncIterator]() { return this }` (once per class), so
    /// instances work with `for await`.
    #[wasm_bindgen(js_name = hwAsyncIterable)]
    pub(crate) fn async_iterable(o: &JsValue) -> JsValue;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_ITERABLE: &str = r#"
export interface HyperbeeIterator extends AsyncIterableIterator<any> {}
export interface HyperbeeWatcher extends AsyncIterableIterator<[Hyperbee, Hyperbee]> {}
"#;

struct State {
    stream: RefCell<Option<JsStream>>,
    ready: RefCell<VecDeque<JsValue>>,
    /// The stream failed: the error comes after the entries collected before it.
    failed: RefCell<Option<JsValue>>,
    ended: Cell<bool>,
    ops: Fifo,
    /// A read started while collecting ahead, finished by a background task (see `fill`).
    in_flight: RefCell<Option<(InFlight, AbortHandle)>>,
}

/// The background completion of a started read.
type InFlight = Shared<LocalBoxFuture<'static, ()>>;

/// `{ value, done }`.
pub(crate) fn step(value: &JsValue, done: bool) -> JsValue {
    crate::hyperbee::js::step(value, done)
}

/// An async iterator over a bee stream (JS: `HyperbeeIterator`).
#[wasm_bindgen(js_name = HyperbeeIterator)]
pub struct JsBeeIterator {
    st: Rc<State>,
}

impl JsBeeIterator {
    /// The JS iterator (with `Symbol.asyncIterator`) of `stream`.
    pub(crate) fn js(stream: JsStream) -> JsValue {
        let it = JsBeeIterator {
            st: Rc::new(State {
                stream: RefCell::new(Some(stream)),
                ready: RefCell::new(VecDeque::new()),
                failed: RefCell::new(None),
                ended: Cell::new(false),
                ops: Fifo::default(),
                in_flight: RefCell::new(None),
            }),
        };
        async_iterable(&it.into())
    }
}

impl State {
    /// Takes one item of the stream into `ready` / `failed` / `ended`; `false` once the
    /// stream is over (ended or failed).
    fn absorb(&self, item: Option<Result<JsValue, JsValue>>) -> bool {
        match item {
            Some(Ok(v)) => {
                self.ready.borrow_mut().push_back(v);
                true
            }
            Some(Err(e)) => {
                *self.failed.borrow_mut() = Some(e);
                false
            }
            None => {
                self.ended.set(true);
                false
            }
        }
    }

    /// Whether nothing more will come: ended, or the stream is gone with no read under way.
    fn exhausted(&self) -> bool {
        self.ended.get() || (self.stream.borrow().is_none() && self.in_flight.borrow().is_none())
    }

    /// Pulls one entry (waiting if needed) and then whatever else is ready at once. A read
    /// that has to wait (storage, network, a live stream's next append) while collecting
    /// ahead is finished by a background task, never parked: a half-polled read may hold the
    /// core's lock, and JS may not call `next()` again before it wrote to that core (a `for
    /// await` body that puts).
    async fn fill(self: &Rc<Self>) {
        let pending = self.in_flight.borrow().as_ref().map(|(f, _)| f.clone());
        if let Some(f) = pending {
            f.await;
            self.in_flight.borrow_mut().take();
            if !self.ready.borrow().is_empty() || self.failed.borrow().is_some() || self.ended.get() {
                return;
            }
        }
        let Some(mut stream) = self.stream.borrow_mut().take() else { return };
        let item = stream.next().await;
        if !self.absorb(item) {
            return;
        }
        while self.ready.borrow().len() < PREFETCH {
            match stream.next().now_or_never() {
                Some(item) => {
                    if !self.absorb(item) {
                        return;
                    }
                }
                None => {
                    let st = self.clone();
                    let (task, abort) = abortable(async move {
                        let item = stream.next().await;
                        if st.absorb(item) {
                            *st.stream.borrow_mut() = Some(stream);
                        }
                    });
                    let task = task.map(|_| ()).boxed_local().shared();
                    spawn_local(task.clone());
                    *self.in_flight.borrow_mut() = Some((task, abort));
                    return;
                }
            }
        }
        *self.stream.borrow_mut() = Some(stream);
    }

    /// The next `{ value, done }` if it is known without waiting.
    fn ready_step(&self) -> Option<Result<JsValue, JsValue>> {
        if let Some(v) = self.ready.borrow_mut().pop_front() {
            return Some(Ok(step(&v, false)));
        }
        if let Some(e) = self.failed.borrow_mut().take() {
            self.ended.set(true);
            return Some(Err(e));
        }
        if self.exhausted() {
            return Some(Ok(step(&JsValue::UNDEFINED, true)));
        }
        None
    }
}

#[wasm_bindgen(js_class = HyperbeeIterator)]
impl JsBeeIterator {
    /// The next entry: `{ value, done: false }`, or `{ value: undefined, done: true }` at the
    /// end. Calls resolve in call order.
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<any>>")]
    pub fn next(&self) -> Promise {
        let st = self.st.clone();
        // Fast path: no call in flight and an answer at hand.
        if st.ops.idle() {
            if let Some(r) = st.ready_step() {
                return match r {
                    Ok(v) => Promise::resolve(&v),
                    Err(e) => Promise::reject(&e),
                };
            }
        }
        let op = st.ops.ticket();
        future_to_promise(async move {
            let _turn = op.wait().await;
            if let Some(r) = st.ready_step() {
                return r;
            }
            st.fill().await;
            st.ready_step().unwrap_or_else(|| Ok(step(&JsValue::UNDEFINED, true)))
        })
    }

    /// Ends the iteration early (what `break` in `for await` calls); later `next()` calls
    /// report `done`.
    #[wasm_bindgen(js_name = "return", unchecked_return_type = "Promise<IteratorResult<any>>")]
    pub fn finish(&self, value: JsValue) -> Promise {
        self.st.stream.borrow_mut().take();
        if let Some((_, abort)) = self.st.in_flight.borrow_mut().take() {
            abort.abort(); // drops the stream and whatever read it had under way
        }
        self.st.ready.borrow_mut().clear();
        self.st.failed.borrow_mut().take();
        self.st.ended.set(true);
        Promise::resolve(&step(&value, true))
    }

    /// Every remaining entry, as an array.
    #[wasm_bindgen(js_name = toArray, unchecked_return_type = "Promise<any[]>")]
    pub fn to_array(&self) -> Promise {
        let st = self.st.clone();
        let op = st.ops.ticket();
        future_to_promise(async move {
            let _turn = op.wait().await;
            let out = js_sys::Array::new();
            loop {
                while let Some(v) = st.ready.borrow_mut().pop_front() {
                    out.push(&v);
                }
                if let Some(e) = st.failed.borrow_mut().take() {
                    st.ended.set(true);
                    return Err(e);
                }
                if st.exhausted() {
                    return Ok(out.into());
                }
                st.fill().await;
            }
        })
    }
}
