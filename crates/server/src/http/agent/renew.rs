//! `POST /1.0/renew` (step-ca compatible): over mTLS, a fresh certificate for the same
//! identity and public key. Revoked or expired certificates never get this far (the
//! identity extractor refuses them).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use time::OffsetDateTime;
use vt_wire::SignResponse;

use super::sign::csr_error;
use super::AgentState;
use crate::http::error::{HttpError, HttpResult};
use crate::http::identity::AgentIdentity;
use crate::http::observe;
use crate::storage::CertificateRecord;

pub async fn renew(
    State(state): State<AgentState>,
    identity: AgentIdentity,
) -> HttpResult<(StatusCode, Json<SignResponse>)> {
    let ca = state
        .ca
        .as_ref()
        .ok_or_else(|| HttpError::not_found("this server does not sign certificates"))?;
    let now = OffsetDateTime::now_utc();
    let issued = ca
        .renew_agent_certificate(&identity.certificate.der, state.cert_lifetime, now)
        .map_err(csr_error)?;
    state
        .storage
        .record_certificate(&CertificateRecord {
            serial: issued.serial.clone(),
            agent_id: identity.agent.id.clone(),
            not_before: issued.not_before,
            not_after: issued.not_after,
            revoked_at: None,
            reason: None,
        })
        .await?;
    observe::count_certificate("renewed");
    tracing::info!(agent_id = %identity.agent.id, serial = %issued.serial, "certificate renewed");
    Ok((
        StatusCode::CREATED,
        Json(SignResponse {
            crt: issued.pem,
            ca: ca.intermediate_pem().to_string(),
            cert_chain: issued.chain_pem,
        }),
    ))
}
