//! PEER_HANDSHAKE and PEER_HOLEPUNCH routing, done by every node (hyperdht `lib/router.js`).
//!
//! A node knows, per target (`BLAKE2b-256(server public key)`), either the address a server
//! self-announced from (it *stores* the server's record and relays to it), or that the server
//! is local (it then hands the handshake to [`super::server`]). Requests are forwarded with
//! dht-rpc `relay` (same tid, no token) and the final REPLY goes straight to the client with
//! `reply(…, { to })`, so the client sees its own tid come back from the node it asked.

use super::cache::GenCache;
use super::server::ServerId;
use super::{Answer, Incoming, Key};
use hyperwasm::encoding::Compact;
use hyperwasm::hyperdht::constants::mode::{FROM_CLIENT, FROM_RELAY, FROM_SECOND_RELAY, FROM_SERVER, REPLY};
use hyperwasm::hyperdht::messages::{decode, Handshake, Holepunch};
use std::net::SocketAddrV4;

/// What a node knows about a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// Where the server announced from (a storing node's view); `None` for a local server.
    pub relay: Option<SocketAddrV4>,
    /// The server's `peer` record, as stored.
    pub record: Vec<u8>,
    /// The local server listening on this target.
    pub server: Option<ServerId>,
}

/// A PEER_HANDSHAKE the local server must answer (through [`server_handshake_answer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHandshake {
    /// The local server.
    pub server: ServerId,
    /// FROM_CLIENT, FROM_RELAY or FROM_SECOND_RELAY.
    pub mode: u64,
    /// The client's Noise message.
    pub noise: Vec<u8>,
    /// The client's address as the first relay saw it (None when the client came directly).
    pub peer_address: Option<SocketAddrV4>,
    /// The first relay, for FROM_SECOND_RELAY.
    pub relay_address: Option<SocketAddrV4>,
}

/// The outcome of routing one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// Answer (or forward, or ignore) the request as given.
    Answer(Answer),
    /// The handshake is for a local server.
    ToServer(ServerHandshake),
}

/// Router state (JS `Router`): bounded, 20 min for relayed targets, no expiry for local
/// servers.
#[derive(Debug)]
pub struct Router {
    forwards: GenCache<Key, Forward>,
}

impl Router {
    /// An empty router with JS's bounds (65536 entries, 20 minutes).
    pub fn new(now_ms: u64) -> Self {
        Router::with_bounds(65536, 20 * 60 * 1000, now_ms)
    }

    /// An empty router with explicit bounds.
    pub fn with_bounds(max_size: usize, max_age_ms: u64, now_ms: u64) -> Self {
        Router { forwards: GenCache::new(max_size, max_age_ms, now_ms) }
    }

    /// What is known about `target`.
    pub fn get(&mut self, target: &Key, now_ms: u64) -> Option<&Forward> {
        self.forwards.get(target, now_ms)
    }

    /// Records a server's self-announce received from `relay` (ignored for local servers).
    pub fn set_relay(&mut self, target: Key, relay: SocketAddrV4, record: Vec<u8>, now_ms: u64) {
        self.forwards.set(target, Forward { relay: Some(relay), record, server: None }, now_ms);
    }

    /// Registers a local server for `target` (kept until [`Router::delete_server`]).
    pub fn set_server(&mut self, target: Key, server: ServerId, record: Vec<u8>) {
        self.forwards.retain(target, Forward { relay: None, record, server: Some(server) });
    }

    /// Forgets a relayed target (a local server's entry stays).
    pub fn delete_relay(&mut self, target: &Key) {
        if let Some(f) = self.forwards.get(target, 0) {
            if f.server.is_some() {
                return;
            }
        }
        self.forwards.delete(target);
    }

    /// Forgets a local server's entry.
    pub fn delete_server(&mut self, target: &Key) {
        self.forwards.delete(target);
    }

    /// Routes a PEER_HANDSHAKE request (JS `onpeerhandshake`).
    pub fn on_peer_handshake(&mut self, req: &Incoming<'_>, now_ms: u64) -> Routed {
        let Some(hs) = req.value.and_then(|v| decode::<Handshake>(v).ok()) else {
            return Routed::Answer(Answer::Silent);
        };
        let state = req.target.and_then(|t| self.forwards.get(&t, now_ms)).cloned();
        let relay = state.as_ref().and_then(|s| s.relay);
        if let Some(server) = state.as_ref().and_then(|s| s.server) {
            return match hs.mode {
                FROM_CLIENT | FROM_RELAY | FROM_SECOND_RELAY => Routed::ToServer(ServerHandshake {
                    server,
                    mode: hs.mode,
                    noise: hs.noise,
                    peer_address: hs.peer_address,
                    relay_address: hs.relay_address,
                }),
                _ => Routed::Answer(Answer::Silent),
            };
        }
        let answer = match hs.mode {
            FROM_CLIENT => match hs.relay_address.or(relay) {
                // No route known: "help the user route" with closer nodes.
                None => Answer::Reply { value: None, token: false, closer_nodes: true, to: None },
                Some(to) => Answer::Relay {
                    value: Handshake {
                        mode: FROM_RELAY,
                        noise: hs.noise,
                        peer_address: Some(req.from),
                        relay_address: None,
                    }
                    .to_bytes(),
                    to,
                },
            },
            FROM_RELAY => match relay {
                None => Answer::Silent,
                Some(to) => Answer::Relay {
                    value: Handshake {
                        mode: FROM_SECOND_RELAY,
                        noise: hs.noise,
                        peer_address: hs.peer_address,
                        relay_address: Some(req.from),
                    }
                    .to_bytes(),
                    to,
                },
            },
            FROM_SERVER => match hs.peer_address {
                None => Answer::Silent,
                Some(client) => Answer::Reply {
                    value: Some(
                        Handshake {
                            mode: REPLY,
                            noise: hs.noise,
                            peer_address: Some(req.from),
                            relay_address: None,
                        }
                        .to_bytes(),
                    ),
                    token: false,
                    closer_nodes: false,
                    to: Some(client),
                },
            },
            _ => Answer::Silent,
        };
        Routed::Answer(answer)
    }

    /// Routes a PEER_HOLEPUNCH request (JS `onpeerholepunch`). A local server does not take
    /// part in holepunching (it advertises itself as reachable instead), so rounds meant for it
    /// are ignored.
    pub fn on_peer_holepunch(&mut self, req: &Incoming<'_>, now_ms: u64) -> Answer {
        let Some(hp) = req.value.and_then(|v| decode::<Holepunch>(v).ok()) else {
            return Answer::Silent;
        };
        let state = req.target.and_then(|t| self.forwards.get(&t, now_ms)).cloned();
        let relay = state.as_ref().and_then(|s| s.relay);
        match hp.mode {
            FROM_CLIENT => match hp.peer_address.or(relay) {
                None => Answer::Silent,
                Some(to) => Answer::Relay {
                    value: Holepunch {
                        mode: FROM_RELAY,
                        id: hp.id,
                        payload: hp.payload,
                        peer_address: Some(req.from),
                    }
                    .to_bytes(),
                    to,
                },
            },
            FROM_SERVER => Answer::Reply {
                value: Some(
                    Holepunch { mode: REPLY, id: hp.id, payload: hp.payload, peer_address: Some(req.from) }
                        .to_bytes(),
                ),
                token: false,
                closer_nodes: false,
                to: Some(hp.peer_address.unwrap_or(req.from)),
            },
            // FROM_RELAY reaches the server itself: we do not punch.
            _ => Answer::Silent,
        }
    }
}

/// How a local server's Noise reply travels back (JS `onpeerhandshake`, server branch):
/// FROM_CLIENT → a REPLY response; FROM_RELAY → a FROM_SERVER request relayed to the relay
/// that reached us (original tid); FROM_SECOND_RELAY → the same, to the first relay.
pub fn server_handshake_answer(hs: &ServerHandshake, from: SocketAddrV4, reply_noise: &[u8]) -> Answer {
    let server_msg = |to| Answer::Relay {
        value: Handshake {
            mode: FROM_SERVER,
            noise: reply_noise.to_vec(),
            peer_address: hs.peer_address,
            relay_address: None,
        }
        .to_bytes(),
        to,
    };
    match hs.mode {
        FROM_CLIENT => Answer::Reply {
            value: Some(
                Handshake {
                    mode: REPLY,
                    noise: reply_noise.to_vec(),
                    peer_address: None,
                    relay_address: None,
                }
                .to_bytes(),
            ),
            token: false,
            closer_nodes: false,
            to: None,
        },
        FROM_RELAY => server_msg(from),
        FROM_SECOND_RELAY => match hs.relay_address {
            Some(first) => server_msg(first),
            None => Answer::Silent,
        },
        _ => Answer::Silent,
    }
}
