//! Behaviour of [`Hypercore`] over the memory, file and fault-injecting backends.

use super::hypercore::{CreateOptions, Hypercore};
use super::manifest::Manifest;
use crate::crypto::KeyPair;
use crate::storage::faulty::FaultyStorage;
use crate::storage::file::FileStorage;
use crate::storage::hypercore_storage::{table_key, TABLE_BLOCKS};
use crate::storage::memory::MemoryStorage;
use crate::tree::proof::{ProofRequest, RequestIndex, RequestUpgrade};
use crate::tree::seek::SeekResult;
use futures::executor::block_on;

fn kp(n: u8) -> KeyPair {
    KeyPair::from_seed(&[n; 32])
}

fn block(i: u64) -> Vec<u8> {
    (0..(i * 37 % 300)).map(|j| (i * 31 + j) as u8).collect()
}

fn writer(storage: MemoryStorage, compat: bool) -> Hypercore<MemoryStorage> {
    block_on(Hypercore::create(storage, CreateOptions { key_pair: Some(kp(1)), manifest: None, compat }))
        .unwrap()
}

#[test]
fn default_core_is_a_corestore_manifest_core() {
    let core = writer(MemoryStorage::new(), false);
    assert_eq!(*core.key(), Manifest::default_signer(kp(1).public_key()).key());
    assert!(!core.is_compat());
    let compat = writer(MemoryStorage::new(), true);
    assert_eq!(*compat.key(), kp(1).public_key());
    assert!(compat.manifest_for_peer().is_none());
}

#[test]
fn append_get_reopen_memory() {
    let storage = MemoryStorage::new();
    let mut core = writer(storage.clone(), false);
    for i in 0..50 {
        core.append(&block(i)).unwrap_or_else_block();
    }
    let batch: Vec<Vec<u8>> = (50..120).map(block).collect();
    assert_eq!(block_on(core.append_batch(&batch)).unwrap(), 120);
    let expect_bytes: u64 = (0..120).map(|i| block(i).len() as u64).sum();
    assert_eq!(core.byte_length(), expect_bytes);
    assert_eq!(core.contiguous_length(), 120);
    let again = block_on(Hypercore::open(storage)).unwrap();
    assert_eq!(again.tree(), core.tree());
    assert!(again.writable());
    for i in 0..120 {
        assert_eq!(block_on(again.get(i)).unwrap(), Some(block(i)), "block {i}");
    }
    assert_eq!(block_on(again.get(120)).unwrap(), None);
    assert_eq!(again.info().blocks_stored, 120);
}

trait BlockOn {
    fn unwrap_or_else_block(self);
}
impl<F: std::future::Future<Output = Result<u64, super::HypercoreError>>> BlockOn for F {
    fn unwrap_or_else_block(self) {
        block_on(self).unwrap();
    }
}

#[test]
fn append_get_reopen_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.log");
    let key = {
        let storage = FileStorage::open(&path).unwrap();
        let mut core = block_on(Hypercore::create(storage, CreateOptions::default())).unwrap();
        for i in 0..30 {
            core.append(&block(i)).unwrap_or_else_block();
        }
        block_on(core.append_batch(&[vec![0u8; 1 << 20], Vec::new()])).unwrap();
        *core.key()
    };
    let core = block_on(Hypercore::open(FileStorage::open(&path).unwrap())).unwrap();
    assert_eq!(*core.key(), key);
    assert_eq!(core.length(), 32);
    assert_eq!(block_on(core.get(30)).unwrap().unwrap().len(), 1 << 20);
    assert_eq!(block_on(core.get(31)).unwrap(), Some(Vec::new()));
    assert_eq!(block_on(core.get(7)).unwrap(), Some(block(7)));
}

#[test]
fn truncate_clear_snapshot_seek() {
    let storage = MemoryStorage::new();
    let mut core = writer(storage.clone(), false);
    let blocks: Vec<Vec<u8>> = (0..20).map(block).collect();
    block_on(core.append_batch(&blocks)).unwrap();
    let snap = core.snapshot();
    block_on(core.truncate(11, None)).unwrap();
    assert_eq!((core.length(), core.fork()), (11, 1));
    assert_eq!(block_on(core.get_at(&snap, 5)).unwrap(), Some(block(5)));
    assert_eq!(block_on(core.get_at(&snap, 15)).unwrap_err().code(), "SNAPSHOT_NOT_AVAILABLE");
    block_on(core.append_batch(&[b"x".to_vec(), b"y".to_vec()])).unwrap();
    let mut fresh = writer(MemoryStorage::new(), false);
    let mut same: Vec<Vec<u8>> = blocks[..11].to_vec();
    same.extend([b"x".to_vec(), b"y".to_vec()]);
    block_on(fresh.append_batch(&same)).unwrap();
    assert_eq!(core.tree().roots, fresh.tree().roots, "tree after truncate+append equals a fresh tree");
    let reopened = block_on(Hypercore::open(storage.clone())).unwrap();
    assert_eq!(reopened.tree(), core.tree());

    block_on(core.clear(2, 5)).unwrap();
    assert!(!core.has(3) && core.has(5) && core.has(1));
    assert_eq!(core.contiguous_length(), 2);
    assert_eq!(block_on(core.get(3)).unwrap(), None);
    assert_eq!(block_on(core.get(5)).unwrap(), Some(block(5)));
    let reopened = block_on(Hypercore::open(storage)).unwrap();
    assert!(!reopened.has(4) && reopened.has(6));

    let offset: u64 = (0..7).map(|i| block(i).len() as u64).sum::<u64>() + 3;
    assert_eq!(block_on(core.seek(offset)).unwrap(), SeekResult::Found { index: 7, offset: 3 });
}

#[test]
fn corrupted_block_is_an_error_not_data() {
    let faulty = FaultyStorage::new(MemoryStorage::new());
    let mut core =
        block_on(Hypercore::create(faulty, CreateOptions { key_pair: Some(kp(2)), ..Default::default() }))
            .unwrap();
    block_on(core.append_batch(&[b"hello".to_vec(), b"world".to_vec()])).unwrap();
    let inner = core.storage().storage().inner().clone();
    let faulty = FaultyStorage::new(inner);
    assert!(block_on(faulty.corrupt(table_key(TABLE_BLOCKS, 0), 4)).unwrap());
    let core = block_on(Hypercore::open(faulty)).unwrap();
    let err = block_on(core.get(0)).unwrap_err();
    assert_eq!(err.code(), "INVALID_CHECKSUM", "{err}");
}

#[test]
fn failed_write_changes_nothing() {
    let faulty = FaultyStorage::new(MemoryStorage::new());
    let mut core =
        block_on(Hypercore::create(faulty, CreateOptions { key_pair: Some(kp(3)), ..Default::default() }))
            .unwrap();
    block_on(core.append_batch(&[b"a".to_vec()])).unwrap();
    let before = core.tree().clone();
    core.storage().storage().fail_write(0);
    assert!(block_on(core.append_batch(&[b"b".to_vec(), b"c".to_vec()])).is_err());
    assert_eq!(core.tree(), &before);
    assert!(!core.has(1));
    let inner = core.storage().storage().inner().clone();
    let reopened = block_on(Hypercore::open(inner)).unwrap();
    assert_eq!(reopened.tree(), &before);
    // And the core keeps working.
    core.storage().storage().clear_faults();
    assert_eq!(block_on(core.append(b"b")).unwrap(), 2);
}

fn replicate_all(compat: bool) {
    let mut w = writer(MemoryStorage::new(), compat);
    let blocks: Vec<Vec<u8>> = (0..25).map(block).collect();
    block_on(w.append_batch(&blocks)).unwrap();
    let mut r = block_on(Hypercore::create_remote(MemoryStorage::new(), *w.key())).unwrap();
    // First: an upgrade proof with the manifest (none for compat), as the replicator asks.
    let req = ProofRequest { upgrade: Some(RequestUpgrade { start: 0, length: 25 }), ..Default::default() };
    let proof = block_on(w.proof(&req)).unwrap();
    let applied = block_on(r.apply_proof(&proof, w.manifest_for_peer().as_deref())).unwrap();
    assert!(applied.upgraded && applied.manifest_learnt);
    assert_eq!(r.length(), 25);
    assert_eq!(r.is_compat(), compat);
    // Then every block, with the nodes the reader says it lacks.
    for i in (0..25).rev() {
        let nodes = block_on(crate::tree::verify::missing_nodes(r.storage(), 2 * i, r.length())).unwrap();
        let req = ProofRequest { block: Some(RequestIndex { index: i, nodes }), ..Default::default() };
        let proof = block_on(w.proof(&req)).unwrap();
        block_on(r.apply_proof(&proof, None)).unwrap();
        assert_eq!(block_on(r.get(i)).unwrap(), Some(block(i)));
    }
    assert_eq!(r.contiguous_length(), 25);
    // A tampered block is refused and nothing is stored.
    block_on(w.append(b"late")).unwrap();
    let req = ProofRequest {
        block: Some(RequestIndex { index: 25, nodes: 0 }),
        upgrade: Some(RequestUpgrade { start: 25, length: 1 }),
        ..Default::default()
    };
    let mut proof = block_on(w.proof(&req)).unwrap();
    proof.block.as_mut().unwrap().value = b"evil".to_vec();
    assert_eq!(block_on(r.apply_proof(&proof, None)).unwrap_err().code(), "INVALID_SIGNATURE");
    assert!(!r.has(25));
    assert_eq!(r.length(), 25);
}

#[test]
fn replicate_manifest_core() {
    replicate_all(false);
}

#[test]
fn replicate_compat_core() {
    replicate_all(true);
}

#[test]
fn reader_refuses_a_manifest_for_another_key() {
    let mut w = writer(MemoryStorage::new(), false);
    block_on(w.append(b"x")).unwrap();
    let mut r = block_on(Hypercore::create_remote(MemoryStorage::new(), *w.key())).unwrap();
    let req = ProofRequest { upgrade: Some(RequestUpgrade { start: 0, length: 1 }), ..Default::default() };
    let proof = block_on(w.proof(&req)).unwrap();
    let other = Manifest::default_signer(kp(9).public_key());
    use crate::encoding::Compact;
    assert!(block_on(r.apply_proof(&proof, Some(&other.to_bytes()))).is_err());
    assert!(block_on(r.apply_proof(&proof, None)).is_err(), "not a compat key either");
    assert_eq!(r.length(), 0);
    assert!(block_on(r.apply_proof(&proof, w.manifest_for_peer().as_deref())).is_ok());
}

#[test]
fn read_only_core_refuses_writes() {
    let w = writer(MemoryStorage::new(), false);
    let mut r = block_on(Hypercore::create_remote(MemoryStorage::new(), *w.key())).unwrap();
    assert_eq!(block_on(r.append(b"x")).unwrap_err().code(), "SESSION_NOT_WRITABLE");
    assert_eq!(block_on(r.truncate(0, None)).unwrap_err().code(), "SESSION_NOT_WRITABLE");
    assert_eq!(block_on(Hypercore::open(MemoryStorage::new())).unwrap_err().code(), "STORAGE_EMPTY");
}

#[test]
fn multi_signer_cores_are_not_writable_by_one_key() {
    use super::manifest::{HashAlgorithm, Signer};
    let manifest = Manifest {
        version: 1,
        hash: HashAlgorithm::Blake2b,
        allow_patch: false,
        quorum: 2,
        signers: vec![Signer::new(kp(1).public_key()), Signer::new(kp(2).public_key())],
        prologue: None,
        linked: None,
        user_data: None,
    };
    let mut core = block_on(Hypercore::create(
        MemoryStorage::new(),
        CreateOptions { key_pair: Some(kp(1)), manifest: Some(manifest.clone()), compat: false },
    ))
    .unwrap();
    assert_eq!(*core.key(), manifest.key());
    assert!(!core.writable(), "one of two required signers cannot sign alone");
    assert_eq!(block_on(core.append(b"x")).unwrap_err().code(), "SESSION_NOT_WRITABLE");
    assert_eq!(core.length(), 0);
}

/// A peer must not get a forged block accepted by pairing it with a genuine signed upgrade
/// that does not cover it (the unverified block root is checked against storage only).
#[test]
fn forged_block_next_to_a_genuine_upgrade_is_refused() {
    use crate::tree::proof::{DataBlock, Proof};
    use crate::tree::Node;
    let mut w = writer(MemoryStorage::new(), false);
    let blocks: Vec<Vec<u8>> = (0..4).map(block).collect();
    block_on(w.append_batch(&blocks)).unwrap();
    let upgrade =
        ProofRequest { upgrade: Some(RequestUpgrade { start: 0, length: 4 }), ..Default::default() };
    let genuine = block_on(w.proof(&upgrade)).unwrap();

    // Fresh reader: a forged block 0 whose sibling is invented, beside the real root and signature.
    let mut r = block_on(Hypercore::create_remote(MemoryStorage::new(), *w.key())).unwrap();
    let forged = Proof {
        fork: 0,
        block: Some(DataBlock {
            index: 0,
            value: b"EVIL".to_vec(),
            nodes: vec![Node { index: 2, size: 3, hash: [7; 32] }],
        }),
        hash: None,
        seek: None,
        upgrade: genuine.upgrade.clone(),
    };
    assert!(block_on(r.apply_proof(&forged, w.manifest_for_peer().as_deref())).is_err());
    assert_eq!(r.length(), 0);
    assert!(!r.has(0));

    // Reader that already verified the head: the same trick must not overwrite its nodes.
    block_on(r.apply_proof(&genuine, w.manifest_for_peer().as_deref())).unwrap();
    let before = block_on(r.storage().get_nodes(&[0, 1, 2])).unwrap();
    block_on(w.append(b"more")).unwrap();
    let newer = block_on(w.proof(&ProofRequest {
        upgrade: Some(RequestUpgrade { start: 4, length: 1 }),
        ..Default::default()
    }))
    .unwrap();
    let forged = Proof { upgrade: newer.upgrade.clone(), ..forged };
    assert!(block_on(r.apply_proof(&forged, None)).is_err());
    assert_eq!(block_on(r.storage().get_nodes(&[0, 1, 2])).unwrap(), before);
    assert!(!r.has(0));
}

#[test]
fn snapshots_see_every_truncation_and_fork_change() {
    let storage = MemoryStorage::new();
    let mut core = writer(storage.clone(), false);
    let blocks: Vec<Vec<u8>> = (0..10).map(block).collect();
    block_on(core.append_batch(&blocks)).unwrap();
    let snap = core.snapshot();
    // A truncation that keeps the fork id still invalidates what it cut.
    block_on(core.truncate(5, Some(core.fork()))).unwrap();
    assert_eq!(block_on(core.get_at(&snap, 7)).unwrap_err().code(), "SNAPSHOT_NOT_AVAILABLE");
    assert_eq!(block_on(core.get_at(&snap, 2)).unwrap(), Some(block(2)));
    // After a reopen the handle has no truncation history: a fork change is enough to refuse.
    let snap = core.snapshot();
    block_on(core.truncate(3, None)).unwrap();
    block_on(core.append_batch(&[b"other".to_vec(), b"history".to_vec()])).unwrap();
    let reopened = block_on(Hypercore::open(storage)).unwrap();
    assert_eq!(block_on(reopened.get_at(&snap, 4)).unwrap_err().code(), "SNAPSHOT_NOT_AVAILABLE");
}

#[test]
fn failed_truncate_keeps_the_bitfield() {
    let faulty = FaultyStorage::new(MemoryStorage::new());
    let mut core =
        block_on(Hypercore::create(faulty, CreateOptions { key_pair: Some(kp(4)), ..Default::default() }))
            .unwrap();
    let blocks: Vec<Vec<u8>> = (0..8).map(block).collect();
    block_on(core.append_batch(&blocks)).unwrap();
    core.storage().storage().fail_write(0);
    core.storage().storage().fail_reads(true);
    assert!(block_on(core.truncate(3, None)).is_err());
    core.storage().storage().clear_faults();
    assert_eq!(core.length(), 8);
    assert!(core.has(6), "blocks the failed truncation would have cut are still present");
    assert_eq!(block_on(core.get(6)).unwrap(), Some(block(6)));
}
