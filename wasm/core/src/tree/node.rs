//! A Merkle tree node `{index, size, hash}` and its wire codec (`c.uint index, c.uint size,
//! fixed32 hash`, hypercore `lib/messages.js` `node`).

use crate::crypto::hash::{leaf_hash, parent_hash, Hash};
use crate::encoding::{put_uint, Compact, DecodeError, Decoder};

/// A tree node: flat index, byte size of the subtree, hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Node {
    /// Flat-tree index (leaves even, parents odd).
    pub index: u64,
    /// Bytes under this node.
    pub size: u64,
    /// BLAKE2b-256 node hash.
    pub hash: Hash,
}

impl Node {
    /// The leaf node of block `block_index` holding `data`.
    pub fn leaf(block_index: u64, data: &[u8]) -> Self {
        Node { index: 2 * block_index, size: data.len() as u64, hash: leaf_hash(data) }
    }

    /// The parent of two sibling nodes (in either order).
    pub fn parent(a: &Node, b: &Node) -> Self {
        let (left, right) = if a.index < b.index { (a, b) } else { (b, a) };
        // Saturating: hostile sizes must not overflow; a saturated size never matches a signed tree.
        let size = left.size.saturating_add(right.size);
        Node {
            index: super::flat_tree::parent(left.index),
            size,
            hash: parent_hash(size, &left.hash, &right.hash),
        }
    }
}

impl Compact for Node {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, self.index);
        put_uint(out, self.size);
        out.extend_from_slice(&self.hash);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Node { index: dec.uint()?, size: dec.uint()?, hash: dec.array()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_of_leaves_and_codec() {
        let a = Node::leaf(0, b"hello world");
        let b = Node::leaf(1, b"hello world");
        let p = Node::parent(&b, &a);
        assert_eq!(p.index, 1);
        assert_eq!(p.size, 22);
        assert_eq!(hex::encode(p.hash), "3ad0c9b58b771d1b7707e1430f37c23a23dd46e0c7c3ab9c16f79d25f7c36804");
        assert_eq!(Node::from_bytes(&p.to_bytes()).unwrap(), p);
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    proptest::proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            if let Ok(n) = Node::from_bytes(&bytes) {
                proptest::prop_assert_eq!(Node::from_bytes(&n.to_bytes()).unwrap(), n);
            }
        }
    }
}
