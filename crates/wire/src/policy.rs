use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// `GET /agent/v1/policy`.
///
/// `policy` is carried as raw JSON: the exact canonical bytes the server hashed. An agent
/// checks `hash` over `policy.get()` without re-serialising, so no JSON library's
/// formatting choices can break the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyResponse {
    pub policy_id: String,
    pub version: i64,
    /// Lowercase hex SHA-256 of `policy`'s bytes; also the HTTP `ETag`.
    pub hash: String,
    pub interval_seconds: u64,
    pub jitter_seconds: u64,
    pub policy: Box<RawValue>,
}

impl PolicyResponse {
    /// Builds a response from the stored canonical JSON text.
    pub fn new(
        policy_id: String,
        version: i64,
        canonical_json: String,
        interval_seconds: u64,
        jitter_seconds: u64,
    ) -> Result<Self, serde_json::Error> {
        let hash = hex::encode(Sha256::digest(canonical_json.as_bytes()));
        let policy = RawValue::from_string(canonical_json)?;
        Ok(Self {
            policy_id,
            version,
            hash,
            interval_seconds,
            jitter_seconds,
            policy,
        })
    }

    /// True when `hash` is the SHA-256 of the policy bytes as received.
    pub fn hash_matches(&self) -> bool {
        hex::encode(Sha256::digest(self.policy.get().as_bytes())) == self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_bytes_travel_verbatim_and_hash_verifies() {
        let canonical = r#"{"policy":{"id":"p","name":"P","os":"linux"},"rules":[]}"#.to_string();
        let response = PolicyResponse::new("p".into(), 3, canonical.clone(), 3600, 300).unwrap();
        let json = serde_json::to_string(&response).unwrap();
        assert!(json.contains(&canonical));
        let received: PolicyResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(received.policy.get(), canonical);
        assert!(received.hash_matches());

        let tampered = json.replace("\"linux\"", "\"windows\"");
        let received: PolicyResponse = serde_json::from_str(&tampered).unwrap();
        assert!(!received.hash_matches());
    }
}
