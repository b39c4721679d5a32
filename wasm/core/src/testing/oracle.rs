//! A storage-generic oracle suite: [`Hypercore`] over any [`Storage`] must reproduce what JS
//! hypercore 11.39.5 wrote into `tests/fixtures/hypercore/{cores,proofs}.json` byte for byte.
//!
//! - [`cores`]: the compat and manifest cores of `cores.json` — every append/truncate step,
//!   checking key, discovery key, length, byte length, fork, roots, tree hash and the exact
//!   signature bytes (Ed25519 is deterministic); then a reopen from the same storage and a
//!   read-back of every block.
//! - [`proofs`]: the 40-block writer of `proofs.json` answers every request exactly as JS did
//!   (sections, node order, sizes, hashes, signature, or the same error code), and JS's own
//!   proofs apply to freshly bootstrapped `create_remote` readers with JS's outcome.
//!
//! Storage comes from two async factories: `make()` yields a fresh, empty store and
//! `reopen(&old)` yields a new handle on the same data (the old core is dropped before the
//! returned future is awaited, so `reopen` must not borrow from `old`; IndexedDB closes the old
//! connection and reopens by name, files reopen by path, memory clones).
//!
//! ```text
//! futures::executor::block_on(hyperwasm::testing::oracle::cores(
//!     || async { MemoryStorage::new() },
//!     |s: &MemoryStorage| std::future::ready(s.clone()),
//!     include_str!("../../../tests/fixtures/hypercore/cores.json"),
//! ));
//! ```

use crate::core::{CreateOptions, Hypercore, HypercoreError, Manifest};
use crate::crypto::hash::{blake2b, blake2b_batch, discovery_key, Hash};
use crate::crypto::KeyPair;
use crate::storage::Storage;
use crate::tree::proof::{
    DataBlock, DataHash, DataSeek, DataUpgrade, Proof, ProofRequest, RequestIndex, RequestSeek,
    RequestUpgrade,
};
use crate::tree::Node;
use serde::Deserialize;
use std::future::Future;

// ---------------------------------------------------------------------------------------------
// JSON shapes (see tests/fixtures/README.md)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct CoresFile {
    cores: std::collections::BTreeMap<String, CoreFixture>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CoreFixture {
    kind: String,
    compat: bool,
    key: String,
    discovery_key: String,
    manifest_encoding: Option<String>,
    key_pair: KeyPairJson,
    blocks: Vec<BlockJson>,
    steps: Vec<StepJson>,
    #[serde(rename = "final")]
    final_state: StateJson,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyPairJson {
    seed_byte: u8,
    public_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockJson {
    index: u64,
    fork: u64,
    size: usize,
    hex: Option<String>,
    generator: Option<GeneratorJson>,
    blake2b256: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GeneratorJson {
    kind: String,
    seed: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StepJson {
    op: String,
    from: u64,
    #[serde(default)]
    block_indexes: Vec<u64>,
    to: Option<u64>,
    #[serde(flatten)]
    state: StateJson,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateJson {
    length: u64,
    byte_length: u64,
    fork: u64,
    tree_hash: String,
    roots: Vec<NodeJson>,
    signature: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct NodeJson {
    index: u64,
    size: u64,
    hash: String,
}

#[derive(Debug, Deserialize)]
struct ProofsFile {
    cores: std::collections::BTreeMap<String, ProofCoreFixture>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofCoreFixture {
    key: String,
    compat: bool,
    manifest_encoding: Option<String>,
    writer: StateJson,
    readers: Vec<ReaderJson>,
    proofs: Vec<ProofCase>,
}

#[derive(Debug, Deserialize)]
struct ReaderJson {
    length: u64,
    bootstrap: Option<BootstrapJson>,
}

#[derive(Debug, Deserialize)]
struct BootstrapJson {
    proof: ProofJson,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofCase {
    name: String,
    reader_length: u64,
    request: RequestJson,
    proof: Option<ProofJson>,
    result: Option<ResultJson>,
    error: Option<ErrorJson>,
}

#[derive(Debug, Deserialize)]
struct RequestJson {
    block: Option<IndexJson>,
    hash: Option<IndexJson>,
    seek: Option<SeekReqJson>,
    upgrade: Option<UpgradeReqJson>,
    manifest: bool,
}

#[derive(Debug, Deserialize)]
struct IndexJson {
    index: u64,
    nodes: u64,
}

#[derive(Debug, Deserialize)]
struct SeekReqJson {
    bytes: u64,
    padding: u64,
}

#[derive(Debug, Deserialize)]
struct UpgradeReqJson {
    start: u64,
    length: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofJson {
    fork: u64,
    block: Option<BlockProofJson>,
    hash: Option<HashProofJson>,
    seek: Option<SeekProofJson>,
    upgrade: Option<UpgradeProofJson>,
    manifest: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BlockProofJson {
    index: u64,
    value: String,
    nodes: Vec<NodeJson>,
}

#[derive(Debug, Deserialize)]
struct HashProofJson {
    index: u64,
    nodes: Vec<NodeJson>,
}

#[derive(Debug, Deserialize)]
struct SeekProofJson {
    bytes: u64,
    nodes: Vec<NodeJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpgradeProofJson {
    start: u64,
    length: u64,
    nodes: Vec<NodeJson>,
    additional_nodes: Vec<NodeJson>,
    signature: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultJson {
    ok: bool,
    length: Option<u64>,
    byte_length: Option<u64>,
    tree_hash: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorJson {
    code: String,
}

// ---------------------------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------------------------

/// Decodes lowercase hex (fixture bytes); panics with `what` on malformed input.
pub fn unhex(s: &str, what: &str) -> Vec<u8> {
    fn nib(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    assert!(b.len() % 2 == 0, "oracle: {what}: odd-length hex");
    b.chunks(2)
        .map(|p| {
            let (Some(h), Some(l)) = (nib(p[0]), nib(p[1])) else { panic!("oracle: {what}: bad hex {s:?}") };
            (h << 4) | l
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash32(s: &str, what: &str) -> Hash {
    unhex(s, what).try_into().unwrap_or_else(|_| panic!("oracle: {what}: not 32 bytes"))
}

fn node(n: &NodeJson) -> Node {
    Node { index: n.index, size: n.size, hash: hash32(&n.hash, "node hash") }
}

fn nodes(ns: &[NodeJson]) -> Vec<Node> {
    ns.iter().map(node).collect()
}

/// The fixtures' `blake2b-ctr` block generator:
/// `BLAKE2b-256(seed ‖ u32LE(0)) ‖ BLAKE2b-256(seed ‖ u32LE(1)) ‖ …` truncated to `size`.
pub fn blake2b_ctr(seed: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    let mut i = 0u32;
    while out.len() < size {
        out.extend_from_slice(&blake2b_batch(&[seed, &i.to_le_bytes()]));
        i += 1;
    }
    out.truncate(size);
    out
}

fn block_bytes(b: &BlockJson) -> Vec<u8> {
    let data = match (&b.hex, &b.generator) {
        (Some(h), _) => unhex(h, "block hex"),
        (None, Some(g)) => {
            assert_eq!(g.kind, "blake2b-ctr", "oracle: unknown block generator {:?}", g.kind);
            let data = blake2b_ctr(&unhex(&g.seed, "generator seed"), b.size);
            if let Some(want) = &b.blake2b256 {
                assert_eq!(
                    hex(&blake2b(&data)),
                    *want,
                    "oracle: regenerated block {} (fork {}) does not hash as JS's",
                    b.index,
                    b.fork
                );
            }
            data
        }
        (None, None) => panic!("oracle: block {} has neither hex nor generator", b.index),
    };
    assert_eq!(data.len(), b.size, "oracle: block {} size", b.index);
    data
}

fn request(r: &RequestJson) -> ProofRequest {
    ProofRequest {
        block: r.block.as_ref().map(|b| RequestIndex { index: b.index, nodes: b.nodes }),
        hash: r.hash.as_ref().map(|h| RequestIndex { index: h.index, nodes: h.nodes }),
        seek: r.seek.as_ref().map(|s| RequestSeek { bytes: s.bytes, padding: s.padding }),
        upgrade: r.upgrade.as_ref().map(|u| RequestUpgrade { start: u.start, length: u.length }),
    }
}

/// JS proof JSON → (`Proof`, encoded manifest).
fn proof(p: &ProofJson) -> (Proof, Option<Vec<u8>>) {
    let proof = Proof {
        fork: p.fork,
        block: p.block.as_ref().map(|b| DataBlock {
            index: b.index,
            value: unhex(&b.value, "block value"),
            nodes: nodes(&b.nodes),
        }),
        hash: p.hash.as_ref().map(|h| DataHash { index: h.index, nodes: nodes(&h.nodes) }),
        seek: p.seek.as_ref().map(|s| DataSeek { bytes: s.bytes, nodes: nodes(&s.nodes) }),
        upgrade: p.upgrade.as_ref().map(|u| DataUpgrade {
            start: u.start,
            length: u.length,
            nodes: nodes(&u.nodes),
            additional_nodes: nodes(&u.additional_nodes),
            signature: unhex(&u.signature, "upgrade signature"),
        }),
    };
    (proof, p.manifest.as_deref().map(|m| unhex(m, "proof manifest")))
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

fn check_state<S: Storage>(core: &Hypercore<S>, want: &StateJson, ctx: &str) {
    let t = core.tree();
    assert_eq!(t.length, want.length, "{ctx}: length");
    assert_eq!(core.length(), want.length, "{ctx}: core.length()");
    assert_eq!(t.byte_length, want.byte_length, "{ctx}: byteLength");
    assert_eq!(core.byte_length(), want.byte_length, "{ctx}: core.byte_length()");
    assert_eq!(t.fork, want.fork, "{ctx}: fork");
    assert_eq!(t.roots, nodes(&want.roots), "{ctx}: roots");
    assert_eq!(hex(&t.hash()), want.tree_hash, "{ctx}: tree hash");
    assert_eq!(
        t.signature.as_deref().map(hex),
        want.signature.clone(),
        "{ctx}: signature bytes differ from JS's"
    );
}

fn core_options(f: &CoreFixture) -> (KeyPair, CreateOptions) {
    let kp = KeyPair::from_seed(&[f.key_pair.seed_byte; 32]);
    assert_eq!(hex(&kp.public_key()), f.key_pair.public_key, "oracle {}: key pair from seed", f.kind);
    let opts = if f.compat {
        CreateOptions { key_pair: Some(kp.clone()), manifest: None, compat: true }
    } else {
        CreateOptions {
            key_pair: Some(kp.clone()),
            manifest: Some(Manifest::default_signer(kp.public_key())),
            compat: false,
        }
    };
    (kp, opts)
}

fn check_identity<S: Storage>(core: &Hypercore<S>, f: &CoreFixture, ctx: &str) {
    assert_eq!(hex(core.key()), f.key, "{ctx}: key");
    assert_eq!(hex(core.discovery_key()), f.discovery_key, "{ctx}: discovery key");
    assert_eq!(hex(&discovery_key(core.key())), f.discovery_key, "{ctx}: discovery key of key");
    assert_eq!(core.is_compat(), f.compat, "{ctx}: compat flag");
    if let Some(enc) = &f.manifest_encoding {
        assert_eq!(core.manifest_for_peer().map(|m| hex(&m)), Some(enc.clone()), "{ctx}: manifest encoding");
    } else {
        assert_eq!(core.manifest_for_peer(), None, "{ctx}: compat cores send no manifest");
    }
}

/// Replays both cores of `cores.json` over fresh storages from `make`, checking every step
/// against JS, then reopens each through `reopen` and reads every block back.
pub async fn cores<S, F, Fut, R, RFut>(mut make: F, mut reopen: R, cores_json: &str)
where
    S: Storage,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
    R: FnMut(&S) -> RFut,
    RFut: Future<Output = S>,
{
    let file: CoresFile = serde_json::from_str(cores_json).expect("oracle: cores.json does not parse");
    assert!(
        file.cores.contains_key("compat") && file.cores.contains_key("manifest"),
        "oracle: cores.json lacks a core"
    );
    for (name, f) in &file.cores {
        let (_, opts) = core_options(f);
        let mut core = Hypercore::create(make().await, opts)
            .await
            .unwrap_or_else(|e| panic!("oracle {name}: create failed: {e}"));
        check_identity(&core, f, &format!("oracle {name} after create"));
        assert_eq!(core.length(), 0, "oracle {name}: new core is empty");

        // Final content per index: the last-listed block of that index.
        let mut content: Vec<Option<Vec<u8>>> = Vec::new();
        for (i, step) in f.steps.iter().enumerate() {
            let ctx = format!("oracle {name} step {i} ({} from {})", step.op, step.from);
            assert_eq!(core.length(), step.from, "{ctx}: length before");
            match step.op.as_str() {
                "append" => {
                    let blocks: Vec<Vec<u8>> = step
                        .block_indexes
                        .iter()
                        .map(|&idx| {
                            let b = f
                                .blocks
                                .iter()
                                .find(|b| b.index == idx && b.fork == step.state.fork)
                                .unwrap_or_else(|| {
                                    panic!("{ctx}: no block {idx} at fork {}", step.state.fork)
                                });
                            block_bytes(b)
                        })
                        .collect();
                    let len = core
                        .append_batch(&blocks)
                        .await
                        .unwrap_or_else(|e| panic!("{ctx}: append_batch failed: {e}"));
                    assert_eq!(len, step.state.length, "{ctx}: append_batch result");
                    for (idx, b) in step.block_indexes.iter().zip(blocks) {
                        let idx = *idx as usize;
                        if content.len() <= idx {
                            content.resize(idx + 1, None);
                        }
                        content[idx] = Some(b);
                    }
                }
                "truncate" => {
                    let to = step.to.unwrap_or_else(|| panic!("{ctx}: truncate without `to`"));
                    core.truncate(to, None).await.unwrap_or_else(|e| panic!("{ctx}: truncate failed: {e}"));
                    content.truncate(to as usize);
                }
                other => panic!("{ctx}: unknown op {other:?}"),
            }
            check_state(&core, &step.state, &ctx);
        }
        check_state(&core, &f.final_state, &format!("oracle {name} final"));

        // Reopen from the same storage: the persisted head must be the same head.
        let fut = reopen(core.storage().storage());
        drop(core);
        let core =
            Hypercore::open(fut.await).await.unwrap_or_else(|e| panic!("oracle {name}: reopen failed: {e}"));
        let ctx = format!("oracle {name} after reopen");
        check_identity(&core, f, &ctx);
        check_state(&core, &f.final_state, &ctx);
        assert!(core.writable(), "{ctx}: reopened writer must stay writable");
        assert_eq!(content.len() as u64, core.length(), "{ctx}: content length");
        for (i, want) in content.iter().enumerate() {
            let got = core.get(i as u64).await.unwrap_or_else(|e| panic!("{ctx}: get({i}) failed: {e}"));
            assert!(got.as_ref() == want.as_ref(), "{ctx}: block {i} differs after reopen");
        }
        assert_eq!(core.get(core.length()).await.expect("get beyond length"), None, "{ctx}: beyond length");
    }
}

/// A `create_remote` reader on a fresh store, bootstrapped with JS's proof for length `l`.
async fn reader<S, F, Fut>(make: &mut F, f: &ProofCoreFixture, l: u64, ctx: &str) -> Hypercore<S>
where
    S: Storage,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let mut r = Hypercore::create_remote(make().await, hash32(&f.key, "key"))
        .await
        .unwrap_or_else(|e| panic!("{ctx}: create_remote failed: {e}"));
    let spec = f.readers.iter().find(|r| r.length == l).unwrap_or_else(|| panic!("{ctx}: no reader {l}"));
    if let Some(b) = &spec.bootstrap {
        let (p, m) = proof(&b.proof);
        r.apply_proof(&p, m.as_deref())
            .await
            .unwrap_or_else(|e| panic!("{ctx}: bootstrap to {l} failed: {e}"));
    }
    assert_eq!(r.length(), l, "{ctx}: bootstrapped reader length");
    assert!(!r.writable(), "{ctx}: a remote core is not writable");
    r
}

/// Checks the writer of `proofs.json` (built over storage from `make`) against every JS
/// proof, and applies each JS proof to a fresh bootstrapped reader (also from `make`).
pub async fn proofs<S, F, Fut>(mut make: F, proofs_json: &str)
where
    S: Storage,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let file: ProofsFile = serde_json::from_str(proofs_json).expect("oracle: proofs.json does not parse");
    assert!(
        file.cores.contains_key("compat") && file.cores.contains_key("manifest"),
        "oracle: proofs.json lacks a core"
    );
    for (name, f) in &file.cores {
        // The writer: same key pair and blocks as cores.json, 40 blocks at fork 0.
        let seed = if f.compat { 1 } else { 2 };
        let kp = KeyPair::from_seed(&[seed; 32]);
        let opts = if f.compat {
            CreateOptions { key_pair: Some(kp.clone()), manifest: None, compat: true }
        } else {
            CreateOptions {
                key_pair: Some(kp.clone()),
                manifest: Some(Manifest::default_signer(kp.public_key())),
                compat: false,
            }
        };
        let mut writer = Hypercore::create(make().await, opts)
            .await
            .unwrap_or_else(|e| panic!("oracle {name}: create: {e}"));
        assert_eq!(hex(writer.key()), f.key, "oracle {name}: writer key");
        assert_eq!(
            writer.manifest_for_peer().map(|m| hex(&m)),
            f.manifest_encoding,
            "oracle {name}: manifest"
        );
        let blocks: Vec<Vec<u8>> = (0..40u64)
            .map(|i| {
                let seed = format!("hyperwasm-block-0-{i}");
                let size = block_size_fork0(i);
                blake2b_ctr(seed.as_bytes(), size)
            })
            .collect();
        // The tree and the head signature depend only on the blocks, not on how they were
        // batched, so one append reproduces JS's writer (checked against `writer` below).
        writer.append_batch(&blocks).await.unwrap_or_else(|e| panic!("oracle {name}: append: {e}"));
        check_state(&writer, &f.writer, &format!("oracle {name} writer"));

        for (i, case) in f.proofs.iter().enumerate() {
            let ctx = format!("oracle {name} proof #{i} {:?} (reader at {})", case.name, case.reader_length);
            let req = request(&case.request);
            match (writer.proof(&req).await, &case.error, &case.proof) {
                (Ok(ours), None, Some(js)) => {
                    let (js_proof, js_manifest) = proof(js);
                    assert_eq!(ours, js_proof, "{ctx}: proof differs from JS's");
                    let our_manifest = if case.request.manifest { writer.manifest_for_peer() } else { None };
                    assert_eq!(our_manifest, js_manifest, "{ctx}: manifest attached to the proof");
                }
                (Err(e), Some(js), _) => {
                    assert_eq!(e.code(), js.code, "{ctx}: error code (ours: {e})");
                }
                (Ok(ours), Some(js), _) => {
                    panic!("{ctx}: JS refused with {} but we answered {ours:?}", js.code)
                }
                (Err(e), None, _) => panic!("{ctx}: JS answered but we failed: {} ({e})", e.code()),
                (Ok(_), None, None) => panic!("{ctx}: fixture has neither proof nor error"),
            }

            let (Some(js), Some(result)) = (&case.proof, &case.result) else { continue };
            let mut r = reader(&mut make, f, case.reader_length, &ctx).await;
            let (p, m) = proof(js);
            let applied = r.apply_proof(&p, m.as_deref()).await;
            apply_matches(&r, applied, result, &ctx);
        }
    }
}

fn apply_matches<S: Storage>(
    r: &Hypercore<S>,
    applied: Result<crate::core::remote::Applied, HypercoreError>,
    result: &ResultJson,
    ctx: &str,
) {
    match (applied, result.ok) {
        (Ok(_), true) => {
            if let Some(l) = result.length {
                assert_eq!(r.length(), l, "{ctx}: reader length after apply");
            }
            if let Some(b) = result.byte_length {
                assert_eq!(r.byte_length(), b, "{ctx}: reader byteLength after apply");
            }
            if let Some(h) = &result.tree_hash {
                assert_eq!(hex(&r.tree().hash()), *h, "{ctx}: reader tree hash after apply");
            }
        }
        (Err(e), false) => {
            if let Some(code) = &result.code {
                assert_eq!(e.code(), code, "{ctx}: rejection code (ours: {e})");
            }
        }
        (Ok(_), false) => panic!("{ctx}: JS rejected this proof ({:?}) but we applied it", result.code),
        (Err(e), true) => panic!("{ctx}: JS accepted this proof but we rejected it: {} ({e})", e.code()),
    }
}

/// Size of fork-0 block `i`, as `tests/js/gen-fixtures.mjs` `makeBlock` picks it (proofs.json
/// carries no block list): 1 MiB at 20; empty at 0, 3, 8, 9, 31, 36; fixed sizes at 1, 2, 4,
/// 5, 6, 7; otherwise `u16LE(blake2b-ctr(seed ‖ "size", 2)) % 2048`.
fn block_size_fork0(i: u64) -> usize {
    match i {
        20 => 1024 * 1024,
        0 | 3 | 8 | 9 | 31 | 36 => 0,
        1 => 1,
        2 => 13,
        4 => 64,
        5 => 255,
        6 => 256,
        7 => 4096,
        _ => {
            let r = blake2b_ctr(format!("hyperwasm-block-0-{i}size").as_bytes(), 2);
            usize::from(u16::from_le_bytes([r[0], r[1]]) % 2048)
        }
    }
}
