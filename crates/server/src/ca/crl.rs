//! The certificate revocation list, signed by the intermediate.

use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams, SerialNumber,
};
use time::OffsetDateTime;

use super::{CaError, CertificateAuthority};

/// One revoked certificate as stored (see `storage::CertificateRecord`).
pub struct RevokedSerial<'a> {
    /// Lowercase hex of the serial's bytes.
    pub serial: &'a str,
    pub revoked_at: OffsetDateTime,
    /// Stored reason, e.g. `key_compromise`; unknown reasons are omitted from the CRL.
    pub reason: Option<&'a str>,
}

fn reason_code(reason: &str) -> Option<RevocationReason> {
    Some(match reason {
        "unspecified" => RevocationReason::Unspecified,
        "key_compromise" => RevocationReason::KeyCompromise,
        "ca_compromise" => RevocationReason::CaCompromise,
        "affiliation_changed" => RevocationReason::AffiliationChanged,
        "superseded" => RevocationReason::Superseded,
        "cessation_of_operation" => RevocationReason::CessationOfOperation,
        "privilege_withdrawn" => RevocationReason::PrivilegeWithdrawn,
        _ => return None,
    })
}

impl CertificateAuthority {
    /// A DER CRL listing `revoked`, valid from `now` for `validity`. `crl_number` must grow
    /// with every CRL issued (RFC 5280 §5.2.3); a unix timestamp does.
    pub fn crl_der(
        &self,
        revoked: &[RevokedSerial<'_>],
        crl_number: u64,
        now: OffsetDateTime,
        validity: time::Duration,
    ) -> Result<Vec<u8>, CaError> {
        let revoked_certs = revoked
            .iter()
            .map(|entry| {
                let bytes = hex::decode(entry.serial).map_err(|_| {
                    CaError::InvalidCertificate(format!("serial {:?} is not hex", entry.serial))
                })?;
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&bytes),
                    revocation_time: entry.revoked_at,
                    reason_code: entry.reason.and_then(reason_code),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, CaError>>()?;
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + validity,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.intermediate)?.der().to_vec())
    }
}
