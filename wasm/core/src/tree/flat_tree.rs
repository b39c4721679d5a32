//! Flat-tree index arithmetic (npm `flat-tree`): leaves are even indices, parents odd,
//! `depth` is the number of trailing one bits.

/// Depth of a node: its number of trailing one bits.
pub fn depth(index: u64) -> u32 {
    (!index).trailing_zeros()
}

/// Node index at `depth` and `offset`: `(1 + 2·offset)·2^depth − 1`.
pub fn index(depth: u32, offset: u64) -> u64 {
    ((1 + 2 * offset) << depth) - 1
}

/// Offset of a node within its depth.
pub fn offset(index: u64) -> u64 {
    index >> (depth(index) + 1)
}

/// Parent of a node.
pub fn parent(i: u64) -> u64 {
    let d = depth(i);
    index(d + 1, offset(i) >> 1)
}

/// Sibling of a node.
pub fn sibling(i: u64) -> u64 {
    let d = depth(i);
    index(d, offset(i) ^ 1)
}

/// Left child of a parent node (`None` for a leaf).
pub fn left_child(i: u64) -> Option<u64> {
    let d = depth(i);
    (d > 0).then(|| index(d - 1, offset(i) * 2))
}

/// Right child of a parent node (`None` for a leaf).
pub fn right_child(i: u64) -> Option<u64> {
    let d = depth(i);
    (d > 0).then(|| index(d - 1, offset(i) * 2 + 1))
}

/// Leftmost leaf under a node.
pub fn left_span(i: u64) -> u64 {
    let d = depth(i);
    if d == 0 {
        i
    } else {
        offset(i) << (d + 1)
    }
}

/// Rightmost leaf under a node.
pub fn right_span(i: u64) -> u64 {
    let d = depth(i);
    if d == 0 {
        i
    } else {
        ((offset(i) + 1) << (d + 1)) - 2
    }
}

/// Number of leaves under a node.
pub fn count_leaves(i: u64) -> u64 {
    1 << depth(i)
}

/// Whether node `i` covers node `other`.
pub fn contains(i: u64, other: u64) -> bool {
    left_span(i) <= left_span(other) && right_span(other) <= right_span(i)
}

/// Roots of a tree whose leaves are `0..leaf_index` (`leaf_index` even: `2·length`), left to right.
pub fn full_roots(leaf_index: u64) -> Vec<u64> {
    debug_assert!(leaf_index & 1 == 0, "full_roots takes a leaf (even) index");
    let mut roots = Vec::new();
    let mut remaining = leaf_index / 2;
    let mut offset = 0u64;
    while remaining > 0 {
        let factor = 1u64 << (63 - remaining.leading_zeros());
        roots.push(offset + factor - 1);
        offset += 2 * factor;
        remaining -= factor;
    }
    roots
}

/// A cursor moving over the tree, as flat-tree's `Iterator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Iter {
    index: u64,
    offset: u64,
    factor: u64,
}

impl Iter {
    /// A cursor at `index`.
    pub fn new(index: u64) -> Self {
        let mut it = Iter { index: 0, offset: 0, factor: 0 };
        it.seek(index);
        it
    }

    /// Current node.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Moves to `index`.
    pub fn seek(&mut self, index: u64) {
        self.index = index;
        if index & 1 == 1 {
            self.offset = offset(index);
            self.factor = 1 << (depth(index) + 1);
        } else {
            self.offset = index / 2;
            self.factor = 2;
        }
    }

    /// Whether the current node is a left child.
    pub fn is_left(&self) -> bool {
        self.offset & 1 == 0
    }

    /// Whether the current node is a right child.
    pub fn is_right(&self) -> bool {
        !self.is_left()
    }

    /// Whether `index` lies under the current node.
    pub fn contains(&self, index: u64) -> bool {
        if index > self.index {
            index < self.index + self.factor / 2
        } else if index < self.index {
            index + self.factor / 2 > self.index
        } else {
            true
        }
    }

    /// Moves to the previous node at this depth.
    pub fn prev_at_depth(&mut self) -> u64 {
        if self.offset == 0 {
            return self.index;
        }
        self.offset -= 1;
        self.index -= self.factor;
        self.index
    }

    /// Moves to the next node at this depth.
    pub fn next_at_depth(&mut self) -> u64 {
        self.offset += 1;
        self.index += self.factor;
        self.index
    }

    /// Moves to the sibling.
    pub fn sibling(&mut self) -> u64 {
        if self.is_left() {
            self.next_at_depth()
        } else {
            self.prev_at_depth()
        }
    }

    /// Moves to the parent.
    pub fn parent(&mut self) -> u64 {
        if self.offset & 1 == 1 {
            self.index -= self.factor / 2;
            self.offset = (self.offset - 1) / 2;
        } else {
            self.index += self.factor / 2;
            self.offset /= 2;
        }
        self.factor *= 2;
        self.index
    }

    /// Moves to the left child (stays on a leaf).
    pub fn left_child(&mut self) -> u64 {
        if self.factor == 2 {
            return self.index;
        }
        self.factor /= 2;
        self.index -= self.factor / 2;
        self.offset *= 2;
        self.index
    }

    /// Moves to the right child (stays on a leaf).
    pub fn right_child(&mut self) -> u64 {
        if self.factor == 2 {
            return self.index;
        }
        self.factor /= 2;
        self.index += self.factor / 2;
        self.offset = 2 * self.offset + 1;
        self.index
    }

    /// Moves to the leftmost leaf under the current node.
    pub fn left_span(&mut self) -> u64 {
        self.index = self.index + 1 - self.factor / 2;
        self.offset = self.index / 2;
        self.factor = 2;
        self.index
    }

    /// Moves to the rightmost leaf under the current node.
    pub fn right_span(&mut self) -> u64 {
        self.index = self.index + self.factor / 2 - 1;
        self.offset = self.index / 2;
        self.factor = 2;
        self.index
    }

    /// Moves to the first leaf after the current subtree.
    pub fn next_tree(&mut self) -> u64 {
        self.index = self.index + self.factor / 2 + 1;
        self.offset = self.index / 2;
        self.factor = 2;
        self.index
    }

    /// Grows the current (leaf) node upwards into the largest full subtree whose right span
    /// stays left of `index`. Returns false if the cursor is not on a leaf before `index`.
    pub fn full_root(&mut self, index: u64) -> bool {
        if index <= self.index || self.index & 1 == 1 {
            return false;
        }
        while index > self.index + self.factor + self.factor / 2 {
            self.index += self.factor / 2;
            self.factor *= 2;
            self.offset /= 2;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert_eq!(depth(0), 0);
        assert_eq!(depth(1), 1);
        assert_eq!(depth(3), 2);
        assert_eq!(depth(7), 3);
        assert_eq!(parent(0), 1);
        assert_eq!(parent(2), 1);
        assert_eq!(parent(1), 3);
        assert_eq!(parent(5), 3);
        assert_eq!(sibling(0), 2);
        assert_eq!(sibling(5), 1);
        assert_eq!(left_span(7), 0);
        assert_eq!(right_span(7), 14);
        assert_eq!(left_child(3), Some(1));
        assert_eq!(right_child(3), Some(5));
        assert_eq!(left_child(4), None);
        assert_eq!(count_leaves(7), 8);
        assert_eq!(index(2, 1), 11);
        assert_eq!(offset(11), 1);
    }

    #[test]
    fn roots() {
        assert_eq!(full_roots(0), Vec::<u64>::new());
        assert_eq!(full_roots(2), vec![0]);
        assert_eq!(full_roots(6), vec![1, 4]);
        assert_eq!(full_roots(16), vec![7]);
        assert_eq!(full_roots(18), vec![7, 16]);
        assert_eq!(full_roots(22), vec![7, 17, 20]);
    }

    #[test]
    fn iterator_walks() {
        let mut it = Iter::new(0);
        assert_eq!(it.parent(), 1);
        assert_eq!(it.parent(), 3);
        assert_eq!(it.sibling(), 11);
        assert_eq!(it.left_child(), 9);
        assert_eq!(it.right_span(), 10);
        let mut it = Iter::new(0);
        assert!(it.full_root(6));
        assert_eq!(it.index(), 1);
        assert_eq!(it.next_tree(), 4);
    }
}
