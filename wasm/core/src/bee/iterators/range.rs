//! Range reads (JS `iterators/range.js`) and `peek`.
//!
//! The walk is JS's: a stack of `(node, i)` where even `i` is child `i/2` and odd `i` key
//! `i>>1`; opening seeks the start bound down one path (pushing, at each level, the position
//! after the bound when it is inside the node), `next()` walks positions and ends at the first
//! key past the end bound (`c === 0 ? !incl : reverse ? c < 0 : c > 0`), or when the limit is
//! used up (a limit of 0 still opens the walk, as JS does, and returns nothing).

use futures::Stream;

use super::{key_at, key_block, KeyOrder, RangeOptions};
use crate::bee::block::{NodeRef, MAX_DEPTH};
use crate::bee::encoding::EncodedRange;
use crate::bee::errors::BeeError;
use crate::bee::hyperbee::{Entry, Hyperbee};
use crate::bee::reader::Reader;
use crate::storage::Storage;

/// One stack entry: a node and a position in it.
#[derive(Debug)]
struct Frame {
    node: NodeRef,
    i: i64,
}

enum State<S> {
    /// Not opened yet.
    Idle,
    /// Walking.
    Open { reader: Reader<S>, stack: Vec<Frame>, order: KeyOrder },
    /// Failed (nothing more).
    Done,
}

/// A range read (see [`Hyperbee::range`]).
pub struct RangeIterator<S> {
    bee: Hyperbee<S>,
    /// Lower bound (encoded) and whether it is inclusive (JS `_gKey`, `_gIncl`).
    g_key: Option<Vec<u8>>,
    g_incl: bool,
    /// Upper bound (encoded) and whether it is inclusive (JS `_lKey`, `_lIncl`).
    l_key: Option<Vec<u8>>,
    l_incl: bool,
    reverse: bool,
    /// Entries still allowed (`None`: no limit).
    limit: Option<usize>,
    state: State<S>,
}

impl<S> std::fmt::Debug for RangeIterator<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeIterator")
            .field("g_key", &self.g_key)
            .field("g_incl", &self.g_incl)
            .field("l_key", &self.l_key)
            .field("l_incl", &self.l_incl)
            .field("reverse", &self.reverse)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Hyperbee<S> {
    /// The entries whose keys are in the range, in key order (reversed with `reverse`), at
    /// the version this handle has when the first `next()` runs. A sub reads its own keys
    /// (keys returned without its prefix).
    pub fn range(&self, opts: RangeOptions) -> RangeIterator<S> {
        let r = EncodedRange::new(
            &self.prefix,
            opts.gt.as_deref(),
            opts.gte.as_deref(),
            opts.lt.as_deref(),
            opts.lte.as_deref(),
        );
        RangeIterator {
            bee: self.clone(),
            g_incl: r.gt.is_none(),
            g_key: r.gt.or(r.gte),
            l_incl: r.lt.is_none(),
            l_key: r.lt.or(r.lte),
            reverse: opts.reverse,
            limit: opts.limit,
            state: State::Idle,
        }
    }

    /// The first entry of the range (JS `peek`: the range with `limit: 1`).
    pub async fn peek(&self, opts: RangeOptions) -> Result<Option<Entry>, BeeError> {
        self.range(RangeOptions { limit: Some(1), ..opts }).next().await
    }
}

impl<S: Storage> RangeIterator<S> {
    /// The next entry, `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Entry>, BeeError> {
        match self.step().await {
            Ok(e) => Ok(e),
            Err(e) => {
                self.state = State::Done;
                Err(e)
            }
        }
    }

    /// The iterator as a stream (an error ends it).
    pub fn into_stream(self) -> impl Stream<Item = Result<Entry, BeeError>> {
        futures::stream::unfold(self, |mut it| async move { it.next().await.transpose().map(|r| (r, it)) })
    }

    async fn step(&mut self) -> Result<Option<Entry>, BeeError> {
        if let State::Idle = self.state {
            let reader = self.bee.reader().await?;
            let stack = self.open(&reader).await?;
            self.state = State::Open { reader, stack, order: KeyOrder::default() };
        }
        let State::Open { reader, stack, order } = &mut self.state else { return Ok(None) };
        let reverse = self.reverse;
        let (end, incl) = if reverse { (&self.g_key, self.g_incl) } else { (&self.l_key, self.l_incl) };

        while self.limit != Some(0) {
            let Some(top) = stack.last_mut() else { break };
            let is_key = top.i & 1 == 1;
            let key_count = top.node.keys().len();
            let n = if reverse {
                if top.i < 0 {
                    key_count
                } else {
                    let n = (top.i >> 1) as usize;
                    top.i -= 1;
                    n
                }
            } else {
                let n = (top.i >> 1) as usize;
                top.i += 1;
                n
            };

            if !is_key {
                if top.node.is_leaf() {
                    continue;
                }
                let parent = top.node.clone();
                let child = reader.child(&parent, n).await?;
                reader.prefetch(&child);
                let i = if reverse { (child.keys().len() as i64) << 1 } else { 0 };
                push(stack, Frame { node: child, i })?;
                continue;
            }

            if n >= key_count {
                stack.pop();
                continue;
            }

            let node = top.node.clone();
            let block = key_block(reader, &node, n).await?;
            if let Some(end) = end {
                let c = (*block.key).cmp(end.as_slice());
                let past = match c {
                    std::cmp::Ordering::Equal => !incl,
                    std::cmp::Ordering::Less => reverse,
                    std::cmp::Ordering::Greater => !reverse,
                };
                if past {
                    self.limit = Some(0);
                    break;
                }
            }
            order.check(&block, reverse)?;
            if let Some(l) = &mut self.limit {
                *l -= 1;
            }
            return Ok(Some(self.bee.entry(&block)));
        }
        Ok(None)
    }

    /// JS `_open`: the stack positioned before the first entry.
    async fn open(&self, reader: &Reader<S>) -> Result<Vec<Frame>, BeeError> {
        let mut stack = Vec::new();
        let Some(mut node) = reader.root().await? else { return Ok(stack) };
        reader.prefetch(&node);
        let reverse = self.reverse;
        let (start, incl) = if reverse { (&self.l_key, self.l_incl) } else { (&self.g_key, self.g_incl) };
        let Some(start) = start else {
            let i = if reverse { (node.keys().len() as i64) << 1 } else { 0 };
            stack.push(Frame { node, i });
            return Ok(stack);
        };

        for _ in 0..MAX_DEPTH {
            let key_count = node.keys().len();
            let (mut s, mut e) = (0usize, key_count);
            let mut c = None;
            while s < e {
                let mid = (s + e) >> 1;
                let key = key_at(reader, &node, mid).await?;
                let cmp = start.as_slice().cmp(&*key);
                c = Some(cmp);
                match cmp {
                    std::cmp::Ordering::Equal => {
                        let i = if incl {
                            mid as i64 * 2 + 1
                        } else {
                            mid as i64 * 2 + if reverse { 0 } else { 2 }
                        };
                        push(&mut stack, Frame { node, i })?;
                        return Ok(stack);
                    }
                    std::cmp::Ordering::Less => e = mid,
                    std::cmp::Ordering::Greater => s = mid + 1,
                }
            }
            let idx = if c == Some(std::cmp::Ordering::Less) { e } else { s };
            let i = 2 * idx as i64 + if reverse { -1 } else { 1 };
            let leaf = node.is_leaf();
            let parent = node.clone();
            if i >= 0 && i <= (key_count as i64) << 1 {
                push(&mut stack, Frame { node, i })?;
            }
            if leaf {
                return Ok(stack);
            }
            node = reader.child(&parent, idx).await?;
            reader.prefetch(&node);
        }
        Err(BeeError::invalid(reader.version() - 1, "tree deeper than any real bee (a cycle?)"))
    }
}

/// Pushes `frame`, refusing a stack deeper than any real tree.
fn push(stack: &mut Vec<Frame>, frame: Frame) -> Result<(), BeeError> {
    if stack.len() >= MAX_DEPTH {
        return Err(BeeError::invalid(frame.node.seq(), "tree deeper than any real bee (a cycle?)"));
    }
    stack.push(frame);
    Ok(())
}
