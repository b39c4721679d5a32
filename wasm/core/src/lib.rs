//! # hyperwasm
//!
//! The Holepunch hyper stack — hypercore 11 today, hyperbee and autobase next — in Rust, with
//! no I/O of its own: formats, cryptography, Merkle proofs, core state and a storage trait.
//! The browser crate (`hyperwasm-web`) and the relay (`hyperwasm-relay`) drive it.
//!
//! Layers, bottom up: [`encoding`] (compact-encoding) → [`crypto`] (hypercore-crypto) →
//! [`tree`] (flat-tree, merkle-tree) → [`core`] (manifest, verifier, hypercore) over
//! [`storage`] (one batched trait; memory and file backends here, IndexedDB in the web crate).
//! Beside them: [`noise`] and [`secret_stream`] (hyperswarm's encrypted transport), [`protomux`]
//! and [`replicator`] (the replication protocol), and [`hyperdht`] (HyperDHT's value codecs,
//! signables, Noise IK wrapper and holepunch payloads: what a browser needs to reach peers
//! through a relay).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod bee;
pub mod core;
pub mod crypto;
pub mod encoding;
pub mod hyperdht;
pub mod maybe_send;
pub mod noise;
pub mod protomux;
pub mod relay_protocol;
pub mod replicator;
pub mod secret_stream;
pub mod storage;
#[cfg(feature = "test-utils")]
pub mod testing;
pub mod tree;

pub use maybe_send::{MaybeSend, MaybeSync};
