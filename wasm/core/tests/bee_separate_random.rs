#![allow(clippy::unwrap_used, missing_docs)]
//! `Batch::separate_blocks` (the browser's group commit of concurrent puts/dels) writes the
//! same blocks as the same operations made one call at a time (which `oracle_bee_ops.rs` and
//! `interop_bee.rs` check against JS), over random scripts and group sizes, starting from trees
//! made by compacted batches. `SEEDS`, `OPS` scale it (found useful by review: 200 × 400).

use futures::executor::block_on;
use hyperwasm::bee::{BeeOptions, Hyperbee};
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::replicator::{CoreSet, SharedCore};
use hyperwasm::storage::MemoryStorage;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn int(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Option<Vec<u8>>),
    Del(Vec<u8>),
}

fn script(seed: u64, n: usize) -> Vec<Op> {
    let mut r = Rng(seed.wrapping_mul(0x9e3779b97f4a7c15) | 1);
    let alpha = [0u8, 1, 0x61, 0x62, 0x63, 0xff];
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut ops = Vec::new();
    for _ in 0..n {
        let key = if !keys.is_empty() && r.int(100) < 60 {
            keys[r.int(keys.len() as u64) as usize].clone()
        } else {
            let len = r.int(5) as usize;
            let k: Vec<u8> = (0..len).map(|_| alpha[r.int(alpha.len() as u64) as usize]).collect();
            keys.push(k.clone());
            k
        };
        if r.int(100) < 55 {
            let v = match r.int(10) {
                0 => None,
                1 => Some(vec![]),
                _ => Some(vec![r.int(3) as u8; 1 + r.int(4) as usize]),
            };
            ops.push(Op::Put(key, v));
        } else {
            ops.push(Op::Del(key));
        }
    }
    ops
}

async fn fresh() -> (SharedCore<MemoryStorage>, Hyperbee<MemoryStorage>) {
    let core = CoreSet::new()
        .insert(Hypercore::create(MemoryStorage::new(), CreateOptions::default()).await.unwrap());
    let bee = Hyperbee::open(core.clone(), BeeOptions::default()).await.unwrap();
    (core, bee)
}

async fn blocks(core: &SharedCore<MemoryStorage>) -> Vec<Vec<u8>> {
    let len = core.info().await.length;
    let mut out = Vec::new();
    for i in 0..len {
        out.push(core.get(i).await.unwrap().unwrap());
    }
    out
}

#[test]
fn separate_equals_sequential_random() {
    let seeds: u64 = std::env::var("SEEDS").ok().map(|s| s.parse().unwrap()).unwrap_or(24);
    let n: usize = std::env::var("OPS").ok().map(|s| s.parse().unwrap()).unwrap_or(300);
    for seed in 0..seeds {
        let ops = script(seed, n);
        block_on(async {
            let (a, bee_a) = fresh().await;
            let (b, bee_b) = fresh().await;
            // Same starting tree made by compacted JS-style batches.
            let pre = script(seed ^ 0xabcdef, 300);
            for bee in [&bee_a, &bee_b] {
                for chunk in pre.chunks(37) {
                    let mut batch = bee.batch().await.unwrap();
                    for op in chunk {
                        match op {
                            Op::Put(k, v) => {
                                batch.put_with(k, v.as_deref(), None).await.unwrap();
                            }
                            Op::Del(k) => {
                                batch.del(k).await.unwrap();
                            }
                        }
                    }
                    batch.flush().await.unwrap();
                }
            }
            for op in &ops {
                match op {
                    Op::Put(k, v) => {
                        bee_a.put_with(k, v.as_deref(), None).await.unwrap();
                    }
                    Op::Del(k) => {
                        bee_a.del(k).await.unwrap();
                    }
                }
            }
            // groups of random size, like the browser writer
            let mut r = Rng(seed + 7);
            let mut i = 0;
            while i < ops.len() {
                let g = 1 + r.int(60) as usize;
                let mut batch = bee_b.batch().await.unwrap();
                batch.separate_blocks();
                for op in &ops[i..(i + g).min(ops.len())] {
                    match op {
                        Op::Put(k, v) => {
                            batch.put_with(k, v.as_deref(), None).await.unwrap();
                        }
                        Op::Del(k) => {
                            batch.del(k).await.unwrap();
                        }
                    }
                }
                batch.flush().await.unwrap();
                i += g;
            }
            let (ba, bb) = (blocks(&a).await, blocks(&b).await);
            assert_eq!(ba.len(), bb.len(), "seed {seed}: lengths");
            for (j, (x, y)) in ba.iter().zip(&bb).enumerate() {
                assert_eq!(hex::encode(x), hex::encode(y), "seed {seed}: block {j}");
            }
        });
    }
}
