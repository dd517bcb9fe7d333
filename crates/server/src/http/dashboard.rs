//! The dashboard listener's router: health, metrics, the admin API at `/api/v1` and its
//! OpenAPI document.

use std::sync::Arc;
use std::time::Instant;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::admin::{self, AdminState};
use super::observe;
use crate::storage::Storage;

pub fn router(admin_state: AdminState) -> Router {
    let storage = admin_state.storage.clone();
    let router = Router::new()
        .route("/metrics", get(move || metrics(storage.clone())))
        .route("/api/openapi.json", get(openapi));
    mount_admin_api(router, admin_state)
}

/// The admin API (another module's work) mounted under `/api/v1`.
pub fn mount_admin_api(router: Router, state: AdminState) -> Router {
    router.nest("/api/v1", admin::router(state))
}

async fn metrics(storage: Arc<dyn Storage>) -> impl IntoResponse {
    // Scrapes double as a database probe, so `vt_db_up` is fresh without a separate timer.
    let started = Instant::now();
    let ok = storage.ping().await.is_ok();
    observe::record_db_ping(ok, started.elapsed().as_secs_f64());
    observe::record_db_pool(storage.pool_stats());
    let body = observe::metrics_handle().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        admin::openapi_json(),
    )
}
