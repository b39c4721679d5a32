//! What a writer's proofs are checked with on the Rust side: its key, verifier and bootstrap
//! proofs, fresh readers at any length, and Rust's verdict on a proof.

use crate::{Core, Error};
use hyperwasm::core::verifier::Verifier;
use hyperwasm::core::Hypercore;
use hyperwasm::storage::MemoryStorage;
use hyperwasm::testing::fixtures::{to_hex, ResultJson};
use hyperwasm::tree::verify::verify;
use hyperwasm::tree::Proof;
use std::collections::BTreeMap;

pub(crate) struct Ctx {
    pub(crate) compat: bool,
    pub(crate) key: [u8; 32],
    pub(crate) verifier: Verifier,
    /// Bootstrap proof (and manifest sent with it) per reader length.
    pub(crate) bootstraps: BTreeMap<u64, (Proof, Option<Vec<u8>>)>,
    /// Writer head the proof matrix is answered from.
    pub(crate) writer_tree: Option<hyperwasm::tree::TreeState>,
    pub(crate) next_id: u64,
}

impl Ctx {
    pub(crate) fn signable(&self, tree: &hyperwasm::tree::TreeState) -> Option<Vec<u8>> {
        self.verifier.signable(0, &tree.hash(), tree.length, tree.fork)
    }

    pub(crate) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fresh Rust reader at length `l`: key only, then the bootstrap proof applied.
    pub(crate) async fn reader(&self, l: u64) -> Result<Core, Error> {
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
    pub(crate) async fn check(
        &self,
        l: u64,
        proof: &Proof,
        manifest: Option<&[u8]>,
    ) -> Result<ResultJson, Error> {
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
                tree_hash: Some(to_hex(v.batch.hash())),
                code: None,
                message: None,
            },
            (Err(e), _) => ResultJson::rejected(e.code(), e.to_string()),
            (Ok(_), Err(e)) => {
                ResultJson::rejected(e.code(), format!("apply_proof accepted but verify rejected: {e}"))
            }
        })
    }
}
