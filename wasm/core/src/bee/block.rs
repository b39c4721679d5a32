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

use std::sync::Arc;

use super::errors::BeeError;
use super::messages::{Level, Node, YoloIndex};

/// The deepest walk we follow. A B-tree whose nodes have at least 5 children (all but the
/// root) holding 2^64 keys is 28 levels deep, so anything deeper is a cycle.
pub const MAX_DEPTH: usize = 64;

/// A decoded entry block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEntry {
    /// Block index in the core.
    pub seq: u64,
    /// The (encoded, prefixed) key this operation wrote.
    pub key: Vec<u8>,
    /// The value; `None` for a deletion, or a put without value.
    pub value: Option<Vec<u8>>,
    /// The tree nodes this block holds.
    pub levels: Vec<Level>,
}

impl BlockEntry {
    /// Decodes block `seq`.
    pub fn decode(seq: u64, bytes: &[u8]) -> Result<Self, BeeError> {
        let node = Node::decode(bytes).map_err(|source| BeeError::Decode { seq, source })?;
        let index = YoloIndex::decode(&node.index).map_err(|source| BeeError::Decode { seq, source })?;
        Ok(BlockEntry { seq, key: node.key, value: node.value, levels: index.levels })
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
            + self.levels.iter().map(|l| 48 + 8 * (l.keys.len() + l.children.len())).sum::<usize>()
    }

    /// The tree node at level `offset`, checked (see the module docs).
    pub fn node(self: &Arc<Self>, offset: u64) -> Result<NodeRef, BeeError> {
        let seq = self.seq;
        let level = usize::try_from(offset)
            .ok()
            .and_then(|o| self.levels.get(o))
            .ok_or_else(|| BeeError::invalid(seq, format!("no tree node at offset {offset}")))?;
        if !level.children.is_empty() && level.children.len() != 2 * (level.keys.len() + 1) {
            return Err(BeeError::invalid(
                seq,
                format!(
                    "node {offset} has {} keys but {} child words",
                    level.keys.len(),
                    level.children.len()
                ),
            ));
        }
        if let Some(k) = level.keys.iter().find(|&&k| k == 0 || k > seq) {
            return Err(BeeError::invalid(seq, format!("node {offset} points to key block {k}")));
        }
        for pair in level.children.chunks_exact(2) {
            if pair[0] == 0 || pair[0] > seq {
                return Err(BeeError::invalid(
                    seq,
                    format!("node {offset} points to child block {}", pair[0]),
                ));
            }
            if pair[0] == seq && pair[1] == offset {
                return Err(BeeError::invalid(seq, format!("node {offset} is its own child")));
            }
        }
        Ok(NodeRef { block: self.clone(), offset: offset as usize })
    }
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

    /// The block seq this node lives in.
    pub fn seq(&self) -> u64 {
        self.block.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(seq: u64, levels: Vec<Level>) -> Arc<BlockEntry> {
        Arc::new(BlockEntry { seq, key: b"k".to_vec(), value: None, levels })
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
