//! Test support shared by the crate's unit tests and its integration tests (`relay/tests`).
//! Nothing here runs in the node or the command line.

pub mod sim;

use crate::dht_rpc::{peer, NodeId};
use crate::split_mix::SplitMix;

/// The `k` ids of `ids` closest to `target` by XOR distance, nearest first: the reference a
/// query's result is checked against (a full sort, independent of the routing table's search).
pub fn true_closest(ids: &[NodeId], target: &[u8; 32], k: usize) -> Vec<NodeId> {
    let mut v = ids.to_vec();
    v.sort_by(|a, b| peer::cmp_distance(target, a, b));
    v.truncate(k);
    v
}

/// `n` deterministic pseudo-random bytes: the little-endian outputs of SplitMix64 seeded with
/// `seed` (stream payloads whose both ends compare hashes).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix::new(seed);
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(n);
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_bytes_are_splitmix64_le() {
        // SplitMix64 from seed 0: first output 0xe220a8397b1dcdaf.
        assert_eq!(super::random_bytes(10, 0)[..8], 0xe220_a839_7b1d_cdafu64.to_le_bytes());
        assert_eq!(super::random_bytes(10, 0).len(), 10);
        assert_ne!(super::random_bytes(8, 1), super::random_bytes(8, 0));
    }
}
