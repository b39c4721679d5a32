//! NAT sampling (`nat-sampler`): the last 16 observations of our own address (the `to` field of
//! replies), each stored twice in a 32-slot ring — once as `(host, port)` and once as
//! `(host, 0)` — with shared hit counters. The sampled address is the most-hit `(host, port)` if
//! it reaches the threshold (`size` minus 0/1/2/3 for sizes < 4/8/12/≥12), else the most-hit host
//! with port 0 ("consistent host, random port"), else unknown.
//!
//! JS shares one sample object between several ring slots; here samples live in a small arena
//! referenced by index, compacted so it never holds more than a few dozen entries.

use std::net::Ipv4Addr;

const RING: usize = 32;
const ARENA_COMPACT_AT: usize = 4 * RING;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    host: Ipv4Addr,
    port: u16,
    hits: i64,
}

/// The sampler.
#[derive(Debug, Clone, Default)]
pub struct NatSampler {
    host: Option<Ipv4Addr>,
    port: u16,
    size: usize,
    threshold: i64,
    top: usize,
    ring: Vec<usize>,
    arena: Vec<Sample>,
    best_full: Option<usize>,
    best_host: Option<usize>,
}

impl NatSampler {
    /// An empty sampler.
    pub fn new() -> Self {
        NatSampler::default()
    }

    /// The sampled host, if any.
    pub fn host(&self) -> Option<Ipv4Addr> {
        self.host
    }

    /// The sampled port (0 = unknown or not consistent).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Number of observations counted (at most 16).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Records one observation; returns the hits of its `(host, port)` sample.
    pub fn add(&mut self, host: Ipv4Addr, port: u16) -> i64 {
        let a = self.bump(host, port, 2);
        let b = self.bump(host, 0, 1);

        if self.ring.len() < RING {
            self.size += 1;
            let s = self.size as i64;
            self.threshold = s - if s < 4 {
                0
            } else if s < 8 {
                1
            } else if s < 12 {
                2
            } else {
                3
            };
            self.ring.push(a);
            self.ring.push(b);
            self.top += 2;
        } else {
            if self.top == RING {
                self.top = 0;
            }
            let old_a = std::mem::replace(&mut self.ring[self.top], a);
            self.arena[old_a].hits -= 1;
            self.top += 1;
            let old_b = std::mem::replace(&mut self.ring[self.top], b);
            self.arena[old_b].hits -= 1;
            self.top += 1;
        }

        if self.best_full.is_none_or(|i| self.arena[i].hits < self.arena[a].hits) {
            self.best_full = Some(a);
        }
        if self.best_host.is_none_or(|i| self.arena[i].hits < self.arena[b].hits) {
            self.best_host = Some(b);
        }

        let full = self.best_full.map(|i| self.arena[i]);
        let hosted = self.best_host.map(|i| self.arena[i]);
        match (full, hosted) {
            (Some(s), _) if s.hits >= self.threshold => {
                self.host = Some(s.host);
                self.port = s.port;
            }
            (_, Some(s)) if s.hits >= self.threshold => {
                self.host = Some(s.host);
                self.port = 0;
            }
            _ => {
                self.host = None;
                self.port = 0;
            }
        }

        let hits = self.arena[a].hits;
        if self.arena.len() > ARENA_COMPACT_AT {
            self.compact();
        }
        hits
    }

    /// Finds `(host, port)` among the four most recent samples of its kind (`inc` 2: full
    /// samples, 1: host-only samples) and bumps it, or makes a new one.
    fn bump(&mut self, host: Ipv4Addr, port: u16, inc: usize) -> usize {
        for i in 0..4 {
            let j = (self.top + 4 * RING - inc - 2 * i) % RING;
            let Some(&idx) = self.ring.get(j) else { break };
            let s = &mut self.arena[idx];
            if s.port == port && s.host == host {
                s.hits += 1;
                return idx;
            }
        }
        self.arena.push(Sample { host, port, hits: 1 });
        self.arena.len() - 1
    }

    /// Drops arena entries nothing refers to any more.
    fn compact(&mut self) {
        let mut map = vec![usize::MAX; self.arena.len()];
        let mut arena = Vec::with_capacity(RING + 2);
        let mut keep = |idx: usize, arena: &mut Vec<Sample>, src: &[Sample]| -> usize {
            if map[idx] == usize::MAX {
                map[idx] = arena.len();
                arena.push(src[idx]);
            }
            map[idx]
        };
        let src = std::mem::take(&mut self.arena);
        for slot in self.ring.iter_mut() {
            *slot = keep(*slot, &mut arena, &src);
        }
        self.best_full = self.best_full.map(|i| keep(i, &mut arena, &src));
        self.best_host = self.best_host.map(|i| keep(i, &mut arena, &src));
        self.arena = arena;
    }

    #[cfg(test)]
    fn arena_len(&self) -> usize {
        self.arena.len()
    }
}

#[cfg(test)]
mod tests;
