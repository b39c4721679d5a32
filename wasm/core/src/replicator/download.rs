//! Downloading (hypercore `lib/replicator.js` `Peer.onsync`, `onrange`, `onbitfield`,
//! `ondata`, `onnodata`, `_requestUpgrade`, `_requestRange`, `_requestForkProof`,
//! `Replicator.updatePeer`, `_ondata`, `_onnodata`): what peers announce, what we ask them,
//! and what comes back, handed to the core as [`Action::Apply`] and finished in
//! [`Replicator::on_applied`].

use super::errors::{classify, Fault, ReplicatorError};
use super::inflight::{Sent, SlotState};
use super::messages::{Bitfield, Cancel, Data, Message, NoData, Range, Request, Sync};
use super::replicator::Replicator;
use super::scheduler::{find_block, upgradeable};
use super::{Action, LocalCore, PeerId, MAX_BACKOFFS, MAX_LENGTH, WANT_BATCH};
use crate::core::remote::Applied;
use crate::core::HypercoreError;
use crate::tree::proof::{RequestIndex, RequestUpgrade};

/// What a request asks for, before it has an id.
struct Ask {
    block: Option<RequestIndex>,
    upgrade: Option<RequestUpgrade>,
    reorg: bool,
}

impl Ask {
    fn upgrade(block: Option<RequestIndex>, upgrade: RequestUpgrade) -> Self {
        Ask { block, upgrade: Some(upgrade), reorg: false }
    }
}

impl Replicator {
    pub(super) fn on_sync(&mut self, core: &impl LocalCore, peer: PeerId, m: Sync) {
        if m.length > MAX_LENGTH || m.remote_length > MAX_LENGTH {
            return self.close(
                core,
                peer,
                ReplicatorError::OutOfRange { what: "sync", start: m.length, length: m.remote_length },
            );
        }
        let Some(p) = self.peers.get_mut(&peer) else { return };
        if p.on_sync(&m, core.fork()) {
            p.rewind(0);
        }
        // Let a shorter peer on our fork know it can upgrade from us (JS re-syncs too).
        if core.fork() == m.fork && core.length() > m.length {
            self.send_sync(core, peer);
        }
        self.update_peer(core, peer);
    }

    pub(super) fn on_range(&mut self, core: &impl LocalCore, peer: PeerId, r: Range) {
        if self.out_of_range(core, peer, "range", r.start, r.length) {
            return;
        }
        let Some(p) = self.peers.get_mut(&peer) else { return };
        if let Some(from) = p.on_range(&r) {
            p.rewind(from);
            self.update_peer(core, peer);
        }
    }

    pub(super) fn on_bitfield(&mut self, core: &impl LocalCore, peer: PeerId, b: Bitfield) {
        let bits = (b.words.len() as u64).saturating_mul(32);
        if self.out_of_range(core, peer, "bitfield", b.start, bits) {
            return;
        }
        // JS ignores bitfields that do not start on a word.
        if b.start % 32 != 0 {
            return;
        }
        let Some(p) = self.peers.get_mut(&peer) else { return };
        let from = p.on_bitfield(&b);
        p.rewind(from);
        self.update_peer(core, peer);
    }

    pub(super) fn on_data(&mut self, core: &impl LocalCore, peer: PeerId, data: Data) {
        // Pushed data (request 0) is not accepted: we never allow push.
        if data.request == 0 {
            return;
        }
        let Some(sent) = self.inflight.get(data.request).copied() else {
            if !self.inflight.issued(data.request) {
                self.close(core, peer, ReplicatorError::UnknownRequest(data.request));
            }
            // Otherwise a late answer to a request already settled.
            return;
        };
        if sent.peer != peer || sent.state == SlotState::Cancelled {
            return;
        }
        let proof = &data.proof;
        let matches = sent.state == SlotState::Sent
            && proof.fork == sent.fork
            && proof.block.as_ref().is_none_or(|b| Some(b.index) == sent.block)
            && proof.hash.is_none()
            && proof.seek.is_none()
            && (proof.upgrade.is_none() || sent.upgrade);
        if !matches {
            return self.close(core, peer, ReplicatorError::MismatchedData(data.request));
        }
        if let Some(s) = self.inflight.get_mut(data.request) {
            s.state = SlotState::Processing;
        }
        self.processing += 1;
        self.round_trip(peer, &sent);
        self.actions.push_back(Action::Apply { peer, data, reorg: sent.reorg });
        self.update_peer(core, peer);
    }

    pub(super) fn on_no_data(&mut self, core: &impl LocalCore, peer: PeerId, m: NoData) {
        let Some(sent) = self.inflight.get(m.request).copied() else { return };
        if sent.peer != peer || sent.state != SlotState::Sent {
            return;
        }
        self.stats.no_data_received += 1;
        self.round_trip(peer, &sent);
        self.release(m.request);
        let (fork, length) = (core.fork(), core.length());
        let Some(p) = self.peers.get_mut(&peer) else { return };
        p.stats.no_data += 1;
        p.backoffs += 1;
        if p.backoffs >= MAX_BACKOFFS {
            p.paused = true;
        }
        if let Some(b) = sent.block {
            // It does not have it after all: stop asking it for that block.
            if b < p.remote_contiguous {
                p.remote_bitfield.set_range(b + 1, p.remote_contiguous, true);
                p.remote_contiguous = b;
            }
            p.remote_bitfield.set(b, false);
        }
        if sent.hinted {
            p.dropped_at = None;
        } else if sent.reorg {
            p.reorg_refused = Some((p.remote_fork, p.remote_length));
        } else if sent.upgrade && sent.block.is_none() {
            // (With a block attached, the block may be what it lacks: ask again without.)
            p.upgrade_refused = Some((fork, length, p.remote_length));
        }
        self.update_all(core);
    }

    /// The result of an [`Action::Apply`]: on success the new blocks are announced and more
    /// requested; data that does not verify closes the peer that sent it.
    pub fn on_applied(
        &mut self,
        core: &impl LocalCore,
        peer: PeerId,
        request: u64,
        result: Result<Applied, HypercoreError>,
    ) {
        let Some(sent) = self.inflight.get(request).copied() else { return };
        if sent.peer != peer || sent.state != SlotState::Processing {
            return;
        }
        self.release(request);
        match result {
            Ok(applied) => self.applied(core, peer, &sent, applied),
            Err(e) => match classify(&e) {
                // Our storage failed: stop pulling from this peer, as JS does.
                Fault::Local => {
                    if let Some(p) = self.peers.get_mut(&peer) {
                        p.paused = true;
                    }
                    self.observe(core);
                    self.update_all(core);
                }
                // Answered for a fork we have left: ask again.
                Fault::Stale => {
                    self.observe(core);
                    self.update_all(core);
                }
                // An upgrade built for a length we have since left (another connection moved
                // the core on): stale, not a lie. Ask again from where we are.
                Fault::Remote if sent.upgrade && sent.local != (core.fork(), core.length()) => {
                    self.observe(core);
                    self.update_all(core);
                }
                // Our guess of where the forks part was wrong: ask for the proof from 0.
                Fault::Remote if sent.hinted => {
                    if let Some(p) = self.peers.get_mut(&peer) {
                        p.dropped_at = None;
                    }
                    self.observe(core);
                    self.update_all(core);
                }
                Fault::Remote => {
                    self.stats.invalid_data += 1;
                    self.observe(core);
                    self.close(core, peer, ReplicatorError::InvalidData(e));
                }
            },
        }
    }

    fn applied(&mut self, core: &impl LocalCore, peer: PeerId, sent: &Sent, applied: Applied) {
        if sent.reorg {
            self.stats.reorgs += 1;
            let old = self.local_length;
            let shared = applied.shared_length.unwrap_or(0).min(old);
            if core.fork() != self.local_fork || core.length() != old {
                self.forked(core, shared, old);
            }
        } else if applied.upgraded {
            self.stats.upgrades += 1;
        }
        self.observe(core);
        let (fork, length) = (core.fork(), core.length());
        if let Some(p) = self.peers.get_mut(&peer) {
            if sent.upgrade && !sent.reorg && !applied.upgraded && length < p.remote_length {
                p.upgrade_refused = Some((fork, length, p.remote_length));
            }
            if applied.block.is_some() {
                p.stats.blocks_downloaded += 1;
            }
        }
        match applied.block {
            Some(b) => {
                self.stats.blocks_downloaded += 1;
                self.announce(core, b, 1, false);
            }
            // Answered without the block it was asked for.
            None => {
                if let (Some(b), Some(p)) = (sent.block, self.peers.get_mut(&peer)) {
                    if !core.has(b) {
                        p.remote_bitfield.set(b, false);
                    }
                }
            }
        }
        self.clamp_ranges(core);
        if applied.upgraded {
            self.update_all(core);
        } else {
            self.update_peer(core, peer);
        }
    }

    /// An answer arrived: the peer has seen every cancel sent before the request, so their
    /// ids can be reused.
    fn round_trip(&mut self, peer: PeerId, sent: &Sent) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        p.inflight = p.inflight.saturating_sub(1);
        let mut freed = Vec::new();
        while let Some(id) = p.pop_cancelled(sent.rt) {
            freed.push(id);
        }
        for id in freed {
            self.release(id);
        }
    }

    /// Cancels our request `id` (JS `_cancelRequest`).
    pub(super) fn cancel_request(&mut self, id: u64) {
        let Some(sent) = self.inflight.get_mut(id) else { return };
        if sent.state != SlotState::Sent {
            return;
        }
        sent.state = SlotState::Cancelled;
        let sent = *sent;
        self.forget_request(id, &sent);
        let Some(p) = self.peers.get_mut(&sent.peer) else {
            self.inflight.remove(id);
            return;
        };
        p.inflight = p.inflight.saturating_sub(1);
        p.cancel_tick += 1;
        p.cancelled.push_back((p.cancel_tick, id));
        self.stats.cancels_sent += 1;
        self.send(sent.peer, Message::Cancel(Cancel { request: id }));
    }

    /// Cancels requests for blocks `start..end` (they became local some other way).
    pub(super) fn cancel_blocks(&mut self, start: u64, end: u64) {
        let ids: Vec<u64> = if end.saturating_sub(start) <= self.block_requests.len() as u64 {
            (start..end).filter_map(|b| self.block_requests.get(&b).copied()).collect()
        } else {
            self.block_requests.iter().filter(|(b, _)| (start..end).contains(*b)).map(|(_, id)| *id).collect()
        };
        for id in ids {
            self.cancel_request(id);
        }
    }

    /// Sends `peer` what it can take: a fork proof request, an upgrade request, then block
    /// requests up to `max_inflight` (JS `updatePeer`).
    pub(super) fn update_peer(&mut self, core: &impl LocalCore, peer: PeerId) {
        // A fork proof is being applied: requests now would be for the old fork.
        if self.reorg.and_then(|id| self.inflight.get(id)).is_some_and(|s| s.state == SlotState::Processing) {
            return;
        }
        let Some(p) = self.peers.get(&peer) else { return };
        if p.paused || !p.synced || !p.remote_uploading {
            return;
        }
        let (fork, length) = (core.fork(), core.length());
        if p.remote_fork > fork && length > 0 {
            self.request_reorg(core, peer);
            return;
        }
        self.request_upgrade(core, peer);
        while self
            .peers
            .get(&peer)
            .is_some_and(|p| p.remote_fork == fork && p.inflight < self.opts.max_inflight)
        {
            if !self.request_block(core, peer) {
                break;
            }
        }
    }

    /// Requests the next block some download range needs from `peer`, single blocks someone
    /// waits for first; false when none.
    fn request_block(&mut self, core: &impl LocalCore, peer: PeerId) -> bool {
        let length = core.length();
        for priority in [true, false] {
            for i in 0..self.ranges.len() {
                let r = self.ranges[i];
                if r.priority != priority {
                    continue;
                }
                let Some(p) = self.peers.get(&peer) else { return false };
                let end = r.end.unwrap_or(u64::MAX).min(length).min(p.remote_length);
                let from = p.cursor(r.id).max(r.start);
                if from >= end {
                    continue;
                }
                let search = find_block(core, p, &self.pending, from, end);
                self.want(core, peer, &search.want);
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.set_cursor(r.id, search.cursor);
                }
                if let Some((index, nodes)) = search.found {
                    let block = Some(RequestIndex { index, nodes });
                    self.send_request(core, peer, Ask { block, upgrade: None, reorg: false });
                    return true;
                }
            }
        }
        false
    }

    /// Sends `want` for the batches holding `indexes` (JS `_maybeWant`).
    fn want(&mut self, core: &impl LocalCore, peer: PeerId, indexes: &[u64]) {
        let ranges = &self.ranges;
        let Some(p) = self.peers.get_mut(&peer) else { return };
        for &index in indexes {
            let needed = |batch: u64| {
                let (s, e) = (batch * WANT_BATCH, (batch + 1) * WANT_BATCH);
                ranges.iter().any(|r| {
                    let from = r.start.max(s);
                    let to = r.end.unwrap_or(u64::MAX).min(e);
                    from < to && core.first_missing(from) < to
                })
            };
            let Some((unwant, want)) = p.wants.want(index, needed) else { continue };
            if let Some(u) = unwant {
                self.stats.messages_sent += 1;
                self.actions.push_back(Action::Send { peer, message: Message::Unwant(u) });
            }
            self.stats.messages_sent += 1;
            self.actions.push_back(Action::Send { peer, message: Message::Want(want) });
        }
    }

    /// Asks `peer` to prove its longer length, with the first wanted block beyond ours
    /// (JS `_requestUpgrade`, `_makeRequest`).
    fn request_upgrade(&mut self, core: &impl LocalCore, peer: PeerId) {
        if self.upgrade.is_some() {
            return;
        }
        let Some(p) = self.peers.get(&peer) else { return };
        let (fork, length) = (core.fork(), core.length());
        if p.remote_length <= length || p.upgrade_refused == Some((fork, length, p.remote_length)) {
            return;
        }
        // Same fork: it must have seen our length and say it can prove from it. An empty core
        // moves to a higher fork with a plain upgrade (the core accepts another fork's upgrade
        // at length 0); JS would ask for a fork proof, which is the same request.
        let eligible = if p.remote_fork == fork {
            p.remote_can_upgrade && p.length_acked == length
        } else {
            length == 0 && p.remote_fork > fork && self.opts.allow_fork
        };
        let wanted = self.opts.eager_upgrade || self.ranges.iter().any(|r| r.end.is_none_or(|e| e > length));
        if !eligible || !wanted {
            return;
        }
        let block = self
            .ranges
            .iter()
            .filter_map(|r| {
                let from = r.start.max(length);
                (from < r.end.unwrap_or(u64::MAX).min(p.remote_length)).then_some(from)
            })
            .filter(|b| !self.pending.get(*b) && p.remote_has(*b))
            .min()
            .map(|index| RequestIndex { index, nodes: 0 });
        let upgrade = RequestUpgrade { start: length, length: p.remote_length - length };
        self.send_request(core, peer, Ask::upgrade(block, upgrade));
    }

    /// Asks `peer`, on a higher fork, for the proof of its tree (JS `_requestForkProof`):
    /// from where it said it truncated when our roots there are stored, else from 0.
    fn request_reorg(&mut self, core: &impl LocalCore, peer: PeerId) {
        if !self.opts.allow_fork || self.reorg.is_some() {
            return;
        }
        let Some(p) = self.peers.get(&peer) else { return };
        if p.remote_length == 0 || p.reorg_refused == Some((p.remote_fork, p.remote_length)) {
            return;
        }
        let length = core.length();
        let start = p
            .dropped_at
            .map(|d| d.min(p.remote_length - 1).min(length))
            .filter(|s| *s > 0 && (*s == length || upgradeable(core, *s)))
            .unwrap_or(0);
        let upgrade = RequestUpgrade { start, length: p.remote_length - start };
        self.send_request(core, peer, Ask { block: None, upgrade: Some(upgrade), reorg: true });
    }

    /// Registers and sends a request.
    fn send_request(&mut self, core: &impl LocalCore, peer: PeerId, ask: Ask) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        let block = ask.block.map(|b| b.index);
        let id = self.inflight.add(Sent {
            peer,
            block,
            upgrade: ask.upgrade.is_some(),
            reorg: ask.reorg,
            hinted: ask.reorg && ask.upgrade.is_some_and(|u| u.start > 0),
            fork: p.remote_fork,
            local: (core.fork(), core.length()),
            rt: p.cancel_tick,
            state: SlotState::Sent,
        });
        p.inflight += 1;
        let request = Request {
            id,
            fork: p.remote_fork,
            block: ask.block,
            hash: None,
            seek: None,
            upgrade: ask.upgrade,
            manifest: !core.has_verifier() && (p.remote_has_manifest || ask.reorg),
            priority: 0,
        };
        if let Some(b) = block {
            self.pending.set(b, true);
            self.block_requests.insert(b, id);
        }
        if ask.reorg {
            self.reorg = Some(id);
        } else if ask.upgrade.is_some() {
            self.upgrade = Some(id);
        }
        self.stats.requests_sent += 1;
        self.send(peer, Message::Request(request));
    }
}
