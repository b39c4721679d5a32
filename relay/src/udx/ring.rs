//! A growable byte ring with a hard limit: the send buffer (unacked + unsent bytes) and the
//! receive buffer (in-order bytes the application has not read). Storage grows by doubling on
//! demand, so an idle stream holds little memory; bytes are copied in once and out once.

/// Smallest storage allocated once the ring holds anything.
const MIN_CAPACITY: usize = 16 * 1024;

/// A FIFO of bytes with random-access copies out of it.
#[derive(Debug, Default)]
pub(crate) struct ByteRing {
    buf: Vec<u8>,
    head: usize,
    len: usize,
    limit: usize,
}

impl ByteRing {
    /// An empty ring that never holds more than `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        ByteRing { buf: Vec::new(), head: 0, len: 0, limit }
    }

    /// Bytes held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes that may still be pushed.
    #[inline]
    pub(crate) fn free(&self) -> usize {
        self.limit.saturating_sub(self.len)
    }

    /// The hard limit.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Appends as much of `data` as fits under the limit; returns how much.
    pub(crate) fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        self.reserve(self.len + n);
        let cap = self.buf.len();
        let tail = (self.head + self.len) & (cap - 1);
        let first = n.min(cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        if first < n {
            self.buf[..n - first].copy_from_slice(&data[first..n]);
        }
        self.len += n;
        n
    }

    /// Appends `len` bytes starting `offset` bytes after the front to `out` (clamped to what
    /// is held).
    pub(crate) fn copy_to(&self, offset: usize, len: usize, out: &mut Vec<u8>) {
        if offset >= self.len {
            return;
        }
        let len = len.min(self.len - offset);
        if len == 0 {
            return;
        }
        let cap = self.buf.len();
        let start = (self.head + offset) & (cap - 1);
        let first = len.min(cap - start);
        out.extend_from_slice(&self.buf[start..start + first]);
        if first < len {
            out.extend_from_slice(&self.buf[..len - first]);
        }
    }

    /// Drops `n` bytes from the front (clamped).
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        self.len -= n;
        self.head = if self.len == 0 { 0 } else { (self.head + n) & (self.buf.len() - 1) };
    }

    /// Moves up to `max` bytes from the front to the end of `out`; returns how many.
    pub(crate) fn read_into(&mut self, out: &mut Vec<u8>, max: usize) -> usize {
        let n = max.min(self.len);
        self.copy_to(0, n, out);
        self.consume(n);
        n
    }

    /// Frees the storage (the ring stays usable).
    pub(crate) fn release(&mut self) {
        self.buf = Vec::new();
        self.head = 0;
        self.len = 0;
    }

    /// Makes the storage hold at least `needed` bytes, keeping the contents in order.
    fn reserve(&mut self, needed: usize) {
        if needed <= self.buf.len() {
            return;
        }
        let cap = needed.max(MIN_CAPACITY).next_power_of_two();
        let mut next = vec![0u8; cap];
        let old = self.buf.len();
        if old > 0 {
            let first = self.len.min(old - self.head);
            next[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
            next[first..self.len].copy_from_slice(&self.buf[..self.len - first]);
        }
        self.buf = next;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_grows_and_limits() {
        let mut r = ByteRing::new(40_000);
        let data: Vec<u8> = (0..30_000u32).map(|i| i as u8).collect();
        assert_eq!(r.push(&data[..10_000]), 10_000);
        let mut out = Vec::new();
        assert_eq!(r.read_into(&mut out, 9_000), 9_000);
        assert_eq!(out, &data[..9_000]);
        // wraps around the 16 KiB storage
        assert_eq!(r.push(&data[10_000..20_000]), 10_000);
        let mut mid = Vec::new();
        r.copy_to(500, 2_000, &mut mid);
        assert_eq!(mid, &data[9_500..11_500]);
        // grows while wrapped
        assert_eq!(r.push(&data[20_000..30_000]), 10_000);
        assert_eq!(r.len(), 21_000);
        // limit
        assert_eq!(r.push(&data), 19_000);
        assert_eq!(r.free(), 0);
        out.clear();
        r.read_into(&mut out, 21_000);
        assert_eq!(out, &data[9_000..30_000]);
        r.copy_to(1_000_000, 5, &mut out);
        r.consume(usize::MAX);
        assert!(r.is_empty());
    }
}
