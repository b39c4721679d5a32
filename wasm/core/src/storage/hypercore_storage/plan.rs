//! Commit planning: turning a [`CoreWrite`]'s block and node operations into the records of
//! one [`WriteBatch`], reading partially filled packs and pages through the caches.

use super::*;

/// Merges intervals into a sorted list of disjoint, non-adjacent ones.
pub(super) fn merge_intervals(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
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

pub(super) fn in_intervals(v: &[(u64, u64)], i: u64) -> bool {
    let pos = v.partition_point(|(a, _)| *a <= i);
    pos > 0 && v.get(pos - 1).is_some_and(|(_, b)| i < *b)
}

/// Splits contiguous blocks starting at `start` into packs of at most `target` bytes.
pub(super) fn chunk(start: u64, blocks: Vec<Vec<u8>>, target: usize) -> Vec<(u64, Vec<Vec<u8>>)> {
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

impl<S: Storage> CoreStorage<S> {
    pub(super) async fn plan_blocks(
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

    pub(super) async fn plan_nodes(
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
