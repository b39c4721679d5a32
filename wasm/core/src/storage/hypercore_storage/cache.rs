//! Decoded-pack and tree-page caches of [`CoreStorage`](super::CoreStorage), the in-memory
//! index of pack starts and stored pages, and the write guard that updates them only after a
//! commit succeeded (and empties them after a failed one).

use super::*;

pub(super) type Pack = Arc<Vec<Vec<u8>>>;

pub(super) fn pack_end(start: u64, pack: &[Vec<u8>]) -> u64 {
    start.saturating_add(pack.len() as u64)
}

pub(super) fn pack_get(start: u64, pack: &[Vec<u8>], index: u64) -> Option<&Vec<u8>> {
    let offset = usize::try_from(index.checked_sub(start)?).ok()?;
    pack.get(offset)
}

pub(super) fn pack_cost(pack: &[Vec<u8>]) -> usize {
    pack.iter().map(|b| block_cost(b)).sum()
}

#[derive(Debug)]
pub(super) struct CachedPack {
    pub(super) blocks: Pack,
    pub(super) bytes: usize,
    pub(super) tick: u64,
}

#[derive(Debug, Default)]
pub(super) struct Caches {
    /// Bumped around every write; reads only fill the caches if it did not move.
    pub(super) gen: u64,
    /// Writes in flight.
    pub(super) writing: u32,
    pub(super) tick: u64,
    pub(super) packs: BTreeMap<u64, CachedPack>,
    /// Least recently used first: `tick → pack start`.
    pub(super) pack_lru: BTreeMap<u64, u64>,
    pub(super) pack_bytes: usize,
    pub(super) pages: BTreeMap<u64, (Arc<Page>, u64)>,
    /// Least recently used first: `tick → page number`.
    pub(super) page_lru: BTreeMap<u64, u64>,
    /// Every stored pack start, once known (one keys-only scan, then kept up to date by
    /// commits): floor look-ups become a keyed `get` and commits skip read-before-write
    /// look-ups of packs that do not exist. `None` after `clear`.
    pub(super) starts: Option<BTreeSet<u64>>,
    /// Every stored tree page number, known together with `starts`: a page that is not
    /// stored (the next one an append fills) needs no read.
    pub(super) stored_pages: BTreeSet<u64>,
}

impl Caches {
    pub(super) fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The cached pack containing `index`, if any.
    pub(super) fn pack_covering(&mut self, index: u64) -> Option<(u64, Pack)> {
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

    pub(super) fn pack_at(&mut self, start: u64) -> Option<Pack> {
        let tick = self.next_tick();
        let cached = self.packs.get_mut(&start)?;
        self.pack_lru.remove(&cached.tick);
        self.pack_lru.insert(tick, start);
        cached.tick = tick;
        Some(cached.blocks.clone())
    }

    pub(super) fn remove_pack(&mut self, start: u64) {
        if let Some(old) = self.packs.remove(&start) {
            self.pack_lru.remove(&old.tick);
            self.pack_bytes = self.pack_bytes.saturating_sub(old.bytes);
        }
    }

    pub(super) fn insert_pack(&mut self, start: u64, blocks: Pack, budget: usize) {
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

    pub(super) fn page(&mut self, page: u64) -> Option<Arc<Page>> {
        let tick = self.next_tick();
        let (cached, t) = self.pages.get_mut(&page)?;
        self.page_lru.remove(t);
        self.page_lru.insert(tick, page);
        *t = tick;
        Some(cached.clone())
    }

    /// Removes and returns cached page `page_no` (a commit about to rewrite it).
    pub(super) fn take_page(&mut self, page_no: u64) -> Option<Arc<Page>> {
        let (page, t) = self.pages.remove(&page_no)?;
        self.page_lru.remove(&t);
        Some(page)
    }

    pub(super) fn remove_page(&mut self, page_no: u64) {
        if let Some((_, t)) = self.pages.remove(&page_no) {
            self.page_lru.remove(&t);
        }
    }

    pub(super) fn insert_page(&mut self, page_no: u64, page: Arc<Page>, cap: usize) {
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
    pub(super) fn cut_pages(&mut self, cut: u64) {
        for (_, (_, t)) in self.pages.split_off(&cut) {
            self.page_lru.remove(&t);
        }
    }

    pub(super) fn clear(&mut self) {
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
    pub(super) fn known_floor(&self, index: u64, gen0: u64) -> Option<Option<u64>> {
        let starts = self.starts.as_ref().filter(|_| self.writing == 0 && self.gen == gen0)?;
        Some(starts.range(..=index).next_back().copied())
    }

    /// Whether a pack starts at `start`, if known (see [`Caches::known_floor`]).
    pub(super) fn known_start(&self, start: u64, gen0: u64) -> Option<bool> {
        let starts = self.starts.as_ref().filter(|_| self.writing == 0 && self.gen == gen0)?;
        Some(starts.contains(&start))
    }

    /// Applies a successful commit's pack changes to the known pack starts.
    pub(super) fn update_starts(&mut self, effects: &Effects) {
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
    pub(super) fn known_page(&self, page_no: u64, gen0: u64) -> Option<bool> {
        self.starts.as_ref().filter(|_| self.writing == 0 && self.gen == gen0)?;
        Some(self.stored_pages.contains(&page_no))
    }
}

/// Cache changes to apply once a commit's batch is written.
#[derive(Debug, Default)]
pub(super) struct Effects {
    pub(super) cleared: Vec<(u64, u64)>,
    pub(super) dropped_packs: Vec<u64>,
    pub(super) new_packs: Vec<(u64, Pack)>,
    pub(super) page_cut: Option<u64>,
    pub(super) pages: Vec<(u64, Arc<Page>)>,
}

/// Marks a write in flight; on drop without success (failure or cancellation) it empties the
/// caches, so they never claim data that was not written.
pub(super) struct WriteGuard<'a> {
    pub(super) caches: &'a Mutex<Caches>,
    pub(super) effects: Option<(Effects, usize, usize)>,
}

impl<'a> WriteGuard<'a> {
    pub(super) fn begin(caches: &'a Mutex<Caches>) -> Self {
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
