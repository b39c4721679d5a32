//! `class RelayServer` for JS: a HyperDHT server of this page, hosted on the relay's node
//! (from `relay.listen(keyPair, opts)`); clients reach it by its public key.
//!
//! ```js
//! const server = await relay.listen(keyPair, { firewall: (key, addr) => false })
//! server.relayAddresses                      // the DHT nodes routing handshakes to it
//! for await (const stream of server) …       // each connection: a RelayStream
//! const stream = await server.accept()       // or one at a time (null once closed)
//! await server.close()
//! ```
//!
//! The page answers every handshake itself (Noise IK responder, firewall), the relay only
//! routes it. With `opts.onconnection` set, connections go to that callback instead.

use std::rc::Rc;
use std::task::Poll;

use futures::channel::oneshot;
use hyperwasm::relay_protocol::client::ServerId;
use js_sys::{Array, Object, Promise, Uint8Array};
use std::net::SocketAddrV4;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::bee_iterators::async_iterable;
use crate::hypercore::set;
use crate::relay_client::address_js;
use crate::relay_socket::{Driver, Fail};
use crate::relay_stream::RelayStream;

#[wasm_bindgen(typescript_custom_section)]
const TS_SERVER: &str = r#"
export interface RelayServer extends AsyncIterableIterator<RelayStream> {}
"#;

/// A server of this page (see the module docs).
#[wasm_bindgen]
pub struct RelayServer {
    driver: Rc<Driver>,
    id: ServerId,
    public_key: [u8; 32],
    relay_addresses: Vec<SocketAddrV4>,
}

impl RelayServer {
    pub(crate) fn new(
        driver: Rc<Driver>,
        id: ServerId,
        public_key: [u8; 32],
        relay_addresses: Vec<SocketAddrV4>,
    ) -> JsValue {
        async_iterable(&JsValue::from(RelayServer { driver, id, public_key, relay_addresses }))
    }

    /// The next connection, `None` once the server stopped cleanly.
    async fn next_stream(driver: Rc<Driver>, id: ServerId) -> Result<Option<JsValue>, Fail> {
        let core = futures::future::poll_fn(|cx| {
            let mut st = driver.st.borrow_mut();
            let Some(s) = st.servers.get_mut(&id) else { return Poll::Ready(Ok(None)) };
            if let Some(core) = s.incoming.pop_front() {
                return Poll::Ready(Ok(Some(core)));
            }
            match &s.closed {
                Some(e) if e.code.is_empty() => Poll::Ready(Ok(None)),
                Some(e) => Poll::Ready(Err(e.clone())),
                None => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await?;
        Ok(core.map(|core| RelayStream::wrap(driver, core)))
    }
}

impl std::fmt::Debug for RelayServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayServer").field("id", &self.id).finish()
    }
}

#[wasm_bindgen]
impl RelayServer {
    /// The next connection (a `RelayStream`), or `null` once the server is closed. Rejects
    /// with the server's error if the relay stopped it (`.code`).
    #[wasm_bindgen(unchecked_return_type = "Promise<RelayStream | null>")]
    pub fn accept(&self) -> Promise {
        let (driver, id) = (self.driver.clone(), self.id);
        future_to_promise(async move {
            match Self::next_stream(driver, id).await {
                Ok(Some(s)) => Ok(s),
                Ok(None) => Ok(JsValue::NULL),
                Err(e) => Err(e.to_js()),
            }
        })
    }

    /// The iterator protocol over [`accept`](Self::accept).
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<RelayStream>>")]
    pub fn next(&self) -> Promise {
        let (driver, id) = (self.driver.clone(), self.id);
        future_to_promise(async move {
            let o = Object::new();
            match Self::next_stream(driver, id).await {
                Ok(Some(s)) => {
                    set(&o, "value", s);
                    set(&o, "done", JsValue::FALSE);
                }
                Ok(None) => set(&o, "done", JsValue::TRUE),
                Err(e) => return Err(e.to_js()),
            }
            Ok(o.into())
        })
    }

    /// The server's public key.
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Uint8Array {
        Uint8Array::from(&self.public_key[..])
    }

    /// The DHT nodes that route handshakes to this server (`[{ host, port }]`): announce
    /// with them so clients find it through a topic.
    #[wasm_bindgen(getter, js_name = relayAddresses, unchecked_return_type = "RelayAddress[]")]
    pub fn relay_addresses(&self) -> Array {
        self.relay_addresses.iter().map(address_js).collect()
    }

    /// Stops the server (its streams go on); resolves once the relay confirmed.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let rx = {
            let mut st = self.driver.st.borrow_mut();
            let live = st.servers.get(&self.id).is_some_and(|s| s.closed.is_none());
            if !live {
                None
            } else {
                let _ = st.client.unlisten(self.id);
                let (tx, rx) = oneshot::channel::<()>();
                if let Some(s) = st.servers.get_mut(&self.id) {
                    s.unlistened.push(tx);
                }
                Some(rx)
            }
        };
        self.driver.pump();
        future_to_promise(async move {
            if let Some(rx) = rx {
                let _ = rx.await;
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}
