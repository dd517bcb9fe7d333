//! vt-loadgen against an in-process vt-server: the counts it reports must match what the
//! server stored, and failures must make the report unsuccessful.

use clap::Parser;
use time::OffsetDateTime;
use vt_loadgen::Options;
use vt_server::config::ServerConfig;
use vt_server::storage::{HostQuery, NewEnrollmentToken, PageRequest};

async fn start_server(dir: &std::path::Path) -> vt_server::server::RunningServer {
    let config = ServerConfig::from_args([
        "--data-dir".to_string(),
        dir.display().to_string(),
        "--agent-listen".into(),
        "127.0.0.1:0".into(),
        "--dashboard-listen".into(),
        "127.0.0.1:0".into(),
    ])
    .expect("config");
    vt_server::server::start(&config).await.expect("server starts")
}

async fn token(server: &vt_server::server::RunningServer, uses: i64) -> String {
    let text = vt_server::secrets::new_enrollment_token(&server.root_fingerprint).expect("token");
    let now = OffsetDateTime::now_utc();
    server
        .storage
        .create_token(&NewEnrollmentToken {
            id: uuid::Uuid::new_v4().to_string(),
            secret_hash: text.secret_hash(),
            label: "loadgen-test".into(),
            created_at: now - time::Duration::seconds(1),
            expires_at: now + time::Duration::hours(1),
            uses_allowed: uses,
        })
        .await
        .expect("stored");
    text.expose()
}

fn options(server: &vt_server::server::RunningServer, token: &str, agents: u32) -> Options {
    let port = server.agent_addr.expect("agent listener").port();
    Options::try_parse_from([
        "vt-loadgen".to_string(),
        "--server".into(),
        format!("https://127.0.0.1:{port}"),
        "--token".into(),
        token.into(),
        "--agents".into(),
        agents.to_string(),
        "--results-per-run".into(),
        "3".into(),
        "--runs-per-agent".into(),
        "2".into(),
        "--concurrency".into(),
        "2".into(),
        "--duration-limit".into(),
        "60".into(),
    ])
    .expect("options")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_what_the_server_stored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path()).await;
    let token = token(&server, 5).await;

    let report = vt_loadgen::run(&options(&server, &token, 5))
        .await
        .expect("benchmark runs");
    assert!(report.success(), "{report}");
    assert_eq!(report.agents_enrolled, 5);
    assert_eq!(
        (report.runs_planned, report.runs_ok, report.runs_failed),
        (10, 10, 0)
    );
    assert_eq!(report.results_ok, 30);
    assert_eq!(report.latencies.len(), 10);
    let printed = report.to_string();
    assert!(
        printed.contains("results_ok=30") && printed.contains("ok=true"),
        "{printed}"
    );

    let storage = server.storage.clone();
    let hosts = storage
        .list_hosts(&HostQuery::new(OffsetDateTime::UNIX_EPOCH))
        .await
        .expect("hosts");
    assert_eq!(hosts.total, 5, "five distinct machines enrolled");
    let mut stored_results = 0;
    for host in &hosts.items {
        let runs = storage
            .list_runs(&host.agent.id, PageRequest::default())
            .await
            .expect("runs");
        assert_eq!(runs.total, 2, "two runs per agent");
        for run in &runs.items {
            stored_results += storage.run_results(&run.run_id).await.expect("results").len();
        }
    }
    assert_eq!(stored_results, 30);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_failures_make_the_run_fail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path()).await;
    // Three uses for five agents: two enrollments must be refused.
    let token = token(&server, 3).await;

    let report = vt_loadgen::run(&options(&server, &token, 5))
        .await
        .expect("benchmark runs");
    assert!(!report.success());
    assert_eq!((report.agents_enrolled, report.enroll_errors), (3, 2));
    assert_eq!(report.runs_ok, 6, "the enrolled agents still submit");
    assert!(
        report.first_errors.iter().any(|e| e.contains("token_used")),
        "{:?}",
        report.first_errors
    );
    server.shutdown().await;
}
