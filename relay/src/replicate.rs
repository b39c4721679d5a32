//! Where the CLI meets the replication protocol: one function per TCP connection.
//!
//! The protocol itself is `hyperwasm::replicator::replicate` (secret-stream, protomux,
//! `hypercore/alpha`), driven here by tokio over a TCP stream.

use crate::cores::CoreSet;
use crate::error::RelayError;
use hyperwasm::replicator::{replicate, Clock, ConnectionOptions};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

/// A connection that has received nothing for this long is dropped.
pub const IDLE_TIMEOUT_MS: u64 = 30_000;

/// What one connection did, as the CLI logs and sums it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionReport {
    /// Bytes received from the transport.
    pub bytes_in: u64,
    /// Bytes written to the transport.
    pub bytes_out: u64,
    /// Blocks stored from this peer.
    pub blocks_downloaded: u64,
    /// Blocks served to this peer.
    pub blocks_uploaded: u64,
}

/// Replicates `cores` with the peer that dialled us (`serve`; we are the responder) until the
/// connection closes. A remote-caused failure ends only this connection.
pub async fn serve_connection(stream: TcpStream, cores: CoreSet) -> Result<ConnectionReport, RelayError> {
    run_connection(stream, cores, false).await
}

/// Replicates `cores` with the peer we dialled (`fetch`; we are the initiator) until the
/// connection closes or the task is aborted (the caller aborts it once its download is done).
pub async fn fetch_connection(stream: TcpStream, cores: CoreSet) -> Result<ConnectionReport, RelayError> {
    run_connection(stream, cores, true).await
}

/// One replication connection over TCP.
async fn run_connection(
    stream: TcpStream,
    cores: CoreSet,
    is_initiator: bool,
) -> Result<ConnectionReport, RelayError> {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    stream.set_nodelay(true).ok();
    let (reader, writer) = stream.into_split();
    let mut opts = ConnectionOptions::new(is_initiator);
    // Peers send keep-alives every 5 s (JS hypercore too): 30 s of silence is a dead peer.
    opts.timeout_ms = IDLE_TIMEOUT_MS;
    let stats = replicate(&cores, reader.compat(), writer.compat_write(), TokioClock::new(), opts)
        .await
        .map_err(|e| RelayError::Replication { peer, reason: format!("{} ({})", e, e.code()) })?;
    Ok(ConnectionReport {
        bytes_in: stats.bytes_in,
        bytes_out: stats.bytes_out,
        blocks_downloaded: stats.blocks_downloaded,
        blocks_uploaded: stats.blocks_uploaded,
    })
}

/// Milliseconds clock and sleep on tokio, for the connection driver.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl TokioClock {
    /// A clock starting at 0 now.
    pub fn new() -> Self {
        TokioClock { origin: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    type Sleep = tokio::time::Sleep;

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn sleep(&self, ms: u64) -> Self::Sleep {
        tokio::time::sleep(Duration::from_millis(ms))
    }
}
