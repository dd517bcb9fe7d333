//! Just enough JWE (RFC 7516) to open step-ca's password-encrypted provisioner keys:
//! `alg` PBES2-HS256+A128KW (RFC 7518 §4.8), `enc` A128GCM or A256GCM, in compact or
//! flattened JSON serialization. Nothing else is accepted.

use std::num::NonZeroU32;

use aes_kw::KekAes128;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use serde::Deserialize;

const ALG: &str = "PBES2-HS256+A128KW";
/// Bounds on the PBKDF2 iteration count: below, the file is suspicious; above, decrypting
/// would stall start-up (step uses 100,000 to 600,000).
const MIN_P2C: u32 = 1_000;
const MAX_P2C: u32 = 10_000_000;

#[derive(Debug, thiserror::Error)]
pub enum JweError {
    #[error("not a JWE")]
    Format,
    #[error("unsupported JWE: {0}")]
    Unsupported(String),
    #[error("wrong password or corrupted key")]
    Decrypt,
}

#[derive(Deserialize)]
struct ProtectedHeader {
    alg: String,
    enc: String,
    p2s: String,
    p2c: u32,
}

#[derive(Deserialize)]
struct Flattened {
    protected: String,
    encrypted_key: String,
    iv: String,
    ciphertext: String,
    tag: String,
}

fn b64(text: &str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| JweError::Format)
}

/// Decrypts a compact (`a.b.c.d.e`) or flattened-JSON JWE with `password`.
pub fn decrypt(jwe: &str, password: &[u8]) -> Result<Vec<u8>, JweError> {
    let jwe = jwe.trim();
    let parts: Flattened = if jwe.starts_with('{') {
        serde_json::from_str(jwe).map_err(|_| JweError::Format)?
    } else {
        let p: Vec<&str> = jwe.split('.').collect();
        let [protected, encrypted_key, iv, ciphertext, tag] = p.as_slice() else {
            return Err(JweError::Format);
        };
        Flattened {
            protected: protected.to_string(),
            encrypted_key: encrypted_key.to_string(),
            iv: iv.to_string(),
            ciphertext: ciphertext.to_string(),
            tag: tag.to_string(),
        }
    };
    let header: ProtectedHeader =
        serde_json::from_slice(&b64(&parts.protected)?).map_err(|_| JweError::Format)?;
    if header.alg != ALG {
        return Err(JweError::Unsupported(format!("alg {}", header.alg)));
    }
    let (aead, cek_len) = match header.enc.as_str() {
        "A128GCM" => (&AES_128_GCM, 16),
        "A256GCM" => (&AES_256_GCM, 32),
        other => return Err(JweError::Unsupported(format!("enc {other}"))),
    };
    if !(MIN_P2C..=MAX_P2C).contains(&header.p2c) {
        return Err(JweError::Unsupported(format!("p2c {}", header.p2c)));
    }
    let kek = derive_kek(password, &b64(&header.p2s)?, header.p2c)?;
    let wrapped = b64(&parts.encrypted_key)?;
    if wrapped.len() != cek_len + 8 {
        return Err(JweError::Decrypt);
    }
    let mut cek = vec![0u8; cek_len];
    KekAes128::from(kek)
        .unwrap(&wrapped, &mut cek)
        .map_err(|_| JweError::Decrypt)?;
    let key = LessSafeKey::new(UnboundKey::new(aead, &cek).map_err(|_| JweError::Decrypt)?);
    let nonce = Nonce::try_assume_unique_for_key(&b64(&parts.iv)?).map_err(|_| JweError::Format)?;
    let mut buffer = b64(&parts.ciphertext)?;
    buffer.extend_from_slice(&b64(&parts.tag)?);
    // The AAD is the protected header exactly as transmitted (RFC 7516 §5.2 step 14).
    let plain = key
        .open_in_place(nonce, Aad::from(parts.protected.as_bytes()), &mut buffer)
        .map_err(|_| JweError::Decrypt)?;
    Ok(plain.to_vec())
}

/// RFC 7518 §4.8.1.1: salt = alg || 0x00 || p2s.
fn derive_kek(password: &[u8], p2s: &[u8], p2c: u32) -> Result<[u8; 16], JweError> {
    let mut salt = ALG.as_bytes().to_vec();
    salt.push(0);
    salt.extend_from_slice(p2s);
    let iterations = NonZeroU32::new(p2c).ok_or(JweError::Format)?;
    let mut kek = [0u8; 16];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password,
        &mut kek,
    );
    Ok(kek)
}

/// The inverse of [`decrypt`] (compact form, A256GCM), for test fixtures shaped like
/// step-ca's `encryptedKey`.
#[cfg(test)]
pub fn encrypt(plain: &[u8], password: &[u8], p2c: u32) -> String {
    let rand = |n: usize| {
        let mut v = vec![0u8; n];
        getrandom::fill(&mut v).unwrap();
        v
    };
    let header = serde_json::json!({
        "alg": ALG, "enc": "A256GCM", "cty": "jwk+json",
        "p2s": URL_SAFE_NO_PAD.encode(rand(16)), "p2c": p2c,
    });
    let protected = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    let p2s = URL_SAFE_NO_PAD.decode(header["p2s"].as_str().unwrap()).unwrap();
    let kek = derive_kek(password, &p2s, p2c).unwrap();
    let cek = rand(32);
    let mut wrapped = vec![0u8; 40];
    KekAes128::from(kek).wrap(&cek, &mut wrapped).unwrap();
    let iv = rand(12);
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &cek).unwrap());
    let mut buffer = plain.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::try_assume_unique_for_key(&iv).unwrap(),
            Aad::from(protected.as_bytes()),
            &mut buffer,
        )
        .unwrap();
    [
        protected,
        URL_SAFE_NO_PAD.encode(&wrapped),
        URL_SAFE_NO_PAD.encode(&iv),
        URL_SAFE_NO_PAD.encode(&buffer),
        URL_SAFE_NO_PAD.encode(tag.as_ref()),
    ]
    .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let jwe = encrypt(b"secret key", b"pw", 1_000);
        assert_eq!(decrypt(&jwe, b"pw").unwrap(), b"secret key");
        assert!(matches!(decrypt(&jwe, b"wrong"), Err(JweError::Decrypt)));
        assert!(matches!(decrypt("a.b.c", b"pw"), Err(JweError::Format)));
    }

    #[test]
    fn flattened_json_serialization_is_accepted() {
        let compact = encrypt(b"k", b"pw", 1_000);
        let p: Vec<&str> = compact.split('.').collect();
        let json = serde_json::json!({
            "protected": p[0], "encrypted_key": p[1], "iv": p[2], "ciphertext": p[3], "tag": p[4]
        })
        .to_string();
        assert_eq!(decrypt(&json, b"pw").unwrap(), b"k");
    }
}
