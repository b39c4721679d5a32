//! `create <dir> [--compat]`.

use crate::core_dir;
use crate::error::RelayError;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Directory for the core (created if missing; must be empty).
    pub dir: PathBuf,
    /// Compat core: the key is the signer's public key (hypercore 10 style) instead of the
    /// hash of the default single-signer manifest corestore 7 makes.
    #[arg(long)]
    pub compat: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    key: String,
    discovery_key: String,
    compat: bool,
}

/// Creates the core and prints `{"key","discoveryKey","compat"}`.
pub async fn run(args: CreateArgs) -> Result<(), RelayError> {
    let core = core_dir::create(&args.dir, args.compat).await?;
    crate::print_json(&Created {
        key: hex::encode(core.key()),
        discovery_key: hex::encode(core.discovery_key()),
        compat: core.is_compat(),
    })
}
