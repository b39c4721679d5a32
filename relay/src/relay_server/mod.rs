//! `hyperwasm-relay serve`: the WebSocket relay (docs/relay.md, relay/PROTOCOL.md).

pub mod session;
pub mod session_events;
