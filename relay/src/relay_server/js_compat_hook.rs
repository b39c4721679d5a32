//! Where the `@hyperswarm/dht-relay` channel (PROTOCOL.md §9, `js_compat/`) plugs into the
//! socket: when the client opens a channel of [`PROTOCOL_NAME`], `socket::handle_events` opens
//! ours and `socket::run` hands the socket (its Protomux, both halves, its rate limit) to
//! `js_compat_io::run`, which drives `js_compat::session` against the [`crate::dht::Dht`].

/// The JS relay's Protomux protocol name.
pub const PROTOCOL_NAME: &str = "@hyperswarm/dht-relay";
