//! The JWK provisioner: the P-256 key that signs one-time tokens, and its name.
//!
//! Built-in mode creates the key on first start in `<data_dir>/provisioner.jwk` (mode
//! 0600). External step-ca mode loads step-ca's provisioner key instead (`stepca.rs`).

use std::path::Path;

use jsonwebtoken::{DecodingKey, EncodingKey};
use time::OffsetDateTime;

use super::jwk::{EcJwk, JwkError};
use super::ott::{self, Expectations, OttClaims, OttError};

pub const PROVISIONER_KEY_FILE: &str = "provisioner.jwk";
/// `iss` of tokens from the built-in CA.
pub const BUILTIN_PROVISIONER_NAME: &str = "vt-audit";

#[derive(Debug, thiserror::Error)]
pub enum ProvisionerError {
    #[error("provisioner key {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("provisioner key {path}: {source}")]
    Key {
        path: std::path::PathBuf,
        source: JwkError,
    },
    #[error("{0}")]
    StepCa(String),
}

/// Signs and verifies OTTs for one CA URL and root.
pub struct Provisioner {
    name: String,
    kid: String,
    public: EcJwk,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// `<ca_url>/1.0/sign`.
    audience: String,
    root_fingerprint: String,
}

impl std::fmt::Debug for Provisioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioner")
            .field("name", &self.name)
            .field("kid", &self.kid)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Provisioner {
    /// `jwk` must hold the private part. `kid` defaults to the thumbprint, as step-ca does.
    pub fn new(name: &str, jwk: &EcJwk, ca_url: &str, root_fingerprint: &str) -> Result<Self, JwkError> {
        let pkcs8 = jwk.to_pkcs8()?;
        let public = jwk.public();
        let decoding =
            DecodingKey::from_ec_components(&public.x, &public.y).map_err(|_| JwkError::Invalid)?;
        Ok(Self {
            name: name.to_string(),
            kid: jwk.kid.clone().unwrap_or_else(|| jwk.thumbprint()),
            public,
            encoding: EncodingKey::from_ec_der(&pkcs8),
            decoding,
            audience: format!("{}/1.0/sign", ca_url.trim_end_matches('/')),
            root_fingerprint: root_fingerprint.to_string(),
        })
    }

    /// Loads `<data_dir>/provisioner.jwk`, creating it when absent. Returns the key and
    /// whether it was created.
    pub fn load_or_create_key(data_dir: &Path) -> Result<(EcJwk, bool), ProvisionerError> {
        let path = data_dir.join(PROVISIONER_KEY_FILE);
        let io = |source| ProvisionerError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let jwk = EcJwk::parse(&bytes).map_err(|source| ProvisionerError::Key {
                    path: path.clone(),
                    source,
                })?;
                Ok((jwk, false))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let jwk = EcJwk::generate().map_err(|source| ProvisionerError::Key {
                    path: path.clone(),
                    source,
                })?;
                let json = serde_json::to_vec_pretty(&jwk).map_err(|e| io(std::io::Error::other(e)))?;
                write_secret(&path, &json).map_err(io)?;
                Ok((jwk, true))
            }
            Err(err) => Err(io(err)),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_jwk(&self) -> &EcJwk {
        &self.public
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn root_fingerprint(&self) -> &str {
        &self.root_fingerprint
    }

    /// A token authorising one certificate for `agent_id`.
    pub fn issue(&self, agent_id: &str, now: OffsetDateTime) -> Result<(String, OttClaims), OttError> {
        let claims = ott::new_claims(&self.name, &self.audience, agent_id, &self.root_fingerprint, now)?;
        let token = ott::sign(&claims, &self.kid, &self.encoding)?;
        Ok((token, claims))
    }

    /// Checks signature, algorithm, key id, issuer, audience, validity window and root
    /// fingerprint. Single use is the caller's job (storage `mark_ott_used`).
    pub fn verify(&self, token: &str) -> Result<OttClaims, OttError> {
        ott::verify(
            token,
            &self.decoding,
            &Expectations {
                kid: &self.kid,
                issuer: &self.name,
                audience: &self.audience,
                root_fingerprint: &self.root_fingerprint,
            },
        )
    }
}

/// Creates a file with mode 0600 from the start (never world-readable, even briefly).
pub(crate) fn write_secret(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    fn provisioner() -> Provisioner {
        let jwk = EcJwk::generate().unwrap();
        Provisioner::new("vt-audit", &jwk, "https://ca.example:9443/", &"ab".repeat(32)).unwrap()
    }

    fn b64json(value: serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&value).unwrap())
    }

    #[test]
    fn token_has_step_ca_jwk_shape_and_verifies() {
        let p = provisioner();
        let now = OffsetDateTime::now_utc();
        let (token, claims) = p.issue("agent-1", now).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], p.public_jwk().thumbprint());
        let body: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(body["aud"], "https://ca.example:9443/1.0/sign");
        assert_eq!(body["iss"], "vt-audit");
        assert_eq!(body["sub"], "agent-1");
        assert_eq!(body["sans"], serde_json::json!(["agent-1"]));
        assert_eq!(body["sha"], "ab".repeat(32));
        assert_eq!(claims.exp - claims.iat, 300);
        assert_eq!(p.verify(&token).unwrap(), claims);
    }

    #[test]
    fn other_keys_algorithms_and_audiences_are_refused() {
        let p = provisioner();
        let now = OffsetDateTime::now_utc();
        let (token, claims) = p.issue("agent-1", now).unwrap();

        // Same kid, different key: signature check fails.
        let other = EcJwk::generate().unwrap();
        let mut forged = other.clone();
        forged.kid = Some(p.kid().to_string());
        let forger =
            Provisioner::new("vt-audit", &forged, "https://ca.example:9443", &"ab".repeat(32)).unwrap();
        let (forged_token, _) = forger.issue("agent-1", now).unwrap();
        assert!(matches!(p.verify(&forged_token), Err(OttError::Signature)));

        // alg none, unsigned.
        let none = format!(
            "{}.{}.",
            b64json(serde_json::json!({"alg": "none", "kid": p.kid()})),
            b64json(serde_json::to_value(&claims).unwrap())
        );
        assert!(matches!(p.verify(&none), Err(OttError::Algorithm(_))));

        // HS256 with the public key as secret (the classic confusion attack).
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header {
                kid: Some(p.kid().into()),
                ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
            },
            &claims,
            &EncodingKey::from_secret(p.public_jwk().x.as_bytes()),
        )
        .unwrap();
        assert!(matches!(p.verify(&hs), Err(OttError::Algorithm(_))));

        // Different audience.
        let elsewhere = Provisioner::new(
            "vt-audit",
            &{
                let mut k = EcJwk::parse(&serde_json::to_vec(&p.public_jwk()).unwrap()).unwrap();
                k.d = None;
                k
            },
            "https://x",
            "",
        );
        assert!(elsewhere.is_err(), "a public JWK cannot sign");
        let mut wrong_aud = claims.clone();
        wrong_aud.aud = "https://evil.example/1.0/sign".into();
        let token2 = ott::sign(&wrong_aud, p.kid(), &p.encoding).unwrap();
        assert!(matches!(p.verify(&token2), Err(OttError::Audience)));

        // Expired.
        let mut old = claims.clone();
        old.iat -= 3600;
        old.nbf -= 3600;
        old.exp -= 3600;
        let token3 = ott::sign(&old, p.kid(), &p.encoding).unwrap();
        assert!(matches!(p.verify(&token3), Err(OttError::Expired)));

        // Different root fingerprint.
        let mut sha = claims;
        sha.sha = "cd".repeat(32);
        let token4 = ott::sign(&sha, p.kid(), &p.encoding).unwrap();
        assert!(matches!(p.verify(&token4), Err(OttError::Fingerprint)));

        assert!(p.verify(&token).is_ok());
        assert!(matches!(p.verify("garbage"), Err(OttError::Malformed)));
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = Provisioner::load_or_create_key(dir.path()).unwrap();
        assert!(created);
        let (second, created) = Provisioner::load_or_create_key(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first.thumbprint(), second.thumbprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(PROVISIONER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
