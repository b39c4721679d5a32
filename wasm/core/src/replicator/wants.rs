//! `want` / `unwant` (hypercore `lib/wants.js`, compat mode, and `Replicator._onwant`).
//!
//! Before asking a peer for blocks it has not announced, we `want` the 2^21-block batch
//! holding them ([`LocalWants`]); the peer answers with `range` or `bitfield` messages
//! ([`answer_want`]) and from then on announces new blocks of that batch as it gets them.
//! What a peer wants from us ([`RemoteWants`]) decides which of our new blocks we announce
//! to it.

use super::messages::{Bitfield, Message, Range, Want};
use super::{LocalCore, WANT_BATCH};
use std::collections::HashSet;

/// Batches wanted from one peer at once (JS `MAX`).
const MAX_WANTS: usize = 512;
/// `any` ranges remembered before a peer is taken to want everything (JS `MAX_ANY`).
const MAX_ANY: usize = 16;
/// Distinct batch sizes remembered (JS `MAX_REMOTE_BATCHES`).
const MAX_REMOTE_BATCHES: usize = 4;
/// Smallest batch a peer may want (JS `MIN_RANGE`).
const MIN_RANGE: u64 = 32;
/// Bits per `bitfield` answer (JS `BITS_PER_SEGMENT`).
const SEGMENT_BITS: u64 = 1 << 21;

/// The batches we told one peer we want.
#[derive(Debug, Default)]
pub(crate) struct LocalWants {
    batches: HashSet<u64>,
}

impl LocalWants {
    /// Wants the batch holding `index`. Returns the messages to send: nothing when it is
    /// already wanted, else a `want`, preceded by an `unwant` for a batch `needed` says is no
    /// longer needed when the table is full (nothing at all when none can go).
    pub(crate) fn want(&mut self, index: u64, needed: impl Fn(u64) -> bool) -> Option<(Option<Want>, Want)> {
        let batch = index / WANT_BATCH;
        if self.batches.contains(&batch) {
            return None;
        }
        let mut unwant = None;
        if self.batches.len() >= MAX_WANTS {
            let gone = self.batches.iter().copied().find(|b| !needed(*b))?;
            self.batches.remove(&gone);
            unwant = Some(Want { start: gone * WANT_BATCH, length: WANT_BATCH, any: false });
        }
        self.batches.insert(batch);
        Some((unwant, Want { start: batch * WANT_BATCH, length: WANT_BATCH, any: false }))
    }

    /// Number of batches wanted.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.batches.len()
    }
}

/// What one peer told us it wants (JS `RemoteWants`).
#[derive(Debug, Default)]
pub(crate) struct RemoteWants {
    any: Vec<(u64, u64)>,
    all: bool,
    size: usize,
    /// `(batch length, batch numbers)`, one entry per distinct length.
    batches: Vec<(u64, HashSet<u64>)>,
}

impl RemoteWants {
    /// Records a `want`; false when it is to be ignored: longer than a batch (as JS), or a
    /// batch it already wants (answered before).
    pub(crate) fn add(&mut self, w: &Want) -> bool {
        if w.any {
            if self.any.len() < MAX_ANY {
                self.any.push((w.start, w.length));
            } else {
                self.all = true;
            }
            return true;
        }
        if w.length > WANT_BATCH {
            return false;
        }
        if !valid_batch(w) || self.size >= MAX_WANTS {
            self.all = true;
            return true;
        }
        let number = w.start / w.length;
        if let Some((_, set)) = self.batches.iter_mut().find(|(len, _)| *len == w.length) {
            if !set.insert(number) {
                return false;
            }
            self.size += 1;
            return true;
        }
        if self.batches.len() >= MAX_REMOTE_BATCHES {
            self.all = true;
            return true;
        }
        self.batches.push((w.length, HashSet::from([number])));
        self.size += 1;
        true
    }

    /// Records an `unwant`.
    pub(crate) fn remove(&mut self, w: &Want) {
        if w.any {
            if let Some(i) = self.any.iter().position(|a| *a == (w.start, w.length)) {
                self.any.swap_remove(i);
            }
            return;
        }
        if !valid_batch(w) {
            return;
        }
        if let Some(i) = self.batches.iter().position(|(len, _)| *len == w.length) {
            if self.batches[i].1.remove(&(w.start / w.length)) {
                self.size -= 1;
            }
            if self.batches[i].1.is_empty() {
                self.batches.swap_remove(i);
            }
        }
    }

    /// Whether the peer wants any of `start..start + length` (JS `hasRange`, which checks at
    /// most three batches).
    pub(crate) fn has_range(&self, start: u64, length: u64) -> bool {
        let end = start.saturating_add(length);
        if self.any.iter().any(|&(s, l)| {
            let e = s.saturating_add(l);
            (s <= start && start < e) || (s < end && end <= e)
        }) {
            return true;
        }
        if length == 1 {
            return self.has(start);
        }
        let Some(smallest) = self.batches.iter().map(|(len, _)| *len).min() else { return self.all };
        let mut i = start - start % smallest;
        for _ in 0..3 {
            if i >= end {
                return self.all;
            }
            if self.has(i) {
                return true;
            }
            i += smallest;
        }
        // JS gives up after three batches and assumes a match.
        i < end || self.all
    }

    /// Whether the peer wants block `index`.
    pub(crate) fn has(&self, index: u64) -> bool {
        self.all || self.batches.iter().any(|(len, set)| set.contains(&(index / len)))
    }
}

/// JS `validateBatchRange`: a power of two in `32..=2^21`, aligned to itself.
fn valid_batch(w: &Want) -> bool {
    (MIN_RANGE..=WANT_BATCH).contains(&w.length) && w.length.is_power_of_two() && w.start % w.length == 0
}

/// The answer to a peer's `want` (JS `Replicator._onwant`): `range {0, contiguous}` when that
/// covers it, one `range` of one block for `any`, else a `bitfield` per 2^21-bit segment we
/// have blocks in.
pub(crate) fn answer_want(core: &impl LocalCore, w: &Want) -> Vec<Message> {
    let length = core.length();
    let contig = core.contiguous_length().min(length);
    let end = w.start.saturating_add(w.length);
    if end < contig || length == contig || (w.any && w.start < contig) {
        return vec![Message::Range(Range { drop: false, start: 0, length: contig })];
    }
    let end = end.min(length);
    if w.start >= end {
        return Vec::new();
    }
    if w.any {
        return core
            .first_present(w.start, end)
            .map(|bit| Message::Range(Range { drop: false, start: bit, length: 1 }))
            .into_iter()
            .collect();
    }
    let mut out = Vec::new();
    let mut at = w.start - w.start % 32;
    while at < end {
        let segment_end = (at - at % SEGMENT_BITS + SEGMENT_BITS).min(end);
        let n = (segment_end - at).div_ceil(32) as usize;
        if core.first_present(at, segment_end).is_some() {
            out.push(Message::Bitfield(Bitfield { start: at, words: core.bitfield_words(at, n) }));
        }
        at = segment_end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(start: u64, length: u64) -> Want {
        Want { start, length, any: false }
    }

    #[test]
    fn local_wants_batch_and_evict() {
        let mut w = LocalWants::default();
        let (unwant, first) = w.want(5, |_| true).unwrap();
        assert!(unwant.is_none());
        assert_eq!(first, want(0, WANT_BATCH));
        assert!(w.want(WANT_BATCH - 1, |_| true).is_none());
        for b in 1..MAX_WANTS as u64 {
            assert!(w.want(b * WANT_BATCH, |_| true).is_some());
        }
        assert_eq!(w.len(), MAX_WANTS);
        assert!(w.want(1 << 40, |_| true).is_none(), "full and everything needed");
        let (unwant, next) = w.want(1 << 40, |b| b != 7).unwrap();
        assert_eq!(unwant, Some(want(7 * WANT_BATCH, WANT_BATCH)));
        assert_eq!(next.start, (1u64 << 40) / WANT_BATCH * WANT_BATCH);
    }

    #[test]
    fn remote_wants_like_js() {
        let mut r = RemoteWants::default();
        assert!(!r.has_range(0, 1000));
        assert!(!r.add(&want(0, WANT_BATCH * 2)), "longer than a batch is ignored");
        assert!(r.add(&want(WANT_BATCH, WANT_BATCH)));
        assert!(!r.add(&want(WANT_BATCH, WANT_BATCH)), "asked and answered");
        assert!(r.has(WANT_BATCH + 5) && !r.has(5));
        assert!(r.has_range(WANT_BATCH + 10, 1));
        assert!(r.has_range(WANT_BATCH - 10, 20));
        assert!(!r.has_range(0, 20));
        r.remove(&want(WANT_BATCH, WANT_BATCH));
        assert!(!r.has(WANT_BATCH + 5));
        assert!(r.add(&want(3, 100)), "invalid batch → wants everything");
        assert!(r.has(12345));
        let mut a = RemoteWants::default();
        a.add(&Want { start: 100, length: 10, any: true });
        assert!(a.has_range(105, 1) && a.has_range(95, 6) && !a.has_range(200, 1));
    }
}
