//! Replication of one hypercore with many peers (hypercore `lib/replicator.js`), sans-IO:
//! decoded channel messages and local core changes in, messages to send and storage work
//! out. The protocol stream (secret-stream + protomux + one channel per core) drives it.
//!
//! CONTRACT (issue 3, helper "replicator"): see `docs/replication.md` in the repository.

pub mod messages;
