//! End-to-end tests of the `vt-agent` binary: real policy files, real fixture
//! filesystems under `--root`, real report files and exit codes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vt-agent"))
}

fn run(args: &[&str]) -> Output {
    agent().args(args).output().expect("vt-agent runs")
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// The example shipped in policies/examples (also shown in docs/policy-format.md).
const EXAMPLE: &str = include_str!("../../../policies/examples/linux-example.yml");

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    policy: PathBuf,
}

/// A small Debian-like filesystem where the example policy has two passes and two fails.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(
        &root,
        "etc/ssh/sshd_config",
        "# comment\nPermitRootLogin yes\nPermitEmptyPasswords no\n",
    );
    write(&root, "proc/sys/net/ipv4/ip_forward", "0\n");
    write(
        &root,
        "var/lib/dpkg/status",
        "Package: openssh-server\nStatus: install ok installed\nVersion: 1:9.2p1-2+deb12u3\n\n\
         Package: telnetd\nStatus: install ok installed\nVersion: 0.17+2.4-2\n\n",
    );
    write(&root, "etc/hostname", "image-host\n");
    write(
        &root,
        "etc/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
    );
    let policy = dir.path().join("example.yml");
    fs::write(&policy, EXAMPLE).unwrap();
    Fixture {
        _dir: dir,
        root,
        policy,
    }
}

fn json_report(f: &Fixture, extra: &[&str]) -> (Output, Value) {
    let mut args = vec![
        "audit",
        "--policy",
        f.policy.to_str().unwrap(),
        "--root",
        f.root.to_str().unwrap(),
    ];
    args.extend_from_slice(&["--format", "json"]);
    args.extend_from_slice(extra);
    let out = run(&args);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON report: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out, report)
}

fn status_of<'a>(report: &'a Value, id: &str) -> &'a str {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule_id"] == id)
        .unwrap()["status"]
        .as_str()
        .unwrap()
}

#[test]
fn example_policy_behaves_as_its_comments_say() {
    let f = fixture();
    let (out, report) = json_report(&f, &[]);
    assert_eq!(out.status.code(), Some(1), "a failing rule makes exit code 1");
    assert_eq!(status_of(&report, "SSH-ROOT-LOGIN"), "fail");
    assert_eq!(status_of(&report, "NET-IP-FORWARD"), "pass");
    assert_eq!(status_of(&report, "PKG-TELNETD"), "fail");
    assert_eq!(status_of(&report, "SSH-OFF-OR-HARDENED"), "pass");
    let results = report["results"].as_array().unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r["rule_id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "SSH-ROOT-LOGIN",
            "NET-IP-FORWARD",
            "PKG-TELNETD",
            "SSH-OFF-OR-HARDENED"
        ],
        "policy order"
    );
    assert_eq!(results[0]["observed"], "yes");
    assert_eq!(results[0]["expected"], "equals \"no\"");
    assert_eq!(results[2]["observed"], "0.17+2.4-2");
    assert_eq!(report["host"]["hostname"], "image-host");
    assert_eq!(report["host"]["os_version"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(report["summary"]["pass"], 2);
    assert_eq!(report["summary"]["fail"], 2);
    assert_eq!(report["summary"]["score"], 50.0);
    assert_eq!(report["policy"]["id"], "linux-example");
    assert_eq!(report["policy"]["hash"].as_str().unwrap().len(), 64);
}

#[test]
fn missing_line_fails_with_observed_missing() {
    let f = fixture();
    write(&f.root, "etc/ssh/sshd_config", "Port 22\n");
    let (_, report) = json_report(&f, &["--rule", "SSH-ROOT-LOGIN"]);
    let r = &report["results"][0];
    assert_eq!(r["status"], "fail");
    assert_eq!(r["observed"], "missing");
    assert_eq!(report["results"].as_array().unwrap().len(), 1, "--rule filters");
}

#[test]
fn all_passing_policy_exits_zero_and_filters_by_severity() {
    let f = fixture();
    write(&f.root, "etc/ssh/sshd_config", "PermitRootLogin no\n");
    let (out, report) = json_report(&f, &["--min-severity", "high", "--rule", "SSH-*"]);
    assert_eq!(report["results"].as_array().unwrap().len(), 1);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn live_only_and_foreign_probes_are_reported_not_passed() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.yml");
    fs::write(
        &policy,
        r#"
policy: { id: mixed, name: Mixed, os: any }
rules:
  - id: PROC
    title: a process
    severity: low
    check: { process: sshd, expect: { exists: true } }
  - id: REG
    title: a registry value
    severity: low
    check:
      registry: 'HKLM\SOFTWARE\Policies\Microsoft\Windows\System'
      value: EnableSmartScreen
      expect: { equals: 1 }
"#,
    )
    .unwrap();
    let out = run(&[
        "audit",
        "-p",
        policy.to_str().unwrap(),
        "--root",
        dir.path().to_str().unwrap(),
        "-f",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status_of(&report, "PROC"), "not_applicable");
    let reg = &report["results"][1];
    assert_eq!(reg["status"], "error");
    assert!(
        reg["reason"].as_str().unwrap().contains("windows-only probe"),
        "{reg}"
    );
    assert_eq!(out.status.code(), Some(1), "an error is a finding");
}

#[test]
fn invalid_policy_exits_2_with_position_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.yml");
    fs::write(
        &policy,
        "policy: { id: bad, name: Bad, os: linux }\nrules:\n  - id: R1\n    title: t\n    severity: high\n    check:\n      file: /etc/x\n      line: '(unclosed'\n      expect: { equals: a }\n",
    )
    .unwrap();
    for args in [vec!["policy", "check"], vec!["audit", "--policy"]] {
        let mut a = args.clone();
        a.push(policy.to_str().unwrap());
        let out = run(&a);
        assert_eq!(out.status.code(), Some(2), "{a:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.yml:8:13: rule R1: invalid regex"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn report_files_are_written_in_every_format() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    for (format, marker) in [
        ("html", "<!DOCTYPE html>"),
        ("csv", "policy_id,hostname,rule_id"),
        ("junit", "<testsuites"),
        ("table", "SSH-ROOT-LOGIN"),
        ("json", "\"results\""),
    ] {
        let path = dir.path().join(format!("report.{format}"));
        let out = run(&[
            "audit",
            "-p",
            f.policy.to_str().unwrap(),
            "--root",
            f.root.to_str().unwrap(),
            "-f",
            format,
            "-o",
            path.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty(), "report goes to the file, not stdout");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(marker), "{format}: {text}");
    }
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left behind");
}

#[test]
fn unwritable_output_exits_2_and_leaves_nothing() {
    let f = fixture();
    let out = run(&[
        "audit",
        "-p",
        f.policy.to_str().unwrap(),
        "--root",
        f.root.to_str().unwrap(),
        "-o",
        "/nonexistent-dir/r.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write /nonexistent-dir/r.json"));
}

#[test]
fn bad_arguments_exit_2() {
    assert_eq!(
        run(&["audit", "--policy", "x.yml", "--format", "pdf"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["audit", "--policy", "/nonexistent/policy.yml"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

#[test]
fn legacy_rules_load_and_convert_without_changing_the_policy() {
    let legacy = repo_file("crates/policy/tests/fixtures/legacy-windows.yml");
    let out = run(&["policy", "check", legacy.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("legacy format") && text.contains("24 rules"),
        "{text}"
    );
    let hash = text
        .rsplit("sha256 ")
        .next()
        .unwrap()
        .trim()
        .trim_end_matches(')')
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let converted = dir.path().join("converted.yml");
    let out = run(&[
        "policy",
        "convert",
        legacy.to_str().unwrap(),
        "-o",
        converted.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["policy", "check", converted.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("native format"), "{text}");
    assert!(
        text.contains(&hash),
        "conversion keeps the canonical policy: {text} vs {hash}"
    );
}

#[test]
fn shipped_baselines_are_valid() {
    for (file, min_rules) in [
        ("policies/linux-baseline.yml", 60),
        ("policies/windows-baseline.yml", 40),
    ] {
        let path = repo_file(file);
        let out = run(&["policy", "check", path.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let n: usize = text
            .split(" rules")
            .next()
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(n >= min_rules, "{file} has {n} rules");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn systemd_service_install_and_uninstall_write_the_unit() {
    // systemd is not PID 1 in this test environment: install writes the unit and says how
    // to enable it; the unit's content is checked by unit tests.
    let dir = tempfile::tempdir().unwrap();
    let service = |verb: &str| {
        agent()
            .args(["service", verb])
            .env("VT_AUDIT_SYSTEMD_DIR", dir.path())
            .output()
            .unwrap()
    };
    let unit = dir.path().join("vt-agent.service");
    let out = service("install");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!("ExecStart={} run", env!("CARGO_BIN_EXE_vt-agent"))),
        "{text}"
    );
    assert!(text.contains("ProtectSystem=strict"));
    let out = service("status");
    if !Path::new("/run/systemd/system").is_dir() {
        assert_eq!(out.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&out.stdout).contains("installed"));
    }
    assert_eq!(service("uninstall").status.code(), Some(0));
    assert!(!unit.exists());
    assert_eq!(service("status").status.code(), Some(3));
    assert!(String::from_utf8_lossy(&service("status").stdout).contains("not installed"));
    assert_eq!(
        service("uninstall").status.code(),
        Some(2),
        "uninstalling twice is an error"
    );
}
