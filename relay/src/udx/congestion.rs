//! Sender-local congestion control: CUBIC (RFC 9438) counted in packets, with slow start,
//! the Reno-friendly region and fast convergence. libudx runs BBR; the peer cannot tell the
//! difference, only the sender's own pacing of new packets changes.

/// CUBIC's scaling constant `C` (packets / s³).
const C: f64 = 0.4;
/// Multiplicative decrease factor.
const BETA: f64 = 0.7;
/// Initial window in packets (libudx starts BBR at 10 packets too).
pub const INITIAL_CWND: u32 = 10;
/// The window never drops below this many packets outside an RTO.
const MIN_CWND: f64 = 2.0;
/// Upper bound on the window in packets (far above any 4 MiB receive window).
const MAX_CWND: f64 = 65_536.0;

/// A CUBIC congestion window.
#[derive(Debug, Clone)]
pub struct Cubic {
    cwnd: f64,
    ssthresh: f64,
    w_max: f64,
    k: f64,
    epoch_start: Option<u64>,
    w_est: f64,
}

impl Default for Cubic {
    fn default() -> Self {
        Cubic::new()
    }
}

impl Cubic {
    /// A window of [`INITIAL_CWND`] packets in slow start.
    pub fn new() -> Self {
        Cubic {
            cwnd: INITIAL_CWND as f64,
            ssthresh: f64::INFINITY,
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
        }
    }

    /// The congestion window in whole packets (≥ 1).
    pub fn window(&self) -> u32 {
        (self.cwnd as u32).max(1)
    }

    /// Whether the window is still in slow start.
    pub fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// `acked` packets were newly delivered at `now_ms` while the window was in use;
    /// `rtt_ms` is the smoothed RTT.
    pub fn on_ack(&mut self, acked: u32, now_ms: u64, rtt_ms: u32) {
        let acked = acked as f64;
        if self.cwnd < self.ssthresh {
            self.cwnd = (self.cwnd + acked).min(MAX_CWND);
            return;
        }
        let start = match self.epoch_start {
            Some(t) => t,
            None => {
                self.epoch_start = Some(now_ms);
                if self.cwnd < self.w_max {
                    self.k = ((self.w_max - self.cwnd) / C).cbrt();
                } else {
                    self.k = 0.0;
                    self.w_max = self.cwnd;
                }
                self.w_est = self.cwnd;
                now_ms
            }
        };
        let t = (now_ms.saturating_sub(start) + rtt_ms as u64) as f64 / 1000.0;
        let target = (C * (t - self.k).powi(3) + self.w_max).clamp(self.cwnd, 1.5 * self.cwnd);
        // Reno-friendly estimate: grows by 3(1−β)/(1+β) packets per window.
        self.w_est += acked * (3.0 * (1.0 - BETA) / (1.0 + BETA)) / self.cwnd;
        let goal = if self.w_est > target { self.w_est } else { target };
        self.cwnd = (self.cwnd + acked * (goal - self.cwnd).max(0.0) / self.cwnd).min(MAX_CWND);
    }

    /// A loss was detected (once per round of recovery).
    pub fn on_congestion_event(&mut self) {
        self.w_max = if self.cwnd < self.w_max { self.cwnd * (1.0 + BETA) / 2.0 } else { self.cwnd };
        self.ssthresh = (self.cwnd * BETA).max(MIN_CWND);
        self.cwnd = self.ssthresh;
        self.epoch_start = None;
    }

    /// The retransmission timer expired: back to one packet, slow start up to the new
    /// threshold.
    pub fn on_rto(&mut self) {
        if self.cwnd > 1.0 {
            self.w_max = self.cwnd;
            self.ssthresh = (self.cwnd * BETA).max(MIN_CWND);
        }
        self.cwnd = 1.0;
        self.epoch_start = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_decrease_then_cubic_growth() {
        let mut c = Cubic::new();
        assert_eq!(c.window(), 10);
        c.on_ack(10, 0, 10);
        assert_eq!(c.window(), 20);
        assert!(c.in_slow_start());
        c.on_congestion_event();
        assert_eq!(c.window(), 14);
        assert!(!c.in_slow_start());
        // growth is concave back towards w_max = 20, then convex beyond it
        let mut now = 0;
        let mut last = c.window();
        for _ in 0..200 {
            now += 10;
            c.on_ack(c.window(), now, 10);
            assert!(c.window() >= last);
            last = c.window();
        }
        assert!(c.window() > 20, "window {}", c.window());
        c.on_rto();
        assert_eq!(c.window(), 1);
        assert!(c.in_slow_start());
        c.on_ack(1, now, 10);
        assert_eq!(c.window(), 2);
    }

    #[test]
    fn window_is_bounded() {
        let mut c = Cubic::new();
        for i in 0..100 {
            c.on_ack(100_000, i, 1);
        }
        assert_eq!(c.window(), MAX_CWND as u32);
        for _ in 0..100 {
            c.on_congestion_event();
        }
        assert_eq!(c.window(), MIN_CWND as u32);
    }
}
