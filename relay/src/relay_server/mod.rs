//! The WebSocket relay (`docs/relay.md`).

pub mod js_compat;
