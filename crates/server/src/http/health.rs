//! `GET /health` (the process answers) and `GET /ready` (the database answers), on both
//! listeners, for load balancers and orchestrators.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::observe;
use crate::storage::Storage;

pub fn router(storage: Arc<dyn Storage>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(storage)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(storage): State<Arc<dyn Storage>>) -> (StatusCode, Json<Value>) {
    let started = Instant::now();
    let result = storage.ping().await;
    observe::record_db_ping(result.is_ok(), started.elapsed().as_secs_f64());
    match result {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "not_ready", "detail": "database unreachable"})),
            )
        }
    }
}
