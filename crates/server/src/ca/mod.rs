//! Built-in certificate authority: a root and an online intermediate (ECDSA P-256), agent
//! client certificates issued from CSRs, the server's TLS certificate, and the CRL.
//!
//! Layout in the data directory (`ca/`): `root.crt`, `root.key` (absent when the operator
//! keeps the root offline), `intermediate.crt`, `intermediate.key`. Private keys are PKCS#8
//! PEM, mode 0600. The root fingerprint — lowercase hex SHA-256 of the root certificate's
//! DER, step-ca's format — is what enrollment tokens embed.

mod crl;
mod csr;
mod files;
mod issue;
mod serial;

use rcgen::{Issuer, KeyPair};
use time::OffsetDateTime;

pub use crl::RevokedSerial;
pub use files::CA_DIR;
pub use issue::{IssuedCertificate, LeafRequest, ServerCertificate};

/// Default agent certificate lifetime (step-ca's default as well).
pub const DEFAULT_LEAF_LIFETIME: time::Duration = time::Duration::hours(24);
/// Certificates start one minute in the past to tolerate small clock differences.
pub const BACKDATE: time::Duration = time::Duration::minutes(1);

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("CA file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("CA directory {0} is incomplete: {1}")]
    Incomplete(std::path::PathBuf, String),
    #[error("CA file {path} is not a valid {what}")]
    InvalidFile {
        path: std::path::PathBuf,
        what: &'static str,
    },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    #[error("invalid CSR: {0}")]
    InvalidCsr(String),
    #[error("CSR key type not accepted: {0} (use P-256, P-384, Ed25519 or RSA >= 2048)")]
    KeyType(String),
    #[error("CSR does not match the token: {0}")]
    NameMismatch(String),
    #[error("random number generator failed")]
    Random,
}

/// The loaded CA: certificates in PEM and DER, and the intermediate's signing key.
pub struct CertificateAuthority {
    root_pem: String,
    root_der: Vec<u8>,
    intermediate_pem: String,
    intermediate_der: Vec<u8>,
    intermediate: Issuer<'static, KeyPair>,
}

impl CertificateAuthority {
    fn from_parts(
        root_pem: String,
        intermediate_pem: String,
        intermediate_key: KeyPair,
    ) -> Result<Self, CaError> {
        let root_der = pem_to_der(&root_pem, "root certificate")?;
        let intermediate_der = pem_to_der(&intermediate_pem, "intermediate certificate")?;
        verify_intermediate(&root_der, &intermediate_der, &intermediate_key)?;
        let intermediate = Issuer::from_ca_cert_pem(&intermediate_pem, intermediate_key)?;
        Ok(Self {
            root_pem,
            root_der,
            intermediate_pem,
            intermediate_der,
            intermediate,
        })
    }

    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    pub fn intermediate_pem(&self) -> &str {
        &self.intermediate_pem
    }

    pub fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }

    /// Lowercase hex SHA-256 of the root certificate DER.
    pub fn root_fingerprint(&self) -> String {
        fingerprint(&self.root_der)
    }
}

/// Lowercase hex SHA-256 of a certificate's DER (step-ca's fingerprint format).
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(der))
}

fn pem_to_der(pem: &str, what: &'static str) -> Result<Vec<u8>, CaError> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|_| CaError::InvalidCertificate(format!("{what}: not PEM")))?;
    Ok(parsed.contents)
}

/// Checks that the intermediate is a CA certificate signed by the root and that the key is
/// the intermediate's: an imported offline-root setup fails here, at load, not at first use.
fn verify_intermediate(root_der: &[u8], intermediate_der: &[u8], key: &KeyPair) -> Result<(), CaError> {
    let invalid = |message: &str| CaError::InvalidCertificate(message.to_string());
    let (_, root) = x509_parser::parse_x509_certificate(root_der).map_err(|_| invalid("root: not X.509"))?;
    let (_, intermediate) = x509_parser::parse_x509_certificate(intermediate_der)
        .map_err(|_| invalid("intermediate: not X.509"))?;
    root.verify_signature(None)
        .map_err(|_| invalid("root: not self-signed"))?;
    intermediate
        .verify_signature(Some(root.public_key()))
        .map_err(|_| invalid("intermediate: not signed by the root"))?;
    if !intermediate.is_ca() {
        return Err(invalid("intermediate: not a CA certificate"));
    }
    if intermediate.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(invalid(
            "intermediate key does not belong to the intermediate certificate",
        ));
    }
    Ok(())
}

pub(crate) fn validity(now: OffsetDateTime, lifetime: time::Duration) -> (OffsetDateTime, OffsetDateTime) {
    // X.509 times have second precision; truncating keeps stored and encoded values equal.
    let now = now.replace_nanosecond(0).unwrap_or(now);
    (now - BACKDATE, now + lifetime)
}

#[cfg(test)]
mod tests;
