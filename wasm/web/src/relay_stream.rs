//! `class RelayStream` for JS: one encrypted connection through the relay (from
//! `relay.connect(key)` or a `RelayServer`), read and written as plaintext.
//!
//! ```js
//! await stream.write(new TextEncoder().encode('hello'))   // resolves when queued below 1 MiB
//! const chunk = await stream.read()                        // Uint8Array, or null at the end
//! for await (const chunk of stream) …                      // the same as an iterator
//! await stream.end()                                       // half-close; reading goes on
//! stream.destroy()                                         // close at once
//! await stream.closed                                      // settles when it is gone
//! core.replicate(stream)                                   // or: replicate a hypercore over it
//! ```
//!
//! Secret-stream runs here, from the Noise IK result of the handshake (the relay carries
//! only ciphertext); it starts at the first `read`/`write`/`end`/iteration, so a stream that
//! is handed to `Hypercore.replicate` first gives replication the ciphertext pipe instead
//! (replication runs its own secret-stream from the same handshake, as JS hypercore does
//! on a hyperdht socket).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::task::Poll;

use js_sys::{Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::bee_iterators::async_iterable;
use crate::error::bad_argument;
use crate::hypercore::set;
use crate::relay_client::address_js;
use crate::relay_socket::{flush, Driver, Fail, Mode, StreamCore, MAX_WRITE_CHUNK, WRITE_HIGH_WATER};

thread_local! {
    /// Live streams by handle, so `Hypercore.replicate(stream)` finds the Rust side.
    static HANDLES: RefCell<HashMap<u32, (Weak<Driver>, Weak<RefCell<StreamCore>>)>> = RefCell::new(HashMap::new());
    static NEXT_HANDLE: Cell<u32> = const { Cell::new(1) };
}

/// The driver and stream of a `RelayStream` handle (see [`RelayStream::handle`]).
pub(crate) fn lookup_handle(handle: u32) -> Option<(Rc<Driver>, Rc<RefCell<StreamCore>>)> {
    HANDLES.with(|h| {
        let map = h.borrow();
        let (d, s) = map.get(&handle)?;
        Some((d.upgrade()?, s.upgrade()?))
    })
}

#[wasm_bindgen(typescript_custom_section)]
const TS_STREAM: &str = r#"
export interface RelayStream extends AsyncIterable<Uint8Array> {}
"#;

/// One connection through the relay (see the module docs).
#[wasm_bindgen]
pub struct RelayStream {
    driver: Rc<Driver>,
    core: Rc<RefCell<StreamCore>>,
    handle: u32,
}

impl RelayStream {
    /// The JS object of a stream.
    pub(crate) fn wrap(driver: Rc<Driver>, core: Rc<RefCell<StreamCore>>) -> JsValue {
        let handle = NEXT_HANDLE.with(|n| {
            let h = n.get();
            n.set(h.wrapping_add(1).max(1));
            h
        });
        HANDLES.with(|h| {
            let mut map = h.borrow_mut();
            // Forget streams whose driver or state is gone.
            map.retain(|_, (d, s)| d.strong_count() > 0 && s.strong_count() > 0);
            map.insert(handle, (Rc::downgrade(&driver), Rc::downgrade(&core)));
        });
        async_iterable(&JsValue::from(RelayStream { driver, core, handle }))
    }

    fn start(&self) -> Result<(), JsValue> {
        let started = self.core.borrow_mut().start_secret();
        started.map_err(|e| e.to_js())?;
        self.driver.flush_stream(&self.core);
        Ok(())
    }

    /// The next plaintext message, `None` at the end.
    async fn read_next(driver: Rc<Driver>, core: Rc<RefCell<StreamCore>>) -> Result<Option<Vec<u8>>, Fail> {
        let item = futures::future::poll_fn(|cx| {
            let mut s = core.borrow_mut();
            if let Some(m) = s.plain_in.pop_front() {
                s.plain_bytes -= m.len();
                return Poll::Ready(Ok(Some(m)));
            }
            if let Some(e) = s.failure() {
                return Poll::Ready(Err(e));
            }
            if s.input_over() {
                return Poll::Ready(Ok(None));
            }
            s.wakers.push(cx.waker().clone());
            Poll::Pending
        })
        .await;
        // Grant credit back as the page reads.
        {
            let mut st = driver.st.borrow_mut();
            flush(&mut st, &mut core.borrow_mut());
        }
        driver.pump();
        item
    }
}

impl Drop for RelayStream {
    fn drop(&mut self) {
        HANDLES.with(|h| h.borrow_mut().remove(&self.handle));
    }
}

impl std::fmt::Debug for RelayStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayStream").field("id", &self.core.borrow().id).finish()
    }
}

#[wasm_bindgen]
impl RelayStream {
    /// Encrypts and queues `data` (a `Uint8Array` or a string, UTF-8); resolves once less
    /// than 1 MiB waits for the relay's credit. Rejects after `end()`/`destroy()` or when
    /// the stream failed (`.code`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn write(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] data: JsValue,
    ) -> Promise {
        let bytes = if let Some(s) = data.as_string() {
            s.into_bytes()
        } else if let Some(a) = data.dyn_ref::<Uint8Array>() {
            a.to_vec()
        } else {
            return Promise::reject(&bad_argument("write takes a Uint8Array or a string"));
        };
        if let Err(e) = self.start() {
            return Promise::reject(&e);
        }
        {
            let mut s = self.core.borrow_mut();
            if let Some(e) = s.failure() {
                return Promise::reject(&e.to_js());
            }
            if s.end_requested || s.closed.is_some() {
                return Promise::reject(&Fail::new("STREAM_CLOSED", "write after end or destroy").to_js());
            }
            if let Mode::Secret(secret) = &mut s.mode {
                for chunk in bytes.chunks(MAX_WRITE_CHUNK) {
                    if let Err(e) = secret.send(chunk) {
                        return Promise::reject(&Fail::new(e.code(), e.to_string()).to_js());
                    }
                }
                let out = secret.take_outgoing();
                s.raw_out.extend(out);
            }
        }
        self.driver.flush_stream(&self.core);
        let core = self.core.clone();
        future_to_promise(async move {
            futures::future::poll_fn(|cx| {
                let mut s = core.borrow_mut();
                if let Some(e) = s.failure() {
                    return Poll::Ready(Err(e.to_js()));
                }
                if s.raw_out.len() < WRITE_HIGH_WATER || s.closed.is_some() {
                    return Poll::Ready(Ok(JsValue::UNDEFINED));
                }
                s.wakers.push(cx.waker().clone());
                Poll::Pending
            })
            .await
        })
    }

    /// The next chunk the remote wrote (`Uint8Array`), or `null` once it ended its side.
    /// Rejects with the stream's error (`.code`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array | null>")]
    pub fn read(&self) -> Promise {
        if let Err(e) = self.start() {
            return Promise::reject(&e);
        }
        let (driver, core) = (self.driver.clone(), self.core.clone());
        future_to_promise(async move {
            match Self::read_next(driver, core).await {
                Ok(Some(m)) => Ok(Uint8Array::from(&m[..]).into()),
                Ok(None) => Ok(JsValue::NULL),
                Err(e) => Err(e.to_js()),
            }
        })
    }

    /// The iterator protocol over [`read`](Self::read).
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<Uint8Array>>")]
    pub fn next(&self) -> Promise {
        if let Err(e) = self.start() {
            return Promise::reject(&e);
        }
        let (driver, core) = (self.driver.clone(), self.core.clone());
        future_to_promise(async move {
            let o = Object::new();
            match Self::read_next(driver, core).await {
                Ok(Some(m)) => {
                    set(&o, "value", Uint8Array::from(&m[..]).into());
                    set(&o, "done", JsValue::FALSE);
                }
                Ok(None) => set(&o, "done", JsValue::TRUE),
                Err(e) => return Err(e.to_js()),
            }
            Ok(o.into())
        })
    }

    /// Half-closes the stream once every written byte is out; reading goes on until the
    /// remote ends too (then the relay closes the stream).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn end(&self) -> Promise {
        if let Err(e) = self.start() {
            return Promise::reject(&e);
        }
        self.core.borrow_mut().end_requested = true;
        self.driver.flush_stream(&self.core);
        Promise::resolve(&JsValue::UNDEFINED)
    }

    /// Closes the stream at once (unsent bytes are dropped).
    pub fn destroy(&self) {
        {
            let mut st = self.driver.st.borrow_mut();
            let mut s = self.core.borrow_mut();
            if s.closed.is_none() {
                let _ = st.client.stream_close(s.id);
                st.streams.remove(&s.id);
                s.closed = Some(String::new());
                s.raw_out.clear();
                s.wake();
            }
        }
        self.driver.pump();
    }

    /// Settles once the stream is gone: resolves after a clean close (both sides ended, or
    /// `destroy()`), rejects with the code otherwise (`ECONNRESET`, `SESSION_EXPIRED`, …).
    #[wasm_bindgen(getter, unchecked_return_type = "Promise<void>")]
    pub fn closed(&self) -> Promise {
        let core = self.core.clone();
        future_to_promise(async move {
            futures::future::poll_fn(|cx| {
                let mut s = core.borrow_mut();
                if s.closed.is_some() {
                    return Poll::Ready(match s.failure() {
                        Some(e) => Err(e.to_js()),
                        None => Ok(JsValue::UNDEFINED),
                    });
                }
                s.wakers.push(cx.waker().clone());
                Poll::Pending
            })
            .await
        })
    }

    /// The remote's public key.
    #[wasm_bindgen(getter, js_name = remotePublicKey)]
    pub fn remote_public_key(&self) -> Uint8Array {
        Uint8Array::from(&self.core.borrow().remote_public_key[..])
    }

    /// Our public key on this stream.
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Uint8Array {
        Uint8Array::from(&self.core.borrow().public_key[..])
    }

    /// The remote's address as the relay sees it: `{ host, port }`.
    #[wasm_bindgen(getter, js_name = remoteAddress, unchecked_return_type = "RelayAddress")]
    pub fn remote_address(&self) -> JsValue {
        address_js(&self.core.borrow().remote_address)
    }

    /// Whether secret-stream is up (both headers exchanged).
    #[wasm_bindgen(getter)]
    pub fn connected(&self) -> bool {
        self.core.borrow().connected
    }

    /// `{ bytesIn, bytesOut }`: ciphertext bytes through the relay.
    #[wasm_bindgen(unchecked_return_type = "{ bytesIn: number, bytesOut: number }")]
    pub fn stats(&self) -> Object {
        let s = self.core.borrow();
        let o = Object::new();
        set(&o, "bytesIn", JsValue::from_f64(s.bytes_in as f64));
        set(&o, "bytesOut", JsValue::from_f64(s.bytes_out as f64));
        o
    }

    /// An opaque number `Hypercore.replicate` uses to find this stream.
    #[wasm_bindgen(getter, js_name = relayHandle)]
    pub fn handle(&self) -> u32 {
        self.handle
    }
}
