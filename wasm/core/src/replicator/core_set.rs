//! The cores a process replicates (corestore's role in JS): shared by the application and
//! every connection. Each [`SharedCore`] wraps one [`Hypercore`] behind an async mutex and
//! tells the connections what changed, so a local append reaches every peer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
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
}

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
        let shared = SharedCore {
            inner: Arc::new(CoreInner {
                key: *core.key(),
                discovery_key,
                core: Mutex::new(core),
                version: AtomicU64::new(1),
                waiters: SyncMutex::new(Vec::new()),
                intent: SyncMutex::new(None),
                done: SyncMutex::new(Done::default()),
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

    /// Announces a change made through [`SharedCore::lock`] (by the application, origin 0,
    /// or by connection `origin`).
    pub fn notify(&self, change: LocalChange, origin: u64) {
        self.bump();
        if let Some(set) = self.set.upgrade() {
            set.broadcast(SetEvent::Changed { discovery_key: self.inner.discovery_key, change, origin });
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

    /// Connection `connection` ended: it no longer has a say in `downloaded()`.
    pub(crate) fn forget_connection(&self, connection: u64) {
        let mut flags = lock(&self.inner.done);
        if let Some(done) = flags.connections.remove(&connection) {
            // An ended connection that was satisfied keeps the intent satisfied (until it
            // changes) when no other connection has a say.
            flags.satisfied_by_ended |= done;
            drop(flags);
            self.bump();
        }
    }

    fn bump(&self) {
        self.inner.version.fetch_add(1, Ordering::AcqRel);
        for waker in lock(&self.inner.waiters).drain(..) {
            waker.wake();
        }
    }
}
