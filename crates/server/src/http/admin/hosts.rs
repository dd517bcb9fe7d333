//! `/hosts`: the compliance view of each agent (a host's id is its agent id), read from
//! the per-agent latest state so listing never touches check results.

use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;
use vt_policy::RuleResult;

use super::auth::{Authorized, Read};
use super::error::{ApiFailure, ApiResult, Path, Query};
use super::pagination::{ListParams, Paginated};
use super::{timestamp, Ctx};
use crate::storage::{
    HostQuery, HostSort, HostSummary, OnlineFilter, RunSummary, ServerSettings, SortDirection,
};

#[derive(Debug, Serialize)]
pub struct HostView {
    pub id: String,
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub last_seen: String,
    pub online: bool,
    /// Agent status: `active` or `revoked`.
    pub status: &'static str,
    /// The agent's own status from its latest heartbeat; null before the first.
    pub reported_status: Option<String>,
    /// The policy of the latest run; null until the host reports.
    pub policy_id: Option<String>,
    /// Null for a run against a policy the server does not know (e.g. a local file).
    pub policy_version: Option<i64>,
    pub policy_hash: Option<String>,
    pub last_run_at: Option<String>,
    pub pass: i64,
    pub fail: i64,
    pub error: i64,
    pub not_applicable: i64,
    /// Percentage of applicable rules passed in the latest run; null until it reports.
    pub score: Option<f64>,
}

impl HostView {
    fn new(host: HostSummary, online_since: OffsetDateTime) -> Self {
        let agent = host.agent;
        let latest = host.latest;
        let counts = latest.as_ref().map(|l| l.counts).unwrap_or_default();
        Self {
            online: agent.last_seen >= online_since,
            last_seen: timestamp(agent.last_seen),
            status: agent.status.as_str(),
            id: agent.id,
            hostname: agent.hostname,
            os: agent.os,
            os_version: agent.os_version,
            reported_status: agent.reported_status,
            policy_id: latest.as_ref().map(|l| l.policy_id.clone()),
            policy_version: latest.as_ref().and_then(|l| l.policy_version),
            policy_hash: latest.as_ref().map(|l| l.policy_hash.clone()),
            last_run_at: latest.as_ref().map(|l| timestamp(l.finished_at)),
            pass: counts.pass,
            fail: counts.fail,
            error: counts.error,
            not_applicable: counts.not_applicable,
            score: latest.as_ref().map(|l| l.counts.score),
        }
    }
}

const HOST_SORT_FIELDS: &[(&str, HostSort)] = &[
    ("hostname", HostSort::Hostname),
    ("os", HostSort::Os),
    ("last_seen", HostSort::LastSeen),
    ("enrolled_at", HostSort::EnrolledAt),
    ("score", HostSort::Score),
    ("fail", HostSort::Failed),
];

/// `GET /hosts`: filters `search` (hostname substring), `status` (online|offline), `os`.
pub async fn list(
    _auth: Authorized<Read>,
    State(ctx): State<Ctx>,
    Query(params): Query<ListParams>,
) -> ApiResult<axum::Json<Paginated<HostView>>> {
    let settings = ServerSettings::load(ctx.storage.as_ref()).await?;
    let online_since = settings.online_since(OffsetDateTime::now_utc());
    let mut query = HostQuery::new(online_since);
    query.page = params.page()?;
    (query.sort, query.direction) =
        params.sort(HOST_SORT_FIELDS, (HostSort::Hostname, SortDirection::Ascending))?;
    query.search = params.search.clone().filter(|s| !s.is_empty());
    query.os = params.os.clone().filter(|s| !s.is_empty());
    query.online = match params.status.as_deref() {
        None | Some("") => None,
        Some("online") => Some(OnlineFilter::Online),
        Some("offline") => Some(OnlineFilter::Offline),
        Some(_) => return Err(ApiFailure::bad_request("status: must be online or offline")),
    };
    let page = ctx.storage.list_hosts(&query).await?;
    Ok(axum::Json(Paginated::from_page(page, |host| {
        HostView::new(host, online_since)
    })))
}

#[derive(Debug, Serialize)]
pub struct RunView {
    pub run_id: String,
    pub policy_id: String,
    pub policy_version: Option<i64>,
    pub policy_hash: String,
    pub started_at: String,
    pub finished_at: String,
    pub received_at: String,
    pub pass: i64,
    pub fail: i64,
    pub error: i64,
    pub not_applicable: i64,
    pub score: f64,
}

impl From<RunSummary> for RunView {
    fn from(run: RunSummary) -> Self {
        Self {
            run_id: run.run_id,
            policy_id: run.policy_id,
            policy_version: run.policy_version,
            policy_hash: run.policy_hash,
            started_at: timestamp(run.started_at),
            finished_at: timestamp(run.finished_at),
            received_at: timestamp(run.received_at),
            pass: run.counts.pass,
            fail: run.counts.fail,
            error: run.counts.error,
            not_applicable: run.counts.not_applicable,
            score: run.counts.score,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LatestResults {
    pub host_id: String,
    /// Null until the host has reported.
    pub run: Option<RunView>,
    /// In rule order (the order the agent evaluated the policy).
    pub results: Vec<RuleResult>,
}

/// `GET /hosts/{id}/results`: the latest run and its results.
pub async fn results(
    _auth: Authorized<Read>,
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<LatestResults>> {
    require_host(&ctx, &id).await?;
    let Some(latest) = ctx.storage.latest_state(&id).await? else {
        return Ok(axum::Json(LatestResults {
            host_id: id,
            run: None,
            results: Vec::new(),
        }));
    };
    // The latest run is never purged by retention, so it exists; a missing row means the
    // database was edited by hand, reported as an internal error.
    let run =
        ctx.storage.get_run(&latest.run_id).await?.ok_or_else(|| {
            ApiFailure::Internal(format!("latest run {} of {id} is missing", latest.run_id))
        })?;
    let results = ctx.storage.run_results(&latest.run_id).await?;
    Ok(axum::Json(LatestResults {
        host_id: id,
        run: Some(run.into()),
        results,
    }))
}

/// `GET /hosts/{id}/runs`: newest first.
pub async fn runs(
    _auth: Authorized<Read>,
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> ApiResult<axum::Json<Paginated<RunView>>> {
    let page = params.page()?;
    params.fixed_order("finished_at", SortDirection::Descending)?;
    require_host(&ctx, &id).await?;
    let runs = ctx.storage.list_runs(&id, page).await?;
    Ok(axum::Json(Paginated::from_page(runs, RunView::from)))
}

/// 404 for an unknown host, so an empty result is never ambiguous.
async fn require_host(ctx: &Ctx, id: &str) -> ApiResult<()> {
    match ctx.storage.get_agent(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiFailure::NotFound(format!("host {id}"))),
    }
}
