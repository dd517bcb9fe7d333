//! Malformed policies: every one is an `Err(PolicyError)` (never a panic) whose rendering
//! names the position (`line:column`, counted from 1) and the rule it is in.

mod common;

use common::{parse_err, parse_ok, HEAD};
use vt_policy::{parse_policy, parse_policy_file};

/// A valid rule R1 on lines 6-11 when appended to HEAD.
const R1: &str = "  - id: R1\n    title: T\n    severity: high\n    check:\n      file: /etc/x\n      \
                  expect: {exists: true}\n";

/// Asserts that some diagnostic is exactly at `line:column`, in rule `rule` (or in no rule),
/// and mentions `message`.
#[track_caller]
fn assert_diag(src: &str, line: usize, column: usize, rule: Option<&str>, message: &str) {
    let err = parse_err(src);
    let prefix = match rule {
        Some(id) => format!("<policy>:{line}:{column}: rule {id}: "),
        None => format!("<policy>:{line}:{column}: "),
    };
    let found = err.lines().any(|l| {
        l.starts_with(&prefix)
            && l.contains(message)
            && (rule.is_some() || !l[prefix.len()..].starts_with("rule "))
    });
    assert!(
        found,
        "expected a diagnostic `{prefix}...{message}...`, got:\n{err}\n--- source ---\n{src}"
    );
}

/// The 1-based column of the `n`th (1-based) occurrence of `needle` on line `line` of `src`.
fn column_of(src: &str, line: usize, needle: &str, n: usize) -> usize {
    let text = src.lines().nth(line - 1).unwrap();
    let (byte, _) = text
        .match_indices(needle)
        .nth(n - 1)
        .unwrap_or_else(|| panic!("{needle} in {text}"));
    text[..byte].chars().count() + 1
}

#[test]
fn the_base_policy_is_valid() {
    let p = parse_ok(&format!("{HEAD}{R1}"));
    assert_eq!(p.rules[0].id, "R1");
    assert_eq!((p.rules[0].location.line, p.rules[0].location.column), (6, 5));
}

#[test]
fn malformed_yaml() {
    // Line 3: the second `: ` is not allowed in a plain value.
    assert_diag(
        "policy:\n  id: p\n  name: a: b\n",
        3,
        10,
        None,
        "invalid YAML: mapping values are not allowed",
    );
    // Tab indentation.
    let err = parse_err("policy:\n\tid: p\n");
    assert!(err.starts_with("<policy>:2:"), "{err}");
    assert!(err.contains("invalid YAML"), "{err}");
    // Unterminated flow sequence: reported where the input ends.
    let err = parse_err(&format!("{HEAD}  - id: [R1\n"));
    assert!(err.starts_with("<policy>:7:1: invalid YAML"), "{err}");
    // Unterminated quoted scalar.
    let err = parse_err("policy:\n  id: 'p\n");
    assert!(err.contains("invalid YAML"), "{err}");
    assert!(err.starts_with("<policy>:"), "{err}");
}

#[test]
fn yaml_features_the_format_does_not_use() {
    // Reported at the node that carries the anchor or tag.
    assert_diag(
        "policy:\n  id: &a p\n",
        2,
        10,
        None,
        "anchors and aliases are not supported",
    );
    assert_diag("policy: !x [a]\n", 1, 12, None, "tags (!foo) are not supported");
    assert_diag(
        "policy:\n  id: *a\n",
        2,
        7,
        None,
        "invalid YAML: while parsing node, found unknown anchor",
    );
    assert_diag("? [a]\n: b\n", 1, 3, None, "mapping keys must be plain values");
    assert_diag("just text\n", 1, 1, None, "a policy must be a mapping");
}

#[test]
fn a_second_yaml_document_is_refused_not_ignored() {
    let src = format!("{HEAD}{R1}---\n{HEAD}{R1}");
    assert_diag(&src, 12, 1, None, "one YAML document");
    let src = format!("---\n{HEAD}{R1}...\npolicy: {{}}\n");
    assert_diag(&src, 14, 1, None, "content after the end of the YAML document");
    // A leading `---`, a `...` at the end and comments are fine.
    parse_ok(&format!("# comment\n---\n{HEAD}{R1}...\n# trailing\n"));
    // Legacy lists too.
    let legacy = "- id: A\n  querry: {type: cmd, cmd: ver}\n  expect: {equals: x}\n";
    assert_diag(&format!("{legacy}---\n{legacy}"), 4, 1, None, "one YAML document");
}

#[test]
fn unknown_top_level_key() {
    assert_diag(
        &format!("{HEAD}{R1}extra: 1\n"),
        12,
        1,
        None,
        "unknown key `extra` in the policy file",
    );
    assert_diag(
        "policy:\n  id: p\n  name: P\n  os: linux\n  owner: me\nrules: []\n",
        5,
        3,
        None,
        "unknown key `owner` in policy",
    );
}

#[test]
fn unknown_rule_key() {
    let rule = R1.replace("    severity: high\n", "    severity: high\n    colour: red\n");
    assert_diag(
        &format!("{HEAD}{rule}"),
        9,
        5,
        Some("R1"),
        "unknown key `colour` in a rule",
    );
}

#[test]
fn unknown_key_in_a_later_rule_names_that_rule() {
    let r2 = R1
        .replace("R1", "R2")
        .replace("    title: T\n", "    title: T\n    sevrity: low\n");
    // R2 starts on line 12; `sevrity` is on line 14.
    assert_diag(
        &format!("{HEAD}{R1}{r2}"),
        14,
        5,
        Some("R2"),
        "unknown key `sevrity` in a rule",
    );
}

#[test]
fn unknown_probe() {
    let rule = R1.replace("file: /etc/x", "filez: /etc/x");
    let src = format!("{HEAD}{rule}");
    assert_diag(&src, 10, 7, Some("R1"), "a check needs a probe");
    assert!(
        parse_err(&src).contains("sysctl"),
        "the message lists the known probes"
    );
}

#[test]
fn two_probes_in_one_check() {
    let rule = R1.replace(
        "file: /etc/x\n",
        "file: /etc/x\n      sysctl: net.ipv4.ip_forward\n",
    );
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        7,
        Some("R1"),
        "one probe per check, found file and sysctl",
    );
}

#[test]
fn unknown_probe_parameter_or_property() {
    let rule = R1.replace("file: /etc/x\n", "file: /etc/x\n      value: x\n");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        7,
        Some("R1"),
        "unknown key `value` in a file check",
    );
    let rule = R1.replace("file: /etc/x\n", "file: /etc/x\n      property: colour\n");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        17,
        Some("R1"),
        "unknown property \"colour\" for file",
    );
    let rule = R1.replace("file: /etc/x\n", "file: /etc/x\n      line: a\n      lines: b\n");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        7,
        Some("R1"),
        "file accepts only one of line, lines, property",
    );
}

#[test]
fn a_bad_probe_argument_is_reported_once() {
    // The probe's other keys (`line`, `property`) must not be reported as unknown too.
    for extra in ["      line: x\n", "      property: mode\n"] {
        let rule = R1.replace("file: /etc/x\n", &format!("file: ''\n{extra}"));
        let err = parse_policy(&format!("{HEAD}{rule}")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "<policy>:10:13: rule R1: file must not be empty",
            "{extra}"
        );
    }
}

#[test]
fn unknown_operator() {
    let rule = R1.replace("{exists: true}", "{equalz: 1}");
    // "      expect: {" is 15 characters.
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        16,
        Some("R1"),
        "unknown key `equalz` in expect",
    );
}

#[test]
fn invalid_regex_in_line() {
    let rule = R1.replace("file: /etc/x\n", "file: /etc/x\n      line: '^(unclosed'\n");
    // "      line: " is 12 characters; the value starts at its quote.
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        13,
        Some("R1"),
        "invalid regex in line",
    );
}

#[test]
fn invalid_regex_in_matches() {
    let rule = R1.replace("{exists: true}", "{matches: '[z-a]'}");
    // "      expect: {matches: " is 24 characters.
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        25,
        Some("R1"),
        "invalid regex in matches",
    );
    let rule = R1.replace("{exists: true}", "{every: {not_matches: '(('}}");
    let src = format!("{HEAD}{rule}");
    let col = column_of(&src, 11, "'(('", 1);
    assert_diag(&src, 11, col, Some("R1"), "invalid regex in not_matches");
}

#[test]
fn invalid_regex_in_a_filter() {
    let src = format!(
        "{HEAD}  - id: R1\n    title: T\n    severity: high\n    check:\n      accounts: {{shell: '[bash'}}\n      \
         expect: {{count: {{equals: 0}}}}\n"
    );
    let col = column_of(&src, 10, "'[bash'", 1);
    assert_diag(&src, 10, col, Some("R1"), "invalid regex in shell");
}

#[test]
fn duplicate_rule_ids() {
    let src = format!("{HEAD}{R1}{R1}");
    // The second R1 starts on line 12, its first key at column 5.
    assert_diag(
        &src,
        12,
        5,
        Some("R1"),
        "duplicate rule id (first defined at line 6)",
    );
}

#[test]
fn duplicate_mapping_keys() {
    let rule = R1.replace("    title: T\n", "    title: T\n    title: U\n");
    assert_diag(
        &format!("{HEAD}{rule}"),
        8,
        5,
        None,
        "duplicate key `title` (first defined at line 7)",
    );
    let rule = R1.replace("{exists: true}", "{equals: 1, equals: 2}");
    let src = format!("{HEAD}{rule}");
    let col = column_of(&src, 11, "equals", 2);
    assert_diag(&src, 11, col, None, "duplicate key `equals`");
}

#[test]
fn wrong_value_types() {
    let rule = R1.replace("severity: high", "severity: 5");
    // "    severity: " is 14 characters.
    assert_diag(
        &format!("{HEAD}{rule}"),
        8,
        15,
        Some("R1"),
        "unknown severity \"5\"",
    );
    let rule = R1.replace("    severity: high\n", "    severity: high\n    tags: {a: b}\n");
    assert_diag(
        &format!("{HEAD}{rule}"),
        9,
        11,
        Some("R1"),
        "tags must be a list of values, not a mapping",
    );
    let rule = R1.replace("{exists: true}", "{in: \"x\"}");
    // "      expect: {in: " is 19 characters.
    assert_diag(&format!("{HEAD}{rule}"), 11, 20, Some("R1"), "in needs a list");
    let rule = R1.replace("{exists: true}", "{not_in: {a: b}}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        24,
        Some("R1"),
        "not_in needs a list",
    );
    let rule = R1.replace("{exists: true}", "{exists: maybe}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        24,
        Some("R1"),
        "exists must be true or false",
    );
    let rule = R1.replace("{exists: true}", "{gt: ten}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        20,
        Some("R1"),
        "gt needs a number, got \"ten\"",
    );
    let rule = R1.replace("{exists: true}", "{mode_at_most: '0999'}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        30,
        Some("R1"),
        "mode_at_most needs an octal mode",
    );
    let rule = R1.replace("{exists: true}", "{equals: [a]}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        24,
        Some("R1"),
        "equals must be a single value, not a list",
    );
    let rule = R1.replace("{exists: true}", "{every: [a]}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        23,
        Some("R1"),
        "expect must be a mapping, not a list",
    );
    let rule = R1.replace("{exists: true}", "[exists]");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        15,
        Some("R1"),
        "expect must be a mapping, not a list",
    );
    assert_diag(
        "policy:\n  id: p\n  name: P\n  os: solaris\nrules: []\n",
        4,
        7,
        None,
        "unknown os \"solaris\"",
    );
    assert_diag(
        "policy: [p]\nrules: []\n",
        1,
        9,
        None,
        "policy must be a mapping, not a list",
    );
    assert_diag(&format!("{HEAD}  x: 1\n"), 6, 3, None, "rules must be a list");
    assert_diag(
        &format!("{HEAD}  - just-a-string\n"),
        6,
        5,
        None,
        "a rule must be a mapping, not a single value",
    );
}

#[test]
fn wrong_probe_arguments() {
    let rule = R1.replace("file: /etc/x", "file: ''");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        13,
        Some("R1"),
        "file must not be empty",
    );
    let rule = R1.replace("file: /etc/x", "registry: 'SOFTWARE\\X'");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        17,
        Some("R1"),
        "must start with a hive",
    );
    let rule = R1.replace(
        "file: /etc/x",
        "registry: 'HKLM\\SOFTWARE\\X'\n      property: type",
    );
    assert_diag(&format!("{HEAD}{rule}"), 10, 17, Some("R1"), "need a `value:`");
    let rule = R1.replace("file: /etc/x", "security_policy: password_length");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        24,
        Some("R1"),
        "unknown security_policy setting",
    );
    let rule = R1.replace("file: /etc/x", "firewall: home");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        17,
        Some("R1"),
        "firewall profile must be domain, private or public",
    );
    let rule = R1.replace("file: /etc/x", "command: []");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        16,
        Some("R1"),
        "command needs at least one item",
    );
    let rule = R1.replace("file: /etc/x", "command: ls\n      shell: sometimes");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        14,
        Some("R1"),
        "shell must be true or false",
    );
    let rule = R1.replace(
        "file: /etc/x",
        "registry: 'HKLM\\X'\n      value: v\n      view: 16",
    );
    assert_diag(
        &format!("{HEAD}{rule}"),
        12,
        13,
        Some("R1"),
        "view must be one of 64, 32",
    );
    let rule = R1.replace("file: /etc/x", "accounts: {}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        17,
        Some("R1"),
        "the accounts filter needs at least one key",
    );
    let rule = R1.replace("file: /etc/x", "accounts: {uid: zero}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        23,
        Some("R1"),
        "uid must be an integer",
    );
    let rule = R1.replace("file: /etc/x", "accounts: {colour: red}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        18,
        Some("R1"),
        "unknown key `colour` in the accounts filter",
    );
}

#[test]
fn missing_required_keys() {
    let rule = R1.replace("    title: T\n", "");
    assert_diag(
        &format!("{HEAD}{rule}"),
        6,
        5,
        Some("R1"),
        "the rule is missing required key `title`",
    );
    let rule = R1.replace("    severity: high\n", "");
    assert_diag(
        &format!("{HEAD}{rule}"),
        6,
        5,
        Some("R1"),
        "missing required key `severity`",
    );
    let rule = "  - id: R1\n    title: T\n    severity: high\n";
    assert_diag(
        &format!("{HEAD}{rule}"),
        6,
        5,
        Some("R1"),
        "missing required key `check`",
    );
    let rule = R1.replace("      expect: {exists: true}\n", "");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        7,
        Some("R1"),
        "the file check is missing required key `expect`",
    );
    assert_diag(
        &format!("{HEAD}  - title: T\n"),
        6,
        5,
        None,
        "a rule is missing required key `id`",
    );
    assert_diag(
        "policy:\n  id: p\n  os: linux\nrules: []\n",
        2,
        3,
        None,
        "policy is missing required key `name`",
    );
    assert_diag(
        "policy:\n  id: p\n  name: P\n  os: any\n",
        1,
        1,
        None,
        "missing required key `rules`",
    );
    assert_diag("rules: []\n", 1, 1, None, "missing required key `policy`");
    let rule = R1.replace("{exists: true}", "{}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        15,
        Some("R1"),
        "expect needs at least one operator",
    );
    let rule = R1.replace("{exists: true}", "{ignore_case: true}");
    assert_diag(
        &format!("{HEAD}{rule}"),
        11,
        15,
        Some("R1"),
        "at least one operator besides ignore_case",
    );
}

#[test]
fn bad_ids() {
    assert_diag(
        "policy:\n  id: 'a b'\n  name: P\n  os: any\nrules: []\n",
        2,
        3,
        None,
        "policy id \"a b\" may only contain",
    );
    // The spec allows ':' in rule ids but not in the policy id.
    assert_diag(
        "policy:\n  id: 'a:b'\n  name: P\n  os: any\nrules: []\n",
        2,
        3,
        None,
        "policy id \"a:b\"",
    );
    let rule = R1.replace("id: R1", "id: 'R 1'");
    assert_diag(
        &format!("{HEAD}{rule}"),
        6,
        5,
        Some("R 1"),
        "rule id may only contain",
    );
    parse_ok(&format!("{HEAD}{}", R1.replace("id: R1", "id: CIS:5.1.20")));
}

#[test]
fn bad_timeout() {
    for (value, message) in [
        ("10h", "invalid duration unit in \"10h\""),
        ("0", "must be between 1ms and 1 hour"),
        ("2h", "invalid duration unit"),
        ("61m", "must be between 1ms and 1 hour"),
        ("ten", "invalid duration \"ten\""),
        ("-5s", "invalid duration"),
        ("[1]", "timeout must be a single value"),
    ] {
        let rule = R1.replace(
            "    severity: high\n",
            &format!("    severity: high\n    timeout: {value}\n"),
        );
        // "    timeout: " is 13 characters.
        assert_diag(&format!("{HEAD}{rule}"), 9, 14, Some("R1"), message);
    }
    for (value, ms) in [
        ("500ms", 500u128),
        ("10s", 10_000),
        ("2m", 120_000),
        ("30", 30_000),
        ("1 s", 1000),
    ] {
        let rule = R1.replace(
            "    severity: high\n",
            &format!("    severity: high\n    timeout: {value}\n"),
        );
        let p = parse_ok(&format!("{HEAD}{rule}"));
        assert_eq!(p.rules[0].timeout.unwrap().as_millis(), ms, "{value}");
    }
}

#[test]
fn unknown_variable() {
    let rule = R1.replace("file: /etc/x", "file: /etc/${nope}/x");
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        13,
        Some("R1"),
        "unknown variable ${nope}",
    );
    let rule = R1.replace("{exists: true}", "{equals: '${x'}");
    assert_diag(&format!("{HEAD}{rule}"), 11, 24, Some("R1"), "unterminated ${");
    // Declared variables are fine.
    let src = format!(
        "policy:\n  id: p\n  name: P\n  os: linux\n  variables: {{dir: etc}}\nrules:\n{}",
        R1
    )
    .replace("file: /etc/x", "file: /${dir}/x");
    parse_ok(&src);
}

#[test]
fn combinator_with_extra_keys() {
    let rule = "  - id: R1\n    title: T\n    severity: high\n    check:\n      all:\n        - file: /x\n          \
                expect: {exists: true}\n      file: /y\n";
    assert_diag(
        &format!("{HEAD}{rule}"),
        10,
        7,
        Some("R1"),
        "`all` must be the only key of its check (found: all, file)",
    );
    let rule = "  - id: R1\n    title: T\n    severity: high\n    check: {any: [], none: []}\n";
    assert_diag(
        &format!("{HEAD}{rule}"),
        9,
        12,
        Some("R1"),
        "must be the only key",
    );
    let rule = "  - id: R1\n    title: T\n    severity: high\n    check: {any: []}\n";
    assert_diag(
        &format!("{HEAD}{rule}"),
        9,
        18,
        Some("R1"),
        "`any` needs at least one check",
    );
    let rule = "  - id: R1\n    title: T\n    severity: high\n    check: {none: x}\n";
    assert_diag(
        &format!("{HEAD}{rule}"),
        9,
        19,
        Some("R1"),
        "`none` needs a list of checks",
    );
}

#[test]
fn checks_nested_too_deep() {
    // 17 levels of `all` are accepted (depth 0..=16), the 18th is refused.
    let nest = |levels: usize| {
        let mut check = String::from("{file: /x, expect: {exists: true}}");
        for _ in 0..levels {
            check = format!("{{all: [{check}]}}");
        }
        format!("{HEAD}  - id: R1\n    title: T\n    severity: high\n    check: {check}\n")
    };
    parse_ok(&nest(16));
    let src = nest(17);
    // The innermost probe check is the 18th mapping: depth 17.
    let col = column_of(&src, 9, "{file", 1);
    assert_diag(&src, 9, col, Some("R1"), "checks nested deeper than 16 levels");
}

#[test]
fn quantifiers_nested_too_deep() {
    let nest = |levels: usize| {
        let mut expect = String::from("{equals: 1}");
        for _ in 0..levels {
            expect = format!("{{every: {expect}}}");
        }
        format!("{HEAD}  - id: R1\n    title: T\n    severity: high\n    check: {{command: x, expect: {expect}}}\n")
    };
    parse_ok(&nest(16));
    let src = nest(17);
    let col = column_of(&src, 9, "{equals", 1);
    assert_diag(
        &src,
        9,
        col,
        Some("R1"),
        "quantifiers nested deeper than 16 levels",
    );
}

#[test]
fn yaml_nested_too_deep() {
    let src = format!("policy: {}{}\n", "[".repeat(70), "]".repeat(70));
    // The 65th bracket: "policy: " is 8 characters.
    assert_diag(&src, 1, 8 + 65, None, "nesting deeper than 64 levels");
    let src = format!("policy: {}1{}\n", "{a: ".repeat(70), "}".repeat(70));
    assert_diag(&src, 1, 9 + 4 * 64, None, "nesting deeper than 64 levels");
    let src = format!("{}x\n", "- ".repeat(50));
    assert_diag(&src, 1, 101, None, "nesting deeper than 80 columns");
    let mut src = String::new();
    for i in 0..50 {
        src.push_str(&format!("{}a:\n", "  ".repeat(i)));
    }
    // Line 42 is indented by 82 spaces.
    assert_diag(&src, 42, 83, None, "nesting deeper than 80 columns");
}

#[test]
fn brackets_in_strings_and_comments_are_not_nesting() {
    // 70 rules each with an unbalanced bracket inside a regex or a comment: not nesting.
    let mut src = String::from(HEAD);
    for i in 0..70 {
        src.push_str(&format!(
            "  - id: R{i}\n    title: 'x ['\n    severity: high\n    check:   # [[[[ \n      file: /etc/x\n      \
             line: '^\\s*\\['\n      expect: {{matches: \"\\\\[\\\"\", not_equals: '{{'}}\n"
        ));
    }
    assert_eq!(parse_ok(&src).rules.len(), 70);
}

#[test]
fn empty_rules() {
    assert_diag(
        "policy:\n  id: p\n  name: P\n  os: linux\nrules: []\n",
        5,
        8,
        None,
        "a policy needs at least one rule",
    );
    assert_diag(
        &format!("{HEAD}  []\n"),
        6,
        3,
        None,
        "a policy needs at least one rule",
    );
    assert_diag("[]\n", 1, 1, None, "the rule list is empty");
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let r2 = R1
        .replace("R1", "R2")
        .replace("severity: high", "severity: urgent");
    let r3 = R1.replace("R1", "R3").replace("{exists: true}", "{exist: true}");
    let err = parse_policy(&format!("{HEAD}{R1}{r2}{r3}")).unwrap_err();
    let lines: Vec<String> = err.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        lines,
        [
            "14:15: rule R2: unknown severity \"urgent\" (expected critical, high, medium, low or info)",
            "23:16: rule R3: unknown key `exist` in expect (allowed: equals, not_equals, contains, not_contains, \
             matches, not_matches, in, not_in, gt, gte, lt, lte, version_eq, version_gt, version_gte, \
             version_lt, version_lte, mode_at_most, exists, every, any, none, count, ignore_case)",
        ]
    );
    assert_eq!(err.diagnostics[0].rule_id.as_deref(), Some("R2"));
    assert_eq!(
        (
            err.diagnostics[1].location.line,
            err.diagnostics[1].location.column
        ),
        (23, 16)
    );
}

#[test]
fn legacy_errors() {
    assert_diag(
        "- id: A\n  expect: {equals: x}\n",
        1,
        3,
        Some("A"),
        "needs a `querry:` (or `query:`) block",
    );
    assert_diag(
        "- id: A\n  querry: {type: wmi, cmd: x}\n  expect: {equals: x}\n",
        2,
        11,
        Some("A"),
        "unsupported querry.type \"wmi\"",
    );
    assert_diag(
        "- id: A\n  querry: {type: cmd, cmd: x}\n  expect: {startswith: x}\n",
        3,
        11,
        Some("A"),
        "no supported operator in expect",
    );
    assert_diag(
        "- id: A\n  querry: {type: cmd, cmd: x}\n  expect: {regex: '(('}\n",
        3,
        19,
        Some("A"),
        "invalid regex",
    );
    assert_diag(
        "- id: A\n  querry: {type: registry, root: HKXX, path: a, value: b}\n  expect: {equals: x}\n",
        2,
        11,
        Some("A"),
        "unsupported registry root \"HKXX\"",
    );
    let legacy = "- id: A\n  querry: {type: cmd, cmd: x}\n  expect: {equals: x}\n";
    assert_diag(
        &format!("{legacy}{legacy}"),
        4,
        3,
        Some("A"),
        "duplicate rule id (first defined at line 1)",
    );
    assert_diag(
        "- id: A\n  querry: {type: cmd}\n  expect: {equals: x}\n",
        2,
        11,
        Some("A"),
        "querry.cmd is missing",
    );
    for query in ["{type: service, name: ''}", "{type: process, name: ' '}"] {
        let src = format!("- id: A\n  querry: {query}\n  expect: {{equals: x}}\n");
        assert_diag(&src, 2, 11, Some("A"), "querry.name is missing");
    }
    assert_diag(
        "- id: A\n  querry: {type: registry, root: HKLM, path: X, value: ''}\n  expect: {equals: x}\n",
        2,
        11,
        Some("A"),
        "querry.value is missing",
    );
    // Legacy ids follow the native rules, so that the converted policy loads again.
    assert_diag(
        "- id: 'A B'\n  querry: {type: cmd, cmd: x}\n  expect: {equals: x}\n",
        1,
        3,
        Some("A B"),
        "rule id may only contain",
    );
}

#[test]
fn file_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("vt-policy-parse-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yml");
    std::fs::write(
        &path,
        format!("{HEAD}{}", R1.replace("severity: high", "severity: 5")),
    )
    .unwrap();
    let err = parse_policy_file(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:8:15: rule R1: unknown severity \"5\" (expected critical, high, medium, low or info)",
            path.display()
        )
    );
    let bin = dir.join("binary.yml");
    std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
    let err = parse_policy_file(&bin).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: policy is not UTF-8", bin.display())),
        "{err}"
    );
    let err = parse_policy_file(&dir.join("absent.yml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read policy"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let src = format!("{HEAD}{R1}# {}\n", "x".repeat(9 * 1024 * 1024));
    let err = parse_err(&src);
    assert!(err.starts_with("<policy>: policy is "), "{err}");
    assert!(err.contains("the limit is 8388608"), "{err}");
}
