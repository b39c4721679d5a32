//! The proof matrix: requests described from the reader's side, turned into the requests a
//! replicator would send, and answered by the writer.

use crate::blocks::byte_length_at;
use crate::context::Ctx;
use crate::{Core, Error, READER_LENGTHS, WRITER_LENGTH};
use hyperwasm::tree::flat_tree;
use hyperwasm::tree::proof::{ProofRequest, RequestIndex, RequestSeek, RequestUpgrade};
use hyperwasm::tree::verify::missing_nodes;
use hyperwasm::tree::Proof;

/// A request of the proof matrix, described from the reader's side.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Case {
    pub(crate) l: u64,
    block: Option<u64>,
    hash: Option<u64>,
    seek: Option<u64>,
    /// Upgrade end (`start` is always the reader length); `Some(WRITER_LENGTH)` for a full one.
    upgrade_to: Option<u64>,
}

impl Case {
    fn at(l: u64) -> Self {
        Case { l, ..Case::default() }
    }
    fn block(mut self, i: u64) -> Self {
        self.block = Some(i);
        self
    }
    fn hash(mut self, i: u64) -> Self {
        self.hash = Some(i);
        self
    }
    fn seek(mut self, b: u64) -> Self {
        self.seek = Some(b);
        self
    }
    fn upgrade(mut self, to: u64) -> Self {
        self.upgrade_to = Some(to);
        self
    }
    fn full(self) -> Self {
        self.upgrade(WRITER_LENGTH)
    }
}

/// The request a replicator would send for `case`: node counts from `missing_nodes` on the
/// (Rust) reader, `nodes: 0` for blocks the reader cannot have a tree for yet.
pub(crate) async fn request_for(ctx: &Ctx, case: &Case) -> Result<(ProofRequest, bool), Error> {
    let reader = ctx.reader(case.l).await?;
    let l = case.l;
    let mut req = ProofRequest::default();
    if let Some(i) = case.block {
        let nodes = if i < l { missing_nodes(reader.storage(), 2 * i, l).await? } else { 0 };
        req.block = Some(RequestIndex { index: i, nodes });
    }
    if let Some(h) = case.hash {
        let nodes =
            if flat_tree::right_span(h) / 2 < l { missing_nodes(reader.storage(), h, l).await? } else { 0 };
        req.hash = Some(RequestIndex { index: h, nodes });
    }
    if let Some(bytes) = case.seek {
        req.seek = Some(RequestSeek { bytes, padding: 0 });
    }
    if let Some(to) = case.upgrade_to {
        req.upgrade = Some(RequestUpgrade { start: l, length: to - l });
    }
    let want_manifest = req.upgrade.is_some() && reader.manifest().is_none() && !ctx.compat;
    Ok((req, want_manifest))
}

pub(crate) fn case_name(c: &Case) -> String {
    let mut parts = Vec::new();
    if let Some(b) = c.block {
        parts.push(format!("block-{b}"));
    }
    if let Some(h) = c.hash {
        parts.push(format!("hash-{h}"));
    }
    if let Some(s) = c.seek {
        parts.push(format!("seek-{s}"));
    }
    match c.upgrade_to {
        Some(WRITER_LENGTH) => parts.push(format!("upgrade-{}-to-{WRITER_LENGTH}", c.l)),
        Some(to) => parts.push(format!("upgrade-{}-to-{to}-additional", c.l)),
        None => parts.push(format!("at-L{}", c.l)),
    }
    parts.join("-")
}

pub(crate) fn matrix() -> Vec<Case> {
    let w = WRITER_LENGTH;
    let mut v = Vec::new();
    // block proofs, no upgrade
    for (l, blocks) in [
        (45, &[0u64, 11, 18, 21, 33, 37, 40, 44][..]),
        (32, &[0, 5, 19, 26, 31]),
        (12, &[3, 4, 10]),
        (3, &[0, 2]),
        (1, &[0]),
    ] {
        for &b in blocks {
            v.push(Case::at(l).block(b));
        }
    }
    // hash proofs: leaves and parents
    for (l, hashes) in [(45, &[80u64, 9, 35, 71, 85][..]), (32, &[19, 31, 42]), (12, &[22, 17])] {
        for &h in hashes {
            v.push(Case::at(l).hash(h));
        }
    }
    // block at/after the reader's length + full upgrade
    for (l, b) in [(0, 0), (0, 7), (0, 60), (1, 5), (3, 3), (12, 20), (32, 40), (45, 45), (45, 60)] {
        v.push(Case::at(l).block(b).full());
    }
    // block the reader has a tree for + full upgrade
    for (l, b) in [(1, 0), (12, 3), (32, 10), (45, 2), (45, 44)] {
        v.push(Case::at(l).block(b).full());
    }
    // pure upgrades
    for &l in READER_LENGTHS {
        v.push(Case::at(l).full());
    }
    // upgrades with additionalNodes
    for (l, to) in [(0, 33), (0, 1), (3, 12), (12, 13), (1, 2), (32, 45), (45, 50), (3, 4)] {
        v.push(Case::at(l).upgrade(to));
    }
    v.push(Case::at(1).block(2).upgrade(4));
    v.push(Case::at(12).block(30).upgrade(32));
    // seek + upgrade
    let b11 = byte_length_at(11);
    let b12 = byte_length_at(12);
    let b45 = byte_length_at(45);
    let total = byte_length_at(w);
    for (l, bytes) in
        [(0, 0), (0, b11 + 500_000), (0, total - 1), (12, b12 + 10), (45, b45 + 1), (32, total - 1)]
    {
        v.push(Case::at(l).seek(bytes).full());
    }
    // block/hash + seek within the reader's tree
    v.push(Case::at(32).block(1).seek(6));
    v.push(Case::at(45).block(12).seek(b12 + 5));
    v.push(Case::at(45).hash(15).seek(100));
    v
}

pub(crate) async fn answer(
    writer: &Core,
    req: &ProofRequest,
    want_manifest: bool,
) -> Result<(Proof, Option<Vec<u8>>), Error> {
    let proof = writer.proof(req).await?;
    let manifest = if want_manifest { writer.manifest_for_peer() } else { None };
    Ok((proof, manifest))
}
