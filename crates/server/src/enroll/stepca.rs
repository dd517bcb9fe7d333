//! External step-ca mode: load step-ca's JWK provisioner key so vt-server issues OTTs that
//! step-ca accepts, and step-ca's roots so the agent listener trusts what it signs.
//!
//! Accepted key sources (`--stepca-key`):
//! - a private JWK (JSON with `d`);
//! - a password-encrypted JWK (JWE, compact or JSON), as `step crypto jwk create` writes;
//! - step-ca's `ca.json`: the provisioner named by `--stepca-provisioner` (type JWK) and its
//!   `encryptedKey`, opened with `--stepca-password-file`.
//!
//! No step-ca runs in this project's tests; the formats are exercised with fixtures the
//! tests generate.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::jwe;
use super::jwk::EcJwk;
use super::provisioner::{Provisioner, ProvisionerError};

pub struct StepCaSettings<'a> {
    pub url: &'a str,
    pub provisioner: &'a str,
    pub key: &'a Path,
    pub password_file: Option<&'a Path>,
    pub root: &'a Path,
}

/// The step-ca root certificates (DER) and the provisioner.
pub struct StepCa {
    pub provisioner: Provisioner,
    pub roots_der: Vec<Vec<u8>>,
    pub roots_pem: String,
}

fn error(message: impl Into<String>) -> ProvisionerError {
    ProvisionerError::StepCa(message.into())
}

fn read(path: &Path) -> Result<String, ProvisionerError> {
    std::fs::read_to_string(path).map_err(|source| ProvisionerError::Io {
        path: PathBuf::from(path),
        source,
    })
}

pub fn load(settings: &StepCaSettings<'_>) -> Result<StepCa, ProvisionerError> {
    let roots_pem = read(settings.root)?;
    let roots_der: Vec<Vec<u8>> = x509_parser::pem::Pem::iter_from_buffer(roots_pem.as_bytes())
        .filter_map(Result::ok)
        .filter(|pem| pem.label == "CERTIFICATE")
        .map(|pem| pem.contents)
        .collect();
    let Some(first) = roots_der.first() else {
        return Err(error(format!(
            "{}: no PEM certificate found",
            settings.root.display()
        )));
    };
    let fingerprint = crate::ca::fingerprint(first);
    let password = match settings.password_file {
        Some(path) => Some(read(path)?.trim_end_matches(['\r', '\n']).to_string()),
        None => None,
    };
    let jwk = load_key(&read(settings.key)?, settings.provisioner, password.as_deref())
        .map_err(|m| error(format!("{}: {m}", settings.key.display())))?;
    let provisioner =
        Provisioner::new(settings.provisioner, &jwk, settings.url, &fingerprint).map_err(|source| {
            ProvisionerError::Key {
                path: settings.key.to_path_buf(),
                source,
            }
        })?;
    Ok(StepCa {
        provisioner,
        roots_der,
        roots_pem,
    })
}

/// The private JWK from any accepted source; errors are messages for the operator.
pub fn load_key(text: &str, provisioner: &str, password: Option<&str>) -> Result<EcJwk, String> {
    let trimmed = text.trim();
    let json: Option<Value> = serde_json::from_str(trimmed).ok();
    let decrypt = |jwe_text: &str| -> Result<EcJwk, String> {
        let password = password.ok_or("the key is encrypted: give --stepca-password-file")?;
        let plain = jwe::decrypt(jwe_text, password.as_bytes()).map_err(|e| e.to_string())?;
        EcJwk::parse(&plain).map_err(|e| e.to_string())
    };
    let jwk = match &json {
        Some(value) if value.get("kty").is_some() => {
            EcJwk::parse(trimmed.as_bytes()).map_err(|e| e.to_string())?
        }
        Some(value) if value.get("protected").is_some() => decrypt(trimmed)?,
        Some(value) if value.get("authority").is_some() => from_ca_json(value, provisioner, &decrypt)?,
        Some(_) => return Err("JSON is neither a JWK, a JWE nor a step-ca ca.json".into()),
        None if trimmed.split('.').count() == 5 => decrypt(trimmed)?,
        None => return Err("not JSON and not a compact JWE".into()),
    };
    if jwk.d.is_none() {
        return Err("this is a public key; the provisioner's private key is needed".into());
    }
    Ok(jwk)
}

fn from_ca_json(
    ca_json: &Value,
    name: &str,
    decrypt: &dyn Fn(&str) -> Result<EcJwk, String>,
) -> Result<EcJwk, String> {
    let provisioners = ca_json
        .pointer("/authority/provisioners")
        .and_then(Value::as_array)
        .ok_or("ca.json has no authority.provisioners")?;
    let entry = provisioners
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
        .ok_or_else(|| format!("ca.json has no provisioner named {name:?}"))?;
    if entry.get("type").and_then(Value::as_str) != Some("JWK") {
        return Err(format!("provisioner {name:?} is not of type JWK"));
    }
    let encrypted = entry
        .get("encryptedKey")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("provisioner {name:?} has no encryptedKey"))?;
    let mut jwk = decrypt(encrypted)?;
    // The public key step-ca verifies with is `key`; refuse a private key that is not its
    // pair, and use its kid (step-ca looks provisioners up by it).
    if let Some(public) = entry.get("key") {
        let public: EcJwk =
            serde_json::from_value(public.clone()).map_err(|e| format!("provisioner key: {e}"))?;
        if public.x != jwk.x || public.y != jwk.y {
            return Err("encryptedKey does not match the provisioner's public key".into());
        }
        if public.kid.is_some() {
            jwk.kid = public.kid;
        }
    }
    Ok(jwk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_json(jwk: &EcJwk, encrypted: &str) -> String {
        serde_json::json!({
            "root": "/home/step/certs/root_ca.crt",
            "dnsNames": ["ca.internal"],
            "authority": {
                "provisioners": [
                    {"type": "ACME", "name": "acme"},
                    {
                        "type": "JWK",
                        "name": "vt-audit@example.com",
                        "key": jwk.public(),
                        "encryptedKey": encrypted
                    }
                ]
            }
        })
        .to_string()
    }

    #[test]
    fn plain_private_jwk() {
        let jwk = EcJwk::generate().unwrap();
        let loaded = load_key(&serde_json::to_string(&jwk).unwrap(), "x", None).unwrap();
        assert_eq!(loaded.thumbprint(), jwk.thumbprint());
        let public = serde_json::to_string(&jwk.public()).unwrap();
        assert!(load_key(&public, "x", None).unwrap_err().contains("public key"));
    }

    #[test]
    fn encrypted_jwk_needs_the_password() {
        let jwk = EcJwk::generate().unwrap();
        let jwe = jwe::encrypt(&serde_json::to_vec(&jwk).unwrap(), b"hunter2", 1_000);
        assert!(load_key(&jwe, "x", None).unwrap_err().contains("password"));
        assert!(load_key(&jwe, "x", Some("nope"))
            .unwrap_err()
            .contains("wrong password"));
        let loaded = load_key(&jwe, "x", Some("hunter2")).unwrap();
        assert_eq!(loaded.thumbprint(), jwk.thumbprint());
    }

    #[test]
    fn ca_json_provisioner_entry() {
        let mut jwk = EcJwk::generate().unwrap();
        jwk.kid = Some("step-kid".into());
        let jwe = jwe::encrypt(&serde_json::to_vec(&jwk).unwrap(), b"pw", 1_000);
        let text = ca_json(&jwk, &jwe);
        let loaded = load_key(&text, "vt-audit@example.com", Some("pw")).unwrap();
        assert_eq!(loaded.kid.as_deref(), Some("step-kid"));
        assert!(load_key(&text, "acme", Some("pw"))
            .unwrap_err()
            .contains("not of type JWK"));
        assert!(load_key(&text, "missing", Some("pw"))
            .unwrap_err()
            .contains("no provisioner"));

        let other = EcJwk::generate().unwrap();
        let mismatched = ca_json(&other, &jwe);
        assert!(load_key(&mismatched, "vt-audit@example.com", Some("pw"))
            .unwrap_err()
            .contains("does not match"));
    }

    #[test]
    fn full_load_issues_step_ca_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let root_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let root = params.self_signed(&root_key).unwrap();
        std::fs::write(dir.path().join("root_ca.crt"), root.pem()).unwrap();
        let jwk = EcJwk::generate().unwrap();
        let jwe = jwe::encrypt(&serde_json::to_vec(&jwk).unwrap(), b"pw", 1_000);
        std::fs::write(dir.path().join("ca.json"), ca_json(&jwk, &jwe)).unwrap();
        std::fs::write(dir.path().join("password"), "pw\n").unwrap();

        let step = load(&StepCaSettings {
            url: "https://ca.internal:9000",
            provisioner: "vt-audit@example.com",
            key: &dir.path().join("ca.json"),
            password_file: Some(&dir.path().join("password")),
            root: &dir.path().join("root_ca.crt"),
        })
        .unwrap();
        assert_eq!(step.roots_der.len(), 1);
        let (token, claims) = step
            .provisioner
            .issue("agent-7", time::OffsetDateTime::now_utc())
            .unwrap();
        assert_eq!(claims.aud, "https://ca.internal:9000/1.0/sign");
        assert_eq!(claims.iss, "vt-audit@example.com");
        assert_eq!(claims.sha, crate::ca::fingerprint(root.der()));
        // step-ca verifies with the public key from ca.json: emulate that.
        let decoding = jsonwebtoken::DecodingKey::from_ec_components(&jwk.x, &jwk.y).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&["https://ca.internal:9000/1.0/sign"]);
        let decoded = jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(decoded.header.kid.as_deref(), Some(jwk.thumbprint().as_str()));
        assert_eq!(decoded.claims["sans"], serde_json::json!(["agent-7"]));
    }
}
