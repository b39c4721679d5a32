//! # hyperwasm-interop
//!
//! The reverse direction of the oracle tests: cores, signatures and proofs produced by the
//! Rust library alone, exported in the JSON shapes of `tests/fixtures/README.md` so that
//! `tests/js/verify-rust.mjs` can check them with JS hypercore 11.39.5.
//!
//! [`export`] writes three files:
//! - `rust-cores.json` — a compat core and a default-manifest core, replayed by JS step by step
//!   (length, byte length, fork, roots, tree hash, signable, signature accepted and byte-equal);
//! - `rust-proofs.json` — JS readers bootstrapped with Rust upgrade proofs, then a matrix of
//!   Rust proofs (blocks, hashes, seeks, upgrades with additional nodes) JS must accept;
//! - `rust-invalid-proofs.json` — tampered Rust proofs JS must reject (`--expect-reject`).
//!
//! The block pattern deliberately differs from the JS fixtures: other key pairs, sizes, a
//! 1 MiB block at another index, runs of empty and of all-zero blocks, 61 blocks at fork 0,
//! a truncation to 43 (fork 1) and more appends.

pub mod json;

use hyperwasm::core::verifier::Verifier;
use hyperwasm::core::{CreateOptions, Hypercore, HypercoreError};
use hyperwasm::crypto::{blake2b, blake2b_batch, KeyPair};
use hyperwasm::encoding::{put_buffer, put_optional_buffer, put_uint, Compact};
use hyperwasm::storage::MemoryStorage;
use hyperwasm::tree::flat_tree;
use hyperwasm::tree::proof::{ProofRequest, RequestIndex, RequestSeek, RequestUpgrade};
use hyperwasm::tree::verify::{missing_nodes, verify};
use hyperwasm::tree::{Node, Proof};
use json::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Error type of the exporter.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

type Core = Hypercore<MemoryStorage>;

/// Blocks above this size are written as a generator description (as the JS fixtures do).
pub const INLINE_LIMIT: usize = 65536;

/// Fork-0 append schedule: lengths after each `append_batch`.
pub const FORK0_LENGTHS: &[u64] = &[1, 3, 11, 12, 13, 25, 32, 45, 61];
/// The truncation (non-power-of-two length) that makes fork 1.
pub const TRUNCATE_TO: u64 = 43;
/// Fork-1 append schedule.
pub const FORK1_LENGTHS: &[u64] = &[50, 58];
/// Reader lengths (bootstrapped from the writer when it had exactly that length).
pub const READER_LENGTHS: &[u64] = &[0, 1, 3, 12, 32, 45];
/// Writer length at which proofs are answered (fork 0, before the truncation).
pub const WRITER_LENGTH: u64 = 61;

/// `blake2b-ctr` (see `tests/fixtures/README.md`).
pub fn prng_bytes(seed: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    let mut k: u32 = 0;
    while out.len() < size {
        out.extend_from_slice(&blake2b_batch(&[seed, &k.to_le_bytes()]));
        k += 1;
    }
    out.truncate(size);
    out
}

fn block_seed(fork: u64, index: u64) -> Vec<u8> {
    format!("hyperwasm-rust-block-{fork}-{index}").into_bytes()
}

/// How a block is made.
enum Content {
    Empty,
    Zeros(usize),
    Ctr(usize),
}

fn content_of(fork: u64, index: u64) -> Content {
    match (fork, index) {
        // runs of empty blocks, and single ones
        (0, 0 | 4 | 17 | 18 | 19 | 37) | (1, 43 | 47 | 48) => Content::Empty,
        // runs of blocks holding only 0x00 bytes
        (0, 21..=26) => Content::Zeros([1, 2, 31, 100, 1000, 4096][(index - 21) as usize]),
        (1, 50..=52) => Content::Zeros([16, 64, 512][(index - 50) as usize]),
        (0, 11) => Content::Ctr(1 << 20),
        (0, 1) => Content::Ctr(1),
        (0, 2) => Content::Ctr(7),
        (0, 3) => Content::Ctr(33),
        (0, 5) => Content::Ctr(65),
        (0, 6) => Content::Ctr(128),
        (0, 7) => Content::Ctr(1023),
        (0, 8) => Content::Ctr(1024),
        (0, 9) => Content::Ctr(1025),
        (0, 10) => Content::Ctr(8192),
        _ => {
            let h = blake2b(&block_seed(fork, index));
            Content::Ctr(usize::from(u16::from_le_bytes([h[0], h[1]])) % 3000 + 1)
        }
    }
}

fn make_block(fork: u64, index: u64) -> (Vec<u8>, BlockJson) {
    let seed = block_seed(fork, index);
    let data = match content_of(fork, index) {
        Content::Empty => Vec::new(),
        Content::Zeros(n) => vec![0u8; n],
        Content::Ctr(n) => prng_bytes(&seed, n),
    };
    let mut j =
        BlockJson { index, fork, size: data.len() as u64, hex: None, generator: None, blake2b256: None };
    if data.len() > INLINE_LIMIT {
        j.generator = Some(GeneratorJson { kind: "blake2b-ctr", seed: hx(&seed) });
        j.blake2b256 = Some(hx(blake2b(&data)));
    } else {
        j.hex = Some(hx(&data));
    }
    (data, j)
}

/// `wire.data` encoding (hypercore `lib/messages.js`) of `{request, ...proof, manifest}`.
pub fn data_wire(request: u64, p: &Proof, manifest: Option<&[u8]>) -> Vec<u8> {
    fn node_array(out: &mut Vec<u8>, ns: &[Node]) {
        put_uint(out, ns.len() as u64);
        for n in ns {
            n.encode(out);
        }
    }
    let flags = u64::from(p.block.is_some())
        | u64::from(p.hash.is_some()) << 1
        | u64::from(p.seek.is_some()) << 2
        | u64::from(p.upgrade.is_some()) << 3
        | u64::from(manifest.is_some()) << 4;
    let mut out = Vec::new();
    put_uint(&mut out, flags);
    put_uint(&mut out, request);
    put_uint(&mut out, p.fork);
    if let Some(b) = &p.block {
        put_uint(&mut out, b.index);
        put_buffer(&mut out, &b.value);
        node_array(&mut out, &b.nodes);
    }
    if let Some(h) = &p.hash {
        put_uint(&mut out, h.index);
        node_array(&mut out, &h.nodes);
    }
    if let Some(s) = &p.seek {
        put_uint(&mut out, s.bytes);
        node_array(&mut out, &s.nodes);
    }
    if let Some(u) = &p.upgrade {
        put_uint(&mut out, u.start);
        put_uint(&mut out, u.length);
        node_array(&mut out, &u.nodes);
        node_array(&mut out, &u.additional_nodes);
        put_optional_buffer(&mut out, Some(&u.signature));
    }
    if let Some(m) = manifest {
        out.extend_from_slice(m);
    }
    out
}

/// What [`export`] wrote and what Rust itself concluded.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// `rust-cores.json`.
    pub cores_file: PathBuf,
    /// `rust-proofs.json`.
    pub proofs_file: PathBuf,
    /// `rust-invalid-proofs.json`.
    pub invalid_file: PathBuf,
    /// Valid proofs per core kind.
    pub valid_proofs: BTreeMap<&'static str, usize>,
    /// Tampered proofs per core kind.
    pub invalid_proofs: BTreeMap<&'static str, usize>,
    /// Problems found on the Rust side (a valid proof Rust itself rejects, a tampered proof
    /// Rust accepts, a request Rust refuses). Empty when all is well.
    pub rust_problems: Vec<String>,
}

/// One writer plus everything needed to rebuild readers.
struct Built {
    core_json: CoreJson,
    proofs_json: ProofsCoreJson,
    invalid_json: ProofsCoreJson,
    problems: Vec<String>,
}

struct Ctx {
    compat: bool,
    key: [u8; 32],
    verifier: Verifier,
    /// Bootstrap proof (and manifest sent with it) per reader length.
    bootstraps: BTreeMap<u64, (Proof, Option<Vec<u8>>)>,
    /// Writer head the proof matrix is answered from.
    writer_tree: Option<hyperwasm::tree::TreeState>,
    next_id: u64,
}

impl Ctx {
    fn signable(&self, tree: &hyperwasm::tree::TreeState) -> Option<Vec<u8>> {
        self.verifier.signable(0, &tree.hash(), tree.length, tree.fork)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fresh Rust reader at length `l`: key only, then the bootstrap proof applied.
    async fn reader(&self, l: u64) -> Result<Core, Error> {
        let mut r = Hypercore::create_remote(MemoryStorage::new(), self.key).await?;
        if l > 0 {
            let (p, m) = self.bootstraps.get(&l).ok_or_else(|| format!("no bootstrap for length {l}"))?;
            r.apply_proof(p, m.as_deref()).await?;
            if r.length() != l {
                return Err(format!("rust reader bootstrapped to {} instead of {l}", r.length()).into());
            }
        }
        Ok(r)
    }

    /// Rust's verdict on `proof` for a reader at `l`: non-committing verify for the numbers,
    /// a real `apply_proof` (signature and manifest checks included) for the verdict.
    async fn check(&self, l: u64, proof: &Proof, manifest: Option<&[u8]>) -> Result<ResultJson, Error> {
        let reader = self.reader(l).await?;
        let numbers = verify(reader.storage(), reader.tree(), proof).await;
        let mut committing = self.reader(l).await?;
        let verdict = committing.apply_proof(proof, manifest).await;
        Ok(match (verdict, numbers) {
            (Ok(_), Ok(v)) => ResultJson {
                ok: true,
                upgraded: Some(v.upgraded),
                length: Some(v.batch.length),
                byte_length: Some(v.batch.byte_length),
                tree_hash: Some(hx(v.batch.hash())),
                code: None,
                message: None,
            },
            (Err(e), _) => rejected(&e),
            (Ok(_), Err(e)) => ResultJson {
                ok: false,
                upgraded: None,
                length: None,
                byte_length: None,
                tree_hash: None,
                code: Some(e.code().into()),
                message: Some(format!("apply_proof accepted but verify rejected: {e}")),
            },
        })
    }
}

fn rejected(e: &HypercoreError) -> ResultJson {
    ResultJson {
        ok: false,
        upgraded: None,
        length: None,
        byte_length: None,
        tree_hash: None,
        code: Some(e.code().into()),
        message: Some(e.to_string()),
    }
}

/// A request of the proof matrix, described from the reader's side.
#[derive(Debug, Clone, Copy, Default)]
struct Case {
    l: u64,
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
async fn request_for(ctx: &Ctx, case: &Case) -> Result<(ProofRequest, bool), Error> {
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

fn case_name(c: &Case) -> String {
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

/// Byte length after the first `n` fork-0 blocks.
fn byte_length_at(n: u64) -> u64 {
    (0..n)
        .map(|i| match content_of(0, i) {
            Content::Empty => 0,
            Content::Zeros(n) | Content::Ctr(n) => n as u64,
        })
        .sum()
}

fn matrix() -> Vec<Case> {
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

async fn answer(
    writer: &Core,
    req: &ProofRequest,
    want_manifest: bool,
) -> Result<(Proof, Option<Vec<u8>>), Error> {
    let proof = writer.proof(req).await?;
    let manifest = if want_manifest { writer.manifest_for_peer() } else { None };
    Ok((proof, manifest))
}

type Tamper = fn(&mut Proof, &mut Option<Vec<u8>>, &Ctx) -> bool;

fn flip(b: &mut [u8]) -> bool {
    match b.first_mut() {
        Some(x) => {
            *x ^= 0x01;
            true
        }
        None => false,
    }
}

/// Tampered variants: `(name, based on, description, tamper)`; the tamper returns false when
/// it does not apply to that proof.
fn tampers() -> Vec<(&'static str, &'static str, &'static str, Tamper)> {
    vec![
        ("block-value-flipped", "block-40-at-L45", "first byte of block.value xor 1", |p, _, _| {
            p.block.as_mut().is_some_and(|b| flip(&mut b.value))
        }),
        ("block-value-appended", "block-18-at-L45", "one byte appended to an empty block", |p, _, _| {
            p.block.as_mut().map(|b| b.value.push(0)).is_some()
        }),
        (
            "zero-block-value-changed",
            "block-26-at-L32",
            "a 0x00 byte of an all-zero block set to 1",
            |p, _, _| p.block.as_mut().is_some_and(|b| flip(&mut b.value)),
        ),
        (
            "block-index-shifted",
            "block-5-at-L32",
            "block.index + 1 with the same value and nodes",
            |p, _, _| p.block.as_mut().map(|b| b.index += 1).is_some(),
        ),
        ("block-node-hash-flipped", "block-0-at-L45", "block.nodes[0].hash xor 1", |p, _, _| {
            p.block.as_mut().and_then(|b| b.nodes.first_mut()).is_some_and(|n| flip(&mut n.hash))
        }),
        ("block-node-size-changed", "block-33-at-L45", "block.nodes[1].size + 1", |p, _, _| {
            p.block.as_mut().and_then(|b| b.nodes.get_mut(1)).map(|n| n.size += 1).is_some()
        }),
        ("block-node-dropped", "block-19-at-L32", "last block node removed", |p, _, _| {
            p.block.as_mut().and_then(|b| b.nodes.pop()).is_some()
        }),
        ("block-nodes-swapped", "block-5-at-L32", "block.nodes[0] and [1] swapped", |p, _, _| {
            p.block.as_mut().filter(|b| b.nodes.len() >= 2).map(|b| b.nodes.swap(0, 1)).is_some()
        }),
        ("hash-node-flipped", "hash-35-at-L45", "hash.nodes[0].hash xor 1", |p, _, _| {
            p.hash.as_mut().and_then(|h| h.nodes.first_mut()).is_some_and(|n| flip(&mut n.hash))
        }),
        ("hash-index-changed", "hash-9-at-L45", "hash.index set to a sibling index", |p, _, _| {
            p.hash.as_mut().map(|h| h.index = flat_tree::sibling(h.index)).is_some()
        }),
        (
            "upgrade-signature-flipped",
            "upgrade-3-to-61",
            "upgrade.signature last byte of ed25519 part xor 1",
            |p, _, c| {
                p.upgrade.as_mut().is_some_and(|u| {
                    // compat: raw 64 bytes; multisig: 01 00 <64> 00 00
                    let i = if c.compat { 0 } else { 2 };
                    u.signature.get_mut(i).map(|x| *x ^= 1).is_some()
                })
            },
        ),
        (
            "upgrade-signature-truncated",
            "upgrade-12-to-61",
            "upgrade.signature loses its last byte",
            |p, _, _| p.upgrade.as_mut().and_then(|u| u.signature.pop()).is_some(),
        ),
        (
            "upgrade-signature-from-other-length",
            "upgrade-32-to-45-additional",
            "signature of the writer at length 45 instead of 61",
            |p, _, c| match (p.upgrade.as_mut(), c.bootstraps.get(&45).and_then(|(b, _)| b.upgrade.as_ref()))
            {
                (Some(u), Some(old)) => {
                    u.signature = old.signature.clone();
                    true
                }
                _ => false,
            },
        ),
        ("upgrade-node-flipped", "upgrade-1-to-61", "upgrade.nodes[0].hash xor 1", |p, _, _| {
            p.upgrade.as_mut().and_then(|u| u.nodes.first_mut()).is_some_and(|n| flip(&mut n.hash))
        }),
        ("upgrade-node-size-changed", "upgrade-0-to-61", "upgrade.nodes[0].size + 1", |p, _, _| {
            p.upgrade.as_mut().and_then(|u| u.nodes.first_mut()).map(|n| n.size += 1).is_some()
        }),
        ("upgrade-node-dropped", "upgrade-32-to-61", "last upgrade node removed", |p, _, _| {
            p.upgrade.as_mut().and_then(|u| u.nodes.pop()).is_some()
        }),
        ("upgrade-length-minus-1", "upgrade-45-to-61", "upgrade.length - 1 (nodes unchanged)", |p, _, _| {
            p.upgrade.as_mut().map(|u| u.length -= 1).is_some()
        }),
        (
            "additional-node-flipped",
            "upgrade-0-to-33-additional",
            "upgrade.additionalNodes[0].hash xor 1",
            |p, _, _| {
                p.upgrade
                    .as_mut()
                    .and_then(|u| u.additional_nodes.first_mut())
                    .is_some_and(|n| flip(&mut n.hash))
            },
        ),
        (
            "additional-node-dropped",
            "upgrade-3-to-12-additional",
            "last additional node removed",
            |p, _, _| p.upgrade.as_mut().and_then(|u| u.additional_nodes.pop()).is_some(),
        ),
        (
            "block-value-flipped-with-upgrade",
            "block-20-upgrade-12-to-61",
            "block.value xor 1 in a block+upgrade proof",
            |p, _, _| p.block.as_mut().is_some_and(|b| flip(&mut b.value)),
        ),
        ("seek-node-flipped", "seek-0-upgrade-0-to-61", "seek.nodes[0].hash xor 1", |p, _, _| {
            p.seek.as_mut().and_then(|s| s.nodes.first_mut()).is_some_and(|n| flip(&mut n.hash))
        }),
        ("fork-changed", "block-0-at-L32", "proof.fork = 1 (reader is at fork 0)", |p, _, _| {
            p.fork = 1;
            true
        }),
        (
            "fork-changed-upgrade",
            "upgrade-12-to-61",
            "proof.fork = 1 on an upgrade (signature is for fork 0)",
            |p, _, _| {
                p.fork = 1;
                true
            },
        ),
        (
            "manifest-of-other-core",
            "upgrade-0-to-61",
            "manifest replaced by the default manifest of another key",
            |_, m, c| {
                if c.compat {
                    return false;
                }
                *m = Some(
                    hyperwasm::core::Manifest::default_signer(KeyPair::from_seed(&[99; 32]).public_key())
                        .to_bytes(),
                );
                true
            },
        ),
        ("manifest-missing", "upgrade-0-to-61", "manifest left out for a reader that has none", |_, m, c| {
            if c.compat {
                return false;
            }
            *m = None;
            true
        }),
        (
            "compat-signature-of-other-key",
            "upgrade-0-to-61",
            "signature by another key pair over the right signable",
            |p, _, c| {
                let (Some(u), Some(t)) = (p.upgrade.as_mut(), c.writer_tree.as_ref()) else { return false };
                let Some(msg) = c.verifier.signable(0, &t.hash(), t.length, t.fork) else { return false };
                if !c.compat {
                    return false;
                }
                u.signature = KeyPair::from_seed(&[99; 32]).sign(&msg).to_vec();
                true
            },
        ),
    ]
}

async fn build(kind: &'static str, seed: u8) -> Result<Built, Error> {
    let compat = kind == "compat";
    let kp = KeyPair::from_seed(&[seed; 32]);
    let mut writer = Hypercore::create(
        MemoryStorage::new(),
        CreateOptions { key_pair: Some(kp.clone()), manifest: None, compat },
    )
    .await?;
    let key = *writer.key();
    let manifest = writer.manifest().cloned().ok_or("writer has no manifest")?;
    let manifest_encoding = if compat { None } else { Some(manifest.to_bytes()) };
    let verifier = Verifier::with_options(&key, &manifest, compat, false);
    let mut ctx = Ctx { compat, key, verifier, bootstraps: BTreeMap::new(), writer_tree: None, next_id: 0 };
    let mut problems = Vec::new();

    let mut blocks = Vec::new();
    let mut steps = Vec::new();
    let mut readers = Vec::new();
    let mut writer_state = None;
    let mut valid: Vec<(ProofEntryJson, Proof, Option<Vec<u8>>)> = Vec::new();
    let mut insufficient: Vec<(ProofEntryJson, Proof)> = Vec::new();

    readers.push(ReaderJson { length: 0, bootstrap: None, has_manifest: false });

    let schedule = FORK0_LENGTHS
        .iter()
        .map(|&l| (0u64, l))
        .chain(std::iter::once((1, TRUNCATE_TO)))
        .chain(FORK1_LENGTHS.iter().map(|&l| (1, l)));
    let mut truncated = false;
    for (fork, target) in schedule {
        let from = writer.length();
        if fork == 1 && !truncated {
            truncated = true;
            writer.truncate(target, None).await?;
            let t = writer.tree();
            steps.push(StepJson {
                op: "truncate",
                from,
                count: None,
                block_indexes: None,
                to: Some(target),
                state: StateJson::new(t, ctx.signable(t)),
            });
            continue;
        }
        let mut data = Vec::new();
        for i in from..target {
            let (d, j) = make_block(fork, i);
            data.push(d);
            blocks.push(j);
        }
        writer.append_batch(&data).await?;
        let t = writer.tree();
        if t.fork != fork {
            return Err(format!("writer fork {} != expected {fork}", t.fork).into());
        }
        steps.push(StepJson {
            op: "append",
            from,
            count: Some(target - from),
            block_indexes: Some((from..target).collect()),
            to: None,
            state: StateJson::new(t, ctx.signable(t)),
        });

        if fork != 0 {
            continue;
        }
        // Readers: bootstrapped by the writer's answer at exactly this length.
        if READER_LENGTHS.contains(&target) {
            let req = ProofRequest {
                upgrade: Some(RequestUpgrade { start: 0, length: target }),
                ..ProofRequest::default()
            };
            let (proof, m) = answer(&writer, &req, !compat).await?;
            let id = ctx.id();
            let bootstrap = BootstrapJson {
                request: RequestJson::new(id, 0, &req, !compat),
                proof: ProofJson::new(&proof, m.as_deref()),
                data_wire: hx(data_wire(id, &proof, m.as_deref())),
                state: StateJson::new(t, ctx.signable(t)),
            };
            ctx.bootstraps.insert(target, (proof, m));
            // Rust must accept its own bootstrap (checked inside `reader`).
            ctx.reader(target).await?;
            readers.push(ReaderJson { length: target, bootstrap: Some(bootstrap), has_manifest: !compat });
        }
        // The proof matrix, answered by the writer at its full fork-0 length.
        if target == WRITER_LENGTH {
            writer_state = Some(StateJson::new(t, ctx.signable(t)));
            ctx.writer_tree = Some(t.clone());
            for (l, b) in [(45u64, 5u64), (32, 0), (12, 3), (45, 40)] {
                let needed = missing_nodes(ctx.reader(l).await?.storage(), 2 * b, l).await?;
                if needed == 0 {
                    problems.push(format!("{kind}: insufficient-nodes block {b} at L{l} needs no nodes"));
                    continue;
                }
                let req = ProofRequest {
                    block: Some(RequestIndex { index: b, nodes: needed - 1 }),
                    ..ProofRequest::default()
                };
                let (proof, _) = answer(&writer, &req, false).await?;
                let id = ctx.id();
                let entry = ProofEntryJson {
                    name: format!("insufficient-nodes-block-{b}-at-L{l}"),
                    based_on: Some(None),
                    tamper: Some(format!(
                        "genuine Rust proof for nodes: {} (missing_nodes says {needed})",
                        needed - 1
                    )),
                    reader_length: l,
                    request: RequestJson::new(id, 0, &req, false),
                    proof: ProofJson::new(&proof, None),
                    data_wire: hx(data_wire(id, &proof, None)),
                    result: ResultJson {
                        ok: false,
                        upgraded: None,
                        length: None,
                        byte_length: None,
                        tree_hash: None,
                        code: None,
                        message: None,
                    },
                };
                insufficient.push((entry, proof));
            }
            for case in matrix() {
                let name = case_name(&case);
                let (req, want_manifest) = request_for(&ctx, &case).await?;
                let (proof, m) = match answer(&writer, &req, want_manifest).await {
                    Ok(x) => x,
                    Err(e) => {
                        problems.push(format!("{kind}: {name}: Rust refused the request {req:?}: {e}"));
                        continue;
                    }
                };
                let result = ctx.check(case.l, &proof, m.as_deref()).await?;
                if !result.ok {
                    problems.push(format!("{kind}: {name}: Rust rejects its own proof: {result:?}"));
                }
                let id = ctx.id();
                let entry = ProofEntryJson {
                    name,
                    based_on: None,
                    tamper: None,
                    reader_length: case.l,
                    request: RequestJson::new(id, 0, &req, want_manifest),
                    proof: ProofJson::new(&proof, m.as_deref()),
                    data_wire: hx(data_wire(id, &proof, m.as_deref())),
                    result,
                };
                valid.push((entry, proof, m));
            }
        }
    }

    // Tampered proofs.
    let mut invalid = Vec::new();
    for (name, based_on, what, tamper) in tampers() {
        let Some((base, proof, m)) = valid.iter().find(|(e, _, _)| e.name == based_on) else {
            problems.push(format!("{kind}: tamper {name}: no valid proof named {based_on}"));
            continue;
        };
        let (mut proof, mut m) = (proof.clone(), m.clone());
        if !tamper(&mut proof, &mut m, &ctx) {
            if !(name.starts_with("manifest-") && compat || name.starts_with("compat-") && !compat) {
                problems.push(format!("{kind}: tamper {name} does not apply to {based_on}"));
            }
            continue;
        }
        let result = ctx.check(base.reader_length, &proof, m.as_deref()).await?;
        if result.ok {
            problems.push(format!("{kind}: tampered proof {name} is ACCEPTED by Rust"));
        }
        invalid.push(ProofEntryJson {
            name: name.into(),
            based_on: Some(Some(based_on.into())),
            tamper: Some(what.into()),
            reader_length: base.reader_length,
            request: base.request.clone(),
            proof: ProofJson::new(&proof, m.as_deref()),
            data_wire: hx(data_wire(base.request.id, &proof, m.as_deref())),
            result,
        });
    }
    // Genuine Rust proofs for requests with too few nodes: the reader lacks the subtree root.
    for (entry, proof) in insufficient {
        let result = ctx.check(entry.reader_length, &proof, None).await?;
        if result.ok {
            problems.push(format!("{kind}: {} is ACCEPTED by Rust", entry.name));
        }
        invalid.push(ProofEntryJson { result, ..entry });
    }

    let final_state = StateJson::new(writer.tree(), ctx.signable(writer.tree()));
    let manifest_json = if compat { None } else { Some(ManifestJson::from(&manifest)) };
    let core_json = CoreJson {
        kind,
        compat,
        key: hx(key),
        discovery_key: hx(writer.discovery_key()),
        manifest: manifest_json,
        manifest_encoding: manifest_encoding.as_ref().map(hx),
        key_pair: KeyPairJson {
            seed_byte: seed,
            public_key: hx(kp.public_key()),
            secret_key: hx(kp.secret_key()),
        },
        blocks,
        steps,
        final_state,
    };
    let writer_state = writer_state.ok_or("writer never reached WRITER_LENGTH")?;
    let proofs_json = ProofsCoreJson {
        key: hx(key),
        discovery_key: hx(writer.discovery_key()),
        compat,
        manifest_encoding: manifest_encoding.as_ref().map(hx),
        writer: writer_state.clone(),
        readers: readers.clone(),
        proofs: valid.into_iter().map(|(e, _, _)| e).collect(),
    };
    let invalid_json = ProofsCoreJson { proofs: invalid, ..proofs_json.clone() };
    Ok(Built { core_json, proofs_json, invalid_json, problems })
}

fn generator() -> BTreeMap<&'static str, String> {
    let mut g = BTreeMap::new();
    g.insert("hyperwasm-interop", env!("CARGO_PKG_VERSION").to_string());
    g.insert("producer", "Rust (hyperwasm), tests/interop export-rust-cores".to_string());
    g
}

fn write_json<T: serde::Serialize>(path: &Path, cores: BTreeMap<&'static str, T>) -> Result<(), Error> {
    let file = FileJson { generator: generator(), cores };
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    std::fs::write(path, text)?;
    Ok(())
}

/// Builds both cores with the Rust library and writes `rust-cores.json`, `rust-proofs.json`
/// and `rust-invalid-proofs.json` into `dir` (created if missing).
pub fn export(dir: &Path) -> Result<Summary, Error> {
    std::fs::create_dir_all(dir)?;
    let mut cores = BTreeMap::new();
    let mut proofs = BTreeMap::new();
    let mut invalid = BTreeMap::new();
    let mut summary = Summary {
        cores_file: dir.join("rust-cores.json"),
        proofs_file: dir.join("rust-proofs.json"),
        invalid_file: dir.join("rust-invalid-proofs.json"),
        ..Summary::default()
    };
    for (kind, seed) in [("compat", 11u8), ("manifest", 12u8)] {
        let built = futures::executor::block_on(build(kind, seed))?;
        summary.valid_proofs.insert(kind, built.proofs_json.proofs.len());
        summary.invalid_proofs.insert(kind, built.invalid_json.proofs.len());
        summary.rust_problems.extend(built.problems);
        cores.insert(kind, built.core_json);
        proofs.insert(kind, built.proofs_json);
        invalid.insert(kind, built.invalid_json);
    }
    write_json(&summary.cores_file, cores)?;
    write_json(&summary.proofs_file, proofs)?;
    write_json(&summary.invalid_file, invalid)?;
    Ok(summary)
}
