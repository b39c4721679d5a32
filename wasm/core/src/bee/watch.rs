//! Watching a bee (JS `Watcher`, `EntryWatcher`): wake up when a range or an entry changed.
//!
//! Both wait on the core's change counter ([`SharedCore::changed`]), never poll, and compare
//! `(length, fork)` with what they saw last, so a change made between two calls is not lost
//! (JS can miss a truncation that lands while its watcher is not waiting).
//!
//! - [`Watcher::next`] (JS `watcher.next()`): once the core moved past the current snapshot,
//!   takes a new snapshot and yields `(current, previous)` if the fork changed or if the
//!   diff of the two within the range is not empty (JS's default differ); otherwise it
//!   keeps waiting. The first baseline is the version when [`Hyperbee::watch`] ran (or, if
//!   the core was busy then, when [`Watcher::ready`] or the first `next()` runs).
//! - [`EntryWatcher::changed`] (JS `'update'` of `getAndWatch`): resolves with the entry
//!   once its seq changed, or after any truncation (JS `_forceUpdate`).
//!
//! JS only watches the main bee; here a sub may be watched too (its range, its keys). A
//! checkout never changes: watching one is `BAD_ARGUMENT`.
//!
//! [`SharedCore::changed`]: crate::replicator::SharedCore::changed

use futures::{FutureExt, Stream};

use super::encoding::prefixed;
use super::errors::BeeError;
use super::hyperbee::{lookup, Entry, Hyperbee};
use super::iterators::{is_snapshot_gone, RangeOptions};
use crate::storage::Storage;

/// `(version, fork)` of a checkout handle.
fn pin<S>(snap: &Hyperbee<S>) -> (u64, u64) {
    snap.checkout.as_ref().map_or((1, 0), |c| (c.version.max(1), c.fork))
}

fn checkout_error() -> BeeError {
    BeeError::BadArgument("a checkout never changes: watch the live bee".into())
}

/// Waits until the core's `(version, fork)` differs from `(version, fork)` (version as
/// `max(1, length)`); `seen` is the change counter last seen.
async fn wait_for_change<S: Storage>(bee: &Hyperbee<S>, seen: &mut u64, version: u64, fork: u64) {
    loop {
        let (len, now_fork) = {
            let core = bee.core().lock().await;
            (core.length().max(1), core.fork())
        };
        if now_fork != fork || len != version {
            return;
        }
        *seen = bee.core().changed(*seen).await;
    }
}

/// Yields `(current, previous)` snapshots each time a range of the bee changed (see
/// [`Hyperbee::watch`]).
pub struct Watcher<S> {
    bee: Hyperbee<S>,
    range: RangeOptions,
    current: Option<Hyperbee<S>>,
    seen: u64,
    closed: bool,
}

impl<S> std::fmt::Debug for Watcher<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("range", &self.range)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Hyperbee<S> {
    /// Watches the range: [`Watcher::next`] resolves with `(current, previous)` snapshots
    /// each time entries in the range changed (or the core was truncated).
    pub fn watch(&self, opts: RangeOptions) -> Watcher<S> {
        let current = if self.is_checkout() { None } else { self.snapshot().now_or_never() };
        Watcher { bee: self.clone(), range: opts, current, seen: 0, closed: false }
    }

    /// The entry for `key` now, and a watcher resolving whenever it changes (JS
    /// `getAndWatch`).
    pub async fn get_and_watch(&self, key: &[u8]) -> Result<EntryWatcher<S>, BeeError> {
        if self.is_checkout() {
            return Err(checkout_error());
        }
        let seen = self.core().changed(0).await;
        let key = prefixed(&self.prefix, key);
        let reader = self.reader().await?;
        let node = lookup(&reader, &key).await?.map(|b| self.entry(&b));
        Ok(EntryWatcher {
            bee: self.clone(),
            key,
            node,
            version: reader.version(),
            fork: reader.fork(),
            seen,
        })
    }
}

impl<S: Storage> Watcher<S> {
    /// Pins the baseline snapshot now if [`Hyperbee::watch`] could not (JS `ready()`).
    pub async fn ready(&mut self) -> Result<(), BeeError> {
        if self.bee.is_checkout() {
            return Err(checkout_error());
        }
        if self.current.is_none() {
            self.current = Some(self.bee.snapshot().await);
        }
        Ok(())
    }

    /// The latest snapshot seen (the baseline before the first change).
    pub fn current(&self) -> Option<&Hyperbee<S>> {
        self.current.as_ref()
    }

    /// Waits for the next change of the range: `(current, previous)` snapshots; `None` once
    /// closed. An error closes the watcher.
    pub async fn next(&mut self) -> Result<Option<(Hyperbee<S>, Hyperbee<S>)>, BeeError> {
        if self.closed {
            return Ok(None);
        }
        match self.step().await {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                self.close();
                Err(e)
            }
        }
    }

    /// Stops watching: `next()` returns `None` from now on.
    pub fn close(&mut self) {
        self.closed = true;
        self.current = None;
    }

    /// The watcher as a stream of `(current, previous)` (an error ends it).
    pub fn into_stream(self) -> impl Stream<Item = Result<(Hyperbee<S>, Hyperbee<S>), BeeError>> {
        futures::stream::unfold(self, |mut w| async move { w.next().await.transpose().map(|r| (r, w)) })
    }

    async fn step(&mut self) -> Result<(Hyperbee<S>, Hyperbee<S>), BeeError> {
        self.ready().await?;
        loop {
            // `current` is replaced only once a round is decided, so a `next()` dropped
            // half-way loses nothing.
            let Some(previous) = self.current.clone() else { return Err(checkout_error()) };
            let (version, fork) = pin(&previous);
            wait_for_change(&self.bee, &mut self.seen, version, fork).await;
            let current = self.bee.snapshot().await;
            if pin(&current).1 != fork {
                self.current = Some(current.clone());
                return Ok((current, previous));
            }
            let mut diff = current.diff_with(&previous, self.range.clone());
            match diff.next().await {
                Ok(found) => {
                    self.current = Some(current.clone());
                    if found.is_some() {
                        return Ok((current, previous));
                    }
                }
                // Truncated while diffing: the next round sees the fork change and yields.
                Err(e) if is_snapshot_gone(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Follows one entry (see [`Hyperbee::get_and_watch`]).
pub struct EntryWatcher<S> {
    bee: Hyperbee<S>,
    /// The key, prefixed.
    key: Vec<u8>,
    node: Option<Entry>,
    version: u64,
    fork: u64,
    seen: u64,
}

impl<S> std::fmt::Debug for EntryWatcher<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryWatcher")
            .field("key", &self.key)
            .field("node", &self.node)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> EntryWatcher<S> {
    /// The entry as last seen (`None`: absent).
    pub fn node(&self) -> Option<Entry> {
        self.node.clone()
    }

    /// Marks `reader`'s version as seen.
    fn saw(&mut self, reader: &super::reader::Reader<S>) {
        self.version = reader.version();
        self.fork = reader.fork();
    }

    /// Waits until the entry changed (another seq: written again, deleted, created) or the
    /// core was truncated, and returns it as it is now.
    pub async fn changed(&mut self) -> Result<Option<Entry>, BeeError> {
        loop {
            wait_for_change(&self.bee, &mut self.seen, self.version, self.fork).await;
            let reader = self.bee.reader().await?;
            let found = match lookup(&reader, &self.key).await {
                Ok(found) => found,
                Err(e) if is_snapshot_gone(&e) => {
                    // Truncated during the read: read again on the new fork.
                    if self.bee.core().lock().await.fork() != reader.fork() {
                        continue;
                    }
                    self.saw(&reader);
                    return Err(e);
                }
                Err(e) => {
                    // Report each failing version once: the next call waits for a new change
                    // instead of failing again at once (a caller looping on errors would spin).
                    self.saw(&reader);
                    return Err(e);
                }
            };
            let force = reader.fork() != self.fork;
            self.version = reader.version();
            self.fork = reader.fork();
            let node = found.map(|b| self.bee.entry(&b));
            if force || node.as_ref().map(|n| n.seq) != self.node.as_ref().map(|n| n.seq) {
                self.node = node;
                return Ok(self.node.clone());
            }
        }
    }
}
