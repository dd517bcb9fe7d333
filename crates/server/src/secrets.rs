//! Generation of the secrets the server hands out (enrollment tokens, API keys). Only their
//! SHA-256 is stored; the clear text is shown once to the operator.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use vt_wire::token::EnrollmentTokenText;

use crate::storage::sha256_hex;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("random number generator failed")]
    Random,
    #[error("{0}")]
    Format(#[from] vt_wire::token::TokenFormatError),
}

/// 32 random bytes, base64url without padding (43 characters).
pub fn random_secret() -> Result<String, SecretError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| SecretError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub fn new_enrollment_token(root_fingerprint: &str) -> Result<EnrollmentTokenText, SecretError> {
    Ok(EnrollmentTokenText::new(
        random_secret()?,
        root_fingerprint.to_string(),
    )?)
}

/// An API key: `vtk1_<secret>`. The prefix makes keys recognisable to secret scanners.
pub struct NewApiKeyText {
    pub text: String,
    pub hash: String,
}

pub const API_KEY_PREFIX: &str = "vtk1_";

pub fn new_api_key() -> Result<NewApiKeyText, SecretError> {
    let text = format!("{API_KEY_PREFIX}{}", random_secret()?);
    let hash = api_key_hash(&text);
    Ok(NewApiKeyText { text, hash })
}

/// The stored form of an API key presented in `Authorization: Bearer`.
pub fn api_key_hash(text: &str) -> String {
    sha256_hex(text.as_bytes())
}
