//! Bounded, time-limited caches for what strangers make a node store (JS `xache` and
//! `record-cache`, as hyperdht configures them in `index.js defaultCacheOpts`).
//!
//! Both keep two generations: new entries go into the young one; a *rotation* makes the young
//! generation old and drops the old one. Rotations happen when the young generation reaches
//! `max_size`, and on a clock every `ceil(2/3 · max_age)` ms unless a size-triggered rotation
//! already happened in that period — so an entry lives between 2/3 and 4/3 of `max_age`, and
//! at most `2 · max_size` entries are held. Time is passed in (`now_ms`), never read.

use std::collections::HashMap;
use std::hash::Hash;

use crate::split_mix::SplitMix;

/// The rotation clock shared by both caches.
#[derive(Debug, Clone)]
struct Clock {
    /// Rotation period (`ceil(2/3 · max_age)`), 0 = no time limit.
    period: u64,
    /// When the next timed rotation is due.
    next: u64,
    /// A rotation happened in the current period (the timed one is then skipped once).
    rotated: bool,
}

impl Clock {
    fn new(max_age: u64, now_ms: u64) -> Self {
        let period = if max_age == 0 { 0 } else { (max_age * 2).div_ceil(3) };
        Clock { period, next: now_ms.saturating_add(period), rotated: false }
    }

    /// How many timed rotations are due at `now_ms` (0, 1 or 2; 2 empties both generations).
    fn due(&mut self, now_ms: u64) -> u32 {
        if self.period == 0 || now_ms < self.next {
            return 0;
        }
        let mut n = 0;
        while now_ms >= self.next && n < 2 {
            if !self.rotated {
                n += 1;
            }
            self.rotated = false;
            self.next = self.next.saturating_add(self.period);
        }
        if now_ms >= self.next {
            // Slept through many periods: everything is stale anyway.
            self.next = now_ms.saturating_add(self.period);
            n = 2;
        }
        n
    }
}

/// A two-generation key/value cache (JS `xache`) with *retained* entries that never expire
/// (a local server's router entry). Besides the entry count, the bytes of the young generation
/// can be bounded ([`GenCache::with_max_bytes`]) for caches of stranger-sized values.
#[derive(Debug, Clone)]
pub struct GenCache<K, V> {
    max_size: usize,
    max_bytes: usize,
    latest: HashMap<K, (V, usize)>,
    latest_bytes: usize,
    oldest: HashMap<K, (V, usize)>,
    retained: HashMap<K, V>,
    clock: Clock,
}

impl<K: Eq + Hash + Clone, V> GenCache<K, V> {
    /// A cache holding at most about `2 · max_size` entries for 2/3–4/3 of `max_age` ms.
    pub fn new(max_size: usize, max_age: u64, now_ms: u64) -> Self {
        GenCache {
            max_size: max_size.max(1),
            max_bytes: usize::MAX,
            latest: HashMap::new(),
            latest_bytes: 0,
            oldest: HashMap::new(),
            retained: HashMap::new(),
            clock: Clock::new(max_age, now_ms),
        }
    }

    /// Also rotates when the young generation holds `max_bytes` (as told by
    /// [`GenCache::set_sized`]), so at most about `2 · max_bytes` are held.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    fn rotate(&mut self) {
        self.oldest = std::mem::take(&mut self.latest);
        self.latest_bytes = 0;
    }

    /// Applies the timed rotations due at `now_ms`.
    pub fn advance(&mut self, now_ms: u64) {
        for _ in 0..self.clock.due(now_ms) {
            self.rotate();
        }
    }

    fn insert_latest(&mut self, key: K, value: V, size: usize) {
        if let Some((_, old)) = self.latest.insert(key, (value, size)) {
            self.latest_bytes -= old;
        }
        self.latest_bytes += size;
    }

    /// Stores `value` (ignored if `key` is retained, as JS).
    pub fn set(&mut self, key: K, value: V, now_ms: u64) {
        self.set_sized(key, value, 0, now_ms)
    }

    /// Stores `value`, counting `size` bytes against the byte bound.
    pub fn set_sized(&mut self, key: K, value: V, size: usize, now_ms: u64) {
        self.advance(now_ms);
        if self.retained.contains_key(&key) {
            return;
        }
        self.oldest.remove(&key);
        self.insert_latest(key, value, size);
        if self.latest.len() >= self.max_size || self.latest_bytes >= self.max_bytes {
            self.clock.rotated = true;
            self.rotate();
        }
    }

    /// Stores `value` without expiry until [`GenCache::delete`].
    pub fn retain(&mut self, key: K, value: V) {
        if let Some((_, size)) = self.latest.remove(&key) {
            self.latest_bytes -= size;
        }
        self.oldest.remove(&key);
        self.retained.insert(key, value);
    }

    /// Removes `key` from every generation; whether it was there.
    pub fn delete(&mut self, key: &K) -> bool {
        let mut found = false;
        if let Some((_, size)) = self.latest.remove(key) {
            self.latest_bytes -= size;
            found = true;
        }
        found |= self.oldest.remove(key).is_some();
        found | self.retained.remove(key).is_some()
    }

    fn promote(&mut self, key: &K) {
        if let Some((v, size)) = self.oldest.remove(key) {
            self.insert_latest(key.clone(), v, size);
        }
    }

    /// The value for `key`; a hit in the old generation moves it back to the young one.
    pub fn get(&mut self, key: &K, now_ms: u64) -> Option<&V> {
        self.advance(now_ms);
        self.promote(key);
        self.latest.get(key).map(|(v, _)| v).or_else(|| self.retained.get(key))
    }

    /// The value for `key` without touching recency or the clock.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.latest
            .get(key)
            .or_else(|| self.oldest.get(key))
            .map(|(v, _)| v)
            .or_else(|| self.retained.get(key))
    }

    /// Like [`GenCache::get`], mutable.
    pub fn get_mut(&mut self, key: &K, now_ms: u64) -> Option<&mut V> {
        self.advance(now_ms);
        self.promote(key);
        if self.latest.contains_key(key) {
            return self.latest.get_mut(key).map(|(v, _)| v);
        }
        self.retained.get_mut(key)
    }

    /// Entries held (all generations).
    pub fn len(&self) -> usize {
        self.latest.len() + self.oldest.len() + self.retained.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The records stored under one target in one generation, in insertion order.
type RecordSet = Vec<([u8; 32], Vec<u8>)>;

/// Records (announced `peer` encodings) per target and public key (JS `record-cache`), with a
/// per-target cap so one topic cannot take the whole budget.
#[derive(Debug, Clone)]
pub struct RecordCache {
    max_size: usize,
    per_target: usize,
    fresh: HashMap<[u8; 32], RecordSet>,
    fresh_len: usize,
    stale: HashMap<[u8; 32], RecordSet>,
    clock: Clock,
}

fn remove_from(map: &mut HashMap<[u8; 32], RecordSet>, target: &[u8; 32], pk: &[u8; 32]) -> bool {
    let Some(set) = map.get_mut(target) else { return false };
    let Some(i) = set.iter().position(|(k, _)| k == pk) else { return false };
    set.remove(i);
    if set.is_empty() {
        map.remove(target);
    }
    true
}

impl RecordCache {
    /// At most about `2 · max_size` records, `per_target` per target, each kept 2/3–4/3 of
    /// `max_age` ms after its last announce.
    pub fn new(max_size: usize, per_target: usize, max_age: u64, now_ms: u64) -> Self {
        RecordCache {
            max_size: max_size.max(1),
            per_target: per_target.max(1),
            fresh: HashMap::new(),
            fresh_len: 0,
            stale: HashMap::new(),
            clock: Clock::new(max_age, now_ms),
        }
    }

    fn rotate(&mut self) {
        self.stale = std::mem::take(&mut self.fresh);
        self.fresh_len = 0;
    }

    /// Applies the timed rotations due at `now_ms`.
    pub fn advance(&mut self, now_ms: u64) {
        for _ in 0..self.clock.due(now_ms) {
            self.rotate();
        }
    }

    /// Stores (or refreshes) the record of `public_key` under `target`.
    pub fn add(&mut self, target: [u8; 32], public_key: [u8; 32], record: Vec<u8>, now_ms: u64) {
        self.advance(now_ms);
        remove_from(&mut self.stale, &target, &public_key);
        let held = self.count(&target);
        let set = self.fresh.entry(target).or_default();
        if let Some(slot) = set.iter_mut().find(|(k, _)| *k == public_key) {
            slot.1 = record;
            return;
        }
        if held >= self.per_target {
            // Full target: the oldest record of this target makes room (stale ones first).
            if let Some(stale) = self.stale.get_mut(&target) {
                if !stale.is_empty() {
                    stale.remove(0);
                    if stale.is_empty() {
                        self.stale.remove(&target);
                    }
                    let set = self.fresh.entry(target).or_default();
                    set.push((public_key, record));
                    self.fresh_len += 1;
                    return self.check_size();
                }
            }
            if !set.is_empty() {
                set.remove(0);
                self.fresh_len -= 1;
            }
        }
        set.push((public_key, record));
        self.fresh_len += 1;
        self.check_size();
    }

    fn check_size(&mut self) {
        if self.fresh_len > self.max_size {
            self.clock.rotated = true;
            self.rotate();
        }
    }

    /// Removes the record of `public_key` under `target`.
    pub fn remove(&mut self, target: &[u8; 32], public_key: &[u8; 32]) {
        if remove_from(&mut self.fresh, target, public_key) {
            self.fresh_len -= 1;
        }
        remove_from(&mut self.stale, target, public_key);
    }

    /// Records held under `target`.
    pub fn count(&self, target: &[u8; 32]) -> usize {
        self.fresh.get(target).map_or(0, Vec::len) + self.stale.get(target).map_or(0, Vec::len)
    }

    /// Up to `n` records under `target`, chosen at random.
    pub fn get(&mut self, target: &[u8; 32], n: usize, rng: &mut SplitMix, now_ms: u64) -> Vec<Vec<u8>> {
        self.advance(now_ms);
        let mut all: Vec<&Vec<u8>> = Vec::new();
        for map in [&self.fresh, &self.stale] {
            if let Some(set) = map.get(target) {
                all.extend(set.iter().map(|(_, r)| r));
            }
        }
        let take = n.min(all.len());
        // Partial Fisher–Yates: the first `take` slots end up a uniform sample.
        for i in 0..take {
            let j = i + rng.below(all.len() - i);
            all.swap(i, j);
        }
        all.into_iter().take(take).cloned().collect()
    }

    /// Records held in total.
    pub fn len(&self) -> usize {
        self.fresh_len + self.stale.values().map(Vec::len).sum::<usize>()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gen_cache_expires_between_two_thirds_and_four_thirds_of_max_age() {
        let mut c = GenCache::new(100, 3000, 0);
        c.set(1u32, "a", 0);
        assert_eq!(c.get(&1, 1999).copied(), Some("a")); // touched at 1999: moved to young
                                                         // Rotations at 2000 (young → old) and 4000 (old dropped, unless touched).
        assert_eq!(c.get(&1, 2000).copied(), Some("a"));
        c.set(2, "b", 2100);
        assert_eq!(c.get(&2, 5999).copied(), Some("b"));
        assert_eq!(c.get(&2, 8000).copied(), None);
        c.retain(3, "r");
        assert_eq!(c.get(&3, 100_000).copied(), Some("r"));
        c.set(3, "x", 100_000);
        assert_eq!(c.get(&3, 100_000).copied(), Some("r"), "retained entries are not overwritten");
        assert!(c.delete(&3));
        assert!(c.get(&3, 100_000).is_none());
    }

    #[test]
    fn gen_cache_size_bound() {
        let mut c = GenCache::new(10, 0, 0);
        for i in 0..1000u32 {
            c.set(i, i, 0);
            assert!(c.len() <= 20);
        }
        assert_eq!(c.get(&999, 0).copied(), Some(999));
        assert!(c.get(&0, 0).is_none());
    }

    #[test]
    fn record_cache_caps_targets_and_totals() {
        let mut rng = SplitMix::new(7);
        let mut c = RecordCache::new(1000, 8, 1_200_000, 0);
        let t = [1u8; 32];
        for i in 0..50u8 {
            c.add(t, [i; 32], vec![i], 0);
        }
        assert_eq!(c.count(&t), 8);
        let got = c.get(&t, 20, &mut rng, 0);
        assert_eq!(got.len(), 8);
        // The newest 8 survive.
        let mut ids: Vec<u8> = got.iter().map(|r| r[0]).collect();
        ids.sort();
        assert_eq!(ids, (42..50).collect::<Vec<_>>());
        c.remove(&t, &[49; 32]);
        assert_eq!(c.count(&t), 7);
        // Re-adding an existing key replaces its record, no duplicate.
        c.add(t, [48; 32], vec![0xaa], 0);
        assert_eq!(c.count(&t), 7);
        for i in 0..5000u32 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            c.add(k, k, vec![1], 0);
            assert!(c.len() <= 2001);
        }
        // Expiry: 20 min max age → gone after 4/3 of it.
        let mut c = RecordCache::new(1000, 8, 1_200_000, 0);
        c.add(t, [1; 32], vec![1], 0);
        assert_eq!(c.get(&t, 20, &mut rng, 800_000).len(), 1);
        assert_eq!(c.get(&t, 20, &mut rng, 1_600_001).len(), 0);
    }

    #[test]
    fn random_sample_is_a_subset_without_repeats() {
        let mut rng = SplitMix::new(1);
        let mut c = RecordCache::new(1000, 100, 0, 0);
        let t = [9u8; 32];
        for i in 0..60u8 {
            c.add(t, [i; 32], vec![i], 0);
        }
        let got = c.get(&t, 20, &mut rng, 0);
        assert_eq!(got.len(), 20);
        let mut ids: Vec<u8> = got.iter().map(|r| r[0]).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20);
    }
}
