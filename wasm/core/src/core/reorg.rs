//! Moving a core to another fork a peer proves (hypercore `lib/core.js` `verifyReorg`,
//! `reorg`; `lib/merkle-tree.js` `MerkleTree.reorg`, `ReorgBatch`), in one round trip.
//!
//! The peer sends an upgrade proof for its fork, from length 0 or from a length `s` up to
//! which both forks are believed to agree (a peer announces where it truncated with
//! `range {drop}`). A proof from 0 is verified from scratch (against an empty tree); a proof
//! from `s` is verified against *our* roots at `s`, so its signature, over roots built from
//! ours, proves that blocks `0..s` are shared. Either way the signature is checked with our
//! verifier. The kept prefix is then extended to the leading roots of the new tree that
//! equal the nodes we store at the same indexes (equal subtree roots mean identical blocks
//! underneath). JS narrows the first differing root further with hash requests; stopping
//! at root granularity re-downloads a few more blocks and needs no extra round trips.
//! Everything then changes in one atomic storage write: blocks, bitfield and stale tree
//! nodes beyond the prefix are dropped, the new nodes stored, and the new fork, length and
//! signature set.

use super::errors::HypercoreError;
use super::hypercore::Hypercore;
use super::remote::Applied;
use super::verifier::{SignedBatch, VerifyError};
use crate::storage::hypercore_storage::CoreWrite;
use crate::storage::Storage;
use crate::tree::flat_tree;
use crate::tree::proof::Proof;
use crate::tree::verify::verify;
use crate::tree::{TreeBatch, TreeError, TreeState};

impl<S: Storage> Hypercore<S> {
    /// Applies a fork proof from a peer: an upgrade on a fork higher than ours, from length
    /// 0 or from a length up to which the forks agree, signed by this core's signer(s).
    /// Blocks beyond the longest prefix both trees share are dropped (and have to be
    /// downloaded again); nothing changes unless the whole proof verifies. An empty core
    /// simply applies the proof ([`Hypercore::apply_proof`]).
    ///
    /// Refused with [`HypercoreError::ForkMismatch`] when the proof's fork is not above ours,
    /// and with a tree or signature error when it does not verify (for a proof from a
    /// non-zero length, also when the forks differ before it).
    pub async fn reorg(&mut self, proof: &Proof, manifest: Option<&[u8]>) -> Result<Applied, HypercoreError> {
        if proof.fork <= self.state.fork {
            return Err(HypercoreError::ForkMismatch { proof: proof.fork, local: self.state.fork });
        }
        let Some(upgrade) = &proof.upgrade else {
            return Err(TreeError::InvalidProof("a fork proof carries an upgrade".into()).into());
        };
        if proof.block.is_some() || proof.hash.is_some() || proof.seek.is_some() {
            return Err(TreeError::InvalidProof("a fork proof is an upgrade only".into()).into());
        }
        let start = upgrade.start;
        if start > self.state.length {
            return Err(TreeError::InvalidProof("a fork proof starts beyond our length".into()).into());
        }
        if self.state.length == 0 {
            let applied = self.apply_proof(proof, manifest).await?;
            return Ok(Applied { shared_length: Some(0), ..applied });
        }
        let verifier = self.verifier.as_ref().ok_or(HypercoreError::Verify(VerifyError::MissingSignature))?;

        // From scratch, or from our own tree at `start`. With no block part, nothing else is
        // read from our storage.
        let base = if start == 0 {
            TreeState { prologue: self.state.prologue, ..TreeState::default() }
        } else {
            let roots = TreeState::roots_at(&self.storage, start).await?;
            let byte_length = roots.iter().map(|r| r.size).sum();
            TreeState {
                fork: proof.fork,
                length: start,
                byte_length,
                roots,
                signature: None,
                prologue: self.state.prologue,
            }
        };
        let verified = verify(&self.storage, &base, proof).await?;
        if !verified.upgraded {
            return Err(TreeError::InvalidProof("a fork proof proves no length".into()).into());
        }
        let batch = verified.batch;
        let signed = SignedBatch::from_roots(&batch.roots, batch.fork)?;
        verifier.verify(&signed, batch.signature.as_deref())?;

        let prefix = self.shared_prefix(&batch).await?.max(start);
        let old_length = self.state.length;
        let mut cut = TreeBatch::new(&self.state);
        cut.ancestors = prefix;

        let mut tx = CoreWrite::new();
        tx.truncate_blocks(prefix);
        if let Some((head, crossing)) = cut.truncated_from() {
            tx.truncate_nodes(head);
            for index in crossing {
                tx.delete_node(index);
            }
        }
        tx.put_nodes(batch.nodes.iter().copied());
        self.commit_cut(tx, batch.into_state(), prefix, old_length).await?;
        Ok(Applied { upgraded: true, block: None, manifest_learnt: false, shared_length: Some(prefix) })
    }

    /// Length of the prefix covered by the leading roots of `batch` that we store unchanged.
    async fn shared_prefix(&self, batch: &TreeBatch) -> Result<u64, HypercoreError> {
        let indexes: Vec<u64> = batch.roots.iter().map(|r| r.index).collect();
        let stored = self.storage.get_nodes(&indexes).await?;
        let mut prefix = 0;
        for (root, stored) in batch.roots.iter().zip(stored) {
            let end = flat_tree::right_span(root.index) / 2 + 1;
            match stored {
                Some(node)
                    if end <= self.state.length && node.hash == root.hash && node.size == root.size =>
                {
                    prefix = end;
                }
                _ => break,
            }
        }
        Ok(prefix)
    }
}
