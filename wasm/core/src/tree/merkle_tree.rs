//! Tree state and batches (hypercore `lib/merkle-tree.js` `MerkleTreeBatch`, `MerkleTree`).
//!
//! [`TreeState`] is the committed head of a core: roots, length, byte length, fork and the
//! signature over them. A [`TreeBatch`] is a copy-on-write change to it: appended blocks,
//! a verified upgrade from a peer, or a truncation. Nodes the batch creates are collected in
//! [`TreeBatch::nodes`] for the caller to persist in the same storage write.

use super::flat_tree::{self, Iter};
use super::{require_node, Node, NodeSource, Prologue, TreeError};
use crate::crypto::hash::{leaf_hashes, tree_hash, Hash};

/// The committed tree head of a core.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeState {
    /// Fork id, bumped by every truncation.
    pub fork: u64,
    /// Number of blocks.
    pub length: u64,
    /// Total bytes of all blocks.
    pub byte_length: u64,
    /// Roots, left to right.
    pub roots: Vec<Node>,
    /// Signature over (tree hash, length, fork), in the core's wire format; `None` at length 0
    /// or for a prologue-only core.
    pub signature: Option<Vec<u8>>,
    /// The manifest's prologue, if any.
    pub prologue: Option<Prologue>,
}

impl TreeState {
    /// The tree hash (`crypto.tree(roots)`).
    pub fn hash(&self) -> Hash {
        hash_roots(&self.roots)
    }

    /// Loads the roots for `length` from storage.
    pub async fn roots_at<R: NodeSource>(reader: &R, length: u64) -> Result<Vec<Node>, TreeError> {
        let indexes = flat_tree::full_roots(2 * length);
        let nodes = reader.get_nodes(&indexes).await?;
        indexes.iter().zip(nodes).map(|(i, n)| n.ok_or_else(|| TreeError::missing(*i))).collect()
    }
}

/// Tree hash of a list of roots.
pub fn hash_roots(roots: &[Node]) -> Hash {
    tree_hash(roots.iter().map(|r| (&r.hash, r.index, r.size)))
}

/// A pending change to a [`TreeState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeBatch {
    /// Fork after the batch.
    pub fork: u64,
    /// Roots after the batch.
    pub roots: Vec<Node>,
    /// Length after the batch.
    pub length: u64,
    /// Byte length after the batch.
    pub byte_length: u64,
    /// Signature after the batch (set by signing or by a verified upgrade).
    pub signature: Option<Vec<u8>>,
    /// Length of the prefix shared with the state the batch started from.
    pub ancestors: u64,
    /// Nodes created or learnt by the batch, to persist.
    pub nodes: Vec<Node>,
    /// Whether the head moved (append, upgrade or truncation).
    pub upgraded: bool,
    /// Prologue of the core.
    pub prologue: Option<Prologue>,
    /// Length of the state the batch started from.
    pub tree_length: u64,
    /// Fork of the state the batch started from.
    pub tree_fork: u64,
}

impl TreeBatch {
    /// A batch starting at `state`.
    pub fn new(state: &TreeState) -> Self {
        TreeBatch {
            fork: state.fork,
            roots: state.roots.clone(),
            length: state.length,
            byte_length: state.byte_length,
            signature: state.signature.clone(),
            ancestors: state.length,
            nodes: Vec::new(),
            upgraded: false,
            prologue: state.prologue,
            tree_length: state.length,
            tree_fork: state.fork,
        }
    }

    /// The tree hash after the batch.
    pub fn hash(&self) -> Hash {
        hash_roots(&self.roots)
    }

    /// Appends one block.
    pub fn append(&mut self, data: &[u8]) {
        let head = self.length * 2;
        let mut ite = Iter::new(head);
        self.append_root(Node::leaf(self.length, data), &mut ite);
    }

    /// Appends blocks in order (like [`TreeBatch::append`] on each), hashing the leaves
    /// several at a time.
    pub fn append_many<B: AsRef<[u8]>>(&mut self, blocks: &[B]) {
        for (block, hash) in blocks.iter().zip(leaf_hashes(blocks)) {
            let head = self.length * 2;
            let mut ite = Iter::new(head);
            self.append_root(Node { index: head, size: block.as_ref().len() as u64, hash }, &mut ite);
        }
    }

    /// Adds a full subtree `node` at the right edge; `ite` points at `node` and is left on the
    /// last root (JS `appendRoot`).
    pub fn append_root(&mut self, node: Node, ite: &mut Iter) {
        self.upgraded = true;
        self.length = self.length.saturating_add(flat_tree::count_leaves(node.index));
        self.byte_length = self.byte_length.saturating_add(node.size);
        self.roots.push(node);
        self.nodes.push(node);

        while self.roots.len() > 1 {
            let a = self.roots[self.roots.len() - 1];
            let b = self.roots[self.roots.len() - 2];
            if ite.sibling() != b.index {
                ite.sibling();
                break;
            }
            let parent = Node::parent(&a, &b);
            debug_assert_eq!(parent.index, flat_tree::parent(a.index));
            ite.parent();
            self.nodes.push(parent);
            self.roots.pop();
            self.roots.pop();
            self.roots.push(parent);
        }
    }

    /// Moves the batch back to `length` (≤ current), reading the roots it needs from storage
    /// and setting `fork` (JS `MerkleTree.truncate`). Nodes right of the new head are for the
    /// caller to delete: see [`TreeBatch::truncated_from`].
    pub async fn truncate<R: NodeSource>(
        &mut self,
        reader: &R,
        length: u64,
        fork: u64,
    ) -> Result<(), TreeError> {
        if length > self.length {
            return Err(TreeError::BadArgument(format!("cannot truncate {} to {length}", self.length)));
        }
        let full = flat_tree::full_roots(2 * length);
        let mut roots = Vec::with_capacity(full.len());
        for (i, index) in full.iter().enumerate() {
            match self.roots.get(i) {
                Some(r) if r.index == *index && roots.len() == i => roots.push(*r),
                _ => {
                    let local = self.nodes.iter().rev().find(|n| n.index == *index).copied();
                    roots.push(match local {
                        Some(n) => n,
                        None => require_node(reader, *index).await?,
                    })
                }
            }
        }
        self.roots = roots;
        self.fork = fork;
        self.length = length;
        self.ancestors = self.ancestors.min(length);
        self.byte_length = self.roots.iter().map(|r| r.size).sum();
        self.nodes.retain(|n| flat_tree::right_span(n.index) < 2 * length);
        self.signature = None;
        self.upgraded = true;
        Ok(())
    }

    /// After a truncation: stored nodes to delete are every index ≥ `2·ancestors` plus the
    /// parents returned here (nodes left of the head whose span crosses it, JS `_commitUpgrade`).
    pub fn truncated_from(&self) -> Option<(u64, Vec<u64>)> {
        if self.ancestors >= self.tree_length {
            return None;
        }
        let head = self.ancestors * 2;
        let mut crossing = Vec::new();
        if self.ancestors > 0 {
            let mut ite = Iter::new(head - 2);
            loop {
                if ite.contains(head) && ite.index() < head {
                    crossing.push(ite.index());
                }
                if flat_tree::offset(ite.index()) == 0 {
                    break;
                }
                ite.parent();
            }
        }
        Some((head, crossing))
    }

    /// The head this batch produces, carrying `signature`.
    pub fn into_state(self) -> TreeState {
        TreeState {
            fork: self.fork,
            length: self.length,
            byte_length: self.byte_length,
            roots: self.roots,
            signature: self.signature,
            prologue: self.prologue,
        }
    }
}

/// Byte offset of node `index` (its left edge) in a tree with `roots`
/// (JS `getByteOffsetBatch`).
pub async fn byte_offset<R: NodeSource>(
    reader: &R,
    roots: &[Node],
    length: u64,
    byte_length: u64,
    index: u64,
) -> Result<u64, TreeError> {
    if index == 2 * length {
        return Ok(byte_length);
    }
    let index = if index & 1 == 1 { flat_tree::left_span(index) } else { index };
    let mut head = 0u64;
    let mut offset = 0u64;
    for root in roots {
        head += 2 * (root.index + 1 - head);
        if index >= head {
            offset += root.size;
            continue;
        }
        let mut ite = Iter::new(root.index);
        let mut guard = 0;
        while ite.index() != index {
            guard += 1;
            if guard >= 1024 {
                return Err(TreeError::BadArgument(format!("bad byte offset index {index}")));
            }
            if index < ite.index() {
                ite.left_child();
            } else {
                let left = ite.left_child();
                offset += require_node(reader, left).await?.size;
                ite.sibling();
            }
        }
        return Ok(offset);
    }
    Err(TreeError::BadArgument(format!("index {index} is out of bounds")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::testing::MapSource;
    use futures::executor::block_on;

    pub(crate) fn build(blocks: &[&[u8]]) -> (TreeState, MapSource) {
        let mut b = TreeBatch::new(&TreeState::default());
        for blk in blocks {
            b.append(blk);
        }
        let src = MapSource::default();
        src.insert_all(&b.nodes);
        (b.into_state(), src)
    }

    #[test]
    fn reference_tree_hash_abc() {
        let (s, _) = build(&[b"a", b"b", b"c"]);
        assert_eq!(s.length, 3);
        assert_eq!(s.byte_length, 3);
        assert_eq!(s.roots.iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 4]);
        assert_eq!(hex::encode(s.hash()), "7ea73eb86179fb7328e73663f90f4c91256574af1112efe97fdf9309e03b67a7");
    }

    #[test]
    fn append_creates_parents() {
        let mut b = TreeBatch::new(&TreeState::default());
        for i in 0..4u8 {
            b.append(&[i]);
        }
        let idx: Vec<u64> = b.nodes.iter().map(|n| n.index).collect();
        assert_eq!(idx, vec![0, 2, 1, 4, 6, 5, 3]);
        assert_eq!(b.roots.len(), 1);
        assert_eq!(b.roots[0].index, 3);
    }

    #[test]
    fn truncate_restores_roots_and_offsets() {
        let blocks: Vec<Vec<u8>> = (0..11u8).map(|i| vec![i; i as usize + 1]).collect();
        let refs: Vec<&[u8]> = blocks.iter().map(|b| b.as_slice()).collect();
        let (state, src) = build(&refs);
        let (short, _) = build(&refs[..6]);
        let mut b = TreeBatch::new(&state);
        block_on(b.truncate(&src, 6, 1)).unwrap();
        assert_eq!(b.roots, short.roots);
        assert_eq!(b.byte_length, short.byte_length);
        assert_eq!(b.fork, 1);
        let (head, crossing) = b.truncated_from().unwrap();
        assert_eq!(head, 12);
        // Node 11 spans blocks 4..8, crossing the new head at block 6.
        assert!(crossing.contains(&11));
        for i in 0..11u64 {
            let off =
                block_on(byte_offset(&src, &state.roots, state.length, state.byte_length, 2 * i)).unwrap();
            assert_eq!(off, (1..=i).sum::<u64>(), "offset of block {i}");
        }
    }
}
