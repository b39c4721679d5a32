//! Choosing what to ask a peer for (hypercore `lib/replicator.js` `_requestRange`,
//! `_findNext`, `_canRequest`; `lib/merkle-tree.js` `missingNodes`, `upgradeable`).
//!
//! # Which tree nodes we store, without asking storage
//!
//! Every node this core stores came from an append, a verified proof or a reorg, and each of
//! those stores, with any node, its parent (up to a root) and its sibling: a block proof
//! carries the siblings along the block's path and the path is recomputed, an upgrade
//! stores the roots and every parent it merges. So the stored nodes are closed under
//! "parent" and "sibling". Hence a node is stored when any block under its *parent* is
//! stored (the block's leaf is, so are its ancestors and their siblings), and every root
//! is stored. [`missing_nodes`] counts from a leaf up to the first node known stored this
//! way; the count can only be too high (a stored node the bitfield does not reveal, e.g.
//! after `clear`), which makes the peer send a few nodes we have, never too few.
//!
//! # Finding the next block
//!
//! A download range is searched from a per-peer cursor by alternating three cheap skips: our
//! bitfield (first block we lack), the blocks in flight (first not requested), the peer's
//! announcements (first it has). Each step moves forward, so the search costs a few bitfield
//! word scans per request, never a walk over blocks. Cursors move back when a block becomes
//! requestable again behind them (a failed request, a peer's new announcement).

use super::peer::Peer;
use super::remote_bitfield::RemoteBitfield;
use super::{LocalCore, WANT_BATCH};
use crate::tree::flat_tree;

/// Batches of blocks a peer has not announced that one search walks through (and wants)
/// before it gives up until the next event.
const MAX_WALK: u32 = 64;
/// Skips one search makes before it gives up until the next event: bounds the work a
/// message can cause when our bitfield, the requests in flight and the peer's
/// announcements interleave block by block.
const MAX_STEPS: u32 = 4096;

/// How many tree nodes above block `index` we lack (the `nodes` of a block request), and the
/// node the proof will climb to. Blocks at or beyond our length need none (the proof comes
/// with an upgrade).
pub(crate) fn missing_nodes(core: &impl LocalCore, index: u64) -> (u64, u64) {
    let head = 2 * core.length();
    let mut node = 2 * index;
    if node >= head {
        return (0, node);
    }
    let mut count = 0;
    loop {
        let parent = flat_tree::parent(node);
        // `node` is a root of our tree: stored.
        if flat_tree::right_span(parent) >= head {
            break;
        }
        let from = flat_tree::left_span(parent) / 2;
        let to = flat_tree::right_span(parent) / 2 + 1;
        if core.first_present(from, to).is_some() {
            break;
        }
        count += 1;
        node = parent;
    }
    (count, node)
}

/// Whether we can prove an upgrade from `length` to our length (JS `_canUpgrade`): the nodes
/// right of its last leaf are stored when that leaf is.
pub(crate) fn upgradeable(core: &impl LocalCore, length: u64) -> bool {
    if length == 0 {
        return true;
    }
    if length >= core.length() {
        return false;
    }
    let last = length - 1;
    core.first_present(last & !1, (last | 1) + 1).is_some()
}

/// What a search found.
#[derive(Debug, Default)]
pub(crate) struct Search {
    /// A block to request and its `nodes`.
    pub(crate) found: Option<(u64, u64)>,
    /// Where the next search starts.
    pub(crate) cursor: u64,
    /// Blocks the peer has not announced: want their batches.
    pub(crate) want: Vec<u64>,
}

/// Finds the first block in `from..end` we lack, have not requested, the peer has announced
/// and can prove to us.
pub(crate) fn find_block(
    core: &impl LocalCore,
    peer: &Peer,
    pending: &RemoteBitfield,
    from: u64,
    end: u64,
) -> Search {
    let mut search = Search::default();
    let mut pos = from;
    let (mut walked, mut steps) = (0, 0);
    let remote_head = peer.remote_length.saturating_mul(2);
    while pos < end {
        steps += 1;
        if steps > MAX_STEPS {
            break;
        }
        let i = core.first_missing(pos);
        if i >= end {
            pos = end;
            break;
        }
        let j = pending.first_unset(i);
        if j != i {
            pos = j;
            continue;
        }
        if !peer.remote_has(i) {
            if search.want.last().is_none_or(|w| w / WANT_BATCH != i / WANT_BATCH) {
                search.want.push(i);
            }
            let batch_end = (i / WANT_BATCH + 1) * WANT_BATCH;
            match peer.remote_bitfield.first_set(i) {
                Some(next) if next < batch_end => pos = next,
                _ => {
                    pos = batch_end;
                    walked += 1;
                    if walked >= MAX_WALK {
                        break;
                    }
                }
            }
            continue;
        }
        let (nodes, target) = missing_nodes(core, i);
        if flat_tree::right_span(target) >= remote_head {
            // Its tree does not reach the node the proof must climb to.
            pos = i + 1;
            continue;
        }
        search.found = Some((i, nodes));
        search.cursor = i + 1;
        return search;
    }
    search.cursor = pos.min(end);
    search
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Hash;
    use crate::replicator::messages::{ChannelHandshake, Range, Sync};
    use std::collections::BTreeSet;

    /// A core that is just a bitfield and a length.
    struct Bits {
        length: u64,
        have: BTreeSet<u64>,
    }

    impl LocalCore for Bits {
        fn key(&self) -> &Hash {
            &[0; 32]
        }
        fn fork(&self) -> u64 {
            0
        }
        fn length(&self) -> u64 {
            self.length
        }
        fn contiguous_length(&self) -> u64 {
            (0..).find(|i| !self.have.contains(i)).unwrap_or(0).min(self.length)
        }
        fn has(&self, index: u64) -> bool {
            self.have.contains(&index)
        }
        fn has_verifier(&self) -> bool {
            true
        }
        fn has_manifest(&self) -> bool {
            true
        }
        fn bitfield_words(&self, _: u64, n: usize) -> Vec<u32> {
            vec![0; n]
        }
        fn first_missing(&self, from: u64) -> u64 {
            (from..).find(|i| !self.have.contains(i)).unwrap_or(u64::MAX)
        }
        fn first_present(&self, from: u64, to: u64) -> Option<u64> {
            self.have.range(from..to.min(self.length)).next().copied()
        }
        fn manifest_bytes(&self) -> Option<Vec<u8>> {
            None
        }
    }

    #[test]
    fn missing_nodes_follow_held_blocks() {
        let mut core = Bits { length: 16, have: BTreeSet::new() };
        // Nothing held: climb to the single root (node 15): leaf, 1, 3, 7 → 4 nodes.
        assert_eq!(missing_nodes(&core, 5), (4, 15));
        core.have.insert(4);
        // Sibling leaf 8 (block 4) held: leaf 10 is stored.
        assert_eq!(missing_nodes(&core, 5), (0, 10));
        // Block 6: leaf 12 lacks; node 13's parent (11) spans block 4, so 13 is stored.
        assert_eq!(missing_nodes(&core, 6), (1, 13));
        // Beyond the length: the upgrade carries it.
        assert_eq!(missing_nodes(&core, 20), (0, 40));
        // Length 3: roots 1 and 4; block 2 is a root leaf.
        let small = Bits { length: 3, have: BTreeSet::new() };
        assert_eq!(missing_nodes(&small, 2), (0, 4));
        assert_eq!(missing_nodes(&small, 0), (1, 1));
    }

    #[test]
    fn upgradeable_needs_the_last_leaf() {
        let core = Bits { length: 10, have: [3u64].into() };
        assert!(upgradeable(&core, 0));
        assert!(upgradeable(&core, 3) && upgradeable(&core, 4));
        assert!(!upgradeable(&core, 6));
        assert!(!upgradeable(&core, 10));
    }

    #[test]
    fn search_skips_local_pending_and_unannounced() {
        let core = Bits { length: 100, have: (0..10).collect() };
        let mut peer = Peer::new(&ChannelHandshake { seeks: false, capability: [0; 32] });
        peer.on_sync(&Sync { length: 100, ..Sync::default() }, 0);
        peer.on_range(&Range { drop: false, start: 0, length: 50 });
        let mut pending = RemoteBitfield::new();
        pending.set_range(10, 20, true);
        let s = find_block(&core, &peer, &pending, 0, 100);
        assert_eq!(s.found.map(|f| f.0), Some(20));
        assert_eq!(s.cursor, 21);
        let s = find_block(&core, &peer, &pending, 50, 100);
        assert_eq!(s.found, None);
        assert_eq!(s.want, vec![50]);
        assert_eq!(s.cursor, 100);
    }

    #[test]
    fn search_work_is_bounded() {
        // We hold the even blocks, the peer announced only those: every odd block is a skip.
        let n = 100_000;
        let core = Bits { length: n, have: (0..n).step_by(2).collect() };
        let mut peer = Peer::new(&ChannelHandshake { seeks: false, capability: [0; 32] });
        peer.on_sync(&Sync { length: n, ..Sync::default() }, 0);
        for i in (0..n).step_by(2) {
            peer.remote_bitfield.set(i, true);
        }
        let s = find_block(&core, &peer, &RemoteBitfield::new(), 0, n);
        assert_eq!(s.found, None);
        assert!(s.cursor > 0 && s.cursor < n, "stopped at {}", s.cursor);
        assert_eq!(s.want, vec![1]);
        let next = find_block(&core, &peer, &RemoteBitfield::new(), s.cursor, n);
        assert!(next.cursor > s.cursor, "the next search goes on");
    }
}
