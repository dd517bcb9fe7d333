//! `GET /agent/v1/policy`: the active policy for the agent's OS, as the exact canonical
//! bytes that were hashed. `ETag` is the hash; `If-None-Match` with it gets 304.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use vt_wire::PolicyResponse;

use super::AgentState;
use crate::http::error::{HttpError, HttpResult};
use crate::http::identity::AgentIdentity;
use crate::storage::ServerSettings;

pub async fn policy(
    State(state): State<AgentState>,
    identity: AgentIdentity,
    headers: HeaderMap,
) -> HttpResult<Response> {
    let os = identity.agent.os.to_ascii_lowercase();
    let active = state.storage.active_policy(&os).await?.ok_or_else(|| {
        HttpError::new(
            StatusCode::NOT_FOUND,
            "no_policy",
            format!("no policy is active for os {os:?}"),
        )
    })?;
    let etag = HeaderValue::from_str(&format!("\"{}\"", active.hash)).map_err(|_| HttpError::internal())?;
    if matches_etag(&headers, &active.hash) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let settings = ServerSettings::load(state.storage.as_ref()).await?;
    let response = PolicyResponse::new(
        active.policy_id,
        active.version,
        active.canonical_json,
        settings.audit_interval_seconds,
        settings.jitter_seconds,
    )
    .map_err(|err| {
        tracing::error!(error = %err, "stored canonical policy JSON is invalid");
        HttpError::internal()
    })?;
    Ok((
        [
            (header::ETAG, etag),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        axum::Json(response),
    )
        .into_response())
}

/// `If-None-Match` holding `*`, the hash, or a list containing it (quoted, weak or bare).
fn matches_etag(headers: &HeaderMap, hash: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|tag| tag == "*" || tag == hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_forms() {
        let h = "ab".repeat(32);
        for value in [
            format!("\"{h}\""),
            h.clone(),
            format!("W/\"{h}\""),
            format!("\"x\", \"{h}\""),
            "*".into(),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&value).unwrap());
            assert!(matches_etag(&headers, &h), "{value}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!matches_etag(&headers, &h));
        assert!(!matches_etag(&HeaderMap::new(), &h));
    }
}
