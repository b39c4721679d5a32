//! Range, history and diff iterators (JS `iterators/range.js`, `history.js`, `diff.js`).
//!
//! Every iterator is lazy: nothing is read until the first `next()`, which pins a
//! [`Reader`] (the version the iterator sees from then on). Results follow JS hyperbee 2.27.3
//! for every option, quirks included (see each file). Hostile trees cannot make a walk loop
//! or explode: walks keep their stack within [`MAX_DEPTH`](super::block::MAX_DEPTH), the keys
//! a walk returns must be strictly ordered, and the diff walk also bounds the nodes it loads
//! by the version; anything else is [`BeeError::InvalidTree`].
//!
//! After an error an iterator is finished: later `next()` calls return `Ok(None)`.

pub mod diff;
pub mod history;
pub mod range;

#[cfg(test)]
mod quirk_tests;

use std::cmp::Ordering;
use std::sync::Arc;

use super::block::{BlockEntry, NodeRef};
use super::errors::BeeError;
use super::hyperbee::Entry;
use super::reader::Reader;
use crate::storage::Storage;

pub use diff::DiffIterator;
pub use history::HistoryIterator;
pub use range::RangeIterator;

/// Bounds and options of a range read (JS `createReadStream(range)`), in user keys: a sub
/// applies its prefix (and, without bounds, its default range). `gt` wins over `gte` and
/// `lt` over `lte` when both are given, as in JS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeOptions {
    /// Exclusive lower bound.
    pub gt: Option<Vec<u8>>,
    /// Inclusive lower bound.
    pub gte: Option<Vec<u8>>,
    /// Exclusive upper bound.
    pub lt: Option<Vec<u8>>,
    /// Inclusive upper bound.
    pub lte: Option<Vec<u8>>,
    /// Largest key first.
    pub reverse: bool,
    /// At most this many entries (`None`: all).
    pub limit: Option<usize>,
}

/// Options of a history read (JS `createHistoryStream`). Bounds are block seqs; a negative
/// bound counts back from the version (`-1` is the last block); `0` bounds behave as in JS
/// (`gt: 0` / `gte: 0` mean "from the first entry", `lt: 0` / `lte: 0` mean "nothing").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryOptions {
    /// Exclusive lower bound.
    pub gt: Option<i64>,
    /// Inclusive lower bound.
    pub gte: Option<i64>,
    /// Exclusive upper bound.
    pub lt: Option<i64>,
    /// Inclusive upper bound.
    pub lte: Option<i64>,
    /// Newest first (not with `live`).
    pub reverse: bool,
    /// At most this many entries (`None`: all).
    pub limit: Option<usize>,
    /// Keep following appends after the last entry, until the iterator is dropped.
    pub live: bool,
}

/// What a history entry recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    /// A put (JS `type: 'put'`).
    Put,
    /// A deletion (JS `type: 'del'`).
    Del,
}

/// One block of the history (JS `{ type, seq, key, value }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Put or deletion.
    pub kind: HistoryKind,
    /// The block.
    pub seq: u64,
    /// The key with the handle's sub prefix sliced off (JS decodes every key of the history
    /// with the sub's prefix encoding, whichever sub wrote it).
    pub key: Vec<u8>,
    /// The value (`None` for a deletion).
    pub value: Option<Vec<u8>>,
}

/// One difference between two versions (JS `{ left, right }`): the entry on each side,
/// `None` where the key is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffEntry {
    /// The entry in this handle's version.
    pub left: Option<Entry>,
    /// The entry in the other version.
    pub right: Option<Entry>,
}

/// The bytes of key `i` of `node` (remembered on the node once read, as JS keeps them on its
/// `Key` objects).
pub(crate) async fn key_at<S: Storage>(
    reader: &Reader<S>,
    node: &NodeRef,
    i: usize,
) -> Result<Arc<[u8]>, BeeError> {
    if let Some(k) = node.known_key(i) {
        return Ok(k);
    }
    let block = key_block(reader, node, i).await?;
    node.cache_key(i, block.key.clone());
    Ok(block.key.clone())
}

/// The block holding key `i` of `node` (its own block when the node's block wrote it).
pub(crate) async fn key_block<S: Storage>(
    reader: &Reader<S>,
    node: &NodeRef,
    i: usize,
) -> Result<Arc<BlockEntry>, BeeError> {
    let seq =
        *node.keys().get(i).ok_or_else(|| BeeError::invalid(node.seq(), format!("node has no key {i}")))?;
    if seq == node.seq() {
        Ok(node.block.clone())
    } else {
        reader.block(seq).await
    }
}

/// Checks that the keys a walk returns are strictly increasing (`Ordering::Less` between
/// consecutive keys), or strictly decreasing in reverse: a tree that repeats or reorders
/// keys is hostile (shared or cyclic subtrees), and this is what stops its walk.
#[derive(Debug, Default)]
pub(crate) struct KeyOrder {
    last: Option<Arc<BlockEntry>>,
}

impl KeyOrder {
    /// Records `block` as the next key returned, `reverse` for a descending walk.
    pub(crate) fn check(&mut self, block: &Arc<BlockEntry>, reverse: bool) -> Result<(), BeeError> {
        if let Some(last) = &self.last {
            let want = if reverse { Ordering::Greater } else { Ordering::Less };
            if (*last.key).cmp(&*block.key) != want {
                return Err(BeeError::invalid(
                    block.seq,
                    format!("key of block {} is out of order after block {}", block.seq, last.seq),
                ));
            }
        }
        self.last = Some(block.clone());
        Ok(())
    }
}

/// Whether `e` means the version read was truncated away (from the bee or the core).
pub(crate) fn is_snapshot_gone(e: &BeeError) -> bool {
    e.code() == "SNAPSHOT_NOT_AVAILABLE"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(seq: u64, key: &[u8]) -> Arc<BlockEntry> {
        Arc::new(BlockEntry::new(seq, key.into(), None, vec![]))
    }

    #[test]
    fn key_order_is_strict() {
        let mut o = KeyOrder::default();
        o.check(&block(1, b"a"), false).unwrap();
        o.check(&block(2, b"b"), false).unwrap();
        assert_eq!(o.check(&block(3, b"b"), false).unwrap_err().code(), "DECODING_ERROR");
        let mut o = KeyOrder::default();
        o.check(&block(1, b"b"), true).unwrap();
        o.check(&block(2, b"a"), true).unwrap();
        assert!(o.check(&block(3, b"c"), true).is_err());
    }
}
