//! Persistent state of the server behind one interface, with a SQLite and a PostgreSQL
//! implementation that pass the same test suite (`tests/storage.rs`).
//!
//! The trait uses `#[async_trait]` rather than native `async fn` in traits: the server picks
//! the backend at runtime from `--database-url` and shares it as `Arc<dyn Storage>`, and
//! traits with native async methods are not object safe. The boxing cost (one allocation
//! per call) is negligible next to a database round trip.
//!
//! Conventions shared by both backends:
//! - timestamps are UTC with millisecond precision (SQLite stores unix milliseconds,
//!   PostgreSQL `timestamptz`); callers pass `now` so behaviour is testable and every
//!   server instance judges expiry by the same rule;
//! - secrets (enrollment tokens, API keys) arrive already hashed: the storage layer never
//!   sees them in clear;
//! - runs and check results are append-only; the per-agent `agent_latest` row is updated in
//!   the same transaction as the run so fleet views never scan results.

mod model;
mod postgres;
mod query;
mod settings;
mod sqlite;

use async_trait::async_trait;
use time::OffsetDateTime;

pub use model::*;
pub use postgres::PostgresStorage;
pub use query::*;
pub use settings::*;
pub use sqlite::SqliteStorage;

pub type StorageResult<T> = Result<T, StorageError>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0} not found")]
    NotFound(String),
    /// A value read back from the database that this version cannot interpret.
    #[error("unexpected value {value:?} in column {column}")]
    Corrupt { column: &'static str, value: String },
    /// A value the caller passed that the schema cannot hold (e.g. a u64 above i64::MAX).
    #[error("invalid value for {field}: {message}")]
    InvalidInput { field: &'static str, message: String },
    #[error("unsupported database URL (expected sqlite: or postgres:)")]
    UnsupportedUrl,
}

impl StorageError {
    /// True when the database refused the write because of a constraint (unique, check,
    /// foreign key): the caller's data is at fault, not the database.
    pub fn is_constraint_violation(&self) -> bool {
        match self {
            StorageError::Database(sqlx::Error::Database(db)) => {
                !matches!(db.kind(), sqlx::error::ErrorKind::Other)
            }
            _ => false,
        }
    }
}

/// Opens the backend named by the URL's scheme and runs pending migrations.
pub async fn open(database_url: &str) -> StorageResult<std::sync::Arc<dyn Storage>> {
    if database_url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStorage::open(database_url).await?))
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Ok(std::sync::Arc::new(PostgresStorage::open(database_url).await?))
    } else {
        Err(StorageError::UnsupportedUrl)
    }
}

#[async_trait]
pub trait Storage: Send + Sync {
    /// Applies pending migrations; `open` already does this, the CLI `migrate` calls it
    /// explicitly to report the outcome.
    async fn migrate(&self) -> StorageResult<()>;
    /// Cheap round trip for `/ready`.
    async fn ping(&self) -> StorageResult<()>;
    /// Connection pool occupancy for `/metrics`; no I/O.
    fn pool_stats(&self) -> PoolStats;
    async fn close(&self);

    // ---- agents -------------------------------------------------------------------------

    /// Creates the agent, or — when `machine_id` is already known — updates that record
    /// (hostname, OS, versions, last_seen) and keeps its id and status. `new_id` is only used
    /// for a new record. Atomic: concurrent enrollments of one machine yield one record.
    async fn enroll_agent(
        &self,
        new_id: &str,
        registration: &AgentRegistration,
        now: OffsetDateTime,
    ) -> StorageResult<EnrolledAgent>;
    async fn get_agent(&self, agent_id: &str) -> StorageResult<Option<Agent>>;
    /// Heartbeat: moves `last_seen` forward (never back) and records the agent version.
    /// Returns false for an unknown agent.
    async fn touch_agent(
        &self,
        agent_id: &str,
        agent_version: &str,
        now: OffsetDateTime,
    ) -> StorageResult<bool>;
    async fn set_agent_status(&self, agent_id: &str, status: AgentStatus) -> StorageResult<bool>;
    /// The agent record of a machine, if it ever enrolled. Enrollment asks this before it
    /// spends a token, so a revoked machine cannot burn tokens or touch its record.
    async fn find_agent_by_machine_id(&self, machine_id: &str) -> StorageResult<Option<Agent>>;
    /// Heartbeat with the agent's self-reported status: what `touch_agent` does, plus
    /// `reported_status`, in one statement. Returns false for an unknown agent.
    async fn record_heartbeat(
        &self,
        agent_id: &str,
        agent_version: &str,
        reported_status: Option<&str>,
        now: OffsetDateTime,
    ) -> StorageResult<bool>;
    /// Agents joined with their latest run; O(page) with indexes, never scans results.
    async fn list_hosts(&self, query: &HostQuery) -> StorageResult<Page<HostSummary>>;
    async fn fleet_summary(&self, online_since: OffsetDateTime) -> StorageResult<FleetSummary>;
    /// Agent counts and latest-run result totals per OS, ordered by OS name.
    async fn fleet_by_os(&self, online_since: OffsetDateTime) -> StorageResult<Vec<OsBreakdown>>;

    // ---- enrollment tokens --------------------------------------------------------------

    async fn create_token(&self, token: &NewEnrollmentToken) -> StorageResult<()>;
    async fn list_tokens(&self, page: PageRequest) -> StorageResult<Page<EnrollmentToken>>;
    async fn revoke_token(&self, token_id: &str) -> StorageResult<bool>;
    /// Spends one use of the token whose secret hashes to `secret_hash`, atomically across
    /// server instances (a single conditional UPDATE). On failure says why, for a clear error.
    async fn consume_token(&self, secret_hash: &str, now: OffsetDateTime) -> StorageResult<TokenConsumption>;

    // ---- API keys -----------------------------------------------------------------------

    async fn create_api_key(&self, key: &NewApiKey) -> StorageResult<()>;
    /// The non-revoked key whose secret hashes to `key_hash`.
    async fn find_api_key(&self, key_hash: &str) -> StorageResult<Option<ApiKey>>;

    // ---- local users ----------------------------------------------------------------------

    /// Inserts the user unless the username is taken (ignoring case); atomic across
    /// instances through the unique index. Verify passwords with
    /// [`crate::passwords::verify_password`] on the returned hash.
    async fn create_user(&self, user: &NewUser) -> StorageResult<UserCreation>;
    /// Case-insensitive lookup; disabled users are returned too (the caller refuses them).
    async fn find_user_by_username(&self, username: &str) -> StorageResult<Option<User>>;
    /// By stable id: what a session resolves on each request, so that disabling a user or
    /// changing its role takes effect immediately.
    async fn get_user(&self, user_id: &str) -> StorageResult<Option<User>>;
    /// Ordered by username ignoring case. Local users are few (operators, not the fleet),
    /// so this is not paginated.
    async fn list_users(&self) -> StorageResult<Vec<User>>;

    // ---- certificates and one-time tokens -----------------------------------------------

    async fn record_certificate(&self, certificate: &CertificateRecord) -> StorageResult<()>;
    async fn get_certificate(&self, serial: &str) -> StorageResult<Option<CertificateRecord>>;
    /// Returns false when the serial is unknown or already revoked (the first reason wins).
    async fn revoke_certificate(&self, serial: &str, reason: &str, at: OffsetDateTime)
        -> StorageResult<bool>;
    /// Revokes every unrevoked certificate of the agent; returns how many.
    async fn revoke_agent_certificates(
        &self,
        agent_id: &str,
        reason: &str,
        at: OffsetDateTime,
    ) -> StorageResult<u64>;
    /// Revoked certificates that have not expired yet at `now`: the CRL's content.
    async fn list_revoked_certificates(&self, now: OffsetDateTime) -> StorageResult<Vec<CertificateRecord>>;
    /// Records an OTT id as spent. True the first time, false for a replay; atomic across
    /// instances (insert-or-fail on the primary key).
    async fn mark_ott_used(&self, jti: &str, expires_at: OffsetDateTime) -> StorageResult<bool>;
    /// Forgets spent OTT ids that have expired anyway (an expired OTT is refused on its own).
    async fn purge_expired_otts(&self, now: OffsetDateTime) -> StorageResult<u64>;

    // ---- policies -----------------------------------------------------------------------

    /// Stores a new immutable version: numbered max+1 per policy id, hash computed here from
    /// the canonical JSON bytes so the two can never disagree.
    async fn create_policy_version(&self, version: &NewPolicyVersion) -> StorageResult<PolicyVersion>;
    async fn get_policy_version(&self, policy_id: &str, version: i64)
        -> StorageResult<Option<PolicyVersion>>;
    async fn find_policy_version_by_hash(
        &self,
        policy_id: &str,
        hash: &str,
    ) -> StorageResult<Option<PolicyVersion>>;
    /// Newest first.
    async fn list_policy_versions(&self, policy_id: &str) -> StorageResult<Vec<PolicyVersion>>;
    async fn list_policies(&self) -> StorageResult<Vec<PolicySummary>>;
    /// Makes the version the active one for its OS. `NotFound` for a missing version.
    async fn activate_policy_version(
        &self,
        policy_id: &str,
        version: i64,
        now: OffsetDateTime,
    ) -> StorageResult<()>;
    async fn active_policy(&self, os: &str) -> StorageResult<Option<PolicyVersion>>;

    // ---- runs and results ---------------------------------------------------------------

    /// Stores run, results, latest state and last_seen in one transaction. A run_id that is
    /// already stored writes nothing and returns `AlreadyStored`.
    async fn store_run(&self, run: &NewRun) -> StorageResult<StoreOutcome>;
    /// A host's runs, newest first.
    async fn list_runs(&self, agent_id: &str, page: PageRequest) -> StorageResult<Page<RunSummary>>;
    async fn get_run(&self, run_id: &str) -> StorageResult<Option<RunSummary>>;
    /// Results in the order the agent reported them.
    async fn run_results(&self, run_id: &str) -> StorageResult<Vec<vt_policy::RuleResult>>;
    async fn latest_state(&self, agent_id: &str) -> StorageResult<Option<LatestState>>;
    /// Deletes runs (and their results) received before `cutoff`, except each agent's
    /// latest run, which the host views still point at. Returns the number of runs deleted.
    async fn purge_runs_before(&self, cutoff: OffsetDateTime) -> StorageResult<u64>;

    // ---- settings and audit log ---------------------------------------------------------

    async fn get_setting(&self, key: &str) -> StorageResult<Option<String>>;
    async fn set_setting(&self, key: &str, value: &str, now: OffsetDateTime) -> StorageResult<()>;
    async fn append_audit(&self, entry: &NewAuditEntry) -> StorageResult<i64>;
    /// Newest first.
    async fn list_audit(&self, page: PageRequest) -> StorageResult<Page<AuditEntry>>;
}

/// Truncates to the millisecond precision both backends store, so a value read back equals
/// the value written.
pub fn truncate_to_millis(at: OffsetDateTime) -> OffsetDateTime {
    let nanos = at.nanosecond();
    at.replace_nanosecond(nanos - nanos % 1_000_000).unwrap_or(at)
}

pub(crate) fn to_i64(field: &'static str, value: u64) -> StorageResult<i64> {
    i64::try_from(value).map_err(|_| StorageError::InvalidInput {
        field,
        message: format!("{value} too large"),
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
