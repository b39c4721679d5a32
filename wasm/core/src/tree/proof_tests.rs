//! Generate-then-verify matrix: every reader length, block and upgrade target of small
//! trees. JS byte-order parity is pinned separately by the oracle fixtures in `tests/`.

use super::proof::{ProofRequest, RequestIndex, RequestSeek, RequestUpgrade};
use super::testing::MapSource;
use super::verify::{missing_nodes, upgrade_length, verify};
use super::*;
use futures::executor::block_on;

fn blocks(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i as u8; (i * 7) % 5 + 1]).collect()
}

fn tree_of(blocks: &[Vec<u8>]) -> (TreeState, MapSource) {
    let mut b = TreeBatch::new(&TreeState::default());
    for blk in blocks {
        b.append(blk);
    }
    let src = MapSource::default();
    src.insert_all(&b.nodes);
    let mut state = b.into_state();
    state.signature = Some(vec![9; 64]);
    (state, src)
}

#[test]
fn upgrades_from_every_length() {
    for n in 1..=20usize {
        let data = blocks(n);
        let (writer, wsrc) = tree_of(&data);
        for l in 0..n {
            let (reader, rsrc) = tree_of(&data[..l]);
            for target in (l + 1)..=n {
                let req = ProofRequest {
                    upgrade: Some(RequestUpgrade { start: l as u64, length: (target - l) as u64 }),
                    ..Default::default()
                };
                let proof = block_on(generate_proof(&wsrc, &writer, &req)).unwrap();
                let up = proof.upgrade.as_ref().unwrap();
                assert_eq!(upgrade_length(up), n as u64);
                let v = block_on(verify(&rsrc, &reader, &proof)).unwrap();
                assert!(v.upgraded);
                assert_eq!(v.batch.length, n as u64, "n={n} l={l} target={target}");
                assert_eq!(v.batch.hash(), writer.hash(), "n={n} l={l} target={target}");
                assert_eq!(v.batch.byte_length, writer.byte_length);
            }
        }
    }
}

#[test]
#[allow(clippy::needless_range_loop)]
fn blocks_with_and_without_upgrade() {
    for n in 1..=17usize {
        let data = blocks(n);
        let (writer, wsrc) = tree_of(&data);
        for l in 0..=n {
            let (reader, rsrc) = tree_of(&data[..l]);
            for b in 0..n {
                let nodes = block_on(missing_nodes(&rsrc, 2 * b as u64, l as u64)).unwrap();
                let upgrade = (b >= l).then(|| RequestUpgrade { start: l as u64, length: (n - l) as u64 });
                let req = ProofRequest {
                    block: Some(RequestIndex { index: b as u64, nodes }),
                    upgrade,
                    ..Default::default()
                };
                let mut proof = block_on(generate_proof(&wsrc, &writer, &req)).unwrap();
                proof.block.as_mut().unwrap().value = data[b].clone();
                let v = block_on(verify(&rsrc, &reader, &proof))
                    .unwrap_or_else(|e| panic!("n={n} l={l} b={b}: {e}"));
                if upgrade.is_some() {
                    assert_eq!(v.batch.hash(), writer.hash());
                }
                // A tampered block is refused outright, or (under an upgrade) yields a tree
                // hash the writer never signed.
                proof.block.as_mut().unwrap().value.push(1);
                match block_on(verify(&rsrc, &reader, &proof)) {
                    Err(_) => {}
                    Ok(v) => assert!(v.upgraded && v.batch.hash() != writer.hash(), "n={n} l={l} b={b}"),
                }
            }
        }
    }
}

#[test]
fn hash_and_seek_proofs_verify() {
    let data = blocks(13);
    let (writer, wsrc) = tree_of(&data);
    let total: u64 = data.iter().map(|b| b.len() as u64).sum();
    for bytes in 0..total {
        let req = ProofRequest {
            seek: Some(RequestSeek { bytes, padding: 0 }),
            upgrade: Some(RequestUpgrade { start: 0, length: 13 }),
            ..Default::default()
        };
        let proof = block_on(generate_proof(&wsrc, &writer, &req)).unwrap();
        let empty = MapSource::default();
        let v = block_on(verify(&empty, &TreeState::default(), &proof)).unwrap();
        assert_eq!(v.batch.hash(), writer.hash(), "seek {bytes}");
    }
    let (reader, rsrc) = tree_of(&data[..8]);
    let req = ProofRequest { hash: Some(RequestIndex { index: 2, nodes: 0 }), ..Default::default() };
    let proof = block_on(generate_proof(&wsrc, &writer, &req)).unwrap();
    assert_eq!(proof.hash.as_ref().unwrap().nodes[0].index, 2);
    block_on(verify(&rsrc, &reader, &proof)).unwrap();
}

#[test]
fn hostile_proofs_are_errors() {
    let data = blocks(9);
    let (writer, wsrc) = tree_of(&data);
    let (reader, rsrc) = tree_of(&data[..3]);
    let req = ProofRequest {
        block: Some(RequestIndex { index: 5, nodes: 0 }),
        upgrade: Some(RequestUpgrade { start: 3, length: 6 }),
        ..Default::default()
    };
    let mut proof = block_on(generate_proof(&wsrc, &writer, &req)).unwrap();
    proof.block.as_mut().unwrap().value = data[5].clone();
    block_on(verify(&rsrc, &reader, &proof)).unwrap();

    let mut reordered = proof.clone();
    reordered.block.as_mut().unwrap().nodes.reverse();
    // JS NodeQueue.shift: INVALID_OPERATION 'Expected node X, got node Y' / 'got (nil)'.
    assert_eq!(block_on(verify(&rsrc, &reader, &reordered)).unwrap_err().code(), "INVALID_OPERATION");

    let mut truncated = proof.clone();
    truncated.upgrade.as_mut().unwrap().nodes.pop();
    assert_eq!(block_on(verify(&rsrc, &reader, &truncated)).unwrap_err().code(), "INVALID_OPERATION");

    let mut huge = proof.clone();
    huge.upgrade.as_mut().unwrap().additional_nodes.push(Node { index: u64::MAX, size: 1, hash: [0; 32] });
    assert!(block_on(verify(&rsrc, &reader, &huge)).is_err());

    // Requests JS refuses.
    let bad = ProofRequest { upgrade: Some(RequestUpgrade { start: 3, length: 7 }), ..Default::default() };
    assert_eq!(block_on(generate_proof(&wsrc, &writer, &bad)).unwrap_err().code(), "INVALID_OPERATION");
    let bad = ProofRequest { block: Some(RequestIndex { index: 9, nodes: 0 }), ..Default::default() };
    assert!(block_on(generate_proof(&wsrc, &writer, &bad)).is_err());
    let bad = ProofRequest { block: Some(RequestIndex { index: 1, nodes: 1 << 40 }), ..Default::default() };
    assert!(block_on(generate_proof(&wsrc, &writer, &bad)).is_err());
}

fn arb_node() -> impl proptest::strategy::Strategy<Value = Node> {
    use proptest::prelude::*;
    (prop_oneof![0u64..64, any::<u64>()], any::<u64>(), any::<[u8; 32]>())
        .prop_map(|(index, size, hash)| Node { index, size, hash })
}

proptest::proptest! {
    /// A hostile peer's proof (arbitrary indexes, sizes, lengths) is an error or a proof that
    /// merely fails its signature check later — never a panic or a runaway loop.
    #[test]
    fn hostile_proofs_never_panic(
        block in proptest::option::of((0u64..40, proptest::collection::vec(arb_node(), 0..8))),
        upgrade in proptest::option::of((0u64..40, 0u64..40, proptest::collection::vec(arb_node(), 0..8), proptest::collection::vec(arb_node(), 0..4))),
        seek in proptest::option::of(proptest::collection::vec(arb_node(), 0..5)),
        reader_len in 0usize..12,
    ) {
        use super::proof::{DataBlock, DataSeek, DataUpgrade, Proof};
        let data = blocks(12);
        let (reader, rsrc) = tree_of(&data[..reader_len]);
        let proof = Proof {
            fork: 0,
            block: block.map(|(index, nodes)| DataBlock { index, value: vec![1, 2], nodes }),
            hash: None,
            seek: seek.map(|nodes| DataSeek { bytes: 3, nodes }),
            upgrade: upgrade.map(|(start, length, nodes, additional_nodes)| DataUpgrade {
                start, length, nodes, additional_nodes, signature: vec![0; 64],
            }),
        };
        let _ = block_on(verify(&rsrc, &reader, &proof));
    }

    /// Any request a peer can encode is answered or refused, never a panic.
    #[test]
    fn hostile_requests_never_panic(
        block in proptest::option::of((proptest::prelude::any::<u64>(), 0u64..1 << 53)),
        hash in proptest::option::of((proptest::prelude::any::<u64>(), 0u64..80)),
        seek in proptest::option::of((0u64..1 << 53, 0u64..4)),
        upgrade in proptest::option::of((proptest::prelude::any::<u64>(), proptest::prelude::any::<u64>())),
    ) {
        let data = blocks(11);
        let (writer, wsrc) = tree_of(&data);
        let req = ProofRequest {
            block: block.map(|(index, nodes)| RequestIndex { index, nodes }),
            hash: hash.map(|(index, nodes)| RequestIndex { index, nodes }),
            seek: seek.map(|(bytes, padding)| RequestSeek { bytes, padding }),
            upgrade: upgrade.map(|(start, length)| RequestUpgrade { start, length }),
        };
        let _ = block_on(generate_proof(&wsrc, &writer, &req));
    }
}
