//! The native form of a policy as data: the canonical JSON served to agents (and hashed),
//! and the YAML that `policy convert` prints.

use serde_json::{Map, Value as J};
use sha2::{Digest, Sha256};

use crate::expect::expect_to_json;
use crate::model::{Check, Policy, Rule};
use crate::probe::probe_to_json;

/// The policy in native form, keys in a readable order. Variables are already substituted,
/// so the result is self-contained.
pub fn to_native_json(policy: &Policy) -> J {
    let m = &policy.meta;
    let mut meta = Map::new();
    meta.insert("id".into(), J::String(m.id.clone()));
    meta.insert("name".into(), J::String(m.name.clone()));
    meta.insert("os".into(), J::String(m.os.as_str().into()));
    if let Some(d) = &m.description {
        meta.insert("description".into(), J::String(d.clone()));
    }
    if let Some(v) = &m.version {
        meta.insert("version".into(), J::String(v.clone()));
    }
    if m.legacy_semantics {
        meta.insert("legacy_semantics".into(), J::Bool(true));
    }
    let rules = policy.rules.iter().map(rule_json).collect();
    let mut top = Map::new();
    top.insert("policy".into(), J::Object(meta));
    top.insert("rules".into(), J::Array(rules));
    J::Object(top)
}

fn rule_json(rule: &Rule) -> J {
    let mut m = Map::new();
    let mut text = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            m.insert(key.into(), J::String(v.clone()));
        }
    };
    text("id", &Some(rule.id.clone()));
    text("title", &Some(rule.title.clone()));
    text("severity", &Some(rule.severity.as_str().to_string()));
    text("rationale", &rule.rationale);
    text("description", &rule.description);
    text("fix", &rule.fix);
    text("pass_text", &rule.pass_text);
    text("fail_text", &rule.fail_text);
    let list = |v: &[String]| J::Array(v.iter().cloned().map(J::String).collect());
    if !rule.tags.is_empty() {
        m.insert("tags".into(), list(&rule.tags));
    }
    if !rule.references.is_empty() {
        m.insert("references".into(), list(&rule.references));
    }
    if !rule.compliance.is_empty() {
        let c = rule
            .compliance
            .iter()
            .map(|(k, v)| (k.clone(), list(v)))
            .collect();
        m.insert("compliance".into(), J::Object(c));
    }
    if let Some(t) = rule.timeout {
        m.insert("timeout".into(), J::String(format!("{}ms", t.as_millis())));
    }
    if let Some(pre) = &rule.applies_when {
        m.insert("applies_when".into(), check_json(pre));
    }
    m.insert("check".into(), check_json(&rule.check));
    J::Object(m)
}

fn check_json(check: &Check) -> J {
    let mut m = Map::new();
    match check {
        Check::Probe(pc) => {
            probe_to_json(&pc.probe, &mut m);
            m.insert("expect".into(), expect_to_json(&pc.expect));
        }
        Check::All(c) => {
            m.insert("all".into(), J::Array(c.iter().map(check_json).collect()));
        }
        Check::Any(c) => {
            m.insert("any".into(), J::Array(c.iter().map(check_json).collect()));
        }
        Check::None(c) => {
            m.insert("none".into(), J::Array(c.iter().map(check_json).collect()));
        }
    }
    J::Object(m)
}

/// Sorts object keys recursively so equal policies serialise to equal bytes.
fn sorted(v: J) -> J {
    match v {
        J::Object(m) => {
            let mut entries: Vec<(String, J)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            J::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        J::Array(items) => J::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Compact JSON with sorted keys: exactly the bytes the server serves and hashes.
pub fn canonical_json(policy: &Policy) -> String {
    sorted(to_native_json(policy)).to_string()
}

/// Lowercase hex SHA-256 of the canonical JSON.
pub fn policy_hash(policy: &Policy) -> String {
    sha256_hex(canonical_json(policy).as_bytes())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The native form as YAML, for `vt-agent policy convert`.
pub fn to_native_yaml(policy: &Policy) -> Result<String, serde_yaml_ng::Error> {
    let native = to_native_json(policy);
    // The YAML emitter treats U+2028/U+2029 as line breaks (YAML 1.1) and indents after
    // them, which changes the text for a YAML 1.2 reader. Pretty JSON is YAML 1.2 as well.
    if has_unicode_line_separator(&native) {
        if let Ok(json) = serde_json::to_string_pretty(&native) {
            return Ok(json + "\n");
        }
    }
    serde_yaml_ng::to_string(&native)
}

fn has_unicode_line_separator(v: &J) -> bool {
    match v {
        J::String(s) => s.contains(['\u{2028}', '\u{2029}']),
        J::Array(items) => items.iter().any(has_unicode_line_separator),
        J::Object(m) => m
            .iter()
            .any(|(k, v)| k.contains(['\u{2028}', '\u{2029}']) || has_unicode_line_separator(v)),
        _ => false,
    }
}
