//! Session caps (global and per client IP, counting sessions, not sockets), each IP's share
//! of the DHT query permits, and the per-session bytes/s token bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

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

/// Session caps: `--max-sessions` in all, `--max-sessions-per-ip` per client IP.
///
/// A *session* holds its slot until it ends: a v1 session through its grace period (it
/// outlives its socket for a resume), a JS-compat session as long as its socket. A socket
/// that has not become a session yet (before `hello` / the channel's open) is *pending*.
/// An upgrade is let in while there is room for one more session, or while the IP has fewer
/// pending sockets than live sessions (each may be a resume, which reuses its session's slot
/// and takes none). A new session then needs a free slot ([`Pending::into_session`]), so the
/// sessions never exceed the caps and the pending sockets stay below them too.
#[derive(Debug)]
pub struct PerIp {
    max_sessions: usize,
    max_per_ip: usize,
    queries_per_ip: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    sessions: usize,
    pending: usize,
    ips: HashMap<IpAddr, IpRecord>,
}

/// What one client IP holds; removed when it holds nothing.
#[derive(Debug)]
struct IpRecord {
    sessions: usize,
    pending: usize,
    /// The IP's share of the DHT query permits (`query_permits.rs`).
    queries: Arc<Semaphore>,
}

/// Why an upgrade or a new session is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `--max-sessions`.
    Sessions,
    /// `--max-sessions-per-ip`.
    PerIp,
}

impl Refused {
    /// The reason counted in the metrics and logged.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Sessions => "sessions",
            Refused::PerIp => "per_ip",
        }
    }
}

/// An upgraded socket that is not a session yet; dropping it frees its place.
#[derive(Debug)]
pub struct Pending {
    ip: IpAddr,
    owner: Arc<PerIp>,
    /// Became a session: its count moved to the session's slot.
    converted: bool,
}

/// One session's slot (and its IP's query share), held until the session ends.
#[derive(Debug)]
pub struct SessionSlot {
    ip: IpAddr,
    owner: Arc<PerIp>,
    queries: Arc<Semaphore>,
}

impl PerIp {
    /// Caps of `max_sessions` sessions, `max_per_ip` per IP, and `queries_per_ip` DHT queries
    /// at once per IP.
    pub fn new(max_sessions: usize, max_per_ip: usize, queries_per_ip: usize) -> Self {
        PerIp { max_sessions, max_per_ip, queries_per_ip: queries_per_ip.max(1), state: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets an upgrade from `ip` in (see the type's docs).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Pending, Refused> {
        let mut st = self.lock();
        if st.sessions + st.pending >= self.max_sessions && st.pending >= st.sessions {
            return Err(Refused::Sessions);
        }
        let (s, p) = st.ips.get(&ip).map_or((0, 0), |r| (r.sessions, r.pending));
        if s + p >= self.max_per_ip && p >= s {
            return Err(Refused::PerIp);
        }
        st.pending += 1;
        let queries = self.queries_per_ip;
        st.ips
            .entry(ip)
            .or_insert_with(|| IpRecord {
                sessions: 0,
                pending: 0,
                queries: Arc::new(Semaphore::new(queries)),
            })
            .pending += 1;
        Ok(Pending { ip, owner: self.clone(), converted: false })
    }

    /// Live sessions of `ip` (tests, logs).
    pub fn sessions_of(&self, ip: IpAddr) -> usize {
        self.lock().ips.get(&ip).map_or(0, |r| r.sessions)
    }

    /// Moves one of `ip`'s pending sockets to its sessions if the caps leave room; returns
    /// the IP's query share.
    fn take_session(&self, ip: IpAddr) -> Result<Arc<Semaphore>, Refused> {
        let mut st = self.lock();
        if st.sessions >= self.max_sessions {
            return Err(Refused::Sessions);
        }
        // The record exists while the socket is pending.
        let r = st.ips.get_mut(&ip).ok_or(Refused::PerIp)?;
        if r.sessions >= self.max_per_ip {
            return Err(Refused::PerIp);
        }
        r.sessions += 1;
        r.pending = r.pending.saturating_sub(1);
        let queries = r.queries.clone();
        st.sessions += 1;
        st.pending = st.pending.saturating_sub(1);
        Ok(queries)
    }

    /// Drops one of `ip`'s pending (`pending`) or session (`!pending`) counts.
    fn release(&self, ip: IpAddr, pending: bool) {
        let mut st = self.lock();
        if pending {
            st.pending = st.pending.saturating_sub(1);
        } else {
            st.sessions = st.sessions.saturating_sub(1);
        }
        if let Some(r) = st.ips.get_mut(&ip) {
            if pending {
                r.pending = r.pending.saturating_sub(1);
            } else {
                r.sessions = r.sessions.saturating_sub(1);
            }
            if r.pending == 0 && r.sessions == 0 {
                st.ips.remove(&ip);
            }
        }
    }
}

impl Pending {
    /// The client IP.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Turns this socket into a new session if the caps leave room (a resume drops the
    /// `Pending` instead: its session already holds a slot).
    pub fn into_session(mut self) -> Result<SessionSlot, (Self, Refused)> {
        match self.owner.take_session(self.ip) {
            Ok(queries) => {
                self.converted = true;
                Ok(SessionSlot { ip: self.ip, owner: self.owner.clone(), queries })
            }
            Err(r) => Err((self, r)),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.converted {
            self.owner.release(self.ip, true);
        }
    }
}

impl SessionSlot {
    /// The client IP.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The IP's share of the DHT query permits (shared by all its sessions).
    pub fn ip_queries(&self) -> Arc<Semaphore> {
        self.queries.clone()
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.owner.release(self.ip, false);
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

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn per_ip_cap_counts_sessions_and_resumes_take_no_slot() {
        let p = Arc::new(PerIp::new(100, 2, 16));
        let a = p.admit(ip(1)).ok().and_then(|s| s.into_session().ok());
        let b = p.admit(ip(1)).ok().and_then(|s| s.into_session().ok());
        assert!(a.is_some() && b.is_some());
        assert_eq!(p.sessions_of(ip(1)), 2);
        // At the cap, an upgrade still gets in (it may resume one of the two sessions) …
        let third = p.admit(ip(1));
        assert!(third.is_ok());
        let fourth = p.admit(ip(1));
        assert!(fourth.is_ok());
        // … but not more pending sockets than sessions, and none becomes a new session.
        assert_eq!(p.admit(ip(1)).err(), Some(Refused::PerIp));
        let third = third.ok().map(|t| t.into_session().map(|_| ()).map_err(|(_, r)| r));
        assert_eq!(third, Some(Err(Refused::PerIp)));
        // A resume drops its pending place; another IP is not affected.
        drop(fourth);
        assert_eq!(p.sessions_of(ip(1)), 2);
        assert!(p.admit(ip(2)).ok().and_then(|s| s.into_session().ok()).is_some());
        // A session that ends frees its slot; the record goes when the IP holds nothing.
        drop(a);
        assert!(p.admit(ip(1)).ok().and_then(|s| s.into_session().ok()).is_some());
        drop(b);
        assert_eq!(p.sessions_of(ip(1)), 0);
        let st = p.lock();
        assert!(!st.ips.contains_key(&ip(1)));
        // Every slot taken above was released.
        assert_eq!((st.sessions, st.pending, st.ips.len()), (0, 0, 0));
    }

    #[test]
    fn global_cap_counts_sessions() {
        let p = Arc::new(PerIp::new(2, 16, 16));
        let a = p.admit(ip(1)).ok().and_then(|s| s.into_session().ok());
        let b = p.admit(ip(2)).ok().and_then(|s| s.into_session().ok());
        assert!(a.is_some() && b.is_some());
        let c = p.admit(ip(3));
        assert!(c.is_ok());
        assert_eq!(
            c.ok().map(|c| c.into_session().map(|_| ()).map_err(|(_, r)| r)),
            Some(Err(Refused::Sessions))
        );
        // Two pending sockets at most while two sessions live.
        let (d, e) = (p.admit(ip(3)), p.admit(ip(4)));
        assert!(d.is_ok() && e.is_ok());
        assert_eq!(p.admit(ip(5)).err(), Some(Refused::Sessions));
    }

    #[test]
    fn an_ips_sessions_share_one_query_semaphore() {
        let p = Arc::new(PerIp::new(100, 4, 3));
        let a = p.admit(ip(1)).ok().and_then(|s| s.into_session().ok());
        let b = p.admit(ip(1)).ok().and_then(|s| s.into_session().ok());
        let c = p.admit(ip(2)).ok().and_then(|s| s.into_session().ok());
        let (Some(a), Some(b), Some(c)) = (a, b, c) else { panic!("admitted") };
        assert!(Arc::ptr_eq(&a.ip_queries(), &b.ip_queries()));
        assert!(!Arc::ptr_eq(&a.ip_queries(), &c.ip_queries()));
        assert_eq!(a.ip_queries().available_permits(), 3);
    }
}
