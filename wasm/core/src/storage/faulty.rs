//! [`FaultyStorage`]: a decorator that injects failures into any [`Storage`], for tests.
//!
//! It can fail a chosen write cleanly (nothing applied), "crash" a chosen write after applying
//! only a prefix of its operations (simulating a backend that breaks batch atomicity, so upper
//! layers can check they detect it), fail reads, and flip a byte of a stored value to exercise
//! corruption detection.

use super::{Entry, Scan, Storage, StorageError, WriteBatch};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
struct FaultState {
    /// Writes seen so far.
    writes: u64,
    /// Fail the write with this sequence number, applying nothing.
    fail_at: Option<u64>,
    /// Fail the write with this sequence number after applying this many of its ops.
    crash_at: Option<(u64, usize)>,
    /// Fail every read.
    fail_reads: bool,
}

/// Wraps a backend and injects faults on request. Clones share the fault settings.
#[derive(Debug, Clone)]
pub struct FaultyStorage<S> {
    inner: S,
    state: Arc<Mutex<FaultState>>,
}

impl<S: Storage> FaultyStorage<S> {
    /// Wraps `inner` with no faults armed.
    pub fn new(inner: S) -> Self {
        FaultyStorage { inner, state: Arc::default() }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the backend.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn state(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many writes were attempted through this decorator.
    pub fn writes(&self) -> u64 {
        self.state().writes
    }

    /// Makes the `n`-th write from now (0 = the next one) fail with [`StorageError::Io`],
    /// applying nothing.
    pub fn fail_write(&self, n: u64) {
        let mut st = self.state();
        st.fail_at = Some(st.writes + n);
    }

    /// Makes the `n`-th write from now apply only its first `applied_ops` operations and then
    /// fail with [`StorageError::Io`], like a non-atomic backend crashing mid-batch.
    pub fn crash_write(&self, n: u64, applied_ops: usize) {
        let mut st = self.state();
        st.crash_at = Some((st.writes + n, applied_ops));
    }

    /// Makes every read fail with [`StorageError::Io`] (or stop failing).
    pub fn fail_reads(&self, on: bool) {
        self.state().fail_reads = on;
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        let mut st = self.state();
        st.fail_at = None;
        st.crash_at = None;
        st.fail_reads = false;
    }

    /// Flips every bit of the byte at `at` (modulo the value length) of the value stored at
    /// `key`, bypassing all faults. Returns whether a byte was flipped (false if the key is
    /// absent or its value empty).
    pub async fn corrupt(&self, key: Vec<u8>, at: usize) -> Result<bool, StorageError> {
        let Some(mut value) = self.inner.get(key.clone()).await? else { return Ok(false) };
        if value.is_empty() {
            return Ok(false);
        }
        let i = at % value.len();
        if let Some(b) = value.get_mut(i) {
            *b ^= 0xff;
        }
        let mut batch = WriteBatch::new();
        batch.put(key, value);
        self.inner.write(batch).await?;
        Ok(true)
    }

    fn check_read(&self) -> Result<(), StorageError> {
        if self.state().fail_reads {
            return Err(StorageError::Io("injected read failure".into()));
        }
        Ok(())
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    fn block_pack_bytes(&self) -> usize {
        self.inner.block_pack_bytes()
    }

    async fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        self.check_read()?;
        self.inner.get_many(keys).await
    }

    async fn scan(&self, scan: Scan) -> Result<Vec<Entry>, StorageError> {
        self.check_read()?;
        self.inner.scan(scan).await
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let (fail, crash) = {
            let mut st = self.state();
            let seq = st.writes;
            st.writes += 1;
            let fail = st.fail_at == Some(seq);
            let crash = match st.crash_at {
                Some((at, n)) if at == seq => Some(n),
                _ => None,
            };
            (fail, crash)
        };
        if fail {
            return Err(StorageError::Io("injected write failure".into()));
        }
        if let Some(n) = crash {
            let prefix = WriteBatch { ops: batch.ops.into_iter().take(n).collect() };
            self.inner.write(prefix).await?;
            return Err(StorageError::Io("injected crash mid-batch".into()));
        }
        self.inner.write(batch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use futures::executor::block_on;

    #[test]
    fn passes_conformance_when_unarmed() {
        block_on(crate::storage::conformance::run_all(|| async { FaultyStorage::new(MemoryStorage::new()) }));
    }

    #[test]
    fn faults() {
        let f = FaultyStorage::new(MemoryStorage::new());
        let mut b = WriteBatch::new();
        b.put(vec![1], vec![1, 2, 3]).put(vec![2], vec![2]);
        f.fail_write(0);
        assert!(matches!(block_on(f.write(b.clone())), Err(StorageError::Io(_))));
        assert!(f.inner().is_empty());
        f.crash_write(0, 1);
        assert!(block_on(f.write(b.clone())).is_err());
        assert_eq!(f.inner().len(), 1);
        block_on(f.write(b)).unwrap();
        assert_eq!(f.writes(), 3);
        assert!(block_on(f.corrupt(vec![1], 1)).unwrap());
        assert_eq!(block_on(f.get(vec![1])).unwrap(), Some(vec![1, 0xfd, 3]));
        assert!(!block_on(f.corrupt(vec![9], 0)).unwrap());
        f.fail_reads(true);
        assert!(block_on(f.get(vec![1])).is_err());
        f.clear_faults();
        assert!(block_on(f.get(vec![1])).is_ok());
    }
}
