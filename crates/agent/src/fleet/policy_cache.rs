//! The last policy received from the server, kept on disk so an unreachable server still
//! gets its host audited. It is verified against its hash on every load.

use vt_policy::Policy;
use vt_wire::PolicyResponse;

use super::Layout;
use crate::output::write_atomically;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("no policy has been received from the server yet")]
    Empty,
    #[error("the cached policy is corrupt ({0}); it will be fetched again")]
    Corrupt(String),
    #[error("cannot write the policy cache: {0}")]
    Io(#[from] std::io::Error),
}

pub fn save(layout: &Layout, response: &PolicyResponse) -> Result<(), CacheError> {
    let bytes = serde_json::to_vec(response).map_err(|e| CacheError::Corrupt(e.to_string()))?;
    write_atomically(&layout.policy_cache(), &bytes)?;
    Ok(())
}

/// The cached response, only if its bytes still match its hash.
pub fn load(layout: &Layout) -> Result<PolicyResponse, CacheError> {
    let bytes = match std::fs::read(layout.policy_cache()) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CacheError::Empty),
        Err(e) => return Err(CacheError::Io(e)),
    };
    let response: PolicyResponse =
        serde_json::from_slice(&bytes).map_err(|e| CacheError::Corrupt(e.to_string()))?;
    if !response.hash_matches() {
        return Err(CacheError::Corrupt("hash mismatch".into()));
    }
    Ok(response)
}

/// Parses the policy a response carries (canonical JSON is valid YAML).
pub fn parse(response: &PolicyResponse) -> Result<Policy, String> {
    vt_policy::parse_policy(response.policy.get()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampered_cache_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        assert!(matches!(load(&layout), Err(CacheError::Empty)));
        let canonical = r#"{"policy":{"id":"p","name":"P","os":"linux"},"rules":[{"check":{"expect":{"exists":true},"file":"/etc/hostname"},"id":"R","severity":"low","title":"t"}]}"#;
        let response = PolicyResponse::new("p".into(), 1, canonical.into(), 3600, 60).unwrap();
        save(&layout, &response).unwrap();
        let loaded = load(&layout).unwrap();
        assert_eq!(loaded.hash, response.hash);
        assert_eq!(parse(&loaded).unwrap().rules.len(), 1);
        let text = std::fs::read_to_string(layout.policy_cache())
            .unwrap()
            .replace("/etc/hostname", "/etc/hostnamf");
        std::fs::write(layout.policy_cache(), text).unwrap();
        assert!(matches!(load(&layout), Err(CacheError::Corrupt(_))));
    }
}
