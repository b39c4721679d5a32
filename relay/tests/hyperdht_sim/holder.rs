//! A key holder for a HyperDHT [`Node`]: answers the asked-for events with real keys
//! (Ed25519 signatures, Noise IK through `noise_wrap`) and runs secret-stream over the
//! connected UDX streams, echoing what servers receive.

use hyperwasm::crypto::KeyPair;
use hyperwasm::hyperdht::messages::NoisePayload;
use hyperwasm::hyperdht::noise_wrap::{NoiseWrap, NoiseWrapResult};
use hyperwasm::secret_stream::{SecretStream, SecretStreamEvent, SecretStreamOptions};
use hyperwasm_relay::hyperdht::connect::ConnectOptions;
use hyperwasm_relay::hyperdht::node::{ConnId, Event, Node};
use hyperwasm_relay::hyperdht::server::{payload_error, HsId, ServerId};
use hyperwasm_relay::udx;
use std::collections::{HashMap, HashSet};

/// The key holder's view of one secret-stream connection.
pub struct Conn {
    pub ss: SecretStream,
    pub received: Vec<Vec<u8>>,
    pub remote_public_key: [u8; 32],
}

/// A client handshake in progress: key pair, server key, Noise state, result.
type Client = (KeyPair, [u8; 32], Option<NoiseWrap>, Option<NoiseWrapResult>);

pub struct Holder {
    pub keys: HashMap<[u8; 32], KeyPair>,
    pub servers: HashMap<ServerId, [u8; 32]>,
    /// Client handshakes in progress.
    clients: HashMap<ConnId, Client>,
    /// Server handshakes answered: their Noise results.
    accepted: HashMap<HsId, NoiseWrapResult>,
    pub conns: HashMap<u32, Conn>,
    /// Client keys the servers refuse (the firewall hook).
    pub reject: HashSet<[u8; 32]>,
    /// Servers echo every message, prefixed with this (None: no echo).
    pub echo: Option<Vec<u8>>,
    /// Sign when asked.
    pub sign: bool,
    pub signatures: usize,
    /// Servers send this message on every new connection and end their side after it.
    pub greeting: Option<Vec<u8>>,
    /// Streams to end once their queued bytes are written.
    ending: HashSet<u32>,
    /// Client streams whose peer had already ended when they were handed over.
    pub ended_before_connected: HashSet<u32>,
}

impl Default for Holder {
    fn default() -> Self {
        Holder {
            keys: HashMap::new(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            accepted: HashMap::new(),
            conns: HashMap::new(),
            reject: HashSet::new(),
            echo: Some(b"echo:".to_vec()),
            sign: true,
            signatures: 0,
            greeting: None,
            ending: HashSet::new(),
            ended_before_connected: HashSet::new(),
        }
    }
}

impl Holder {
    pub fn listen(&mut self, node: &mut Node, kp: &KeyPair, now: u64) -> ServerId {
        self.keys.insert(kp.public_key(), kp.clone());
        let id = node.listen(kp.public_key(), now).expect("listen");
        self.servers.insert(id, kp.public_key());
        id
    }

    pub fn connect(&mut self, node: &mut Node, kp: &KeyPair, server: [u8; 32], now: u64) -> ConnId {
        // The node asks for msg1 through an event, after this returns.
        let id = node.connect(&server, ConnectOptions::default(), now);
        self.clients.insert(id, (kp.clone(), server, None, None));
        id
    }

    pub fn send(&mut self, stream: u32, msg: &[u8]) {
        self.conns.get_mut(&stream).expect("connection").ss.send(msg).expect("send");
    }

    /// The key holder: answers what the node asks for.
    pub fn answer(&mut self, node: &mut Node, ev: &Event, now: u64) {
        match ev {
            Event::NeedSignature { op, public_key, signable, .. } => {
                if let (true, Some(kp)) = (self.sign, self.keys.get(public_key)) {
                    let sig = kp.sign(signable);
                    self.signatures += 1;
                    node.provide_signature(*op, sig, now).expect("signature");
                } else {
                    node.refuse_signature(*op, now);
                }
            }
            Event::NeedInitiatorMessage { conn, local_payload } => {
                let Some((kp, server, wrap, _)) = self.clients.get_mut(conn) else { return };
                let mut w = NoiseWrap::initiator(kp, *server);
                let Ok(msg1) = w.send(local_payload) else {
                    let _ =
                        node.abort(*conn, hyperwasm_relay::hyperdht::HyperDhtError::HandshakeInvalid, now);
                    return;
                };
                *wrap = Some(w);
                node.provide_initiator_message(*conn, msg1, now).expect("provide msg1");
            }
            Event::ResponderMessage { conn, msg2 } => {
                let Some((_, _, wrap, result)) = self.clients.get_mut(conn) else { return };
                let Some(mut w) = wrap.take() else { return };
                match w.recv(msg2) {
                    Ok(payload) => {
                        *result = w.finish().ok();
                        let _ = node.provide_remote_payload(*conn, &payload, now);
                    }
                    Err(_) => {
                        let err = hyperwasm_relay::hyperdht::HyperDhtError::HandshakeInvalid;
                        let _ = node.abort(*conn, err, now);
                    }
                }
            }
            Event::Connected { conn, stream, .. } => {
                if node.udx().info(*stream).is_some_and(|i| i.remote_ended) {
                    self.ended_before_connected.insert(*stream);
                }
                let Some((_, server, _, Some(result))) = self.clients.remove(conn) else { return };
                self.open(*stream, result, server, now);
            }
            Event::IncomingHandshake { server, hs, msg1, local_payload, .. } => {
                let Some(kp) = self.servers.get(server).and_then(|pk| self.keys.get(pk)) else { return };
                let mut w = NoiseWrap::responder(kp);
                let Ok(remote) = w.recv(msg1) else {
                    let _ = node.reject_handshake(*hs, now);
                    return;
                };
                let remote_key = w.remote_public_key().unwrap_or_default();
                if self.reject.contains(&remote_key) {
                    let _ = node.reject_handshake(*hs, now);
                    return;
                }
                let mut local: NoisePayload = local_payload.clone();
                local.error = payload_error(&remote);
                let msg2 = w.send(&local).expect("msg2");
                if let Ok(res) = w.finish() {
                    self.accepted.insert(*hs, res);
                }
                node.accept_handshake(*hs, msg2, &remote, now).expect("accept");
            }
            Event::Incoming { hs, stream, .. } => {
                let Some(result) = self.accepted.remove(hs) else { return };
                let remote = result.remote_public_key();
                self.open(*stream, result, remote, now);
                if let (Some(greeting), Some(c)) = (&self.greeting, self.conns.get_mut(stream)) {
                    c.ss.send(greeting).expect("send");
                    self.ending.insert(*stream);
                }
            }
            Event::Stream(udx::Event::Readable { id }) => self.read(node, *id, now),
            _ => {}
        }
    }

    fn open(&mut self, stream: u32, result: NoiseWrapResult, remote: [u8; 32], now: u64) {
        let mut ss = SecretStream::from_handshake(result.handshake, SecretStreamOptions::default());
        ss.start(now);
        self.conns.insert(stream, Conn { ss, received: Vec::new(), remote_public_key: remote });
    }

    fn read(&mut self, node: &mut Node, stream: u32, now: u64) {
        if !self.conns.contains_key(&stream) {
            return;
        }
        let mut buf = Vec::new();
        while node.stream_read(stream, &mut buf) > 0 {}
        let Some(c) = self.conns.get_mut(&stream) else { return };
        if !buf.is_empty() {
            if let Err(e) = c.ss.on_bytes(&buf, now) {
                eprintln!(
                    "secret-stream error on {stream}: {e:?} ({} bytes: {:02x?})",
                    buf.len(),
                    &buf[..buf.len().min(64)]
                );
                return;
            }
        }
        while let Some(ev) = c.ss.poll_event() {
            if let SecretStreamEvent::Message(m) = ev {
                if let (Some(prefix), false) = (&self.echo, c.ss.is_initiator()) {
                    let mut reply = prefix.clone();
                    reply.extend_from_slice(&m);
                    let _ = c.ss.send(&reply);
                }
                c.received.push(m);
            }
        }
    }

    /// Writes pending secret-stream bytes to the UDX streams.
    pub fn pump_streams(&mut self, node: &mut Node) -> bool {
        let mut moved = false;
        for (id, c) in self.conns.iter_mut() {
            if c.ss.has_outgoing() {
                let n = node.stream_write(*id, c.ss.outgoing());
                if n > 0 {
                    c.ss.consume_outgoing(n);
                    moved = true;
                }
            }
            if !c.ss.has_outgoing() && self.ending.remove(id) {
                node.stream_end(*id);
                moved = true;
            }
        }
        moved
    }
}
