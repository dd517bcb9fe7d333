//! One-time tokens: JWTs in step-ca's JWK provisioner shape.
//!
//! Header `{"alg":"ES256","kid":<JWK thumbprint>,"typ":"JWT"}`; claims `iss` (provisioner
//! name), `aud` (`<ca_url>/1.0/sign`), `sub` (agent id), `sans`, `jti`, `iat`, `nbf`, `exp`
//! (+5 minutes), `sha` (root fingerprint). A step-ca configured with the same JWK
//! provisioner accepts these tokens unchanged.
//!
//! Verification is deliberately narrow: only ES256, only our `kid`, only our key. The JWT
//! library cannot represent `alg: none`, so such a token fails at header parsing.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub const OTT_LIFETIME: time::Duration = time::Duration::minutes(5);
/// Clock difference tolerated between the issuing and the verifying instance.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OttClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sans: Vec<String>,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub sha: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OttError {
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm {0} is not accepted (ES256 only)")]
    Algorithm(String),
    #[error("token was not issued by this provisioner")]
    UnknownKey,
    #[error("token expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audience is not this CA")]
    Audience,
    #[error("token issuer is not this provisioner")]
    Issuer,
    #[error("token signature is invalid")]
    Signature,
    #[error("token is for a different root CA")]
    Fingerprint,
    #[error("token claims are incomplete")]
    Claims,
    #[error("signing the token failed")]
    Sign,
    #[error("random number generator failed")]
    Random,
}

/// Signs `claims` with a PKCS#8 P-256 key; `kid` goes into the header.
pub(crate) fn sign(claims: &OttClaims, kid: &str, key: &EncodingKey) -> Result<String, OttError> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_string());
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, claims, key).map_err(|_| OttError::Sign)
}

pub(crate) fn new_claims(
    issuer: &str,
    audience: &str,
    subject: &str,
    root_fingerprint: &str,
    now: OffsetDateTime,
) -> Result<OttClaims, OttError> {
    let mut jti = [0u8; 32];
    getrandom::fill(&mut jti).map_err(|_| OttError::Random)?;
    let now = now.unix_timestamp();
    Ok(OttClaims {
        iss: issuer.to_string(),
        aud: audience.to_string(),
        sub: subject.to_string(),
        sans: vec![subject.to_string()],
        jti: hex::encode(jti),
        iat: now,
        nbf: now,
        exp: now + OTT_LIFETIME.whole_seconds(),
        sha: root_fingerprint.to_string(),
    })
}

/// What a valid token must say besides being signed by `key`.
pub(crate) struct Expectations<'a> {
    pub kid: &'a str,
    pub issuer: &'a str,
    pub audience: &'a str,
    pub root_fingerprint: &'a str,
}

pub(crate) fn verify(
    token: &str,
    key: &DecodingKey,
    expect: &Expectations<'_>,
) -> Result<OttClaims, OttError> {
    if token.len() > 4096 {
        return Err(OttError::Malformed);
    }
    // A header naming an algorithm outside the library's enum (`none`, `HS1`...) fails to
    // parse; read `alg` leniently to say why.
    let header = jsonwebtoken::decode_header(token).map_err(|_| match token_alg(token) {
        Some(alg) if alg != "ES256" => OttError::Algorithm(alg.chars().take(16).collect()),
        _ => OttError::Malformed,
    })?;
    if header.alg != Algorithm::ES256 {
        return Err(OttError::Algorithm(format!("{:?}", header.alg)));
    }
    if header.kid.as_deref() != Some(expect.kid) {
        return Err(OttError::UnknownKey);
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_audience(&[expect.audience]);
    validation.set_issuer(&[expect.issuer]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    let data = jsonwebtoken::decode::<OttClaims>(token, key, &validation).map_err(|err| {
        use jsonwebtoken::errors::ErrorKind;
        match err.kind() {
            ErrorKind::ExpiredSignature => OttError::Expired,
            ErrorKind::ImmatureSignature => OttError::NotYetValid,
            ErrorKind::InvalidAudience => OttError::Audience,
            ErrorKind::InvalidIssuer => OttError::Issuer,
            ErrorKind::InvalidSignature | ErrorKind::InvalidEcdsaKey => OttError::Signature,
            ErrorKind::InvalidAlgorithm => OttError::Algorithm("other".into()),
            ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => OttError::Claims,
            _ => OttError::Malformed,
        }
    })?;
    let claims = data.claims;
    if claims.sha != expect.root_fingerprint {
        return Err(OttError::Fingerprint);
    }
    if claims.sub.is_empty() || claims.jti.is_empty() || claims.sans.is_empty() || claims.jti.len() > 128 {
        return Err(OttError::Claims);
    }
    Ok(claims)
}

/// The `alg` of a compact JWS header, read leniently (for error messages only).
fn token_alg(token: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let header = URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&header).ok()?;
    value.get("alg")?.as_str().map(str::to_string)
}
