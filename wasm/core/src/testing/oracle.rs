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

use super::fixtures::{
    blake2b_ctr, nodes, to_hex, unhex_n, CoreJson, CoresFile, ProofsCoreJson, ProofsFile, ResultJson,
    StateJson,
};
use crate::core::{CreateOptions, Hypercore, HypercoreError, Manifest};
use crate::crypto::hash::discovery_key;
use crate::crypto::KeyPair;
use crate::storage::Storage;
use std::future::Future;

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
    assert_eq!(to_hex(t.hash()), want.tree_hash, "{ctx}: tree hash");
    assert_eq!(
        t.signature.as_deref().map(to_hex),
        want.signature.clone(),
        "{ctx}: signature bytes differ from JS's"
    );
}

fn core_options(f: &CoreJson) -> (KeyPair, CreateOptions) {
    let kp = KeyPair::from_seed(&[f.key_pair.seed_byte; 32]);
    assert_eq!(to_hex(kp.public_key()), f.key_pair.public_key, "oracle {}: key pair from seed", f.kind);
    let opts = writer_options(&kp, f.compat);
    (kp, opts)
}

/// A writer with `kp`: compat, or with the default signer manifest of its key.
fn writer_options(kp: &KeyPair, compat: bool) -> CreateOptions {
    if compat {
        CreateOptions { key_pair: Some(kp.clone()), manifest: None, compat: true }
    } else {
        CreateOptions {
            key_pair: Some(kp.clone()),
            manifest: Some(Manifest::default_signer(kp.public_key())),
            compat: false,
        }
    }
}

fn check_identity<S: Storage>(core: &Hypercore<S>, f: &CoreJson, ctx: &str) {
    assert_eq!(to_hex(core.key()), f.key, "{ctx}: key");
    assert_eq!(to_hex(core.discovery_key()), f.discovery_key, "{ctx}: discovery key");
    assert_eq!(to_hex(discovery_key(core.key())), f.discovery_key, "{ctx}: discovery key of key");
    assert_eq!(core.is_compat(), f.compat, "{ctx}: compat flag");
    if let Some(enc) = &f.manifest_encoding {
        assert_eq!(
            core.manifest_for_peer().map(|m| to_hex(&m)),
            Some(enc.clone()),
            "{ctx}: manifest encoding"
        );
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
    assert!(file.cores.has_all_kinds(), "oracle: cores.json lacks a core");
    for (name, f) in file.cores.iter() {
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
                        .flatten()
                        .map(|&idx| {
                            let b = f
                                .blocks
                                .iter()
                                .find(|b| b.index == idx && b.fork == step.state.fork)
                                .unwrap_or_else(|| {
                                    panic!("{ctx}: no block {idx} at fork {}", step.state.fork)
                                });
                            b.data()
                        })
                        .collect();
                    let len = core
                        .append_batch(&blocks)
                        .await
                        .unwrap_or_else(|e| panic!("{ctx}: append_batch failed: {e}"));
                    assert_eq!(len, step.state.length, "{ctx}: append_batch result");
                    for (idx, b) in step.block_indexes.iter().flatten().zip(blocks) {
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
async fn reader<S, F, Fut>(make: &mut F, f: &ProofsCoreJson, l: u64, ctx: &str) -> Hypercore<S>
where
    S: Storage,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let mut r = Hypercore::create_remote(make().await, unhex_n(&f.key))
        .await
        .unwrap_or_else(|e| panic!("{ctx}: create_remote failed: {e}"));
    let spec = f.readers.iter().find(|r| r.length == l).unwrap_or_else(|| panic!("{ctx}: no reader {l}"));
    if let Some(b) = &spec.bootstrap {
        let (p, m) = (b.proof.proof(), b.proof.manifest_bytes());
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
    assert!(file.cores.has_all_kinds(), "oracle: proofs.json lacks a core");
    for (name, f) in file.cores.iter() {
        // The writer: same key pair and blocks as cores.json, 40 blocks at fork 0.
        let seed = if f.compat { 1 } else { 2 };
        let kp = KeyPair::from_seed(&[seed; 32]);
        let opts = writer_options(&kp, f.compat);
        let mut writer = Hypercore::create(make().await, opts)
            .await
            .unwrap_or_else(|e| panic!("oracle {name}: create: {e}"));
        assert_eq!(to_hex(writer.key()), f.key, "oracle {name}: writer key");
        assert_eq!(
            writer.manifest_for_peer().map(|m| to_hex(&m)),
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
        let want = f.writer.as_ref().unwrap_or_else(|| panic!("oracle {name}: proofs.json has no writer"));
        check_state(&writer, want, &format!("oracle {name} writer"));

        for (i, case) in f.proofs.iter().enumerate() {
            let ctx = format!("oracle {name} proof #{i} {:?} (reader at {})", case.name, case.reader_length);
            let request = case.request.as_ref().unwrap_or_else(|| panic!("{ctx}: no request"));
            let req = request.proof_request();
            match (writer.proof(&req).await, &case.error, &case.proof) {
                (Ok(ours), None, Some(js)) => {
                    let (js_proof, js_manifest) = (js.proof(), js.manifest_bytes());
                    assert_eq!(ours, js_proof, "{ctx}: proof differs from JS's");
                    let our_manifest = if request.manifest { writer.manifest_for_peer() } else { None };
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
            let (p, m) = (js.proof(), js.manifest_bytes());
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
                assert_eq!(to_hex(r.tree().hash()), *h, "{ctx}: reader tree hash after apply");
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
