//! `hyperwasm-relay`: create, inspect and replicate hypercores from the shell
//! (usage in `relay/README.md`; `hyperwasm-relay --help`).
//!
//! Exit codes: 0 success, 1 a failure (one line on stderr), 2 bad command-line syntax (clap) or
//! a number out of its allowed range (one line on stderr).

use clap::Parser;
use hyperwasm_relay::commands::{self, Command};
use std::process::ExitCode;
use std::time::Duration;

/// Hypercores in directories, replicated over TCP with the JS hypercore wire protocol.
#[derive(Debug, Parser)]
#[command(name = "hyperwasm-relay", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How long blocking work left behind by a finished command may delay the exit.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| hyperwasm_relay::RelayError::io("start the tokio runtime", e))
        .and_then(|rt| {
            let result = rt.block_on(commands::run(cli.command));
            // Dropping the runtime would wait for every blocking task without limit.
            rt.shutdown_timeout(SHUTDOWN_GRACE);
            result
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = e.to_string().replace('\n', " ");
            hyperwasm_relay::log!("error: {message}");
            ExitCode::from(e.exit_code())
        }
    }
}
