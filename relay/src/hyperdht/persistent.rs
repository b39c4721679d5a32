//! Storage commands served by a persistent node (hyperdht `lib/persistent.js`): LOOKUP,
//! FIND_PEER, ANNOUNCE (+ refresh), UNANNOUNCE, MUTABLE_GET/PUT, IMMUTABLE_GET/PUT.
//!
//! Reply shapes are JS's: LOOKUP, FIND_PEER, MUTABLE_GET and IMMUTABLE_GET answer with a token
//! and closer nodes; ANNOUNCE/UNANNOUNCE answer bare; MUTABLE_PUT/IMMUTABLE_PUT answer with a
//! token and closer nodes (JS `req.reply(null)`); SEQ errors are error responses. Malformed or
//! unauthorised requests get no answer at all. Everything a stranger can store is bounded:
//! records (per target and in total, 20 min), refreshes, bumps (20 min), mutable and immutable
//! values (count and bytes, 48 h).

use super::cache::{GenCache, RecordCache};
use super::router::Router;
use super::{command, hash, Answer, Incoming, Key};
use crate::split_mix::SplitMix;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hyperdht::bare_announce;
    use hyperwasm::crypto::KeyPair;
    use hyperwasm::hyperdht::crypto::{sign_announce, sign_mutable, sign_unannounce};
    use hyperwasm::hyperdht::messages::Peer;
    use std::net::{Ipv4Addr, SocketAddrV4};

    const NODE_ID: Key = [7u8; 32];
    const TOKEN: Key = [9u8; 32];

    fn addr(i: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(20, 0, 0, i), 1000 + i as u16)
    }

    fn kp(i: u8) -> KeyPair {
        KeyPair::from_seed(&[i; 32])
    }

    fn req<'a>(
        command: u64,
        target: Option<Key>,
        token: Option<Key>,
        value: Option<&'a [u8]>,
    ) -> Incoming<'a> {
        Incoming { from: addr(1), command, target, token, value }
    }

    fn announce_value(kp: &KeyPair, target: &Key, relays: Vec<SocketAddrV4>, bump: u64) -> Vec<u8> {
        let peer = Peer { public_key: kp.public_key(), relay_addresses: relays };
        let sig = sign_announce(target, &NODE_ID, &TOKEN, &peer, None, kp);
        Announce { peer: Some(peer), refresh: None, signature: Some(sig), bump }.to_bytes()
    }

    fn setup() -> (Persistent, Router) {
        (Persistent::new(&PersistentOptions::default(), 0).with_seed(1), Router::new(0))
    }

    fn lookup(p: &mut Persistent, r: &mut Router, target: Key) -> Answer {
        p.on_request(r, &NODE_ID, &req(command::LOOKUP, Some(target), None, None), 0, 10)
    }

    fn lookup_peers(a: &Answer) -> LookupRawReply {
        match a {
            Answer::Reply { value: Some(v), token: true, closer_nodes: true, to: None } => decode(v).unwrap(),
            other => panic!("not a lookup reply with value: {other:?}"),
        }
    }

    #[test]
    fn lookup_of_an_empty_topic_replies_null_with_token_and_closer_nodes() {
        let (mut p, mut r) = setup();
        assert_eq!(lookup(&mut p, &mut r, [1; 32]), Answer::reply(None));
        // No target: silent.
        let a = p.on_request(&mut r, &NODE_ID, &req(command::LOOKUP, None, None, None), 0, 0);
        assert_eq!(a, Answer::Silent);
    }

    #[test]
    fn announce_needs_token_and_valid_signature_and_is_answered_bare() {
        let (mut p, mut r) = setup();
        let topic = [1u8; 32];
        let k = kp(1);
        let v = announce_value(&k, &topic, vec![addr(5)], 0);
        // No token → silent; wrong token (signature over another token) → silent.
        assert_eq!(
            p.on_request(&mut r, &NODE_ID, &req(command::ANNOUNCE, Some(topic), None, Some(&v)), 0, 0),
            Answer::Silent
        );
        let a = p.on_request(
            &mut r,
            &NODE_ID,
            &req(command::ANNOUNCE, Some(topic), Some([8; 32]), Some(&v)),
            0,
            0,
        );
        assert_eq!(a, Answer::Silent);
        // Signed for another topic → silent. Garbage → silent.
        let a = p.on_request(
            &mut r,
            &NODE_ID,
            &req(command::ANNOUNCE, Some([2; 32]), Some(TOKEN), Some(&v)),
            0,
            0,
        );
        assert_eq!(a, Answer::Silent);
        let a = p.on_request(
            &mut r,
            &NODE_ID,
            &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&[0xff, 0xff])),
            0,
            0,
        );
        assert_eq!(a, Answer::Silent);
        assert_eq!(p.record_count(), 0);
        // Valid.
        let a =
            p.on_request(&mut r, &NODE_ID, &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&v)), 0, 0);
        assert_eq!(a, Answer::bare());
        let l = lookup_peers(&lookup(&mut p, &mut r, topic));
        assert_eq!(l.peers, vec![Peer { public_key: k.public_key(), relay_addresses: vec![addr(5)] }]);
        assert_eq!(l.bump, 0);
    }

    #[test]
    fn relay_addresses_are_truncated_to_three_after_verifying_all() {
        let (mut p, mut r) = setup();
        let topic = [3u8; 32];
        let v = announce_value(&kp(1), &topic, (1..=5).map(addr).collect(), 0);
        let a =
            p.on_request(&mut r, &NODE_ID, &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&v)), 0, 0);
        assert_eq!(a, Answer::bare());
        let l = lookup_peers(&lookup(&mut p, &mut r, topic));
        assert_eq!(l.peers[0].relay_addresses, vec![addr(1), addr(2), addr(3)]);
    }

    #[test]
    fn bump_is_kept_when_higher_and_not_too_far_in_the_future() {
        let (mut p, mut r) = setup();
        let topic = [4u8; 32];
        let unix = 1_700_000_000_000;
        let v = announce_value(&kp(1), &topic, vec![], unix + 30_000);
        p.on_request(&mut r, &NODE_ID, &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&v)), unix, 0);
        let v = announce_value(&kp(2), &topic, vec![], unix + 120_000); // beyond the drift: ignored
        p.on_request(&mut r, &NODE_ID, &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&v)), unix, 0);
        let l = lookup_peers(&lookup(&mut p, &mut r, topic));
        assert_eq!(l.peers.len(), 2);
        assert_eq!(l.bump, unix + 30_000);
    }

    #[test]
    fn self_announce_goes_to_the_router_and_find_peer_returns_it() {
        let (mut p, mut r) = setup();
        let k = kp(3);
        let target = hash(&k.public_key());
        let v = announce_value(&k, &target, vec![], 0);
        let a = p.on_request(
            &mut r,
            &NODE_ID,
            &req(command::ANNOUNCE, Some(target), Some(TOKEN), Some(&v)),
            0,
            0,
        );
        assert_eq!(a, Answer::bare());
        assert_eq!(p.record_count(), 0, "self-announces are router entries, not records");
        let fwd = r.get(&target, 0).unwrap();
        assert_eq!(fwd.relay, Some(addr(1)));
        let record = Peer { public_key: k.public_key(), relay_addresses: vec![] }.to_bytes();
        let a = p.on_request(&mut r, &NODE_ID, &req(command::FIND_PEER, Some(target), None, None), 0, 0);
        assert_eq!(a, Answer::reply(Some(record.clone())));
        // LOOKUP on the target also shows the router's record.
        let l = lookup_peers(&lookup(&mut p, &mut r, target));
        assert_eq!(l.peers.len(), 1);
        // FIND_PEER for an unknown key: null with token and closer nodes.
        let a = p.on_request(&mut r, &NODE_ID, &req(command::FIND_PEER, Some([0; 32]), None, None), 0, 0);
        assert_eq!(a, Answer::reply(None));
    }

    #[test]
    fn unannounce_removes_only_with_a_valid_signature() {
        let (mut p, mut r) = setup();
        let topic = [5u8; 32];
        let k = kp(1);
        let v = announce_value(&k, &topic, vec![], 0);
        p.on_request(&mut r, &NODE_ID, &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&v)), 0, 0);
        let peer = Peer { public_key: k.public_key(), relay_addresses: vec![] };
        let unannounce = |p: &mut Persistent, r: &mut Router, signature| {
            let value = bare_announce(k.public_key(), signature);
            p.on_request(r, &NODE_ID, &req(command::UNANNOUNCE, Some(topic), Some(TOKEN), Some(&value)), 0, 0)
        };
        // An ANNOUNCE signature does not authorise an UNANNOUNCE.
        let a = unannounce(&mut p, &mut r, sign_announce(&topic, &NODE_ID, &TOKEN, &peer, None, &k));
        assert_eq!(a, Answer::Silent);
        assert_eq!(p.record_count(), 1);
        let a = unannounce(&mut p, &mut r, sign_unannounce(&topic, &NODE_ID, &TOKEN, &peer, None, &k));
        assert_eq!(a, Answer::bare());
        assert_eq!(p.record_count(), 0);
        assert_eq!(lookup(&mut p, &mut r, topic), Answer::reply(None));
    }

    #[test]
    fn refresh_token_re_announces_the_record() {
        let (mut p, mut r) = setup();
        let topic = [6u8; 32];
        let k = kp(1);
        let next = [42u8; 32];
        let refresh = hash(&next);
        let peer = Peer { public_key: k.public_key(), relay_addresses: vec![] };
        let sig = sign_announce(&topic, &NODE_ID, &TOKEN, &peer, Some(&refresh), &k);
        let v =
            Announce { peer: Some(peer), refresh: Some(refresh), signature: Some(sig), bump: 0 }.to_bytes();
        assert_eq!(
            p.on_request(&mut r, &NODE_ID, &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&v)), 0, 0),
            Answer::bare()
        );
        p.records.remove(&topic, &k.public_key());
        // Refresh with a token that does not hash to the stored one: silent.
        let wrong = Announce { peer: None, refresh: Some([1; 32]), signature: None, bump: 0 }.to_bytes();
        assert_eq!(
            p.on_request(
                &mut r,
                &NODE_ID,
                &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&wrong)),
                0,
                0
            ),
            Answer::Silent
        );
        let ok = Announce { peer: None, refresh: Some(next), signature: None, bump: 0 }.to_bytes();
        assert_eq!(
            p.on_request(
                &mut r,
                &NODE_ID,
                &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&ok)),
                0,
                0
            ),
            Answer::bare()
        );
        assert_eq!(p.record_count(), 1);
        // The same refresh token cannot be replayed.
        assert_eq!(
            p.on_request(
                &mut r,
                &NODE_ID,
                &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&ok)),
                0,
                0
            ),
            Answer::Silent
        );
    }

    fn mput(k: &KeyPair, seq: u64, value: &[u8]) -> Vec<u8> {
        MutablePutRequest {
            public_key: k.public_key(),
            seq,
            value: value.to_vec(),
            signature: sign_mutable(seq, value, k),
        }
        .to_bytes()
    }

    fn uint(n: u64) -> Vec<u8> {
        let mut v = Vec::new();
        hyperwasm::encoding::put_uint(&mut v, n);
        v
    }

    #[test]
    fn mutable_put_get_with_seq_errors() {
        let (mut p, mut r) = setup();
        let k = kp(4);
        let target = hash(&k.public_key());
        let put = |p: &mut Persistent, r: &mut Router, v: &[u8]| {
            p.on_request(r, &NODE_ID, &req(command::MUTABLE_PUT, Some(target), Some(TOKEN), Some(v)), 0, 0)
        };
        let get = |p: &mut Persistent, r: &mut Router, seq: u64| {
            let s = uint(seq);
            p.on_request(r, &NODE_ID, &req(command::MUTABLE_GET, Some(target), None, Some(&s)), 0, 0)
        };
        assert_eq!(get(&mut p, &mut r, 0), Answer::reply(None));
        assert_eq!(put(&mut p, &mut r, &mput(&k, 5, b"five")), Answer::reply(None));
        let Answer::Reply { value: Some(v), .. } = get(&mut p, &mut r, 5) else { panic!() };
        let m: MutableGetResponse = decode(&v).unwrap();
        assert_eq!((m.seq, m.value.as_slice()), (5, &b"five"[..]));
        assert!(verify_mutable(&m.signature, 5, b"five", &k.public_key()));
        assert_eq!(get(&mut p, &mut r, 6), Answer::reply(None));
        assert_eq!(put(&mut p, &mut r, &mput(&k, 5, b"other")), Answer::Error { code: SEQ_REUSED });
        assert_eq!(put(&mut p, &mut r, &mput(&k, 4, b"four")), Answer::Error { code: SEQ_TOO_LOW });
        assert_eq!(
            put(&mut p, &mut r, &mput(&k, 5, b"five")),
            Answer::reply(None),
            "same seq, same value is fine"
        );
        assert_eq!(put(&mut p, &mut r, &mput(&k, 6, b"six")), Answer::reply(None));
        // Bad signature, wrong target, no token, bad seq value: silent.
        let mut forged = MutablePutRequest {
            public_key: k.public_key(),
            seq: 9,
            value: b"x".to_vec(),
            signature: [0; 64],
        };
        assert_eq!(put(&mut p, &mut r, &forged.to_bytes()), Answer::Silent);
        forged.signature = sign_mutable(9, b"x", &kp(5));
        assert_eq!(put(&mut p, &mut r, &forged.to_bytes()), Answer::Silent);
        let other = mput(&kp(5), 9, b"x");
        assert_eq!(put(&mut p, &mut r, &other), Answer::Silent);
        let v = mput(&k, 9, b"x");
        assert_eq!(
            p.on_request(&mut r, &NODE_ID, &req(command::MUTABLE_PUT, Some(target), None, Some(&v)), 0, 0),
            Answer::Silent
        );
        assert_eq!(
            p.on_request(&mut r, &NODE_ID, &req(command::MUTABLE_GET, Some(target), None, Some(&[])), 0, 0),
            Answer::Silent
        );
    }

    #[test]
    fn immutable_put_checks_the_hash() {
        let (mut p, mut r) = setup();
        let value = b"hello immutable".to_vec();
        let target = hash(&value);
        let put = |p: &mut Persistent, r: &mut Router, t: Key, token: Option<Key>| {
            p.on_request(r, &NODE_ID, &req(command::IMMUTABLE_PUT, Some(t), token, Some(&value)), 0, 0)
        };
        assert_eq!(put(&mut p, &mut r, [0; 32], Some(TOKEN)), Answer::Silent);
        assert_eq!(put(&mut p, &mut r, target, None), Answer::Silent);
        let get =
            p.on_request(&mut r, &NODE_ID, &req(command::IMMUTABLE_GET, Some(target), None, None), 0, 0);
        assert_eq!(get, Answer::reply(None));
        assert_eq!(put(&mut p, &mut r, target, Some(TOKEN)), Answer::reply(None));
        let get =
            p.on_request(&mut r, &NODE_ID, &req(command::IMMUTABLE_GET, Some(target), None, None), 0, 0);
        assert_eq!(get, Answer::reply(Some(value.clone())));
        // Expired after 4/3 of 48 h.
        let get = p.on_request(
            &mut r,
            &NODE_ID,
            &req(command::IMMUTABLE_GET, Some(target), None, None),
            0,
            65 * 3600 * 1000,
        );
        assert_eq!(get, Answer::reply(None));
    }

    #[test]
    fn lookup_returns_at_most_twenty_records() {
        let (mut p, mut r) = setup();
        let topic = [8u8; 32];
        for i in 0..40u8 {
            let v = announce_value(&kp(100 + i), &topic, vec![], 0);
            p.on_request(&mut r, &NODE_ID, &req(command::ANNOUNCE, Some(topic), Some(TOKEN), Some(&v)), 0, 0);
        }
        assert_eq!(p.record_count(), 40);
        assert_eq!(lookup_peers(&lookup(&mut p, &mut r, topic)).peers.len(), MAX_LOOKUP_RECORDS);
    }
}
