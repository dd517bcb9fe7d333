//! Reading policies from YAML (or JSON, which is YAML too) into the model.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use marked_yaml::loader::{parse_yaml_with_options, LoaderOptions};
use marked_yaml::{LoadError, Node};

use crate::error::{Location, PolicyError};
use crate::expect::{read_expect, LegacyMode};
use crate::model::{Check, Policy, PolicyMeta, ProbeCheck, Rule, Severity, SourceFormat, TargetOs};
use crate::probe::{allowed_keys, probe_keys_in, read_probe, ProbeKind};
use crate::yaml::{Fields, Reader};

/// Policies larger than this are refused before parsing: no real baseline comes close,
/// and it bounds the memory a hostile upload can take.
pub const MAX_POLICY_BYTES: usize = 8 * 1024 * 1024;
/// Deepest nesting of combinators and quantifiers accepted.
pub const MAX_CHECK_DEPTH: usize = 16;
/// Deepest YAML flow nesting accepted before parsing (guards the tree builder's stack).
const MAX_FLOW_DEPTH: usize = 64;
/// Deepest indentation accepted before parsing. Block nesting is at most twice the
/// indentation, and the parser recurses once per level: without a bound, a small hostile
/// file (`- - - - ...`) overflows the stack and aborts the process.
const MAX_BLOCK_COLUMN: usize = 80;

const POLICY_KEYS: &[&str] = &[
    "id",
    "name",
    "os",
    "description",
    "version",
    "variables",
    "legacy_semantics",
];
const RULE_KEYS: &[&str] = &[
    "id",
    "title",
    "severity",
    "rationale",
    "description",
    "fix",
    "tags",
    "references",
    "compliance",
    "applies_when",
    "check",
    "timeout",
    "pass_text",
    "fail_text",
];
const COMBINATORS: &[&str] = &["all", "any", "none"];

pub fn parse_policy_file(path: &Path) -> Result<Policy, PolicyError> {
    let bytes = std::fs::read(path).map_err(|e| {
        PolicyError::single(Location::default(), None, format!("cannot read policy: {e}")).with_file(path)
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        PolicyError::single(
            Location::default(),
            None,
            format!("policy is not UTF-8 text: {e}"),
        )
        .with_file(path)
    })?;
    let mut policy = parse_policy(&text).map_err(|e| e.with_file(path))?;
    if policy.format == SourceFormat::Legacy {
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            policy.meta.id = format!("legacy-{}", sanitize_id(stem));
        }
    }
    Ok(policy)
}

fn sanitize_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Parses a native policy, or a legacy VT-Audit rule list (recognised by its top-level list).
pub fn parse_policy(source: &str) -> Result<Policy, PolicyError> {
    if source.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::single(
            Location::default(),
            None,
            format!(
                "policy is {} bytes; the limit is {MAX_POLICY_BYTES}",
                source.len()
            ),
        ));
    }
    // A byte order mark (Windows editors add one) is not content; the YAML parser would
    // read it as part of the first key.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    check_structure(source)?;
    let top_is_list = first_content_line(source).is_some_and(|l| l.starts_with('-') || l.starts_with('['));
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    let options = if top_is_list {
        options.toplevel_sequence()
    } else {
        options.toplevel_mapping()
    };
    let root = parse_yaml_with_options(0, source, options).map_err(load_error)?;
    if top_is_list {
        crate::legacy::read_legacy(&root)
    } else {
        read_native(&root)
    }
}

fn first_content_line(source: &str) -> Option<&str> {
    source
        .lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("---") && !l.starts_with('%'))
}

/// Refuses, before parsing, what the YAML parser cannot be trusted with: it recurses once
/// per nested collection (so deep nesting would overflow the stack and abort the process),
/// and it silently ignores every document after the first.
fn check_structure(source: &str) -> Result<(), PolicyError> {
    let refuse = |line: usize, column: usize, message: String| {
        Err(PolicyError::single(
            Location {
                line: line + 1,
                column: column + 1,
            },
            None,
            message,
        ))
    };
    let mut depth = 0usize; // open flow collections (outside quoted scalars and comments)
    let mut quote: Option<char> = None; // inside a quoted scalar, which may span lines
    let mut content = false;
    let mut ended = false;
    for (i, line) in source.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let marker = |m: &str| line.starts_with(m) && chars.get(3).is_none_or(|c| c.is_whitespace());
        let (start, end) = (marker("---"), marker("..."));
        if start && (content || ended) {
            return refuse(
                i,
                0,
                "a policy file holds one YAML document; found a second `---`".into(),
            );
        }
        let rest = if start || end { &line[3..] } else { line }.trim_start();
        let has_content = !rest.is_empty() && !rest.starts_with('#') && !line.starts_with('%');
        if has_content {
            if ended {
                return refuse(i, 0, "content after the end of the YAML document (`...`)".into());
            }
            content = true;
        }
        ended |= end;
        // Block collections nest only by indentation (or compact `- - x`), so a bound on the
        // column bounds block nesting. Checked on every line: it must not rely on guesses.
        let column = block_column(&chars);
        if has_content && !line.trim_start().starts_with('#') && column > MAX_BLOCK_COLUMN {
            return refuse(
                i,
                column,
                format!("nesting deeper than {MAX_BLOCK_COLUMN} columns of indentation"),
            );
        }
        let mut prev: Option<char> = None;
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            match quote {
                Some('\'') => {
                    if c == '\'' {
                        if chars.get(j + 1) == Some(&'\'') {
                            j += 1;
                        } else {
                            quote = None;
                        }
                    }
                }
                Some(_) => {
                    if c == '\\' {
                        j += 1;
                    } else if c == '"' {
                        quote = None;
                    }
                }
                None => {
                    let token_start = prev.is_none_or(|p| {
                        p.is_whitespace() || (depth > 0 && matches!(p, '[' | '{' | ',' | ':'))
                    });
                    match c {
                        '#' if prev.is_none_or(char::is_whitespace) => break,
                        '\'' | '"' if token_start => quote = Some(c),
                        '[' | '{' if depth > 0 || token_start => {
                            depth += 1;
                            if depth > MAX_FLOW_DEPTH {
                                return refuse(i, j, format!("nesting deeper than {MAX_FLOW_DEPTH} levels"));
                            }
                        }
                        ']' | '}' if depth > 0 => depth -= 1,
                        _ => {}
                    }
                }
            }
            prev = Some(c);
            j += 1;
        }
    }
    Ok(())
}

/// The column where a line's content starts, past indentation, compact block indicators
/// (`- `, `? `, `: `) and anchors or tags.
fn block_column(chars: &[char]) -> usize {
    let separator = |c: Option<&char>| c.is_none_or(|c| *c == ' ' || *c == '\t');
    let mut j = 0;
    loop {
        while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
            j += 1;
        }
        match chars.get(j) {
            Some('-' | '?' | ':') if separator(chars.get(j + 1)) => j += 1,
            Some('&' | '!') => {
                while j < chars.len() && !chars[j].is_whitespace() {
                    j += 1;
                }
            }
            _ => return j,
        }
    }
}

fn load_error(e: LoadError) -> PolicyError {
    let (marker, message) = match &e {
        LoadError::TopLevelMustBeMapping(m) => (
            Some(*m),
            "a policy must be a mapping with `policy:` and `rules:`".to_string(),
        ),
        LoadError::TopLevelMustBeSequence(m) => {
            (Some(*m), "a legacy rule file must be a list of rules".to_string())
        }
        LoadError::UnexpectedAnchor(m) => {
            (Some(*m), "YAML anchors and aliases are not supported".to_string())
        }
        LoadError::MappingKeyMustBeScalar(m) => (Some(*m), "mapping keys must be plain values".to_string()),
        LoadError::UnexpectedTag(m) => (Some(*m), "YAML tags (!foo) are not supported".to_string()),
        LoadError::ScanError(m, s) => (Some(*m), format!("invalid YAML: {}", s.info())),
        LoadError::DuplicateKey(d) => (
            d.key.span().start().copied(),
            format!(
                "duplicate key `{}` (first defined at line {})",
                d.key.as_str(),
                d.prev_key.span().start().map(|m| m.line()).unwrap_or(0)
            ),
        ),
    };
    let location = marker
        .map(|m| Location {
            line: m.line(),
            column: m.column(),
        })
        .unwrap_or_default();
    PolicyError::single(location, None, message)
}

pub(crate) fn finish(r: Reader, value: Option<Policy>) -> Result<Policy, PolicyError> {
    match value {
        Some(p) if r.diagnostics.is_empty() => Ok(p),
        _ => {
            let mut diagnostics = r.diagnostics;
            if diagnostics.is_empty() {
                diagnostics.push(crate::error::Diagnostic {
                    location: Location::default(),
                    rule_id: None,
                    message: "invalid policy".into(),
                });
            }
            Err(PolicyError {
                file: None,
                diagnostics,
            })
        }
    }
}

fn read_native(root: &Node) -> Result<Policy, PolicyError> {
    let mut r = Reader::new();
    let policy = read_native_inner(&mut r, root);
    finish(r, policy)
}

fn read_native_inner(r: &mut Reader, root: &Node) -> Option<Policy> {
    let map = r.mapping(root, "the policy file")?;
    let mut top = Fields::new(map);
    let meta_node = top.require(r, "policy", "the policy file");
    let rules_node = top.require(r, "rules", "the policy file");
    top.finish(r, "the policy file", &["policy", "rules"]);
    let meta = read_meta(r, meta_node?)?;
    r.variables = meta.variables.clone();

    let Node::Sequence(seq) = rules_node? else {
        r.error(rules_node?, "rules must be a list");
        return None;
    };
    let mut rules = Vec::with_capacity(seq.len());
    let mut seen: HashMap<String, Location> = HashMap::new();
    for node in seq.iter() {
        r.rule_id = None;
        if let Some(rule) = read_rule(r, node, meta.legacy_semantics) {
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
    if seq.is_empty() {
        r.error(rules_node?, "a policy needs at least one rule");
    }
    Some(Policy {
        meta,
        rules,
        format: SourceFormat::Native,
    })
}

fn read_meta(r: &mut Reader, node: &Node) -> Option<PolicyMeta> {
    let map = r.mapping(node, "policy")?;
    let mut f = Fields::new(map);
    let id = f
        .require(r, "id", "policy")
        .and_then(|n| r.raw_text(n, "policy.id"));
    let name = f
        .require(r, "name", "policy")
        .and_then(|n| r.raw_text(n, "policy.name"));
    let os = f.require(r, "os", "policy").and_then(|n| {
        let text = r.raw_text(n, "policy.os")?;
        text.parse::<TargetOs>().map_err(|e| r.error(n, e)).ok()
    });
    let description = f.get("description").and_then(|n| r.raw_text(n, "description"));
    let version = f.get("version").and_then(|n| r.raw_text(n, "version"));
    let legacy_semantics = f
        .get("legacy_semantics")
        .and_then(|n| r.bool(n, "legacy_semantics"))
        .unwrap_or(false);
    let mut variables = BTreeMap::new();
    if let Some(vars) = f.get("variables") {
        if let Some(vmap) = r.mapping(vars, "variables") {
            for (k, v) in vmap.iter() {
                if let Some(value) = r.raw_text(v, "a variable's value") {
                    variables.insert(k.as_str().to_string(), value);
                }
            }
        }
    }
    f.finish(r, "policy", POLICY_KEYS);
    let id = id?;
    // Unlike rule ids, policy ids may not contain ':' (spec: [A-Za-z0-9._-]+).
    if !valid_id(&id) || id.contains(':') {
        r.error_at(
            f_location(node),
            format!("policy id {id:?} may only contain letters, digits, '.', '_' and '-'"),
        );
        return None;
    }
    Some(PolicyMeta {
        id,
        name: name?,
        os: os?,
        description,
        version,
        variables,
        legacy_semantics,
    })
}

fn f_location(node: &Node) -> Location {
    crate::yaml::node_location(node)
}

pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
}

fn read_rule(r: &mut Reader, node: &Node, legacy_semantics: bool) -> Option<Rule> {
    let map = r.mapping(node, "a rule")?;
    let mut f = Fields::new(map);
    let location = f.location();
    let id = f
        .require(r, "id", "a rule")
        .and_then(|n| r.raw_text(n, "rule id"))?;
    r.rule_id = Some(id.clone());
    if !valid_id(&id) {
        r.error_at(
            location,
            "rule id may only contain letters, digits, '.', '_', ':' and '-'",
        );
    }
    let title = f
        .require(r, "title", "the rule")
        .and_then(|n| r.raw_text(n, "title"));
    let severity = f.require(r, "severity", "the rule").and_then(|n| {
        let text = r.raw_text(n, "severity")?;
        text.parse::<Severity>().map_err(|e| r.error(n, e)).ok()
    });
    let mut text_field = |r: &mut Reader, key: &str| f.get(key).and_then(|n| r.raw_text(n, key));
    let rationale = text_field(r, "rationale");
    let description = text_field(r, "description");
    let fix = text_field(r, "fix");
    let pass_text = text_field(r, "pass_text");
    let fail_text = text_field(r, "fail_text");
    let tags = f
        .get("tags")
        .and_then(|n| r.text_list(n, "tags"))
        .unwrap_or_default();
    let references = f
        .get("references")
        .and_then(|n| r.text_list(n, "references"))
        .unwrap_or_default();
    let mut compliance = BTreeMap::new();
    if let Some(node) = f.get("compliance") {
        if let Some(map) = r.mapping(node, "compliance") {
            for (k, v) in map.iter() {
                if let Some(ids) = r.text_list(v, "compliance ids") {
                    compliance.insert(k.as_str().to_string(), ids);
                }
            }
        }
    }
    let timeout = f.get("timeout").and_then(|n| {
        let text = r.raw_text(n, "timeout")?;
        parse_duration(&text).map_err(|e| r.error(n, e)).ok()
    });
    let applies_when = f
        .get("applies_when")
        .map(|n| read_check(r, n, 0, legacy_semantics));
    let check = f
        .require(r, "check", "the rule")
        .and_then(|n| read_check(r, n, 0, legacy_semantics));
    f.finish(r, "a rule", RULE_KEYS);
    let applies_when = match applies_when {
        Some(Some(c)) => Some(c),
        Some(None) => return None,
        None => None,
    };
    Some(Rule {
        id,
        title: title?,
        severity: severity?,
        rationale,
        description,
        fix,
        tags,
        references,
        compliance,
        applies_when,
        check: check?,
        timeout,
        pass_text,
        fail_text,
        location,
    })
}

/// "500ms", "10s", "2m", or a bare number of seconds; at most one hour.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (use e.g. 500ms, 10s, 2m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("invalid duration unit in {text:?} (use ms, s or m)")),
    };
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!("duration {text:?} must be between 1ms and 1 hour"));
    }
    Ok(d)
}

pub(crate) fn read_check(r: &mut Reader, node: &Node, depth: usize, legacy: bool) -> Option<Check> {
    if depth > MAX_CHECK_DEPTH {
        r.error(
            node,
            format!("checks nested deeper than {MAX_CHECK_DEPTH} levels"),
        );
        return None;
    }
    let map = r.mapping(node, "a check")?;
    let mut f = Fields::new(map);
    let combinators: Vec<&str> = COMBINATORS.iter().copied().filter(|k| f.has(k)).collect();
    let probes = probe_keys_in(&f);
    if !combinators.is_empty() {
        if map.len() != 1 {
            let keys: Vec<&str> = map.iter().map(|(k, _)| k.as_str()).collect();
            r.error(
                node,
                format!(
                    "`{}` must be the only key of its check (found: {})",
                    combinators[0],
                    keys.join(", ")
                ),
            );
            return None;
        }
        let key = combinators[0];
        let list_node = f.get(key)?;
        let Node::Sequence(items) = list_node else {
            r.error(list_node, format!("`{key}` needs a list of checks"));
            return None;
        };
        if items.is_empty() {
            r.error(list_node, format!("`{key}` needs at least one check"));
            return None;
        }
        let mut children = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            match read_check(r, item, depth + 1, legacy) {
                Some(c) => children.push(c),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        return Some(match key {
            "all" => Check::All(children),
            "any" => Check::Any(children),
            _ => Check::None(children),
        });
    }
    match probes.as_slice() {
        [] => {
            let known: Vec<&str> = ProbeKind::all_keys().collect();
            r.error(
                node,
                format!("a check needs a probe ({}) or all:/any:/none:", known.join(", ")),
            );
            None
        }
        [(kind, _)] => {
            let kind = *kind;
            let probe = read_probe(r, kind, &mut f);
            let expect_node = f.require(r, "expect", &format!("the {} check", kind.key()));
            let expect = expect_node.and_then(|n| read_expect(r, n, false, 0));
            f.finish(r, &format!("a {} check", kind.key()), &allowed_keys(kind));
            let mut expect = expect?;
            if legacy {
                expect.legacy = Some(legacy_mode(kind));
            }
            Some(Check::Probe(Box::new(ProbeCheck {
                probe: probe?,
                expect,
            })))
        }
        many => {
            let names: Vec<&str> = many.iter().map(|(_, k)| *k).collect();
            r.error(
                node,
                format!(
                    "one probe per check, found {}; combine checks with all:/any:",
                    names.join(" and ")
                ),
            );
            None
        }
    }
}

/// How the original agent spelled a missing observation for each collector.
pub(crate) fn legacy_mode(kind: ProbeKind) -> LegacyMode {
    LegacyMode {
        missing_text: match kind {
            ProbeKind::Process => "NotRunning",
            _ => "NotFound",
        },
        collapse: match kind {
            ProbeKind::Service => crate::expect::LegacyCollapse::ServiceState,
            ProbeKind::Process => crate::expect::LegacyCollapse::Running,
            _ => crate::expect::LegacyCollapse::Join,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_column_skips_indentation_compact_indicators_and_properties() {
        let col = |s: &str| block_column(&s.chars().collect::<Vec<_>>());
        assert_eq!(col("x: 1"), 0);
        assert_eq!(col("  - id: R1"), 4);
        assert_eq!(col("- - - x"), 6);
        assert_eq!(col("? : x"), 4);
        assert_eq!(col("-\t- x"), 4);
        assert_eq!(col("- &a !t x"), 8);
        assert_eq!(col("---"), 0);
        assert_eq!(col("-x"), 0);
        assert_eq!(col("- - -"), 5);
    }

    #[test]
    fn flow_depth_skips_quoted_scalars_and_comments() {
        let ok = |s: String| check_structure(&s).is_ok();
        let deep = "[".repeat(100);
        assert!(ok(format!("a: '{deep}'\n")));
        assert!(ok(format!("a: 'it''s {deep}'\n")));
        assert!(ok(format!("a: \"\\\" {deep}\"\n")));
        assert!(ok(format!("a: x # {deep}\n")));
        assert!(ok(format!("a: x\\{deep}\n")), "brackets inside a plain scalar");
        assert!(ok(format!("a: \"multi\n  line {deep}\"\n")));
        assert!(!ok(format!("a: {}\n", "[".repeat(65))));
        assert!(!ok(format!("a: {}\n", "[\n".repeat(65))));
        // Closing brackets inside quotes or comments do not close anything.
        assert!(!ok(format!("a: [ '{}' {}\n", "]".repeat(100), "[".repeat(64))));
        assert!(!ok(format!("a: [ # {}\n  {}\n", "]".repeat(100), "[".repeat(64))));
    }
}
