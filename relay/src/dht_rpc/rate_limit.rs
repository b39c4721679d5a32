//! Per-source rate limit on incoming requests: a token bucket per IPv4 host. Not in JS dht-rpc;
//! a public relay needs it so one host cannot make it send unbounded replies. When more hosts
//! than `max_hosts` are tracked, idle (refilled) buckets are dropped; if none is idle, new hosts
//! share one overflow bucket, so memory stays bounded even under spoofed sources.

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Bucket parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second per host.
    pub per_second: u32,
    /// Burst size (bucket capacity) per host.
    pub burst: u32,
    /// Hosts tracked individually.
    pub max_hosts: usize,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { per_second: 200, burst: 400, max_hosts: 4096 }
    }
}

/// Milli-requests: integer arithmetic, one request costs 1000.
const UNIT: u64 = 1000;
const PRUNE_EVERY_MS: u64 = 100;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: u64,
    at_ms: u64,
}

/// The limiter.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<Ipv4Addr, Bucket>,
    overflow: Bucket,
    last_prune_ms: Option<u64>,
}

impl RateLimiter {
    /// A limiter with `limit`.
    pub fn new(limit: RateLimit) -> Self {
        let full = Bucket { level: capacity(&limit), at_ms: 0 };
        RateLimiter { limit, buckets: HashMap::new(), overflow: full, last_prune_ms: None }
    }

    /// Whether a request from `host` at `now_ms` may be handled (and charges it).
    pub fn allow(&mut self, host: Ipv4Addr, now_ms: u64) -> bool {
        let limit = self.limit;
        if limit.per_second == 0 && limit.burst == 0 {
            return true;
        }
        if !self.buckets.contains_key(&host) && self.buckets.len() >= limit.max_hosts {
            self.prune(now_ms);
        }
        let bucket = if self.buckets.len() < limit.max_hosts || self.buckets.contains_key(&host) {
            self.buckets.entry(host).or_insert(Bucket { level: capacity(&limit), at_ms: now_ms })
        } else {
            &mut self.overflow
        };
        refill(bucket, &limit, now_ms);
        if bucket.level >= UNIT {
            bucket.level -= UNIT;
            true
        } else {
            false
        }
    }

    /// Hosts tracked individually.
    pub fn tracked_hosts(&self) -> usize {
        self.buckets.len()
    }

    fn prune(&mut self, now_ms: u64) {
        if self.last_prune_ms.is_some_and(|t| now_ms.saturating_sub(t) < PRUNE_EVERY_MS) {
            return;
        }
        self.last_prune_ms = Some(now_ms);
        let limit = self.limit;
        self.buckets.retain(|_, b| {
            refill(b, &limit, now_ms);
            b.level < capacity(&limit)
        });
    }
}

fn capacity(limit: &RateLimit) -> u64 {
    u64::from(limit.burst.max(1)) * UNIT
}

fn refill(bucket: &mut Bucket, limit: &RateLimit, now_ms: u64) {
    let elapsed = now_ms.saturating_sub(bucket.at_ms);
    // per_second requests per 1000 ms = per_second milli-requests per ms.
    let gained = elapsed.saturating_mul(u64::from(limit.per_second));
    bucket.level = bucket.level.saturating_add(gained).min(capacity(limit));
    bucket.at_ms = bucket.at_ms.max(now_ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let mut r = RateLimiter::new(RateLimit { per_second: 10, burst: 5, max_hosts: 8 });
        let host = Ipv4Addr::new(1, 2, 3, 4);
        let allowed = (0..20).filter(|_| r.allow(host, 1000)).count();
        assert_eq!(allowed, 5, "burst");
        assert!(!r.allow(host, 1050), "half a request refilled");
        assert!(r.allow(host, 1100), "one request per 100 ms");
        assert!(!r.allow(host, 1100));
        let over_a_second = (0..1000).filter(|i| r.allow(host, 2000 + i)).count();
        assert!((10..=16).contains(&over_a_second), "{over_a_second} in 1 s at 10/s (+burst)");
        assert!(r.allow(Ipv4Addr::new(1, 2, 3, 5), 3000), "other hosts have their own bucket");
    }

    #[test]
    fn bounded_under_many_sources() {
        let mut r = RateLimiter::new(RateLimit { per_second: 1, burst: 1, max_hosts: 16 });
        for i in 0..10_000u32 {
            r.allow(Ipv4Addr::from(i), 5);
            assert!(r.tracked_hosts() <= 16);
        }
        // New hosts beyond the cap share the overflow bucket (1 request, then refused).
        let refused = (20_000..20_100u32).filter(|i| !r.allow(Ipv4Addr::from(*i), 5)).count();
        assert!(refused >= 99);
        // Much later every bucket is idle again: new hosts get their own.
        assert!(r.allow(Ipv4Addr::new(9, 9, 9, 9), 100_000));
        assert!(r.tracked_hosts() <= 16);
    }
}
