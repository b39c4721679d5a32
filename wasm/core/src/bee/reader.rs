//! A version-pinned read view of a bee (the read side of JS hyperbee's `Batch`): blocks,
//! keys, the root and child nodes, through the bee's decoded-block cache.
//!
//! A reader is pinned to one `(fork, version)`. Reading a block after the core moved to
//! another fork goes through the checkout's core snapshot (which fails with
//! `SNAPSHOT_NOT_AVAILABLE` if the block was truncated away) or, for a live read without a
//! snapshot, fails at once: a read never mixes two forks.

use std::sync::Arc;

use super::block::{BlockEntry, NodeRef};
use super::cache::NodeCache;
use super::errors::BeeError;
use crate::core::Snapshot;
use crate::replicator::SharedCore;
use crate::storage::Storage;

/// A read view of a bee at one version. Cheap to clone.
pub struct Reader<S> {
    core: SharedCore<S>,
    cache: Arc<NodeCache>,
    version: u64,
    fork: u64,
    snapshot: Option<Arc<Snapshot>>,
    wait: bool,
}

impl<S> Clone for Reader<S> {
    fn clone(&self) -> Self {
        Reader {
            core: self.core.clone(),
            cache: self.cache.clone(),
            version: self.version,
            fork: self.fork,
            snapshot: self.snapshot.clone(),
            wait: self.wait,
        }
    }
}

impl<S> std::fmt::Debug for Reader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("version", &self.version)
            .field("fork", &self.fork)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Reader<S> {
    /// A reader of `core` at `version` (blocks `1..version`) on fork `fork`, reading through
    /// `snapshot` once the core left that fork.
    pub(crate) fn new(
        core: SharedCore<S>,
        cache: Arc<NodeCache>,
        version: u64,
        fork: u64,
        snapshot: Option<Arc<Snapshot>>,
        wait: bool,
    ) -> Self {
        Reader { core, cache, version: version.max(1), fork, snapshot, wait }
    }

    /// The bee version this reader sees (`max(1, length)`).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The fork this reader is pinned to.
    pub fn fork(&self) -> u64 {
        self.fork
    }

    /// The core underneath.
    pub fn core(&self) -> &SharedCore<S> {
        &self.core
    }

    /// Whether a missing block is waited for (fetched from peers) or an error.
    pub fn waits(&self) -> bool {
        self.wait
    }

    /// The same view with another `wait` setting.
    pub fn with_wait(mut self, wait: bool) -> Self {
        self.wait = wait;
        self
    }

    /// Decoded entry block `seq` (`1 ≤ seq < version`).
    pub async fn block(&self, seq: u64) -> Result<Arc<BlockEntry>, BeeError> {
        if seq == 0 || seq >= self.version {
            return Err(BeeError::BadArgument(format!(
                "block {seq} is not an entry of version {}",
                self.version
            )));
        }
        // The cache holds blocks of our fork; once the core left it, a cached block may have
        // been truncated away, so reads go through the snapshot (which knows the cut).
        let current_fork = self.core.announced_fork() == self.fork;
        if current_fork {
            if let Some(b) = self.cache.get(self.fork, seq) {
                return Ok(b);
            }
        }
        let bytes = self.load(seq).await?;
        let block = Arc::new(BlockEntry::decode(seq, &bytes)?);
        if current_fork {
            self.cache.insert(self.fork, block.clone());
        }
        Ok(block)
    }

    /// Raw block `seq` from the core, on this reader's fork; with `wait`, a block that is not
    /// stored is fetched from peers ([`SharedCore::fetch`]).
    async fn load(&self, seq: u64) -> Result<Vec<u8>, BeeError> {
        loop {
            let core = self.core.lock().await;
            let found = if core.fork() == self.fork {
                core.get(seq).await?
            } else if let Some(snapshot) = &self.snapshot {
                // The core left our fork: only what the snapshot still reaches, never fetched.
                return core.get_at(snapshot, seq).await?.ok_or(BeeError::BlockNotAvailable(seq));
            } else {
                return Err(BeeError::SnapshotNotAvailable(self.version));
            };
            drop(core);
            match found {
                Some(bytes) => return Ok(bytes),
                None if !self.wait => return Err(BeeError::BlockNotAvailable(seq)),
                // Stored now: read it again under the lock, on our fork.
                None => match self.core.fetch(seq).await? {
                    Some(_) => continue,
                    None => return Err(BeeError::SnapshotNotAvailable(self.version)),
                },
            }
        }
    }

    /// The root node (level 0 of block `version − 1`); `None` for an empty bee (version < 2).
    pub async fn root(&self) -> Result<Option<NodeRef>, BeeError> {
        if self.version < 2 {
            return Ok(None);
        }
        let block = self.block(self.version - 1).await?;
        Ok(Some(block.node(0)?))
    }

    /// Child `i` of `node`.
    pub async fn child(&self, node: &NodeRef, i: usize) -> Result<NodeRef, BeeError> {
        let (seq, offset) =
            node.child(i).ok_or_else(|| BeeError::invalid(node.seq(), format!("node has no child {i}")))?;
        let block = if seq == node.seq() { node.block.clone() } else { self.block(seq).await? };
        block.node(offset)
    }

    /// Asks peers for the key and child blocks of `node` that are neither cached nor local, in
    /// one go (JS `TreeNode.preload`), so walking it costs one round trip. Nothing happens on a
    /// local core or without `wait`.
    pub fn prefetch(&self, node: &NodeRef) {
        if !self.wait {
            return;
        }
        // Keys whose bytes the node already holds need no block (JS skips loaded keys too).
        let keys =
            node.keys().iter().enumerate().filter(|(i, _)| node.cached_key(*i).is_none()).map(|(_, k)| *k);
        let children = (0..node.child_count()).filter_map(|i| node.child(i)).map(|(seq, _)| seq);
        let mut blocks: Vec<u64> = keys
            .chain(children)
            .filter(|&seq| {
                seq != node.seq() && seq < self.version && self.cache.get(self.fork, seq).is_none()
            })
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        if !blocks.is_empty() {
            self.core.request_blocks(&blocks);
        }
    }
}
