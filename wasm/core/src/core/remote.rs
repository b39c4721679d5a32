//! The core's side of replication: answering proof requests and applying verified proofs
//! (hypercore `lib/core.js` `verify`, `_verifyBatchUpgrade`, `_verifyExclusive`, and
//! `lib/replicator.js` `_getProof`). Nothing is stored until the proof has verified.

use super::errors::HypercoreError;
use super::hypercore::{add_pages, Hypercore};
use super::manifest::{is_compat, Manifest};
use super::verifier::{SignedBatch, Verifier, VerifyError};
use crate::encoding::Compact;
use crate::storage::hypercore_storage::CoreWrite;
use crate::storage::Storage;
use crate::tree::proof::{generate_proof, Proof, ProofRequest};
use crate::tree::verify::verify;

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
    /// fork is refused with [`HypercoreError::ForkMismatch`] (reorgs are the replicator's).
    pub async fn apply_proof(
        &mut self,
        proof: &Proof,
        manifest: Option<&[u8]>,
    ) -> Result<Applied, HypercoreError> {
        let previous_compat = self.compat;
        if proof.fork != self.state.fork && !(self.state.length == 0 && proof.upgrade.is_some()) {
            return Err(HypercoreError::ForkMismatch { proof: proof.fork, local: self.state.fork });
        }
        let verified = verify(&self.storage, &self.state, proof).await?;
        let mut batch = verified.batch;
        let mut applied = Applied::default();

        if verified.upgraded {
            let learnt = if self.verifier.is_none() { Some(self.learn_manifest(manifest)?) } else { None };
            let verifier = learnt.as_ref().map(|(_, v, _)| v).or(self.verifier.as_ref());
            let verifier = verifier.ok_or(HypercoreError::Verify(VerifyError::MissingSignature))?;
            let signed = SignedBatch::from_roots(&batch.roots, batch.fork)?;
            verifier.verify(&signed, batch.signature.as_deref())?;
            if let Some((m, v, compat)) = learnt {
                batch.prologue = m.prologue;
                self.manifest = Some(m);
                self.verifier = Some(v);
                self.compat = compat;
                applied.manifest_learnt = true;
            }
        }

        let mut tx = CoreWrite::new();
        tx.put_nodes(batch.nodes.iter().copied());
        if let Some(block) = &proof.block {
            if !self.bitfield.get(block.index) {
                tx.put_block(block.index, block.value.clone());
                self.bitfield.set(block.index, true);
                applied.block = Some(block.index);
            }
        }
        add_pages(&mut tx, self.bitfield.take_dirty());

        let previous = self.state.clone();
        let previous_contiguous = self.contiguous_length;
        if verified.upgraded && batch.length > self.state.length {
            self.state = batch.into_state();
            applied.upgraded = true;
        }
        self.contiguous_length = self.bitfield.first_unset(self.contiguous_length).min(self.state.length);
        tx.set_header(self.header().to_bytes());
        if let Err(e) = self.storage.commit(tx).await {
            self.state = previous;
            self.contiguous_length = previous_contiguous;
            if let Some(i) = applied.block {
                self.bitfield.set(i, false);
                self.bitfield.take_dirty();
            }
            if applied.manifest_learnt {
                self.manifest = None;
                self.verifier = None;
                self.compat = previous_compat;
            }
            return Err(e.into());
        }
        Ok(applied)
    }

    /// Accepts the peer's manifest if it hashes to our key; with none, the key must be a
    /// compat key (JS `_verifyBatchUpgrade`).
    fn learn_manifest(&self, manifest: Option<&[u8]>) -> Result<(Manifest, Verifier, bool), HypercoreError> {
        match manifest {
            Some(bytes) => {
                let m = Manifest::decode_bytes(bytes)?;
                if m.key() == self.key {
                    let v = Verifier::with_options(&self.key, &m, false, false);
                    return Ok((m, v, false));
                }
                if is_compat(&self.key, &m) {
                    let v = Verifier::with_options(&self.key, &m, true, false);
                    return Ok((m, v, true));
                }
                Err(HypercoreError::Verify(VerifyError::InvalidSignature))
            }
            None => {
                let m = Manifest::default_signer(self.key);
                let v = Verifier::with_options(&self.key, &m, true, false);
                Ok((m, v, true))
            }
        }
    }
}
