//! Byte seeks: finding the block holding a byte offset (hypercore `lib/merkle-tree.js`
//! `ByteSeeker`, `seekFromHead`, `seekTrustedTree`, `seekUntrustedTree`).

use super::flat_tree::{self, Iter};
use super::merkle_tree::byte_offset;
use super::{read_node, require_node, Node, NodeSource, TreeError, TreeState};

/// Size of a node's subtree minus per-block padding.
fn unpadded(node: &Node, padding: u64) -> u64 {
    node.size.saturating_sub(padding * flat_tree::count_leaves(node.index))
}

/// Seeks `bytes` inside the tree with head `head` (a leaf index, `2·length`): returns the
/// node whose subtree holds the byte; a leaf if the tree is complete enough locally.
pub(crate) async fn seek_from_head<R: NodeSource>(
    reader: &R,
    head: u64,
    mut bytes: u64,
    padding: u64,
) -> Result<u64, TreeError> {
    for root in flat_tree::full_roots(head) {
        let node = require_node(reader, root).await?;
        let size = unpadded(&node, padding);
        if bytes == size {
            return Ok(root);
        }
        if bytes > size {
            bytes -= size;
            continue;
        }
        return seek_trusted_tree(reader, root, bytes, padding).await;
    }
    Ok(head)
}

/// Trusts that `bytes` lies under `root` and descends as far as local nodes allow.
pub(crate) async fn seek_trusted_tree<R: NodeSource>(
    reader: &R,
    root: u64,
    mut bytes: u64,
    padding: u64,
) -> Result<u64, TreeError> {
    if bytes == 0 {
        return Ok(root);
    }
    let mut ite = Iter::new(root);
    let mut guard = 0;
    while ite.index() & 1 == 1 {
        guard += 1;
        if guard >= 1024 {
            return Err(TreeError::InvalidOperation(format!("bad seek bytes={bytes}")));
        }
        match read_node(reader, ite.left_child()).await? {
            Some(left) => {
                let size = unpadded(&left, padding);
                if size == bytes {
                    return Ok(ite.index());
                }
                if size > bytes {
                    continue;
                }
                bytes -= size;
                ite.sibling();
            }
            None => {
                ite.parent();
                return Ok(ite.index());
            }
        }
    }
    Ok(ite.index())
}

/// Like [`seek_trusted_tree`] but first checks that `bytes` really lies under `root`
/// (requests from peers are not trusted).
pub(crate) async fn seek_untrusted_tree<R: NodeSource>(
    reader: &R,
    state: &TreeState,
    root: u64,
    mut bytes: u64,
    padding: u64,
) -> Result<u64, TreeError> {
    let offset = byte_offset(reader, &state.roots, state.length, state.byte_length, root).await?
        - if padding > 0 { padding * flat_tree::left_span(root) / 2 } else { 0 };
    if offset > bytes {
        return Err(TreeError::InvalidOperation("invalid seek".into()));
    }
    if offset == bytes {
        return Ok(root);
    }
    bytes -= offset;
    let node = require_node(reader, root).await?;
    if unpadded(&node, padding) <= bytes {
        return Err(TreeError::InvalidOperation("invalid seek".into()));
    }
    seek_trusted_tree(reader, root, bytes, padding).await
}

/// Where a byte offset falls, given the nodes available locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekResult {
    /// Byte `offset` of block `index`.
    Found {
        /// Block index.
        index: u64,
        /// Offset inside that block.
        offset: u64,
    },
    /// The byte lies inside blocks `start..end`, whose nodes are not stored locally.
    Remote {
        /// First block of the subtree.
        start: u64,
        /// One past the last block of the subtree.
        end: u64,
    },
    /// The offset is at or past the end of the core.
    OutOfBounds,
}

/// Finds the block holding byte `bytes` of the core (JS `ByteSeeker`, `core.seek`).
pub async fn seek<R: NodeSource>(
    reader: &R,
    state: &TreeState,
    bytes: u64,
    padding: u64,
) -> Result<SeekResult, TreeError> {
    let size = state.byte_length.saturating_sub(state.length * padding);
    if bytes >= size {
        return Ok(if bytes == size && bytes == 0 {
            SeekResult::Found { index: 0, offset: 0 }
        } else {
            SeekResult::OutOfBounds
        });
    }
    let mut rest = bytes;
    for root in &state.roots {
        let size = unpadded(root, padding);
        if rest == size {
            return Ok(SeekResult::Found { index: flat_tree::right_span(root.index) / 2 + 1, offset: 0 });
        }
        if rest > size {
            rest -= size;
            continue;
        }
        let mut ite = Iter::new(root.index);
        while ite.index() & 1 == 1 {
            match read_node(reader, ite.left_child()).await? {
                Some(left) => {
                    let size = unpadded(&left, padding);
                    if size == rest {
                        return Ok(SeekResult::Found { index: ite.right_span() / 2 + 1, offset: 0 });
                    }
                    if size > rest {
                        continue;
                    }
                    rest -= size;
                    ite.sibling();
                }
                None => {
                    ite.parent();
                    return Ok(SeekResult::Remote {
                        start: flat_tree::left_span(ite.index()) / 2,
                        end: flat_tree::right_span(ite.index()) / 2 + 1,
                    });
                }
            }
        }
        return Ok(SeekResult::Found { index: ite.index() / 2, offset: rest });
    }
    Ok(SeekResult::OutOfBounds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::testing::MapSource;
    use crate::tree::TreeBatch;
    use futures::executor::block_on;

    #[test]
    fn seeks_every_byte() {
        let blocks: Vec<Vec<u8>> = (0..13u8).map(|i| vec![i; (i as usize % 4) + 1]).collect();
        let mut b = TreeBatch::new(&TreeState::default());
        for blk in &blocks {
            b.append(blk);
        }
        let src = MapSource::default();
        src.insert_all(&b.nodes);
        let state = b.into_state();
        let mut pos = 0u64;
        for (i, blk) in blocks.iter().enumerate() {
            for o in 0..blk.len() as u64 {
                let r = block_on(seek(&src, &state, pos + o, 0)).unwrap();
                assert_eq!(r, SeekResult::Found { index: i as u64, offset: o }, "byte {}", pos + o);
            }
            pos += blk.len() as u64;
        }
        assert_eq!(block_on(seek(&src, &state, pos, 0)).unwrap(), SeekResult::OutOfBounds);
    }
}
