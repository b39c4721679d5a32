//! Native core benchmarks on `FileStorage`, the same workloads as the JS anchor
//! (`tests/js/bench-core.mjs`): prints one JSON line per workload,
//! `{"bench", "ours", "unit", "n", "seconds", "impl", "note"}`.
//!
//! Env: `N_SINGLE` (default 5000), `N_BATCH` (100000), `N_GET` (20000), like the JS anchor.
//! Run: `cargo bench -p hyperwasm --bench core`.

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
    use hyperwasm::core::{CreateOptions, Hypercore};
    use hyperwasm::storage::FileStorage;
    use std::time::Instant;

    const BLOCK: usize = 1024;
    const POOL_BLOCKS: usize = 4096;
    const BATCH: usize = 100;
    const NOTE: &str = "FileStorage default durability (flush to OS, no fsync), like JS \
                        hypercore-storage/RocksDB's default unsynced WAL; core creation not timed";

    fn env(name: &str, default: usize) -> usize {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// xorshift64*: incompressible-enough bytes without a rand dependency.
    struct XorShift(u64);

    impl XorShift {
        fn seeded() -> Self {
            let mut seed = [0u8; 8];
            getrandom::getrandom(&mut seed).expect("getrandom");
            XorShift(u64::from_le_bytes(seed) | 1)
        }
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn report(bench: &str, ops: usize, secs: f64, unit: &str) {
        let ours = ((ops as f64 / secs) * 100.0).round() / 100.0;
        println!(
            "{{\"bench\":\"{bench}\",\"ours\":{ours},\"unit\":\"{unit}\",\"n\":{ops},\"seconds\":{:.3},\"impl\":\"hyperwasm@{}\",\"note\":\"{NOTE}\"}}",
            secs,
            env!("CARGO_PKG_VERSION"),
        );
    }

    pub fn main() {
        let n_single = env("N_SINGLE", 5000);
        let n_batch = env("N_BATCH", 100_000);
        let n_get = env("N_GET", 20_000);

        let mut rng = XorShift::seeded();
        // Random data generated up front so it is not timed (as in the JS anchor).
        let pool: Vec<u8> = (0..BLOCK * POOL_BLOCKS / 8).flat_map(|_| rng.next().to_le_bytes()).collect();
        let block_at = |i: usize| {
            let o = (i % POOL_BLOCKS) * BLOCK;
            &pool[o..o + BLOCK]
        };
        let dir = tempfile::Builder::new().prefix("hyperwasm-bench-").tempdir().expect("tempdir");

        block_on(async {
            {
                let storage = FileStorage::open(dir.path().join("append-single")).expect("open");
                let mut core = Hypercore::create(storage, CreateOptions::default()).await.expect("create");
                let t = Instant::now();
                for i in 0..n_single {
                    core.append(block_at(i)).await.expect("append");
                }
                report("native_append_single", n_single, t.elapsed().as_secs_f64(), "ops/s");
            }

            let storage = FileStorage::open(dir.path().join("append-batch")).expect("open");
            let mut core = Hypercore::create(storage, CreateOptions::default()).await.expect("create");
            {
                let t = Instant::now();
                let mut i = 0;
                while i < n_batch {
                    let batch: Vec<&[u8]> = (i..i + BATCH).map(block_at).collect();
                    core.append_batch(&batch).await.expect("append batch");
                    i += BATCH;
                }
                report("native_append_batch", n_batch, t.elapsed().as_secs_f64(), "blocks/s");
            }

            {
                let len = core.length();
                let idx: Vec<u64> = (0..n_get).map(|_| rng.below(len)).collect();
                let t = Instant::now();
                for &i in &idx {
                    let b = core.get(i).await.expect("get").expect("block present");
                    assert_eq!(b.len(), BLOCK, "bad block");
                }
                report("native_get_random", n_get, t.elapsed().as_secs_f64(), "ops/s");
            }
        });
    }
}
