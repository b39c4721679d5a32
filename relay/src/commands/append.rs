//! `append <dir> [FILES...] [--lines | --chunk-size N]`.

use crate::core_dir::{self, Core};
use crate::error::RelayError;
use clap::Args;
use serde::Serialize;
use std::io::{BufRead, Read};
use std::path::PathBuf;

/// Blocks per atomic append (one signature and one storage write each).
const BATCH_BLOCKS: usize = 1024;
/// Bytes per atomic append.
const BATCH_BYTES: usize = 4 << 20;

/// Arguments of `append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// Core directory.
    pub dir: PathBuf,
    /// Files to append, one block each. Without files, stdin is appended.
    pub files: Vec<PathBuf>,
    /// Stdin: one block per line, the newline removed (the default).
    #[arg(long, conflicts_with_all = ["chunk_size", "files"])]
    pub lines: bool,
    /// Stdin: blocks of N bytes (the last one may be shorter).
    #[arg(long, value_name = "N", conflicts_with = "files")]
    pub chunk_size: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Appended {
    length: u64,
    appended: u64,
    byte_length: u64,
}

/// Collects blocks and appends them in batches.
struct Batcher<'a> {
    core: &'a mut Core,
    blocks: Vec<Vec<u8>>,
    bytes: usize,
    appended: u64,
}

impl Batcher<'_> {
    async fn push(&mut self, block: Vec<u8>) -> Result<(), RelayError> {
        self.bytes += block.len();
        self.blocks.push(block);
        if self.blocks.len() >= BATCH_BLOCKS || self.bytes >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), RelayError> {
        if !self.blocks.is_empty() {
            self.core.append_batch(&self.blocks).await?;
            self.appended += self.blocks.len() as u64;
            self.blocks.clear();
            self.bytes = 0;
        }
        Ok(())
    }
}

/// Reads up to `buf.len()` bytes, fewer only at end of input.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Appends and prints `{"length","appended","byteLength"}`.
pub async fn run(args: AppendArgs) -> Result<(), RelayError> {
    if args.chunk_size == Some(0) {
        return Err(RelayError::BadArgument("--chunk-size must be at least 1".into()));
    }
    let mut core = core_dir::open(&args.dir).await?;
    if !core.writable() {
        return Err(RelayError::NotWritable(args.dir));
    }
    let mut batch = Batcher { core: &mut core, blocks: Vec::new(), bytes: 0, appended: 0 };
    if !args.files.is_empty() {
        for file in &args.files {
            let block =
                std::fs::read(file).map_err(|e| RelayError::io(format!("read {}", file.display()), e))?;
            batch.push(block).await?;
        }
    } else if let Some(size) = args.chunk_size {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut block = vec![0; size];
            let n = read_full(&mut stdin, &mut block).map_err(|e| RelayError::io("read stdin", e))?;
            if n == 0 {
                break;
            }
            block.truncate(n);
            batch.push(block).await?;
            if n < size {
                break;
            }
        }
    } else {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            let n = stdin.read_until(b'\n', &mut line).map_err(|e| RelayError::io("read stdin", e))?;
            if n == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            batch.push(line).await?;
        }
    }
    batch.flush().await?;
    let appended = batch.appended;
    crate::print_json(&Appended { length: core.length(), appended, byte_length: core.byte_length() })
}
