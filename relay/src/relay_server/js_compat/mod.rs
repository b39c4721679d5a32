//! The `@hyperswarm/dht-relay` channel (`relay/PROTOCOL.md` §9): the JS relay's 28 messages
//! ([`messages`], [`codecs`]) and the relay's side of that protocol in non-custodial mode
//! ([`session`]).

pub mod codecs;
pub mod dht_side;
pub mod messages;
pub mod session;
#[cfg(test)]
mod session_tests;
