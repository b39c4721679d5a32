//! The tokio driver of the HyperDHT node (`docs/hyperdht.md`): sockets and timers around the
//! sans-IO state machines, and the async handles applications use.
//!
//! - [`Dht`] (cloneable) talks to one driver task that owns the `Node` and its UDP socket.
//! - [`Connection`]: an established connection's raw UDX byte stream plus the handshake;
//!   [`Connection::encrypted`] is the plaintext [`EncryptedStream`].
//! - [`Server`]: connections accepted for one key pair.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hyperwasm_relay::dht::DhtError> {
//! use hyperwasm_relay::dht::{Dht, DhtConfig};
//! use hyperwasm::crypto::KeyPair;
//! let dht = Dht::bind(DhtConfig::client(vec!["127.0.0.1:49737".parse().unwrap()])).await?;
//! dht.ready().await?;
//! let key_pair = KeyPair::generate().expect("randomness");
//! let mut server = dht.listen(&key_pair).await?;
//! let conn = server.accept().await;
//! # Ok(()) }
//! ```

pub mod conn;
pub mod delegate;
mod driver;
pub mod encrypted;
mod error;
pub mod handles;
mod keyholder;
pub mod socket;
mod streams;

pub use conn::{Connection, ConnectionInfo, ReadHalf, WriteHalf};
pub use delegate::{Ask, Asked, Delegate, DelegatedConnection, DelegatedInfo, DelegatedServer};
pub use encrypted::{EncryptedOptions, EncryptedStream};
pub use error::DhtError;
pub use handles::{
    Announced, Commit, Dht, ImmutablePut, Lookup, LookupReply, MutablePut, MutableValue, NodeInfo, Server,
};
pub use socket::LossShim;

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::dht_rpc::RateLimit;

/// How to start a [`Dht`].
#[derive(Clone, Debug)]
pub struct DhtConfig {
    /// Address to bind (port 0: any free port).
    pub bind: SocketAddrV4,
    /// Nodes to bootstrap from (empty: this is the first node of a network).
    pub bootstrap: Vec<SocketAddrV4>,
    /// `Some(true)`: never join others' routing tables (a client); `Some(false)`: persistent
    /// from the start (testnet nodes); `None`: adaptive, as dht-rpc decides.
    pub ephemeral: Option<bool>,
    /// Whether we claim to be firewalled (unreachable without holepunching).
    pub firewalled: bool,
    /// Advertise this address as directly reachable in handshakes (`None`: the bound address
    /// when it is loopback, else what other nodes report seeing).
    pub public_address: Option<SocketAddrV4>,
    /// Drop datagrams at random, both directions (tests of loss recovery).
    pub loss: Option<LossShim>,
    /// Per-source-host limit on incoming requests.
    pub rate_limit: RateLimit,
    /// Outbound request window per 750 ms slot (JS dht-rpc `maxWindow`, default 80). A node
    /// that queries for many clients at once (the WebSocket relay) needs a wider one.
    pub max_window: u32,
}

impl DhtConfig {
    /// An ephemeral client node on `0.0.0.0:0` (what JS `testnet.createNode()` makes, minus
    /// the loopback bind).
    pub fn client(bootstrap: Vec<SocketAddrV4>) -> Self {
        DhtConfig {
            bind: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            bootstrap,
            ephemeral: Some(true),
            firewalled: true,
            public_address: None,
            loss: None,
            rate_limit: RateLimit::default(),
            max_window: crate::dht_rpc::DEFAULT_MAX_WINDOW,
        }
    }

    /// A persistent, unfirewalled node (a testnet member, JS `createTestnet`'s nodes).
    pub fn persistent(bind: SocketAddrV4, bootstrap: Vec<SocketAddrV4>) -> Self {
        DhtConfig {
            bind,
            bootstrap,
            ephemeral: Some(false),
            firewalled: false,
            public_address: None,
            loss: None,
            rate_limit: RateLimit::default(),
            max_window: crate::dht_rpc::DEFAULT_MAX_WINDOW,
        }
    }
}
