use serde::{Deserialize, Serialize};

/// The body of every non-2xx JSON response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable, machine-readable code, e.g. `invalid_request`, `token_expired`.
    pub error: String,
    /// Human-readable explanation; never contains secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ApiError {
    pub fn new(error: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            detail: Some(detail.into()),
        }
    }
}

impl From<&ValidationError> for ApiError {
    fn from(err: &ValidationError) -> Self {
        ApiError::new("invalid_request", err.to_string())
    }
}

/// Why a request body was rejected. `field` paths use JSON notation (`results[3].title`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("{field}: must not be empty")]
    Empty { field: String },
    #[error("{field}: longer than {max} characters")]
    TooLong { field: String, max: usize },
    #[error("{field}: more than {max} entries")]
    TooMany { field: String, max: usize },
    #[error("{field}: not an RFC 3339 timestamp")]
    Timestamp { field: String },
    #[error("{field}: not a UUID")]
    Uuid { field: String },
    #[error("{field}: not a lowercase hex SHA-256")]
    Hash { field: String },
    #[error("{field}: duplicate rule id {rule_id:?}")]
    DuplicateRule { field: String, rule_id: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

/// Small helpers shared by the `validate()` functions.
pub(crate) mod check {
    use super::ValidationError;

    pub fn non_empty_max(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
        if value.trim().is_empty() {
            return Err(ValidationError::Empty { field: field.into() });
        }
        max_len(field, value, max)
    }

    pub fn max_len(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
        // Characters, not bytes: limits are documented to users in characters.
        if value.chars().count() > max {
            return Err(ValidationError::TooLong {
                field: field.into(),
                max,
            });
        }
        Ok(())
    }

    pub fn sha256_hex(field: &str, value: &str) -> Result<(), ValidationError> {
        let ok = value.len() == 64
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(())
        } else {
            Err(ValidationError::Hash { field: field.into() })
        }
    }

    pub fn timestamp(field: &str, value: &str) -> Result<time::OffsetDateTime, ValidationError> {
        crate::parse_timestamp(value).map_err(|_| ValidationError::Timestamp { field: field.into() })
    }
}
