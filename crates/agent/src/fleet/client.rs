//! HTTPS client for the server's agent listener. Before enrollment the server is trusted
//! only through the root fingerprint inside the enrollment token; afterwards through the
//! stored root, with the agent's certificate presented for mutual TLS.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
use vt_wire::{ApiError, EnrollRequest, EnrollResponse, Heartbeat, HeartbeatResponse, PolicyResponse};
use vt_wire::{ResultsAck, SignRequest, SignResponse};

use super::identity::Credentials;

/// Every request, connection included, ends within this; `run --once` must finish in 30 s
/// even when the server is a black hole.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: DNS, connection, TLS or timeout. Worth retrying later.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// The server answered with an error.
    #[error("server refused the request ({status}): {error}: {detail}")]
    Refused {
        status: u16,
        error: String,
        detail: String,
    },
    /// The server's root certificate does not match the fingerprint in the token.
    #[error("the server's root certificate has fingerprint {actual}, but the token expects {expected}: refusing to continue")]
    WrongFingerprint { expected: String, actual: String },
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The server says this agent's certificate is revoked.
    pub fn is_revoked(&self) -> bool {
        matches!(self, ClientError::Refused { status: 401 | 403, error, detail }
            if error.contains("revoked") || detail.contains("revoked"))
    }
}

pub struct ServerClient {
    base: String,
    agent: ureq::Agent,
}

fn build_agent(tls: TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(REQUEST_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .into()
}

fn unreachable(e: ureq::Error) -> ClientError {
    ClientError::Unreachable(e.to_string())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The first certificate of a PEM bundle, as DER.
fn first_cert_der(pem: &[u8]) -> Result<Vec<u8>, ClientError> {
    Certificate::from_pem(pem)
        .map(|c| c.der().to_vec())
        .map_err(|e| ClientError::Protocol(format!("invalid certificate PEM: {e}")))
}

fn certs_from_pem(pem: &[u8]) -> Result<Vec<Certificate<'static>>, ClientError> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        if let ureq::tls::PemItem::Certificate(c) =
            item.map_err(|e| ClientError::Protocol(format!("invalid PEM: {e}")))?
        {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err(ClientError::Protocol("no certificate in PEM".into()));
    }
    Ok(out)
}

impl ServerClient {
    /// Fetches the server's root certificate and checks it against the fingerprint from
    /// the enrollment token. The connection is unverified, so nothing secret is sent on
    /// it; every later connection verifies the server against the returned root.
    pub fn bootstrap_root(server: &str, fingerprint: &str) -> Result<Vec<u8>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Roots {
            crts: Vec<String>,
        }
        let insecure = build_agent(TlsConfig::builder().disable_verification(true).build());
        let base = server.trim_end_matches('/');
        let mut response = insecure
            .get(format!("{base}/roots"))
            .call()
            .map_err(unreachable)?;
        if response.status().as_u16() != 200 {
            return Err(ClientError::Protocol(format!(
                "GET /roots answered {}",
                response.status()
            )));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| ClientError::Unreachable(format!("GET /roots: {e}")))?;
        let roots: Roots =
            serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(format!("GET /roots: {e}")))?;
        let mut seen = Vec::new();
        for pem in roots.crts {
            let der = first_cert_der(pem.as_bytes())?;
            let actual = sha256_hex(&der);
            if actual.eq_ignore_ascii_case(fingerprint) {
                return Ok(pem.into_bytes());
            }
            seen.push(actual);
        }
        Err(ClientError::WrongFingerprint {
            expected: fingerprint.to_string(),
            actual: seen.join(", "),
        })
    }

    /// A client that verifies the server against `root_pem` and presents no certificate.
    pub fn anonymous(server: &str, root_pem: &[u8]) -> Result<Self, ClientError> {
        let roots = certs_from_pem(root_pem)?;
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&roots))
            .build();
        Ok(ServerClient {
            base: server.trim_end_matches('/').to_string(),
            agent: build_agent(tls),
        })
    }

    /// A mutual-TLS client that authenticates as the enrolled agent.
    pub fn authenticated(creds: &Credentials) -> Result<Self, ClientError> {
        Self::authenticated_at(&creds.identity.server, &creds.root_pem, creds)
    }

    /// The client that renews certificates: the server, or the external step-ca that
    /// issued them (verified against that CA's own root).
    pub fn certificate_authority(creds: &Credentials) -> Result<Self, ClientError> {
        match &creds.identity.external_ca {
            Some(ca) => Self::authenticated_at(&ca.url, ca.root_pem.as_bytes(), creds),
            None => Self::authenticated(creds),
        }
    }

    fn authenticated_at(base: &str, root_pem: &[u8], creds: &Credentials) -> Result<Self, ClientError> {
        let roots = certs_from_pem(root_pem)?;
        let chain = certs_from_pem(&creds.chain_pem)?;
        let key = PrivateKey::from_pem(&creds.key_pem)
            .map_err(|e| ClientError::Protocol(format!("invalid private key: {e}")))?;
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&roots))
            .client_cert(Some(ClientCert::new_with_certs(&chain, key)))
            .build();
        Ok(ServerClient {
            base: base.trim_end_matches('/').to_string(),
            agent: build_agent(tls),
        })
    }

    fn post<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .send(&bytes[..])
            .map_err(unreachable)?;
        read_json(response, path)
    }

    pub fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, ClientError> {
        self.post("/api/enroll", request)
    }

    pub fn sign(&self, request: &SignRequest) -> Result<SignResponse, ClientError> {
        self.post("/1.0/sign", request)
    }

    pub fn renew(&self) -> Result<SignResponse, ClientError> {
        self.post("/1.0/renew", &serde_json::json!({}))
    }

    pub fn heartbeat(&self, beat: &Heartbeat) -> Result<HeartbeatResponse, ClientError> {
        self.post("/agent/v1/heartbeat", beat)
    }

    /// The active policy, or `None` when the server says the cached one (`etag`) is current.
    pub fn policy(&self, etag: Option<&str>) -> Result<Option<PolicyResponse>, ClientError> {
        let mut request = self.agent.get(format!("{}/agent/v1/policy", self.base));
        if let Some(tag) = etag {
            request = request.header("if-none-match", format!("\"{tag}\""));
        }
        let response = request.call().map_err(unreachable)?;
        if response.status().as_u16() == 304 {
            return Ok(None);
        }
        let policy: PolicyResponse = read_json(response, "/agent/v1/policy")?;
        if !policy.hash_matches() {
            return Err(ClientError::Protocol("the policy does not match its hash".into()));
        }
        Ok(Some(policy))
    }

    /// Submits one spooled run (already serialised JSON).
    pub fn submit(&self, body: &[u8]) -> Result<ResultsAck, ClientError> {
        let response = self
            .agent
            .post(format!("{}/agent/v1/results", self.base))
            .header("content-type", "application/json")
            .send(body)
            .map_err(unreachable)?;
        read_json(response, "/agent/v1/results")
    }
}

fn read_json<R: DeserializeOwned>(
    mut response: ureq::http::Response<ureq::Body>,
    path: &str,
) -> Result<R, ClientError> {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec()
        .map_err(|e| ClientError::Unreachable(format!("{path}: reading the answer: {e}")))?;
    if !(200..300).contains(&status) {
        let err: ApiError = serde_json::from_slice(&body).unwrap_or_else(|_| ApiError {
            error: format!("http_{status}"),
            detail: Some(String::from_utf8_lossy(&body).chars().take(200).collect()),
        });
        return Err(ClientError::Refused {
            status,
            error: err.error,
            detail: err.detail.unwrap_or_default(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(format!("{path}: {e}")))
}
