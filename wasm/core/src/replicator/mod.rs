//! Replication of one hypercore with many peers (hypercore `lib/replicator.js`), sans-IO:
//! decoded channel messages and local core changes in, messages to send and storage work
//! out. The protocol stream (secret-stream + protomux + one channel per core) drives it.
//!
//! The contract is `docs/replication.md`. One [`Replicator`] serves one core; every open
//! `hypercore/alpha` channel of that core is a peer ([`PeerId`]). The replicator never waits:
//! it reads the core through [`LocalCore`] and hands storage work back as [`Action::Serve`]
//! (build a proof, answer with [`Replicator::on_proof`]) and [`Action::Apply`] (verify and
//! store, answer with [`Replicator::on_applied`]). Nothing a peer sends is stored without
//! going through the core's verification.
//!
//! Files follow the JS concepts: [`replicator`](self) entry points and peer bookkeeping
//! (`replicator.rs`), serving requests (`serve.rs`), requesting and applying data
//! (`download.rs`), choosing blocks (`scheduler.rs`), per-peer state (`peer.rs`), the sparse
//! remote bitfield (`remote_bitfield.rs`), `want`/`unwant` batching (`wants.rs`), request
//! ids (`inflight.rs`) and errors (`errors.rs`).

mod connection;
mod core_set;
mod download;
mod errors;
mod inflight;
pub mod messages;
mod peer;
pub mod protocol_stream;
mod remote_bitfield;
#[allow(clippy::module_inception)]
mod replicator;
mod scheduler;
mod serve;
mod user_channels;
mod wants;

pub use core_set::{CoreSet, FindingPeers, SharedCore, MAX_PREFETCH_WANTS};
pub use errors::ReplicatorError;
pub use peer::PeerStats;
pub use protocol_stream::{replicate, Clock, ConnectionError, ConnectionOptions, ConnectionStats};
pub use replicator::{Replicator, ReplicatorStats};
pub use serve::proof_request;
pub use user_channels::{user_channels, ConnectionClosed, UserChannels, UserEvent, UserHandle};

use crate::crypto::Hash;
use messages::{Data, Message, Request};

/// Session-assigned id of one peer of one core (= one open channel).
pub type PeerId = u64;

/// Invalid requests a peer may send before its channel is closed (JS `MAX_INVALID_REQUESTS`).
pub const MAX_INVALID_REQUESTS: u32 = 64;
/// `no-data` answers (not available / invalid request) after which a peer is no longer asked
/// (JS `MAX_BACKOFFS`).
pub const MAX_BACKOFFS: u32 = MAX_INVALID_REQUESTS / 2;
/// Blocks per `want` batch (JS `wants.js` compat `BATCH`, 2^21).
pub const WANT_BATCH: u64 = 1 << 21;
/// Newest blocks always announced with `range`, wanted or not (JS `LAST_BLOCKS`).
pub const LAST_BLOCKS: u64 = 256;
/// Largest block index or length a peer may mention (JS numbers are exact below 2^53).
pub const MAX_LENGTH: u64 = 1 << 53;
/// Largest request id accepted from a peer (JS ids are small integers, reused).
pub const MAX_REQUEST_ID: u64 = 1 << 24;
/// Requests a peer may have waiting for an answer from us at once.
pub const MAX_PENDING_REQUESTS: usize = 16_384;

/// `no-data` reason: the responder does not have it (JS `NOT_AVAILABLE`).
pub(crate) const NOT_AVAILABLE: messages::NoDataReason = messages::NoDataReason::NotAvailable;
/// `no-data` reason: the request could not be answered (JS `INVALID_REQUEST`).
pub(crate) const INVALID_REQUEST: messages::NoDataReason = messages::NoDataReason::InvalidRequest;

/// What the replicator needs to read from the local core, synchronously.
/// `impl<S: Storage> LocalCore for Hypercore<S>` lives beside the core.
pub trait LocalCore {
    /// Core key.
    fn key(&self) -> &Hash;
    /// Current fork id.
    fn fork(&self) -> u64;
    /// Current length.
    fn length(&self) -> u64;
    /// Blocks `0..contiguous_length` are all stored locally.
    fn contiguous_length(&self) -> u64;
    /// Whether block `index` is stored locally.
    fn has(&self, index: u64) -> bool;
    /// A verifier is known (false for a fresh remote core that has not learnt its manifest).
    fn has_verifier(&self) -> bool;
    /// Holds a non-compat manifest (sync flag `hasManifest`).
    fn has_manifest(&self) -> bool;
    /// Bitfield words for `[start, start + 32·n)` (answering `want` with `bitfield`).
    fn bitfield_words(&self, start: u64, n: usize) -> Vec<u32>;
    /// The first block at or after `from` that is not stored locally (may be ≥ the length).
    fn first_missing(&self, from: u64) -> u64;
    /// The first block in `from..to` that is stored locally.
    fn first_present(&self, from: u64, to: u64) -> Option<u64>;
    /// The encoded manifest to send along with a proof (`None` for compat cores, which JS
    /// never sends one for, and while unknown).
    fn manifest_bytes(&self) -> Option<Vec<u8>>;
}

/// What the driver must do for the replicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a message on the peer's channel.
    Send {
        /// Destination.
        peer: PeerId,
        /// The message.
        message: Message,
    },
    /// Answer `request`: run `core.proof(...)`, then call
    /// [`Replicator::on_proof`]`(peer, request, result)`.
    Serve {
        /// Who asked.
        peer: PeerId,
        /// What was asked.
        request: Request,
    },
    /// Verify and store: run `core.apply_proof(&data.proof, data.manifest.as_deref())` (or
    /// `core.reorg(...)` when `reorg` is set), then call
    /// [`Replicator::on_applied`]`(peer, data.request, result)`.
    Apply {
        /// Who sent it.
        peer: PeerId,
        /// The data message.
        data: Data,
        /// A proof of another fork, for `Hypercore::reorg`.
        reorg: bool,
    },
    /// Close this peer's channel with a reason (protocol violation, bad data …). The
    /// replicator has already forgotten the peer; `remove_peer` later is harmless.
    Close {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: ReplicatorError,
    },
    /// An extension message for the application.
    Extension {
        /// From.
        peer: PeerId,
        /// Extension name (decompressed).
        name: String,
        /// Payload.
        message: Vec<u8>,
    },
}

/// Blocks to download: `start..end`, or from `start` on, following appends (`end: None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadRange {
    /// First block.
    pub start: u64,
    /// End (exclusive); `None` = everything, live.
    pub end: Option<u64>,
}

impl DownloadRange {
    /// Everything, following appends.
    pub fn live() -> Self {
        DownloadRange { start: 0, end: None }
    }

    /// Blocks `start..end`.
    pub fn range(start: u64, end: u64) -> Self {
        DownloadRange { start, end: Some(end) }
    }
}

/// How the core changed outside the replicator's own [`Action::Apply`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalChange {
    /// Blocks were appended (by the application); `length` is the new length.
    Appended {
        /// New length.
        length: u64,
    },
    /// The core was truncated to `length` on `fork` (application truncate, or a reorg run
    /// by someone else).
    Truncated {
        /// New length.
        length: u64,
        /// New fork.
        fork: u64,
    },
    /// Blocks `start..end` became local some other way (another replicator, an import).
    Downloaded {
        /// First block.
        start: u64,
        /// End (exclusive).
        end: u64,
    },
    /// Blocks `start..end` were cleared (`Hypercore::clear`).
    Cleared {
        /// First block.
        start: u64,
        /// End (exclusive).
        end: u64,
    },
}

/// Tunables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicatorOptions {
    /// Requests kept in flight per peer (JS scales 16..512 by RTT; over a reliable stream
    /// the maximum keeps the link full).
    pub max_inflight: usize,
    /// Follow every longer peer's length even with nothing to download (JS `eagerUpgrade`).
    pub eager_upgrade: bool,
    /// Move to a higher fork a peer proves (JS `allowFork`).
    pub allow_fork: bool,
    /// Tell peers we are downloading (sync flag). JS closes a channel when neither side is;
    /// left on, JS peers keep the channel open.
    pub downloading: bool,
}

impl Default for ReplicatorOptions {
    fn default() -> Self {
        ReplicatorOptions { max_inflight: 512, eager_upgrade: true, allow_fork: true, downloading: true }
    }
}
