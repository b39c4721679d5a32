//! The Rust Hyperbee replays the operations of the real JS Hyperbee in
//! `tests/fixtures/bee/codec.json` (puts, deletes of leaf and internal keys, a sub, an empty key,
//! a 3000-byte value) and must write the same bytes for every block, header included. Values are
//! taken from the JS blocks themselves. The full oracle suites are `oracle_bee_ops.rs` and
//! `interop_bee.rs`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use futures::executor::block_on;
use hyperwasm::bee::{BeeOptions, Hyperbee, Metadata, Node};
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::replicator::CoreSet;
use hyperwasm::storage::MemoryStorage;
use serde_json::Value;

fn load() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bee/codec.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn replays_js_bee_byte_for_byte() {
    block_on(async {
        let fixture = load();
        let ops = fixture["bee"]["ops"].as_array().unwrap();
        let blocks: Vec<Vec<u8>> = fixture["bee"]["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| hex::decode(b.as_str().unwrap()).unwrap())
            .collect();
        let core = Hypercore::create(MemoryStorage::new(), CreateOptions::default()).await.unwrap();
        let core = CoreSet::new().insert(core);
        let opts = BeeOptions {
            metadata: Some(Metadata { content_feed: None, user_data: Some(b"hyperwasm".to_vec()) }),
            ..BeeOptions::default()
        };
        let bee = Hyperbee::open(core.clone(), opts).await.unwrap();
        let sub = bee.sub(b"sub", None);
        for (i, op) in ops.iter().enumerate() {
            let seq = i as u64 + 1;
            let js = Node::decode(&blocks[seq as usize]).unwrap();
            let name = op[0].as_str().unwrap();
            let key = op[1].as_str().unwrap().as_bytes();
            match name {
                "put" => bee.put(key, js.value.as_deref().unwrap()).await.unwrap(),
                "del" => assert!(bee.del(key).await.unwrap()),
                "sub.put" => sub.put(key, js.value.as_deref().unwrap()).await.unwrap(),
                other => panic!("unknown op {other}"),
            }
            let ours = core.get(seq).await.unwrap().unwrap();
            assert_eq!(hex::encode(&ours), hex::encode(&blocks[seq as usize]), "block {seq} after {op}");
        }
        assert_eq!(core.get(0).await.unwrap().unwrap(), blocks[0], "header");
        // Reads of what JS wrote: every live key.
        for i in 0..40 {
            let k = format!("key-{i:03}");
            let got = bee.get(k.as_bytes()).await.unwrap();
            assert_eq!(got.is_some(), i % 3 != 0, "{k}");
        }
        assert_eq!(sub.get(b"s3").await.unwrap().unwrap().value.unwrap(), b"v3");
        assert!(bee.get(b"s3").await.unwrap().is_none());
    });
}

/// A checkout read after a truncation never serves a cut block from the decoded cache.
#[test]
fn checkout_after_truncate_never_serves_cut_blocks() {
    block_on(async {
        let core = Hypercore::create(MemoryStorage::new(), CreateOptions::default()).await.unwrap();
        let core = CoreSet::new().insert(core);
        let bee = Hyperbee::open(core.clone(), BeeOptions::default()).await.unwrap();
        for i in 0..10u8 {
            bee.put(&[b'a' + i], &[i]).await.unwrap(); // blocks 1..=10
        }
        let c = bee.checkout(11).await;
        assert_eq!(c.get(b"j").await.unwrap().unwrap().seq, 10); // cached on fork 0
        core.truncate(6).await.unwrap();
        let err = c.get(b"j").await.unwrap_err();
        assert_eq!(err.code(), "SNAPSHOT_NOT_AVAILABLE", "{err}");
        // Blocks below the cut are still readable through the checkout's snapshot…
        assert_eq!(c.get_by_seq(3).await.unwrap().key, b"c");
        // …and the live bee sees the shorter tree.
        assert_eq!(bee.get(b"e").await.unwrap().unwrap().seq, 5);
        assert!(bee.get(b"j").await.unwrap().is_none());
    });
}

/// A batch operation that fails half-way (a block it needs is gone) poisons the batch: later
/// operations and `flush` refuse, and nothing is written.
#[test]
fn a_failed_batch_operation_discards_the_batch() {
    block_on(async {
        let core = Hypercore::create(MemoryStorage::new(), CreateOptions::default()).await.unwrap();
        let core = CoreSet::new().insert(core);
        let bee = Hyperbee::open(core.clone(), BeeOptions::default()).await.unwrap();
        for i in 0..40u8 {
            bee.put(&[i], &[i]).await.unwrap();
        }
        let length = core.info().await.length;
        core.clear(1, 20).await.unwrap(); // blocks holding keys the tree still points at
                                          // A fresh handle: nothing in its decoded cache.
        let bee =
            Hyperbee::open(core.clone(), BeeOptions { wait: false, ..BeeOptions::default() }).await.unwrap();
        let mut batch = bee.batch().await.unwrap();
        let mut failed = None;
        for i in 0..40u8 {
            if let Err(e) = batch.del(&[i]).await {
                failed = Some(e);
                break;
            }
        }
        let err = failed.expect("some delete needs a cleared block");
        assert_eq!(err.code(), "BLOCK_NOT_AVAILABLE", "{err}");
        assert_eq!(batch.put(b"x", b"y").await.unwrap_err().code(), "INVALID_OPERATION");
        assert_eq!(batch.flush().await.unwrap_err().code(), "INVALID_OPERATION");
        assert_eq!(core.info().await.length, length, "nothing written");
    });
}
