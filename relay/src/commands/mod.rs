//! The subcommands, one module each; [`Command`] is what `main` parses.

pub mod append;
pub mod bee;
pub mod cat;
pub mod create;
pub mod dht;
pub mod fetch;
pub mod info;
pub mod relay_client;
pub mod share;
pub mod signal;
pub mod testdata;

use crate::error::RelayError;
use clap::Subcommand;

/// A `hyperwasm-relay` subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new writable core in a directory; prints its key and discovery key.
    Create(create::CreateArgs),
    /// Append files (one block each) or stdin (lines or fixed-size chunks); prints the new length.
    Append(append::AppendArgs),
    /// Print a core's state as JSON.
    Info(info::InfoArgs),
    /// Print blocks.
    Cat(cat::CatArgs),
    /// Share cores with peers over TCP until Ctrl-C (hypercore replication).
    Share(share::ShareArgs),
    /// Download a core (or a range of it) from peers over TCP.
    Fetch(fetch::FetchArgs),
    /// The WebSocket relay: browsers reach the HyperDHT through `GET /relay` (relay/PROTOCOL.md).
    Serve(crate::relay_server::RelayArgs),
    /// Reach the HyperDHT through a relay (relay/PROTOCOL.md): lookup, announce, connect.
    RelayClient(relay_client::RelayClientArgs),
    /// Hyperbee reads and writes: get (sparse from peers, or local), put, range.
    Bee(bee::BeeArgs),
    /// HyperDHT node: testnet, lookup, announce, connect, join a topic, records, bench.
    Dht {
        /// What to do.
        #[command(subcommand)]
        command: dht::DhtCommand,
    },
    /// Write deterministic test blocks to stdout (see `testdata`).
    #[command(hide = true)]
    GenBlocks(testdata::GenBlocksArgs),
    /// Print the test digest of a core's blocks (see `testdata`).
    #[command(hide = true)]
    Digest(testdata::DigestArgs),
}

/// Runs one command to completion.
pub async fn run(command: Command) -> Result<(), RelayError> {
    match command {
        Command::Create(args) => create::run(args).await,
        Command::Append(args) => append::run(args).await,
        Command::Info(args) => info::run(args).await,
        Command::Cat(args) => cat::run(args).await,
        Command::Share(args) => share::run(args).await,
        Command::Fetch(args) => fetch::run(args).await,
        Command::Bee(args) => bee::run(args).await,
        Command::Serve(args) => crate::relay_server::run(args).await,
        Command::RelayClient(args) => relay_client::run(args).await,
        Command::Dht { command } => dht::run(command).await,
        Command::GenBlocks(args) => testdata::gen_blocks(args),
        Command::Digest(args) => testdata::digest(args).await,
    }
}
