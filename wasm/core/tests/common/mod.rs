//! Shared helpers of the `oracle_*` integration tests: loading the JS-generated fixtures in
//! `tests/fixtures/hypercore/` (see `tests/fixtures/README.md`) and turning their JSON forms
//! into library types.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use hyperwasm::core::manifest::{HashAlgorithm, Manifest, Prologue, SignatureAlgorithm, Signer};
use hyperwasm::crypto::hash::blake2b_batch;
use hyperwasm::storage::StorageError;
use hyperwasm::tree::proof::{
    DataBlock, DataHash, DataSeek, DataUpgrade, ProofRequest, RequestIndex, RequestSeek, RequestUpgrade,
};
use hyperwasm::tree::{Node, NodeSource, Proof, TreeBatch, TreeState};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Path of a fixture file.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hypercore").join(name)
}

/// Parses a fixture file.
pub fn load<T: DeserializeOwned>(name: &str) -> T {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Lowercase hex → bytes.
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// Lowercase hex → fixed array.
pub fn unhex_n<const N: usize>(s: &str) -> [u8; N] {
    let v = unhex(s);
    v.as_slice().try_into().unwrap_or_else(|_| panic!("expected {N} bytes, got {}: {s}", v.len()))
}

// ---------------------------------------------------------------------------------------------
// Nodes, blocks, states

/// A fixture node `{index, size, hash}`.
#[derive(Debug, Clone, Deserialize)]
pub struct JNode {
    pub index: u64,
    pub size: u64,
    pub hash: String,
}

impl JNode {
    pub fn node(&self) -> Node {
        Node { index: self.index, size: self.size, hash: unhex_n(&self.hash) }
    }
}

pub fn nodes(list: &[JNode]) -> Vec<Node> {
    list.iter().map(JNode::node).collect()
}

/// The `blake2b-ctr` block generator: `H(seed ‖ u32le(0)) ‖ H(seed ‖ u32le(1)) ‖ …`, truncated.
pub fn blake2b_ctr(seed: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    let mut counter = 0u32;
    while out.len() < size {
        out.extend_from_slice(&blake2b_batch(&[seed, &counter.to_le_bytes()]));
        counter += 1;
    }
    out.truncate(size);
    out
}

#[derive(Debug, Clone, Deserialize)]
pub struct JGenerator {
    pub kind: String,
    pub seed: String,
}

/// A block as appended: inline hex, or generated (only the 1 MiB block).
#[derive(Debug, Clone, Deserialize)]
pub struct JBlock {
    pub index: u64,
    pub fork: u64,
    pub size: usize,
    pub hex: Option<String>,
    pub generator: Option<JGenerator>,
    pub blake2b256: Option<String>,
}

impl JBlock {
    /// The block bytes, regenerated and checked against `blake2b256` when not inline.
    pub fn data(&self) -> Vec<u8> {
        let data = match (&self.hex, &self.generator) {
            (Some(h), _) => unhex(h),
            (None, Some(g)) => {
                assert_eq!(g.kind, "blake2b-ctr", "unknown block generator");
                let data = blake2b_ctr(&unhex(&g.seed), self.size);
                let expected = self.blake2b256.as_deref().expect("generated block without blake2b256");
                assert_eq!(
                    hex::encode(hyperwasm::crypto::blake2b(&data)),
                    expected,
                    "regenerated block {} differs",
                    self.index
                );
                data
            }
            (None, None) => panic!("block {} has neither hex nor generator", self.index),
        };
        assert_eq!(data.len(), self.size, "block {} size", self.index);
        data
    }
}

/// A tree head snapshot `{length, byteLength, fork, treeHash, roots, signature, signable}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JState {
    pub length: u64,
    pub byte_length: u64,
    pub fork: u64,
    pub tree_hash: String,
    pub roots: Vec<JNode>,
    pub signature: Option<String>,
    pub signable: Option<String>,
}

impl JState {
    /// As a [`TreeState`] (no prologue).
    pub fn tree_state(&self) -> TreeState {
        TreeState {
            fork: self.fork,
            length: self.length,
            byte_length: self.byte_length,
            roots: nodes(&self.roots),
            signature: self.signature.as_deref().map(unhex),
            prologue: None,
        }
    }
}

/// Nodes kept in a map: a writer's whole tree or what a reader learnt.
#[derive(Debug, Default, Clone)]
pub struct MapSource(pub BTreeMap<u64, Node>);

impl MapSource {
    pub fn insert_all(&mut self, list: &[Node]) {
        for n in list {
            self.0.insert(n.index, *n);
        }
    }
}

impl NodeSource for MapSource {
    async fn get_nodes(&self, indexes: &[u64]) -> Result<Vec<Option<Node>>, StorageError> {
        Ok(indexes.iter().map(|i| self.0.get(i).copied()).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Manifests

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JSigner {
    pub signature: String,
    pub namespace: String,
    pub public_key: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JPrologue {
    pub hash: String,
    pub length: u64,
}

/// The JSON form of a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JManifest {
    pub version: u8,
    pub hash: String,
    pub allow_patch: bool,
    pub quorum: u64,
    pub signers: Vec<JSigner>,
    pub prologue: Option<JPrologue>,
    pub linked: Option<Vec<String>>,
    pub user_data: Option<String>,
}

impl JManifest {
    /// Built field by field (no defaults filled in).
    pub fn manifest(&self) -> Manifest {
        assert_eq!(self.hash, "blake2b");
        Manifest {
            version: self.version,
            hash: HashAlgorithm::Blake2b,
            allow_patch: self.allow_patch,
            quorum: self.quorum,
            signers: self
                .signers
                .iter()
                .map(|s| {
                    assert_eq!(s.signature, "ed25519");
                    Signer {
                        signature: SignatureAlgorithm::Ed25519,
                        namespace: unhex_n(&s.namespace),
                        public_key: unhex_n(&s.public_key),
                    }
                })
                .collect(),
            prologue: self.prologue.as_ref().map(|p| Prologue { hash: unhex_n(&p.hash), length: p.length }),
            linked: self.linked.as_ref().map(|l| l.iter().map(|k| unhex_n(k)).collect()),
            user_data: self.user_data.as_deref().map(unhex),
        }
    }
}

/// The JSON form of a Rust manifest, for comparing with the fixture's `decoded`.
pub fn manifest_json(m: &Manifest) -> serde_json::Value {
    serde_json::json!({
        "version": m.version,
        "hash": match m.hash { HashAlgorithm::Blake2b => "blake2b" },
        "allowPatch": m.allow_patch,
        "quorum": m.quorum,
        "signers": m.signers.iter().map(|s| serde_json::json!({
            "signature": match s.signature { SignatureAlgorithm::Ed25519 => "ed25519" },
            "namespace": hex::encode(s.namespace),
            "publicKey": hex::encode(s.public_key),
        })).collect::<Vec<_>>(),
        "prologue": m.prologue.map(|p| serde_json::json!({ "hash": hex::encode(p.hash), "length": p.length })),
        "linked": m.linked.as_ref().map(|l| l.iter().map(hex::encode).collect::<Vec<_>>()),
        "userData": m.user_data.as_ref().map(hex::encode),
    })
}

/// A fixture key pair.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JKeyPair {
    pub seed_byte: u8,
    pub public_key: String,
    pub secret_key: String,
}

// ---------------------------------------------------------------------------------------------
// cores.json

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JStep {
    pub op: String,
    pub from: u64,
    pub count: Option<u64>,
    pub to: Option<u64>,
    pub block_indexes: Option<Vec<u64>>,
    #[serde(flatten)]
    pub state: JState,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JCore {
    pub kind: String,
    pub compat: bool,
    pub key: String,
    pub discovery_key: String,
    pub manifest: Option<JManifest>,
    pub manifest_encoding: Option<String>,
    pub key_pair: JKeyPair,
    pub blocks: Vec<JBlock>,
    pub steps: Vec<JStep>,
    #[serde(rename = "final")]
    pub final_state: JState,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JCores {
    pub compat: JCore,
    pub manifest: JCore,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CoresFile {
    pub cores: JCores,
}

impl JCores {
    pub fn get(&self, kind: &str) -> &JCore {
        match kind {
            "compat" => &self.compat,
            "manifest" => &self.manifest,
            _ => panic!("unknown core kind {kind}"),
        }
    }
}

/// The writer of `proofs.json`: the core's first 40 blocks (fork 0), all its nodes, and its
/// state at length 40 with the fixture's signature.
pub struct Writer {
    pub blocks: Vec<Vec<u8>>,
    pub source: MapSource,
    pub state: TreeState,
}

impl Writer {
    pub fn build(core: &JCore, signature: &str) -> Self {
        let mut by_index: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for b in core.blocks.iter().filter(|b| b.fork == 0) {
            by_index.insert(b.index, b.data());
        }
        let blocks: Vec<Vec<u8>> = by_index.into_values().collect();
        assert_eq!(blocks.len(), 40, "fork-0 blocks");
        let mut batch = TreeBatch::new(&TreeState::default());
        for b in &blocks {
            batch.append(b);
        }
        let mut source = MapSource::default();
        source.insert_all(&batch.nodes);
        batch.signature = Some(unhex(signature));
        Writer { blocks, source, state: batch.into_state() }
    }

    /// The writer's head at an earlier `length` (its nodes are a superset of what it had then).
    pub fn state_at(&self, length: u64, signature: Option<&str>) -> TreeState {
        let roots = futures::executor::block_on(TreeState::roots_at(&self.source, length)).unwrap();
        TreeState {
            fork: 0,
            length,
            byte_length: roots.iter().map(|r| r.size).sum(),
            roots,
            signature: signature.map(unhex),
            prologue: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// proofs.json / invalid-proofs.json

#[derive(Debug, Clone, Deserialize)]
pub struct JReqIndex {
    pub index: u64,
    pub nodes: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JReqSeek {
    pub bytes: u64,
    pub padding: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JReqUpgrade {
    pub start: u64,
    pub length: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JRequest {
    pub id: u64,
    pub fork: u64,
    pub block: Option<JReqIndex>,
    pub hash: Option<JReqIndex>,
    pub seek: Option<JReqSeek>,
    pub upgrade: Option<JReqUpgrade>,
    pub manifest: bool,
    pub priority: u64,
}

impl JRequest {
    pub fn proof_request(&self) -> ProofRequest {
        ProofRequest {
            block: self.block.as_ref().map(|b| RequestIndex { index: b.index, nodes: b.nodes }),
            hash: self.hash.as_ref().map(|h| RequestIndex { index: h.index, nodes: h.nodes }),
            seek: self.seek.as_ref().map(|s| RequestSeek { bytes: s.bytes, padding: s.padding }),
            upgrade: self.upgrade.as_ref().map(|u| RequestUpgrade { start: u.start, length: u.length }),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct JDataBlock {
    pub index: u64,
    pub value: String,
    pub nodes: Vec<JNode>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JDataHash {
    pub index: u64,
    pub nodes: Vec<JNode>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JDataSeek {
    pub bytes: u64,
    pub nodes: Vec<JNode>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JDataUpgrade {
    pub start: u64,
    pub length: u64,
    pub nodes: Vec<JNode>,
    pub additional_nodes: Vec<JNode>,
    pub signature: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JProof {
    pub fork: u64,
    pub block: Option<JDataBlock>,
    pub hash: Option<JDataHash>,
    pub seek: Option<JDataSeek>,
    pub upgrade: Option<JDataUpgrade>,
    pub manifest: Option<String>,
}

impl JProof {
    /// The tree part of the proof.
    pub fn proof(&self) -> Proof {
        Proof {
            fork: self.fork,
            block: self.block.as_ref().map(|b| DataBlock {
                index: b.index,
                value: unhex(&b.value),
                nodes: nodes(&b.nodes),
            }),
            hash: self.hash.as_ref().map(|h| DataHash { index: h.index, nodes: nodes(&h.nodes) }),
            seek: self.seek.as_ref().map(|s| DataSeek { bytes: s.bytes, nodes: nodes(&s.nodes) }),
            upgrade: self.upgrade.as_ref().map(|u| DataUpgrade {
                start: u.start,
                length: u.length,
                nodes: nodes(&u.nodes),
                additional_nodes: nodes(&u.additional_nodes),
                signature: unhex(&u.signature),
            }),
        }
    }

    /// The encoded manifest the proof carries.
    pub fn manifest_bytes(&self) -> Option<Vec<u8>> {
        self.manifest.as_deref().map(unhex)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct JBootstrap {
    pub request: JRequest,
    pub proof: JProof,
    pub state: JState,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JReader {
    pub length: u64,
    pub bootstrap: Option<JBootstrap>,
    pub has_manifest: bool,
}

/// `result` of a JS check: `{ok, upgraded, length, byteLength, treeHash}` or `{ok: false, code, message}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JResult {
    pub ok: bool,
    pub upgraded: Option<bool>,
    pub length: Option<u64>,
    pub byte_length: Option<u64>,
    pub tree_hash: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JProofEntry {
    pub name: String,
    pub reader_length: u64,
    pub request: Option<JRequest>,
    pub proof: Option<JProof>,
    pub result: Option<JResult>,
    pub error: Option<JError>,
    pub based_on: Option<String>,
    pub tamper: Option<String>,
    pub core_verify: Option<JResult>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JProofCore {
    pub key: String,
    pub compat: bool,
    pub manifest_encoding: Option<String>,
    pub writer: Option<JState>,
    pub readers: Vec<JReader>,
    pub proofs: Vec<JProofEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JProofCores {
    pub compat: JProofCore,
    pub manifest: JProofCore,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProofsFile {
    pub cores: JProofCores,
}

impl JProofCores {
    pub fn get(&self, kind: &str) -> &JProofCore {
        match kind {
            "compat" => &self.compat,
            "manifest" => &self.manifest,
            _ => panic!("unknown core kind {kind}"),
        }
    }
}

pub const KINDS: [&str; 2] = ["compat", "manifest"];

// ---------------------------------------------------------------------------------------------
// The reader pipeline (JS `tests/js/lib/common.mjs` `checkProof`, i.e. `Core.verify` without
// committing): fork check, `MerkleTree.verify`, and for upgrades `_verifyBatchUpgrade`
// (manifest/key check + `Verifier.verify`).

use hyperwasm::core::manifest::{is_compat, is_valid_manifest};
use hyperwasm::core::verifier::{SignedBatch, Verifier};
use hyperwasm::tree::verify::verify;

/// A rejection: the JS error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: String,
    pub message: String,
}

impl Rejection {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Rejection { code: code.to_owned(), message: message.into() }
    }
}

/// What a verified proof leads to.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub batch: TreeBatch,
    pub upgraded: bool,
    /// The manifest the reader learns (set when it had none and the proof upgraded it).
    pub manifest: Option<Manifest>,
}

/// A reader core: key, manifest (JS `header.manifest`), head and the nodes it holds.
#[derive(Debug, Clone)]
pub struct Reader {
    pub key: [u8; 32],
    pub manifest: Option<Manifest>,
    pub state: TreeState,
    pub source: MapSource,
}

impl Reader {
    /// A fresh reader opened with only the key (`new Hypercore(dir, key, {compat})`): a compat
    /// core knows its manifest from the start (the default signer manifest of the key), a
    /// manifest core learns it from the first upgrade.
    pub fn open(key: [u8; 32], compat: bool) -> Self {
        let manifest = compat.then(|| Manifest::default_signer(key));
        Reader { key, manifest, state: TreeState::default(), source: MapSource::default() }
    }

    /// `checkProof`: verifies `proof` (with the encoded manifest it carries) without committing.
    pub fn check(&self, proof: &Proof, manifest: Option<&[u8]>) -> Result<Accepted, Rejection> {
        if proof.fork != self.state.fork {
            return Err(Rejection::new(
                "FORK_MISMATCH",
                format!("proof fork {} != reader fork {}", proof.fork, self.state.fork),
            ));
        }
        let verified = futures::executor::block_on(verify(&self.source, &self.state, proof))
            .map_err(|e| Rejection::new(e.code(), e.to_string()))?;
        let mut learnt = None;
        if verified.upgraded {
            learnt = Some(self.verify_batch_upgrade(&verified.batch, manifest)?);
        }
        Ok(Accepted {
            upgraded: verified.upgraded,
            manifest: if self.manifest.is_none() { learnt } else { None },
            batch: verified.batch,
        })
    }

    /// JS `Core._verifyBatchUpgrade`.
    fn verify_batch_upgrade(
        &self,
        batch: &TreeBatch,
        manifest: Option<&[u8]>,
    ) -> Result<Manifest, Rejection> {
        let manifest = match &self.manifest {
            Some(m) => m.clone(),
            None => {
                // Compat: without a manifest in the proof, assume the default signer manifest
                // of the key (which makes the key its own signer: `isCompat`).
                let m = match manifest {
                    Some(bytes) => Manifest::decode_bytes(bytes)
                        .map_err(|e| Rejection::new(e.code(), format!("manifest: {e}")))?,
                    None => Manifest::default_signer(self.key),
                };
                if !(is_valid_manifest(&self.key, &m) || is_compat(&self.key, &m)) {
                    return Err(Rejection::new("INVALID_SIGNATURE", "Proof contains an invalid manifest"));
                }
                m
            }
        };
        let verifier = Verifier::new(&self.key, &manifest);
        let signed = SignedBatch::from_roots(&batch.roots, batch.fork)
            .map_err(|e| Rejection::new(e.code(), e.to_string()))?;
        verifier
            .verify(&signed, batch.signature.as_deref())
            .map_err(|e| Rejection::new(e.code(), format!("Proof contains an invalid signature ({e})")))?;
        Ok(manifest)
    }

    /// Commits an accepted proof: its nodes, its head, the manifest it taught.
    pub fn commit(&mut self, accepted: Accepted) {
        self.source.insert_all(&accepted.batch.nodes);
        if accepted.manifest.is_some() {
            self.manifest = accepted.manifest;
        }
        if accepted.upgraded {
            self.state = accepted.batch.into_state();
        }
    }

    /// The readers of a `proofs.json` core, by length: each verified exactly its bootstrap proof
    /// (checked against the JS writer state at that length).
    pub fn bootstrap_all(core: &JProofCore) -> BTreeMap<u64, Reader> {
        let key: [u8; 32] = unhex_n(&core.key);
        let mut out = BTreeMap::new();
        for r in &core.readers {
            let mut reader = Reader::open(key, core.compat);
            match &r.bootstrap {
                None => assert_eq!(r.length, 0, "only the empty reader has no bootstrap"),
                Some(bs) => {
                    let proof = bs.proof.proof();
                    let accepted = reader
                        .check(&proof, bs.proof.manifest_bytes().as_deref())
                        .unwrap_or_else(|e| panic!("bootstrap L={}: {e:?}", r.length));
                    assert!(accepted.upgraded);
                    reader.commit(accepted);
                    let s = &reader.state;
                    assert_eq!(s.length, r.length);
                    assert_eq!(s.length, bs.state.length);
                    assert_eq!(s.byte_length, bs.state.byte_length);
                    assert_eq!(s.fork, bs.state.fork);
                    assert_eq!(s.roots, nodes(&bs.state.roots));
                    assert_eq!(hex::encode(s.hash()), bs.state.tree_hash);
                    assert_eq!(s.signature.as_deref().map(hex::encode), bs.state.signature);
                }
            }
            assert_eq!(reader.manifest.is_some(), r.has_manifest, "L={}: hasManifest", r.length);
            out.insert(r.length, reader);
        }
        out
    }
}
