//! `GET /roots` (step-ca's shape) and the CRL.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;

use super::AgentState;
use crate::ca::RevokedSerial;
use crate::http::error::{HttpError, HttpResult};

#[derive(Serialize)]
pub struct RootsResponse {
    pub crts: Vec<String>,
}

pub async fn roots(State(state): State<AgentState>) -> axum::Json<RootsResponse> {
    axum::Json(RootsResponse {
        crts: state.roots_pem.clone(),
    })
}

/// The DER CRL, rebuilt at most every few seconds and at once after a revocation made on
/// this instance (`invalidate`); revocations made elsewhere appear within the TTL.
pub struct CrlCache {
    ttl: Duration,
    current: Mutex<Option<(Instant, Vec<u8>)>>,
}

/// A CRL is valid for a day; clients refetch long before.
const CRL_VALIDITY: time::Duration = time::Duration::days(1);

impl CrlCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            current: Mutex::new(None),
        }
    }

    pub fn invalidate(&self) {
        if let Ok(mut current) = self.current.lock() {
            *current = None;
        }
    }

    fn cached(&self) -> Option<Vec<u8>> {
        let current = self.current.lock().ok()?;
        let (at, der) = current.as_ref()?;
        (at.elapsed() < self.ttl).then(|| der.clone())
    }
}

pub async fn crl(State(state): State<AgentState>) -> HttpResult<Response> {
    let der = match state.crl.cached() {
        Some(der) => der,
        None => {
            let ca = state
                .ca
                .as_ref()
                .ok_or_else(|| HttpError::not_found("no built-in CA"))?;
            let now = OffsetDateTime::now_utc();
            let records = state.storage.list_revoked_certificates(now).await?;
            let revoked: Vec<RevokedSerial<'_>> = records
                .iter()
                .filter_map(|r| {
                    Some(RevokedSerial {
                        serial: &r.serial,
                        revoked_at: r.revoked_at?,
                        reason: r.reason.as_deref(),
                    })
                })
                .collect();
            // A unix timestamp grows with every CRL, as RFC 5280 requires of crlNumber.
            let number = u64::try_from(now.unix_timestamp()).unwrap_or_default();
            let der = ca.crl_der(&revoked, number, now, CRL_VALIDITY).map_err(|err| {
                tracing::error!(error = %err, "building the CRL failed");
                HttpError::internal()
            })?;
            if let Ok(mut current) = state.crl.current.lock() {
                *current = Some((Instant::now(), der.clone()));
            }
            der
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response())
}
