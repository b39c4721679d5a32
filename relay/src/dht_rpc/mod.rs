//! dht-rpc as a sans-IO state machine: the UDP request/response protocol, the Kademlia routing
//! table, iterative queries, NAT sampling and the firewall check of JS `dht-rpc@6.27.0`
//! (`index.js`, `lib/io.js`, `lib/query.js`) with `kademlia-routing-table` and `nat-sampler`.
//!
//! Nothing here touches a socket or a clock: the driver feeds datagrams
//! ([`Rpc::handle_datagram`]) and time ([`Rpc::handle_timeout`]) in and takes [`Transmit`]s,
//! [`RpcEvent`]s and the next deadline ([`Rpc::poll_timeout`]) out.

pub mod commands;
pub mod congestion;
pub mod errors;
mod handlers;
mod io;
mod maintenance;
pub mod messages;
pub mod nat;
mod network;
pub mod peer;
mod queries;
pub mod query;
pub mod rate_limit;
mod rng;
pub mod rpc;
pub mod table;
pub mod token;
mod types;

#[cfg(test)]
mod sim;

use std::net::SocketAddrV4;

pub use congestion::DEFAULT_MAX_WINDOW;
pub use errors::RpcError;
pub use io::IoStats;
pub use messages::DecodeError;
pub use query::QuerySpec;
pub use rate_limit::RateLimit;
pub use rpc::{
    IncomingRequest, Limits, OutgoingRequest, QueryId, ReplySpec, RequestId, Response, Rpc, RpcEvent,
    RpcOptions, RpcStats,
};

/// A node id: `BLAKE2b-256` of the node's 6-byte `ipv4Address` ([`peer::id`]).
pub type NodeId = [u8; 32];

/// A 32-byte round-trip token (a node hands one out in replies and accepts it back for a while).
pub type Token = [u8; 32];

/// Which of the node's UDP sockets a datagram arrived on or must leave from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SocketKind {
    /// The node's one long-lived socket (its address is the node's id when persistent).
    Main,
    /// The short-lived socket of a firewall check: the driver opens it on the first transmit
    /// that names it and closes it on [`RpcEvent::CloseProbe`].
    Probe,
}

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddrV4,
    /// The socket to send it from.
    pub socket: SocketKind,
    /// The datagram.
    pub bytes: Vec<u8>,
}
