//! Arbitrary bytes as hyperbee blocks: the `Node` / `YoloIndex` codecs never panic, and a
//! bee on a memory core whose blocks are these bytes (the input itself when it decodes as a
//! node, and blocks assembled from it: see `blocks_from`) answers every read and write with a
//! typed error or a sane answer, without panicking or waiting (each operation must finish in
//! one poll on a local core). The same checks run as a proptest in
//! `wasm/core/tests/bee_hostile.rs`.
#![no_main]

#[path = "../../wasm/core/tests/bee_support/mod.rs"]
mod bee_support;

use bee_support::{bee_of, blocks_from, exercise, header, now, probes};
use hyperwasm::bee::{Node, YoloIndex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = YoloIndex::decode(data);
    let as_node = Node::decode(data);
    if let Ok(node) = &as_node {
        if let Ok(index) = YoloIndex::decode(&node.index) {
            assert_eq!(YoloIndex::decode(&index.encode()).ok(), Some(index));
        }
    }
    now(async {
        if as_node.is_ok() {
            let bee = bee_of(&[header(), data.to_vec()]).await;
            let keys = probes(&bee).await;
            exercise(&bee, &keys).await;
        }
        let bee = bee_of(&blocks_from(data)).await;
        let keys = probes(&bee).await;
        exercise(&bee, &keys).await;
    });
});
