//! `info <dir>`.

use crate::core_dir::{self, CoreSummary};
use crate::error::RelayError;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Core directory.
    pub dir: PathBuf,
}

#[derive(Serialize)]
struct InfoOut {
    #[serde(flatten)]
    summary: CoreSummary,
    compat: bool,
}

/// Prints the core's state as one JSON object.
pub async fn run(args: InfoArgs) -> Result<(), RelayError> {
    let core = core_dir::open(&args.dir).await?;
    crate::print_json(&InfoOut { summary: CoreSummary::from(&core.info()), compat: core.is_compat() })
}
