//! `class RelayQuery` for JS: one query of a `RelayClient` (`lookup`, `findPeer`, and the
//! lookup phase of `announce`), an async iterator of the DHT nodes' replies.
//!
//! ```js
//! const q = relay.lookup(topic)
//! for await (const { from, peers } of q) …      // ends when the query is done
//! await q.finished()                            // or just wait: { commits }
//! q.destroy()                                   // cancels it
//! ```

use std::rc::Rc;
use std::task::Poll;

use hyperwasm::relay_protocol::client::QueryId;
use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::bee_iterators::async_iterable;
use crate::hypercore::set;
use crate::relay_client::reply_js;
use crate::relay_socket::{Driver, QueryItem};

#[wasm_bindgen(typescript_custom_section)]
const TS_QUERY: &str = r#"
export interface RelayQuery extends AsyncIterableIterator<RelayLookupReply> {}
"#;

/// One query (see the module docs).
#[wasm_bindgen]
pub struct RelayQuery {
    driver: Rc<Driver>,
    id: QueryId,
}

impl RelayQuery {
    pub(crate) fn new(driver: Rc<Driver>, id: QueryId) -> Self {
        RelayQuery { driver, id }
    }

    /// As a JS object that works with `for await`.
    pub(crate) fn into_js(self) -> JsValue {
        async_iterable(&JsValue::from(self))
    }

    /// The next item of query `id`; the query is forgotten after its last.
    async fn next_item(driver: &Driver, id: QueryId) -> QueryItem {
        futures::future::poll_fn(|cx| {
            let mut st = driver.st.borrow_mut();
            let Some(q) = st.queries.get_mut(&id) else {
                return Poll::Ready(QueryItem::Done { commits: 0 });
            };
            match q.items.pop_front() {
                Some(item) => {
                    if !matches!(item, QueryItem::Result { .. }) {
                        st.queries.remove(&id);
                    }
                    Poll::Ready(item)
                }
                None => {
                    q.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Resolves with `{ commits }` once the query is done (replies are dropped).
    pub(crate) fn finished(&self) -> Promise {
        let (driver, id) = (self.driver.clone(), self.id);
        future_to_promise(async move {
            loop {
                match Self::next_item(&driver, id).await {
                    QueryItem::Result { .. } => continue,
                    QueryItem::Done { commits } => {
                        let o = Object::new();
                        set(&o, "commits", JsValue::from_f64(commits as f64));
                        return Ok(o.into());
                    }
                    QueryItem::Failed(e) => return Err(e.to_js()),
                }
            }
        })
    }
}

impl std::fmt::Debug for RelayQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayQuery").field("id", &self.id).finish()
    }
}

#[wasm_bindgen]
impl RelayQuery {
    /// The iterator protocol: `{ value: { from, peers }, done: false }` per reply, then
    /// `{ done: true }`; rejects with the query's error (`.code`).
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<RelayLookupReply>>")]
    pub fn next(&self) -> Promise {
        let (driver, id) = (self.driver.clone(), self.id);
        future_to_promise(async move {
            let o = Object::new();
            match Self::next_item(&driver, id).await {
                QueryItem::Result { from, peers } => {
                    set(&o, "value", reply_js(&QueryItem::Result { from, peers }));
                    set(&o, "done", JsValue::FALSE);
                }
                QueryItem::Done { .. } => set(&o, "done", JsValue::TRUE),
                QueryItem::Failed(e) => return Err(e.to_js()),
            }
            Ok(o.into())
        })
    }

    /// Stops the query early (`for await … break` calls this).
    #[wasm_bindgen(js_name = "return", unchecked_return_type = "Promise<IteratorResult<RelayLookupReply>>")]
    pub fn return_(&self) -> Promise {
        self.destroy();
        let o = Object::new();
        set(&o, "done", JsValue::TRUE);
        Promise::resolve(&JsValue::from(o))
    }

    /// Resolves with `{ commits }` once the query is done; rejects with its error.
    #[wasm_bindgen(js_name = finished, unchecked_return_type = "Promise<{ commits: number }>")]
    pub fn finished_js(&self) -> Promise {
        self.finished()
    }

    /// Cancels the query (the relay stops it).
    pub fn destroy(&self) {
        {
            let mut st = self.driver.st.borrow_mut();
            if st.queries.remove(&self.id).is_some() {
                let _ = st.client.cancel(self.id);
            }
        }
        self.driver.pump();
    }
}
