//! Block-level sparse reads over whole replication connections (two `CoreSet`s joined by an
//! in-memory pipe, as `tests/protocol_stream.rs`): `SharedCore::fetch`, `request_blocks`,
//! `update`, and a Hyperbee on a sparse replica reading only the blocks on its path.
#![cfg(not(target_arch = "wasm32"))] // tokio is a native-only dev-dependency
#![allow(clippy::unwrap_used, missing_docs)]

use std::future::Future;
use std::time::Duration;

use hyperwasm::bee::{BeeOptions, Hyperbee};
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::crypto::{Hash, KeyPair};
use hyperwasm::replicator::{ConnectionOptions, DownloadRange, SharedCore, MAX_PREFETCH_WANTS};
use hyperwasm::storage::memory::MemoryStorage;

type Core = Hypercore<MemoryStorage>;
type Shared = SharedCore<MemoryStorage>;

mod pipes;
use pipes::{connect, connect_with, run_for, Set};

/// Runs one test, failing after 20 s.
fn run(test: impl Future<Output = ()>) {
    run_for(Duration::from_secs(20), test);
}

fn block(i: u64) -> Vec<u8> {
    (0..(16 + i * 13 % 200)).map(|j| (i * 7 + j * 3) as u8).collect()
}

async fn writer_set(seed: u8, n: u64) -> (Set, Shared) {
    let key_pair = KeyPair::from_seed(&[seed; 32]);
    let opts = CreateOptions { key_pair: Some(key_pair), manifest: None, compat: false };
    let mut core = Core::create(MemoryStorage::new(), opts).await.unwrap();
    let blocks: Vec<Vec<u8>> = (0..n).map(block).collect();
    if n > 0 {
        core.append_batch(&blocks).await.unwrap();
    }
    let set = Set::new();
    let shared = set.insert(core);
    (set, shared)
}

/// An empty replica of `key` with no download intent.
async fn sparse_set(key: Hash) -> (Set, Shared) {
    let set = Set::new();
    let shared = set.insert(Core::create_remote(MemoryStorage::new(), key).await.unwrap());
    (set, shared)
}

/// Blocks stored locally, in order.
async fn stored(core: &Shared) -> Vec<u64> {
    core.with(|c| (0..c.length()).filter(|i| c.has(*i)).collect()).await
}

/// Whether `fut` is still pending after `ms` of real time (the connection tasks run meanwhile).
async fn still_pending<F: Future + Unpin>(fut: &mut F, ms: u64) -> bool {
    tokio::time::timeout(Duration::from_millis(ms), fut).await.is_err()
}

// ---------------------------------------------------------------------------------------------
// fetch / request_blocks / update
// ---------------------------------------------------------------------------------------------

#[test]
fn fetch_downloads_only_the_blocks_asked_for() {
    run(async {
        let (w_set, w) = writer_set(1, 1000).await;
        let (r_set, r) = sparse_set(w.key()).await;
        let conn = connect(&r_set, &w_set);
        // Before any update: the first fetch rides on the upgrade.
        assert_eq!(r.fetch(700).await.unwrap(), Some(block(700)));
        assert_eq!(r.info().await.length, 1000);
        for i in [0, 5, 500, 999, 5] {
            assert_eq!(r.fetch(i).await.unwrap(), Some(block(i)), "block {i}");
        }
        assert_eq!(stored(&r).await, vec![0, 5, 500, 700, 999]);
        assert_eq!(r.info().await.blocks_stored, 5);
        assert_eq!(r.wanted_count(), 0, "arrived blocks leave the want set");
        // The replica verifies against the writer's tree.
        assert_eq!(r.with(|c| c.tree().hash()).await, w.with(|c| c.tree().hash()).await);
        let (down, up) = conn.close().await;
        assert_eq!((down.blocks_downloaded, up.blocks_uploaded), (5, 5));
    });
}

#[test]
fn concurrent_fetches_share_requests() {
    run(async {
        let (w_set, w) = writer_set(2, 1000).await;
        let (r_set, r) = sparse_set(w.key()).await;
        let conn = connect(&r_set, &w_set);
        // Scattered indexes with repeats, all in flight at once.
        let indexes: Vec<u64> = (0..60u64).map(|i| (i * 337 + 11) % 1000).chain([11, 348, 11]).collect();
        let results = futures::future::join_all(indexes.iter().map(|&i| r.fetch(i))).await;
        for (i, got) in indexes.iter().zip(results) {
            assert_eq!(got.unwrap(), Some(block(*i)), "block {i}");
        }
        let mut distinct = indexes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(stored(&r).await, distinct);
        assert_eq!(r.wanted_count(), 0);
        let (down, _) = conn.close().await;
        assert_eq!(down.blocks_downloaded, distinct.len() as u64, "each block came once");
    });
}

#[test]
fn request_blocks_prefetches_without_waiting() {
    run(async {
        let (w_set, w) = writer_set(3, 500).await;
        let (r_set, r) = sparse_set(w.key()).await;
        // Asked before any connection: picked up when the peer arrives.
        r.request_blocks(&[10, 20, 30, 20]);
        assert_eq!(r.wanted_count(), 3);
        let conn = connect(&r_set, &w_set);
        let mut seen = 0;
        while stored(&r).await != vec![10, 20, 30] {
            seen = r.changed(seen).await;
        }
        assert_eq!(r.wanted_count(), 0, "arrived prefetches are forgotten");
        // Local blocks are not asked for again; a fetch of a prefetched block just reads it.
        r.request_blocks(&[10, 20]);
        assert_eq!(r.wanted_count(), 0);
        assert_eq!(r.fetch(20).await.unwrap(), Some(block(20)));
        let (down, _) = conn.close().await;
        assert_eq!(down.blocks_downloaded, 3);
    });
}

#[test]
fn thousands_of_prefetches_arrive_and_the_want_set_stays_bounded() {
    run(async {
        let (w_set, w) = writer_set(11, 5000).await;
        let (r_set, r) = sparse_set(w.key()).await;
        let wanted: Vec<u64> = (0..5000).step_by(2).collect();
        r.request_blocks(&wanted);
        assert_eq!(r.wanted_count(), 2500);
        let started = std::time::Instant::now();
        let conn = connect(&r_set, &w_set);
        let mut seen = 0;
        while r.wanted_count() > 0 {
            seen = r.changed(seen).await;
        }
        assert_eq!(stored(&r).await, wanted);
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        conn.close().await;

        // Nobody to ask: the oldest prefetches give way to newer ones.
        let (_set, lonely) = sparse_set(w.key()).await;
        for chunk in (0..3 * MAX_PREFETCH_WANTS as u64).collect::<Vec<_>>().chunks(100) {
            lonely.request_blocks(chunk);
            assert!(lonely.wanted_count() <= MAX_PREFETCH_WANTS);
        }
        let last = 3 * MAX_PREFETCH_WANTS as u64 - 1;
        assert!(lonely.is_wanted(last) && !lonely.is_wanted(0));
    });
}

#[test]
fn update_learns_the_length_without_blocks() {
    run(async {
        let (w_set, w) = writer_set(4, 321).await;
        let (r_set, r) = sparse_set(w.key()).await;
        // No peer, nobody looking for one: at once.
        assert_eq!(r.update().await, 0);
        let finding = r.finding_peers();
        let conn = connect(&r_set, &w_set);
        assert_eq!(r.update().await, 321);
        drop(finding);
        assert_eq!(r.info().await.blocks_stored, 0, "an update downloads no block");
        // A live append reaches the reader through the next update.
        w.append(b"more").await.unwrap();
        let mut seen = 0;
        while r.info().await.length < 322 {
            seen = r.changed(seen).await;
        }
        assert_eq!(r.update().await, 322);
        assert_eq!(r.fetch(321).await.unwrap(), Some(b"more".to_vec()));
        conn.close().await;
    });
}

#[test]
fn fetch_of_a_block_no_peer_has_waits_and_is_withdrawn_on_drop() {
    run(async {
        let (w_set, w) = writer_set(5, 1000).await;
        // A middle peer holding only blocks 0..10 (and the length).
        let (m_set, m) = sparse_set(w.key()).await;
        m.download(DownloadRange::range(0, 10));
        let up = connect(&m_set, &w_set);
        m.downloaded().await;
        up.close().await;
        assert_eq!(m.info().await.blocks_stored, 10);

        let (r_set, r) = sparse_set(w.key()).await;
        let conn = connect(&r_set, &m_set);
        assert_eq!(r.fetch(3).await.unwrap(), Some(block(3)));
        let mut missing = Box::pin(r.fetch(50));
        assert!(still_pending(&mut missing, 300).await, "nobody has block 50");
        assert!(r.is_wanted(50));
        drop(missing);
        assert!(!r.is_wanted(50), "a dropped fetch withdraws its want");
        assert_eq!(r.wanted_count(), 0);
        // The connection goes on; a new seed that has everything is not asked for block 50.
        assert_eq!(r.fetch(7).await.unwrap(), Some(block(7)));
        let full = connect(&r_set, &w_set);
        assert_eq!(r.fetch(600).await.unwrap(), Some(block(600)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(stored(&r).await, vec![3, 7, 600]);
        let (down, _) = conn.close().await;
        assert!(down.peers_closed.is_empty(), "{:?}", down.peers_closed);
        full.close().await;
    });
}

#[test]
fn a_fetch_goes_before_the_blocks_of_a_running_download() {
    run(async {
        let (w_set, w) = writer_set(10, 1000).await;
        let (r_set, r) = sparse_set(w.key()).await;
        r.download(DownloadRange::range(0, 1000));
        // Few requests in flight, so the range takes many round trips.
        let mut opts = ConnectionOptions::new(true);
        opts.replicator.max_inflight = 2;
        let finding = r.finding_peers();
        let conn = connect_with(&r_set, opts, &w_set, ConnectionOptions::new(false));
        assert_eq!(r.update().await, 1000);
        drop(finding);
        let mut seen = 0;
        while r.info().await.blocks_stored < 10 {
            seen = r.changed(seen).await;
        }
        assert_eq!(r.fetch(990).await.unwrap(), Some(block(990)));
        let stored = r.info().await.blocks_stored;
        assert!(stored < 200, "block 990 waited behind the range: {stored} blocks stored first");
        r.downloaded().await;
        assert_eq!(r.info().await.contiguous_length, 1000);
        conn.close().await;
    });
}

#[test]
fn fetch_without_any_connection_waits_for_one() {
    run(async {
        let (w_set, w) = writer_set(6, 100).await;
        let (r_set, r) = sparse_set(w.key()).await;
        let mut pending = Box::pin(r.fetch(42));
        assert!(still_pending(&mut pending, 50).await);
        let conn = connect(&w_set, &r_set);
        assert_eq!(pending.await.unwrap(), Some(block(42)));
        assert_eq!(stored(&r).await, vec![42]);
        conn.close().await;
    });
}

#[test]
fn truncation_below_a_waiting_fetch_ends_it_with_none() {
    run(async {
        let (w_set, w) = writer_set(7, 1000).await;
        let (r_set, r) = sparse_set(w.key()).await;
        let finding = r.finding_peers();
        let conn = connect(&r_set, &w_set);
        assert_eq!(r.update().await, 1000);
        drop(finding);
        assert_eq!(r.fetch(100).await.unwrap(), Some(block(100)));
        conn.close().await;
        // Offline: block 900 cannot come, and the writer truncates below it.
        let mut waiting = Box::pin(r.fetch(900));
        assert!(still_pending(&mut waiting, 50).await);
        w.truncate(500).await.unwrap();
        w.append(b"fork 1").await.unwrap();
        let conn = connect(&r_set, &w_set);
        assert_eq!(waiting.await.unwrap(), None, "block 900 was truncated away");
        assert_eq!(r.wanted_count(), 0);
        let info = r.info().await;
        assert_eq!((info.fork, info.length), (1, 501));
        // Reads on the new fork work.
        assert_eq!(r.fetch(500).await.unwrap(), Some(b"fork 1".to_vec()));
        assert_eq!(r.fetch(100).await.unwrap(), Some(block(100)));
        let (down, _) = conn.close().await;
        assert!(down.peers_closed.is_empty(), "{:?}", down.peers_closed);
    });
}

// ---------------------------------------------------------------------------------------------
// Hyperbee on a sparse replica
// ---------------------------------------------------------------------------------------------

fn key(i: u32) -> Vec<u8> {
    format!("key-{:08}", i.wrapping_mul(2_654_435_761) % 100_000_000).into_bytes()
}

#[test]
fn bee_get_on_a_sparse_replica_reads_only_its_path() {
    run(async {
        const N: u32 = 3000;
        let (w_set, w) = writer_set(8, 0).await;
        let bee = Hyperbee::open(w.clone(), BeeOptions::default()).await.unwrap();
        let mut batch = bee.batch().await.unwrap();
        for i in 0..N {
            batch.put(&key(i), format!("value {i}").as_bytes()).await.unwrap();
        }
        batch.flush().await.unwrap();
        let length = w.info().await.length;
        assert_eq!(length, u64::from(N) + 1);

        let (r_set, r) = sparse_set(w.key()).await;
        let reader =
            Hyperbee::open(r.clone(), BeeOptions { readonly: true, ..BeeOptions::default() }).await.unwrap();
        let finding = r.finding_peers();
        let conn = connect(&r_set, &w_set);
        assert_eq!(r.update().await, length);
        drop(finding);
        assert_eq!(reader.version().await, length, "the bee sees the remote length");

        // Depth of the writer's tree, to bound what one get may download.
        let depth = {
            let mut depth = 1;
            let local = bee.reader().await.unwrap();
            let mut node = local.root().await.unwrap().unwrap();
            while !node.is_leaf() {
                node = local.child(&node, 0).await.unwrap();
                depth += 1;
            }
            depth
        };
        // One get: per level, one node's keys and children (≤ 2·MAX_CHILDREN − 1 = 15 blocks),
        // and the root block.
        let bound = depth * 15 + 1;
        let mut before = 0;
        for i in [0, 1234, 2999, 77] {
            let got = reader.get(&key(i)).await.unwrap().unwrap();
            assert_eq!(got.value.unwrap(), format!("value {i}").into_bytes());
            let now = r.info().await.blocks_stored;
            eprintln!("get {i}: {} blocks (depth {depth}, bound {bound})", now - before);
            assert!(now - before <= bound, "get {i}: {} blocks > {bound} (depth {depth})", now - before);
            before = now;
        }
        assert!(reader.get(b"nope").await.unwrap().is_none());
        assert!(reader.get(b"key-").await.unwrap().is_none());
        let total = r.info().await.blocks_stored;
        assert!(total <= 6 * bound, "{total} blocks for 6 gets");
        assert!(total < length / 10, "a sparse read: {total} of {length} blocks");
        // Prefetches may still be landing; nothing is left wanted once they have.
        let mut seen = 0;
        while r.wanted_count() > 0 {
            seen = r.changed(seen).await;
        }
        conn.close().await;
    });
}

#[test]
fn bee_get_without_wait_fails_on_missing_blocks() {
    run(async {
        let (_w_set, w) = writer_set(9, 0).await;
        let bee = Hyperbee::open(w.clone(), BeeOptions::default()).await.unwrap();
        bee.put(b"a", b"1").await.unwrap();
        let (_r_set, r) = sparse_set(w.key()).await;
        let opts = BeeOptions { readonly: true, wait: false, ..BeeOptions::default() };
        let reader = Hyperbee::open(r.clone(), opts).await.unwrap();
        // Nothing known yet: an empty bee.
        assert!(reader.get(b"a").await.unwrap().is_none());
        assert_eq!(r.wanted_count(), 0);
    });
}
