//! Multi-signatures: the on-wire signature of manifest cores (hypercore `lib/multisig.js`,
//! `lib/messages.js` `multiSignature`, `multiSignaturev0`).
//!
//! Version ≥ 1: `array({uint signer, fixed64 signature, uint patch}) ‖ array(node)`, where
//! `patch` > 0 says the signer signed `length + patch` and the shared node list holds what is
//! needed to grow the verified tree to that length. Version 0: `array({uint flags, uint signer,
//! fixed64 signature, [uint start, uint length, array(uint) node positions]}) ‖ array(node)`.

use crate::crypto::sign::Signature;
use crate::encoding::{put_array, put_uint, Compact, DecodeError, Decoder};
use crate::tree::{flat_tree, Node};

/// Why a signature could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The key pair is not one of the manifest's signers (JS: "Public key is not a declared signer").
    #[error("public key is not a declared signer")]
    NotASigner,
    /// A patched input without the nodes a version-0 multisig needs (JS throws a TypeError).
    #[error("patched signature input has no nodes")]
    MissingPatchNodes,
    /// An existing signature that is neither 64 bytes nor a decodable multisig.
    #[error("undecodable signature: {0}")]
    BadSignature(DecodeError),
}

impl SignError {
    /// The JS error code.
    pub fn code(&self) -> &'static str {
        match self {
            SignError::BadSignature(_) => "DECODING_ERROR",
            _ => "BAD_ARGUMENT",
        }
    }
}

/// One signer's entry of a version ≥ 1 multisig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultisigInput {
    /// Index of the signer in the manifest.
    pub signer: u64,
    /// Ed25519 signature.
    pub signature: Signature,
    /// How many blocks past the verified length the signer signed (0 = exactly that length).
    pub patch: u64,
}

/// A version ≥ 1 multisig (`multiSignature`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiSignature {
    /// Signer entries; the verifier checks the first `quorum`.
    pub proofs: Vec<MultisigInput>,
    /// Tree nodes shared by all patched entries.
    pub patch: Vec<Node>,
}

/// The patch of a version-0 multisig entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchV0 {
    /// First block after the patch's base (`rightSpan(last node) / 2 + 1`).
    pub start: u64,
    /// Number of blocks patched.
    pub length: u64,
    /// Positions in the shared node list.
    pub nodes: Vec<u64>,
}

/// One signer's entry of a version-0 multisig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultisigInputV0 {
    /// Index of the signer in the manifest.
    pub signer: u64,
    /// Ed25519 signature.
    pub signature: Signature,
    /// Optional patch (flags bit 0).
    pub patch: Option<PatchV0>,
}

/// A version-0 multisig (`multiSignaturev0`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiSignatureV0 {
    /// Signer entries.
    pub proofs: Vec<MultisigInputV0>,
    /// Shared tree nodes.
    pub patch: Vec<Node>,
}

impl Compact for MultiSignature {
    fn encode(&self, out: &mut Vec<u8>) {
        put_array(out, &self.proofs, |o, p| {
            put_uint(o, p.signer);
            o.extend_from_slice(&p.signature);
            put_uint(o, p.patch);
        });
        put_array(out, &self.patch, |o, n| n.encode(o));
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let proofs = dec
            .array_of(|d| Ok(MultisigInput { signer: d.uint()?, signature: d.array()?, patch: d.uint()? }))?;
        Ok(MultiSignature { proofs, patch: dec.array_of(Node::decode)? })
    }
}

impl Compact for MultiSignatureV0 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_array(out, &self.proofs, |o, p| {
            put_uint(o, u64::from(p.patch.is_some()));
            put_uint(o, p.signer);
            o.extend_from_slice(&p.signature);
            if let Some(patch) = &p.patch {
                put_uint(o, patch.start);
                put_uint(o, patch.length);
                put_array(o, &patch.nodes, |o, n| put_uint(o, *n));
            }
        });
        put_array(out, &self.patch, |o, n| n.encode(o));
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let proofs = dec.array_of(|d| {
            let flags = d.uint()?;
            let signer = d.uint()?;
            let signature = d.array()?;
            let patch = if flags & 1 != 0 {
                Some(PatchV0 { start: d.uint()?, length: d.uint()?, nodes: d.array_of(|d| d.uint())? })
            } else {
                None
            };
            Ok(MultisigInputV0 { signer, signature, patch })
        })?;
        Ok(MultiSignatureV0 { proofs, patch: dec.array_of(Node::decode)? })
    }
}

/// JS `multisig.inflate`: decodes like `c.decode`, ignoring bytes after the value.
pub fn inflate(bytes: &[u8]) -> Result<MultiSignature, DecodeError> {
    MultiSignature::decode(&mut Decoder::new(bytes))
}

/// JS `multisig.inflatev0`: decodes like `c.decode`, ignoring bytes after the value.
pub fn inflate_v0(bytes: &[u8]) -> Result<MultiSignatureV0, DecodeError> {
    MultiSignatureV0::decode(&mut Decoder::new(bytes))
}

/// One signer's contribution to a multisig (JS `partialSignature` result, `assemble` input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialSignature {
    /// Index of the signer in the manifest.
    pub signer: u64,
    /// The raw signature over the signer's own length.
    pub signature: Signature,
    /// `signed length − target length`, 0 when the signer signed the target length itself.
    pub patch: u64,
    /// The upgrade-proof nodes from the target length to the signed length (see
    /// [`super::verifier::patch_node_indices`] for which), `None` without a patch.
    pub nodes: Option<Vec<Node>>,
}

impl PartialSignature {
    /// JS `partialSignature(core, signer, from, to, signature)` with the tree work done by the
    /// caller: `signature` is the core's signature at length `to` (raw 64 bytes, or a multisig
    /// whose first entry is taken), `nodes` the upgrade nodes from `from` to `to`
    /// (`MerkleTree.proof({ upgrade: { start: from, length: to - from } }).upgrade.nodes`).
    /// `nodes` is ignored (and the patch is 0) when `to <= from`.
    pub fn new(
        signer: u64,
        signature: &[u8],
        from: u64,
        to: u64,
        nodes: Vec<Node>,
    ) -> Result<Self, SignError> {
        let signature = match <Signature>::try_from(signature) {
            Ok(raw) => raw,
            Err(_) => {
                let ms = inflate(signature).map_err(SignError::BadSignature)?;
                match ms.proofs.first() {
                    Some(p) => p.signature,
                    None => {
                        return Err(SignError::BadSignature(DecodeError::invalid("multisig", "no proofs")))
                    }
                }
            }
        };
        let patched = to > from;
        Ok(PartialSignature {
            signer,
            signature,
            patch: if patched { to - from } else { 0 },
            nodes: if patched { Some(nodes) } else { None },
        })
    }
}

/// JS `multisig.assemble`: version ≥ 1 multisig; patch nodes are pooled, first copy of an index
/// wins.
pub fn assemble(inputs: &[PartialSignature]) -> Vec<u8> {
    let mut ms = MultiSignature::default();
    let mut seen = std::collections::HashSet::new();
    for inp in inputs {
        for node in inp.nodes.iter().flatten() {
            if seen.insert(node.index) {
                ms.patch.push(*node);
            }
        }
        ms.proofs.push(MultisigInput { signer: inp.signer, signature: inp.signature, patch: inp.patch });
    }
    ms.to_bytes()
}

/// JS `multisig.assemblev0`: version-0 multisig; nodes are pooled by full equality and each
/// patched entry lists their positions.
pub fn assemble_v0(inputs: &[PartialSignature]) -> Result<Vec<u8>, SignError> {
    let mut ms = MultiSignatureV0::default();
    for inp in inputs {
        let patch = if inp.patch > 0 {
            let nodes = inp.nodes.as_deref().unwrap_or_default();
            let last = nodes.last().ok_or(SignError::MissingPatchNodes)?;
            let mut positions = Vec::with_capacity(nodes.len());
            for node in nodes {
                let pos = match ms.patch.iter().position(|n| n == node) {
                    Some(p) => p,
                    None => {
                        ms.patch.push(*node);
                        ms.patch.len() - 1
                    }
                };
                positions.push(pos as u64);
            }
            Some(PatchV0 {
                start: flat_tree::right_span(last.index) / 2 + 1,
                length: inp.patch,
                nodes: positions,
            })
        } else {
            None
        };
        ms.proofs.push(MultisigInputV0 { signer: inp.signer, signature: inp.signature, patch });
    }
    Ok(ms.to_bytes())
}

/// JS `multisig.signableLength(lengths, quorum)`: the largest length at least `quorum` of the
/// signers have signed (0 if fewer than `quorum` lengths; quorum 0 counts as 1).
pub fn signable_length(lengths: &[u64], quorum: u64) -> u64 {
    let quorum = quorum.max(1);
    if quorum > lengths.len() as u64 {
        return 0;
    }
    let mut sorted = lengths.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted[(quorum - 1) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(index: u64, fill: u8) -> Node {
        Node { index, size: index + 1, hash: [fill; 32] }
    }

    #[test]
    fn single_signer_is_68_bytes() {
        let p = PartialSignature::new(0, &[7; 64], 0, 0, vec![]).unwrap();
        let b = assemble(&[p]);
        assert_eq!(b.len(), 68);
        assert_eq!(b[..2], [1, 0]);
        assert_eq!(b[2..66], [7; 64]);
        assert_eq!(b[66..], [0, 0]);
        // A multisig is accepted where a raw signature is expected: its first entry is used.
        let again = PartialSignature::new(3, &b, 0, 0, vec![]).unwrap();
        assert_eq!(again.signature, [7; 64]);
        assert!(PartialSignature::new(3, &[1, 2], 0, 0, vec![]).is_err());
    }

    #[test]
    fn assemble_pools_nodes() {
        let a = PartialSignature {
            signer: 0,
            signature: [1; 64],
            patch: 2,
            nodes: Some(vec![node(6, 1), node(8, 2)]),
        };
        let b = PartialSignature { signer: 2, signature: [2; 64], patch: 1, nodes: Some(vec![node(6, 9)]) };
        let ms = inflate(&assemble(&[a.clone(), b.clone()])).unwrap();
        assert_eq!(ms.patch, vec![node(6, 1), node(8, 2)]);
        assert_eq!(ms.proofs.iter().map(|p| (p.signer, p.patch)).collect::<Vec<_>>(), [(0, 2), (2, 1)]);

        let v0 = inflate_v0(&assemble_v0(&[a, b]).unwrap()).unwrap();
        assert_eq!(v0.patch, vec![node(6, 1), node(8, 2), node(6, 9)]);
        assert_eq!(v0.proofs[0].patch, Some(PatchV0 { start: 5, length: 2, nodes: vec![0, 1] }));
        assert_eq!(v0.proofs[1].patch, Some(PatchV0 { start: 4, length: 1, nodes: vec![2] }));
        let bad = PartialSignature { signer: 0, signature: [1; 64], patch: 1, nodes: None };
        assert_eq!(assemble_v0(&[bad]), Err(SignError::MissingPatchNodes));
    }

    #[test]
    fn signable_length_picks_quorum_th_highest() {
        assert_eq!(signable_length(&[3, 9, 5], 2), 5);
        assert_eq!(signable_length(&[3, 9, 5], 0), 9);
        assert_eq!(signable_length(&[3, 9, 5], 4), 0);
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(ms) = inflate(&bytes) {
                proptest::prop_assert_eq!(MultiSignature::from_bytes(&ms.to_bytes()).unwrap(), ms);
            }
            if let Ok(ms) = inflate_v0(&bytes) {
                proptest::prop_assert_eq!(MultiSignatureV0::from_bytes(&ms.to_bytes()).unwrap(), ms);
            }
        }
    }
}
