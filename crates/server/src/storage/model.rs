//! Records stored and returned by [`super::Storage`].

use std::str::FromStr;

use time::OffsetDateTime;
use vt_policy::{RuleResult, Severity, Status};

use super::StorageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentStatus {
    Active,
    Revoked,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Revoked => "revoked",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StorageError> {
        match text {
            "active" => Ok(AgentStatus::Active),
            "revoked" => Ok(AgentStatus::Revoked),
            other => Err(StorageError::Corrupt {
                column: "agents.status",
                value: other.into(),
            }),
        }
    }
}

/// What an agent reports about itself at enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRegistration {
    pub machine_id: String,
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub agent_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub id: String,
    pub machine_id: String,
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub agent_version: String,
    pub enrolled_at: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    pub status: AgentStatus,
    /// What the agent said about itself in its latest heartbeat; `None` before the first.
    pub reported_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolledAgent {
    pub agent: Agent,
    /// False when an existing record (same machine id) was reused.
    pub created: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnrollmentToken {
    /// Public identifier, used to list and revoke; not a secret.
    pub id: String,
    /// Lowercase hex SHA-256 of the secret part of the token.
    pub secret_hash: String,
    pub label: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub uses_allowed: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentToken {
    pub id: String,
    pub label: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub uses_allowed: i64,
    pub uses_count: i64,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenConsumption {
    Consumed(EnrollmentToken),
    Unknown,
    Expired,
    Exhausted,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRole {
    Admin,
    Auditor,
    Viewer,
}

impl ApiRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiRole::Admin => "admin",
            ApiRole::Auditor => "auditor",
            ApiRole::Viewer => "viewer",
        }
    }
}

impl FromStr for ApiRole {
    type Err = StorageError;
    fn from_str(text: &str) -> Result<Self, StorageError> {
        match text {
            "admin" => Ok(ApiRole::Admin),
            "auditor" => Ok(ApiRole::Auditor),
            "viewer" => Ok(ApiRole::Viewer),
            other => Err(StorageError::Corrupt {
                column: "api_keys.role",
                value: other.into(),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub id: String,
    /// Lowercase hex SHA-256 of the key's secret.
    pub key_hash: String,
    pub role: ApiRole,
    pub label: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub role: ApiRole,
    pub label: String,
    pub created_at: OffsetDateTime,
}

/// A local dashboard user (see `migrations/*/0003_users.sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Stable opaque id (a UUID): sessions and the audit log refer to this, not the name.
    pub id: String,
    /// ASCII, validated by [`crate::passwords::validate_username`]; unique ignoring case.
    pub username: String,
    pub display_name: String,
    pub role: ApiRole,
    /// argon2id PHC string from [`crate::passwords::hash_password`]; never the password.
    pub password_hash: PasswordHashText,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: ApiRole,
    pub password_hash: PasswordHashText,
    pub created_at: OffsetDateTime,
    /// A disabled user keeps its row (the audit log points at it) but cannot log in.
    pub disabled: bool,
}

/// A stored password hash. Not the password, but still kept out of `Debug` output and
/// therefore out of logs: an offline guessing attack needs exactly this string.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHashText(pub String);

impl std::fmt::Debug for PasswordHashText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHashText(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCreation {
    Created(User),
    /// Another user already has this name (compared ignoring case); nothing was written.
    UsernameTaken,
}

pub(crate) fn parse_user_role(text: &str) -> Result<ApiRole, StorageError> {
    ApiRole::from_str(text).map_err(|_| StorageError::Corrupt {
        column: "users.role",
        value: text.into(),
    })
}

/// Connection pool occupancy, exported as metrics. For SQLite the writer connection and
/// the reader pool are added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: u32,
    /// The most connections the pool(s) will open.
    pub max: u32,
}

impl PoolStats {
    pub fn in_use(&self) -> u32 {
        self.size.saturating_sub(self.idle)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Lowercase hex of the serial number's bytes.
    pub serial: String,
    pub agent_id: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPolicyVersion {
    pub policy_id: String,
    pub os: String,
    pub yaml_source: String,
    /// Exactly the bytes served to agents; hashed by the storage layer.
    pub canonical_json: String,
    pub author: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub policy_id: String,
    pub version: i64,
    pub os: String,
    pub yaml_source: String,
    pub canonical_json: String,
    /// Lowercase hex SHA-256 of `canonical_json`.
    pub hash: String,
    pub author: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySummary {
    pub policy_id: String,
    pub os: String,
    pub latest_version: i64,
    /// Set when one of this policy's versions is the active one for its OS.
    pub active_version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub run_id: String,
    pub agent_id: String,
    pub policy_id: String,
    /// Resolved from the hash by the caller; `None` for a policy the server does not know
    /// (e.g. a local policy file), which is still worth keeping.
    pub policy_version: Option<i64>,
    pub policy_hash: String,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub received_at: OffsetDateTime,
    pub results: Vec<RuleResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored,
    /// The run_id was already stored; nothing was written.
    AlreadyStored,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunCounts {
    pub pass: i64,
    pub fail: i64,
    pub error: i64,
    pub not_applicable: i64,
    pub score: f64,
}

impl RunCounts {
    pub fn from_results(results: &[RuleResult]) -> Self {
        let summary = vt_policy::Summary::from_results(results);
        Self {
            pass: summary.pass.into(),
            fail: summary.fail.into(),
            error: summary.error.into(),
            not_applicable: summary.not_applicable.into(),
            score: summary.score,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run_id: String,
    pub agent_id: String,
    pub policy_id: String,
    pub policy_version: Option<i64>,
    pub policy_hash: String,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub received_at: OffsetDateTime,
    pub counts: RunCounts,
}

/// The newest run of one agent (by `finished_at`: a spooled older run delivered late does
/// not replace it).
#[derive(Debug, Clone, PartialEq)]
pub struct LatestState {
    pub agent_id: String,
    pub run_id: String,
    pub policy_id: String,
    pub policy_version: Option<i64>,
    pub policy_hash: String,
    pub finished_at: OffsetDateTime,
    pub counts: RunCounts,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostSummary {
    pub agent: Agent,
    pub latest: Option<LatestState>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FleetSummary {
    pub agents: i64,
    pub online: i64,
    pub revoked: i64,
    /// Agents with at least one run.
    pub reporting: i64,
    /// Reporting agents without failures or errors.
    pub compliant: i64,
    /// Mean of the latest scores of reporting agents; 100 when none report.
    pub average_score: f64,
}

/// Per-OS slice of the fleet, read from `agents` joined with `agent_latest` (never from
/// check results), so it stays O(agents) at fleet scale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsBreakdown {
    pub os: String,
    pub agents: i64,
    pub online: i64,
    /// Agents with at least one run.
    pub reporting: i64,
    /// Sums over the latest run of each reporting agent.
    pub pass: i64,
    pub fail: i64,
    pub error: i64,
    pub not_applicable: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub at: OffsetDateTime,
    /// Who did it: `apikey:<id>`, `cli`, `user:<name>`.
    pub actor: String,
    /// What was done, dotted: `token.create`, `policy.activate`, `agent.revoke`.
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

pub(crate) fn parse_severity(text: &str) -> Result<Severity, StorageError> {
    Severity::from_str(text).map_err(|_| StorageError::Corrupt {
        column: "check_results.severity",
        value: text.into(),
    })
}

pub(crate) fn parse_status(text: &str) -> Result<Status, StorageError> {
    match text {
        "pass" => Ok(Status::Pass),
        "fail" => Ok(Status::Fail),
        "error" => Ok(Status::Error),
        "not_applicable" => Ok(Status::NotApplicable),
        other => Err(StorageError::Corrupt {
            column: "check_results.status",
            value: other.into(),
        }),
    }
}
