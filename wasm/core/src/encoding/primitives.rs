//! Primitive codecs: `uint`, fixed-width little-endian integers, fixed byte arrays, buffers,
//! strings, arrays and `uint32array`, matching `compact-encoding` byte for byte.

use super::{DecodeError, MAX_ARRAY_LEN, MAX_SAFE_INTEGER};

/// A cursor over bytes being decoded.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// Starts decoding at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// Current read offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { offset: self.pos, needed: n - self.remaining() });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes every remaining byte (`c.raw`).
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// `c.uint8`.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// `c.uint16` (little-endian).
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// `c.uint24` (little-endian).
    pub fn u24(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(3)?;
        Ok(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
    }

    /// `c.uint32` (little-endian).
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// `c.uint64` (little-endian).
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `c.uint`: the variable-length unsigned integer, at most 2^53 − 1.
    pub fn uint(&mut self) -> Result<u64, DecodeError> {
        let value = match self.u8()? {
            0xfd => u64::from(self.u16()?),
            0xfe => u64::from(self.u32()?),
            0xff => self.u64()?,
            b => u64::from(b),
        };
        if value > MAX_SAFE_INTEGER {
            return Err(DecodeError::UintTooLarge(value));
        }
        Ok(value)
    }

    /// `c.uint` narrowed to `usize` (for lengths and counts).
    pub fn usize(&mut self) -> Result<usize, DecodeError> {
        let v = self.uint()?;
        usize::try_from(v).map_err(|_| DecodeError::UintTooLarge(v))
    }

    /// `c.uint` narrowed to `u32`.
    pub fn uint_u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let v = self.uint()?;
        u32::try_from(v).map_err(|_| DecodeError::invalid(what, format!("{v} does not fit 32 bits")))
    }

    /// `c.bool`.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }

    /// `c.buffer`: length-prefixed bytes.
    pub fn buffer(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.usize()?;
        self.take(len)
    }

    /// `c.optionalBuffer` (and 2.x `c.buffer`): length 0 decodes as `None`.
    pub fn optional_buffer(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        let bytes = self.buffer()?;
        Ok(if bytes.is_empty() { None } else { Some(bytes) })
    }

    /// `c.string` / `c.utf8`.
    pub fn string(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.buffer()?).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// The element count of `c.array`, checked against the JS limit.
    pub fn array_len(&mut self) -> Result<usize, DecodeError> {
        let n = self.uint()?;
        if n > MAX_ARRAY_LEN {
            return Err(DecodeError::ArrayTooLarge(n));
        }
        // Each element takes at least one byte: a count beyond the input is truncated.
        if n > self.remaining() as u64 {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: (n - self.remaining() as u64) as usize,
            });
        }
        Ok(n as usize)
    }

    /// `c.array(item)`.
    pub fn array_of<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.array_len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// `c.uint32array`: a count of words followed by little-endian `u32`s.
    pub fn uint32_array(&mut self) -> Result<Vec<u32>, DecodeError> {
        let n = self.usize()?;
        let bytes = self.take(n.checked_mul(4).ok_or(DecodeError::UintTooLarge(n as u64))?)?;
        Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

/// Appends `c.uint`. Values above 2^53 − 1 are a caller bug: JS would throw.
pub fn put_uint(out: &mut Vec<u8>, n: u64) {
    debug_assert!(n <= MAX_SAFE_INTEGER, "uint {n} exceeds 2^53 - 1");
    if n <= 0xfc {
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(0xfd);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else if n <= 0xffff_ffff {
        out.push(0xfe);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    } else {
        out.push(0xff);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// Bytes `c.uint` takes for `n`.
pub fn uint_len(n: u64) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Appends `c.uint24` (little-endian).
pub fn put_u24(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes()[..3]);
}

/// Appends `c.uint64` (little-endian).
pub fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

/// Appends `c.buffer`.
pub fn put_buffer(out: &mut Vec<u8>, bytes: &[u8]) {
    put_uint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends `c.optionalBuffer` (`None` as a zero length).
pub fn put_optional_buffer(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    put_buffer(out, bytes.unwrap_or_default());
}

/// Appends `c.string`.
pub fn put_string(out: &mut Vec<u8>, s: &str) {
    put_buffer(out, s.as_bytes());
}

/// Appends `c.array(item)`.
pub fn put_array<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    put_uint(out, items.len() as u64);
    for it in items {
        item(out, it);
    }
}

/// Appends `c.uint32array`.
pub fn put_uint32_array(out: &mut Vec<u8>, words: &[u32]) {
    put_uint(out, words.len() as u64);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uint_bytes(n: u64) -> Vec<u8> {
        let mut v = Vec::new();
        put_uint(&mut v, n);
        v
    }

    #[test]
    fn uint_thresholds_round_trip() {
        for n in [0, 1, 0xfc, 0xfd, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, MAX_SAFE_INTEGER] {
            let b = uint_bytes(n);
            assert_eq!(b.len(), uint_len(n), "length of {n}");
            let mut d = Decoder::new(&b);
            assert_eq!(d.uint().unwrap(), n);
            assert!(d.is_empty());
        }
        assert_eq!(uint_bytes(0xfd), [0xfd, 0xfd, 0x00]);
    }

    #[test]
    fn uint_rejects_unsafe_and_truncated() {
        let mut b = vec![0xff];
        b.extend_from_slice(&(MAX_SAFE_INTEGER + 1).to_le_bytes());
        assert_eq!(Decoder::new(&b).uint(), Err(DecodeError::UintTooLarge(MAX_SAFE_INTEGER + 1)));
        assert!(matches!(Decoder::new(&[0xfe, 1]).uint(), Err(DecodeError::Truncated { .. })));
    }

    #[test]
    fn array_counts_are_bounded() {
        let mut b = Vec::new();
        put_uint(&mut b, MAX_ARRAY_LEN + 1);
        assert_eq!(Decoder::new(&b).array_len(), Err(DecodeError::ArrayTooLarge(MAX_ARRAY_LEN + 1)));
        // A count larger than the remaining bytes cannot be satisfied.
        assert!(matches!(Decoder::new(&[5, 1]).array_len(), Err(DecodeError::Truncated { .. })));
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut d = Decoder::new(&bytes);
            let _ = d.uint();
            let _ = d.buffer();
            let _ = d.string();
            let _ = d.uint32_array();
            let _ = d.array_of(|d| d.uint());
        }
    }
}
