//! Helpers shared by the integration tests.
#![allow(dead_code)]

use vt_policy::check::{evaluate_check, CheckOutcome, ProbeOutcome};
use vt_policy::{parse_policy, Observation, Policy, Rule};

/// The policy header used by most tests: lines 1-5, so the first rule starts on line 6.
pub const HEAD: &str = "policy:\n  id: p\n  name: P\n  os: linux\nrules:\n";

pub fn parse_ok(src: &str) -> Policy {
    parse_policy(src).unwrap_or_else(|e| panic!("policy should parse:\n{e}\n--- source ---\n{src}"))
}

/// Parses a source that must be rejected and returns the rendered error.
pub fn parse_err(src: &str) -> String {
    match parse_policy(src) {
        Ok(p) => panic!(
            "policy should be rejected, got {} rule(s)\n--- source ---\n{src}",
            p.rules.len()
        ),
        Err(e) => {
            assert!(
                !e.diagnostics.is_empty(),
                "an error carries at least one diagnostic"
            );
            e.to_string()
        }
    }
}

/// A one-rule policy whose check runs the `command` probe with the given expect (flow YAML).
pub fn rule_with_expect(expect: &str) -> Rule {
    let src = format!(
        "policy: {{id: t, name: T, os: any}}\nrules:\n  - id: R\n    title: T\n    severity: low\n    \
         check:\n      command: probe\n      expect: {expect}\n"
    );
    parse_ok(&src).rules.remove(0)
}

/// Judges one observation against an expectation written in flow YAML.
pub fn judge(expect: &str, obs: Observation) -> CheckOutcome {
    let rule = rule_with_expect(expect);
    evaluate_check(&rule.check, &mut |_| ProbeOutcome::Observed(obs.clone()))
}
