//! `/tokens`: enrollment tokens. The token text is returned once, by `POST`; only its
//! hash is stored, so neither listing nor the audit log can ever show it again.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::auth::{Admin, Authorized, Read};
use super::error::{ApiFailure, ApiResult, Json, Path, Query};
use super::pagination::{ListParams, Paginated};
use super::{record_audit, timestamp, Ctx};
use crate::secrets;
use crate::storage::{EnrollmentToken, NewEnrollmentToken, SortDirection};

pub const DEFAULT_TTL: Duration = Duration::hours(24);
pub const MAX_TTL: Duration = Duration::days(365);
pub const MAX_USES: i64 = 1_000_000;
pub const MAX_LABEL_LEN: usize = 255;

/// `POST /tokens` body; every field optional (24 h, one use, no label).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub ttl_seconds: Option<i64>,
    /// `90s`, `30m`, `24h`, `7d`; the alternative to `ttl_seconds`.
    pub ttl: Option<String>,
    pub uses: Option<i64>,
    pub label: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CreateResponse {
    pub id: String,
    /// The enrollment token. Shown only in this response.
    pub token: String,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
    pub uses_allowed: i64,
}

/// `POST /tokens` (admin).
pub async fn create(
    auth: Authorized<Admin>,
    State(ctx): State<Ctx>,
    Json(request): Json<CreateRequest>,
) -> ApiResult<Response> {
    let ttl = match (request.ttl_seconds, request.ttl.as_deref()) {
        (Some(_), Some(_)) => return Err(ApiFailure::bad_request("give ttl or ttl_seconds, not both")),
        (Some(seconds), None) => Duration::seconds(seconds),
        (None, Some(text)) => parse_duration(text)?,
        (None, None) => DEFAULT_TTL,
    };
    if ttl <= Duration::ZERO || ttl > MAX_TTL {
        return Err(ApiFailure::bad_request("ttl: must be between 1s and 365d"));
    }
    let uses = request.uses.unwrap_or(1);
    if !(1..=MAX_USES).contains(&uses) {
        return Err(ApiFailure::bad_request(format!(
            "uses: must be between 1 and {MAX_USES}"
        )));
    }
    let label = request.label.unwrap_or_default();
    if label.chars().count() > MAX_LABEL_LEN {
        return Err(ApiFailure::bad_request(format!(
            "label: longer than {MAX_LABEL_LEN} characters"
        )));
    }

    let token = secrets::new_enrollment_token(&ctx.root_fingerprint)
        .map_err(|err| ApiFailure::Internal(format!("creating a token: {err}")))?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = crate::storage::truncate_to_millis(OffsetDateTime::now_utc());
    let expires_at = now + ttl;
    ctx.storage
        .create_token(&NewEnrollmentToken {
            id: id.clone(),
            secret_hash: token.secret_hash(),
            label: label.clone(),
            created_at: now,
            expires_at,
            uses_allowed: uses,
        })
        .await?;
    record_audit(
        &ctx,
        &auth.principal,
        "token.create",
        &id,
        serde_json::json!({"uses": uses, "label": label, "expires_at": timestamp(expires_at)}),
    )
    .await?;
    let body = CreateResponse {
        id,
        token: token.expose(),
        label,
        created_at: timestamp(now),
        expires_at: timestamp(expires_at),
        uses_allowed: uses,
    };
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    // The body holds a secret: no cache along the way may keep it.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Debug, Serialize)]
pub struct TokenView {
    pub id: String,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
    pub uses_allowed: i64,
    pub uses_count: i64,
    pub revoked: bool,
    /// `active`, `expired`, `exhausted` or `revoked` (the first reason that applies, in
    /// the order enrollment checks them).
    pub state: &'static str,
}

impl TokenView {
    fn new(token: EnrollmentToken, now: OffsetDateTime) -> Self {
        let state = if token.revoked {
            "revoked"
        } else if token.expires_at <= now {
            "expired"
        } else if token.uses_count >= token.uses_allowed {
            "exhausted"
        } else {
            "active"
        };
        Self {
            id: token.id,
            label: token.label,
            created_at: timestamp(token.created_at),
            expires_at: timestamp(token.expires_at),
            uses_allowed: token.uses_allowed,
            uses_count: token.uses_count,
            revoked: token.revoked,
            state,
        }
    }
}

/// `GET /tokens`: newest first. Metadata only: the secrets were never stored.
pub async fn list(
    _auth: Authorized<Read>,
    State(ctx): State<Ctx>,
    Query(params): Query<ListParams>,
) -> ApiResult<axum::Json<Paginated<TokenView>>> {
    let page = params.page()?;
    params.fixed_order("created_at", SortDirection::Descending)?;
    let now = OffsetDateTime::now_utc();
    let tokens = ctx.storage.list_tokens(page).await?;
    Ok(axum::Json(Paginated::from_page(tokens, |token| {
        TokenView::new(token, now)
    })))
}

/// `DELETE /tokens/{id}` (admin): 204, or 404 when no unrevoked token has this id.
pub async fn revoke(
    auth: Authorized<Admin>,
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !ctx.storage.revoke_token(&id).await? {
        return Err(ApiFailure::NotFound(format!("no unrevoked token {id}")));
    }
    record_audit(&ctx, &auth.principal, "token.revoke", &id, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `90s`, `30m`, `24h`, `7d`.
fn parse_duration(text: &str) -> ApiResult<Duration> {
    let invalid = || ApiFailure::bad_request("ttl: expected a number and a unit (s, m, h, d), e.g. 24h");
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    let seconds = number.checked_mul(seconds_per_unit).ok_or_else(invalid)?;
    Ok(Duration::seconds(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_only() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::seconds(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::minutes(30));
        assert_eq!(parse_duration("24h").unwrap(), Duration::hours(24));
        assert_eq!(parse_duration("7d").unwrap(), Duration::days(7));
        for bad in ["", "24", "h", "1.5h", "-1h", "1w", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
