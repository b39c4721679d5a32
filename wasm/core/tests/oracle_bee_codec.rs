//! Hyperbee v1 block codecs against the JS oracle: `tests/fixtures/bee/codec.json`
//! (`tests/js/gen-bee-fixtures.mjs`, hyperbee 2.27.3). Every vector and every block of a real JS
//! Hyperbee decodes to the expected value and re-encodes to the same bytes; decoding arbitrary
//! input never panics.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use hyperwasm::bee::{BeeDecodeError, Header, Level, Metadata, Node, YoloIndex};
use proptest::prelude::*;
use serde_json::Value;

fn load() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bee/codec.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn opt_hex(v: &Value) -> Option<Vec<u8>> {
    if v.is_null() {
        None
    } else {
        Some(unhex(v))
    }
}

fn seqs(v: &Value) -> Vec<u64> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect()
}

fn yolo_from(v: &Value) -> YoloIndex {
    let levels = v["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| Level { keys: seqs(&l["keys"]), children: seqs(&l["children"]) })
        .collect();
    YoloIndex { levels }
}

fn vectors(f: &Value, kind: &str) -> Vec<(Value, Vec<u8>)> {
    let list = f["vectors"][kind].as_array().unwrap();
    assert!(!list.is_empty(), "no {kind} vectors");
    list.iter().map(|e| (e["value"].clone(), unhex(&e["hex"]))).collect()
}

#[test]
fn header_vectors() {
    let f = load();
    for (v, bytes) in vectors(&f, "header") {
        let metadata = if v["metadata"].is_null() {
            None
        } else {
            Some(Metadata {
                content_feed: opt_hex(&v["metadata"]["contentFeed"]),
                user_data: opt_hex(&v["metadata"]["userData"]),
            })
        };
        let expected = Header { protocol: v["protocol"].as_str().unwrap().to_owned(), metadata };
        assert_eq!(expected.encode(), bytes, "encode {v}");
        assert_eq!(Header::decode(&bytes).unwrap(), expected, "decode {v}");
    }
}

#[test]
fn node_vectors() {
    let f = load();
    for (v, bytes) in vectors(&f, "node") {
        let expected = Node { index: unhex(&v["index"]), key: unhex(&v["key"]), value: opt_hex(&v["value"]) };
        assert_eq!(expected.encode(), bytes, "encode {v}");
        assert_eq!(Node::decode(&bytes).unwrap(), expected, "decode {v}");
    }
}

#[test]
fn yolo_vectors() {
    let f = load();
    for (v, bytes) in vectors(&f, "yolo") {
        let expected = yolo_from(&v);
        assert_eq!(expected.encode(), bytes, "encode {v}");
        assert_eq!(YoloIndex::decode(&bytes).unwrap(), expected, "decode {v}");
    }
}

#[test]
fn real_bee_blocks() {
    let f = load();
    let blocks: Vec<Vec<u8>> = f["bee"]["blocks"].as_array().unwrap().iter().map(unhex).collect();
    let ops = f["bee"]["ops"].as_array().unwrap();
    assert_eq!(blocks.len(), ops.len() + 1, "one header block plus one block per op");

    let header = Header::decode(&blocks[0]).unwrap();
    assert_eq!(header.protocol, "hyperbee");
    assert_eq!(header.metadata.as_ref().unwrap().user_data.as_deref(), Some(&b"hyperwasm"[..]));
    assert_eq!(header.encode(), blocks[0]);

    let mut deletions = 0;
    for (i, (block, op)) in blocks[1..].iter().zip(ops).enumerate() {
        let node = Node::decode(block).unwrap_or_else(|e| panic!("block {}: {e}", i + 1));
        assert_eq!(node.encode(), *block, "block {} re-encodes", i + 1);
        let is_del = op[0] == "del";
        assert_eq!(node.value.is_none(), is_del, "block {}: {op}", i + 1);
        deletions += usize::from(is_del);
        if op[0] == "put" {
            assert_eq!(node.key, op[1].as_str().unwrap().as_bytes(), "block {} key", i + 1);
        }
        let index = YoloIndex::decode(&node.index).unwrap_or_else(|e| panic!("block {} index: {e}", i + 1));
        assert_eq!(index.encode(), node.index, "block {} index re-encodes", i + 1);
        assert!(!index.levels.is_empty(), "block {} has an index", i + 1);
        for level in &index.levels {
            assert!(level.keys.iter().all(|&s| s as usize <= i + 1), "block {}: keys point back", i + 1);
            assert_eq!(level.children.len() % 2, 0, "children are (seq, offset) pairs");
        }
    }
    assert!(deletions > 0);
}

#[test]
fn errors_have_the_js_code() {
    let e = Node::decode(&[0x0a]).unwrap_err();
    assert_eq!(e, BeeDecodeError::Truncated);
    assert_eq!(e.code(), "DECODING_ERROR");
    assert_eq!(Node::decode(&[0x12, 0x00]), Err(BeeDecodeError::MissingField("index")));
    assert_eq!(Header::decode(&[0x12, 0x00]), Err(BeeDecodeError::MissingField("protocol")));
}

/// Every strict prefix of every real block is refused or decodes to something that re-encodes
/// to that prefix (a node missing only its trailing value field).
#[test]
fn real_block_prefixes() {
    let f = load();
    for hexs in f["bee"]["blocks"].as_array().unwrap().iter().skip(1).take(10) {
        let block = unhex(hexs);
        for n in 0..block.len() {
            if let Ok(node) = Node::decode(&block[..n]) {
                assert_eq!(node.encode(), &block[..n]);
            }
        }
    }
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Header::decode(&bytes);
        let _ = Metadata::decode(&bytes);
        let _ = Node::decode(&bytes);
        let _ = YoloIndex::decode(&bytes);
        let _ = Level::decode(&bytes);
    }

    #[test]
    fn yolo_roundtrip(levels in proptest::collection::vec(
        (proptest::collection::vec(any::<u64>(), 0..5), proptest::collection::vec(any::<u64>(), 0..5)), 0..4)) {
        let y = YoloIndex { levels: levels.into_iter().map(|(keys, children)| Level { keys, children }).collect() };
        prop_assert_eq!(YoloIndex::decode(&y.encode()).unwrap(), y);
    }

    #[test]
    fn node_roundtrip(index in proptest::collection::vec(any::<u8>(), 0..40),
                      key in proptest::collection::vec(any::<u8>(), 0..40),
                      value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))) {
        let n = Node { index, key, value };
        prop_assert_eq!(Node::decode(&n.encode()).unwrap(), n);
    }
}
