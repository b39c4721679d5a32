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

    /// What is known about `target`, without refreshing it.
    pub fn peek(&self, target: &Key) -> Option<&Forward> {
        self.forwards.peek(target)
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
        if self.forwards.peek(target).is_some_and(|f| f.server.is_some()) {
            return;
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

#[cfg(test)]
mod tests {
    use super::*;
    use hyperwasm::hyperdht::constants::command;
    use std::net::Ipv4Addr;

    fn addr(i: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(20, 0, 0, i), 2000 + i as u16)
    }

    const T: Key = [5u8; 32];

    fn hs(mode: u64, peer: Option<SocketAddrV4>, relay: Option<SocketAddrV4>) -> Vec<u8> {
        Handshake { mode, noise: b"msg1".to_vec(), peer_address: peer, relay_address: relay }.to_bytes()
    }

    fn route(r: &mut Router, from: SocketAddrV4, value: &[u8]) -> Routed {
        let req = Incoming {
            from,
            command: command::PEER_HANDSHAKE,
            target: Some(T),
            token: None,
            value: Some(value),
        };
        r.on_peer_handshake(&req, 0)
    }

    fn relayed(a: Routed) -> (Handshake, SocketAddrV4) {
        match a {
            Routed::Answer(Answer::Relay { value, to }) => (decode(&value).unwrap(), to),
            other => panic!("expected a relay, got {other:?}"),
        }
    }

    #[test]
    fn a_node_without_a_route_helps_with_closer_nodes() {
        let mut r = Router::new(0);
        let a = route(&mut r, addr(1), &hs(FROM_CLIENT, None, None));
        assert_eq!(
            a,
            Routed::Answer(Answer::Reply { value: None, token: false, closer_nodes: true, to: None })
        );
        // FROM_RELAY without a route, garbage, missing value: silent.
        assert_eq!(
            route(&mut r, addr(1), &hs(FROM_RELAY, Some(addr(9)), None)),
            Routed::Answer(Answer::Silent)
        );
        assert_eq!(route(&mut r, addr(1), &[0xff]), Routed::Answer(Answer::Silent));
    }

    #[test]
    fn storing_node_relays_from_client_and_replies_from_server_to_the_client() {
        let mut r = Router::new(0);
        let (client, relay, server) = (addr(1), addr(2), addr(3));
        r.set_relay(T, server, vec![1], 0);
        let (h, to) = relayed(route(&mut r, client, &hs(FROM_CLIENT, None, None)));
        assert_eq!(to, server);
        assert_eq!((h.mode, h.peer_address, h.relay_address), (FROM_RELAY, Some(client), None));
        assert_eq!(h.noise, b"msg1");
        // The server answers with FROM_SERVER (a request); the relay replies REPLY to the client.
        let v = Handshake {
            mode: FROM_SERVER,
            noise: b"msg2".to_vec(),
            peer_address: Some(client),
            relay_address: None,
        }
        .to_bytes();
        let a = route(&mut r, server, &v);
        let Routed::Answer(Answer::Reply { value: Some(v), token: false, closer_nodes: false, to: Some(to) }) =
            a
        else {
            panic!("{a:?}")
        };
        assert_eq!(to, client);
        let h: Handshake = decode(&v).unwrap();
        assert_eq!((h.mode, h.peer_address, h.noise.as_slice()), (REPLY, Some(server), &b"msg2"[..]));
        // A client-given relay address wins over the stored route.
        let (_, to) = relayed(route(&mut r, client, &hs(FROM_CLIENT, None, Some(addr(7)))));
        assert_eq!(to, addr(7));
        let _ = relay;
    }

    #[test]
    fn second_relay_forwards_with_the_first_relay_address() {
        let mut r = Router::new(0);
        r.set_relay(T, addr(3), vec![1], 0);
        let (h, to) = relayed(route(&mut r, addr(2), &hs(FROM_RELAY, Some(addr(1)), None)));
        assert_eq!(to, addr(3));
        assert_eq!(
            (h.mode, h.peer_address, h.relay_address),
            (FROM_SECOND_RELAY, Some(addr(1)), Some(addr(2)))
        );
    }

    #[test]
    fn local_server_gets_the_handshake_and_answers_per_mode() {
        let mut r = Router::new(0);
        r.set_server(T, ServerId(4), vec![1]);
        let Routed::ToServer(s) = route(&mut r, addr(2), &hs(FROM_RELAY, Some(addr(1)), None)) else {
            panic!()
        };
        assert_eq!((s.server, s.mode, s.peer_address), (ServerId(4), FROM_RELAY, Some(addr(1))));
        // FROM_RELAY → a FROM_SERVER request back to the relay, carrying the client address.
        let a = server_handshake_answer(&s, addr(2), b"msg2");
        let Answer::Relay { value, to } = a else { panic!() };
        let h: Handshake = decode(&value).unwrap();
        assert_eq!((to, h.mode, h.peer_address), (addr(2), FROM_SERVER, Some(addr(1))));
        // FROM_CLIENT → a REPLY response without token or closer nodes.
        let Routed::ToServer(s) = route(&mut r, addr(1), &hs(FROM_CLIENT, None, None)) else { panic!() };
        let Answer::Reply { value: Some(v), token: false, closer_nodes: false, to: None } =
            server_handshake_answer(&s, addr(1), b"m2")
        else {
            panic!()
        };
        let h: Handshake = decode(&v).unwrap();
        assert_eq!((h.mode, h.peer_address), (REPLY, None));
        // FROM_SECOND_RELAY → to the first relay; without one: silent.
        let Routed::ToServer(s) =
            route(&mut r, addr(3), &hs(FROM_SECOND_RELAY, Some(addr(1)), Some(addr(2))))
        else {
            panic!()
        };
        let Answer::Relay { to, .. } = server_handshake_answer(&s, addr(3), b"m2") else { panic!() };
        assert_eq!(to, addr(2));
        let Routed::ToServer(s) = route(&mut r, addr(3), &hs(FROM_SECOND_RELAY, Some(addr(1)), None)) else {
            panic!()
        };
        assert_eq!(server_handshake_answer(&s, addr(3), b"m2"), Answer::Silent);
        // REPLY / FROM_SERVER modes are not for a server.
        assert_eq!(route(&mut r, addr(3), &hs(REPLY, None, None)), Routed::Answer(Answer::Silent));
        // A self-announce received for our own key does not replace the local server.
        r.set_relay(T, addr(9), vec![2], 0);
        r.delete_relay(&T);
        assert!(r.get(&T, 0).unwrap().server.is_some());
        r.delete_server(&T);
        assert!(r.get(&T, 0).is_none());
    }

    #[test]
    fn holepunch_routing() {
        let mut r = Router::new(0);
        let hp =
            |mode, peer| Holepunch { mode, id: 3, payload: b"p".to_vec(), peer_address: peer }.to_bytes();
        let go = |r: &mut Router, from, v: &[u8]| {
            r.on_peer_holepunch(
                &Incoming {
                    from,
                    command: command::PEER_HOLEPUNCH,
                    target: Some(T),
                    token: None,
                    value: Some(v),
                },
                0,
            )
        };
        assert_eq!(go(&mut r, addr(1), &hp(FROM_CLIENT, None)), Answer::Silent);
        r.set_relay(T, addr(3), vec![], 0);
        let Answer::Relay { value, to } = go(&mut r, addr(1), &hp(FROM_CLIENT, None)) else { panic!() };
        let h: Holepunch = decode(&value).unwrap();
        assert_eq!((to, h.mode, h.id, h.peer_address), (addr(3), FROM_RELAY, 3, Some(addr(1))));
        let Answer::Reply { value: Some(v), to: Some(to), token: false, closer_nodes: false } =
            go(&mut r, addr(3), &hp(FROM_SERVER, Some(addr(1))))
        else {
            panic!()
        };
        let h: Holepunch = decode(&v).unwrap();
        assert_eq!((to, h.mode, h.peer_address), (addr(1), REPLY, Some(addr(3))));
    }
}
