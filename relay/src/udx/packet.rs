//! The UDX packet: a 20-byte header, optional SACK blocks, optional padding, payload.
//!
//! ```text
//! 0  magic 0xFF   1  version 1   2  type flags   3  data_offset
//! 4  id  u32 LE (the receiver's stream id)       8  rwnd u32 LE
//! 12 seq u32 LE                                  16 ack  u32 LE (next seq expected)
//! 20 [SACK blocks (start u32 LE, end u32 LE)…] [padding] payload
//! ```
//!
//! `data_offset` bytes between the header and the payload are skipped (libudx pads MTU probes
//! this way). A SACK packet's blocks fill `data_offset` bytes when `0 < data_offset < len`,
//! else the whole rest of the packet. Decoding never panics: every length is checked.

use super::HEADER_LEN;

/// First header byte of every UDX packet.
pub const MAGIC: u8 = 0xFF;
/// Second header byte: the wire version.
pub const VERSION: u8 = 1;

/// Type flag: the packet carries stream data and consumes a seq.
pub const FLAG_DATA: u8 = 0x01;
/// Type flag: the sender's last packet (consumes a seq, may carry data).
pub const FLAG_END: u8 = 0x02;
/// Type flag: the packet carries SACK blocks.
pub const FLAG_SACK: u8 = 0x04;
/// Type flag: an unordered datagram for the stream (does not consume a seq).
pub const FLAG_MESSAGE: u8 = 0x08;
/// Type flag: the sender destroyed the stream.
pub const FLAG_DESTROY: u8 = 0x10;
/// Type flag: a probe the receiver answers with an ACK.
pub const FLAG_HEARTBEAT: u8 = 0x20;

/// The fixed header of a UDX packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Type flags (`FLAG_*`); unknown bits are kept and ignored.
    pub flags: u8,
    /// Bytes between the header and the payload.
    pub data_offset: u8,
    /// The receiving stream's local id.
    pub id: u32,
    /// The sender's receive window in bytes.
    pub rwnd: u32,
    /// The packet's sequence number (or the sender's next one, for packets that consume none).
    pub seq: u32,
    /// The next sequence number the sender expects from us (cumulative).
    pub ack: u32,
}

impl Header {
    /// Appends the 20 header bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// The 20 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = MAGIC;
        b[1] = VERSION;
        b[2] = self.flags;
        b[3] = self.data_offset;
        b[4..8].copy_from_slice(&self.id.to_le_bytes());
        b[8..12].copy_from_slice(&self.rwnd.to_le_bytes());
        b[12..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..20].copy_from_slice(&self.ack.to_le_bytes());
        b
    }

    /// Parses the header, or `None` when `bytes` is shorter than 20 bytes or the magic or
    /// version do not match (then the datagram is not UDX).
    pub fn decode(bytes: &[u8]) -> Option<Header> {
        let h: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        if h[0] != MAGIC || h[1] != VERSION {
            return None;
        }
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        Some(Header {
            flags: h[2],
            data_offset: h[3],
            id: word(4),
            rwnd: word(8),
            seq: word(12),
            ack: word(16),
        })
    }

    /// Whether `flags` has all bits of `flag`.
    #[inline]
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }
}

/// The stream id of a UDX datagram (header checks only), `None` if it is not UDX.
pub fn peek_id(bytes: &[u8]) -> Option<u32> {
    Header::decode(bytes).map(|h| h.id)
}

/// Why a datagram with a valid UDX header could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the header, or wrong magic/version: not UDX at all.
    #[error("not a UDX packet")]
    NotUdx,
    /// `data_offset` points past the end of the datagram (libudx drops these).
    #[error("UDX data_offset beyond the packet")]
    BadDataOffset,
}

/// A decoded packet borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The fixed header.
    pub header: Header,
    /// Raw SACK block bytes (a multiple of 8; empty unless `FLAG_SACK`).
    sacks: &'a [u8],
    /// The payload after `data_offset` (stream data or a MESSAGE).
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses a datagram with libudx's rules for `data_offset` and SACK length.
    pub fn decode(bytes: &'a [u8]) -> Result<Packet<'a>, DecodeError> {
        let header = Header::decode(bytes).ok_or(DecodeError::NotUdx)?;
        let rest = bytes.get(HEADER_LEN..).unwrap_or(&[]);
        let off = header.data_offset as usize;
        let sacks = if header.has(FLAG_SACK) {
            let sack_len = if off > 0 && off < rest.len() { off } else { rest.len() };
            let whole = sack_len - sack_len % 8;
            rest.get(..whole).unwrap_or(&[])
        } else {
            &[]
        };
        let payload = rest.get(off..).ok_or(DecodeError::BadDataOffset)?;
        Ok(Packet { header, sacks, payload })
    }

    /// The SACK blocks `(start, end)` (half-open seq ranges), in wire order.
    pub fn sacks(&self) -> SackBlocks<'a> {
        SackBlocks { rest: self.sacks }
    }

    /// How many SACK blocks the packet carries.
    pub fn sack_count(&self) -> usize {
        self.sacks.len() / 8
    }
}

/// Iterator over a packet's SACK blocks.
#[derive(Debug, Clone)]
pub struct SackBlocks<'a> {
    rest: &'a [u8],
}

impl Iterator for SackBlocks<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        let (block, rest) = self.rest.split_first_chunk::<8>()?;
        self.rest = rest;
        let start = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        let end = u32::from_le_bytes([block[4], block[5], block[6], block[7]]);
        Some((start, end))
    }
}

/// Appends one SACK block to `out`.
pub fn write_sack(out: &mut Vec<u8>, start: u32, end: u32) {
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&end.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u8) -> Header {
        Header { flags, data_offset: 0, id: 0x0403_0201, rwnd: 4 << 20, seq: 0xFFFF_FFFE, ack: 7 }
    }

    #[test]
    fn header_layout_is_libudx() {
        let h = header(FLAG_DATA | FLAG_END);
        let b = h.to_bytes();
        assert_eq!(
            b,
            [
                0xFF, 0x01, 0x03, 0x00, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x40, 0x00, 0xFE, 0xFF, 0xFF,
                0xFF, 0x07, 0x00, 0x00, 0x00
            ]
        );
        assert_eq!(Header::decode(&b), Some(h));
    }

    #[test]
    fn every_flag_round_trips() {
        for flags in [0, FLAG_DATA, FLAG_END, FLAG_SACK, FLAG_MESSAGE, FLAG_DESTROY, FLAG_HEARTBEAT, 0xFF] {
            let h = header(flags);
            let mut v = Vec::new();
            h.write(&mut v);
            v.extend_from_slice(b"xy");
            let p = Packet::decode(&v).unwrap();
            assert_eq!(p.header, h);
            assert_eq!(p.header.flags, flags);
            if flags & FLAG_SACK != 0 {
                // two payload bytes are no whole block: no SACKs, payload intact
                assert_eq!(p.sack_count(), 0);
            }
            assert_eq!(p.payload, b"xy");
        }
    }

    #[test]
    fn not_udx() {
        assert_eq!(Header::decode(&[0xFF, 0x01]), None);
        let mut b = header(0).to_bytes();
        b[0] = 0xFE;
        assert_eq!(Packet::decode(&b), Err(DecodeError::NotUdx));
        let mut b = header(0).to_bytes();
        b[1] = 2;
        assert_eq!(peek_id(&b), None);
        assert_eq!(peek_id(&header(0).to_bytes()), Some(0x0403_0201));
    }

    #[test]
    fn data_offset_is_skipped() {
        let mut h = header(FLAG_DATA);
        h.data_offset = 3;
        let mut v = Vec::new();
        h.write(&mut v);
        v.extend_from_slice(&[0, 0, 0, 9, 8]);
        assert_eq!(Packet::decode(&v).unwrap().payload, &[9, 8]);
        // offset exactly at the end: empty payload
        v.truncate(23);
        assert_eq!(Packet::decode(&v).unwrap().payload, &[] as &[u8]);
        // offset past the end: dropped
        v.truncate(22);
        assert_eq!(Packet::decode(&v), Err(DecodeError::BadDataOffset));
    }

    #[test]
    fn sack_length_rules() {
        // no data_offset: the whole rest is SACK blocks (a trailing partial block is ignored)
        let mut v = Vec::new();
        header(FLAG_SACK).write(&mut v);
        write_sack(&mut v, 10, 12);
        write_sack(&mut v, 20, 25);
        v.extend_from_slice(&[1, 2, 3]);
        let p = Packet::decode(&v).unwrap();
        assert_eq!(p.sacks().collect::<Vec<_>>(), vec![(10, 12), (20, 25)]);

        // 0 < data_offset < len: data_offset bytes of SACK, then payload
        let mut h = header(FLAG_SACK | FLAG_DATA);
        h.data_offset = 8;
        let mut v = Vec::new();
        h.write(&mut v);
        write_sack(&mut v, 5, 6);
        v.extend_from_slice(b"data");
        let p = Packet::decode(&v).unwrap();
        assert_eq!(p.sacks().collect::<Vec<_>>(), vec![(5, 6)]);
        assert_eq!(p.payload, b"data");

        // data_offset == len: whole rest is SACK, payload empty
        let mut h = header(FLAG_SACK);
        h.data_offset = 8;
        let mut v = Vec::new();
        h.write(&mut v);
        write_sack(&mut v, 1, 2);
        let p = Packet::decode(&v).unwrap();
        assert_eq!(p.sack_count(), 1);
        assert!(p.payload.is_empty());

        // SACK blocks without the flag are payload
        let mut v = Vec::new();
        header(0).write(&mut v);
        write_sack(&mut v, 1, 2);
        let p = Packet::decode(&v).unwrap();
        assert_eq!(p.sack_count(), 0);
        assert_eq!(p.payload.len(), 8);
    }

    #[test]
    fn hostile_bytes_at_every_truncation_never_panic() {
        let mut full = Vec::new();
        let mut h = header(0xFF);
        h.data_offset = 0xFF;
        h.write(&mut full);
        for i in 0..300u32 {
            full.push((i.wrapping_mul(2_654_435_761) >> 24) as u8);
        }
        for flags in [0xFF, FLAG_SACK, FLAG_SACK | FLAG_DATA, FLAG_DATA] {
            for off in [0u8, 1, 7, 8, 9, 100, 255] {
                full[2] = flags;
                full[3] = off;
                for len in 0..=full.len() {
                    let bytes = &full[..len];
                    match Packet::decode(bytes) {
                        Ok(p) => {
                            assert!(len >= HEADER_LEN);
                            assert!(p.payload.len() + (off as usize) == len - HEADER_LEN);
                            let n = p.sacks().count();
                            assert_eq!(n, p.sack_count());
                            assert!(n * 8 <= len - HEADER_LEN);
                        }
                        Err(DecodeError::NotUdx) => assert!(len < HEADER_LEN),
                        Err(DecodeError::BadDataOffset) => assert!(off as usize > len - HEADER_LEN),
                    }
                }
            }
        }
    }
}
