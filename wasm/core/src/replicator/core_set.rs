//! The cores a process replicates (corestore's role in JS): shared by the application and
//! every connection. Each [`SharedCore`] wraps one [`Hypercore`] behind an async mutex and
//! tells the connections what changed, so a local append reaches every peer.
//!
//! Besides the download intent (ranges, [`SharedCore::download`]) a core holds a *want set*
//! of single blocks: [`SharedCore::fetch`] waits for one block (JS `core.get(i)` on a sparse
//! core), [`SharedCore::request_blocks`] asks for several without waiting (JS
//! `core.download({ blocks })`). Every connection follows the want set with one single-block
//! download range per block in its replicators, so a read of a sparse core downloads the
//! blocks it reads and nothing else. [`SharedCore::update`] waits until the core is as long
//! as its peers (JS `core.update()`).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, MutexGuard as SyncGuard};
use std::task::{Poll, Waker};

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::lock::{Mutex, MutexGuard};

use super::{DownloadRange, LocalChange};
use crate::core::Hypercore;
use crate::core::{HypercoreError, Info};
use crate::crypto::hash::Hash;
use crate::storage::Storage;

/// What connections learn about the set.
#[derive(Debug, Clone)]
pub(crate) enum SetEvent {
    /// A core was added: open a channel for it.
    Inserted(Hash),
    /// A core changed: `origin` is the connection that caused it (0 = the application).
    Changed {
        /// Which core.
        discovery_key: Hash,
        /// What happened.
        change: LocalChange,
        /// Connection id that made the change, or 0.
        origin: u64,
    },
    /// The download intent of a core changed.
    Download(Hash),
    /// The want set of a core changed (blocks asked for by `fetch`/`request_blocks`).
    Wants(Hash),
}

/// Blocks asked for with [`SharedCore::request_blocks`] (and not waited for) kept at once; when
/// more are asked for, the oldest half is forgotten.
pub const MAX_PREFETCH_WANTS: usize = 4096;

/// Locks a std mutex, recovering from poisoning (the guarded data stays consistent: every
/// critical section here is a single push/replace).
fn lock<T>(m: &SyncMutex<T>) -> SyncGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct SetInner<S> {
    cores: SyncMutex<HashMap<Hash, SharedCore<S>>>,
    subscribers: SyncMutex<Vec<UnboundedSender<SetEvent>>>,
    next_connection: AtomicU64,
}

impl<S> SetInner<S> {
    fn broadcast(&self, event: SetEvent) {
        lock(&self.subscribers).retain(|tx| tx.unbounded_send(event.clone()).is_ok());
    }
}

/// Cores shared by every connection. Cheap to clone.
pub struct CoreSet<S> {
    inner: Arc<SetInner<S>>,
}

impl<S> Clone for CoreSet<S> {
    fn clone(&self) -> Self {
        CoreSet { inner: self.inner.clone() }
    }
}

impl<S: Storage> Default for CoreSet<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Storage> CoreSet<S> {
    /// An empty set.
    pub fn new() -> Self {
        CoreSet {
            inner: Arc::new(SetInner {
                cores: SyncMutex::new(HashMap::new()),
                subscribers: SyncMutex::new(Vec::new()),
                next_connection: AtomicU64::new(1),
            }),
        }
    }

    /// Adds a core (writer or remote). Connections open a channel for it. Adding a core
    /// whose discovery key is already present returns the existing handle.
    pub fn insert(&self, core: Hypercore<S>) -> SharedCore<S> {
        let discovery_key = *core.discovery_key();
        let mut cores = lock(&self.inner.cores);
        if let Some(existing) = cores.get(&discovery_key) {
            return existing.clone();
        }
        let fork = core.fork();
        let shared = SharedCore {
            inner: Arc::new(CoreInner {
                fork: AtomicU64::new(fork),
                key: *core.key(),
                discovery_key,
                core: Mutex::new(core),
                version: AtomicU64::new(1),
                waiters: SyncMutex::new(Vec::new()),
                intent: SyncMutex::new(None),
                done: SyncMutex::new(Done::default()),
                wants: SyncMutex::new(Wants::default()),
                caught_up: SyncMutex::new(HashMap::new()),
                finding_peers: AtomicUsize::new(0),
            }),
            set: Arc::downgrade(&self.inner),
        };
        cores.insert(discovery_key, shared.clone());
        drop(cores);
        self.inner.broadcast(SetEvent::Inserted(discovery_key));
        shared
    }

    /// The core with this discovery key.
    pub fn get(&self, discovery_key: &Hash) -> Option<SharedCore<S>> {
        lock(&self.inner.cores).get(discovery_key).cloned()
    }

    /// Every core, in no particular order.
    pub fn cores(&self) -> Vec<SharedCore<S>> {
        lock(&self.inner.cores).values().cloned().collect()
    }

    /// Registers a connection: its id and its event feed.
    pub(crate) fn subscribe(&self) -> (u64, UnboundedReceiver<SetEvent>) {
        let (tx, rx) = unbounded();
        lock(&self.inner.subscribers).push(tx);
        (self.inner.next_connection.fetch_add(1, Ordering::Relaxed), rx)
    }
}

struct CoreInner<S> {
    key: Hash,
    discovery_key: Hash,
    core: Mutex<Hypercore<S>>,
    /// Bumped on every change; `changed()` waits for it to move.
    version: AtomicU64,
    waiters: SyncMutex<Vec<Waker>>,
    intent: SyncMutex<Option<DownloadRange>>,
    /// Per connection that has peers of this core: whether its peers satisfy the intent.
    done: SyncMutex<Done>,
    /// Single blocks asked for (`fetch`, `request_blocks`).
    wants: SyncMutex<Wants>,
    /// Per connection that has peers of this core: whether we are as long as they are.
    caught_up: SyncMutex<HashMap<u64, bool>>,
    /// Live [`FindingPeers`] handles.
    finding_peers: AtomicUsize,
    /// The core's fork as last announced (set at insert and by truncation notices), so
    /// readers pinned to a fork can tell cheaply that it is gone.
    fork: AtomicU64,
}

/// One wanted block.
#[derive(Debug)]
struct Want {
    /// Tells a waiter its entry from a later one for the same block.
    serial: u64,
    /// `fetch` calls waiting for it.
    waiters: usize,
    /// Asked for by `request_blocks` (kept, up to [`MAX_PREFETCH_WANTS`], until it arrives).
    prefetch: bool,
    /// The core was truncated below it while `fetch` waited: waiters return `None`.
    truncated: bool,
}

/// The want set of a core.
#[derive(Debug, Default)]
struct Wants {
    blocks: BTreeMap<u64, Want>,
    /// Entries with `prefetch` set.
    prefetched: usize,
    next_serial: u64,
}

impl Wants {
    /// Adds a prefetch want; whether the set changed.
    fn prefetch(&mut self, index: u64) -> bool {
        if self.blocks.contains_key(&index) {
            return false;
        }
        self.next_serial += 1;
        let want = Want { serial: self.next_serial, waiters: 0, prefetch: true, truncated: false };
        self.blocks.insert(index, want);
        self.prefetched += 1;
        true
    }

    /// Forgets the oldest half of the prefetch-only wants once there are too many.
    fn evict(&mut self) -> bool {
        if self.prefetched <= MAX_PREFETCH_WANTS {
            return false;
        }
        let mut old: Vec<(u64, u64)> = self
            .blocks
            .iter()
            .filter(|(_, w)| w.prefetch && w.waiters == 0)
            .map(|(b, w)| (w.serial, *b))
            .collect();
        old.sort_unstable();
        for (_, b) in old.iter().take(old.len().saturating_sub(MAX_PREFETCH_WANTS / 2)) {
            self.blocks.remove(b);
            self.prefetched -= 1;
        }
        true
    }

    /// Registers a waiter for `index`; its serial, and whether the set changed.
    fn wait(&mut self, index: u64) -> (u64, bool) {
        match self.blocks.get_mut(&index) {
            Some(w) if !w.truncated => {
                w.waiters += 1;
                if w.prefetch {
                    // A waiter owns it now: it goes when the last waiter does.
                    w.prefetch = false;
                    self.prefetched -= 1;
                }
                (w.serial, false)
            }
            _ => {
                self.next_serial += 1;
                let want = Want { serial: self.next_serial, waiters: 1, prefetch: false, truncated: false };
                if let Some(old) = self.blocks.insert(index, want) {
                    // A truncated entry keeps its old waiters' answer through `serial`.
                    debug_assert!(old.truncated);
                }
                (self.next_serial, true)
            }
        }
    }

    /// A waiter left; whether the set changed.
    fn unwait(&mut self, index: u64, serial: u64) -> bool {
        let Some(w) = self.blocks.get_mut(&index) else { return false };
        if w.serial != serial {
            return false;
        }
        w.waiters = w.waiters.saturating_sub(1);
        if w.waiters == 0 && !w.prefetch {
            self.blocks.remove(&index);
            return true;
        }
        false
    }

    /// Whether the waiter `serial` of `index` still waits for a block the core can get.
    fn live(&self, index: u64, serial: u64) -> bool {
        // Another serial: the entry was replaced after a truncation below it.
        self.blocks.get(&index).is_some_and(|w| w.serial == serial && !w.truncated)
    }

    /// Blocks `start..end` arrived: prefetch-only wants go (waiters see the block).
    fn arrived(&mut self, start: u64, end: u64) {
        let mut gone = Vec::new();
        for (b, w) in self.blocks.range_mut(start..end) {
            if w.prefetch {
                w.prefetch = false;
                self.prefetched -= 1;
                if w.waiters == 0 {
                    gone.push(*b);
                }
            }
        }
        for b in gone {
            self.blocks.remove(&b);
        }
    }

    /// The core was truncated to `length`: wants at or beyond it are void; whether any were.
    fn truncated(&mut self, length: u64) -> bool {
        let mut gone = Vec::new();
        for (b, w) in self.blocks.range_mut(length..) {
            if w.prefetch {
                w.prefetch = false;
                self.prefetched -= 1;
            }
            if w.waiters == 0 {
                gone.push(*b);
            } else {
                w.truncated = true;
            }
        }
        let changed = !gone.is_empty() || self.blocks.range(length..).next().is_some();
        for b in gone {
            self.blocks.remove(&b);
        }
        changed
    }
}

/// While one of these lives, [`SharedCore::update`] waits for a peer to show up (JS
/// `core.findingPeers()`): take it before dialling, drop it once the connections are up.
#[must_use = "update() waits for peers only while this lives"]
pub struct FindingPeers<S> {
    core: SharedCore<S>,
}

impl<S> Drop for FindingPeers<S> {
    fn drop(&mut self) {
        self.core.inner.finding_peers.fetch_sub(1, Ordering::AcqRel);
        self.core.bump();
    }
}

/// A `fetch` waiting for its block (unregisters on drop, cancelling the want if it was the
/// last waiter).
struct Waiter<'a, S> {
    core: &'a SharedCore<S>,
    index: u64,
    serial: u64,
}

impl<S> Drop for Waiter<'_, S> {
    fn drop(&mut self) {
        if lock(&self.core.inner.wants).unwait(self.index, self.serial) {
            self.core.wants_changed();
        }
    }
}

/// Which connections find the download intent satisfied.
#[derive(Debug, Default)]
struct Done {
    connections: HashMap<u64, bool>,
    /// A connection that ended had found the current intent satisfied.
    satisfied_by_ended: bool,
}

impl Done {
    fn reset(&mut self) {
        self.connections.values_mut().for_each(|d| *d = false);
        self.satisfied_by_ended = false;
    }

    fn satisfied(&self) -> bool {
        if self.connections.is_empty() {
            self.satisfied_by_ended
        } else {
            self.connections.values().all(|d| *d)
        }
    }
}

/// A core shared between the application and its connections. Cheap to clone.
pub struct SharedCore<S> {
    inner: Arc<CoreInner<S>>,
    set: std::sync::Weak<SetInner<S>>,
}

impl<S> Clone for SharedCore<S> {
    fn clone(&self) -> Self {
        SharedCore { inner: self.inner.clone(), set: self.set.clone() }
    }
}

impl<S: Storage> SharedCore<S> {
    /// The core key.
    pub fn key(&self) -> Hash {
        self.inner.key
    }

    /// The discovery key (the channel id on the wire).
    pub fn discovery_key(&self) -> Hash {
        self.inner.discovery_key
    }

    /// Exclusive access to the core. Changes made through it are not announced to peers;
    /// use the methods of this type (or [`SharedCore::notify`]) for that.
    pub async fn lock(&self) -> MutexGuard<'_, Hypercore<S>> {
        self.inner.core.lock().await
    }

    /// Runs `f` on the core. Changes made here are not announced (see [`SharedCore::notify`]).
    pub async fn with<R>(&self, f: impl FnOnce(&mut Hypercore<S>) -> R) -> R {
        f(&mut *self.lock().await)
    }

    /// Appends one block and announces it to every peer.
    pub async fn append(&self, block: &[u8]) -> Result<u64, HypercoreError> {
        self.append_batch(&[block]).await
    }

    /// Appends blocks atomically and announces them.
    pub async fn append_batch<B: AsRef<[u8]>>(&self, blocks: &[B]) -> Result<u64, HypercoreError> {
        let mut core = self.lock().await;
        let length = core.append_batch(blocks).await?;
        drop(core);
        self.notify(LocalChange::Appended { length }, 0);
        Ok(length)
    }

    /// Truncates (bumping the fork) and announces it.
    pub async fn truncate(&self, length: u64) -> Result<(), HypercoreError> {
        let mut core = self.lock().await;
        core.truncate(length, None).await?;
        let fork = core.fork();
        drop(core);
        self.notify(LocalChange::Truncated { length, fork }, 0);
        Ok(())
    }

    /// Drops the local data of `start..end` and announces it.
    pub async fn clear(&self, start: u64, end: u64) -> Result<(), HypercoreError> {
        self.lock().await.clear(start, end).await?;
        self.notify(LocalChange::Cleared { start, end }, 0);
        Ok(())
    }

    /// A locally stored block (no network wait).
    pub async fn get(&self, index: u64) -> Result<Option<Vec<u8>>, HypercoreError> {
        self.lock().await.get(index).await
    }

    /// Length, fork, what is stored.
    pub async fn info(&self) -> Info {
        self.lock().await.info()
    }

    /// Sets what every connection should download (`end: None` = everything, live).
    pub fn download(&self, range: DownloadRange) {
        *lock(&self.inner.intent) = Some(range);
        lock(&self.inner.done).reset();
        self.bump();
        if let Some(set) = self.set.upgrade() {
            set.broadcast(SetEvent::Download(self.inner.discovery_key));
        }
    }

    /// The current download intent.
    pub fn download_intent(&self) -> Option<DownloadRange> {
        *lock(&self.inner.intent)
    }

    /// Asks peers (connected now or later) for these blocks, beside the download intent,
    /// without waiting (JS `core.download({ blocks })`, what hyperbee's `TreeNode.preload`
    /// does). Blocks stored locally are skipped. A wanted block is forgotten when it arrives,
    /// when the core is truncated below it, or when more than [`MAX_PREFETCH_WANTS`] are
    /// wanted (the oldest go); [`SharedCore::fetch`] of one keeps it wanted while it waits.
    pub fn request_blocks(&self, blocks: &[u64]) {
        let local = self.inner.core.try_lock();
        let mut wants = lock(&self.inner.wants);
        let mut changed = false;
        for &b in blocks {
            if b >= super::MAX_LENGTH || local.as_ref().is_some_and(|core| core.has(b)) {
                continue;
            }
            changed |= wants.prefetch(b);
        }
        changed |= wants.evict();
        drop(wants);
        drop(local);
        if changed {
            self.wants_changed();
        }
    }

    /// Block `index`: from local storage, or downloaded from peers (connected now or later)
    /// and stored, waiting as long as it takes (JS `core.get(index)` with `wait`). `Ok(None)`
    /// if the core is truncated below `index` meanwhile. A fetch that is dropped before it
    /// finished withdraws its want (the request is cancelled unless another fetch or
    /// [`SharedCore::request_blocks`] still wants the block).
    ///
    /// The block is the one at `index` on the core's fork when it arrives; a caller pinned to
    /// a fork (a bee reader) checks the fork afterwards.
    pub async fn fetch(&self, index: u64) -> Result<Option<Vec<u8>>, HypercoreError> {
        if index >= super::MAX_LENGTH {
            return Ok(None); // no core gets this long (JS lengths are below 2^53)
        }
        let mut seen = self.inner.version.load(Ordering::Acquire);
        let fork = {
            let core = self.lock().await;
            if core.has(index) {
                return core.get(index).await;
            }
            core.fork()
        };
        let (serial, changed) = lock(&self.inner.wants).wait(index);
        let waiter = Waiter { core: self, index, serial };
        if changed {
            self.wants_changed();
        }
        loop {
            seen = self.changed(seen).await;
            let core = self.lock().await;
            if core.has(index) {
                return core.get(index).await;
            }
            let cut = core.fork() != fork && index >= core.length();
            drop(core);
            if cut || !lock(&self.inner.wants).live(index, waiter.serial) {
                return Ok(None);
            }
        }
    }

    /// Whether a [`SharedCore::fetch`] or [`SharedCore::request_blocks`] wants `index`.
    pub fn is_wanted(&self, index: u64) -> bool {
        lock(&self.inner.wants).blocks.get(&index).is_some_and(|w| !w.truncated)
    }

    /// How many blocks are wanted (fetches and prefetches; for tests and diagnostics).
    pub fn wanted_count(&self) -> usize {
        lock(&self.inner.wants).blocks.values().filter(|w| !w.truncated).count()
    }

    /// Waits until the core is as long as every connected peer of it that can prove its
    /// length (JS `core.update()`), and returns the length. With no peer it returns at once,
    /// unless a [`FindingPeers`] handle lives: then it waits for a peer (or for the handles to
    /// go). Upgrades follow [`ReplicatorOptions::eager_upgrade`](super::ReplicatorOptions)
    /// (on by default) or the blocks wanted beyond the length.
    pub async fn update(&self) -> u64 {
        let mut seen = 0;
        loop {
            let ready = {
                let flags = lock(&self.inner.caught_up);
                if flags.is_empty() {
                    self.inner.finding_peers.load(Ordering::Acquire) == 0
                } else {
                    flags.values().all(|c| *c)
                }
            };
            if ready {
                return self.lock().await.length();
            }
            seen = self.changed(seen).await;
        }
    }

    /// Makes [`SharedCore::update`] wait for peers while the handle lives (JS
    /// `core.findingPeers()`).
    pub fn finding_peers(&self) -> FindingPeers<S> {
        self.inner.finding_peers.fetch_add(1, Ordering::AcqRel);
        self.bump();
        FindingPeers { core: self.clone() }
    }

    /// Resolves once the download intent is satisfied on every connection with peers of
    /// this core (all wanted blocks local, and for a whole-core intent: as long as every
    /// synced peer that can prove it). A live intent resolves each time it catches up.
    pub async fn downloaded(&self) {
        let mut seen = 0;
        loop {
            if lock(&self.inner.done).satisfied() {
                return;
            }
            seen = self.changed(seen).await;
        }
    }

    /// Resolves with the new version once the core changed after `seen_version` (pass 0
    /// the first time to get the current version at once).
    pub fn changed(&self, seen_version: u64) -> impl Future<Output = u64> + '_ {
        futures::future::poll_fn(move |cx| {
            let now = self.inner.version.load(Ordering::Acquire);
            if now > seen_version {
                return Poll::Ready(now);
            }
            let mut waiters = lock(&self.inner.waiters);
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            drop(waiters);
            // Re-check: a change may have landed between the load and the push.
            let now = self.inner.version.load(Ordering::Acquire);
            if now > seen_version {
                Poll::Ready(now)
            } else {
                Poll::Pending
            }
        })
    }

    /// The core's fork as last announced (through [`SharedCore::truncate`], a reorg by a
    /// connection, or [`SharedCore::notify`]); no lock taken.
    pub fn announced_fork(&self) -> u64 {
        self.inner.fork.load(Ordering::Acquire)
    }

    /// Announces a change made through [`SharedCore::lock`] (by the application, origin 0,
    /// or by connection `origin`).
    pub fn notify(&self, change: LocalChange, origin: u64) {
        let wants_changed = match change {
            LocalChange::Downloaded { start, end } => {
                lock(&self.inner.wants).arrived(start, end);
                false
            }
            LocalChange::Truncated { length, fork } => {
                self.inner.fork.fetch_max(fork, Ordering::AcqRel);
                lock(&self.inner.wants).truncated(length)
            }
            LocalChange::Appended { .. } | LocalChange::Cleared { .. } => false,
        };
        self.bump();
        if let Some(set) = self.set.upgrade() {
            set.broadcast(SetEvent::Changed { discovery_key: self.inner.discovery_key, change, origin });
            if wants_changed {
                set.broadcast(SetEvent::Wants(self.inner.discovery_key));
            }
        }
    }

    /// Records whether connection `connection` finds the intent satisfied.
    pub(crate) fn set_done(&self, connection: u64, done: bool) {
        let mut flags = lock(&self.inner.done);
        if flags.connections.insert(connection, done) != Some(done) {
            drop(flags);
            self.bump();
        }
    }

    /// Records whether connection `connection`'s peers of this core are no longer than the
    /// core (`None`: it has no peers of it, so no say in [`SharedCore::update`]).
    pub(crate) fn set_caught_up(&self, connection: u64, caught_up: Option<bool>) {
        let mut flags = lock(&self.inner.caught_up);
        let before = match caught_up {
            Some(c) => flags.insert(connection, c),
            None => flags.remove(&connection),
        };
        if before != caught_up {
            drop(flags);
            self.bump();
        }
    }

    /// Connection `connection` ended: it no longer has a say in `downloaded()`.
    pub(crate) fn forget_connection(&self, connection: u64) {
        self.set_caught_up(connection, None);
        let mut flags = lock(&self.inner.done);
        if let Some(done) = flags.connections.remove(&connection) {
            // An ended connection that was satisfied keeps the intent satisfied (until it
            // changes) when no other connection has a say.
            flags.satisfied_by_ended |= done;
            drop(flags);
            self.bump();
        }
    }

    /// The blocks connections should download for the want set (truncated wants left out),
    /// in order.
    pub(crate) fn wanted_blocks(&self) -> Vec<u64> {
        lock(&self.inner.wants).blocks.iter().filter(|(_, w)| !w.truncated).map(|(b, _)| *b).collect()
    }

    /// Forgets prefetch wants for blocks `core` holds (they came some other way).
    pub(crate) fn drop_local_wants(&self, core: &Hypercore<S>) {
        let mut wants = lock(&self.inner.wants);
        let local: Vec<u64> = wants.blocks.keys().copied().filter(|b| core.has(*b)).collect();
        for b in local {
            wants.arrived(b, b + 1);
        }
    }
}

impl<S> SharedCore<S> {
    fn wants_changed(&self) {
        if let Some(set) = self.set.upgrade() {
            set.broadcast(SetEvent::Wants(self.inner.discovery_key));
        }
    }

    fn bump(&self) {
        self.inner.version.fetch_add(1, Ordering::AcqRel);
        for waker in lock(&self.inner.waiters).drain(..) {
            waker.wake();
        }
    }
}
