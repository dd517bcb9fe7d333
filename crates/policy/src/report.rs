//! The result model shared by the agent's reports and the server: field names here are a
//! public contract (JSON reports, the agent API).

use serde::{Deserialize, Serialize};

use crate::model::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// The probe could not observe (permission denied, timeout, unsupported here).
    Error,
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::NotApplicable => "not_applicable",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    /// Human-readable expectation, e.g. `equals "no"`.
    pub expected: String,
    /// Evidence: what the probe saw, bounded in size.
    pub observed: String,
    pub reason: String,
    pub fix: String,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub id: String,
    pub name: String,
    /// Lowercase hex SHA-256 of the policy's canonical JSON.
    pub hash: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub total: u32,
    pub pass: u32,
    pub fail: u32,
    pub error: u32,
    pub not_applicable: u32,
    /// 100 × pass / (pass + fail + error), rounded to one decimal; 100 when nothing applied.
    pub score: f64,
}

impl Summary {
    pub fn from_results(results: &[RuleResult]) -> Self {
        let mut s = Summary::default();
        for r in results {
            s.total += 1;
            match r.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Error => s.error += 1,
                Status::NotApplicable => s.not_applicable += 1,
            }
        }
        s.score = score(s.pass, s.fail, s.error);
        s
    }
}

pub fn score(pass: u32, fail: u32, error: u32) -> f64 {
    let applicable = pass + fail + error;
    if applicable == 0 {
        return 100.0;
    }
    (1000.0 * f64::from(pass) / f64::from(applicable)).round() / 10.0
}

/// One policy evaluated on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub host: Host,
    pub policy: PolicyRef,
    /// RFC 3339 UTC timestamp.
    pub started_at: String,
    pub duration_ms: u64,
    pub summary: Summary,
    pub results: Vec<RuleResult>,
}
