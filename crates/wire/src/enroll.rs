//! Enrollment (`POST /api/enroll`) and step-ca compatible signing (`POST /1.0/sign`).

use serde::{Deserialize, Serialize};

use crate::error::check;
use crate::limits::{MAX_ID_LEN, MAX_SHORT_TEXT_LEN};
use crate::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The enrollment token as printed by `vt-server token create`.
    pub token: String,
    pub hostname: String,
    /// Stable machine identifier; re-enrolling the same machine reuses its agent record.
    pub machine_id: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub agent_version: String,
}

impl EnrollRequest {
    pub fn validate(&self) -> Result<(), ValidationError> {
        // Tokens are short; a long one is garbage, and it must not reach the hash lookup.
        check::non_empty_max("token", &self.token, 512)?;
        check::non_empty_max("hostname", &self.hostname, MAX_SHORT_TEXT_LEN)?;
        check::non_empty_max("machine_id", &self.machine_id, MAX_ID_LEN)?;
        check::non_empty_max("os", &self.os, MAX_SHORT_TEXT_LEN)?;
        check::max_len("os_version", &self.os_version, MAX_SHORT_TEXT_LEN)?;
        check::max_len("arch", &self.arch, MAX_SHORT_TEXT_LEN)?;
        check::max_len("agent_version", &self.agent_version, MAX_SHORT_TEXT_LEN)?;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub agent_id: String,
    /// One-time token (a JWT in step-ca's JWK provisioner shape) for `/1.0/sign`.
    pub ott: String,
    /// Base URL of the CA; the OTT's audience is `<ca_url>/1.0/sign`.
    pub ca_url: String,
    /// RFC 3339 expiry of the OTT.
    pub expires_at: String,
}

/// step-ca's sign request: a PEM CSR plus the OTT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequest {
    pub csr: String,
    pub ott: String,
}

impl SignRequest {
    pub fn validate(&self) -> Result<(), ValidationError> {
        // An RSA-8192 CSR in PEM is about 3 KB; 16 KB leaves room without inviting abuse.
        check::non_empty_max("csr", &self.csr, 16_384)?;
        check::non_empty_max("ott", &self.ott, 4_096)?;
        Ok(())
    }
}

/// step-ca's sign response. `crt` is the leaf, `ca` the issuing intermediate, `certChain`
/// the leaf followed by the intermediates (all PEM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignResponse {
    pub crt: String,
    pub ca: String,
    #[serde(rename = "certChain")]
    pub cert_chain: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_response_uses_step_ca_field_names() {
        let response = SignResponse {
            crt: "c".into(),
            ca: "i".into(),
            cert_chain: vec!["c".into(), "i".into()],
        };
        let json = serde_json::to_value(&response).unwrap();
        assert!(json.get("certChain").is_some());
        assert!(json.get("cert_chain").is_none());
    }

    #[test]
    fn enroll_request_validation() {
        let mut request = EnrollRequest {
            token: "vt1.x.y".into(),
            hostname: "web-1".into(),
            machine_id: "abc".into(),
            os: "linux".into(),
            os_version: "12".into(),
            arch: "x86_64".into(),
            agent_version: "0.1.0".into(),
        };
        assert!(request.validate().is_ok());
        request.machine_id = String::new();
        assert_eq!(
            request.validate(),
            Err(ValidationError::Empty {
                field: "machine_id".into()
            })
        );
        request.machine_id = "m".repeat(MAX_ID_LEN + 1);
        assert!(matches!(request.validate(), Err(ValidationError::TooLong { .. })));
    }
}
