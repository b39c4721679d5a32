//! The hyperdht layer (npm `hyperdht`): storage commands, PEER_HANDSHAKE routing, server
//! self-announce, client operations and the connection flows, all sans-IO, composed by
//! [`node::Node`] on top of the dht-rpc [`Rpc`](crate::dht_rpc::rpc::Rpc) and the UDX
//! [`Endpoint`](crate::udx::Endpoint).
//!
//! The pieces talk to `Node` in plain data: an incoming request arrives as a [`Incoming`], the
//! logic answers with an [`Answer`]; requests and queries it wants made are pushed as
//! [`Cmd`]s tagged with the piece's own key, and their results come back by that key as
//! [`Reply`]s. Nothing here holds a secret key: signatures and Noise messages are *asked for*
//! (see `docs/hyperdht.md`, "Handshakes are asked for").

pub mod announcer;
pub mod cache;
pub mod connect;
pub mod errors;
pub mod node;
mod node_events;
pub mod ops;
pub mod persistent;
pub mod router;
pub mod server;

use std::net::SocketAddrV4;

pub use errors::HyperDhtError;
pub use hyperwasm::hyperdht::crypto::hash;

/// A 32-byte node id, target, topic, token or public key.
pub type Key = [u8; 32];

/// Command numbers (hyperdht `lib/constants.js` `COMMANDS`).
pub mod command {
    pub use hyperwasm::hyperdht::constants::command::*;
}

/// dht-rpc's internal PING command (sent with the internal flag).
pub const CMD_PING: u64 = 0;
/// dht-rpc error: the command is not handled here.
pub const ERR_UNKNOWN_COMMAND: u64 = 1;

/// An incoming non-internal request, as the hyperdht logic sees it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// UDP source.
    pub from: SocketAddrV4,
    /// Command number.
    pub command: u64,
    /// `target`, if present.
    pub target: Option<Key>,
    /// The request's token, present only if it was one we issued (dht-rpc answers wrong
    /// tokens with INVALID_TOKEN before the hyperdht logic sees the request).
    pub token: Option<Key>,
    /// `value`, if present.
    pub value: Option<&'a [u8]>,
}

/// How to answer an incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Stay silent (malformed, unauthorised or unroutable; the requester times out).
    Silent,
    /// A response (JS `req.reply(value, { token, closerNodes, to })`).
    Reply {
        /// Response value.
        value: Option<Vec<u8>>,
        /// Include a fresh token.
        token: bool,
        /// Include the nodes closest to the target.
        closer_nodes: bool,
        /// Send to this address instead of the requester (routing a handshake REPLY back to
        /// the client); the response's `to` field is then this address too.
        to: Option<SocketAddrV4>,
    },
    /// An error response (JS `req.error(code)`: no token, closer nodes).
    Error {
        /// Error number.
        code: u64,
    },
    /// Forward the request itself (same tid, command, target; no token; new value) to `to`
    /// (JS `req.relay(value, to)`).
    Relay {
        /// New value.
        value: Vec<u8>,
        /// Next hop.
        to: SocketAddrV4,
    },
}

impl Answer {
    /// `req.reply(value)` with JS defaults (token and closer nodes).
    pub fn reply(value: Option<Vec<u8>>) -> Self {
        Answer::Reply { value, token: true, closer_nodes: true, to: None }
    }

    /// `req.reply(null, { token: false, closerNodes: false })`.
    pub fn bare() -> Self {
        Answer::Reply { value: None, token: false, closer_nodes: false, to: None }
    }
}

/// A request a hyperdht piece wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRequest {
    /// Destination.
    pub to: SocketAddrV4,
    /// Command number.
    pub command: u64,
    /// dht-rpc internal flag (only for PING here).
    pub internal: bool,
    /// Target.
    pub target: Option<Key>,
    /// Token to echo.
    pub token: Option<Key>,
    /// Value.
    pub value: Option<Vec<u8>>,
}

impl OutRequest {
    /// A hyperdht (non-internal) command about `target`.
    pub fn command(
        to: SocketAddrV4,
        command: u64,
        target: Key,
        token: Option<Key>,
        value: Option<Vec<u8>>,
    ) -> Self {
        OutRequest { to, command, internal: false, target: Some(target), token, value }
    }

    /// dht-rpc's internal PING.
    pub fn ping(to: SocketAddrV4) -> Self {
        OutRequest { to, command: CMD_PING, internal: true, target: None, token: None, value: None }
    }
}

/// An iterative query a hyperdht piece wants run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutQuery {
    /// Command number.
    pub command: u64,
    /// Target.
    pub target: Key,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Nodes to start from instead of the routing table (empty: the table).
    pub nodes: Vec<SocketAddrV4>,
}

/// A response, as the hyperdht logic sees it (from a request, or one reply of a query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Responder.
    pub from: SocketAddrV4,
    /// Responder's id, if it sent one that matches its address.
    pub from_id: Option<Key>,
    /// Our address as the responder saw it.
    pub to: SocketAddrV4,
    /// Token for a follow-up request.
    pub token: Option<Key>,
    /// Error number (0 = none).
    pub error: u64,
    /// Value.
    pub value: Option<Vec<u8>>,
}

/// Something a hyperdht piece wants `Node` to do, tagged with the piece's own key `K`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd<K> {
    /// Send a request; its result comes back by `K`.
    Request(K, OutRequest),
    /// Run a query; its replies and end come back by `K`.
    Query(K, OutQuery),
    /// Stop the query started under `K`.
    DestroyQuery(K),
    /// Ask the key holder of the ask's public key to sign; the signature comes back by `K`.
    Sign(K, SignAsk),
    /// Connect our UDX `stream` to the peer's stream `remote_id` at `to`.
    StreamConnect {
        /// Our stream.
        stream: u32,
        /// The peer's stream id.
        remote_id: u32,
        /// The peer's address.
        to: SocketAddrV4,
    },
    /// Destroy our UDX stream (a failed or abandoned connection).
    StreamDestroy(u32),
}

/// What a signature covers, for a key holder that wants to check before signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignKind {
    /// An ANNOUNCE record (`NS_ANNOUNCE`).
    Announce,
    /// An UNANNOUNCE (`NS_UNANNOUNCE`).
    Unannounce,
}

/// The parts an announce/unannounce signature covers: the signable is
/// `NS ‖ BLAKE2b-256(target ‖ node_id ‖ token ‖ encode(peer) [‖ refresh])`. A delegated key
/// holder (a relay client) recomputes it with [`SignParts::signable`] and checks `target` and
/// `peer.public_key` before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignParts {
    /// Announce or unannounce.
    pub kind: SignKind,
    /// The topic (or `hash(publicKey)` for a server's self-announce).
    pub target: Key,
    /// The id of the node that will store (or remove) the record.
    pub node_id: Key,
    /// That node's token (from its LOOKUP / FIND_PEER reply).
    pub token: Key,
    /// The record exactly as sent.
    pub peer: hyperwasm::hyperdht::messages::Peer,
    /// The refresh token, if the record carries one.
    pub refresh: Option<Key>,
}

impl SignParts {
    /// The 64 bytes the signature covers.
    pub fn signable(&self) -> [u8; 64] {
        use hyperwasm::hyperdht::crypto::{announce_signable, unannounce_signable};
        let refresh = self.refresh.as_ref();
        match self.kind {
            SignKind::Announce => {
                announce_signable(&self.target, &self.node_id, &self.token, &self.peer, refresh)
            }
            SignKind::Unannounce => {
                unannounce_signable(&self.target, &self.node_id, &self.token, &self.peer, refresh)
            }
        }
    }
}

/// A signature asked for by a piece ([`Cmd::Sign`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignAsk {
    /// Whose signature.
    pub public_key: Key,
    /// The 64 bytes to sign.
    pub signable: [u8; 64],
    /// What the signable covers (announce/unannounce); `None` for a mutable put.
    pub parts: Option<SignParts>,
}

impl SignAsk {
    /// An announce/unannounce signature: the signable computed from `parts`.
    pub fn record(public_key: Key, parts: SignParts) -> Self {
        SignAsk { public_key, signable: parts.signable(), parts: Some(parts) }
    }
}

/// The `announce` value of a bare record: `public_key` with no relay addresses, refresh or
/// bump, signed with `signature` (what an UNANNOUNCE carries, and a server's self-announce).
pub fn bare_announce(public_key: Key, signature: [u8; 64]) -> Vec<u8> {
    use hyperwasm::encoding::Compact;
    use hyperwasm::hyperdht::messages::{Announce, Peer};
    Announce {
        peer: Some(Peer { public_key, relay_addresses: Vec::new() }),
        refresh: None,
        signature: Some(signature),
        bump: 0,
    }
    .to_bytes()
}

/// Whether an IPv4 address is private or reserved (npm `bogon`): such addresses in a peer's
/// payload are not used to reach it across the internet.
pub fn is_bogon(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, c, d] = ip.octets();
    let private = a == 10
        || (a == 100 && (64..=127).contains(&b))
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..=31).contains(&b))
        || (a == 192 && b == 168);
    let reserved = a == 0
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (18..=19).contains(&b))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224
        || (a == 255 && b == 255 && c == 255 && d == 255);
    private || reserved
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn bogons_as_npm_bogon() {
        for ip in [
            "10.1.2.3",
            "127.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "0.1.2.3",
            "224.0.0.1",
            "198.18.0.1",
            "203.0.113.5",
            "169.254.1.1",
        ] {
            assert!(is_bogon(ip.parse::<Ipv4Addr>().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "1.0.0.1", "198.51.101.1"] {
            assert!(!is_bogon(ip.parse::<Ipv4Addr>().unwrap()), "{ip}");
        }
    }
}
