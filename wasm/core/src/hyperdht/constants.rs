//! Command numbers, firewall kinds, error codes and PEER_HANDSHAKE / PEER_HOLEPUNCH modes
//! (hyperdht `lib/constants.js`, `lib/router.js`). The namespaces live in
//! [`super::crypto`].
//!
//! Wire numbers stay plain `u64`s in the message structs, as JS keeps them: a peer may send a
//! value we do not know, and re-encoding must give back what it sent.

/// hyperdht commands, all sent as dht-rpc *non-internal* commands.
pub mod command {
    /// Noise handshake routed towards a server (value: [`Handshake`](crate::hyperdht::messages::Handshake)).
    pub const PEER_HANDSHAKE: u64 = 0;
    /// Holepunch round routed between the peers (value: [`Holepunch`](crate::hyperdht::messages::Holepunch)).
    pub const PEER_HOLEPUNCH: u64 = 1;
    /// Find the self-announce record of `BLAKE2b-256(publicKey)`.
    pub const FIND_PEER: u64 = 2;
    /// Look up the records announced under a topic.
    pub const LOOKUP: u64 = 3;
    /// Store a signed record under a topic.
    pub const ANNOUNCE: u64 = 4;
    /// Remove a signed record from a topic.
    pub const UNANNOUNCE: u64 = 5;
    /// Store a signed mutable value.
    pub const MUTABLE_PUT: u64 = 6;
    /// Fetch a signed mutable value.
    pub const MUTABLE_GET: u64 = 7;
    /// Store a value under its hash.
    pub const IMMUTABLE_PUT: u64 = 8;
    /// Fetch a value by its hash.
    pub const IMMUTABLE_GET: u64 = 9;
    /// A request for a registered plugin (value: [`PluginRequest`](crate::hyperdht::messages::PluginRequest)).
    pub const PLUGIN: u64 = 10;
}

/// NAT kinds a peer reports in its payloads (`FIREWALL`).
pub mod firewall {
    /// Not known (yet).
    pub const UNKNOWN: u64 = 0;
    /// Reachable from anywhere.
    pub const OPEN: u64 = 1;
    /// Behind a NAT that keeps the same external port for every destination.
    pub const CONSISTENT: u64 = 2;
    /// Behind a NAT that picks a new external port per destination.
    pub const RANDOM: u64 = 3;
}

/// Error numbers carried in payloads and dht-rpc replies (`ERROR`).
pub mod error {
    /// No error.
    pub const NONE: u64 = 0;
    /// The connection attempt was given up.
    pub const ABORTED: u64 = 1;
    /// The peer speaks another payload version.
    pub const VERSION_MISMATCH: u64 = 2;
    /// A random-NAT punch is already running; try again later.
    pub const TRY_LATER: u64 = 3;
    /// MUTABLE_PUT with a sequence number already used for another value.
    pub const SEQ_REUSED: u64 = 16;
    /// MUTABLE_PUT with a sequence number below the stored one.
    pub const SEQ_TOO_LOW: u64 = 17;
}

/// Routing modes of PEER_HANDSHAKE and PEER_HOLEPUNCH values (`lib/router.js`).
pub mod mode {
    /// Sent by the client to a node.
    pub const FROM_CLIENT: u64 = 0;
    /// Sent by the server back to the relay that reached it.
    pub const FROM_SERVER: u64 = 1;
    /// Forwarded by the first relay.
    pub const FROM_RELAY: u64 = 2;
    /// Forwarded by a second relay.
    pub const FROM_SECOND_RELAY: u64 = 3;
    /// The answer delivered to the client.
    pub const REPLY: u64 = 4;
}

/// Version of the Noise payload and of its `udx`, `secretStream` and `relayThrough` sections.
pub const PAYLOAD_VERSION: u64 = 1;
