//! The HTML report in a real browser (headless Chromium): its inline script runs under the
//! report's own Content-Security-Policy, and hostile rule content stays inert text.
//!
//! Skipped with a message when Chromium is absent, unless `VT_REQUIRE_BROWSER` is set
//! (`.ci/run` installs Chromium and sets it).

use std::process::Command;

use vt_policy::{Host, PolicyRef, Report, RuleResult, Severity, Status, Summary};

fn chromium() -> Option<&'static str> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
}

fn hostile_report() -> Report {
    let result = |id: &str, title: &str, status: Status, observed: &str| RuleResult {
        rule_id: id.into(),
        title: title.into(),
        severity: Severity::High,
        status,
        expected: "equals \"no\"".into(),
        observed: observed.into(),
        reason: "reason".into(),
        fix: "fix".into(),
        duration_ms: 1,
    };
    let results = vec![
        result(
            "XSS-1",
            "<script>document.title='pwned'</script>",
            Status::Fail,
            "yes",
        ),
        result(
            "XSS-2",
            "ordinary",
            Status::Pass,
            "\"><img src=x onerror=\"document.title='pwned'\">",
        ),
    ];
    Report {
        host: Host {
            hostname: "h".into(),
            os: "linux".into(),
            os_version: "x".into(),
            arch: "x86_64".into(),
        },
        policy: PolicyRef {
            id: "p".into(),
            name: "P".into(),
            hash: "0".repeat(64),
        },
        started_at: "2026-11-25T00:00:00Z".into(),
        duration_ms: 5,
        summary: Summary::from_results(&results),
        results,
    }
}

#[test]
fn html_report_runs_its_script_and_keeps_hostile_content_inert_in_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("VT_REQUIRE_BROWSER").is_none(),
            "VT_REQUIRE_BROWSER is set but Chromium is missing"
        );
        eprintln!("skipped: Chromium is not installed (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let mut html = Vec::new();
    vt_report::render(&[hostile_report()], vt_report::Format::Html, &mut html).unwrap();
    std::fs::write(&page, &html).unwrap();

    let out = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=2000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The controls are hidden in the file and revealed by the script: revealed means the
    // script ran, i.e. the page's CSP hash matches its own script.
    assert!(dom.contains(r#"id="controls""#), "{dom}");
    assert!(
        !dom.contains(r#"id="controls" class="controls" hidden"#),
        "the report's script did not run"
    );
    // Hostile content is text, not markup: no injected element, no changed title.
    assert!(
        dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "{dom}"
    );
    assert!(
        !dom.contains("<img src=\"x\""),
        "an injected element exists: {dom}"
    );
    assert!(!dom.contains("<title>pwned</title>"));
}
