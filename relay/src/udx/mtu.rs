//! Path MTU probing, sender side (libudx does the same): after the first ack, a full-size DATA
//! packet is sent padded with `data_offset` zero bytes up to a larger size. If it is acked
//! the MTU grows (and so the payload per packet); if it is lost three times at one size that
//! size is marked too big and the search narrows between the last good and bad sizes. A lost
//! probe is retransmitted without padding and is not counted as congestion.
//!
//! Padding fits in `data_offset` (≤ 255 bytes), so the MTU grows by at most 252 bytes per
//! step: 1200 → 1452 → 1500 on a 1500-byte path.

use super::{IPV4_OVERHEAD, MTU_BASE};

/// Largest padding step (a multiple of 4 below the 255-byte `data_offset` limit).
const MAX_STEP: usize = 252;
/// Probes lost at one size before it is considered too big (libudx `UDX_MTU_MAX_PROBES`).
const MAX_FAILS: u8 = 3;
/// The search stops once good and bad sizes are this close (libudx `UDX_MTU_STEP`).
const RESOLUTION: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the first ack.
    Idle,
    /// Probing `size`.
    Search { size: usize, bad: Option<usize>, fails: u8, outstanding: bool },
    /// Settled.
    Done,
}

/// The MTU of one stream and its probing state.
#[derive(Debug, Clone)]
pub(crate) struct Mtu {
    mtu: usize,
    max: usize,
    state: State,
}

impl Mtu {
    /// Starts at the base MTU (1200); probes up to `max` (no probing if `max ≤ 1200`).
    pub(crate) fn new(max: usize) -> Self {
        let state = if max > MTU_BASE { State::Idle } else { State::Done };
        Mtu { mtu: MTU_BASE, max, state }
    }

    /// The current MTU.
    pub(crate) fn mtu(&self) -> usize {
        self.mtu
    }

    /// Payload bytes per packet at the current MTU.
    pub(crate) fn payload(&self) -> usize {
        self.mtu - IPV4_OVERHEAD
    }

    /// The path carried data (an ack arrived): start searching.
    pub(crate) fn on_path_confirmed(&mut self) {
        if self.state == State::Idle {
            self.state = self.next(None);
        }
    }

    /// Padding to turn a new packet with `len` payload bytes into a probe, if one is wanted
    /// now (only full-size packets are probes).
    pub(crate) fn probe_padding(&mut self, len: usize) -> Option<u8> {
        let State::Search { size, outstanding: false, bad, fails } = self.state else { return None };
        if len != self.payload() {
            return None;
        }
        let pad = size.checked_sub(IPV4_OVERHEAD + len)?;
        let pad = u8::try_from(pad).ok().filter(|&p| p > 0)?;
        self.state = State::Search { size, outstanding: true, bad, fails };
        Some(pad)
    }

    /// The outstanding probe was acked (`true`) or lost / sent again (`false`).
    pub(crate) fn on_probe_result(&mut self, acked: bool) {
        let State::Search { size, bad, fails, .. } = self.state else { return };
        if acked {
            self.mtu = size;
            self.state = self.next(bad);
        } else if fails + 1 >= MAX_FAILS {
            self.state = self.next(Some(size));
        } else {
            self.state = State::Search { size, bad, fails: fails + 1, outstanding: false };
        }
    }

    fn next(&self, bad: Option<usize>) -> State {
        let ok = self.mtu;
        let size = match bad {
            Some(b) if b <= ok + RESOLUTION => return State::Done,
            Some(b) => (ok + b) / 2,
            None if ok >= self.max => return State::Done,
            None => (ok + MAX_STEP).min(self.max),
        };
        State::Search { size, bad, fails: 0, outstanding: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_1500_in_two_steps() {
        let mut m = Mtu::new(1500);
        assert_eq!(m.probe_padding(1152), None, "idle until the first ack");
        m.on_path_confirmed();
        assert_eq!(m.probe_padding(100), None, "only full packets");
        assert_eq!(m.probe_padding(1152), Some(252));
        assert_eq!(m.probe_padding(1152), None, "one at a time");
        m.on_probe_result(true);
        assert_eq!((m.mtu(), m.payload()), (1452, 1404));
        assert_eq!(m.probe_padding(1404), Some(48));
        m.on_probe_result(true);
        assert_eq!(m.mtu(), 1500);
        assert_eq!(m.probe_padding(1452), None);
    }

    #[test]
    fn narrows_after_three_losses() {
        let mut m = Mtu::new(1500);
        m.on_path_confirmed();
        for _ in 0..3 {
            assert_eq!(m.probe_padding(1152), Some(252));
            m.on_probe_result(false);
        }
        // 1452 is too big: try (1200 + 1452) / 2 = 1326
        assert_eq!(m.probe_padding(1152), Some(126));
        m.on_probe_result(true);
        assert_eq!(m.mtu(), 1326);
        // between 1326 and 1452: 1389
        assert_eq!(m.probe_padding(1278), Some(63));
        for _ in 0..3 {
            m.on_probe_result(false);
            let _ = m.probe_padding(1278);
        }
        // 1389 bad, 1326 good: within 63 > 32, try 1357
        m.on_probe_result(true);
        assert_eq!(m.mtu(), 1357);
    }

    #[test]
    fn disabled_at_base() {
        let mut m = Mtu::new(1200);
        m.on_path_confirmed();
        assert_eq!(m.probe_padding(1152), None);
        assert_eq!(m.payload(), 1152);
    }
}
