//! The per-core record layout over any [`Storage`] (the JS equivalent is npm
//! `hypercore-storage`).
//!
//! # Keys
//!
//! One table byte, then a big-endian `u64` where needed:
//!
//! | key | value |
//! |---|---|
//! | `0x00` | header (opaque bytes) |
//! | `0x01 ‖ u64be(first)` | block pack: `uint count, count × buffer`, blocks `first..first+count` |
//! | `0x02 ‖ u64be(page)` | tree page: 32-byte presence bitmap, `uint size ‖ hash` per node, crc32 LE |
//! | `0x03 ‖ u64be(page)` | bitfield page (opaque bytes) |
//! | `0x04 ‖ name` | user data (opaque bytes) |
//!
//! # Block packs
//!
//! Contiguous blocks are packed into records of at most [`Storage::block_pack_bytes`]
//! ([`PACK_TARGET_BYTES`] unless the backend says otherwise; one larger
//! block gets a record of its own), because per-record costs dominate in IndexedDB. Packs
//! never overlap and are always contiguous (no holes): clearing blocks inside a pack rewrites
//! it as up to two packs. Block `i` is found by a floor look-up of the greatest pack start
//! `≤ i`. Writes next to a pack that still has room are merged into it, so one-block appends
//! grow the last pack instead of creating a record per block.
//!
//! # Transactions and caches
//!
//! [`CoreStorage::commit`] turns one [`CoreWrite`] into exactly one [`WriteBatch`]. Partially
//! filled tree pages and straddling packs are read first (through bounded caches of decoded
//! packs and pages). Commits must not run concurrently on one core (the hypercore layer
//! serialises them); reads may run at any time. After a successful commit the caches hold
//! the new records; after a failed or cancelled one they are emptied.

mod records;

use records::{
    block_cost, decode_pack, decode_pack_owned, decode_page, encode_pack, encode_page, page_of,
    parse_table_key, table_end, BlockOp, NodeOp, Page,
};
pub use records::{
    table_key, user_data_key, CoreWrite, NODES_PER_PAGE, PACK_TARGET_BYTES, TABLE_BITFIELD, TABLE_BLOCKS,
    TABLE_HEADER, TABLE_TREE, TABLE_USER_DATA,
};

use super::{Scan, Storage, StorageError, WriteBatch};
use crate::tree::Node;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Default byte budget of the decoded-pack cache.
pub const DEFAULT_PACK_CACHE_BYTES: usize = 4 << 20;
/// Default number of decoded tree pages cached (at most ~12 KiB each: 1024 pages hold the
/// whole tree of a 131,072-block core, so random reads of such a core read no tree page).
pub const DEFAULT_PAGE_CACHE_PAGES: usize = 1024;

type Pack = Arc<Vec<Vec<u8>>>;

fn pack_end(start: u64, pack: &[Vec<u8>]) -> u64 {
    start.saturating_add(pack.len() as u64)
}

fn pack_get(start: u64, pack: &[Vec<u8>], index: u64) -> Option<&Vec<u8>> {
    let offset = usize::try_from(index.checked_sub(start)?).ok()?;
    pack.get(offset)
}

fn pack_cost(pack: &[Vec<u8>]) -> usize {
    pack.iter().map(|b| block_cost(b)).sum()
}

#[derive(Debug)]
struct CachedPack {
    blocks: Pack,
    bytes: usize,
    tick: u64,
}

#[derive(Debug, Default)]
struct Caches {
    /// Bumped around every write; reads only fill the caches if it did not move.
    gen: u64,
    /// Writes in flight.
    writing: u32,
    tick: u64,
    packs: BTreeMap<u64, CachedPack>,
    /// Least recently used first: `tick → pack start`.
    pack_lru: BTreeMap<u64, u64>,
    pack_bytes: usize,
    pages: BTreeMap<u64, (Arc<Page>, u64)>,
    /// Least recently used first: `tick → page number`.
    page_lru: BTreeMap<u64, u64>,
    /// Every stored pack start, once known (one keys-only scan, then kept up to date by
    /// commits): floor look-ups become a keyed `get` and commits skip read-before-write
    /// look-ups of packs that do not exist. `None` after `clear`.
    starts: Option<BTreeSet<u64>>,
    /// Every stored tree page number, known together with `starts`: a page that is not
    /// stored (the next one an append fills) needs no read.
    stored_pages: BTreeSet<u64>,
}

impl Caches {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The cached pack containing `index`, if any.
    fn pack_covering(&mut self, index: u64) -> Option<(u64, Pack)> {
        let tick = self.next_tick();
        let (start, cached) = self.packs.range_mut(..=index).next_back()?;
        if index < pack_end(*start, &cached.blocks) {
            self.pack_lru.remove(&cached.tick);
            self.pack_lru.insert(tick, *start);
            cached.tick = tick;
            Some((*start, cached.blocks.clone()))
        } else {
            None
        }
    }

    fn pack_at(&mut self, start: u64) -> Option<Pack> {
        let tick = self.next_tick();
        let cached = self.packs.get_mut(&start)?;
        self.pack_lru.remove(&cached.tick);
        self.pack_lru.insert(tick, start);
        cached.tick = tick;
        Some(cached.blocks.clone())
    }

    fn remove_pack(&mut self, start: u64) {
        if let Some(old) = self.packs.remove(&start) {
            self.pack_lru.remove(&old.tick);
            self.pack_bytes = self.pack_bytes.saturating_sub(old.bytes);
        }
    }

    fn insert_pack(&mut self, start: u64, blocks: Pack, budget: usize) {
        self.remove_pack(start);
        let bytes = pack_cost(&blocks) + 64;
        if bytes > budget {
            return;
        }
        while self.pack_bytes + bytes > budget {
            let Some((_, oldest)) = self.pack_lru.first_key_value().map(|(t, s)| (*t, *s)) else { break };
            self.remove_pack(oldest);
        }
        let tick = self.next_tick();
        self.pack_bytes += bytes;
        self.pack_lru.insert(tick, start);
        self.packs.insert(start, CachedPack { blocks, bytes, tick });
    }

    fn page(&mut self, page: u64) -> Option<Arc<Page>> {
        let tick = self.next_tick();
        let (cached, t) = self.pages.get_mut(&page)?;
        self.page_lru.remove(t);
        self.page_lru.insert(tick, page);
        *t = tick;
        Some(cached.clone())
    }

    /// Removes and returns cached page `page_no` (a commit about to rewrite it).
    fn take_page(&mut self, page_no: u64) -> Option<Arc<Page>> {
        let (page, t) = self.pages.remove(&page_no)?;
        self.page_lru.remove(&t);
        Some(page)
    }

    fn remove_page(&mut self, page_no: u64) {
        if let Some((_, t)) = self.pages.remove(&page_no) {
            self.page_lru.remove(&t);
        }
    }

    fn insert_page(&mut self, page_no: u64, page: Arc<Page>, cap: usize) {
        if cap == 0 {
            return;
        }
        self.remove_page(page_no);
        while self.pages.len() >= cap {
            let Some(oldest) = self.page_lru.first_key_value().map(|(_, p)| *p) else { break };
            self.remove_page(oldest);
        }
        let tick = self.next_tick();
        self.page_lru.insert(tick, page_no);
        self.pages.insert(page_no, (page, tick));
    }

    /// Drops every cached page numbered `cut` or more.
    fn cut_pages(&mut self, cut: u64) {
        for (_, (_, t)) in self.pages.split_off(&cut) {
            self.page_lru.remove(&t);
        }
    }

    fn clear(&mut self) {
        self.packs.clear();
        self.pack_lru.clear();
        self.pack_bytes = 0;
        self.pages.clear();
        self.page_lru.clear();
        self.starts = None;
        self.stored_pages.clear();
    }

    /// The greatest stored pack start `≤ index` (`Some(None)`: no such pack), if the pack
    /// starts are known and no write is in flight.
    fn known_floor(&self, index: u64, gen0: u64) -> Option<Option<u64>> {
        let starts = self.starts.as_ref().filter(|_| self.writing == 0 && self.gen == gen0)?;
        Some(starts.range(..=index).next_back().copied())
    }

    /// Whether a pack starts at `start`, if known (see [`Caches::known_floor`]).
    fn known_start(&self, start: u64, gen0: u64) -> Option<bool> {
        let starts = self.starts.as_ref().filter(|_| self.writing == 0 && self.gen == gen0)?;
        Some(starts.contains(&start))
    }

    /// Applies a successful commit's pack changes to the known pack starts.
    fn update_starts(&mut self, effects: &Effects) {
        let Some(starts) = self.starts.as_mut() else { return };
        for &(a, b) in &effects.cleared {
            let mut tail = starts.split_off(&a);
            let mut rest = tail.split_off(&b);
            if b == u64::MAX {
                rest.remove(&u64::MAX);
            }
            starts.append(&mut rest);
        }
        for s in &effects.dropped_packs {
            starts.remove(s);
        }
        starts.extend(effects.new_packs.iter().map(|(s, _)| *s));
        if let Some(cut) = effects.page_cut {
            self.stored_pages.split_off(&cut);
        }
        for (page_no, page) in &effects.pages {
            if page.is_empty() {
                self.stored_pages.remove(page_no);
            } else {
                self.stored_pages.insert(*page_no);
            }
        }
    }

    /// Whether tree page `page_no` is stored, if known (see [`Caches::known_floor`]).
    fn known_page(&self, page_no: u64, gen0: u64) -> Option<bool> {
        self.starts.as_ref().filter(|_| self.writing == 0 && self.gen == gen0)?;
        Some(self.stored_pages.contains(&page_no))
    }
}

/// Cache changes to apply once a commit's batch is written.
#[derive(Debug, Default)]
struct Effects {
    cleared: Vec<(u64, u64)>,
    dropped_packs: Vec<u64>,
    new_packs: Vec<(u64, Pack)>,
    page_cut: Option<u64>,
    pages: Vec<(u64, Arc<Page>)>,
}

/// Marks a write in flight; on drop without success (failure or cancellation) it empties the
/// caches, so they never claim data that was not written.
struct WriteGuard<'a> {
    caches: &'a Mutex<Caches>,
    effects: Option<(Effects, usize, usize)>,
}

impl<'a> WriteGuard<'a> {
    fn begin(caches: &'a Mutex<Caches>) -> Self {
        let mut c = caches.lock().unwrap_or_else(PoisonError::into_inner);
        c.writing += 1;
        c.gen += 1;
        WriteGuard { caches, effects: None }
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let mut c = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        c.writing = c.writing.saturating_sub(1);
        c.gen += 1;
        let Some((effects, budget, cap)) = self.effects.take() else {
            c.clear();
            return;
        };
        c.update_starts(&effects);
        for (a, b) in effects.cleared {
            let starts: Vec<u64> = c.packs.range(a..b).map(|(s, _)| *s).collect();
            for s in starts {
                c.remove_pack(s);
            }
        }
        for s in effects.dropped_packs {
            c.remove_pack(s);
        }
        for (s, pack) in effects.new_packs {
            c.insert_pack(s, pack, budget);
        }
        if let Some(cut) = effects.page_cut {
            c.cut_pages(cut);
        }
        for (p, page) in effects.pages {
            c.insert_page(p, page, cap);
        }
    }
}

/// Merges intervals into a sorted list of disjoint, non-adjacent ones.
fn merge_intervals(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn in_intervals(v: &[(u64, u64)], i: u64) -> bool {
    let pos = v.partition_point(|(a, _)| *a <= i);
    pos > 0 && v.get(pos - 1).is_some_and(|(_, b)| i < *b)
}

/// Splits contiguous blocks starting at `start` into packs of at most `target` bytes.
fn chunk(start: u64, blocks: Vec<Vec<u8>>, target: usize) -> Vec<(u64, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut cur: Vec<Vec<u8>> = Vec::new();
    let mut cur_start = start;
    let mut cur_bytes = 0;
    for (i, block) in (start..).zip(blocks) {
        let cost = block_cost(&block);
        if !cur.is_empty() && cur_bytes + cost > target {
            out.push((cur_start, std::mem::take(&mut cur)));
            cur_start = i;
            cur_bytes = 0;
        }
        cur_bytes += cost;
        cur.push(block);
    }
    if !cur.is_empty() {
        out.push((cur_start, cur));
    }
    out
}

/// One core's records (header, block packs, tree pages, bitfield pages, user data) over a
/// [`Storage`] backend, with caches of decoded packs and tree pages.
#[derive(Debug)]
pub struct CoreStorage<S> {
    store: S,
    caches: Mutex<Caches>,
    pack_cache_bytes: usize,
    page_cache_pages: usize,
    /// Pack byte budget, from [`Storage::block_pack_bytes`].
    pack_target: usize,
}

impl<S: Storage> CoreStorage<S> {
    /// Lays a core out over `store` with the default cache sizes. A backend storing one
    /// record per block ([`Storage::block_pack_bytes`] 0) reads a block with one small
    /// look-up, so no decoded-pack cache is kept for it.
    pub fn new(store: S) -> Self {
        let pack_cache = if store.block_pack_bytes() == 0 { 0 } else { DEFAULT_PACK_CACHE_BYTES };
        Self::with_cache_limits(store, pack_cache, DEFAULT_PAGE_CACHE_PAGES)
    }

    /// Like [`CoreStorage::new`] with explicit cache bounds (bytes of decoded packs, number
    /// of tree pages; 0 disables a cache).
    pub fn with_cache_limits(store: S, pack_cache_bytes: usize, page_cache_pages: usize) -> Self {
        let pack_target = store.block_pack_bytes();
        CoreStorage { store, caches: Mutex::default(), pack_cache_bytes, page_cache_pages, pack_target }
    }

    /// The backend.
    pub fn storage(&self) -> &S {
        &self.store
    }

    /// Drops every cached pack and page (e.g. after the backend was changed behind our back).
    pub fn clear_caches(&self) {
        self.caches().clear();
    }

    fn caches(&self) -> MutexGuard<'_, Caches> {
        self.caches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cache generation a read starts from.
    fn gen(&self) -> u64 {
        self.caches().gen
    }

    fn fill_pack(&self, gen0: u64, start: u64, pack: &Pack) {
        if self.pack_cache_bytes == 0 {
            return;
        }
        let mut c = self.caches();
        if c.gen == gen0 && c.writing == 0 {
            c.insert_pack(start, pack.clone(), self.pack_cache_bytes);
        }
    }

    /// Loads the pack starts and stored tree page numbers (one keys-only scan) unless known or
    /// a write is in flight.
    async fn ensure_starts(&self, gen0: u64) -> Result<(), StorageError> {
        {
            let c = self.caches();
            if c.starts.is_some() || c.writing > 0 || c.gen != gen0 {
                return Ok(());
            }
        }
        let keys = self.store.scan_keys(Scan::range(vec![TABLE_BLOCKS], table_end(TABLE_TREE))).await?;
        let (mut starts, mut pages) = (BTreeSet::new(), BTreeSet::new());
        for key in &keys {
            if key.first() == Some(&TABLE_TREE) {
                pages.insert(parse_table_key(TABLE_TREE, key)?);
            } else {
                starts.insert(parse_table_key(TABLE_BLOCKS, key)?);
            }
        }
        let mut c = self.caches();
        if c.gen == gen0 && c.writing == 0 {
            c.starts = Some(starts);
            c.stored_pages = pages;
        }
        Ok(())
    }

    /// The pack with the greatest start `≤ index` (it may end before `index`).
    async fn floor_pack(&self, index: u64, gen0: u64) -> Result<Option<(u64, Pack)>, StorageError> {
        self.floor_pack_from(0, index, gen0).await
    }

    /// The pack with the greatest start in `lower..=index` (it may end before `index`).
    async fn floor_pack_from(
        &self,
        lower: u64,
        index: u64,
        gen0: u64,
    ) -> Result<Option<(u64, Pack)>, StorageError> {
        if let Some(hit) = self.caches().pack_covering(index) {
            if hit.0 >= lower {
                return Ok(Some(hit));
            }
        }
        if self.pack_target == 0 {
            // One record per block: the pack starting at `index` itself is the usual answer.
            if let Some(value) = self.store.get(table_key(TABLE_BLOCKS, index)).await? {
                let pack: Pack = Arc::new(decode_pack_owned(index, value)?);
                self.fill_pack(gen0, index, &pack);
                return Ok(Some((index, pack)));
            }
        } else {
            // Packed records: the in-memory index of pack starts turns the floor look-up
            // into one keyed get (a reverse cursor costs a transaction of its own in IDB).
            self.ensure_starts(gen0).await?;
            let known = self.caches().known_floor(index, gen0);
            match known {
                Some(None) => return Ok(None),
                Some(Some(start)) if start < lower => return Ok(None),
                Some(Some(start)) => {
                    // The floor pack may be cached even though it does not cover `index`.
                    if let Some(pack) = self.caches().pack_at(start) {
                        return Ok(Some((start, pack)));
                    }
                    // Falls through to the scan if a write raced us.
                    if let Some(value) = self.store.get(table_key(TABLE_BLOCKS, start)).await? {
                        let pack: Pack = Arc::new(decode_pack_owned(start, value)?);
                        if index < pack_end(start, &pack) {
                            self.fill_pack(gen0, start, &pack);
                        }
                        return Ok(Some((start, pack)));
                    }
                }
                None => {}
            }
        }
        let scan = Scan::floor(table_key(TABLE_BLOCKS, lower), table_key(TABLE_BLOCKS, index));
        let Some((key, value)) = self.store.scan(scan).await?.into_iter().next() else { return Ok(None) };
        let start = parse_table_key(TABLE_BLOCKS, &key)?;
        let pack: Pack = Arc::new(decode_pack_owned(start, value)?);
        if index < pack_end(start, &pack) {
            self.fill_pack(gen0, start, &pack);
        }
        Ok(Some((start, pack)))
    }

    /// The pack starting exactly at `start`.
    async fn pack_at(&self, start: u64, gen0: u64) -> Result<Option<Pack>, StorageError> {
        if let Some(hit) = self.caches().pack_at(start) {
            return Ok(Some(hit));
        }
        self.ensure_starts(gen0).await?;
        if self.caches().known_start(start, gen0) == Some(false) {
            return Ok(None);
        }
        let Some(value) = self.store.get(table_key(TABLE_BLOCKS, start)).await? else { return Ok(None) };
        let pack: Pack = Arc::new(decode_pack_owned(start, value)?);
        self.fill_pack(gen0, start, &pack);
        Ok(Some(pack))
    }

    /// Tree page `page_no` (empty if absent).
    async fn load_page(&self, page_no: u64, gen0: u64) -> Result<Arc<Page>, StorageError> {
        if let Some(hit) = self.caches().page(page_no) {
            return Ok(hit);
        }
        self.ensure_starts(gen0).await?;
        let stored = self.caches().known_page(page_no, gen0);
        let page = match stored {
            Some(false) => None,
            _ => self.store.get(table_key(TABLE_TREE, page_no)).await?,
        };
        let page = match page {
            Some(bytes) => Arc::new(decode_page(page_no, &bytes)?),
            None => Arc::new(Page::new()),
        };
        let mut c = self.caches();
        if c.gen == gen0 && c.writing == 0 {
            c.insert_page(page_no, page.clone(), self.page_cache_pages);
        }
        Ok(page)
    }

    /// The header record.
    pub async fn get_header(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.store.get(vec![TABLE_HEADER]).await
    }

    /// One block.
    pub async fn get_block(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let Some((start, pack)) = self.floor_pack(index, self.gen()).await? else { return Ok(None) };
        let Ok(offset) = usize::try_from(index - start) else { return Ok(None) };
        Ok(match Arc::try_unwrap(pack) {
            // Not shared with the cache: take the block instead of copying it.
            Ok(mut blocks) if offset < blocks.len() => Some(blocks.swap_remove(offset)),
            Ok(_) => None,
            Err(shared) => shared.get(offset).cloned(),
        })
    }

    /// Several blocks, in request order (`None` where absent). Indexes are looked up in
    /// ascending order so neighbours share one pack read.
    pub async fn get_blocks(&self, indexes: &[u64]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let gen0 = self.gen();
        let mut sorted: Vec<(u64, usize)> = indexes.iter().copied().zip(0..).collect();
        sorted.sort_unstable();
        let mut out = vec![None; indexes.len()];
        let mut current: Option<(u64, Pack)> = None;
        for (index, pos) in sorted {
            let covered = current.as_ref().is_some_and(|(s, p)| *s <= index && index < pack_end(*s, p));
            if !covered {
                current = self.floor_pack(index, gen0).await?;
            }
            if let (Some((s, p)), Some(slot)) = (&current, out.get_mut(pos)) {
                *slot = pack_get(*s, p, index).cloned();
            }
        }
        Ok(out)
    }

    /// Blocks `blocks` and tree nodes `nodes` (by flat index), in request order, reading
    /// everything that is not cached with **one** [`Storage::get_many`] once the pack starts
    /// are known (e.g. a block and its leaf: one IndexedDB transaction instead of two).
    pub async fn get_blocks_and_nodes(
        &self,
        blocks: &[u64],
        nodes: &[u64],
    ) -> Result<(Vec<Option<Vec<u8>>>, Vec<Option<Node>>), StorageError> {
        let gen0 = self.gen();
        let mut block_out: Vec<Option<Option<Vec<u8>>>> = vec![None; blocks.len()];
        let mut node_out: Vec<Option<Option<Node>>> = vec![None; nodes.len()];
        // Cache pass: what is left is `(pack start or page number) → positions`.
        let mut want_packs: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        let mut want_pages: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        let mut fallback = Vec::new();
        let mut missing_blocks = Vec::new();
        {
            let mut c = self.caches();
            for (pos, &index) in blocks.iter().enumerate() {
                match c.pack_covering(index) {
                    Some((s, p)) => block_out[pos] = Some(pack_get(s, &p, index).cloned()),
                    None => missing_blocks.push(pos),
                }
            }
            for (pos, &index) in nodes.iter().enumerate() {
                let (page_no, slot) = page_of(index);
                match c.page(page_no) {
                    Some(page) => {
                        node_out[pos] =
                            Some(page.get(&slot).map(|(size, hash)| Node { index, size: *size, hash: *hash }))
                    }
                    None => want_pages.entry(page_no).or_default().push(pos),
                }
            }
        }
        if !missing_blocks.is_empty() || !want_pages.is_empty() {
            self.ensure_starts(gen0).await?;
            let c = self.caches();
            want_pages.retain(|page_no, positions| {
                let unstored = c.known_page(*page_no, gen0) == Some(false);
                if unstored {
                    for &pos in positions.iter() {
                        node_out[pos] = Some(None);
                    }
                }
                !unstored
            });
            for pos in missing_blocks {
                match c.known_floor(blocks[pos], gen0) {
                    Some(None) => block_out[pos] = Some(None),
                    // Cached but not covering: the block is in no pack.
                    Some(Some(start)) if c.packs.contains_key(&start) => block_out[pos] = Some(None),
                    Some(Some(start)) => want_packs.entry(start).or_default().push(pos),
                    None => fallback.push(pos),
                }
            }
        }
        let keys: Vec<Vec<u8>> = want_packs
            .keys()
            .map(|s| table_key(TABLE_BLOCKS, *s))
            .chain(want_pages.keys().map(|p| table_key(TABLE_TREE, *p)))
            .collect();
        let mut values = self.store.get_many(&keys).await?.into_iter();
        for (start, positions) in want_packs {
            match values.next().flatten() {
                Some(value) => {
                    let pack: Pack = Arc::new(decode_pack(start, &value)?);
                    self.fill_pack(gen0, start, &pack);
                    for pos in positions {
                        let index = blocks[pos];
                        if index < pack_end(start, &pack) {
                            block_out[pos] = Some(pack_get(start, &pack, index).cloned());
                        } else {
                            block_out[pos] = Some(None);
                        }
                    }
                }
                // A write raced us: take the slow path.
                None => fallback.extend(positions),
            }
        }
        for (page_no, positions) in want_pages {
            let page = match values.next().flatten() {
                Some(bytes) => Arc::new(decode_page(page_no, &bytes)?),
                None => Arc::new(Page::new()),
            };
            {
                let mut c = self.caches();
                if c.gen == gen0 && c.writing == 0 {
                    c.insert_page(page_no, page.clone(), self.page_cache_pages);
                }
            }
            for pos in positions {
                let index = nodes[pos];
                let (_, slot) = page_of(index);
                node_out[pos] =
                    Some(page.get(&slot).map(|(size, hash)| Node { index, size: *size, hash: *hash }));
            }
        }
        if !fallback.is_empty() {
            let indexes: Vec<u64> = fallback.iter().map(|&pos| blocks[pos]).collect();
            for (pos, block) in fallback.into_iter().zip(self.get_blocks(&indexes).await?) {
                block_out[pos] = Some(block);
            }
        }
        Ok((
            block_out.into_iter().map(Option::flatten).collect(),
            node_out.into_iter().map(Option::flatten).collect(),
        ))
    }

    /// Sets the cache bounds (bytes of decoded packs, number of tree pages; 0 disables a
    /// cache). Entries beyond the new bounds are dropped lazily, as new ones come in.
    pub fn set_cache_limits(&mut self, pack_cache_bytes: usize, page_cache_pages: usize) {
        self.pack_cache_bytes = pack_cache_bytes;
        self.page_cache_pages = page_cache_pages;
        if pack_cache_bytes == 0 || page_cache_pages == 0 {
            let mut c = self.caches();
            if pack_cache_bytes == 0 {
                let starts: Vec<u64> = c.packs.keys().copied().collect();
                for s in starts {
                    c.remove_pack(s);
                }
            }
            if page_cache_pages == 0 {
                c.cut_pages(0);
            }
        }
    }

    /// The cache bounds: `(pack bytes, tree pages)`.
    pub fn cache_limits(&self) -> (usize, usize) {
        (self.pack_cache_bytes, self.page_cache_pages)
    }

    /// One tree node by flat index.
    pub async fn get_node(&self, index: u64) -> Result<Option<Node>, StorageError> {
        Ok(self.get_nodes(&[index]).await?.pop().flatten())
    }

    /// Several tree nodes by flat index, in request order (`None` where absent).
    pub async fn get_nodes(&self, indexes: &[u64]) -> Result<Vec<Option<Node>>, StorageError> {
        let gen0 = self.gen();
        let mut out = Vec::with_capacity(indexes.len());
        let mut current: Option<(u64, Arc<Page>)> = None;
        for &index in indexes {
            let (page_no, slot) = page_of(index);
            let page = match &current {
                Some((p, page)) if *p == page_no => page.clone(),
                _ => {
                    let page = self.load_page(page_no, gen0).await?;
                    current = Some((page_no, page.clone()));
                    page
                }
            };
            out.push(page.get(&slot).map(|(size, hash)| Node { index, size: *size, hash: *hash }));
        }
        Ok(out)
    }

    /// The bitfield pages with numbers in `pages`, ascending, as `(page, bytes)`.
    pub async fn get_bitfield_pages(&self, pages: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
        if pages.start >= pages.end {
            return Ok(Vec::new());
        }
        let scan = Scan::range(table_key(TABLE_BITFIELD, pages.start), table_key(TABLE_BITFIELD, pages.end));
        let entries = self.store.scan(scan).await?;
        entries.into_iter().map(|(k, v)| Ok((parse_table_key(TABLE_BITFIELD, &k)?, v))).collect()
    }

    /// User-data entry `name`.
    pub async fn get_user_data(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.store.get(user_data_key(name)).await
    }

    /// The stored packs as `(first_block, block_count)`, ascending (diagnostics and tests;
    /// reads every pack).
    pub async fn pack_layout(&self) -> Result<Vec<(u64, u64)>, StorageError> {
        let scan = Scan::range(vec![TABLE_BLOCKS], table_end(TABLE_BLOCKS));
        let entries = self.store.scan(scan).await?;
        entries
            .into_iter()
            .map(|(k, v)| {
                let start = parse_table_key(TABLE_BLOCKS, &k)?;
                Ok((start, decode_pack(start, &v)?.len() as u64))
            })
            .collect()
    }

    /// Applies `write` as one atomic backend write.
    pub async fn commit(&self, write: CoreWrite) -> Result<(), StorageError> {
        if write.is_empty() {
            return Ok(());
        }
        let gen0 = self.gen();
        let mut batch = WriteBatch::new();
        let mut effects = Effects::default();
        if let Some(header) = write.header {
            batch.put(vec![TABLE_HEADER], header);
        }
        self.plan_blocks(write.blocks, gen0, &mut batch, &mut effects).await?;
        self.plan_nodes(write.nodes, gen0, &mut batch, &mut effects).await?;
        for (page, bytes) in write.bitfield {
            match bytes {
                Some(bytes) => batch.put(table_key(TABLE_BITFIELD, page), bytes),
                None => batch.delete(table_key(TABLE_BITFIELD, page)),
            };
        }
        for (name, value) in write.user_data {
            match value {
                Some(value) => batch.put(user_data_key(&name), value),
                None => batch.delete(user_data_key(&name)),
            };
        }
        let mut guard = WriteGuard::begin(&self.caches);
        self.store.write(batch).await?;
        guard.effects = Some((effects, self.pack_cache_bytes, self.page_cache_pages));
        Ok(())
    }

    async fn plan_blocks(
        &self,
        ops: Vec<BlockOp>,
        gen0: u64,
        batch: &mut WriteBatch,
        effects: &mut Effects,
    ) -> Result<(), StorageError> {
        if ops.is_empty() {
            return Ok(());
        }
        // Net effect: clear these intervals (including every put's own range), then put.
        let mut puts: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut cleared = Vec::new();
        for op in ops {
            match op {
                BlockOp::Put { first, blocks } => {
                    let end = first
                        .checked_add(blocks.len() as u64)
                        .ok_or_else(|| StorageError::Io("block index overflows u64".into()))?;
                    puts.extend((first..).zip(blocks));
                    cleared.push((first, end));
                }
                BlockOp::Clear { start, end } => {
                    let mut tail = puts.split_off(&start);
                    puts.append(&mut tail.split_off(&end));
                    cleared.push((start, end));
                }
            }
        }
        let cleared = merge_intervals(cleared);

        // Packs reaching out of a cleared interval keep their blocks outside it.
        let mut touched: BTreeMap<u64, Pack> = BTreeMap::new();
        for &(a, b) in &cleared {
            if a > 0 {
                if let Some((s, p)) = self.floor_pack(a - 1, gen0).await? {
                    if pack_end(s, &p) > a {
                        touched.insert(s, p);
                    }
                }
            }
            if b != u64::MAX {
                if let Some((s, p)) = self.floor_pack_from(a, b - 1, gen0).await? {
                    if s >= a && pack_end(s, &p) > b {
                        touched.insert(s, p);
                    }
                }
            }
        }
        let mut blocks: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for (s, p) in &touched {
            for (i, block) in (*s..).zip(p.iter()) {
                if !in_intervals(&cleared, i) {
                    blocks.insert(i, block.clone());
                }
            }
        }
        blocks.append(&mut puts);

        // Contiguous runs, each merged with untouched neighbour packs that have room.
        let mut runs: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
        for (i, block) in blocks {
            match runs.last_mut() {
                Some((s, run)) if pack_end(*s, run) == i => run.push(block),
                _ => runs.push((i, vec![block])),
            }
        }
        let mut absorbed = BTreeSet::new();
        let untouched = |s: u64, absorbed: &BTreeSet<u64>| {
            !touched.contains_key(&s) && !in_intervals(&cleared, s) && !absorbed.contains(&s)
        };
        for (mut start, mut run) in runs {
            if self.pack_target == 0 {
                // Every block is its own pack: nothing to merge with (a block costs ≥ 1 byte).
                effects.new_packs.extend(chunk(start, run, 0).into_iter().map(|(s, p)| (s, Arc::new(p))));
                continue;
            }
            if start > 0 {
                if let Some((s, p)) = self.floor_pack(start - 1, gen0).await? {
                    let first_cost = run.first().map_or(0, |b| block_cost(b));
                    if pack_end(s, &p) == start
                        && untouched(s, &absorbed)
                        && pack_cost(&p) + first_cost <= self.pack_target
                    {
                        absorbed.insert(s);
                        let mut merged: Vec<Vec<u8>> = p.iter().cloned().collect();
                        merged.append(&mut run);
                        run = merged;
                        start = s;
                    }
                }
            }
            let end = pack_end(start, &run);
            if end != u64::MAX && untouched(end, &absorbed) {
                if let Some(p) = self.pack_at(end, gen0).await? {
                    let last_cost = run.last().map_or(0, |b| block_cost(b));
                    if pack_cost(&p) + last_cost <= self.pack_target {
                        absorbed.insert(end);
                        run.extend(p.iter().cloned());
                    }
                }
            }
            effects
                .new_packs
                .extend(chunk(start, run, self.pack_target).into_iter().map(|(s, p)| (s, Arc::new(p))));
        }

        for &(a, b) in &cleared {
            let end = if b == u64::MAX { table_end(TABLE_BLOCKS) } else { table_key(TABLE_BLOCKS, b) };
            batch.delete_range(table_key(TABLE_BLOCKS, a), end);
        }
        for &s in touched.keys().chain(absorbed.iter()) {
            batch.delete(table_key(TABLE_BLOCKS, s));
            effects.dropped_packs.push(s);
        }
        for (s, p) in &effects.new_packs {
            batch.put(table_key(TABLE_BLOCKS, *s), encode_pack(p));
        }
        effects.cleared = cleared;
        Ok(())
    }

    async fn plan_nodes(
        &self,
        ops: Vec<NodeOp>,
        gen0: u64,
        batch: &mut WriteBatch,
        effects: &mut Effects,
    ) -> Result<(), StorageError> {
        let mut pages: BTreeMap<u64, Page> = BTreeMap::new();
        let mut cut: Option<u64> = None;
        for op in ops {
            let (page_no, slot) = match op {
                NodeOp::Put(node) => page_of(node.index),
                NodeOp::Truncate(index) | NodeOp::Delete(index) => page_of(index),
            };
            if let Entry::Vacant(slot) = pages.entry(page_no) {
                let page = if cut.is_some_and(|c| page_no >= c) {
                    Page::new()
                } else {
                    // Taken out of the cache (the commit puts the new version back), so the
                    // usual single owner is edited in place instead of copied.
                    let taken = self.caches().take_page(page_no);
                    let page = match taken {
                        Some(page) => page,
                        None => self.load_page(page_no, gen0).await?,
                    };
                    Arc::try_unwrap(page).unwrap_or_else(|shared| (*shared).clone())
                };
                slot.insert(page);
            }
            match op {
                NodeOp::Put(node) => {
                    pages.entry(page_no).or_default().insert(slot, (node.size, node.hash));
                }
                NodeOp::Delete(_) => {
                    pages.entry(page_no).or_default().remove(&slot);
                }
                NodeOp::Truncate(_) => {
                    pages.entry(page_no).or_default().retain(|s| *s < slot);
                    let next = page_no.saturating_add(1);
                    for page in pages.range_mut(next..).map(|(_, p)| p) {
                        page.clear();
                    }
                    cut = Some(cut.map_or(next, |c| c.min(next)));
                }
            }
        }
        if let Some(c) = cut {
            batch.delete_range(table_key(TABLE_TREE, c), table_end(TABLE_TREE));
        }
        for (page_no, page) in pages {
            if page.is_empty() {
                batch.delete(table_key(TABLE_TREE, page_no));
            } else {
                batch.put(table_key(TABLE_TREE, page_no), encode_page(&page));
            }
            effects.pages.push((page_no, Arc::new(page)));
        }
        effects.page_cut = cut;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
