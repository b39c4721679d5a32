//! Diffs between two versions (JS `iterators/diff.js`): two tree walks side by side that
//! skip what both versions share.
//!
//! Each side is a stack of sub-trees with a position (JS `SubTree`: even `i` child `i/2`,
//! odd `i` key `i>>1`, leaves only on keys). When both tops point at the same thing (same
//! `(seq, offset)` and kind), both skip it: identical subtrees and keys cost nothing. Else
//! the tops are compared by their upper-bound key (the key at the position, or for the last
//! child the parent's; none is +∞): a key against a subtree opens the subtree, two keys
//! are returned in order (both when equal), two subtrees open the one with the larger bound
//! (both when equal).
//!
//! JS quirks kept: the bounds are `gt || gte` (inclusive when `gte` is set, so `gt` *and*
//! `gte` give an inclusive `gt`) and `lt || lte` (inclusive when `lte` is set); `reverse` is
//! ignored; the first key of a side past the upper bound ends the whole diff.
//!
//! Hostile trees: a side's stack stays within [`MAX_DEPTH`], its keys must come out strictly
//! increasing, and it loads at most `version + MAX_DEPTH` nodes (a valid tree has fewer
//! nodes than blocks), so shared subtrees that both sides skip keys of cannot explode.

use std::cmp::Ordering;
use std::sync::Arc;

use futures::Stream;

use super::{key_at, DiffEntry, KeyOrder, RangeOptions};
use crate::bee::block::{BlockEntry, NodeRef, MAX_DEPTH};
use crate::bee::encoding::EncodedRange;
use crate::bee::errors::BeeError;
use crate::bee::hyperbee::Hyperbee;
use crate::bee::reader::Reader;
use crate::storage::Storage;

/// The diff's bounds, JS `TreeIterator` style.
#[derive(Debug, Clone, Default)]
struct Bounds {
    gt: Option<Vec<u8>>,
    gte: bool,
    lt: Option<Vec<u8>>,
    lte: bool,
}

/// A parent position as a child sees it (frozen: a parent does not move while its child is
/// on the stack, and never again once popped).
#[derive(Debug)]
struct Link {
    node: NodeRef,
    n: usize,
    up: Option<Arc<Link>>,
}

/// JS `SubTree`: a node and a position in it.
#[derive(Debug)]
struct SubTree {
    node: NodeRef,
    up: Option<Arc<Link>>,
    i: usize,
    is_key: bool,
    n: usize,
    seq: u64,
    offset: u64,
}

impl SubTree {
    fn new(node: NodeRef, up: Option<Arc<Link>>) -> Result<Self, BeeError> {
        let is_key = node.is_leaf();
        let (seq, offset) = if is_key {
            let k = node.keys().first().copied();
            (k.ok_or_else(|| BeeError::invalid(node.seq(), "empty leaf below the root"))?, 0)
        } else {
            node.child(0).ok_or_else(|| BeeError::invalid(node.seq(), "node without children"))?
        };
        Ok(SubTree { node, up, i: usize::from(is_key), is_key, n: 0, seq, offset })
    }

    /// JS `next()`: the next position (keys only in a leaf); `false` past the end.
    fn advance(&mut self) -> bool {
        self.i += 1;
        self.is_key = self.i & 1 == 1;
        if !self.is_key && self.node.is_leaf() {
            self.i += 1;
        }
        self.update()
    }

    /// JS `update()`: sets the kind, index and pointer of position `i`.
    fn update(&mut self) -> bool {
        self.is_key = self.i & 1 == 1;
        self.n = self.i >> 1;
        let count = if self.is_key { self.node.keys().len() } else { self.node.child_count() };
        if self.n >= count {
            return false;
        }
        if self.is_key {
            self.seq = self.node.keys()[self.n];
            self.offset = 0;
        } else if let Some((seq, offset)) = self.node.child(self.n) {
            self.seq = seq;
            self.offset = offset;
        }
        true
    }

    /// JS `bisect()`: positions at `key`; `true` when the seek is done.
    async fn bisect<S: Storage>(
        &mut self,
        reader: &Reader<S>,
        key: &[u8],
        incl: bool,
    ) -> Result<bool, BeeError> {
        let has_children = !self.node.is_leaf();
        let (mut s, mut e) = (0usize, self.node.keys().len());
        let mut c = None;
        while s < e {
            let mid = (s + e) >> 1;
            let cmp = key.cmp(&*key_at(reader, &self.node, mid).await?);
            c = Some(cmp);
            match cmp {
                Ordering::Equal => {
                    self.i = if incl { mid * 2 + 1 } else { mid * 2 + if has_children { 2 } else { 3 } };
                    return Ok(true);
                }
                Ordering::Less => e = mid,
                Ordering::Greater => s = mid + 1,
            }
        }
        let idx = if c == Some(Ordering::Less) { e } else { s };
        self.i = 2 * idx + usize::from(!has_children);
        Ok(!has_children)
    }

    /// JS `key()`: the upper-bound key of this position (`None`: +∞).
    async fn key<S: Storage>(&self, reader: &Reader<S>) -> Result<Option<Arc<[u8]>>, BeeError> {
        if self.n < self.node.keys().len() {
            return key_at(reader, &self.node, self.n).await.map(Some);
        }
        let mut up = self.up.as_ref();
        while let Some(link) = up {
            if link.n < link.node.keys().len() {
                return key_at(reader, &link.node, link.n).await.map(Some);
            }
            up = link.up.as_ref();
        }
        Ok(None)
    }
}

/// JS `cmp` with `None` as +∞.
fn cmp_keys(a: &Option<Arc<[u8]>>, b: &Option<Arc<[u8]>>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => a.cmp(b),
    }
}

/// JS `TreeIterator`: one side of the diff.
struct Side<S> {
    bee: Hyperbee<S>,
    reader: Reader<S>,
    bounds: Bounds,
    stack: Vec<SubTree>,
    seeking: bool,
    order: KeyOrder,
    loads: u64,
}

impl<S: Storage> Side<S> {
    async fn open(bee: Hyperbee<S>, bounds: Bounds) -> Result<Self, BeeError> {
        let reader = bee.reader().await?;
        let seeking = bounds.gt.is_some();
        let mut side =
            Side { bee, reader, bounds, stack: Vec::new(), seeking, order: KeyOrder::default(), loads: 0 };
        let Some(root) = side.reader.root().await? else { return Ok(side) };
        if root.keys().is_empty() {
            return Ok(side);
        }
        side.reader.prefetch(&root);
        let mut tree = SubTree::new(root, None)?;
        if side.seeking && !side.seek(&mut tree).await? {
            return Ok(side);
        }
        side.stack.push(tree);
        Ok(side)
    }

    /// JS `_seek`: `false` when the sub-tree holds nothing at or after the lower bound.
    async fn seek(&mut self, tree: &mut SubTree) -> Result<bool, BeeError> {
        let Some(gt) = &self.bounds.gt else { return Ok(true) };
        let done = tree.bisect(&self.reader, gt, self.bounds.gte).await?;
        let oob = !tree.update();
        if done || oob {
            self.seeking = false;
            if oob {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn peek(&self) -> Option<&SubTree> {
        self.stack.last()
    }

    /// JS `skip()`: moves past the top position.
    fn skip(&mut self) {
        if let Some(top) = self.stack.last_mut() {
            if !top.advance() {
                self.stack.pop();
            }
        }
    }

    /// JS `next()`: the top position's key block, or opens its subtree (`None`).
    async fn next(&mut self) -> Result<Option<Arc<BlockEntry>>, BeeError> {
        let Some(top) = self.stack.last_mut() else { return Ok(None) };
        let (is_key, n, seq) = (top.is_key, top.n, top.seq);
        let node = top.node.clone();
        let more = top.advance();
        let link = (!is_key).then(|| Arc::new(Link { node: top.node.clone(), n: top.n, up: top.up.clone() }));
        if !more {
            self.stack.pop();
        }
        if is_key {
            self.seeking = false;
            return if seq == node.seq() {
                Ok(Some(node.block.clone()))
            } else {
                self.reader.block(seq).await.map(Some)
            };
        }
        self.loads += 1;
        if self.loads > self.reader.version().saturating_add(MAX_DEPTH as u64) {
            return Err(BeeError::invalid(node.seq(), "tree has more nodes than blocks (shared subtrees?)"));
        }
        let child = self.reader.child(&node, n).await?;
        self.reader.prefetch(&child);
        let mut tree = SubTree::new(child, link)?;
        if self.seeking && !self.seek(&mut tree).await? {
            return Ok(None);
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(BeeError::invalid(node.seq(), "tree deeper than any real bee (a cycle?)"));
        }
        self.stack.push(tree);
        Ok(None)
    }

    /// JS `nextKey()`: the next key block within the upper bound (`None`: this side ended).
    async fn next_key(&mut self) -> Result<Option<Arc<BlockEntry>>, BeeError> {
        let block = loop {
            if self.stack.is_empty() {
                return Ok(None);
            }
            if let Some(b) = self.next().await? {
                break b;
            }
        };
        if let Some(lt) = &self.bounds.lt {
            let c = (*block.key).cmp(lt.as_slice());
            let inside = if self.bounds.lte { c != Ordering::Greater } else { c == Ordering::Less };
            if !inside {
                self.stack.clear();
                return Ok(None);
            }
        }
        self.order.check(&block, false)?;
        Ok(Some(block))
    }

    /// The top position's upper-bound key.
    async fn top_key(&self) -> Result<Option<Arc<[u8]>>, BeeError> {
        match self.peek() {
            Some(t) => t.key(&self.reader).await,
            None => Ok(None),
        }
    }
}

enum Right<S> {
    Version(u64),
    Bee(Hyperbee<S>),
}

enum State<S> {
    Idle,
    Open { a: Box<Side<S>>, b: Box<Side<S>> },
    Done,
}

/// A diff between two versions (see [`Hyperbee::diff`]).
pub struct DiffIterator<S> {
    left: Hyperbee<S>,
    right: Option<Right<S>>,
    bounds: Bounds,
    limit: Option<usize>,
    state: State<S>,
}

impl<S> std::fmt::Debug for DiffIterator<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiffIterator")
            .field("bounds", &self.bounds)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Hyperbee<S> {
    /// What changed between this handle's version (left) and `other_version` (right, a
    /// checkout of this handle) within the range, in key order: keys present on one side
    /// only, and keys whose entry differs (another seq).
    pub fn diff(&self, other_version: u64, opts: RangeOptions) -> DiffIterator<S> {
        self.diff_from(Right::Version(other_version), opts)
    }

    /// Like [`Hyperbee::diff`] against another handle of the same core (JS
    /// `createDiffStream(otherBee)`); the range is encoded with this handle's prefix.
    pub fn diff_with(&self, other: &Hyperbee<S>, opts: RangeOptions) -> DiffIterator<S> {
        self.diff_from(Right::Bee(other.clone()), opts)
    }

    fn diff_from(&self, right: Right<S>, opts: RangeOptions) -> DiffIterator<S> {
        let r = EncodedRange::new(
            &self.prefix,
            opts.gt.as_deref(),
            opts.gte.as_deref(),
            opts.lt.as_deref(),
            opts.lte.as_deref(),
        );
        let bounds =
            Bounds { gte: r.gte.is_some(), gt: r.gt.or(r.gte), lte: r.lte.is_some(), lt: r.lt.or(r.lte) };
        DiffIterator { left: self.clone(), right: Some(right), bounds, limit: opts.limit, state: State::Idle }
    }
}

impl<S: Storage> DiffIterator<S> {
    /// The next difference, `None` at the end.
    pub async fn next(&mut self) -> Result<Option<DiffEntry>, BeeError> {
        match self.step().await {
            Ok(Some(d)) => Ok(Some(d)),
            Ok(None) => {
                if matches!(self.state, State::Open { .. }) {
                    self.state = State::Done;
                }
                Ok(None)
            }
            Err(e) => {
                self.state = State::Done;
                Err(e)
            }
        }
    }

    /// The iterator as a stream (an error ends it).
    pub fn into_stream(self) -> impl Stream<Item = Result<DiffEntry, BeeError>> {
        futures::stream::unfold(self, |mut it| async move { it.next().await.transpose().map(|r| (r, it)) })
    }

    async fn step(&mut self) -> Result<Option<DiffEntry>, BeeError> {
        if let State::Idle = self.state {
            let right = match self.right.take() {
                Some(Right::Version(v)) => self.left.checkout(v.max(1)).await,
                Some(Right::Bee(b)) => b,
                None => return Ok(None),
            };
            let a = Side::open(self.left.clone(), self.bounds.clone()).await?;
            let b = Side::open(right, self.bounds.clone()).await?;
            self.state = State::Open { a: Box::new(a), b: Box::new(b) };
        }
        let State::Open { a, b } = &mut self.state else { return Ok(None) };
        if self.limit == Some(0) {
            return Ok(None);
        }
        let (l, r) = match step(a, b).await? {
            None | Some((None, None)) => return Ok(None),
            Some(pair) => pair,
        };
        if let Some(limit) = &mut self.limit {
            *limit -= 1;
        }
        Ok(Some(DiffEntry { left: l.map(|l| a.bee.entry(&l)), right: r.map(|r| b.bee.entry(&r)) }))
    }
}

type Pair = (Option<Arc<BlockEntry>>, Option<Arc<BlockEntry>>);

/// JS `DiffIterator._next`.
async fn step<S: Storage>(a: &mut Side<S>, b: &mut Side<S>) -> Result<Option<Pair>, BeeError> {
    loop {
        let (l, r) = match (a.peek(), b.peek()) {
            (None, None) => return Ok(None),
            (None, Some(_)) => return Ok(Some((None, b.next_key().await?))),
            (Some(_), None) => return Ok(Some((a.next_key().await?, None))),
            (Some(l), Some(r)) => ((l.seq, l.is_key, l.offset), (r.seq, r.is_key, r.offset)),
        };
        if l == r {
            a.skip();
            b.skip();
            continue;
        }
        let c = cmp_keys(&a.top_key().await?, &b.top_key().await?);
        match (l.1, r.1) {
            (true, false) => {
                b.next().await?;
            }
            (false, true) => {
                a.next().await?;
            }
            (true, true) => {
                return Ok(Some(match c {
                    Ordering::Equal => (a.next_key().await?, b.next_key().await?),
                    Ordering::Less => (a.next_key().await?, None),
                    Ordering::Greater => (None, b.next_key().await?),
                }));
            }
            (false, false) => match c {
                Ordering::Equal => {
                    a.next().await?;
                    b.next().await?;
                }
                Ordering::Less => {
                    b.next().await?;
                }
                Ordering::Greater => {
                    a.next().await?;
                }
            },
        }
    }
}
