//! The hypercore Merkle tree: flat-tree arithmetic, nodes, roots, proofs and their verification
//! (npm `flat-tree`, hypercore `lib/merkle-tree.js`).

pub mod flat_tree;
pub mod node;

pub use node::Node;
