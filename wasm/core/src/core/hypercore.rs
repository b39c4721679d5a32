//! A single hypercore: create or open one over any [`Storage`], append, read, truncate,
//! clear, snapshot (hypercore `index.js` session API and `lib/core.js`).
//!
//! Every mutating operation is one atomic storage write holding the blocks, the new tree
//! nodes, the touched bitfield pages and the new signed head, so a crash leaves either the
//! old or the new core, never a mix. Reads check each block against its tree leaf: damaged
//! bytes are reported as an error and never returned.

use super::bitfield::Bitfield;
use super::errors::HypercoreError;
use super::header::Header;
use super::manifest::Manifest;
use super::verifier::Verifier;
use crate::crypto::{discovery_key, Hash, KeyPair};
use crate::encoding::Compact;
use crate::storage::hypercore_storage::{CoreStorage, CoreWrite};
use crate::storage::{Storage, StorageError};
use crate::tree::seek::{seek, SeekResult};
use crate::tree::{Node, NodeSource, TreeBatch, TreeState};

/// How to create a core.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Signing key pair; generated when `None` and no manifest is given.
    pub key_pair: Option<KeyPair>,
    /// Manifest; defaults to the single-signer v1 manifest corestore 7 creates.
    pub manifest: Option<Manifest>,
    /// Make a compat core: key = public key, 80-byte signable, raw signatures.
    pub compat: bool,
}

/// Summary of a core's state (JS `core.info()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Core key.
    pub key: Hash,
    /// Discovery key.
    pub discovery_key: Hash,
    /// Length.
    pub length: u64,
    /// Blocks `0..contiguous_length` are stored locally.
    pub contiguous_length: u64,
    /// Byte length.
    pub byte_length: u64,
    /// Fork id.
    pub fork: u64,
    /// Blocks stored locally.
    pub blocks_stored: u64,
    /// Whether this core can append.
    pub writable: bool,
}

/// A frozen view of a core at one length (JS `core.snapshot()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Fork at snapshot time.
    pub fork: u64,
    /// Length at snapshot time.
    pub length: u64,
    /// Byte length at snapshot time.
    pub byte_length: u64,
    /// Tree hash at snapshot time.
    pub tree_hash: Hash,
    /// Truncations this core had seen when the snapshot was taken.
    truncations_seen: usize,
}

/// A hypercore over storage `S`.
#[derive(Debug)]
pub struct Hypercore<S> {
    pub(super) storage: CoreStorage<S>,
    pub(super) key: Hash,
    pub(super) discovery_key: Hash,
    pub(super) manifest: Option<Manifest>,
    pub(super) verifier: Option<Verifier>,
    pub(super) compat: bool,
    pub(super) key_pair: Option<KeyPair>,
    pub(super) state: TreeState,
    pub(super) bitfield: Bitfield,
    pub(super) contiguous_length: u64,
    /// `(fork, length)` of every truncation since open, for snapshot checks.
    pub(super) truncations: Vec<(u64, u64)>,
}

/// Who a core is: key, manifest (once known) and how signatures are checked.
struct Identity {
    key: Hash,
    manifest: Option<Manifest>,
    verifier: Option<Verifier>,
    compat: bool,
}

impl<S: Storage> NodeSource for CoreStorage<S> {
    async fn get_nodes(&self, indexes: &[u64]) -> Result<Vec<Option<Node>>, StorageError> {
        CoreStorage::get_nodes(self, indexes).await
    }
}

impl<S: Storage> Hypercore<S> {
    /// Creates a new writable core in empty storage.
    pub async fn create(storage: S, opts: CreateOptions) -> Result<Self, HypercoreError> {
        let storage = CoreStorage::new(storage);
        if storage.get_header().await?.is_some() {
            return Err(HypercoreError::StorageConflict);
        }
        let key_pair = match opts.key_pair {
            Some(kp) => Some(kp),
            None if opts.manifest.is_none() => {
                Some(KeyPair::generate().map_err(|e| HypercoreError::BadArgument(e.to_string()))?)
            }
            None => None,
        };
        let manifest = match (opts.manifest, &key_pair) {
            (Some(m), _) => m,
            (None, Some(kp)) => Manifest::default_signer(kp.public_key()),
            (None, None) => {
                return Err(HypercoreError::BadArgument("a key pair or a manifest is required".into()))
            }
        };
        let key = if opts.compat {
            match manifest.signers.as_slice() {
                [only] => only.public_key,
                _ => return Err(HypercoreError::BadArgument("a compat core has exactly one signer".into())),
            }
        } else {
            manifest.key()
        };
        let verifier = Verifier::with_options(&key, &manifest, opts.compat, false);
        if let Some(kp) = &key_pair {
            if verifier.signer_index(&kp.public_key()).is_none() {
                return Err(HypercoreError::BadArgument("key pair is not a signer of the manifest".into()));
            }
        }
        let state = TreeState { prologue: manifest.prologue, ..TreeState::default() };
        let identity =
            Identity { key, manifest: Some(manifest), verifier: Some(verifier), compat: opts.compat };
        Self::create_empty(storage, identity, key_pair, state).await
    }

    /// Creates an empty read-only replica of the core with `key` (its manifest arrives with
    /// the first proof). Fails if the storage holds a different core; reopens the same one.
    pub async fn create_remote(storage: S, key: Hash) -> Result<Self, HypercoreError> {
        let storage = CoreStorage::new(storage);
        if let Some(bytes) = storage.get_header().await? {
            let header = Header::from_bytes(&bytes)?;
            if header.key != key {
                return Err(HypercoreError::StorageConflict);
            }
            return Self::from_header(storage, header).await;
        }
        let identity = Identity { key, manifest: None, verifier: None, compat: false };
        Self::create_empty(storage, identity, None, TreeState::default()).await
    }

    /// Writes the header of a new, empty core.
    async fn create_empty(
        storage: CoreStorage<S>,
        identity: Identity,
        key_pair: Option<KeyPair>,
        state: TreeState,
    ) -> Result<Self, HypercoreError> {
        let core = Hypercore {
            storage,
            discovery_key: discovery_key(&identity.key),
            key: identity.key,
            manifest: identity.manifest,
            verifier: identity.verifier,
            compat: identity.compat,
            key_pair,
            state,
            bitfield: Bitfield::new(),
            contiguous_length: 0,
            truncations: Vec::new(),
        };
        let mut tx = CoreWrite::new();
        tx.set_header(core.header().to_bytes());
        core.storage.commit(tx).await?;
        Ok(core)
    }

    /// Opens the core stored in `storage`.
    pub async fn open(storage: S) -> Result<Self, HypercoreError> {
        let storage = CoreStorage::new(storage);
        let bytes = storage.get_header().await?.ok_or(HypercoreError::StorageEmpty)?;
        let header = Header::from_bytes(&bytes)?;
        Self::from_header(storage, header).await
    }

    async fn from_header(storage: CoreStorage<S>, header: Header) -> Result<Self, HypercoreError> {
        let manifest = header.manifest.as_deref().map(Manifest::decode_bytes).transpose()?;
        let verifier =
            manifest.as_ref().map(|m| Verifier::with_options(&header.key, m, header.compat, false));
        let key_pair = header
            .secret_key
            .map(|sk| KeyPair::from_secret_key(&sk))
            .transpose()
            .map_err(|e| HypercoreError::Corrupt(format!("stored key pair: {e}")))?;
        let roots = TreeState::roots_at(&storage, header.length).await?;
        let state = TreeState {
            fork: header.fork,
            length: header.length,
            byte_length: roots.iter().map(|r| r.size).sum(),
            roots,
            signature: header.signature.clone(),
            prologue: manifest.as_ref().and_then(|m| m.prologue),
        };
        if state.hash() != header.tree_hash {
            return Err(HypercoreError::Corrupt("stored roots do not match the stored tree hash".into()));
        }
        let pages = storage.get_bitfield_pages(0..u64::MAX).await?;
        let bitfield = Bitfield::from_pages(pages);
        let contiguous_length = bitfield.first_unset(0).min(state.length);
        Ok(Hypercore {
            storage,
            discovery_key: discovery_key(&header.key),
            key: header.key,
            manifest,
            verifier,
            compat: header.compat,
            key_pair,
            state,
            bitfield,
            contiguous_length,
            truncations: Vec::new(),
        })
    }

    pub(super) fn header(&self) -> Header {
        Header {
            key: self.key,
            manifest: self.manifest.as_ref().map(Compact::to_bytes),
            secret_key: self.key_pair.as_ref().map(KeyPair::secret_key),
            compat: self.compat,
            fork: self.state.fork,
            length: self.state.length,
            tree_hash: self.state.hash(),
            signature: self.state.signature.clone(),
            contiguous_length: self.contiguous_length,
        }
    }

    /// Core key (the manifest hash, or the public key of a compat core).
    pub fn key(&self) -> &Hash {
        &self.key
    }
    /// Discovery key.
    pub fn discovery_key(&self) -> &Hash {
        &self.discovery_key
    }
    /// The manifest, once known.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }
    /// Whether the key is the signer's public key.
    pub fn is_compat(&self) -> bool {
        self.compat
    }
    /// Number of blocks.
    pub fn length(&self) -> u64 {
        self.state.length
    }
    /// Total bytes.
    pub fn byte_length(&self) -> u64 {
        self.state.byte_length
    }
    /// Fork id.
    pub fn fork(&self) -> u64 {
        self.state.fork
    }
    /// Blocks `0..contiguous_length` are all stored locally.
    pub fn contiguous_length(&self) -> u64 {
        self.contiguous_length
    }
    /// The signed head.
    pub fn tree(&self) -> &TreeState {
        &self.state
    }
    /// Whether this core holds a key pair that may sign.
    ///
    /// A core whose manifest needs several signers (quorum above one, or more than one signer)
    /// is not writable by one key pair: its signatures are assembled from every signer's, as
    /// autobase does, so appending here would produce a head no peer could verify.
    pub fn writable(&self) -> bool {
        let Some(kp) = &self.key_pair else { return false };
        let Some(verifier) = &self.verifier else { return false };
        verifier.signers().len() == 1
            && verifier.quorum() <= 1
            && verifier.signer_index(&kp.public_key()).is_some()
    }
    /// The signing key pair, if writable.
    pub fn key_pair(&self) -> Option<&KeyPair> {
        self.key_pair.as_ref()
    }
    /// The storage layout underneath.
    pub fn storage(&self) -> &CoreStorage<S> {
        &self.storage
    }

    /// Whether block `index` is stored locally.
    pub fn has(&self, index: u64) -> bool {
        index < self.state.length && self.bitfield.get(index)
    }

    /// Whether every block in `start..end` is stored locally.
    pub fn has_range(&self, start: u64, end: u64) -> bool {
        end <= self.state.length && (start >= end || self.bitfield.first_unset(start) >= end)
    }

    /// State summary.
    pub fn info(&self) -> Info {
        Info {
            key: self.key,
            discovery_key: self.discovery_key,
            length: self.state.length,
            contiguous_length: self.contiguous_length,
            byte_length: self.state.byte_length,
            fork: self.state.fork,
            blocks_stored: self.bitfield.count(0, self.state.length),
            writable: self.writable(),
        }
    }

    /// The current head, frozen.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            fork: self.state.fork,
            length: self.state.length,
            byte_length: self.state.byte_length,
            tree_hash: self.state.hash(),
            truncations_seen: self.truncations.len(),
        }
    }

    fn sign(&self, batch: &TreeBatch) -> Result<Vec<u8>, HypercoreError> {
        let kp = self.key_pair.as_ref().ok_or(HypercoreError::NotWritable)?;
        let verifier = self.verifier.as_ref().ok_or(HypercoreError::NotWritable)?;
        if !self.writable() {
            return Err(HypercoreError::NotWritable);
        }
        Ok(verifier.sign(kp, &batch.hash(), batch.length, batch.fork)?)
    }

    /// Appends one block; returns the new length.
    pub async fn append(&mut self, block: &[u8]) -> Result<u64, HypercoreError> {
        self.append_batch(std::slice::from_ref(&block)).await
    }

    /// Appends blocks atomically in one storage write; returns the new length.
    pub async fn append_batch<B: AsRef<[u8]>>(&mut self, blocks: &[B]) -> Result<u64, HypercoreError> {
        if !self.writable() {
            return Err(HypercoreError::NotWritable);
        }
        if blocks.is_empty() {
            return Ok(self.state.length);
        }
        let start = self.state.length;
        let mut batch = TreeBatch::new(&self.state);
        batch.append_many(blocks);
        batch.signature = Some(self.sign(&batch)?);
        let end = batch.length;

        let mut tx = CoreWrite::new();
        tx.put_blocks(start, blocks.iter().map(|b| b.as_ref().to_vec()).collect());
        tx.put_nodes(batch.nodes.iter().copied());
        self.bitfield.set_range(start, end, true);
        let pages = self.bitfield.take_dirty();
        add_pages(&mut tx, pages);
        let previous = std::mem::replace(&mut self.state, batch.into_state());
        let previous_contiguous = self.contiguous_length;
        if self.contiguous_length == start {
            self.contiguous_length = self.bitfield.first_unset(start).min(end);
        }
        tx.set_header(self.header().to_bytes());
        if let Err(e) = self.storage.commit(tx).await {
            self.state = previous;
            self.contiguous_length = previous_contiguous;
            self.bitfield.set_range(start, end, false);
            self.bitfield.take_dirty();
            return Err(e.into());
        }
        Ok(end)
    }

    /// Reads block `index` from local storage, checked against its tree leaf.
    /// `Ok(None)` when the block is not stored locally (or beyond the length).
    pub async fn get(&self, index: u64) -> Result<Option<Vec<u8>>, HypercoreError> {
        if !self.has(index) {
            return Ok(None);
        }
        let (mut blocks, mut leaves) = self.storage.get_blocks_and_nodes(&[index], &[2 * index]).await?;
        let (block, leaf) = (blocks.pop().flatten(), leaves.pop().flatten());
        Self::checked_block(index, block, leaf).map(Some)
    }

    /// Several blocks (see [`Hypercore::get`]), everything uncached read in one storage
    /// `get_many`. A storage error fails the whole call; a missing or damaged block fails only
    /// its own entry.
    pub async fn get_many(
        &self,
        indexes: &[u64],
    ) -> Result<Vec<Result<Option<Vec<u8>>, HypercoreError>>, HypercoreError> {
        let present: Vec<u64> = indexes.iter().copied().filter(|&i| self.has(i)).collect();
        let leaves: Vec<u64> = present.iter().map(|i| 2 * i).collect();
        let (blocks, nodes) = self.storage.get_blocks_and_nodes(&present, &leaves).await?;
        let mut found = present.into_iter().zip(blocks.into_iter().zip(nodes));
        Ok(indexes
            .iter()
            .map(|&index| {
                if !self.has(index) {
                    return Ok(None);
                }
                match found.next() {
                    Some((i, (block, leaf))) if i == index => {
                        Self::checked_block(index, block, leaf).map(Some)
                    }
                    _ => Err(HypercoreError::Corrupt(format!("block {index}: lookup out of order"))),
                }
            })
            .collect())
    }

    /// Sets the storage cache bounds: bytes of decoded block packs and number of decoded tree
    /// pages (256 nodes each) kept in memory.
    pub fn set_cache_limits(&mut self, pack_cache_bytes: usize, tree_cache_pages: usize) {
        self.storage.set_cache_limits(pack_cache_bytes, tree_cache_pages);
    }

    fn checked_block(
        index: u64,
        block: Option<Vec<u8>>,
        leaf: Option<Node>,
    ) -> Result<Vec<u8>, HypercoreError> {
        let block = block.ok_or_else(|| {
            HypercoreError::Corrupt(format!("block {index} is marked present but missing from storage"))
        })?;
        let leaf =
            leaf.ok_or_else(|| HypercoreError::Corrupt(format!("tree leaf of block {index} is missing")))?;
        if Node::leaf(index, &block) != leaf {
            return Err(HypercoreError::Storage(StorageError::Corrupt(format!(
                "block {index} does not match its tree hash"
            ))));
        }
        Ok(block)
    }

    /// Reads block `index` as of `snapshot`.
    pub async fn get_at(&self, snapshot: &Snapshot, index: u64) -> Result<Option<Vec<u8>>, HypercoreError> {
        if index >= snapshot.length {
            return Err(HypercoreError::BadArgument(format!(
                "block {index} is beyond the snapshot length {}",
                snapshot.length
            )));
        }
        // Every truncation since the snapshot (whatever fork id it was given) cuts it.
        let later = self.truncations.get(snapshot.truncations_seen..).unwrap_or_default();
        match later.iter().map(|(_, len)| *len).min() {
            Some(cut) if index >= cut => return Err(HypercoreError::SnapshotNotAvailable(cut)),
            // A fork change this handle did not see (e.g. a snapshot from before a reopen).
            None if snapshot.fork != self.state.fork => {
                return Err(HypercoreError::SnapshotNotAvailable(index));
            }
            _ => {}
        }
        self.get(index).await
    }

    /// Finds the block holding byte `bytes`.
    pub async fn seek(&self, bytes: u64) -> Result<SeekResult, HypercoreError> {
        Ok(seek(&self.storage, &self.state, bytes, 0).await?)
    }

    /// Truncates to `length`, bumping the fork (to `fork` if given), and signs the new head.
    pub async fn truncate(&mut self, length: u64, fork: Option<u64>) -> Result<(), HypercoreError> {
        if !self.writable() {
            return Err(HypercoreError::NotWritable);
        }
        if length > self.state.length {
            return Err(HypercoreError::BadArgument(format!(
                "cannot truncate length {} to {length}",
                self.state.length
            )));
        }
        let new_fork = fork.unwrap_or(self.state.fork + 1);
        let old_length = self.state.length;
        let mut batch = TreeBatch::new(&self.state);
        batch.truncate(&self.storage, length, new_fork).await?;
        batch.signature = if length > 0 { Some(self.sign(&batch)?) } else { None };

        let mut tx = CoreWrite::new();
        tx.truncate_blocks(length);
        if let Some((head, crossing)) = batch.truncated_from() {
            tx.truncate_nodes(head);
            for index in crossing {
                tx.delete_node(index);
            }
        }
        self.commit_cut(tx, batch.into_state(), length, old_length).await
    }

    /// Commits `tx` (which already drops blocks and nodes from `kept` on) together with the
    /// cleared bitfield and the new head `state`, atomically: the shared last step of
    /// `truncate` and `reorg`. On failure nothing in memory changes.
    pub(super) async fn commit_cut(
        &mut self,
        mut tx: CoreWrite,
        state: TreeState,
        kept: u64,
        old_length: u64,
    ) -> Result<(), HypercoreError> {
        let new_fork = state.fork;
        let bitfield_before = self.bitfield.clone();
        self.bitfield.set_range(kept, old_length, false);
        add_pages(&mut tx, self.bitfield.take_dirty());
        let previous = std::mem::replace(&mut self.state, state);
        let previous_contiguous = self.contiguous_length;
        self.contiguous_length = self.contiguous_length.min(kept);
        tx.set_header(self.header().to_bytes());
        if let Err(e) = self.storage.commit(tx).await {
            self.state = previous;
            self.contiguous_length = previous_contiguous;
            self.bitfield = bitfield_before;
            return Err(e.into());
        }
        self.truncations.push((new_fork, kept));
        Ok(())
    }

    /// Drops the local data of blocks `start..end`, keeping the tree (JS `core.clear`).
    pub async fn clear(&mut self, start: u64, end: u64) -> Result<(), HypercoreError> {
        let end = end.min(self.state.length);
        if start >= end {
            return Ok(());
        }
        let mut tx = CoreWrite::new();
        tx.clear_blocks(start, end);
        let before = self.bitfield.clone();
        self.bitfield.set_range(start, end, false);
        add_pages(&mut tx, self.bitfield.take_dirty());
        let previous_contiguous = self.contiguous_length;
        self.contiguous_length = self.contiguous_length.min(start);
        tx.set_header(self.header().to_bytes());
        if let Err(e) = self.storage.commit(tx).await {
            self.bitfield = before;
            self.contiguous_length = previous_contiguous;
            return Err(e.into());
        }
        Ok(())
    }
}

/// Adds bitfield pages to a write: empty pages are deleted.
pub(super) fn add_pages(tx: &mut CoreWrite, pages: Vec<(u64, Vec<u8>)>) {
    for (page, bytes) in pages {
        if bytes.is_empty() {
            tx.delete_bitfield_page(page);
        } else {
            tx.put_bitfield_page(page, bytes);
        }
    }
}
