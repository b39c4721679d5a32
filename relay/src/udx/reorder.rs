//! The receiver's reorder buffer: DATA/END packets that arrived above the cumulative ack,
//! keyed by a 64-bit extended seq (so wrap-around needs no care), plus the held seqs as
//! merged ranges so SACK blocks come out in O(blocks). Bounded in packets and span; the
//! stream bounds the bytes.

use std::collections::BTreeMap;

/// Spare payload buffers kept for reuse.
const MAX_SPARE: usize = 256;

/// One held packet.
#[derive(Debug)]
pub(crate) struct Held {
    /// `FLAG_DATA` / `FLAG_END` of the packet.
    pub flags: u8,
    /// Its payload (empty for an END-only packet).
    pub data: Vec<u8>,
}

/// Out-of-order packets above the cumulative ack.
#[derive(Debug, Default)]
pub(crate) struct Reorder {
    packets: BTreeMap<u64, Held>,
    /// start → end (exclusive) of runs of held seqs.
    ranges: BTreeMap<u64, u64>,
    bytes: usize,
    spare: Vec<Vec<u8>>,
}

impl Reorder {
    /// Payload bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Packets held.
    pub(crate) fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Whether `seq` is held.
    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.packets.contains_key(&seq)
    }

    /// Holds a copy of `data` at `seq` (the caller checked bounds and absence).
    pub(crate) fn insert(&mut self, seq: u64, flags: u8, data: &[u8]) {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        self.bytes += data.len();
        if self.packets.insert(seq, Held { flags, data: buf }).is_some() {
            return; // cannot happen (caller checks), ranges already cover it
        }
        self.add_range(seq);
    }

    /// Removes and returns the packet at `seq` if it is the lowest one held.
    pub(crate) fn pop_front(&mut self, seq: u64) -> Option<Held> {
        let first = self.packets.first_entry()?;
        if *first.key() != seq {
            return None;
        }
        let held = first.remove();
        self.bytes -= held.data.len();
        if let Some((start, end)) = self.ranges.pop_first() {
            if start + 1 < end {
                self.ranges.insert(start + 1, end);
            }
        }
        Some(held)
    }

    /// Returns a payload buffer for reuse.
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && buf.capacity() <= 2048 {
            self.spare.push(buf);
        }
    }

    /// The first `max` runs of held seqs, ascending, as `(start, end)` half-open ranges.
    pub(crate) fn ranges(&self, max: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().take(max).map(|(&s, &e)| (s, e))
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.packets.clear();
        self.ranges.clear();
        self.spare.clear();
        self.bytes = 0;
    }

    fn add_range(&mut self, seq: u64) {
        let below = self.ranges.range(..=seq).next_back().map(|(&s, &e)| (s, e));
        let above = self.ranges.get(&(seq + 1)).copied();
        match (below, above) {
            (Some((_, e)), _) if e > seq => {} // already covered
            (Some((s, e)), Some(ae)) if e == seq => {
                self.ranges.remove(&(seq + 1));
                self.ranges.insert(s, ae);
            }
            (Some((s, e)), None) if e == seq => {
                self.ranges.insert(s, seq + 1);
            }
            (_, Some(ae)) => {
                self.ranges.remove(&(seq + 1));
                self.ranges.insert(seq, ae);
            }
            _ => {
                self.ranges.insert(seq, seq + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_pop() {
        let mut r = Reorder::default();
        for s in [5u64, 7, 6, 10, 9, 3] {
            r.insert(s, 1, &[s as u8]);
        }
        assert_eq!(r.ranges(50).collect::<Vec<_>>(), vec![(3, 4), (5, 8), (9, 11)]);
        assert_eq!(r.ranges(2).count(), 2);
        assert_eq!(r.bytes(), 6);
        assert!(r.pop_front(2).is_none());
        assert_eq!(r.pop_front(3).unwrap().data, vec![3]);
        assert!(r.pop_front(4).is_none());
        r.insert(4, 1, &[]);
        assert_eq!(r.ranges(50).collect::<Vec<_>>(), vec![(4, 8), (9, 11)]);
        for s in 4..8 {
            assert!(r.pop_front(s).is_some());
        }
        assert_eq!(r.ranges(50).collect::<Vec<_>>(), vec![(9, 11)]);
        assert_eq!(r.len(), 2);
        assert!(r.contains(10));
        r.insert(8, 2, b"end");
        assert_eq!(r.ranges(50).collect::<Vec<_>>(), vec![(8, 11)]);
        assert_eq!(r.pop_front(8).unwrap().flags, 2);
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.bytes(), 0);
    }
}
