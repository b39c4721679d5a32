//! The [`Replicator`]: peers, the entry points, local changes and announcements (hypercore
//! `lib/replicator.js` `Replicator`). Serving lives in `serve.rs`, downloading in
//! `download.rs`.

use super::errors::ReplicatorError;
use super::inflight::{InflightTracker, Sent, SlotState};
use super::messages::{ChannelHandshake, Extension, Message, Sync};
use super::peer::{Peer, PeerStats};
use super::remote_bitfield::RemoteBitfield;
use super::scheduler::upgradeable;
use super::{Action, DownloadRange, LocalChange, LocalCore, PeerId, ReplicatorOptions, MAX_LENGTH};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Counters over every peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicatorStats {
    /// Messages handed out to send.
    pub messages_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Requests sent.
    pub requests_sent: u64,
    /// Blocks received and stored.
    pub blocks_downloaded: u64,
    /// Blocks sent.
    pub blocks_uploaded: u64,
    /// Proofs that moved our length.
    pub upgrades: u64,
    /// Fork proofs applied.
    pub reorgs: u64,
    /// Data that failed verification.
    pub invalid_data: u64,
    /// Requests we could not answer because they were invalid.
    pub invalid_requests: u64,
    /// `no-data` answers received.
    pub no_data_received: u64,
    /// Cancels sent.
    pub cancels_sent: u64,
    /// Peers closed for misbehaving.
    pub peers_closed: u64,
}

/// One [`Replicator::download`] range.
#[derive(Debug, Clone, Copy)]
pub(super) struct Download {
    pub(super) id: u64,
    /// Start as asked, restored after a reorg.
    pub(super) user_start: u64,
    /// First block not known local.
    pub(super) start: u64,
    pub(super) end: Option<u64>,
    /// A single block someone waits for: requested before the blocks of other ranges (JS
    /// serves `get`s before ranges too).
    pub(super) priority: bool,
}

/// Replication of one core with any number of peers, sans-IO (see the module docs).
#[derive(Debug)]
pub struct Replicator {
    pub(super) opts: ReplicatorOptions,
    pub(super) peers: BTreeMap<PeerId, Peer>,
    pub(super) inflight: InflightTracker,
    /// Blocks requested or being applied.
    pub(super) pending: RemoteBitfield,
    /// Block → the request id asking for it.
    pub(super) block_requests: HashMap<u64, u64>,
    /// Answers being verified and stored.
    pub(super) processing: usize,
    pub(super) ranges: Vec<Download>,
    pub(super) next_range: u64,
    /// The upgrade request in flight.
    pub(super) upgrade: Option<u64>,
    /// The fork proof request in flight.
    pub(super) reorg: Option<u64>,
    /// Fork and length the replicator last saw.
    pub(super) local_fork: u64,
    pub(super) local_length: u64,
    pub(super) actions: VecDeque<Action>,
    pub(super) stats: ReplicatorStats,
}

impl Default for Replicator {
    fn default() -> Self {
        Self::new()
    }
}

impl Replicator {
    /// A replicator with default options.
    pub fn new() -> Self {
        Self::with_options(ReplicatorOptions::default())
    }

    /// A replicator with `opts`.
    pub fn with_options(opts: ReplicatorOptions) -> Self {
        Replicator {
            opts,
            peers: BTreeMap::new(),
            inflight: InflightTracker::default(),
            pending: RemoteBitfield::new(),
            block_requests: HashMap::new(),
            processing: 0,
            ranges: Vec::new(),
            next_range: 1,
            upgrade: None,
            reorg: None,
            local_fork: 0,
            local_length: 0,
            actions: VecDeque::new(),
            stats: ReplicatorStats::default(),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &ReplicatorOptions {
        &self.opts
    }

    /// Counters over every peer.
    pub fn stats(&self) -> &ReplicatorStats {
        &self.stats
    }

    /// Counters of one peer.
    pub fn peer_stats(&self, peer: PeerId) -> Option<PeerStats> {
        self.peers.get(&peer).map(|p| p.stats)
    }

    /// The peers, in id order.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.keys().copied()
    }

    /// `(fork, length)` a peer last announced (`None` before its `sync`).
    pub fn peer_length(&self, peer: PeerId) -> Option<(u64, u64)> {
        self.peers.get(&peer).filter(|p| p.synced).map(|p| (p.remote_fork, p.remote_length))
    }

    /// A channel opened and its capability verified: sends `sync` and, when we hold a
    /// contiguous prefix worth announcing, `range` (JS `onopen`). Re-adding an id replaces it.
    pub fn add_peer(&mut self, core: &impl LocalCore, peer: PeerId, remote: &ChannelHandshake) {
        self.observe(core);
        if self.peers.contains_key(&peer) {
            self.drop_peer(core, peer);
        }
        self.peers.insert(peer, Peer::new(remote));
        self.send_sync(core, peer);
        let contig = core.contiguous_length().min(core.length());
        if contig > 0 {
            if let Some(range) =
                self.peers.get_mut(&peer).and_then(|p| p.announcement(core, 0, contig, false))
            {
                self.send(peer, Message::Range(range));
            }
        }
    }

    /// The channel closed: its requests go to other peers.
    pub fn remove_peer(&mut self, core: &impl LocalCore, peer: PeerId) {
        self.observe(core);
        self.drop_peer(core, peer);
    }

    /// One decoded message from `peer`. Protocol violations come back as [`Action::Close`].
    pub fn on_message(&mut self, core: &impl LocalCore, peer: PeerId, message: Message) {
        if !self.peers.contains_key(&peer) {
            return;
        }
        self.stats.messages_received += 1;
        self.observe(core);
        match message {
            Message::Sync(m) => self.on_sync(core, peer, m),
            Message::Request(m) => self.on_request(core, peer, m),
            Message::Cancel(m) => self.on_cancel(peer, m),
            Message::Data(m) => self.on_data(core, peer, m),
            Message::NoData(m) => self.on_no_data(core, peer, m),
            Message::Want(m) => self.on_want(core, peer, m),
            Message::Unwant(m) => self.on_unwant(peer, m),
            Message::Bitfield(m) => self.on_bitfield(core, peer, m),
            Message::Range(m) => self.on_range(core, peer, m),
            Message::Extension(m) => self.on_extension(peer, m),
        }
    }

    /// The core changed under us (app append/truncate/clear, or another connection's download).
    pub fn on_local_change(&mut self, core: &impl LocalCore, change: LocalChange) {
        match change {
            LocalChange::Appended { .. } => self.observe(core),
            LocalChange::Truncated { length, .. } => {
                let old = self.local_length;
                if core.fork() != self.local_fork || core.length() != old {
                    self.forked(core, length.min(old), old);
                }
            }
            LocalChange::Downloaded { start, end } => {
                self.observe(core);
                self.cancel_blocks(start, end);
                self.announce(core, start, end.saturating_sub(start), false);
                self.clamp_ranges(core);
                self.update_all(core);
            }
            LocalChange::Cleared { start, end } => {
                self.observe(core);
                self.announce(core, start, end.saturating_sub(start), true);
                for p in self.peers.values_mut() {
                    p.rewind(start);
                }
                self.update_all(core);
            }
        }
    }

    /// What to download: a range, `end: None` = everything, following appends (live).
    /// Returns an id for [`Replicator::cancel_download`].
    pub fn download(&mut self, core: &impl LocalCore, range: DownloadRange) -> u64 {
        self.add_download(core, range, false)
    }

    /// Downloads block `index` ahead of every range (a read waits for it). Returns an id for
    /// [`Replicator::cancel_download`].
    pub fn download_block(&mut self, core: &impl LocalCore, index: u64) -> u64 {
        self.download_blocks(core, &[index])[0]
    }

    /// [`Replicator::download_block`] for several blocks at once (one pass over the peers).
    pub fn download_blocks(&mut self, core: &impl LocalCore, blocks: &[u64]) -> Vec<u64> {
        self.observe(core);
        let ids = blocks
            .iter()
            .map(|&index| {
                let end = index.saturating_add(1).min(MAX_LENGTH);
                self.push_download(DownloadRange::range(index, end), true)
            })
            .collect();
        self.clamp_ranges(core);
        self.update_all(core);
        ids
    }

    fn add_download(&mut self, core: &impl LocalCore, range: DownloadRange, priority: bool) -> u64 {
        self.observe(core);
        let id = self.push_download(range, priority);
        self.clamp_ranges(core);
        self.update_all(core);
        id
    }

    /// Registers a download range; its id.
    fn push_download(&mut self, range: DownloadRange, priority: bool) -> u64 {
        let id = self.next_range;
        self.next_range += 1;
        if range.end.is_none_or(|end| end > range.start) {
            let (user_start, start, end) = (range.start, range.start, range.end);
            self.ranges.push(Download { id, user_start, start, end, priority });
        }
        id
    }

    /// Stops a download; requests only it needed are cancelled.
    pub fn cancel_download(&mut self, core: &impl LocalCore, id: u64) {
        self.cancel_downloads(core, &[id]);
    }

    /// Stops several downloads at once; requests only they needed are cancelled.
    pub fn cancel_downloads(&mut self, core: &impl LocalCore, ids: &[u64]) {
        self.observe(core);
        let ids: std::collections::HashSet<u64> = ids.iter().copied().collect();
        let before = self.ranges.len();
        self.ranges.retain(|r| !ids.contains(&r.id));
        if self.ranges.len() == before {
            return;
        }
        for p in self.peers.values_mut() {
            p.cursors.retain(|r, _| !ids.contains(r));
        }
        // A request is orphaned when no remaining range covers its block (single blocks
        // looked up by index, the few wider ranges scanned).
        let singles: std::collections::HashSet<u64> =
            self.ranges.iter().filter(|r| r.end == Some(r.start + 1)).map(|r| r.start).collect();
        let wide: Vec<&Download> = self.ranges.iter().filter(|r| r.end != Some(r.start + 1)).collect();
        let orphaned: Vec<u64> = self
            .block_requests
            .iter()
            .filter(|(b, _)| {
                !singles.contains(*b) && !wide.iter().any(|r| **b >= r.start && r.end.is_none_or(|e| **b < e))
            })
            .map(|(_, id)| *id)
            .collect();
        for id in orphaned {
            self.cancel_request(id);
        }
        self.update_all(core);
    }

    /// Sends an extension message to `peer`, or to every peer.
    pub fn send_extension(&mut self, peer: Option<PeerId>, name: &str, message: &[u8]) {
        let targets: Vec<PeerId> = match peer {
            Some(p) => vec![p],
            None => self.peers.keys().copied().collect(),
        };
        for id in targets {
            let Some(p) = self.peers.get_mut(&id) else { continue };
            let name = p.extension_name(name);
            self.send(id, Message::Extension(Extension { name, message: message.to_vec() }));
        }
    }

    /// Changes the `downloading` flag we announce (JS closes a channel when neither side
    /// downloads).
    pub fn set_downloading(&mut self, core: &impl LocalCore, downloading: bool) {
        if self.opts.downloading != downloading {
            self.opts.downloading = downloading;
            self.signal_all(core);
        }
    }

    /// Looks at every peer again: picks up core changes nobody reported and requests what can
    /// be requested. Nothing needs it to make progress, but a driver may call it on a timer
    /// (a block search that hit its work bound resumes on the next event).
    pub fn update(&mut self, core: &impl LocalCore) {
        self.observe(core);
        self.clamp_ranges(core);
        self.update_all(core);
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Every wanted block is local and no upgrade is pending (for `fetch` to finish). A live
    /// download is done when we are as long as every synced peer on our fork that can
    /// upgrade us, no peer proves a higher fork, and nothing is in flight.
    pub fn is_done(&self, core: &impl LocalCore) -> bool {
        self.upgrade.is_none() && self.reorg.is_none() && self.ranges.iter().all(|r| self.range_done(core, r))
    }

    /// [`Replicator::is_done`] for download `id` alone (other downloads may go on). A download
    /// that is gone (finished or cancelled) is done.
    pub fn is_download_done(&self, core: &impl LocalCore, id: u64) -> bool {
        self.upgrade.is_none()
            && self.reorg.is_none()
            && self.ranges.iter().find(|r| r.id == id).is_none_or(|r| self.range_done(core, r))
    }

    /// We are as long as every synced peer that could upgrade us and we would follow (every
    /// one with [`ReplicatorOptions::eager_upgrade`], else only while a download reaches
    /// beyond our length), no peer proves a higher fork we would move to, every uploading
    /// peer told us its length, and no upgrade or fork proof is in flight (JS `update()`).
    pub fn is_caught_up(&self, core: &impl LocalCore) -> bool {
        let length = core.length();
        let follow = self.opts.eager_upgrade || self.ranges.iter().any(|r| r.end.is_none_or(|e| e > length));
        self.upgrade.is_none() && self.reorg.is_none() && self.peers_caught_up(core, follow)
    }

    fn range_done(&self, core: &impl LocalCore, r: &Download) -> bool {
        let start = core.first_missing(r.start);
        match r.end {
            Some(end) => start >= end,
            None => {
                start >= core.length()
                    && self.processing == 0
                    && self.peers.values().all(|p| p.inflight == 0)
                    && self.peers_caught_up(core, true)
            }
        }
    }

    /// No synced peer is longer on our fork (and can prove it) while `follow`, none proves a
    /// higher fork, and every uploading peer has synced.
    fn peers_caught_up(&self, core: &impl LocalCore, follow: bool) -> bool {
        let (fork, length) = (core.fork(), core.length());
        self.peers.values().filter(|p| !p.paused && p.remote_uploading).all(|p| {
            if !p.synced {
                return false;
            }
            let behind = follow
                && p.remote_fork == fork
                && p.remote_length > length
                && p.remote_can_upgrade
                && p.upgrade_refused != Some((fork, length, p.remote_length));
            let forked = self.opts.allow_fork
                && p.remote_fork > fork
                && p.remote_length > 0
                && p.reorg_refused != Some((p.remote_fork, p.remote_length));
            !behind && !forked
        })
    }

    /// Queues a message.
    pub(super) fn send(&mut self, peer: PeerId, message: Message) {
        self.stats.messages_sent += 1;
        self.actions.push_back(Action::Send { peer, message });
    }

    /// Closes a misbehaving peer: forgets it, reschedules its requests.
    pub(super) fn close(&mut self, core: &impl LocalCore, peer: PeerId, reason: ReplicatorError) {
        if !self.peers.contains_key(&peer) {
            return;
        }
        self.stats.peers_closed += 1;
        self.drop_peer(core, peer);
        self.actions.push_back(Action::Close { peer, reason });
    }

    /// Closes `peer` unless `start + length` stays within [`MAX_LENGTH`]; whether it did.
    pub(super) fn out_of_range(
        &mut self,
        core: &impl LocalCore,
        peer: PeerId,
        what: &'static str,
        start: u64,
        length: u64,
    ) -> bool {
        if start.checked_add(length).is_some_and(|end| end <= MAX_LENGTH) {
            return false;
        }
        self.close(core, peer, ReplicatorError::OutOfRange { what, start, length });
        true
    }

    /// Forgets a peer; its unanswered requests are freed and go to other peers. Answers
    /// being applied finish through [`Replicator::on_applied`].
    pub(super) fn drop_peer(&mut self, core: &impl LocalCore, peer: PeerId) {
        if self.peers.remove(&peer).is_none() {
            return;
        }
        let ids: Vec<(u64, SlotState)> =
            self.inflight.iter().filter(|(_, s)| s.peer == peer).map(|(id, s)| (id, s.state)).collect();
        for (id, state) in ids {
            if state != SlotState::Processing {
                self.release(id);
            }
        }
        self.update_all(core);
    }

    /// Frees request `id` that will get no (more) answer: its block becomes requestable again.
    pub(super) fn release(&mut self, id: u64) {
        let Some(sent) = self.inflight.remove(id) else { return };
        if sent.state == SlotState::Processing {
            self.processing -= 1;
        }
        self.forget_request(id, &sent);
    }

    /// Request `id` no longer holds its block, upgrade or reorg slot: its block becomes
    /// requestable again (from every peer).
    pub(super) fn forget_request(&mut self, id: u64, sent: &Sent) {
        if let Some(b) = sent.block {
            if self.block_requests.get(&b) == Some(&id) {
                self.block_requests.remove(&b);
                self.pending.set(b, false);
                for p in self.peers.values_mut() {
                    p.rewind(b);
                }
            }
        }
        if self.upgrade == Some(id) {
            self.upgrade = None;
        }
        if self.reorg == Some(id) {
            self.reorg = None;
        }
    }

    /// Sends `sync` to one peer (JS `sendSync`).
    pub(super) fn send_sync(&mut self, core: &impl LocalCore, peer: PeerId) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        let same_fork = core.fork() == p.remote_fork;
        p.can_upgrade = same_fork && (p.remote_length == 0 || upgradeable(core, p.remote_length));
        let sync = Sync {
            fork: core.fork(),
            length: core.length(),
            remote_length: if same_fork { p.remote_length } else { 0 },
            can_upgrade: p.can_upgrade,
            uploading: true,
            downloading: self.opts.downloading,
            has_manifest: core.has_manifest(),
            allow_push: false,
        };
        self.send(peer, Message::Sync(sync));
    }

    /// Sends `sync` to every peer (JS `onupgrade` → `signalUpgrade`).
    pub(super) fn signal_all(&mut self, core: &impl LocalCore) {
        let mut next = self.peers.keys().next().copied();
        while let Some(id) = next {
            self.send_sync(core, id);
            next = self.peers.range(id + 1..).next().map(|(k, _)| *k);
        }
    }

    /// Announces gained or dropped blocks to the peers that care (JS `onhave`).
    pub(super) fn announce(&mut self, core: &impl LocalCore, start: u64, length: u64, drop: bool) {
        if length == 0 {
            return;
        }
        for (id, p) in self.peers.iter_mut() {
            if p.paused {
                continue;
            }
            if let Some(range) = p.announcement(core, start, length, drop) {
                self.stats.messages_sent += 1;
                self.actions.push_back(Action::Send { peer: *id, message: Message::Range(range) });
            }
        }
    }

    /// Notices length and fork changes since the last call: a longer core is announced with
    /// `sync` (and `range` if we hold it all), another fork resets what depended on the old one.
    pub(super) fn observe(&mut self, core: &impl LocalCore) {
        let (fork, length) = (core.fork(), core.length());
        if fork == self.local_fork && length == self.local_length {
            return;
        }
        let old = self.local_length;
        if fork != self.local_fork || length < old {
            self.forked(core, length.min(old), old);
            return;
        }
        self.local_length = length;
        self.signal_all(core);
        if core.first_missing(old) >= length {
            self.announce(core, old, length - old, false);
        }
    }

    /// The core moved to another fork or was truncated: blocks from `shared` on are gone.
    pub(super) fn forked(&mut self, core: &impl LocalCore, shared: u64, old_length: u64) {
        let (fork, length) = (core.fork(), core.length());
        self.local_fork = fork;
        self.local_length = length;
        let void: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, s)| s.state == SlotState::Sent)
            .filter(|(_, s)| s.fork != fork || s.block.is_some_and(|b| b >= shared))
            .map(|(id, _)| id)
            .collect();
        for id in void {
            self.cancel_request(id);
        }
        for r in &mut self.ranges {
            r.start = r.user_start;
        }
        for p in self.peers.values_mut() {
            p.rewind(0);
            p.fully_signaled = p.fully_signaled.min(length);
            p.dropped_at = None;
        }
        if old_length > shared {
            self.announce(core, shared, old_length - shared, true);
        }
        self.signal_all(core);
        self.clamp_ranges(core);
        self.update_all(core);
    }

    /// Moves every range's start past the blocks we hold; finished finite ranges go.
    pub(super) fn clamp_ranges(&mut self, core: &impl LocalCore) {
        let mut i = 0;
        while i < self.ranges.len() {
            let r = &mut self.ranges[i];
            r.start = core.first_missing(r.start);
            if r.end.is_some_and(|end| r.start >= end) {
                let id = r.id;
                self.ranges.swap_remove(i);
                for p in self.peers.values_mut() {
                    p.cursors.remove(&id);
                }
            } else {
                i += 1;
            }
        }
    }

    /// Gives every peer the chance to take more requests.
    pub(super) fn update_all(&mut self, core: &impl LocalCore) {
        let mut next = self.peers.keys().next().copied();
        while let Some(id) = next {
            self.update_peer(core, id);
            next = self.peers.range(id + 1..).next().map(|(k, _)| *k);
        }
    }

    fn on_extension(&mut self, peer: PeerId, m: Extension) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        let name = p.received_extension_name(m.name);
        if name.is_empty() {
            return;
        }
        self.actions.push_back(Action::Extension { peer, name, message: m.message });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicator_can_move_between_threads() {
        fn send<T: Send + std::marker::Sync>() {}
        send::<Replicator>();
        send::<Action>();
    }
}
