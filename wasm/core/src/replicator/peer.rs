//! One peer of a core: what it told us (sync, ranges, bitfields, wants), what we asked of it,
//! and what it asked of us (hypercore `lib/replicator.js` `Peer`).

use super::messages::{Bitfield, ChannelHandshake, Range, Request, Sync};
use super::remote_bitfield::RemoteBitfield;
use super::wants::{LocalWants, RemoteWants};
use super::{LocalCore, LAST_BLOCKS};
use std::collections::{HashMap, VecDeque};

/// Per-peer message counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Blocks received and stored.
    pub blocks_downloaded: u64,
    /// Blocks sent.
    pub blocks_uploaded: u64,
    /// Requests we could not answer because they were invalid.
    pub invalid_requests: u32,
    /// `no-data` answers it gave us.
    pub no_data: u32,
}

/// State of one peer.
#[derive(Debug)]
pub(crate) struct Peer {
    /// Remote supports seek requests.
    #[allow(dead_code)]
    pub(crate) seeks: bool,
    /// A `sync` arrived.
    pub(crate) synced: bool,
    pub(crate) remote_fork: u64,
    pub(crate) remote_length: u64,
    pub(crate) remote_can_upgrade: bool,
    pub(crate) remote_uploading: bool,
    pub(crate) remote_downloading: bool,
    pub(crate) remote_has_manifest: bool,
    /// The length the peer last said we have (0 when our forks differed).
    pub(crate) length_acked: u64,
    /// We can prove an upgrade from its length (sent as `canUpgrade`).
    pub(crate) can_upgrade: bool,
    /// Blocks `0..remote_contiguous` are announced (`range` from 0).
    pub(crate) remote_contiguous: u64,
    /// Other announced blocks.
    pub(crate) remote_bitfield: RemoteBitfield,
    /// What it wants from us.
    pub(crate) remote_wants: RemoteWants,
    /// What we want from it.
    pub(crate) wants: LocalWants,
    /// Our requests to it awaiting an answer.
    pub(crate) inflight: usize,
    /// Per download range: where the next block search starts.
    pub(crate) cursors: HashMap<u64, u64>,
    /// Its requests awaiting our proof, by id.
    pub(crate) serving: HashMap<u64, Request>,
    /// Ids we cancelled, with the cancel counter when cancelled.
    pub(crate) cancelled: VecDeque<(u64, u64)>,
    /// Cancels sent to it so far.
    pub(crate) cancel_tick: u64,
    /// No more requests go to it (too many `no-data`, or our storage failed).
    pub(crate) paused: bool,
    /// `no-data` answers counted towards [`super::MAX_BACKOFFS`].
    pub(crate) backoffs: u32,
    /// `(fork, our length, its length)` at which it failed to upgrade us.
    pub(crate) upgrade_refused: Option<(u64, u64, u64)>,
    /// `(its fork, its length)` at which its fork proof failed.
    pub(crate) reorg_refused: Option<(u64, u64)>,
    /// Lowest start of a `range {drop}` it sent since our fork last changed: where it
    /// truncated, so where a fork proof from it can start.
    pub(crate) dropped_at: Option<u64>,
    /// Length we last announced as fully contiguous.
    pub(crate) fully_signaled: u64,
    pub(crate) last_extension_sent: String,
    pub(crate) last_extension_received: String,
    pub(crate) stats: PeerStats,
}

impl Peer {
    pub(crate) fn new(remote: &ChannelHandshake) -> Self {
        Peer {
            seeks: remote.seeks,
            synced: false,
            remote_fork: 0,
            remote_length: 0,
            remote_can_upgrade: false,
            remote_uploading: true,
            remote_downloading: true,
            remote_has_manifest: false,
            length_acked: 0,
            can_upgrade: true,
            remote_contiguous: 0,
            remote_bitfield: RemoteBitfield::new(),
            remote_wants: RemoteWants::default(),
            wants: LocalWants::default(),
            inflight: 0,
            cursors: HashMap::new(),
            serving: HashMap::new(),
            cancelled: VecDeque::new(),
            cancel_tick: 0,
            paused: false,
            backoffs: 0,
            upgrade_refused: None,
            reorg_refused: None,
            dropped_at: None,
            fully_signaled: 0,
            last_extension_sent: String::new(),
            last_extension_received: String::new(),
            stats: PeerStats::default(),
        }
    }

    /// Records a `sync`. Returns whether its length changed.
    pub(crate) fn on_sync(&mut self, msg: &Sync, local_fork: u64) -> bool {
        let changed = msg.length != self.remote_length || msg.fork != self.remote_fork;
        self.synced = true;
        self.remote_fork = msg.fork;
        self.remote_length = msg.length;
        self.remote_can_upgrade = msg.can_upgrade;
        self.remote_uploading = msg.uploading;
        self.remote_downloading = msg.downloading;
        self.remote_has_manifest = msg.has_manifest;
        self.length_acked = if msg.fork == local_fork { msg.remote_length } else { 0 };
        changed
    }

    /// Whether it announced block `index`.
    pub(crate) fn remote_has(&self, index: u64) -> bool {
        index < self.remote_contiguous || self.remote_bitfield.get(index)
    }

    /// Records a `range` (JS `onrange`), ignoring blocks at or beyond its length. Returns the
    /// first block it gained, if any.
    pub(crate) fn on_range(&mut self, r: &Range) -> Option<u64> {
        let end = r.start + r.length;
        if r.drop {
            self.dropped_at = Some(self.dropped_at.map_or(r.start, |d| d.min(r.start)));
            if r.start < self.remote_contiguous {
                if end < self.remote_contiguous {
                    self.remote_bitfield.set_range(end, self.remote_contiguous, true);
                }
                self.remote_contiguous = r.start;
            }
            self.remote_bitfield.set_range(r.start, end, false);
            return None;
        }
        if r.start == 0 {
            if r.length > self.remote_contiguous {
                let gained = self.remote_contiguous;
                self.remote_contiguous = r.length;
                return Some(gained);
            }
            return None;
        }
        let end = end.min(self.remote_length);
        if r.start >= end {
            return None;
        }
        self.remote_bitfield.set_range(r.start, end, true);
        Some(r.start)
    }

    /// Records a `bitfield` (JS `onbitfield`: it is the truth for its span, and lowers the
    /// contiguous length it starts inside). `start` is a multiple of 32. Returns its start.
    pub(crate) fn on_bitfield(&mut self, b: &Bitfield) -> u64 {
        if b.start < self.remote_contiguous {
            self.remote_contiguous = b.start;
        }
        if b.start < self.remote_length {
            let n = (self.remote_length - b.start).div_ceil(32);
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(b.words.len());
            self.remote_bitfield.insert_words(b.start, &b.words[..n]);
        }
        b.start
    }

    /// Where the search of download range `range` starts.
    pub(crate) fn cursor(&self, range: u64) -> u64 {
        self.cursors.get(&range).copied().unwrap_or(0)
    }

    /// Moves the search cursor of download range `range`.
    pub(crate) fn set_cursor(&mut self, range: u64, at: u64) {
        self.cursors.insert(range, at);
    }

    /// Makes every search look at blocks from `index` again.
    pub(crate) fn rewind(&mut self, index: u64) {
        for c in self.cursors.values_mut() {
            *c = (*c).min(index);
        }
    }

    /// Frees the next cancelled id the peer has certainly seen the cancel of: one cancelled
    /// before the request sent at cancel counter `rt`.
    pub(crate) fn pop_cancelled(&mut self, rt: u64) -> Option<u64> {
        match self.cancelled.front() {
            Some((tick, id)) if *tick <= rt => {
                let id = *id;
                self.cancelled.pop_front();
                Some(id)
            }
            _ => None,
        }
    }

    /// The `range` to announce `start..start + length` to it, if any (JS `broadcastRange`):
    /// only blocks it wants or the newest ones, as `{0, length}` once we are fully
    /// contiguous, never what it already has.
    pub(crate) fn announcement(
        &mut self,
        core: &impl LocalCore,
        start: u64,
        length: u64,
        drop: bool,
    ) -> Option<Range> {
        let core_length = core.length();
        let fully = core.contiguous_length() >= core_length;
        if start.saturating_add(LAST_BLOCKS) < core_length
            && !drop
            && !fully
            && !self.remote_wants.has_range(start, length)
        {
            return None;
        }
        let (mut start, mut length) = (start, length);
        let mut force = false;
        if fully && !drop {
            start = 0;
            length = core_length;
            if self.fully_signaled < length {
                self.fully_signaled = length;
                force = true;
            }
        }
        if !force && !drop {
            let end = start.saturating_add(length);
            if self.remote_contiguous >= end {
                return None;
            }
            let known = if length == 1 {
                self.remote_bitfield.get(start)
            } else {
                self.remote_bitfield.first_unset(start) >= end
            };
            if known {
                return None;
            }
        }
        Some(Range { drop, start, length })
    }

    /// The name to put on an outgoing extension message (empty = same as the last one).
    pub(crate) fn extension_name(&mut self, name: &str) -> String {
        if self.last_extension_sent == name {
            return String::new();
        }
        self.last_extension_sent = name.to_owned();
        name.to_owned()
    }

    /// The full name of an incoming extension message.
    pub(crate) fn received_extension_name(&mut self, name: String) -> String {
        if !name.is_empty() {
            self.last_extension_received = name;
        }
        self.last_extension_received.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        let mut p = Peer::new(&ChannelHandshake { seeks: true, capability: [0; 32] });
        p.on_sync(&Sync { length: 10_000, ..Sync::default() }, 0);
        p
    }

    #[test]
    fn ranges_and_bitfields() {
        let mut p = peer();
        assert_eq!(p.on_range(&Range { drop: false, start: 0, length: 100 }), Some(0));
        assert!(p.remote_has(99) && !p.remote_has(100));
        assert_eq!(p.on_range(&Range { drop: false, start: 200, length: 50 }), Some(200));
        assert!(p.remote_has(249) && !p.remote_has(250));
        p.on_range(&Range { drop: true, start: 50, length: 10 });
        assert_eq!(p.remote_contiguous, 50);
        assert!(!p.remote_has(55) && p.remote_has(60) && p.remote_has(99));
        assert_eq!(p.on_range(&Range { drop: false, start: 20_000, length: 5 }), None, "beyond its length");
        p.on_bitfield(&Bitfield { start: 32, words: vec![1, 0] });
        assert_eq!(p.remote_contiguous, 32);
        assert!(p.remote_has(31) && p.remote_has(32) && !p.remote_has(33) && !p.remote_has(64));
    }

    #[test]
    fn extension_names_compress() {
        let mut p = peer();
        assert_eq!(p.extension_name("a"), "a");
        assert_eq!(p.extension_name("a"), "");
        assert_eq!(p.extension_name("b"), "b");
        assert_eq!(p.received_extension_name("x".into()), "x");
        assert_eq!(p.received_extension_name(String::new()), "x");
    }

    #[test]
    fn cancelled_ids_wait_for_a_later_round_trip() {
        let mut p = peer();
        p.cancel_tick += 1;
        p.cancelled.push_back((p.cancel_tick, 7));
        assert_eq!(p.pop_cancelled(0), None, "a request sent before the cancel");
        assert_eq!(p.pop_cancelled(1), Some(7));
        assert_eq!(p.pop_cancelled(1), None);
    }
}
