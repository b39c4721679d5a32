//! The JSON model of the JS fixtures (`tests/fixtures/hypercore/*.json`, described in
//! `tests/fixtures/README.md`): hex helpers, the `blake2b-ctr` block generator, and the JSON
//! forms of nodes, heads, blocks, manifests, requests and proofs with their conversions to and
//! from the library types.
//!
//! One model serves both directions: the oracle tests read JS's fixtures with it, and
//! `tests/interop` writes Rust-made cores and proofs with it for `tests/js/verify-rust.mjs`.
//! Field order is the JS order, because `verify-rust.mjs` compares `JSON.stringify` output;
//! optional fields JS leaves out are skipped when `None`.

use crate::core::manifest::{HashAlgorithm, Manifest, Prologue, SignatureAlgorithm, Signer};
use crate::crypto::hash::{blake2b, blake2b_batch};
use crate::tree::proof::{
    DataBlock, DataHash, DataSeek, DataUpgrade, Proof, ProofRequest, RequestIndex, RequestSeek,
    RequestUpgrade,
};
use crate::tree::{Node, TreeState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// Hex and the block generator
// ---------------------------------------------------------------------------------------------

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = bytes.as_ref();
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Hex → bytes; panics on malformed input (fixtures are trusted test data).
pub fn unhex(s: &str) -> Vec<u8> {
    fn nib(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    assert!(b.len() % 2 == 0, "bad hex {s:?}: odd length");
    b.chunks(2)
        .map(|p| {
            let (Some(h), Some(l)) = (nib(p[0]), nib(p[1])) else { panic!("bad hex {s:?}") };
            (h << 4) | l
        })
        .collect()
}

/// Hex → fixed-size array; panics on malformed input or another length.
pub fn unhex_n<const N: usize>(s: &str) -> [u8; N] {
    let v = unhex(s);
    v.as_slice().try_into().unwrap_or_else(|_| panic!("expected {N} bytes, got {}: {s}", v.len()))
}

/// Name of the fixtures' block generator.
pub const BLAKE2B_CTR: &str = "blake2b-ctr";

/// The `blake2b-ctr` block generator:
/// `BLAKE2b-256(seed ‖ u32LE(0)) ‖ BLAKE2b-256(seed ‖ u32LE(1)) ‖ …` truncated to `size`.
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

// ---------------------------------------------------------------------------------------------
// Nodes, heads, blocks
// ---------------------------------------------------------------------------------------------

/// A tree node `{index, size, hash}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeJson {
    /// Flat index.
    pub index: u64,
    /// Subtree byte size.
    pub size: u64,
    /// BLAKE2b-256 hex.
    pub hash: String,
}

impl NodeJson {
    /// As a library node.
    pub fn node(&self) -> Node {
        Node { index: self.index, size: self.size, hash: unhex_n(&self.hash) }
    }
}

impl From<&Node> for NodeJson {
    fn from(n: &Node) -> Self {
        NodeJson { index: n.index, size: n.size, hash: to_hex(n.hash) }
    }
}

/// JSON nodes → library nodes.
pub fn nodes(list: &[NodeJson]) -> Vec<Node> {
    list.iter().map(NodeJson::node).collect()
}

/// Library nodes → JSON nodes.
pub fn nodes_json(list: &[Node]) -> Vec<NodeJson> {
    list.iter().map(NodeJson::from).collect()
}

/// A core head: `{length, byteLength, fork, treeHash, roots, signature, signable}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateJson {
    /// Length.
    pub length: u64,
    /// Byte length.
    pub byte_length: u64,
    /// Fork.
    pub fork: u64,
    /// `crypto.tree(roots)`.
    pub tree_hash: String,
    /// Full roots, left to right.
    pub roots: Vec<NodeJson>,
    /// Signature as stored.
    pub signature: Option<String>,
    /// The signed bytes.
    pub signable: Option<String>,
}

impl StateJson {
    /// From a tree head and the signable bytes for it.
    pub fn new(s: &TreeState, signable: Option<Vec<u8>>) -> Self {
        StateJson {
            length: s.length,
            byte_length: s.byte_length,
            fork: s.fork,
            tree_hash: to_hex(s.hash()),
            roots: nodes_json(&s.roots),
            signature: s.signature.as_ref().map(to_hex),
            signable: signable.map(to_hex),
        }
    }

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

/// Generator description of a large block: `{kind: "blake2b-ctr", seed}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeneratorJson {
    /// Always [`BLAKE2B_CTR`].
    pub kind: String,
    /// Seed, hex.
    pub seed: String,
}

/// One appended block: inline hex, or a generator plus the block's plain BLAKE2b-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockJson {
    /// Block index.
    pub index: u64,
    /// Fork at append time.
    pub fork: u64,
    /// Byte size.
    pub size: u64,
    /// Contents (small blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
    /// Generator (large blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorJson>,
    /// Plain BLAKE2b-256 of the block (large blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blake2b256: Option<String>,
}

impl BlockJson {
    /// A block written inline as hex.
    pub fn inline(index: u64, fork: u64, data: &[u8]) -> Self {
        BlockJson {
            index,
            fork,
            size: data.len() as u64,
            hex: Some(to_hex(data)),
            generator: None,
            blake2b256: None,
        }
    }

    /// A block written as its `blake2b-ctr` seed (`data` is what the generator makes of it).
    pub fn generated(index: u64, fork: u64, seed: &[u8], data: &[u8]) -> Self {
        BlockJson {
            index,
            fork,
            size: data.len() as u64,
            hex: None,
            generator: Some(GeneratorJson { kind: BLAKE2B_CTR.into(), seed: to_hex(seed) }),
            blake2b256: Some(to_hex(blake2b(data))),
        }
    }

    /// The block bytes, regenerated and checked against `blake2b256` when not inline.
    pub fn data(&self) -> Vec<u8> {
        let data = match (&self.hex, &self.generator) {
            (Some(h), _) => unhex(h),
            (None, Some(g)) => {
                assert_eq!(g.kind, BLAKE2B_CTR, "unknown block generator");
                let data = blake2b_ctr(&unhex(&g.seed), self.size as usize);
                let expected = self.blake2b256.as_deref().expect("generated block without blake2b256");
                assert_eq!(
                    to_hex(blake2b(&data)),
                    expected,
                    "regenerated block {} (fork {}) differs",
                    self.index,
                    self.fork
                );
                data
            }
            (None, None) => panic!("block {} has neither hex nor generator", self.index),
        };
        assert_eq!(data.len() as u64, self.size, "block {} size", self.index);
        data
    }
}

/// An append or truncate step and the head after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepJson {
    /// `append` / `truncate`.
    pub op: String,
    /// Length before.
    pub from: u64,
    /// Appended block count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Appended block indexes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_indexes: Option<Vec<u64>>,
    /// Truncation target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
    /// Head after the step.
    #[serde(flatten)]
    pub state: StateJson,
}

// ---------------------------------------------------------------------------------------------
// Key pairs, manifests, cores
// ---------------------------------------------------------------------------------------------

/// `{seedByte, publicKey, secretKey}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyPairJson {
    /// Seed = 32 bytes of this value.
    pub seed_byte: u8,
    /// Public key hex.
    pub public_key: String,
    /// 64-byte libsodium secret key hex.
    pub secret_key: String,
}

/// Signer of a manifest, JSON form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerJson {
    /// Always `ed25519`.
    pub signature: String,
    /// Namespace hex.
    pub namespace: String,
    /// Public key hex.
    pub public_key: String,
}

/// Prologue, JSON form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrologueJson {
    /// Tree hash hex.
    pub hash: String,
    /// Length.
    pub length: u64,
}

/// Manifest, JSON form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestJson {
    /// Version.
    pub version: u8,
    /// Always `blake2b`.
    pub hash: String,
    /// Allow patch.
    pub allow_patch: bool,
    /// Quorum.
    pub quorum: u64,
    /// Signers.
    pub signers: Vec<SignerJson>,
    /// Prologue.
    pub prologue: Option<PrologueJson>,
    /// Linked cores.
    pub linked: Option<Vec<String>>,
    /// User data hex.
    pub user_data: Option<String>,
}

impl From<&Manifest> for ManifestJson {
    fn from(m: &Manifest) -> Self {
        ManifestJson {
            version: m.version,
            hash: match m.hash {
                HashAlgorithm::Blake2b => "blake2b".into(),
            },
            allow_patch: m.allow_patch,
            quorum: m.quorum,
            signers: m
                .signers
                .iter()
                .map(|s| SignerJson {
                    signature: match s.signature {
                        SignatureAlgorithm::Ed25519 => "ed25519".into(),
                    },
                    namespace: to_hex(s.namespace),
                    public_key: to_hex(s.public_key),
                })
                .collect(),
            prologue: m.prologue.map(|p| PrologueJson { hash: to_hex(p.hash), length: p.length }),
            linked: m.linked.as_ref().map(|l| l.iter().map(to_hex).collect()),
            user_data: m.user_data.as_ref().map(to_hex),
        }
    }
}

impl ManifestJson {
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

/// One writer core with its history (`cores.json` entry).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreJson {
    /// `compat` / `manifest`.
    pub kind: String,
    /// Compat core.
    pub compat: bool,
    /// Core key.
    pub key: String,
    /// Discovery key.
    pub discovery_key: String,
    /// Manifest (JSON form), null for compat.
    pub manifest: Option<ManifestJson>,
    /// Manifest encoding, null for compat.
    pub manifest_encoding: Option<String>,
    /// Writer key pair.
    pub key_pair: KeyPairJson,
    /// Every block ever appended.
    pub blocks: Vec<BlockJson>,
    /// Steps.
    pub steps: Vec<StepJson>,
    /// Final head.
    #[serde(rename = "final")]
    pub final_state: StateJson,
}

// ---------------------------------------------------------------------------------------------
// Requests and proofs
// ---------------------------------------------------------------------------------------------

/// `{index, nodes}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReqIndexJson {
    /// Index.
    pub index: u64,
    /// Missing node count.
    pub nodes: u64,
}

/// `{bytes, padding}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReqSeekJson {
    /// Byte offset.
    pub bytes: u64,
    /// Padding.
    pub padding: u64,
}

/// `{start, length}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReqUpgradeJson {
    /// Start.
    pub start: u64,
    /// Length.
    pub length: u64,
}

/// A replicator request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestJson {
    /// Request id.
    pub id: u64,
    /// Requester fork.
    pub fork: u64,
    /// Block.
    pub block: Option<ReqIndexJson>,
    /// Hash.
    pub hash: Option<ReqIndexJson>,
    /// Seek.
    pub seek: Option<ReqSeekJson>,
    /// Upgrade.
    pub upgrade: Option<ReqUpgradeJson>,
    /// Ask for the manifest.
    pub manifest: bool,
    /// Always 0.
    pub priority: u64,
}

impl RequestJson {
    /// From a library request.
    pub fn new(id: u64, fork: u64, r: &ProofRequest, manifest: bool) -> Self {
        RequestJson {
            id,
            fork,
            block: r.block.map(|b| ReqIndexJson { index: b.index, nodes: b.nodes }),
            hash: r.hash.map(|b| ReqIndexJson { index: b.index, nodes: b.nodes }),
            seek: r.seek.map(|s| ReqSeekJson { bytes: s.bytes, padding: s.padding }),
            upgrade: r.upgrade.map(|u| ReqUpgradeJson { start: u.start, length: u.length }),
            manifest,
            priority: 0,
        }
    }

    /// As a library request.
    pub fn proof_request(&self) -> ProofRequest {
        ProofRequest {
            block: self.block.as_ref().map(|b| RequestIndex { index: b.index, nodes: b.nodes }),
            hash: self.hash.as_ref().map(|h| RequestIndex { index: h.index, nodes: h.nodes }),
            seek: self.seek.as_ref().map(|s| RequestSeek { bytes: s.bytes, padding: s.padding }),
            upgrade: self.upgrade.as_ref().map(|u| RequestUpgrade { start: u.start, length: u.length }),
        }
    }
}

/// `data.block`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockProofJson {
    /// Index.
    pub index: u64,
    /// Value hex.
    pub value: String,
    /// Nodes.
    pub nodes: Vec<NodeJson>,
}

/// `data.hash`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HashProofJson {
    /// Index.
    pub index: u64,
    /// Nodes.
    pub nodes: Vec<NodeJson>,
}

/// `data.seek`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeekProofJson {
    /// Bytes.
    pub bytes: u64,
    /// Nodes.
    pub nodes: Vec<NodeJson>,
}

/// `data.upgrade`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeProofJson {
    /// Start.
    pub start: u64,
    /// Length.
    pub length: u64,
    /// Nodes.
    pub nodes: Vec<NodeJson>,
    /// Additional nodes.
    pub additional_nodes: Vec<NodeJson>,
    /// Signature hex.
    pub signature: String,
}

/// A proof as JS `proofToJson` writes it, with the encoded manifest sent along.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProofJson {
    /// Fork.
    pub fork: u64,
    /// Block.
    pub block: Option<BlockProofJson>,
    /// Hash.
    pub hash: Option<HashProofJson>,
    /// Seek.
    pub seek: Option<SeekProofJson>,
    /// Upgrade.
    pub upgrade: Option<UpgradeProofJson>,
    /// Encoded manifest hex.
    pub manifest: Option<String>,
}

impl ProofJson {
    /// From a library proof and the encoded manifest sent with it.
    pub fn new(p: &Proof, manifest: Option<&[u8]>) -> Self {
        ProofJson {
            fork: p.fork,
            block: p.block.as_ref().map(|b| BlockProofJson {
                index: b.index,
                value: to_hex(&b.value),
                nodes: nodes_json(&b.nodes),
            }),
            hash: p.hash.as_ref().map(|h| HashProofJson { index: h.index, nodes: nodes_json(&h.nodes) }),
            seek: p.seek.as_ref().map(|s| SeekProofJson { bytes: s.bytes, nodes: nodes_json(&s.nodes) }),
            upgrade: p.upgrade.as_ref().map(|u| UpgradeProofJson {
                start: u.start,
                length: u.length,
                nodes: nodes_json(&u.nodes),
                additional_nodes: nodes_json(&u.additional_nodes),
                signature: to_hex(&u.signature),
            }),
            manifest: manifest.map(to_hex),
        }
    }

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

// ---------------------------------------------------------------------------------------------
// Proof files: readers, vectors, cores
// ---------------------------------------------------------------------------------------------

/// A reader's bootstrap: the upgrade request, the writer's proof, and the writer's head.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapJson {
    /// Request.
    pub request: RequestJson,
    /// Proof.
    pub proof: ProofJson,
    /// `wire.data` encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_wire: Option<String>,
    /// Writer head when it answered.
    pub state: StateJson,
}

/// A reader.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReaderJson {
    /// Length after bootstrap.
    pub length: u64,
    /// Bootstrap (null for the empty reader).
    pub bootstrap: Option<BootstrapJson>,
    /// Whether the reader knows the manifest after bootstrap.
    pub has_manifest: bool,
}

/// Verification result on a reader: `{ok, upgraded, length, byteLength, treeHash}` or
/// `{ok: false, code, message}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultJson {
    /// Accepted.
    pub ok: bool,
    /// Accepted: the head moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgraded: Option<bool>,
    /// Accepted: length after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// Accepted: byte length after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_length: Option<u64>,
    /// Accepted: tree hash after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_hash: Option<String>,
    /// Rejected: error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Rejected: message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ResultJson {
    /// A rejection with `code` and `message`.
    pub fn rejected(code: impl Into<String>, message: impl Into<String>) -> Self {
        ResultJson { ok: false, code: Some(code.into()), message: Some(message.into()), ..Self::default() }
    }
}

/// The writer's refusal to answer a request: `{code, message}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorJson {
    /// Error code.
    pub code: String,
    /// Message.
    pub message: String,
}

/// One proof vector.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofEntryJson {
    /// Name.
    pub name: String,
    /// Invalid vectors: the valid proof this one was tampered from (`Some(None)` is `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub based_on: Option<Option<String>>,
    /// Invalid vectors: what was changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tamper: Option<String>,
    /// Reader length the proof is for.
    pub reader_length: u64,
    /// Request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestJson>,
    /// Proof (none when the writer refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<ProofJson>,
    /// `wire.data` encoding of the proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_wire: Option<String>,
    /// Verification result (non-committing, on a reader of `reader_length`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultJson>,
    /// The writer's refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorJson>,
    /// Invalid vectors: the committing `core.verify` result, where it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core_verify: Option<ResultJson>,
}

/// One core's proof vectors (`proofs.json` / `invalid-proofs.json` entry).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofsCoreJson {
    /// Core key.
    pub key: String,
    /// Discovery key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery_key: Option<String>,
    /// Compat core.
    pub compat: bool,
    /// Manifest encoding (null for compat).
    pub manifest_encoding: Option<String>,
    /// Responder head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<StateJson>,
    /// Readers.
    pub readers: Vec<ReaderJson>,
    /// Proofs.
    pub proofs: Vec<ProofEntryJson>,
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// The core kinds of every fixture file, in file order.
pub const KINDS: [&str; 2] = ["compat", "manifest"];

/// The `cores` object of a fixture file, by kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cores<T>(pub BTreeMap<String, T>);

impl<T> Cores<T> {
    /// The core of `kind`; panics when the file has none.
    pub fn get(&self, kind: &str) -> &T {
        self.0.get(kind).unwrap_or_else(|| panic!("no core of kind {kind}"))
    }

    /// Every core, by kind.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether the file has both [`KINDS`].
    pub fn has_all_kinds(&self) -> bool {
        KINDS.iter().all(|k| self.0.contains_key(*k))
    }
}

/// Top level of every fixture file: `{generator, cores}` (other keys are ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileJson<T> {
    /// Who made it: tool → version.
    #[serde(default)]
    pub generator: BTreeMap<String, String>,
    /// `compat` and `manifest`.
    pub cores: Cores<T>,
}

/// `cores.json`.
pub type CoresFile = FileJson<CoreJson>;
/// `proofs.json` and `invalid-proofs.json`.
pub type ProofsFile = FileJson<ProofsCoreJson>;
