use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Location;
use crate::expect::Expect;
use crate::probe::Probe;

/// A parsed, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub meta: PolicyMeta,
    pub rules: Vec<Rule>,
    /// Which surface syntax the policy was written in; evaluation differs for `Legacy`.
    pub format: SourceFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Native,
    /// The original VT-Audit rule list (top-level YAML sequence, `querry:` blocks).
    Legacy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyMeta {
    pub id: String,
    pub name: String,
    pub os: TargetOs,
    pub description: Option<String>,
    pub version: Option<String>,
    /// Values substituted for `${name}` in probe arguments and expectations at load time;
    /// kept so that the canonical form can reproduce the source.
    pub variables: BTreeMap<String, String>,
    /// Evaluate expectations with the original VT-Audit semantics (set for legacy rule
    /// files and for their converted form, so conversion never changes a verdict).
    pub legacy_semantics: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetOs {
    Windows,
    Linux,
    Any,
}

impl TargetOs {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetOs::Windows => "windows",
            TargetOs::Linux => "linux",
            TargetOs::Any => "any",
        }
    }
}

impl FromStr for TargetOs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "windows" => Ok(TargetOs::Windows),
            "linux" => Ok(TargetOs::Linux),
            "any" => Ok(TargetOs::Any),
            other => Err(format!("unknown os {other:?} (expected windows, linux or any)")),
        }
    }
}

/// Rule severity, ordered from least to most severe so that `>=` means "at least as severe".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "critical" => Ok(Severity::Critical),
            "high" => Ok(Severity::High),
            "medium" => Ok(Severity::Medium),
            "low" => Ok(Severity::Low),
            "info" => Ok(Severity::Info),
            other => Err(format!(
                "unknown severity {other:?} (expected critical, high, medium, low or info)"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub rationale: Option<String>,
    pub description: Option<String>,
    pub fix: Option<String>,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    /// Framework name → control ids, e.g. `cis_debian_12: ["5.1.20"]`.
    pub compliance: BTreeMap<String, Vec<String>>,
    /// When present and it does not hold, the rule is `not_applicable`.
    pub applies_when: Option<Check>,
    pub check: Check,
    /// Per-rule probe timeout; the runner's default applies when absent.
    pub timeout: Option<Duration>,
    /// Legacy only: replaces the generated reason on pass / fail.
    pub pass_text: Option<String>,
    pub fail_text: Option<String>,
    pub location: Location,
}

/// A check is either one probe with its expectation or a combinator over checks.
#[derive(Debug, Clone)]
pub enum Check {
    Probe(Box<ProbeCheck>),
    /// Holds when every child holds.
    All(Vec<Check>),
    /// Holds when at least one child holds.
    Any(Vec<Check>),
    /// Holds when no child holds.
    None(Vec<Check>),
}

#[derive(Debug, Clone)]
pub struct ProbeCheck {
    pub probe: Probe,
    pub expect: Expect,
}

impl Check {
    /// Every probe this check may run, in source order.
    pub fn probes(&self) -> Vec<&Probe> {
        let mut out = Vec::new();
        self.collect_probes(&mut out);
        out
    }

    fn collect_probes<'a>(&'a self, out: &mut Vec<&'a Probe>) {
        match self {
            Check::Probe(p) => out.push(&p.probe),
            Check::All(c) | Check::Any(c) | Check::None(c) => c.iter().for_each(|c| c.collect_probes(out)),
        }
    }
}
