//! Storage commands served by a persistent node (hyperdht `lib/persistent.js`): LOOKUP,
//! FIND_PEER, ANNOUNCE (+ refresh), UNANNOUNCE, MUTABLE_GET/PUT, IMMUTABLE_GET/PUT.
//!
//! Reply shapes are JS's: LOOKUP, FIND_PEER, MUTABLE_GET and IMMUTABLE_GET answer with a token
//! and closer nodes; ANNOUNCE/UNANNOUNCE answer bare; MUTABLE_PUT/IMMUTABLE_PUT answer with a
//! token and closer nodes (JS `req.reply(null)`); SEQ errors are error responses. Malformed or
//! unauthorised requests get no answer at all. Everything a stranger can store is bounded:
//! records (per target and in total, 20 min), refreshes, bumps (20 min), mutable and immutable
//! values (count and bytes, 48 h).

use super::cache::{GenCache, RecordCache, SplitMix};
use super::router::Router;
use super::{command, hash, Answer, Incoming, Key};
use hyperwasm::encoding::Compact;
use hyperwasm::hyperdht::constants::error::{SEQ_REUSED, SEQ_TOO_LOW};
use hyperwasm::hyperdht::crypto::{verify_announce, verify_mutable, verify_unannounce};
use hyperwasm::hyperdht::messages::{
    decode, Announce, LookupRawReply, MutableGetResponse, MutablePutRequest,
};

/// Records returned per LOOKUP (JS `records.get(k, 20)`).
pub const MAX_LOOKUP_RECORDS: usize = 20;
/// A bump may be at most this far in the future (JS `MAX_BUMP_DRIFT`).
pub const MAX_BUMP_DRIFT_MS: u64 = 60_000;
/// Relay addresses kept per stored record (JS truncates to 3).
pub const MAX_RECORD_RELAYS: usize = 3;

/// Cache bounds (JS `defaultCacheOpts`, plus the per-target and byte caps JS does not have).
#[derive(Debug, Clone)]
pub struct PersistentOptions {
    /// Records, refreshes, bumps (JS `maxSize`, 65536).
    pub max_size: usize,
    /// Age limit of records, refreshes and bumps (JS `maxAge`, 20 min).
    pub max_age_ms: u64,
    /// Records stored per target (ours; JS has no per-target cap).
    pub records_per_target: usize,
    /// Age limit of mutable and immutable values (48 h).
    pub value_max_age_ms: u64,
    /// Byte bound of each of the mutable and immutable caches' young generation.
    pub value_max_bytes: usize,
}

impl Default for PersistentOptions {
    fn default() -> Self {
        PersistentOptions {
            max_size: 65536,
            max_age_ms: 20 * 60 * 1000,
            records_per_target: 128,
            value_max_age_ms: 48 * 60 * 60 * 1000,
            value_max_bytes: 16 << 20,
        }
    }
}

/// What a refresh token re-announces.
#[derive(Debug, Clone)]
struct Refresh {
    target: Key,
    record: Vec<u8>,
    announce_self: bool,
}

/// The storage of a persistent node.
#[derive(Debug)]
pub struct Persistent {
    records: RecordCache,
    bumps: GenCache<Key, u64>,
    refreshes: GenCache<Key, Refresh>,
    mutables: GenCache<Key, Vec<u8>>,
    immutables: GenCache<Key, Vec<u8>>,
    rng: SplitMix,
}

impl Persistent {
    /// Empty storage; `now_ms` starts the expiry clocks.
    pub fn new(opts: &PersistentOptions, now_ms: u64) -> Self {
        let values = (opts.max_size / 2).max(1);
        Persistent {
            records: RecordCache::new(opts.max_size, opts.records_per_target, opts.max_age_ms, now_ms),
            bumps: GenCache::new(opts.max_size, opts.max_age_ms, now_ms),
            refreshes: GenCache::new(opts.max_size, opts.max_age_ms, now_ms),
            mutables: GenCache::new(values, opts.value_max_age_ms, now_ms)
                .with_max_bytes(opts.value_max_bytes),
            immutables: GenCache::new(values, opts.value_max_age_ms, now_ms)
                .with_max_bytes(opts.value_max_bytes),
            rng: SplitMix::from_os(),
        }
    }

    /// Uses `seed` for choosing which records a LOOKUP returns (tests).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = SplitMix::new(seed);
        self
    }

    /// Records stored in total (all targets).
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Answers a storage command. `node_id` is this node's id (what announcers sign over),
    /// `unix_ms` the wall clock (for bumps), `now_ms` the monotonic clock.
    pub fn on_request(
        &mut self,
        router: &mut Router,
        node_id: &Key,
        req: &Incoming<'_>,
        unix_ms: u64,
        now_ms: u64,
    ) -> Answer {
        match req.command {
            command::LOOKUP => self.on_lookup(router, req, now_ms),
            command::FIND_PEER => self.on_find_peer(router, req, now_ms),
            command::ANNOUNCE => self.on_announce(router, node_id, req, unix_ms, now_ms),
            command::UNANNOUNCE => self.on_unannounce(router, node_id, req, now_ms),
            command::MUTABLE_GET => self.on_mutable_get(req, now_ms),
            command::MUTABLE_PUT => self.on_mutable_put(req, now_ms),
            command::IMMUTABLE_GET => self.on_immutable_get(req, now_ms),
            command::IMMUTABLE_PUT => self.on_immutable_put(req, now_ms),
            // PLUGIN: no plugins are registered, JS stays silent then.
            _ => Answer::Silent,
        }
    }

    fn on_lookup(&mut self, router: &mut Router, req: &Incoming<'_>, now_ms: u64) -> Answer {
        let Some(target) = req.target else { return Answer::Silent };
        let mut records = self.records.get(&target, MAX_LOOKUP_RECORDS, &mut self.rng, now_ms);
        let bump = self.bumps.get(&target, now_ms).copied().unwrap_or(0);
        if records.len() < MAX_LOOKUP_RECORDS {
            if let Some(fwd) = router.get(&target, now_ms) {
                records.push(fwd.record.clone());
            }
        }
        if records.is_empty() {
            return Answer::reply(None);
        }
        Answer::reply(Some(LookupRawReply::encode_raw(&records, bump)))
    }

    fn on_find_peer(&mut self, router: &mut Router, req: &Incoming<'_>, now_ms: u64) -> Answer {
        let Some(target) = req.target else { return Answer::Silent };
        Answer::reply(router.get(&target, now_ms).map(|f| f.record.clone()))
    }

    /// Removes `public_key`'s record under `target` (and the router entry if it is its
    /// self-announce), as a local unannounce does.
    pub fn unannounce(&mut self, router: &mut Router, target: &Key, public_key: &Key) {
        if hash(public_key) == *target {
            router.delete_relay(target);
        }
        self.records.remove(target, public_key);
    }

    fn on_unannounce(
        &mut self,
        router: &mut Router,
        node_id: &Key,
        req: &Incoming<'_>,
        _now_ms: u64,
    ) -> Answer {
        let (Some(target), Some(token)) = (req.target, req.token) else { return Answer::Silent };
        let Some(unann) = req.value.and_then(|v| decode::<Announce>(v).ok()) else {
            return Answer::Silent;
        };
        let (Some(peer), Some(signature)) = (&unann.peer, &unann.signature) else {
            return Answer::Silent;
        };
        if !verify_unannounce(signature, &target, node_id, &token, peer, unann.refresh.as_ref()) {
            return Answer::Silent;
        }
        self.unannounce(router, &target, &peer.public_key);
        Answer::bare()
    }

    fn on_refresh(
        &mut self,
        router: &mut Router,
        token: &Key,
        from: std::net::SocketAddrV4,
        now_ms: u64,
    ) -> Answer {
        // The announcer stored hash(next token); presenting the token proves it.
        let active = hash(token);
        let Some(r) = self.refreshes.get(&active, now_ms).cloned() else { return Answer::Silent };
        let Some(pk) = r.record.get(..32).and_then(|s| <Key>::try_from(s).ok()) else {
            return Answer::Silent;
        };
        if r.announce_self {
            router.set_relay(r.target, from, r.record.clone(), now_ms);
            self.records.remove(&r.target, &pk);
        } else {
            self.records.add(r.target, pk, r.record.clone(), now_ms);
        }
        self.refreshes.delete(&active);
        self.refreshes.set(*token, r, now_ms);
        Answer::bare()
    }

    fn on_announce(
        &mut self,
        router: &mut Router,
        node_id: &Key,
        req: &Incoming<'_>,
        unix_ms: u64,
        now_ms: u64,
    ) -> Answer {
        let (Some(target), Some(token)) = (req.target, req.token) else { return Answer::Silent };
        let Some(ann) = req.value.and_then(|v| decode::<Announce>(v).ok()) else {
            return Answer::Silent;
        };
        let Some(mut peer) = ann.peer.clone() else {
            return match ann.refresh {
                Some(refresh) => self.on_refresh(router, &refresh, req.from, now_ms),
                None => Answer::Silent,
            };
        };
        let Some(signature) = ann.signature else { return Answer::Silent };
        if !verify_announce(&signature, &target, node_id, &token, &peer, ann.refresh.as_ref()) {
            return Answer::Silent;
        }
        peer.relay_addresses.truncate(MAX_RECORD_RELAYS);
        let announce_self = hash(&peer.public_key) == target;
        let record = peer.to_bytes();
        if announce_self {
            router.set_relay(target, req.from, record.clone(), now_ms);
            self.records.remove(&target, &peer.public_key);
        } else {
            let current = self.bumps.get(&target, now_ms).copied().unwrap_or(0);
            if ann.bump > current && ann.bump <= unix_ms.saturating_add(MAX_BUMP_DRIFT_MS) {
                self.bumps.set(target, ann.bump, now_ms);
            }
            self.records.add(target, peer.public_key, record.clone(), now_ms);
        }
        if let Some(refresh) = ann.refresh {
            self.refreshes.set(refresh, Refresh { target, record, announce_self }, now_ms);
        }
        Answer::bare()
    }

    fn on_mutable_get(&mut self, req: &Incoming<'_>, now_ms: u64) -> Answer {
        let (Some(target), Some(value)) = (req.target, req.value) else { return Answer::Silent };
        let Ok(seq) = hyperwasm::encoding::Decoder::new(value).uint() else { return Answer::Silent };
        let Some(stored) = self.mutables.get(&target, now_ms) else { return Answer::reply(None) };
        let local_seq = hyperwasm::encoding::Decoder::new(stored).uint().unwrap_or(0);
        Answer::reply(if local_seq < seq { None } else { Some(stored.clone()) })
    }

    fn on_mutable_put(&mut self, req: &Incoming<'_>, now_ms: u64) -> Answer {
        let (Some(target), Some(_), Some(value)) = (req.target, req.token, req.value) else {
            return Answer::Silent;
        };
        let Ok(p) = decode::<MutablePutRequest>(value) else { return Answer::Silent };
        if hash(&p.public_key) != target {
            return Answer::Silent;
        }
        if !verify_mutable(&p.signature, p.seq, &p.value, &p.public_key) {
            return Answer::Silent;
        }
        if let Some(local) = self.mutables.get(&target, now_ms) {
            if let Ok(existing) = decode::<MutableGetResponse>(local) {
                if existing.seq == p.seq && existing.value != p.value {
                    return Answer::Error { code: SEQ_REUSED };
                }
                if p.seq < existing.seq {
                    return Answer::Error { code: SEQ_TOO_LOW };
                }
            }
        }
        let stored = MutableGetResponse { seq: p.seq, value: p.value, signature: p.signature }.to_bytes();
        let size = stored.len();
        self.mutables.set_sized(target, stored, size, now_ms);
        Answer::reply(None)
    }

    fn on_immutable_get(&mut self, req: &Incoming<'_>, now_ms: u64) -> Answer {
        let Some(target) = req.target else { return Answer::Silent };
        Answer::reply(self.immutables.get(&target, now_ms).cloned())
    }

    fn on_immutable_put(&mut self, req: &Incoming<'_>, now_ms: u64) -> Answer {
        let (Some(target), Some(_), Some(value)) = (req.target, req.token, req.value) else {
            return Answer::Silent;
        };
        if hash(value) != target {
            return Answer::Silent;
        }
        self.immutables.set_sized(target, value.to_vec(), value.len(), now_ms);
        Answer::reply(None)
    }
}
