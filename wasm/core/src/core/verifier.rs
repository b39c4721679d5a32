//! Signing and verifying tree heads under a manifest (hypercore `lib/verifier.js`).
//!
//! A [`Verifier`] is built from a core key and its manifest. It produces the bytes a signer
//! signs ([`Verifier::signable`]), the on-wire signature ([`Verifier::sign`]) and checks one
//! ([`Verifier::verify`]) for a [`SignedBatch`]: the tree hash, length and fork being signed.
//!
//! ## What verification needs from the tree
//!
//! Only patched multisig entries (manifests with `allow_patch`, entries with `patch > 0`) need
//! more than the tree hash: such a signer signed the *later* length `length + patch`, and the
//! verifier rebuilds that tree from the batch's **roots** plus the nodes shipped in the
//! multisig (JS clones the batch and runs `verifyUpgrade` on it). So the tree layer only has to
//! hand over its current roots: build the batch with [`SignedBatch::from_roots`]. A batch made
//! with [`SignedBatch::new`] (hash only) verifies everything except patched entries, which fail
//! with [`VerifyError::PatchNeedsRoots`]. [`patch_roots`] and [`patch_node_indices`] are the
//! pure tree arithmetic involved, usable by the tree layer too.

use std::collections::HashMap;

use super::manifest::{is_compat, Manifest, Prologue, Signer};
use super::multisig::{self, PartialSignature, SignError};
use crate::crypto::caps;
use crate::crypto::hash::{tree_hash, Hash};
use crate::crypto::sign::{verify as ed25519_verify, KeyPair};
use crate::encoding::DecodeError;
use crate::tree::{flat_tree, Node};

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No signature where one is needed.
    #[error("missing signature")]
    MissingSignature,
    /// An Ed25519 check failed.
    #[error("invalid signature")]
    InvalidSignature,
    /// The multisig bytes do not decode (JS throws from `multisig.inflate`).
    #[error("undecodable multisig: {0}")]
    Decode(#[from] DecodeError),
    /// The manifest has quorum 0, so nothing beyond its prologue can be signed.
    #[error("manifest has no quorum")]
    NoQuorum,
    /// Fewer signer entries than the quorum.
    #[error("quorum not met: {have} of {need} signatures")]
    QuorumNotMet {
        /// Entries present.
        have: usize,
        /// Quorum.
        need: u64,
    },
    /// An entry names a signer index the manifest does not have.
    #[error("unknown signer {0}")]
    UnknownSigner(u64),
    /// Two counted entries name the same signer.
    #[error("signer {0} counted twice")]
    DuplicateSigner(u64),
    /// A length at or below the prologue that is not exactly the prologue.
    #[error("tree does not match the prologue")]
    PrologueMismatch,
    /// A patched entry whose nodes do not build the later tree.
    #[error("invalid patch: {0}")]
    InvalidPatch(&'static str),
    /// A patched entry was checked against a batch built without roots.
    #[error("a patched signature needs the tree roots")]
    PatchNeedsRoots,
    /// The roots handed to [`SignedBatch::from_roots`] are not the full roots of any length.
    #[error("roots are not the full roots of a tree")]
    BadRoots,
}

impl VerifyError {
    /// The JS error code hypercore reports (`INVALID_SIGNATURE` for every rejected signature).
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Decode(_) => "DECODING_ERROR",
            VerifyError::PatchNeedsRoots | VerifyError::BadRoots => "INVALID_OPERATION",
            _ => "INVALID_SIGNATURE",
        }
    }
}

/// The tree head a signature is over: tree hash, length, fork, and optionally the roots
/// (needed only for patched multisig entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBatch {
    tree_hash: Hash,
    length: u64,
    fork: u64,
    roots: Option<Vec<Node>>,
}

impl SignedBatch {
    /// A head known only by its hash.
    pub fn new(tree_hash: Hash, length: u64, fork: u64) -> Self {
        SignedBatch { tree_hash, length, fork, roots: None }
    }

    /// A head from its full roots, left to right (`flat_tree::full_roots(2 * length)` order);
    /// the length and tree hash are derived from them.
    pub fn from_roots(roots: &[Node], fork: u64) -> Result<Self, VerifyError> {
        let mut length = 0u64;
        for r in roots {
            length = length.checked_add(flat_tree::count_leaves(r.index)).ok_or(VerifyError::BadRoots)?;
        }
        let expected = length.checked_mul(2).map(flat_tree::full_roots).ok_or(VerifyError::BadRoots)?;
        if !expected.iter().copied().eq(roots.iter().map(|r| r.index)) {
            return Err(VerifyError::BadRoots);
        }
        Ok(SignedBatch { tree_hash: roots_hash(roots), length, fork, roots: Some(roots.to_vec()) })
    }

    /// Tree hash.
    pub fn tree_hash(&self) -> &Hash {
        &self.tree_hash
    }
    /// Length in blocks.
    pub fn length(&self) -> u64 {
        self.length
    }
    /// Fork id.
    pub fn fork(&self) -> u64 {
        self.fork
    }
    /// Roots, if known.
    pub fn roots(&self) -> Option<&[Node]> {
        self.roots.as_deref()
    }
}

fn roots_hash(roots: &[Node]) -> Hash {
    tree_hash(roots.iter().map(|r| (&r.hash, r.index, r.size)))
}

/// Checks signatures of one core (JS `Verifier`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    manifest_hash: Hash,
    compat: bool,
    legacy: bool,
    version: u8,
    allow_patch: bool,
    quorum: u64,
    signers: Vec<Signer>,
    prologue: Option<Prologue>,
}

impl Verifier {
    /// JS `new Verifier(key, manifest)`: compat iff [`is_compat`]`(key, manifest)`.
    pub fn new(key: &Hash, manifest: &Manifest) -> Self {
        Self::with_options(key, manifest, is_compat(key, manifest), false)
    }

    /// JS `Verifier.fromManifest(manifest)`: key = `manifest.key()`, never compat unless the key
    /// happens to be the single signer's public key.
    pub fn from_manifest(manifest: &Manifest) -> Self {
        Self::new(&manifest.key(), manifest)
    }

    /// A compat core (key = public key), as hypercore does for cores without a manifest.
    pub fn compat(public_key: &[u8; 32]) -> Self {
        Self::with_options(public_key, &Manifest::default_signer(*public_key), true, false)
    }

    /// JS `new Verifier(key, manifest, { compat, legacy })`. `legacy` drops the `TREE` prefix of
    /// compat signables (48 bytes, "ultra legacy mode").
    pub fn with_options(key: &Hash, manifest: &Manifest, compat: bool, legacy: bool) -> Self {
        Verifier {
            manifest_hash: *key,
            compat,
            legacy,
            version: if compat { 0 } else { manifest.version },
            allow_patch: !compat && manifest.allow_patch,
            quorum: if compat { 1 } else { manifest.quorum },
            signers: manifest.signers.clone(),
            prologue: if compat { None } else { manifest.prologue },
        }
    }

    /// Whether signatures are raw compat (v10-style) signatures.
    pub fn is_compat(&self) -> bool {
        self.compat
    }
    /// Effective version (0 for compat cores).
    pub fn version(&self) -> u8 {
        self.version
    }
    /// Effective quorum.
    pub fn quorum(&self) -> u64 {
        self.quorum
    }
    /// The prologue (never for compat cores).
    pub fn prologue(&self) -> Option<&Prologue> {
        self.prologue.as_ref()
    }
    /// Signers.
    pub fn signers(&self) -> &[Signer] {
        &self.signers
    }

    /// Index of the signer with `public_key`.
    pub fn signer_index(&self, public_key: &[u8; 32]) -> Option<usize> {
        self.signers.iter().position(|s| s.public_key == *public_key)
    }

    /// The bytes signer `signer` signs for a head: 80 bytes `TREE ‖ hash ‖ length ‖ fork` for
    /// compat cores (48 without `TREE` in legacy mode), else the 112-byte tree signable with the
    /// manifest hash as context (the signer's namespace for version-0 manifests). `None` for an
    /// unknown signer index.
    pub fn signable(&self, signer: usize, tree_hash: &Hash, length: u64, fork: u64) -> Option<Vec<u8>> {
        let s = self.signers.get(signer)?;
        Some(if self.compat {
            let full = caps::tree_signable_compat(tree_hash, length, fork);
            if self.legacy {
                full[32..].to_vec()
            } else {
                full.to_vec()
            }
        } else {
            let ctx = if self.version == 0 { &s.namespace } else { &self.manifest_hash };
            caps::tree_signable(ctx, tree_hash, length, fork).to_vec()
        })
    }

    fn check(&self, signer: usize, tree_hash: &Hash, length: u64, fork: u64, signature: &[u8]) -> bool {
        match (self.signable(signer, tree_hash, length, fork), self.signers.get(signer)) {
            (Some(msg), Some(s)) => ed25519_verify(&msg, signature, &s.public_key),
            _ => false,
        }
    }

    /// JS `verifier.sign(batch, keyPair)`: signs as the declared signer matching `key_pair`.
    /// Returns the raw 64-byte signature, except for a version ≥ 1 manifest with exactly one
    /// signer, where it is already the on-wire multisig (`01 00 sig 00 00`). With several
    /// signers the raw signatures are combined with [`Verifier::assemble`].
    pub fn sign(
        &self,
        key_pair: &KeyPair,
        tree_hash: &Hash,
        length: u64,
        fork: u64,
    ) -> Result<Vec<u8>, SignError> {
        let index = self.signer_index(&key_pair.public_key()).ok_or(SignError::NotASigner)?;
        let msg = self.signable(index, tree_hash, length, fork).ok_or(SignError::NotASigner)?;
        let signature = key_pair.sign(&msg);
        if self.signers.len() != 1 || self.version == 0 {
            return Ok(signature.to_vec());
        }
        Ok(multisig::assemble(&[PartialSignature { signer: 0, signature, patch: 0, nodes: None }]))
    }

    /// JS `verifier.assemble(inputs)`: the multisig codec of this manifest's version.
    pub fn assemble(&self, inputs: &[PartialSignature]) -> Result<Vec<u8>, SignError> {
        if self.version == 0 {
            multisig::assemble_v0(inputs)
        } else {
            Ok(multisig::assemble(inputs))
        }
    }

    /// JS `verifier.verify(batch, signature)`.
    ///
    /// * compat / version 0: a raw signature of the single signer (or a v0 multisig);
    /// * a prologue and `length <= prologue.length`: valid iff the head is exactly the prologue,
    ///   no signature needed;
    /// * otherwise a multisig whose first `quorum` entries name distinct signers and verify,
    ///   patched entries (with `allow_patch`) over the tree grown by `patch` blocks.
    pub fn verify(&self, batch: &SignedBatch, signature: Option<&[u8]>) -> Result<(), VerifyError> {
        if self.version == 0 {
            let signature = signature.ok_or(VerifyError::MissingSignature)?;
            if self.compat || (!self.allow_patch && self.signers.len() == 1) {
                return if self.check(0, &batch.tree_hash, batch.length, batch.fork, signature) {
                    Ok(())
                } else {
                    Err(VerifyError::InvalidSignature)
                };
            }
            return self.verify_multi(batch, signature);
        }
        if let Some(p) = &self.prologue {
            if batch.length <= p.length {
                return if batch.length == p.length && batch.tree_hash == p.hash {
                    Ok(())
                } else {
                    Err(VerifyError::PrologueMismatch)
                };
            }
        }
        self.verify_multi(batch, signature.ok_or(VerifyError::MissingSignature)?)
    }

    /// [`Verifier::verify`] for a head known only by hash (patched entries then fail).
    pub fn verify_hash(
        &self,
        tree_hash: &Hash,
        length: u64,
        fork: u64,
        signature: Option<&[u8]>,
    ) -> Result<(), VerifyError> {
        self.verify(&SignedBatch::new(*tree_hash, length, fork), signature)
    }

    fn verify_multi(&self, batch: &SignedBatch, signature: &[u8]) -> Result<(), VerifyError> {
        if self.quorum == 0 {
            return Err(VerifyError::NoQuorum);
        }
        let (proofs, patch) = if self.version >= 1 {
            let ms = multisig::inflate(signature)?;
            (ms.proofs, ms.patch)
        } else {
            let ms = multisig::inflate_v0(signature)?;
            let proofs = ms
                .proofs
                .into_iter()
                .map(|p| multisig::MultisigInput {
                    signer: p.signer,
                    signature: p.signature,
                    patch: p.patch.map_or(0, |p| p.length),
                })
                .collect();
            (proofs, ms.patch)
        };
        if (proofs.len() as u64) < self.quorum {
            return Err(VerifyError::QuorumNotMet { have: proofs.len(), need: self.quorum });
        }
        // JS `toMap`: a later node with the same index replaces an earlier one.
        let nodes: HashMap<u64, Node> = patch.iter().map(|n| (n.index, *n)).collect();
        let mut tried = vec![false; self.signers.len()];

        for inp in proofs.iter().take(self.quorum as usize) {
            let (hash, length) = if inp.patch > 0 && self.allow_patch {
                let roots = batch.roots.as_deref().ok_or(VerifyError::PatchNeedsRoots)?;
                if nodes.is_empty() {
                    return Err(VerifyError::InvalidPatch("no patch nodes"));
                }
                let length = batch
                    .length
                    .checked_add(inp.patch)
                    .ok_or(VerifyError::InvalidPatch("length overflow"))?;
                let grown = patch_roots(roots, length, |i| nodes.get(&i).copied())
                    .ok_or(VerifyError::InvalidPatch("missing node"))?;
                (roots_hash(&grown), length)
            } else {
                (batch.tree_hash, batch.length)
            };
            let index = usize::try_from(inp.signer)
                .ok()
                .filter(|&i| i < self.signers.len())
                .ok_or(VerifyError::UnknownSigner(inp.signer))?;
            if std::mem::replace(&mut tried[index], true) {
                return Err(VerifyError::DuplicateSigner(inp.signer));
            }
            if !self.check(index, &hash, length, batch.fork, &inp.signature) {
                return Err(VerifyError::InvalidSignature);
            }
        }
        Ok(())
    }
}

/// Largest length patch arithmetic accepts (JS lengths are < 2^53).
const MAX_LENGTH: u64 = crate::encoding::MAX_SAFE_INTEGER;

/// The nodes a patch from length `from` to `to` ships, in wire order (JS `generateUpgrade`,
/// which matches the upgrade proof `MerkleTree.proof` generates): for the new root covering the
/// last old block, the right-hand siblings on the path up to it (bottom-up); then every later
/// new root. Empty when `to <= from`.
pub fn patch_node_indices(from: u64, to: u64) -> Vec<u64> {
    let mut out = Vec::new();
    if to <= from || to > MAX_LENGTH {
        return out;
    }
    let (from, to) = (2 * from, 2 * to);
    for root in flat_tree::full_roots(to) {
        if flat_tree::right_span(root) + 1 < from {
            continue; // an old root that stays a root
        }
        if from >= 2 && flat_tree::contains(root, from - 2) {
            let target = from - 2;
            let mut i = target;
            while i != root {
                let s = flat_tree::sibling(i);
                if s > target {
                    out.push(s);
                }
                i = flat_tree::parent(i);
            }
        } else {
            out.push(root);
        }
    }
    out
}

/// Grows a tree from its full `roots` to `length` blocks using `lookup` for the nodes listed by
/// [`patch_node_indices`] (JS `batch.clone().verifyUpgrade(generateUpgrade(...))`). Returns the
/// new full roots, or `None` if a node is missing, `roots` are not full roots, or `length` is
/// below the current length.
pub fn patch_roots(
    roots: &[Node],
    length: u64,
    mut lookup: impl FnMut(u64) -> Option<Node>,
) -> Option<Vec<Node>> {
    if length > MAX_LENGTH {
        return None;
    }
    let mut old = roots.iter().copied().peekable();
    let mut out = Vec::new();
    for root in flat_tree::full_roots(2 * length) {
        if let Some(r) = old.next_if(|r| r.index == root) {
            out.push(r);
            continue;
        }
        let pending: Vec<Node> = old.by_ref().collect();
        let Some((last, rest)) = pending.split_last() else {
            let n = lookup(root).filter(|n| n.index == root)?;
            out.push(n);
            continue;
        };
        // The remaining old roots all sit under `root`: climb from the last one, taking left
        // siblings from the old roots and right siblings from the patch.
        let mut left = rest.to_vec();
        let mut cur = *last;
        while cur.index != root {
            if !flat_tree::contains(root, cur.index) {
                return None;
            }
            let s = flat_tree::sibling(cur.index);
            let sib = if s < cur.index {
                left.pop().filter(|n| n.index == s)?
            } else {
                lookup(s).filter(|n| n.index == s)?
            };
            cur = Node::parent(&cur, &sib);
        }
        if !left.is_empty() {
            return None;
        }
        out.push(cur);
    }
    // Every old root must have been used.
    if old.next().is_some() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::manifest::{create_manifest, ManifestOptions, SignerOptions};

    fn kp(n: u8) -> KeyPair {
        KeyPair::from_seed(&[n; 32])
    }

    /// A tiny in-memory tree over the blocks of `data`.
    struct Tree {
        nodes: HashMap<u64, Node>,
    }

    impl Tree {
        fn new(blocks: &[&[u8]]) -> Self {
            let mut nodes = HashMap::new();
            for (i, b) in blocks.iter().enumerate() {
                let mut node = Node::leaf(i as u64, b);
                nodes.insert(node.index, node);
                while flat_tree::offset(node.index) & 1 == 1 {
                    let left = nodes[&flat_tree::sibling(node.index)];
                    node = Node::parent(&left, &node);
                    nodes.insert(node.index, node);
                }
            }
            Tree { nodes }
        }

        fn roots(&self, length: u64) -> Vec<Node> {
            flat_tree::full_roots(2 * length).iter().map(|i| self.nodes[i]).collect()
        }

        fn batch(&self, length: u64, fork: u64) -> SignedBatch {
            SignedBatch::from_roots(&self.roots(length), fork).unwrap()
        }
    }

    const BLOCKS: [&[u8]; 5] = [b"a", b"bb", b"ccc", b"dddd", b"eeeee"];

    fn quorum_manifest() -> Manifest {
        create_manifest(ManifestOptions {
            allow_patch: true,
            signers: (1..=3u8)
                .map(|i| SignerOptions { public_key: kp(i).public_key(), namespace: Some([0x0f + i; 32]) })
                .collect(),
            ..Default::default()
        })
        .unwrap()
    }

    // Node hashes and tree hashes printed by the JS script (hypercore-crypto `data`/`parent`/
    // `tree` over blocks 'a', 'bb', 'ccc', 'dddd', 'eeeee').
    #[test]
    fn tiny_tree_matches_js() {
        let t = Tree::new(&BLOCKS);
        assert_eq!(
            hex::encode(t.nodes[&3].hash),
            "5d702ad47f1bac784f5cb0a4aa0aff864e0dab9c076479d8d1bbf371a478579d"
        );
        assert_eq!(
            hex::encode(t.batch(3, 0).tree_hash()),
            "45f511522f3ccc90b4b76f89a9ee1ac039febd894778b3e9b06aefe521c52265"
        );
        assert_eq!(
            hex::encode(t.batch(5, 0).tree_hash()),
            "8bd269686739ceaf0dd9b8cb911bcc004aaabc3f7986c5f18c0f2a9d1a293fc9"
        );
        assert_eq!(t.batch(5, 0).length(), 5);
        assert_eq!(SignedBatch::from_roots(&[t.nodes[&4]], 0), Err(VerifyError::BadRoots));
    }

    #[test]
    fn patch_arithmetic() {
        let t = Tree::new(&BLOCKS);
        assert_eq!(patch_node_indices(3, 5), [6, 8]);
        assert_eq!(patch_node_indices(0, 3), [1, 4]);
        assert_eq!(patch_node_indices(1, 4), [2, 5]);
        assert_eq!(patch_node_indices(4, 5), [8]);
        assert!(patch_node_indices(5, 5).is_empty());
        for from in 0..=5u64 {
            for to in from..=5u64 {
                let got = patch_roots(&t.roots(from), to, |i| {
                    assert!(patch_node_indices(from, to).contains(&i), "{from}->{to} asked for {i}");
                    t.nodes.get(&i).copied()
                });
                assert_eq!(got.unwrap(), t.roots(to), "{from} -> {to}");
            }
        }
        assert_eq!(
            patch_roots(&t.roots(3), 5, |i| if i == 8 { None } else { t.nodes.get(&i).copied() }),
            None
        );
        assert_eq!(patch_roots(&t.roots(4), 3, |i| t.nodes.get(&i).copied()), None);
    }

    #[test]
    fn compat_sign_verify() {
        let k = kp(1);
        let v = Verifier::compat(&k.public_key());
        assert!(v.is_compat());
        let batch = SignedBatch::new([0xaa; 32], 5, 1);
        let sig = v.sign(&k, batch.tree_hash(), 5, 1).unwrap();
        // `new Verifier(k1.publicKey, defaultSignerManifest(k1.publicKey)).sign(batch, k1)` over
        // tree hash 0xaa×32, length 5, fork 1.
        assert_eq!(
            hex::encode(&sig),
            "ac8055c1f41d69490ecd6fbc0e683d8ff57e17e6220d2e2a95a41a73f5c4d8f48b1600ab8f4f1e2481d5f86a1d9ac4bbfd26564c2661527fe41cefce6429840e"
        );
        assert_eq!(v.signable(0, batch.tree_hash(), 5, 1).unwrap().len(), 80);
        v.verify(&batch, Some(&sig)).unwrap();
        assert_eq!(v.verify(&batch, None), Err(VerifyError::MissingSignature));
        assert_eq!(v.verify_hash(&[0xab; 32], 5, 1, Some(&sig)), Err(VerifyError::InvalidSignature));
        // new Verifier(key, manifest) on a compat key is compat too.
        assert!(Verifier::new(&k.public_key(), &Manifest::default_signer(k.public_key())).is_compat());
        assert_eq!(v.sign(&kp(2), batch.tree_hash(), 5, 1).unwrap_err().code(), "BAD_ARGUMENT");
        // Legacy mode signs 48 bytes.
        let legacy =
            Verifier::with_options(&k.public_key(), &Manifest::default_signer(k.public_key()), true, true);
        assert_eq!(legacy.signable(0, batch.tree_hash(), 5, 1).unwrap().len(), 48);
        let sig = legacy.sign(&k, batch.tree_hash(), 5, 1).unwrap();
        legacy.verify(&batch, Some(&sig)).unwrap();
        assert!(v.verify(&batch, Some(&sig)).is_err());
    }

    #[test]
    fn v1_single_signer() {
        let k = kp(1);
        let m = Manifest::default_signer(k.public_key());
        let v = Verifier::from_manifest(&m);
        assert!(!v.is_compat());
        let batch = SignedBatch::new([0xaa; 32], 5, 1);
        assert_eq!(v.signable(0, batch.tree_hash(), 5, 1).unwrap().len(), 112);
        let sig = v.sign(&k, batch.tree_hash(), 5, 1).unwrap();
        // `Verifier.sign(createManifest({ signers: [{ publicKey: k1.publicKey }] }), batch, k1)`.
        assert_eq!(
            hex::encode(&sig),
            "0100d46ed9687b57d291ed58c9a041bc35a72893a2eb6635d46b4324696fed8edc374dc4d9be80c9773ada00354c4735744531f2f94d29d9e3682b6135b620feeb030000"
        );
        assert_eq!(sig.len(), 68);
        v.verify(&batch, Some(&sig)).unwrap();
        // The raw signature is not accepted for a manifest core.
        assert!(v.verify(&batch, Some(&sig[2..66])).is_err());
        assert_eq!(
            v.verify(&SignedBatch::new([0xaa; 32], 6, 1), Some(&sig)),
            Err(VerifyError::InvalidSignature)
        );
        // Trailing bytes after the multisig are ignored, as JS `c.decode` does.
        let mut long = sig.clone();
        long.push(9);
        v.verify(&batch, Some(&long)).unwrap();
        assert!(matches!(v.verify(&batch, Some(&sig[..10])), Err(VerifyError::Decode(_))));
    }

    #[test]
    fn v0_manifests() {
        let (k1, k2) = (kp(1), kp(2));
        let batch = SignedBatch::new([0x11; 32], 3, 0);
        // Type 1: a raw signature with the signer's namespace as context.
        let m = create_manifest(ManifestOptions {
            version: Some(0),
            signers: vec![k1.public_key().into()],
            ..Default::default()
        })
        .unwrap();
        let v = Verifier::from_manifest(&m);
        let sig = v.sign(&k1, batch.tree_hash(), 3, 0).unwrap();
        assert_eq!(sig.len(), 64);
        let expected = caps::tree_signable(&m.signers[0].namespace, batch.tree_hash(), 3, 0);
        assert!(ed25519_verify(&expected, &sig, &k1.public_key()));
        v.verify(&batch, Some(&sig)).unwrap();
        // Type 2, 2-of-2: v0 multisig.
        let m = create_manifest(ManifestOptions {
            version: Some(0),
            signers: vec![k1.public_key().into(), k2.public_key().into()],
            ..Default::default()
        })
        .unwrap();
        let v = Verifier::from_manifest(&m);
        let parts: Vec<_> = [&k1, &k2]
            .iter()
            .enumerate()
            .map(|(i, k)| {
                PartialSignature::new(i as u64, &v.sign(k, batch.tree_hash(), 3, 0).unwrap(), 3, 3, vec![])
                    .unwrap()
            })
            .collect();
        let ms = v.assemble(&parts).unwrap();
        v.verify(&batch, Some(&ms)).unwrap();
        assert!(matches!(
            v.verify(&batch, Some(&v.assemble(&parts[..1]).unwrap())),
            Err(VerifyError::QuorumNotMet { .. })
        ));
    }

    #[test]
    fn v0_patched_multisig() {
        let t = Tree::new(&BLOCKS);
        let m = Manifest { version: 0, ..quorum_manifest() };
        let v = Verifier::from_manifest(&m);
        let (b3, b5) = (t.batch(3, 0), t.batch(5, 0));
        let s0 = v.sign(&kp(1), b3.tree_hash(), 3, 0).unwrap();
        let s1 = v.sign(&kp(2), b5.tree_hash(), 5, 0).unwrap();
        let nodes: Vec<Node> = patch_node_indices(3, 5).iter().map(|i| t.nodes[i]).collect();
        let ms = v
            .assemble(&[
                PartialSignature::new(0, &s0, 3, 3, vec![]).unwrap(),
                PartialSignature::new(1, &s1, 3, 5, nodes).unwrap(),
            ])
            .unwrap();
        let parsed = multisig::inflate_v0(&ms).unwrap();
        assert_eq!(parsed.proofs[1].patch.as_ref().map(|p| (p.start, p.length)), Some((5, 2)));
        v.verify(&b3, Some(&ms)).unwrap();
        assert_eq!(v.verify(&b5, Some(&ms)), Err(VerifyError::InvalidSignature));
    }

    // Multisig over the tiny tree, 2-of-3 manifest with allowPatch (see manifest.rs vectors):
    // signer 0 signs length 3, signer 1 signs length 5 and ships nodes 6 and 8, then
    // `multisig.assemble([{signer:0,...,patch:0}, {signer:1,...,patch:2,nodes:[n6,n8]}])`;
    // JS `verifier.verify(batchAtLength3, sig)` returned true.
    const JS_PATCHED: &str = "0200c5c4660f025a6ae5e70b1c4a24e3be08c0c0588bfa9d1b661b4381998a05d9a77ae7908895d4bef0802049c2de6d990551484e6dea2e6ed34ffaf9f28589de03000108d60b06f512e87fa80169c70b72d136f6a337247b460e134de312c1f63d15efca3bcf3e5a0ed2fd83b8e891bc77076b6dcddb3deae6572ef7ec882a4252510502020604a95a3cdb25aab508c855ddf93a7f27de680030ab7fca774bbf62710b040b14b50805b0c81ee4845995c4a5e513f35de3c7789b51ec81bcd6c9205bc797046f9d1b1e";
    // `multisig.assemble([{signer:2, sig3, patch:0}, {signer:0, sig1, patch:0}])` at length 3.
    const JS_PLAIN: &str = "020287adda65bf0e222029a1e4bbcd1c593daf305909cdd1c84a60e1b9d988496c4f04118af173e75129337803069617c7c23f551aa42072604273958bb793787f0c0000c5c4660f025a6ae5e70b1c4a24e3be08c0c0588bfa9d1b661b4381998a05d9a77ae7908895d4bef0802049c2de6d990551484e6dea2e6ed34ffaf9f28589de030000";

    #[test]
    fn quorum_2_of_3_matches_js() {
        let t = Tree::new(&BLOCKS);
        let m = quorum_manifest();
        let v = Verifier::from_manifest(&m);
        assert_eq!(v.quorum(), 2);
        let (b3, b5) = (t.batch(3, 0), t.batch(5, 0));
        let sign = |k: &KeyPair, b: &SignedBatch| {
            let s = v.sign(k, b.tree_hash(), b.length(), b.fork()).unwrap();
            assert_eq!(s.len(), 64, "several signers: raw signature");
            s
        };
        let (s0, s1, s2) = (sign(&kp(1), &b3), sign(&kp(2), &b5), sign(&kp(3), &b3));

        let nodes: Vec<Node> = patch_node_indices(3, 5).iter().map(|i| t.nodes[i]).collect();
        let patched = v
            .assemble(&[
                PartialSignature::new(0, &s0, 3, 3, vec![]).unwrap(),
                PartialSignature::new(1, &s1, 3, 5, nodes).unwrap(),
            ])
            .unwrap();
        assert_eq!(hex::encode(&patched), JS_PATCHED);
        v.verify(&b3, Some(&patched)).unwrap();
        assert_eq!(
            v.verify(&SignedBatch::new(*b3.tree_hash(), 3, 0), Some(&patched)),
            Err(VerifyError::PatchNeedsRoots)
        );

        let plain = v
            .assemble(&[
                PartialSignature::new(2, &s2, 3, 3, vec![]).unwrap(),
                PartialSignature::new(0, &s0, 3, 3, vec![]).unwrap(),
            ])
            .unwrap();
        assert_eq!(hex::encode(&plain), JS_PLAIN);
        v.verify(&b3, Some(&plain)).unwrap();
        v.verify_hash(b3.tree_hash(), 3, 0, Some(&plain)).unwrap();

        let one = multisig::assemble(&[PartialSignature::new(0, &s0, 3, 3, vec![]).unwrap()]);
        assert_eq!(v.verify(&b3, Some(&one)), Err(VerifyError::QuorumNotMet { have: 1, need: 2 }));
        let dup = multisig::assemble(&[
            PartialSignature::new(0, &s0, 3, 3, vec![]).unwrap(),
            PartialSignature::new(0, &s0, 3, 3, vec![]).unwrap(),
        ]);
        assert_eq!(v.verify(&b3, Some(&dup)), Err(VerifyError::DuplicateSigner(0)));
        let unknown = multisig::assemble(&[
            PartialSignature::new(0, &s0, 3, 3, vec![]).unwrap(),
            PartialSignature::new(7, &s2, 3, 3, vec![]).unwrap(),
        ]);
        assert_eq!(v.verify(&b3, Some(&unknown)), Err(VerifyError::UnknownSigner(7)));
        // Patch with a missing node, or with a wrong node.
        let short = multisig::assemble(&[
            PartialSignature::new(0, &s0, 3, 3, vec![]).unwrap(),
            PartialSignature::new(1, &s1, 3, 5, vec![t.nodes[&6]]).unwrap(),
        ]);
        assert!(matches!(v.verify(&b3, Some(&short)), Err(VerifyError::InvalidPatch(_))));
        let mut wrong = t.nodes[&8];
        wrong.hash[0] ^= 1;
        let forged = multisig::assemble(&[
            PartialSignature::new(0, &s0, 3, 3, vec![]).unwrap(),
            PartialSignature::new(1, &s1, 3, 5, vec![t.nodes[&6], wrong]).unwrap(),
        ]);
        assert_eq!(v.verify(&b3, Some(&forged)), Err(VerifyError::InvalidSignature));
        // Without allowPatch the patch is ignored and the later signature fails.
        let no_patch = Manifest { allow_patch: false, ..m.clone() };
        let v2 = Verifier::from_manifest(&no_patch);
        let s0b = v2.sign(&kp(1), b3.tree_hash(), 3, 0).unwrap();
        let s1b = v2.sign(&kp(2), b5.tree_hash(), 5, 0).unwrap();
        let nodes: Vec<Node> = patch_node_indices(3, 5).iter().map(|i| t.nodes[i]).collect();
        let ms = multisig::assemble(&[
            PartialSignature::new(0, &s0b, 3, 3, vec![]).unwrap(),
            PartialSignature::new(1, &s1b, 3, 5, nodes).unwrap(),
        ]);
        assert_eq!(v2.verify(&b3, Some(&ms)), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn prologue_and_static_cores() {
        let t = Tree::new(&BLOCKS);
        let k = kp(1);
        let b2 = t.batch(2, 0);
        let m = create_manifest(ManifestOptions {
            signers: vec![k.public_key().into()],
            prologue: Some(Prologue { hash: *b2.tree_hash(), length: 2 }),
            ..Default::default()
        })
        .unwrap();
        let v = Verifier::from_manifest(&m);
        v.verify(&b2, None).unwrap();
        assert_eq!(v.verify(&t.batch(1, 0), None), Err(VerifyError::PrologueMismatch));
        assert_eq!(v.verify(&SignedBatch::new([0; 32], 2, 0), None), Err(VerifyError::PrologueMismatch));
        let b3 = t.batch(3, 0);
        assert_eq!(v.verify(&b3, None), Err(VerifyError::MissingSignature));
        let sig = v.sign(&k, b3.tree_hash(), 3, 0).unwrap();
        v.verify(&b3, Some(&sig)).unwrap();

        // Static core: quorum 0, no signers, just a prologue.
        let b5 = t.batch(5, 0);
        let m = create_manifest(ManifestOptions {
            quorum: Some(0),
            prologue: Some(Prologue { hash: *b5.tree_hash(), length: 5 }),
            ..Default::default()
        })
        .unwrap();
        let v = Verifier::from_manifest(&m);
        v.verify(&b5, None).unwrap();
        assert_eq!(v.verify(&b3, None), Err(VerifyError::PrologueMismatch));
        assert_eq!(v.verify(&SignedBatch::new([0; 32], 6, 0), Some(&[1, 0])), Err(VerifyError::NoQuorum));
        assert_eq!(v.sign(&k, b5.tree_hash(), 5, 0), Err(SignError::NotASigner));
    }

    proptest::proptest! {
        #[test]
        fn hostile_signatures_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let t = Tree::new(&BLOCKS);
            let b3 = t.batch(3, 0);
            let m = quorum_manifest();
            let _ = Verifier::from_manifest(&m).verify(&b3, Some(&bytes));
            let v0 = Manifest { version: 0, ..m };
            let _ = Verifier::from_manifest(&v0).verify(&b3, Some(&bytes));
            let _ = Verifier::compat(&[1; 32]).verify(&b3, Some(&bytes));
        }
    }
}
