//! Keys and value codecs of the per-core tables, and the [`CoreWrite`] transaction builder.

use crate::crypto::hash::Hash;
use crate::encoding::{put_buffer, put_uint, uint_len, Decoder};
use crate::storage::StorageError;
use crate::tree::Node;

/// Table byte of the header record.
pub const TABLE_HEADER: u8 = 0x00;
/// Table byte of block packs (`0x01 ‖ u64be(first_block)`).
pub const TABLE_BLOCKS: u8 = 0x01;
/// Table byte of tree-node pages (`0x02 ‖ u64be(page)`).
pub const TABLE_TREE: u8 = 0x02;
/// Table byte of bitfield pages (`0x03 ‖ u64be(page)`).
pub const TABLE_BITFIELD: u8 = 0x03;
/// Table byte of user data (`0x04 ‖ name`).
pub const TABLE_USER_DATA: u8 = 0x04;

/// Largest payload a block pack grows to when blocks are small (below IndexedDB's 64 KiB
/// "separate file" threshold). A single larger block gets a record of its own.
pub const PACK_TARGET_BYTES: usize = 60 * 1024;
/// Flat tree indexes per tree page.
pub const NODES_PER_PAGE: u64 = 256;
const BITMAP_LEN: usize = (NODES_PER_PAGE / 8) as usize;

/// The key `table ‖ u64be(n)`.
pub fn table_key(table: u8, n: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(table);
    key.extend_from_slice(&n.to_be_bytes());
    key
}

/// The exclusive upper bound of every key of `table`.
pub(crate) fn table_end(table: u8) -> Vec<u8> {
    vec![table.saturating_add(1)]
}

/// The key of user-data entry `name`.
pub fn user_data_key(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + name.len());
    key.push(TABLE_USER_DATA);
    key.extend_from_slice(name.as_bytes());
    key
}

/// Parses `table ‖ u64be(n)`, rejecting anything else as corrupt.
pub(crate) fn parse_table_key(table: u8, key: &[u8]) -> Result<u64, StorageError> {
    match key {
        [t, rest @ ..] if *t == table => {
            let bytes: [u8; 8] = rest.try_into().map_err(|_| {
                StorageError::Corrupt(format!("key of table {table} has {} bytes, expected 9", key.len()))
            })?;
            Ok(u64::from_be_bytes(bytes))
        }
        _ => Err(StorageError::Corrupt(format!("key outside table {table}"))),
    }
}

/// Encoded size of one block inside a pack.
pub(crate) fn block_cost(block: &[u8]) -> usize {
    uint_len(block.len() as u64) + block.len()
}

/// Encodes a pack: `uint count, count × buffer`.
pub(crate) fn encode_pack(blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + blocks.iter().map(|b| block_cost(b)).sum::<usize>());
    put_uint(&mut out, blocks.len() as u64);
    for block in blocks {
        put_buffer(&mut out, block);
    }
    out
}

/// Decodes the pack starting at block `start`.
pub(crate) fn decode_pack(start: u64, bytes: &[u8]) -> Result<Vec<Vec<u8>>, StorageError> {
    let corrupt = |why: String| StorageError::Corrupt(format!("block pack at {start}: {why}"));
    let mut dec = Decoder::new(bytes);
    let count = dec.array_len().map_err(|e| corrupt(e.to_string()))?;
    if count == 0 {
        return Err(corrupt("empty pack".into()));
    }
    let mut blocks = Vec::with_capacity(count);
    for _ in 0..count {
        blocks.push(dec.buffer().map_err(|e| corrupt(e.to_string()))?.to_vec());
    }
    dec.finish().map_err(|e| corrupt(e.to_string()))?;
    Ok(blocks)
}

/// [`decode_pack`] taking the record by value: a one-block pack (the layout of backends
/// with [`Storage::block_pack_bytes`] 0) becomes its block without a copy.
///
/// [`Storage::block_pack_bytes`]: crate::storage::Storage::block_pack_bytes
pub(crate) fn decode_pack_owned(start: u64, mut bytes: Vec<u8>) -> Result<Vec<Vec<u8>>, StorageError> {
    let header = {
        let mut dec = Decoder::new(&bytes);
        match (dec.array_len(), dec.uint()) {
            (Ok(1), Ok(len)) if usize::try_from(len).ok() == Some(dec.remaining()) => Some(dec.position()),
            _ => None,
        }
    };
    match header {
        Some(h) => {
            bytes.drain(..h);
            Ok(vec![bytes])
        }
        None => decode_pack(start, &bytes),
    }
}

/// The nodes of one tree page, keyed by offset within the page: `(size, hash)`.
///
/// A dense slot array (allocated on first insert) rather than a map: decoding a page, the
/// hot path of every random block read, is then one pass of copies with no per-node
/// allocation, and cloning a page for a write is one memcpy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Page {
    slots: Vec<Option<(u64, Hash)>>,
    len: usize,
}

impl Page {
    /// An empty page.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The node at `slot`.
    pub(crate) fn get(&self, slot: &u8) -> Option<&(u64, Hash)> {
        self.slots.get(usize::from(*slot))?.as_ref()
    }

    /// Sets the node at `slot`.
    pub(crate) fn insert(&mut self, slot: u8, node: (u64, Hash)) {
        if self.slots.is_empty() {
            self.slots = vec![None; NODES_PER_PAGE as usize];
        }
        if let Some(s) = self.slots.get_mut(usize::from(slot)) {
            if s.replace(node).is_none() {
                self.len += 1;
            }
        }
    }

    /// Removes the node at `slot`.
    pub(crate) fn remove(&mut self, slot: &u8) {
        if let Some(s) = self.slots.get_mut(usize::from(*slot)) {
            if s.take().is_some() {
                self.len -= 1;
            }
        }
    }

    /// Keeps only the nodes whose slot satisfies `keep`.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&u8) -> bool) {
        for (slot, s) in (0..=u8::MAX).zip(self.slots.iter_mut()) {
            if s.is_some() && !keep(&slot) {
                *s = None;
                self.len -= 1;
            }
        }
    }

    /// Removes every node.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.len = 0;
    }

    /// Whether the page holds no node.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The present nodes in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u8, &(u64, Hash))> {
        (0..=u8::MAX).zip(self.slots.iter()).filter_map(|(slot, s)| Some((slot, s.as_ref()?)))
    }
}

/// Encodes a tree page: presence bitmap, `uint size ‖ hash` per present node, crc32 (LE).
pub(crate) fn encode_page(page: &Page) -> Vec<u8> {
    let mut out = vec![0u8; BITMAP_LEN];
    out.reserve(page.len * 34 + 4);
    for (slot, _) in page.iter() {
        if let Some(byte) = out.get_mut(usize::from(slot / 8)) {
            *byte |= 1 << (slot % 8);
        }
    }
    for (_, (size, hash)) in page.iter() {
        put_uint(&mut out, *size);
        out.extend_from_slice(hash);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes tree page `page_no`, checking its crc.
pub(crate) fn decode_page(page_no: u64, bytes: &[u8]) -> Result<Page, StorageError> {
    let corrupt = |why: String| StorageError::Corrupt(format!("tree page {page_no}: {why}"));
    if bytes.len() < BITMAP_LEN + 4 {
        return Err(corrupt(format!("{} bytes is too short", bytes.len())));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let crc: [u8; 4] = crc.try_into().map_err(|_| corrupt("missing checksum".into()))?;
    if crc32fast::hash(body) != u32::from_le_bytes(crc) {
        return Err(corrupt("checksum mismatch".into()));
    }
    let mut dec = Decoder::new(body);
    let bitmap: [u8; BITMAP_LEN] = dec.array().map_err(|e| corrupt(e.to_string()))?;
    let mut page = Page::new();
    for slot in 0..=u8::MAX {
        if bitmap.get(usize::from(slot / 8)).is_some_and(|b| b & (1 << (slot % 8)) != 0) {
            let size = dec.uint().map_err(|e| corrupt(e.to_string()))?;
            let hash: Hash = dec.array().map_err(|e| corrupt(e.to_string()))?;
            page.insert(slot, (size, hash));
        }
    }
    dec.finish().map_err(|e| corrupt(e.to_string()))?;
    Ok(page)
}

/// The page number and slot of flat index `index`.
pub(crate) fn page_of(index: u64) -> (u64, u8) {
    (index / NODES_PER_PAGE, (index % NODES_PER_PAGE) as u8)
}

/// One block mutation inside a [`CoreWrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlockOp {
    /// Store `blocks` at `first..first + blocks.len()`.
    Put { first: u64, blocks: Vec<Vec<u8>> },
    /// Remove blocks in `start..end`.
    Clear { start: u64, end: u64 },
}

/// One tree mutation inside a [`CoreWrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeOp {
    /// Store a node.
    Put(Node),
    /// Remove every node with flat index ≥ the value.
    Truncate(u64),
    /// Remove one node.
    Delete(u64),
}

/// Everything one core operation changes, committed as a single atomic [`WriteBatch`]
/// by [`CoreStorage::commit`](super::CoreStorage::commit).
///
/// Operations of one kind apply in the order they were added (a block put followed by a
/// truncation loses the put; a clear followed by a put keeps it).
///
/// [`WriteBatch`]: crate::storage::WriteBatch
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreWrite {
    pub(crate) header: Option<Vec<u8>>,
    pub(crate) blocks: Vec<BlockOp>,
    pub(crate) nodes: Vec<NodeOp>,
    pub(crate) bitfield: Vec<(u64, Option<Vec<u8>>)>,
    pub(crate) user_data: Vec<(String, Option<Vec<u8>>)>,
}

impl CoreWrite {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the transaction changes nothing.
    pub fn is_empty(&self) -> bool {
        self.header.is_none()
            && self.blocks.is_empty()
            && self.nodes.is_empty()
            && self.bitfield.is_empty()
            && self.user_data.is_empty()
    }

    /// Replaces the header record (opaque bytes).
    pub fn set_header(&mut self, header: Vec<u8>) -> &mut Self {
        self.header = Some(header);
        self
    }

    /// Stores contiguous blocks `first..first + blocks.len()` (an append, or a downloaded
    /// range). Blocks already stored at those indexes are replaced.
    pub fn put_blocks(&mut self, first: u64, blocks: Vec<Vec<u8>>) -> &mut Self {
        if !blocks.is_empty() {
            self.blocks.push(BlockOp::Put { first, blocks });
        }
        self
    }

    /// Stores one block at `index`.
    pub fn put_block(&mut self, index: u64, block: Vec<u8>) -> &mut Self {
        self.put_blocks(index, vec![block])
    }

    /// Removes every block with index ≥ `length`.
    pub fn truncate_blocks(&mut self, length: u64) -> &mut Self {
        self.clear_blocks(length, u64::MAX)
    }

    /// Removes the blocks in `start..end`.
    pub fn clear_blocks(&mut self, start: u64, end: u64) -> &mut Self {
        if start < end {
            self.blocks.push(BlockOp::Clear { start, end });
        }
        self
    }

    /// Stores a tree node (replacing one at the same index).
    pub fn put_node(&mut self, node: Node) -> &mut Self {
        self.nodes.push(NodeOp::Put(node));
        self
    }

    /// Stores tree nodes.
    pub fn put_nodes(&mut self, nodes: impl IntoIterator<Item = Node>) -> &mut Self {
        self.nodes.extend(nodes.into_iter().map(NodeOp::Put));
        self
    }

    /// Removes one tree node (a parent whose span a truncation cut through).
    pub fn delete_node(&mut self, index: u64) -> &mut Self {
        self.nodes.push(NodeOp::Delete(index));
        self
    }

    /// Removes every tree node with flat index ≥ `index`.
    pub fn truncate_nodes(&mut self, index: u64) -> &mut Self {
        self.nodes.push(NodeOp::Truncate(index));
        self
    }

    /// Stores bitfield page `page` (opaque bytes).
    pub fn put_bitfield_page(&mut self, page: u64, bytes: Vec<u8>) -> &mut Self {
        self.bitfield.push((page, Some(bytes)));
        self
    }

    /// Removes bitfield page `page`.
    pub fn delete_bitfield_page(&mut self, page: u64) -> &mut Self {
        self.bitfield.push((page, None));
        self
    }

    /// Sets (`Some`) or removes (`None`) user-data entry `name`.
    pub fn set_user_data(&mut self, name: impl Into<String>, value: Option<Vec<u8>>) -> &mut Self {
        self.user_data.push((name.into(), value));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_codec_roundtrip_and_crc() {
        let mut page = Page::new();
        page.insert(0, (5, [1; 32]));
        page.insert(255, (1 << 40, [2; 32]));
        let bytes = encode_page(&page);
        assert_eq!(decode_page(3, &bytes).unwrap(), page);
        let mut bad = bytes.clone();
        bad[40] ^= 1;
        let err = decode_page(3, &bad).unwrap_err();
        assert!(matches!(&err, StorageError::Corrupt(m) if m.contains("tree page 3")), "{err}");
        assert!(decode_page(3, &bytes[..10]).is_err());
        assert!(decode_page(3, &[]).is_err());
    }

    #[test]
    fn pack_codec_rejects_garbage() {
        let blocks = vec![vec![1, 2], vec![], vec![3; 300]];
        assert_eq!(decode_pack(0, &encode_pack(&blocks)).unwrap(), blocks);
        assert_eq!(decode_pack_owned(0, encode_pack(&blocks)).unwrap(), blocks);
        for one in [vec![], vec![7], vec![9; 300]] {
            assert_eq!(decode_pack_owned(0, encode_pack(std::slice::from_ref(&one))).unwrap(), vec![one]);
        }
        for bad in [&[][..], &[0], &[2, 1, 1], &[1, 5, 1], &[1, 0, 9], &[0xff, 0xff]] {
            assert!(matches!(decode_pack(7, bad), Err(StorageError::Corrupt(_))), "{bad:?}");
            assert!(matches!(decode_pack_owned(7, bad.to_vec()), Err(StorageError::Corrupt(_))), "{bad:?}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(table_key(TABLE_BLOCKS, 258), vec![1, 0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(parse_table_key(TABLE_BLOCKS, &table_key(TABLE_BLOCKS, 9)).unwrap(), 9);
        assert!(parse_table_key(TABLE_BLOCKS, &[1, 2]).is_err());
        assert!(parse_table_key(TABLE_TREE, &table_key(TABLE_BLOCKS, 9)).is_err());
        assert_eq!(user_data_key("ab"), vec![4, b'a', b'b']);
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Stored records are read back from storage a user or a disk may have damaged:
        /// decoding arbitrary bytes is an error or a value, never a panic.
        #[test]
        fn stored_record_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), start in any::<u64>()) {
            let _ = decode_pack(start, &bytes);
            let _ = decode_pack_owned(start, bytes.clone());
            let _ = decode_page(start, &bytes);
            let _ = parse_table_key(TABLE_BLOCKS, &bytes);
        }

        #[test]
        fn pack_round_trips(blocks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..70), 1..20)) {
            prop_assert_eq!(decode_pack(0, &encode_pack(&blocks)).unwrap(), blocks);
        }
    }
}
