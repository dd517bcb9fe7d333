//! The fleet loop end to end: enroll → fetch policy → audit → report → API, with real
//! vt-server and vt-agent processes, real TLS and real databases.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use vt_e2e::{text, Agent, Server};

fn host<'a>(hosts: &'a Value, id: &str) -> &'a Value {
    hosts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == id)
        .unwrap_or_else(|| panic!("host {id} in {hosts}"))
}

/// Enrolls `agent` and runs one audit that must be delivered.
fn enroll_and_run(server: &Server, agent: &Agent) -> String {
    let out = agent.enroll(&server.agent_url(), &server.token(1));
    assert!(out.status.success(), "enroll: {}", text(&out));
    let out = agent.run(&["run", "--once"]);
    assert!(
        out.status.success(),
        "run --once: {}\nserver log:\n{}",
        text(&out),
        server.log()
    );
    agent.identity()["agent_id"].as_str().unwrap().to_string()
}

fn check_counts_match(server: &Server, key: &str, agent: &Agent, agent_id: &str) {
    let state = agent.state();
    let summary = &state["last_run"]["summary"];
    assert_eq!(state["last_run"]["delivered"], true);
    let hosts = server.api_get(key, "/hosts");
    let h = host(&hosts, agent_id);
    for field in ["pass", "fail", "error", "not_applicable"] {
        assert_eq!(h[field], summary[field], "{field}: host {h} vs agent {summary}");
    }
    let results = server.api_get(key, &format!("/hosts/{agent_id}/results"));
    let items = results["results"].as_array().expect("results list");
    assert_eq!(items.len() as u64, summary["total"].as_u64().unwrap());
}

#[test]
fn enroll_audit_report_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"), None, &[]);
    let key = server.api_key();
    let agent = Agent::new(&dir.path().join("agent"), "e2e-sqlite-0001");
    let id = enroll_and_run(&server, &agent);
    check_counts_match(&server, &key, &agent, &id);

    // Enrolling again with a valid certificate is a no-op.
    let out = agent.enroll(&server.agent_url(), &server.token(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("already enrolled"),
        "{}",
        text(&out)
    );
    let status = agent.run(&["status"]);
    let s = String::from_utf8_lossy(&status.stdout);
    assert!(s.contains(&id) && s.contains("server:         reachable"), "{s}");
}

#[test]
fn wrong_fingerprint_and_used_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"), None, &[]);
    let token = server.token(1);
    let forged = format!("{}.{}", token.rsplit_once('.').unwrap().0, "0".repeat(64));
    let agent = Agent::new(&dir.path().join("a"), "e2e-fp-0001");
    let out = agent.enroll(&server.agent_url(), &forged);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fingerprint"),
        "{}",
        text(&out)
    );
    assert!(agent.enroll(&server.agent_url(), &token).status.success());
    let other = Agent::new(&dir.path().join("b"), "e2e-fp-0002");
    let out = other.enroll(&server.agent_url(), &token);
    assert!(
        !out.status.success(),
        "a one-use token works once: {}",
        text(&out)
    );
}

#[test]
fn offline_runs_are_spooled_and_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("server"), None, &[]);
    let key = server.api_key();
    let agent = Agent::new(&dir.path().join("agent"), "e2e-spool-0001");
    let id = enroll_and_run(&server, &agent);

    server.stop();
    let started = Instant::now();
    let out = agent.run(&["run", "--once"]);
    assert!(
        !out.status.success(),
        "undelivered run exits non-zero: {}",
        text(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "gave up in {:?}",
        started.elapsed()
    );
    assert_eq!(agent.spooled(), 1, "the run waits in the spool");
    assert_eq!(agent.state()["last_run"]["delivered"], false);

    server.restart();
    let out = agent.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(agent.spooled(), 0);
    let runs = server.api_get(&key, &format!("/hosts/{id}/runs"));
    assert_eq!(
        runs["total"], 3,
        "first run, the spooled one and the last, each once: {runs}"
    );
}

#[test]
fn a_revoked_agent_is_refused_and_stops_submitting() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"), None, &[]);
    let key = server.api_key();
    let agent = Agent::new(&dir.path().join("agent"), "e2e-revoke-0001");
    let id = enroll_and_run(&server, &agent);
    let (status, body) = server.api_post(&key, &format!("/agents/{id}/revoke"), "application/json", b"{}");
    assert_eq!(status, 200, "{body}");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = agent.run(&["run", "--once"]);
        if !out.status.success() && agent.state()["revoked"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "revocation not enforced within 10 s: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let runs_before = server.api_get(&key, &format!("/hosts/{id}/runs"))["total"].clone();
    let out = agent.run(&["run", "--once"]);
    assert!(!out.status.success());
    assert_eq!(
        server.api_get(&key, &format!("/hosts/{id}/runs"))["total"],
        runs_before,
        "nothing more stored"
    );
    let status = String::from_utf8_lossy(&agent.run(&["status"]).stdout).into_owned();
    assert!(status.contains("revoked"), "{status}");
}

#[test]
fn certificates_renew_and_expiry_without_token_needs_reenrollment() {
    let dir = tempfile::tempdir().unwrap();
    // Certificates are backdated a minute, so with a 60 s lifetime renewal (at two thirds
    // of not_before..not_after) is due about 20 s after issue.
    let server = Server::start(&dir.path().join("server"), None, &["--cert-lifetime", "60s"]);
    let agent = Agent::new(&dir.path().join("agent"), "e2e-renew-0001");
    enroll_and_run(&server, &agent);
    let first = std::fs::read(agent.data_dir.join("certs/agent.crt")).unwrap();
    std::thread::sleep(Duration::from_secs(22));
    let out = agent.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate renewed"),
        "{}",
        text(&out)
    );
    let second = std::fs::read(agent.data_dir.join("certs/agent.crt")).unwrap();
    assert_ne!(first, second, "a new certificate was stored");

    // Let it expire; no token is configured, so the agent keeps auditing locally and says
    // it needs re-enrollment.
    std::thread::sleep(Duration::from_secs(62));
    let out = agent.run(&["run", "--once"]);
    assert!(!out.status.success());
    assert_eq!(agent.state()["needs_reenrollment"], true, "{}", text(&out));
    assert_eq!(agent.spooled(), 1, "the local audit is kept");
    let status = String::from_utf8_lossy(&agent.run(&["status"]).stdout).into_owned();
    assert!(status.contains("needs re-enrollment"), "{status}");
}

#[test]
fn a_new_policy_version_is_used_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"), None, &[]);
    let key = server.api_key();
    let agent = Agent::new(&dir.path().join("agent"), "e2e-policy-0001");
    let id = enroll_and_run(&server, &agent);

    let out = agent.run(&["run", "--once"]);
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("received"),
        "unchanged policy is not re-sent (304)"
    );

    let yaml = "policy: {id: e2e-small, name: E2E small, os: linux}\nrules:\n  - id: HOSTNAME\n    title: has a hostname file\n    severity: low\n    check: {file: /etc/hostname, expect: {exists: true}}\n";
    let (status, body) = server.api_post(
        &key,
        "/policies?activate=true",
        "application/yaml",
        yaml.as_bytes(),
    );
    assert!(status == 200 || status == 201, "{status} {body}");
    let out = agent.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("policy e2e-small"),
        "{}",
        text(&out)
    );
    assert_eq!(agent.state()["last_run"]["summary"]["total"], 1);
    let h = host(&server.api_get(&key, "/hosts"), &id).clone();
    assert_eq!(h["policy_id"], "e2e-small", "{h}");
}

/// A fresh PostgreSQL database for one test, dropped afterwards.
struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    fn create() -> Option<PgDatabase> {
        let Ok(admin_url) = std::env::var("VT_TEST_DATABASE_URL") else {
            eprintln!("skipped: VT_TEST_DATABASE_URL not set");
            return None;
        };
        let name = format!("vt_e2e_{}_{}", std::process::id(), vt_e2e::free_port());
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("database URL with a database name");
        Some(PgDatabase {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        })
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &self.admin_url,
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

#[test]
fn enroll_audit_report_on_postgresql() {
    let Some(db) = PgDatabase::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"), Some(&db.url), &[]);
    let key = server.api_key();
    let agent = Agent::new(&dir.path().join("agent"), "e2e-pg-0001");
    let id = enroll_and_run(&server, &agent);
    check_counts_match(&server, &key, &agent, &id);
}

#[test]
fn two_servers_share_one_postgresql() {
    let Some(db) = PgDatabase::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let a = Server::start(&data, Some(&db.url), &[]);
    let b = Server::start(&data, Some(&db.url), &[]);
    let key = a.api_key();

    // Enroll through A, submit through B (as behind a load balancer).
    let token = a.token(1);
    let agent = Agent::new(&dir.path().join("agent"), "e2e-two-0001");
    let out = agent.enroll(&a.agent_url(), &token);
    assert!(out.status.success(), "{}", text(&out));
    let identity_path = agent.data_dir.join("identity.json");
    let identity = std::fs::read_to_string(&identity_path)
        .unwrap()
        .replace(&a.agent_url(), &b.agent_url());
    std::fs::write(&identity_path, identity).unwrap();
    let out = agent.run(&["run", "--once"]);
    assert!(out.status.success(), "{}\n{}", text(&out), b.log());
    let id = agent.identity()["agent_id"].as_str().unwrap().to_string();
    check_counts_match(&a, &key, &agent, &id);

    // The token spent on A is spent on B too.
    let other = Agent::new(&dir.path().join("other"), "e2e-two-0002");
    assert!(!other.enroll(&b.agent_url(), &token).status.success());

    // A revocation made on A is enforced by B within 10 s.
    let (status, body) = a.api_post(&key, &format!("/agents/{id}/revoke"), "application/json", b"{}");
    assert_eq!(status, 200, "{body}");
    let revoked_at = Instant::now();
    loop {
        let out = agent.run(&["run", "--once"]);
        if !out.status.success() && agent.state()["revoked"] == true {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(10),
            "B still accepts the agent: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
