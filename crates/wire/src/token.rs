//! Enrollment token text format, shared by the server (which prints it) and the agent
//! (which must read the root fingerprint out of it before contacting the server).
//!
//! `vt1.<secret>.<root-fingerprint>`
//! - `vt1`: format version;
//! - `<secret>`: 32 random bytes, base64url without padding (43 characters). The server
//!   stores only its SHA-256;
//! - `<root-fingerprint>`: lowercase hex SHA-256 of the root CA certificate DER (64
//!   characters), step-ca's fingerprint format. The agent pins the server's chain to it.
//!
//! Dots never occur in base64url or hex, so splitting on `.` is unambiguous.

use sha2::{Digest, Sha256};

pub const PREFIX: &str = "vt1";
const SECRET_LEN: usize = 43;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("not a VT-Audit enrollment token (expected vt1.<secret>.<fingerprint>)")]
    Shape,
    #[error("token secret is malformed")]
    Secret,
    #[error("token root fingerprint is not a lowercase hex SHA-256")]
    Fingerprint,
}

/// A parsed token. `Debug` hides the secret so the token cannot end up in logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentTokenText {
    secret: String,
    pub root_fingerprint: String,
}

impl std::fmt::Debug for EnrollmentTokenText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentTokenText")
            .field("secret", &"<redacted>")
            .field("root_fingerprint", &self.root_fingerprint)
            .finish()
    }
}

impl EnrollmentTokenText {
    /// `secret` must be base64url (no padding) of 32 bytes.
    pub fn new(secret: String, root_fingerprint: String) -> Result<Self, TokenFormatError> {
        if secret.len() != SECRET_LEN
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(TokenFormatError::Secret);
        }
        crate::error::check::sha256_hex("fingerprint", &root_fingerprint)
            .map_err(|_| TokenFormatError::Fingerprint)?;
        Ok(Self {
            secret,
            root_fingerprint,
        })
    }

    pub fn parse(text: &str) -> Result<Self, TokenFormatError> {
        let mut parts = text.trim().split('.');
        let (Some(PREFIX), Some(secret), Some(fingerprint), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenFormatError::Shape);
        };
        Self::new(secret.to_string(), fingerprint.to_string())
    }

    /// The full token text, to show to the operator once.
    pub fn expose(&self) -> String {
        format!("{PREFIX}.{}.{}", self.secret, self.root_fingerprint)
    }

    /// Lowercase hex SHA-256 of the secret part: what the server stores and looks up.
    pub fn secret_hash(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn round_trip_and_hash() {
        let fingerprint = "0f".repeat(32);
        let token = EnrollmentTokenText::new(SECRET.into(), fingerprint.clone()).unwrap();
        let text = token.expose();
        assert_eq!(text, format!("vt1.{SECRET}.{fingerprint}"));
        let parsed = EnrollmentTokenText::parse(&text).unwrap();
        assert_eq!(parsed, token);
        assert_eq!(
            parsed.secret_hash(),
            hex::encode(Sha256::digest(SECRET.as_bytes()))
        );
        assert!(
            !format!("{parsed:?}").contains(SECRET),
            "Debug must not reveal the secret"
        );
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let fp = "0f".repeat(32);
        assert_eq!(
            EnrollmentTokenText::parse(&format!("vt2.{SECRET}.{fp}")),
            Err(TokenFormatError::Shape)
        );
        assert_eq!(
            EnrollmentTokenText::parse(&format!("vt1.{SECRET}")),
            Err(TokenFormatError::Shape)
        );
        assert_eq!(
            EnrollmentTokenText::parse(&format!("vt1.{SECRET}.{fp}.x")),
            Err(TokenFormatError::Shape)
        );
        assert_eq!(
            EnrollmentTokenText::parse(&format!("vt1.short.{fp}")),
            Err(TokenFormatError::Secret)
        );
        assert_eq!(
            EnrollmentTokenText::parse(&format!("vt1.{SECRET}.{}", "0F".repeat(32))),
            Err(TokenFormatError::Fingerprint)
        );
    }
}
