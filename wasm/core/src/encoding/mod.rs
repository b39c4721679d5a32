//! compact-encoding (npm `compact-encoding`), the byte format of every hypercore structure.
//!
//! Encoders append to a `Vec<u8>`; decoders read from a borrowed slice and distinguish
//! "the buffer ended early" ([`DecodeError::Truncated`]) from "these bytes are invalid".
//! Decoding never panics on any input.

mod primitives;

pub use primitives::*;

/// Largest integer JS compact-encoding accepts for `uint` (2^53 − 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// Largest element count `c.array` decodes (JS: 0x100000).
pub const MAX_ARRAY_LEN: u64 = 0x10_0000;

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("truncated input: needed {needed} more byte(s) at offset {offset}")]
    Truncated {
        /// Offset where the read started.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// An integer above 2^53 − 1, which JS cannot represent.
    #[error("integer {0} exceeds 2^53 - 1")]
    UintTooLarge(u64),
    /// An array longer than compact-encoding allows.
    #[error("array length {0} exceeds the limit of {MAX_ARRAY_LEN}")]
    ArrayTooLarge(u64),
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 in string")]
    InvalidUtf8,
    /// Bytes left over after a value that must fill its buffer.
    #[error("{0} trailing byte(s) after the value")]
    TrailingBytes(usize),
    /// A structurally invalid value.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// Which structure.
        what: &'static str,
        /// What was wrong.
        why: String,
    },
}

impl DecodeError {
    /// Convenience constructor for [`DecodeError::Invalid`].
    pub fn invalid(what: &'static str, why: impl Into<String>) -> Self {
        DecodeError::Invalid { what, why: why.into() }
    }

    /// The JS hypercore error code this maps to.
    pub fn code(&self) -> &'static str {
        "DECODING_ERROR"
    }
}

/// A type with a compact-encoding representation.
pub trait Compact: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads one value from the decoder.
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError>;

    /// Encodes into a fresh buffer.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes a value that must span the whole buffer.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut dec = Decoder::new(bytes);
        let value = Self::decode(&mut dec)?;
        dec.finish()?;
        Ok(value)
    }
}
