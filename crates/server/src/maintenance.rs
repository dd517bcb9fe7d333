//! Housekeeping every instance does in the background: dropping runs older than the
//! retention setting (a host's latest run is always kept) and one-time-token ids that can
//! no longer be replayed. Deletes are idempotent, so several instances may run it at once.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

use crate::storage::ServerSettings;
use crate::storage::{Storage, StorageResult};

/// Often enough that retention is never more than an hour late; rare enough to cost nothing.
pub const INTERVAL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub runs: u64,
    pub one_time_tokens: u64,
}

/// One pass, with the retention period read from the settings at that moment.
pub async fn run_once(storage: &dyn Storage, now: OffsetDateTime) -> StorageResult<Purged> {
    let settings = ServerSettings::load(storage).await?;
    let days = i64::try_from(settings.retention_days).unwrap_or(i64::MAX);
    let cutoff = now - time::Duration::days(days);
    let runs = storage.purge_runs_before(cutoff).await?;
    let one_time_tokens = storage.purge_expired_otts(now).await?;
    Ok(Purged {
        runs,
        one_time_tokens,
    })
}

/// Runs a pass at start and then every [`INTERVAL`] until shutdown.
pub async fn run(storage: Arc<dyn Storage>, mut shutdown: watch::Receiver<bool>) {
    loop {
        match run_once(storage.as_ref(), OffsetDateTime::now_utc()).await {
            Ok(p) if p.runs > 0 || p.one_time_tokens > 0 => {
                tracing::info!(
                    runs = p.runs,
                    one_time_tokens = p.one_time_tokens,
                    "retention purge"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention purge failed; retrying at the next interval"),
        }
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
    }
}
