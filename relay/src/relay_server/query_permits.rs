//! Fair-share DHT query permits: every session's queries (v1 and JS-compat) take one of the
//! relay's [`DHT_QUERY_PERMITS`] and one of their client IP's share while they run.
//!
//! The node refuses queries beyond its own cap (`dht_rpc::Limits::max_queries`, 128, shared
//! with its background queries and the servers' self-announces); above [`DHT_QUERY_PERMITS`] a
//! session's query waits for a permit instead of failing. A query can hold its permit for long
//! (a delegated announce waits out a client that never signs, up to the 10 s ask timeout), so
//! one IP may hold at most its share (`--max-queries-per-ip`, default
//! [`DEFAULT_QUERIES_PER_IP`]): its other queries wait in its own queue and never stall another
//! IP's. Both queues are FIFO (tokio's semaphores are fair); a query takes its IP's permit
//! first, then a global one, and holds both until it ends (or its task is aborted).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// DHT queries the relay's sessions run at once, together.
pub const DHT_QUERY_PERMITS: usize = 96;
/// DHT queries one client IP's sessions run at once, together (default of
/// `--max-queries-per-ip`).
pub const DEFAULT_QUERIES_PER_IP: usize = 16;

/// The permits one session's queries take: the relay's and its client IP's (cheap to clone).
#[derive(Debug, Clone)]
pub struct QueryPermits {
    global: Arc<Semaphore>,
    per_ip: Arc<Semaphore>,
}

/// Held while a query runs: one permit of its IP's share and one of the relay's.
#[derive(Debug)]
pub struct QueryPermit {
    _ip: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

impl QueryPermits {
    /// Permits taken from `global` (the relay's, [`DHT_QUERY_PERMITS`]) and `per_ip` (the
    /// client IP's share, kept with its per-IP record in `limits.rs`).
    pub fn new(global: Arc<Semaphore>, per_ip: Arc<Semaphore>) -> Self {
        QueryPermits { global, per_ip }
    }

    /// The relay-wide semaphore.
    pub fn global(n: usize) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(n.max(1)))
    }

    /// Waits (in order of arrival) for the IP's permit, then for a global one. `None` only if
    /// a semaphore was closed (never: the relay does not close them); the query then runs
    /// unthrottled.
    pub async fn acquire(&self) -> Option<QueryPermit> {
        let ip = self.per_ip.clone().acquire_owned().await.ok()?;
        let global = self.global.clone().acquire_owned().await.ok()?;
        Some(QueryPermit { _ip: ip, _global: global })
    }

    /// Global permits free now (tests, metrics).
    pub fn global_available(&self) -> usize {
        self.global.available_permits()
    }

    /// This IP's permits free now (tests, metrics).
    pub fn ip_available(&self) -> usize {
        self.per_ip.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(n: usize) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(n))
    }

    #[tokio::test]
    async fn one_ip_never_holds_more_than_its_share() {
        let global = QueryPermits::global(6);
        let a = QueryPermits::new(global.clone(), ip(4));
        let b = QueryPermits::new(global.clone(), ip(4));
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(a.acquire().await);
        }
        // A fifth query of IP a waits, without taking a global permit meanwhile.
        let waiting = {
            let a = a.clone();
            tokio::spawn(async move { a.acquire().await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        assert_eq!(a.global_available(), 2);
        // IP b gets the two global permits left at once.
        let b1 = tokio::time::timeout(Duration::from_millis(100), b.acquire()).await;
        let b2 = tokio::time::timeout(Duration::from_millis(100), b.acquire()).await;
        assert!(matches!((&b1, &b2), (Ok(Some(_)), Ok(Some(_)))));
        assert_eq!(b.global_available(), 0);
        // A global permit comes free: a's waiter still waits for its IP's share.
        drop(b1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        assert_eq!(a.global_available(), 1);
        // A query of a ends: its waiter runs.
        held.pop();
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), waiting).await.ok().and_then(|r| r.ok()),
            Some(true)
        );
    }

    #[tokio::test]
    async fn waiters_of_an_ip_are_served_in_order() {
        let p = QueryPermits::new(QueryPermits::global(8), ip(1));
        let first = p.acquire().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..5 {
            let (p, tx) = (p.clone(), tx.clone());
            tokio::spawn(async move {
                let _permit = p.acquire().await;
                let _ = tx.send(i);
            });
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        let mut order = Vec::new();
        for _ in 0..5 {
            order.extend(tokio::time::timeout(Duration::from_secs(1), rx.recv()).await.ok().flatten());
        }
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }
}
