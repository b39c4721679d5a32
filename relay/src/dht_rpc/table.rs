//! The routing table (`kademlia-routing-table`) plus the recency list dht-rpc keeps beside it
//! (`time-ordered-set` in `index.js`).
//!
//! 256 rows; a node goes to the row numbered by the length of the bit prefix its id shares with
//! the table id; a row holds at most `k` nodes sorted by id and never splits. A full row refuses
//! the node ([`AddOutcome::Full`]); dht-rpc then pings the row's stalest node and swaps it out if
//! it does not answer. `closest()` walks rows `d, d-1, …, 0, d+1, …` (d = the target's row)
//! taking nodes in id order: the same approximation JS uses for closer nodes in replies.

use super::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddrV4;

/// JS's default `k`.
pub const K: usize = 20;

const ROWS: usize = 256;

/// One routing-table entry with dht-rpc's bookkeeping (ticks are dht-rpc's 5 s ticks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `hash(addr)`.
    pub id: NodeId,
    /// Where it is.
    pub addr: SocketAddrV4,
    /// Our address as it last reported it (a NAT sample).
    pub to: Option<SocketAddrV4>,
    /// Tick of its last NAT sample (0 = never).
    pub sampled: u64,
    /// Tick it was added.
    pub added: u64,
    /// Tick we last interacted with it.
    pub pinged: u64,
    /// Tick we last heard from it.
    pub seen: u64,
    /// DOWN_HINTs received about it.
    pub down_hints: u32,
    order: u64,
}

impl Node {
    /// A fresh entry (all ticks 0).
    pub fn new(id: NodeId, addr: SocketAddrV4) -> Self {
        Node { id, addr, to: None, sampled: 0, added: 0, pinged: 0, seen: 0, down_hints: 0, order: 0 }
    }
}

/// What [`Table::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// New entry.
    Added,
    /// An entry with that id was replaced.
    Updated,
    /// The row is full; nothing changed. Carries the row index.
    Full(usize),
}

/// The table.
#[derive(Debug, Clone)]
pub struct Table {
    id: NodeId,
    k: usize,
    rows: Vec<Vec<Node>>,
    size: usize,
    recency: BTreeMap<u64, NodeId>,
    next_order: u64,
}

impl Table {
    /// An empty table around `id` with row size `k`.
    pub fn new(id: NodeId, k: usize) -> Self {
        Table {
            id,
            k: k.max(1),
            rows: vec![Vec::new(); ROWS],
            size: 0,
            recency: BTreeMap::new(),
            next_order: 1,
        }
    }

    /// The table id.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    /// Row size.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The row `id` belongs in: the length of its common bit prefix with the table id
    /// (255 for the table id itself).
    pub fn row_of(&self, id: &NodeId) -> usize {
        for (i, (a, b)) in id.iter().zip(self.id.iter()).enumerate() {
            let x = a ^ b;
            if x != 0 {
                return i * 8 + x.leading_zeros() as usize;
            }
        }
        ROWS - 1
    }

    /// The nodes of row `i`, sorted by id.
    pub fn row(&self, i: usize) -> &[Node] {
        self.rows.get(i).map_or(&[], Vec::as_slice)
    }

    /// Adds or replaces `node` (it becomes the most recent). The table id itself is refused as
    /// [`AddOutcome::Full`] of row 255 never happens: callers skip it.
    pub fn add(&mut self, mut node: Node) -> AddOutcome {
        let r = self.row_of(&node.id);
        let row = &mut self.rows[r];
        match row.binary_search_by(|n| n.id.cmp(&node.id)) {
            Ok(pos) => {
                let old = row[pos].order;
                self.recency.remove(&old);
                node.order = self.next_order;
                self.next_order += 1;
                self.recency.insert(node.order, node.id);
                row[pos] = node;
                AddOutcome::Updated
            }
            Err(_) if row.len() >= self.k => AddOutcome::Full(r),
            Err(pos) => {
                node.order = self.next_order;
                self.next_order += 1;
                self.recency.insert(node.order, node.id);
                row.insert(pos, node);
                self.size += 1;
                AddOutcome::Added
            }
        }
    }

    /// Removes the node with `id`.
    pub fn remove(&mut self, id: &NodeId) -> Option<Node> {
        let r = self.row_of(id);
        let row = &mut self.rows[r];
        let pos = row.binary_search_by(|n| n.id.cmp(id)).ok()?;
        let node = row.remove(pos);
        self.recency.remove(&node.order);
        self.size -= 1;
        Some(node)
    }

    /// The node with `id`.
    pub fn get(&self, id: &NodeId) -> Option<&Node> {
        let row = &self.rows[self.row_of(id)];
        row.binary_search_by(|n| n.id.cmp(id)).ok().map(|pos| &row[pos])
    }

    /// The node with `id`, mutably (its recency is unchanged; see [`Table::touch`]).
    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut Node> {
        let r = self.row_of(id);
        let row = &mut self.rows[r];
        let pos = row.binary_search_by(|n| n.id.cmp(id)).ok()?;
        row.get_mut(pos)
    }

    /// Makes the node the most recent one.
    pub fn touch(&mut self, id: &NodeId) {
        let order = self.next_order;
        if let Some(node) = self.get_mut(id) {
            let old = std::mem::replace(&mut node.order, order);
            self.recency.remove(&old);
            self.recency.insert(order, *id);
            self.next_order += 1;
        }
    }

    /// Ids from the least to the most recent (at most `n`).
    pub fn oldest(&self, n: usize) -> Vec<NodeId> {
        self.recency.values().take(n).copied().collect()
    }

    /// Ids from the most to the least recent (at most `n`).
    pub fn latest(&self, n: usize) -> Vec<NodeId> {
        self.recency.values().rev().take(n).copied().collect()
    }

    /// The `n`-th node in row order (`n < len()`), for a random pick.
    pub fn nth(&self, mut n: usize) -> Option<&Node> {
        for row in &self.rows {
            if n < row.len() {
                return row.get(n);
            }
            n -= row.len();
        }
        None
    }

    /// Up to `k` nodes near `target`, in JS's row order (not sorted by distance).
    pub fn closest(&self, target: &[u8; 32], k: usize) -> Vec<&Node> {
        let mut out = Vec::with_capacity(k.min(self.size));
        let d = self.row_of(target);
        for i in (0..=d).rev().chain(d + 1..ROWS) {
            if out.len() >= k {
                break;
            }
            let missing = k - out.len();
            out.extend(self.rows[i].iter().take(missing));
        }
        out
    }

    /// The `k` nodes nearest to `target` by XOR distance, nearest first (exact, unlike
    /// [`Table::closest`]). With `d` the target's row: row `d` shares the most bits with the
    /// target, then every row below `d`... in XOR terms rows `> d` (they share exactly `d` bits)
    /// come before row `d - 1`, `d - 2`, …, `0`; only the rows needed are sorted.
    pub fn closest_exact(&self, target: &[u8; 32], k: usize) -> Vec<&Node> {
        let mut out: Vec<&Node> = Vec::with_capacity(k.min(self.size));
        let d = self.row_of(target);
        take_nearest(&mut out, self.rows[d].iter().collect(), target, k);
        if out.len() < k {
            take_nearest(&mut out, self.rows[d + 1..].iter().flatten().collect(), target, k);
        }
        for i in (0..d).rev() {
            if out.len() >= k {
                break;
            }
            take_nearest(&mut out, self.rows[i].iter().collect(), target, k);
        }
        out
    }

    /// Every node, as `closest(table id, ∞)` orders them.
    pub fn to_vec(&self) -> Vec<Node> {
        self.closest(&self.id, usize::MAX).into_iter().cloned().collect()
    }
}

/// Appends the nodes of `group` nearest to `target` until `out` holds `k`.
fn take_nearest<'a>(out: &mut Vec<&'a Node>, mut group: Vec<&'a Node>, target: &[u8; 32], k: usize) {
    let missing = k.saturating_sub(out.len());
    let by_distance = |a: &&Node, b: &&Node| super::peer::cmp_distance(target, &a.id, &b.id);
    if group.len() > missing && missing > 0 {
        // Linear selection first: only the nodes that make it get sorted.
        group.select_nth_unstable_by(missing - 1, by_distance);
        group.truncate(missing);
    }
    group.sort_by(by_distance);
    out.extend(group.into_iter().take(missing));
}

#[cfg(test)]
mod tests;
