//! The JSON error body of the agent listener and the shared routes: `{"error", "detail"}`
//! (vt-wire's `ApiError`) with the matching 4xx/5xx status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vt_wire::ApiError;

use crate::storage::StorageError;

#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

pub type HttpResult<T> = Result<T, HttpError>;

impl HttpError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl From<StorageError> for HttpError {
    fn from(err: StorageError) -> Self {
        tracing::error!(error = %err, "storage failure");
        if matches!(err, StorageError::Database(sqlx::Error::PoolTimedOut)) {
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "database busy; retry later",
            );
        }
        Self::internal()
    }
}

impl From<&vt_wire::ValidationError> for HttpError {
    fn from(err: &vt_wire::ValidationError) -> Self {
        Self::bad_request(err.to_string())
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = ApiError::new(self.code, self.detail);
        (self.status, axum::Json(body)).into_response()
    }
}

/// JSON 404 for unknown paths (axum's default is an empty body).
pub async fn fallback() -> HttpError {
    HttpError::not_found("no such route")
}
