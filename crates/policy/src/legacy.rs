//! The original VT-Audit rule list: a top-level YAML list of rules with `querry:` (sic) or
//! `query:` blocks. Loaded with the original semantics: the first operator present wins
//! (equals, contains, in, regex), equals/contains/in ignore case, regex is an unanchored
//! case-sensitive search, and `pass_text`/`fail_text` replace the reason, while the
//! observed value is still kept as evidence.

use std::collections::{BTreeMap, HashMap};

use marked_yaml::Node;

use crate::error::{Location, PolicyError};
use crate::expect::{Expect, Op};
use crate::model::{Check, Policy, PolicyMeta, ProbeCheck, Rule, Severity, SourceFormat, TargetOs};
use crate::parse::{finish, legacy_mode};
use crate::probe::{one_line, Param, Pattern, Probe, ProbeArg, ProbeKind};
use crate::yaml::{Fields, Reader};

pub(crate) fn read_legacy(root: &Node) -> Result<Policy, PolicyError> {
    let mut r = Reader::new();
    r.substitute = false;
    let policy = read_inner(&mut r, root);
    finish(r, policy)
}

fn read_inner(r: &mut Reader, root: &Node) -> Option<Policy> {
    let Node::Sequence(items) = root else {
        r.error(root, "a legacy rule file must be a list of rules");
        return None;
    };
    let mut rules = Vec::with_capacity(items.len());
    let mut seen: HashMap<String, Location> = HashMap::new();
    for node in items.iter() {
        r.rule_id = None;
        if let Some(rule) = read_rule(r, node) {
            if let Some(first) = seen.get(&rule.id) {
                r.error_at(
                    rule.location,
                    format!("duplicate rule id (first defined at line {})", first.line),
                );
            } else {
                seen.insert(rule.id.clone(), rule.location);
                rules.push(rule);
            }
        }
    }
    r.rule_id = None;
    if items.is_empty() {
        r.error(root, "the rule list is empty");
    }
    Some(Policy {
        meta: PolicyMeta {
            id: "legacy".into(),
            name: "VT-Audit legacy rules".into(),
            os: TargetOs::Windows,
            description: None,
            version: None,
            variables: BTreeMap::new(),
            legacy_semantics: true,
        },
        rules,
        format: SourceFormat::Legacy,
    })
}

fn read_rule(r: &mut Reader, node: &Node) -> Option<Rule> {
    let map = r.mapping(node, "a rule")?;
    // The original decoded rules into free-form maps, so unknown keys are ignored here.
    let mut f = Fields::new(map);
    let location = f.location();
    let id = f
        .require(r, "id", "a rule")
        .and_then(|n| r.raw_text(n, "rule id"))?;
    r.rule_id = Some(id.clone());
    // Same rule as native ids, so that the converted (canonical) form loads again.
    if !crate::parse::valid_id(&id) {
        r.error_at(
            location,
            "rule id may only contain letters, digits, '.', '_', ':' and '-'",
        );
    }
    let mut text = |r: &mut Reader, key: &str| f.get(key).and_then(|n| r.raw_text(n, key));
    let title = text(r, "title");
    let rationale = text(r, "rationale");
    let description = text(r, "description");
    let fix = text(r, "fix");
    let pass_text = text(r, "pass_text");
    let fail_text = text(r, "fail_text");
    let severity = match f.get("severity") {
        Some(n) => {
            let s = r.raw_text(n, "severity")?;
            s.parse::<Severity>().map_err(|e| r.error(n, e)).ok()?
        }
        // The shipped legacy rules carry no severity; medium is the neutral choice.
        None => Severity::Medium,
    };
    let tags = f
        .get("tags")
        .and_then(|n| r.text_list(n, "tags"))
        .unwrap_or_default();
    let query = match (f.get("query"), f.get("querry")) {
        (Some(q), _) | (None, Some(q)) => q,
        (None, None) => {
            r.error_at(location, "a legacy rule needs a `querry:` (or `query:`) block");
            return None;
        }
    };
    let probe = read_query(r, query)?;
    let expect_node = f.require(r, "expect", "the rule")?;
    let expect = read_legacy_expect(r, expect_node, probe.kind)?;
    Some(Rule {
        title: title.or_else(|| rationale.clone()).unwrap_or_else(|| id.clone()),
        id,
        severity,
        rationale,
        description,
        fix,
        tags,
        references: Vec::new(),
        compliance: BTreeMap::new(),
        applies_when: None,
        check: Check::Probe(Box::new(ProbeCheck { probe, expect })),
        timeout: None,
        pass_text,
        fail_text,
        location,
    })
}

fn read_query(r: &mut Reader, node: &Node) -> Option<Probe> {
    let map = r.mapping(node, "querry")?;
    let mut f = Fields::new(map);
    let kind_text = f
        .require(r, "type", "querry")
        .and_then(|n| r.raw_text(n, "querry.type"))?;
    let mut field = |r: &mut Reader, key: &str| f.get(key).and_then(|n| r.raw_text(n, key));
    let text_probe = |kind, arg: String, property: &str| Probe {
        kind,
        arg: ProbeArg::Text(arg),
        property: Some(property.to_string()),
        params: BTreeMap::new(),
    };
    let missing = |r: &mut Reader, what: &str| {
        r.error(node, format!("querry.{what} is missing"));
        None
    };
    match kind_text.to_ascii_lowercase().as_str() {
        "powershell" => match field(r, "cmd") {
            Some(cmd) if !cmd.trim().is_empty() => Some(text_probe(ProbeKind::Powershell, cmd, "stdout")),
            _ => missing(r, "cmd"),
        },
        "cmd" => match field(r, "cmd") {
            Some(cmd) if !cmd.trim().is_empty() => Some(text_probe(ProbeKind::Cmd, cmd, "stdout")),
            _ => missing(r, "cmd"),
        },
        "service" => match field(r, "name") {
            Some(name) if !name.trim().is_empty() => Some(text_probe(ProbeKind::Service, name, "state")),
            _ => missing(r, "name"),
        },
        "process" => match field(r, "name") {
            Some(name) if !name.trim().is_empty() => Some(Probe {
                kind: ProbeKind::Process,
                arg: ProbeArg::Text(name),
                property: None,
                params: BTreeMap::new(),
            }),
            _ => missing(r, "name"),
        },
        "registry" => {
            let (Some(root), Some(path), Some(value)) =
                (field(r, "root"), field(r, "path"), field(r, "value"))
            else {
                return missing(r, "root/path/value");
            };
            if value.trim().is_empty() {
                // The native format cannot express a key's (Default) value either.
                return missing(r, "value");
            }
            let full = format!("{root}\\{}", path.trim_start_matches(['\\', '/']));
            if crate::probe::registry_hive(&full).is_none() {
                r.error(node, format!("unsupported registry root {root:?}"));
                return None;
            }
            let mut params = BTreeMap::new();
            params.insert("value".to_string(), Param::Text(value));
            Some(Probe {
                kind: ProbeKind::Registry,
                arg: ProbeArg::Text(full),
                property: Some("data".into()),
                params,
            })
        }
        other => {
            r.error(
                node,
                format!("unsupported querry.type {other:?} (expected powershell, cmd, service, registry or process)"),
            );
            None
        }
    }
}

fn read_legacy_expect(r: &mut Reader, node: &Node, kind: ProbeKind) -> Option<Expect> {
    let map = r.mapping(node, "expect")?;
    let text = |r: &mut Reader, key: &str| map.get_node(key).and_then(|n| r.text(n, key));
    // First operator present wins, in the original's fixed order; `in` counts only as a list.
    let (op, ignore_case) = if let Some(v) = text(r, "equals") {
        (Op::Equals(v), true)
    } else if let Some(v) = text(r, "contains") {
        (Op::Contains(v), true)
    } else if let Some(list @ Node::Sequence(_)) = map.get_node("in") {
        (Op::In(r.text_list(list, "in")?), true)
    } else if let Some(n) = map.get_node("regex") {
        let source = r.text(n, "regex")?;
        match Pattern::new(&source, false) {
            Ok(p) => (Op::Matches(p), false),
            Err(e) => {
                r.error(n, format!("invalid regex: {}", one_line(&e.to_string())));
                return None;
            }
        }
    } else {
        r.error(
            node,
            "no supported operator in expect (equals, contains, in or regex)",
        );
        return None;
    };
    Some(Expect {
        ops: vec![op],
        ignore_case,
        legacy: Some(legacy_mode(kind)),
    })
}
