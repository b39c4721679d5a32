//! Hypercore replication over a [`RelayConnection`], as `dht join` does over a direct
//! connection: the replicator runs secret-stream itself with the stream's Noise keys.

use hyperwasm::replicator::{replicate, ConnectionError, ConnectionOptions, ConnectionStats};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use super::RelayConnection;
use crate::cores::CoreSet;
use crate::replicate::{TokioClock, IDLE_TIMEOUT_MS};

/// Replicates `cores` with the peer of `conn` until the connection ends.
pub async fn replicate_relayed(
    cores: &CoreSet,
    conn: RelayConnection,
) -> Result<ConnectionStats, ConnectionError> {
    let mut opts = ConnectionOptions::new(conn.is_initiator());
    opts.handshake = Some(conn.handshake().clone());
    opts.timeout_ms = IDLE_TIMEOUT_MS;
    let (r, w) = conn.into_split();
    replicate(cores, r.compat(), w.compat_write(), TokioClock::new(), opts).await
}
