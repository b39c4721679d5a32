//! STAND-IN for the lead's `CoreSet` / `SharedCore` / `DownloadRange` (the connection contract at
//! the end of `docs/replication.md`), holding only the part of that API the CLI calls, with the
//! same names and signatures (specialised to `FileStorage`). Nothing replicates yet: a core
//! changes only through [`SharedCore::with`].
//!
//! WIRING: replace this file's body with re-exports, e.g.
//! `pub use hyperwasm::replicator::DownloadRange;`
//! `pub type CoreSet = hyperwasm::replicator::CoreSet<FileStorage>;`
//! `pub type SharedCore = hyperwasm::replicator::SharedCore<FileStorage>;`
//! — the commands only use what the contract promises.

use crate::core_dir::Core;
use hyperwasm::core::{HypercoreError, Info};
use hyperwasm::crypto::Hash;
use std::sync::{Arc, PoisonError};
use tokio::sync::{watch, Mutex};

/// What to download: blocks `start..end`, or with `end: None` everything from `start` on,
/// following appends (live).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadRange {
    /// First block.
    pub start: u64,
    /// End (exclusive); `None`: live.
    pub end: Option<u64>,
}

/// Cores shared by every connection of the process: cheap to clone.
#[derive(Clone, Default)]
pub struct CoreSet {
    cores: Arc<std::sync::Mutex<Vec<SharedCore>>>,
}

impl CoreSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a core; channels for it would open on every connection.
    pub fn insert(&self, core: Core) -> SharedCore {
        let shared = SharedCore {
            inner: Arc::new(Shared {
                key: *core.key(),
                discovery_key: *core.discovery_key(),
                core: Mutex::new(core),
                version: watch::Sender::new(0),
                wanted: std::sync::Mutex::new(None),
            }),
        };
        self.cores.lock().unwrap_or_else(PoisonError::into_inner).push(shared.clone());
        shared
    }

    /// The core with this discovery key.
    pub fn get(&self, discovery_key: &Hash) -> Option<SharedCore> {
        let cores = self.cores.lock().unwrap_or_else(PoisonError::into_inner);
        cores.iter().find(|c| &c.inner.discovery_key == discovery_key).cloned()
    }
}

struct Shared {
    key: Hash,
    discovery_key: Hash,
    core: Mutex<Core>,
    version: watch::Sender<u64>,
    wanted: std::sync::Mutex<Option<DownloadRange>>,
}

/// A core shared between the app and its connections: cheap to clone.
#[derive(Clone)]
pub struct SharedCore {
    inner: Arc<Shared>,
}

impl SharedCore {
    /// Reads a local block (never waits for the network).
    pub async fn get(&self, index: u64) -> Result<Option<Vec<u8>>, HypercoreError> {
        self.inner.core.lock().await.get(index).await
    }

    /// State summary.
    pub async fn info(&self) -> Info {
        self.inner.core.lock().await.info()
    }

    /// Core key.
    pub fn key(&self) -> Hash {
        self.inner.key
    }

    /// Discovery key.
    pub fn discovery_key(&self) -> Hash {
        self.inner.discovery_key
    }

    /// Sets the download intent shared by all connections.
    pub fn download(&self, range: DownloadRange) {
        *self.inner.wanted.lock().unwrap_or_else(PoisonError::into_inner) = Some(range);
        self.inner.version.send_modify(|v| *v += 1);
    }

    /// Resolves when the download intent is satisfied — never for a live one.
    pub async fn downloaded(&self) {
        let mut seen = 0;
        loop {
            let wanted = *self.inner.wanted.lock().unwrap_or_else(PoisonError::into_inner);
            let done = match wanted {
                None => true,
                Some(DownloadRange { end: None, .. }) => false,
                Some(DownloadRange { start, end: Some(end) }) => {
                    self.inner.core.lock().await.has_range(start, end)
                }
            };
            if done {
                return;
            }
            seen = self.changed(seen).await;
        }
    }

    /// Resolves with the new version once the core changed after `seen_version`.
    pub async fn changed(&self, seen_version: u64) -> u64 {
        let mut rx = self.inner.version.subscribe();
        loop {
            let now = *rx.borrow_and_update();
            if now > seen_version {
                return now;
            }
            if rx.changed().await.is_err() {
                return now;
            }
        }
    }

    /// Runs `f` on the core (the escape hatch; the CLI only reads through it).
    pub async fn with<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        f(&mut *self.inner.core.lock().await)
    }
}
