//! The B-tree edits of a batch (JS `TreeNode`: `insertKey`, `removeKey`, `split`, and the
//! delete helpers `leafSize`, `setKeyToNearestLeaf`, `rebalance`), on the batch's arena of
//! live nodes (see [`super::batch`]).

use super::batch::{Batch, Inserted, Key, NodeId, MAX_CHILDREN, MIN_KEYS};
use super::block::MAX_DEPTH;
use super::errors::BeeError;
use super::hyperbee::{Cas, Entry};
use crate::storage::Storage;

impl<S: Storage> Batch<S> {
    /// JS `insertKey`: replaces an equal key (after the gate) or inserts, with `child` as the
    /// new right neighbour of the inserted key. `gate`: the put's next entry and cas (leaf
    /// insertion of the user's key); `None` for medians.
    pub(super) async fn insert_key(
        &mut self,
        node: NodeId,
        key: Key,
        child: Option<NodeId>,
        gate: Option<(&Entry, Option<Cas<'_>>)>,
    ) -> Result<Inserted, BeeError> {
        let bytes = match &key.bytes {
            Some(b) => b.clone(),
            None => self.key_bytes(key.seq).await?,
        };
        match self.search(node, &bytes).await? {
            Ok(mid) => {
                if let Some((next, cas)) = gate {
                    if !self.allowed(node, mid, next, cas).await? {
                        return Ok(Inserted::Skipped);
                    }
                } else if !self.bee.always_duplicate {
                    // A median never equals a key of its parent in a valid tree.
                    return Ok(Inserted::Skipped);
                }
                let n = &mut self.nodes[node];
                n.changed = true;
                n.keys[mid] = key;
                Ok(Inserted::Done(false))
            }
            Err(i) => {
                let ptr = child.map(|c| self.new_child(0, 0, Some(c)));
                let n = &mut self.nodes[node];
                n.keys.insert(i, key);
                if let Some(ptr) = ptr {
                    n.children.insert((i + 1).min(n.children.len()), ptr);
                }
                n.changed = true;
                Ok(Inserted::Done(n.keys.len() >= MAX_CHILDREN))
            }
        }
    }

    /// JS `removeKey`: the key and its right child pointer (marked freed).
    pub(super) fn remove_key(&mut self, node: NodeId, i: usize) {
        let n = &mut self.nodes[node];
        n.keys.remove(i);
        if !n.children.is_empty() && i + 1 < n.children.len() {
            let freed = n.children.remove(i + 1);
            self.children[freed].seq = 0;
        }
        self.nodes[node].changed = true;
    }

    /// JS `split`: the last `len/2` keys (and `len/2 + 1` children) move to a new right node,
    /// the key before them is the median.
    pub(super) fn split(&mut self, node: NodeId) -> (Key, NodeId) {
        let right = self.new_node(true);
        let n = &mut self.nodes[node];
        let len = n.keys.len() >> 1;
        let right_keys = n.keys.split_off(n.keys.len() - len);
        let median = n.keys.pop().unwrap_or(Key { seq: 0, bytes: None });
        let right_children = if n.children.is_empty() {
            Vec::new()
        } else {
            n.children.split_off(n.children.len().saturating_sub(len + 1))
        };
        n.changed = true;
        let r = &mut self.nodes[right];
        r.keys = right_keys;
        r.children = right_children;
        (median, right)
    }

    /// JS `leafSize`: keys in the edge leaf under `node` (leftmost or rightmost path).
    pub(super) async fn leaf_size(&mut self, mut node: NodeId, go_left: bool) -> Result<usize, BeeError> {
        for _ in 0..MAX_DEPTH {
            let n = &self.nodes[node];
            if n.children.is_empty() {
                return Ok(n.keys.len());
            }
            let i = if go_left { 0 } else { n.children.len() - 1 };
            node = self.child_node(node, i).await?;
        }
        Err(BeeError::invalid(self.base, "tree deeper than any real bee (a cycle?)"))
    }

    /// JS `setKeyToNearestLeaf`: replaces internal key `index` of `node` by its neighbour
    /// from the edge leaf with more keys, pushing the path to that leaf on `stack`.
    pub(super) async fn set_key_to_nearest_leaf(
        &mut self,
        node: NodeId,
        index: usize,
        stack: &mut Vec<NodeId>,
    ) -> Result<(), BeeError> {
        let left = self.child_node(node, index).await?;
        let right = self.child_node(node, index + 1).await?;
        let ls = self.leaf_size(left, false).await?;
        let rs = self.leaf_size(right, true).await?;
        let key = if ls < rs {
            let mut n = right;
            stack.push(n);
            while !self.nodes[n].children.is_empty() {
                n = self.child_node(n, 0).await?;
                stack.push(n);
            }
            if self.nodes[n].keys.is_empty() {
                return Err(BeeError::invalid(self.base, "empty leaf in a stored tree"));
            }
            self.nodes[n].keys.remove(0)
        } else {
            let mut n = left;
            stack.push(n);
            while !self.nodes[n].children.is_empty() {
                let last = self.nodes[n].children.len() - 1;
                n = self.child_node(n, last).await?;
                stack.push(n);
            }
            self.nodes[n]
                .keys
                .pop()
                .ok_or_else(|| BeeError::invalid(self.base, "empty leaf in a stored tree"))?
        };
        self.nodes[node].keys[index] = key;
        Ok(())
    }

    /// JS `rebalance`: fixes underfull nodes bottom-up along `stack`; returns the new root.
    pub(super) async fn rebalance(&mut self, mut stack: Vec<NodeId>) -> Result<NodeId, BeeError> {
        let root = stack[0];
        while stack.len() > 1 {
            let node = stack.pop().unwrap_or(root);
            let parent = stack[stack.len() - 1];
            if self.nodes[node].keys.len() >= MIN_KEYS {
                return Ok(root);
            }
            let pos = self.nodes[parent]
                .children
                .iter()
                .position(|&c| self.children[c].node == Some(node))
                .ok_or_else(|| BeeError::invalid(self.base, "node is not a child of its parent"))?;
            let count = self.nodes[parent].children.len();
            let left = if pos > 0 { Some(self.child_node(parent, pos - 1).await?) } else { None };
            let right = if pos + 1 < count { Some(self.child_node(parent, pos + 1).await?) } else { None };

            if let Some(l) = left.filter(|&l| self.nodes[l].keys.len() > MIN_KEYS) {
                self.nodes[l].changed = true;
                let sep = self.nodes[parent].keys[pos - 1].clone();
                self.nodes[node].keys.insert(0, sep);
                if let Some(c) = self.nodes[l].children.pop() {
                    self.nodes[node].children.insert(0, c);
                }
                let up = self.nodes[l].keys.pop().unwrap_or(Key { seq: 0, bytes: None });
                self.nodes[parent].keys[pos - 1] = up;
                return Ok(root);
            }
            if let Some(r) = right.filter(|&r| self.nodes[r].keys.len() > MIN_KEYS) {
                self.nodes[r].changed = true;
                let sep = self.nodes[parent].keys[pos].clone();
                self.nodes[node].keys.push(sep);
                if !self.nodes[r].children.is_empty() {
                    let c = self.nodes[r].children.remove(0);
                    self.nodes[node].children.push(c);
                }
                let up = self.nodes[r].keys.remove(0);
                self.nodes[parent].keys[pos] = up;
                return Ok(root);
            }
            let (into, from, index) = match (left, right) {
                (Some(l), _) => (l, node, pos - 1),
                (None, Some(r)) => (node, r, pos),
                (None, None) => return Err(BeeError::invalid(self.base, "underfull node without siblings")),
            };
            let median = self.nodes[parent].keys[index].clone();
            // JS leaves the merged node's arrays in place (it is unreachable from now on).
            let from_keys = self.nodes[from].keys.clone();
            let from_children = self.nodes[from].children.clone();
            let n = &mut self.nodes[into];
            n.changed = true;
            n.keys.push(median);
            n.keys.extend(from_keys);
            n.children.extend(from_children);
            self.remove_key(parent, index);
        }
        if self.nodes[root].keys.is_empty() && !self.nodes[root].children.is_empty() {
            return self.child_node(root, 0).await;
        }
        Ok(root)
    }
}
