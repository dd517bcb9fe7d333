//! The agent's identity on agent routes: a verified client certificate — from the TLS
//! handshake, or forwarded by a trusted proxy — whose CN is the agent id, checked against
//! storage for revocation on every request. Request bodies never name the agent.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::agent::AgentState;
use super::error::HttpError;
use super::listener::ConnectionInfo;
use super::proxy::CLIENT_CERT_HEADER;
use super::revocation::Verdict;
use super::tls::PeerCertificate;
use crate::storage::Agent;

/// An authenticated, non-revoked agent.
#[derive(Debug, Clone)]
pub struct AgentIdentity {
    pub certificate: Arc<PeerCertificate>,
    pub agent: Agent,
}

impl FromRequestParts<AgentState> for AgentIdentity {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AgentState) -> Result<Self, HttpError> {
        let connection = parts
            .extensions
            .get::<ConnectionInfo>()
            .cloned()
            .ok_or_else(HttpError::internal)?;
        let certificate = match connection.peer_certificate {
            Some(certificate) => certificate,
            None => {
                let header = parts.headers.get(CLIENT_CERT_HEADER).map(|v| v.as_bytes());
                match state.proxy.forwarded_certificate(connection.remote.ip(), header) {
                    Ok(Some(certificate)) => Arc::new(certificate),
                    Ok(None) => {
                        return Err(HttpError::unauthorized(
                            "client_certificate_required",
                            "this route requires a client certificate issued by this server's CA",
                        ))
                    }
                    Err(reason) => {
                        tracing::warn!(peer = %connection.remote, %reason, "forwarded client certificate refused");
                        return Err(HttpError::unauthorized("invalid_client_certificate", reason));
                    }
                }
            }
        };
        if certificate.not_after <= time::OffsetDateTime::now_utc() {
            return Err(HttpError::unauthorized(
                "certificate_expired",
                "the client certificate has expired",
            ));
        }
        let verdict = state
            .revocation
            .check(state.storage.as_ref(), &certificate.serial, &certificate.agent_id)
            .await?;
        match verdict {
            Verdict::Valid(agent) => Ok(AgentIdentity {
                certificate,
                agent: *agent,
            }),
            Verdict::Revoked => Err(HttpError::forbidden(
                "certificate_revoked",
                "this agent or certificate has been revoked; re-enrollment is required",
            )),
            Verdict::Unknown => Err(HttpError::unauthorized(
                "unknown_certificate",
                "the client certificate is not known to this server",
            )),
        }
    }
}
