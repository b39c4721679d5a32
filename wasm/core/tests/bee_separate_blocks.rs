//! `Batch::separate_blocks`: one batch holding the whole JS-recorded script of
//! `tests/fixtures/bee/codec.json` (puts, deletes of leaf and internal keys, sub keys, an empty
//! key, a large value) appends exactly the blocks JS wrote for those calls made one after the
//! other, in one flush; and the batch's reads see its writes meanwhile.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use futures::executor::block_on;
use hyperwasm::bee::{BeeOptions, Hyperbee, Metadata, Node};
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::replicator::CoreSet;
use hyperwasm::storage::MemoryStorage;
use serde_json::Value;

#[test]
fn one_flush_writes_the_blocks_of_separate_calls() {
    block_on(async {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bee/codec.json");
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let ops = fixture["bee"]["ops"].as_array().unwrap();
        let blocks: Vec<Vec<u8>> = fixture["bee"]["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| hex::decode(b.as_str().unwrap()).unwrap())
            .collect();
        let core = CoreSet::new()
            .insert(Hypercore::create(MemoryStorage::new(), CreateOptions::default()).await.unwrap());
        let opts = BeeOptions {
            metadata: Some(Metadata { content_feed: None, user_data: Some(b"hyperwasm".to_vec()) }),
            ..BeeOptions::default()
        };
        let bee = Hyperbee::open(core.clone(), opts).await.unwrap();
        let mut batch = bee.batch().await.unwrap();
        batch.separate_blocks();
        for (i, op) in ops.iter().enumerate() {
            let js = Node::decode(&blocks[i + 1]).unwrap();
            let key = op[1].as_str().unwrap().as_bytes();
            // The batch is the main bee's: a sub key carries the sub prefix.
            let key = if op[0] == "sub.put" { [b"sub\0", key].concat() } else { key.to_vec() };
            match op[0].as_str().unwrap() {
                "put" | "sub.put" => batch.put(&key, js.value.as_deref().unwrap()).await.unwrap(),
                "del" => assert!(batch.del(&key).await.unwrap()),
                other => panic!("unknown op {other}"),
            }
            let seen = batch.get(&key).await.unwrap();
            assert_eq!(seen.is_some(), op[0] != "del", "the batch sees op {i}");
        }
        // Only the header is stored before the flush; then every block at once.
        assert_eq!(core.info().await.length, 1);
        batch.flush().await.unwrap();
        assert_eq!(core.info().await.length, blocks.len() as u64);
        for (i, want) in blocks.iter().enumerate() {
            let got = core.get(i as u64).await.unwrap().unwrap();
            assert_eq!(hex::encode(got), hex::encode(want), "block {i}");
        }
    });
}
