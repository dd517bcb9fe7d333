//! Issuing agent client certificates and the server's TLS certificate.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;

use super::csr::{check_csr, san_from_text};
use super::serial::random_serial;
use super::{validity, CaError, CertificateAuthority};

/// An agent's certificate request, already authorised by a one-time token.
pub struct LeafRequest<'a> {
    pub csr_pem: &'a str,
    /// The token's `sub`; becomes the certificate's CN.
    pub agent_id: &'a str,
    /// The token's `sans`; the CSR may request a subset, the certificate carries all.
    pub sans: &'a [String],
    pub lifetime: time::Duration,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub pem: String,
    pub der: Vec<u8>,
    /// Lowercase hex of the serial's bytes, as stored and as put in the CRL.
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Leaf then intermediate, PEM (step-ca's `certChain`).
    pub chain_pem: Vec<String>,
}

/// The server's TLS identity. The key is returned to the caller to write with mode 0600.
pub struct ServerCertificate {
    pub chain_pem: String,
    pub key_pem: String,
    pub not_after: OffsetDateTime,
}

impl CertificateAuthority {
    /// Issues a client certificate from a CSR: verifies its signature and key type, checks
    /// that the names it asks for are the token's, and issues CN = agent id, SAN = the
    /// token's names, EKU clientAuth.
    pub fn issue_agent_certificate(&self, request: &LeafRequest<'_>) -> Result<IssuedCertificate, CaError> {
        let csr = check_csr(request.csr_pem)?;
        if let Some(cn) = &csr.common_name {
            if cn != request.agent_id && !request.sans.contains(cn) {
                return Err(CaError::NameMismatch(format!(
                    "common name {cn:?} is not the token subject"
                )));
            }
        }
        if let Some(extra) = csr.sans.iter().find(|san| !request.sans.contains(san)) {
            return Err(CaError::NameMismatch(format!(
                "SAN {extra:?} is not in the token"
            )));
        }

        self.issue_leaf(
            &csr.params.public_key,
            request.agent_id,
            request.sans,
            request.lifetime,
            request.now,
        )
    }

    /// Renewal (step-ca `/1.0/renew`): a new certificate with the same subject, names and
    /// public key as `current`, which the caller has authenticated (mTLS) and checked
    /// for revocation.
    pub fn renew_agent_certificate(
        &self,
        current_der: &[u8],
        lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Result<IssuedCertificate, CaError> {
        let invalid = |m: &str| CaError::InvalidCertificate(m.to_string());
        let (_, current) =
            x509_parser::parse_x509_certificate(current_der).map_err(|_| invalid("not X.509"))?;
        let agent_id = current
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .ok_or_else(|| invalid("no common name"))?
            .to_string();
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(current.public_key().raw)?;
        self.issue_leaf(
            &public_key,
            &agent_id,
            std::slice::from_ref(&agent_id),
            lifetime,
            now,
        )
    }

    fn issue_leaf(
        &self,
        public_key: &impl rcgen::PublicKeyData,
        agent_id: &str,
        sans: &[String],
        lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Result<IssuedCertificate, CaError> {
        let Leaf {
            params,
            serial,
            not_before,
            not_after,
        } = leaf_params(agent_id, sans, ExtendedKeyUsagePurpose::ClientAuth, lifetime, now)?;
        let certificate = params.signed_by(public_key, &self.intermediate)?;
        let pem = certificate.pem();
        Ok(IssuedCertificate {
            chain_pem: vec![pem.clone(), self.intermediate_pem.clone()],
            pem,
            der: certificate.der().to_vec(),
            serial,
            not_before,
            not_after,
        })
    }

    /// A fresh key and certificate for the server's listeners, valid for `names` plus
    /// localhost, 127.0.0.1 and ::1 (health checks and same-host agents).
    pub fn issue_server_certificate(
        &self,
        names: &[String],
        lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Result<ServerCertificate, CaError> {
        let mut all_names: Vec<String> = names.to_vec();
        for default in ["localhost", "127.0.0.1", "::1"] {
            if !all_names.iter().any(|n| n == default) {
                all_names.push(default.to_string());
            }
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cn = all_names.first().map(String::as_str).unwrap_or("localhost");
        let leaf = leaf_params(cn, &all_names, ExtendedKeyUsagePurpose::ServerAuth, lifetime, now)?;
        let not_after = leaf.not_after;
        let certificate = leaf.params.signed_by(&key, &self.intermediate)?;
        Ok(ServerCertificate {
            chain_pem: format!("{}{}", certificate.pem(), self.intermediate_pem),
            key_pem: key.serialize_pem(),
            not_after,
        })
    }
}

pub(crate) fn common_name(cn: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    name
}

/// Parameters shared by every end-entity certificate the CA issues.
struct Leaf {
    params: CertificateParams,
    serial: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

fn leaf_params(
    common: &str,
    names: &[String],
    usage: ExtendedKeyUsagePurpose,
    lifetime: time::Duration,
    now: OffsetDateTime,
) -> Result<Leaf, CaError> {
    let (not_before, not_after) = validity(now, lifetime);
    let (serial_number, serial) = random_serial()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(common);
    params.subject_alt_names = names.iter().map(|n| san_from_text(n)).collect::<Result<_, _>>()?;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(serial_number);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    Ok(Leaf {
        params,
        serial,
        not_before,
        not_after,
    })
}
