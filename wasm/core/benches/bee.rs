//! Native Hyperbee benchmarks on `FileStorage`, the workloads of the JS anchor
//! (`tests/js/bench-bee.mjs`, hyperbee 2.27.3 on Node): prints one JSON line per workload,
//! `{"bench", "ours", "unit", "n", "seconds", "impl", "note"}`.
//!
//! - `bee_put_single_native`: N_PUT sequential awaited puts (16-byte keys, 64-byte values).
//! - `bee_put_batch_native`: N_BATCH puts in batches of 1,000, each batch flushed.
//! - `bee_get_random_native`: N_GET random gets of present keys on a bee of N_KEYS keys (warm).
//! - `bee_range_all_native`: a full scan of that bee (entries/s).
//!
//! Env: `N_PUT` (5000), `N_BATCH` (100000), `N_KEYS` (100000), `N_GET` (100000).
//! Run: `cargo bench -p hyperwasm --bench bee`.

#![allow(missing_docs)]

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use futures::executor::block_on;
    use futures::StreamExt;
    use hyperwasm::bee::{BeeOptions, Hyperbee};
    use hyperwasm::core::{CreateOptions, Hypercore};
    use hyperwasm::replicator::CoreSet;
    use hyperwasm::storage::FileStorage;
    use std::time::Instant;

    const BATCH: usize = 1000;
    const NOTE: &str = "FileStorage default durability (flush to OS, no fsync), like the anchor's \
                        RocksDB unsynced WAL; keys 16 random bytes, values 64 random bytes";

    fn env(name: &str, default: usize) -> usize {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    struct XorShift(u64);

    impl XorShift {
        fn new(seed: u64) -> Self {
            XorShift(seed | 1)
        }
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n.div_ceil(8)).flat_map(|_| self.next().to_le_bytes()).take(n).collect()
        }
    }

    fn report(bench: &str, ops: usize, secs: f64, unit: &str) {
        let ours = ((ops as f64 / secs) * 100.0).round() / 100.0;
        println!(
            "{{\"bench\":\"{bench}\",\"ours\":{ours},\"unit\":\"{unit}\",\"n\":{ops},\"seconds\":{secs:.3},\"impl\":\"hyperwasm@{}\",\"note\":\"{NOTE}\"}}",
            env!("CARGO_PKG_VERSION"),
        );
    }

    async fn bee_at(path: std::path::PathBuf) -> Hyperbee<FileStorage> {
        let storage = FileStorage::open(path).expect("open");
        let core = Hypercore::create(storage, CreateOptions::default()).await.expect("create");
        let core = CoreSet::new().insert(core);
        Hyperbee::open(core, BeeOptions::default()).await.expect("bee")
    }

    pub fn main() {
        let n_put = env("N_PUT", 5000);
        let n_batch = env("N_BATCH", 100_000);
        let n_keys = env("N_KEYS", 100_000);
        let n_get = env("N_GET", 100_000);
        let mut rng = XorShift::new(0x5eed);
        let dir = tempfile::Builder::new().prefix("hyperwasm-bee-bench-").tempdir().expect("tempdir");

        block_on(async {
            {
                let bee = bee_at(dir.path().join("single")).await;
                let entries: Vec<(Vec<u8>, Vec<u8>)> =
                    (0..n_put).map(|_| (rng.bytes(16), rng.bytes(64))).collect();
                let t = Instant::now();
                for (k, v) in &entries {
                    bee.put(k, v).await.expect("put");
                }
                report("bee_put_single_native", n_put, t.elapsed().as_secs_f64(), "ops/s");
            }

            {
                let bee = bee_at(dir.path().join("batch")).await;
                let entries: Vec<(Vec<u8>, Vec<u8>)> =
                    (0..n_batch).map(|_| (rng.bytes(16), rng.bytes(64))).collect();
                let t = Instant::now();
                for chunk in entries.chunks(BATCH) {
                    let mut batch = bee.batch().await.expect("batch");
                    for (k, v) in chunk {
                        batch.put(k, v).await.expect("put");
                    }
                    batch.flush().await.expect("flush");
                }
                report("bee_put_batch_native", n_batch, t.elapsed().as_secs_f64(), "entries/s");
            }

            let bee = bee_at(dir.path().join("read")).await;
            let keys: Vec<Vec<u8>> = (0..n_keys).map(|_| rng.bytes(16)).collect();
            for chunk in keys.chunks(BATCH) {
                let mut batch = bee.batch().await.expect("batch");
                for k in chunk {
                    batch.put(k, &k.repeat(4)).await.expect("put");
                }
                batch.flush().await.expect("flush");
            }
            {
                // Warm-up pass (the anchor warms too), then the timed random gets.
                for k in keys.iter().step_by(7) {
                    bee.get(k).await.expect("get");
                }
                let picks: Vec<usize> = (0..n_get).map(|_| (rng.next() % n_keys as u64) as usize).collect();
                let t = Instant::now();
                for &i in &picks {
                    let e = bee.get(&keys[i]).await.expect("get").expect("present");
                    assert_eq!(e.value.as_deref().map(<[u8]>::len), Some(64));
                }
                report("bee_get_random_native", n_get, t.elapsed().as_secs_f64(), "ops/s");
            }
            {
                let t = Instant::now();
                let mut stream = std::pin::pin!(bee.range(Default::default()).into_stream());
                let mut n = 0;
                while let Some(e) = stream.next().await {
                    e.expect("entry");
                    n += 1;
                }
                assert_eq!(n, n_keys, "scan saw every key");
                report("bee_range_all_native", n, t.elapsed().as_secs_f64(), "entries/s");
            }
        });
    }
}
