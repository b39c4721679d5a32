//! [`MemoryStorage`]: an in-memory [`Storage`] backed by a shared `BTreeMap`.
//!
//! Clones share the same map, so a test can "reopen" a store by cloning it. Nothing is
//! durable: the data lives as long as the last clone.

use super::{Entry, Scan, Storage, StorageError, WriteBatch, WriteOp};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock};

/// The map type shared by the clones of a [`MemoryStorage`].
type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory ordered key-value store; clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    map: Arc<RwLock<Map>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of every entry, in key order (for tests and debugging).
    pub fn snapshot(&self) -> Vec<Entry> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Whether `scan`'s bounds describe a non-empty, valid range (`BTreeMap::range` panics on
/// inverted bounds, so callers check first).
pub(crate) fn bounds_valid(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s <= e,
        (Bound::Included(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e))
        | (Bound::Excluded(s), Bound::Excluded(e)) => s < e,
        _ => true,
    }
}

/// The entries of `map` selected by `scan`, mapped through `f`, honouring order and limit.
pub(crate) fn scan_map<V, T>(
    map: &BTreeMap<Vec<u8>, V>,
    scan: &Scan,
    mut f: impl FnMut(&Vec<u8>, &V) -> T,
) -> Vec<T> {
    if !bounds_valid(&scan.start, &scan.end) || scan.limit == Some(0) {
        return Vec::new();
    }
    let range = map.range::<[u8], _>((as_slice(&scan.start), as_slice(&scan.end)));
    let limit = scan.limit.unwrap_or(usize::MAX);
    if scan.reverse {
        range.rev().take(limit).map(|(k, v)| f(k, v)).collect()
    } else {
        range.take(limit).map(|(k, v)| f(k, v)).collect()
    }
}

fn as_slice(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Removes every key in `start..end` from `map`, returning the removed entries.
pub(crate) fn remove_range<V>(map: &mut BTreeMap<Vec<u8>, V>, start: &[u8], end: &[u8]) -> Vec<(Vec<u8>, V)> {
    if start >= end {
        return Vec::new();
    }
    // Per-key removal: O(k log n) for k removed keys. (`split_off` + `append` merged the
    // whole map back together, O(n) on every range delete, even an empty one.)
    let keys: Vec<Vec<u8>> = map
        .range::<[u8], _>((std::ops::Bound::Included(start), std::ops::Bound::Excluded(end)))
        .map(|(k, _)| k.clone())
        .collect();
    keys.into_iter().filter_map(|k| map.remove_entry(&k)).collect()
}

/// Applies `batch` to `map` in order.
fn apply(map: &mut Map, batch: WriteBatch) {
    for op in batch.ops {
        match op {
            WriteOp::Put { key, value } => {
                map.insert(key, value);
            }
            WriteOp::Delete { key } => {
                map.remove(&key);
            }
            WriteOp::DeleteRange { start, end } => {
                remove_range(map, &start, &end);
            }
        }
    }
}

impl Storage for MemoryStorage {
    async fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        Ok(keys.iter().map(|k| map.get(k).cloned()).collect())
    }

    async fn scan_keys(&self, scan: Scan) -> Result<Vec<Vec<u8>>, StorageError> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        Ok(scan_map(&map, &scan, |k, _| k.clone()))
    }

    async fn scan(&self, scan: Scan) -> Result<Vec<Entry>, StorageError> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        Ok(scan_map(&map, &scan, |k, v| (k.clone(), v.clone())))
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        // Applying to the map cannot fail halfway, so the batch is atomic.
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        apply(&mut map, batch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn conformance() {
        block_on(crate::storage::conformance::run_all(|| async { MemoryStorage::new() }));
    }

    #[test]
    fn clones_share_data() {
        let a = MemoryStorage::new();
        let b = a.clone();
        let mut batch = WriteBatch::new();
        batch.put(b"k".to_vec(), b"v".to_vec());
        block_on(a.write(batch)).unwrap();
        assert_eq!(block_on(b.get(b"k".to_vec())).unwrap(), Some(b"v".to_vec()));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn inverted_bounds_are_empty() {
        let m = MemoryStorage::new();
        let mut batch = WriteBatch::new();
        batch.put(vec![1], vec![1]).delete_range(vec![5], vec![2]);
        block_on(m.write(batch)).unwrap();
        assert!(block_on(m.scan(Scan::range(vec![5], vec![2]))).unwrap().is_empty());
        let s = Scan {
            start: Bound::Excluded(vec![1]),
            end: Bound::Excluded(vec![1]),
            limit: None,
            reverse: false,
        };
        assert!(block_on(m.scan(s)).unwrap().is_empty());
        assert_eq!(m.len(), 1);
    }
}
