//! Typed view of the `settings` key/value table. Both the agent API (interval and jitter
//! handed to agents) and the admin API (online window, `PUT /settings`) read it through
//! this one type, so the key names, defaults and bounds cannot drift between them.

use time::{Duration, OffsetDateTime};

use super::{Storage, StorageError, StorageResult};

pub const SETTING_AUDIT_INTERVAL: &str = "audit_interval_seconds";
pub const SETTING_JITTER: &str = "jitter_seconds";
pub const SETTING_RETENTION_DAYS: &str = "retention_days";

/// Bounds enforced on write. A minute is the shortest interval that keeps 100,000 agents
/// within the ingest budget; a week the longest that still makes "online" meaningful.
pub const MIN_AUDIT_INTERVAL_SECONDS: u64 = 60;
pub const MAX_AUDIT_INTERVAL_SECONDS: u64 = 7 * 86_400;
pub const MIN_RETENTION_DAYS: u64 = 1;
pub const MAX_RETENTION_DAYS: u64 = 3_650;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    pub audit_interval_seconds: u64,
    /// Random delay in `[0, jitter]` added by agents so a fleet does not report in lockstep.
    pub jitter_seconds: u64,
    /// Runs older than this are purged (each agent's latest run is always kept).
    pub retention_days: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            audit_interval_seconds: 3_600,
            jitter_seconds: 300,
            retention_days: 90,
        }
    }
}

/// Why a settings value was refused; the message names the field and the allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    pub field: &'static str,
    pub message: String,
}

impl ServerSettings {
    /// Reads every setting, falling back to the default for keys never written.
    pub async fn load(storage: &dyn Storage) -> StorageResult<Self> {
        let defaults = Self::default();
        Ok(Self {
            audit_interval_seconds: read(storage, SETTING_AUDIT_INTERVAL, defaults.audit_interval_seconds)
                .await?,
            jitter_seconds: read(storage, SETTING_JITTER, defaults.jitter_seconds).await?,
            retention_days: read(storage, SETTING_RETENTION_DAYS, defaults.retention_days).await?,
        })
    }

    /// Writes every setting. Callers validate first; this only persists.
    pub async fn save(&self, storage: &dyn Storage, now: OffsetDateTime) -> StorageResult<()> {
        storage
            .set_setting(
                SETTING_AUDIT_INTERVAL,
                &self.audit_interval_seconds.to_string(),
                now,
            )
            .await?;
        storage
            .set_setting(SETTING_JITTER, &self.jitter_seconds.to_string(), now)
            .await?;
        storage
            .set_setting(SETTING_RETENTION_DAYS, &self.retention_days.to_string(), now)
            .await
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(MIN_AUDIT_INTERVAL_SECONDS..=MAX_AUDIT_INTERVAL_SECONDS).contains(&self.audit_interval_seconds) {
            return Err(SettingsError {
                field: SETTING_AUDIT_INTERVAL,
                message: format!(
                    "must be between {MIN_AUDIT_INTERVAL_SECONDS} and {MAX_AUDIT_INTERVAL_SECONDS}"
                ),
            });
        }
        // More jitter than interval would let consecutive runs overlap or invert.
        if self.jitter_seconds > self.audit_interval_seconds {
            return Err(SettingsError {
                field: SETTING_JITTER,
                message: format!(
                    "must be between 0 and the audit interval ({})",
                    self.audit_interval_seconds
                ),
            });
        }
        if !(MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&self.retention_days) {
            return Err(SettingsError {
                field: SETTING_RETENTION_DAYS,
                message: format!("must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS}"),
            });
        }
        Ok(())
    }

    /// An agent counts as online when seen within two intervals plus the jitter: one
    /// missed report is tolerated, two are not.
    pub fn online_window(&self) -> Duration {
        let seconds = self
            .audit_interval_seconds
            .saturating_mul(2)
            .saturating_add(self.jitter_seconds);
        Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX))
    }

    /// The `last_seen` threshold for "online" at `now`.
    pub fn online_since(&self, now: OffsetDateTime) -> OffsetDateTime {
        now.checked_sub(self.online_window())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

async fn read(storage: &dyn Storage, key: &'static str, default: u64) -> StorageResult<u64> {
    match storage.get_setting(key).await? {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| StorageError::Corrupt {
            column: key,
            value: text,
        }),
    }
}
