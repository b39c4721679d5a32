//! Hyperbee (v1, JS `hyperbee` 2.27.3): the append-only B-tree on top of a hypercore,
//! writing the blocks JS writes for the same operations (see `docs/hyperbee.md`).
//!
//! Layers: [`messages`] (block codecs) → [`block`] (decoded blocks, checked tree-node views)
//! → [`reader`] (a version-pinned view through the decoded-block [`cache`]) →
//! [`hyperbee`] (the handle: get, put, del, sub, checkout) and [`batch`] (B-tree edits and
//! block encoding); [`iterators`] (range, history, diff) and [`watch`] read on top of
//! readers; [`encoding`] turns strings and JSON into key/value bytes.

pub mod batch;
pub mod block;
pub mod cache;
pub mod encoding;
pub mod errors;
pub mod hyperbee;
pub mod iterators;
pub mod messages;
pub mod reader;
mod tree_node;
pub mod watch;

pub use batch::Batch;
pub use block::{BlockEntry, NodeRef};
pub use encoding::{Encoding, Value};
pub use errors::BeeError;
pub use hyperbee::{BeeOptions, Cas, CasFn, Entry, Hyperbee};
pub use iterators::{
    DiffEntry, DiffIterator, HistoryEntry, HistoryIterator, HistoryKind, HistoryOptions, RangeIterator,
    RangeOptions,
};
pub use messages::{BeeDecodeError, Header, Level, Metadata, Node, YoloIndex};
pub use reader::Reader;
pub use watch::{EntryWatcher, Watcher};
