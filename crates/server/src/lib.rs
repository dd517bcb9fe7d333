//! VT-Audit server library: storage backends, the built-in CA and (later) the HTTP layers.
//! The `vt-server` binary only wires these together.

pub mod ca;
pub mod secrets;
pub mod storage;
