//! CSR checks: signature, accepted key types, names.

use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use super::CaError;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const MIN_RSA_BITS: usize = 2048;

/// What the CA needs from a verified CSR.
pub(crate) struct CheckedCsr {
    pub params: rcgen::CertificateSigningRequestParams,
    pub common_name: Option<String>,
    /// SANs as text (DNS names, IPs, URIs, e-mail addresses).
    pub sans: Vec<String>,
}

pub(crate) fn check_csr(csr_pem: &str) -> Result<CheckedCsr, CaError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(csr_pem.as_bytes())
        .map_err(|_| CaError::InvalidCsr("not PEM".into()))?;
    if pem.label != "CERTIFICATE REQUEST" && pem.label != "NEW CERTIFICATE REQUEST" {
        return Err(CaError::InvalidCsr(format!("PEM label {:?}", pem.label)));
    }
    let (_, request) = x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
        .map_err(|_| CaError::InvalidCsr("not a PKCS#10 request".into()))?;
    check_key_type(&request.certification_request_info.subject_pki)?;
    // rcgen verifies the CSR's self-signature (proof of possession) while parsing.
    let params = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).map_err(|err| match err {
        rcgen::Error::InvalidCertificationRequestSignature => CaError::InvalidCsr("bad signature".into()),
        other => CaError::InvalidCsr(other.to_string()),
    })?;
    let common_name = request
        .certification_request_info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let sans = params.params.subject_alt_names.iter().map(san_text).collect();
    Ok(CheckedCsr {
        params,
        common_name,
        sans,
    })
}

fn check_key_type(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Result<(), CaError> {
    let algorithm = spki.algorithm.algorithm.to_id_string();
    match algorithm.as_str() {
        OID_EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                OID_P256 | OID_P384 => Ok(()),
                other => Err(CaError::KeyType(format!("EC curve {other}"))),
            }
        }
        OID_ED25519 => Ok(()),
        OID_RSA => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) if rsa.key_size() >= MIN_RSA_BITS => Ok(()),
            Ok(key) => Err(CaError::KeyType(format!("RSA-{}", key.key_size()))),
            Err(_) => Err(CaError::KeyType("malformed RSA key".into())),
        },
        other => Err(CaError::KeyType(format!("algorithm {other}"))),
    }
}

pub(crate) fn san_text(san: &rcgen::SanType) -> String {
    match san {
        rcgen::SanType::DnsName(name) => name.as_str().to_string(),
        rcgen::SanType::IpAddress(ip) => ip.to_string(),
        rcgen::SanType::URI(uri) => uri.as_str().to_string(),
        rcgen::SanType::Rfc822Name(mail) => mail.as_str().to_string(),
        other => format!("{other:?}"),
    }
}

/// The SAN type for a name from the token: IP literal, URI (has a scheme) or DNS name.
pub(crate) fn san_from_text(text: &str) -> Result<rcgen::SanType, CaError> {
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(rcgen::SanType::IpAddress(ip));
    }
    let invalid = |_| CaError::NameMismatch(format!("{text:?} is not a valid name"));
    if text.contains("://") {
        return Ok(rcgen::SanType::URI(text.try_into().map_err(invalid)?));
    }
    Ok(rcgen::SanType::DnsName(text.try_into().map_err(invalid)?))
}
