//! The JSON shapes of `tests/fixtures/README.md` (`cores.json`, `proofs.json`,
//! `invalid-proofs.json`), as `tests/js/verify-rust.mjs` reads them.
//!
//! Field order matters: `verify-rust.mjs` compares `JSON.stringify` of the proof it decodes from
//! `dataWire` with the proof given here, so every struct lists its fields in the JS order.

use hyperwasm::core::Manifest;
use hyperwasm::tree::proof::{Proof, ProofRequest};
use hyperwasm::tree::{Node, TreeState};
use serde::Serialize;
use std::collections::BTreeMap;

/// Lowercase hex.
pub fn hx(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

/// `{index, size, hash}`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeJson {
    /// Flat index.
    pub index: u64,
    /// Subtree byte size.
    pub size: u64,
    /// BLAKE2b-256 hex.
    pub hash: String,
}

impl From<&Node> for NodeJson {
    fn from(n: &Node) -> Self {
        NodeJson { index: n.index, size: n.size, hash: hx(n.hash) }
    }
}

/// Nodes to JSON.
pub fn nodes(ns: &[Node]) -> Vec<NodeJson> {
    ns.iter().map(NodeJson::from).collect()
}

/// A core head: `{length, byteLength, fork, treeHash, roots, signature, signable}`.
#[derive(Debug, Clone, Serialize)]
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
            tree_hash: hx(s.hash()),
            roots: nodes(&s.roots),
            signature: s.signature.as_ref().map(hx),
            signable: signable.map(hx),
        }
    }
}

/// `blake2b-ctr` generator description of a large block.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratorJson {
    /// Always `blake2b-ctr`.
    pub kind: &'static str,
    /// Seed, hex.
    pub seed: String,
}

/// One appended block.
#[derive(Debug, Clone, Serialize)]
pub struct BlockJson {
    /// Block index.
    pub index: u64,
    /// Fork at append time.
    pub fork: u64,
    /// Byte size.
    pub size: u64,
    /// Contents (blocks up to 64 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
    /// Generator (larger blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorJson>,
    /// Plain BLAKE2b-256 of the block (larger blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blake2b256: Option<String>,
}

/// An append or truncate step and the head after it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepJson {
    /// `append` / `truncate`.
    pub op: &'static str,
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

/// `{seedByte, publicKey, secretKey}`.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerJson {
    /// Always `ed25519`.
    pub signature: &'static str,
    /// Namespace hex.
    pub namespace: String,
    /// Public key hex.
    pub public_key: String,
}

/// Prologue, JSON form.
#[derive(Debug, Clone, Serialize)]
pub struct PrologueJson {
    /// Tree hash hex.
    pub hash: String,
    /// Length.
    pub length: u64,
}

/// Manifest, JSON form.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestJson {
    /// Version.
    pub version: u8,
    /// Always `blake2b`.
    pub hash: &'static str,
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
            hash: "blake2b",
            allow_patch: m.allow_patch,
            quorum: m.quorum,
            signers: m
                .signers
                .iter()
                .map(|s| SignerJson {
                    signature: "ed25519",
                    namespace: hx(s.namespace),
                    public_key: hx(s.public_key),
                })
                .collect(),
            prologue: m.prologue.map(|p| PrologueJson { hash: hx(p.hash), length: p.length }),
            linked: m.linked.as_ref().map(|l| l.iter().map(hx).collect()),
            user_data: m.user_data.as_ref().map(hx),
        }
    }
}

/// One writer core with its history (`cores.json` entry).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreJson {
    /// `compat` / `manifest`.
    pub kind: &'static str,
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

/// `{index, nodes}`.
#[derive(Debug, Clone, Serialize)]
pub struct ReqIndexJson {
    /// Index.
    pub index: u64,
    /// Missing node count.
    pub nodes: u64,
}

/// `{bytes, padding}`.
#[derive(Debug, Clone, Serialize)]
pub struct ReqSeekJson {
    /// Byte offset.
    pub bytes: u64,
    /// Padding.
    pub padding: u64,
}

/// `{start, length}`.
#[derive(Debug, Clone, Serialize)]
pub struct ReqUpgradeJson {
    /// Start.
    pub start: u64,
    /// Length.
    pub length: u64,
}

/// A replicator request.
#[derive(Debug, Clone, Serialize)]
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
    /// From a Rust request.
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
}

/// `data.block`.
#[derive(Debug, Clone, Serialize)]
pub struct BlockProofJson {
    /// Index.
    pub index: u64,
    /// Value hex.
    pub value: String,
    /// Nodes.
    pub nodes: Vec<NodeJson>,
}

/// `data.hash`.
#[derive(Debug, Clone, Serialize)]
pub struct HashProofJson {
    /// Index.
    pub index: u64,
    /// Nodes.
    pub nodes: Vec<NodeJson>,
}

/// `data.seek`.
#[derive(Debug, Clone, Serialize)]
pub struct SeekProofJson {
    /// Bytes.
    pub bytes: u64,
    /// Nodes.
    pub nodes: Vec<NodeJson>,
}

/// `data.upgrade`.
#[derive(Debug, Clone, Serialize)]
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

/// A proof as `proofToJson` writes it.
#[derive(Debug, Clone, Serialize)]
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
    /// From a Rust proof and the encoded manifest sent with it.
    pub fn new(p: &Proof, manifest: Option<&[u8]>) -> Self {
        ProofJson {
            fork: p.fork,
            block: p.block.as_ref().map(|b| BlockProofJson {
                index: b.index,
                value: hx(&b.value),
                nodes: nodes(&b.nodes),
            }),
            hash: p.hash.as_ref().map(|h| HashProofJson { index: h.index, nodes: nodes(&h.nodes) }),
            seek: p.seek.as_ref().map(|s| SeekProofJson { bytes: s.bytes, nodes: nodes(&s.nodes) }),
            upgrade: p.upgrade.as_ref().map(|u| UpgradeProofJson {
                start: u.start,
                length: u.length,
                nodes: nodes(&u.nodes),
                additional_nodes: nodes(&u.additional_nodes),
                signature: hx(&u.signature),
            }),
            manifest: manifest.map(hx),
        }
    }
}

/// A reader's bootstrap proof.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapJson {
    /// Request.
    pub request: RequestJson,
    /// Proof.
    pub proof: ProofJson,
    /// `wire.data` encoding.
    pub data_wire: String,
    /// Writer head when it answered.
    pub state: StateJson,
}

/// A reader.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReaderJson {
    /// Length after bootstrap.
    pub length: u64,
    /// Bootstrap (null for the empty reader).
    pub bootstrap: Option<BootstrapJson>,
    /// Whether the reader knows the manifest after bootstrap.
    pub has_manifest: bool,
}

/// Verification result on the reader (non-committing).
#[derive(Debug, Clone, Serialize)]
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

/// One proof vector.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofEntryJson {
    /// Name.
    pub name: String,
    /// Invalid vectors: the valid proof this one was tampered from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub based_on: Option<Option<String>>,
    /// Invalid vectors: what was changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tamper: Option<String>,
    /// Reader length the proof is for.
    pub reader_length: u64,
    /// Request.
    pub request: RequestJson,
    /// Proof.
    pub proof: ProofJson,
    /// `wire.data` encoding of the proof.
    pub data_wire: String,
    /// Rust's verification result (non-committing, on a reader of `reader_length`).
    pub result: ResultJson,
}

/// One core's proof vectors (`proofs.json` entry).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofsCoreJson {
    /// Core key.
    pub key: String,
    /// Discovery key.
    pub discovery_key: String,
    /// Compat core.
    pub compat: bool,
    /// Manifest encoding (null for compat).
    pub manifest_encoding: Option<String>,
    /// Responder head.
    pub writer: StateJson,
    /// Readers.
    pub readers: Vec<ReaderJson>,
    /// Proofs.
    pub proofs: Vec<ProofEntryJson>,
}

/// Top level of every exported file.
#[derive(Debug, Clone, Serialize)]
pub struct FileJson<T> {
    /// Who made it.
    pub generator: BTreeMap<&'static str, String>,
    /// `compat` and `manifest`.
    pub cores: BTreeMap<&'static str, T>,
}
