//! Every expectation operator against scalar, list and missing observations. Expectations
//! are built the public way (parsing a policy) and judged through `evaluate_check`.

mod common;

use common::{judge, parse_ok, rule_with_expect, HEAD};
use vt_policy::check::{evaluate_check, CheckOutcome, ProbeOutcome};
use vt_policy::{evaluate_rule, Observation, Status, Value};

fn text(s: &str) -> Observation {
    Observation::Scalar(Value::text(s))
}
fn int(i: i64) -> Observation {
    Observation::Scalar(Value::Int(i))
}
fn mode(m: u32) -> Observation {
    Observation::Scalar(Value::Mode(m))
}
fn boolean(b: bool) -> Observation {
    Observation::Scalar(Value::Bool(b))
}
fn list(items: &[&str]) -> Observation {
    Observation::List(items.iter().map(|s| Value::text(*s)).collect())
}
const MISSING: Observation = Observation::Missing;

#[track_caller]
fn pass(expect: &str, obs: Observation) -> CheckOutcome {
    let out = judge(expect, obs.clone());
    assert_eq!(out.status, Status::Pass, "expect {expect} on {obs:?}: {out:?}");
    assert_eq!(out.reason, "", "a pass has no reason");
    out
}

#[track_caller]
fn fail(expect: &str, obs: Observation) -> CheckOutcome {
    let out = judge(expect, obs.clone());
    assert_eq!(out.status, Status::Fail, "expect {expect} on {obs:?}: {out:?}");
    assert!(!out.reason.is_empty(), "a failure says why: {out:?}");
    out
}

#[track_caller]
fn error(expect: &str, obs: Observation) -> CheckOutcome {
    let out = judge(expect, obs.clone());
    assert_eq!(out.status, Status::Error, "expect {expect} on {obs:?}: {out:?}");
    out
}

// ---------------------------------------------------------------- equals / not_equals

#[test]
fn equals_text_is_case_sensitive_by_default() {
    let out = pass("{equals: 'no'}", text("no"));
    assert_eq!(out.expected, "equals \"no\"");
    assert_eq!(out.observed, "no");
    let out = fail("{equals: 'no'}", text("yes"));
    assert_eq!(out.reason, "expected equals \"no\", observed yes");
    assert_eq!(out.observed, "yes");
    fail("{equals: 'no'}", text("No"));
    fail("{equals: 'no'}", text("no "));
}

#[test]
fn equals_compares_numbers_as_numbers() {
    pass("{equals: 0}", text("0"));
    pass("{equals: '0'}", int(0));
    pass("{equals: 0}", int(0));
    pass("{equals: '1'}", text("1.0"));
    pass("{equals: '1.0'}", text("1"));
    pass("{equals: 0}", text("00"));
    pass("{equals: 14}", text(" 14\n"));
    pass("{equals: 16}", text("0x10"));
    pass("{equals: -3}", int(-3));
    fail("{equals: 0}", text("1"));
    fail("{equals: 0}", int(1));
    let out = fail("{equals: 2}", int(3));
    assert_eq!(out.reason, "expected equals \"2\", observed 3");
    // Not a number on one side: plain text comparison.
    fail("{equals: 0}", text("zero"));
    pass("{equals: 1.2.3}", text("1.2.3"));
}

#[test]
fn equals_reads_literals_as_octal_for_modes() {
    let out = pass("{equals: '0640'}", mode(0o640));
    assert_eq!(out.observed, "0640", "modes are shown in octal");
    pass("{equals: '640'}", mode(0o640));
    pass("{equals: '0o640'}", mode(0o640));
    fail("{equals: '0644'}", mode(0o640));
    // 416 is 0o640 in decimal: a mode's literal is octal, never decimal.
    fail("{equals: 416}", mode(0o640));
    let out = fail("{not_equals: '0640'}", mode(0o640));
    assert!(out.reason.contains("0640"), "{out:?}");
    pass("{not_equals: '0600'}", mode(0o640));
}

#[test]
fn equals_on_booleans() {
    pass("{equals: true}", boolean(true));
    pass("{equals: 'yes'}", boolean(true));
    pass("{equals: 1}", boolean(true));
    pass("{equals: 'False'}", boolean(false));
    pass("{equals: 0}", boolean(false));
    fail("{equals: false}", boolean(true));
    fail("{equals: maybe}", boolean(true));
    pass("{not_equals: true}", boolean(false));
}

#[test]
fn equals_with_ignore_case() {
    let out = pass("{equals: 'NO', ignore_case: true}", text("no"));
    assert_eq!(out.expected, "equals \"NO\" (ignoring case)");
    pass("{equals: 'no', ignore_case: true}", text("No"));
    fail("{equals: 'no', ignore_case: false}", text("No"));
    pass("{not_equals: 'NO', ignore_case: false}", text("no"));
    fail("{not_equals: 'NO', ignore_case: true}", text("no"));
}

#[test]
fn not_equals() {
    pass("{not_equals: 'no'}", text("yes"));
    let out = fail("{not_equals: 'no'}", text("no"));
    assert_eq!(out.reason, "expected not equals \"no\", observed no");
    fail("{not_equals: 0}", text("0.0"));
    pass("{not_equals: 0}", text("0.1"));
}

#[test]
fn missing_fails_equals_but_satisfies_not_equals() {
    let out = fail("{equals: 'no'}", MISSING);
    assert_eq!(out.observed, "missing");
    assert_eq!(out.reason, "expected equals \"no\", observed missing");
    let out = pass("{not_equals: 'yes'}", MISSING);
    assert_eq!(out.observed, "missing");
}

// ---------------------------------------------------------------- contains

#[test]
fn contains_on_text_is_a_substring_test() {
    pass("{contains: 'Root'}", text("PermitRootLogin no"));
    let out = fail("{contains: 'root'}", text("PermitRootLogin no"));
    assert_eq!(
        out.reason,
        "expected contains \"root\", observed PermitRootLogin no"
    );
    pass(
        "{contains: 'root', ignore_case: true}",
        text("PermitRootLogin no"),
    );
    pass("{not_contains: 'root'}", text("PermitRootLogin no"));
    fail("{not_contains: 'Root'}", text("PermitRootLogin no"));
    fail(
        "{not_contains: 'ROOT', ignore_case: true}",
        text("PermitRootLogin no"),
    );
    // Numbers are text for contains.
    pass("{contains: 4}", int(1440));
}

#[test]
fn contains_on_a_list_is_membership() {
    let users = list(&["root", "alice"]);
    pass("{contains: alice}", users.clone());
    let out = fail("{contains: bob}", users.clone());
    assert_eq!(
        out.reason,
        "expected contains \"bob\", observed [\"root\", \"alice\"]"
    );
    // Membership is whole items, not substrings of items.
    fail("{contains: ali}", users.clone());
    fail("{contains: ALICE}", users.clone());
    pass("{contains: ALICE, ignore_case: true}", users.clone());
    pass("{not_contains: bob}", users.clone());
    let out = fail("{not_contains: root}", users);
    assert_eq!(out.status, Status::Fail);
}

#[test]
fn contains_and_not_contains_on_missing() {
    let out = fail("{contains: x}", MISSING);
    assert!(out.reason.ends_with("observed missing"), "{out:?}");
    pass("{not_contains: x}", MISSING);
}

// ---------------------------------------------------------------- matches

#[test]
fn matches_is_an_unanchored_search() {
    pass("{matches: 'Root'}", text("PermitRootLogin no"));
    pass("{matches: '^Permit'}", text("PermitRootLogin no"));
    fail("{matches: '^Root'}", text("PermitRootLogin no"));
    let out = fail("{matches: 'no$'}", text("no yes"));
    assert_eq!(out.expected, "matches /no$/");
    assert_eq!(out.reason, "expected matches /no$/, observed no yes");
    pass("{matches: '^[0-9]+$'}", int(42));
    pass("{matches: '^0640$'}", mode(0o640));
}

#[test]
fn matches_respects_ignore_case() {
    fail("{matches: '^permit'}", text("PermitRootLogin no"));
    pass(
        "{matches: '^permit', ignore_case: true}",
        text("PermitRootLogin no"),
    );
    pass("{not_matches: '^permit'}", text("PermitRootLogin no"));
    fail(
        "{not_matches: '^permit', ignore_case: true}",
        text("PermitRootLogin no"),
    );
}

#[test]
fn not_matches_and_missing() {
    let out = fail("{not_matches: 'yes'}", text("yes"));
    assert_eq!(out.reason, "expected does not match /yes/, observed yes");
    pass("{not_matches: 'yes'}", text("no"));
    fail("{matches: '.*'}", MISSING);
    pass("{not_matches: '.*'}", MISSING);
}

// ---------------------------------------------------------------- in / not_in

#[test]
fn in_and_not_in() {
    let out = pass("{in: [a, b]}", text("b"));
    assert_eq!(out.expected, "one of [\"a\", \"b\"]");
    let out = fail("{in: [a, b]}", text("c"));
    assert_eq!(out.reason, "expected one of [\"a\", \"b\"], observed c");
    fail("{in: [a, b]}", text("B"));
    pass("{in: [a, b], ignore_case: true}", text("B"));
    // Items compare like equals: numbers as numbers, modes as octal.
    pass("{in: [1, 2]}", int(2));
    pass("{in: ['2']}", text("2.0"));
    pass("{in: ['0600', '0640']}", mode(0o640));
    fail("{in: []}", text("a"));
    pass("{not_in: [a, b]}", text("c"));
    let out = fail("{not_in: [a, b]}", text("a"));
    assert_eq!(out.reason, "expected none of [\"a\", \"b\"], observed a");
    fail("{not_in: [A], ignore_case: true}", text("a"));
}

#[test]
fn in_and_not_in_on_missing() {
    fail("{in: [a]}", MISSING);
    pass("{not_in: [a]}", MISSING);
}

// ---------------------------------------------------------------- gt / gte / lt / lte

#[test]
fn numeric_comparisons() {
    pass("{gte: 14}", int(14));
    pass("{gte: 14}", text("15"));
    fail("{gte: 14}", text("8"));
    pass("{gt: 14}", int(15));
    let out = fail("{gt: 14}", int(14));
    assert_eq!(out.expected, "> 14");
    assert_eq!(out.reason, "expected > 14, observed 14");
    pass("{lt: 10}", text("9") /* numeric, not "9" > "10" as text */);
    fail("{lt: 10}", int(10));
    pass("{lte: 10}", int(10));
    fail("{lte: 10}", text("10.5"));
    pass("{gt: -1}", int(0));
    pass("{gte: 1.5}", text("1.5"));
    pass("{gt: '0x0f'}", int(16));
    pass("{gte: 1, lte: 5}", int(3));
    let out = fail("{gte: 1, lte: 5}", int(6));
    assert_eq!(out.expected, ">= 1 and <= 5");
    assert!(
        out.reason.contains("<= 5"),
        "the failing operator is named: {out:?}"
    );
}

#[test]
fn numeric_comparison_on_a_non_number_fails_with_a_reason() {
    let out = fail("{gt: 5}", text("unlimited"));
    assert_eq!(
        out.reason,
        "expected a number > 5, observed \"unlimited\" which is not a number"
    );
    let out = fail("{lte: 5}", boolean(true));
    assert!(out.reason.contains("not a number"), "{out:?}");
    let out = fail("{gte: 1}", text(""));
    assert!(out.reason.contains("not a number"), "{out:?}");
    let out = fail("{gte: 1}", MISSING);
    assert_eq!(out.reason, "expected >= 1, observed missing");
}

#[test]
fn numeric_comparisons_on_modes_read_the_literal_as_octal() {
    pass("{lte: '0644'}", mode(0o600));
    fail("{lte: '0644'}", mode(0o664));
    pass("{gt: '0600'}", mode(0o640));
    // "777" read as octal is 511; a decimal reading would make 0o1000 (512) smaller.
    fail("{lte: 777}", mode(0o1000));
}

// ---------------------------------------------------------------- version_*

#[test]
fn version_comparisons_use_debian_ordering() {
    pass("{version_gte: '1:9.2p1-2'}", text("1:9.2p1-2+deb12u3"));
    pass("{version_gt: '1.9'}", text("1.10"));
    fail("{version_gt: '1.10'}", text("1.9"));
    pass("{version_lt: '1.0'}", text("1.0~rc1"));
    pass("{version_eq: '1.0'}", text("1.0"));
    pass("{version_eq: '1.0'}", text("1.00"));
    fail("{version_eq: '1.0'}", text("1.0.0"));
    pass("{version_lte: '2.0-1'}", text("2.0-1"));
    fail("{version_lte: '2.0-1'}", text("2.0-2"));
    pass("{version_gt: '2.0'}", text("1:0.1") /* epoch wins */);
    pass("{version_gte: '10.0.19045'}", text("10.0.22631"));
    let out = fail("{version_gte: '3.0'}", text("2.9"));
    assert_eq!(out.expected, "version >= 3.0");
    assert_eq!(out.reason, "expected version >= 3.0, observed 2.9");
    let out = fail("{version_gte: '3.0'}", MISSING);
    assert_eq!(out.observed, "missing");
}

// ---------------------------------------------------------------- mode_at_most

#[test]
fn mode_at_most() {
    pass("{mode_at_most: '0644'}", mode(0o600));
    pass("{mode_at_most: '0644'}", mode(0o644));
    pass("{mode_at_most: '0644'}", mode(0o400));
    let out = fail("{mode_at_most: '0644'}", mode(0o664));
    assert_eq!(out.expected, "mode at most 0644");
    assert_eq!(out.reason, "expected mode at most 0644, observed 0664");
    fail("{mode_at_most: '0644'}", mode(0o700));
    // Special bits count too.
    fail("{mode_at_most: '0755'}", mode(0o4755));
    pass("{mode_at_most: '4755'}", mode(0o4755));
    // Text and integer observations are read as modes.
    pass("{mode_at_most: '0640'}", text("0600"));
    fail("{mode_at_most: '0640'}", text("0644"));
    pass("{mode_at_most: '0644'}", int(0o600));
    let out = fail("{mode_at_most: '0644'}", text("rw-r--r--"));
    assert!(out.reason.contains("permission mode"), "{out:?}");
    fail("{mode_at_most: '0644'}", MISSING);
}

// ---------------------------------------------------------------- exists

#[test]
fn exists() {
    pass("{exists: true}", text("x"));
    pass("{exists: true}", text(""));
    pass("{exists: true}", list(&["a"]));
    pass("{exists: true}", Observation::List(vec![]));
    let out = fail("{exists: true}", MISSING);
    assert_eq!(out.expected, "exists");
    assert_eq!(out.reason, "expected exists, observed missing");
    let out = pass("{exists: false}", MISSING);
    assert_eq!(out.expected, "does not exist");
    let out = fail("{exists: false}", text("0.17+2.4-2"));
    assert_eq!(out.reason, "expected does not exist, observed 0.17+2.4-2");
    fail("{exists: false}", list(&["a"]));
}

// ---------------------------------------------------------------- quantifiers

#[test]
fn every() {
    let shells = list(&["/usr/sbin/nologin", "/bin/false"]);
    let out = pass("{every: {matches: '(nologin|false)$'}}", shells.clone());
    assert_eq!(out.expected, "every item matches /(nologin|false)$/");
    let out = fail("{every: {matches: 'nologin$'}}", shells);
    assert_eq!(
        out.reason,
        "item \"/bin/false\" does not satisfy: matches /nologin$/"
    );
    // Over missing or empty: holds.
    pass("{every: {equals: x}}", MISSING);
    pass("{every: {equals: x}}", Observation::List(vec![]));
    // A scalar is a one-item list.
    pass("{every: {equals: 1}}", text("1"));
    fail("{every: {equals: 1}}", text("2"));
    // Items are compared like scalars: numbers as numbers.
    pass(
        "{every: {lte: 5}}",
        Observation::List(vec![Value::Int(1), Value::text("5"), Value::text("4.5")]),
    );
    let out = fail(
        "{every: {lte: 5}}",
        Observation::List(vec![Value::Int(1), Value::text("six")]),
    );
    assert!(out.reason.contains("\"six\""), "{out:?}");
}

#[test]
fn any() {
    let opts = list(&["rw", "nosuid", "nodev"]);
    let out = pass("{any: {equals: nosuid}}", opts.clone());
    assert_eq!(out.expected, "at least one item equals \"nosuid\"");
    let out = fail("{any: {equals: noexec}}", opts);
    assert_eq!(
        out.reason,
        "expected at least one item equals \"noexec\", observed [\"rw\", \"nosuid\", \"nodev\"]"
    );
    let out = fail("{any: {equals: x}}", MISSING);
    assert_eq!(out.observed, "missing");
    fail("{any: {equals: x}}", Observation::List(vec![]));
    pass("{any: {equals: x}}", text("x"));
}

#[test]
fn none() {
    let users = list(&["alice", "bob"]);
    let out = pass("{none: {equals: root}}", users.clone());
    assert_eq!(out.expected, "no item equals \"root\"");
    let out = fail("{none: {matches: '^b'}}", users);
    assert_eq!(out.reason, "item \"bob\" satisfies: matches /^b/");
    pass("{none: {equals: root}}", MISSING);
    pass("{none: {equals: root}}", Observation::List(vec![]));
    fail("{none: {equals: root}}", text("root"));
}

#[test]
fn count() {
    let out = pass("{count: {equals: 0}}", MISSING);
    assert_eq!(out.expected, "count equals \"0\"");
    pass("{count: {equals: 0}}", Observation::List(vec![]));
    pass("{count: {equals: 1}}", text("x"));
    pass("{count: {equals: 2}}", list(&["a", "b"]));
    pass("{count: {lte: 1}}", list(&["a"]));
    let out = fail("{count: {gte: 3}}", list(&["a", "b"]));
    assert_eq!(out.reason, "expected count >= 3, found 2 item(s): [\"a\", \"b\"]");
    let out = fail("{count: {equals: 0}}", list(&["uid0"]));
    assert!(out.reason.contains("found 1 item(s)"), "{out:?}");
}

#[test]
fn quantifiers_inherit_ignore_case_unless_overridden() {
    let answers = list(&["no", "No"]);
    pass("{every: {equals: 'NO'}, ignore_case: true}", answers.clone());
    fail("{every: {equals: 'NO'}}", answers.clone());
    fail(
        "{every: {equals: 'NO', ignore_case: false}, ignore_case: true}",
        answers.clone(),
    );
    pass("{every: {equals: 'NO', ignore_case: true}}", answers.clone());
    pass("{any: {matches: '^N'}, ignore_case: true}", list(&["no"]));
    fail("{none: {matches: '^N'}, ignore_case: true}", answers);
}

#[test]
fn nested_quantifiers() {
    // A list of scalars: the inner quantifier sees each item as a one-item list.
    pass("{every: {any: {equals: a}}}", list(&["a", "a"]));
    fail("{every: {any: {equals: a}}}", list(&["a", "b"]));
    pass("{count: {every: {gte: 2}}}", list(&["a", "b"]));
}

// ---------------------------------------------------------------- scalars on lists

#[test]
fn a_scalar_operator_on_a_list_is_an_error_naming_the_quantifiers() {
    for expect in [
        "{equals: a}",
        "{not_equals: a}",
        "{matches: a}",
        "{not_matches: a}",
        "{in: [a]}",
        "{not_in: [a]}",
        "{gt: 1}",
        "{version_gte: '1'}",
        "{mode_at_most: '0644'}",
    ] {
        let out = error(expect, list(&["a", "b"]));
        assert!(out.reason.contains("list of 2 value(s)"), "{expect}: {out:?}");
        assert!(out.reason.contains("every/any/none/count"), "{expect}: {out:?}");
        assert_eq!(out.observed, "[\"a\", \"b\"]");
    }
    let out = error("{equals: a}", Observation::List(vec![]));
    assert!(out.reason.contains("list of 0 value(s)"), "{out:?}");
    // exists and contains are fine on lists.
    pass("{exists: true, contains: a}", list(&["a"]));
}

#[test]
fn all_operators_must_hold_and_the_first_failure_is_reported() {
    let out = fail("{matches: '^a', not_equals: abc, exists: true}", text("abc"));
    assert_eq!(out.expected, "matches /^a/ and not equals \"abc\" and exists");
    assert_eq!(out.reason, "expected not equals \"abc\", observed abc");
    pass("{matches: '^a', not_equals: abd, exists: true}", text("abc"));
    // An error beats nothing: a scalar operator on a list is an error even after a pass.
    error("{exists: true, equals: a}", list(&["a"]));
}

// ---------------------------------------------------------------- variables

#[test]
fn variables_are_substituted_into_expectations_and_arguments() {
    let src = "policy:\n  id: p\n  name: P\n  os: linux\n  variables:\n    min_len: 14\n    user: root\n\
               rules:\n  - id: R\n    title: ${min_len} stays literal in titles\n    severity: low\n    \
               check:\n      command: [id, '-u', '${user}']\n      \
               expect: {gte: '${min_len}', not_equals: 'x${user}y'}\n";
    let policy = parse_ok(src);
    let rule = &policy.rules[0];
    assert_eq!(rule.title, "${min_len} stays literal in titles");
    let vt_policy::Check::Probe(pc) = &rule.check else {
        panic!("probe check")
    };
    assert_eq!(pc.probe.arg_text(), "id -u root");
    assert_eq!(pc.expect.describe(), ">= 14 and not equals \"xrooty\"");
    let out = evaluate_check(&rule.check, &mut |_| ProbeOutcome::Observed(text("14")));
    assert_eq!(out.status, Status::Pass);
    let out = evaluate_check(&rule.check, &mut |_| ProbeOutcome::Observed(text("xrooty")));
    assert_eq!(out.status, Status::Fail);
}

// ---------------------------------------------------------------- outcomes and rules

#[test]
fn probe_errors_and_not_applicable_pass_through() {
    let rule = rule_with_expect("{equals: 1}");
    let out = evaluate_check(&rule.check, &mut |_| {
        ProbeOutcome::Error("permission denied".into())
    });
    assert_eq!(out.status, Status::Error);
    assert_eq!(out.reason, "command probe (stdout): permission denied");
    assert_eq!(out.expected, "equals \"1\"");
    let out = evaluate_check(&rule.check, &mut |_| {
        ProbeOutcome::NotApplicable("live only".into())
    });
    assert_eq!(out.status, Status::NotApplicable);
    assert_eq!(out.reason, "live only");
}

#[test]
fn evidence_is_bounded() {
    let long = "x".repeat(10_000);
    let out = fail("{equals: y}", text(&long));
    assert!(
        out.observed.len() < 4200,
        "observed is truncated: {} bytes",
        out.observed.len()
    );
    assert!(
        out.observed.ends_with("(5904 more bytes)"),
        "{}",
        &out.observed[4000..]
    );
    assert!(out.reason.len() < 4300, "reason is truncated too");
}

fn rules(src_rules: &str) -> vt_policy::Policy {
    parse_ok(&format!("{HEAD}{src_rules}"))
}

/// Observations keyed by the probe's argument.
fn by_arg<'a>(pairs: &'a [(&'a str, ProbeOutcome)]) -> impl FnMut(&vt_policy::Probe) -> ProbeOutcome + 'a {
    move |p| {
        pairs
            .iter()
            .find(|(arg, _)| *arg == p.arg_text())
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| panic!("unexpected probe {}", p.describe()))
    }
}

fn obs(o: Observation) -> ProbeOutcome {
    ProbeOutcome::Observed(o)
}

const COMBINATOR_RULE: &str = "  - id: C\n    title: T\n    severity: low\n    check:\n      KIND:\n        \
     - {sysctl: a, expect: {equals: 1}}\n        - {sysctl: b, expect: {equals: 1}}\n";

fn combinator(kind: &str, a: ProbeOutcome, b: ProbeOutcome) -> CheckOutcome {
    let policy = rules(&COMBINATOR_RULE.replace("KIND", kind));
    let pairs = [("a", a), ("b", b)];
    let mut observe = by_arg(&pairs);
    evaluate_rule(&policy.rules[0], &mut observe)
}

#[test]
fn combinators_follow_the_spec_table() {
    use Status::*;
    let p = || obs(text("1"));
    let f = || obs(text("0"));
    let e = || ProbeOutcome::Error("boom".into());
    let na = || ProbeOutcome::NotApplicable("n/a".into());
    let cases = [
        // all: fail if any fails, else error if any errors, else pass
        ("all", p(), p(), Pass),
        ("all", p(), f(), Fail),
        ("all", e(), f(), Fail),
        ("all", e(), p(), Error),
        ("all", na(), p(), Pass),
        ("all", na(), f(), Fail),
        ("all", na(), na(), NotApplicable),
        // any: pass if any passes, else error if any errors, else fail
        ("any", f(), p(), Pass),
        ("any", e(), p(), Pass),
        ("any", e(), f(), Error),
        ("any", f(), f(), Fail),
        ("any", na(), f(), Fail),
        ("any", na(), na(), NotApplicable),
        // none: fail if any passes, else error if any errors, else pass
        ("none", f(), f(), Pass),
        ("none", p(), e(), Fail),
        ("none", f(), e(), Error),
        ("none", na(), f(), Pass),
        ("none", na(), na(), NotApplicable),
    ];
    for (kind, a, b, want) in cases {
        let out = combinator(kind, a.clone(), b.clone());
        assert_eq!(out.status, want, "{kind}({a:?}, {b:?}): {out:?}");
    }
}

#[test]
fn combinator_outcome_text() {
    let out = combinator("all", obs(text("1")), obs(text("0")));
    assert_eq!(out.expected, "all of: (equals \"1\"), (equals \"1\")");
    assert_eq!(out.observed, "1; 0");
    assert_eq!(out.reason, "expected equals \"1\", observed 0");
    let out = combinator("any", ProbeOutcome::Error("boom".into()), obs(MISSING));
    assert_eq!(out.status, Status::Error);
    assert_eq!(out.observed, "error; missing");
    assert!(out.reason.contains("sysctl a: boom"), "{out:?}");
    assert!(out.reason.contains("observed missing"), "{out:?}");
}

#[test]
fn applies_when_gates_the_rule() {
    let policy = rules(
        "  - id: R\n    title: T\n    severity: low\n    applies_when:\n      file: /etc/ssh/sshd_config\n      \
         expect: {exists: true}\n    check:\n      sshd: permitrootlogin\n      expect: {equals: 'no'}\n",
    );
    let rule = &policy.rules[0];
    let run = |pre: ProbeOutcome, main: ProbeOutcome| {
        let pairs = [("/etc/ssh/sshd_config", pre), ("permitrootlogin", main)];
        let mut observe = by_arg(&pairs);
        evaluate_rule(rule, &mut observe)
    };
    let out = run(obs(MISSING), obs(text("no")));
    assert_eq!(out.status, Status::NotApplicable);
    assert_eq!(out.reason, "precondition not met: exists");
    let out = run(ProbeOutcome::Error("denied".into()), obs(text("no")));
    assert_eq!(out.status, Status::Error);
    assert!(
        out.reason.starts_with("precondition could not be evaluated:"),
        "{out:?}"
    );
    assert!(out.reason.contains("denied"), "{out:?}");
    let out = run(obs(text("/etc/ssh/sshd_config")), obs(text("no")));
    assert_eq!(out.status, Status::Pass);
    let out = run(obs(text("/etc/ssh/sshd_config")), obs(text("yes")));
    assert_eq!(out.status, Status::Fail);
    assert_eq!(out.observed, "yes");
}

#[test]
fn pass_and_fail_text_replace_the_reason_but_not_the_evidence() {
    let policy = rules(
        "  - id: R\n    title: T\n    severity: low\n    pass_text: all good\n    fail_text: not good\n    \
         check: {sysctl: a, expect: {equals: 1}}\n",
    );
    let rule = &policy.rules[0];
    let out = evaluate_rule(rule, &mut |_| obs(text("1")));
    assert_eq!((out.status, out.reason.as_str()), (Status::Pass, "all good"));
    let out = evaluate_rule(rule, &mut |_| obs(text("7")));
    assert_eq!(
        (out.status, out.reason.as_str(), out.observed.as_str()),
        (Status::Fail, "not good", "7")
    );
    // Errors keep the real reason.
    let out = evaluate_rule(rule, &mut |_| ProbeOutcome::Error("boom".into()));
    assert_eq!(out.status, Status::Error);
    assert!(out.reason.contains("boom"), "{out:?}");
}

#[test]
fn a_failing_none_names_the_child_that_holds() {
    let out = combinator("none", obs(text("1")), obs(text("0")));
    assert_eq!(out.status, Status::Fail);
    assert_eq!(out.reason, "equals \"1\" holds (observed 1)");
    let out = combinator("none", obs(text("1")), obs(text("1")));
    assert_eq!(
        out.reason,
        "equals \"1\" holds (observed 1); equals \"1\" holds (observed 1)"
    );
    let out = combinator("none", ProbeOutcome::Error("boom".into()), obs(text("0")));
    assert_eq!(out.status, Status::Error);
    assert_eq!(out.reason, "sysctl a: boom");
}

#[test]
fn combined_reasons_are_bounded() {
    let mut children = String::new();
    for i in 0..20 {
        children.push_str(&format!("        - {{sysctl: k{i}, expect: {{equals: 1}}}}\n"));
    }
    let policy = rules(&format!(
        "  - id: C\n    title: T\n    severity: low\n    check:\n      all:\n{children}"
    ));
    let long = "y".repeat(4000);
    let out = evaluate_rule(&policy.rules[0], &mut |_| obs(text(&long)));
    assert_eq!(out.status, Status::Fail);
    assert!(out.reason.len() < 4200, "reason is {} bytes", out.reason.len());
    assert!(
        out.observed.len() < 4200,
        "observed is {} bytes",
        out.observed.len()
    );
    assert!(out.reason.ends_with("more bytes)"));
}
