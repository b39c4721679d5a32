//! Hyperbee (v1, JS `hyperbee` 2.27.3): the B-tree on top of a hypercore.
//!
//! For now only the block codecs ([`messages`]): the header block (block 0) and the node
//! blocks, byte-identical to the protobuf code JS hyperbee generates (`lib/messages.js`).

pub mod messages;

pub use messages::{BeeDecodeError, Header, Level, Metadata, Node, YoloIndex};
