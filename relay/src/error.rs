//! The command line's error type: every failure is one of these, printed as one line.

use hyperwasm::core::HypercoreError;
use hyperwasm::storage::StorageError;
use std::path::PathBuf;

/// Why a `hyperwasm-relay` command failed. `main` prints it on one line and exits with
/// [`RelayError::exit_code`] (1, or 2 for usage errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// A core key given on the command line is not 64 hex characters.
    #[error("bad core key {0:?}: expected 64 hex characters")]
    BadKey(String),
    /// A command-line value is out of range or malformed.
    #[error("{0}")]
    BadArgument(String),
    /// A command-line number outside what the command allows: a usage error (exit 2, as
    /// clap's).
    #[error("{arg} {value} is out of range ({min}..={max})")]
    OutOfRange {
        /// The option (`--size`).
        arg: &'static str,
        /// What was given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// The core directory does not exist.
    #[error("{}: no such directory", .0.display())]
    MissingDir(PathBuf),
    /// The path exists but is not a directory.
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// `create` into a directory that already holds files.
    #[error("{}: directory is not empty", .0.display())]
    DirNotEmpty(PathBuf),
    /// The directory holds no core.
    #[error("{}: no hypercore here (create one with `hyperwasm-relay create`)", .0.display())]
    NoCore(PathBuf),
    /// `fetch --dir` names a directory holding another core.
    #[error("{}: holds a different core than {key}", .dir.display())]
    OtherCore {
        /// The directory.
        dir: PathBuf,
        /// The key asked for (hex).
        key: String,
    },
    /// Appending to a core this directory cannot sign for.
    #[error("{}: core is not writable (a replica, or a multi-signer core)", .0.display())]
    NotWritable(PathBuf),
    /// A block that is not stored locally.
    #[error("block {0} is not stored locally")]
    BlockMissing(u64),
    /// A range outside the core.
    #[error("range {start}..{end} is outside the core (length {length})")]
    BadRange {
        /// First block.
        start: u64,
        /// End (exclusive).
        end: u64,
        /// Core length.
        length: u64,
    },
    /// The core layer failed.
    #[error("{0}")]
    Core(#[from] HypercoreError),
    /// The storage backend failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// Local I/O (files, stdin, stdout).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Dialling a peer failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The peer address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// One replication connection failed (handshake, protocol violation, bad data, I/O).
    #[error("replication with {peer} failed: {reason}")]
    Replication {
        /// The peer address.
        peer: String,
        /// Why.
        reason: String,
    },
    /// Every peer went away before the download was complete.
    #[error("all peers disconnected before the download completed ({0})")]
    PeersGone(String),
    /// Ctrl-C before the download completed.
    #[error("interrupted")]
    Interrupted,
    /// `--timeout` expired.
    #[error("timed out after {0} s")]
    Timeout(u64),
    /// A Hyperbee operation failed (message with the JS error code).
    #[error("hyperbee: {0}")]
    Bee(String),
    /// A HyperDHT operation failed (message and JS code).
    #[error("{0} ({code})", code = .0.code())]
    Dht(#[from] crate::dht::DhtError),
    /// A relay-client operation failed (message and code).
    #[error("{0} ({code})", code = .0.code())]
    RelayClient(#[from] crate::relay_client::RelayClientError),
    /// `--verify` found a block that is missing or does not match its tree hash.
    #[error("verification failed: {0}")]
    Verify(String),
}

impl RelayError {
    /// The process exit code for this failure: 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            RelayError::OutOfRange { .. } => 2,
            _ => 1,
        }
    }

    /// An [`RelayError::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RelayError::Io { context: context.into(), source }
    }
}
