//! `dht immutable-put|immutable-get|mutable-put|mutable-get`: one-shot record commands
//! (outputs as `tests/js/dht-peer.mjs`; `"found": false` is not an error).

use super::{addr_json, commits_json, hex32, hex_bytes, key_pair, out, start_client, NodeArgs};
use crate::error::RelayError;
use clap::Args;
use serde_json::{json, Value};

/// Arguments of `dht immutable-put`.
#[derive(Debug, Args)]
pub struct ImmutablePutArgs {
    /// The value (hex).
    #[arg(long)]
    pub value: String,
    /// Shared options.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Arguments of `dht immutable-get`.
#[derive(Debug, Args)]
pub struct ImmutableGetArgs {
    /// The value's hash (64 hex characters).
    #[arg(long)]
    pub hash: String,
    /// Shared options.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Arguments of `dht mutable-put`.
#[derive(Debug, Args)]
pub struct MutablePutArgs {
    /// The value (hex).
    #[arg(long)]
    pub value: String,
    /// Key pair seed (64 hex characters; random without).
    #[arg(long)]
    pub seed: Option<String>,
    /// Sequence number.
    #[arg(long, default_value_t = 0)]
    pub seq: u64,
    /// Shared options.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Arguments of `dht mutable-get`.
#[derive(Debug, Args)]
pub struct MutableGetArgs {
    /// The signer's public key (64 hex characters).
    #[arg(long)]
    pub key: String,
    /// Lowest acceptable sequence number.
    #[arg(long, default_value_t = 0)]
    pub seq: u64,
    /// Take the first valid value instead of the latest.
    #[arg(long)]
    pub first: bool,
    /// Shared options.
    #[command(flatten)]
    pub node: NodeArgs,
}

fn closest(commits: &[crate::dht::Commit]) -> Value {
    Value::Array(commits.iter().map(|c| addr_json(c.to)).collect())
}

/// Runs `dht immutable-put`: `{"event":"immutable-put","hash","closestNodes","commits"}`.
pub async fn immutable_put(args: ImmutablePutArgs) -> Result<(), RelayError> {
    let value = hex_bytes(&args.value, "--value")?;
    let dht = start_client(&args.node).await?;
    let r = dht.immutable_put(value).await?;
    out(json!({
        "event": "immutable-put",
        "hash": hex::encode(r.hash),
        "closestNodes": closest(&r.commits),
        "commits": commits_json(&r.commits),
    }))?;
    dht.destroy().await;
    Ok(())
}

/// Runs `dht immutable-get`: `{"event":"immutable-get","found","value","from"}`.
pub async fn immutable_get(args: ImmutableGetArgs) -> Result<(), RelayError> {
    let hash = hex32(&args.hash, "--hash")?;
    let dht = start_client(&args.node).await?;
    let r = dht.immutable_get(hash).await?;
    out(json!({
        "event": "immutable-get",
        "found": r.is_some(),
        "value": r.as_ref().map(|(_, v)| hex::encode(v)),
        "from": r.as_ref().map(|(from, _)| addr_json(*from)),
    }))?;
    dht.destroy().await;
    Ok(())
}

/// Runs `dht mutable-put`: `{"event":"mutable-put","publicKey","seq","signature",
/// "closestNodes","commits"}`.
pub async fn mutable_put(args: MutablePutArgs) -> Result<(), RelayError> {
    let value = hex_bytes(&args.value, "--value")?;
    let kp = key_pair(args.seed.as_deref())?;
    let dht = start_client(&args.node).await?;
    let r = dht.mutable_put(&kp, value, args.seq).await?;
    out(json!({
        "event": "mutable-put",
        "publicKey": hex::encode(r.public_key),
        "seq": r.seq,
        "signature": hex::encode(r.signature),
        "closestNodes": closest(&r.commits),
        "commits": commits_json(&r.commits),
    }))?;
    dht.destroy().await;
    Ok(())
}

/// Runs `dht mutable-get`: `{"event":"mutable-get","found","seq","value","signature","from"}`.
pub async fn mutable_get(args: MutableGetArgs) -> Result<(), RelayError> {
    let public_key = hex32(&args.key, "--key")?;
    let dht = start_client(&args.node).await?;
    let r = dht.mutable_get(public_key, args.seq, !args.first).await?;
    out(json!({
        "event": "mutable-get",
        "found": r.is_some(),
        "seq": r.as_ref().map(|m| m.seq),
        "value": r.as_ref().map(|m| hex::encode(&m.value)),
        "signature": r.as_ref().map(|m| hex::encode(m.signature)),
        "from": r.as_ref().map(|m| addr_json(m.from)),
    }))?;
    dht.destroy().await;
    Ok(())
}
