//! Per-stream flow-control credit of `hyperwasm-relay/1` (PROTOCOL.md §8), both directions,
//! the same for both ends.
//!
//! `open`/`incoming` grant `credit` bytes each way. A sender sends `data` only within what it
//! was granted ([`StreamCredit::send_allowance`]); each `credit{bytes}` grants more. A receiver
//! refuses data beyond what it granted ([`RelayError::CreditExceeded`]) and grants again as its
//! application consumes bytes, once they add up to half the initial grant, so at most one
//! grant is ever outstanding and what it buffers stays below it.

use super::errors::RelayError;
use crate::encoding::MAX_SAFE_INTEGER;

/// Credit of one stream, both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCredit {
    stream: u32,
    send: u64,
    grant: u64,
    recv_window: u64,
    unconsumed: u64,
    consumed: u64,
}

impl StreamCredit {
    /// A stream opened with `initial` bytes of credit each way.
    pub fn new(stream: u32, initial: u64) -> Self {
        let initial = initial.min(MAX_SAFE_INTEGER);
        StreamCredit {
            stream,
            send: initial,
            grant: initial,
            recv_window: initial,
            unconsumed: 0,
            consumed: 0,
        }
    }

    /// Bytes we may still send.
    pub fn send_allowance(&self) -> u64 {
        self.send
    }

    /// Spends `n` bytes of send credit; refuses (spending nothing) beyond the allowance.
    pub fn on_send(&mut self, n: u64) -> Result<(), RelayError> {
        if n > self.send {
            return Err(RelayError::InvalidState("data beyond the credit granted"));
        }
        self.send -= n;
        Ok(())
    }

    /// The peer's `credit{bytes}`: more send allowance (kept below 2^53).
    pub fn on_credit(&mut self, bytes: u64) {
        self.send = self.send.saturating_add(bytes).min(MAX_SAFE_INTEGER);
    }

    /// Bytes the peer may still send us.
    pub fn recv_window(&self) -> u64 {
        self.recv_window
    }

    /// Bytes received and not yet reported consumed.
    pub fn unconsumed(&self) -> u64 {
        self.unconsumed
    }

    /// The peer's `data` of `n` bytes; beyond the window it is refused.
    pub fn on_receive(&mut self, n: u64) -> Result<(), RelayError> {
        if n > self.recv_window {
            return Err(RelayError::CreditExceeded { stream: self.stream });
        }
        self.recv_window -= n;
        self.unconsumed += n;
        Ok(())
    }

    /// The application consumed `n` received bytes (clamped to what it holds). Returns the
    /// bytes to grant in a `credit` message when the consumed bytes reached half the initial
    /// grant (or when the window would otherwise close with nothing left to consume).
    pub fn on_consumed(&mut self, n: u64) -> Option<u64> {
        let n = n.min(self.unconsumed);
        self.unconsumed -= n;
        self.consumed += n;
        let half = (self.grant / 2).max(1);
        if self.consumed >= half || (self.consumed > 0 && self.recv_window == 0 && self.unconsumed == 0) {
            let grant = std::mem::take(&mut self.consumed);
            self.recv_window += grant;
            return Some(grant);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sending_stops_at_the_credit_and_credit_reopens_it() {
        let mut c = StreamCredit::new(3, 100);
        c.on_send(60).unwrap();
        assert_eq!(c.send_allowance(), 40);
        assert_eq!(c.on_send(41).unwrap_err(), RelayError::InvalidState("data beyond the credit granted"));
        c.on_send(40).unwrap();
        assert!(c.on_send(1).is_err());
        c.on_credit(30);
        assert_eq!(c.send_allowance(), 30);
        c.on_credit(u64::MAX);
        assert_eq!(c.send_allowance(), MAX_SAFE_INTEGER);
    }

    #[test]
    fn receiving_beyond_the_window_is_refused_and_consumption_regrants_at_half() {
        let mut c = StreamCredit::new(7, 100);
        c.on_receive(70).unwrap();
        assert_eq!(c.on_receive(31).unwrap_err(), RelayError::CreditExceeded { stream: 7 });
        assert_eq!(RelayError::CreditExceeded { stream: 7 }.code(), "CREDIT_EXCEEDED");
        assert_eq!(c.on_consumed(49), None);
        assert_eq!(c.on_consumed(1), Some(50));
        assert_eq!((c.recv_window(), c.unconsumed()), (80, 20));
        // Consuming more than was received counts only what was.
        assert_eq!(c.on_consumed(1000), None);
        assert_eq!(c.unconsumed(), 0);
        c.on_receive(80).unwrap();
        assert_eq!(c.recv_window(), 0);
        assert_eq!(c.on_consumed(30), Some(50));
        // The total outstanding never exceeds the initial grant.
        assert!(c.recv_window() + c.unconsumed() <= 100);
        assert!(c.on_receive(51).is_err());
    }

    #[test]
    fn tiny_grants_still_reopen() {
        let mut c = StreamCredit::new(1, 1);
        c.on_receive(1).unwrap();
        assert_eq!(c.on_consumed(1), Some(1));
        let mut z = StreamCredit::new(1, 0);
        assert!(z.on_receive(1).is_err());
        assert_eq!(z.on_consumed(5), None);
    }
}
