//! dht-rpc's own (internal) command numbers (`lib/commands.js`) and reply error codes
//! (`lib/errors.js`). Internal commands carry flag 4 on the wire; hyperdht's commands do not.

/// Keep-alive: answered with an empty reply.
pub const PING: u64 = 0;
/// "Ping me back on this port": value = u16 LE port of the requester's other socket.
pub const PING_NAT: u64 = 1;
/// Closer nodes to `target`.
pub const FIND_NODE: u64 = 2;
/// "This node you told me about is down": value = its 6-byte address.
pub const DOWN_HINT: u64 = 3;
/// An empty reply after a delay: value = u32 LE milliseconds.
pub const DELAYED_PING: u64 = 4;

/// Reply error: the command is not handled here.
pub const UNKNOWN_COMMAND: u64 = 1;
/// Reply error: the request's token is not one this node handed out (a fresh one is attached).
pub const INVALID_TOKEN: u64 = 2;
