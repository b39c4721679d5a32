//! Hidden test helpers: `gen-blocks` and `digest` (formulas in [`crate::testdata`]).

use crate::core_dir;
use crate::error::RelayError;
use crate::testdata::{self, Digest};
use clap::Args;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `gen-blocks`.
#[derive(Debug, Args)]
pub struct GenBlocksArgs {
    /// Number of blocks.
    #[arg(long)]
    pub count: u64,
    /// Bytes per block.
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Index of the first block.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Generation (the fork the blocks are appended at).
    #[arg(long, default_value_t = 0)]
    pub gen: u64,
}

/// Writes the blocks back to back on stdout (feed to `append --chunk-size SIZE`).
pub fn gen_blocks(args: GenBlocksArgs) -> Result<(), RelayError> {
    if args.size == 0 {
        return Err(RelayError::BadArgument("--size must be at least 1".into()));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in args.start..args.start.saturating_add(args.count) {
        out.write_all(&testdata::block(args.gen, i, args.size))
            .map_err(|e| RelayError::io("write stdout", e))?;
    }
    out.flush().map_err(|e| RelayError::io("write stdout", e))
}

/// Arguments of `digest`.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Core directory.
    pub dir: PathBuf,
    /// First block (default 0).
    #[arg(long)]
    pub start: Option<u64>,
    /// End, exclusive (default: the length).
    #[arg(long)]
    pub end: Option<u64>,
}

#[derive(Serialize)]
struct DigestOut {
    digest: String,
    start: u64,
    end: u64,
    blocks: u64,
    bytes: u64,
}

/// Prints `{"digest","start","end","blocks","bytes"}` of the local blocks `start..end`.
pub async fn digest(args: DigestArgs) -> Result<(), RelayError> {
    let core = core_dir::open(&args.dir).await?;
    let start = args.start.unwrap_or(0);
    let end = args.end.unwrap_or(core.length());
    let mut d = Digest::new();
    core_dir::read_range(&core, start, end, |_, block| {
        d.update(&block);
        Ok(())
    })
    .await?;
    crate::print_json(&DigestOut { digest: d.hex(), start, end, blocks: d.blocks(), bytes: d.bytes() })
}
