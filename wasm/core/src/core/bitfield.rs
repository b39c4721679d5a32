//! Which blocks are stored locally (hypercore `lib/bitfield.js`).
//!
//! Bits live in pages of 32,768 bits (4 KiB, as JS pages them); only touched pages are kept
//! and persisted. Pages changed since the last [`Bitfield::take_dirty`] are written by the
//! core in the same storage batch as the blocks they describe.

use std::collections::{BTreeMap, BTreeSet};

/// Bits per page.
pub const PAGE_BITS: u64 = 32_768;
/// Bytes per persisted page.
pub const PAGE_BYTES: usize = (PAGE_BITS / 8) as usize;
const WORDS: usize = (PAGE_BITS / 64) as usize;

type Page = Box<[u64; WORDS]>;

/// A sparse, paged bitset of locally stored blocks.
#[derive(Debug, Clone, Default)]
pub struct Bitfield {
    pages: BTreeMap<u64, Page>,
    dirty: BTreeSet<u64>,
}

impl Bitfield {
    /// An empty bitfield.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores from persisted pages (`(page number, 4096 bytes)`); short pages are zero-padded.
    pub fn from_pages(pages: impl IntoIterator<Item = (u64, Vec<u8>)>) -> Self {
        let mut bf = Bitfield::new();
        for (n, bytes) in pages {
            let mut page: Page = Box::new([0; WORDS]);
            for (w, chunk) in page.iter_mut().zip(bytes.chunks(8)) {
                let mut b = [0u8; 8];
                b[..chunk.len()].copy_from_slice(chunk);
                *w = u64::from_le_bytes(b);
            }
            if page.iter().any(|w| *w != 0) {
                bf.pages.insert(n, page);
            }
        }
        bf
    }

    /// Whether block `index` is present.
    pub fn get(&self, index: u64) -> bool {
        let (p, w, b) = split(index);
        self.pages.get(&p).is_some_and(|page| page[w] >> b & 1 == 1)
    }

    /// Sets or clears one bit.
    pub fn set(&mut self, index: u64, value: bool) {
        self.set_range(index, index + 1, value);
    }

    /// Sets or clears every bit in `start..end`.
    pub fn set_range(&mut self, start: u64, end: u64, value: bool) {
        let mut i = start;
        while i < end {
            let (p, w, b) = split(i);
            let word_end = (i - b as u64 + 64).min(end);
            let n = (word_end - i) as u32;
            let mask = if n == 64 { u64::MAX } else { ((1u64 << n) - 1) << b };
            if value {
                let page = self.pages.entry(p).or_insert_with(|| Box::new([0; WORDS]));
                page[w] |= mask;
                self.dirty.insert(p);
            } else if let Some(page) = self.pages.get_mut(&p) {
                page[w] &= !mask;
                self.dirty.insert(p);
            }
            i = word_end;
        }
    }

    /// The first clear bit at or after `from`.
    pub fn first_unset(&self, from: u64) -> u64 {
        let mut i = from;
        loop {
            let (p, w, b) = split(i);
            let Some(page) = self.pages.get(&p) else { return i };
            let word = page[w] | ((1u64 << b) - 1);
            if word != u64::MAX {
                return i - b as u64 + u64::from(word.trailing_ones());
            }
            i = i - b as u64 + 64;
        }
    }

    /// The first set bit in `from..to`, if any.
    pub fn first_set(&self, from: u64, to: u64) -> Option<u64> {
        let mut i = from;
        while i < to {
            let (p, w, b) = split(i);
            let Some(page) = self.pages.get(&p) else {
                // Jump straight to the next page that has any bit set.
                let (next, _) = self.pages.range(p + 1..).next()?;
                i = next.saturating_mul(PAGE_BITS);
                continue;
            };
            let word = page[w] & !((1u64 << b) - 1);
            if word != 0 {
                let found = i - b as u64 + u64::from(word.trailing_zeros());
                return (found < to).then_some(found);
            }
            i = i - b as u64 + 64;
        }
        None
    }

    /// The 64 bits starting at bit `at` (any alignment), bit 0 = block `at`.
    fn bits64(&self, at: u64) -> u64 {
        let word = |i: u64| {
            let (p, w, _) = split(i);
            self.pages.get(&p).map_or(0, |page| page[w])
        };
        let off = (at % 64) as u32;
        let low = word(at) >> off;
        if off == 0 {
            return low;
        }
        low | word(at - u64::from(off) + 64) << (64 - off)
    }

    /// `n` little-endian 32-bit words describing blocks `start..start + 32·n` (bit `i` of
    /// word `k` = block `start + 32k + i`), as a `bitfield` wire message carries them.
    pub fn words(&self, start: u64, n: usize) -> Vec<u32> {
        let mut out = Vec::with_capacity(n);
        let mut at = start;
        while out.len() < n {
            let bits = self.bits64(at);
            out.push(bits as u32);
            if out.len() < n {
                out.push((bits >> 32) as u32);
            }
            at = at.saturating_add(64);
        }
        out
    }

    /// Number of set bits in `start..end`.
    pub fn count(&self, start: u64, end: u64) -> u64 {
        let mut n = 0;
        let mut i = start;
        while let Some(next) = self.first_set(i, end) {
            let stop = self.first_unset(next).min(end);
            n += stop - next;
            i = stop;
        }
        n
    }

    /// Pages changed since the last call, encoded for storage (an all-zero page is
    /// returned as an empty value so the caller can delete it).
    pub fn take_dirty(&mut self) -> Vec<(u64, Vec<u8>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|p| {
                match self.pages.get(&p).and_then(|page| Some((page, page.iter().rposition(|w| *w != 0)?))) {
                    // Trailing zero words are left out ([`Bitfield::from_pages`] zero-fills short
                    // pages): appends to a young page then rewrite only its used prefix.
                    Some((page, last)) => {
                        let mut bytes = Vec::with_capacity((last + 1) * 8);
                        for w in page.iter().take(last + 1) {
                            bytes.extend_from_slice(&w.to_le_bytes());
                        }
                        (p, bytes)
                    }
                    None => {
                        self.pages.remove(&p);
                        (p, Vec::new())
                    }
                }
            })
            .collect()
    }

    /// Whether pages changed since the last [`Bitfield::take_dirty`].
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }
}

fn split(index: u64) -> (u64, usize, u32) {
    (index / PAGE_BITS, ((index % PAGE_BITS) / 64) as usize, (index % 64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_scans() {
        let mut bf = Bitfield::new();
        bf.set_range(3, 200, true);
        assert!(!bf.get(2) && bf.get(3) && bf.get(199) && !bf.get(200));
        assert_eq!(bf.first_unset(0), 0);
        assert_eq!(bf.first_unset(3), 200);
        assert_eq!(bf.first_set(0, 1000), Some(3));
        assert_eq!(bf.first_set(200, 1000), None);
        bf.set_range(50, 60, false);
        assert_eq!(bf.count(0, 1000), 197 - 10);
        bf.set(PAGE_BITS * 3 + 5, true);
        assert_eq!(bf.first_set(200, u64::MAX), Some(PAGE_BITS * 3 + 5));
        let pages = bf.take_dirty();
        assert_eq!(pages.len(), 2);
        let back = Bitfield::from_pages(pages);
        assert_eq!(back.count(0, u64::MAX / 2), bf.count(0, u64::MAX / 2));
        assert!(!bf.has_dirty());
    }

    #[test]
    fn words_at_any_alignment() {
        let mut bf = Bitfield::new();
        bf.set_range(30, 100, true);
        bf.set(PAGE_BITS + 1, true);
        let w = bf.words(0, 4);
        assert_eq!(w[0], 0xC000_0000);
        assert_eq!(w[1], u32::MAX);
        assert_eq!(w[2], u32::MAX);
        assert_eq!(w[3], 0xF);
        assert_eq!(bf.words(30, 3), vec![u32::MAX, u32::MAX, 0x3F]);
        assert_eq!(bf.words(PAGE_BITS - 32, 2), vec![0, 2]);
        assert_eq!(bf.words(PAGE_BITS - 30, 1), vec![0x8000_0000]);
    }

    #[test]
    fn cleared_pages_are_emitted_empty() {
        let mut bf = Bitfield::new();
        bf.set_range(0, 10, true);
        bf.take_dirty();
        bf.set_range(0, 10, false);
        assert_eq!(bf.take_dirty(), vec![(0, Vec::new())]);
        assert_eq!(bf.first_unset(0), 0);
    }

    proptest::proptest! {
        #[test]
        fn matches_a_model(ops in proptest::collection::vec((0u64..70_000, 0u64..300, proptest::bool::ANY), 1..40)) {
            let mut bf = Bitfield::new();
            let mut model = std::collections::BTreeSet::new();
            for (start, len, v) in ops {
                bf.set_range(start, start + len, v);
                for i in start..start + len {
                    if v { model.insert(i); } else { model.remove(&i); }
                }
            }
            let first_gap = (0..).find(|i| !model.contains(i)).unwrap();
            proptest::prop_assert_eq!(bf.first_unset(0), first_gap);
            proptest::prop_assert_eq!(bf.count(0, 80_000), model.len() as u64);
            proptest::prop_assert_eq!(bf.first_set(0, 80_000), model.iter().next().copied());
        }
    }
}
