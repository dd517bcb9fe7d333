//! The original VT-Audit rule list (fixtures/legacy-windows.yml is a copy of the shipped
//! rules/windows.yml) loads with the original semantics, and every policy round-trips
//! through its canonical JSON and native YAML forms.

mod common;

use common::{parse_err, parse_ok};
use vt_policy::canonical::{canonical_json, policy_hash, to_native_yaml};
use vt_policy::check::{CheckOutcome, ProbeOutcome};
use vt_policy::probe::{Param, ProbeArg, ProbeKind};
use vt_policy::{
    evaluate_rule, Check, Observation, Op, Policy, Rule, Severity, SourceFormat, Status, TargetOs, Value,
};

const LEGACY: &str = include_str!("fixtures/legacy-windows.yml");

const IDS: [&str; 24] = [
    "WIN-OS-VERSION",
    "WIN-NAME-CONVENTION",
    "WIN-LCL-PASSLEN",
    "WIN-LCL-PASSCOMP",
    "WIN-AD-PASSLEN",
    "WIN-AD-PASSCOMP",
    "WIN-AUTO-LOCK-5M",
    "WIN-LOCKOUT",
    "WIN-FW-ALLPROFILES",
    "WIN-FW-INBOUND-BLOCK",
    "WIN-FW-OUTBOUND-ALLOW",
    "WIN-FW-BLOCK-PORTS",
    "WIN-WU-AUTO",
    "WIN-NO-LOCAL-ADMIN",
    "WIN-WIFI-DESKTOP-OFF",
    "WIN-RDP-OFF",
    "WIN-SSH-OFF",
    "WIN-DOMAIN-JOIN",
    "WIN-V-VPN-INSTALLED",
    "WIN-EDR-AJIANT-INST",
    "WIN-AV-KASP-RUN",
    "WIN-DLP-V-INT",
    "WIN-DLP-TRELLIX",
    "WIN-BITLOCKER",
];

fn legacy() -> Policy {
    parse_ok(LEGACY)
}

fn rule<'a>(p: &'a Policy, id: &str) -> &'a Rule {
    p.rules
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no rule {id}"))
}

fn run(rule: &Rule, obs: Observation) -> CheckOutcome {
    evaluate_rule(rule, &mut |_| ProbeOutcome::Observed(obs.clone()))
}

fn text(s: &str) -> Observation {
    Observation::text(s)
}

/// Parses a one-rule legacy file.
fn one(rule: &str) -> Rule {
    let p = parse_ok(rule);
    assert_eq!(p.format, SourceFormat::Legacy);
    assert_eq!(p.rules.len(), 1);
    p.rules.into_iter().next().unwrap()
}

fn expect_op(rule: &Rule) -> &Op {
    let Check::Probe(pc) = &rule.check else {
        panic!("legacy rules are single probe checks")
    };
    assert_eq!(
        pc.expect.ops.len(),
        1,
        "legacy expectations have exactly one operator"
    );
    &pc.expect.ops[0]
}

// ---------------------------------------------------------------- the shipped file

#[test]
fn the_fixture_is_the_shipped_file() {
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/vt-audit-legacy-rules-windows.yml"
    );
    if let Ok(original) = std::fs::read_to_string(shipped) {
        assert_eq!(
            original, LEGACY,
            "tests/fixtures/legacy-windows.yml drifted from the reference copy"
        );
    }
}

#[test]
fn loads_all_24_rules_with_ids_preserved() {
    let p = legacy();
    assert_eq!(p.format, SourceFormat::Legacy);
    assert!(p.meta.legacy_semantics);
    assert_eq!(p.meta.os, TargetOs::Windows);
    assert_eq!(p.meta.id, "legacy");
    assert_eq!(p.rules.len(), 24);
    let ids: Vec<&str> = p.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, IDS);
}

#[test]
fn titles_fall_back_to_the_rationale_and_texts_are_kept() {
    let p = legacy();
    for r in &p.rules {
        assert_eq!(Some(&r.title), r.rationale.as_ref(), "{}", r.id);
        assert_eq!(r.severity, Severity::Medium, "{}: no severity in the file", r.id);
        assert!(
            r.pass_text.is_some() && r.fail_text.is_some() && r.fix.is_some(),
            "{}",
            r.id
        );
    }
    let r = rule(&p, "WIN-RDP-OFF");
    assert_eq!(r.title, "Tắt Remote Desktop để giảm bề mặt tấn công.");
    assert_eq!(r.pass_text.as_deref(), Some("RDP đang tắt."));
    assert_eq!(r.fail_text.as_deref(), Some("RDP đang bật."));
    assert_eq!(
        r.fix.as_deref(),
        Some("Đặt fDenyTSConnections=1 bằng GPO/registry.")
    );
}

#[test]
fn every_shipped_rule_is_a_powershell_stdout_probe() {
    let p = legacy();
    for r in &p.rules {
        let Check::Probe(pc) = &r.check else {
            panic!("{}", r.id)
        };
        assert_eq!(pc.probe.kind, ProbeKind::Powershell, "{}", r.id);
        assert_eq!(pc.probe.property.as_deref(), Some("stdout"), "{}", r.id);
        assert!(pc.expect.legacy.is_some(), "{}: legacy semantics", r.id);
    }
    // Multi-line plain scalars fold into one line, as YAML says.
    let Check::Probe(pc) = &rule(&p, "WIN-OS-VERSION").check else {
        unreachable!()
    };
    assert_eq!(
        pc.probe.arg,
        ProbeArg::Text(
            "(Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion' \
             -Name 'DisplayVersion').DisplayVersion"
                .into()
        )
    );
}

#[test]
fn operators_of_the_shipped_rules() {
    let p = legacy();
    match expect_op(rule(&p, "WIN-OS-VERSION")) {
        Op::Matches(pat) => assert_eq!(pat.source, "^(22H2|23H2|24H2)$"),
        other => panic!("{other:?}"),
    }
    assert_eq!(expect_op(rule(&p, "WIN-LOCKOUT")), &Op::Equals("OK".into()));
    assert_eq!(expect_op(rule(&p, "WIN-LCL-PASSLEN")), &Op::Equals("1".into()));
    let regexes = p
        .rules
        .iter()
        .filter(|r| matches!(expect_op(r), Op::Matches(_)))
        .count();
    assert_eq!(regexes, 2);
}

#[test]
fn equals_is_case_insensitive_and_trimmed_with_pass_and_fail_text() {
    let p = legacy();
    let r = rule(&p, "WIN-DOMAIN-JOIN");
    let out = run(r, text("localad.com"));
    assert_eq!(out.status, Status::Pass);
    assert_eq!(out.reason, "Đã join domain.");
    assert_eq!(out.observed, "localad.com");
    assert_eq!(run(r, text("  LocalAD.Com\r\n")).status, Status::Pass);
    let out = run(r, text("WORKGROUP"));
    assert_eq!(out.status, Status::Fail);
    assert_eq!(out.reason, "Chưa join domain hoặc sai domain.");
    assert_eq!(out.observed, "WORKGROUP", "the real value is kept as evidence");
    assert_eq!(out.expected, "equals \"LOCALAD.COM\"");
}

#[test]
fn equals_compares_text_not_numbers() {
    let p = legacy();
    let r = rule(&p, "WIN-LCL-PASSLEN");
    let out = run(r, text("1"));
    assert_eq!(
        (out.status, out.reason.as_str()),
        (Status::Pass, "Độ dài mật khẩu tối thiểu đạt yêu cầu.")
    );
    let out = run(r, text("0"));
    assert_eq!((out.status, out.observed.as_str()), (Status::Fail, "0"));
    assert_eq!(out.reason, "Mật khẩu tối thiểu < 9 ký tự.");
    // The original compared strings: "1.0" and "01" are not "1".
    assert_eq!(run(r, text("1.0")).status, Status::Fail);
    assert_eq!(run(r, text("01")).status, Status::Fail);
    assert_eq!(run(r, Observation::Scalar(Value::Int(1))).status, Status::Pass);
}

#[test]
fn regex_is_case_sensitive_and_unanchored() {
    let p = legacy();
    let r = rule(&p, "WIN-OS-VERSION");
    assert_eq!(run(r, text("23H2")).status, Status::Pass);
    assert_eq!(
        run(r, text(" 24H2\n")).status,
        Status::Pass,
        "observations are trimmed"
    );
    let out = run(r, text("22h2"));
    assert_eq!(out.status, Status::Fail, "regex is case-sensitive");
    assert_eq!(out.reason, "Windows chưa đạt phiên bản yêu cầu.");
    assert_eq!(out.observed, "22h2");
    assert_eq!(run(r, text("25H2")).status, Status::Fail);
    assert_eq!(
        run(r, text("x22H2")).status,
        Status::Fail,
        "this pattern anchors itself"
    );
    let name = rule(&p, "WIN-NAME-CONVENTION");
    assert_eq!(run(name, text("VTN-HN-0042")).status, Status::Pass);
    assert_eq!(run(name, text("vtn-hn-0042")).status, Status::Fail);
    // An unanchored pattern searches.
    let r = one("- id: A\n  querry: {type: cmd, cmd: ver}\n  expect: {regex: 'Version 10'}\n");
    assert_eq!(
        run(&r, text("Microsoft Windows [Version 10.0.22631]")).status,
        Status::Pass
    );
    assert_eq!(
        run(&r, text("Microsoft Windows [version 10.0.22631]")).status,
        Status::Fail
    );
    // No pass_text/fail_text: the generated reason stays.
    let out = run(&r, text("nope"));
    assert_eq!(out.reason, "expected matches /Version 10/, observed nope");
}

#[test]
fn first_operator_wins() {
    // equals beats regex, whatever the key order.
    let r = one("- id: A\n  querry: {type: cmd, cmd: x}\n  expect: {regex: '^z', equals: abc}\n");
    assert_eq!(expect_op(&r), &Op::Equals("abc".into()));
    assert_eq!(run(&r, text("ABC")).status, Status::Pass);
    assert_eq!(
        run(&r, text("zzz")).status,
        Status::Fail,
        "the regex is not evaluated"
    );
    // contains beats in and regex.
    let r = one("- id: A\n  querry: {type: cmd, cmd: x}\n  expect: {in: [q], regex: q, contains: Bc}\n");
    assert_eq!(expect_op(&r), &Op::Contains("Bc".into()));
    assert_eq!(
        run(&r, text("xabcx")).status,
        Status::Pass,
        "contains is case-insensitive"
    );
    assert_eq!(run(&r, text("q")).status, Status::Fail);
    // in beats regex.
    let r = one("- id: A\n  querry: {type: cmd, cmd: x}\n  expect: {regex: '^z', in: [On, ' Yes ']}\n");
    assert_eq!(expect_op(&r), &Op::In(vec!["On".into(), " Yes ".into()]));
    assert_eq!(run(&r, text("on")).status, Status::Pass, "in is case-insensitive");
    assert_eq!(
        run(&r, text("YES")).status,
        Status::Pass,
        "list items are trimmed"
    );
    assert_eq!(run(&r, text("zulu")).status, Status::Fail);
}

#[test]
fn in_that_is_not_a_list_falls_through_to_regex() {
    let r = one("- id: A\n  querry: {type: cmd, cmd: x}\n  expect: {in: 'a,b', regex: '^b'}\n");
    assert!(
        matches!(expect_op(&r), Op::Matches(p) if p.source == "^b"),
        "{:?}",
        expect_op(&r)
    );
    assert_eq!(run(&r, text("bee")).status, Status::Pass);
    assert_eq!(run(&r, text("a")).status, Status::Fail);
    // With nothing to fall through to, the rule has no supported operator.
    let err = parse_err("- id: A\n  querry: {type: cmd, cmd: x}\n  expect: {in: 'a,b'}\n");
    assert!(err.contains("rule A: no supported operator"), "{err}");
}

#[test]
fn unknown_keys_are_ignored_and_query_is_an_alias_of_querry() {
    let r = one(
        "- id: A\n  owner: someone\n  description: d\n  severity: HIGH\n  tags: [x]\n  title: Own title\n  \
         rationale: R\n  query: {type: CMD, cmd: ver, extra: 1}\n  expect: {equals: x, weird: 1}\n",
    );
    assert_eq!(r.title, "Own title", "an explicit title wins over the rationale");
    assert_eq!(r.severity, Severity::High);
    assert_eq!(r.tags, ["x"]);
    assert_eq!(r.description.as_deref(), Some("d"));
    let Check::Probe(pc) = &r.check else {
        unreachable!()
    };
    assert_eq!(pc.probe.kind, ProbeKind::Cmd);
    // Without title or rationale the id is the title.
    let r = one("- id: A\n  querry: {type: cmd, cmd: ver}\n  expect: {equals: x}\n");
    assert_eq!(r.title, "A");
}

#[test]
fn missing_service_reads_as_not_found() {
    let r = one("- id: S\n  querry: {type: service, name: sshd}\n  expect: {equals: NotFound}\n");
    let Check::Probe(pc) = &r.check else {
        unreachable!()
    };
    assert_eq!(pc.probe.kind, ProbeKind::Service);
    assert_eq!(pc.probe.property.as_deref(), Some("state"));
    let out = run(&r, Observation::Missing);
    assert_eq!(out.status, Status::Pass);
    assert_eq!(out.observed, "missing");
    assert_eq!(run(&r, text("stopped")).status, Status::Fail);

    let r = one(
        "- id: S\n  querry: {type: service, name: 'AVP*'}\n  expect: {equals: Running}\n  fail_text: down\n",
    );
    let out = run(&r, Observation::Missing);
    assert_eq!(
        (out.status, out.reason.as_str(), out.observed.as_str()),
        (Status::Fail, "down", "missing")
    );
    // Any running match makes the service "Running"; otherwise "Stopped".
    let states = |s: &[&str]| Observation::List(s.iter().map(|v| Value::text(*v)).collect());
    assert_eq!(run(&r, states(&["stopped", "running"])).status, Status::Pass);
    assert_eq!(run(&r, states(&["stopped", "paused"])).status, Status::Fail);
    assert_eq!(run(&r, text("running")).status, Status::Pass);
    let stopped = one("- id: S\n  querry: {type: service, name: x}\n  expect: {equals: stopped}\n");
    assert_eq!(run(&stopped, text("stop_pending")).status, Status::Pass);
}

#[test]
fn processes_read_as_running_or_not_running() {
    let r = one("- id: P\n  querry: {type: process, name: 'avp*.exe'}\n  expect: {equals: Running}\n");
    let Check::Probe(pc) = &r.check else {
        unreachable!()
    };
    assert_eq!(pc.probe.kind, ProbeKind::Process);
    assert_eq!(
        run(&r, Observation::List(vec![Value::text("avp.exe")])).status,
        Status::Pass
    );
    assert_eq!(run(&r, Observation::Missing).status, Status::Fail);
    let r = one("- id: P\n  querry: {type: process, name: x}\n  expect: {equals: notrunning}\n");
    assert_eq!(run(&r, Observation::Missing).status, Status::Pass);
}

#[test]
fn registry_queries_become_registry_probes() {
    let r = one(
        "- id: R\n  querry: {type: registry, root: HKEY_LOCAL_MACHINE, path: '\\SOFTWARE\\Policies\\X', value: Y, \
         kind: dword}\n  expect: {equals: '1'}\n",
    );
    let Check::Probe(pc) = &r.check else {
        unreachable!()
    };
    assert_eq!(pc.probe.kind, ProbeKind::Registry);
    assert_eq!(pc.probe.arg_text(), "HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\X");
    assert_eq!(pc.probe.params.get("value"), Some(&Param::Text("Y".into())));
    assert_eq!(pc.probe.property.as_deref(), Some("data"));
    assert_eq!(run(&r, Observation::Scalar(Value::Int(1))).status, Status::Pass);
    assert_eq!(run(&r, Observation::Missing).status, Status::Fail);
    // Multi-valued data is joined with ';' as the original did.
    let r = one(
        "- id: R\n  querry: {type: registry, root: HKLM, path: X, value: Y}\n  expect: {equals: 'a;B'}\n",
    );
    let multi = Observation::List(vec![Value::text("A"), Value::text("b")]);
    assert_eq!(run(&r, multi).status, Status::Pass);
}

#[test]
fn dollar_braces_are_literal_in_legacy_files() {
    // Legacy files have no variables: `${...}` is ordinary text (PowerShell uses it).
    let r = one(
        "- id: A\n  querry: {type: powershell, cmd: '${env:TEMP}'}\n  expect: {equals: '${x}', weird: 1}\n",
    );
    assert_eq!(expect_op(&r), &Op::Equals("${x}".into()));
    let Check::Probe(pc) = &r.check else {
        unreachable!()
    };
    assert_eq!(pc.probe.arg_text(), "${env:TEMP}");
}

#[test]
fn probe_errors_are_errors_not_pass_or_fail_text() {
    let p = legacy();
    let r = rule(&p, "WIN-BITLOCKER");
    let out = evaluate_rule(r, &mut |_| ProbeOutcome::Error("exit status 1".into()));
    assert_eq!(out.status, Status::Error);
    assert!(out.reason.ends_with(": exit status 1"), "{out:?}");
}

// ---------------------------------------------------------------- round trips

fn assert_round_trip(p: &Policy) -> Policy {
    let json = canonical_json(p);
    let hash = policy_hash(p);
    let again = parse_ok(&json);
    assert_eq!(canonical_json(&again), json, "canonical JSON re-parses to itself");
    assert_eq!(policy_hash(&again), hash);
    let yaml = to_native_yaml(p).unwrap();
    let from_yaml = parse_ok(&yaml);
    assert_eq!(
        policy_hash(&from_yaml),
        hash,
        "native YAML re-parses to the same policy:\n{yaml}"
    );
    assert_eq!(from_yaml.meta.legacy_semantics, p.meta.legacy_semantics);
    again
}

#[test]
fn canonical_json_is_compact_with_sorted_keys() {
    let p = legacy();
    let json = canonical_json(&p);
    assert!(
        json.starts_with("{\"policy\":{\"id\":\"legacy\",\"legacy_semantics\":true,\"name\":"),
        "{}",
        &json[..80]
    );
    assert!(!json.contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["rules"].as_array().unwrap().len(), 24);
    let first = &v["rules"][0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(first["check"]["expect"]["matches"], "^(22H2|23H2|24H2)$");
    assert_eq!(
        v["rules"][2]["check"]["expect"],
        serde_json::json!({"equals": "1", "ignore_case": true})
    );
    assert_eq!(policy_hash(&p), vt_policy::canonical::sha256_hex(json.as_bytes()));
}

#[test]
fn legacy_round_trips_and_keeps_its_semantics() {
    let p = legacy();
    let again = assert_round_trip(&p);
    assert_eq!(again.format, SourceFormat::Native);
    assert!(again.meta.legacy_semantics);
    let ids: Vec<&str> = again.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, IDS);
    // Same verdicts after conversion.
    for (id, value, want) in [
        ("WIN-DOMAIN-JOIN", "localad.com", Status::Pass),
        ("WIN-OS-VERSION", "22h2", Status::Fail),
        ("WIN-OS-VERSION", " 22H2 ", Status::Pass),
        ("WIN-LCL-PASSLEN", "1.0", Status::Fail),
    ] {
        let a = run(rule(&p, id), text(value));
        let b = run(rule(&again, id), text(value));
        assert_eq!(a, b, "{id} on {value:?}");
        assert_eq!(a.status, want, "{id} on {value:?}");
    }
    let a = run(rule(&p, "WIN-SSH-OFF"), Observation::Missing);
    assert_eq!(a, run(rule(&again, "WIN-SSH-OFF"), Observation::Missing));
    assert_eq!(a.status, Status::Fail);
}

#[test]
fn windows_line_endings_and_a_byte_order_mark_are_accepted() {
    let hash = policy_hash(&legacy());
    let crlf = LEGACY.replace('\n', "\r\n");
    assert_eq!(policy_hash(&parse_ok(&crlf)), hash);
    assert_eq!(policy_hash(&parse_ok(&format!("\u{feff}{crlf}"))), hash);
    assert_eq!(policy_hash(&parse_ok(&format!("\u{feff}{LEGACY}"))), hash);
    let native = canonical_json(&legacy());
    assert_eq!(policy_hash(&parse_ok(&format!("\u{feff}{native}"))), hash);
    let yaml = to_native_yaml(&legacy()).unwrap();
    assert_eq!(
        policy_hash(&parse_ok(&format!("\u{feff}{}", yaml.replace('\n', "\r\n")))),
        hash
    );
}

#[test]
fn hash_changes_when_the_policy_changes() {
    let p = legacy();
    let edited = parse_ok(&LEGACY.replace("equals: LOCALAD.COM", "equals: LOCALAD.NET"));
    assert_ne!(policy_hash(&p), policy_hash(&edited));
    // Comments and layout do not matter.
    let relaid = parse_ok(&LEGACY.replace("\n\n", "\n# spacer\n\n"));
    assert_eq!(policy_hash(&p), policy_hash(&relaid));
}

/// A native policy using most of the format.
const RICH: &str = r#"
policy:
  id: rich
  name: "Rich: every feature"
  os: any
  description: "Quotes \" and backslashes \\ and unicode: Mã hoá ✓"
  version: "2.1"
  variables:
    min: 14
    user: root
rules:
  - id: CIS:5.1.20
    title: Title with ${literal} text
    severity: critical
    rationale: r
    description: d
    fix: |
      line one
        indented line two
    tags: [a, b]
    references: ["https://example.invalid/x?a=1&b=2"]
    compliance: {cis_debian_12: ["5.1.20", "5.1.21"], empty: []}
    timeout: 2m
    pass_text: ok
    fail_text: not ok
    applies_when:
      file: /etc/ssh/sshd_config
      expect: {exists: true}
    check:
      all:
        - sshd: PermitRootLogin
          config: /etc/ssh/alt_config
          expect: {in: ["no", prohibit-password], ignore_case: true}
        - any:
            - accounts: {uid: 0, shell: '^/bin/(ba)?sh$', password: set}
              expect: {count: {lte: 1}, every: {equals: "${user}"}}
            - none:
                - command: [sh, -c, "echo ${user}"]
                  shell: false
                  property: exit_code
                  expect: {gte: "${min}", lt: 0x100}
        - files: /etc/cron.d/*
          property: mode
          expect: {every: {mode_at_most: "0644"}}
        - registry: 'HKLM\SOFTWARE\X'
          value: Y
          view: 32
          expect: {version_gte: 10.0.19045, not_matches: '^\s*$'}
        - file: /etc/passwd
          lines: '^([^:]+):x:0:'
          expect:
            every: {equals: ROOT, ignore_case: false}
            any: {contains: o}
            ignore_case: true
        - package: telnetd
          expect: {exists: false, not_contains: "x", not_in: [a], not_equals: ""}
"#;

#[test]
fn a_rich_native_policy_round_trips() {
    let p = parse_ok(RICH);
    let again = assert_round_trip(&p);
    let r = &again.rules[0];
    assert_eq!(r.id, "CIS:5.1.20");
    assert_eq!(r.title, "Title with ${literal} text");
    assert_eq!(r.fix.as_deref(), Some("line one\n  indented line two\n"));
    assert_eq!(r.timeout, Some(std::time::Duration::from_secs(120)));
    assert_eq!(r.compliance["cis_debian_12"], ["5.1.20", "5.1.21"]);
    assert!(r.compliance["empty"].is_empty());
    assert_eq!(again.meta.description, p.meta.description);
}

#[test]
fn a_nested_ignore_case_false_survives_the_round_trip() {
    let p = parse_ok(RICH);
    let again = parse_ok(&canonical_json(&p));
    // The `lines` check: every item must equal "ROOT" exactly, though the outer expect
    // ignores case. A root account named "root" fails it, before and after conversion.
    let passwd = |policy: &Policy| {
        let Check::All(children) = &policy.rules[0].check else {
            panic!("all:")
        };
        children[4].clone()
    };
    for policy in [&p, &again] {
        let check = passwd(policy);
        let out = vt_policy::check::evaluate_check(&check, &mut |_| {
            ProbeOutcome::Observed(Observation::List(vec![Value::text("root")]))
        });
        assert_eq!(out.status, Status::Fail, "{out:?}");
        let out = vt_policy::check::evaluate_check(&check, &mut |_| {
            ProbeOutcome::Observed(Observation::List(vec![Value::text("ROOT")]))
        });
        assert_eq!(out.status, Status::Pass, "{out:?}");
    }
}

#[test]
fn the_deepest_accepted_policy_round_trips() {
    // 16 combinators around a probe whose expect nests 16 quantifiers: the most the parser
    // accepts must survive conversion to YAML (whose indentation grows with nesting).
    let mut expect = String::from("{equals: 1}");
    for _ in 0..16 {
        expect = format!("{{every: {expect}}}");
    }
    let mut check = format!("{{file: /x, expect: {expect}}}");
    for kind in ["all", "any", "none", "all"].iter().cycle().take(16) {
        check = format!("{{{kind}: [{check}]}}");
    }
    let src = format!(
        "policy: {{id: p, name: P, os: any}}\nrules:\n  - id: R1\n    title: T\n    severity: high\n    \
         check: {check}\n"
    );
    assert_round_trip(&parse_ok(&src));
}

#[test]
fn unicode_line_separators_survive_the_yaml_form() {
    // The YAML emitter treats U+2028/U+2029 as line breaks; the text must come back as is.
    let src = "policy: {id: p, name: \"a\u{2028}b\", os: any}\nrules:\n  - id: R\n    title: \"x\u{2029}  y\"\n    \
               severity: low\n    check: {command: x, expect: {equals: \"\u{2028}\"}}\n";
    let p = parse_ok(src);
    assert_eq!(p.rules[0].title, "x\u{2029}  y");
    let back = parse_ok(&to_native_yaml(&p).unwrap());
    assert_eq!(back.meta.name, "a\u{2028}b");
    assert_eq!(back.rules[0].title, "x\u{2029}  y");
    assert_round_trip(&p);
}
