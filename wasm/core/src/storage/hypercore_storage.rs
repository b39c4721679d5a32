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

mod cache;
mod plan;
mod records;

use cache::*;
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
        // One record per block (file backend): every look-up is already one keyed read, and an
        // index would hold one entry per block of the core in memory.
        if self.pack_target == 0 {
            return Ok(());
        }
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
}

#[cfg(test)]
mod tests;
