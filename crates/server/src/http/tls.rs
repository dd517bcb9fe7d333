//! rustls configuration of the two listeners and what the agent listener learns from a
//! client certificate.
//!
//! The agent listener verifies client certificates against the CA (`WebPkiClientVerifier`)
//! but also accepts connections without one (`allow_unauthenticated`): enrollment happens
//! before an agent has a certificate. Routes that need an identity then insist on a
//! verified certificate (see `identity.rs`). A certificate from another CA fails the
//! handshake.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate or key: {0}")]
    Pem(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn parse_chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Pem("no certificate".into()));
    }
    Ok(chain)
}

fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::Pem(e.to_string()))
}

/// A verifier for agent certificates issued under `trust_anchors` (DER). Used by the TLS
/// handshake and, for certificates forwarded by a trusted proxy, by `proxy.rs`.
pub fn client_verifier(trust_anchors: &[Vec<u8>]) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for der in trust_anchors {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))
}

fn server_config(
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    chain_pem: &str,
    key_pem: &str,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let builder =
        rustls::ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(parse_chain(chain_pem)?, parse_key(key_pem)?)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Agent listener: server certificate plus optional, verified client certificates.
pub fn agent_server_config(
    verifier: Arc<dyn ClientCertVerifier>,
    chain_pem: &str,
    key_pem: &str,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server_config(Some(verifier), chain_pem, key_pem)
}

/// Dashboard listener: plain HTTPS.
pub fn dashboard_server_config(
    chain_pem: &str,
    key_pem: &str,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server_config(None, chain_pem, key_pem)
}

/// A verified client certificate, as the handlers need it.
#[derive(Debug, Clone)]
pub struct PeerCertificate {
    pub der: Vec<u8>,
    /// Subject CN: the agent id.
    pub agent_id: String,
    /// Lowercase hex of the serial's bytes (the storage key).
    pub serial: String,
    pub not_after: OffsetDateTime,
}

impl PeerCertificate {
    /// Extracts identity fields from a certificate that was already verified.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let agent_id = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())?
            .to_string();
        if agent_id.is_empty() {
            return None;
        }
        Some(Self {
            der: der.to_vec(),
            agent_id,
            serial: hex::encode(cert.raw_serial()),
            not_after: cert.validity().not_after.to_datetime(),
        })
    }
}

/// Verifies a certificate the TLS layer did not see (forwarded by a proxy) with the same
/// verifier and intermediates the handshake would use.
pub fn verify_forwarded(
    verifier: &dyn ClientCertVerifier,
    leaf_der: &[u8],
    intermediates: &[Vec<u8>],
) -> Result<PeerCertificate, String> {
    let leaf = CertificateDer::from(leaf_der.to_vec());
    let intermediates: Vec<CertificateDer<'static>> = intermediates
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    verifier
        .verify_client_cert(&leaf, &intermediates, UnixTime::now())
        .map_err(|e| e.to_string())?;
    PeerCertificate::from_der(leaf_der).ok_or_else(|| "certificate has no subject common name".to_string())
}
