//! Test support shared by the crate's unit tests and its integration tests (`relay/tests`).
//! Nothing here runs in the node or the command line.

pub mod sim;
