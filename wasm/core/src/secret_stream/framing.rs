//! The secret-stream wire framing: every message is `uint24le(length) ‖ bytes`.

/// Length of a frame's length prefix.
pub const FRAME_HEADER_LEN: usize = 3;
/// The largest frame body a uint24 length can announce (2^24 − 1).
pub const MAX_FRAME_LEN: usize = 0xff_ffff;

/// A frame that cannot be written or is refused on reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {len} bytes exceeds the {max}-byte limit")]
pub struct FrameTooLarge {
    /// The frame body's length.
    pub len: usize,
    /// The limit in force.
    pub max: usize,
}

/// Appends `uint24le(body_len)` to `out`.
pub fn write_frame_header(out: &mut Vec<u8>, body_len: usize) -> Result<(), FrameTooLarge> {
    if body_len > MAX_FRAME_LEN {
        return Err(FrameTooLarge { len: body_len, max: MAX_FRAME_LEN });
    }
    let b = (body_len as u32).to_le_bytes();
    out.extend_from_slice(&b[..FRAME_HEADER_LEN]);
    Ok(())
}

/// Appends one whole frame (`uint24le(body.len()) ‖ body`) to `out`.
pub fn write_frame(out: &mut Vec<u8>, body: &[u8]) -> Result<(), FrameTooLarge> {
    write_frame_header(out, body.len())?;
    out.extend_from_slice(body);
    Ok(())
}

/// Splits a byte stream, cut anywhere, into frames.
///
/// Frames that arrive whole are handed out as slices of the input (no copy); only a frame
/// cut by a read boundary is buffered, growing with the bytes that actually arrived (a
/// length prefix alone never makes it allocate the announced size).
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_len: usize,
    /// Length-prefix bytes seen of the current frame (0..=3).
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    /// The current frame's announced length, once its prefix is complete.
    body_len: Option<usize>,
    /// Bytes of the current frame's body received so far (when cut by a read boundary).
    body: Vec<u8>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder accepting frames up to [`MAX_FRAME_LEN`].
    pub fn new() -> Self {
        Self::with_max_frame_len(MAX_FRAME_LEN)
    }

    /// A decoder refusing frames longer than `max_frame_len` (capped at [`MAX_FRAME_LEN`]).
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        FrameDecoder {
            max_frame_len: max_frame_len.min(MAX_FRAME_LEN),
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            body_len: None,
            body: Vec::new(),
        }
    }

    /// The largest frame body accepted.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Bytes of an incomplete frame held (prefix and body).
    pub fn buffered(&self) -> usize {
        match self.body_len {
            Some(_) => FRAME_HEADER_LEN + self.body.len(),
            None => self.header_len,
        }
    }

    /// Whether no partial frame is held.
    pub fn is_idle(&self) -> bool {
        self.header_len == 0 && self.body_len.is_none()
    }

    /// Feeds `input`, calling `on_frame` with each complete frame body in order.
    ///
    /// An error (an oversized length, or one returned by `on_frame`) stops decoding at once;
    /// the rest of `input` is dropped and the decoder should not be fed again.
    pub fn decode<E: From<FrameTooLarge>>(
        &mut self,
        mut input: &[u8],
        mut on_frame: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            let len = match self.body_len {
                Some(len) => len,
                None => {
                    // Fast path: a whole prefix at hand.
                    if self.header_len == 0 && input.len() >= FRAME_HEADER_LEN {
                        self.header.copy_from_slice(&input[..FRAME_HEADER_LEN]);
                        input = &input[FRAME_HEADER_LEN..];
                    } else {
                        let take = (FRAME_HEADER_LEN - self.header_len).min(input.len());
                        self.header[self.header_len..self.header_len + take].copy_from_slice(&input[..take]);
                        self.header_len += take;
                        input = &input[take..];
                        if self.header_len < FRAME_HEADER_LEN {
                            return Ok(());
                        }
                    }
                    self.header_len = 0;
                    let len =
                        u32::from_le_bytes([self.header[0], self.header[1], self.header[2], 0]) as usize;
                    if len > self.max_frame_len {
                        return Err(FrameTooLarge { len, max: self.max_frame_len }.into());
                    }
                    self.body_len = Some(len);
                    len
                }
            };
            if self.body.is_empty() && input.len() >= len {
                // Whole frame in the input: no copy.
                let (frame, rest) = input.split_at(len);
                input = rest;
                self.body_len = None;
                on_frame(frame)?;
            } else {
                let need = len - self.body.len();
                if input.len() < need {
                    if self.body.is_empty() && !input.is_empty() {
                        // Reserve what has arrived plus a little, never the announced size.
                        self.body.reserve(input.len().max(len.min(64 * 1024)));
                    }
                    self.body.extend_from_slice(input);
                    return Ok(());
                }
                self.body.extend_from_slice(&input[..need]);
                input = &input[need..];
                self.body_len = None;
                let body = std::mem::take(&mut self.body);
                let r = on_frame(&body);
                // Keep the allocation for the next cut frame if it is modest.
                if body.capacity() <= 64 * 1024 {
                    self.body = body;
                    self.body.clear();
                }
                r?;
            }
            if input.is_empty() && self.body_len.is_none() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(bodies: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for b in bodies {
            write_frame(&mut out, b).unwrap();
        }
        out
    }

    fn decode_split(
        decoder: &mut FrameDecoder,
        bytes: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<Vec<u8>>, FrameTooLarge> {
        let mut got = Vec::new();
        let mut pos = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.push(bytes.len());
        points.sort_unstable();
        for p in points {
            decoder.decode(&bytes[pos..p], |f| {
                got.push(f.to_vec());
                Ok::<(), FrameTooLarge>(())
            })?;
            pos = p;
        }
        Ok(got)
    }

    #[test]
    fn every_single_split() {
        let bodies: Vec<Vec<u8>> = vec![vec![], vec![1], vec![2; 300], vec![], vec![3; 70_000], vec![4; 5]];
        let bytes = frames(&bodies);
        // One byte at a time.
        let mut d = FrameDecoder::new();
        let got = decode_split(&mut d, &bytes, &(0..bytes.len()).collect::<Vec<_>>()).unwrap();
        assert_eq!(got, bodies);
        assert!(d.is_idle());
        // Every two-piece split of a small stream.
        let small = frames(&bodies[..4]);
        for cut in 0..=small.len() {
            let mut d = FrameDecoder::new();
            assert_eq!(decode_split(&mut d, &small, &[cut]).unwrap(), bodies[..4].to_vec(), "cut {cut}");
        }
    }

    #[test]
    fn length_prefix_is_little_endian() {
        let mut out = Vec::new();
        write_frame_header(&mut out, 0x030201).unwrap();
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(
            write_frame_header(&mut out, MAX_FRAME_LEN + 1),
            Err(FrameTooLarge { len: MAX_FRAME_LEN + 1, max: MAX_FRAME_LEN })
        );
        write_frame_header(&mut out, MAX_FRAME_LEN).unwrap();
        assert_eq!(&out[3..], [0xff, 0xff, 0xff]);
    }

    #[test]
    fn oversized_frame_is_refused_before_buffering() {
        let mut d = FrameDecoder::with_max_frame_len(10);
        let err = d.decode(&[11, 0, 0, 1, 2], |_| Ok::<(), FrameTooLarge>(())).unwrap_err();
        assert_eq!(err, FrameTooLarge { len: 11, max: 10 });
        let mut d = FrameDecoder::with_max_frame_len(10);
        let got = decode_split(&mut d, &frames(&[vec![7; 10]]), &[1, 2, 5]).unwrap();
        assert_eq!(got, vec![vec![7; 10]]);
        // A bare prefix announcing 16 MiB allocates nothing.
        let mut d = FrameDecoder::new();
        d.decode(&[0xff, 0xff, 0xff], |_| Ok::<(), FrameTooLarge>(())).unwrap();
        assert_eq!(d.buffered(), 3);
        assert_eq!(d.body.capacity(), 0);
        assert!(!d.is_idle());
    }

    #[test]
    fn callback_error_stops() {
        let bytes = frames(&[vec![1], vec![2]]);
        let mut seen = 0;
        let r = FrameDecoder::new().decode(&bytes, |_| {
            seen += 1;
            Err(FrameTooLarge { len: 0, max: 0 })
        });
        assert!(r.is_err());
        assert_eq!(seen, 1);
    }

    proptest! {
        #[test]
        fn any_split_yields_the_frames(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let bytes = frames(&bodies);
            let mut d = FrameDecoder::new();
            prop_assert_eq!(decode_split(&mut d, &bytes, &cuts).unwrap(), bodies);
            prop_assert!(d.is_idle());
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..2000),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
            max in 0usize..100_000,
        ) {
            let mut d = FrameDecoder::with_max_frame_len(max);
            let total: usize = match decode_split(&mut d, &bytes, &cuts) {
                Ok(frames) => frames.iter().map(|f| f.len() + FRAME_HEADER_LEN).sum(),
                Err(e) => { prop_assert!(e.len > max); return Ok(()); }
            };
            prop_assert_eq!(total + d.buffered(), bytes.len());
        }
    }
}
