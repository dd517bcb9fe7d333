//! The Windows agent under Wine: the real `vt-agent.exe` audits registry values, services,
//! installed software, files and cmd checks written by the test, the whole Windows
//! baseline, and goes through the Service Control Manager.
//!
//! Runs only when VT_WINE_AGENT names the .exe (`scripts/windows.sh test` sets it, with a
//! fresh WINEPREFIX); otherwise every test prints that it was skipped and passes, so a plain
//! `cargo test` stays green on machines without Wine. Run with --test-threads=1: the tests
//! share one Wine prefix.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use serde_json::Value;

const TEST_KEY: &str = r"HKLM\SOFTWARE\VTAuditTest";

fn agent() -> Option<PathBuf> {
    match std::env::var_os("VT_WINE_AGENT") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            eprintln!("skipped: VT_WINE_AGENT is not set (scripts/windows.sh test runs these under Wine)");
            None
        }
    }
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `wine ARGS...` and kills it after `limit`: a hung Wine call must fail the test,
/// not hang the suite.
fn wine(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new("wine")
        .args(args)
        .env("WINEDEBUG", "-all")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start wine");
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out_pipe.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err_pipe.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wine {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned(),
    }
}

fn reg_add(key: &str, name: &str, kind: &str, data: &str) {
    let out = wine(
        &["reg", "add", key, "/v", name, "/t", kind, "/d", data, "/f"],
        Duration::from_secs(60),
    );
    assert_eq!(
        out.code,
        Some(0),
        "reg add {key} {name}: {}{}",
        out.stdout,
        out.stderr
    );
}

/// A Linux path as the Windows program sees it (Wine maps Z: to /).
fn win_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// Writes the registry fixtures once per test run.
fn registry_fixtures() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        reg_add(TEST_KEY, "Sz", "REG_SZ", "hello world");
        reg_add(TEST_KEY, "Expand", "REG_EXPAND_SZ", r"%SystemRoot%\vt");
        reg_add(TEST_KEY, "Multi", "REG_MULTI_SZ", r"alpha\0beta\0gamma");
        reg_add(TEST_KEY, "Dword", "REG_DWORD", "300");
        reg_add(TEST_KEY, "Qword", "REG_QWORD", "5000000000");
        reg_add(TEST_KEY, "Binary", "REG_BINARY", "01abff");
        reg_add(&format!(r"{TEST_KEY}\Child1"), "x", "REG_SZ", "1");
        reg_add(&format!(r"{TEST_KEY}\Child2"), "x", "REG_SZ", "2");
        // The 32-bit view of HKLM\SOFTWARE is WOW6432Node for a 64-bit program.
        reg_add(
            r"HKLM\SOFTWARE\WOW6432Node\VTAuditTest",
            "Bits",
            "REG_DWORD",
            "32",
        );
        let uninstall = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
        reg_add(
            &format!(r"{uninstall}\VTTestVpn"),
            "DisplayName",
            "REG_SZ",
            "Contoso VPN Client",
        );
        reg_add(
            &format!(r"{uninstall}\VTTestVpn"),
            "DisplayVersion",
            "REG_SZ",
            "5.2.1",
        );
        reg_add(
            &format!(r"{uninstall}\VTTestVpn"),
            "Publisher",
            "REG_SZ",
            "Contoso Ltd",
        );
        reg_add(
            r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\VTTestDlp",
            "DisplayName",
            "REG_SZ",
            "Trellix DLP Endpoint",
        );
        reg_add(
            r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\VTTestDlp",
            "DisplayVersion",
            "REG_SZ",
            "11.10.0",
        );
        reg_add(
            r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\VTTestUser",
            "DisplayName",
            "REG_SZ",
            "Per-User Tool",
        );
    });
}

struct Audit {
    results: Vec<Value>,
    code: Option<i32>,
    elapsed: Duration,
}

impl Audit {
    fn rule(&self, id: &str) -> &Value {
        self.results
            .iter()
            .find(|r| r["rule_id"] == id)
            .unwrap_or_else(|| panic!("no result for {id}: {:#?}", self.results))
    }

    /// Asserts a rule's status and, when given, its observed evidence.
    fn expect(&self, id: &str, status: &str, observed: Option<&str>) {
        let r = self.rule(id);
        assert_eq!(r["status"], status, "{id}: {r:#}");
        if let Some(o) = observed {
            assert_eq!(r["observed"], o, "{id}: {r:#}");
        }
    }

    fn expect_error_containing(&self, id: &str, needle: &str) {
        let r = self.rule(id);
        assert_eq!(r["status"], "error", "{id}: {r:#}");
        let reason = r["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(needle),
            "{id}: reason {reason:?} lacks {needle:?}"
        );
    }
}

/// Runs `vt-agent.exe audit --format json` on a policy file.
fn audit_file(exe: &Path, policy: &Path, limit: Duration) -> Audit {
    audit_file_with(exe, policy, limit, &[])
}

fn audit_file_with(exe: &Path, policy: &Path, limit: Duration, extra: &[&str]) -> Audit {
    let started = Instant::now();
    let out = wine(
        &[
            &exe.to_string_lossy(),
            "audit",
            "--policy",
            &win_path(policy),
            "--format",
            "json",
        ]
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect::<Vec<&str>>(),
        limit,
    );
    let elapsed = started.elapsed();
    let report: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
            out.code, out.stdout, out.stderr
        )
    });
    let results = report["results"].as_array().cloned().unwrap_or_default();
    Audit {
        results,
        code: out.code,
        elapsed,
    }
}

/// Audits a policy made of `rules` (YAML list items, already indented by two spaces).
fn audit_rules(exe: &Path, rules: &str) -> Audit {
    audit_rules_with(exe, rules, &[])
}

fn audit_rules_with(exe: &Path, rules: &str, extra: &[&str]) -> Audit {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yml");
    std::fs::write(
        &policy,
        format!("policy:\n  id: wine-test\n  name: Wine test\n  os: windows\nrules:\n{rules}"),
    )
    .unwrap();
    audit_file_with(exe, &policy, Duration::from_secs(120), extra)
}

fn rule(id: &str, check: &str) -> String {
    let body: String = check.lines().map(|l| format!("      {l}\n")).collect();
    format!("  - id: {id}\n    title: {id}\n    severity: low\n    check:\n{body}")
}

#[test]
fn agent_starts_under_wine() {
    let Some(exe) = agent() else { return };
    let out = wine(&[&exe.to_string_lossy(), "--version"], Duration::from_secs(120));
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("vt-agent"), "{}", out.stdout);
}

#[test]
fn registry_values_are_typed() {
    let Some(exe) = agent() else { return };
    registry_fixtures();
    let k = TEST_KEY.replace('\\', "\\\\");
    let rules = [
        rule("SZ", &format!("registry: \"{k}\"\nvalue: Sz\nexpect: {{ equals: hello world }}")),
        rule("SZ-TYPE", &format!("registry: \"{k}\"\nvalue: Sz\nproperty: type\nexpect: {{ equals: REG_SZ }}")),
        // %SystemRoot% is expanded the Windows way (the original agent expanded $VAR).
        rule("EXPAND", &format!("registry: \"{k}\"\nvalue: Expand\nexpect: {{ matches: '(?i)^C:\\\\windows\\\\vt$' }}")),
        rule("MULTI", &format!("registry: \"{k}\"\nvalue: Multi\nexpect: {{ contains: beta, count: {{ equals: 3 }} }}")),
        rule("DWORD", &format!("registry: \"{k}\"\nvalue: Dword\nexpect: {{ gte: 300, lt: 301 }}")),
        rule("DWORD-FAIL", &format!("registry: \"{k}\"\nvalue: Dword\nexpect: {{ lte: 299 }}")),
        rule("QWORD", &format!("registry: \"{k}\"\nvalue: Qword\nexpect: {{ equals: 5000000000 }}")),
        rule("BINARY", &format!("registry: \"{k}\"\nvalue: Binary\nexpect: {{ equals: 01ABFF }}")),
        rule("KEY-EXISTS", &format!("registry: \"{k}\"\nexpect: {{ exists: true }}")),
        rule("SUBKEYS", &format!("registry: \"{k}\"\nproperty: subkeys\nexpect: {{ count: {{ equals: 2 }}, contains: Child2 }}")),
        rule("MISSING-VALUE", &format!("registry: \"{k}\"\nvalue: Nope\nexpect: {{ exists: false }}")),
        rule("MISSING-VALUE-FAILS", &format!("registry: \"{k}\"\nvalue: Nope\nexpect: {{ equals: 1 }}")),
        rule("MISSING-KEY", "registry: 'HKLM\\SOFTWARE\\VTAuditNoSuchKey'\nvalue: X\nexpect: { exists: false }"),
        rule("VIEW-32", &format!("registry: \"{k}\"\nvalue: Bits\nview: 32\nexpect: {{ equals: 32 }}")),
        rule("VIEW-64-HAS-NO-32BIT-VALUE", &format!("registry: \"{k}\"\nvalue: Bits\nexpect: {{ exists: false }}")),
        rule(
            "PRODUCT-NAME",
            "registry: 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion'\nvalue: ProductName\nexpect: { matches: 'Windows' }",
        ),
    ]
    .concat();
    let a = audit_rules(&exe, &rules);
    a.expect("SZ", "pass", Some("hello world"));
    a.expect("SZ-TYPE", "pass", Some("REG_SZ"));
    a.expect("EXPAND", "pass", None);
    a.expect("MULTI", "pass", Some(r#"["alpha", "beta", "gamma"]"#));
    a.expect("DWORD", "pass", Some("300"));
    a.expect("DWORD-FAIL", "fail", Some("300"));
    a.expect("QWORD", "pass", Some("5000000000"));
    a.expect("BINARY", "pass", Some("01ABFF"));
    a.expect("KEY-EXISTS", "pass", None);
    a.expect("SUBKEYS", "pass", None);
    a.expect("MISSING-VALUE", "pass", Some("missing"));
    a.expect("MISSING-VALUE-FAILS", "fail", Some("missing"));
    a.expect("MISSING-KEY", "pass", Some("missing"));
    a.expect("VIEW-32", "pass", Some("32"));
    a.expect("VIEW-64-HAS-NO-32BIT-VALUE", "pass", Some("missing"));
    a.expect("PRODUCT-NAME", "pass", None);
}

#[test]
fn services_from_wine_scm() {
    let Some(exe) = agent() else { return };
    // Wine's services start on demand and stop again when idle, so a service's running
    // state changes from one moment to the next under Wine; states are checked for being
    // valid words, and the start type (stable configuration) against the registry's
    // `Start` value read with Wine's own `reg query`.
    let reg = wine(
        &[
            "reg",
            "query",
            r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog",
            "/v",
            "Start",
        ],
        Duration::from_secs(60),
    )
    .stdout;
    let start_code = reg
        .lines()
        .find(|l| l.contains("REG_DWORD"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_default();
    let eventlog_start = match start_code {
        "0x0" => "boot",
        "0x1" => "system",
        "0x2" => "automatic",
        "0x3" => "manual",
        "0x4" => "disabled",
        other => panic!("unexpected EventLog Start value {other:?} in {reg}"),
    };
    let states = "[running, stopped, start_pending, stop_pending, paused, continue_pending, pause_pending]";
    let rules = [
        rule("EVENTLOG-STATE", &format!("service: EventLog\nexpect: {{ in: {states} }}")),
        rule("EVENTLOG-CASE", &format!("service: eventlog\nexpect: {{ in: {states} }}")),
        rule(
            "EVENTLOG-START",
            "service: EventLog\nproperty: start_type\nexpect: { in: [automatic, delayed_automatic, manual, disabled, boot, system] }",
        ),
        rule("RPCSS-STATE", &format!("service: RpcSs\nexpect: {{ in: {states} }}")),
        rule("PLUGPLAY-STATE", &format!("service: PlugPlay\nexpect: {{ in: {states} }}")),
        rule("WILDCARD", &format!("service: 'Event*'\nexpect: {{ count: {{ gte: 1 }}, every: {{ in: {states} }} }}")),
        rule("WILDCARD-MANY", "service: '*'\nexpect: { count: { gte: 5 } }"),
        rule("MISSING", "service: VTNoSuchService\nexpect: { exists: false }"),
        rule("MISSING-WILDCARD", "service: 'VTNoSuch*'\nexpect: { exists: false }"),
        rule("SSH-OFF", "service: sshd\nexpect: { not_equals: running }"),
    ]
    .concat();
    // One rule at a time: Wine's services.exe mishandles concurrent clients (handles
    // reported invalid, "RPC call failed"), which Windows' SCM does not.
    let a = audit_rules_with(&exe, &rules, &["--concurrency", "1"]);
    a.expect("EVENTLOG-STATE", "pass", None);
    a.expect("EVENTLOG-CASE", "pass", None);
    a.expect("EVENTLOG-START", "pass", Some(eventlog_start));
    a.expect("RPCSS-STATE", "pass", None);
    a.expect("PLUGPLAY-STATE", "pass", None);
    a.expect("WILDCARD", "pass", None);
    a.expect("WILDCARD-MANY", "pass", None);
    a.expect("MISSING", "pass", Some("missing"));
    a.expect("MISSING-WILDCARD", "pass", Some("missing"));
    a.expect("SSH-OFF", "pass", Some("missing"));
}

#[test]
fn installed_software_from_uninstall_keys() {
    let Some(exe) = agent() else { return };
    registry_fixtures();
    let rules = [
        rule("VPN", "installed_software: '*VPN*'\nexpect: { any: { version_gte: '5.0' } }"),
        rule("VPN-PUBLISHER", "installed_software: '*vpn*'\npublisher: 'contoso*'\nproperty: publisher\nexpect: { contains: Contoso Ltd }"),
        rule("VPN-WRONG-PUBLISHER", "installed_software: '*VPN*'\npublisher: 'Other*'\nexpect: { exists: false }"),
        rule("DLP-32BIT", "installed_software: 'Trellix*DLP*'\nexpect: { contains: '11.10.0' }"),
        rule("PER-USER", "installed_software: 'Per-User Tool'\nproperty: name\nexpect: { contains: Per-User Tool }"),
        rule("ABSENT", "installed_software: 'Kaspersky*'\nexpect: { exists: true }"),
    ]
    .concat();
    let a = audit_rules(&exe, &rules);
    a.expect("VPN", "pass", Some(r#"["5.2.1"]"#));
    a.expect("VPN-PUBLISHER", "pass", None);
    a.expect("VPN-WRONG-PUBLISHER", "pass", Some("missing"));
    a.expect("DLP-32BIT", "pass", None);
    a.expect("PER-USER", "pass", None);
    a.expect("ABSENT", "fail", Some("missing"));
}

#[test]
fn file_cmd_and_host_probes() {
    let Some(exe) = agent() else { return };
    let rules = [
        rule("FILE-EXISTS", "file: 'C:\\windows\\system32\\kernel32.dll'\nproperty: exists\nexpect: { equals: true }"),
        rule("FILE-VERSION", "file: 'C:\\windows\\system32\\kernel32.dll'\nproperty: version\nexpect: { matches: '^\\d+\\.\\d+\\.\\d+\\.\\d+$' }"),
        rule("FILE-MISSING", "file: 'C:\\windows\\no-such-file.txt'\nexpect: { exists: false }"),
        rule("CMD-STDOUT", "cmd: 'echo hello from cmd'\nexpect: { equals: hello from cmd }"),
        rule("CMD-EXIT", "cmd: 'exit /b 3'\nproperty: exit_code\nexpect: { equals: 3 }"),
        rule("PROCESS", "process: 'services*'\nexpect: { count: { gte: 1 } }"),
        rule("OS-BUILD", "os: build\nexpect: { matches: '^\\d+' }"),
        rule("OS-JOINED", "os: domain_joined\nexpect: { equals: false }"),
        rule("FIREWALL-DEFAULT", "firewall: public\nproperty: default_inbound\nexpect: { in: [block, allow] }"),
        rule("ADMINS", "local_group: S-1-5-32-544\nexpect: { exists: true }"),
    ]
    .concat();
    let a = audit_rules(&exe, &rules);
    a.expect("FILE-EXISTS", "pass", None);
    a.expect("FILE-VERSION", "pass", None);
    a.expect("FILE-MISSING", "pass", Some("missing"));
    a.expect("CMD-STDOUT", "pass", Some("hello from cmd"));
    a.expect("CMD-EXIT", "pass", Some("3"));
    a.expect("PROCESS", "pass", None);
    a.expect("OS-BUILD", "pass", None);
    a.expect("OS-JOINED", "pass", Some("false"));
    a.expect("FIREWALL-DEFAULT", "pass", None);
    let admins = a.rule("ADMINS");
    assert!(
        admins["status"] == "pass" || (admins["status"] == "error" && admins["reason"] != ""),
        "{admins:#}"
    );
}

#[test]
fn apis_wine_lacks_are_errors_never_passes() {
    let Some(exe) = agent() else { return };
    let rules = [
        rule(
            "AUDIT",
            "audit_policy: Credential Validation\nexpect: { equals: Success and Failure }",
        ),
        rule(
            "AUDIT-UNKNOWN",
            "audit_policy: Not A Subcategory\nexpect: { equals: Success }",
        ),
        rule("BITLOCKER", "bitlocker: 'C:'\nexpect: { equals: 'on' }"),
        rule(
            "COMPLEXITY",
            "security_policy: password_complexity\nexpect: { equals: 1 }",
        ),
        rule(
            "MINLEN",
            "security_policy: minimum_password_length\nexpect: { gte: 14 }",
        ),
        rule("PS", "powershell: 'Write-Output 1'\nexpect: { equals: '1' }"),
    ]
    .concat();
    let a = audit_rules(&exe, &rules);
    for r in &a.results {
        assert_ne!(r["status"], "pass", "{r:#}");
        if r["status"] == "error" {
            assert_ne!(r["reason"], "", "{r:#}");
        }
        eprintln!("{}: {} ({})", r["rule_id"], r["status"], r["reason"]);
    }
    a.expect_error_containing("AUDIT-UNKNOWN", "unknown audit subcategory");
    a.expect_error_containing("BITLOCKER", "manage-bde");
}

#[test]
fn windows_baseline_end_to_end() {
    let Some(exe) = agent() else { return };
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/windows-baseline.yml");
    if !baseline.exists() {
        eprintln!("skipped: {} does not exist yet", baseline.display());
        return;
    }
    let text = std::fs::read_to_string(&baseline).unwrap();
    let rule_count = text.lines().filter(|l| l.starts_with("  - id:")).count();
    let a = audit_file(&exe, &baseline, Duration::from_secs(300));
    assert_eq!(a.results.len(), rule_count, "one result per rule");
    let mut ids: Vec<&str> = a.results.iter().map(|r| r["rule_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), rule_count, "rule ids are unique");
    let mut counts = std::collections::BTreeMap::new();
    for r in &a.results {
        let status = r["status"].as_str().unwrap();
        assert!(
            ["pass", "fail", "error", "not_applicable"].contains(&status),
            "{r:#}"
        );
        // Only a rule whose `applies_when` does not hold may be not applicable in a live
        // audit (e.g. domain password rules on a machine outside a domain).
        if status == "not_applicable" {
            let reason = r["reason"].as_str().unwrap_or_default();
            assert!(reason.starts_with("precondition not met"), "{r:#}");
        }
        if status == "error" {
            assert!(!r["reason"].as_str().unwrap_or_default().is_empty(), "{r:#}");
        }
        *counts.entry(status.to_string()).or_insert(0) += 1;
    }
    eprintln!(
        "baseline: {rule_count} rules, {counts:?}, exit {:?}, {:?}",
        a.code, a.elapsed
    );
    // Findings exit with 1; anything else means the agent itself failed.
    assert_eq!(a.code, Some(1));
}

/// Named to run last: a service start that Wine's SCM leaves hanging would disturb the
/// SCM queries of other tests.
#[test]
fn zz_service_lifecycle_under_wine_scm() {
    let Some(exe) = agent() else { return };
    let run = |args: &[&str]| {
        let mut all = vec![exe.to_str().unwrap()];
        all.extend_from_slice(args);
        wine(&all, Duration::from_secs(90))
    };
    // Start clean even if an earlier run was interrupted.
    let _ = run(&["service", "uninstall"]);
    let status = run(&["service", "status"]);
    assert_eq!(status.code, Some(4), "{}{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("not installed"));

    // `run --service` is the production entry point; `service idle` exercises the same
    // dispatcher with a body that only waits for Stop.
    let install = run(&["service", "install", "--service-args", "service idle"]);
    assert_eq!(install.code, Some(0), "{}{}", install.stdout, install.stderr);
    assert!(install.stdout.contains("service idle"), "{}", install.stdout);
    let again = run(&["service", "install"]);
    assert_eq!(again.code, Some(2), "{}{}", again.stdout, again.stderr);
    assert!(again.stderr.contains("already installed"), "{}", again.stderr);

    // Starting under Wine's SCM works in a settled prefix (start ~0.4 s, stop ~0.06 s) but
    // not reliably in one created seconds earlier: StartService then reports "Service
    // database locked" (1055) or the process is started but the SCM times out waiting for
    // its dispatcher (1053). So the start/stop part is asserted when Wine gets it going, and
    // reported otherwise.
    let start = run(&["service", "start"]);
    if start.code == Some(0) {
        let status = run(&["service", "status"]);
        assert_eq!(status.code, Some(0), "{}{}", status.stdout, status.stderr);
        let t = Instant::now();
        let stop = run(&["service", "stop"]);
        assert_eq!(stop.code, Some(0), "stop: {}{}", stop.stdout, stop.stderr);
        assert!(stop.stdout.contains("stopped"), "{}", stop.stdout);
        eprintln!("service start/stop under Wine: ok (stop took {:?})", t.elapsed());
    } else {
        eprintln!(
            "service start under Wine did not complete (not asserted): {}{}",
            start.stdout, start.stderr
        );
    }

    // Uninstall stops the service if it runs, then deletes it.
    let uninstall = run(&["service", "uninstall"]);
    assert_eq!(
        uninstall.code,
        Some(0),
        "{}{}",
        uninstall.stdout,
        uninstall.stderr
    );
}
