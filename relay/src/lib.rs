//! `hyperwasm-relay`: the native command line around the `hyperwasm` core — create, append,
//! inspect and replicate hypercores stored in directories (one `FileStorage` log each), over
//! plain TCP with the same wire protocol as JS hypercore (`relay/README.md` has the usage).
//! A native HyperDHT node: the sans-IO layers [`dht_rpc`], [`udx`], [`hyperdht`] and their tokio
//! driver [`dht`] (`hyperwasm-relay dht …` on the command line). The WebSocket relay follows.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod commands;
pub mod core_dir;
pub mod cores;
pub mod dht;
pub mod dht_rpc;
pub mod error;
pub mod hyperdht;
pub mod relay_client;
pub mod relay_server;
pub mod replicate;
pub mod split_mix;
pub mod testdata;
pub mod testing;
pub mod udx;

pub use error::RelayError;

use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Turns [`vlog!`] lines on or off (`fetch --verbose`).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// Whether [`vlog!`] lines are printed.
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Writes one line to stderr, prefixed with the program name (never panics).
pub fn log(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "[hyperwasm-relay] {args}");
}

/// `log!("…", args)`: [`log`] with `format!` syntax.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => { $crate::log(format_args!($($arg)*)) };
}

/// `vlog!("…", args)`: [`log!`] only when [`verbose`] is on (progress a failing command must
/// not print: its one error line is all stderr holds).
#[macro_export]
macro_rules! vlog {
    ($($arg:tt)*) => {
        if $crate::verbose() {
            $crate::log(format_args!($($arg)*))
        }
    };
}

/// Prints `value` as one JSON line on stdout and flushes it.
pub fn print_json<T: Serialize>(value: &T) -> Result<(), RelayError> {
    let line = serde_json::to_string(value)
        .map_err(|e| RelayError::io("encode JSON output", std::io::Error::other(e)))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| RelayError::io("write stdout", e))
}
