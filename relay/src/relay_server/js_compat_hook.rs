//! Where the `@hyperswarm/dht-relay` channel (PROTOCOL.md §9, `js_compat/`, written on another
//! branch) plugs into the socket: `socket.rs` refuses the channel with [`REFUSED`] until the
//! JS-compat session is merged. At merge, `socket::handle_events` hands the socket's Protomux
//! channel (its messages in, `(type, payload)` frames out, as [`super::session_io::SocketOut`])
//! and the [`crate::dht::Dht`] to a task driving `js_compat::session`.

/// The JS relay's Protomux protocol name.
pub const PROTOCOL_NAME: &str = "@hyperswarm/dht-relay";

/// The close reason while the JS-compat session is not merged.
pub const REFUSED: &str = "@hyperswarm/dht-relay is not served by this build";
