//! The decoded-block cache of a bee (JS hyperbee's `_nodeCache` / `_keyCache`): blocks are
//! immutable for a fork, so decoded entries are shared by every reader of that fork and
//! dropped when the fork changes (a truncation or reorg).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use super::block::BlockEntry;

/// Default bound on cached bytes (decoded keys, values and indexes).
pub const DEFAULT_CACHE_BYTES: usize = 128 << 20;

/// A hasher for block seqs (small integers we pick, not attacker-chosen map keys in bulk):
/// one multiply instead of SipHash, which was a third of a cached get.
#[derive(Default)]
struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type SeqMap<V> = HashMap<u64, V, BuildHasherDefault<SeqHasher>>;

/// Seqs per page: blocks are looked up by seq in pages of consecutive seqs, so the page map
/// stays small and hot and a lookup touches one slot array instead of a large hash table.
const PAGE: u64 = 256;

/// Cached blocks by seq, paged.
#[derive(Default)]
struct Pages {
    pages: SeqMap<Box<[Option<Arc<BlockEntry>>]>>,
}

impl Pages {
    fn get(&self, seq: u64) -> Option<&Arc<BlockEntry>> {
        self.pages.get(&(seq / PAGE))?[(seq % PAGE) as usize].as_ref()
    }

    fn insert(&mut self, seq: u64, block: Arc<BlockEntry>) -> Option<Arc<BlockEntry>> {
        let page =
            self.pages.entry(seq / PAGE).or_insert_with(|| vec![None; PAGE as usize].into_boxed_slice());
        page[(seq % PAGE) as usize].replace(block)
    }

    fn remove(&mut self, seq: u64) -> Option<Arc<BlockEntry>> {
        let page = self.pages.get_mut(&(seq / PAGE))?;
        let old = page[(seq % PAGE) as usize].take();
        if page.iter().all(Option::is_none) {
            self.pages.remove(&(seq / PAGE));
        }
        old
    }

    fn clear(&mut self) {
        self.pages.clear();
    }
}

struct Inner {
    fork: u64,
    map: Pages,
    /// Insertion order, for eviction (oldest first). May hold seqs already evicted.
    order: VecDeque<u64>,
    bytes: usize,
}

/// Decoded blocks of one fork, bounded by bytes, evicting the oldest first.
pub struct NodeCache {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache").field("max_bytes", &self.max_bytes).finish_non_exhaustive()
    }
}

impl NodeCache {
    /// An empty cache holding up to `max_bytes` of decoded blocks.
    pub fn new(max_bytes: usize) -> Self {
        NodeCache {
            inner: Mutex::new(Inner { fork: 0, map: Pages::default(), order: VecDeque::new(), bytes: 0 }),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached block `seq` of fork `fork`.
    pub fn get(&self, fork: u64, seq: u64) -> Option<Arc<BlockEntry>> {
        let inner = self.lock();
        if inner.fork != fork {
            return None;
        }
        inner.map.get(seq).cloned()
    }

    /// Caches `block` for `fork` (a newer fork replaces everything cached).
    pub fn insert(&self, fork: u64, block: Arc<BlockEntry>) {
        let weight = block.weight();
        if weight > self.max_bytes / 4 {
            return;
        }
        let mut inner = self.lock();
        if inner.fork != fork {
            if fork < inner.fork {
                return; // a reader of an old fork: do not evict the current one
            }
            inner.map.clear();
            inner.order.clear();
            inner.bytes = 0;
            inner.fork = fork;
        }
        let seq = block.seq;
        if let Some(old) = inner.map.insert(seq, block) {
            inner.bytes -= old.weight();
        } else {
            inner.order.push_back(seq);
        }
        inner.bytes += weight;
        while inner.bytes > self.max_bytes {
            let Some(old) = inner.order.pop_front() else { break };
            if let Some(b) = inner.map.remove(old) {
                inner.bytes -= b.weight();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, size: usize) -> Arc<BlockEntry> {
        Arc::new(BlockEntry::new(seq, vec![0; size].into(), None, vec![]))
    }

    #[test]
    fn bounded_and_fork_scoped() {
        let c = NodeCache::new(4000);
        for seq in 1..100 {
            c.insert(0, entry(seq, 100));
        }
        assert!(c.get(0, 1).is_none());
        assert!(c.get(0, 99).is_some());
        assert!(c.get(1, 99).is_none());
        c.insert(1, entry(5, 10));
        assert!(c.get(0, 99).is_none());
        assert!(c.get(1, 5).is_some());
        c.insert(0, entry(6, 10));
        assert!(c.get(0, 6).is_none());
    }
}
