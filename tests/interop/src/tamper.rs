//! Tampered variants of valid proofs, which JS and Rust must both reject.

use crate::context::Ctx;
use hyperwasm::crypto::KeyPair;
use hyperwasm::encoding::Compact;
use hyperwasm::tree::flat_tree;
use hyperwasm::tree::Proof;

type Tamper = fn(&mut Proof, &mut Option<Vec<u8>>, &Ctx) -> bool;

fn flip(b: &mut [u8]) -> bool {
    match b.first_mut() {
        Some(x) => {
            *x ^= 0x01;
            true
        }
        None => false,
    }
}

/// Tampered variants: `(name, based on, description, tamper)`; the tamper returns false when
/// it does not apply to that proof.
pub(crate) fn tampers() -> Vec<(&'static str, &'static str, &'static str, Tamper)> {
    vec![
        ("block-value-flipped", "block-40-at-L45", "first byte of block.value xor 1", |p, _, _| {
            p.block.as_mut().is_some_and(|b| flip(&mut b.value))
        }),
        ("block-value-appended", "block-18-at-L45", "one byte appended to an empty block", |p, _, _| {
            p.block.as_mut().map(|b| b.value.push(0)).is_some()
        }),
        (
            "zero-block-value-changed",
            "block-26-at-L32",
            "a 0x00 byte of an all-zero block set to 1",
            |p, _, _| p.block.as_mut().is_some_and(|b| flip(&mut b.value)),
        ),
        (
            "block-index-shifted",
            "block-5-at-L32",
            "block.index + 1 with the same value and nodes",
            |p, _, _| p.block.as_mut().map(|b| b.index += 1).is_some(),
        ),
        ("block-node-hash-flipped", "block-0-at-L45", "block.nodes[0].hash xor 1", |p, _, _| {
            p.block.as_mut().and_then(|b| b.nodes.first_mut()).is_some_and(|n| flip(&mut n.hash))
        }),
        ("block-node-size-changed", "block-33-at-L45", "block.nodes[1].size + 1", |p, _, _| {
            p.block.as_mut().and_then(|b| b.nodes.get_mut(1)).map(|n| n.size += 1).is_some()
        }),
        ("block-node-dropped", "block-19-at-L32", "last block node removed", |p, _, _| {
            p.block.as_mut().and_then(|b| b.nodes.pop()).is_some()
        }),
        ("block-nodes-swapped", "block-5-at-L32", "block.nodes[0] and [1] swapped", |p, _, _| {
            p.block.as_mut().filter(|b| b.nodes.len() >= 2).map(|b| b.nodes.swap(0, 1)).is_some()
        }),
        ("hash-node-flipped", "hash-35-at-L45", "hash.nodes[0].hash xor 1", |p, _, _| {
            p.hash.as_mut().and_then(|h| h.nodes.first_mut()).is_some_and(|n| flip(&mut n.hash))
        }),
        ("hash-index-changed", "hash-9-at-L45", "hash.index set to a sibling index", |p, _, _| {
            p.hash.as_mut().map(|h| h.index = flat_tree::sibling(h.index)).is_some()
        }),
        (
            "upgrade-signature-flipped",
            "upgrade-3-to-61",
            "upgrade.signature last byte of ed25519 part xor 1",
            |p, _, c| {
                p.upgrade.as_mut().is_some_and(|u| {
                    // compat: raw 64 bytes; multisig: 01 00 <64> 00 00
                    let i = if c.compat { 0 } else { 2 };
                    u.signature.get_mut(i).map(|x| *x ^= 1).is_some()
                })
            },
        ),
        (
            "upgrade-signature-truncated",
            "upgrade-12-to-61",
            "upgrade.signature loses its last byte",
            |p, _, _| p.upgrade.as_mut().and_then(|u| u.signature.pop()).is_some(),
        ),
        (
            "upgrade-signature-from-other-length",
            "upgrade-32-to-45-additional",
            "signature of the writer at length 45 instead of 61",
            |p, _, c| match (p.upgrade.as_mut(), c.bootstraps.get(&45).and_then(|(b, _)| b.upgrade.as_ref()))
            {
                (Some(u), Some(old)) => {
                    u.signature = old.signature.clone();
                    true
                }
                _ => false,
            },
        ),
        ("upgrade-node-flipped", "upgrade-1-to-61", "upgrade.nodes[0].hash xor 1", |p, _, _| {
            p.upgrade.as_mut().and_then(|u| u.nodes.first_mut()).is_some_and(|n| flip(&mut n.hash))
        }),
        ("upgrade-node-size-changed", "upgrade-0-to-61", "upgrade.nodes[0].size + 1", |p, _, _| {
            p.upgrade.as_mut().and_then(|u| u.nodes.first_mut()).map(|n| n.size += 1).is_some()
        }),
        ("upgrade-node-dropped", "upgrade-32-to-61", "last upgrade node removed", |p, _, _| {
            p.upgrade.as_mut().and_then(|u| u.nodes.pop()).is_some()
        }),
        ("upgrade-length-minus-1", "upgrade-45-to-61", "upgrade.length - 1 (nodes unchanged)", |p, _, _| {
            p.upgrade.as_mut().map(|u| u.length -= 1).is_some()
        }),
        (
            "additional-node-flipped",
            "upgrade-0-to-33-additional",
            "upgrade.additionalNodes[0].hash xor 1",
            |p, _, _| {
                p.upgrade
                    .as_mut()
                    .and_then(|u| u.additional_nodes.first_mut())
                    .is_some_and(|n| flip(&mut n.hash))
            },
        ),
        (
            "additional-node-dropped",
            "upgrade-3-to-12-additional",
            "last additional node removed",
            |p, _, _| p.upgrade.as_mut().and_then(|u| u.additional_nodes.pop()).is_some(),
        ),
        (
            "block-value-flipped-with-upgrade",
            "block-20-upgrade-12-to-61",
            "block.value xor 1 in a block+upgrade proof",
            |p, _, _| p.block.as_mut().is_some_and(|b| flip(&mut b.value)),
        ),
        ("seek-node-flipped", "seek-0-upgrade-0-to-61", "seek.nodes[0].hash xor 1", |p, _, _| {
            p.seek.as_mut().and_then(|s| s.nodes.first_mut()).is_some_and(|n| flip(&mut n.hash))
        }),
        ("fork-changed", "block-0-at-L32", "proof.fork = 1 (reader is at fork 0)", |p, _, _| {
            p.fork = 1;
            true
        }),
        (
            "fork-changed-upgrade",
            "upgrade-12-to-61",
            "proof.fork = 1 on an upgrade (signature is for fork 0)",
            |p, _, _| {
                p.fork = 1;
                true
            },
        ),
        (
            "manifest-of-other-core",
            "upgrade-0-to-61",
            "manifest replaced by the default manifest of another key",
            |_, m, c| {
                if c.compat {
                    return false;
                }
                *m = Some(
                    hyperwasm::core::Manifest::default_signer(KeyPair::from_seed(&[99; 32]).public_key())
                        .to_bytes(),
                );
                true
            },
        ),
        ("manifest-missing", "upgrade-0-to-61", "manifest left out for a reader that has none", |_, m, c| {
            if c.compat {
                return false;
            }
            *m = None;
            true
        }),
        (
            "compat-signature-of-other-key",
            "upgrade-0-to-61",
            "signature by another key pair over the right signable",
            |p, _, c| {
                let (Some(u), Some(t)) = (p.upgrade.as_mut(), c.writer_tree.as_ref()) else { return false };
                let Some(msg) = c.verifier.signable(0, &t.hash(), t.length, t.fork) else { return false };
                if !c.compat {
                    return false;
                }
                u.signature = KeyPair::from_seed(&[99; 32]).sign(&msg).to_vec();
                true
            },
        ),
    ]
}
