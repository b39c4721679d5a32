//! # hyperwasm-interop
//!
//! The reverse direction of the oracle tests: cores, signatures and proofs produced by the
//! Rust library alone, exported in the JSON shapes of `tests/fixtures/README.md` so that
//! `tests/js/verify-rust.mjs` can check them with JS hypercore 11.39.5.
//!
//! [`export`] writes three files:
//! - `rust-cores.json` — a compat core and a default-manifest core, replayed by JS step by step
//!   (length, byte length, fork, roots, tree hash, signable, signature accepted and byte-equal);
//! - `rust-proofs.json` — JS readers bootstrapped with Rust upgrade proofs, then a matrix of
//!   Rust proofs (blocks, hashes, seeks, upgrades with additional nodes) JS must accept;
//! - `rust-invalid-proofs.json` — tampered Rust proofs JS must reject (`--expect-reject`).
//!
//! The block pattern deliberately differs from the JS fixtures: other key pairs, sizes, a
//! 1 MiB block at another index, runs of empty and of all-zero blocks, 61 blocks at fork 0,
//! a truncation to 43 (fork 1) and more appends.

mod blocks;
mod builder;
mod context;
mod proofs;
mod tamper;
mod wire;

pub use blocks::INLINE_LIMIT;
pub use wire::data_wire;

use hyperwasm::core::Hypercore;
use hyperwasm::storage::MemoryStorage;
use hyperwasm::testing::fixtures::{Cores, FileJson};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Error type of the exporter.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub(crate) type Core = Hypercore<MemoryStorage>;

/// Fork-0 append schedule: lengths after each `append_batch`.
pub const FORK0_LENGTHS: &[u64] = &[1, 3, 11, 12, 13, 25, 32, 45, 61];
/// The truncation (non-power-of-two length) that makes fork 1.
pub const TRUNCATE_TO: u64 = 43;
/// Fork-1 append schedule.
pub const FORK1_LENGTHS: &[u64] = &[50, 58];
/// Reader lengths (bootstrapped from the writer when it had exactly that length).
pub const READER_LENGTHS: &[u64] = &[0, 1, 3, 12, 32, 45];
/// Writer length at which proofs are answered (fork 0, before the truncation).
pub const WRITER_LENGTH: u64 = 61;

/// What [`export`] wrote and what Rust itself concluded.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// `rust-cores.json`.
    pub cores_file: PathBuf,
    /// `rust-proofs.json`.
    pub proofs_file: PathBuf,
    /// `rust-invalid-proofs.json`.
    pub invalid_file: PathBuf,
    /// Valid proofs per core kind.
    pub valid_proofs: BTreeMap<&'static str, usize>,
    /// Tampered proofs per core kind.
    pub invalid_proofs: BTreeMap<&'static str, usize>,
    /// Problems found on the Rust side (a valid proof Rust itself rejects, a tampered proof
    /// Rust accepts, a request Rust refuses). Empty when all is well.
    pub rust_problems: Vec<String>,
}

fn generator() -> BTreeMap<String, String> {
    let mut g = BTreeMap::new();
    g.insert("hyperwasm-interop".into(), env!("CARGO_PKG_VERSION").to_string());
    g.insert("producer".into(), "Rust (hyperwasm), tests/interop export-rust-cores".to_string());
    g
}

fn write_json<T: serde::Serialize>(path: &Path, cores: BTreeMap<&'static str, T>) -> Result<(), Error> {
    let cores = Cores(cores.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    let file = FileJson { generator: generator(), cores };
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    std::fs::write(path, text)?;
    Ok(())
}

/// Builds both cores with the Rust library and writes `rust-cores.json`, `rust-proofs.json`
/// and `rust-invalid-proofs.json` into `dir` (created if missing).
pub fn export(dir: &Path) -> Result<Summary, Error> {
    std::fs::create_dir_all(dir)?;
    let mut cores = BTreeMap::new();
    let mut proofs = BTreeMap::new();
    let mut invalid = BTreeMap::new();
    let mut summary = Summary {
        cores_file: dir.join("rust-cores.json"),
        proofs_file: dir.join("rust-proofs.json"),
        invalid_file: dir.join("rust-invalid-proofs.json"),
        ..Summary::default()
    };
    for (kind, seed) in [("compat", 11u8), ("manifest", 12u8)] {
        let built = futures::executor::block_on(builder::build(kind, seed))?;
        summary.valid_proofs.insert(kind, built.proofs_json.proofs.len());
        summary.invalid_proofs.insert(kind, built.invalid_json.proofs.len());
        summary.rust_problems.extend(built.problems);
        cores.insert(kind, built.core_json);
        proofs.insert(kind, built.proofs_json);
        invalid.insert(kind, built.invalid_json);
    }
    write_json(&summary.cores_file, cores)?;
    write_json(&summary.proofs_file, proofs)?;
    write_json(&summary.invalid_file, invalid)?;
    Ok(summary)
}
