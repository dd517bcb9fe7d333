//! SQLite backend: the zero-configuration default, one file in the data directory.
//!
//! Connections: ONE writer connection plus a small read-only pool. SQLite allows a single
//! writer per database at a time; with several pooled writer connections, two deferred
//! transactions that both read and then try to write deadlock, and SQLite resolves that by
//! failing one of them with SQLITE_BUSY immediately (the busy timeout does not help in that
//! case). Funnelling writes through one connection turns contention into queueing inside
//! the pool instead of errors, and `BEGIN IMMEDIATE` takes the write lock up front so
//! another *process* (the `vt-server token create` CLI next to a running server) waits on
//! `busy_timeout` instead of failing. WAL mode lets readers proceed while the writer works,
//! and `synchronous=NORMAL` is durable across application crashes (an OS crash may lose the
//! last transactions, never corrupt the file) at a fraction of FULL's fsync cost.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;
use vt_policy::RuleResult;

use super::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite's limit on bound parameters per statement (SQLITE_MAX_VARIABLE_NUMBER); 32766 in
/// the bundled build (>= 3.32) sqlx links.
const SQLITE_MAX_VARIABLES: usize = 32_766;
const CHECK_RESULT_COLUMNS: usize = 11;
/// Rows per multi-row INSERT: well within the variable limit, and large enough that a
/// typical run (a few hundred rules) is one statement.
const RESULT_ROWS_PER_INSERT: usize = {
    let by_limit = SQLITE_MAX_VARIABLES / CHECK_RESULT_COLUMNS;
    if by_limit < 1_000 {
        by_limit
    } else {
        1_000
    }
};
/// Runs deleted per retention transaction, so a large purge never holds the single writer
/// for long.
const PURGE_BATCH: i64 = 1_000;
const READ_CONNECTIONS: u32 = 4;

pub struct SqliteStorage {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStorage {
    /// Opens (creating if missing) the database at `sqlite:PATH` and migrates it.
    pub async fn open(url: &str) -> StorageResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        // Migrate before opening readers: read-only connections cannot create the file.
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, reader })
    }
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_millis(column: &'static str, ms: i64) -> StorageResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|_| StorageError::Corrupt {
        column,
        value: ms.to_string(),
    })
}

fn time_col(row: &SqliteRow, column: &'static str) -> StorageResult<OffsetDateTime> {
    from_millis(column, row.try_get(column)?)
}

fn opt_time_col(row: &SqliteRow, column: &'static str) -> StorageResult<Option<OffsetDateTime>> {
    row.try_get::<Option<i64>, _>(column)?
        .map(|ms| from_millis(column, ms))
        .transpose()
}

const AGENT_COLUMNS: &str =
    "a.id, a.machine_id, a.hostname, a.os, a.os_version, a.arch, a.agent_version, a.enrolled_at, a.last_seen, a.status, \
    a.reported_status";
const LATEST_COLUMNS: &str = "l.run_id AS latest_run_id, l.policy_id AS latest_policy_id, \
    l.policy_version AS latest_policy_version, l.policy_hash AS latest_policy_hash, \
    l.finished_at AS latest_finished_at, l.pass_count AS latest_pass, l.fail_count AS latest_fail, \
    l.error_count AS latest_error, l.na_count AS latest_na, l.score AS latest_score, \
    l.updated_at AS latest_updated_at";
const RUN_COLUMNS: &str =
    "run_id, agent_id, policy_id, policy_version, policy_hash, started_at, finished_at, \
    received_at, pass_count, fail_count, error_count, na_count, score";
const POLICY_VERSION_COLUMNS: &str =
    "policy_id, version, os, yaml_source, canonical_json, hash, author, created_at";
const TOKEN_COLUMNS: &str = "id, label, created_at, expires_at, uses_allowed, uses_count, revoked";
const USER_COLUMNS: &str = "id, username, display_name, role, password_hash, created_at, disabled";

fn agent_from_row(row: &SqliteRow) -> StorageResult<Agent> {
    Ok(Agent {
        id: row.try_get("id")?,
        machine_id: row.try_get("machine_id")?,
        hostname: row.try_get("hostname")?,
        os: row.try_get("os")?,
        os_version: row.try_get("os_version")?,
        arch: row.try_get("arch")?,
        agent_version: row.try_get("agent_version")?,
        enrolled_at: time_col(row, "enrolled_at")?,
        last_seen: time_col(row, "last_seen")?,
        status: AgentStatus::parse(row.try_get("status")?)?,
        reported_status: row.try_get("reported_status")?,
    })
}

fn user_from_row(row: &SqliteRow) -> StorageResult<User> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: parse_user_role(row.try_get("role")?)?,
        password_hash: PasswordHashText(row.try_get("password_hash")?),
        created_at: time_col(row, "created_at")?,
        disabled: row.try_get("disabled")?,
    })
}

fn latest_from_joined_row(row: &SqliteRow, agent_id: &str) -> StorageResult<Option<LatestState>> {
    let Some(run_id) = row.try_get::<Option<String>, _>("latest_run_id")? else {
        return Ok(None);
    };
    Ok(Some(LatestState {
        agent_id: agent_id.to_string(),
        run_id,
        policy_id: row.try_get("latest_policy_id")?,
        policy_version: row.try_get("latest_policy_version")?,
        policy_hash: row.try_get("latest_policy_hash")?,
        finished_at: time_col(row, "latest_finished_at")?,
        counts: RunCounts {
            pass: row.try_get("latest_pass")?,
            fail: row.try_get("latest_fail")?,
            error: row.try_get("latest_error")?,
            not_applicable: row.try_get("latest_na")?,
            score: row.try_get("latest_score")?,
        },
        updated_at: time_col(row, "latest_updated_at")?,
    }))
}

fn run_from_row(row: &SqliteRow) -> StorageResult<RunSummary> {
    Ok(RunSummary {
        run_id: row.try_get("run_id")?,
        agent_id: row.try_get("agent_id")?,
        policy_id: row.try_get("policy_id")?,
        policy_version: row.try_get("policy_version")?,
        policy_hash: row.try_get("policy_hash")?,
        started_at: time_col(row, "started_at")?,
        finished_at: time_col(row, "finished_at")?,
        received_at: time_col(row, "received_at")?,
        counts: RunCounts {
            pass: row.try_get("pass_count")?,
            fail: row.try_get("fail_count")?,
            error: row.try_get("error_count")?,
            not_applicable: row.try_get("na_count")?,
            score: row.try_get("score")?,
        },
    })
}

fn policy_version_from_row(row: &SqliteRow) -> StorageResult<PolicyVersion> {
    Ok(PolicyVersion {
        policy_id: row.try_get("policy_id")?,
        version: row.try_get("version")?,
        os: row.try_get("os")?,
        yaml_source: row.try_get("yaml_source")?,
        canonical_json: row.try_get("canonical_json")?,
        hash: row.try_get("hash")?,
        author: row.try_get("author")?,
        created_at: time_col(row, "created_at")?,
    })
}

fn token_from_row(row: &SqliteRow) -> StorageResult<EnrollmentToken> {
    Ok(EnrollmentToken {
        id: row.try_get("id")?,
        label: row.try_get("label")?,
        created_at: time_col(row, "created_at")?,
        expires_at: time_col(row, "expires_at")?,
        uses_allowed: row.try_get("uses_allowed")?,
        uses_count: row.try_get("uses_count")?,
        revoked: row.try_get("revoked")?,
    })
}

fn certificate_from_row(row: &SqliteRow) -> StorageResult<CertificateRecord> {
    Ok(CertificateRecord {
        serial: row.try_get("serial")?,
        agent_id: row.try_get("agent_id")?,
        not_before: time_col(row, "not_before")?,
        not_after: time_col(row, "not_after")?,
        revoked_at: opt_time_col(row, "revoked_at")?,
        reason: row.try_get("reason")?,
    })
}

fn push_host_filters<'a>(builder: &mut QueryBuilder<'a, Sqlite>, query: &'a HostQuery) {
    builder.push(" WHERE 1 = 1");
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        // LIKE is case-insensitive for ASCII in SQLite, matching PostgreSQL's ILIKE there.
        builder
            .push(" AND a.hostname LIKE ")
            .push_bind(like_pattern(search))
            .push(" ESCAPE '\\'");
    }
    if let Some(os) = &query.os {
        builder.push(" AND a.os = ").push_bind(os);
    }
    match query.online {
        Some(OnlineFilter::Online) => {
            builder
                .push(" AND a.last_seen >= ")
                .push_bind(millis(query.online_since));
        }
        Some(OnlineFilter::Offline) => {
            builder
                .push(" AND a.last_seen < ")
                .push_bind(millis(query.online_since));
        }
        None => {}
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn migrate(&self) -> StorageResult<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn ping(&self) -> StorageResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        // num_idle() is a usize; a pool of a handful of connections always fits.
        let idle = |pool: &SqlitePool| u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
        PoolStats {
            size: self.reader.size() + self.writer.size(),
            idle: idle(&self.reader).saturating_add(idle(&self.writer)),
            max: self.reader.options().get_max_connections() + self.writer.options().get_max_connections(),
        }
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn enroll_agent(
        &self,
        new_id: &str,
        registration: &AgentRegistration,
        now: OffsetDateTime,
    ) -> StorageResult<EnrolledAgent> {
        let row = sqlx::query(
            "INSERT INTO agents AS a (id, machine_id, hostname, os, os_version, arch, agent_version, \
             enrolled_at, last_seen, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active') \
             ON CONFLICT (machine_id) DO UPDATE SET hostname = excluded.hostname, os = excluded.os, \
             os_version = excluded.os_version, arch = excluded.arch, agent_version = excluded.agent_version, \
             last_seen = max(a.last_seen, excluded.last_seen) \
             RETURNING id, machine_id, hostname, os, os_version, arch, agent_version, enrolled_at, last_seen, status, \
             reported_status",
        )
        .bind(new_id)
        .bind(&registration.machine_id)
        .bind(&registration.hostname)
        .bind(&registration.os)
        .bind(&registration.os_version)
        .bind(&registration.arch)
        .bind(&registration.agent_version)
        .bind(millis(now))
        .bind(millis(now))
        .fetch_one(&self.writer)
        .await?;
        let agent = agent_from_row(&row)?;
        let created = agent.id == new_id;
        Ok(EnrolledAgent { agent, created })
    }

    async fn get_agent(&self, agent_id: &str) -> StorageResult<Option<Agent>> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents a WHERE a.id = ?");
        let row = sqlx::query(&sql)
            .bind(agent_id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    async fn touch_agent(
        &self,
        agent_id: &str,
        agent_version: &str,
        now: OffsetDateTime,
    ) -> StorageResult<bool> {
        let done =
            sqlx::query("UPDATE agents SET last_seen = max(last_seen, ?), agent_version = ? WHERE id = ?")
                .bind(millis(now))
                .bind(agent_version)
                .bind(agent_id)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_agent_status(&self, agent_id: &str, status: AgentStatus) -> StorageResult<bool> {
        let done = sqlx::query("UPDATE agents SET status = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(agent_id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn find_agent_by_machine_id(&self, machine_id: &str) -> StorageResult<Option<Agent>> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents a WHERE a.machine_id = ?");
        let row = sqlx::query(&sql)
            .bind(machine_id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    async fn record_heartbeat(
        &self,
        agent_id: &str,
        agent_version: &str,
        reported_status: Option<&str>,
        now: OffsetDateTime,
    ) -> StorageResult<bool> {
        let done = sqlx::query(
            "UPDATE agents SET last_seen = max(last_seen, ?), agent_version = ?, reported_status = ? WHERE id = ?",
        )
        .bind(millis(now))
        .bind(agent_version)
        .bind(reported_status)
        .bind(agent_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_hosts(&self, query: &HostQuery) -> StorageResult<Page<HostSummary>> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM agents a");
        push_host_filters(&mut count, query);
        let total: i64 = count.build().fetch_one(&self.reader).await?.try_get(0)?;

        let mut select = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {AGENT_COLUMNS}, {LATEST_COLUMNS} FROM agents a LEFT JOIN agent_latest l ON l.agent_id = a.id"
        ));
        push_host_filters(&mut select, query);
        // Column and direction come from enums; the id tie-breaker keeps pages stable.
        select.push(format!(
            " ORDER BY {} {} NULLS LAST, a.id ASC LIMIT ",
            query.sort.column(),
            query.direction.sql()
        ));
        select
            .push_bind(query.page.limit())
            .push(" OFFSET ")
            .push_bind(query.page.offset());
        let rows = select.build().fetch_all(&self.reader).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let agent = agent_from_row(row)?;
            let latest = latest_from_joined_row(row, &agent.id)?;
            items.push(HostSummary { agent, latest });
        }
        Ok(Page::of(items, total, query.page))
    }

    async fn fleet_summary(&self, online_since: OffsetDateTime) -> StorageResult<FleetSummary> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS agents, \
             COALESCE(SUM(CASE WHEN a.last_seen >= ? THEN 1 ELSE 0 END), 0) AS online, \
             COALESCE(SUM(CASE WHEN a.status = 'revoked' THEN 1 ELSE 0 END), 0) AS revoked, \
             COUNT(l.agent_id) AS reporting, \
             COALESCE(SUM(CASE WHEN l.fail_count = 0 AND l.error_count = 0 THEN 1 ELSE 0 END), 0) AS compliant, \
             AVG(l.score) AS average_score \
             FROM agents a LEFT JOIN agent_latest l ON l.agent_id = a.id",
        )
        .bind(millis(online_since))
        .fetch_one(&self.reader)
        .await?;
        Ok(FleetSummary {
            agents: row.try_get("agents")?,
            online: row.try_get("online")?,
            revoked: row.try_get("revoked")?,
            reporting: row.try_get("reporting")?,
            compliant: row.try_get("compliant")?,
            average_score: row.try_get::<Option<f64>, _>("average_score")?.unwrap_or(100.0),
        })
    }

    async fn fleet_by_os(&self, online_since: OffsetDateTime) -> StorageResult<Vec<OsBreakdown>> {
        let rows = sqlx::query(
            "SELECT a.os, COUNT(*) AS agents, \
             COALESCE(SUM(CASE WHEN a.last_seen >= ? THEN 1 ELSE 0 END), 0) AS online, \
             COUNT(l.agent_id) AS reporting, \
             COALESCE(SUM(l.pass_count), 0) AS pass, \
             COALESCE(SUM(l.fail_count), 0) AS fail, \
             COALESCE(SUM(l.error_count), 0) AS error, \
             COALESCE(SUM(l.na_count), 0) AS na \
             FROM agents a LEFT JOIN agent_latest l ON l.agent_id = a.id \
             GROUP BY a.os ORDER BY a.os",
        )
        .bind(millis(online_since))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OsBreakdown {
                    os: row.try_get("os")?,
                    agents: row.try_get("agents")?,
                    online: row.try_get("online")?,
                    reporting: row.try_get("reporting")?,
                    pass: row.try_get("pass")?,
                    fail: row.try_get("fail")?,
                    error: row.try_get("error")?,
                    not_applicable: row.try_get("na")?,
                })
            })
            .collect()
    }

    async fn create_token(&self, token: &NewEnrollmentToken) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO enrollment_tokens (id, secret_hash, label, created_at, expires_at, uses_allowed) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(&token.secret_hash)
        .bind(&token.label)
        .bind(millis(token.created_at))
        .bind(millis(token.expires_at))
        .bind(token.uses_allowed)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn list_tokens(&self, page: PageRequest) -> StorageResult<Page<EnrollmentToken>> {
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM enrollment_tokens")
            .fetch_one(&self.reader)
            .await?
            .try_get(0)?;
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM enrollment_tokens ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query(&sql)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.reader)
            .await?;
        let items = rows.iter().map(token_from_row).collect::<StorageResult<_>>()?;
        Ok(Page::of(items, total, page))
    }

    async fn revoke_token(&self, token_id: &str) -> StorageResult<bool> {
        let done = sqlx::query("UPDATE enrollment_tokens SET revoked = 1 WHERE id = ? AND revoked = 0")
            .bind(token_id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn consume_token(&self, secret_hash: &str, now: OffsetDateTime) -> StorageResult<TokenConsumption> {
        let sql = format!(
            "UPDATE enrollment_tokens SET uses_count = uses_count + 1 \
             WHERE secret_hash = ? AND uses_count < uses_allowed AND revoked = 0 AND expires_at > ? \
             RETURNING {TOKEN_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(secret_hash)
            .bind(millis(now))
            .fetch_optional(&self.writer)
            .await?;
        if let Some(row) = row {
            return Ok(TokenConsumption::Consumed(token_from_row(&row)?));
        }
        // Diagnosis only; the decision above was atomic.
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM enrollment_tokens WHERE secret_hash = ?");
        let Some(row) = sqlx::query(&sql)
            .bind(secret_hash)
            .fetch_optional(&self.writer)
            .await?
        else {
            return Ok(TokenConsumption::Unknown);
        };
        let token = token_from_row(&row)?;
        Ok(if token.revoked {
            TokenConsumption::Revoked
        } else if token.expires_at <= now {
            TokenConsumption::Expired
        } else {
            TokenConsumption::Exhausted
        })
    }

    async fn create_api_key(&self, key: &NewApiKey) -> StorageResult<()> {
        sqlx::query("INSERT INTO api_keys (id, key_hash, role, label, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&key.id)
            .bind(&key.key_hash)
            .bind(key.role.as_str())
            .bind(&key.label)
            .bind(millis(key.created_at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn find_api_key(&self, key_hash: &str) -> StorageResult<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, role, label, created_at FROM api_keys WHERE key_hash = ? AND revoked = 0",
        )
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| {
            Ok(ApiKey {
                id: row.try_get("id")?,
                role: row.try_get::<String, _>("role")?.parse()?,
                label: row.try_get("label")?,
                created_at: time_col(&row, "created_at")?,
            })
        })
        .transpose()
    }

    async fn create_user(&self, user: &NewUser) -> StorageResult<UserCreation> {
        // No conflict target: the only unique constraint a new UUID can hit is the
        // expression index on lower(username).
        let sql = format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING \
             RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&user.id)
            .bind(&user.username)
            .bind(&user.display_name)
            .bind(user.role.as_str())
            .bind(&user.password_hash.0)
            .bind(millis(user.created_at))
            .fetch_optional(&self.writer)
            .await?;
        match row {
            Some(row) => Ok(UserCreation::Created(user_from_row(&row)?)),
            None => Ok(UserCreation::UsernameTaken),
        }
    }

    async fn find_user_by_username(&self, username: &str) -> StorageResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower(?)");
        let row = sqlx::query(&sql)
            .bind(username)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_user(&self, user_id: &str) -> StorageResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(user_id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self) -> StorageResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY lower(username)");
        let rows = sqlx::query(&sql).fetch_all(&self.reader).await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn record_certificate(&self, certificate: &CertificateRecord) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO certificates (serial, agent_id, not_before, not_after, revoked_at, reason) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&certificate.serial)
        .bind(&certificate.agent_id)
        .bind(millis(certificate.not_before))
        .bind(millis(certificate.not_after))
        .bind(certificate.revoked_at.map(millis))
        .bind(&certificate.reason)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_certificate(&self, serial: &str) -> StorageResult<Option<CertificateRecord>> {
        let row = sqlx::query("SELECT * FROM certificates WHERE serial = ?")
            .bind(serial)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(certificate_from_row).transpose()
    }

    async fn revoke_certificate(
        &self,
        serial: &str,
        reason: &str,
        at: OffsetDateTime,
    ) -> StorageResult<bool> {
        let done = sqlx::query(
            "UPDATE certificates SET revoked_at = ?, reason = ? WHERE serial = ? AND revoked_at IS NULL",
        )
        .bind(millis(at))
        .bind(reason)
        .bind(serial)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_agent_certificates(
        &self,
        agent_id: &str,
        reason: &str,
        at: OffsetDateTime,
    ) -> StorageResult<u64> {
        let done = sqlx::query(
            "UPDATE certificates SET revoked_at = ?, reason = ? WHERE agent_id = ? AND revoked_at IS NULL",
        )
        .bind(millis(at))
        .bind(reason)
        .bind(agent_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn list_revoked_certificates(&self, now: OffsetDateTime) -> StorageResult<Vec<CertificateRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM certificates WHERE revoked_at IS NOT NULL AND not_after > ? ORDER BY revoked_at, serial",
        )
        .bind(millis(now))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(certificate_from_row).collect()
    }

    async fn mark_ott_used(&self, jti: &str, expires_at: OffsetDateTime) -> StorageResult<bool> {
        let done =
            sqlx::query("INSERT INTO used_otts (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING")
                .bind(jti)
                .bind(millis(expires_at))
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_expired_otts(&self, now: OffsetDateTime) -> StorageResult<u64> {
        let done = sqlx::query("DELETE FROM used_otts WHERE expires_at <= ?")
            .bind(millis(now))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    async fn create_policy_version(&self, new: &NewPolicyVersion) -> StorageResult<PolicyVersion> {
        let hash = sha256_hex(new.canonical_json.as_bytes());
        let created_at = truncate_to_millis(new.created_at);
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        // The counter row serialises concurrent creators of the same policy id.
        let version: i64 = sqlx::query(
            "INSERT INTO policies AS p (policy_id, os, latest_version, created_at) VALUES (?, ?, 1, ?) \
             ON CONFLICT (policy_id) DO UPDATE SET latest_version = p.latest_version + 1, os = excluded.os \
             RETURNING latest_version",
        )
        .bind(&new.policy_id)
        .bind(&new.os)
        .bind(millis(created_at))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        sqlx::query(
            "INSERT INTO policy_versions (policy_id, version, os, yaml_source, canonical_json, hash, author, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&new.policy_id)
        .bind(version)
        .bind(&new.os)
        .bind(&new.yaml_source)
        .bind(&new.canonical_json)
        .bind(&hash)
        .bind(&new.author)
        .bind(millis(created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(PolicyVersion {
            policy_id: new.policy_id.clone(),
            version,
            os: new.os.clone(),
            yaml_source: new.yaml_source.clone(),
            canonical_json: new.canonical_json.clone(),
            hash,
            author: new.author.clone(),
            created_at,
        })
    }

    async fn get_policy_version(
        &self,
        policy_id: &str,
        version: i64,
    ) -> StorageResult<Option<PolicyVersion>> {
        let sql = format!(
            "SELECT {POLICY_VERSION_COLUMNS} FROM policy_versions WHERE policy_id = ? AND version = ?"
        );
        let row = sqlx::query(&sql)
            .bind(policy_id)
            .bind(version)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(policy_version_from_row).transpose()
    }

    async fn find_policy_version_by_hash(
        &self,
        policy_id: &str,
        hash: &str,
    ) -> StorageResult<Option<PolicyVersion>> {
        let sql = format!(
            "SELECT {POLICY_VERSION_COLUMNS} FROM policy_versions WHERE policy_id = ? AND hash = ? \
             ORDER BY version DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(policy_id)
            .bind(hash)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(policy_version_from_row).transpose()
    }

    async fn list_policy_versions(&self, policy_id: &str) -> StorageResult<Vec<PolicyVersion>> {
        let sql = format!(
            "SELECT {POLICY_VERSION_COLUMNS} FROM policy_versions WHERE policy_id = ? ORDER BY version DESC"
        );
        let rows = sqlx::query(&sql).bind(policy_id).fetch_all(&self.reader).await?;
        rows.iter().map(policy_version_from_row).collect()
    }

    async fn list_policies(&self) -> StorageResult<Vec<PolicySummary>> {
        let rows = sqlx::query(
            "SELECT p.policy_id, p.os, p.latest_version, \
             (SELECT MAX(ap.version) FROM active_policies ap WHERE ap.policy_id = p.policy_id) AS active_version \
             FROM policies p ORDER BY p.policy_id",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PolicySummary {
                    policy_id: row.try_get("policy_id")?,
                    os: row.try_get("os")?,
                    latest_version: row.try_get("latest_version")?,
                    active_version: row.try_get("active_version")?,
                })
            })
            .collect()
    }

    async fn activate_policy_version(
        &self,
        policy_id: &str,
        version: i64,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let os: Option<String> =
            sqlx::query_scalar("SELECT os FROM policy_versions WHERE policy_id = ? AND version = ?")
                .bind(policy_id)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(os) = os else {
            return Err(StorageError::NotFound(format!(
                "policy {policy_id} version {version}"
            )));
        };
        sqlx::query(
            "INSERT INTO active_policies (os, policy_id, version, activated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (os) DO UPDATE SET policy_id = excluded.policy_id, version = excluded.version, \
             activated_at = excluded.activated_at",
        )
        .bind(&os)
        .bind(policy_id)
        .bind(version)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn active_policy(&self, os: &str) -> StorageResult<Option<PolicyVersion>> {
        let row = sqlx::query(
            "SELECT v.policy_id, v.version, v.os, v.yaml_source, v.canonical_json, v.hash, v.author, v.created_at \
             FROM active_policies ap JOIN policy_versions v ON v.policy_id = ap.policy_id AND v.version = ap.version \
             WHERE ap.os = ?",
        )
        .bind(os)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(policy_version_from_row).transpose()
    }

    async fn store_run(&self, run: &NewRun) -> StorageResult<StoreOutcome> {
        let counts = RunCounts::from_results(&run.results);
        let durations = run
            .results
            .iter()
            .map(|r| to_i64("duration_ms", r.duration_ms))
            .collect::<StorageResult<Vec<i64>>>()?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let inserted = sqlx::query(
            "INSERT INTO runs (run_id, agent_id, policy_id, policy_version, policy_hash, started_at, finished_at, \
             received_at, pass_count, fail_count, error_count, na_count, score) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(&run.run_id)
        .bind(&run.agent_id)
        .bind(&run.policy_id)
        .bind(run.policy_version)
        .bind(&run.policy_hash)
        .bind(millis(run.started_at))
        .bind(millis(run.finished_at))
        .bind(millis(run.received_at))
        .bind(counts.pass)
        .bind(counts.fail)
        .bind(counts.error)
        .bind(counts.not_applicable)
        .bind(counts.score)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(StoreOutcome::AlreadyStored);
        }

        let indexed: Vec<(usize, &RuleResult)> = run.results.iter().enumerate().collect();
        for chunk in indexed.chunks(RESULT_ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO check_results (run_id, position, rule_id, title, severity, status, expected, \
                 observed, reason, fix, duration_ms) ",
            );
            insert.push_values(chunk, |mut row, (position, result)| {
                row.push_bind(&run.run_id)
                    .push_bind(i64::try_from(*position).unwrap_or(i64::MAX))
                    .push_bind(&result.rule_id)
                    .push_bind(&result.title)
                    .push_bind(result.severity.as_str())
                    .push_bind(result.status.as_str())
                    .push_bind(&result.expected)
                    .push_bind(&result.observed)
                    .push_bind(&result.reason)
                    .push_bind(&result.fix)
                    .push_bind(durations[*position]);
            });
            insert.build().execute(&mut *tx).await?;
        }

        // A late, spooled run with an older finished_at is history, not the latest state.
        sqlx::query(
            "INSERT INTO agent_latest AS l (agent_id, run_id, policy_id, policy_version, policy_hash, finished_at, \
             pass_count, fail_count, error_count, na_count, score, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (agent_id) DO UPDATE SET run_id = excluded.run_id, policy_id = excluded.policy_id, \
             policy_version = excluded.policy_version, policy_hash = excluded.policy_hash, \
             finished_at = excluded.finished_at, pass_count = excluded.pass_count, \
             fail_count = excluded.fail_count, error_count = excluded.error_count, na_count = excluded.na_count, \
             score = excluded.score, updated_at = excluded.updated_at \
             WHERE excluded.finished_at >= l.finished_at",
        )
        .bind(&run.agent_id)
        .bind(&run.run_id)
        .bind(&run.policy_id)
        .bind(run.policy_version)
        .bind(&run.policy_hash)
        .bind(millis(run.finished_at))
        .bind(counts.pass)
        .bind(counts.fail)
        .bind(counts.error)
        .bind(counts.not_applicable)
        .bind(counts.score)
        .bind(millis(run.received_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE agents SET last_seen = max(last_seen, ?) WHERE id = ?")
            .bind(millis(run.received_at))
            .bind(&run.agent_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(StoreOutcome::Stored)
    }

    async fn list_runs(&self, agent_id: &str, page: PageRequest) -> StorageResult<Page<RunSummary>> {
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM runs WHERE agent_id = ?")
            .bind(agent_id)
            .fetch_one(&self.reader)
            .await?
            .try_get(0)?;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE agent_id = ? ORDER BY finished_at DESC, run_id LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query(&sql)
            .bind(agent_id)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.reader)
            .await?;
        let items = rows.iter().map(run_from_row).collect::<StorageResult<_>>()?;
        Ok(Page::of(items, total, page))
    }

    async fn get_run(&self, run_id: &str) -> StorageResult<Option<RunSummary>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?");
        let row = sqlx::query(&sql)
            .bind(run_id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn run_results(&self, run_id: &str) -> StorageResult<Vec<RuleResult>> {
        let rows = sqlx::query(
            "SELECT rule_id, title, severity, status, expected, observed, reason, fix, duration_ms \
             FROM check_results WHERE run_id = ? ORDER BY position",
        )
        .bind(run_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RuleResult {
                    rule_id: row.try_get("rule_id")?,
                    title: row.try_get("title")?,
                    severity: parse_severity(row.try_get("severity")?)?,
                    status: parse_status(row.try_get("status")?)?,
                    expected: row.try_get("expected")?,
                    observed: row.try_get("observed")?,
                    reason: row.try_get("reason")?,
                    fix: row.try_get("fix")?,
                    duration_ms: u64::try_from(row.try_get::<i64, _>("duration_ms")?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn latest_state(&self, agent_id: &str) -> StorageResult<Option<LatestState>> {
        let sql = format!("SELECT {LATEST_COLUMNS} FROM agent_latest l WHERE l.agent_id = ?");
        let row = sqlx::query(&sql)
            .bind(agent_id)
            .fetch_optional(&self.reader)
            .await?;
        match row {
            Some(row) => latest_from_joined_row(&row, agent_id),
            None => Ok(None),
        }
    }

    async fn purge_runs_before(&self, cutoff: OffsetDateTime) -> StorageResult<u64> {
        let mut deleted = 0;
        loop {
            // check_results rows go with their run (ON DELETE CASCADE).
            let done = sqlx::query(
                "DELETE FROM runs WHERE run_id IN (SELECT r.run_id FROM runs r WHERE r.received_at < ? \
                 AND NOT EXISTS (SELECT 1 FROM agent_latest l WHERE l.run_id = r.run_id) LIMIT ?)",
            )
            .bind(millis(cutoff))
            .bind(PURGE_BATCH)
            .execute(&self.writer)
            .await?;
            deleted += done.rows_affected();
            if done.rows_affected() == 0 {
                return Ok(deleted);
            }
        }
    }

    async fn get_setting(&self, key: &str) -> StorageResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.reader)
            .await?)
    }

    async fn set_setting(&self, key: &str, value: &str, now: OffsetDateTime) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(millis(now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn append_audit(&self, entry: &NewAuditEntry) -> StorageResult<i64> {
        let id = sqlx::query_scalar(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(millis(entry.at))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(entry.detail.to_string())
        .fetch_one(&self.writer)
        .await?;
        Ok(id)
    }

    async fn list_audit(&self, page: PageRequest) -> StorageResult<Page<AuditEntry>> {
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log")
            .fetch_one(&self.reader)
            .await?
            .try_get(0)?;
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT ? OFFSET ?",
        )
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&self.reader)
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: time_col(row, "at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    detail: serde_json::from_str(&detail).map_err(|_| StorageError::Corrupt {
                        column: "audit_log.detail",
                        value: detail.clone(),
                    })?,
                })
            })
            .collect::<StorageResult<_>>()?;
        Ok(Page::of(items, total, page))
    }
}
