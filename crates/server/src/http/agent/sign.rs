//! `POST /1.0/sign` (step-ca compatible): a CSR plus a one-time token from enrollment.
//!
//! Order matters for "nothing is stored on failure": the token is verified, then the CSR
//! checked and the certificate built in memory, and only then is the token's `jti` spent
//! (atomically, across instances) and the certificate recorded.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use time::OffsetDateTime;
use vt_wire::{SignRequest, SignResponse};

use super::AgentState;
use crate::ca::{CaError, LeafRequest};
use crate::http::body;
use crate::http::error::{HttpError, HttpResult};
use crate::http::observe;
use crate::storage::{AgentStatus, CertificateRecord};

pub async fn sign(
    State(state): State<AgentState>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<(StatusCode, Json<SignResponse>)> {
    let request: SignRequest = body::json(&headers, body, &body::SMALL).await?;
    request.validate().map_err(|e| HttpError::from(&e))?;
    let ca = state
        .ca
        .as_ref()
        .ok_or_else(|| HttpError::not_found("this server does not sign certificates"))?;
    let claims = state
        .provisioner
        .verify(&request.ott)
        .map_err(|err| HttpError::unauthorized("token_invalid", err.to_string()))?;
    match state.storage.get_agent(&claims.sub).await? {
        None => {
            return Err(HttpError::unauthorized(
                "token_invalid",
                "the token's agent is not known",
            ))
        }
        Some(agent) if agent.status == AgentStatus::Revoked => {
            return Err(HttpError::forbidden(
                "agent_revoked",
                "this agent has been revoked",
            ))
        }
        Some(_) => {}
    }
    let now = OffsetDateTime::now_utc();
    let issued = ca
        .issue_agent_certificate(&LeafRequest {
            csr_pem: &request.csr,
            agent_id: &claims.sub,
            sans: &claims.sans,
            lifetime: state.cert_lifetime,
            now,
        })
        .map_err(csr_error)?;
    // Keep the jti until the token could no longer be accepted anyway (exp + leeway).
    let forget_after =
        OffsetDateTime::from_unix_timestamp(claims.exp).unwrap_or(now) + time::Duration::minutes(5);
    if !state.storage.mark_ott_used(&claims.jti, forget_after).await? {
        return Err(HttpError::unauthorized(
            "token_used",
            "the one-time token was already used",
        ));
    }
    state
        .storage
        .record_certificate(&CertificateRecord {
            serial: issued.serial.clone(),
            agent_id: claims.sub.clone(),
            not_before: issued.not_before,
            not_after: issued.not_after,
            revoked_at: None,
            reason: None,
        })
        .await?;
    observe::count_certificate("issued");
    tracing::info!(agent_id = %claims.sub, serial = %issued.serial, "certificate issued");
    Ok((
        StatusCode::CREATED,
        Json(SignResponse {
            crt: issued.pem,
            ca: ca.intermediate_pem().to_string(),
            cert_chain: issued.chain_pem,
        }),
    ))
}

pub(super) fn csr_error(err: CaError) -> HttpError {
    match err {
        CaError::InvalidCsr(_) | CaError::KeyType(_) => HttpError::bad_request(err.to_string()),
        CaError::NameMismatch(_) => HttpError::forbidden("csr_mismatch", err.to_string()),
        other => {
            tracing::error!(error = %other, "certificate issuance failed");
            HttpError::internal()
        }
    }
}
