//! History reads (JS `iterators/history.js`): the blocks of the bee by seq, puts and
//! deletions, with JS's bound arithmetic.
//!
//! - The lower bound: `gt` (when non-zero, negative from the version) plus one, else `gte`
//!   (when non-zero) else 1. The upper bound: nothing when `lt` or `lte` is 0; `lte` (when
//!   non-zero) plus one; `lt` (when non-zero) else the version. `live` has no upper bound.
//! - Opening reads the root as JS's `getRoot` does (so a bee whose last block is not a tree
//!   fails as in JS).
//! - Like JS, the history of a checkout may read blocks after its version that its core
//!   snapshot still holds (an explicit `lt` beyond the version); reading past what the view
//!   holds is `BAD_ARGUMENT` (JS would wait for a block that never comes), as is a bound that
//!   lands on the header block 0 or below.
//! - `live` follows appends (and truncations: blocks are then read from the new fork) until
//!   the iterator is dropped; on a checkout it ends where the checkout's snapshot ends.

use std::sync::Arc;

use futures::Stream;

use super::{is_snapshot_gone, HistoryEntry, HistoryKind, HistoryOptions};
use crate::bee::block::BlockEntry;
use crate::bee::errors::BeeError;
use crate::bee::hyperbee::Hyperbee;
use crate::bee::reader::Reader;
use crate::storage::Storage;

enum State<S> {
    Idle,
    Open {
        reader: Reader<S>,
        /// Next seq forward (JS `this.gte`).
        gte: i64,
        /// End (exclusive); `None` for live (JS `Infinity`).
        lt: Option<i64>,
        /// Change counter of the core last seen (live waits).
        seen: u64,
    },
    Done,
}

/// A history read (see [`Hyperbee::history`]).
pub struct HistoryIterator<S> {
    bee: Hyperbee<S>,
    opts: HistoryOptions,
    limit: Option<usize>,
    state: State<S>,
}

impl<S> std::fmt::Debug for HistoryIterator<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryIterator").field("opts", &self.opts).finish_non_exhaustive()
    }
}

impl<S: Storage> Hyperbee<S> {
    /// The bee's blocks by seq (puts and deletions) within the bounds, oldest first (newest
    /// first with `reverse`). On a sub, every block is returned (not only the sub's) with the
    /// sub's prefix length sliced off its key, as JS does.
    pub fn history(&self, opts: HistoryOptions) -> HistoryIterator<S> {
        HistoryIterator { bee: self.clone(), limit: opts.limit, opts, state: State::Idle }
    }
}

/// JS `gte(opts, version)`.
fn lower(opts: &HistoryOptions, version: i64) -> i64 {
    let rel = |v: i64| if v < 0 { v + version } else { v };
    if let Some(gt) = opts.gt.filter(|&g| g != 0) {
        return rel(gt).saturating_add(1);
    }
    rel(opts.gte.filter(|&g| g != 0).unwrap_or(1))
}

/// JS `lt(opts, version)`.
fn upper(opts: &HistoryOptions, version: i64) -> i64 {
    if opts.lte == Some(0) || opts.lt == Some(0) {
        return 0;
    }
    let rel = |v: i64| if v < 0 { v + version } else { v };
    if let Some(lte) = opts.lte {
        return rel(lte).saturating_add(1);
    }
    rel(opts.lt.unwrap_or(version))
}

impl<S: Storage> HistoryIterator<S> {
    /// The next entry, `None` at the end (never, for a live history of the live bee).
    pub async fn next(&mut self) -> Result<Option<HistoryEntry>, BeeError> {
        match self.step().await {
            Ok(e) => Ok(e),
            Err(e) => {
                self.state = State::Done;
                Err(e)
            }
        }
    }

    /// The iterator as a stream (an error ends it).
    pub fn into_stream(self) -> impl Stream<Item = Result<HistoryEntry, BeeError>> {
        futures::stream::unfold(self, |mut it| async move { it.next().await.transpose().map(|r| (r, it)) })
    }

    async fn step(&mut self) -> Result<Option<HistoryEntry>, BeeError> {
        if let State::Idle = self.state {
            self.open().await?;
        }
        let reverse = self.opts.reverse;
        let State::Open { gte, lt, .. } = &mut self.state else { return Ok(None) };
        if self.limit == Some(0) {
            return Ok(None);
        }
        if let Some(l) = &mut self.limit {
            *l -= 1;
        }
        if lt.is_some_and(|lt| *gte >= lt) {
            return Ok(None);
        }
        let seq = if reverse {
            let Some(lt) = lt else { return Ok(None) };
            if *lt <= 1 {
                return Ok(None);
            }
            *lt -= 1;
            *lt
        } else {
            let seq = *gte;
            *gte = gte.saturating_add(1);
            seq
        };
        let Ok(seq) = u64::try_from(seq) else {
            return Err(BeeError::BadArgument(format!("history position {seq} is before the first block")));
        };
        if seq == 0 {
            return Err(BeeError::BadArgument("history position 0 is the header block".into()));
        }
        let Some(block) = self.block(seq).await? else { return Ok(None) };
        let entry = self.bee.entry(&block);
        let kind = if block.is_deletion() { HistoryKind::Del } else { HistoryKind::Put };
        Ok(Some(HistoryEntry { kind, seq: entry.seq, key: entry.key, value: entry.value }))
    }

    async fn open(&mut self) -> Result<(), BeeError> {
        if self.opts.live && self.opts.reverse {
            return Err(BeeError::BadArgument("cannot have both live and reverse enabled".into()));
        }
        let seen = self.bee.core().changed(0).await;
        let reader = self.bee.reader().await?;
        // JS opens with `getRoot` (the "update dance"), which reads the root node.
        reader.root().await?;
        let version = i64::try_from(reader.version()).unwrap_or(i64::MAX);
        let gte = lower(&self.opts, version);
        let lt = (!self.opts.live).then(|| upper(&self.opts, version));
        // A checkout reads through its core snapshot, which may hold more than its version.
        let reader = match self.bee.checkout.as_ref().and_then(|c| c.snapshot.as_ref()) {
            Some(snap) if snap.length > reader.version() => {
                let shared = &self.bee.shared;
                let (core, cache) = (shared.core.clone(), shared.cache.clone());
                Reader::new(core, cache, snap.length, reader.fork(), Some(snap.clone()), reader.waits())
            }
            _ => reader,
        };
        self.state = State::Open { reader, gte, lt, seen };
        Ok(())
    }

    /// Block `seq`; for a live history of the live bee, waits for it to be appended (`None`:
    /// a live history of a checkout reached the end of its snapshot).
    async fn block(&mut self, seq: u64) -> Result<Option<Arc<BlockEntry>>, BeeError> {
        let live = self.opts.live;
        let checkout = self.bee.is_checkout();
        let State::Open { reader, seen, .. } = &mut self.state else { return Ok(None) };
        if !live {
            return reader.block(seq).await.map(Some);
        }
        loop {
            if seq < reader.version() {
                match reader.block(seq).await {
                    Err(e) if is_snapshot_gone(&e) && !checkout => {
                        // Truncated since: follow the new fork (JS reads from a live session).
                        let fresh = self.bee.reader().await?;
                        if fresh.fork() == reader.fork() {
                            return Err(e);
                        }
                        *reader = fresh;
                        continue;
                    }
                    r => return r.map(Some),
                }
            }
            if checkout {
                return Ok(None);
            }
            *seen = self.bee.core().changed(*seen).await;
            *reader = self.bee.reader().await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(gt: Option<i64>, gte: Option<i64>, lt: Option<i64>, lte: Option<i64>) -> HistoryOptions {
        HistoryOptions { gt, gte, lt, lte, ..HistoryOptions::default() }
    }

    #[test]
    fn bounds_follow_js() {
        let v = 10;
        assert_eq!((lower(&o(None, None, None, None), v), upper(&o(None, None, None, None), v)), (1, 10));
        assert_eq!(lower(&o(Some(0), Some(4), None, None), v), 4); // gt 0 is "not set"
        assert_eq!(lower(&o(Some(3), Some(1), None, None), v), 4); // gt wins
        assert_eq!(lower(&o(Some(-3), None, None, None), v), 8);
        assert_eq!(lower(&o(None, Some(0), None, None), v), 1);
        assert_eq!(lower(&o(None, Some(-2), None, None), v), 8);
        assert_eq!(upper(&o(None, None, Some(0), Some(5)), v), 0);
        assert_eq!(upper(&o(None, None, Some(7), Some(0)), v), 0);
        assert_eq!(upper(&o(None, None, Some(7), Some(5)), v), 6); // lte wins
        assert_eq!(upper(&o(None, None, None, Some(-1)), v), 10);
        assert_eq!(upper(&o(None, None, Some(-1), None), v), 9);
    }
}
