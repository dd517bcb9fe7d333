//! `/settings`: audit interval, jitter and retention, validated by
//! [`ServerSettings::validate`] (shared with the agent API, which hands interval and
//! jitter to agents).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::auth::{Admin, Authorized, Read};
use super::error::{ApiFailure, ApiResult, Json};
use super::{record_audit, Ctx};
use crate::storage::ServerSettings;

#[derive(Debug, Serialize)]
pub struct SettingsView {
    pub audit_interval_seconds: u64,
    pub jitter_seconds: u64,
    pub retention_days: u64,
}

impl From<ServerSettings> for SettingsView {
    fn from(settings: ServerSettings) -> Self {
        Self {
            audit_interval_seconds: settings.audit_interval_seconds,
            jitter_seconds: settings.jitter_seconds,
            retention_days: settings.retention_days,
        }
    }
}

/// `PUT /settings` body. Omitted fields keep their current value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub audit_interval_seconds: Option<u64>,
    pub jitter_seconds: Option<u64>,
    pub retention_days: Option<u64>,
}

/// `GET /settings`.
pub async fn show(_auth: Authorized<Read>, State(ctx): State<Ctx>) -> ApiResult<axum::Json<SettingsView>> {
    let settings = ServerSettings::load(ctx.storage.as_ref()).await?;
    Ok(axum::Json(settings.into()))
}

/// `PUT /settings` (admin). The merged result is validated as a whole (jitter is bounded
/// by the interval), so a request that is only valid together with the current values is
/// judged against them.
pub async fn update(
    auth: Authorized<Admin>,
    State(ctx): State<Ctx>,
    Json(request): Json<UpdateRequest>,
) -> ApiResult<axum::Json<SettingsView>> {
    let before = ServerSettings::load(ctx.storage.as_ref()).await?;
    let after = ServerSettings {
        audit_interval_seconds: request
            .audit_interval_seconds
            .unwrap_or(before.audit_interval_seconds),
        jitter_seconds: request.jitter_seconds.unwrap_or(before.jitter_seconds),
        retention_days: request.retention_days.unwrap_or(before.retention_days),
    };
    after
        .validate()
        .map_err(|err| ApiFailure::bad_request(err.to_string()))?;
    after
        .save(ctx.storage.as_ref(), OffsetDateTime::now_utc())
        .await?;
    record_audit(
        &ctx,
        &auth.principal,
        "settings.update",
        "settings",
        serde_json::json!({
            "before": SettingsView::from(before),
            "after": SettingsView::from(after),
        }),
    )
    .await?;
    Ok(axum::Json(after.into()))
}
