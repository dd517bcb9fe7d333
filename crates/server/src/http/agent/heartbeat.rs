//! `POST /agent/v1/heartbeat`: updates last seen; answers with the audit interval and the
//! active policy hash so an agent knows when to refetch.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use time::OffsetDateTime;
use vt_wire::{Heartbeat, HeartbeatResponse};

use super::AgentState;
use crate::http::body;
use crate::http::error::{HttpError, HttpResult};
use crate::http::identity::AgentIdentity;
use crate::storage::ServerSettings;

pub async fn heartbeat(
    State(state): State<AgentState>,
    identity: AgentIdentity,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Json<HeartbeatResponse>> {
    let beat: Heartbeat = body::json(&headers, body, &body::SMALL).await?;
    beat.validate().map_err(|e| HttpError::from(&e))?;
    let agent = &identity.agent;
    // Stored trimmed; an empty status means the agent reports none.
    let reported_status = Some(beat.status.trim()).filter(|s| !s.is_empty());
    state
        .storage
        .record_heartbeat(
            &agent.id,
            &beat.agent_version,
            reported_status,
            OffsetDateTime::now_utc(),
        )
        .await?;
    let settings = ServerSettings::load(state.storage.as_ref()).await?;
    let policy_hash = state
        .storage
        .active_policy(&agent.os.to_ascii_lowercase())
        .await?
        .map(|p| p.hash);
    Ok(Json(HeartbeatResponse {
        interval_seconds: settings.audit_interval_seconds,
        jitter_seconds: settings.jitter_seconds,
        policy_hash,
    }))
}
