//! The Windows agent (`vt-agent.exe`, cross-built) under Wine enrolls into a Linux
//! vt-server over loopback mTLS, audits with the Windows baseline and reports.
//!
//! Runs when `VT_WINE_AGENT` names the .exe (scripts/windows.sh test sets it, with a fresh
//! WINEPREFIX); otherwise it says it was skipped. Wine stands in for a Windows kernel,
//! which cannot exist here.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use vt_e2e::{text, Server};

fn wine_path(p: &Path) -> String {
    format!("Z:{}", p.display().to_string().replace('/', "\\"))
}

fn wine(exe: &str, args: &[&str]) -> Output {
    let mut child = Command::new("timeout");
    child
        .arg("180")
        .arg("wine")
        .arg(exe)
        .args(args)
        .stdin(Stdio::null());
    child.output().expect("wine runs")
}

#[test]
fn windows_agent_under_wine_enrolls_audits_and_reports() {
    let Ok(exe) = std::env::var("VT_WINE_AGENT") else {
        eprintln!("skipped: VT_WINE_AGENT not set (scripts/windows.sh test runs this)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"), None, &[]);
    let key = server.api_key();
    let token = server.token(1);
    let data = dir.path().join("agent-data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "").unwrap();
    let (data_w, config_w) = (wine_path(&data), wine_path(&config));
    let common = ["--data-dir", data_w.as_str(), "--config", config_w.as_str()];

    let url = server.agent_url();
    let mut args = vec!["enroll", "--server", url.as_str(), "--token", token.as_str()];
    args.extend_from_slice(&common);
    let out = wine(&exe, &args);
    assert!(
        out.status.success(),
        "enroll under Wine: {}\n{}",
        text(&out),
        server.log()
    );

    let mut args = vec!["run", "--once"];
    args.extend_from_slice(&common);
    let out = wine(&exe, &args);
    assert!(
        out.status.success(),
        "run --once under Wine: {}\n{}",
        text(&out),
        server.log()
    );

    let identity: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("identity.json")).unwrap()).unwrap();
    let id = identity["agent_id"].as_str().unwrap();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("state.json")).unwrap()).unwrap();
    let summary = &state["last_run"]["summary"];
    assert_eq!(state["last_run"]["delivered"], true);
    assert_eq!(state["last_run"]["policy_id"], "windows-baseline");

    let hosts = server.api_get(&key, "/hosts?os=windows");
    let host = hosts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == id)
        .expect("the Windows host is listed");
    assert_eq!(host["os"], "windows");
    for field in ["pass", "fail", "error", "not_applicable"] {
        assert_eq!(host[field], summary[field], "{field}");
    }
    let results = server.api_get(&key, &format!("/hosts/{id}/results"));
    assert_eq!(
        results["results"].as_array().unwrap().len() as u64,
        summary["total"].as_u64().unwrap()
    );
    assert!(summary["total"].as_u64().unwrap() >= 40);
    std::thread::sleep(Duration::from_millis(10));
}
