//! The protomux frame format (npm `protomux` 3.x), byte for byte.
//!
//! Every frame is `uint channel ‖ uint type ‖ payload`. Channel 0 is the control session:
//!
//! | type | payload |
//! |---|---|
//! | 0 batch  | `uint channel (uint len, bytes[len])*`; a `len` of 0 is followed by `uint channel`, switching the channel of the entries after it. Each entry is `uint type ‖ payload` of one message. |
//! | 1 open   | `uint local id ‖ string protocol ‖ buffer id (empty = none) ‖ handshake (rest)` |
//! | 2 reject | `uint id` (the rejected opener's local id) |
//! | 3 close  | `uint local id` |
//!
//! Ids in `open` and `close` are the sender's own; `reject` names the receiver's id.

use crate::encoding::{put_optional_buffer, put_string, put_uint, uint_len, DecodeError, Decoder};

/// Control message type: a batch of messages.
pub const TYPE_BATCH: u64 = 0;
/// Control message type: open a channel.
pub const TYPE_OPEN: u64 = 1;
/// Control message type: refuse a remote open.
pub const TYPE_REJECT: u64 = 2;
/// Control message type: close a channel.
pub const TYPE_CLOSE: u64 = 3;

/// JS `MAX_BATCH`: a corked batch is sent once it reaches this size (8 MiB), before the next
/// message is added.
pub const MAX_BATCH: usize = 8 * 1024 * 1024;

/// A decoded `open` control message, borrowing the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenMessage<'a> {
    /// The sender's local id for the channel (our remote id).
    pub remote_id: u64,
    /// Protocol name.
    pub protocol: &'a str,
    /// Channel id (`None` when empty on the wire).
    pub id: Option<&'a [u8]>,
    /// The rest of the message: the protocol's handshake.
    pub handshake: &'a [u8],
}

impl<'a> OpenMessage<'a> {
    /// Decodes the payload of an `open` (after `uint type`).
    pub fn decode(payload: &'a [u8]) -> Result<Self, DecodeError> {
        let mut dec = Decoder::new(payload);
        let remote_id = dec.uint()?;
        let protocol = dec.string()?;
        let id = dec.optional_buffer()?;
        Ok(OpenMessage { remote_id, protocol, id, handshake: dec.rest() })
    }
}

/// Appends the control body `1 ‖ open payload` (a channel-0 message without its channel).
pub fn put_open(out: &mut Vec<u8>, local_id: u32, protocol: &str, id: Option<&[u8]>, handshake: &[u8]) {
    put_uint(out, TYPE_OPEN);
    put_uint(out, u64::from(local_id));
    put_string(out, protocol);
    put_optional_buffer(out, id);
    out.extend_from_slice(handshake);
}

/// Appends the control body `2 ‖ uint id`.
pub fn put_reject(out: &mut Vec<u8>, remote_id: u32) {
    put_uint(out, TYPE_REJECT);
    put_uint(out, u64::from(remote_id));
}

/// Appends the control body `3 ‖ uint id`.
pub fn put_close(out: &mut Vec<u8>, local_id: u32) {
    put_uint(out, TYPE_CLOSE);
    put_uint(out, u64::from(local_id));
}

/// The entries of a batch payload (after `uint type`), as JS `_onbatch` walks them: a
/// zero length switches the channel, and a length running past the end is cut to what is
/// left (JS `Math.min(start + len, end)`).
#[derive(Debug, Clone)]
pub struct BatchEntries<'a> {
    dec: Decoder<'a>,
    channel: u64,
}

impl<'a> BatchEntries<'a> {
    /// Starts reading a batch payload; fails if it lacks the first channel id.
    pub fn new(payload: &'a [u8]) -> Result<Self, DecodeError> {
        let mut dec = Decoder::new(payload);
        let channel = dec.uint()?;
        Ok(BatchEntries { dec, channel })
    }
}

impl<'a> Iterator for BatchEntries<'a> {
    /// `(channel, uint type ‖ payload)` of one message.
    type Item = Result<(u64, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.dec.is_empty() {
                return None;
            }
            let len = match self.dec.uint() {
                Ok(len) => len,
                Err(e) => return Some(Err(e)),
            };
            if len == 0 {
                match self.dec.uint() {
                    Ok(channel) => self.channel = channel,
                    Err(e) => return Some(Err(e)),
                }
                continue;
            }
            let n = usize::try_from(len).unwrap_or(usize::MAX).min(self.dec.remaining());
            return Some(self.dec.take(n).map(|entry| (self.channel, entry)));
        }
    }
}

/// The batch being collected while corked (JS `_batch` / `_pushBatch` / `_sendBatch`),
/// encoded as it grows.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    last: Option<u32>,
}

impl BatchBuilder {
    /// Starts an entry of exactly `len` bytes for channel `local_id` and returns the buffer
    /// to append them to. When the batch already holds [`MAX_BATCH`] bytes it is finished
    /// first and handed to `flush`, as JS does.
    pub fn entry(&mut self, local_id: u32, len: usize, flush: impl FnOnce(Vec<u8>)) -> &mut Vec<u8> {
        if self.buf.len() >= MAX_BATCH {
            if let Some(frame) = self.finish() {
                flush(frame);
            }
        }
        if self.last != Some(local_id) {
            if self.last.is_none() {
                self.buf.reserve(2 + uint_len(u64::from(local_id)) + uint_len(len as u64) + len);
                self.buf.extend_from_slice(&[0, TYPE_BATCH as u8]);
            } else {
                self.buf.push(0);
            }
            put_uint(&mut self.buf, u64::from(local_id));
            self.last = Some(local_id);
        }
        put_uint(&mut self.buf, len as u64);
        &mut self.buf
    }

    /// The batch frame, if any entry was added; the builder is empty afterwards.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        self.last.take()?;
        Some(std::mem::take(&mut self.buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_round_trip_and_empty_id() {
        let mut out = vec![0];
        put_open(&mut out, 3, "p", Some(b"ab"), b"hs");
        assert_eq!(hex::encode(&out), "00010301700261626873");
        let open = OpenMessage::decode(&out[2..]).unwrap();
        assert_eq!(open, OpenMessage { remote_id: 3, protocol: "p", id: Some(b"ab"), handshake: b"hs" });
        let mut out = Vec::new();
        put_open(&mut out, 1, "p", Some(b""), b"");
        assert_eq!(OpenMessage::decode(&out[1..]).unwrap().id, None);
    }

    #[test]
    fn batch_builder_switches_channels_like_js() {
        let mut b = BatchBuilder::default();
        b.entry(1, 2, |_| unreachable!()).extend_from_slice(&[0, 9]);
        b.entry(1, 1, |_| unreachable!()).push(5);
        b.entry(0, 2, |_| unreachable!()).extend_from_slice(&[3, 1]);
        let frame = b.finish().unwrap();
        assert_eq!(frame, [0, 0, 1, 2, 0, 9, 1, 5, 0, 0, 2, 3, 1]);
        assert!(b.finish().is_none());
        let entries: Vec<_> = BatchEntries::new(&frame[2..]).unwrap().map(Result::unwrap).collect();
        assert_eq!(entries, [(1, &[0, 9][..]), (1, &[5][..]), (0, &[3, 1][..])]);
    }

    #[test]
    fn batch_entries_cut_overlong_lengths_and_reject_truncation() {
        let entries: Vec<_> = BatchEntries::new(&[4, 9, 1, 2]).unwrap().collect();
        assert_eq!(entries, [Ok((4, &[1, 2][..]))]);
        assert!(BatchEntries::new(&[]).is_err());
        assert!(BatchEntries::new(&[1, 0]).unwrap().next().unwrap().is_err());
        assert!(BatchEntries::new(&[1]).unwrap().next().is_none());
    }

    #[test]
    fn batch_flushes_at_max_batch() {
        let mut b = BatchBuilder::default();
        let big = vec![7u8; MAX_BATCH];
        b.entry(1, big.len(), |_| unreachable!()).extend_from_slice(&big);
        let mut flushed = None;
        b.entry(1, 1, |f| flushed = Some(f)).push(1);
        let first = flushed.unwrap();
        assert_eq!(first.len(), 3 + 5 + MAX_BATCH);
        assert_eq!(b.finish().unwrap(), [0, 0, 1, 1, 1]);
    }
}
