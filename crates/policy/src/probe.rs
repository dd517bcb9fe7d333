//! The probe catalogue: every probe type the policy format knows, its argument, its
//! parameters and its properties. The agent implements them; this crate only validates.
//!
//! Adding a probe type means adding a [`ProbeKind`] variant and one [`ProbeSpec`] row.

use std::collections::BTreeMap;
use std::fmt;

use marked_yaml::Node;

use crate::yaml::{Fields, Reader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Any,
    Linux,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    File,
    Files,
    Process,
    Os,
    Command,
    Sysctl,
    KernelModule,
    SystemdUnit,
    Package,
    Mount,
    Account,
    Accounts,
    Group,
    Sshd,
    Registry,
    Service,
    InstalledSoftware,
    SecurityPolicy,
    AuditPolicy,
    Firewall,
    LocalGroup,
    Bitlocker,
    Powershell,
    Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgKind {
    Text,
    /// A command: one string, or a list of argv items.
    TextOrList,
    /// A mapping of filter keys (the `accounts` probe).
    Filter(&'static [(&'static str, ParamKind)]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Text,
    Regex,
    Bool,
    Int,
    OneOf(&'static [&'static str]),
}

struct ProbeSpec {
    kind: ProbeKind,
    key: &'static str,
    platform: Platform,
    arg: ArgKind,
    /// Allowed `property:` values; the first is the default. Empty: no `property:` key.
    properties: &'static [&'static str],
    params: &'static [(&'static str, ParamKind)],
    /// Keys of which at most one may be given.
    exclusive: &'static [&'static str],
    /// The default property when the probe has one only under some parameters.
    no_default_property: bool,
}

const FILE_PROPERTIES: &[&str] = &[
    "exists", "type", "mode", "owner", "group", "uid", "gid", "size", "sha256", "target", "version",
];
const OUTPUT_PROPERTIES: &[&str] = &["stdout", "stderr", "exit_code"];
const ACCOUNT_FILTER: &[(&str, ParamKind)] = &[
    ("uid", ParamKind::Int),
    ("gid", ParamKind::Int),
    ("uid_below", ParamKind::Int),
    ("uid_at_least", ParamKind::Int),
    ("password", ParamKind::OneOf(&["set", "empty", "locked", "none"])),
    ("shell", ParamKind::Regex),
    ("name", ParamKind::Regex),
    ("duplicate", ParamKind::OneOf(&["uid", "name"])),
];

/// Security policy settings the `security_policy` probe can read.
pub const SECURITY_SETTINGS: &[&str] = &[
    "minimum_password_length",
    "password_complexity",
    "maximum_password_age",
    "minimum_password_age",
    "password_history_size",
    "reversible_encryption",
    "lockout_threshold",
    "lockout_duration",
    "lockout_observation_window",
    "guest_account_enabled",
    "administrator_account_enabled",
];

const fn spec(kind: ProbeKind, key: &'static str, platform: Platform) -> ProbeSpec {
    ProbeSpec {
        kind,
        key,
        platform,
        arg: ArgKind::Text,
        properties: &[],
        params: &[],
        exclusive: &[],
        no_default_property: false,
    }
}

static SPECS: &[ProbeSpec] = &[
    ProbeSpec {
        properties: FILE_PROPERTIES,
        params: &[("line", ParamKind::Regex), ("lines", ParamKind::Regex)],
        exclusive: &["line", "lines", "property"],
        no_default_property: true,
        ..spec(ProbeKind::File, "file", Platform::Any)
    },
    ProbeSpec {
        properties: FILE_PROPERTIES,
        params: &[("lines", ParamKind::Regex)],
        exclusive: &["lines", "property"],
        no_default_property: true,
        ..spec(ProbeKind::Files, "files", Platform::Any)
    },
    spec(ProbeKind::Process, "process", Platform::Any),
    spec(ProbeKind::Os, "os", Platform::Any),
    ProbeSpec {
        arg: ArgKind::TextOrList,
        properties: OUTPUT_PROPERTIES,
        params: &[("shell", ParamKind::Bool)],
        ..spec(ProbeKind::Command, "command", Platform::Any)
    },
    spec(ProbeKind::Sysctl, "sysctl", Platform::Linux),
    ProbeSpec {
        properties: &["loaded", "disabled", "blacklisted"],
        ..spec(ProbeKind::KernelModule, "kernel_module", Platform::Linux)
    },
    ProbeSpec {
        properties: &["enabled", "active"],
        ..spec(ProbeKind::SystemdUnit, "systemd_unit", Platform::Linux)
    },
    spec(ProbeKind::Package, "package", Platform::Linux),
    ProbeSpec {
        properties: &["options", "fstype", "source"],
        ..spec(ProbeKind::Mount, "mount", Platform::Linux)
    },
    ProbeSpec {
        properties: &[
            "uid",
            "gid",
            "home",
            "shell",
            "password",
            "last_change",
            "min_days",
            "max_days",
            "warn_days",
            "inactive",
        ],
        ..spec(ProbeKind::Account, "account", Platform::Linux)
    },
    ProbeSpec {
        arg: ArgKind::Filter(ACCOUNT_FILTER),
        ..spec(ProbeKind::Accounts, "accounts", Platform::Linux)
    },
    ProbeSpec {
        properties: &["members", "gid"],
        ..spec(ProbeKind::Group, "group", Platform::Linux)
    },
    ProbeSpec {
        params: &[("config", ParamKind::Text)],
        ..spec(ProbeKind::Sshd, "sshd", Platform::Linux)
    },
    ProbeSpec {
        properties: &["data", "type", "exists", "subkeys"],
        params: &[
            ("value", ParamKind::Text),
            ("view", ParamKind::OneOf(&["64", "32"])),
        ],
        no_default_property: true,
        ..spec(ProbeKind::Registry, "registry", Platform::Windows)
    },
    ProbeSpec {
        properties: &["state", "start_type"],
        ..spec(ProbeKind::Service, "service", Platform::Windows)
    },
    ProbeSpec {
        properties: &["version", "name", "publisher"],
        params: &[("publisher", ParamKind::Text)],
        ..spec(
            ProbeKind::InstalledSoftware,
            "installed_software",
            Platform::Windows,
        )
    },
    spec(ProbeKind::SecurityPolicy, "security_policy", Platform::Windows),
    spec(ProbeKind::AuditPolicy, "audit_policy", Platform::Windows),
    ProbeSpec {
        properties: &["enabled", "default_inbound", "default_outbound"],
        ..spec(ProbeKind::Firewall, "firewall", Platform::Windows)
    },
    ProbeSpec {
        properties: &["members", "member_sids"],
        ..spec(ProbeKind::LocalGroup, "local_group", Platform::Windows)
    },
    ProbeSpec {
        properties: &["protection_status", "conversion_status"],
        ..spec(ProbeKind::Bitlocker, "bitlocker", Platform::Windows)
    },
    ProbeSpec {
        properties: &["stdout", "exit_code"],
        ..spec(ProbeKind::Powershell, "powershell", Platform::Windows)
    },
    ProbeSpec {
        properties: &["stdout", "exit_code"],
        ..spec(ProbeKind::Cmd, "cmd", Platform::Windows)
    },
];

fn spec_of(kind: ProbeKind) -> &'static ProbeSpec {
    // Invariant: SPECS has one row per ProbeKind variant (checked by a unit test).
    SPECS.iter().find(|s| s.kind == kind).unwrap_or(&SPECS[0])
}

impl ProbeKind {
    pub fn key(self) -> &'static str {
        spec_of(self).key
    }

    pub fn platform(self) -> Platform {
        spec_of(self).platform
    }

    pub fn from_key(key: &str) -> Option<ProbeKind> {
        SPECS.iter().find(|s| s.key == key).map(|s| s.kind)
    }

    pub fn all_keys() -> impl Iterator<Item = &'static str> {
        SPECS.iter().map(|s| s.key)
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A compiled regular expression that remembers its source for display and serialisation.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.regex.as_str() == other.regex.as_str()
    }
}

impl Pattern {
    pub fn new(source: &str, ignore_case: bool) -> Result<Self, regex::Error> {
        let regex = regex::RegexBuilder::new(source)
            .case_insensitive(ignore_case)
            // Bounded so a hostile policy cannot make the agent build a huge automaton.
            .size_limit(1 << 20)
            .build()?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Bool(bool),
    Int(i64),
    Regex(Pattern),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProbeArg {
    Text(String),
    List(Vec<String>),
    Filter(BTreeMap<String, Param>),
}

/// One probe invocation as written in a policy, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub kind: ProbeKind,
    pub arg: ProbeArg,
    /// The selected property; `None` only for probes whose default depends on parameters.
    pub property: Option<String>,
    pub params: BTreeMap<String, Param>,
}

impl Probe {
    pub fn platform(&self) -> Platform {
        self.kind.platform()
    }

    /// The main argument as text (for list arguments, the items joined by spaces).
    pub fn arg_text(&self) -> String {
        match &self.arg {
            ProbeArg::Text(s) => s.clone(),
            ProbeArg::List(items) => items.join(" "),
            ProbeArg::Filter(f) => {
                let parts: Vec<String> = f.iter().map(|(k, v)| format!("{k}={}", param_text(v))).collect();
                parts.join(",")
            }
        }
    }

    pub fn property(&self) -> Option<&str> {
        self.property.as_deref()
    }

    pub fn text_param(&self, name: &str) -> Option<&str> {
        match self.params.get(name) {
            Some(Param::Text(s)) => Some(s),
            _ => None,
        }
    }

    pub fn regex_param(&self, name: &str) -> Option<&Pattern> {
        match self.params.get(name) {
            Some(Param::Regex(p)) => Some(p),
            _ => None,
        }
    }

    pub fn bool_param(&self, name: &str) -> Option<bool> {
        match self.params.get(name) {
            Some(Param::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// Short description used in evidence and error messages, e.g. `sysctl net.ipv4.ip_forward`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.kind.key(), self.arg_text());
        if let Some(p) = &self.property {
            s.push_str(&format!(" ({p})"));
        }
        s
    }
}

pub(crate) fn param_text(p: &Param) -> String {
    match p {
        Param::Text(s) => s.clone(),
        Param::Bool(b) => b.to_string(),
        Param::Int(i) => i.to_string(),
        Param::Regex(r) => r.source.clone(),
    }
}

/// Keys allowed in a probe check besides the probe key itself.
pub(crate) fn allowed_keys(kind: ProbeKind) -> Vec<&'static str> {
    let spec = spec_of(kind);
    let mut keys = vec![spec.key, "expect"];
    if !spec.properties.is_empty() {
        keys.push("property");
    }
    keys.extend(spec.params.iter().map(|(k, _)| *k));
    keys
}

/// Reads a probe from a check mapping whose probe key has already been identified.
pub(crate) fn read_probe(r: &mut Reader, kind: ProbeKind, fields: &mut Fields<'_>) -> Option<Probe> {
    let spec = spec_of(kind);
    // Mark every key this probe accepts as read, so that an early return below does not
    // also report them as unknown keys.
    for key in allowed_keys(kind) {
        fields.get(key);
    }
    let arg_node = fields.get(spec.key)?;
    let arg = match spec.arg {
        ArgKind::Text => ProbeArg::Text(r.non_empty_text(arg_node, spec.key)?),
        ArgKind::TextOrList => match arg_node {
            Node::Sequence(_) => {
                let items = r.text_list(arg_node, spec.key)?;
                if items.is_empty() {
                    r.error(arg_node, format!("{} needs at least one item", spec.key));
                    return None;
                }
                ProbeArg::List(items)
            }
            _ => ProbeArg::Text(r.non_empty_text(arg_node, spec.key)?),
        },
        ArgKind::Filter(allowed) => {
            let map = r.mapping(arg_node, spec.key)?;
            let mut filter_fields = Fields::new(map);
            let mut filter = BTreeMap::new();
            for (name, kind) in allowed {
                if let Some(node) = filter_fields.get(name) {
                    if let Some(p) = read_param(r, node, name, *kind) {
                        filter.insert((*name).to_string(), p);
                    }
                }
            }
            let names: Vec<&str> = allowed.iter().map(|(k, _)| *k).collect();
            filter_fields.finish(r, &format!("the {} filter", spec.key), &names);
            if filter.is_empty() {
                r.error(
                    arg_node,
                    format!("the {} filter needs at least one key", spec.key),
                );
                return None;
            }
            ProbeArg::Filter(filter)
        }
    };

    let present: Vec<&str> = spec.exclusive.iter().copied().filter(|k| fields.has(k)).collect();
    if present.len() > 1 {
        r.error_at(
            fields.location(),
            format!(
                "{} accepts only one of {} (found {})",
                spec.key,
                spec.exclusive.join(", "),
                present.join(" and ")
            ),
        );
        return None;
    }

    let mut property = None;
    if !spec.properties.is_empty() {
        match fields.get("property") {
            Some(node) => {
                let value = r.text(node, "property")?;
                if !spec.properties.contains(&value.as_str()) {
                    r.error(
                        node,
                        format!(
                            "unknown property {value:?} for {} (allowed: {})",
                            spec.key,
                            spec.properties.join(", ")
                        ),
                    );
                    return None;
                }
                property = Some(value);
            }
            None if !spec.no_default_property => property = Some(spec.properties[0].to_string()),
            None => {}
        }
    }

    let mut params = BTreeMap::new();
    for (name, kind) in spec.params {
        if let Some(node) = fields.get(name) {
            params.insert((*name).to_string(), read_param(r, node, name, *kind)?);
        }
    }

    let probe = Probe {
        kind,
        arg,
        property,
        params,
    };
    validate_specific(r, arg_node, &probe).then_some(probe)
}

fn read_param(r: &mut Reader, node: &Node, name: &str, kind: ParamKind) -> Option<Param> {
    Some(match kind {
        ParamKind::Text => Param::Text(r.non_empty_text(node, name)?),
        ParamKind::Bool => Param::Bool(r.bool(node, name)?),
        ParamKind::Int => Param::Int(r.int(node, name)?),
        ParamKind::Regex => {
            let source = r.text(node, name)?;
            match Pattern::new(&source, false) {
                Ok(p) => Param::Regex(p),
                Err(e) => {
                    r.error(
                        node,
                        format!("invalid regex in {name}: {}", one_line(&e.to_string())),
                    );
                    return None;
                }
            }
        }
        ParamKind::OneOf(allowed) => {
            let value = r.text(node, name)?;
            if !allowed.contains(&value.as_str()) {
                r.error(
                    node,
                    format!("{name} must be one of {}, got {value:?}", allowed.join(", ")),
                );
                return None;
            }
            Param::Text(value)
        }
    })
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks that need more than the table: argument shapes that are easy to get wrong.
fn validate_specific(r: &mut Reader, arg_node: &Node, probe: &Probe) -> bool {
    let arg = probe.arg_text();
    match probe.kind {
        ProbeKind::Registry => {
            if registry_hive(&arg).is_none() {
                r.error(
                    arg_node,
                    format!(
                        "registry path {arg:?} must start with a hive: HKLM, HKCU, HKU, HKCR, HKCC \
                         (or HKEY_LOCAL_MACHINE, ...), e.g. 'HKLM\\SOFTWARE\\Vendor'"
                    ),
                );
                return false;
            }
            if matches!(probe.property.as_deref(), Some("data" | "type"))
                && !probe.params.contains_key("value")
            {
                r.error(arg_node, "registry property `data` and `type` need a `value:`");
                return false;
            }
        }
        ProbeKind::SecurityPolicy if !SECURITY_SETTINGS.contains(&arg.as_str()) => {
            r.error(
                arg_node,
                format!(
                    "unknown security_policy setting {arg:?} (allowed: {})",
                    SECURITY_SETTINGS.join(", ")
                ),
            );
            return false;
        }
        ProbeKind::Firewall if !["domain", "private", "public"].contains(&arg.as_str()) => {
            r.error(
                arg_node,
                format!("firewall profile must be domain, private or public, got {arg:?}"),
            );
            return false;
        }
        _ => {}
    }
    true
}

/// Splits a registry path into its canonical hive name and the key below it.
pub fn registry_hive(path: &str) -> Option<(&'static str, &str)> {
    let (hive, rest) = match path.find(['\\', '/']) {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (path, ""),
    };
    let canonical = match hive.to_ascii_uppercase().trim_end_matches(':') {
        "HKLM" | "HKEY_LOCAL_MACHINE" => "HKLM",
        "HKCU" | "HKEY_CURRENT_USER" => "HKCU",
        "HKU" | "HKEY_USERS" => "HKU",
        "HKCR" | "HKEY_CLASSES_ROOT" => "HKCR",
        "HKCC" | "HKEY_CURRENT_CONFIG" => "HKCC",
        _ => return None,
    };
    Some((canonical, rest))
}

/// The probe key of a check mapping, if any (and every probe key found, for errors).
pub(crate) fn probe_keys_in(fields: &Fields<'_>) -> Vec<(ProbeKind, &'static str)> {
    fields
        .keys()
        .filter_map(|(k, _)| ProbeKind::from_key(k.as_str()).map(|kind| (kind, kind.key())))
        .collect()
}

/// Serialises a probe back into its native policy form (probe key, property, params).
pub(crate) fn probe_to_json(p: &Probe, out: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::Value as J;
    let arg = match &p.arg {
        ProbeArg::Text(s) => J::String(s.clone()),
        ProbeArg::List(items) => J::Array(items.iter().cloned().map(J::String).collect()),
        ProbeArg::Filter(f) => J::Object(f.iter().map(|(k, v)| (k.clone(), param_json(v))).collect()),
    };
    out.insert(p.kind.key().to_string(), arg);
    if let Some(prop) = &p.property {
        out.insert("property".into(), J::String(prop.clone()));
    }
    for (k, v) in &p.params {
        out.insert(k.clone(), param_json(v));
    }
}

fn param_json(p: &Param) -> serde_json::Value {
    use serde_json::Value as J;
    match p {
        Param::Text(s) => J::String(s.clone()),
        Param::Bool(b) => J::Bool(*b),
        Param::Int(i) => J::from(*i),
        Param::Regex(r) => J::String(r.source.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_exactly_one_spec_row() {
        let kinds = [
            ProbeKind::File,
            ProbeKind::Files,
            ProbeKind::Process,
            ProbeKind::Os,
            ProbeKind::Command,
            ProbeKind::Sysctl,
            ProbeKind::KernelModule,
            ProbeKind::SystemdUnit,
            ProbeKind::Package,
            ProbeKind::Mount,
            ProbeKind::Account,
            ProbeKind::Accounts,
            ProbeKind::Group,
            ProbeKind::Sshd,
            ProbeKind::Registry,
            ProbeKind::Service,
            ProbeKind::InstalledSoftware,
            ProbeKind::SecurityPolicy,
            ProbeKind::AuditPolicy,
            ProbeKind::Firewall,
            ProbeKind::LocalGroup,
            ProbeKind::Bitlocker,
            ProbeKind::Powershell,
            ProbeKind::Cmd,
        ];
        assert_eq!(kinds.len(), SPECS.len());
        for k in kinds {
            assert_eq!(SPECS.iter().filter(|s| s.kind == k).count(), 1, "{k:?}");
            assert_eq!(ProbeKind::from_key(k.key()), Some(k));
        }
    }

    #[test]
    fn registry_hives_are_canonicalised() {
        assert_eq!(
            registry_hive("HKEY_LOCAL_MACHINE\\SOFTWARE\\X"),
            Some(("HKLM", "SOFTWARE\\X"))
        );
        assert_eq!(
            registry_hive("hkcu\\Control Panel"),
            Some(("HKCU", "Control Panel"))
        );
        assert_eq!(registry_hive("HKLM:\\SOFTWARE"), Some(("HKLM", "SOFTWARE")));
        assert_eq!(registry_hive("SOFTWARE\\X"), None);
    }
}
