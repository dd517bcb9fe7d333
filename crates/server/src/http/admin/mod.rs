//! The admin API (dashboard listener), mounted by the runtime at `/api/v1`.
//!
//! JSON in and out; errors are `{"error", "detail"}` (see [`error`]); listings are paginated
//! and sortable by whitelisted fields (see [`pagination`]); every route states the
//! permission it needs in its handler signature (see [`auth`]); every change is recorded
//! in the audit log with the principal as actor.
//!
//! One module per API area. The route table in [`routes`] is the single source of truth:
//! the router is built from it and a test checks it against `openapi.json`.

pub mod agents;
pub mod audit_log;
pub mod auth;
pub mod error;
pub mod hosts;
pub mod pagination;
pub mod policies;
pub mod settings;
pub mod summary;
pub mod tokens;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use time::OffsetDateTime;

use self::auth::{ApiKeyAuthenticator, Authenticator, Principal};
use self::error::{ApiFailure, ApiResult};
use crate::storage::{NewAuditEntry, Storage};

/// Called with an agent id after that agent has been revoked, so the runtime can
/// regenerate the CRL and drop cached certificate verdicts.
pub type RevocationHook = Arc<dyn Fn(&str) + Send + Sync>;

/// What the runtime hands to [`router`].
#[derive(Clone)]
pub struct AdminState {
    pub storage: Arc<dyn Storage>,
    pub revocation_hook: Option<RevocationHook>,
    /// Lowercase hex SHA-256 of the root CA certificate (DER). Enrollment tokens created
    /// through `POST /tokens` embed it so agents can pin the server on first contact.
    pub root_fingerprint: String,
}

/// Request bodies other than policies are small JSON documents.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// The policy parser's own ceiling; a larger upload is refused before it is buffered.
pub const POLICY_BODY_LIMIT: usize = vt_policy::parse::MAX_POLICY_BYTES;

/// Shared by every handler; cheap to clone (reference counts only).
#[derive(Clone)]
pub struct Ctx {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) revocation_hook: Option<RevocationHook>,
    pub(crate) root_fingerprint: Arc<str>,
    pub(crate) authenticators: Arc<[Arc<dyn Authenticator>]>,
}

/// The admin router with API-key authentication. Routes are relative to `/api/v1`.
pub fn router(state: AdminState) -> Router {
    let api_keys: Arc<dyn Authenticator> = Arc::new(ApiKeyAuthenticator::new(state.storage.clone()));
    router_with_authenticators(state, vec![api_keys])
}

/// The admin router with an explicit list of authenticators, tried in order. Browser
/// sessions and OIDC plug in here without touching any handler.
pub fn router_with_authenticators(state: AdminState, authenticators: Vec<Arc<dyn Authenticator>>) -> Router {
    let ctx = Ctx {
        storage: state.storage,
        revocation_hook: state.revocation_hook,
        root_fingerprint: state.root_fingerprint.into(),
        authenticators: authenticators.into(),
    };
    let mut router = Router::new();
    for (_, path, method_router) in routes() {
        // Routing the same path again merges the method routers.
        router = router.route(path, method_router);
    }
    router
        .fallback(|| async { ApiFailure::NotFound("no such API route".into()) })
        .method_not_allowed_fallback(|| async {
            ApiFailure::MethodNotAllowed("method not allowed on this route".into())
        })
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .with_state(ctx)
}

/// Every route: method, path (relative to `/api/v1`, axum syntax) and handler.
fn routes() -> Vec<(Method, &'static str, MethodRouter<Ctx>)> {
    vec![
        (Method::GET, "/agents", get(agents::list)),
        (Method::GET, "/agents/{id}", get(agents::show)),
        (Method::POST, "/agents/{id}/revoke", post(agents::revoke)),
        (Method::GET, "/hosts", get(hosts::list)),
        (Method::GET, "/hosts/{id}/results", get(hosts::results)),
        (Method::GET, "/hosts/{id}/runs", get(hosts::runs)),
        (Method::GET, "/summary", get(summary::show)),
        (Method::GET, "/policies", get(policies::list)),
        (
            Method::POST,
            "/policies",
            post(policies::create).layer(DefaultBodyLimit::max(POLICY_BODY_LIMIT)),
        ),
        (Method::GET, "/policies/{id}/versions", get(policies::versions)),
        (
            Method::GET,
            "/policies/{id}/versions/{version}",
            get(policies::version),
        ),
        (
            Method::POST,
            "/policies/{id}/versions/{version}/activate",
            post(policies::activate),
        ),
        (Method::POST, "/tokens", post(tokens::create)),
        (Method::GET, "/tokens", get(tokens::list)),
        (Method::DELETE, "/tokens/{id}", delete(tokens::revoke)),
        (Method::GET, "/audit-log", get(audit_log::list)),
        (Method::GET, "/settings", get(settings::show)),
        (Method::PUT, "/settings", put(settings::update)),
    ]
}

/// `(method, path)` of every route, for documentation checks.
pub fn route_table() -> Vec<(Method, &'static str)> {
    routes()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

/// The OpenAPI 3.1 description of this router, served at `/api/openapi.json`.
pub fn openapi_json() -> &'static str {
    include_str!("openapi.json")
}

/// RFC 3339 UTC, the API's only time format.
pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    vt_wire::format_timestamp(at)
}

/// Appends to the audit log. Called after the change succeeded, with what was done but
/// never a secret.
pub(crate) async fn record_audit(
    ctx: &Ctx,
    principal: &Principal,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> ApiResult<()> {
    ctx.storage
        .append_audit(&NewAuditEntry {
            at: OffsetDateTime::now_utc(),
            actor: principal.actor(),
            action: action.into(),
            target: target.into(),
            detail,
        })
        .await?;
    Ok(())
}
