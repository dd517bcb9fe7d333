//! Enrollment (`/api/enroll` then `/1.0/sign`) and certificate renewal (`/1.0/renew`).

use std::time::SystemTime;

use vt_wire::token::EnrollmentTokenText;
use vt_wire::{EnrollRequest, SignRequest, SignResponse};

use super::client::{ClientError, ServerClient};
use super::identity::{self, Credentials, Identity};
use super::Layout;
use crate::context::HostContext;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("invalid enrollment token: {0}")]
    Token(String),
    #[error(transparent)]
    Server(#[from] ClientError),
    #[error("cannot create the key or certificate request: {0}")]
    Key(String),
    #[error("cannot identify this machine: {0}")]
    MachineId(String),
    #[error("cannot store the identity: {0}")]
    Store(#[from] identity::IdentityError),
}

pub enum EnrollOutcome {
    Enrolled(Identity),
    /// A valid identity exists and `--force` was not given.
    AlreadyEnrolled(Identity),
}

pub fn enroll(layout: &Layout, server: &str, token: &str, force: bool) -> Result<EnrollOutcome, EnrollError> {
    if !force {
        if let Ok(creds) = identity::load(layout) {
            if !creds.validity.expired(SystemTime::now()) && creds.identity.server == server {
                return Ok(EnrollOutcome::AlreadyEnrolled(creds.identity));
            }
        }
    }
    let token = EnrollmentTokenText::parse(token).map_err(|e| EnrollError::Token(e.to_string()))?;
    let root_pem = ServerClient::bootstrap_root(server, &token.root_fingerprint)?;
    let client = ServerClient::anonymous(server, &root_pem)?;
    let ctx = HostContext::live();
    let host = crate::host::describe(&ctx);
    let request = EnrollRequest {
        token: token.expose(),
        hostname: host.hostname,
        machine_id: crate::machine_id::machine_id().map_err(EnrollError::MachineId)?,
        os: host.os,
        os_version: host.os_version,
        arch: host.arch,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let enrolled = client.enroll(&request)?;

    // The private key is made here and never leaves this machine.
    let key = rcgen::KeyPair::generate().map_err(|e| EnrollError::Key(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(vec![enrolled.agent_id.clone()])
        .map_err(|e| EnrollError::Key(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, enrolled.agent_id.clone());
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(|e| EnrollError::Key(e.to_string()))?;

    // With an external step-ca the certificate is signed there, under the same root.
    let ca = if same_origin(&enrolled.ca_url, server) {
        client
    } else {
        ServerClient::anonymous(&enrolled.ca_url, &root_pem)?
    };
    let signed = ca.sign(&SignRequest {
        csr,
        ott: enrolled.ott,
    })?;
    let identity = Identity {
        agent_id: enrolled.agent_id,
        server: server.to_string(),
        root_fingerprint: token.root_fingerprint.clone(),
        enrolled_at: crate::timefmt::rfc3339(SystemTime::now()),
    };
    identity::forget(layout).map_err(identity::IdentityError::Io)?;
    identity::store(
        layout,
        &identity,
        &root_pem,
        chain_pem(&signed).as_bytes(),
        Some(key.serialize_pem().as_bytes()),
    )?;
    Ok(EnrollOutcome::Enrolled(identity))
}

fn same_origin(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn chain_pem(signed: &SignResponse) -> String {
    if signed.cert_chain.is_empty() {
        format!("{}\n{}", signed.crt.trim_end(), signed.ca)
    } else {
        signed
            .cert_chain
            .iter()
            .map(|c| c.trim_end())
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }
}

/// Renews the certificate over mutual TLS; the key stays the same.
pub fn renew(layout: &Layout, creds: &Credentials) -> Result<Credentials, EnrollError> {
    let signed = ServerClient::authenticated(creds)?.renew()?;
    let chain = chain_pem(&signed);
    identity::store(layout, &creds.identity, &creds.root_pem, chain.as_bytes(), None)?;
    Ok(identity::load(layout)?)
}
