//! `class RelayClient` for JS: the HyperDHT through `hyperwasm-relay` over one WebSocket
//! (`relay/PROTOCOL.md`, `hyperwasm-relay/1`), keys kept in the page.
//!
//! ```js
//! const relay = await RelayClient.open('wss://relay.example/relay')
//! for await (const { from, peers } of relay.lookup(topic)) …        // RelayQuery
//! await relay.announce(topic, keyPair)                               // { commits }
//! const stream = await relay.connect(remotePublicKey)                // RelayStream (plaintext)
//! await stream.write(bytes); const reply = await stream.read(); await stream.end()
//! const server = await relay.listen(keyPair, { firewall })            // RelayServer
//! for await (const conn of server) …
//! await relay.close()
//! ```
//!
//! The relay signs nothing and decrypts nothing: announce records are signed here after
//! checking what is signed, Noise IK and secret-stream run here (the state machine in
//! [`hyperwasm::relay_protocol`], driven by [`crate::relay_socket`]). A dropped socket is
//! reconnected with backoff and the session resumed (streams, servers and queries carry on).
//! Every rejection is an `Error` with `.code` (hyperdht's codes, PROTOCOL.md §10,
//! `WEBSOCKET_FAILED`, `BAD_ARGUMENT`, `DESTROYED`).

use std::net::SocketAddrV4;
use std::rc::Rc;

use futures::channel::oneshot;
use hyperwasm::crypto::KeyPair;
use hyperwasm::relay_protocol::Firewall;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

use crate::error::{bad_argument, js_error};
use crate::hypercore::set;
use crate::relay_query::RelayQuery;
use crate::relay_server::RelayServer;
use crate::relay_socket::{Driver, Fail, Query, QueryItem, Server};
use crate::relay_stream::RelayStream;

#[wasm_bindgen(typescript_custom_section)]
const TS_RELAY: &str = r#"
/** An Ed25519 key pair as hyperdht has it: secretKey = seed ‖ publicKey (64 bytes). */
export interface RelayKeyPair { publicKey: Uint8Array; secretKey: Uint8Array }
/** An IPv4 address. */
export interface RelayAddress { host: string; port: number }
/** One DHT node's answer to a lookup. */
export interface RelayLookupReply { from: RelayAddress; peers: { publicKey: Uint8Array; relayAddresses: RelayAddress[] }[] }
/** Options of RelayClient.open(). */
export interface RelayClientOptions { keyPair?: RelayKeyPair }
/** Options of relay.connect(). */
export interface RelayConnectOptions { keyPair?: RelayKeyPair; relayAddresses?: RelayAddress[] }
/** Options of relay.listen(): firewall(remotePublicKey, address) returns (a promise of) true to reject. */
export interface RelayListenOptions {
  firewall?: (remotePublicKey: Uint8Array, address: RelayAddress) => boolean | Promise<boolean>;
  onconnection?: (stream: RelayStream) => void;
}
"#;

/// `{ host, port }` of an address.
pub(crate) fn address_js(a: &SocketAddrV4) -> JsValue {
    let o = Object::new();
    set(&o, "host", JsValue::from_str(&a.ip().to_string()));
    set(&o, "port", JsValue::from_f64(f64::from(a.port())));
    o.into()
}

/// An address from `{ host, port }` or `"host:port"`.
fn address_of(v: &JsValue) -> Result<SocketAddrV4, JsValue> {
    let text = match v.as_string() {
        Some(s) => s,
        None => {
            let host =
                get(v, "host").as_string().ok_or_else(|| bad_argument("address host must be a string"))?;
            let port =
                get(v, "port").as_f64().ok_or_else(|| bad_argument("address port must be a number"))?;
            format!("{host}:{port}")
        }
    };
    text.parse().map_err(|_| bad_argument(&format!("not an IPv4 address: {text}")))
}

fn get(o: &JsValue, name: &str) -> JsValue {
    if o.is_object() {
        Reflect::get(o, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// A 32-byte value from a `Uint8Array` or 64 hex characters.
pub(crate) fn bytes32(v: &JsValue, what: &str) -> Result<[u8; 32], JsValue> {
    crate::replication::key_of(v)
        .map_err(|_| bad_argument(&format!("{what} must be 32 bytes (Uint8Array or hex)")))
}

/// A key pair from `{ secretKey }` (64 bytes; `publicKey`, if given, must match).
fn key_pair_of(v: &JsValue) -> Result<KeyPair, JsValue> {
    let secret = get(v, "secretKey");
    let secret = secret
        .dyn_ref::<Uint8Array>()
        .ok_or_else(|| bad_argument("keyPair.secretKey must be a Uint8Array"))?;
    let secret: [u8; 64] =
        secret.to_vec().try_into().map_err(|_| bad_argument("keyPair.secretKey must be 64 bytes"))?;
    let kp = KeyPair::from_secret_key(&secret).map_err(|e| bad_argument(&e.to_string()))?;
    let public = get(v, "publicKey");
    if let Some(p) = public.dyn_ref::<Uint8Array>() {
        if p.to_vec() != kp.public_key() {
            return Err(bad_argument("keyPair.publicKey does not match its secretKey"));
        }
    }
    Ok(kp)
}

/// `opts.keyPair` if given, else `default`.
fn key_pair_opt(opts: &JsValue, default: &KeyPair) -> Result<KeyPair, JsValue> {
    let v = get(opts, "keyPair");
    if v.is_undefined() || v.is_null() {
        Ok(default.clone())
    } else {
        key_pair_of(&v)
    }
}

/// A key pair as JS `{ publicKey, secretKey }`.
fn key_pair_js(kp: &KeyPair) -> JsValue {
    let o = Object::new();
    set(&o, "publicKey", Uint8Array::from(&kp.public_key()[..]).into());
    set(&o, "secretKey", Uint8Array::from(&kp.secret_key()[..]).into());
    o.into()
}

/// A relay session of this page (see the module docs).
#[wasm_bindgen]
pub struct RelayClient {
    driver: Rc<Driver>,
    key_pair: KeyPair,
}

#[wasm_bindgen]
impl RelayClient {
    /// Opens a session with the relay at `url` (`ws://` or `wss://…/relay`) and resolves once
    /// the relay welcomed it. `opts.keyPair` is the default identity for `connect`,
    /// `listen` and `announce` (random when not given). Rejects with `WEBSOCKET_FAILED` when
    /// the socket cannot open or the relay refuses the session.
    ///
    /// (`open`, not a static `connect`: wasm-bindgen cannot export a static and an instance
    /// method of one name, and `relay.connect(key)` is hyperdht's name for dialling.)
    #[wasm_bindgen(unchecked_return_type = "Promise<RelayClient>")]
    pub fn open(url: String, opts: Option<JsValue>) -> Promise {
        let opts = opts.unwrap_or(JsValue::UNDEFINED);
        future_to_promise(async move {
            let key_pair = match get(&opts, "keyPair") {
                v if v.is_undefined() || v.is_null() => {
                    KeyPair::generate().map_err(|e| js_error("KEY_PAIR", &e.to_string()))?
                }
                v => key_pair_of(&v)?,
            };
            let driver = Driver::new(url);
            if let Err(e) = driver.start().await {
                driver.close();
                return Err(e.to_js());
            }
            Ok(RelayClient { driver, key_pair }.into())
        })
    }

    /// A new random key pair (`seed`: 32 bytes for a deterministic one), generated here and
    /// never sent anywhere: `{ publicKey, secretKey }`.
    #[wasm_bindgen(js_name = keyPair, unchecked_return_type = "RelayKeyPair")]
    pub fn key_pair(seed: Option<JsValue>) -> Result<JsValue, JsValue> {
        let seed = seed.unwrap_or(JsValue::UNDEFINED);
        let kp = if seed.is_undefined() || seed.is_null() {
            KeyPair::generate().map_err(|e| js_error("KEY_PAIR", &e.to_string()))?
        } else {
            KeyPair::from_seed(&bytes32(&seed, "seed")?)
        };
        Ok(key_pair_js(&kp))
    }

    /// The relay URL.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.driver.st.borrow().url.clone()
    }

    /// This client's default public key.
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Uint8Array {
        Uint8Array::from(&self.key_pair.public_key()[..])
    }

    /// `{ connected, sessions, resumes, sockets, streams, servers, lastError }`: whether the
    /// session is up on a socket, sessions started (more than 1 after an expiry), reconnects
    /// that resumed, sockets opened, live streams and servers, the relay's last session error.
    #[wasm_bindgen(unchecked_return_type = "{ connected: boolean, sessions: number, resumes: number, \
        sockets: number, streams: number, servers: number, lastError: string | null }")]
    pub fn stats(&self) -> Object {
        let st = self.driver.st.borrow();
        let o = Object::new();
        set(&o, "connected", JsValue::from_bool(st.client.is_ready()));
        set(&o, "sessions", JsValue::from(st.sessions));
        set(&o, "resumes", JsValue::from(st.resumes));
        set(&o, "sockets", JsValue::from(st.sockets));
        set(&o, "streams", JsValue::from(st.streams.len() as u32));
        set(&o, "servers", JsValue::from(st.servers.values().filter(|s| s.closed.is_none()).count() as u32));
        let last = st.last_error.as_ref().map_or(JsValue::NULL, |e| JsValue::from_str(&e.code));
        set(&o, "lastError", last);
        o
    }

    /// Drops the WebSocket as if the network failed (the session is resumed on a new one):
    /// for tests and demos of the resume path.
    #[wasm_bindgen(js_name = dropSocket)]
    pub fn drop_socket(&self) {
        self.driver.simulate_drop();
    }

    fn start_query(
        &self,
        start: impl FnOnce(
            &mut hyperwasm::relay_protocol::RelayClient,
        ) -> Result<u32, hyperwasm::relay_protocol::RelayError>,
    ) -> Result<RelayQuery, JsValue> {
        let id = {
            let mut st = self.driver.st.borrow_mut();
            if st.closing {
                return Err(js_error("DESTROYED", "DESTROYED: the relay client is closed"));
            }
            let id = start(&mut st.client).map_err(|e| Fail::relay(&e).to_js())?;
            st.queries.insert(id, Query::default());
            id
        };
        self.driver.pump();
        Ok(RelayQuery::new(self.driver.clone(), id))
    }

    /// Looks up the peers announced under `topic` (32 bytes or 64 hex): a `RelayQuery`, an
    /// async iterator of `{ from, peers: [{ publicKey, relayAddresses }] }`, one per DHT node
    /// that answered. Throws `BAD_ARGUMENT`, `DESTROYED`.
    #[wasm_bindgen(unchecked_return_type = "RelayQuery")]
    pub fn lookup(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] topic: JsValue,
    ) -> Result<JsValue, JsValue> {
        let topic = bytes32(&topic, "topic")?;
        Ok(self.start_query(|c| c.lookup(topic))?.into_js())
    }

    /// Finds the DHT nodes holding `publicKey`'s self-announce (a `RelayQuery` like `lookup`).
    #[wasm_bindgen(js_name = findPeer, unchecked_return_type = "RelayQuery")]
    pub fn find_peer(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] public_key: JsValue,
    ) -> Result<JsValue, JsValue> {
        let key = bytes32(&public_key, "publicKey")?;
        Ok(self.start_query(|c| c.find_peer(key))?.into_js())
    }

    /// Announces `keyPair`'s public key (default: the client's) under `topic`, signed here;
    /// `opts.relayAddresses` are the nodes that route to it (a `RelayServer`'s
    /// `relayAddresses`). Resolves with `{ commits }` (records stored).
    #[wasm_bindgen(unchecked_return_type = "Promise<{ commits: number }>")]
    pub fn announce(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] topic: JsValue,
        key_pair: Option<JsValue>,
        opts: Option<JsValue>,
    ) -> Promise {
        let key_pair = key_pair.unwrap_or(JsValue::UNDEFINED);
        let opts = opts.unwrap_or(JsValue::UNDEFINED);
        let run = || -> Result<RelayQuery, JsValue> {
            let topic = bytes32(&topic, "topic")?;
            let kp = if key_pair.is_undefined() || key_pair.is_null() {
                self.key_pair.clone()
            } else {
                key_pair_of(&key_pair)?
            };
            let hints = addresses_opt(&opts)?;
            self.start_query(|c| c.announce(topic, &kp, hints))
        };
        match run() {
            Ok(q) => q.finished(),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Removes `keyPair`'s announcement under `topic`; resolves with `{ commits }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ commits: number }>")]
    pub fn unannounce(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] topic: JsValue,
        key_pair: Option<JsValue>,
    ) -> Promise {
        let key_pair = key_pair.unwrap_or(JsValue::UNDEFINED);
        let run = || -> Result<RelayQuery, JsValue> {
            let topic = bytes32(&topic, "topic")?;
            let kp = if key_pair.is_undefined() || key_pair.is_null() {
                self.key_pair.clone()
            } else {
                key_pair_of(&key_pair)?
            };
            self.start_query(|c| c.unannounce(topic, &kp))
        };
        match run() {
            Ok(q) => q.finished(),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Connects to the HyperDHT server of `remotePublicKey` as `opts.keyPair` (default: the
    /// client's); `opts.relayAddresses` are hints (a lookup's `relayAddresses`). Resolves with
    /// a `RelayStream` once the relay connected the encrypted stream; rejects with hyperdht's
    /// codes (`PEER_NOT_FOUND`, `PEER_CONNECTION_FAILED`, …).
    #[wasm_bindgen(js_name = connect, unchecked_return_type = "Promise<RelayStream>")]
    pub fn dial(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] remote_public_key: JsValue,
        opts: Option<JsValue>,
    ) -> Promise {
        let opts = opts.unwrap_or(JsValue::UNDEFINED);
        let driver = self.driver.clone();
        let start = || -> Result<oneshot::Receiver<_>, JsValue> {
            let remote = bytes32(&remote_public_key, "remotePublicKey")?;
            let kp = key_pair_opt(&opts, &self.key_pair)?;
            let hints = addresses_opt(&opts)?;
            let mut st = driver.st.borrow_mut();
            if st.closing {
                return Err(js_error("DESTROYED", "DESTROYED: the relay client is closed"));
            }
            let id = st.client.connect(remote, &kp, hints).map_err(|e| Fail::relay(&e).to_js())?;
            let (tx, rx) = oneshot::channel();
            st.dials.insert(id, tx);
            Ok(rx)
        };
        let rx = match start() {
            Ok(rx) => rx,
            Err(e) => return Promise::reject(&e),
        };
        driver.pump();
        future_to_promise(async move {
            match rx.await {
                Ok(Ok(core)) => Ok(RelayStream::wrap(driver, core).into()),
                Ok(Err(e)) => Err(e.to_js()),
                Err(_) => Err(js_error("DESTROYED", "DESTROYED: the relay client closed")),
            }
        })
    }

    /// Starts a HyperDHT server for `keyPair` (default: the client's) on the relay's node
    /// (its announces signed here). Resolves with a `RelayServer` once it is announced;
    /// `opts.firewall(remotePublicKey, address)` returning true rejects a client;
    /// `opts.onconnection(stream)` receives each connection (else iterate the server).
    #[wasm_bindgen(unchecked_return_type = "Promise<RelayServer>")]
    pub fn listen(&self, key_pair: Option<JsValue>, opts: Option<JsValue>) -> Promise {
        let key_pair = key_pair.unwrap_or(JsValue::UNDEFINED);
        let opts = opts.unwrap_or(JsValue::UNDEFINED);
        let driver = self.driver.clone();
        let start = || -> Result<(u32, KeyPair, oneshot::Receiver<_>), JsValue> {
            let kp = if key_pair.is_undefined() || key_pair.is_null() {
                self.key_pair.clone()
            } else {
                key_pair_of(&key_pair)?
            };
            let function = |name: &str| -> Result<Option<Function>, JsValue> {
                let v = get(&opts, name);
                if v.is_undefined() || v.is_null() {
                    return Ok(None);
                }
                v.dyn_into::<Function>()
                    .map(Some)
                    .map_err(|_| bad_argument(&format!("{name} must be a function")))
            };
            let firewall = function("firewall")?;
            let on_connection = function("onconnection")?;
            let mut st = driver.st.borrow_mut();
            if st.closing {
                return Err(js_error("DESTROYED", "DESTROYED: the relay client is closed"));
            }
            let mode = if firewall.is_some() { Firewall::Ask } else { Firewall::AcceptAll };
            let id = st.client.listen(&kp, mode).map_err(|e| Fail::relay(&e).to_js())?;
            let (tx, rx) = oneshot::channel();
            st.servers.insert(
                id,
                Server {
                    listening: Some(tx),
                    incoming: Default::default(),
                    waker: None,
                    closed: None,
                    unlistened: Vec::new(),
                    firewall,
                    on_connection,
                },
            );
            Ok((id, kp, rx))
        };
        let (id, kp, rx) = match start() {
            Ok(v) => v,
            Err(e) => return Promise::reject(&e),
        };
        driver.pump();
        future_to_promise(async move {
            match rx.await {
                Ok(Ok(addresses)) => Ok(RelayServer::new(driver, id, kp.public_key(), addresses).into()),
                Ok(Err(e)) => Err(e.to_js()),
                Err(_) => Err(js_error("DESTROYED", "DESTROYED: the relay client closed")),
            }
        })
    }

    /// Ends every stream, server and query of this client and closes the WebSocket.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        self.driver.close();
        Promise::resolve(&JsValue::UNDEFINED)
    }
}

/// `opts.relayAddresses` (absent: none).
fn addresses_opt(opts: &JsValue) -> Result<Vec<SocketAddrV4>, JsValue> {
    let v = get(opts, "relayAddresses");
    if v.is_undefined() || v.is_null() {
        return Ok(Vec::new());
    }
    let arr = v.dyn_into::<Array>().map_err(|_| bad_argument("relayAddresses must be an array"))?;
    arr.iter().take(hyperwasm::relay_protocol::MAX_ARRAY_ITEMS).map(|a| address_of(&a)).collect()
}

/// The reply of a query as JS.
pub(crate) fn reply_js(item: &QueryItem) -> JsValue {
    let o = Object::new();
    if let QueryItem::Result { from, peers } = item {
        set(&o, "from", address_js(from));
        let list: Array = peers
            .iter()
            .map(|p| {
                let peer = Object::new();
                set(&peer, "publicKey", Uint8Array::from(&p.public_key[..]).into());
                let addrs: Array = p.relay_addresses.iter().map(address_js).collect();
                set(&peer, "relayAddresses", addrs.into());
                JsValue::from(peer)
            })
            .collect();
        set(&o, "peers", list.into());
    }
    o.into()
}
