//! A sparse bitset of block indexes (hypercore `lib/remote-bitfield.js`): which blocks a peer
//! has, and which blocks we have in flight.
//!
//! Bits live in pages of 4,096 bits. A page with some bits set is stored as bits; pages
//! with every bit set are kept as runs `[first page, end page)`, so `range {0, 2^40}` costs
//! one map entry rather than gigabytes, and pages with no bit set are absent. Every
//! operation is logarithmic in the number of stored pages and runs (plus the words it
//! touches).

use std::collections::BTreeMap;

/// Bits per page.
const PAGE_BITS: u64 = 4096;
const WORDS: usize = (PAGE_BITS / 64) as usize;

type Page = Box<[u64; WORDS]>;

/// A sparse bitset over `u64` indexes below 2^63.
#[derive(Debug, Clone, Default)]
pub(crate) struct RemoteBitfield {
    /// Pages with some but not all bits set.
    pages: BTreeMap<u64, Page>,
    /// Runs of full pages: first page → end page (exclusive). Disjoint and never adjacent.
    full: BTreeMap<u64, u64>,
}

impl RemoteBitfield {
    /// An empty bitset.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Whether bit `index` is set.
    pub(crate) fn get(&self, index: u64) -> bool {
        let p = index / PAGE_BITS;
        match self.pages.get(&p) {
            Some(page) => {
                let b = index % PAGE_BITS;
                page[(b / 64) as usize] >> (b % 64) & 1 == 1
            }
            None => self.full_run(p).is_some(),
        }
    }

    /// Sets or clears one bit.
    pub(crate) fn set(&mut self, index: u64, value: bool) {
        let b = index % PAGE_BITS;
        self.set_in_page(index / PAGE_BITS, b, b + 1, value);
    }

    /// Sets or clears every bit in `start..end`.
    pub(crate) fn set_range(&mut self, start: u64, end: u64, value: bool) {
        if start >= end {
            return;
        }
        let first = start / PAGE_BITS;
        let last = (end - 1) / PAGE_BITS;
        if first == last {
            self.set_in_page(first, start % PAGE_BITS, (end - 1) % PAGE_BITS + 1, value);
            return;
        }
        let mut from = first;
        if start % PAGE_BITS != 0 {
            self.set_in_page(first, start % PAGE_BITS, PAGE_BITS, value);
            from += 1;
        }
        let mut to = last + 1;
        if end % PAGE_BITS != 0 {
            self.set_in_page(last, 0, end % PAGE_BITS, value);
            to -= 1;
        }
        if from >= to {
            return;
        }
        let inside: Vec<u64> = self.pages.range(from..to).map(|(p, _)| *p).collect();
        for p in inside {
            self.pages.remove(&p);
        }
        if value {
            self.add_full(from, to);
        } else {
            self.remove_full(from, to);
        }
    }

    /// Overwrites the bits `start..start + 32·words.len()` with `words` (bit `i` of word `k` =
    /// index `start + 32k + i`); `start` must be a multiple of 32 (JS ignores other starts).
    pub(crate) fn insert_words(&mut self, start: u64, words: &[u32]) {
        debug_assert_eq!(start % 32, 0);
        let mut k = 0usize;
        while k < words.len() {
            let bit = start + 32 * k as u64;
            let p = bit / PAGE_BITS;
            let room = ((PAGE_BITS - bit % PAGE_BITS) / 32) as usize;
            let n = room.min(words.len() - k);
            let chunk = &words[k..k + n];
            k += n;
            let partial = self.pages.contains_key(&p);
            if !partial {
                let is_full = self.full_run(p).is_some();
                if (!is_full && chunk.iter().all(|w| *w == 0))
                    || (is_full && chunk.iter().all(|w| *w == u32::MAX))
                {
                    continue;
                }
            }
            let page = self.materialize(p);
            let mut at = bit % PAGE_BITS;
            for w in chunk {
                let word = &mut page[(at / 64) as usize];
                let shift = at % 64;
                *word = (*word & !(u64::from(u32::MAX) << shift)) | (u64::from(*w) << shift);
                at += 32;
            }
            self.normalize(p);
        }
    }

    /// The first set bit at or after `from`.
    pub(crate) fn first_set(&self, from: u64) -> Option<u64> {
        let p = from / PAGE_BITS;
        match self.pages.get(&p) {
            Some(page) => {
                if let Some(b) = first_one(page, from % PAGE_BITS) {
                    return Some(p * PAGE_BITS + b);
                }
            }
            None if self.full_run(p).is_some() => return Some(from),
            None => {}
        }
        let next = p.checked_add(1)?;
        let partial =
            self.pages.range(next..).next().and_then(|(k, page)| Some(k * PAGE_BITS + first_one(page, 0)?));
        let full = self.full.range(next..).next().map(|(s, _)| s * PAGE_BITS);
        match (partial, full) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The first clear bit at or after `from`.
    pub(crate) fn first_unset(&self, from: u64) -> u64 {
        let mut i = from;
        loop {
            let p = i / PAGE_BITS;
            if let Some(page) = self.pages.get(&p) {
                if let Some(b) = first_zero(page, i % PAGE_BITS) {
                    return p * PAGE_BITS + b;
                }
                i = (p + 1) * PAGE_BITS;
            } else if let Some((_, end)) = self.full_run(p) {
                i = end * PAGE_BITS;
            } else {
                return i;
            }
        }
    }

    /// Pages stored as bits (memory use).
    #[cfg(test)]
    pub(crate) fn partial_pages(&self) -> usize {
        self.pages.len()
    }

    /// The run of full pages holding page `p`.
    fn full_run(&self, p: u64) -> Option<(u64, u64)> {
        self.full.range(..=p).next_back().filter(|(_, end)| p < **end).map(|(s, e)| (*s, *e))
    }

    /// Sets bits `from..to` (within the page) of page `p`.
    fn set_in_page(&mut self, p: u64, from: u64, to: u64, value: bool) {
        if !self.pages.contains_key(&p) && self.full_run(p).is_some() == value {
            return;
        }
        let page = self.materialize(p);
        let mut b = from;
        while b < to {
            let shift = b % 64;
            let n = (64 - shift).min(to - b);
            let mask = if n == 64 { u64::MAX } else { ((1u64 << n) - 1) << shift };
            let word = &mut page[(b / 64) as usize];
            if value {
                *word |= mask;
            } else {
                *word &= !mask;
            }
            b += n;
        }
        self.normalize(p);
    }

    /// Page `p` as bits, taking it out of a full run if needed.
    fn materialize(&mut self, p: u64) -> &mut Page {
        let fill = if !self.pages.contains_key(&p) && self.remove_full(p, p + 1) { u64::MAX } else { 0 };
        self.pages.entry(p).or_insert_with(|| Box::new([fill; WORDS]))
    }

    /// Drops page `p` if it became empty, moves it into the runs if it became full.
    fn normalize(&mut self, p: u64) {
        let Some(page) = self.pages.get(&p) else { return };
        if page.iter().all(|w| *w == 0) {
            self.pages.remove(&p);
        } else if page.iter().all(|w| *w == u64::MAX) {
            self.pages.remove(&p);
            self.add_full(p, p + 1);
        }
    }

    /// Marks pages `start..end` full, merging with touching runs.
    fn add_full(&mut self, start: u64, end: u64) {
        let (mut s, mut e) = (start, end);
        while let Some((&rs, &re)) = self.full.range(..=e).next_back() {
            if re < s {
                break;
            }
            self.full.remove(&rs);
            s = s.min(rs);
            e = e.max(re);
        }
        self.full.insert(s, e);
    }

    /// Takes pages `start..end` out of the runs; whether any was full.
    fn remove_full(&mut self, start: u64, end: u64) -> bool {
        let mut removed = false;
        while let Some((&rs, &re)) = self.full.range(..end).next_back() {
            if re <= start {
                break;
            }
            self.full.remove(&rs);
            removed = true;
            if rs < start {
                self.full.insert(rs, start);
            }
            if re > end {
                self.full.insert(end, re);
            }
        }
        removed
    }
}

/// First set bit of `page` at or after bit `from`.
fn first_one(page: &[u64; WORDS], from: u64) -> Option<u64> {
    let mut w = (from / 64) as usize;
    let mut word = page.get(w)? & (u64::MAX << (from % 64));
    loop {
        if word != 0 {
            return Some(w as u64 * 64 + u64::from(word.trailing_zeros()));
        }
        w += 1;
        word = *page.get(w)?;
    }
}

/// First clear bit of `page` at or after bit `from`.
fn first_zero(page: &[u64; WORDS], from: u64) -> Option<u64> {
    let mut w = (from / 64) as usize;
    let mut word = !page.get(w)? & (u64::MAX << (from % 64));
    loop {
        if word != 0 {
            return Some(w as u64 * 64 + u64::from(word.trailing_zeros()));
        }
        w += 1;
        word = !*page.get(w)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn huge_ranges_are_cheap() {
        let mut bf = RemoteBitfield::new();
        bf.set_range(5, 1 << 52, true);
        assert!(bf.partial_pages() <= 2);
        assert!(!bf.get(4) && bf.get(5) && bf.get((1 << 52) - 1) && !bf.get(1 << 52));
        assert_eq!(bf.first_unset(5), 1 << 52);
        assert_eq!(bf.first_set(0), Some(5));
        bf.set_range(1 << 40, (1 << 40) + 10, false);
        assert_eq!(bf.first_unset(5), 1 << 40);
        assert_eq!(bf.first_set(1 << 40), Some((1 << 40) + 10));
        bf.set_range(0, 1 << 53, false);
        assert_eq!(bf.first_set(0), None);
        assert_eq!(bf.partial_pages(), 0);
    }

    #[test]
    fn words_overwrite() {
        let mut bf = RemoteBitfield::new();
        bf.set_range(0, 10_000, true);
        bf.insert_words(4096, &[0, 1, u32::MAX]);
        assert!(bf.get(4095) && !bf.get(4096) && bf.get(4128) && !bf.get(4129) && bf.get(4160));
        assert_eq!(bf.first_unset(0), 4096);
        assert_eq!(bf.first_set(4096), Some(4128));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Range(u64, u64, bool),
        Words(u64, Vec<u32>),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0u64..14_000, 0u64..5_000, any::<bool>()).prop_map(|(s, l, v)| Op::Range(s, s + l, v)),
            (
                0u64..600,
                proptest::collection::vec(prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()], 0..300)
            )
                .prop_map(|(s, w)| Op::Words(s * 32, w)),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn matches_a_model(ops in proptest::collection::vec(op(), 1..30), probes in proptest::collection::vec(0u64..20_000, 20)) {
            let mut bf = RemoteBitfield::new();
            let mut model = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Range(s, e, v) => {
                        bf.set_range(s, e, v);
                        for i in s..e { if v { model.insert(i); } else { model.remove(&i); } }
                    }
                    Op::Words(s, words) => {
                        bf.insert_words(s, &words);
                        for (k, w) in words.iter().enumerate() {
                            for b in 0..32 {
                                let i = s + 32 * k as u64 + b;
                                if w >> b & 1 == 1 { model.insert(i); } else { model.remove(&i); }
                            }
                        }
                    }
                }
            }
            for p in probes {
                proptest::prop_assert_eq!(bf.get(p), model.contains(&p), "get {}", p);
                proptest::prop_assert_eq!(bf.first_set(p), model.range(p..).next().copied(), "first_set {}", p);
                let unset = (p..).find(|i| !model.contains(i)).unwrap_or(u64::MAX);
                proptest::prop_assert_eq!(bf.first_unset(p), unset, "first_unset {}", p);
            }
        }
    }
}
