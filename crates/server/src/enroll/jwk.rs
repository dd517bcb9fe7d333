//! P-256 JSON Web Keys (RFC 7517/7518) as step-ca stores provisioner keys, and the RFC 7638
//! thumbprint step-ca uses as `kid`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum JwkError {
    #[error("not a JSON Web Key: {0}")]
    Json(String),
    #[error("unsupported key: {0} (the provisioner key must be an EC P-256 key)")]
    Unsupported(String),
    #[error("the JWK has no private part (\"d\")")]
    NoPrivateKey,
    #[error("invalid key material")]
    Invalid,
    #[error("random number generator failed")]
    Random,
}

/// An EC P-256 JWK. `d` is present for a private key. `Debug` hides `d`.
#[derive(Clone, Serialize, Deserialize)]
pub struct EcJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
}

impl std::fmt::Debug for EcJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcJwk")
            .field("crv", &self.crv)
            .field("kid", &self.kid)
            .field("d", &self.d.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// DER prefix of a PKCS#8 v1 P-256 private key with its public key (RFC 5915 inside
/// RFC 5208), the exact layout ring produces and accepts: prefix, 32-byte scalar, middle,
/// 65-byte uncompressed point.
const PKCS8_PREFIX: [u8; 36] = [
    0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01,
    0x04, 0x20,
];
const PKCS8_MIDDLE: [u8; 5] = [0xa1, 0x44, 0x03, 0x42, 0x00];
const PKCS8_LEN: usize = PKCS8_PREFIX.len() + 32 + PKCS8_MIDDLE.len() + 65;

impl EcJwk {
    /// A new random P-256 key with `kid` set to its thumbprint.
    pub fn generate() -> Result<Self, JwkError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| JwkError::Random)?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, JwkError> {
        if der.len() != PKCS8_LEN
            || der[..PKCS8_PREFIX.len()] != PKCS8_PREFIX
            || der[PKCS8_PREFIX.len() + 32..PKCS8_PREFIX.len() + 32 + PKCS8_MIDDLE.len()] != PKCS8_MIDDLE
        {
            return Err(JwkError::Invalid);
        }
        let d = &der[PKCS8_PREFIX.len()..PKCS8_PREFIX.len() + 32];
        let point = &der[PKCS8_LEN - 65..];
        let mut jwk = EcJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..]),
            d: Some(URL_SAFE_NO_PAD.encode(d)),
            kid: None,
            key_use: Some("sig".into()),
            alg: Some("ES256".into()),
        };
        jwk.kid = Some(jwk.thumbprint());
        Ok(jwk)
    }

    pub fn parse(json: &[u8]) -> Result<Self, JwkError> {
        let jwk: EcJwk = serde_json::from_slice(json).map_err(|e| JwkError::Json(e.to_string()))?;
        jwk.check_public()?;
        Ok(jwk)
    }

    fn check_public(&self) -> Result<(), JwkError> {
        if self.kty != "EC" || self.crv != "P-256" {
            return Err(JwkError::Unsupported(format!(
                "kty {} crv {}",
                self.kty, self.crv
            )));
        }
        if let Some(alg) = &self.alg {
            if alg != "ES256" {
                return Err(JwkError::Unsupported(format!("alg {alg}")));
            }
        }
        // Coordinates must be 32 bytes; whether the point is on the curve is checked by
        // ring when the key is used (to_pkcs8 for private keys, verification for public).
        self.public_point().map(|_| ())
    }

    /// The uncompressed public point `04 || x || y`.
    pub fn public_point(&self) -> Result<Vec<u8>, JwkError> {
        let mut point = vec![0x04];
        point.extend_from_slice(&decode32(&self.x)?);
        point.extend_from_slice(&decode32(&self.y)?);
        Ok(point)
    }

    /// PKCS#8 DER of the private key; ring checks that `d` and the public point belong
    /// together, so a tampered file is refused here.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, JwkError> {
        let d = decode32(self.d.as_deref().ok_or(JwkError::NoPrivateKey)?)?;
        let mut der = Vec::with_capacity(PKCS8_LEN);
        der.extend_from_slice(&PKCS8_PREFIX);
        der.extend_from_slice(&d);
        der.extend_from_slice(&PKCS8_MIDDLE);
        der.extend_from_slice(&self.public_point()?);
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new())
            .map_err(|_| JwkError::Invalid)?;
        if pair.public_key().as_ref() != self.public_point()?.as_slice() {
            return Err(JwkError::Invalid);
        }
        Ok(der)
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
            self.crv, self.kty, self.x, self.y
        );
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The same key without its private part.
    pub fn public(&self) -> EcJwk {
        EcJwk {
            d: None,
            ..self.clone()
        }
    }
}

fn decode32(text: &str) -> Result<[u8; 32], JwkError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| JwkError::Invalid)?;
    bytes.try_into().map_err(|_| JwkError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_json_and_pkcs8() {
        let jwk = EcJwk::generate().unwrap();
        let json = serde_json::to_vec(&jwk).unwrap();
        let back = EcJwk::parse(&json).unwrap();
        assert_eq!(back.to_pkcs8().unwrap(), jwk.to_pkcs8().unwrap());
        assert_eq!(back.kid.as_deref(), Some(jwk.thumbprint().as_str()));
        assert!(!format!("{jwk:?}").contains(jwk.d.as_deref().unwrap()));
    }

    #[test]
    fn rfc7638_thumbprint_example_shape() {
        // The thumbprint covers only crv/kty/x/y: kid, use and d do not change it.
        let jwk = EcJwk::generate().unwrap();
        let mut other = jwk.public();
        other.kid = Some("something else".into());
        assert_eq!(other.thumbprint(), jwk.thumbprint());
    }

    #[test]
    fn mismatched_private_and_public_parts_are_refused() {
        let a = EcJwk::generate().unwrap();
        let b = EcJwk::generate().unwrap();
        let mixed = EcJwk { d: b.d.clone(), ..a };
        assert!(mixed.to_pkcs8().is_err());
    }

    #[test]
    fn other_curves_are_refused() {
        let json = br#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#;
        assert!(matches!(EcJwk::parse(json), Err(JwkError::Unsupported(_))));
    }
}
