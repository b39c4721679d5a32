//! Proof generation (hypercore `lib/merkle-tree.js` `generateProof`, `blockAndSeekProof`,
//! `upgradeProof`, `additionalUpgradeProof`).
//!
//! Which nodes a proof needs follows from the request alone (seeks aside), so generation
//! first plans the node indexes in JS's exact order, then reads them in one storage batch.

use super::flat_tree::{self, Iter};
use super::seek::{seek_from_head, seek_untrusted_tree};
use super::{Node, NodeSource, TreeError, TreeState};

/// `request.block` / `request.hash`: an index and how many nodes the requester lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestIndex {
    /// Block index (for `block`) or flat node index (for `hash`).
    pub index: u64,
    /// Number of tree nodes the requester is missing above the leaf.
    pub nodes: u64,
}

/// `request.seek`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSeek {
    /// Byte offset to find.
    pub bytes: u64,
    /// Per-block padding (block encryption).
    pub padding: u64,
}

/// `request.upgrade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestUpgrade {
    /// The requester's length.
    pub start: u64,
    /// How many blocks to grow by.
    pub length: u64,
}

/// What a peer asks to have proven.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProofRequest {
    /// A block and the nodes up to what the requester has.
    pub block: Option<RequestIndex>,
    /// A tree node.
    pub hash: Option<RequestIndex>,
    /// A byte offset.
    pub seek: Option<RequestSeek>,
    /// A length upgrade.
    pub upgrade: Option<RequestUpgrade>,
}

/// `data.block`: the block value is filled in by the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlock {
    /// Block index.
    pub index: u64,
    /// Block bytes.
    pub value: Vec<u8>,
    /// Sibling nodes, bottom up.
    pub nodes: Vec<Node>,
}

/// `data.hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataHash {
    /// Flat node index.
    pub index: u64,
    /// The node itself, then siblings bottom up.
    pub nodes: Vec<Node>,
}

/// `data.seek`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSeek {
    /// Byte offset sought.
    pub bytes: u64,
    /// Seek path nodes.
    pub nodes: Vec<Node>,
}

/// `data.upgrade`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUpgrade {
    /// Requester's length.
    pub start: u64,
    /// Blocks proven beyond `start`.
    pub length: u64,
    /// Nodes connecting `start` to `start + length`.
    pub nodes: Vec<Node>,
    /// Nodes from `start + length` to the responder's full length.
    pub additional_nodes: Vec<Node>,
    /// Responder's signature at its full length.
    pub signature: Vec<u8>,
}

/// A Merkle proof as carried by a `data` message (without the manifest part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proof {
    /// Responder's fork.
    pub fork: u64,
    /// Block proof.
    pub block: Option<DataBlock>,
    /// Hash proof.
    pub hash: Option<DataHash>,
    /// Seek proof.
    pub seek: Option<DataSeek>,
    /// Upgrade proof.
    pub upgrade: Option<DataUpgrade>,
}

/// The requested leaf or node, normalised (JS `normalizeIndexed`).
#[derive(Debug, Clone, Copy)]
struct Target {
    is_block: bool,
    index: u64,
    nodes: u64,
    last_index: u64,
}

/// Node indexes per proof section, in emission order (`None` = section not produced).
#[derive(Debug, Default)]
struct Plan {
    node: Option<Vec<u64>>,
    seek: Option<Vec<u64>>,
    upgrade: Option<Vec<u64>>,
    additional: Option<Vec<u64>>,
}

const LOOP_GUARD: u32 = 1024;

fn guard(count: &mut u32, what: &str) -> Result<(), TreeError> {
    *count += 1;
    if *count >= LOOP_GUARD {
        return Err(TreeError::InvalidOperation(format!("bad arguments to {what}")));
    }
    Ok(())
}

fn nodes_to_root(index: u64, nodes: u64, head: u64) -> Result<u64, TreeError> {
    let mut ite = Iter::new(index);
    for _ in 0..nodes.min(64) {
        ite.parent();
        if ite.contains(head) {
            return Err(TreeError::InvalidOperation("nodes is out of bounds".into()));
        }
    }
    if nodes > 64 {
        return Err(TreeError::InvalidOperation("nodes is out of bounds".into()));
    }
    Ok(ite.index())
}

fn seek_proof(seek_root: u64, root: u64, p: &mut Plan) -> Result<(), TreeError> {
    let mut ite = Iter::new(seek_root);
    let mut out = vec![ite.index()];
    let mut count = 0;
    while ite.index() != root {
        guard(&mut count, "seek proof")?;
        ite.sibling();
        out.push(ite.index());
        ite.parent();
    }
    p.seek = Some(out);
    Ok(())
}

fn block_and_seek_proof(
    node: Option<Target>,
    has_seek: bool,
    seek_root: u64,
    root: u64,
    p: &mut Plan,
) -> Result<(), TreeError> {
    let Some(node) = node else {
        return seek_proof(seek_root, root, p);
    };
    let mut ite = Iter::new(node.index);
    let mut out = Vec::new();
    if !node.is_block {
        out.push(ite.index());
    }
    let mut count = 0;
    while ite.index() != root {
        guard(&mut count, "block and seek proof")?;
        ite.sibling();
        if has_seek && ite.contains(seek_root) && ite.index() != seek_root {
            seek_proof(seek_root, ite.index(), p)?;
        } else {
            out.push(ite.index());
        }
        ite.parent();
    }
    p.node = Some(out);
    Ok(())
}

/// Roots of the tree ending at leaf `to`, as iterators positioned on each root.
fn root_iters(to: u64) -> Vec<Iter> {
    flat_tree::full_roots(to).into_iter().map(Iter::new).collect()
}

fn factor_half(i: u64) -> u64 {
    1 << flat_tree::depth(i)
}

/// Walks the nodes an upgrade from leaf `from` to leaf `to` must send, in JS order
/// (`upgradeProof` / `additionalUpgradeProof`): for the root holding the requester's last
/// leaf, the right-hand siblings on the path up to it; then every later root. Returns
/// whether the section was started (JS: the pending array is non-null).
fn walk_upgrade(
    from: u64,
    to: u64,
    what: &str,
    mut emit: impl FnMut(u64) -> Result<(), TreeError>,
) -> Result<bool, TreeError> {
    let mut started = from == 0;
    for root_ite in root_iters(to) {
        let root = root_ite.index();
        // The requester already has this root.
        if root + factor_half(root) < from {
            continue;
        }
        // Connect to the requester's existing tree.
        if !started && from >= 2 && root_ite.contains(from - 2) {
            started = true;
            let target = from - 2;
            let mut ite = Iter::new(target);
            let mut count = 0;
            while ite.index() != root {
                guard(&mut count, what)?;
                ite.sibling();
                if ite.index() > target {
                    emit(ite.index())?;
                }
                ite.parent();
            }
            continue;
        }
        started = true;
        emit(root)?;
    }
    Ok(started)
}

fn upgrade_proof(
    node: Option<Target>,
    has_seek: bool,
    from: u64,
    to: u64,
    sub_tree: u64,
    p: &mut Plan,
) -> Result<(), TreeError> {
    let mut out = Vec::new();
    let started = walk_upgrade(from, to, "upgrade proof", |index| {
        // The requested block's own path stands in for the node that would cover it.
        if p.node.is_none() && p.seek.is_none() && Iter::new(index).contains(sub_tree) {
            block_and_seek_proof(node, has_seek, sub_tree, index, p)
        } else {
            out.push(index);
            Ok(())
        }
    })?;
    p.upgrade = started.then_some(out);
    Ok(())
}

fn additional_upgrade_proof(from: u64, to: u64, p: &mut Plan) -> Result<(), TreeError> {
    let mut out = Vec::new();
    let started = walk_upgrade(from, to, "additional upgrade proof", |index| {
        out.push(index);
        Ok(())
    })?;
    p.additional = started.then_some(out);
    Ok(())
}

/// Builds the proof answering `req` from the tree at `state` (JS `generateProof`).
///
/// The block value of a block proof is left empty; the caller fills it from block storage.
/// Errors with [`TreeError::InvalidOperation`] for requests JS also refuses (upgrade beyond
/// the head, a seek together with a block inside the upgrade, node counts out of bounds).
pub async fn generate_proof<R: NodeSource>(
    reader: &R,
    state: &TreeState,
    req: &ProofRequest,
) -> Result<Proof, TreeError> {
    let mut upgrade = req.upgrade;
    if let (Some(prologue), Some(up)) = (state.prologue, upgrade.as_mut()) {
        if up.start < prologue.length {
            up.start = 0;
            up.length = prologue.length;
        }
    }

    let head = 2 * state.length;
    let empty = Proof { fork: state.fork, ..Proof::default() };
    if head == 0 {
        return Ok(empty);
    }
    // Indexes from a peer are bounded before any flat-tree arithmetic on them.
    const MAX_INDEX: u64 = 1 << 60;
    let out_of_bounds = || TreeError::InvalidOperation("index out of bounds".into());
    if req.block.is_some_and(|b| b.index > MAX_INDEX / 2) || req.hash.is_some_and(|h| h.index > MAX_INDEX) {
        return Err(out_of_bounds());
    }
    let from = upgrade.map_or(Some(0), |u| u.start.checked_mul(2)).ok_or_else(out_of_bounds)?;
    let to = match upgrade {
        Some(u) => u
            .length
            .checked_mul(2)
            .and_then(|l| from.checked_add(l))
            .ok_or_else(|| TreeError::InvalidOperation("invalid upgrade".into()))?,
        None => head,
    };
    let target = match (req.block, req.hash) {
        (Some(b), _) => {
            Some(Target { is_block: true, index: b.index * 2, nodes: b.nodes, last_index: b.index })
        }
        (None, Some(h)) => Some(Target {
            is_block: false,
            index: h.index,
            nodes: h.nodes,
            last_index: flat_tree::right_span(h.index) / 2,
        }),
        (None, None) => None,
    };
    if from >= to || to > head {
        return Err(TreeError::InvalidOperation("invalid upgrade".into()));
    }
    if let (Some(_), Some(_), Some(t)) = (req.seek, upgrade, target) {
        if t.index >= from {
            return Err(TreeError::InvalidOperation(
                "cannot both do a seek and block/hash request when upgrading".into(),
            ));
        }
    }

    let mut plan = Plan::default();
    let mut sub_tree = head;
    let has_seek = req.seek.is_some();

    match target {
        Some(t) if upgrade.is_none_or(|u| t.last_index < u.start) => {
            if flat_tree::right_span(t.index) >= to {
                return Err(TreeError::InvalidOperation("block is out of bounds".into()));
            }
            sub_tree = nodes_to_root(t.index, t.nodes, to)?;
            let seek_root = match req.seek {
                Some(s) => seek_untrusted_tree(reader, state, sub_tree, s.bytes, s.padding).await?,
                None => head,
            };
            block_and_seek_proof(Some(t), has_seek, seek_root, sub_tree, &mut plan)?;
        }
        _ if upgrade.is_some() && (target.is_some() || has_seek) => {
            sub_tree = match (req.seek, target) {
                (Some(s), _) => seek_from_head(reader, to, s.bytes, s.padding).await?,
                (None, Some(t)) => t.index,
                (None, None) => head,
            };
        }
        _ => {}
    }

    if upgrade.is_some() {
        upgrade_proof(target, has_seek, from, to, sub_tree, &mut plan)?;
        if head > to {
            additional_upgrade_proof(to, head, &mut plan)?;
        }
    }

    // One storage read for every planned node.
    let mut wanted: Vec<u64> = Vec::new();
    for section in [&plan.node, &plan.seek, &plan.upgrade, &plan.additional].into_iter().flatten() {
        wanted.extend_from_slice(section);
    }
    let fetched = reader.get_nodes(&wanted).await?;
    let mut lookup = std::collections::HashMap::with_capacity(wanted.len());
    for (i, n) in wanted.iter().zip(fetched) {
        lookup.insert(*i, n.ok_or_else(|| TreeError::missing(*i))?);
    }
    let resolve = |section: &Option<Vec<u64>>| -> Option<Vec<Node>> {
        section.as_ref().map(|s| s.iter().filter_map(|i| lookup.get(i).copied()).collect())
    };

    let mut proof = empty;
    if let Some(b) = req.block {
        let nodes =
            resolve(&plan.node).ok_or_else(|| TreeError::InvalidOperation("invalid block request".into()))?;
        proof.block = Some(DataBlock { index: b.index, value: Vec::new(), nodes });
    } else if let Some(h) = req.hash {
        let nodes =
            resolve(&plan.node).ok_or_else(|| TreeError::InvalidOperation("invalid block request".into()))?;
        proof.hash = Some(DataHash { index: h.index, nodes });
    }
    if let (Some(s), Some(nodes)) = (req.seek, resolve(&plan.seek)) {
        proof.seek = Some(DataSeek { bytes: s.bytes, nodes });
    }
    if let Some(u) = upgrade {
        proof.upgrade = Some(DataUpgrade {
            start: u.start,
            length: u.length,
            nodes: resolve(&plan.upgrade).unwrap_or_default(),
            additional_nodes: resolve(&plan.additional).unwrap_or_default(),
            signature: state.signature.clone().unwrap_or_default(),
        });
    }
    Ok(proof)
}
