//! HyperDHT pieces that need no network: the value codecs, namespaces and signables, the Noise
//! IK wrapper and the holepunch secure payload (hyperdht `lib/messages.js`, `lib/constants.js`,
//! `lib/crypto.js`, `lib/persistent.js` signables, `lib/noise-wrap.js`, `lib/secure-payload.js`).
//!
//! The browser runs these itself (it holds the keys: it makes the Noise messages and signs
//! announces) while the relay (`hyperwasm-relay`) does the routing, storage and UDX; the relay
//! uses the same modules for its own connections.
//!
//! Everything here is byte-identical to JS (checked against vectors from the pinned JS packages
//! in `tests/oracle_hyperdht.rs`), has no I/O, and never panics on remote input.

pub mod constants;
pub mod crypto;
pub mod messages;
pub mod noise_wrap;
pub mod secure_payload;
