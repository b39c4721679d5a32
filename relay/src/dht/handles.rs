//! The async handles: [`Dht`] sends commands to the driver task and awaits the answers;
//! [`Lookup`] and [`Server`] receive what the driver streams to them.
//!
//! Every call works on a cloned handle from any task. Dropping a [`Lookup`] cancels its
//! query; dropping a `connect` future abandons the connection; dropping a [`Server`] stops
//! listening. The driver runs until [`Dht::destroy`] or until every handle (including
//! servers and connections) is gone.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use hyperwasm::crypto::KeyPair;
use hyperwasm::hyperdht::messages::Peer;
use tokio::sync::{mpsc, oneshot};

use super::conn::Connection;
use super::delegate::{Answer, Delegate, DelegatedConnection};
use super::{driver, DhtConfig, DhtError};

/// Where a node is and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// Bound address (the host may be `0.0.0.0`).
    pub local_address: SocketAddrV4,
    /// Our address as other nodes see it, once known.
    pub remote_address: Option<SocketAddrV4>,
    /// Our node id (persistent nodes only).
    pub id: Option<[u8; 32]>,
    /// Whether we stay out of others' routing tables.
    pub ephemeral: bool,
    /// Whether we believe we are firewalled.
    pub firewalled: bool,
    /// Nodes in our routing table.
    pub table_size: usize,
}

/// One LOOKUP reply: the records a node holds for the topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupReply {
    /// The replying node.
    pub from: SocketAddrV4,
    /// Announced peers (public key and relay addresses).
    pub peers: Vec<Peer>,
}

/// What one storing node answered a write (announce, unannounce, put).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The storing node.
    pub to: SocketAddrV4,
    /// `Ok(error number)` of its reply (0 stored, 16 SEQ_REUSED, 17 SEQ_TOO_LOW, …), or the
    /// code of the failure (`REQUEST_TIMEOUT`).
    pub result: Result<u64, &'static str>,
}

/// An announce or unannounce that ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announced {
    /// One entry per closest node written to.
    pub commits: Vec<Commit>,
}

/// A stored immutable value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImmutablePut {
    /// Its key: BLAKE2b-256 of the value.
    pub hash: [u8; 32],
    /// What the storing nodes answered.
    pub commits: Vec<Commit>,
}

/// A stored mutable value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutablePut {
    /// The signer.
    pub public_key: [u8; 32],
    /// Its sequence number.
    pub seq: u64,
    /// Its signature.
    pub signature: [u8; 64],
    /// What the storing nodes answered.
    pub commits: Vec<Commit>,
}

/// A mutable value found (signature verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutableValue {
    /// The node that returned it.
    pub from: SocketAddrV4,
    /// Its sequence number.
    pub seq: u64,
    /// The value.
    pub value: Vec<u8>,
    /// Its signature.
    pub signature: [u8; 64],
}

/// A client operation for the driver.
pub(crate) enum OpRequest {
    Lookup {
        topic: [u8; 32],
    },
    FindPeer {
        public_key: [u8; 32],
    },
    Announce {
        topic: [u8; 32],
        key_pair: KeyPair,
        relay_addresses: Vec<SocketAddrV4>,
    },
    Unannounce {
        topic: [u8; 32],
        key_pair: KeyPair,
    },
    AnnounceDelegated {
        topic: [u8; 32],
        public_key: [u8; 32],
        relay_addresses: Vec<SocketAddrV4>,
        delegate: Delegate,
    },
    UnannounceDelegated {
        topic: [u8; 32],
        public_key: [u8; 32],
        delegate: Delegate,
    },
    ImmutablePut {
        value: Vec<u8>,
    },
    ImmutableGet {
        hash: [u8; 32],
    },
    MutablePut {
        key_pair: KeyPair,
        seq: u64,
        value: Vec<u8>,
    },
    MutableGet {
        public_key: [u8; 32],
        seq: u64,
        latest: bool,
    },
}

/// How an operation ended.
#[derive(Debug)]
pub(crate) enum OpDone {
    Queried,
    Committed(Vec<Commit>),
    Mutable(Option<MutableValue>),
    Immutable(Option<(SocketAddrV4, Vec<u8>)>),
}

/// What the driver streams to an operation's handle.
#[derive(Debug)]
pub(crate) enum OpUpdate {
    Reply(LookupReply),
    Done(Result<OpDone, DhtError>),
}

/// A request to the driver task.
pub(crate) enum Command {
    /// Answer once bootstrapped.
    Ready(oneshot::Sender<Result<(), DhtError>>),
    Info(oneshot::Sender<NodeInfo>),
    Op(OpRequest, mpsc::UnboundedSender<OpUpdate>),
    Connect {
        remote_public_key: [u8; 32],
        key_pair: KeyPair,
        relay_addresses: Vec<SocketAddrV4>,
        reply: oneshot::Sender<Result<Connection, DhtError>>,
    },
    Listen {
        key_pair: KeyPair,
        incoming: mpsc::Sender<Connection>,
        reply: oneshot::Sender<Result<u64, DhtError>>,
    },
    ConnectDelegated {
        remote_public_key: [u8; 32],
        public_key: [u8; 32],
        relay_addresses: Vec<SocketAddrV4>,
        delegate: Delegate,
        reply: oneshot::Sender<Result<DelegatedConnection, DhtError>>,
    },
    ListenDelegated {
        public_key: [u8; 32],
        delegate: Delegate,
        incoming: mpsc::Sender<DelegatedConnection>,
        reply: oneshot::Sender<Result<u64, DhtError>>,
    },
    /// A delegate's answer to an ask.
    Answer(Answer),
    ServerRelays(u64, oneshot::Sender<Vec<SocketAddrV4>>),
    CloseServer(u64),
    /// A connection's buffers changed (see `conn::Shared`).
    Poke(u32),
    Destroy(oneshot::Sender<()>),
}

struct Inner {
    cmds: mpsc::UnboundedSender<Command>,
    local: SocketAddrV4,
}

/// A HyperDHT node: the handle to its driver task. Clones share the node.
#[derive(Clone)]
pub struct Dht {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Dht {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dht").field("local", &self.inner.local).finish_non_exhaustive()
    }
}

impl Dht {
    /// Binds the socket and starts the node's task on the current tokio runtime; it starts
    /// bootstrapping at once.
    pub async fn bind(config: DhtConfig) -> Result<Dht, DhtError> {
        let (cmds, local) = driver::spawn(config)?;
        Ok(Dht { inner: Arc::new(Inner { cmds, local }) })
    }

    pub(crate) fn send(&self, cmd: Command) -> Result<(), DhtError> {
        self.inner.cmds.send(cmd).map_err(|_| DhtError::Destroyed)
    }

    pub(crate) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, DhtError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await.map_err(|_| DhtError::Destroyed)
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.inner.local
    }

    /// The address to give others on this machine: the bound one, `0.0.0.0` as loopback.
    pub fn loopback_addr(&self) -> SocketAddrV4 {
        let local = self.inner.local;
        if local.ip().is_unspecified() {
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, local.port())
        } else {
            local
        }
    }

    /// Resolves once bootstrapped (JS `fullyBootstrapped()`); fails when no node answered.
    pub async fn ready(&self) -> Result<(), DhtError> {
        self.ask(Command::Ready).await?
    }

    /// The node's current state.
    pub async fn info(&self) -> Result<NodeInfo, DhtError> {
        self.ask(Command::Info).await
    }

    pub(crate) fn op(&self, req: OpRequest) -> Result<Lookup, DhtError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.send(Command::Op(req, tx))?;
        Ok(Lookup { rx, done: None })
    }

    /// Runs a write (announce, unannounce, put): what the storing nodes answered.
    pub(crate) async fn commit(&self, req: OpRequest) -> Result<Vec<Commit>, DhtError> {
        match self.op(req)?.finish().await? {
            OpDone::Committed(commits) => Ok(commits),
            other => Err(unexpected(other)),
        }
    }

    /// Looks up who announced `topic`: replies stream from [`Lookup::next`].
    pub fn lookup(&self, topic: [u8; 32]) -> Result<Lookup, DhtError> {
        self.op(OpRequest::Lookup { topic })
    }

    /// Finds the relays (nodes holding the self-announce) of `public_key`'s server.
    pub async fn find_peer(&self, public_key: [u8; 32]) -> Result<Vec<LookupReply>, DhtError> {
        self.op(OpRequest::FindPeer { public_key })?.collect().await
    }

    /// Announces `key_pair`'s public key under `topic` with `relay_addresses` (once; records
    /// live 20 minutes on the storing nodes).
    pub async fn announce(
        &self,
        topic: [u8; 32],
        key_pair: &KeyPair,
        relay_addresses: Vec<SocketAddrV4>,
    ) -> Result<Announced, DhtError> {
        let req = OpRequest::Announce { topic, key_pair: key_pair.clone(), relay_addresses };
        Ok(Announced { commits: self.commit(req).await? })
    }

    /// Removes `key_pair`'s record under `topic` from the nodes that hold it.
    pub async fn unannounce(&self, topic: [u8; 32], key_pair: &KeyPair) -> Result<Announced, DhtError> {
        let req = OpRequest::Unannounce { topic, key_pair: key_pair.clone() };
        Ok(Announced { commits: self.commit(req).await? })
    }

    /// Stores `value` under its hash.
    pub async fn immutable_put(&self, value: Vec<u8>) -> Result<ImmutablePut, DhtError> {
        let hash = hyperwasm::hyperdht::crypto::hash(&value);
        Ok(ImmutablePut { hash, commits: self.commit(OpRequest::ImmutablePut { value }).await? })
    }

    /// Fetches the value stored under `hash` (checked against it) and who returned it.
    pub async fn immutable_get(&self, hash: [u8; 32]) -> Result<Option<(SocketAddrV4, Vec<u8>)>, DhtError> {
        match self.op(OpRequest::ImmutableGet { hash })?.finish().await? {
            OpDone::Immutable(found) => Ok(found),
            other => Err(unexpected(other)),
        }
    }

    /// Stores `value` signed by `key_pair` with sequence number `seq`.
    pub async fn mutable_put(
        &self,
        key_pair: &KeyPair,
        value: Vec<u8>,
        seq: u64,
    ) -> Result<MutablePut, DhtError> {
        let public_key = key_pair.public_key();
        let signature = hyperwasm::hyperdht::crypto::sign_mutable(seq, &value, key_pair);
        let commits = self.commit(OpRequest::MutablePut { key_pair: key_pair.clone(), seq, value }).await?;
        Ok(MutablePut { public_key, seq, signature, commits })
    }

    /// Fetches `public_key`'s value with a sequence number ≥ `seq`: the highest found
    /// (`latest`) or the first valid one.
    pub async fn mutable_get(
        &self,
        public_key: [u8; 32],
        seq: u64,
        latest: bool,
    ) -> Result<Option<MutableValue>, DhtError> {
        match self.op(OpRequest::MutableGet { public_key, seq, latest })?.finish().await? {
            OpDone::Mutable(found) => Ok(found),
            other => Err(unexpected(other)),
        }
    }

    /// Connects to the server of `remote_public_key` as `key_pair` (FIND_PEER, Noise IK via
    /// the relays, UDX). `relay_addresses`: known relays (from a lookup), may be empty.
    pub async fn connect(
        &self,
        remote_public_key: [u8; 32],
        key_pair: &KeyPair,
        relay_addresses: Vec<SocketAddrV4>,
    ) -> Result<Connection, DhtError> {
        let key_pair = key_pair.clone();
        let mut conn = self
            .ask(|reply| Command::Connect { remote_public_key, key_pair, relay_addresses, reply })
            .await??;
        conn.attach(self.clone());
        Ok(conn)
    }

    /// Accepts connections for `key_pair` (self-announces and answers handshakes).
    pub async fn listen(&self, key_pair: &KeyPair) -> Result<Server, DhtError> {
        let (incoming, rx) = mpsc::channel(SERVER_BACKLOG);
        let key_pair = key_pair.clone();
        let public_key = key_pair.public_key();
        let id = self.ask(|reply| Command::Listen { key_pair, incoming, reply }).await??;
        Ok(Server { dht: self.clone(), id, public_key, incoming: rx })
    }

    /// Stops the node: every connection and server fails, later calls return
    /// [`DhtError::Destroyed`].
    pub async fn destroy(&self) {
        let _ = self.ask(Command::Destroy).await;
    }
}

/// Connections a server holds for [`Server::accept`] before refusing new ones.
pub const SERVER_BACKLOG: usize = 64;

fn unexpected(done: OpDone) -> DhtError {
    DhtError::Node { code: "INTERNAL", message: format!("unexpected operation outcome {done:?}") }
}

/// A running query (lookup, find_peer) or write: replies as they come, then the outcome.
/// Dropping it cancels the operation.
#[derive(Debug)]
pub struct Lookup {
    rx: mpsc::UnboundedReceiver<OpUpdate>,
    done: Option<Result<OpDone, DhtError>>,
}

impl Lookup {
    /// The next reply; `None` once the query finished (see [`Lookup::collect`] for the outcome).
    pub async fn next(&mut self) -> Option<LookupReply> {
        if self.done.is_some() {
            return None;
        }
        match self.rx.recv().await {
            Some(OpUpdate::Reply(r)) => Some(r),
            Some(OpUpdate::Done(d)) => {
                self.done = Some(d);
                None
            }
            None => {
                self.done = Some(Err(DhtError::Destroyed));
                None
            }
        }
    }

    pub(crate) async fn finish(mut self) -> Result<OpDone, DhtError> {
        while self.next().await.is_some() {}
        self.done.take().unwrap_or(Err(DhtError::Destroyed))
    }

    /// Waits for the end: every reply, or the error that ended the query.
    pub async fn collect(mut self) -> Result<Vec<LookupReply>, DhtError> {
        let mut all = Vec::new();
        while let Some(r) = self.next().await {
            all.push(r);
        }
        self.done.take().unwrap_or(Err(DhtError::Destroyed)).map(|_| all)
    }
}

/// Connections accepted for one key pair. Dropping it stops listening.
#[derive(Debug)]
pub struct Server {
    dht: Dht,
    id: u64,
    public_key: [u8; 32],
    incoming: mpsc::Receiver<Connection>,
}

impl Server {
    /// The key clients connect to.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The next connection (handshake done, UDX connected); `None` once the node is gone.
    pub async fn accept(&mut self) -> Option<Connection> {
        let mut conn = self.incoming.recv().await?;
        conn.attach(self.dht.clone());
        Some(conn)
    }

    /// The nodes currently holding our self-announce (JS `server.relayAddresses`).
    pub async fn relay_addresses(&self) -> Vec<SocketAddrV4> {
        let id = self.id;
        self.dht.ask(|tx| Command::ServerRelays(id, tx)).await.unwrap_or_default()
    }

    /// The node this server runs on.
    pub fn dht(&self) -> &Dht {
        &self.dht
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.dht.send(Command::CloseServer(self.id));
    }
}
