//! Per-direction sequencing, replay and acknowledgement of `hyperwasm-relay/1` (PROTOCOL.md
//! §4), the same for both ends.
//!
//! Sequenced messages are numbered implicitly from 1 in the order sent. [`Reliable`] keeps:
//! - **outbound**: every sequenced message sent and not yet acknowledged (the replay buffer,
//!   bounded in bytes); an `ack{received}` drops the first `received`; on resume the peer's
//!   `received` drops what it got and [`Reliable::resume`] hands back the rest, in order;
//! - **inbound**: how many sequenced messages were processed, and when an `ack` is due — after
//!   [`ACK_EVERY_MESSAGES`] messages or [`ACK_EVERY_BYTES`] bytes since the last ack, or
//!   [`ACK_DELAY_MS`] after the first unacknowledged message arrived.
//!
//! It holds encoded payloads and does no I/O: the owner sends, and calls back in.

use std::collections::VecDeque;

use super::errors::RelayError;

/// An ack is due after this many unacknowledged sequenced messages.
pub const ACK_EVERY_MESSAGES: u64 = 64;
/// An ack is due after this many unacknowledged payload bytes (256 KiB).
pub const ACK_EVERY_BYTES: usize = 256 * 1024;
/// An ack is due this long after the first unacknowledged message arrived.
pub const ACK_DELAY_MS: u64 = 200;
/// Bytes counted per replayed message on top of its payload (type, framing).
pub const MESSAGE_OVERHEAD: usize = 16;

/// One sequenced message kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Its sequence number (1-based).
    pub seq: u64,
    /// Its message type.
    pub message_type: u64,
    /// Its encoded payload.
    pub payload: Vec<u8>,
}

/// The sequencing state of one session end (see the module docs).
#[derive(Debug, Clone)]
pub struct Reliable {
    sent: u64,
    acked: u64,
    replay: VecDeque<Sent>,
    replay_bytes: usize,
    max_replay_bytes: usize,
    received: u64,
    acked_to_peer: u64,
    unacked_bytes: usize,
    ack_deadline: Option<u64>,
}

impl Reliable {
    /// A fresh session end whose replay buffer holds at most `max_replay_bytes` (payloads plus
    /// [`MESSAGE_OVERHEAD`] each).
    pub fn new(max_replay_bytes: usize) -> Self {
        Reliable {
            sent: 0,
            acked: 0,
            replay: VecDeque::new(),
            replay_bytes: 0,
            max_replay_bytes,
            received: 0,
            acked_to_peer: 0,
            unacked_bytes: 0,
            ack_deadline: None,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Outbound

    /// Records a sequenced message about to be sent and returns its sequence number. Fails
    /// with [`RelayError::ReplayFull`] (recording nothing) if it does not fit the bound.
    pub fn push(&mut self, message_type: u64, payload: Vec<u8>) -> Result<u64, RelayError> {
        let cost = payload.len() + MESSAGE_OVERHEAD;
        if cost > self.replay_room() {
            return Err(RelayError::ReplayFull { bytes: self.replay_bytes });
        }
        self.sent += 1;
        self.replay_bytes += cost;
        self.replay.push_back(Sent { seq: self.sent, message_type, payload });
        Ok(self.sent)
    }

    /// Bytes the replay buffer can still take (payloads plus overhead).
    pub fn replay_room(&self) -> usize {
        self.max_replay_bytes.saturating_sub(self.replay_bytes)
    }

    /// Bytes held for replay.
    pub fn replay_bytes(&self) -> usize {
        self.replay_bytes
    }

    /// Messages held for replay.
    pub fn replay_len(&self) -> usize {
        self.replay.len()
    }

    /// Sequenced messages sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Sequenced messages the peer acknowledged.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// The peer's `ack{received}` (or the `received` of its `hello`/`welcome`): drops what
    /// it acknowledged. An ack below an earlier one is stale and ignored; one above what was
    /// sent is a protocol error.
    pub fn on_ack(&mut self, received: u64) -> Result<(), RelayError> {
        if received > self.sent {
            return Err(RelayError::protocol(format!("ack of {received} but only {} sent", self.sent)));
        }
        if received <= self.acked {
            return Ok(());
        }
        self.acked = received;
        while self.replay.front().is_some_and(|m| m.seq <= received) {
            if let Some(m) = self.replay.pop_front() {
                self.replay_bytes -= m.payload.len() + MESSAGE_OVERHEAD;
            }
        }
        Ok(())
    }

    /// Resuming: applies the peer's `received` and returns every message it did not get, in
    /// order, to send again (they stay held until acknowledged).
    pub fn resume(&mut self, peer_received: u64) -> Result<impl Iterator<Item = &Sent> + '_, RelayError> {
        self.on_ack(peer_received)?;
        Ok(self.replay.iter())
    }

    /// Forgets every held message and resets the outbound count (a new session).
    pub fn reset_outbound(&mut self) {
        self.sent = 0;
        self.acked = 0;
        self.replay.clear();
        self.replay_bytes = 0;
    }

    // -----------------------------------------------------------------------------------------
    // Inbound

    /// Sequenced messages processed (what `ack`, `hello` and `welcome` carry).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Counts one processed sequenced message of `len` payload bytes arriving at `now_ms`.
    pub fn on_receive(&mut self, len: usize, now_ms: u64) {
        self.received += 1;
        self.unacked_bytes = self.unacked_bytes.saturating_add(len);
        if self.ack_deadline.is_none() {
            self.ack_deadline = Some(now_ms.saturating_add(ACK_DELAY_MS));
        }
    }

    /// Whether an `ack` should be sent now.
    pub fn ack_due(&self, now_ms: u64) -> bool {
        let unacked = self.received - self.acked_to_peer;
        unacked > 0
            && (unacked >= ACK_EVERY_MESSAGES
                || self.unacked_bytes >= ACK_EVERY_BYTES
                || self.ack_deadline.is_some_and(|d| now_ms >= d))
    }

    /// The `received` to put in an `ack` being sent now; clears the schedule.
    pub fn take_ack(&mut self) -> u64 {
        self.acked_to_peer = self.received;
        self.unacked_bytes = 0;
        self.ack_deadline = None;
        self.received
    }

    /// The peer learnt `received` another way (our `hello` / `welcome`): nothing to ack.
    pub fn acked_implicitly(&mut self) {
        self.take_ack();
    }

    /// Forgets the inbound count (a new session).
    pub fn reset_inbound(&mut self) {
        self.received = 0;
        self.take_ack();
    }

    /// When [`ack_due`](Self::ack_due) will turn true without more input.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.ack_deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_drop_what_the_peer_got_and_resume_resends_the_rest_in_order() {
        let mut r = Reliable::new(10_000);
        for i in 0..5u8 {
            assert_eq!(r.push(40, vec![i; 10]).unwrap(), u64::from(i) + 1);
        }
        assert_eq!((r.sent(), r.replay_len(), r.replay_bytes()), (5, 5, 5 * 26));
        r.on_ack(2).unwrap();
        assert_eq!((r.acked(), r.replay_len(), r.replay_bytes()), (2, 3, 3 * 26));
        r.on_ack(1).unwrap(); // stale
        assert_eq!(r.acked(), 2);
        assert!(r.on_ack(6).unwrap_err().is_protocol_violation());
        let again: Vec<u64> = r.resume(3).unwrap().map(|m| m.seq).collect();
        assert_eq!(again, [4, 5]);
        // Still held until acknowledged.
        let again: Vec<u8> = r.resume(3).unwrap().map(|m| m.payload[0]).collect();
        assert_eq!(again, [3, 4]);
        r.on_ack(5).unwrap();
        assert_eq!((r.replay_len(), r.replay_bytes(), r.resume(5).unwrap().count()), (0, 0, 0));
    }

    #[test]
    fn the_replay_buffer_is_bounded() {
        let mut r = Reliable::new(100);
        r.push(40, vec![0; 60]).unwrap();
        assert_eq!(r.replay_room(), 24);
        assert_eq!(r.push(40, vec![0; 9]).unwrap_err(), RelayError::ReplayFull { bytes: 76 });
        assert_eq!(r.sent(), 1);
        r.push(40, vec![0; 8]).unwrap();
        assert_eq!(r.replay_room(), 0);
        r.on_ack(1).unwrap();
        assert_eq!(r.replay_room(), 76);
    }

    #[test]
    fn acks_are_due_every_64_messages_256_kib_or_200_ms() {
        let mut r = Reliable::new(0);
        assert!(!r.ack_due(1_000_000));
        for i in 0..63 {
            r.on_receive(10, 1000 + i);
            assert!(!r.ack_due(1000 + i), "{i}");
        }
        assert_eq!(r.poll_timeout(), Some(1200));
        assert!(r.ack_due(1200));
        r.on_receive(10, 1100);
        assert!(r.ack_due(1100));
        assert_eq!(r.take_ack(), 64);
        assert_eq!((r.poll_timeout(), r.ack_due(5000)), (None, false));
        r.on_receive(ACK_EVERY_BYTES - 1, 2000);
        assert!(!r.ack_due(2000));
        r.on_receive(1, 2001);
        assert!(r.ack_due(2001));
        assert_eq!(r.take_ack(), 66);
        r.on_receive(1, 3000);
        assert!(!r.ack_due(3199) && r.ack_due(3200));
        r.acked_implicitly();
        assert!(!r.ack_due(9999));
        r.reset_inbound();
        assert_eq!(r.received(), 0);
    }
}
