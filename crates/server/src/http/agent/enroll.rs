//! `POST /api/enroll`: spend an enrollment token, create or reuse the agent record (by
//! machine id), hand back a one-time token for `/1.0/sign`.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use time::OffsetDateTime;
use vt_wire::token::EnrollmentTokenText;
use vt_wire::{EnrollRequest, EnrollResponse};

use super::AgentState;
use crate::http::body;
use crate::http::error::{HttpError, HttpResult};
use crate::http::observe;
use crate::storage::{AgentRegistration, AgentStatus, NewAuditEntry, TokenConsumption};

pub async fn enroll(
    State(state): State<AgentState>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Json<EnrollResponse>> {
    let request: EnrollRequest = body::json(&headers, body, &body::SMALL).await?;
    request.validate().map_err(|e| HttpError::from(&e))?;
    let result = enroll_inner(&state, &request).await;
    observe::count_enrollment(match &result {
        Ok(_) => "ok",
        Err(err) => err.code,
    });
    result.map(Json)
}

async fn enroll_inner(state: &AgentState, request: &EnrollRequest) -> HttpResult<EnrollResponse> {
    let token = EnrollmentTokenText::parse(&request.token)
        .map_err(|_| HttpError::unauthorized("token_invalid", "the enrollment token is malformed"))?;
    if token.root_fingerprint != state.provisioner.root_fingerprint() {
        return Err(HttpError::unauthorized(
            "token_invalid",
            "the enrollment token was issued for a different CA",
        ));
    }
    // A revoked machine is refused before the token is spent and before its record is
    // touched: re-enrolling must neither burn an operator's token nor let a revoked host
    // refresh its hostname or last_seen. (Checked after the token's format and CA binding,
    // so only holders of a well-formed token for this CA get this far.)
    if let Some(existing) = state
        .storage
        .find_agent_by_machine_id(&request.machine_id)
        .await?
    {
        if existing.status == AgentStatus::Revoked {
            tracing::warn!(agent_id = %existing.id, "enrollment refused: the machine's agent is revoked");
            return Err(revoked());
        }
    }
    let now = OffsetDateTime::now_utc();
    match state.storage.consume_token(&token.secret_hash(), now).await? {
        TokenConsumption::Consumed(_) => {}
        TokenConsumption::Unknown => {
            return Err(HttpError::unauthorized(
                "token_unknown",
                "the enrollment token is not known",
            ))
        }
        TokenConsumption::Expired => {
            return Err(HttpError::unauthorized(
                "token_expired",
                "the enrollment token has expired",
            ))
        }
        TokenConsumption::Exhausted => {
            return Err(HttpError::unauthorized(
                "token_used",
                "the enrollment token has no uses left",
            ))
        }
        TokenConsumption::Revoked => {
            return Err(HttpError::unauthorized(
                "token_revoked",
                "the enrollment token was revoked",
            ))
        }
    }
    let registration = AgentRegistration {
        machine_id: request.machine_id.clone(),
        hostname: request.hostname.clone(),
        os: request.os.trim().to_ascii_lowercase(),
        os_version: request.os_version.clone(),
        arch: request.arch.clone(),
        agent_version: request.agent_version.clone(),
    };
    let new_id = uuid::Uuid::new_v4().to_string();
    let enrolled = state.storage.enroll_agent(&new_id, &registration, now).await?;
    let agent = enrolled.agent;
    // Re-enrolling does not undo a revocation: that takes an administrator. Checked again
    // here for a revocation that landed between the check above and this upsert.
    if agent.status == AgentStatus::Revoked {
        return Err(revoked());
    }
    let (ott, claims) = state.provisioner.issue(&agent.id, now).map_err(|err| {
        tracing::error!(error = %err, "issuing a one-time token failed");
        HttpError::internal()
    })?;
    state
        .storage
        .append_audit(&NewAuditEntry {
            at: now,
            actor: format!("agent:{}", agent.id),
            action: if enrolled.created {
                "agent.enroll"
            } else {
                "agent.reenroll"
            }
            .into(),
            target: agent.id.clone(),
            detail: serde_json::json!({"hostname": agent.hostname, "os": agent.os}),
        })
        .await?;
    tracing::info!(agent_id = %agent.id, created = enrolled.created, "agent enrolled");
    let expires_at = OffsetDateTime::from_unix_timestamp(claims.exp).unwrap_or(now);
    Ok(EnrollResponse {
        agent_id: agent.id,
        ott,
        ca_url: state.ca_url.clone(),
        expires_at: vt_wire::format_timestamp(expires_at),
    })
}

fn revoked() -> HttpError {
    HttpError::forbidden(
        "agent_revoked",
        "this machine's agent has been revoked by an administrator",
    )
}
