//! Enrollment (`/api/enroll` then `/1.0/sign`) and certificate renewal (`/1.0/renew`).

use std::time::SystemTime;

use vt_wire::token::EnrollmentTokenText;
use vt_wire::{EnrollRequest, SignRequest, SignResponse};

use super::client::{ClientError, ServerClient};
use super::identity::{self, Credentials, ExternalCa, Identity};
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

    // With an external step-ca the certificate is signed there. Its TLS certificate comes
    // from step-ca's own root, which the one-time token names by fingerprint (its `sha`
    // claim), so that root is bootstrapped the same way as the server's.
    let (ca, external_ca) = if same_origin(&enrolled.ca_url, server) {
        (client, None)
    } else {
        let ca_fingerprint = ott_root_fingerprint(&enrolled.ott)
            .ok_or_else(|| EnrollError::Token("the one-time token names no CA fingerprint".into()))?;
        let ca_root = ServerClient::bootstrap_root(&enrolled.ca_url, &ca_fingerprint)?;
        let external = ExternalCa {
            url: enrolled.ca_url.clone(),
            root_pem: String::from_utf8_lossy(&ca_root).into_owned(),
        };
        (
            ServerClient::anonymous(&enrolled.ca_url, &ca_root)?,
            Some(external),
        )
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
        external_ca,
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

/// The `sha` claim of a one-time token (a JWT): the fingerprint of the CA's root. Read
/// without verifying the signature: the CA verifies the token; the agent only uses the
/// claim to decide which root to trust, and a wrong claim just fails that check.
fn ott_root_fingerprint(ott: &str) -> Option<String> {
    use base64::Engine;
    let payload = ott.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let sha = claims.get("sha")?.as_str()?;
    (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha.to_ascii_lowercase())
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
    let signed = ServerClient::certificate_authority(creds)?.renew()?;
    let chain = chain_pem(&signed);
    identity::store(layout, &creds.identity, &creds.root_pem, chain.as_bytes(), None)?;
    Ok(identity::load(layout)?)
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::ott_root_fingerprint;

    #[test]
    fn the_ca_fingerprint_comes_from_the_ott_sha_claim() {
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let sha = "ab".repeat(32);
        let ott = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"ES256"}"#),
            b64(&format!(r#"{{"sub":"a","sha":"{sha}"}}"#))
        );
        assert_eq!(ott_root_fingerprint(&ott), Some(sha));
        let short = format!("{}.{}.sig", b64("{}"), b64(r#"{"sha":"abc"}"#));
        assert_eq!(ott_root_fingerprint(&short), None);
        assert_eq!(ott_root_fingerprint("not-a-jwt"), None);
    }
}
