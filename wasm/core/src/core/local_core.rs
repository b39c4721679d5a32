//! What the replicator reads from a core, synchronously: [`LocalCore`] for [`Hypercore`].

use super::hypercore::Hypercore;
use crate::crypto::Hash;
use crate::replicator::LocalCore;
use crate::storage::Storage;

impl<S: Storage> LocalCore for Hypercore<S> {
    fn key(&self) -> &Hash {
        &self.key
    }

    fn fork(&self) -> u64 {
        self.state.fork
    }

    fn length(&self) -> u64 {
        self.state.length
    }

    fn contiguous_length(&self) -> u64 {
        self.contiguous_length
    }

    fn has(&self, index: u64) -> bool {
        Hypercore::has(self, index)
    }

    fn has_verifier(&self) -> bool {
        self.verifier.is_some()
    }

    fn has_manifest(&self) -> bool {
        self.manifest.is_some() && !self.compat
    }

    fn bitfield_words(&self, start: u64, n: usize) -> Vec<u32> {
        self.bitfield.words(start, n)
    }

    fn first_missing(&self, from: u64) -> u64 {
        self.bitfield.first_unset(from)
    }

    fn first_present(&self, from: u64, to: u64) -> Option<u64> {
        self.bitfield.first_set(from, to.min(self.state.length))
    }

    fn manifest_bytes(&self) -> Option<Vec<u8>> {
        self.manifest_for_peer()
    }
}
