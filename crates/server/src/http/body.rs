//! Reading JSON request bodies under explicit limits: content type, optional gzip, size
//! before and after decompression, and a deadline for slow senders. Every failure is a
//! JSON 4xx, never a panic.

use std::io::Read;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use super::error::HttpError;

/// Enrollment, signing and heartbeat bodies are a few KB.
pub const SMALL_BODY_LIMIT: usize = 64 * 1024;
/// Results: the limit on the bytes on the wire (compressed or not).
pub const RESULTS_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// Results after gzip decompression: bounds memory against compression bombs while
/// leaving room for the largest valid run (vt-wire limits: 5,000 results).
pub const RESULTS_DECOMPRESSED_LIMIT: usize = 32 * 1024 * 1024;
/// A body must arrive within this time once the headers have.
const BODY_DEADLINE: Duration = Duration::from_secs(30);

pub struct Limits {
    pub wire: usize,
    pub decompressed: usize,
}

pub const SMALL: Limits = Limits {
    wire: SMALL_BODY_LIMIT,
    decompressed: SMALL_BODY_LIMIT,
};
pub const RESULTS: Limits = Limits {
    wire: RESULTS_BODY_LIMIT,
    decompressed: RESULTS_DECOMPRESSED_LIMIT,
};

fn too_large(limit: usize) -> HttpError {
    HttpError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body larger than {limit} bytes"),
    )
}

/// Checks the content type, reads at most `limits.wire` bytes, decompresses gzip up to
/// `limits.decompressed` and parses JSON.
pub async fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limits: &Limits,
) -> Result<T, HttpError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        ));
    }
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
    {
        None => false,
        Some(enc) if enc.is_empty() || enc == "identity" => false,
        Some(enc) if enc == "gzip" => true,
        Some(_) => {
            return Err(HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                "Content-Encoding must be gzip or absent",
            ))
        }
    };
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if length > limits.wire as u64 {
            return Err(too_large(limits.wire));
        }
    }
    let limited = http_body_util::Limited::new(body, limits.wire);
    let bytes = match tokio::time::timeout(BODY_DEADLINE, limited.collect()).await {
        Err(_) => {
            return Err(HttpError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "request body not received in time",
            ))
        }
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => return Err(too_large(limits.wire)),
        Ok(Err(_)) => return Err(HttpError::bad_request("request body could not be read")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let decoded;
    let json_bytes: &[u8] = if gzip {
        decoded = gunzip(&bytes, limits.decompressed)?;
        &decoded
    } else {
        &bytes
    };
    serde_json::from_slice(json_bytes).map_err(|err| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("request body is not valid: {err}"),
        )
    })
}

fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    // One byte more than the limit tells "exactly at the limit" from "above it".
    let mut reader = flate2::read::GzDecoder::new(bytes).take(limit as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|_| HttpError::bad_request("request body is not valid gzip"))?;
    if out.len() > limit {
        return Err(too_large(limit));
    }
    Ok(out)
}
