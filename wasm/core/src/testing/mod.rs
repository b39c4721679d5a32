//! Test helpers shared by every backend's tests (feature `test-utils`).
//!
//! - [`fixtures`]: the JSON model of the JS fixtures, read by the oracle tests and written by
//!   `tests/interop`.
//! - [`oracle`]: the storage-generic JS oracle suite.
//!
//! Nothing here uses threads, `std::fs` or tokio, so the same checks run natively and in the
//! browser under `wasm-bindgen-test`.

pub mod fixtures;
pub mod oracle;
