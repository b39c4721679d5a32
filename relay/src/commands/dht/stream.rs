//! Encrypted-connection peers: `dht echo-server`, `dht connect KEY`, and the throughput pairs
//! `sink-server`/`source-client`, `source-server`/`sink-client` (outputs as
//! `tests/js/dht-peer.mjs`).
//!
//! The test stream is deterministic: bytes `[65536·i, 65536·(i+1))` are
//! `testdata::block(0, i, 65536)`, the last chunk cut short; `hash` = BLAKE2b-256 of all stream
//! bytes. The sender ends its half after the last byte; the receiver reads to that end and
//! ends its half; the sender reports once the receiver's end arrived.

use super::{epoch_ms, hex32, key_pair, mbps, out, round3, start_client, NodeArgs, Stdin};
use crate::dht::{Connection, Dht, EncryptedStream};
use crate::error::RelayError;
use crate::testdata;
use crate::{log, RelayError as E};
use clap::Args;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes per test-stream chunk.
pub const STREAM_CHUNK: usize = 65536;
/// How long a finished client waits for its stream to close before the node goes (JS: 3 s).
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// Arguments of the servers.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Key pair seed (64 hex characters; random without).
    #[arg(long)]
    pub seed: Option<String>,
    /// Sink: count the bytes without hashing them.
    #[arg(long)]
    pub no_hash: bool,
    /// Shared options.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Arguments of `dht source-server`.
#[derive(Debug, Args)]
pub struct SourceServerArgs {
    /// Bytes to send to every connection.
    #[arg(long)]
    pub bytes: u64,
    /// Shared options.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Arguments of the clients.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The server's public key (64 hex characters).
    pub key: String,
    /// Key pair seed (64 hex characters; random without).
    #[arg(long)]
    pub seed: Option<String>,
    /// Sink: count the bytes without hashing them.
    #[arg(long)]
    pub no_hash: bool,
    /// Give up after this long.
    #[arg(long, default_value_t = 300_000)]
    pub timeout_ms: u64,
    /// Shared options.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Arguments of `dht source-client`.
#[derive(Debug, Args)]
pub struct SourceClientArgs {
    /// Bytes to send.
    #[arg(long)]
    pub bytes: u64,
    /// Shared options.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `dht connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The server's public key (64 hex characters).
    pub key: String,
    /// Random bytes to send and expect back.
    #[arg(long, default_value_t = 1024)]
    pub bytes: usize,
    /// Key pair seed (64 hex characters; random without).
    #[arg(long)]
    pub seed: Option<String>,
    /// Give up after this long.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Shared options.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// What [`send_bytes`] did.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Bytes written.
    pub bytes: u64,
    /// BLAKE2b-256 of them (test source only).
    pub hash: Option<String>,
    /// Epoch ms of the first write.
    pub first_write_at: f64,
    /// Epoch ms after the last write.
    pub last_write_at: f64,
}

/// What [`receive_bytes`] read.
#[derive(Debug, Clone)]
pub struct Received {
    /// Bytes read.
    pub bytes: u64,
    /// BLAKE2b-256 of them, unless hashing was off.
    pub hash: Option<String>,
    /// Epoch ms of the first byte.
    pub first_byte_at: Option<f64>,
    /// Epoch ms of the last byte.
    pub last_byte_at: Option<f64>,
}

fn hasher() -> blake2b_simd::State {
    blake2b_simd::Params::new().hash_length(32).to_state()
}

/// Where [`send_bytes`] takes its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The deterministic test stream, hashed.
    Test,
    /// One random 64 KiB buffer again and again, not hashed (the benchmark's source).
    Reuse,
}

/// Writes `total` bytes, then ends the stream.
pub async fn send_bytes<W: AsyncWrite + Unpin>(
    w: &mut W,
    total: u64,
    source: Source,
) -> std::io::Result<Sent> {
    let mut h = (source == Source::Test).then(hasher);
    let pool: Vec<u8> = match source {
        Source::Reuse => {
            let mut b = vec![0; STREAM_CHUNK];
            getrandom::getrandom(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
            b
        }
        Source::Test => Vec::new(),
    };
    let mut sent = 0u64;
    let mut first_write_at = None;
    let mut i = 0u64;
    while sent < total {
        let n = (total - sent).min(STREAM_CHUNK as u64) as usize;
        let owned;
        let chunk: &[u8] = match source {
            Source::Reuse => &pool[..n],
            Source::Test => {
                owned = testdata::block(0, i, n);
                &owned
            }
        };
        if let Some(h) = &mut h {
            h.update(chunk);
        }
        first_write_at.get_or_insert_with(epoch_ms);
        w.write_all(chunk).await?;
        sent += n as u64;
        i += 1;
    }
    let last_write_at = epoch_ms();
    w.shutdown().await?;
    Ok(Sent {
        bytes: sent,
        hash: h.map(|h| hex::encode(h.finalize().as_bytes())),
        first_write_at: first_write_at.unwrap_or(last_write_at),
        last_write_at,
    })
}

/// Reads `r` to its end, counting (and with `hash`, hashing) the bytes.
pub async fn receive_bytes<R: AsyncRead + Unpin>(r: &mut R, hash: bool) -> std::io::Result<Received> {
    let mut h = hash.then(hasher);
    let mut buf = vec![0; 256 * 1024];
    let mut got = Received { bytes: 0, hash: None, first_byte_at: None, last_byte_at: None };
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let t = epoch_ms();
        got.first_byte_at.get_or_insert(t);
        got.last_byte_at = Some(t);
        got.bytes += n as u64;
        if let Some(h) = &mut h {
            h.update(&buf[..n]);
        }
    }
    got.hash = h.map(|h| hex::encode(h.finalize().as_bytes()));
    Ok(got)
}

/// The `received` fields of dht-peer.mjs.
pub fn received_json(r: &Received) -> Value {
    let ms = match (r.first_byte_at, r.last_byte_at) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    json!({
        "bytes": r.bytes,
        "hash": r.hash,
        "ms": round3(ms),
        "mbps": mbps(r.bytes, ms),
        "firstByteAt": r.first_byte_at,
        "lastByteAt": r.last_byte_at,
    })
}

/// Sends `total` test bytes, ends, then waits for the peer's end; the `sent` fields.
pub async fn send_and_wait<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    total: u64,
) -> std::io::Result<Value> {
    let sent = send_bytes(s, total, Source::Test).await?;
    let extra = receive_bytes(s, false).await?;
    if extra.bytes > 0 {
        log!("peer sent {} unexpected bytes", extra.bytes);
    }
    let ms = epoch_ms() - sent.first_write_at;
    Ok(json!({
        "bytes": sent.bytes,
        "hash": sent.hash,
        "ms": round3(ms),
        "mbps": mbps(sent.bytes, ms),
        "writeMs": round3(sent.last_write_at - sent.first_write_at),
    }))
}

/// Echoes one connection until the peer ends; prints `connection` and `disconnect`.
pub async fn echo_connection(conn: Connection) {
    let remote = hex::encode(conn.remote_public_key());
    let _ = out(json!({ "event": "connection", "remotePublicKey": remote }));
    let mut s = conn.encrypted();
    let mut buf = vec![0; 64 * 1024];
    let mut bytes = 0u64;
    let result: std::io::Result<()> = async {
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            s.write_all(&buf[..n]).await?;
        }
        s.shutdown().await
    }
    .await;
    if let Err(e) = result {
        log!("connection {}: {e}", &remote[..8]);
    }
    let _ = out(json!({ "event": "disconnect", "remotePublicKey": remote, "bytes": bytes }));
}

/// Listens on `--seed`'s key pair, prints `listening`, hands every connection to `serve`
/// (one task each) until stdin closes.
async fn listen<F, Fut>(args: &ServerArgs, serve: F) -> Result<(), RelayError>
where
    F: Fn(Connection) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let kp = key_pair(args.seed.as_deref())?;
    let mut stdin = Stdin::start();
    let dht = start_client(&args.node).await?;
    let mut server = dht.listen(&kp).await?;
    let addr = dht.loopback_addr();
    out(json!({
        "event": "listening",
        "publicKey": hex::encode(kp.public_key()),
        "host": addr.ip().to_string(),
        "port": addr.port(),
    }))?;
    loop {
        tokio::select! {
            conn = server.accept() => match conn {
                Some(conn) => { tokio::spawn(serve(conn)); }
                None => break,
            },
            cmd = stdin.next() => match cmd {
                Some(cmd) if cmd.name == "stats" => out(json!({ "stats": stats_json(&dht).await }))?,
                Some(cmd) => super::unknown_command(&cmd)?,
                None => break,
            },
        }
    }
    drop(server);
    dht.destroy().await;
    Ok(())
}

async fn stats_json(dht: &Dht) -> Value {
    match dht.info().await {
        Ok(i) => json!({ "tableSize": i.table_size, "ephemeral": i.ephemeral, "firewalled": i.firewalled }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// Runs `dht echo-server`.
pub async fn echo_server(args: ServerArgs) -> Result<(), RelayError> {
    listen(&args, echo_connection).await
}

/// Runs `dht sink-server`.
pub async fn sink_server(args: ServerArgs) -> Result<(), RelayError> {
    let hash = !args.no_hash;
    listen(&args, move |conn| async move {
        let remote = hex::encode(conn.remote_public_key());
        let _ = out(json!({ "event": "connection", "remotePublicKey": remote }));
        let mut s = conn.encrypted();
        match receive_bytes(&mut s, hash).await {
            Ok(r) => {
                let mut v = received_json(&r);
                v["event"] = json!("received");
                v["remotePublicKey"] = json!(remote);
                let _ = out(v);
                let _ = s.shutdown().await;
                // Dropping after shutdown lets the stream finish; waiting keeps the task
                // around as long as the connection.
                let _ = tokio::time::timeout(CLOSE_WAIT, s.get_ref().closed()).await;
            }
            Err(e) => {
                let _ = out(
                    json!({ "event": "receive-failed", "remotePublicKey": remote, "error": e.to_string() }),
                );
            }
        }
    })
    .await
}

/// Runs `dht source-server`.
pub async fn source_server(args: SourceServerArgs) -> Result<(), RelayError> {
    let total = args.bytes;
    listen(&args.server, move |conn| async move {
        let remote = hex::encode(conn.remote_public_key());
        let _ = out(json!({ "event": "connection", "remotePublicKey": remote }));
        let mut s = conn.encrypted();
        match send_and_wait(&mut s, total).await {
            Ok(mut v) => {
                v["event"] = json!("sent");
                v["remotePublicKey"] = json!(remote);
                let _ = out(v);
            }
            Err(e) => {
                let _ =
                    out(json!({ "event": "send-failed", "remotePublicKey": remote, "error": e.to_string() }));
            }
        }
    })
    .await
}

/// Connects as a fresh client node; prints `connected`.
async fn dial(
    node: &NodeArgs,
    key: &str,
    seed: Option<&str>,
    timeout_ms: u64,
) -> Result<(Dht, Connection), RelayError> {
    let remote = hex32(key, "KEY")?;
    let kp = key_pair(seed)?;
    let dht = start_client(node).await?;
    let t0 = Instant::now();
    let conn = tokio::time::timeout(Duration::from_millis(timeout_ms), dht.connect(remote, &kp, Vec::new()))
        .await
        .map_err(|_| E::Timeout(timeout_ms / 1000))??;
    out(json!({
        "event": "connected",
        "ms": round3(t0.elapsed().as_secs_f64() * 1000.0),
        "publicKey": hex::encode(kp.public_key()),
        "remotePublicKey": hex::encode(conn.remote_public_key()),
    }))?;
    Ok((dht, conn))
}

async fn with_timeout<T>(
    ms: u64,
    what: &str,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, RelayError> {
    match tokio::time::timeout(Duration::from_millis(ms), f).await {
        Ok(r) => r.map_err(|e| RelayError::io(what, e)),
        Err(_) => Err(RelayError::Timeout(ms / 1000)),
    }
}

/// Runs `dht connect`.
pub async fn connect(args: ConnectArgs) -> Result<(), RelayError> {
    if args.bytes == 0 {
        return Err(RelayError::BadArgument("--bytes must be at least 1".into()));
    }
    let (dht, conn) = dial(&args.node, &args.key, args.seed.as_deref(), args.timeout_ms).await?;
    let mut payload = vec![0; args.bytes];
    getrandom::getrandom(&mut payload).map_err(|e| RelayError::BadArgument(e.to_string()))?;
    let (mut r, mut w) = tokio::io::split(conn.encrypted());
    let t0 = Instant::now();
    let expected = payload.len();
    let writer = async {
        for chunk in payload.chunks(STREAM_CHUNK) {
            w.write_all(chunk).await?;
        }
        w.flush().await
    };
    let reader = async {
        let mut got = Vec::with_capacity(expected);
        let mut buf = vec![0; 64 * 1024];
        while got.len() < expected {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(got)
    };
    let (wrote, got) =
        tokio::time::timeout(Duration::from_millis(args.timeout_ms), async { tokio::join!(writer, reader) })
            .await
            .map_err(|_| RelayError::Timeout(args.timeout_ms / 1000))?;
    wrote.map_err(|e| RelayError::io("write", e))?;
    let got = got.map_err(|e| RelayError::io("read", e))?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let ok = got == payload;
    out(
        json!({ "event": "echoed", "bytes": got.len(), "ok": ok, "ms": round3(ms), "mbps": mbps(expected as u64, ms) }),
    )?;
    let mut s = r.unsplit(w);
    let _ = s.shutdown().await;
    let _ = tokio::time::timeout(CLOSE_WAIT, receive_bytes(&mut s, false)).await;
    let _ = tokio::time::timeout(CLOSE_WAIT, s.get_ref().closed()).await;
    dht.destroy().await;
    if ok {
        Ok(())
    } else {
        Err(RelayError::Verify("the echoed bytes differ from those sent".into()))
    }
}

/// Runs `dht source-client`.
pub async fn source_client(args: SourceClientArgs) -> Result<(), RelayError> {
    let c = &args.client;
    let (dht, conn) = dial(&c.node, &c.key, c.seed.as_deref(), c.timeout_ms).await?;
    let remote = hex::encode(conn.remote_public_key());
    let mut s: EncryptedStream<Connection> = conn.encrypted();
    let mut v = with_timeout(c.timeout_ms, "send", send_and_wait(&mut s, args.bytes)).await?;
    v["event"] = json!("sent");
    v["remotePublicKey"] = json!(remote);
    out(v)?;
    let _ = tokio::time::timeout(CLOSE_WAIT, s.get_ref().closed()).await;
    drop(s);
    dht.destroy().await;
    Ok(())
}

/// Runs `dht sink-client`.
pub async fn sink_client(args: ClientArgs) -> Result<(), RelayError> {
    let (dht, conn) = dial(&args.node, &args.key, args.seed.as_deref(), args.timeout_ms).await?;
    let remote = hex::encode(conn.remote_public_key());
    let mut s = conn.encrypted();
    let r = with_timeout(args.timeout_ms, "receive", receive_bytes(&mut s, !args.no_hash)).await?;
    let mut v = received_json(&r);
    v["event"] = json!("received");
    v["remotePublicKey"] = json!(remote);
    out(v)?;
    let _ = s.shutdown().await;
    // Our END must reach the source (it reports once it arrived) before the node goes.
    let _ = tokio::time::timeout(CLOSE_WAIT, s.get_ref().closed()).await;
    dht.destroy().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_test_stream_hashes_as_js() {
        // dht-peer.mjs: 5,000,000 bytes of the test stream hash to 5780c329…8d14125.
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let sender = tokio::spawn(async move { send_bytes(&mut a, 5_000_000, Source::Test).await.unwrap() });
        let got = receive_bytes(&mut b, true).await.unwrap();
        let sent = sender.await.unwrap();
        assert_eq!(got.bytes, 5_000_000);
        assert_eq!(got.hash, sent.hash);
        let h = got.hash.unwrap();
        assert!(h.starts_with("5780c329") && h.ends_with("8d14125"), "{h}");
    }
}
