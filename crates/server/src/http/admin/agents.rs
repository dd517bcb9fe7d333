//! `/agents`: enrolled agents as identities (versions, machine id, status) and their
//! revocation. The compliance view of the same records is `/hosts`.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::auth::{Admin, Authorized, Read};
use super::error::{parse_json_body, ApiFailure, ApiResult, Body, Path, Query};
use super::pagination::{ListParams, Paginated};
use super::{record_audit, timestamp, Ctx};
use crate::storage::{Agent, AgentStatus, HostQuery, HostSort, ServerSettings, SortDirection};

#[derive(Debug, Serialize)]
pub struct AgentView {
    pub id: String,
    pub hostname: String,
    pub machine_id: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub agent_version: String,
    pub enrolled_at: String,
    pub last_seen: String,
    pub online: bool,
    /// `active` or `revoked`.
    pub status: &'static str,
    /// What the agent last reported about itself in a heartbeat (`idle`, `auditing`...);
    /// null before its first heartbeat.
    pub reported_status: Option<String>,
}

impl AgentView {
    fn new(agent: Agent, online_since: OffsetDateTime) -> Self {
        Self {
            online: agent.last_seen >= online_since,
            enrolled_at: timestamp(agent.enrolled_at),
            last_seen: timestamp(agent.last_seen),
            status: agent.status.as_str(),
            id: agent.id,
            hostname: agent.hostname,
            machine_id: agent.machine_id,
            os: agent.os,
            os_version: agent.os_version,
            arch: agent.arch,
            agent_version: agent.agent_version,
            reported_status: agent.reported_status,
        }
    }
}

pub(crate) const AGENT_SORT_FIELDS: &[(&str, HostSort)] = &[
    ("hostname", HostSort::Hostname),
    ("os", HostSort::Os),
    ("last_seen", HostSort::LastSeen),
    ("enrolled_at", HostSort::EnrolledAt),
];

/// `GET /agents`: `search` (hostname substring) and `os` filters.
pub async fn list(
    _auth: Authorized<Read>,
    State(ctx): State<Ctx>,
    Query(params): Query<ListParams>,
) -> ApiResult<axum::Json<Paginated<AgentView>>> {
    let settings = ServerSettings::load(ctx.storage.as_ref()).await?;
    let online_since = settings.online_since(OffsetDateTime::now_utc());
    let mut query = HostQuery::new(online_since);
    query.page = params.page()?;
    (query.sort, query.direction) =
        params.sort(AGENT_SORT_FIELDS, (HostSort::Hostname, SortDirection::Ascending))?;
    query.search = params.search.clone();
    query.os = params.os.clone();
    let page = ctx.storage.list_hosts(&query).await?;
    Ok(axum::Json(Paginated::from_page(page, |host| {
        AgentView::new(host.agent, online_since)
    })))
}

/// `GET /agents/{id}`.
pub async fn show(
    _auth: Authorized<Read>,
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AgentView>> {
    let agent = ctx
        .storage
        .get_agent(&id)
        .await?
        .ok_or_else(|| ApiFailure::NotFound(format!("agent {id}")))?;
    let settings = ServerSettings::load(ctx.storage.as_ref()).await?;
    let online_since = settings.online_since(OffsetDateTime::now_utc());
    Ok(axum::Json(AgentView::new(agent, online_since)))
}

/// Optional body of `POST /agents/{id}/revoke`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// An RFC 5280 reason name as the CRL knows it; default `cessation_of_operation`.
    pub reason: Option<String>,
}

/// The reasons the CRL encoder understands (see `ca::crl`); anything else would be
/// silently dropped from the CRL, so it is refused here.
const REVOCATION_REASONS: &[&str] = &[
    "unspecified",
    "key_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "privilege_withdrawn",
];

#[derive(Debug, Serialize)]
pub struct RevokeResponse {
    pub agent_id: String,
    pub status: &'static str,
    /// Certificates revoked by this call (0 when repeated).
    pub certificates_revoked: u64,
    pub reason: String,
}

/// `POST /agents/{id}/revoke` (admin): marks the agent revoked and revokes every
/// certificate it holds, then lets the runtime refresh the CRL. Repeating it is harmless
/// and also catches a certificate issued in between.
pub async fn revoke(
    auth: Authorized<Admin>,
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<axum::Json<RevokeResponse>> {
    let request = if body.is_empty() {
        RevokeRequest::default()
    } else {
        parse_json_body::<RevokeRequest>(&headers, &body)?
    };
    let reason = request
        .reason
        .unwrap_or_else(|| "cessation_of_operation".to_string());
    if !REVOCATION_REASONS.contains(&reason.as_str()) {
        return Err(ApiFailure::bad_request(format!(
            "reason: must be one of {}",
            REVOCATION_REASONS.join(", ")
        )));
    }
    // Status first: from this point the agent API refuses the agent even if revoking a
    // certificate below fails, and a retry of this call completes the job.
    if !ctx.storage.set_agent_status(&id, AgentStatus::Revoked).await? {
        return Err(ApiFailure::NotFound(format!("agent {id}")));
    }
    let now = OffsetDateTime::now_utc();
    let certificates_revoked = ctx.storage.revoke_agent_certificates(&id, &reason, now).await?;
    if let Some(hook) = &ctx.revocation_hook {
        hook(&id);
    }
    record_audit(
        &ctx,
        &auth.principal,
        "agent.revoke",
        &id,
        serde_json::json!({"reason": reason, "certificates_revoked": certificates_revoked}),
    )
    .await?;
    Ok(axum::Json(RevokeResponse {
        agent_id: id,
        status: AgentStatus::Revoked.as_str(),
        certificates_revoked,
        reason,
    }))
}
