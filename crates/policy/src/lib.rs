//! The VT-Audit policy model.
//!
//! This crate knows what a policy *says* and how an observation is judged against it, but
//! never touches the host: the agent supplies observations, and the server uses the same
//! code to validate policies for any operating system.

pub mod canonical;
pub mod check;
pub mod error;
pub mod expect;
pub mod legacy;
pub mod model;
pub mod observation;
pub mod parse;
pub mod probe;
pub mod report;
pub mod version;
mod yaml;

pub use check::{evaluate_rule, CheckOutcome};
pub use error::{Diagnostic, Location, PolicyError};
pub use expect::{Expect, Op};
pub use model::{Check, Policy, PolicyMeta, ProbeCheck, Rule, Severity, SourceFormat, TargetOs};
pub use observation::{Observation, Value};
pub use parse::{parse_policy, parse_policy_file};
pub use probe::{Platform, Probe};
pub use report::{Host, PolicyRef, Report, RuleResult, Status, Summary};
