use super::*;
#[cfg(not(target_arch = "wasm32"))]
use crate::storage::FileStorage;
use crate::storage::{FaultyStorage, MemoryStorage};
use futures::executor::block_on;
use proptest::prelude::*;

fn block(i: u64, len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|j| (i as u8).wrapping_mul(31) ^ (j as u8) ^ salt).collect()
}

fn blocks(first: u64, n: u64, len: usize) -> Vec<Vec<u8>> {
    (first..first + n).map(|i| block(i, len, 0)).collect()
}

fn commit<S: Storage>(core: &CoreStorage<S>, f: impl FnOnce(&mut CoreWrite)) {
    let mut w = CoreWrite::new();
    f(&mut w);
    block_on(core.commit(w)).unwrap();
}

fn get_all<S: Storage>(core: &CoreStorage<S>, range: Range<u64>) -> Vec<Option<Vec<u8>>> {
    let idx: Vec<u64> = range.collect();
    block_on(core.get_blocks(&idx)).unwrap()
}

fn layout<S: Storage>(core: &CoreStorage<S>) -> Vec<(u64, u64)> {
    block_on(core.pack_layout()).unwrap()
}

#[test]
fn packing_sizes() {
    let core = CoreStorage::new(MemoryStorage::new());
    commit(&core, |w| {
        w.put_blocks(0, blocks(0, 100, 1024));
    });
    let l = layout(&core);
    assert!(l.len() <= 3, "{l:?}");
    assert_eq!(l.iter().map(|(_, n)| n).sum::<u64>(), 100);
    assert_eq!(
        get_all(&core, 0..101),
        blocks(0, 100, 1024).into_iter().map(Some).chain([None]).collect::<Vec<_>>()
    );

    let big = CoreStorage::new(MemoryStorage::new());
    commit(&big, |w| {
        w.put_block(0, vec![9; 1 << 20]);
    });
    assert_eq!(layout(&big), vec![(0, 1)]);
    commit(&big, |w| {
        w.put_blocks(1, blocks(1, 2, 10));
    });
    assert_eq!(layout(&big), vec![(0, 1), (1, 2)], "small blocks are not merged into a full pack");
    assert_eq!(block_on(big.get_block(0)).unwrap(), Some(vec![9; 1 << 20]));
}

#[test]
fn one_block_appends_grow_the_last_pack() {
    let core = CoreStorage::new(MemoryStorage::new());
    for i in 0..100 {
        commit(&core, |w| {
            w.put_block(i, block(i, 1024, 0));
        });
    }
    assert!(layout(&core).len() <= 3, "{:?}", layout(&core));
    let fresh = CoreStorage::new(core.storage().clone());
    assert_eq!(get_all(&fresh, 0..100), get_all(&core, 0..100));
    assert_eq!(get_all(&fresh, 0..100), blocks(0, 100, 1024).into_iter().map(Some).collect::<Vec<_>>());
}

#[test]
fn floor_lookups_at_pack_edges() {
    let core = CoreStorage::new(MemoryStorage::new());
    commit(&core, |w| {
        w.put_blocks(10, blocks(10, 5, 40_000));
    });
    let l = layout(&core);
    assert!(l.len() >= 3, "{l:?}");
    for &(s, n) in &l {
        for i in [s, s + n - 1] {
            assert_eq!(block_on(core.get_block(i)).unwrap(), Some(block(i, 40_000, 0)));
        }
    }
    for i in [0, 9, 15, 16, 1000, u64::MAX] {
        assert_eq!(block_on(core.get_block(i)).unwrap(), None, "block {i}");
    }
}

#[test]
fn sparse_puts() {
    let core = CoreStorage::new(MemoryStorage::new());
    commit(&core, |w| {
        w.put_block(100, block(100, 10, 0)).put_block(5, block(5, 10, 0));
    });
    commit(&core, |w| {
        w.put_block(7, block(7, 10, 0)).put_block(6, block(6, 10, 0));
    });
    commit(&core, |w| {
        w.put_block(4, block(4, 10, 0)).put_block(99, block(99, 10, 0));
    });
    let got = get_all(&core, 0..102);
    for (i, b) in got.iter().enumerate() {
        let i = i as u64;
        let want = [4, 5, 6, 7, 99, 100].contains(&i).then(|| block(i, 10, 0));
        assert_eq!(b, &want, "block {i}");
    }
    assert_eq!(layout(&core), vec![(4, 4), (99, 2)], "adjacent sparse blocks are merged");
}

#[test]
fn truncate_and_clear_inside_a_pack() {
    let core = CoreStorage::new(MemoryStorage::new());
    commit(&core, |w| {
        w.put_blocks(0, blocks(0, 20, 100));
    });
    assert_eq!(layout(&core), vec![(0, 20)]);
    commit(&core, |w| {
        w.clear_blocks(5, 8);
    });
    assert_eq!(layout(&core), vec![(0, 5), (8, 12)]);
    let got = get_all(&core, 0..21);
    for (i, b) in got.iter().enumerate() {
        let i = i as u64;
        assert_eq!(b, &(i < 20 && !(5..8).contains(&i)).then(|| block(i, 100, 0)), "block {i}");
    }
    commit(&core, |w| {
        w.truncate_blocks(10);
    });
    assert_eq!(layout(&core), vec![(0, 5), (8, 2)]);
    assert_eq!(get_all(&core, 9..12), vec![Some(block(9, 100, 0)), None, None]);
    commit(&core, |w| {
        w.put_blocks(10, blocks(10, 3, 100)).truncate_blocks(11).put_block(5, block(5, 100, 0));
    });
    assert_eq!(layout(&core), vec![(0, 6), (8, 3)]);
    assert_eq!(get_all(&core, 10..12), vec![Some(block(10, 100, 0)), None]);
    commit(&core, |w| {
        w.truncate_blocks(0);
    });
    assert!(layout(&core).is_empty());
}

#[test]
fn nodes_pages_truncate_and_reopen() {
    let store = MemoryStorage::new();
    let core = CoreStorage::new(store.clone());
    let node = |i: u64| Node { index: i, size: i * 3, hash: [i as u8; 32] };
    commit(&core, |w| {
        w.put_nodes([0, 1, 2, 255, 256, 700].map(node)).set_header(b"head".to_vec());
    });
    let got = block_on(core.get_nodes(&[0, 1, 3, 255, 256, 700, 701])).unwrap();
    assert_eq!(
        got,
        vec![Some(node(0)), Some(node(1)), None, Some(node(255)), Some(node(256)), Some(node(700)), None]
    );
    commit(&core, |w| {
        w.truncate_nodes(2).put_node(node(300));
    });
    let idx = [0, 1, 2, 255, 256, 300, 700];
    let want = vec![Some(node(0)), Some(node(1)), None, None, None, Some(node(300)), None];
    assert_eq!(block_on(core.get_nodes(&idx)).unwrap(), want);
    let reopened = CoreStorage::new(store.clone());
    assert_eq!(block_on(reopened.get_nodes(&idx)).unwrap(), want);
    // One-read path, cold (page numbers loaded from the keys) and with pages cached.
    let cold = CoreStorage::with_cache_limits(store.clone(), 0, 0);
    assert_eq!(block_on(cold.get_blocks_and_nodes(&[], &idx)).unwrap().1, want);
    assert_eq!(block_on(core.get_blocks_and_nodes(&[], &idx)).unwrap().1, want);
    assert_eq!(block_on(reopened.get_header()).unwrap(), Some(b"head".to_vec()));
    commit(&core, |w| {
        w.truncate_nodes(0);
    });
    assert_eq!(block_on(core.get_node(0)).unwrap(), None);
    assert!(store.snapshot().iter().all(|(k, _)| k.first() != Some(&TABLE_TREE)));
}

#[test]
fn corrupt_tree_page_is_reported() {
    let faulty = FaultyStorage::new(MemoryStorage::new());
    let core = CoreStorage::new(faulty.clone());
    commit(&core, |w| {
        w.put_node(Node { index: 513, size: 1, hash: [7; 32] });
    });
    assert!(block_on(faulty.corrupt(table_key(TABLE_TREE, 2), 40)).unwrap());
    let fresh = CoreStorage::new(faulty.clone());
    let err = block_on(fresh.get_node(513)).unwrap_err();
    assert!(matches!(&err, StorageError::Corrupt(m) if m.contains("tree page 2")), "{err}");
    let mut w = CoreWrite::new();
    w.put_node(Node { index: 512, size: 1, hash: [1; 32] });
    assert!(matches!(block_on(fresh.commit(w)), Err(StorageError::Corrupt(_))));
}

#[test]
fn corrupt_pack_is_reported() {
    let store = MemoryStorage::new();
    let core = CoreStorage::new(store.clone());
    let mut bad = WriteBatch::new();
    bad.put(table_key(TABLE_BLOCKS, 3), vec![5, 1]);
    block_on(store.write(bad)).unwrap();
    assert!(matches!(block_on(core.get_block(4)), Err(StorageError::Corrupt(_))));
}

#[test]
fn failed_commit_leaves_caches_honest() {
    let faulty = FaultyStorage::new(MemoryStorage::new());
    let core = CoreStorage::new(faulty.clone());
    commit(&core, |w| {
        w.put_blocks(0, blocks(0, 4, 10)).put_node(Node { index: 0, size: 10, hash: [0; 32] });
    });
    assert!(block_on(core.get_block(1)).unwrap().is_some());
    faulty.fail_write(0);
    let mut w = CoreWrite::new();
    w.truncate_blocks(1).put_block(1, vec![1, 2, 3]).truncate_nodes(0);
    assert!(block_on(core.commit(w)).is_err());
    assert_eq!(block_on(core.get_block(1)).unwrap(), Some(block(1, 10, 0)));
    assert_eq!(get_all(&core, 2..5), vec![Some(block(2, 10, 0)), Some(block(3, 10, 0)), None]);
    assert!(block_on(core.get_node(0)).unwrap().is_some());
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn bitfield_user_data_and_file_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.log");
    {
        let core = CoreStorage::new(FileStorage::open(&path).unwrap());
        commit(&core, |w| {
            w.set_header(vec![1, 2])
                .put_blocks(0, blocks(0, 50, 3000))
                .put_bitfield_page(0, vec![0xff; 16])
                .put_bitfield_page(3, vec![1])
                .put_bitfield_page(9, vec![2])
                .set_user_data("name", Some(b"value".to_vec()))
                .set_user_data("gone", Some(vec![]))
                .put_node(Node { index: 4, size: 3000, hash: [4; 32] });
        });
        commit(&core, |w| {
            w.set_user_data("gone", None).delete_bitfield_page(9).clear_blocks(10, 12);
        });
    }
    let core = CoreStorage::new(FileStorage::open(&path).unwrap());
    assert_eq!(block_on(core.get_header()).unwrap(), Some(vec![1, 2]));
    assert_eq!(block_on(core.get_user_data("name")).unwrap(), Some(b"value".to_vec()));
    assert_eq!(block_on(core.get_user_data("gone")).unwrap(), None);
    let pages = block_on(core.get_bitfield_pages(0..10)).unwrap();
    assert_eq!(pages, vec![(0, vec![0xff; 16]), (3, vec![1])]);
    assert_eq!(block_on(core.get_bitfield_pages(1..3)).unwrap(), vec![]);
    assert_eq!(block_on(core.get_node(4)).unwrap().map(|n| n.size), Some(3000));
    let got = get_all(&core, 0..51);
    for (i, b) in got.iter().enumerate() {
        let i = i as u64;
        assert_eq!(b, &(i < 50 && !(10..12).contains(&i)).then(|| block(i, 3000, 0)), "block {i}");
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let core = CoreStorage::new(MemoryStorage::new());
    let f = core.commit(CoreWrite::new());
    assert_send(&f);
    let g = core.get_blocks(&[]);
    assert_send(&g);
}

#[derive(Debug, Clone)]
enum Op {
    Append(u64, usize),
    Put(u64, u64, usize),
    Truncate(u64),
    Clear(u64, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let size = prop_oneof![8 => 0usize..3000, 1 => 30_000usize..70_000];
    prop_oneof![
        3 => (1u64..40, size.clone()).prop_map(|(n, s)| Op::Append(n, s)),
        3 => (0u64..200, 1u64..5, size).prop_map(|(i, n, s)| Op::Put(i, n, s)),
        1 => (0u64..200).prop_map(Op::Truncate),
        2 => (0u64..200, 0u64..30).prop_map(|(a, n)| Op::Clear(a, a + n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn matches_model(groups in prop::collection::vec(prop::collection::vec(op(), 1..4), 1..12), small in any::<bool>()) {
        let store = MemoryStorage::new();
        let core = if small {
            CoreStorage::with_cache_limits(store.clone(), 100_000, 1)
        } else {
            CoreStorage::new(store.clone())
        };
        let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut salt = 0u8;
        for group in groups {
            let mut w = CoreWrite::new();
            for op in group {
                salt = salt.wrapping_add(1);
                match op {
                    Op::Append(n, size) => {
                        let first = model.keys().next_back().map_or(0, |k| k + 1);
                        let bs: Vec<Vec<u8>> = (first..first + n).map(|i| block(i, size, salt)).collect();
                        model.extend((first..).zip(bs.iter().cloned()));
                        w.put_blocks(first, bs);
                    }
                    Op::Put(i, n, size) => {
                        let bs: Vec<Vec<u8>> = (i..i + n).map(|j| block(j, size, salt)).collect();
                        model.extend((i..).zip(bs.iter().cloned()));
                        w.put_blocks(i, bs);
                    }
                    Op::Truncate(l) => {
                        model.split_off(&l);
                        w.truncate_blocks(l);
                    }
                    Op::Clear(a, b) => {
                        let mut tail = model.split_off(&a);
                        model.append(&mut tail.split_off(&b));
                        w.clear_blocks(a, b);
                    }
                }
            }
            block_on(core.commit(w)).unwrap();
            let max = model.keys().next_back().map_or(0, |k| k + 2).max(250);
            let want: Vec<Option<Vec<u8>>> = (0..max).map(|i| model.get(&i).cloned()).collect();
            prop_assert_eq!(get_all(&core, 0..max), want.clone());
            // The one-read path over the pack starts this core keeps up to date.
            let all: Vec<u64> = (0..max).collect();
            prop_assert_eq!(block_on(core.get_blocks_and_nodes(&all, &[])).unwrap().0, want.clone());
            let mut prev_end = 0;
            for (s, n) in layout(&core) {
                prop_assert!(s >= prev_end, "packs overlap at {}", s);
                prop_assert!(n > 0);
                prev_end = s + n;
            }
            let fresh = CoreStorage::new(store.clone());
            let mut rev: Vec<u64> = (0..max).rev().collect();
            rev.push(3);
            let got = block_on(fresh.get_blocks(&rev)).unwrap();
            let want_rev: Vec<_> = rev.iter().map(|i| model.get(i).cloned()).collect();
            prop_assert_eq!(got, want_rev.clone());
            let uncached = CoreStorage::with_cache_limits(store.clone(), 0, 0);
            prop_assert_eq!(block_on(uncached.get_blocks_and_nodes(&rev, &[])).unwrap().0, want_rev);
        }
    }
}
