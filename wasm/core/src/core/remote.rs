//! The core's side of replication: answering proof requests and applying verified proofs
//! (hypercore `lib/core.js` `verify`, `_verifyBatchUpgrade`, `_verifyExclusive`, and
//! `lib/replicator.js` `_getProof`). Nothing is stored until the proof has verified.

use super::bitfield::Bitfield;
use super::errors::HypercoreError;
use super::hypercore::{add_pages, Hypercore};
use super::manifest::{is_compat, Manifest};
use super::verifier::{SignedBatch, Verifier, VerifyError};
use crate::crypto::hash::Hash;
use crate::encoding::Compact;
use crate::storage::hypercore_storage::CoreStorage;
use crate::storage::hypercore_storage::CoreWrite;
use crate::storage::Storage;
use crate::storage::StorageError;
use crate::tree::proof::{generate_proof, Proof, ProofRequest};
use crate::tree::verify::verify;
use crate::tree::{Node, NodeSource, TreeState};
use std::collections::HashMap;

/// What applying a proof changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// The head moved to a longer length.
    pub upgraded: bool,
    /// A block was stored.
    pub block: Option<u64>,
    /// The manifest was learnt from this proof.
    pub manifest_learnt: bool,
    /// After a reorg ([`Hypercore::reorg`]): the length of the prefix both forks share;
    /// blocks from there on were dropped.
    pub shared_length: Option<u64>,
}

impl<S: Storage> Hypercore<S> {
    /// Answers `req` with a proof, block value included (JS `_getProof`).
    pub async fn proof(&self, req: &ProofRequest) -> Result<Proof, HypercoreError> {
        if let Some(b) = req.block {
            if !self.has(b.index) {
                return Err(HypercoreError::BlockNotAvailable(b.index));
            }
        }
        let mut proof = generate_proof(&self.storage, &self.state, req).await?;
        if let Some(block) = proof.block.as_mut() {
            block.value =
                self.get(block.index).await?.ok_or(HypercoreError::BlockNotAvailable(block.index))?;
        }
        Ok(proof)
    }

    /// The manifest to send along with a proof: never for compat cores (JS does not).
    pub fn manifest_for_peer(&self) -> Option<Vec<u8>> {
        if self.compat {
            return None;
        }
        self.manifest.as_ref().map(Compact::to_bytes)
    }

    /// Verifies `proof` (with the encoded manifest a peer sent, if any) and stores what it
    /// proves: the block, the tree nodes, and a longer signed head. A proof for another
    /// fork is refused with [`HypercoreError::ForkMismatch`] (reorgs are [`Hypercore::reorg`]).
    pub async fn apply_proof(
        &mut self,
        proof: &Proof,
        manifest: Option<&[u8]>,
    ) -> Result<Applied, HypercoreError> {
        let mut results = self.apply_proofs(&[(proof, manifest)]).await;
        results.pop().unwrap_or(Err(HypercoreError::BadArgument("no proof".into())))
    }

    /// [`Hypercore::apply_proof`] for several proofs in order, stored with **one** storage
    /// write: each proof is verified against the core as the proofs before it left it (their
    /// nodes included), a proof that fails verification is left out with its error, and if
    /// the write fails every proof that verified gets the storage error and nothing changes.
    pub async fn apply_proofs(
        &mut self,
        proofs: &[(&Proof, Option<&[u8]>)],
    ) -> Vec<Result<Applied, HypercoreError>> {
        let undo = Undo {
            state: self.state.clone(),
            contiguous: self.contiguous_length,
            manifest: self.manifest.clone(),
            verifier: self.verifier.clone(),
            compat: self.compat,
        };
        let mut pending = PendingNodes { storage: &self.storage, nodes: HashMap::new() };
        let mut tx = CoreWrite::new();
        let mut blocks_set = Vec::new();
        let mut results = Vec::with_capacity(proofs.len());
        for (proof, manifest) in proofs {
            let result = apply_one(
                ApplyCtx {
                    state: &mut self.state,
                    manifest: &mut self.manifest,
                    verifier: &mut self.verifier,
                    compat: &mut self.compat,
                    bitfield: &mut self.bitfield,
                    key: &self.key,
                },
                &mut pending,
                &mut tx,
                proof,
                *manifest,
            )
            .await;
            if let Ok(Applied { block: Some(i), .. }) = &result {
                blocks_set.push(*i);
            }
            results.push(result);
        }
        if !results.iter().any(Result::is_ok) {
            return results;
        }
        tx.put_nodes(pending.nodes.into_values());
        add_pages(&mut tx, self.bitfield.take_dirty());
        self.contiguous_length = self.bitfield.first_unset(self.contiguous_length).min(self.state.length);
        tx.set_header(self.header().to_bytes());
        if let Err(e) = self.storage.commit(tx).await {
            self.state = undo.state;
            self.contiguous_length = undo.contiguous;
            self.manifest = undo.manifest;
            self.verifier = undo.verifier;
            self.compat = undo.compat;
            for i in blocks_set {
                self.bitfield.set(i, false);
            }
            self.bitfield.take_dirty();
            let e = HypercoreError::from(e);
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(e.clone());
            }
        }
        results
    }
}

/// Accepts the peer's manifest if it hashes to our key; with none, the key must be a
/// compat key (JS `_verifyBatchUpgrade`).
fn learn_manifest(key: &Hash, manifest: Option<&[u8]>) -> Result<(Manifest, Verifier, bool), HypercoreError> {
    match manifest {
        Some(bytes) => {
            let m = Manifest::decode_bytes(bytes)?;
            if m.key() == *key {
                let v = Verifier::with_options(key, &m, false, false);
                return Ok((m, v, false));
            }
            if is_compat(key, &m) {
                let v = Verifier::with_options(key, &m, true, false);
                return Ok((m, v, true));
            }
            Err(HypercoreError::Verify(VerifyError::InvalidSignature))
        }
        None => {
            let m = Manifest::default_signer(*key);
            let v = Verifier::with_options(key, &m, true, false);
            Ok((m, v, true))
        }
    }
}

/// What a failed batch write must restore.
struct Undo {
    state: TreeState,
    contiguous: u64,
    manifest: Option<Manifest>,
    verifier: Option<Verifier>,
    compat: bool,
}

/// The parts of the core one proof may change.
struct ApplyCtx<'a> {
    state: &'a mut TreeState,
    manifest: &'a mut Option<Manifest>,
    verifier: &'a mut Option<Verifier>,
    compat: &'a mut bool,
    bitfield: &'a mut Bitfield,
    key: &'a Hash,
}

/// Stored nodes plus the nodes of the proofs verified earlier in the same batch.
struct PendingNodes<'a, S> {
    storage: &'a CoreStorage<S>,
    nodes: HashMap<u64, Node>,
}

impl<S: Storage> NodeSource for PendingNodes<'_, S> {
    async fn get_nodes(&self, indexes: &[u64]) -> Result<Vec<Option<Node>>, StorageError> {
        if self.nodes.is_empty() {
            return self.storage.get_nodes(indexes).await;
        }
        let missing: Vec<u64> = indexes.iter().copied().filter(|i| !self.nodes.contains_key(i)).collect();
        let mut stored = self.storage.get_nodes(&missing).await?.into_iter();
        Ok(indexes
            .iter()
            .map(|i| match self.nodes.get(i) {
                Some(n) => Some(*n),
                None => stored.next().flatten(),
            })
            .collect())
    }
}

/// Verifies one proof against `ctx` (+ pending nodes) and stages what it proves.
async fn apply_one<S: Storage>(
    ctx: ApplyCtx<'_>,
    pending: &mut PendingNodes<'_, S>,
    tx: &mut CoreWrite,
    proof: &Proof,
    manifest: Option<&[u8]>,
) -> Result<Applied, HypercoreError> {
    if proof.fork != ctx.state.fork && !(ctx.state.length == 0 && proof.upgrade.is_some()) {
        return Err(HypercoreError::ForkMismatch { proof: proof.fork, local: ctx.state.fork });
    }
    let verified = verify(&*pending, ctx.state, proof).await?;
    let mut batch = verified.batch;
    let mut applied = Applied::default();

    if verified.upgraded {
        let learnt = if ctx.verifier.is_none() { Some(learn_manifest(ctx.key, manifest)?) } else { None };
        let verifier = learnt.as_ref().map(|(_, v, _)| v).or(ctx.verifier.as_ref());
        let verifier = verifier.ok_or(HypercoreError::Verify(VerifyError::MissingSignature))?;
        let signed = SignedBatch::from_roots(&batch.roots, batch.fork)?;
        verifier.verify(&signed, batch.signature.as_deref())?;
        if let Some((m, v, compat)) = learnt {
            batch.prologue = m.prologue;
            *ctx.manifest = Some(m);
            *ctx.verifier = Some(v);
            *ctx.compat = compat;
            applied.manifest_learnt = true;
        }
    }

    pending.nodes.extend(batch.nodes.iter().map(|n| (n.index, *n)));
    if let Some(block) = &proof.block {
        if !ctx.bitfield.get(block.index) {
            tx.put_block(block.index, block.value.clone());
            ctx.bitfield.set(block.index, true);
            applied.block = Some(block.index);
        }
    }
    if verified.upgraded && batch.length > ctx.state.length {
        *ctx.state = batch.into_state();
        applied.upgraded = true;
    }
    Ok(applied)
}
