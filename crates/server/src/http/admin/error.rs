//! The admin API's error type and the extractors that turn axum's plain-text rejections
//! into the JSON `{"error", "detail"}` shape every client of this API parses.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::storage::StorageError;

/// One policy problem, as returned by `POST /policies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDiagnostic {
    pub line: usize,
    pub column: usize,
    pub rule_id: Option<String>,
    pub message: String,
}

/// Every way an admin request can fail. The `Display` text is the `detail` sent to the
/// client, so it must never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("the policy has {} problem(s)", .0.len())]
    InvalidPolicy(Vec<PolicyDiagnostic>),
    /// Storage failures are logged server-side; the client only learns that it failed.
    #[error("internal error")]
    Storage(#[from] StorageError),
    #[error("internal error")]
    Internal(String),
}

impl ApiFailure {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiFailure::BadRequest {
            code: "invalid_request",
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiFailure::BadRequest { .. } | ApiFailure::InvalidPolicy(_) => StatusCode::BAD_REQUEST,
            ApiFailure::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiFailure::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiFailure::NotFound(_) => StatusCode::NOT_FOUND,
            ApiFailure::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiFailure::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiFailure::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiFailure::Storage(_) | ApiFailure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiFailure::BadRequest { code, .. } => code,
            ApiFailure::Unauthorized(_) => "unauthorized",
            ApiFailure::Forbidden(_) => "forbidden",
            ApiFailure::NotFound(_) => "not_found",
            ApiFailure::MethodNotAllowed(_) => "method_not_allowed",
            ApiFailure::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiFailure::PayloadTooLarge(_) => "payload_too_large",
            ApiFailure::InvalidPolicy(_) => "invalid_policy",
            ApiFailure::Storage(_) | ApiFailure::Internal(_) => "internal_error",
        }
    }
}

/// `vt_wire::ApiError` plus the policy diagnostics; a superset, so clients that only know
/// `{error, detail}` still parse it.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostics: Option<&'a [PolicyDiagnostic]>,
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        match &self {
            ApiFailure::Storage(err) => tracing::error!(error = %err, "admin API storage failure"),
            ApiFailure::Internal(message) => tracing::error!(error = %message, "admin API failure"),
            _ => {}
        }
        let body = ErrorBody {
            error: self.code(),
            detail: self.to_string(),
            diagnostics: match &self {
                ApiFailure::InvalidPolicy(diagnostics) => Some(diagnostics),
                _ => None,
            },
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        if matches!(self, ApiFailure::Unauthorized(_)) {
            // RFC 6750 §3: tell the client which scheme to use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Maps an axum rejection by its status. axum answers a JSON body that parses but has the
/// wrong shape with 422; this API documents 400 for every malformed body.
fn from_rejection(status: StatusCode, text: String) -> ApiFailure {
    match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiFailure::UnsupportedMediaType(text),
        StatusCode::PAYLOAD_TOO_LARGE => ApiFailure::PayloadTooLarge(text),
        StatusCode::NOT_FOUND => ApiFailure::NotFound(text),
        status if status.is_client_error() => ApiFailure::bad_request(text),
        _ => ApiFailure::Internal(text),
    }
}

impl From<JsonRejection> for ApiFailure {
    fn from(rejection: JsonRejection) -> Self {
        from_rejection(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiFailure {
    fn from(rejection: QueryRejection) -> Self {
        from_rejection(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for ApiFailure {
    fn from(rejection: PathRejection) -> Self {
        // A path segment that does not parse (e.g. a version that is not a number) is a
        // bad request, not a missing route.
        from_rejection(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

impl From<BytesRejection> for ApiFailure {
    fn from(rejection: BytesRejection) -> Self {
        from_rejection(rejection.status(), rejection.body_text())
    }
}

/// `axum::Json` with JSON rejections.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiFailure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Json(value))
    }
}

/// `axum::extract::Query` with JSON rejections.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}

/// `axum::extract::Path` with JSON rejections.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}

/// The raw body (bounded by the route's `DefaultBodyLimit`) with JSON rejections.
pub struct Body(pub axum::body::Bytes);

impl<S> FromRequest<S> for Body
where
    S: Send + Sync,
{
    type Rejection = ApiFailure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Body(axum::body::Bytes::from_request(req, state).await?))
    }
}

pub type ApiResult<T> = Result<T, ApiFailure>;

/// For endpoints whose JSON body is optional: a present body must be declared JSON (415
/// otherwise) and parse (400 otherwise).
pub fn parse_json_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> ApiResult<T> {
    if !is_json(headers) {
        return Err(ApiFailure::UnsupportedMediaType(
            "expected Content-Type: application/json".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|err| ApiFailure::bad_request(format!("invalid JSON body: {err}")))
}

pub fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|media| media == "application/json" || media.ends_with("+json"))
}

/// The lowercase media type of `Content-Type`, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim().to_ascii_lowercase();
    Some(media)
}
