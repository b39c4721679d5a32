//! The tokio driver of the HyperDHT node (`docs/hyperdht.md`): sockets and timers around the
//! sans-IO state machines.

pub mod socket;
