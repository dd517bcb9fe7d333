//! Robustness: `parse_policy` never panics or overflows the stack, whatever it is fed, and
//! whatever it accepts round-trips through its canonical form.

mod common;

use proptest::prelude::*;
use vt_policy::canonical::{canonical_json, policy_hash, to_native_yaml};
use vt_policy::parse_policy;

const VALID: &str = r#"# a valid policy that the mutations start from
policy:
  id: fuzz
  name: Fuzz base
  os: linux
  variables: {min: 14}
rules:
  - id: SSH-ROOT-LOGIN
    title: SSH root login is disabled
    severity: high
    tags: [ssh]
    timeout: 10s
    check:
      file: /etc/ssh/sshd_config
      line: '^\s*PermitRootLogin\s+(\S+)'
      expect: { equals: "no", ignore_case: true }
  - id: PASS-LEN
    title: Passwords are long
    severity: medium
    applies_when: {file: /etc/login.defs, expect: {exists: true}}
    check:
      any:
        - sysctl: kernel.x
          expect: {gte: "${min}"}
        - none:
            - accounts: {uid: 0}
              expect: {count: {gt: 1}, every: {not_matches: '^r'}}
  - id: MODE
    title: Cron files are private
    severity: low
    check:
      files: /etc/cron.d/*
      property: mode
      expect:
        every: {mode_at_most: "0644"}
"#;

const LEGACY_SNIPPET: &str = "- id: A\n  rationale: r\n  querry:\n    type: service\n    name: 'AVP*'\n  \
                              expect:\n    in: [Running, x]\n  fail_text: f\n- id: B\n  query: {type: cmd, cmd: ver}\n  \
                              expect: {regex: '^Microsoft', equals: y}\n";

const RICH: &str = r#"policy:
  id: rich
  name: "Rich: every feature"
  os: any
  description: "Quotes \" and backslashes \\ and unicode: Mã hoá ✓"
  variables:
    user: root
rules:
  - id: CIS:5.1.20
    title: T
    severity: critical
    fix: |
      line one
        indented line two
    references: ["https://example.invalid/x?a=1&b=2"]
    compliance: {cis_debian_12: ["5.1.20"], empty: []}
    timeout: 500ms
    pass_text: ok
    check:
      all:
        - sshd: PermitRootLogin
          config: /etc/ssh/alt_config
          expect: {in: ["no", prohibit-password], ignore_case: true}
        - command: [sh, -c, "echo ${user}"]
          shell: false
          property: exit_code
          expect: {gte: 0, lt: 0x100}
        - registry: 'HKLM\SOFTWARE\X'
          value: Y
          view: 32
          expect: {version_gte: 10.0.19045, not_matches: '^\s*$'}
        - file: /etc/passwd
          lines: '^([^:]+):x:0:'
          expect:
            every: {equals: ROOT, ignore_case: false}
            ignore_case: true
        - mount: /tmp
          expect: {any: {equals: noexec}, none: {in: [exec, suid]}, count: {gte: 1}}
"#;

/// Pieces of YAML and of the policy format, so random input reaches deep into the parser.
const FRAGMENTS: &[&str] = &[
    "policy:",
    "rules:",
    "- ",
    "id: ",
    "title: ",
    "severity: high",
    "check:",
    "expect:",
    "file: /x",
    "line: '(x)'",
    "all:",
    "any:",
    "none:",
    "every:",
    "count:",
    "equals: 1",
    "in: [a, b]",
    "{",
    "}",
    "[",
    "]",
    ":",
    ": ",
    ",",
    "\n",
    "  ",
    "    ",
    "'",
    "\"",
    "#",
    "---",
    "...",
    "&a ",
    "*a",
    "!t ",
    "${",
    "${x}",
    "}",
    "|",
    ">",
    "\t",
    "? ",
    "\\",
    "querry:",
    "type: cmd",
    "cmd: x",
    "regex: ",
    "os: linux",
    "é",
    "\u{feff}",
    "\r\n",
    "%YAML 1.2",
    "~",
    "null",
    "0x1F",
    "-",
    "@",
    "`",
];

fn fragments() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..80).prop_map(|v| v.concat())
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    InsertLine(usize, String),
    DeleteBytes(usize, usize),
    InsertChar(usize, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), fragments()).prop_map(|(a, s)| Mutation::InsertLine(a, s)),
        (any::<usize>(), 1usize..8).prop_map(|(a, n)| Mutation::DeleteBytes(a, n)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Mutation::InsertChar(a, c)),
        (
            any::<usize>(),
            prop::sample::select(&[':', '-', '[', '{', '\'', '"', ' ', '\n', '#', '$'][..])
        )
            .prop_map(|(a, c)| Mutation::InsertChar(a, c)),
    ]
}

fn apply(source: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = source.lines().map(String::from).collect();
    for m in mutations {
        let n = lines.len().max(1);
        match m {
            Mutation::DeleteLine(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) if !lines.is_empty() => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Mutation::InsertLine(i, s) => lines.insert(i % (lines.len() + 1), s.clone()),
            Mutation::DeleteBytes(at, len) => {
                let mut text = lines.join("\n");
                let start = floor_char_boundary(&text, at % (text.len() + 1));
                let end = floor_char_boundary(&text, (start + len).min(text.len()));
                text.replace_range(start..end, "");
                lines = text.split('\n').map(String::from).collect();
            }
            Mutation::InsertChar(at, c) => {
                let mut text = lines.join("\n");
                let at = floor_char_boundary(&text, at % (text.len() + 1));
                text.insert(at, *c);
                lines = text.split('\n').map(String::from).collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Parses; anything accepted must round-trip through canonical JSON and native YAML.
fn check(source: &str) {
    let Ok(policy) = parse_policy(source) else { return };
    let json = canonical_json(&policy);
    let again = parse_policy(&json)
        .unwrap_or_else(|e| panic!("canonical JSON of an accepted policy is rejected: {e}\n{json}"));
    assert_eq!(canonical_json(&again), json, "canonical JSON is stable");
    let yaml = to_native_yaml(&policy).unwrap();
    let from_yaml = parse_policy(&yaml)
        .unwrap_or_else(|e| panic!("native YAML of an accepted policy is rejected: {e}\n{yaml}"));
    assert_eq!(
        policy_hash(&from_yaml),
        policy_hash(&policy),
        "native YAML:\n{yaml}"
    );
}

proptest! {
    // 512 cases by default (a few seconds in debug); PROPTEST_CASES=100000 for a deeper run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        check(&s);
    }

    #[test]
    fn yaml_like_noise_never_panics(s in fragments()) {
        check(&s);
    }

    #[test]
    fn mutated_policies_never_panic(
        ms in prop::collection::vec(mutation(), 1..6),
        base in prop::sample::select(&[VALID, LEGACY_SNIPPET, RICH][..]),
    ) {
        check(&apply(base, &ms));
    }

    #[test]
    fn arbitrary_values_round_trip(title in any::<String>(), value in any::<String>(), fix in any::<String>()) {
        // Any text in a title, an expectation and a free-text field survives conversion.
        let quote = |s: &str| serde_json::to_string(s).unwrap();
        let src = format!(
            "policy: {{id: p, name: P, os: any}}\nrules:\n  - id: R\n    title: {}\n    severity: low\n    \
             fix: {}\n    check:\n      command: x\n      expect: {{equals: {}}}\n",
            quote(&title), quote(&fix), quote(&value),
        );
        if let Ok(p) = parse_policy(&src) {
            prop_assert_eq!(&p.rules[0].title, &title);
            prop_assert_eq!(p.rules[0].fix.as_deref(), Some(fix.as_str()));
            check(&src);
        }
    }
}

#[test]
fn the_bases_are_valid() {
    assert_eq!(common::parse_ok(VALID).rules.len(), 3);
    assert_eq!(common::parse_ok(LEGACY_SNIPPET).rules.len(), 2);
    assert_eq!(common::parse_ok(RICH).rules.len(), 1);
    check(VALID);
    check(LEGACY_SNIPPET);
    check(RICH);
}

#[track_caller]
fn refused(source: &str, message: &str) {
    match parse_policy(source) {
        Ok(_) => panic!("accepted {} bytes of nesting", source.len()),
        Err(e) => assert!(
            e.to_string().contains(message),
            "{}",
            e.to_string().chars().take(300).collect::<String>()
        ),
    }
}

#[test]
fn deep_flow_sequences_are_refused() {
    for n in [65, 1_000, 100_000, 1_000_000] {
        refused(&"[".repeat(n), "nesting deeper than 64 levels");
        refused(
            &format!("policy: {}{}", "[".repeat(n), "]".repeat(n)),
            "nesting deeper than 64 levels",
        );
    }
}

#[test]
fn deep_flow_mappings_are_refused() {
    for n in [65, 1_000, 100_000] {
        refused(
            &format!("policy: {}x{}", "{a: ".repeat(n), "}".repeat(n)),
            "nesting deeper than 64 levels",
        );
        refused(&"{a: ".repeat(n), "nesting deeper than 64 levels");
    }
}

#[test]
fn deep_block_nesting_is_refused() {
    // `- - - x`: tiny input, deep nesting; this used to overflow the stack and abort.
    for n in [1_000, 100_000, 4_000_000] {
        refused(
            &format!("{}x\n", "- ".repeat(n)),
            "nesting deeper than 80 columns",
        );
        refused(
            &format!("policy: 1\nrules:\n  - {}x\n", "- ".repeat(n)),
            "nesting deeper than 80 columns",
        );
        refused(
            &format!("{}x\n", "? ".repeat(n)),
            "nesting deeper than 80 columns",
        );
    }
    let mut src = String::new();
    for i in 0..2_000 {
        src.push_str(&" ".repeat(i));
        src.push_str("a:\n");
    }
    refused(&src, "nesting deeper than 80 columns");
    // Alternating mappings and sequences at the same indentation.
    let mut src = String::new();
    for i in 0..1_000 {
        src.push_str(&format!("{0}a:\n{0}- ", "  ".repeat(i)));
        src.push('\n');
    }
    refused(&src, "nesting deeper than 80 columns");
}

#[test]
fn nesting_hidden_from_the_bracket_count_is_still_bounded() {
    // Closing brackets in comments and quoted strings do not reduce the count...
    let mut src = String::from("policy: ");
    for _ in 0..10 {
        src.push_str(&"[".repeat(30));
        src.push_str(" # ");
        src.push_str(&"]".repeat(30));
        src.push_str("\n ");
    }
    refused(&src, "nesting deeper than 64 levels");
    let src = format!("policy: {}\n", "[ \"]\", ".repeat(200));
    refused(&src, "nesting deeper than 64 levels");
    // ...and whatever the heuristics miss, the YAML scanner stops at 255 flow levels, well
    // within the stack, even under the deepest block nesting allowed.
    let mut src = String::new();
    for i in 0..40 {
        src.push_str(&format!("{0}a:\n{0}- ", "  ".repeat(i)));
        src.push('\n');
    }
    src.push_str(&format!("{}x: !t[{}\n", "  ".repeat(40), "!t[".repeat(300)));
    assert!(parse_policy(&src).is_err());
}

#[test]
fn huge_input_is_refused_quickly() {
    let start = std::time::Instant::now();
    let src = format!("policy:\n  id: p\n  name: '{}'\n", "x".repeat(9 * 1024 * 1024));
    refused(&src, "the limit is 8388608");
    refused(&"[".repeat(9 * 1024 * 1024), "the limit is 8388608");
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    // Just under the limit: a long but flat document parses to an error, not a crash.
    let big = format!(
        "policy:\n  id: p\n  name: P\n  os: any\nrules:\n{}",
        "  - 1\n".repeat(200_000)
    );
    let big = format!("{big}# {}\n", "x".repeat(8 * 1024 * 1024 - big.len() - 10));
    assert!(big.len() <= 8 * 1024 * 1024);
    let err = parse_policy(&big).unwrap_err();
    assert_eq!(err.diagnostics.len(), 200_000, "one diagnostic per bad rule");
    assert_eq!(
        err.diagnostics[0].to_string(),
        "6:5: a rule must be a mapping, not a single value"
    );
}

#[test]
fn many_valid_rules_parse() {
    let mut src = String::from(common::HEAD);
    for i in 0..1_000 {
        src.push_str(&format!(
            "  - id: R{i}\n    title: T\n    severity: low\n    check: {{file: /x, line: '^\\s*\\[', expect: {{exists: true}}}}\n"
        ));
    }
    let p = common::parse_ok(&src);
    assert_eq!(p.rules.len(), 1_000);
    check(&src);
}
