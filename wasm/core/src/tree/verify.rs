//! Proof verification (hypercore `lib/merkle-tree.js` `verifyTree`, `verifyUpgrade`,
//! `MerkleTree.verify`, `missingNodes`, `upgradeLength`).
//!
//! Verification is pure: it rebuilds subtree roots from the proof and grows a [`TreeBatch`].
//! Checking the batch's signature is the verifier's job (`core::verifier`); comparing an
//! unverified root with the stored node is done here in [`verify`].

use super::flat_tree::{self, Iter};
use super::proof::{DataUpgrade, Proof};
use super::{read_node, Node, NodeSource, TreeBatch, TreeError, TreeState};

/// Consumes proof nodes in the exact order the verifier expects them (JS `NodeQueue`).
struct NodeQueue<'a> {
    nodes: &'a [Node],
    i: usize,
    extra: Option<Node>,
}

impl<'a> NodeQueue<'a> {
    fn new(nodes: &'a [Node], extra: Option<Node>) -> Self {
        NodeQueue { nodes, i: 0, extra }
    }

    fn remaining(&self) -> usize {
        self.nodes.len() - self.i + usize::from(self.extra.is_some())
    }

    /// Takes the node the verifier needs next, which must be `index`.
    ///
    /// A missing or out-of-order node is `INVALID_OPERATION`, as JS `NodeQueue.shift` throws
    /// (`Expected node X, got node Y` / `got (nil)`); the JS oracle's invalid-proof fixtures
    /// (`wrong-node-order`, `truncated-upgrade-nodes`, `wrong-upgrade-length`) pin that code.
    fn shift(&mut self, index: u64) -> Result<Node, TreeError> {
        if let Some(extra) = self.extra {
            if extra.index == index {
                self.extra = None;
                return Ok(extra);
            }
        }
        let Some(node) = self.nodes.get(self.i) else {
            return Err(TreeError::InvalidOperation(format!("expected node {index}, got (nil)")));
        };
        if node.index != index {
            return Err(TreeError::InvalidOperation(format!(
                "expected node {index}, got node {}",
                node.index
            )));
        }
        self.i += 1;
        Ok(*node)
    }
}

/// Deepest tree level a proof may reach: 2^60 leaves is far beyond any core, and keeps every
/// flat-tree step clear of `u64` overflow.
const MAX_DEPTH: u32 = 60;

fn checked_iter(index: u64) -> Result<Iter, TreeError> {
    // Keep every later parent/sibling step far from overflow.
    if index > 1 << 60 {
        return Err(TreeError::InvalidProof(format!("node index {index} out of range")));
    }
    Ok(Iter::new(index))
}

/// Rebuilds the subtree root a block/hash/seek proof claims, collecting every node it
/// passes into `nodes` (JS `verifyTree`). Returns `None` when the proof has no such part.
pub fn verify_tree(proof: &Proof, nodes: &mut Vec<Node>) -> Result<Option<Node>, TreeError> {
    let (untrusted_index, value, untrusted_nodes): (Option<u64>, Option<&[u8]>, &[Node]) =
        match (&proof.block, &proof.hash) {
            (Some(b), _) => (Some(b.index.saturating_mul(2)), Some(&b.value), &b.nodes),
            (None, Some(h)) => (Some(h.index), None, &h.nodes),
            (None, None) => (None, None, &[]),
        };
    let seek_nodes = proof.seek.as_ref().map(|s| s.nodes.as_slice()).unwrap_or_default();
    if untrusted_index.is_none() && seek_nodes.is_empty() {
        return Ok(None);
    }

    let mut root: Option<Node> = None;
    if let Some(first) = seek_nodes.first() {
        let mut ite = checked_iter(first.index)?;
        let mut q = NodeQueue::new(seek_nodes, None);
        let start = q.shift(ite.index())?;
        root = Some(climb(start, &mut ite, &mut q, nodes)?);
    }

    let Some(index) = untrusted_index else {
        return Ok(root);
    };
    let mut ite = checked_iter(index)?;
    let mut q = NodeQueue::new(untrusted_nodes, root);
    let start = match value {
        Some(v) => Node::leaf(index / 2, v),
        None => q.shift(ite.index())?,
    };
    climb(start, &mut ite, &mut q, nodes).map(Some)
}

/// Hashes from `start` up through every queued sibling, recording each node passed.
fn climb(
    start: Node,
    ite: &mut Iter,
    q: &mut NodeQueue<'_>,
    nodes: &mut Vec<Node>,
) -> Result<Node, TreeError> {
    let mut root = start;
    nodes.push(root);
    while q.remaining() > 0 {
        if flat_tree::depth(ite.index()) >= MAX_DEPTH {
            return Err(TreeError::InvalidProof("proof climbs beyond any possible tree".into()));
        }
        let sibling = q.shift(ite.sibling())?;
        ite.parent();
        root = Node::parent(&root, &sibling);
        nodes.push(sibling);
        nodes.push(root);
    }
    Ok(root)
}

/// Grows `batch` by the upgrade part of a proof (JS `verifyUpgrade`). `block_root` is the
/// unverified root from [`verify_tree`], which may stand in for one upgrade node. Returns
/// whether `block_root` was consumed (and is therefore covered by the upgrade's signature).
/// The batch's new hash, length and fork still need a signature check.
pub fn verify_upgrade(
    fork: u64,
    upgrade: &DataUpgrade,
    block_root: Option<Node>,
    batch: &mut TreeBatch,
) -> Result<bool, TreeError> {
    if let Some(prologue) = batch.prologue {
        if upgrade.start < prologue.length && (upgrade.start != 0 || upgrade.length < prologue.length) {
            return Err(TreeError::InvalidProof("upgrade does not satisfy prologue".into()));
        }
    }
    let to = upgrade
        .start
        .checked_add(upgrade.length)
        .filter(|end| *end < 1 << 53)
        .map(|end| end * 2)
        .ok_or_else(|| TreeError::InvalidProof("upgrade length out of range".into()))?;
    // No `upgrade.start == batch.length` check: JS has none. The nodes are matched against
    // the reader's own roots below, so a proof generated for a shorter reader (its request went
    // out before another peer upgraded it) is still accepted when its nodes connect, e.g. the
    // JS oracle accepts `upgrade-7-to-16-additional` on a reader at 16 and rejects mismatches
    // with `INVALID_OPERATION` from the node queue (tests/oracle_proofs.rs `cross_reader_*`).

    let mut q = NodeQueue::new(&upgrade.nodes, block_root);
    let mut grow = !batch.roots.is_empty();
    let mut i = 0usize;

    for root in flat_tree::full_roots(to) {
        if batch.roots.get(i).is_some_and(|r| r.index == root) {
            i += 1;
            continue;
        }
        if grow {
            grow = false;
            if i < batch.roots.len() {
                let last = batch.roots[batch.roots.len() - 1].index;
                let mut ite = Iter::new(last);
                let mut guard = 0;
                while ite.index() != root {
                    guard += 1;
                    if guard > MAX_DEPTH {
                        return Err(TreeError::InvalidProof("upgrade does not reach its root".into()));
                    }
                    let node = q.shift(ite.sibling())?;
                    batch.append_root(node, &mut ite);
                }
                continue;
            }
        }
        let mut ite = Iter::new(root);
        let node = q.shift(root)?;
        batch.append_root(node, &mut ite);
    }

    if let Some(prologue) = batch.prologue {
        if batch.length == prologue.length && batch.hash() != prologue.hash {
            return Err(TreeError::InvalidProof("invalid hash".into()));
        }
    }

    let extra = &upgrade.additional_nodes;
    let Some(last) = batch.roots.last() else {
        return Err(TreeError::InvalidProof("upgrade produced no roots".into()));
    };
    let mut ite = Iter::new(last.index);
    let mut i = 0usize;
    while i < extra.len() && extra[i].index == ite.sibling() {
        batch.append_root(extra[i], &mut ite);
        i += 1;
    }
    while i < extra.len() {
        let node = extra[i];
        i += 1;
        if node.index > 1 << 60 {
            return Err(TreeError::InvalidProof(format!("node index {} out of range", node.index)));
        }
        let mut guard = 0;
        while node.index != ite.index() {
            guard += 1;
            if flat_tree::depth(ite.index()) == 0 || guard > MAX_DEPTH {
                return Err(TreeError::InvalidOperation(format!("unexpected node: {}", node.index)));
            }
            ite.left_child();
        }
        batch.append_root(node, &mut ite);
        ite.sibling();
    }

    batch.signature = Some(upgrade.signature.clone());
    batch.fork = fork;
    Ok(q.extra.is_none())
}

/// The length a proof's upgrade leads to, counting `additionalNodes` (JS `upgradeLength`).
pub fn upgrade_length(upgrade: &DataUpgrade) -> u64 {
    match upgrade.additional_nodes.last() {
        Some(last) => flat_tree::right_span(last.index) / 2 + 1,
        None => upgrade.start + upgrade.length,
    }
}

/// Result of [`verify`]: the grown batch and whether it carries an upgrade to sign-check.
#[derive(Debug)]
pub struct Verified {
    /// Batch holding the new nodes (and the new head when `upgraded`).
    pub batch: TreeBatch,
    /// Whether the proof moved the head: the batch's signature must be verified.
    pub upgraded: bool,
}

/// Verifies a proof against local state (JS `MerkleTree.verify`): rebuilds the subtree,
/// applies the upgrade, and otherwise checks the rebuilt root against the stored node.
pub async fn verify<R: NodeSource>(
    reader: &R,
    state: &TreeState,
    proof: &Proof,
) -> Result<Verified, TreeError> {
    let mut batch = TreeBatch::new(state);
    let mut nodes = Vec::new();
    let mut unverified = verify_tree(proof, &mut nodes)?;
    batch.nodes.extend(nodes);
    if let Some(upgrade) = &proof.upgrade {
        if verify_upgrade(proof.fork, upgrade, unverified, &mut batch)? {
            unverified = None;
        }
    }
    // As JS `batch.upgraded`: only when the upgrade appended a root. An upgrade to the length
    // the reader already has (e.g. a proof answering an outdated request) changes nothing, is
    // not an upgrade, and needs no signature check.
    let upgraded = batch.upgraded;
    if let Some(root) = unverified {
        // Only storage is trusted here, as in JS (`getTreeNodeFromStorageOrError`): the batch
        // holds the proof's own unverified nodes, so matching against it proves nothing.
        match read_node(reader, root.index).await? {
            Some(stored) if stored.hash == root.hash && stored.size == root.size => {}
            Some(_) => return Err(TreeError::InvalidChecksum(root.index)),
            None => {
                return Err(TreeError::InvalidOperation(format!(
                    "expected tree node {} from storage, got none",
                    root.index
                )))
            }
        }
    }
    Ok(Verified { batch, upgraded })
}

/// How many nodes above `index` a requester at `length` lacks, stopping at the first node
/// stored locally (JS `missingNodes`; used to fill `request.block.nodes`).
pub async fn missing_nodes<R: NodeSource>(reader: &R, index: u64, length: u64) -> Result<u64, TreeError> {
    let head = 2 * length;
    let mut ite = Iter::new(index);
    if flat_tree::right_span(index) >= head {
        return Ok(0);
    }
    let mut count = 0u64;
    while !ite.contains(head) && read_node(reader, ite.index()).await?.is_none() {
        count += 1;
        if count >= 1024 {
            return Err(TreeError::InvalidOperation(format!("bad arguments to missing nodes index={index}")));
        }
        ite.parent();
    }
    Ok(count)
}
