//! Shared helpers of the `oracle_*` integration tests: loading the JS-generated fixtures in
//! `tests/fixtures/hypercore/` (see `tests/fixtures/README.md`) and turning their JSON forms
//! into library types.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use hyperwasm::core::manifest::Manifest;
use hyperwasm::storage::StorageError;
use hyperwasm::tree::{Node, NodeSource, Proof, TreeBatch, TreeState};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;

use hyperwasm::testing::fixtures::{nodes, unhex, unhex_n, CoreJson, ManifestJson, ProofsCoreJson};

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

// ---------------------------------------------------------------------------------------------
// Node maps, the proofs.json writer

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

/// The JSON form of a Rust manifest, for comparing with the fixture's `decoded`.
pub fn manifest_json(m: &Manifest) -> serde_json::Value {
    serde_json::to_value(ManifestJson::from(m)).unwrap()
}

/// The writer of `proofs.json`: the core's first 40 blocks (fork 0), all its nodes, and its
/// state at length 40 with the fixture's signature.
pub struct Writer {
    pub blocks: Vec<Vec<u8>>,
    pub source: MapSource,
    pub state: TreeState,
}

impl Writer {
    pub fn build(core: &CoreJson, signature: &str) -> Self {
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
    pub fn bootstrap_all(core: &ProofsCoreJson) -> BTreeMap<u64, Reader> {
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
