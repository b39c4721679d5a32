//! Test helpers shared by every backend's tests (feature `test-utils`).
//!
//! Nothing here uses threads, `std::fs` or tokio, so the same checks run natively and in the
//! browser under `wasm-bindgen-test`.

pub mod fixtures;
pub mod oracle;
