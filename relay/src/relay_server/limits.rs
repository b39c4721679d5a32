//! Per-IP session caps and the per-session bytes/s token bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A token bucket: `rate` bytes per second, bursts up to one second's worth.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `rate` bytes/s (0 = unlimited).
    pub fn new(rate: u64, now_ms: u64) -> Self {
        TokenBucket { rate, tokens: rate as f64, last_ms: now_ms }
    }

    /// Takes `n` bytes; returns how long to wait before going on (zero when within the rate).
    /// The debt is kept, so a large message waits in proportion to its size.
    pub fn take(&mut self, n: usize, now_ms: u64) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        let rate = self.rate as f64;
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = now_ms;
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }
}

/// Sockets per client IP.
#[derive(Debug, Default)]
pub struct PerIp {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds one slot of an IP until dropped.
#[derive(Debug)]
pub struct IpSlot {
    ip: IpAddr,
    owner: Arc<PerIp>,
}

impl PerIp {
    /// Takes a slot for `ip` unless it already has `cap`.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<IpSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_default();
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(IpSlot { ip, owner: self.clone() })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_waits_in_proportion_to_the_debt() {
        let mut b = TokenBucket::new(1000, 0);
        assert_eq!(b.take(1000, 0), Duration::ZERO);
        assert_eq!(b.take(500, 0), Duration::from_millis(500));
        // Half a second later the debt is paid.
        assert_eq!(b.take(0, 500), Duration::ZERO);
        assert_eq!(TokenBucket::new(0, 0).take(1 << 30, 0), Duration::ZERO);
    }

    #[test]
    fn per_ip_cap_and_release() {
        let p = Arc::new(PerIp::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let a = p.acquire(ip, 2);
        let b = p.acquire(ip, 2);
        assert!(a.is_some() && b.is_some());
        assert!(p.acquire(ip, 2).is_none());
        assert!(p.acquire(IpAddr::from([10, 0, 0, 2]), 2).is_some());
        drop(a);
        assert!(p.acquire(ip, 2).is_some());
    }
}
