//! Replication of a JS `Hypercore` with a peer over a WebSocket (`class Replication`).
//!
//! ```js
//! const core = await Hypercore.openRemote('their-core', keyHex)   // read-only replica
//! const r = core.replicate('ws://127.0.0.1:8080', { live: true })
//! await r.downloaded()            // every block the peer has is verified and in IndexedDB
//! await core.get(0)               // local read
//! await core.whenLength(10)       // live: wait for the writer's appends to arrive
//! await r.close()
//! const stats = await r.closed    // { bytesIn, bytesOut, blocksDownloaded, … }
//! ```
//!
//! The other end of the WebSocket must carry the bytes of a hypercore replication stream
//! unchanged (a bridge to a TCP peer running `store.replicate(socket)`, a relay): Noise XX
//! secret-stream, protomux, `hypercore/alpha` — [`hyperwasm::replicator::replicate`] does
//! the protocol, this module supplies the browser's transport ([`crate::websocket`]) and
//! clock ([`crate::clock`]) and turns the outcome into promises.
//!
//! Each JS `Hypercore` has its own [`CoreSet`] (holding just this core), so a connection
//! replicates exactly this core; several connections of one core share its download
//! intent and announce each other's downloads to their peers. While a connection runs, a
//! task follows the core's changes so the synchronous getters (`length`, `byteLength`,
//! `fork`) include downloaded blocks.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{select, Either};
use futures::FutureExt;
use hyperwasm::replicator::{replicate, ConnectionOptions, ConnectionStats, DownloadRange};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

use crate::clock::BrowserClock;
use crate::error::{bad_argument, closed, core_error, js_error, storage_error};
use crate::hypercore::{cache_limits, durability, set, uint, Core, Inner, JsHypercore};
use crate::idb::IdbStorage;
use crate::relay_pipe::{self, PipeControl, PipeReader, PipeWriter};
use crate::websocket::{self, Counters, WsControl, DEFAULT_OPEN_TIMEOUT_MS};

/// What a connection ends through: its WebSocket or its relay stream.
#[derive(Clone)]
enum Control {
    Ws(WsControl),
    Relay(PipeControl),
}

impl Control {
    fn close(&self) {
        match self {
            Control::Ws(c) => c.close(),
            Control::Relay(c) => c.close(),
        }
    }
}

/// A relay stream handed to `replicate`, waiting for its connection task.
type RelayPipe = (PipeReader, PipeWriter, PipeControl, hyperwasm::noise::HandshakeResult);

/// What `replicate(url, opts)` was asked to do.
#[derive(Debug, Clone)]
struct ReplicateOptions {
    initiator: bool,
    live: bool,
    sparse: bool,
    start: u64,
    end: Option<u64>,
    open_timeout_ms: u64,
    keep_alive_ms: u64,
    timeout_ms: u64,
}

impl ReplicateOptions {
    fn parse(opts: &JsValue) -> Result<Self, JsValue> {
        let get = |name: &str| -> JsValue {
            if opts.is_object() {
                Reflect::get(opts, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
            } else {
                JsValue::UNDEFINED
            }
        };
        let flag = |name: &str, default: bool| -> Result<bool, JsValue> {
            let v = get(name);
            if v.is_undefined() || v.is_null() {
                Ok(default)
            } else {
                v.as_bool().ok_or_else(|| bad_argument(&format!("{name} must be a boolean")))
            }
        };
        let number = |name: &str| -> Result<Option<u64>, JsValue> {
            let v = get(name);
            if v.is_undefined() || v.is_null() {
                return Ok(None);
            }
            let n = v.as_f64().ok_or_else(|| bad_argument(&format!("{name} must be a number")))?;
            uint(n, name).map(Some)
        };
        let start = number("start")?.unwrap_or(0);
        let end = number("end")?;
        if flag("sparse", false)? && (start != 0 || end.is_some()) {
            return Err(bad_argument("sparse replication downloads no range: drop start/end"));
        }
        if end.is_some_and(|end| end < start) {
            return Err(bad_argument("end must not be smaller than start"));
        }
        Ok(ReplicateOptions {
            initiator: flag("initiator", true)?,
            live: flag("live", false)?,
            sparse: flag("sparse", false)?,
            start,
            end,
            open_timeout_ms: number("openTimeout")?.unwrap_or(DEFAULT_OPEN_TIMEOUT_MS),
            keep_alive_ms: number("keepAlive")?.unwrap_or(5000),
            timeout_ms: number("timeout")?.unwrap_or(0),
        })
    }
}

/// A core key from JS: 64 hex characters or a 32-byte `Uint8Array`.
pub(crate) fn key_of(key: &JsValue) -> Result<[u8; 32], JsValue> {
    let bytes = if let Some(a) = key.dyn_ref::<Uint8Array>() {
        a.to_vec()
    } else if let Some(s) = key.as_string() {
        parse_hex(&s).ok_or_else(|| bad_argument("key must be 64 hex characters"))?
    } else {
        return Err(bad_argument("key must be a hex string or a Uint8Array"));
    };
    bytes.try_into().map_err(|_| bad_argument("key must be 32 bytes"))
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes().chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// One connection's shared state (the JS object, the task running it, `close()` of the core).
pub(crate) struct ReplState {
    url: String,
    /// A download intent was set (the core is not writable).
    downloads: bool,
    /// `close()` was called.
    closing: Cell<bool>,
    /// Aborts a connection still opening.
    stop: RefCell<Option<oneshot::Sender<()>>>,
    /// The open socket.
    control: RefCell<Option<Control>>,
    /// The relay stream to run over instead of a WebSocket to `url`.
    relay: RefCell<Option<RelayPipe>>,
    counters: RefCell<Option<Rc<Counters>>>,
    /// How it ended: final stats or the JS error `closed` rejected with.
    outcome: RefCell<Option<Result<ConnectionStats, JsValue>>>,
    ended: RefCell<Vec<oneshot::Sender<()>>>,
    /// Makes `update()` wait for this connection until it is registered (held while it runs).
    finding_peers: RefCell<Option<hyperwasm::replicator::FindingPeers<IdbStorage>>>,
    /// `closed`, and its resolve/reject functions until it settles.
    closed: Promise,
    settle: RefCell<Option<(Function, Function)>>,
}

impl ReplState {
    /// Ends the connection (or its opening) from our side; its outcome is still reported.
    fn close(&self) {
        self.closing.set(true);
        if let Some(stop) = self.stop.borrow_mut().take() {
            let _ = stop.send(());
        }
        if let Some(control) = self.control.borrow().as_ref() {
            control.close();
        }
    }

    /// Resolves once the connection ended (at once if it has).
    fn ended(&self) -> impl Future<Output = ()> {
        let rx = if self.outcome.borrow().is_some() {
            None
        } else {
            let (tx, rx) = oneshot::channel();
            self.ended.borrow_mut().push(tx);
            Some(rx)
        };
        async move {
            if let Some(rx) = rx {
                let _ = rx.await;
            }
        }
    }

    /// `{ bytesIn, bytesOut, blocksDownloaded, blocksUploaded }` (+ details once ended).
    fn stats(&self) -> Object {
        let o = Object::new();
        let (bytes_in, bytes_out) = match self.counters.borrow().as_ref() {
            Some(c) => (c.bytes_in.get(), c.bytes_out.get()),
            None => (0, 0),
        };
        let outcome = self.outcome.borrow();
        let done = match outcome.as_ref() {
            Some(Ok(stats)) => Some(stats),
            _ => None,
        };
        set(&o, "bytesIn", JsValue::from_f64(bytes_in as f64));
        set(&o, "bytesOut", JsValue::from_f64(bytes_out as f64));
        set(&o, "blocksDownloaded", JsValue::from_f64(done.map_or(0, |s| s.blocks_downloaded) as f64));
        set(&o, "blocksUploaded", JsValue::from_f64(done.map_or(0, |s| s.blocks_uploaded) as f64));
        set(&o, "open", JsValue::from_bool(outcome.is_none()));
        if let Some(stats) = done {
            let closed: Array = stats.peers_closed.iter().map(|r| JsValue::from_str(r)).collect();
            set(&o, "peersClosed", closed.into());
            let remote = stats.remote_public_key.map_or(JsValue::NULL, |k| Uint8Array::from(&k[..]).into());
            set(&o, "remotePublicKey", remote);
        }
        o
    }
}

/// Runs one connection to its end and reports the outcome.
async fn run(core: Rc<Inner>, state: Rc<ReplState>, opts: ReplicateOptions, stop: oneshot::Receiver<()>) {
    let outcome = connect_and_replicate(&core, &state, &opts, stop).await;
    // The getters include whatever this connection stored.
    if let Ok(c) = core.lock_open().await {
        core.refresh(&c);
    }
    core.replications.borrow_mut().retain(|r| !Rc::ptr_eq(r, &state));
    state.control.borrow_mut().take();
    state.finding_peers.borrow_mut().take();
    let error = outcome.as_ref().err().cloned();
    *state.outcome.borrow_mut() = Some(outcome);
    if let Some((resolve, reject)) = state.settle.borrow_mut().take() {
        let _ = match error {
            None => resolve.call1(&JsValue::UNDEFINED, &state.stats()),
            Some(e) => reject.call1(&JsValue::UNDEFINED, &e),
        };
    }
    for tx in state.ended.borrow_mut().drain(..) {
        let _ = tx.send(());
    }
}

async fn connect_and_replicate(
    core: &Rc<Inner>,
    state: &ReplState,
    opts: &ReplicateOptions,
    stop: oneshot::Receiver<()>,
) -> Result<ConnectionStats, JsValue> {
    type Reader = Box<dyn futures::io::AsyncRead + Unpin>;
    type Writer = Box<dyn futures::io::AsyncWrite + Unpin>;
    let relay = state.relay.borrow_mut().take();
    let (reader, writer, control, counters, handshake): (Reader, Writer, Control, _, _) = match relay {
        Some((reader, writer, control, handshake)) => {
            let counters = control.counters();
            (Box::new(reader), Box::new(writer), Control::Relay(control), counters, Some(handshake))
        }
        None => {
            let connecting = Box::pin(websocket::connect(&state.url, opts.open_timeout_ms));
            match select(connecting, stop).await {
                Either::Left((Ok((reader, writer, control)), _)) => {
                    let counters = control.counters();
                    (Box::new(reader), Box::new(writer), Control::Ws(control), counters, None)
                }
                Either::Left((Err(e), _)) => return Err(js_error(e.code(), &format!("{}: {e}", e.code()))),
                // Closed while opening: nothing happened.
                Either::Right(_) => return Ok(ConnectionStats::default()),
            }
        }
    };
    *state.counters.borrow_mut() = Some(counters);
    *state.control.borrow_mut() = Some(control.clone());
    if state.closing.get() {
        control.close();
    }
    // Over a relay stream the Noise role and keys come from its handshake.
    let initiator = handshake.as_ref().map_or(opts.initiator, |h| h.is_initiator);
    let mut options = ConnectionOptions::new(initiator);
    options.handshake = handshake;
    options.keep_alive_ms = opts.keep_alive_ms;
    options.timeout_ms = opts.timeout_ms;
    let connection = replicate(&core.set, reader, writer, BrowserClock, options);
    // Not live: end the connection once the download is complete.
    let auto_close = async {
        if state.downloads && !opts.live {
            core.shared.downloaded().await;
            control.close();
        }
        futures::future::pending::<std::convert::Infallible>().await
    };
    futures::pin_mut!(connection, auto_close);
    let result = match select(connection, auto_close).await {
        Either::Left((result, _)) => result,
        Either::Right((never, _)) => match never {},
    };
    result.map_err(|e| js_error(e.code(), &format!("{}: {e}", e.code())))
}

/// Keeps the cached head of `inner` current while connections change the core (started
/// by the first `replicate`, stopped by `close()`).
fn ensure_watcher(inner: &Rc<Inner>) {
    if inner.watch_stop.borrow().is_some() {
        return;
    }
    let (tx, mut stop) = oneshot::channel::<()>();
    *inner.watch_stop.borrow_mut() = Some(tx);
    let inner = inner.clone();
    spawn_local(async move {
        let mut seen = 0;
        loop {
            let changed = inner.shared.changed(seen);
            futures::pin_mut!(changed);
            match select(changed, &mut stop).await {
                Either::Left((version, _)) => seen = version,
                Either::Right(_) => return,
            }
            let core = inner.shared.lock().await;
            if inner.closed.get() {
                return;
            }
            inner.refresh(&core);
        }
    });
}

/// Ends every connection of a core and waits until they have (for `close()`).
pub(crate) async fn close_all(inner: &Rc<Inner>) {
    drop(inner.watch_stop.borrow_mut().take());
    let running: Vec<Rc<ReplState>> = inner.replications.borrow().clone();
    for r in &running {
        r.close();
    }
    for r in running {
        r.ended().await;
    }
}

#[wasm_bindgen(js_class = Hypercore)]
impl JsHypercore {
    /// Opens a read-only replica of the core with `key` (64 hex characters or a 32-byte
    /// `Uint8Array`) in the IndexedDB database `name`, creating it empty the first time and
    /// reopening it (with what was downloaded) later. Its manifest and blocks arrive by
    /// [`replicate`](Self::replicate). `opts` as for `open`. Rejects with `STORAGE_CONFLICT`
    /// if the database holds a different core.
    #[wasm_bindgen(js_name = openRemote)]
    pub async fn open_remote(name: String, key: JsValue, opts: JsValue) -> Result<JsHypercore, JsValue> {
        let key = key_of(&key)?;
        let limits = cache_limits(&opts)?;
        let storage = IdbStorage::open_with(&name, durability(&opts)).await.map_err(storage_error)?;
        let core = Core::create_remote(storage, key).await.map_err(|e| core_error(&e))?;
        Ok(JsHypercore::wrap(&name, core, limits))
    }

    /// Replicates this core with the peer at the other end of the WebSocket `url`, or over a
    /// `RelayStream` (a HyperDHT connection through the relay, not read or written yet:
    /// secret-stream runs from its Noise handshake, its role decides `initiator`); returns at
    /// once with the [`Replication`] (the connection opens in the background).
    ///
    /// `opts`: `{ initiator = true, live = false, sparse = false, start = 0, end, openTimeout =
    /// 10000, keepAlive = 5000, timeout = 0 }`. A read-only core downloads `[start, end)` (no
    /// `end`: every block the peer has, following its appends); `live: false` closes the
    /// connection once that download is complete, `live: true` keeps it open. `sparse: true`
    /// downloads nothing by itself and stays open: blocks come when reads ask for them (a
    /// `Hyperbee` on the core fetches the ~log n blocks of each get), `update()` learns the
    /// peer's length. A writable core uploads
    /// what the peer asks for until either side closes. `initiator` is the Noise role (the
    /// side that dials, normally). `openTimeout` bounds the WebSocket opening, `timeout`
    /// (ms, 0 = none) ends a connection on which nothing arrives for that long.
    ///
    /// The download intent belongs to the core: a later `replicate` replaces it for every
    /// connection. Throws `SESSION_CLOSED` after `close()`, `BAD_ARGUMENT` for bad options.
    pub fn replicate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | RelayStream")] target: JsValue,
        opts: JsValue,
    ) -> Result<Replication, JsValue> {
        let opts = ReplicateOptions::parse(&opts)?;
        let inner = &self.inner;
        if inner.head.borrow().closed || inner.closed.get() {
            return Err(closed());
        }
        let (url, relay) = match target.as_string() {
            Some(url) => (url, None),
            None => {
                let pipe = relay_pipe::take(&target)?;
                let key: String = pipe.3.remote_public_key.iter().map(|b| format!("{b:02x}")).collect();
                (format!("relay:{key}"), Some(pipe))
            }
        };
        let downloads = !inner.head.borrow().writable && !opts.sparse;
        if downloads {
            inner.shared.download(DownloadRange { start: opts.start, end: opts.end });
        }
        let mut fns = None;
        let promise = Promise::new(&mut |resolve, reject| fns = Some((resolve, reject)));
        let (stop_tx, stop_rx) = oneshot::channel();
        let state = Rc::new(ReplState {
            url,
            downloads,
            closing: Cell::new(false),
            stop: RefCell::new(Some(stop_tx)),
            control: RefCell::new(None),
            relay: RefCell::new(relay),
            counters: RefCell::new(None),
            outcome: RefCell::new(None),
            ended: RefCell::new(Vec::new()),
            finding_peers: RefCell::new(Some(inner.shared.finding_peers())),
            closed: promise.clone(),
            settle: RefCell::new(fns),
        });
        // Mark `closed` handled: a failure nobody awaits is not an "uncaught" rejection.
        spawn_local(async move {
            let _ = JsFuture::from(promise).await;
        });
        inner.replications.borrow_mut().push(state.clone());
        ensure_watcher(inner);
        spawn_local(run(inner.clone(), state.clone(), opts, stop_rx));
        Ok(Replication { core: inner.clone(), state })
    }

    /// Resolves with the length once every connection with peers of this core is caught up
    /// with them (JS `core.update()`): on a replica, the peers' length is known afterwards
    /// (without downloading blocks). At once without connections.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn update(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            if inner.closed.get() {
                return Err(closed());
            }
            let length = inner.shared.update().await;
            if let Ok(c) = inner.lock_open().await {
                inner.refresh(&c);
            }
            Ok(JsValue::from_f64(length as f64))
        })
    }

    /// Resolves with the length once the core has at least `length` blocks (appended here
    /// or downloaded by a connection). Rejects with `SESSION_CLOSED` if the core closes first.
    #[wasm_bindgen(js_name = whenLength, unchecked_return_type = "Promise<number>")]
    pub fn when_length(&self, length: f64) -> Promise {
        let want = match uint(length, "length") {
            Ok(l) => l,
            Err(e) => return Promise::reject(&e),
        };
        let head = self.inner.head.borrow();
        if head.closed {
            return Promise::reject(&closed());
        }
        if head.length >= want {
            return Promise::resolve(&JsValue::from_f64(head.length as f64));
        }
        drop(head);
        let (tx, rx) = oneshot::channel();
        self.inner.length_waiters.borrow_mut().push((want, tx));
        future_to_promise(async move {
            match rx.await {
                Ok(length) => Ok(JsValue::from_f64(length as f64)),
                Err(_) => Err(closed()),
            }
        })
    }
}

/// One replication connection of a `Hypercore` (JS: `Replication`), from
/// `core.replicate(url, opts)`.
#[wasm_bindgen]
pub struct Replication {
    core: Rc<Inner>,
    state: Rc<ReplState>,
}

#[wasm_bindgen]
impl Replication {
    /// Resolves once the download asked for is complete: every wanted block is verified and
    /// stored (for a whole-core download: up to the length of every synced peer), and the
    /// core's getters show it. Resolves at once for a writable core. Rejects with the
    /// connection's error if it ends first, or `REQUEST_CANCELLED` if it ended cleanly
    /// before the download was complete.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn downloaded(&self) -> Promise {
        let (core, state) = (self.core.clone(), self.state.clone());
        future_to_promise(async move {
            if !state.downloads {
                return Ok(JsValue::UNDEFINED);
            }
            let done = core.shared.downloaded();
            let ended = state.ended();
            futures::pin_mut!(done, ended);
            if let Either::Right(_) = select(done, ended).await {
                // It may have completed with the connection's last message.
                if core.shared.downloaded().now_or_never().is_none() {
                    return Err(match state.outcome.borrow().as_ref() {
                        Some(Err(e)) => e.clone(),
                        _ => js_error(
                            "REQUEST_CANCELLED",
                            "replication ended before the download was complete",
                        ),
                    });
                }
            }
            if let Ok(c) = core.lock_open().await {
                core.refresh(&c);
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Ends the connection; resolves once it has ended (its outcome goes to `closed`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let state = self.state.clone();
        state.close();
        future_to_promise(async move {
            state.ended().await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Settles when the connection ends: resolves with the final [`stats`](Self::stats) when
    /// it ended cleanly (either side closed it), rejects with an `Error` whose `.code` says why otherwise
    /// (`WEBSOCKET_FAILED`, `WEBSOCKET_TIMEOUT`, `TRANSPORT_ERROR`, `INVALID_CAPABILITY`,
    /// handshake and protocol codes).
    #[wasm_bindgen(getter, unchecked_return_type = "Promise<object>")]
    pub fn closed(&self) -> Promise {
        self.state.closed.clone()
    }

    /// `{ bytesIn, bytesOut, blocksDownloaded, blocksUploaded, open }`: transport bytes so
    /// far; the block counts are filled in when the connection has ended cleanly, with
    /// `peersClosed` (reasons we closed misbehaving peers) and `remotePublicKey`.
    #[wasm_bindgen(unchecked_return_type = "{ bytesIn: number, bytesOut: number, blocksDownloaded: number, \
        blocksUploaded: number, open: boolean, peersClosed?: string[], remotePublicKey?: Uint8Array | null }")]
    pub fn stats(&self) -> Object {
        self.state.stats()
    }

    /// The WebSocket URL.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.state.url.clone()
    }
}
