//! `cores.json`: replays the JS writers' appends and truncation with `TreeBatch` and checks every
//! intermediate head (length, byte length, fork, roots, tree hash), the signable bytes, the
//! deterministic signatures and their verification.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{load, MapSource};
use futures::executor::block_on;
use hyperwasm::core::verifier::{SignedBatch, VerifyError};
use hyperwasm::core::{manifest::Manifest, verifier::Verifier};
use hyperwasm::crypto::hash::discovery_key;
use hyperwasm::crypto::KeyPair;
use hyperwasm::encoding::Compact;
use hyperwasm::testing::fixtures::{nodes, unhex, unhex_n, CoreJson, CoresFile, StateJson, KINDS};
use hyperwasm::tree::{TreeBatch, TreeState};
use std::collections::BTreeMap;

fn verifier_for(core: &CoreJson) -> Verifier {
    let key: [u8; 32] = unhex_n(&core.key);
    if core.compat {
        assert!(core.manifest.is_none() && core.manifest_encoding.is_none());
        assert_eq!(core.key, core.key_pair.public_key, "compat key = public key");
        Verifier::compat(&key)
    } else {
        let m: Manifest = core.manifest.as_ref().unwrap().manifest();
        assert_eq!(Some(hex::encode(m.to_bytes())), core.manifest_encoding, "manifest encoding");
        assert_eq!(hex::encode(m.key()), core.key, "key = manifest hash");
        assert_eq!(
            m,
            Manifest::default_signer(unhex_n(&core.key_pair.public_key)),
            "corestore default manifest"
        );
        let v = Verifier::new(&key, &m);
        assert!(!v.is_compat());
        v
    }
}

/// Asserts a Rust head equals the JS snapshot, and checks signable, signature and verification.
fn check_state(what: &str, state: &TreeState, js: &StateJson, verifier: &Verifier, kp: &KeyPair) {
    assert_eq!(state.length, js.length, "{what}: length");
    assert_eq!(state.byte_length, js.byte_length, "{what}: byteLength");
    assert_eq!(state.fork, js.fork, "{what}: fork");
    assert_eq!(state.roots, nodes(&js.roots), "{what}: roots");
    let hash = state.hash();
    assert_eq!(hex::encode(hash), js.tree_hash, "{what}: treeHash");

    let signable = verifier.signable(0, &hash, state.length, state.fork).unwrap();
    assert_eq!(Some(hex::encode(&signable)), js.signable, "{what}: signable");
    assert_eq!(signable.len(), if verifier.is_compat() { 80 } else { 112 });

    // Ed25519 is deterministic: the Rust signature is JS's, byte for byte.
    let js_sig = unhex(js.signature.as_deref().expect("signed head"));
    let sig = verifier.sign(kp, &hash, state.length, state.fork).unwrap();
    assert_eq!(hex::encode(&sig), hex::encode(&js_sig), "{what}: signature");
    assert_eq!(sig.len(), if verifier.is_compat() { 64 } else { 68 });

    let batch = SignedBatch::from_roots(&state.roots, state.fork).unwrap();
    assert_eq!(batch.tree_hash(), &hash);
    assert_eq!(batch.length(), state.length);
    verifier.verify(&batch, Some(&js_sig)).unwrap_or_else(|e| panic!("{what}: JS signature rejected: {e}"));
    verifier.verify(&SignedBatch::new(hash, state.length, state.fork), Some(&js_sig)).unwrap();

    // Rejections: one flipped bit (in the Ed25519 part for both encodings), wrong length, wrong
    // fork, wrong length of the tree, no signature.
    for bit in [0usize, 77, 8 * js_sig.len() - 200] {
        let mut bad = js_sig.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let err = verifier.verify(&batch, Some(&bad)).unwrap_err();
        assert_eq!(err.code(), "INVALID_SIGNATURE", "{what}: flipped bit {bit}: {err:?}");
    }
    let short = &js_sig[..js_sig.len() - 1];
    assert!(verifier.verify(&batch, Some(short)).is_err(), "{what}: short signature");
    if verifier.is_compat() {
        let mut long = js_sig.clone();
        long.push(0);
        assert_eq!(verifier.verify(&batch, Some(&long)), Err(VerifyError::InvalidSignature), "{what}");
    }
    let wrong_fork = SignedBatch::new(hash, state.length, state.fork + 1);
    assert_eq!(
        verifier.verify(&wrong_fork, Some(&js_sig)),
        Err(VerifyError::InvalidSignature),
        "{what}: fork"
    );
    let wrong_len = SignedBatch::new(hash, state.length + 1, state.fork);
    assert_eq!(
        verifier.verify(&wrong_len, Some(&js_sig)),
        Err(VerifyError::InvalidSignature),
        "{what}: length"
    );
    assert_eq!(verifier.verify(&batch, None), Err(VerifyError::MissingSignature), "{what}: none");
}

/// Replays one core; returns the number of steps checked.
fn replay(core: &CoreJson) -> usize {
    let kind = &core.kind;
    let kp = KeyPair::from_seed(&[core.key_pair.seed_byte; 32]);
    assert_eq!(hex::encode(kp.public_key()), core.key_pair.public_key);
    assert_eq!(hex::encode(kp.secret_key()), core.key_pair.secret_key);
    assert_eq!(hex::encode(discovery_key(&unhex_n(&core.key))), core.discovery_key);
    let verifier = verifier_for(core);

    let mut blocks: BTreeMap<(u64, u64), Vec<u8>> = BTreeMap::new();
    for b in &core.blocks {
        assert!(
            blocks.insert((b.fork, b.index), b.data()).is_none(),
            "duplicate block {}/{}",
            b.fork,
            b.index
        );
    }
    assert_eq!(blocks.len(), 50, "{kind}: 40 blocks at fork 0 + 10 at fork 1");

    let mut state = TreeState::default();
    let mut source = MapSource::default();
    let mut checked = 0usize;
    for (i, step) in core.steps.iter().enumerate() {
        let what = format!("{kind} step {i} ({} from {})", step.op, step.from);
        assert_eq!(step.from, state.length, "{what}: starting length");
        let mut batch = TreeBatch::new(&state);
        match step.op.as_str() {
            "append" => {
                let indexes = step.block_indexes.as_ref().unwrap();
                assert_eq!(Some(indexes.len() as u64), step.count);
                for idx in indexes {
                    assert_eq!(*idx, batch.length, "{what}: blocks in order");
                    batch.append(&blocks[&(step.state.fork, *idx)]);
                }
                source.insert_all(&batch.nodes);
            }
            "truncate" => {
                let to = step.to.unwrap();
                block_on(batch.truncate(&source, to, state.fork + 1)).unwrap();
                // Drop what the truncation invalidates, as a core's storage would.
                let (head, crossing) = batch.truncated_from().unwrap();
                source.0.retain(|i, _| *i < head && !crossing.contains(i));
                assert!(batch.nodes.is_empty(), "{what}: a truncation creates no nodes");
            }
            op => panic!("unknown op {op}"),
        }
        state = batch.into_state();
        check_state(&what, &state, &step.state, &verifier, &kp);
        checked += 1;
    }
    check_state(&format!("{kind} final"), &state, &core.final_state, &verifier, &kp);
    // The roots of the final head can be read back from the node source.
    assert_eq!(block_on(TreeState::roots_at(&source, state.length)).unwrap(), state.roots);
    checked
}

#[test]
fn cores_replay() {
    let f: CoresFile = load("cores.json");
    let mut total = 0usize;
    for kind in KINDS {
        let core = f.cores.get(kind);
        assert_eq!(core.kind, kind);
        assert_eq!(core.compat, kind == "compat");
        let n = replay(core);
        assert_eq!(n, core.steps.len());
        assert_eq!(n, 11, "README: 8 appends, 1 truncation, 2 appends");
        total += n;
    }
    assert!(total > 0);
}
