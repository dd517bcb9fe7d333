//! `/policies`: upload (validated by vt-policy), immutable versions, activation per OS.
//!
//! A version is content-addressed: uploading a policy whose canonical form equals an
//! existing version of the same policy id returns that version (200) instead of creating
//! a duplicate (201), so re-running an import script is harmless.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::auth::{Admin, Authorized, Read};
use super::error::{is_json, media_type, ApiFailure, ApiResult, Body, Path, PolicyDiagnostic, Query};
use super::pagination::{ListParams, Paginated};
use super::{record_audit, timestamp, Ctx};
use crate::storage::{NewPolicyVersion, PolicySummary, PolicyVersion, SortDirection, StorageError};

#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    pub policy_id: String,
    pub os: String,
    pub latest_version: i64,
    /// The version agents of this OS currently receive, if it belongs to this policy.
    pub active_version: Option<i64>,
}

impl From<PolicySummary> for PolicyView {
    fn from(summary: PolicySummary) -> Self {
        Self {
            policy_id: summary.policy_id,
            os: summary.os,
            latest_version: summary.latest_version,
            active_version: summary.active_version,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum PolicySort {
    Id,
    Os,
    LatestVersion,
}

const POLICY_SORT_FIELDS: &[(&str, PolicySort)] = &[
    ("policy_id", PolicySort::Id),
    ("os", PolicySort::Os),
    ("latest_version", PolicySort::LatestVersion),
];

/// `GET /policies`. Policies number in the tens, so storage returns them whole and they
/// are sorted and paged here.
pub async fn list(
    _auth: Authorized<Read>,
    State(ctx): State<Ctx>,
    Query(params): Query<ListParams>,
) -> ApiResult<axum::Json<Paginated<PolicyView>>> {
    let page = params.page()?;
    let (sort, direction) = params.sort(POLICY_SORT_FIELDS, (PolicySort::Id, SortDirection::Ascending))?;
    let mut policies: Vec<PolicyView> = ctx
        .storage
        .list_policies()
        .await?
        .into_iter()
        .map(PolicyView::from)
        .collect();
    policies.sort_by(|a, b| {
        let order = match sort {
            PolicySort::Id => a.policy_id.cmp(&b.policy_id),
            PolicySort::Os => a.os.cmp(&b.os).then_with(|| a.policy_id.cmp(&b.policy_id)),
            PolicySort::LatestVersion => a
                .latest_version
                .cmp(&b.latest_version)
                .then_with(|| a.policy_id.cmp(&b.policy_id)),
        };
        match direction {
            SortDirection::Ascending => order,
            SortDirection::Descending => order.reverse(),
        }
    });
    Ok(axum::Json(Paginated::from_vec(policies, page)))
}

/// A version without its (large) sources.
#[derive(Debug, Serialize)]
pub struct VersionView {
    pub policy_id: String,
    pub version: i64,
    pub os: String,
    pub hash: String,
    pub author: String,
    pub created_at: String,
    pub active: bool,
}

impl VersionView {
    fn new(version: &PolicyVersion, active_version: Option<i64>) -> Self {
        Self {
            policy_id: version.policy_id.clone(),
            version: version.version,
            os: version.os.clone(),
            hash: version.hash.clone(),
            author: version.author.clone(),
            created_at: timestamp(version.created_at),
            active: active_version == Some(version.version),
        }
    }
}

/// One version in full.
#[derive(Debug, Serialize)]
pub struct VersionDetail {
    #[serde(flatten)]
    pub summary: VersionView,
    /// The source as uploaded.
    pub yaml: String,
    /// Exactly the bytes agents receive; `hash` is their SHA-256.
    pub canonical_json: String,
}

/// `POST /policies` query.
#[derive(Debug, Default, Deserialize)]
pub struct CreateParams {
    pub activate: Option<bool>,
}

/// `POST /policies` JSON body (the alternative to a raw YAML body).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub yaml: String,
    #[serde(default)]
    pub activate: bool,
}

#[derive(Debug, Serialize)]
pub struct CreateResponse {
    #[serde(flatten)]
    pub version: VersionView,
    /// False when an identical version already existed and was returned instead.
    pub created: bool,
}

const YAML_MEDIA_TYPES: &[&str] = &[
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
];

/// `POST /policies` (admin): YAML body, or JSON `{yaml, activate}`; `?activate=true`
/// also activates the version for its OS.
pub async fn create(
    auth: Authorized<Admin>,
    State(ctx): State<Ctx>,
    Query(params): Query<CreateParams>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<(StatusCode, axum::Json<CreateResponse>)> {
    let media = media_type(&headers);
    let (yaml, activate_in_body) = if media
        .as_deref()
        .is_some_and(|media| YAML_MEDIA_TYPES.contains(&media))
    {
        let text = String::from_utf8(body.to_vec())
            .map_err(|_| ApiFailure::bad_request("the policy is not UTF-8 text"))?;
        (text, false)
    } else if is_json(&headers) {
        let request: CreateRequest = serde_json::from_slice(&body)
            .map_err(|err| ApiFailure::bad_request(format!("invalid JSON body: {err}")))?;
        (request.yaml, request.activate)
    } else {
        return Err(ApiFailure::UnsupportedMediaType(
            "expected Content-Type: application/yaml, text/yaml or application/json".into(),
        ));
    };
    let activate = activate_in_body || params.activate.unwrap_or(false);

    let policy = vt_policy::parse_policy(&yaml).map_err(|err| {
        ApiFailure::InvalidPolicy(
            err.diagnostics
                .into_iter()
                .map(|d| PolicyDiagnostic {
                    line: d.location.line,
                    column: d.location.column,
                    rule_id: d.rule_id,
                    message: d.message,
                })
                .collect(),
        )
    })?;
    let policy_id = policy.meta.id.clone();
    let canonical_json = vt_policy::canonical::canonical_json(&policy);
    let hash = vt_policy::canonical::sha256_hex(canonical_json.as_bytes());

    let (stored, created) = match ctx.storage.find_policy_version_by_hash(&policy_id, &hash).await? {
        Some(existing) => (existing, false),
        None => {
            let stored = ctx
                .storage
                .create_policy_version(&NewPolicyVersion {
                    policy_id: policy_id.clone(),
                    os: policy.meta.os.as_str().to_string(),
                    yaml_source: yaml,
                    canonical_json,
                    author: auth.principal.actor(),
                    created_at: OffsetDateTime::now_utc(),
                })
                .await?;
            record_audit(
                &ctx,
                &auth.principal,
                "policy.create",
                &format!("{}@{}", stored.policy_id, stored.version),
                serde_json::json!({"version": stored.version, "os": stored.os, "hash": stored.hash}),
            )
            .await?;
            (stored, true)
        }
    };
    if activate {
        activate_version(&ctx, &auth, &stored).await?;
    }
    let active_version = active_version_of(&ctx, &policy_id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(CreateResponse {
            version: VersionView::new(&stored, active_version),
            created,
        }),
    ))
}

/// `GET /policies/{id}/versions`: newest first (or `order=asc`).
pub async fn versions(
    _auth: Authorized<Read>,
    State(ctx): State<Ctx>,
    Path(policy_id): Path<String>,
    Query(params): Query<ListParams>,
) -> ApiResult<axum::Json<Paginated<VersionView>>> {
    let page = params.page()?;
    let (_, direction) = params.sort(&[("version", ())], ((), SortDirection::Descending))?;
    let mut versions = ctx.storage.list_policy_versions(&policy_id).await?;
    if versions.is_empty() {
        return Err(ApiFailure::NotFound(format!("policy {policy_id}")));
    }
    if direction == SortDirection::Ascending {
        versions.reverse();
    }
    let active_version = active_version_of(&ctx, &policy_id).await?;
    let views = versions
        .iter()
        .map(|version| VersionView::new(version, active_version))
        .collect();
    Ok(axum::Json(Paginated::from_vec(views, page)))
}

/// `GET /policies/{id}/versions/{version}`.
pub async fn version(
    _auth: Authorized<Read>,
    State(ctx): State<Ctx>,
    Path((policy_id, version)): Path<(String, i64)>,
) -> ApiResult<axum::Json<VersionDetail>> {
    let stored = find_version(&ctx, &policy_id, version).await?;
    let active_version = active_version_of(&ctx, &policy_id).await?;
    Ok(axum::Json(VersionDetail {
        summary: VersionView::new(&stored, active_version),
        yaml: stored.yaml_source,
        canonical_json: stored.canonical_json,
    }))
}

/// `POST /policies/{id}/versions/{version}/activate` (admin).
pub async fn activate(
    auth: Authorized<Admin>,
    State(ctx): State<Ctx>,
    Path((policy_id, version)): Path<(String, i64)>,
) -> ApiResult<axum::Json<VersionView>> {
    let stored = find_version(&ctx, &policy_id, version).await?;
    activate_version(&ctx, &auth, &stored).await?;
    Ok(axum::Json(VersionView::new(&stored, Some(stored.version))))
}

async fn find_version(ctx: &Ctx, policy_id: &str, version: i64) -> ApiResult<PolicyVersion> {
    ctx.storage
        .get_policy_version(policy_id, version)
        .await?
        .ok_or_else(|| ApiFailure::NotFound(format!("policy {policy_id} version {version}")))
}

async fn activate_version(ctx: &Ctx, auth: &Authorized<Admin>, version: &PolicyVersion) -> ApiResult<()> {
    match ctx
        .storage
        .activate_policy_version(&version.policy_id, version.version, OffsetDateTime::now_utc())
        .await
    {
        Ok(()) => {}
        Err(StorageError::NotFound(what)) => return Err(ApiFailure::NotFound(what)),
        Err(err) => return Err(err.into()),
    }
    record_audit(
        ctx,
        &auth.principal,
        "policy.activate",
        &format!("{}@{}", version.policy_id, version.version),
        serde_json::json!({"version": version.version, "os": version.os, "hash": version.hash}),
    )
    .await
}

async fn active_version_of(ctx: &Ctx, policy_id: &str) -> ApiResult<Option<i64>> {
    Ok(ctx
        .storage
        .list_policies()
        .await?
        .into_iter()
        .find(|p| p.policy_id == policy_id)
        .and_then(|p| p.active_version))
}
