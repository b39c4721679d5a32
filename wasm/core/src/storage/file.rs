//! [`FileStorage`]: a native, append-only log-file [`Storage`] (not available on wasm32).
//!
//! # Format
//!
//! The file is a sequence of records, one per [`WriteBatch`]:
//! `[u32 LE payload length][u32 LE crc32 of payload][payload]`. The payload is the batch's
//! operations in order, each a tag byte (`0` put, `1` delete, `2` delete-range) followed by
//! compact-encoding buffers (`key, value` / `key` / `start, end`).
//!
//! On open the log is replayed into an in-memory index `key → (offset, len)`; values stay on
//! disk and are read on demand. A damaged **final** record (short, or failing its checksum) is
//! what a crash during a write leaves behind: it is cut off and reported through
//! [`FileStorage::recovered_torn_tail`]. A damaged record anywhere else is
//! [`StorageError::Corrupt`].
//!
//! # Durability
//!
//! Each batch is written with a single `write_all` of the whole record, so a batch is atomic:
//! after any crash it is either replayed completely or recognised as a torn tail and dropped.
//! [`Durability::Flush`] (the default) returns once the record is handed to the operating
//! system: it survives a crash of this process but not a power loss or kernel crash.
//! [`Durability::Sync`] also calls `sync_data` after every batch, which survives power loss
//! at the cost of one disk flush (often milliseconds) per write.
//!
//! # Compaction
//!
//! Overwritten and deleted values stay in the log as dead bytes. When dead bytes exceed both
//! half of the file and [`FileOptions::compact_min_dead_bytes`] (4 MiB by default), the live
//! entries are rewritten into `<file>.compact`, synced, and renamed over the log atomically.
//! This runs on open and after writes.
//!
//! # Concurrency
//!
//! One process may open a given file at a time; there is no file lock. Within the process,
//! operations are serialised by a mutex and performed synchronously (the futures complete
//! immediately), so async callers on a multi-threaded runtime may prefer `spawn_blocking`.

use super::memory::{remove_range, scan_map};
use super::{Entry, Scan, Storage, StorageError, WriteBatch, WriteOp};
use crate::encoding::{put_buffer, DecodeError, Decoder};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Bytes of a record header: payload length and crc32.
const HEADER_LEN: u64 = 8;
/// Payload size at which compaction starts a new record.
const COMPACT_RECORD_BYTES: usize = 1 << 20;

const TAG_PUT: u8 = 0;
const TAG_DELETE: u8 = 1;
const TAG_DELETE_RANGE: u8 = 2;

/// How far a write is pushed before [`Storage::write`] returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Hand the record to the OS (survives a process crash, not a power loss). Fast.
    #[default]
    Flush,
    /// `sync_data` after every batch (survives power loss). One disk flush per write.
    Sync,
}

/// Options for [`FileStorage::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOptions {
    /// Durability of each write.
    pub durability: Durability,
    /// Compact only when at least this many bytes are dead (and dead bytes exceed half the file).
    pub compact_min_dead_bytes: u64,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions { durability: Durability::Flush, compact_min_dead_bytes: 4 << 20 }
    }
}

/// Location of a live value in the log file.
#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: u64,
    len: u64,
}

struct Inner {
    file: File,
    /// Bytes of valid log (the write position).
    len: u64,
    index: BTreeMap<Vec<u8>, Slot>,
    /// Approximate bytes the live entries need in a compacted log.
    live_bytes: u64,
    poisoned: bool,
    #[cfg(test)]
    fail_next_write: bool,
}

/// An append-only log file implementing [`Storage`]; see the module docs for format and
/// guarantees.
pub struct FileStorage {
    path: PathBuf,
    options: FileOptions,
    recovered_torn_tail: bool,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for FileStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStorage").field("path", &self.path).field("options", &self.options).finish()
    }
}

fn io(context: &str, e: std::io::Error) -> StorageError {
    StorageError::Io(format!("{context}: {e}"))
}

fn entry_cost(key_len: usize, value_len: u64) -> u64 {
    key_len as u64 + value_len + 10
}

/// Fsyncs the directory holding `path`, so a create or rename is durable (best effort).
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn apply_put(index: &mut BTreeMap<Vec<u8>, Slot>, live: &mut u64, key: Vec<u8>, slot: Slot) {
    *live += entry_cost(key.len(), slot.len);
    if let Some(old) = index.insert(key, slot) {
        *live = live.saturating_sub(entry_cost(0, old.len));
    }
}

fn apply_delete(index: &mut BTreeMap<Vec<u8>, Slot>, live: &mut u64, key: &[u8]) {
    if let Some(old) = index.remove(key) {
        *live = live.saturating_sub(entry_cost(key.len(), old.len));
    }
}

fn apply_delete_range(index: &mut BTreeMap<Vec<u8>, Slot>, live: &mut u64, start: &[u8], end: &[u8]) {
    for (key, old) in remove_range(index, start, end) {
        *live = live.saturating_sub(entry_cost(key.len(), old.len));
    }
}

/// Applies one encoded payload, written at `payload_offset`, to `index`.
fn replay_payload(
    payload: &[u8],
    payload_offset: u64,
    index: &mut BTreeMap<Vec<u8>, Slot>,
    live: &mut u64,
) -> Result<(), DecodeError> {
    let mut dec = Decoder::new(payload);
    while !dec.is_empty() {
        match dec.u8()? {
            TAG_PUT => {
                let key = dec.buffer()?.to_vec();
                let value = dec.buffer()?;
                let len = value.len() as u64;
                let offset = payload_offset + dec.position() as u64 - len;
                apply_put(index, live, key, Slot { offset, len });
            }
            TAG_DELETE => {
                let key = dec.buffer()?;
                apply_delete(index, live, key);
            }
            TAG_DELETE_RANGE => {
                let start = dec.buffer()?;
                let end = dec.buffer()?;
                apply_delete_range(index, live, start, end);
            }
            tag => return Err(DecodeError::invalid("log op", format!("unknown tag {tag}"))),
        }
    }
    Ok(())
}

/// Frames `payload` as a record.
fn frame(payload: &[u8]) -> Result<Vec<u8>, StorageError> {
    let len = u32::try_from(payload.len())
        .map_err(|_| StorageError::Io(format!("batch of {} bytes exceeds 4 GiB", payload.len())))?;
    let mut record = Vec::with_capacity(payload.len() + HEADER_LEN as usize);
    record.extend_from_slice(&len.to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    record.extend_from_slice(payload);
    Ok(record)
}

/// An index change of a batch being written, applied once the record is in the file.
enum Applied {
    Put(Vec<u8>, Slot),
    Delete(Vec<u8>),
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// Encodes `batch` as one framed record (header included) to be written at `start`, and the
/// index changes it makes. Keys and values are moved or copied once, straight into the record.
fn encode_record(batch: WriteBatch, start: u64) -> Result<(Vec<u8>, Vec<Applied>), StorageError> {
    let size: usize = batch
        .ops
        .iter()
        .map(|op| match op {
            WriteOp::Put { key, value } => key.len() + value.len() + 19,
            WriteOp::Delete { key } => key.len() + 10,
            WriteOp::DeleteRange { start, end } => start.len() + end.len() + 19,
        })
        .sum();
    let mut record = Vec::with_capacity(HEADER_LEN as usize + size);
    record.extend_from_slice(&[0u8; HEADER_LEN as usize]);
    let mut applied = Vec::with_capacity(batch.ops.len());
    for op in batch.ops {
        match op {
            WriteOp::Put { key, value } => {
                record.push(TAG_PUT);
                put_buffer(&mut record, &key);
                put_buffer(&mut record, &value);
                let len = value.len() as u64;
                applied.push(Applied::Put(key, Slot { offset: start + record.len() as u64 - len, len }));
            }
            WriteOp::Delete { key } => {
                record.push(TAG_DELETE);
                put_buffer(&mut record, &key);
                applied.push(Applied::Delete(key));
            }
            WriteOp::DeleteRange { start, end } => {
                record.push(TAG_DELETE_RANGE);
                put_buffer(&mut record, &start);
                put_buffer(&mut record, &end);
                applied.push(Applied::DeleteRange(start, end));
            }
        }
    }
    let (header, payload) = record.split_at_mut(HEADER_LEN as usize);
    let len = u32::try_from(payload.len())
        .map_err(|_| StorageError::Io(format!("batch of {} bytes exceeds 4 GiB", payload.len())))?;
    header[..4].copy_from_slice(&len.to_le_bytes());
    header[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    Ok((record, applied))
}

/// Result of replaying a log.
struct Replayed {
    index: BTreeMap<Vec<u8>, Slot>,
    live: u64,
    valid_len: u64,
    torn: bool,
}

fn replay(file: &mut File) -> Result<Replayed, StorageError> {
    let file_len = file.metadata().map_err(|e| io("stat log", e))?.len();
    file.seek(SeekFrom::Start(0)).map_err(|e| io("seek log", e))?;
    let mut reader = BufReader::with_capacity(1 << 16, &mut *file);
    let mut index = BTreeMap::new();
    let mut live = 0;
    let mut pos = 0u64;
    let mut torn = false;
    while pos < file_len {
        let remaining = file_len - pos;
        if remaining < HEADER_LEN {
            torn = true;
            break;
        }
        let mut header = [0u8; 8];
        reader.read_exact(&mut header).map_err(|e| io("read log", e))?;
        let [a, b, c, d, e, f, g, h] = header;
        let len = u64::from(u32::from_le_bytes([a, b, c, d]));
        let crc = u32::from_le_bytes([e, f, g, h]);
        // Empty batches are never written, so a zero length is a zeroed (torn) header: its
        // crc, crc32("") = 0, would otherwise make it look valid.
        if len == 0 || len > remaining - HEADER_LEN {
            torn = true;
            break;
        }
        let mut payload = vec![0u8; len as usize];
        reader.read_exact(&mut payload).map_err(|e| io("read log", e))?;
        let end = pos + HEADER_LEN + len;
        if crc32fast::hash(&payload) != crc {
            if end == file_len {
                torn = true;
                break;
            }
            return Err(StorageError::Corrupt(format!("log record at offset {pos} fails its checksum")));
        }
        replay_payload(&payload, pos + HEADER_LEN, &mut index, &mut live)
            .map_err(|e| StorageError::Corrupt(format!("log record at offset {pos}: {e}")))?;
        pos = end;
    }
    Ok(Replayed { index, live, valid_len: pos, torn })
}

fn read_at(file: &mut File, slot: Slot) -> Result<Vec<u8>, StorageError> {
    let len = usize::try_from(slot.len).map_err(|_| StorageError::Io("value too large".into()))?;
    let mut buf = vec![0u8; len];
    // One `pread` where available (no seek syscall, no shared file position).
    #[cfg(unix)]
    let read = std::os::unix::fs::FileExt::read_exact_at(&*file, &mut buf, slot.offset);
    #[cfg(not(unix))]
    let read = file.seek(SeekFrom::Start(slot.offset)).and_then(|_| file.read_exact(&mut buf));
    read.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            StorageError::Corrupt(format!("log ends inside the value at offset {}", slot.offset))
        }
        _ => io("read value", e),
    })?;
    Ok(buf)
}

impl FileStorage {
    /// Opens (creating if needed) the log at `path` with default [`FileOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(path, FileOptions::default())
    }

    /// Opens (creating if needed) the log at `path`, replaying it and cutting off a torn tail.
    pub fn open_with(path: impl AsRef<Path>, options: FileOptions) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("open log", e))?;
        if !existed {
            sync_dir(&path);
        }
        let Replayed { index, live, valid_len, torn } = replay(&mut file)?;
        if torn {
            file.set_len(valid_len).map_err(|e| io("truncate torn tail", e))?;
            file.sync_data().map_err(|e| io("sync log", e))?;
        }
        let inner = Inner {
            file,
            len: valid_len,
            index,
            live_bytes: live,
            poisoned: false,
            #[cfg(test)]
            fail_next_write: false,
        };
        let storage = FileStorage { path, options, recovered_torn_tail: torn, inner: Mutex::new(inner) };
        {
            let mut inner = storage.lock();
            storage.maybe_compact(&mut inner);
        }
        Ok(storage)
    }

    /// Whether opening found and cut off a damaged final record (an interrupted write).
    pub fn recovered_torn_tail(&self) -> bool {
        self.recovered_torn_tail
    }

    /// Whether an earlier failed write has poisoned this handle.
    pub fn is_poisoned(&self) -> bool {
        self.lock().poisoned
    }

    /// Current size of the log file in bytes.
    pub fn file_len(&self) -> u64 {
        self.lock().len
    }

    /// The path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rewrites the live entries into a fresh log now, regardless of thresholds.
    pub fn compact(&self) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if inner.poisoned {
            return Err(StorageError::Poisoned);
        }
        self.compact_locked(&mut inner)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn maybe_compact(&self, inner: &mut Inner) {
        let dead = inner.len.saturating_sub(inner.live_bytes);
        if dead > inner.len / 2 && dead > self.options.compact_min_dead_bytes {
            // A failure before the rename leaves the old log intact; one after it poisons.
            let _ = self.compact_locked(inner);
        }
    }

    fn compact_locked(&self, inner: &mut Inner) -> Result<(), StorageError> {
        let mut tmp_name = self.path.clone().into_os_string();
        tmp_name.push(".compact");
        let tmp_path = PathBuf::from(tmp_name);
        let result = self.write_compacted(inner, &tmp_path);
        let (index, len, live) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_path);
                return Err(e);
            }
        };
        if let Err(e) = std::fs::rename(&tmp_path, &self.path) {
            let _ = std::fs::remove_file(&tmp_path);
            return Err(io("rename compacted log", e));
        }
        sync_dir(&self.path);
        match OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(file) => {
                inner.file = file;
                inner.index = index;
                inner.len = len;
                inner.live_bytes = live;
                Ok(())
            }
            Err(e) => {
                inner.poisoned = true;
                Err(io("reopen compacted log", e))
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn write_compacted(
        &self,
        inner: &mut Inner,
        tmp_path: &Path,
    ) -> Result<(BTreeMap<Vec<u8>, Slot>, u64, u64), StorageError> {
        let mut out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp_path)
            .map_err(|e| io("create compacted log", e))?;
        let mut index = BTreeMap::new();
        let mut live = 0;
        let mut len = 0u64;
        let mut payload = Vec::new();
        let mut pending: Vec<(Vec<u8>, u64, u64)> = Vec::new();
        let entries: Vec<(Vec<u8>, Slot)> = inner.index.iter().map(|(k, s)| (k.clone(), *s)).collect();
        let mut flush = |payload: &mut Vec<u8>,
                         pending: &mut Vec<(Vec<u8>, u64, u64)>,
                         len: &mut u64|
         -> Result<(), StorageError> {
            if payload.is_empty() {
                return Ok(());
            }
            let record = frame(payload)?;
            out.write_all(&record).map_err(|e| io("write compacted log", e))?;
            for (key, rel, vlen) in pending.drain(..) {
                live += entry_cost(key.len(), vlen);
                index.insert(key, Slot { offset: *len + HEADER_LEN + rel, len: vlen });
            }
            *len += record.len() as u64;
            payload.clear();
            Ok(())
        };
        for (key, slot) in entries {
            let value = read_at(&mut inner.file, slot)?;
            payload.push(TAG_PUT);
            put_buffer(&mut payload, &key);
            put_buffer(&mut payload, &value);
            let rel = (payload.len() - value.len()) as u64;
            pending.push((key, rel, value.len() as u64));
            if payload.len() >= COMPACT_RECORD_BYTES {
                flush(&mut payload, &mut pending, &mut len)?;
            }
        }
        flush(&mut payload, &mut pending, &mut len)?;
        out.sync_all().map_err(|e| io("sync compacted log", e))?;
        Ok((index, len, live))
    }

    fn write_locked(&self, inner: &mut Inner, batch: WriteBatch) -> Result<(), StorageError> {
        let start = inner.len;
        let (record, applied) = encode_record(batch, start)?;
        let durability = self.options.durability;
        #[cfg(test)]
        let injected = std::mem::take(&mut inner.fail_next_write);
        #[cfg(not(test))]
        let injected = false;
        let written = (|| {
            if injected {
                // Simulate a crash after half the record reached the file.
                inner.file.seek(SeekFrom::Start(start))?;
                inner.file.write_all(record.get(..record.len() / 2).unwrap_or_default())?;
                return Err(std::io::Error::other("injected write failure"));
            }
            #[cfg(unix)]
            std::os::unix::fs::FileExt::write_all_at(&inner.file, &record, start)?;
            #[cfg(not(unix))]
            {
                inner.file.seek(SeekFrom::Start(start))?;
                inner.file.write_all(&record)?;
            }
            if durability == Durability::Sync {
                inner.file.sync_data()?;
            }
            Ok(())
        })();
        if let Err(e) = written {
            inner.poisoned = true;
            return Err(io("append to log", e));
        }
        let Inner { index, live_bytes, .. } = inner;
        for change in applied {
            match change {
                Applied::Put(key, slot) => apply_put(index, live_bytes, key, slot),
                Applied::Delete(key) => apply_delete(index, live_bytes, &key),
                Applied::DeleteRange(a, b) => apply_delete_range(index, live_bytes, &a, &b),
            }
        }
        inner.len = start + record.len() as u64;
        Ok(())
    }
}

impl Storage for FileStorage {
    /// One record per block: a record costs only its bytes in the log and an index entry, and
    /// a read is one `pread` of exactly the value, so packing would only make every append
    /// rewrite (and every read copy and decode) a whole pack.
    fn block_pack_bytes(&self) -> usize {
        0
    }

    async fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(match inner.index.get(key) {
                Some(slot) => Some(read_at(&mut inner.file, *slot)?),
                None => None,
            });
        }
        Ok(out)
    }

    /// Keys come from the in-memory index: no value is read from disk.
    async fn scan_keys(&self, scan: Scan) -> Result<Vec<Vec<u8>>, StorageError> {
        let inner = self.lock();
        Ok(scan_map(&inner.index, &scan, |k, _| k.clone()))
    }

    async fn scan(&self, scan: Scan) -> Result<Vec<Entry>, StorageError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let slots = scan_map(&inner.index, &scan, |k, s| (k.clone(), *s));
        let mut out = Vec::with_capacity(slots.len());
        for (key, slot) in slots {
            out.push((key, read_at(&mut inner.file, slot)?));
        }
        Ok(out)
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if inner.poisoned {
            return Err(StorageError::Poisoned);
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.write_locked(&mut inner, batch)?;
        self.maybe_compact(&mut inner);
        Ok(())
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
