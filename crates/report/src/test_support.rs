//! Report fixtures shared by the format tests.

use vt_policy::{Host, PolicyRef, Report, RuleResult, Severity, Status, Summary};

pub fn result(id: &str, title: &str, severity: Severity, status: Status) -> RuleResult {
    RuleResult {
        rule_id: id.to_string(),
        title: title.to_string(),
        severity,
        status,
        expected: String::new(),
        observed: String::new(),
        reason: String::new(),
        fix: String::new(),
        duration_ms: 0,
    }
}

pub fn report(policy_id: &str, hostname: &str, results: Vec<RuleResult>) -> Report {
    Report {
        host: Host {
            hostname: hostname.to_string(),
            os: "linux".to_string(),
            os_version: "Debian 12".to_string(),
            arch: "x86_64".to_string(),
        },
        policy: PolicyRef {
            id: policy_id.to_string(),
            name: format!("{policy_id} baseline"),
            hash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_string(),
        },
        started_at: "2024-05-01T12:00:00Z".to_string(),
        duration_ms: 1234,
        summary: Summary::from_results(&results),
        results,
    }
}

/// One result of every status, ordinary content.
pub fn sample_report() -> Report {
    let mut pass = result("SSH-001", "SSH root login disabled", Severity::High, Status::Pass);
    pass.expected = "equals \"no\"".to_string();
    pass.observed = "no".to_string();
    pass.duration_ms = 3;

    let mut fail = result(
        "PW-002",
        "Password max age at most 90 days",
        Severity::Medium,
        Status::Fail,
    );
    fail.expected = "<= 90".to_string();
    fail.observed = "99999".to_string();
    fail.reason = "PASS_MAX_DAYS is 99999".to_string();
    fail.fix = "Set PASS_MAX_DAYS 90 in /etc/login.defs".to_string();
    fail.duration_ms = 12;

    let mut error = result("AUD-003", "auditd is running", Severity::Critical, Status::Error);
    error.reason = "permission denied".to_string();
    error.duration_ms = 1500;

    let mut na = result(
        "WIN-004",
        "Windows-only check",
        Severity::Low,
        Status::NotApplicable,
    );
    na.reason = "applies only to windows".to_string();

    let info = result("INF-005", "Kernel version recorded", Severity::Info, Status::Pass);

    report("cis-debian", "web-01", vec![pass, fail, error, na, info])
}

/// Content crafted to break naive escaping in every format.
pub fn hostile_report() -> Report {
    let mut xss = result(
        "X-1",
        "<script>alert(1)</script>",
        Severity::Critical,
        Status::Fail,
    );
    xss.expected = "a & b".to_string();
    xss.observed = "\"><img src=x onerror=alert(1)>".to_string();
    xss.reason = "it's <b>bad</b>".to_string();
    xss.fix = "=HYPERLINK(\"http://evil.example\",\"click\")".to_string();

    let mut ctl = result(
        "X-2",
        "control\u{1}char \u{1b}[31mred",
        Severity::Low,
        Status::Error,
    );
    ctl.observed = "cdata ]]> end\u{0}\u{7}\u{ffff}".to_string();
    ctl.reason = "line one\nline two, \"quoted\"".to_string();
    ctl.duration_ms = 42;

    let mut formula = result("-X-3", "+1 plus", Severity::Info, Status::NotApplicable);
    formula.observed = "@SUM(A1:A2)".to_string();
    formula.reason = "\tleading tab".to_string();
    formula.expected = "-1".to_string();

    let mut r = report("evil<&>\"'", "host'\"<x>", vec![xss, ctl, formula]);
    r.policy.name = "Evil & <policy>".to_string();
    r
}
