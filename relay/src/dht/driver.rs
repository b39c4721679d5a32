//! The driver task: one tokio task owning the sans-IO `Node` and its socket.

use std::net::SocketAddrV4;

use tokio::sync::mpsc;

use super::handles::Command;
use super::{DhtConfig, DhtError};

/// Binds the socket and starts the task; returns its command channel and bound address.
pub(crate) fn spawn(config: DhtConfig) -> Result<(mpsc::UnboundedSender<Command>, SocketAddrV4), DhtError> {
    let _ = config;
    Err(DhtError::Socket("the HyperDHT node is not wired yet".into()))
}
