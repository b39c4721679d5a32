//! The bee handle (JS `Hyperbee`): open, header, version, get, put/del, sub-databases,
//! checkouts and snapshots. Writes go through [`Batch`]; iterators live in `iterators/`.

use std::sync::Arc;

use futures::lock::Mutex;

use super::batch::Batch;
use super::block::{BlockEntry, NodeRef, MAX_DEPTH};
use super::cache::{NodeCache, DEFAULT_CACHE_BYTES};
use super::encoding::{prefixed, strip_prefix, sub_prefix};
use super::errors::BeeError;
use super::messages::{Header, Metadata};
use super::reader::Reader;
use crate::core::Snapshot;
use crate::replicator::SharedCore;
use crate::storage::Storage;

/// An entry as reads return it (JS `{ seq, key, value }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Block holding the entry.
    pub seq: u64,
    /// The key, without the sub-database prefix.
    pub key: Vec<u8>,
    /// The value (`None` for a put without value).
    pub value: Option<Vec<u8>>,
}

/// `cas(prev, next)`: return `false` to skip the write (JS `opts.cas`). `prev` is the entry
/// being replaced or deleted, `next` the one being written (`seq` it would get, `value`
/// `None` for a deletion).
pub type Cas<'a> = &'a dyn CasFn;

/// A compare-and-swap closure (`Send + Sync` on native targets).
pub trait CasFn: Fn(&Entry, &Entry) -> bool + crate::MaybeSend + crate::MaybeSync {}
impl<F: Fn(&Entry, &Entry) -> bool + crate::MaybeSend + crate::MaybeSync> CasFn for F {}

/// How to open a bee.
#[derive(Debug, Clone)]
pub struct BeeOptions {
    /// Header metadata written with the header block (hyperdrive puts its blob core here).
    pub metadata: Option<Metadata>,
    /// Append even when a put writes the value the key already has (JS default `true`).
    pub always_duplicate: bool,
    /// Refuse writes.
    pub readonly: bool,
    /// Default separator of sub-databases (JS default a single `0x00`).
    pub sep: Vec<u8>,
    /// Wait for blocks that are not local (fetching them from peers) instead of failing with
    /// `BLOCK_NOT_AVAILABLE`.
    pub wait: bool,
    /// Bound of the decoded-block cache, in bytes.
    pub cache_bytes: usize,
}

impl Default for BeeOptions {
    fn default() -> Self {
        BeeOptions {
            metadata: None,
            always_duplicate: true,
            readonly: false,
            sep: vec![0],
            wait: true,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

pub(crate) struct Shared<S> {
    pub(crate) core: SharedCore<S>,
    pub(crate) cache: Arc<NodeCache>,
    pub(crate) write_lock: Arc<Mutex<()>>,
    pub(crate) opts: BeeOptions,
}

/// A pinned version (JS `checkout`).
#[derive(Debug, Clone)]
pub(crate) struct Checkout {
    pub(crate) version: u64,
    pub(crate) fork: u64,
    pub(crate) snapshot: Option<Arc<Snapshot>>,
}

/// A Hyperbee on a core: the main bee, a sub-database or a checkout. Cheap to clone.
pub struct Hyperbee<S> {
    pub(crate) shared: Arc<Shared<S>>,
    pub(crate) prefix: Vec<u8>,
    pub(crate) checkout: Option<Checkout>,
    /// `BeeOptions::always_duplicate` for the main bee; always `true` for a sub-database, as
    /// in JS (its `sub()` does not pass the option on).
    pub(crate) always_duplicate: bool,
    /// Whether reads wait for blocks that are not local (`BeeOptions::wait`, or
    /// [`Hyperbee::with_wait`]).
    pub(crate) wait: bool,
}

impl<S> Clone for Hyperbee<S> {
    fn clone(&self) -> Self {
        Hyperbee {
            shared: self.shared.clone(),
            prefix: self.prefix.clone(),
            checkout: self.checkout.clone(),
            always_duplicate: self.always_duplicate,
            wait: self.wait,
        }
    }
}

impl<S> std::fmt::Debug for Hyperbee<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hyperbee")
            .field("prefix", &self.prefix)
            .field("checkout", &self.checkout.as_ref().map(|c| c.version))
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Hyperbee<S> {
    /// A bee on `core`. Nothing is written until the first put/del (which writes the header
    /// block first when the core is empty, as JS does).
    pub async fn open(core: SharedCore<S>, opts: BeeOptions) -> Result<Self, BeeError> {
        let cache = Arc::new(NodeCache::new(opts.cache_bytes));
        let (always_duplicate, wait) = (opts.always_duplicate, opts.wait);
        let shared = Shared { core, cache, write_lock: Arc::new(Mutex::new(())), opts };
        Ok(Hyperbee { shared: Arc::new(shared), prefix: Vec::new(), checkout: None, always_duplicate, wait })
    }

    /// The core underneath.
    pub fn core(&self) -> &SharedCore<S> {
        &self.shared.core
    }

    /// The sub-database prefix (empty for the main bee).
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The options the bee was opened with.
    pub fn options(&self) -> &BeeOptions {
        &self.shared.opts
    }

    /// The same view (same version, sub, cache and write lock) whose reads wait for missing
    /// blocks (`true`, fetching them from peers) or fail with `BLOCK_NOT_AVAILABLE` (`false`):
    /// JS's per-call `{ wait }`.
    pub fn with_wait(&self, wait: bool) -> Hyperbee<S> {
        Hyperbee { wait, ..self.clone() }
    }

    /// Whether this handle is a checkout (a fixed version).
    pub fn is_checkout(&self) -> bool {
        self.checkout.is_some()
    }

    /// The version: `max(1, length)` of the core, or the checkout's version.
    pub async fn version(&self) -> u64 {
        match &self.checkout {
            Some(c) => c.version.max(1),
            None => self.shared.core.lock().await.length().max(1),
        }
    }

    /// A reader pinned to this handle's version (what every read of one call uses).
    pub async fn reader(&self) -> Result<Reader<S>, BeeError> {
        let shared = &self.shared;
        let wait = self.wait;
        Ok(match &self.checkout {
            Some(c) => Reader::new(
                shared.core.clone(),
                shared.cache.clone(),
                c.version,
                c.fork,
                c.snapshot.clone(),
                wait,
            ),
            None => {
                let core = shared.core.lock().await;
                let (length, fork) = (core.length(), core.fork());
                drop(core);
                Reader::new(shared.core.clone(), shared.cache.clone(), length, fork, None, wait)
            }
        })
    }

    /// The header (block 0), `None` if the core is empty. On a sparse replica it is fetched
    /// from peers unless the bee was opened with `wait: false`.
    pub async fn header(&self) -> Result<Option<Header>, BeeError> {
        if self.shared.core.lock().await.length() == 0 {
            return Ok(None);
        }
        let block = block_zero(&self.shared.core, self.wait).await?;
        Header::decode(&block).map(Some).map_err(|source| BeeError::Decode { seq: 0, source })
    }

    /// Whether block 0 of `core` is a hyperbee header (JS `Hyperbee.isHyperbee`; fetched from
    /// peers when not local). An empty core has no block 0: `BLOCK_NOT_AVAILABLE`.
    pub async fn is_hyperbee(core: &SharedCore<S>) -> Result<bool, BeeError> {
        if core.lock().await.length() == 0 {
            return Err(BeeError::BlockNotAvailable(0));
        }
        let block = block_zero(core, true).await?;
        Ok(Header::decode(&block).is_ok_and(|h| h.protocol == "hyperbee"))
    }

    /// The entry for `key` at this handle's version, `None` if absent.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Entry>, BeeError> {
        let reader = self.reader().await?;
        let key = prefixed(&self.prefix, key);
        Ok(lookup(&reader, &key).await?.map(|b| self.entry(&b)))
    }

    /// The entry written by block `seq` (a put or a deletion record). A checkout reads any
    /// block its snapshot holds, also past its version, as JS does.
    pub async fn get_by_seq(&self, seq: u64) -> Result<Entry, BeeError> {
        let reader = match &self.checkout {
            Some(Checkout { version, fork, snapshot: Some(snap) }) if snap.length > *version => Reader::new(
                self.shared.core.clone(),
                self.shared.cache.clone(),
                snap.length,
                *fork,
                Some(snap.clone()),
                self.wait,
            ),
            _ => self.reader().await?,
        };
        let block = reader.block(seq).await?;
        Ok(self.entry(&block))
    }

    /// Puts `key = value` (one block).
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), BeeError> {
        self.put_with(key, Some(value), None).await.map(|_| ())
    }

    /// Puts `key` with an optional value (JS `put(key)` stores no value) and an optional
    /// compare-and-swap check. `Ok(false)`: nothing written (vetoed, or an unchanged value
    /// with `always_duplicate: false`).
    pub async fn put_with(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        cas: Option<Cas<'_>>,
    ) -> Result<bool, BeeError> {
        let mut batch = self.batch().await?;
        let written = batch.put_with(key, value, cas).await?;
        batch.flush().await?;
        Ok(written)
    }

    /// Deletes `key`. `Ok(false)`: no such key (nothing written but, on an empty core, the
    /// header).
    pub async fn del(&self, key: &[u8]) -> Result<bool, BeeError> {
        self.del_with(key, None).await
    }

    /// Deletes `key` if `cas(prev, next)` allows it.
    pub async fn del_with(&self, key: &[u8], cas: Option<Cas<'_>>) -> Result<bool, BeeError> {
        let mut batch = self.batch().await?;
        let written = batch.del_with(key, cas).await?;
        batch.flush().await?;
        Ok(written)
    }

    /// A write batch: takes the bee's write lock until it is flushed or dropped; its reads see
    /// its writes; `flush()` appends all its blocks at once.
    pub async fn batch(&self) -> Result<Batch<S>, BeeError> {
        if self.shared.opts.readonly || self.checkout.is_some() {
            return Err(BeeError::ReadOnly);
        }
        let guard = self.shared.write_lock.clone().lock_owned().await;
        Ok(Batch::new(self.clone(), guard))
    }

    /// Sub-database `name` (keys `prefix ‖ name ‖ sep ‖ key` in the same tree). `sep`
    /// defaults to the bee's separator.
    pub fn sub(&self, name: &[u8], sep: Option<&[u8]>) -> Hyperbee<S> {
        let sep = sep.unwrap_or(&self.shared.opts.sep);
        Hyperbee {
            shared: self.shared.clone(),
            prefix: sub_prefix(&self.prefix, name, sep),
            checkout: self.checkout.clone(),
            always_duplicate: true,
            wait: self.wait,
        }
    }

    /// This bee as of `version` (0 is read as 1). Reading blocks truncated away since fails
    /// with `SNAPSHOT_NOT_AVAILABLE`; a version beyond the length waits for it (or fails
    /// with `BLOCK_NOT_AVAILABLE` when not waiting).
    pub async fn checkout(&self, version: u64) -> Hyperbee<S> {
        let version = version.max(1);
        let core = self.shared.core.lock().await;
        let snapshot = (version <= core.length()).then(|| Arc::new(core.snapshot()));
        let fork = core.fork();
        drop(core);
        Hyperbee {
            shared: self.shared.clone(),
            prefix: self.prefix.clone(),
            checkout: Some(Checkout { version, fork, snapshot }),
            always_duplicate: self.always_duplicate,
            wait: self.wait,
        }
    }

    /// A checkout of the current version.
    pub async fn snapshot(&self) -> Hyperbee<S> {
        match &self.checkout {
            Some(_) => self.clone(),
            None => {
                let version = self.version().await;
                self.checkout(version).await
            }
        }
    }

    /// The entry of `block`, key without this handle's prefix.
    pub(crate) fn entry(&self, block: &BlockEntry) -> Entry {
        Entry {
            seq: block.seq,
            key: strip_prefix(&self.prefix, &block.key).to_vec(),
            value: block.value.clone(),
        }
    }
}

/// Block 0 of `core`, from peers when not local and `wait`.
async fn block_zero<S: Storage>(core: &SharedCore<S>, wait: bool) -> Result<Vec<u8>, BeeError> {
    let local = core.get(0).await?;
    let block = match local {
        Some(b) => Some(b),
        None if wait => core.fetch(0).await?,
        None => None,
    };
    block.ok_or(BeeError::BlockNotAvailable(0))
}

/// The block holding `key` in the tree `reader` sees (JS `Batch._get`), `None` if absent.
pub(crate) async fn lookup<S: Storage>(
    reader: &Reader<S>,
    key: &[u8],
) -> Result<Option<Arc<BlockEntry>>, BeeError> {
    let Some(mut node) = reader.root().await? else { return Ok(None) };
    for _ in 0..MAX_DEPTH {
        reader.prefetch(&node);
        // The block that wrote this node wrote `key` itself: it is the answer (a deletion
        // record means the key is gone).
        if *node.block.key == *key {
            let block = node.block.clone();
            return Ok((!block.is_deletion()).then_some(block));
        }
        match search(reader, &node, key).await? {
            Ok(block) => return Ok(Some(block)),
            Err(i) => {
                if node.is_leaf() {
                    return Ok(None);
                }
                node = reader.child(&node, i).await?;
            }
        }
    }
    Err(BeeError::invalid(reader.version() - 1, "tree deeper than any real bee (a cycle?)"))
}

/// Binary search of `key` among `node`'s keys: `Ok(block)` when found, `Err(child index)`.
pub(crate) async fn search<S: Storage>(
    reader: &Reader<S>,
    node: &NodeRef,
    key: &[u8],
) -> Result<Result<Arc<BlockEntry>, usize>, BeeError> {
    let keys = node.keys();
    let (mut s, mut e) = (0usize, keys.len());
    while s < e {
        let mid = (s + e) >> 1;
        let bytes = match node.known_key(mid) {
            Some(k) => k,
            None => {
                let k = reader.block(keys[mid]).await?.key.clone();
                node.cache_key(mid, k.clone());
                k
            }
        };
        match key.cmp(&bytes) {
            std::cmp::Ordering::Equal => {
                let block = if keys[mid] == node.seq() {
                    node.block.clone()
                } else {
                    reader.block(keys[mid]).await?
                };
                return Ok(Ok(block));
            }
            std::cmp::Ordering::Less => e = mid,
            std::cmp::Ordering::Greater => s = mid + 1,
        }
    }
    Ok(Err(s))
}
