//! Our requests in flight, by id (hypercore `lib/replicator.js` `InflightTracker`).
//!
//! Ids start at 1 (0 is reserved for unsolicited data) and are reused, newest freed first, so
//! they stay small. A cancelled id is not reused until the peer has certainly seen the
//! cancel (a later request to it came back, JS `RoundtripQueue`): data arriving for it in
//! the meantime is recognised as late rather than taken for another request's answer.

use super::PeerId;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// Sent, no answer yet.
    Sent,
    /// Answered with data that is being verified and stored (an `Apply` is out).
    Processing,
    /// Cancelled by us; the id waits for a later round trip before reuse.
    Cancelled,
}

/// One request we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    /// Who it went to.
    pub(crate) peer: PeerId,
    /// The block it asks for.
    pub(crate) block: Option<u64>,
    /// It carries an upgrade.
    pub(crate) upgrade: bool,
    /// It asks for a fork proof (an upgrade on a higher fork).
    pub(crate) reorg: bool,
    /// The fork proof starts from a length the peer's `range {drop}` suggested rather than
    /// from 0: failing to verify is then no proof of a lie.
    pub(crate) hinted: bool,
    /// The fork it was sent for.
    pub(crate) fork: u64,
    /// Our (fork, length) when it was sent: an upgrade proof built for it no longer connects
    /// once another connection has moved the core on.
    pub(crate) local: (u64, u64),
    /// The peer's cancel counter when it was sent: cancels up to here were sent before it.
    pub(crate) rt: u64,
    /// Progress.
    pub(crate) state: SlotState,
}

/// Request ids in use.
#[derive(Debug, Default)]
pub(crate) struct InflightTracker {
    slots: Vec<Option<Sent>>,
    free: Vec<u64>,
    active: usize,
}

impl InflightTracker {
    /// Allocates an id for `sent`.
    pub(crate) fn add(&mut self, sent: Sent) -> u64 {
        self.active += 1;
        if let Some(id) = self.free.pop() {
            if let Some(slot) = self.slots.get_mut(id as usize - 1) {
                *slot = Some(sent);
                return id;
            }
        }
        self.slots.push(Some(sent));
        self.slots.len() as u64
    }

    /// The request with `id`.
    pub(crate) fn get(&self, id: u64) -> Option<&Sent> {
        self.slots.get(usize::try_from(id).ok()?.checked_sub(1)?)?.as_ref()
    }

    /// The request with `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Sent> {
        self.slots.get_mut(usize::try_from(id).ok()?.checked_sub(1)?)?.as_mut()
    }

    /// Frees `id` for reuse, returning what it held.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Sent> {
        let slot = self.slots.get_mut(usize::try_from(id).ok()?.checked_sub(1)?)?;
        let sent = slot.take()?;
        self.active -= 1;
        self.free.push(id);
        Some(sent)
    }

    /// Whether `id` was ever handed out (data for any other id is a protocol violation).
    pub(crate) fn issued(&self, id: u64) -> bool {
        id >= 1 && id <= self.slots.len() as u64
    }

    /// Ids in use.
    #[cfg(test)]
    pub(crate) fn active(&self) -> usize {
        self.active
    }

    /// Every id in use with its request.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Sent)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| Some((i as u64 + 1, s.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(peer: PeerId) -> Sent {
        Sent {
            peer,
            block: None,
            upgrade: false,
            reorg: false,
            hinted: false,
            fork: 0,
            local: (0, 0),
            rt: 0,
            state: SlotState::Sent,
        }
    }

    #[test]
    fn ids_start_at_one_and_are_reused() {
        let mut t = InflightTracker::default();
        assert_eq!(t.add(sent(1)), 1);
        assert_eq!(t.add(sent(1)), 2);
        assert_eq!(t.add(sent(2)), 3);
        assert!(t.remove(2).is_some());
        assert!(t.remove(2).is_none());
        assert_eq!(t.active(), 2);
        assert_eq!(t.add(sent(3)), 2);
        assert_eq!(t.get(2).map(|s| s.peer), Some(3));
        assert!(t.get(0).is_none() && t.get(99).is_none());
        assert!(t.issued(3) && !t.issued(4) && !t.issued(0));
        assert_eq!(t.iter().count(), 3);
    }
}
