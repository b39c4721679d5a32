//! The outbound request window (`lib/io.js CongestionWindow`): four slots, one drained every
//! 750 ms; sending is paused while the current slot holds `max_window` requests or all four hold
//! `2 × max_window`. A reply (or a cancelled request) frees one unit of the current slot.

/// JS `DEFAULT_MAX_WINDOW`.
pub const DEFAULT_MAX_WINDOW: u32 = 80;

/// Milliseconds between drains.
pub const DRAIN_INTERVAL_MS: u64 = 750;

/// The window state.
#[derive(Debug, Clone)]
pub struct CongestionWindow {
    i: usize,
    total: u32,
    window: [u32; 4],
    max_window: u32,
}

impl CongestionWindow {
    /// A window with `max_window` per slot.
    pub fn new(max_window: u32) -> Self {
        CongestionWindow { i: 0, total: 0, window: [0; 4], max_window: max_window.max(1) }
    }

    /// Whether sending must wait for a drain.
    pub fn is_full(&self) -> bool {
        self.total >= 2 * self.max_window || self.window[self.i] >= self.max_window
    }

    /// A request went out.
    pub fn send(&mut self) {
        self.total += 1;
        self.window[self.i] += 1;
    }

    /// A reply came back (or a request was dropped).
    pub fn recv(&mut self) {
        if self.window[self.i] > 0 {
            self.window[self.i] -= 1;
            self.total -= 1;
        }
    }

    /// Moves to the next slot and forgets what it held.
    pub fn drain(&mut self) {
        self.i = (self.i + 1) & 3;
        self.total -= self.window[self.i];
        self.window[self.i] = 0;
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = CongestionWindow::new(self.max_window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_per_slot_and_in_total() {
        let mut w = CongestionWindow::new(2);
        assert!(!w.is_full());
        w.send();
        w.send();
        assert!(w.is_full(), "slot full at max_window");
        w.recv();
        assert!(!w.is_full());
        w.send();
        w.drain();
        assert!(!w.is_full(), "new slot");
        w.send();
        w.send();
        assert!(w.is_full(), "total reached 2 × max_window");
        w.drain();
        assert!(w.is_full(), "still 4 in total (2 + 2)");
        w.drain();
        assert!(w.is_full());
        w.drain();
        assert!(!w.is_full(), "the first slot's two were forgotten");
        w.drain();
        assert!(!w.is_full());
        w.recv();
        w.recv();
        w.recv();
        assert_eq!(w.total, 0, "recv never goes below zero");
    }
}
