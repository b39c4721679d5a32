//! Hypercore itself: manifests and verification, core state and operations (hypercore `lib/`).

pub mod bitfield;
pub mod manifest;
pub mod multisig;
pub mod verifier;
