//! The storage-generic oracle suite (`hyperwasm::testing::oracle`) on the native backends:
//! `Hypercore` over `MemoryStorage` and `FileStorage` must reproduce JS hypercore 11.39.5's
//! cores and proofs byte for byte. The browser runs the same suite on `IdbStorage`.
#![cfg(feature = "test-utils")]
#![allow(clippy::unwrap_used, missing_docs)]

use futures::executor::block_on;
use hyperwasm::storage::{FileStorage, MemoryStorage};
use hyperwasm::testing::oracle;
use std::future::ready;
use std::path::PathBuf;

const CORES: &str = include_str!("../../../tests/fixtures/hypercore/cores.json");
const PROOFS: &str = include_str!("../../../tests/fixtures/hypercore/proofs.json");

#[test]
fn cores_on_memory() {
    block_on(oracle::cores(|| ready(MemoryStorage::new()), |s: &MemoryStorage| ready(s.clone()), CORES));
}

#[test]
fn proofs_on_memory() {
    block_on(oracle::proofs(|| ready(MemoryStorage::new()), PROOFS));
}

/// A factory of fresh files in one temp dir (kept alive by the returned guard).
fn files() -> (tempfile::TempDir, impl FnMut() -> std::future::Ready<FileStorage>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut n = 0u32;
    let make = move || {
        n += 1;
        ready(FileStorage::open(root.join(format!("core-{n}.log"))).unwrap())
    };
    (dir, make)
}

#[test]
fn cores_on_file() {
    let (_dir, make) = files();
    let reopen = |s: &FileStorage| {
        let path: PathBuf = s.path().to_path_buf();
        // The oracle drops the old core (and this handle) before awaiting the reopen.
        async move { FileStorage::open(path).unwrap() }
    };
    block_on(oracle::cores(make, reopen, CORES));
}

#[test]
fn proofs_on_file() {
    let (_dir, make) = files();
    block_on(oracle::proofs(make, PROOFS));
}
