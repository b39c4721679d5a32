//! One core per directory: `<dir>/core.log` is a [`FileStorage`] log holding it.

use crate::error::RelayError;
use hyperwasm::core::{CreateOptions, Hypercore, HypercoreError, Info};
use hyperwasm::crypto::Hash;
use hyperwasm::storage::FileStorage;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The file in a core directory that holds the core.
pub const CORE_FILE: &str = "core.log";

/// A core stored in a directory.
pub type Core = Hypercore<FileStorage>;

/// Blocks read per storage call when walking a range.
const READ_BATCH: u64 = 256;

fn core_file(dir: &Path) -> PathBuf {
    dir.join(CORE_FILE)
}

fn require_dir(dir: &Path) -> Result<(), RelayError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(RelayError::NotADirectory(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RelayError::MissingDir(dir.to_path_buf())),
        Err(e) => Err(RelayError::io(format!("{}", dir.display()), e)),
    }
}

/// Creates `dir` (and parents) if missing; it must then be a directory.
fn ensure_dir(dir: &Path) -> Result<(), RelayError> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| RelayError::io(format!("create {}", dir.display()), e))?;
    }
    require_dir(dir)
}

/// Opens the core in `dir`.
pub async fn open(dir: &Path) -> Result<Core, RelayError> {
    require_dir(dir)?;
    let file = core_file(dir);
    if !file.is_file() {
        return Err(RelayError::NoCore(dir.to_path_buf()));
    }
    let storage = FileStorage::open(&file)?;
    match Hypercore::open(storage).await {
        Err(HypercoreError::StorageEmpty) => Err(RelayError::NoCore(dir.to_path_buf())),
        other => Ok(other?),
    }
}

/// Creates a new writable core in `dir`, which must be empty or absent. Without `compat` the
/// core has the default single-signer manifest (key = manifest hash, as corestore 7 makes);
/// with it, the key is the public key (hypercore 10 style).
pub async fn create(dir: &Path, compat: bool) -> Result<Core, RelayError> {
    ensure_dir(dir)?;
    let mut entries =
        std::fs::read_dir(dir).map_err(|e| RelayError::io(format!("read {}", dir.display()), e))?;
    if entries.next().is_some() {
        return Err(RelayError::DirNotEmpty(dir.to_path_buf()));
    }
    let storage = FileStorage::open(core_file(dir))?;
    Ok(Hypercore::create(storage, CreateOptions { compat, ..CreateOptions::default() }).await?)
}

/// Opens the replica of core `key` in `dir`, creating the directory and an empty replica if
/// needed. Fails if `dir` holds another core.
pub async fn open_remote(dir: &Path, key: Hash) -> Result<Core, RelayError> {
    ensure_dir(dir)?;
    let storage = FileStorage::open(core_file(dir))?;
    match Hypercore::create_remote(storage, key).await {
        Err(HypercoreError::StorageConflict) => {
            Err(RelayError::OtherCore { dir: dir.to_path_buf(), key: hex::encode(key) })
        }
        other => Ok(other?),
    }
}

/// Parses a 64-character hex core key.
pub fn parse_key(s: &str) -> Result<Hash, RelayError> {
    let bad = || RelayError::BadKey(s.to_string());
    let bytes = hex::decode(s).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// A core's state as the CLI prints it (camelCase keys, like JS `core.info()`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreSummary {
    /// Core key (hex).
    pub key: String,
    /// Discovery key (hex).
    pub discovery_key: String,
    /// Number of blocks.
    pub length: u64,
    /// Total bytes.
    pub byte_length: u64,
    /// Fork id.
    pub fork: u64,
    /// Blocks `0..contiguousLength` are stored locally.
    pub contiguous_length: u64,
    /// Blocks stored locally.
    pub blocks_stored: u64,
    /// Whether this directory can append.
    pub writable: bool,
}

impl From<&Info> for CoreSummary {
    fn from(info: &Info) -> Self {
        CoreSummary {
            key: hex::encode(info.key),
            discovery_key: hex::encode(info.discovery_key),
            length: info.length,
            byte_length: info.byte_length,
            fork: info.fork,
            contiguous_length: info.contiguous_length,
            blocks_stored: info.blocks_stored,
            writable: info.writable,
        }
    }
}

/// Checks that `start..end` lies within a core of `length` blocks.
pub fn check_range(start: u64, end: u64, length: u64) -> Result<(), RelayError> {
    if start > end || end > length {
        return Err(RelayError::BadRange { start, end, length });
    }
    Ok(())
}

/// Reads blocks `start..end` in order, each checked against its tree leaf by the core, and
/// hands them to `each`. A block not stored locally is [`RelayError::BlockMissing`].
pub async fn read_range(
    core: &Core,
    start: u64,
    end: u64,
    mut each: impl FnMut(u64, Vec<u8>) -> Result<(), RelayError>,
) -> Result<(), RelayError> {
    check_range(start, end, core.length())?;
    let mut next = start;
    while next < end {
        let batch_end = end.min(next + READ_BATCH);
        let indexes: Vec<u64> = (next..batch_end).collect();
        for (index, block) in indexes.iter().zip(core.get_many(&indexes).await?) {
            each(*index, block?.ok_or(RelayError::BlockMissing(*index))?)?;
        }
        next = batch_end;
    }
    Ok(())
}
