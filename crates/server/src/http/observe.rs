//! Request ids, structured request logs and Prometheus metrics.
//!
//! Metric names (all prefixed `vt_`): `http_requests_total{listener,route,method,status}`,
//! `http_request_duration_seconds{listener,route}` (histogram), `enrollments_total{result}`,
//! `certificates_total{event=issued|renewed|revoked}`, `results_ingested_total`,
//! `runs_ingested_total{outcome}`, `ingest_batch_size` (histogram), `db_up`,
//! `db_ping_seconds`, `db_pool_connections{state=idle|in_use}`, `db_pool_max`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use super::error::HttpError;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once; later calls return the same handle.
/// `None` when another recorder was installed first (an embedding application's).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let latency = [
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let sizes = [1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("vt_ingest_batch_size".into()), &sizes))
                .ok()
                .and_then(|b| b.install_recorder().ok())
        })
        .clone()
}

pub fn count_enrollment(result: &'static str) {
    metrics::counter!("vt_enrollments_total", "result" => result).increment(1);
}

pub fn count_certificate(event: &'static str) {
    metrics::counter!("vt_certificates_total", "event" => event).increment(1);
}

pub fn count_ingest(results: usize) {
    metrics::counter!("vt_runs_ingested_total", "outcome" => "stored").increment(1);
    metrics::counter!("vt_results_ingested_total").increment(results as u64);
    metrics::histogram!("vt_ingest_batch_size").record(results as f64);
}

pub fn count_duplicate_run() {
    metrics::counter!("vt_runs_ingested_total", "outcome" => "duplicate").increment(1);
}

pub fn record_db_ping(ok: bool, seconds: f64) {
    metrics::gauge!("vt_db_up").set(if ok { 1.0 } else { 0.0 });
    metrics::histogram!("vt_db_ping_seconds").record(seconds);
}

/// Pool occupancy, sampled at scrape time (a gauge is only as fresh as its last set, and
/// the scrape is when someone looks). `in_use` near `max` means requests queue for a
/// connection; the SQLite backend counts its single writer in both numbers.
pub fn record_db_pool(stats: crate::storage::PoolStats) {
    metrics::gauge!("vt_db_pool_connections", "state" => "idle").set(f64::from(stats.idle));
    metrics::gauge!("vt_db_pool_connections", "state" => "in_use").set(f64::from(stats.in_use()));
    metrics::gauge!("vt_db_pool_max").set(f64::from(stats.max));
}

/// The route template, carried from inside the router (where axum knows it) to the outer
/// middleware through the response extensions.
#[derive(Clone)]
struct RouteLabel(String);

/// Inner layer (`route_layer`): only runs for matched routes.
pub async fn stash_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteLabel(route));
    }
    response
}

/// Outer layer: request id, span, log line, metrics; turns axum's empty 405 into JSON.
pub async fn observe(listener: &'static str, mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        request.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let method = request.method().clone();
    // The path only: queries could carry secrets some day, paths never do.
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("request", %request_id, %method, %path, listener);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && response.headers().get(header::CONTENT_TYPE).is_none()
    {
        let allow = response.headers().get(header::ALLOW).cloned();
        response = HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed here"),
        )
        .into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or_else(|| "unmatched".to_string(), |r| r.0.clone());
    metrics::counter!(
        "vt_http_requests_total",
        "listener" => listener,
        "route" => route.clone(),
        "method" => method.to_string(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("vt_http_request_duration_seconds", "listener" => listener, "route" => route)
        .record(elapsed.as_secs_f64());
    span.in_scope(|| tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, "request"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
