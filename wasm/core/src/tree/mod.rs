//! The hypercore Merkle tree: flat-tree arithmetic, nodes, roots, proofs and their verification
//! (npm `flat-tree`, hypercore `lib/merkle-tree.js`).

mod error;
pub mod flat_tree;
pub mod merkle_tree;
pub mod node;
pub mod proof;
pub mod seek;
pub mod verify;

pub use error::TreeError;
pub use merkle_tree::{TreeBatch, TreeState};
pub use node::Node;
pub use proof::{generate_proof, Proof, ProofRequest};

use crate::maybe_send::{MaybeSend, MaybeSync};
use crate::storage::StorageError;
use std::future::Future;

/// Where tree nodes are read from (the core's storage, or a test map).
pub trait NodeSource: MaybeSend + MaybeSync {
    /// Reads several nodes by flat index; absent nodes are `None`.
    fn get_nodes(
        &self,
        indexes: &[u64],
    ) -> impl Future<Output = Result<Vec<Option<Node>>, StorageError>> + MaybeSend;
}

/// Reads one node, failing if it is absent.
pub(crate) async fn require_node<R: NodeSource>(reader: &R, index: u64) -> Result<Node, TreeError> {
    reader.get_nodes(&[index]).await?.pop().flatten().ok_or_else(|| TreeError::missing(index))
}

/// Reads one node if present.
pub(crate) async fn read_node<R: NodeSource>(reader: &R, index: u64) -> Result<Option<Node>, TreeError> {
    Ok(reader.get_nodes(&[index]).await?.pop().flatten())
}

pub use crate::core::manifest::Prologue;

#[cfg(test)]
pub(crate) mod testing {
    //! An in-memory node map for tree tests.
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Nodes kept in a map.
    #[derive(Default)]
    pub struct MapSource(pub Mutex<BTreeMap<u64, Node>>);

    impl MapSource {
        pub fn insert_all(&self, nodes: &[Node]) {
            let mut m = self.0.lock().unwrap();
            for n in nodes {
                m.insert(n.index, *n);
            }
        }
    }

    impl NodeSource for MapSource {
        async fn get_nodes(&self, indexes: &[u64]) -> Result<Vec<Option<Node>>, StorageError> {
            let m = self.0.lock().unwrap();
            Ok(indexes.iter().map(|i| m.get(i).copied()).collect())
        }
    }
}

#[cfg(test)]
mod proof_tests;
