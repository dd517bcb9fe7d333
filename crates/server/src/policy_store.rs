//! Importing policies into storage: validate with vt-policy, store the YAML and the
//! canonical JSON served to agents, optionally activate, audit-log. Used by `vt-server
//! policy import` and by the first start, which imports the shipped baselines.

use time::OffsetDateTime;
use vt_policy::canonical::canonical_json;

use crate::storage::{NewAuditEntry, NewPolicyVersion, PolicyVersion, Storage, StorageError};

/// The baselines shipped in `policies/`, embedded so a fresh install needs no other file.
pub const BASELINES: &[(&str, &str)] = &[
    (
        "policies/linux-baseline.yml",
        include_str!("../../../policies/linux-baseline.yml"),
    ),
    (
        "policies/windows-baseline.yml",
        include_str!("../../../policies/windows-baseline.yml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Display gives `file:line:col: message` per problem.
    #[error("{0}")]
    Invalid(vt_policy::PolicyError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, Clone)]
pub struct Imported {
    pub version: PolicyVersion,
    /// False when an identical version (same canonical bytes) already existed and was reused.
    pub created: bool,
    pub activated: bool,
}

/// Validates and stores `yaml`. `file` names the source in error messages; `actor` goes to
/// the audit log (`cli`, `system`, `apikey:<id>`).
pub async fn import_policy(
    storage: &dyn Storage,
    file: &str,
    yaml: &str,
    actor: &str,
    activate: bool,
    now: OffsetDateTime,
) -> Result<Imported, ImportError> {
    let policy = vt_policy::parse_policy(yaml).map_err(|e| ImportError::Invalid(e.with_file(file)))?;
    let canonical = canonical_json(&policy);
    let hash = crate::storage::sha256_hex(canonical.as_bytes());
    let policy_id = policy.meta.id.clone();
    // Re-importing the same content must not mint a new version: versions are immutable
    // and agents key their caches on the hash.
    let (version, created) = match storage.find_policy_version_by_hash(&policy_id, &hash).await? {
        Some(existing) => (existing, false),
        None => {
            let version = storage
                .create_policy_version(&NewPolicyVersion {
                    policy_id: policy_id.clone(),
                    os: policy.meta.os.as_str().to_string(),
                    yaml_source: yaml.to_string(),
                    canonical_json: canonical,
                    author: actor.to_string(),
                    created_at: now,
                })
                .await?;
            storage
                .append_audit(&NewAuditEntry {
                    at: now,
                    actor: actor.to_string(),
                    action: "policy.create".into(),
                    target: format!("{policy_id}@{}", version.version),
                    detail: serde_json::json!({"source": file, "hash": version.hash, "os": version.os}),
                })
                .await?;
            (version, true)
        }
    };
    if activate {
        storage
            .activate_policy_version(&policy_id, version.version, now)
            .await?;
        storage
            .append_audit(&NewAuditEntry {
                at: now,
                actor: actor.to_string(),
                action: "policy.activate".into(),
                target: format!("{policy_id}@{}", version.version),
                detail: serde_json::json!({"os": version.os, "hash": version.hash}),
            })
            .await?;
    }
    Ok(Imported {
        version,
        created,
        activated: activate,
    })
}

/// First start: when the database holds no policy at all, import and activate the shipped
/// baselines (each becomes the active policy for its OS). Returns what was imported.
pub async fn import_baselines_if_empty(
    storage: &dyn Storage,
    now: OffsetDateTime,
) -> Result<Vec<Imported>, ImportError> {
    if !storage.list_policies().await?.is_empty() {
        return Ok(Vec::new());
    }
    let mut imported = Vec::new();
    for (file, yaml) in BASELINES {
        imported.push(import_policy(storage, file, yaml, "system", true, now).await?);
    }
    Ok(imported)
}
