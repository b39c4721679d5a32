//! Writes (the write side of JS hyperbee's `Batch`, and `TreeNode`): B-tree insert with
//! splits, delete with rebalancing, and the encoding of the rewritten nodes into blocks.
//!
//! Byte-identity with JS hyperbee 2.27.3 follows from doing what it does, in the same order:
//! - A put walks root → leaf marking every internal node on the way as changed; an existing
//!   key is replaced in place (in whichever node holds it); a new key goes into the leaf,
//!   which splits at 9 keys into 4 | median | 4, medians going up, a new root on top.
//! - A delete replaces an internal key by the nearest leaf key from the side whose edge leaf
//!   holds more keys (the left on a tie), removes leaf keys, then rebalances bottom-up:
//!   borrow from a left sibling with > 4 keys, else from a right one, else merge (into the
//!   left sibling when there is one); an empty root with a child gives way to that child.
//! - Each operation appends one block whose index lists the changed nodes in pre-order
//!   (`indexChanges`): the root at offset 0, each changed child right after its parent's
//!   earlier changed children. Unchanged subtrees keep their old `(seq, offset)` pointers.
//! - Nodes are live objects for the whole batch, shared through child pointers that are
//!   themselves shared between a parent and the block indexes that list the child (JS
//!   `Child` objects): later operations re-point them, and `flush` (`toBlocks`) drops from
//!   every block but the last its root and the entries re-owned by a later block, compacting
//!   the rest by swap-with-last, which renumbers the shared pointers before the later blocks
//!   are encoded. Hence the arena of nodes and of child pointers below.
//! - Quirks kept on purpose: nodes marked changed by a put that was then vetoed (cas, or an
//!   equal value with `always_duplicate: false`) stay marked, so the batch's next block
//!   rewrites them too; a put on an empty core writes the header block first, on its own.

use std::cmp::Ordering;
use std::sync::Arc;

use futures::lock::OwnedMutexGuard;

use super::block::{BlockEntry, NodeRef, MAX_DEPTH};
use super::encoding::{prefixed, strip_prefix};
use super::errors::BeeError;
use super::hyperbee::{lookup, Cas, Entry, Hyperbee};
use super::messages::{Header, Level, Node, YoloIndex};
use super::reader::Reader;
use crate::storage::Storage;

pub(super) const MIN_KEYS: usize = 4;
pub(super) const MAX_CHILDREN: usize = 9;

pub(super) type NodeId = usize;
pub(super) type ChildId = usize;

/// A key pointer of a node being rewritten: the seq of the block holding the key, and the
/// key once it was read.
#[derive(Debug, Clone)]
pub(super) struct Key {
    pub(super) seq: u64,
    pub(super) bytes: Option<Arc<[u8]>>,
}

/// A child pointer (JS `Child`): shared by the parent and by the block indexes listing it.
#[derive(Debug, Clone)]
pub(super) struct Child {
    pub(super) seq: u64,
    pub(super) offset: u64,
    pub(super) node: Option<NodeId>,
}

/// A tree node being rewritten (JS `TreeNode`).
#[derive(Debug, Clone)]
pub(super) struct TreeNode {
    pub(super) keys: Vec<Key>,
    pub(super) children: Vec<ChildId>,
    pub(super) changed: bool,
    /// The stored block this node was read from, while it is not rewritten (for the "this
    /// block wrote the key" shortcut of reads in the batch).
    pub(super) from_block: Option<NodeRef>,
}

/// One block of the batch, before encoding.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) key: Arc<[u8]>,
    pub(super) value: Option<Vec<u8>>,
    /// Index entries: child pointers of the nodes this block wrote (`None` only transiently).
    pub(super) index: Vec<Option<ChildId>>,
    /// The block, encoded when the operation ran ([`Batch::separate_blocks`] mode), and its
    /// decoded form.
    pub(super) encoded: Option<(Vec<u8>, BlockEntry)>,
}

/// What inserting a key into a node did.
pub(super) enum Inserted {
    /// Vetoed or skipped: nothing changed.
    Skipped,
    /// Inserted or replaced; `true` when the node now needs a split.
    Done(bool),
}

/// A write batch (JS `db.batch()`): holds the bee's write lock until [`Batch::flush`] or
/// drop; reads through it see its writes; flush appends all its blocks atomically.
pub struct Batch<S> {
    pub(super) bee: Hyperbee<S>,
    pub(super) _guard: OwnedMutexGuard<()>,
    /// Reader of the stored tree, set by the first operation (after the header).
    pub(super) reader: Option<Reader<S>>,
    /// Core length when the first operation ran: seq of the batch's first block.
    pub(super) base: u64,
    pub(super) nodes: Vec<TreeNode>,
    pub(super) children: Vec<Child>,
    /// The tree's root as this batch sees it, once loaded.
    pub(super) root: Option<NodeId>,
    pub(super) pending: Vec<Pending>,
    /// An operation failed half-way: refuse everything (see [`BeeError::BatchFailed`]).
    pub(super) poisoned: bool,
    /// Encode every block as its operation runs (see [`Batch::separate_blocks`]).
    pub(super) separate: bool,
}

impl<S> std::fmt::Debug for Batch<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("base", &self.base)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Batch<S> {
    pub(crate) fn new(bee: Hyperbee<S>, guard: OwnedMutexGuard<()>) -> Self {
        Batch {
            bee,
            _guard: guard,
            reader: None,
            base: 0,
            nodes: Vec::new(),
            children: Vec::new(),
            root: None,
            pending: Vec::new(),
            poisoned: false,
            separate: false,
        }
    }

    /// Makes every operation of this batch write the block it would write on its own (JS
    /// `db.put`/`db.del` one after the other: each block carries its whole index) instead of
    /// the compacted blocks of a JS `db.batch()`; `flush` still appends them all at once. This
    /// is how concurrent single puts are group-committed without changing their bytes.
    /// Operations that change nothing (a vetoed `cas`, an unchanged value with
    /// `always_duplicate: false`) mark nodes changed that a separate call would have thrown
    /// away, so callers use this mode only for operations without `cas` on a bee that always
    /// duplicates. Call it before the first operation.
    pub fn separate_blocks(&mut self) {
        debug_assert!(self.pending.is_empty(), "separate_blocks() after an operation");
        self.separate = true;
    }

    /// Number of operations waiting for `flush`.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no operation is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The version reads through this batch see: the stored version plus the batch's blocks.
    pub async fn version(&self) -> u64 {
        match &self.reader {
            Some(_) => (self.base + self.pending.len() as u64).max(1),
            None => self.bee.version().await,
        }
    }

    /// Puts `key = value`.
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), BeeError> {
        self.put_with(key, Some(value), None).await.map(|_| ())
    }

    /// Deletes `key`; `Ok(false)` if absent.
    pub async fn del(&mut self, key: &[u8]) -> Result<bool, BeeError> {
        self.del_with(key, None).await
    }

    /// The entry for `key` as this batch sees it.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Entry>, BeeError> {
        let key = prefixed(&self.bee.prefix, key);
        if self.root.is_none() && self.pending.is_empty() {
            let reader = match &self.reader {
                Some(r) => r.clone(),
                None => self.bee.reader().await?,
            };
            return Ok(lookup(&reader, &key).await?.map(|b| self.bee.entry(&b)));
        }
        let Some(mut node) = self.root else { return Ok(None) };
        for _ in 0..MAX_DEPTH {
            if let Some(from) = &self.nodes[node].from_block {
                if *from.block.key == *key {
                    let block = from.block.clone();
                    return Ok((!block.is_deletion()).then(|| self.bee.entry(&block)));
                }
            }
            match self.search(node, &key).await? {
                Ok(i) => {
                    let seq = self.nodes[node].keys[i].seq;
                    return self.entry_of(seq).await.map(Some);
                }
                Err(i) => {
                    if self.nodes[node].children.is_empty() {
                        return Ok(None);
                    }
                    node = self.child_node(node, i).await?;
                }
            }
        }
        Err(BeeError::invalid(self.base, "tree deeper than any real bee (a cycle?)"))
    }

    /// Puts `key` (optional value, optional compare-and-swap); `Ok(false)`: nothing written.
    pub async fn put_with(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        cas: Option<Cas<'_>>,
    ) -> Result<bool, BeeError> {
        self.check()?;
        let r = self.put_inner(key, value, cas).await;
        self.poisoned |= r.is_err();
        r
    }

    /// Deletes `key` if present and `cas` allows; `Ok(false)`: nothing written.
    pub async fn del_with(&mut self, key: &[u8], cas: Option<Cas<'_>>) -> Result<bool, BeeError> {
        self.check()?;
        let r = self.del_inner(key, cas).await;
        self.poisoned |= r.is_err();
        r
    }

    /// Refuses to go on after an operation failed half-way.
    pub(super) fn check(&self) -> Result<(), BeeError> {
        if self.poisoned {
            return Err(BeeError::BatchFailed);
        }
        Ok(())
    }

    pub(super) async fn put_inner(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        cas: Option<Cas<'_>>,
    ) -> Result<bool, BeeError> {
        let user_key = key.to_vec();
        let key: Arc<[u8]> = prefixed(&self.bee.prefix, key).into();
        let value = value.map(<[u8]>::to_vec);
        self.start().await?;
        let seq = self.next_seq();
        let next = Entry { seq, key: user_key, value: value.clone() };
        let root = match self.load_root().await? {
            Some(r) => r,
            None => self.new_node(true),
        };
        let target = Key { seq, bytes: Some(key.clone()) };
        let mut stack = Vec::new();
        let mut node = root;
        while !self.nodes[node].children.is_empty() {
            if stack.len() >= MAX_DEPTH {
                return Err(BeeError::invalid(seq, "tree deeper than any real bee (a cycle?)"));
            }
            stack.push(node);
            self.nodes[node].changed = true;
            match self.search(node, &key).await? {
                Ok(mid) => {
                    if !self.allowed(node, mid, &next, cas).await? {
                        return Ok(false);
                    }
                    self.nodes[node].keys[mid] = target;
                    self.nodes[node].changed = true;
                    self.append(root, key, value);
                    return Ok(true);
                }
                Err(i) => node = self.child_node(node, i).await?,
            }
        }

        let mut needs_split = match self.insert_key(node, target, None, Some((&next, cas))).await? {
            Inserted::Skipped => false,
            Inserted::Done(split) => split,
        };
        if !self.nodes[node].changed {
            return Ok(false);
        }
        let mut root = root;
        while needs_split {
            let parent = stack.pop();
            let (median, right) = self.split(node);
            match parent {
                Some(p) => {
                    needs_split = match self.insert_key(p, median, Some(right), None).await? {
                        Inserted::Skipped => false,
                        Inserted::Done(split) => split,
                    };
                    node = p;
                }
                None => {
                    let new_root = self.new_node(true);
                    let left_ptr = self.new_child(0, 0, Some(node));
                    let right_ptr = self.new_child(0, 0, Some(right));
                    let r = &mut self.nodes[new_root];
                    r.keys.push(median);
                    r.children.push(left_ptr);
                    r.children.push(right_ptr);
                    root = new_root;
                    needs_split = false;
                }
            }
        }
        self.append(root, key, value);
        Ok(true)
    }

    pub(super) async fn del_inner(&mut self, key: &[u8], cas: Option<Cas<'_>>) -> Result<bool, BeeError> {
        let user_key = key.to_vec();
        let key: Arc<[u8]> = prefixed(&self.bee.prefix, key).into();
        self.start().await?;
        let seq = self.next_seq();
        let next = Entry { seq, key: user_key, value: None };
        let Some(root) = self.load_root().await? else { return Ok(false) };
        let mut stack = Vec::new();
        let mut node = root;
        loop {
            if stack.len() >= MAX_DEPTH {
                return Err(BeeError::invalid(seq, "tree deeper than any real bee (a cycle?)"));
            }
            stack.push(node);
            match self.search(node, &key).await? {
                Ok(mid) => {
                    if let Some(cas) = cas {
                        let prev = self.entry_of(self.nodes[node].keys[mid].seq).await?;
                        if !cas(&prev, &next) {
                            return Ok(false);
                        }
                    }
                    if self.nodes[node].children.is_empty() {
                        self.remove_key(node, mid);
                    } else {
                        self.set_key_to_nearest_leaf(node, mid, &mut stack).await?;
                    }
                    // Marked late, so a miss rewrites nothing.
                    for &n in &stack {
                        self.nodes[n].changed = true;
                    }
                    let root = self.rebalance(stack).await?;
                    self.append(root, key, None);
                    return Ok(true);
                }
                Err(i) => {
                    if self.nodes[node].children.is_empty() {
                        return Ok(false);
                    }
                    node = self.child_node(node, i).await?;
                }
            }
        }
    }

    /// Appends every block of the batch in one core append (nothing if empty).
    pub async fn flush(mut self) -> Result<(), BeeError> {
        self.check()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let (blocks, decoded) = self.encode_blocks();
        let core = self.bee.shared.core.clone();
        let mut guard = core.lock().await;
        let fork = self.reader().fork();
        if guard.length() != self.base || guard.fork() != fork {
            return Err(BeeError::Conflict(format!(
                "length {} fork {} now, {} fork {} when the batch began",
                guard.length(),
                guard.fork(),
                self.base,
                fork
            )));
        }
        let length = guard.append_batch(&blocks).await?;
        let fork = guard.fork();
        drop(guard);
        // The blocks just written are what the next operations read first: keep them decoded,
        // with the key bytes this batch knew (saves a read, a decode and key lookups each).
        for entry in decoded {
            self.bee.shared.cache.insert(fork, Arc::new(entry));
        }
        core.notify(crate::replicator::LocalChange::Appended { length }, 0);
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // setup

    /// Writes the header on an empty core (JS `getRoot(true)`), then pins the reader.
    pub(super) async fn start(&mut self) -> Result<(), BeeError> {
        if self.reader.is_some() {
            return Ok(());
        }
        let shared = self.bee.shared.clone();
        let mut core = shared.core.lock().await;
        if core.length() == 0 {
            if !core.writable() {
                return Err(BeeError::ReadOnly);
            }
            let header = Header { protocol: "hyperbee".into(), metadata: shared.opts.metadata.clone() };
            let length = core.append(&header.encode()).await?;
            drop(core);
            shared.core.notify(crate::replicator::LocalChange::Appended { length }, 0);
        } else {
            drop(core);
        }
        let reader = self.bee.reader().await?;
        // The core holds at least the header now, so the version is the length.
        self.base = reader.version();
        self.reader = Some(reader);
        Ok(())
    }

    pub(super) fn reader(&self) -> &Reader<S> {
        // `start` runs before every tree access.
        self.reader.as_ref().expect("batch reader is set by start()")
    }

    pub(super) fn next_seq(&self) -> u64 {
        self.base + self.pending.len() as u64
    }

    /// The batch's root (loading the stored one the first time); `None` for an empty tree.
    pub(super) async fn load_root(&mut self) -> Result<Option<NodeId>, BeeError> {
        if let Some(r) = self.root {
            return Ok(Some(r));
        }
        let Some(stored) = self.reader().root().await? else { return Ok(None) };
        let id = self.adopt(stored);
        self.root = Some(id);
        Ok(Some(id))
    }

    /// A node read from a stored block, as a live node.
    pub(super) fn adopt(&mut self, node: NodeRef) -> NodeId {
        let keys =
            node.keys().iter().enumerate().map(|(i, &seq)| Key { seq, bytes: node.cached_key(i) }).collect();
        let children = (0..node.child_count())
            .filter_map(|i| node.child(i))
            .map(|(seq, offset)| self.new_child(seq, offset, None))
            .collect();
        self.nodes.push(TreeNode { keys, children, changed: false, from_block: Some(node) });
        self.nodes.len() - 1
    }

    pub(super) fn new_node(&mut self, changed: bool) -> NodeId {
        self.nodes.push(TreeNode { keys: Vec::new(), children: Vec::new(), changed, from_block: None });
        self.nodes.len() - 1
    }

    pub(super) fn new_child(&mut self, seq: u64, offset: u64, node: Option<NodeId>) -> ChildId {
        self.children.push(Child { seq, offset, node });
        self.children.len() - 1
    }

    // -----------------------------------------------------------------------------------
    // reads inside the batch

    /// Child `i` of `node`, loading it from its block the first time (JS `getChildNode`).
    pub(super) async fn child_node(&mut self, node: NodeId, i: usize) -> Result<NodeId, BeeError> {
        let cid = *self.nodes[node]
            .children
            .get(i)
            .ok_or_else(|| BeeError::invalid(self.base, format!("node has no child {i}")))?;
        if let Some(n) = self.children[cid].node {
            return Ok(n);
        }
        let Child { seq, offset, .. } = self.children[cid];
        if seq >= self.base {
            // Pointers into the batch always carry their node.
            return Err(BeeError::invalid(seq, "child pointer into the unflushed batch without its node"));
        }
        let block = match &self.nodes[node].from_block {
            Some(from) if from.seq() == seq => from.block.clone(),
            _ => self.reader().block(seq).await?,
        };
        let stored = block.node(offset)?;
        let id = self.adopt(stored);
        self.children[cid].node = Some(id);
        Ok(id)
    }

    /// The key bytes of block `seq` (a stored block or one of the batch).
    pub(super) async fn key_bytes(&self, seq: u64) -> Result<Arc<[u8]>, BeeError> {
        if seq >= self.base {
            let p = self
                .pending
                .get((seq - self.base) as usize)
                .ok_or_else(|| BeeError::invalid(seq, "key pointer beyond the batch"))?;
            return Ok(p.key.clone());
        }
        Ok(self.reader().block(seq).await?.key.clone())
    }

    /// Key `i` of `node`, read once and kept.
    pub(super) async fn key_at(&mut self, node: NodeId, i: usize) -> Result<Arc<[u8]>, BeeError> {
        let k = &self.nodes[node].keys[i];
        if let Some(b) = &k.bytes {
            return Ok(b.clone());
        }
        let seq = k.seq;
        let bytes = match &self.nodes[node].from_block {
            Some(from) if from.seq() == seq => from.block.key.clone(),
            _ => self.key_bytes(seq).await?,
        };
        // Keep it for later walks of the stored node too (a stored node's keys are fixed).
        if let Some(from) = &self.nodes[node].from_block {
            if from.keys().get(i) == Some(&seq) {
                from.cache_key(i, bytes.clone());
            }
        }
        self.nodes[node].keys[i].bytes = Some(bytes.clone());
        Ok(bytes)
    }

    /// Binary search (JS's loop): `Ok(index)` when found, else `Err(insertion point)`.
    pub(super) async fn search(
        &mut self,
        node: NodeId,
        key: &[u8],
    ) -> Result<Result<usize, usize>, BeeError> {
        let (mut s, mut e) = (0usize, self.nodes[node].keys.len());
        while s < e {
            let mid = (s + e) >> 1;
            match key.cmp(&self.key_at(node, mid).await?) {
                Ordering::Equal => return Ok(Ok(mid)),
                Ordering::Less => e = mid,
                Ordering::Greater => s = mid + 1,
            }
        }
        Ok(Err(s))
    }

    /// The entry of block `seq` as reads return it.
    pub(super) async fn entry_of(&self, seq: u64) -> Result<Entry, BeeError> {
        let prefix = &self.bee.prefix;
        if seq >= self.base {
            let p = self
                .pending
                .get((seq - self.base) as usize)
                .ok_or_else(|| BeeError::invalid(seq, "key pointer beyond the batch"))?;
            return Ok(Entry { seq, key: strip_prefix(prefix, &p.key).to_vec(), value: p.value.clone() });
        }
        let block = self.reader().block(seq).await?;
        Ok(self.bee.entry(&block))
    }

    /// The cas / `always_duplicate` gate of an overwrite of key `i` of `node`.
    pub(super) async fn allowed(
        &mut self,
        node: NodeId,
        i: usize,
        next: &Entry,
        cas: Option<Cas<'_>>,
    ) -> Result<bool, BeeError> {
        let always = self.bee.always_duplicate;
        if cas.is_none() && always {
            return Ok(true);
        }
        let prev = self.entry_of(self.nodes[node].keys[i].seq).await?;
        if let Some(cas) = cas {
            if !cas(&prev, next) {
                return Ok(false);
            }
        }
        Ok(always || prev.value != next.value)
    }

    // -----------------------------------------------------------------------------------
    // blocks

    /// JS `_append`: indexes the changed nodes under `root` for a new block.
    pub(super) fn append(&mut self, root: NodeId, key: Arc<[u8]>, value: Option<Vec<u8>>) {
        let seq = self.next_seq();
        let mut index = Vec::new();
        self.index_changes(root, &mut index, seq);
        let root_ptr = self.new_child(seq, 0, Some(root));
        index[0] = Some(root_ptr);
        let encoded = self.separate.then(|| self.encode_one(seq, &key, &value, &index));
        self.pending.push(Pending { key, value, index, encoded });
        self.root = Some(root);
    }

    /// JS `indexChanges`: pre-order over changed nodes; returns `node`'s offset.
    pub(super) fn index_changes(&mut self, node: NodeId, index: &mut Vec<Option<ChildId>>, seq: u64) -> u64 {
        let offset = index.len() as u64;
        index.push(None);
        self.nodes[node].changed = false;
        self.nodes[node].from_block = None;
        for ci in 0..self.nodes[node].children.len() {
            let cid = self.nodes[node].children[ci];
            let Some(child) = self.children[cid].node else { continue };
            if !self.nodes[child].changed {
                continue;
            }
            self.children[cid].seq = seq;
            let off = self.index_changes(child, index, seq);
            self.children[cid].offset = off;
            index[off as usize] = Some(cid);
        }
        offset
    }

    /// JS `toBlocks`: encodes the batch's blocks, compacting every block but the last. Also
    /// returns them decoded, with the key bytes the batch already knows, for the cache.
    pub(super) fn encode_blocks(&mut self) -> (Vec<Vec<u8>>, Vec<BlockEntry>) {
        if self.separate {
            return self.pending.iter_mut().filter_map(|p| p.encoded.take()).unzip();
        }
        let n = self.pending.len();
        let (mut out, mut decoded) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let seq = self.base + i as u64;
            let mut index = std::mem::take(&mut self.pending[i].index);
            if i + 1 < n {
                index[0] = None;
                let mut j = 0;
                while j < index.len() {
                    if let Some(cid) = index[j] {
                        if self.children[cid].seq == seq {
                            self.children[cid].offset = j as u64;
                            j += 1;
                            continue;
                        }
                    }
                    let last = index.pop().flatten();
                    if j < index.len() {
                        index[j] = last;
                    }
                }
            }
            let p = &self.pending[i];
            let (bytes, entry) = self.encode_one(seq, &p.key, &p.value, &index);
            out.push(bytes);
            decoded.push(entry);
            self.pending[i].index = index;
        }
        (out, decoded)
    }

    /// One block with `index` as it is now (JS `_append` of an auto-flushed batch), encoded
    /// and decoded (key bytes the batch knows filled in).
    pub(super) fn encode_one(
        &self,
        seq: u64,
        key: &Arc<[u8]>,
        value: &Option<Vec<u8>>,
        index: &[Option<ChildId>],
    ) -> (Vec<u8>, BlockEntry) {
        let levels: Vec<Level> = index.iter().map(|entry| self.level_of(*entry)).collect();
        let known: Vec<Vec<Option<Arc<[u8]>>>> = index.iter().map(|entry| self.known_keys(*entry)).collect();
        let bytes = Node {
            index: YoloIndex { levels: levels.clone() }.encode(),
            key: key.to_vec(),
            value: value.clone(),
        }
        .encode();
        let entry = BlockEntry::new(seq, key.clone(), value.clone(), levels);
        entry.remember_keys(known);
        (bytes, entry)
    }

    /// The key bytes the batch holds for the keys of one index entry.
    pub(super) fn known_keys(&self, entry: Option<ChildId>) -> Vec<Option<Arc<[u8]>>> {
        let Some(node) = entry.and_then(|cid| self.children[cid].node) else { return Vec::new() };
        self.nodes[node].keys.iter().map(|k| k.bytes.clone()).collect()
    }

    /// JS `deflate` of one index entry: the node's key seqs and child pointers as they are
    /// now.
    pub(super) fn level_of(&self, entry: Option<ChildId>) -> Level {
        let Some(node) = entry.and_then(|cid| self.children[cid].node) else { return Level::default() };
        let n = &self.nodes[node];
        Level {
            keys: n.keys.iter().map(|k| k.seq).collect(),
            children: n
                .children
                .iter()
                .flat_map(|&c| [self.children[c].seq, self.children[c].offset])
                .collect(),
        }
    }
}
