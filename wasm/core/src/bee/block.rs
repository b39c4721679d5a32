//! One decoded hyperbee entry block (JS `BlockEntry`, `Pointers`) and read-only views of the
//! tree nodes it holds.
//!
//! Every block ≥ 1 is a `Node { index, key, value? }` whose `index` (a `YoloIndex`) lists the
//! tree nodes this block (re)wrote: level 0 is the root of the tree as of this block (in the
//! last block of a batch; earlier blocks of a batch drop it). A node's `keys` are seqs of the
//! blocks holding its keys; its `children` are `(seq, offset)` pairs: level `offset` of block
//! `seq`.
//!
//! Remote bytes are not trusted: [`BlockEntry::node`] refuses a level that does not exist, a
//! child list that is not `keys + 1` pointers, a key seq beyond the block and a child pointer
//! to a later block. Pointers inside one block may go either way (a batch's compaction
//! reorders levels), so walks also bound their depth ([`MAX_DEPTH`]) and iterators check key
//! order: no hostile block makes a walk loop.

use std::sync::{Arc, OnceLock};

use super::errors::BeeError;
use super::messages::{Level, Node, YoloIndex};

/// The deepest walk we follow. A B-tree whose nodes have at least 5 children (all but the
/// root) holding 2^64 keys is 28 levels deep, so anything deeper is a cycle.
pub const MAX_DEPTH: usize = 64;

/// Lazily filled key bytes of one level.
type KeySlots = Box<[OnceLock<Arc<[u8]>>]>;

/// A decoded entry block.
#[derive(Debug)]
pub struct BlockEntry {
    /// Block index in the core.
    pub seq: u64,
    /// The (encoded, prefixed) key this operation wrote (shared with the nodes that cache it).
    pub key: Arc<[u8]>,
    /// The value; `None` for a deletion, or a put without value.
    pub value: Option<Vec<u8>>,
    /// The tree nodes this block holds.
    pub levels: Vec<Level>,
    /// Why each level is unusable, for the levels that are (checked once, at decode).
    invalid: Vec<(usize, String)>,
    /// The key bytes of each level's keys, once some walk read them (JS keeps them on the
    /// `Key` objects of a decoded block): a cached node costs one lookup, not one per key.
    key_bytes: Vec<KeySlots>,
}

impl PartialEq for BlockEntry {
    fn eq(&self, other: &Self) -> bool {
        (self.seq, &self.key, &self.value, &self.levels)
            == (other.seq, &other.key, &other.value, &other.levels)
    }
}

impl Eq for BlockEntry {}

impl BlockEntry {
    /// Decodes block `seq`.
    pub fn decode(seq: u64, bytes: &[u8]) -> Result<Self, BeeError> {
        let node = Node::decode(bytes).map_err(|source| BeeError::Decode { seq, source })?;
        let index = YoloIndex::decode(&node.index).map_err(|source| BeeError::Decode { seq, source })?;
        Ok(Self::new(seq, node.key.into(), node.value, index.levels))
    }

    /// An entry from its parts (checks every level once).
    pub fn new(seq: u64, key: Arc<[u8]>, value: Option<Vec<u8>>, levels: Vec<Level>) -> Self {
        let invalid = levels
            .iter()
            .enumerate()
            .filter_map(|(offset, level)| check_level(seq, offset as u64, level).err().map(|e| (offset, e)))
            .collect();
        let key_bytes = levels.iter().map(|l| l.keys.iter().map(|_| OnceLock::new()).collect()).collect();
        BlockEntry { seq, key, value, levels, invalid, key_bytes }
    }

    /// Fills the key-bytes cache of each level with what the writer knew (`known[level][i]`
    /// = bytes of key `i` of that level, if known).
    pub(crate) fn remember_keys(&self, known: Vec<Vec<Option<Arc<[u8]>>>>) {
        for (slots, known) in self.key_bytes.iter().zip(known) {
            for (slot, bytes) in slots.iter().zip(known) {
                if let Some(bytes) = bytes {
                    let _ = slot.set(bytes);
                }
            }
        }
    }

    /// Whether this block records a deletion: no value, and its own index does not hold its
    /// own key (a put without value does; JS `BlockEntry.isDeletion`).
    pub fn is_deletion(&self) -> bool {
        self.value.is_none() && !self.levels.iter().any(|l| l.keys.contains(&self.seq))
    }

    /// Approximate bytes this entry keeps in memory (for cache bounds).
    pub fn weight(&self) -> usize {
        64 + self.key.len()
            + self.value.as_ref().map_or(0, Vec::len)
            + self.levels.iter().map(|l| 64 + 32 * l.keys.len() + 8 * l.children.len()).sum::<usize>()
    }

    /// The tree node at level `offset`, checked (see the module docs).
    pub fn node(self: &Arc<Self>, offset: u64) -> Result<NodeRef, BeeError> {
        let seq = self.seq;
        let index = usize::try_from(offset)
            .ok()
            .filter(|&o| o < self.levels.len())
            .ok_or_else(|| BeeError::invalid(seq, format!("no tree node at offset {offset}")))?;
        if let Some((_, reason)) = self.invalid.iter().find(|(o, _)| *o == index) {
            return Err(BeeError::invalid(seq, reason.clone()));
        }
        Ok(NodeRef { block: self.clone(), offset: index })
    }
}

/// Checks one level of block `seq` (see the module docs).
fn check_level(seq: u64, offset: u64, level: &Level) -> Result<(), String> {
    if !level.children.is_empty() && level.children.len() != 2 * (level.keys.len() + 1) {
        return Err(format!(
            "node {offset} has {} keys but {} child words",
            level.keys.len(),
            level.children.len()
        ));
    }
    if let Some(k) = level.keys.iter().find(|&&k| k == 0 || k > seq) {
        return Err(format!("node {offset} points to key block {k}"));
    }
    for pair in level.children.chunks_exact(2) {
        if pair[0] == 0 || pair[0] > seq {
            return Err(format!("node {offset} points to child block {}", pair[0]));
        }
        if pair[0] == seq && pair[1] == offset {
            return Err(format!("node {offset} is its own child"));
        }
    }
    Ok(())
}

/// A read-only tree node: level `offset` of `block`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NodeRef {
    /// The block holding this node.
    pub block: Arc<BlockEntry>,
    /// Its level in that block.
    pub offset: usize,
}

impl NodeRef {
    fn level(&self) -> &Level {
        // Checked in `BlockEntry::node`.
        &self.block.levels[self.offset]
    }

    /// Seqs of the blocks holding this node's keys, in key order.
    pub fn keys(&self) -> &[u64] {
        &self.level().keys
    }

    /// Number of children (0 for a leaf, else keys + 1).
    pub fn child_count(&self) -> usize {
        self.level().children.len() / 2
    }

    /// Child `i` as `(seq, offset)`.
    pub fn child(&self, i: usize) -> Option<(u64, u64)> {
        let c = &self.level().children;
        Some((*c.get(2 * i)?, *c.get(2 * i + 1)?))
    }

    /// Whether this node has no children.
    pub fn is_leaf(&self) -> bool {
        self.level().children.is_empty()
    }

    /// The bytes of key `i`, if a walk already read them.
    pub fn cached_key(&self, i: usize) -> Option<Arc<[u8]>> {
        self.block.key_bytes.get(self.offset)?.get(i)?.get().cloned()
    }

    /// Remembers the bytes of key `i` (read from block `keys()[i]`).
    pub fn cache_key(&self, i: usize, bytes: Arc<[u8]>) {
        if let Some(slot) = self.block.key_bytes.get(self.offset).and_then(|l| l.get(i)) {
            let _ = slot.set(bytes);
        }
    }

    /// The bytes of key `i`: cached, this node's own block's key, or `None` (read block
    /// `keys()[i]`, then [`NodeRef::cache_key`]).
    pub fn known_key(&self, i: usize) -> Option<Arc<[u8]>> {
        if let Some(k) = self.cached_key(i) {
            return Some(k);
        }
        if *self.keys().get(i)? == self.block.seq {
            return Some(self.block.key.clone());
        }
        None
    }

    /// The block seq this node lives in.
    pub fn seq(&self) -> u64 {
        self.block.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(seq: u64, levels: Vec<Level>) -> Arc<BlockEntry> {
        Arc::new(BlockEntry::new(seq, b"k".as_slice().into(), None, levels))
    }

    #[test]
    fn deletion_detection() {
        let put = block(3, vec![Level { keys: vec![1, 3], children: vec![] }]);
        assert!(!put.is_deletion());
        let del = block(3, vec![Level { keys: vec![1, 2], children: vec![] }]);
        assert!(del.is_deletion());
    }

    #[test]
    fn refuses_bad_pointers() {
        let b = block(5, vec![Level { keys: vec![6], children: vec![] }]);
        assert_eq!(b.node(0).unwrap_err().code(), "DECODING_ERROR");
        let b = block(5, vec![Level { keys: vec![1], children: vec![2, 0, 6, 0] }]);
        assert!(b.node(0).is_err());
        let b = block(5, vec![Level { keys: vec![1], children: vec![5, 0, 2, 0] }]);
        assert!(b.node(0).is_err());
        let b = block(5, vec![Level { keys: vec![1], children: vec![2, 0] }]);
        assert!(b.node(0).is_err());
        assert!(b.node(1).is_err());
        let ok = block(5, vec![Level { keys: vec![1], children: vec![5, 1, 2, 0] }, Level::default()]);
        let n = ok.node(0).unwrap();
        assert_eq!(n.child(0), Some((5, 1)));
        assert_eq!(n.child_count(), 2);
    }
}
