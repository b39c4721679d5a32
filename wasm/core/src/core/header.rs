//! The persisted core header: identity, optional signing key, and the signed head
//! (our counterpart of hypercore's oplog header / hypercore-storage `CORE` record).
//!
//! ```text
//! uint version (1) · uint flags (1 manifest, 2 secret key, 4 compat)
//! fixed32 key · [buffer manifest] · [fixed64 secret key]
//! uint fork · uint length · fixed32 tree hash · optionalBuffer signature · uint contiguous length
//! ```
//! The secret key is stored so a writable core stays writable across restarts and page
//! reloads, as JS hypercore keeps it in its header.

use crate::crypto::Hash;
use crate::encoding::{put_buffer, put_optional_buffer, put_uint, Compact, DecodeError, Decoder};

const VERSION: u64 = 1;
const FLAG_MANIFEST: u64 = 1;
const FLAG_SECRET: u64 = 2;
const FLAG_COMPAT: u64 = 4;

/// The head as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Core key.
    pub key: Hash,
    /// Encoded manifest, once known.
    pub manifest: Option<Vec<u8>>,
    /// libsodium secret key of a writable core.
    pub secret_key: Option<[u8; 64]>,
    /// Whether the key is the signer's public key (compat core).
    pub compat: bool,
    /// Fork id.
    pub fork: u64,
    /// Length.
    pub length: u64,
    /// Tree hash at `length`, to check the stored roots against.
    pub tree_hash: Hash,
    /// Signature over the head.
    pub signature: Option<Vec<u8>>,
    /// Blocks `0..contiguous_length` are all stored (a hint; recomputed on open).
    pub contiguous_length: u64,
}

impl Compact for Header {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, VERSION);
        let flags = if self.manifest.is_some() { FLAG_MANIFEST } else { 0 }
            | if self.secret_key.is_some() { FLAG_SECRET } else { 0 }
            | if self.compat { FLAG_COMPAT } else { 0 };
        put_uint(out, flags);
        out.extend_from_slice(&self.key);
        if let Some(m) = &self.manifest {
            put_buffer(out, m);
        }
        if let Some(sk) = &self.secret_key {
            out.extend_from_slice(sk);
        }
        put_uint(out, self.fork);
        put_uint(out, self.length);
        out.extend_from_slice(&self.tree_hash);
        put_optional_buffer(out, self.signature.as_deref());
        put_uint(out, self.contiguous_length);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let version = dec.uint()?;
        if version != VERSION {
            return Err(DecodeError::invalid("core header", format!("unknown version {version}")));
        }
        let flags = dec.uint()?;
        let key = dec.array()?;
        let manifest = if flags & FLAG_MANIFEST != 0 { Some(dec.buffer()?.to_vec()) } else { None };
        let secret_key = if flags & FLAG_SECRET != 0 { Some(dec.array()?) } else { None };
        Ok(Header {
            key,
            manifest,
            secret_key,
            compat: flags & FLAG_COMPAT != 0,
            fork: dec.uint()?,
            length: dec.uint()?,
            tree_hash: dec.array()?,
            signature: dec.optional_buffer()?.map(<[u8]>::to_vec),
            contiguous_length: dec.uint()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let h = Header {
            key: [1; 32],
            manifest: Some(vec![1, 2, 3]),
            secret_key: Some([7; 64]),
            compat: false,
            fork: 2,
            length: 300,
            tree_hash: [9; 32],
            signature: Some(vec![5; 68]),
            contiguous_length: 299,
        };
        let bytes = h.to_bytes();
        assert_eq!(Header::from_bytes(&bytes).unwrap(), h);
        for cut in 0..bytes.len() {
            assert!(Header::from_bytes(&bytes[..cut]).is_err());
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    proptest::proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = Header::from_bytes(&bytes);
        }
    }
}
