//! VT-Audit server library: storage backends, the built-in CA and (later) the HTTP layers.
//! The `vt-server` binary only wires these together.

pub mod ca;
pub mod config;
pub mod enroll;
pub mod http;
pub mod logging;
pub mod maintenance;
pub mod passwords;
pub mod policy_store;
pub mod secrets;
pub mod server;
pub mod storage;
