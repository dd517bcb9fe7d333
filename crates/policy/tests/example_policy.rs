//! The `linux-example` policy from the format contract parses as written and behaves as its
//! comments say, judged from fake observations.

mod common;

use std::collections::HashMap;

use common::parse_ok;
use vt_policy::canonical::{canonical_json, policy_hash, to_native_yaml};
use vt_policy::check::{CheckOutcome, ProbeOutcome};
use vt_policy::probe::{ProbeArg, ProbeKind};
use vt_policy::{evaluate_rule, Check, Observation, Policy, Probe, Severity, Status, TargetOs, Value};

/// The example shipped in policies/examples (also shown in docs/policy-format.md).
pub const EXAMPLE: &str = include_str!("../../../policies/examples/linux-example.yml");

/// A fake host: what each probe (by kind and argument) observes.
#[derive(Default, Clone)]
struct Host {
    seen: HashMap<(ProbeKind, String), Observation>,
}

impl Host {
    fn with(mut self, kind: ProbeKind, arg: &str, obs: Observation) -> Self {
        self.seen.insert((kind, arg.to_string()), obs);
        self
    }

    /// A sshd_config: the `file` probe with `line:` returns capture group 1 of the first
    /// matching line, or missing, as the agent does.
    fn sshd_config(self, content: &str) -> Self {
        let mut host = self;
        host.seen.insert(
            (ProbeKind::File, "__content__".into()),
            Observation::text(content),
        );
        host
    }

    fn observe(&self, probe: &Probe) -> ProbeOutcome {
        if probe.kind == ProbeKind::File {
            if let (Some(re), Some(Observation::Scalar(Value::Text(content)))) = (
                probe.regex_param("line"),
                self.seen.get(&(ProbeKind::File, "__content__".into())),
            ) {
                let first = content.lines().find_map(|l| re.regex.captures(l));
                return ProbeOutcome::Observed(match first {
                    Some(c) => Observation::text(c.get(1).or(c.get(0)).unwrap().as_str()),
                    None => Observation::Missing,
                });
            }
        }
        let key = (probe.kind, probe.arg_text());
        ProbeOutcome::Observed(self.seen.get(&key).cloned().unwrap_or(Observation::Missing))
    }

    fn run(&self, policy: &Policy) -> Vec<(String, CheckOutcome)> {
        policy
            .rules
            .iter()
            .map(|r| (r.id.clone(), evaluate_rule(r, &mut |p: &Probe| self.observe(p))))
            .collect()
    }
}

fn status(results: &[(String, CheckOutcome)], id: &str) -> Status {
    outcome(results, id).status
}

fn outcome<'a>(results: &'a [(String, CheckOutcome)], id: &str) -> &'a CheckOutcome {
    &results
        .iter()
        .find(|(r, _)| r == id)
        .unwrap_or_else(|| panic!("no result for {id}"))
        .1
}

fn debian() -> Host {
    Host::default()
        .sshd_config("# comment\nPermitRootLogin yes\nPermitEmptyPasswords no\n")
        .with(ProbeKind::Sysctl, "net.ipv4.ip_forward", Observation::text("0"))
        .with(
            ProbeKind::Package,
            "openssh-server",
            Observation::text("1:9.2p1-2+deb12u3"),
        )
        .with(ProbeKind::Package, "telnetd", Observation::text("0.17+2.4-2"))
}

#[test]
fn parses_as_written() {
    let p = parse_ok(EXAMPLE);
    assert_eq!(p.meta.id, "linux-example");
    assert_eq!(p.meta.name, "Example Linux hardening");
    assert_eq!(p.meta.os, TargetOs::Linux);
    let ids: Vec<&str> = p.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "SSH-ROOT-LOGIN",
            "NET-IP-FORWARD",
            "PKG-TELNETD",
            "SSH-OFF-OR-HARDENED"
        ]
    );
    let r = &p.rules[0];
    assert_eq!(r.title, "SSH root login is disabled");
    assert_eq!(r.severity, Severity::High);
    assert_eq!(
        r.rationale.as_deref(),
        Some("Direct root logins bypass individual accountability.")
    );
    assert_eq!(
        r.fix.as_deref(),
        Some("Set \"PermitRootLogin no\" in /etc/ssh/sshd_config and reload sshd.")
    );
    assert_eq!(r.tags, ["ssh"]);
    assert_eq!(r.timeout, None);
    let Check::Probe(pc) = &r.check else {
        panic!("a probe check")
    };
    assert_eq!(pc.probe.kind, ProbeKind::File);
    assert_eq!(pc.probe.arg, ProbeArg::Text("/etc/ssh/sshd_config".into()));
    assert_eq!(pc.probe.property, None);
    assert_eq!(
        pc.probe.regex_param("line").unwrap().source,
        r"^\s*PermitRootLogin\s+(\S+)"
    );
    assert_eq!(pc.expect.describe(), "equals \"no\"");
    assert_eq!(p.rules[1].severity, Severity::Medium);
    let Check::Any(children) = &p.rules[3].check else {
        panic!("an any: combinator")
    };
    assert_eq!(children.len(), 2);
    let kinds: Vec<ProbeKind> = p.rules[3].check.probes().iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [ProbeKind::Package, ProbeKind::File]);
}

#[test]
fn behaves_as_its_comments_say_on_a_debian_host() {
    let p = parse_ok(EXAMPLE);
    let results = debian().run(&p);
    let root = outcome(&results, "SSH-ROOT-LOGIN");
    assert_eq!(root.status, Status::Fail);
    assert_eq!(root.observed, "yes");
    assert_eq!(root.expected, "equals \"no\"");
    assert_eq!(root.reason, "expected equals \"no\", observed yes");
    assert_eq!(status(&results, "NET-IP-FORWARD"), Status::Pass);
    let telnet = outcome(&results, "PKG-TELNETD");
    assert_eq!(telnet.status, Status::Fail);
    assert_eq!(telnet.observed, "0.17+2.4-2");
    assert_eq!(telnet.reason, "expected does not exist, observed 0.17+2.4-2");
    // sshd is installed, but refuses empty passwords: the second child of `any` passes.
    let ssh = outcome(&results, "SSH-OFF-OR-HARDENED");
    assert_eq!(ssh.status, Status::Pass);
    assert_eq!(ssh.observed, "1:9.2p1-2+deb12u3; no");
    assert_eq!(
        ssh.expected,
        "any of: (does not exist), (one of [\"no\", \"No\"])"
    );
}

#[test]
fn no_matching_line_fails_with_observed_missing() {
    let p = parse_ok(EXAMPLE);
    let host = debian().sshd_config("# PermitRootLogin no\nPort 22\n");
    let results = host.run(&p);
    let root = outcome(&results, "SSH-ROOT-LOGIN");
    assert_eq!(root.status, Status::Fail);
    assert_eq!(root.observed, "missing");
    assert_eq!(root.reason, "expected equals \"no\", observed missing");
    // And with the line present and right, it passes.
    let results = debian().sshd_config("  PermitRootLogin no\n").run(&p);
    assert_eq!(status(&results, "SSH-ROOT-LOGIN"), Status::Pass);
}

#[test]
fn ip_forward_compares_as_a_number() {
    let p = parse_ok(EXAMPLE);
    for (value, want) in [
        ("0", Status::Pass),
        ("00", Status::Pass),
        ("1", Status::Fail),
        ("", Status::Fail),
    ] {
        let host = debian().with(ProbeKind::Sysctl, "net.ipv4.ip_forward", Observation::text(value));
        assert_eq!(
            status(&host.run(&p), "NET-IP-FORWARD"),
            want,
            "ip_forward = {value:?}"
        );
    }
    let host = debian().with(
        ProbeKind::Sysctl,
        "net.ipv4.ip_forward",
        Observation::Scalar(Value::Int(0)),
    );
    assert_eq!(status(&host.run(&p), "NET-IP-FORWARD"), Status::Pass);
    let host = debian().with(ProbeKind::Sysctl, "net.ipv4.ip_forward", Observation::Missing);
    let results = host.run(&p);
    assert_eq!(status(&results, "NET-IP-FORWARD"), Status::Fail);
    assert_eq!(outcome(&results, "NET-IP-FORWARD").observed, "missing");
}

#[test]
fn telnetd_absent_passes() {
    let p = parse_ok(EXAMPLE);
    let mut host = debian();
    host.seen.remove(&(ProbeKind::Package, "telnetd".to_string()));
    let results = host.run(&p);
    assert_eq!(status(&results, "PKG-TELNETD"), Status::Pass);
    assert_eq!(outcome(&results, "PKG-TELNETD").observed, "missing");
}

#[test]
fn any_combinator_semantics() {
    let p = parse_ok(EXAMPLE);
    let run = |host: Host| outcome(&host.run(&p), "SSH-OFF-OR-HARDENED").clone();
    // sshd not installed: the first child passes, whatever the config says.
    let mut host = debian().sshd_config("PermitEmptyPasswords yes\n");
    host.seen
        .remove(&(ProbeKind::Package, "openssh-server".to_string()));
    assert_eq!(run(host).status, Status::Pass);
    // Installed, and the config allows empty passwords: both children fail.
    let out = run(debian().sshd_config("PermitEmptyPasswords yes\n"));
    assert_eq!(out.status, Status::Fail);
    assert_eq!(out.observed, "1:9.2p1-2+deb12u3; yes");
    assert!(
        out.reason
            .contains("expected does not exist, observed 1:9.2p1-2+deb12u3"),
        "{out:?}"
    );
    assert!(
        out.reason
            .contains("expected one of [\"no\", \"No\"], observed yes"),
        "{out:?}"
    );
    // `in` is case-sensitive: only the listed spellings count.
    assert_eq!(
        run(debian().sshd_config("PermitEmptyPasswords No\n")).status,
        Status::Pass
    );
    assert_eq!(
        run(debian().sshd_config("PermitEmptyPasswords NO\n")).status,
        Status::Fail
    );
    // Installed, option not set at all: missing is not in the list, so fail.
    let out = run(debian().sshd_config("Port 22\n"));
    assert_eq!(out.status, Status::Fail);
    assert_eq!(out.observed, "1:9.2p1-2+deb12u3; missing");
    // A probe error in one child does not hide a pass in the other...
    let p2 = p.clone();
    let host = debian();
    let out = evaluate_rule(&p2.rules[3], &mut |probe: &Probe| {
        if probe.kind == ProbeKind::Package {
            ProbeOutcome::Error("dpkg database unreadable".into())
        } else {
            host.observe(probe)
        }
    });
    assert_eq!(out.status, Status::Pass);
    // ...but with no pass, an error wins over a failure.
    let host = debian().sshd_config("PermitEmptyPasswords yes\n");
    let out = evaluate_rule(&p2.rules[3], &mut |probe: &Probe| {
        if probe.kind == ProbeKind::Package {
            ProbeOutcome::Error("dpkg database unreadable".into())
        } else {
            host.observe(probe)
        }
    });
    assert_eq!(out.status, Status::Error);
    assert!(
        out.reason
            .contains("package openssh-server: dpkg database unreadable"),
        "{out:?}"
    );
}

#[test]
fn the_example_round_trips_through_its_canonical_forms() {
    let p = parse_ok(EXAMPLE);
    let json = canonical_json(&p);
    let hash = policy_hash(&p);
    assert_eq!(hash.len(), 64);
    assert!(hash
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let again = parse_ok(&json);
    assert_eq!(canonical_json(&again), json);
    assert_eq!(policy_hash(&again), hash);
    let yaml = to_native_yaml(&p).unwrap();
    let from_yaml = parse_ok(&yaml);
    assert_eq!(policy_hash(&from_yaml), hash, "YAML form:\n{yaml}");
    // Evaluations agree too.
    let a = debian().run(&p);
    let b = debian().run(&from_yaml);
    assert_eq!(a, b);
}
