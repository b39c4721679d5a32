//! `class HyperbeeBatch` for JS (`db.batch()`): puts and deletes collected in memory and
//! appended to the core together by `flush()`, byte-identical to a JS hyperbee batch of the
//! same operations.
//!
//! ```js
//! const b = db.batch()
//! await b.put('a', 1)
//! await b.del('b')
//! await b.get('a')        // sees the batch's own writes
//! await b.flush()         // one atomic append (one IndexedDB transaction)
//! ```
//!
//! The batch takes its turn in the bee's write order at its first operation (synchronously, so
//! writes issued before it go first) and holds it until `flush()` or `close()`: writes issued
//! on the bee meanwhile wait. Operations on the batch itself run in call order. After `flush`
//! or `close` the batch can be used again (a new turn at its next operation).

use std::cell::RefCell;
use std::rc::Rc;

use hyperwasm::bee::{Batch, Entry};
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::bee_codec::{absent, Codecs};
use crate::bee_writer::{WriteTicket, WriteTurn};
use crate::hyperbee::{bee_error, cas_of, encode_key, entry_object, CasCall, Fifo, Handle};
use crate::idb::IdbStorage;

/// A started batch: its turn in the bee's write order and the Rust batch.
struct Active {
    batch: Batch<IdbStorage>,
    _turn: WriteTurn,
}

struct State {
    h: Handle,
    codecs: Codecs,
    /// Call order of this batch's operations.
    ops: Fifo,
    /// The write ticket taken by the first operation, until that operation starts the batch.
    ticket: RefCell<Option<WriteTicket>>,
    /// Whether a write ticket was taken for the current round (until flush/close).
    holding: std::cell::Cell<bool>,
    active: RefCell<Option<Active>>,
}

impl State {
    /// Takes the write ticket if this is the first operation of a round (synchronously).
    fn claim(&self) {
        if !self.holding.replace(true) {
            *self.ticket.borrow_mut() = Some(self.h.root.ticket());
        }
    }

    /// The running Rust batch (started on first use), taken out for the operation.
    async fn take(&self) -> Result<Active, JsValue> {
        if let Some(a) = self.active.borrow_mut().take() {
            return Ok(a);
        }
        let ticket = self.ticket.borrow_mut().take();
        let turn = match ticket {
            Some(t) => t.wait().await,
            // Claimed by an earlier operation that failed before starting: take a new one.
            None => self.h.root.ticket().wait().await,
        };
        let bee = self.h.bee().await?;
        let batch = bee.batch().await.map_err(|e| bee_error(&e))?;
        Ok(Active { batch, _turn: turn })
    }

    fn put_back(&self, a: Active) {
        *self.active.borrow_mut() = Some(a);
    }

    /// Ends the round: releases the write turn (or gives up a ticket not used yet).
    fn end(&self) {
        self.active.borrow_mut().take();
        self.ticket.borrow_mut().take();
        self.holding.set(false);
    }
}

/// A write batch of a [`Hyperbee`](crate::hyperbee::JsHyperbee) (JS: `HyperbeeBatch`).
#[wasm_bindgen(js_name = HyperbeeBatch)]
pub struct JsHyperbeeBatch {
    st: Rc<State>,
}

impl JsHyperbeeBatch {
    pub(crate) fn new(h: Handle, codecs: Codecs) -> JsHyperbeeBatch {
        JsHyperbeeBatch {
            st: Rc::new(State {
                h,
                codecs,
                ops: Fifo::default(),
                ticket: RefCell::new(None),
                holding: std::cell::Cell::new(false),
                active: RefCell::new(None),
            }),
        }
    }
}

#[wasm_bindgen(js_class = HyperbeeBatch)]
impl JsHyperbeeBatch {
    /// Puts `key = value` in the batch. `opts`: `{ cas(prev, next), keyEncoding,
    /// valueEncoding }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn put(
        &self,
        key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "any")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeePutOptions")] opts: JsValue,
    ) -> Promise {
        let st = self.st.clone();
        let op = st.ops.ticket();
        st.claim();
        future_to_promise(async move {
            let _op = op.wait().await;
            st.h.root.check_open()?;
            let codecs = st.codecs.with(&opts)?;
            let k = encode_key(&codecs, &key)?;
            let v = if absent(&value) { None } else { Some(codecs.value.encode(&value, "value")?) };
            let cas = cas_of(&opts)?;
            let mut a = st.take().await?;
            let r = match &cas {
                Some(f) => {
                    let call =
                        CasCall { f, codecs: &codecs, key: &key, value: &value, error: RefCell::new(None) };
                    let check = |p: &Entry, n: &Entry| call.call(p, n);
                    let r = a.batch.put_with(&k, v.as_deref(), Some(&check)).await;
                    st.put_back(a);
                    call.take_error()?;
                    r
                }
                None => {
                    let r = a.batch.put_with(&k, v.as_deref(), None).await;
                    st.put_back(a);
                    r
                }
            };
            r.map_err(|e| bee_error(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Deletes `key` in the batch. `opts`: `{ cas(prev, next), keyEncoding }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn del(
        &self,
        key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeePutOptions")] opts: JsValue,
    ) -> Promise {
        let st = self.st.clone();
        let op = st.ops.ticket();
        st.claim();
        future_to_promise(async move {
            let _op = op.wait().await;
            st.h.root.check_open()?;
            let codecs = st.codecs.with(&opts)?;
            let k = encode_key(&codecs, &key)?;
            let cas = cas_of(&opts)?;
            let mut a = st.take().await?;
            let r = match &cas {
                Some(f) => {
                    let call = CasCall {
                        f,
                        codecs: &codecs,
                        key: &key,
                        value: &JsValue::NULL,
                        error: RefCell::new(None),
                    };
                    let check = |p: &Entry, n: &Entry| call.call(p, n);
                    let r = a.batch.del_with(&k, Some(&check)).await;
                    st.put_back(a);
                    call.take_error()?;
                    r
                }
                None => {
                    let r = a.batch.del_with(&k, None).await;
                    st.put_back(a);
                    r
                }
            };
            r.map_err(|e| bee_error(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The entry for `key` as the batch sees it (its own writes included), or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ seq: number, key: any, value: any } | null>")]
    pub fn get(
        &self,
        key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeEncodingOptions")] opts: JsValue,
    ) -> Promise {
        let st = self.st.clone();
        let op = st.ops.ticket();
        future_to_promise(async move {
            let _op = op.wait().await;
            st.h.root.check_open()?;
            let codecs = st.codecs.with(&opts)?;
            let k = encode_key(&codecs, &key)?;
            let active = st.active.borrow_mut().take();
            let found = match active {
                Some(mut a) => {
                    let r = a.batch.get(&k).await;
                    st.put_back(a);
                    r
                }
                None => st.h.bee().await?.get(&k).await,
            };
            match found.map_err(|e| bee_error(&e))? {
                Some(e) => entry_object(&e, &codecs, true),
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// Appends every block of the batch in one atomic append, then releases the bee's write
    /// order. Resolves at once for an empty batch.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        let st = self.st.clone();
        let op = st.ops.ticket();
        future_to_promise(async move {
            let _op = op.wait().await;
            let active = st.active.borrow_mut().take();
            let result = match active {
                Some(a) => {
                    let Active { batch, _turn } = a;
                    let r = batch.flush().await;
                    st.h.root.refresh().await;
                    drop(_turn);
                    r
                }
                None => Ok(()),
            };
            st.end();
            result.map_err(|e| bee_error(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Drops the batch's operations (nothing is written) and releases the write order.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let st = self.st.clone();
        let op = st.ops.ticket();
        future_to_promise(async move {
            let _op = op.wait().await;
            st.end();
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Number of operations waiting for `flush`.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> f64 {
        self.st.active.borrow().as_ref().map_or(0, |a| a.batch.len()) as f64
    }
}
