//! The agent's identity on disk: which server, which agent id, its key and certificate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Layout;
use crate::output::write_atomically;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub agent_id: String,
    /// The agent listener's base URL, e.g. `https://vt.example.com:9443`.
    pub server: String,
    /// SHA-256 of the root certificate (lowercase hex), from the enrollment token.
    pub root_fingerprint: String,
    pub enrolled_at: String,
    /// Set when certificates come from an external step-ca: where to renew them, and that
    /// CA's root (PEM), which its TLS certificate chains to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ca: Option<ExternalCa>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalCa {
    pub url: String,
    pub root_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("this agent is not enrolled (run `vt-agent enroll --server URL --token TOKEN`)")]
    NotEnrolled,
    #[error("{path}: {message}")]
    Corrupt { path: String, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Everything needed to talk to the server as this agent.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub identity: Identity,
    pub root_pem: Vec<u8>,
    pub chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub validity: Validity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// Renew once two thirds of the lifetime have passed: early enough to survive an
    /// outage of a third of the lifetime, late enough not to churn certificates.
    pub fn renewal_due(&self, now: SystemTime) -> bool {
        let lifetime = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or(Duration::ZERO);
        now >= self.not_before + lifetime.mul_f64(2.0 / 3.0)
    }

    pub fn expired(&self, now: SystemTime) -> bool {
        now >= self.not_after
    }
}

pub fn load(layout: &Layout) -> Result<Credentials, IdentityError> {
    if !layout.identity_file().exists() {
        return Err(IdentityError::NotEnrolled);
    }
    let corrupt = |path: &std::path::Path, message: String| IdentityError::Corrupt {
        path: path.display().to_string(),
        message,
    };
    let identity: Identity = serde_json::from_slice(&std::fs::read(layout.identity_file())?)
        .map_err(|e| corrupt(&layout.identity_file(), e.to_string()))?;
    let read = |p: std::path::PathBuf| -> Result<Vec<u8>, IdentityError> {
        std::fs::read(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => IdentityError::NotEnrolled,
            _ => IdentityError::Io(e),
        })
    };
    let chain_pem = read(layout.cert_chain())?;
    let validity = validity_of(&chain_pem).map_err(|m| corrupt(&layout.cert_chain(), m))?;
    Ok(Credentials {
        identity,
        root_pem: read(layout.root_cert())?,
        chain_pem,
        key_pem: read(layout.private_key())?,
        validity,
    })
}

/// Validity of the first certificate of a PEM chain.
pub fn validity_of(chain_pem: &[u8]) -> Result<Validity, String> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(chain_pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("invalid certificate: {e}"))?;
    let to_time = |t: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
    Ok(Validity {
        not_before: to_time(cert.validity().not_before.timestamp()),
        not_after: to_time(cert.validity().not_after.timestamp()),
    })
}

/// Writes a freshly issued identity. The key is written first and locked down before the
/// certificate exists, so a half-finished enrollment never looks enrolled.
pub fn store(
    layout: &Layout,
    identity: &Identity,
    root_pem: &[u8],
    chain_pem: &[u8],
    key_pem: Option<&[u8]>,
) -> Result<(), IdentityError> {
    std::fs::create_dir_all(layout.certs_dir())?;
    crate::paths::restrict_to_owner(&layout.certs_dir())?;
    if let Some(key) = key_pem {
        write_atomically(&layout.private_key(), key)?;
        crate::paths::restrict_to_owner(&layout.private_key())?;
    }
    write_atomically(&layout.root_cert(), root_pem)?;
    write_atomically(&layout.cert_chain(), chain_pem)?;
    let json = serde_json::to_vec_pretty(identity).map_err(std::io::Error::other)?;
    write_atomically(&layout.identity_file(), &json)?;
    Ok(())
}

/// Removes the identity (before a forced re-enrollment).
pub fn forget(layout: &Layout) -> std::io::Result<()> {
    for p in [layout.identity_file(), layout.cert_chain(), layout.private_key()] {
        match std::fs::remove_file(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_after_two_thirds() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let v = Validity {
            not_before: start,
            not_after: start + Duration::from_secs(3 * 3600),
        };
        assert!(!v.renewal_due(start + Duration::from_secs(3600)));
        assert!(v.renewal_due(start + Duration::from_secs(2 * 3600)));
        assert!(!v.expired(start + Duration::from_secs(2 * 3600)));
        assert!(v.expired(start + Duration::from_secs(3 * 3600)));
    }

    #[test]
    fn reads_validity_from_a_real_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["agent-1".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 1, 2);
        let cert = params.self_signed(&key).unwrap();
        let v = validity_of(cert.pem().as_bytes()).unwrap();
        assert_eq!(
            v.not_after.duration_since(v.not_before).unwrap(),
            Duration::from_secs(86_400)
        );
        assert!(validity_of(b"garbage").is_err());
    }
}
