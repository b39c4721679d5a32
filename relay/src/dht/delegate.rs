//! Delegated operations: the node's asks forwarded to whoever holds the key (a relay client).
//!
//! The driver's key holder answers the node's asks with local key pairs. A delegated operation
//! carries a [`Delegate`] instead: each ask of that operation becomes an [`Ask`] sent (tagged)
//! on the delegate's channel, with a `oneshot` for the answer, and the answer goes back to the
//! node. A refusal (`None`), a dropped `oneshot`, a full or closed channel, or no answer within
//! [`ASK_TIMEOUT_MS`] refuses the ask (the signature is skipped, the connection or handshake
//! fails). The relay never holds the key: it sees public keys, handshake payloads and ciphertext.
//!
//! A delegated connection ([`DelegatedConnection`]) carries the raw UDX byte stream — the
//! secret-stream ciphertext of the key holder's session — and no handshake keys.

use std::net::SocketAddrV4;
use std::sync::Arc;

use std::time::Duration;

use hyperwasm::hyperdht::messages::NoisePayload;
use tokio::sync::{mpsc, oneshot};

use crate::hyperdht::node::{ConnId, SignId};
use crate::hyperdht::server::HsId;
pub use crate::hyperdht::{SignKind, SignParts};

use super::conn::{halves, Hold, ReadHalf, Shared, WriteHalf};
use super::handles::{Announced, Command, OpRequest};
use super::{Dht, DhtError};

/// How long an ask waits for its answer before it is refused (PROTOCOL.md §5: the relay gives
/// up on a signature after 10 s).
pub const ASK_TIMEOUT_MS: u64 = 10_000;

/// Connections a delegated server holds for [`DelegatedServer::accept`] before refusing new ones.
pub const DELEGATED_BACKLOG: usize = 64;

/// Something only the key holder can do. Answer through `reply`; `None` (or dropping it)
/// refuses.
#[derive(Debug)]
pub enum Ask {
    /// Sign an announce/unannounce record. Check `parts` (the target is what was asked for,
    /// `parts.peer.public_key` is the key) and that `parts.signable() == signable`, then sign
    /// `signable` (Ed25519 detached).
    Sign {
        /// What the signature covers.
        parts: SignParts,
        /// Whose signature.
        public_key: [u8; 32],
        /// The 64 bytes to sign.
        signable: [u8; 64],
        /// The signature, or `None` to refuse.
        reply: oneshot::Sender<Option<[u8; 64]>>,
    },
    /// Connect (initiator): make Noise IK msg1 (prologue `NS_PEER_HANDSHAKE`, to the remote key
    /// the connect named) carrying `local_payload`.
    InitiatorMessage {
        /// Our node's payload (UDX stream id, firewall, addresses).
        local_payload: NoisePayload,
        /// msg1, or `None` to abort.
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    /// Connect (initiator): the server's msg2; decrypt it and return the server's payload.
    ResponderMessage {
        /// msg2.
        msg2: Vec<u8>,
        /// The server's decrypted payload, or `None` to abort.
        reply: oneshot::Sender<Option<NoisePayload>>,
    },
    /// Listen (responder): a client's msg1. Decrypt it, set `local_payload.error` (hyperdht's
    /// `payload_error` of the client's payload, or a firewall refusal), encrypt msg2 carrying
    /// it, and return msg2 with the client's decrypted payload.
    Handshake {
        /// Node-wide handshake id; the connection that follows carries it
        /// ([`DelegatedInfo::handshake_id`]).
        hs: u64,
        /// The client's Noise message.
        msg1: Vec<u8>,
        /// Our node's payload for msg2.
        local_payload: NoisePayload,
        /// The client's address as the first relay saw it.
        peer_address: SocketAddrV4,
        /// `(msg2, client's payload)`, or `None` to reject.
        reply: oneshot::Sender<Option<(Vec<u8>, NoisePayload)>>,
    },
}

/// An [`Ask`] with the tag of the delegated operation it belongs to.
#[derive(Debug)]
pub struct Asked {
    /// The tag given in the operation's [`Delegate`].
    pub tag: u64,
    /// The ask.
    pub ask: Ask,
}

/// Where a delegated operation's asks go: `asks`, tagged with `tag` (so one channel can serve
/// many operations).
#[derive(Debug, Clone)]
pub struct Delegate {
    /// Tag of every [`Asked`] of this operation.
    pub tag: u64,
    /// The key holder's channel. A full channel refuses the ask at once.
    pub asks: mpsc::Sender<Asked>,
}

/// An answer on its way back to the node (see `KeyHolder::answer`).
#[derive(Debug)]
pub(crate) enum Answer {
    Signature(SignId, Option<[u8; 64]>),
    Initiator(ConnId, Option<Vec<u8>>),
    Responder(ConnId, Option<NoisePayload>),
    Handshake(HsId, Option<(Vec<u8>, NoisePayload)>),
}

impl Delegate {
    /// Sends the ask `make` builds; a task waits for the reply and hands `answer(reply)` to the
    /// driver. Returns `Some(answer(None))` when the ask could not even be sent (the caller
    /// applies it at once).
    pub(crate) fn ask<T: Send + 'static>(
        &self,
        cmds: &mpsc::WeakUnboundedSender<Command>,
        make: impl FnOnce(oneshot::Sender<Option<T>>) -> Ask,
        answer: impl FnOnce(Option<T>) -> Answer + Send + 'static,
    ) -> Option<Answer> {
        let (tx, rx) = oneshot::channel();
        if self.asks.try_send(Asked { tag: self.tag, ask: make(tx) }).is_err() {
            return Some(answer(None));
        }
        let cmds = cmds.clone();
        tokio::spawn(async move {
            let got = tokio::time::timeout(Duration::from_millis(ASK_TIMEOUT_MS), rx).await;
            let value = got.ok().and_then(Result::ok).flatten();
            if let Some(tx) = cmds.upgrade() {
                let _ = tx.send(Command::Answer(answer(value)));
            }
        });
        None
    }
}

/// What a delegated connection is (no keys: the key holder has them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegatedInfo {
    /// Whether we dialled.
    pub is_initiator: bool,
    /// The key holder's public key.
    pub public_key: [u8; 32],
    /// The peer's key when we dialled it (an incoming client's key is inside msg1, which only
    /// the key holder reads).
    pub remote_public_key: Option<[u8; 32]>,
    /// The incoming connection's handshake id ([`Ask::Handshake::hs`]).
    pub handshake_id: Option<u64>,
    /// The peer's UDP address.
    pub remote_address: SocketAddrV4,
    /// Our UDX stream id.
    pub stream_id: u32,
}

/// A delegated connection: the raw UDX byte stream (the key holder's secret-stream
/// ciphertext). Dropping it without `shutdown` destroys the stream.
#[derive(Debug)]
pub struct DelegatedConnection {
    info: DelegatedInfo,
    hold: Hold,
    dht: Option<Dht>,
}

impl DelegatedConnection {
    pub(crate) fn new(info: DelegatedInfo, shared: &Arc<Shared>) -> Self {
        DelegatedConnection { info, hold: Hold::new(shared), dht: None }
    }

    fn attach(&mut self, dht: Dht) {
        self.dht = Some(dht);
    }

    /// What the connection is.
    pub fn info(&self) -> &DelegatedInfo {
        &self.info
    }

    /// Resolves once the stream closed (cleanly or not).
    pub async fn closed(&self) {
        let shared = self.hold.0.clone();
        std::future::poll_fn(move |cx| shared.poll_closed(cx)).await
    }

    /// Separate read and write halves; dropping both releases the stream.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        halves(&self.hold.0, self.dht.clone())
    }
}

super::conn::shared_read!(DelegatedConnection);
super::conn::shared_write!(DelegatedConnection);

/// A server whose handshakes are answered by a delegate. Dropping it stops listening.
#[derive(Debug)]
pub struct DelegatedServer {
    dht: Dht,
    id: u64,
    public_key: [u8; 32],
    incoming: mpsc::Receiver<DelegatedConnection>,
}

impl DelegatedServer {
    /// The key clients connect to.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The next connection (handshake answered by the delegate, UDX connected).
    pub async fn accept(&mut self) -> Option<DelegatedConnection> {
        let mut conn = self.incoming.recv().await?;
        conn.attach(self.dht.clone());
        Some(conn)
    }

    /// The nodes currently holding our self-announce.
    pub async fn relay_addresses(&self) -> Vec<SocketAddrV4> {
        let id = self.id;
        self.dht.ask(|tx| Command::ServerRelays(id, tx)).await.unwrap_or_default()
    }
}

impl Drop for DelegatedServer {
    fn drop(&mut self) {
        let _ = self.dht.send(Command::CloseServer(self.id));
    }
}

impl Dht {
    /// Connects to `remote_public_key`'s server as `public_key`, whose Noise IK runs at the
    /// delegate ([`Ask::InitiatorMessage`], [`Ask::ResponderMessage`]).
    pub async fn connect_delegated(
        &self,
        remote_public_key: [u8; 32],
        public_key: [u8; 32],
        relay_addresses: Vec<SocketAddrV4>,
        delegate: Delegate,
    ) -> Result<DelegatedConnection, DhtError> {
        let mut conn = self
            .ask(|reply| Command::ConnectDelegated {
                remote_public_key,
                public_key,
                relay_addresses,
                delegate,
                reply,
            })
            .await??;
        conn.attach(self.clone());
        Ok(conn)
    }

    /// Listens on `public_key`: self-announces signed by the delegate ([`Ask::Sign`]) and
    /// handshakes answered by it ([`Ask::Handshake`]). Resolves after the first self-announce
    /// (or 10 s).
    pub async fn listen_delegated(
        &self,
        public_key: [u8; 32],
        delegate: Delegate,
    ) -> Result<DelegatedServer, DhtError> {
        let (incoming, rx) = mpsc::channel(DELEGATED_BACKLOG);
        let id =
            self.ask(|reply| Command::ListenDelegated { public_key, delegate, incoming, reply }).await??;
        Ok(DelegatedServer { dht: self.clone(), id, public_key, incoming: rx })
    }

    /// Announces `public_key` under `topic`, signed by the delegate ([`Ask::Sign`]).
    pub async fn announce_delegated(
        &self,
        topic: [u8; 32],
        public_key: [u8; 32],
        relay_addresses: Vec<SocketAddrV4>,
        delegate: Delegate,
    ) -> Result<Announced, DhtError> {
        let req = OpRequest::AnnounceDelegated { topic, public_key, relay_addresses, delegate };
        Ok(Announced { commits: self.commit(req).await? })
    }

    /// Removes `public_key`'s record under `topic`, signed by the delegate ([`Ask::Sign`]).
    pub async fn unannounce_delegated(
        &self,
        topic: [u8; 32],
        public_key: [u8; 32],
        delegate: Delegate,
    ) -> Result<Announced, DhtError> {
        let req = OpRequest::UnannounceDelegated { topic, public_key, delegate };
        Ok(Announced { commits: self.commit(req).await? })
    }
}
