//! The sender's reliability state for one stream: the packets between the cumulative ack and
//! the next seq, RTT estimation (RFC 6298), RACK loss detection (RFC 8985, time based, fed
//! by SACKs and cumulative acks), tail loss probes, and the retransmission timer with
//! exponential backoff that gives up with `ETIMEDOUT`.
//!
//! In-flight packets sit in a deque indexed by `seq − una` (O(1) lookup); a second deque logs
//! transmissions in send order so RACK scans only packets sent before the most recently
//! delivered one (amortised O(1) per packet). Packets do not hold their bytes: they name a
//! range of the stream's send ring.

use super::congestion::Cubic;
use super::{seq_diff, UdxError, MAX_SACKS};
use std::collections::VecDeque;

/// RTT samples are clamped to this (libudx `UDX_RTT_MAX_MS`).
const RTT_MAX_MS: u64 = 30_000;
/// Tail loss probes never fire sooner than this after the last transmission.
const TLP_MIN_MS: u64 = 10;

/// Where a sent packet stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PktState {
    /// Sent, not acked, not declared lost: counts against the window.
    InFlight,
    /// Declared lost, waiting for retransmission.
    Lost,
    /// Selectively acked (still above the cumulative ack).
    Acked,
}

/// One DATA/END packet above the cumulative ack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SentPacket {
    /// Stream offset of its first payload byte.
    pub start: u64,
    /// Payload bytes.
    pub len: u16,
    /// `FLAG_DATA` / `FLAG_END`.
    pub flags: u8,
    state: PktState,
    time_sent: u64,
    /// Transmission number, to tell the latest transmission from stale log entries.
    tx: u32,
    retransmitted: bool,
    rto_timeouts: u8,
    /// First transmission was padded as an MTU probe (cleared once sent again or lost).
    probe: bool,
}

/// A packet to send again: its seq and byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resend {
    pub seq: u32,
    pub start: u64,
    pub len: u16,
    pub flags: u8,
}

/// What an incoming ack changed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AckOutcome {
    /// The cumulative ack moved forward.
    pub una_advanced: bool,
    /// Packets delivered for the first time (cumulatively or selectively).
    pub newly_acked: u32,
}

/// Timer limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RtoConfig {
    pub min_rto_ms: u32,
    pub max_rto_ms: u32,
    pub backoff_cap_ms: u32,
    pub max_timeouts: u8,
}

#[derive(Default)]
struct Delivered {
    count: u32,
    /// (time_sent, rtt) of the latest-sent first transmission delivered.
    sample: Option<(u64, u32)>,
}

/// The sender side of one stream.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// Next seq to assign.
    pub seq: u32,
    /// Lowest seq not cumulatively acked.
    pub una: u32,
    pkts: VecDeque<SentPacket>,
    log: VecDeque<(u32, u32)>,
    lost: VecDeque<u32>,
    lost_count: u32,
    in_flight: u32,
    sacked: u32,
    tx: u32,
    /// Smoothed RTT (ms), 0 until the first sample.
    pub srtt: u32,
    rttvar: u32,
    has_rtt: bool,
    min_rtt: u32,
    /// Current retransmission timeout (ms), before backoff.
    pub rto: u32,
    backoff: u32,
    rack_valid: bool,
    rack_time: u64,
    rack_end: u32,
    rack_rtt: u32,
    fack: u32,
    reordering_seen: bool,
    rack_deadline: Option<u64>,
    rto_deadline: Option<u64>,
    tlp_deadline: Option<u64>,
    tlp_in_flight: bool,
    /// A tail loss probe is due: send one packet regardless of the window.
    pub tlp_fire: bool,
    recovery_high: Option<u32>,
    /// The congestion window.
    pub cc: Cubic,
    cfg: RtoConfig,
    /// Packets sent again (statistics).
    pub retransmits: u64,
    /// RTO expiries (statistics).
    pub rto_count: u64,
    /// Outcome of the outstanding MTU probe, once known (taken by the stream).
    probe_result: Option<bool>,
}

fn sent_after(t1: u64, s1: u32, t2: u64, s2: u32) -> bool {
    t1 > t2 || (t1 == t2 && seq_diff(s1, s2) > 0)
}

impl Recovery {
    /// Nothing sent yet; the first packet gets `seq`.
    pub(crate) fn new(seq: u32, cfg: RtoConfig) -> Self {
        Recovery {
            seq,
            una: seq,
            pkts: VecDeque::new(),
            log: VecDeque::new(),
            lost: VecDeque::new(),
            lost_count: 0,
            in_flight: 0,
            sacked: 0,
            tx: 0,
            srtt: 0,
            rttvar: 0,
            has_rtt: false,
            min_rtt: u32::MAX,
            rto: cfg.min_rto_ms.max(1),
            backoff: 0,
            rack_valid: false,
            rack_time: 0,
            rack_end: seq,
            rack_rtt: 0,
            fack: seq,
            reordering_seen: false,
            rack_deadline: None,
            rto_deadline: None,
            tlp_deadline: None,
            tlp_in_flight: false,
            tlp_fire: false,
            recovery_high: None,
            cc: Cubic::new(),
            cfg,
            retransmits: 0,
            rto_count: 0,
            probe_result: None,
        }
    }

    /// Packets counted against the window.
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Whether everything sent has been cumulatively acked.
    pub(crate) fn all_acked(&self) -> bool {
        self.una == self.seq
    }

    /// Stream offset of the oldest byte a packet may still need.
    pub(crate) fn front_start(&self) -> Option<u64> {
        self.pkts.front().map(|p| p.start)
    }

    /// Whether a new packet fits the congestion window and `rwnd_packets`.
    pub(crate) fn can_send_new(&self, rwnd_packets: u32) -> bool {
        self.in_flight < self.cc.window().min(rwnd_packets)
    }

    /// Whether a lost packet is waiting and fits the congestion window (the receive window
    /// is not applied to retransmits, as libudx).
    pub(crate) fn can_retransmit(&self) -> bool {
        self.lost_count > 0 && self.in_flight < self.cc.window()
    }

    /// The earliest armed timer.
    pub(crate) fn next_timeout(&self) -> Option<u64> {
        [self.rack_deadline, self.rto_deadline, self.tlp_deadline].into_iter().flatten().min()
    }

    fn backed_off_rto(&self) -> u64 {
        let base = self.rto as u64;
        let backed = base << self.backoff.min(16);
        backed.min(base.max(self.cfg.backoff_cap_ms as u64))
    }

    fn arm_rto(&mut self, now: u64) {
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.backed_off_rto());
        }
    }

    fn log_tx(&mut self, seq: u32) -> u32 {
        self.tx = self.tx.wrapping_add(1);
        self.log.push_back((seq, self.tx));
        self.tx
    }

    /// Records a new packet sent at `now` (`probe`: padded as an MTU probe); returns its seq.
    pub(crate) fn on_send_new(&mut self, start: u64, len: u16, flags: u8, probe: bool, now: u64) -> u32 {
        let seq = self.seq;
        let tx = self.log_tx(seq);
        self.pkts.push_back(SentPacket {
            start,
            len,
            flags,
            state: PktState::InFlight,
            time_sent: now,
            tx,
            retransmitted: false,
            rto_timeouts: 0,
            probe,
        });
        self.in_flight += 1;
        self.seq = seq.wrapping_add(1);
        self.arm_rto(now);
        if !self.tlp_fire {
            self.schedule_tlp(now);
        }
        seq
    }

    fn mark_sent_again(&mut self, i: usize, now: u64) -> Option<Resend> {
        let seq = self.una.wrapping_add(i as u32);
        let tx = self.log_tx(seq);
        let p = self.pkts.get_mut(i)?;
        p.state = PktState::InFlight;
        p.retransmitted = true;
        if p.probe {
            // sent again without padding: the probe's answer would be ambiguous
            p.probe = false;
            self.probe_result = Some(false);
        }
        p.time_sent = now;
        p.tx = tx;
        let r = Resend { seq, start: p.start, len: p.len, flags: p.flags };
        self.in_flight += 1;
        self.retransmits += 1;
        self.arm_rto(now);
        Some(r)
    }

    /// Takes the oldest lost packet for retransmission at `now`.
    pub(crate) fn take_retransmit(&mut self, now: u64) -> Option<Resend> {
        while let Some(seq) = self.lost.pop_front() {
            let i = seq.wrapping_sub(self.una) as usize;
            if self.pkts.get(i).is_some_and(|p| p.state == PktState::Lost) {
                self.lost_count -= 1;
                return self.mark_sent_again(i, now);
            }
        }
        None
    }

    /// Takes the newest in-flight packet to send again as a tail loss probe.
    pub(crate) fn take_tail_probe(&mut self, now: u64) -> Option<Resend> {
        let i = self.pkts.len().checked_sub(1)?;
        if self.pkts.get(i)?.state != PktState::InFlight {
            return None;
        }
        self.in_flight -= 1; // mark_sent_again counts it again
        self.mark_sent_again(i, now)
    }

    /// A tail loss probe went out (new data or [`Self::take_tail_probe`]).
    pub(crate) fn on_tail_probe_sent(&mut self) {
        self.tlp_fire = false;
        self.tlp_in_flight = true;
        self.tlp_deadline = None;
    }

    fn schedule_tlp(&mut self, now: u64) {
        self.tlp_deadline = None;
        if self.all_acked() || self.recovery_high.is_some() || self.sacked > 0 || self.tlp_in_flight {
            return;
        }
        let pto =
            if self.has_rtt { 2 * self.srtt as u64 + if self.in_flight == 1 { 2 } else { 0 } } else { 1000 };
        let at = now + pto.max(TLP_MIN_MS);
        if self.rto_deadline.is_none_or(|r| at < r) {
            self.tlp_deadline = Some(at);
        }
    }

    fn rtt_sample(&mut self, rtt: u32) {
        self.min_rtt = self.min_rtt.min(rtt);
        if !self.has_rtt {
            self.srtt = rtt;
            self.rttvar = rtt / 2;
            self.has_rtt = true;
        } else {
            let delta = self.srtt.abs_diff(rtt);
            self.rttvar = (3 * self.rttvar + delta) / 4;
            self.srtt = (7 * self.srtt + rtt) / 8;
        }
        let rto = self.srtt.saturating_add(self.rttvar.saturating_mul(4));
        self.rto = rto.clamp(self.cfg.min_rto_ms.max(1), self.cfg.max_rto_ms.max(self.cfg.min_rto_ms).max(1));
    }

    /// What became of the last MTU probe, if that is known now.
    pub(crate) fn take_probe_result(&mut self) -> Option<bool> {
        self.probe_result.take()
    }

    fn delivered(&mut self, seq: u32, p: SentPacket, now: u64, acc: &mut Delivered) {
        let (time_sent, retransmitted) = (p.time_sent, p.retransmitted);
        if p.probe {
            self.probe_result = Some(true);
        }
        acc.count += 1;
        let rtt = now.saturating_sub(time_sent).min(RTT_MAX_MS) as u32;
        if !retransmitted && acc.sample.is_none_or(|(t, _)| time_sent >= t) {
            acc.sample = Some((time_sent, rtt));
        }
        let end = seq.wrapping_add(1);
        if (!retransmitted || rtt >= self.min_rtt)
            && (!self.rack_valid || sent_after(time_sent, end, self.rack_time, self.rack_end))
        {
            self.rack_valid = true;
            self.rack_time = time_sent;
            self.rack_end = end;
            self.rack_rtt = rtt;
        }
        let d = seq_diff(end, self.fack);
        if d > 0 {
            self.fack = end;
        } else if d < 0 && !retransmitted {
            self.reordering_seen = true;
        }
    }

    /// Processes the `ack` field and SACK blocks of an incoming packet at `now`.
    pub(crate) fn on_ack(
        &mut self,
        ack: u32,
        sacks: impl Iterator<Item = (u32, u32)>,
        now: u64,
    ) -> AckOutcome {
        let mut out = AckOutcome::default();
        if seq_diff(ack, self.seq) > 0 {
            return out; // acks what we never sent: out of bounds, ignored as libudx does
        }
        let in_flight_before = self.in_flight;
        let mut acc = Delivered::default();
        if seq_diff(ack, self.una) > 0 {
            while self.una != ack {
                let seq = self.una;
                self.una = seq.wrapping_add(1);
                let Some(p) = self.pkts.pop_front() else { continue };
                match p.state {
                    PktState::Acked => self.sacked -= 1,
                    PktState::InFlight => {
                        self.in_flight -= 1;
                        self.delivered(seq, p, now, &mut acc);
                    }
                    PktState::Lost => {
                        self.lost_count -= 1;
                        self.delivered(seq, p, now, &mut acc);
                    }
                }
            }
            out.una_advanced = true;
        }
        // SACK blocks: valid when una ≤ start < end ≤ seq (udx_sack_is_valid), compared as
        // offsets from una: pairwise wrapping comparisons are not transitive and let a block
        // that lies outside the window through (2^31 steps for one datagram). Blocks are
        // clipped to above the highest block end seen, so a datagram costs at most one pass
        // over the window whatever blocks it carries.
        let window = self.seq.wrapping_sub(self.una);
        let mut floor = 0u32;
        for (start, end) in sacks.take(MAX_SACKS) {
            let (lo, hi) = (start.wrapping_sub(self.una), end.wrapping_sub(self.una));
            if lo >= hi || hi > window {
                continue;
            }
            for off in lo.max(floor)..hi {
                let s = self.una.wrapping_add(off);
                if let Some(p) = self.pkts.get_mut(off as usize) {
                    let was = p.state;
                    if was != PktState::Acked {
                        p.state = PktState::Acked;
                        let copy = *p;
                        self.sacked += 1;
                        if was == PktState::InFlight {
                            self.in_flight -= 1;
                        } else {
                            self.lost_count -= 1;
                        }
                        self.delivered(s, copy, now, &mut acc);
                    }
                }
            }
            floor = floor.max(hi);
        }
        if let Some((_, rtt)) = acc.sample {
            self.rtt_sample(rtt);
        }
        if out.una_advanced {
            self.backoff = 0;
            self.tlp_in_flight = false;
            self.rto_deadline = if self.all_acked() { None } else { Some(now + self.rto as u64) };
            if self.all_acked() {
                self.tlp_fire = false;
                self.tlp_deadline = None;
                self.rack_deadline = None;
            }
        }
        if let Some(high) = self.recovery_high {
            if seq_diff(self.una, high) >= 0 {
                self.recovery_high = None;
            }
        }
        if acc.count > 0 && self.recovery_high.is_none() && in_flight_before * 2 >= self.cc.window() {
            self.cc.on_ack(acc.count, now, self.srtt);
        }
        out.newly_acked = acc.count;
        if acc.count > 0 {
            self.detect_loss(now);
        }
        if out.una_advanced {
            self.schedule_tlp(now);
        }
        out
    }

    /// RACK: a packet sent before the most recently delivered one is lost once it has been
    /// outstanding longer than the latest RTT plus the reordering window.
    fn detect_loss(&mut self, now: u64) {
        self.rack_deadline = None;
        if !self.rack_valid {
            return;
        }
        let reo_wnd = if self.reordering_seen { (self.min_rtt / 4).min(self.srtt) as u64 } else { 0 };
        let mut lost_any = false;
        while let Some(&(seq, tx)) = self.log.front() {
            let i = seq.wrapping_sub(self.una) as usize;
            let Some(p) = self.pkts.get_mut(i).filter(|p| p.tx == tx && p.state == PktState::InFlight) else {
                self.log.pop_front();
                continue;
            };
            if !sent_after(self.rack_time, self.rack_end, p.time_sent, seq.wrapping_add(1)) {
                break;
            }
            let deadline = p.time_sent + self.rack_rtt as u64 + reo_wnd;
            if deadline > now {
                self.rack_deadline = Some(deadline);
                break;
            }
            p.state = PktState::Lost;
            if p.probe {
                // a lost MTU probe says nothing about congestion; it goes again unpadded
                p.probe = false;
                self.probe_result = Some(false);
            } else {
                lost_any = true;
            }
            self.in_flight -= 1;
            self.lost_count += 1;
            self.lost.push_back(seq);
            self.log.pop_front();
        }
        if lost_any && self.recovery_high.is_none() {
            self.cc.on_congestion_event();
            self.recovery_high = Some(self.seq);
            self.tlp_deadline = None;
            self.tlp_fire = false;
        }
    }

    /// Runs the timers due at `now`; `Err(TimedOut)` when the oldest packet has already been
    /// retransmitted by `max_timeouts` RTO expiries and the timer expires again.
    pub(crate) fn on_timeout(&mut self, now: u64) -> Result<(), UdxError> {
        if self.rack_deadline.is_some_and(|d| d <= now) {
            self.detect_loss(now);
        }
        if self.tlp_deadline.is_some_and(|d| d <= now) {
            self.tlp_deadline = None;
            if !self.all_acked() && !self.tlp_in_flight {
                self.tlp_fire = true;
            }
        }
        if self.rto_deadline.is_some_and(|d| d <= now) {
            self.rto_deadline = None;
            if self.all_acked() {
                return Ok(());
            }
            let max = self.cfg.max_timeouts;
            let head = self.pkts.front_mut().ok_or(UdxError::TimedOut)?;
            if head.rto_timeouts >= max {
                return Err(UdxError::TimedOut);
            }
            head.rto_timeouts += 1;
            self.rto_count += 1;
            // Everything unacked is lost; retransmit in seq order, the oldest first.
            let una = self.una;
            self.lost.clear();
            self.lost_count = 0;
            for (i, p) in self.pkts.iter_mut().enumerate() {
                if p.state != PktState::Acked {
                    p.state = PktState::Lost;
                    if p.probe {
                        p.probe = false;
                        self.probe_result = Some(false);
                    }
                    self.lost_count += 1;
                    self.lost.push_back(una.wrapping_add(i as u32));
                }
            }
            self.in_flight = 0;
            self.cc.on_rto();
            self.recovery_high = Some(self.seq);
            self.tlp_fire = false;
            self.tlp_in_flight = false;
            self.tlp_deadline = None;
            self.rack_deadline = None;
            self.backoff = self.backoff.saturating_add(1);
            self.rto_deadline = Some(now + self.backed_off_rto());
        }
        Ok(())
    }

    /// Drops all state (the stream closed).
    pub(crate) fn clear(&mut self) {
        self.pkts = VecDeque::new();
        self.log = VecDeque::new();
        self.lost = VecDeque::new();
        self.lost_count = 0;
        self.in_flight = 0;
        self.sacked = 0;
        self.rack_deadline = None;
        self.rto_deadline = None;
        self.tlp_deadline = None;
        self.tlp_fire = false;
    }
}
