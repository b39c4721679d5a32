//! `cat <dir> [--start N] [--end M] [--hex | --raw]`.

use crate::core_dir;
use crate::error::RelayError;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// Core directory.
    pub dir: PathBuf,
    /// First block (default 0).
    #[arg(long)]
    pub start: Option<u64>,
    /// End, exclusive (default: the length).
    #[arg(long)]
    pub end: Option<u64>,
    /// One lowercase hex line per block.
    #[arg(long, conflicts_with = "raw")]
    pub hex: bool,
    /// Blocks back to back with no separator (default: each block followed by a newline).
    #[arg(long)]
    pub raw: bool,
}

/// Prints blocks `start..end`; a block not stored locally is an error.
pub async fn run(args: CatArgs) -> Result<(), RelayError> {
    let core = core_dir::open(&args.dir).await?;
    let start = args.start.unwrap_or(0);
    let end = args.end.unwrap_or(core.length());
    core_dir::check_range(start, end, core.length())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let result = core_dir::read_range(&core, start, end, |_, block| {
        let written = if args.hex {
            writeln!(out, "{}", hex::encode(&block))
        } else if args.raw {
            out.write_all(&block)
        } else {
            out.write_all(&block).and_then(|()| out.write_all(b"\n"))
        };
        written.map_err(|e| RelayError::io("write stdout", e))
    })
    .await
    .and_then(|()| out.flush().map_err(|e| RelayError::io("write stdout", e)));
    match result {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(RelayError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
