//! The admin API driven in-process (`tower::ServiceExt::oneshot`, no TLS) against a real
//! SQLite file and, when `VT_TEST_DATABASE_URL` is set, PostgreSQL in a schema of its own.

mod backend_common;

use backend_common::Backend;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use tower::ServiceExt;
use vt_policy::{RuleResult, Severity, Status};
use vt_server::http::admin::{self, AdminState};
use vt_server::secrets;
use vt_server::storage::*;

const FINGERPRINT: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// ---- harness ----------------------------------------------------------------------------

/// The router under test with one API key per role and a recording revocation hook.
struct Api {
    router: Router,
    storage: Arc<dyn Storage>,
    admin: Key,
    auditor: Key,
    viewer: Key,
    revoked: Arc<Mutex<Vec<String>>>,
}

struct Key {
    id: String,
    text: String,
}

async fn api_key(storage: &dyn Storage, role: ApiRole) -> Key {
    let key = secrets::new_api_key().expect("key");
    let id = format!("key-{}", role.as_str());
    storage
        .create_api_key(&NewApiKey {
            id: id.clone(),
            key_hash: key.hash,
            role,
            label: format!("{} key", role.as_str()),
            created_at: OffsetDateTime::now_utc(),
        })
        .await
        .expect("create key");
    Key { id, text: key.text }
}

impl Api {
    async fn new(storage: Arc<dyn Storage>) -> Api {
        let revoked = Arc::new(Mutex::new(Vec::new()));
        let sink = revoked.clone();
        let router = admin::router(AdminState {
            storage: storage.clone(),
            revocation_hook: Some(Arc::new(move |agent_id: &str| {
                sink.lock().unwrap().push(agent_id.to_string())
            })),
            root_fingerprint: FINGERPRINT.into(),
        });
        Api {
            router,
            admin: api_key(storage.as_ref(), ApiRole::Admin).await,
            auditor: api_key(storage.as_ref(), ApiRole::Auditor).await,
            viewer: api_key(storage.as_ref(), ApiRole::Viewer).await,
            storage,
            revoked,
        }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    async fn get(&self, key: &Key, path: &str) -> Reply {
        self.send(request(Method::GET, path, Some(key), None)).await
    }

    async fn post_json(&self, key: &Key, path: &str, body: Value) -> Reply {
        self.send(request(
            Method::POST,
            path,
            Some(key),
            Some(("application/json", body.to_string())),
        ))
        .await
    }
}

fn request(method: Method, path: &str, key: Option<&Key>, body: Option<(&str, String)>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", key.text));
    }
    match body {
        Some((content_type, body)) => builder
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    json: Value,
}

impl Reply {
    #[track_caller]
    fn expect(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        &self.json
    }

    /// Asserts a JSON error with this status and code.
    #[track_caller]
    fn expect_error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.json["error"], code, "body: {}", self.text);
        self.json["detail"].as_str().expect("detail").to_string()
    }
}

macro_rules! api_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::Backend::sqlite().await;
                    super::$name(super::Api::new(backend.storage.clone()).await).await;
                    backend.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(backend) = super::Backend::postgres().await else { return };
                    super::$name(super::Api::new(backend.storage.clone()).await).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

api_suite!(
    authentication_and_roles,
    malformed_requests_get_json_errors,
    hosts_paginate_sort_and_filter,
    host_results_and_runs,
    summary_counts_the_fleet,
    agents_list_show_and_revoke,
    policy_upload_versions_and_activation,
    tokens_are_shown_once_listed_and_revoked,
    settings_are_validated_and_audited,
);

// ---- fixtures ---------------------------------------------------------------------------

fn registration(machine_id: &str, hostname: &str, os: &str) -> AgentRegistration {
    AgentRegistration {
        machine_id: machine_id.into(),
        hostname: hostname.into(),
        os: os.into(),
        os_version: "12".into(),
        arch: "x86_64".into(),
        agent_version: "0.1.0".into(),
    }
}

async fn enroll(storage: &dyn Storage, id: &str, hostname: &str, os: &str, seen: OffsetDateTime) {
    storage
        .enroll_agent(id, &registration(&format!("machine-{id}"), hostname, os), seen)
        .await
        .expect("enroll");
}

fn result(rule_id: &str, status: Status, severity: Severity) -> RuleResult {
    RuleResult {
        rule_id: rule_id.into(),
        title: format!("Rule {rule_id}"),
        severity,
        status,
        expected: "equals \"no\"".into(),
        observed: "yes".into(),
        reason: "value differs".into(),
        fix: "set it to no".into(),
        duration_ms: 3,
    }
}

/// Results in this order: `pass` passes, `fail` failures, `error` errors.
fn results(pass: usize, fail: usize, error: usize) -> Vec<RuleResult> {
    let mut all = Vec::new();
    for i in 0..pass {
        all.push(result(&format!("P{i}"), Status::Pass, Severity::Low));
    }
    for i in 0..fail {
        all.push(result(&format!("F{i}"), Status::Fail, Severity::High));
    }
    for i in 0..error {
        all.push(result(&format!("E{i}"), Status::Error, Severity::Medium));
    }
    all
}

async fn store_run(
    storage: &dyn Storage,
    run_id: &str,
    agent_id: &str,
    finished_at: OffsetDateTime,
    results: Vec<RuleResult>,
) {
    storage
        .store_run(&NewRun {
            run_id: run_id.into(),
            agent_id: agent_id.into(),
            policy_id: "linux-baseline".into(),
            policy_version: Some(2),
            policy_hash: "ab".repeat(32),
            started_at: finished_at - Duration::seconds(5),
            finished_at,
            // Received "now" would move last_seen; keep it at the run's time.
            received_at: finished_at,
            results,
        })
        .await
        .expect("store run");
}

const POLICY: &str = "policy:\n  id: web\n  name: Web servers\n  os: linux\nrules:\n  - id: R1\n    \
                      title: T\n    severity: high\n    check:\n      file: /etc/x\n      expect: {exists: true}\n";

fn ids(page: &Value, field: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item[field].as_str().expect("string field").to_string())
        .collect()
}

async fn audit_actions(api: &Api) -> Vec<(String, String, String)> {
    let log = api.get(&api.auditor, "/audit-log?per_page=500").await;
    log.expect(StatusCode::OK)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---- tests ------------------------------------------------------------------------------

async fn authentication_and_roles(api: Api) {
    let missing = api.send(request(Method::GET, "/hosts", None, None)).await;
    missing.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(missing.headers[header::WWW_AUTHENTICATE], "Bearer");

    let bad = Key {
        id: "none".into(),
        text: "vtk1_not-a-real-key".into(),
    };
    let detail = api
        .get(&bad, "/hosts")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(detail, "invalid API key");
    let basic = Request::builder()
        .uri("/hosts")
        .header(header::AUTHORIZATION, "Basic YWRtaW46YWRtaW4=")
        .body(Body::empty())
        .unwrap();
    api.send(basic)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Reads are open to every role.
    for key in [&api.viewer, &api.auditor, &api.admin] {
        api.get(key, "/hosts").await.expect(StatusCode::OK);
        api.get(key, "/summary").await.expect(StatusCode::OK);
    }
    // Writes are admin-only, refused before the body is even looked at.
    let forbidden = api.post_json(&api.viewer, "/tokens", json!({})).await;
    let detail = forbidden.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(detail, "role viewer lacks the admin permission");
    api.post_json(&api.auditor, "/tokens", json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let yaml = request(
        Method::POST,
        "/policies",
        Some(&api.viewer),
        Some(("application/yaml", POLICY.into())),
    );
    api.send(yaml)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(api.storage.list_policies().await.unwrap().is_empty());

    // The audit log: auditors and admins, not viewers.
    api.get(&api.viewer, "/audit-log")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let log = api.get(&api.auditor, "/audit-log").await;
    assert_eq!(
        log.expect(StatusCode::OK)["total"],
        0,
        "refused requests change nothing"
    );
    api.get(&api.admin, "/audit-log").await.expect(StatusCode::OK);
}

async fn malformed_requests_get_json_errors(api: Api) {
    let unknown = api.get(&api.viewer, "/nope").await;
    unknown.expect_error(StatusCode::NOT_FOUND, "not_found");
    let wrong_method = api
        .send(request(Method::PATCH, "/hosts", Some(&api.admin), None))
        .await;
    wrong_method.expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");

    let syntax = api
        .send(request(
            Method::POST,
            "/tokens",
            Some(&api.admin),
            Some(("application/json", "{\"uses\": ".into())),
        ))
        .await;
    syntax.expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    let shape = api
        .post_json(&api.admin, "/tokens", json!({"uses": "many"}))
        .await;
    shape.expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    let unknown_field = api
        .post_json(&api.admin, "/tokens", json!({"colour": "red"}))
        .await;
    unknown_field.expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    let no_type = api
        .send(request(
            Method::POST,
            "/tokens",
            Some(&api.admin),
            Some(("text/plain", "{}".into())),
        ))
        .await;
    no_type.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let huge = api
        .post_json(&api.admin, "/tokens", json!({"label": "x".repeat(100_000)}))
        .await;
    huge.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let bad_page = api.get(&api.viewer, "/hosts?page=zero").await;
    bad_page.expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    let bad_version = api.get(&api.viewer, "/policies/web/versions/latest").await;
    bad_version.expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert!(api
        .storage
        .list_tokens(PageRequest::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

async fn hosts_paginate_sort_and_filter(api: Api) {
    let now = OffsetDateTime::now_utc();
    let storage = api.storage.as_ref();
    // Default window: 2 × 3600 s + 300 s. web-3 and db-1 were last seen long before it.
    enroll(storage, "a-web-1", "web-1", "linux", now).await;
    enroll(storage, "a-web-2", "web-2", "linux", now).await;
    enroll(storage, "a-web-3", "web-3", "linux", now - Duration::days(1)).await;
    enroll(storage, "a-db-1", "DB-1", "windows", now - Duration::days(2)).await;
    enroll(storage, "a-db-2", "DB-2", "windows", now).await;
    store_run(
        storage,
        "r1",
        "a-web-1",
        now - Duration::minutes(5),
        results(3, 1, 0),
    )
    .await;
    store_run(
        storage,
        "r2",
        "a-web-2",
        now - Duration::minutes(5),
        results(4, 0, 0),
    )
    .await;
    store_run(storage, "r3", "a-db-1", now - Duration::days(2), results(1, 1, 1)).await;

    let all = api.get(&api.viewer, "/hosts").await;
    let all = all.expect(StatusCode::OK);
    assert_eq!(
        (
            all["total"].as_u64(),
            all["page"].as_u64(),
            all["per_page"].as_u64()
        ),
        (Some(5), Some(1), Some(50))
    );
    assert_eq!(ids(all, "hostname"), ["DB-1", "DB-2", "web-1", "web-2", "web-3"]);
    let web1 = &all["items"][2];
    assert_eq!(web1["id"], "a-web-1");
    assert_eq!(web1["online"], true);
    assert_eq!(web1["status"], "active");
    assert_eq!(web1["os"], "linux");
    assert_eq!(web1["os_version"], "12");
    assert_eq!(
        (
            web1["pass"].as_i64(),
            web1["fail"].as_i64(),
            web1["error"].as_i64()
        ),
        (Some(3), Some(1), Some(0))
    );
    assert_eq!(web1["not_applicable"], 0);
    assert_eq!(web1["score"], 75.0);
    assert_eq!(web1["policy_id"], "linux-baseline");
    assert_eq!(web1["policy_version"], 2);
    assert_eq!(web1["policy_hash"], "ab".repeat(32));
    let db1 = &all["items"][0];
    assert_eq!(
        (db1["online"].as_bool(), db1["score"].as_f64()),
        (Some(false), Some(33.3))
    );
    let db2 = &all["items"][1];
    assert_eq!(
        (
            db2["score"].clone(),
            db2["policy_id"].clone(),
            db2["pass"].as_i64()
        ),
        (Value::Null, Value::Null, Some(0))
    );

    let page2 = api.get(&api.viewer, "/hosts?page=2&per_page=2").await;
    let page2 = page2.expect(StatusCode::OK);
    assert_eq!(ids(page2, "hostname"), ["web-1", "web-2"]);
    assert_eq!(
        (
            page2["total"].as_u64(),
            page2["page"].as_u64(),
            page2["per_page"].as_u64()
        ),
        (Some(5), Some(2), Some(2))
    );

    let by_score = api.get(&api.viewer, "/hosts?sort=score&order=desc").await;
    assert_eq!(
        ids(by_score.expect(StatusCode::OK), "id"),
        ["a-web-2", "a-web-1", "a-db-1", "a-db-2", "a-web-3"],
        "hosts without runs last"
    );
    let by_fail = api
        .get(&api.viewer, "/hosts?sort=fail&order=desc&per_page=2")
        .await;
    assert_eq!(ids(by_fail.expect(StatusCode::OK), "id"), ["a-db-1", "a-web-1"]);

    let online = api.get(&api.viewer, "/hosts?status=online").await;
    assert_eq!(
        ids(online.expect(StatusCode::OK), "id"),
        ["a-db-2", "a-web-1", "a-web-2"]
    );
    let offline = api.get(&api.viewer, "/hosts?status=offline").await;
    assert_eq!(ids(offline.expect(StatusCode::OK), "id"), ["a-db-1", "a-web-3"]);
    let windows = api.get(&api.viewer, "/hosts?os=windows&status=online").await;
    assert_eq!(ids(windows.expect(StatusCode::OK), "id"), ["a-db-2"]);
    let search = api.get(&api.viewer, "/hosts?search=db").await;
    assert_eq!(
        search.expect(StatusCode::OK)["total"],
        2,
        "search is case-insensitive"
    );

    let rejected = api.get(&api.viewer, "/hosts?sort=machine_id").await;
    let detail = rejected.expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(
        detail,
        "sort: unsupported field; allowed: hostname, os, last_seen, enrolled_at, score, fail"
    );
    let injection = api
        .get(&api.viewer, "/hosts?sort=score%3B%20DROP%20TABLE%20agents")
        .await;
    injection.expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    api.get(&api.viewer, "/hosts?order=sideways")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    api.get(&api.viewer, "/hosts?status=sleeping")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    let too_many = api.get(&api.viewer, "/hosts?per_page=501").await;
    assert_eq!(
        too_many.expect_error(StatusCode::BAD_REQUEST, "invalid_request"),
        "per_page: must be between 1 and 500"
    );
    api.get(&api.viewer, "/hosts?page=0")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    let max = api.get(&api.viewer, "/hosts?per_page=500").await;
    assert_eq!(max.expect(StatusCode::OK)["per_page"], 500);
}

async fn host_results_and_runs(api: Api) {
    let now = OffsetDateTime::now_utc();
    let storage = api.storage.as_ref();
    enroll(storage, "a-1", "one", "linux", now).await;
    enroll(storage, "a-2", "two", "linux", now).await;
    // Rule order as reported: F0 before P0 — the API must keep it, not sort by id.
    let mut ordered = results(0, 1, 0);
    ordered.extend(results(1, 0, 1));
    store_run(
        storage,
        "run-old",
        "a-1",
        now - Duration::hours(3),
        results(0, 2, 0),
    )
    .await;
    store_run(
        storage,
        "run-mid",
        "a-1",
        now - Duration::hours(2),
        results(2, 0, 0),
    )
    .await;
    store_run(storage, "run-new", "a-1", now - Duration::hours(1), ordered).await;

    let latest = api.get(&api.viewer, "/hosts/a-1/results").await;
    let latest = latest.expect(StatusCode::OK);
    assert_eq!(latest["host_id"], "a-1");
    assert_eq!(latest["run"]["run_id"], "run-new");
    assert_eq!(
        (
            latest["run"]["pass"].as_i64(),
            latest["run"]["fail"].as_i64(),
            latest["run"]["error"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(latest["run"]["score"], 33.3);
    let rules: Vec<(&str, &str, &str)> = latest["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("F0", "fail", "high"),
            ("P0", "pass", "low"),
            ("E0", "error", "medium")
        ]
    );
    assert_eq!(latest["results"][0]["observed"], "yes");

    let none = api.get(&api.viewer, "/hosts/a-2/results").await;
    assert_eq!(
        none.expect(StatusCode::OK),
        &json!({"host_id": "a-2", "run": null, "results": []})
    );
    api.get(&api.viewer, "/hosts/ghost/results")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    let runs = api.get(&api.viewer, "/hosts/a-1/runs?per_page=2").await;
    let runs = runs.expect(StatusCode::OK);
    assert_eq!(ids(runs, "run_id"), ["run-new", "run-mid"]);
    assert_eq!(runs["total"], 3);
    let rest = api
        .get(
            &api.viewer,
            "/hosts/a-1/runs?per_page=2&page=2&sort=finished_at&order=desc",
        )
        .await;
    let rest = rest.expect(StatusCode::OK);
    assert_eq!(ids(rest, "run_id"), ["run-old"]);
    assert_eq!(
        (
            rest["items"][0]["fail"].as_i64(),
            rest["items"][0]["score"].as_f64()
        ),
        (Some(2), Some(0.0))
    );
    api.get(&api.viewer, "/hosts/a-1/runs?sort=score")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    api.get(&api.viewer, "/hosts/a-1/runs?order=asc")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    api.get(&api.viewer, "/hosts/ghost/runs")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

async fn summary_counts_the_fleet(api: Api) {
    let empty = api.get(&api.viewer, "/summary").await;
    assert_eq!(
        empty.expect(StatusCode::OK),
        &json!({
            "hosts": 0, "online": 0, "offline": 0, "revoked": 0, "reporting": 0, "compliant": 0,
            "compliance_score": 100.0,
            "results": {"pass": 0, "fail": 0, "error": 0, "not_applicable": 0},
            "by_os": [],
            "online_window_seconds": 7500,
        })
    );

    let now = OffsetDateTime::now_utc();
    let storage = api.storage.as_ref();
    enroll(storage, "l1", "l1", "linux", now).await;
    enroll(storage, "l2", "l2", "linux", now - Duration::days(1)).await;
    enroll(storage, "l3", "l3", "linux", now).await;
    enroll(storage, "w1", "w1", "windows", now).await;
    // Scores: l1 100, l2 2/3 = 66.7, w1 0; l3 never reported. Mean 55.6.
    store_run(storage, "s1", "l1", now - Duration::minutes(1), results(4, 0, 0)).await;
    store_run(storage, "s2", "l2", now - Duration::days(1), results(2, 1, 0)).await;
    store_run(storage, "s3", "w1", now - Duration::minutes(1), results(0, 2, 1)).await;
    storage
        .set_agent_status("l3", AgentStatus::Revoked)
        .await
        .unwrap();

    let summary = api.get(&api.viewer, "/summary").await;
    assert_eq!(
        summary.expect(StatusCode::OK),
        &json!({
            "hosts": 4, "online": 3, "offline": 1, "revoked": 1, "reporting": 3, "compliant": 1,
            "compliance_score": 55.6,
            "results": {"pass": 6, "fail": 3, "error": 1, "not_applicable": 0},
            "by_os": [
                {"os": "linux", "hosts": 3, "online": 2, "offline": 1, "reporting": 2,
                 "results": {"pass": 6, "fail": 1, "error": 0, "not_applicable": 0}},
                {"os": "windows", "hosts": 1, "online": 1, "offline": 0, "reporting": 1,
                 "results": {"pass": 0, "fail": 2, "error": 1, "not_applicable": 0}},
            ],
            "online_window_seconds": 7500,
        })
    );
}

async fn agents_list_show_and_revoke(api: Api) {
    let now = OffsetDateTime::now_utc();
    let storage = api.storage.as_ref();
    enroll(storage, "ag-1", "alpha", "linux", now).await;
    enroll(storage, "ag-2", "beta", "windows", now - Duration::days(3)).await;
    for serial in ["01", "02"] {
        storage
            .record_certificate(&CertificateRecord {
                serial: serial.into(),
                agent_id: "ag-1".into(),
                not_before: now - Duration::hours(1),
                not_after: now + Duration::hours(23),
                revoked_at: None,
                reason: None,
            })
            .await
            .unwrap();
    }

    let list = api.get(&api.viewer, "/agents?sort=last_seen&order=desc").await;
    let list = list.expect(StatusCode::OK);
    assert_eq!(ids(list, "id"), ["ag-1", "ag-2"]);
    assert_eq!(list["items"][0]["machine_id"], "machine-ag-1");
    assert_eq!(list["items"][1]["online"], false);
    api.get(&api.viewer, "/agents?sort=score")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    let windows = api.get(&api.viewer, "/agents?os=windows").await;
    assert_eq!(ids(windows.expect(StatusCode::OK), "hostname"), ["beta"]);

    let shown = api.get(&api.viewer, "/agents/ag-1").await;
    let shown = shown.expect(StatusCode::OK);
    assert_eq!(
        (
            shown["hostname"].as_str(),
            shown["status"].as_str(),
            shown["online"].as_bool()
        ),
        (Some("alpha"), Some("active"), Some(true))
    );
    assert_eq!(shown["arch"], "x86_64");
    assert_eq!(shown["reported_status"], Value::Null, "no heartbeat yet");
    // The heartbeat's self-reported status shows in both the agent and the host views.
    assert!(storage
        .record_heartbeat("ag-1", "0.1.0", Some("auditing"), now)
        .await
        .unwrap());
    let shown = api.get(&api.viewer, "/agents/ag-1").await;
    assert_eq!(shown.expect(StatusCode::OK)["reported_status"], "auditing");
    let listed = api.get(&api.viewer, "/agents?sort=hostname").await;
    let listed = listed.expect(StatusCode::OK);
    assert_eq!(
        (
            &listed["items"][0]["reported_status"],
            &listed["items"][1]["reported_status"]
        ),
        (&json!("auditing"), &Value::Null)
    );
    let hosts = api.get(&api.viewer, "/hosts?sort=hostname").await;
    let hosts = hosts.expect(StatusCode::OK);
    assert_eq!(
        (
            &hosts["items"][0]["reported_status"],
            &hosts["items"][1]["reported_status"]
        ),
        (&json!("auditing"), &Value::Null)
    );
    api.get(&api.viewer, "/agents/ghost")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    // Only admins revoke; a refused attempt changes nothing and calls no hook.
    api.post_json(&api.auditor, "/agents/ag-1/revoke", json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(api.revoked.lock().unwrap().is_empty());

    let revoked = api
        .send(request(
            Method::POST,
            "/agents/ag-1/revoke",
            Some(&api.admin),
            None,
        ))
        .await;
    assert_eq!(
        revoked.expect(StatusCode::OK),
        &json!({"agent_id": "ag-1", "status": "revoked", "certificates_revoked": 2,
                "reason": "cessation_of_operation"})
    );
    assert_eq!(*api.revoked.lock().unwrap(), ["ag-1"]);
    let cert = storage.get_certificate("01").await.unwrap().unwrap();
    assert_eq!(cert.reason.as_deref(), Some("cessation_of_operation"));
    assert!(cert.revoked_at.is_some());
    let shown = api.get(&api.viewer, "/agents/ag-1").await;
    assert_eq!(shown.expect(StatusCode::OK)["status"], "revoked");

    let again = api
        .post_json(
            &api.admin,
            "/agents/ag-1/revoke",
            json!({"reason": "key_compromise"}),
        )
        .await;
    assert_eq!(again.expect(StatusCode::OK)["certificates_revoked"], 0);
    assert_eq!(*api.revoked.lock().unwrap(), ["ag-1", "ag-1"]);
    api.post_json(&api.admin, "/agents/ag-2/revoke", json!({"reason": "bored"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    api.post_json(&api.admin, "/agents/ghost/revoke", json!({}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(api.revoked.lock().unwrap().len(), 2);

    let log = api.get(&api.auditor, "/audit-log").await;
    let log = log.expect(StatusCode::OK);
    assert_eq!(log["total"], 2);
    let newest = &log["items"][0];
    assert_eq!(newest["action"], "agent.revoke");
    assert_eq!(newest["actor"], format!("apikey:{}", api.admin.id));
    assert_eq!(newest["target"], "ag-1");
    assert_eq!(
        newest["detail"],
        json!({"reason": "key_compromise", "certificates_revoked": 0})
    );
    assert_eq!(log["items"][1]["detail"]["certificates_revoked"], 2);
}

async fn policy_upload_versions_and_activation(api: Api) {
    let upload = |body: &str, content_type: &str, query: &str| {
        request(
            Method::POST,
            &format!("/policies{query}"),
            Some(&api.admin),
            Some((content_type, body.to_string())),
        )
    };
    let first = api.send(upload(POLICY, "application/yaml", "")).await;
    let first = first.expect(StatusCode::CREATED).clone();
    assert_eq!(
        (first["policy_id"].as_str(), first["version"].as_i64()),
        (Some("web"), Some(1))
    );
    assert_eq!(
        (
            first["os"].as_str(),
            first["active"].as_bool(),
            first["created"].as_bool()
        ),
        (Some("linux"), Some(false), Some(true))
    );
    assert_eq!(first["author"], format!("apikey:{}", api.admin.id));

    // Identical content (even with other formatting) is the same version.
    let reformatted = POLICY.replace("name: Web servers", "name: 'Web servers'");
    let same = api
        .send(upload(&reformatted, "text/yaml; charset=utf-8", ""))
        .await;
    let same = same.expect(StatusCode::OK);
    assert_eq!(
        (same["version"].as_i64(), same["created"].as_bool()),
        (Some(1), Some(false))
    );

    let changed = POLICY.replace("title: T", "title: Changed");
    let second = api
        .post_json(
            &api.admin,
            "/policies",
            json!({"yaml": changed, "activate": true}),
        )
        .await;
    let second = second.expect(StatusCode::CREATED);
    assert_eq!(
        (second["version"].as_i64(), second["active"].as_bool()),
        (Some(2), Some(true))
    );

    let invalid = POLICY.replace("severity: high", "severity: 5");
    let rejected = api
        .send(upload(&invalid, "application/yaml", "?activate=true"))
        .await;
    rejected.expect_error(StatusCode::BAD_REQUEST, "invalid_policy");
    let diagnostics = rejected.json["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(
        (diagnostics[0]["line"].as_u64(), diagnostics[0]["column"].as_u64()),
        (Some(8), Some(15))
    );
    assert_eq!(diagnostics[0]["rule_id"], "R1");
    assert!(diagnostics[0]["message"]
        .as_str()
        .unwrap()
        .contains("unknown severity"));
    let broken = api
        .send(upload("policy:\n  id: p\n  name: a: b\n", "application/yaml", ""))
        .await;
    broken.expect_error(StatusCode::BAD_REQUEST, "invalid_policy");
    assert_eq!(
        (
            broken.json["diagnostics"][0]["line"].as_u64(),
            broken.json["diagnostics"][0]["column"].as_u64()
        ),
        (Some(3), Some(10))
    );
    api.send(upload(POLICY, "text/plain", ""))
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    api.post_json(&api.admin, "/policies", json!({"source": POLICY}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request");

    // Policies get the 8 MiB limit, above the 64 KiB of other bodies: a large but valid
    // upload is accepted, one byte over the limit is refused before parsing.
    let padded = format!(
        "{}# {}\n",
        POLICY.replace("title: T", "title: Big"),
        "x".repeat(200_000)
    );
    let big = api.send(upload(&padded, "application/yaml", "")).await;
    assert_eq!(big.expect(StatusCode::CREATED)["version"], 3);
    let oversized = "#".repeat(admin::POLICY_BODY_LIMIT + 1);
    api.send(upload(&oversized, "application/yaml", ""))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let list = api.get(&api.viewer, "/policies").await;
    assert_eq!(
        list.expect(StatusCode::OK),
        &json!({"items": [{"policy_id": "web", "os": "linux", "latest_version": 3, "active_version": 2}],
                "page": 1, "per_page": 50, "total": 1})
    );
    api.get(&api.viewer, "/policies?sort=author")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request");

    let versions = api.get(&api.viewer, "/policies/web/versions").await;
    let versions = versions.expect(StatusCode::OK);
    assert_eq!(
        versions["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert_eq!(versions["items"][0]["active"], false);
    assert_eq!(versions["items"][1]["active"], true);
    assert!(
        versions["items"][0].get("yaml").is_none(),
        "listings leave sources out"
    );
    let ascending = api
        .get(&api.viewer, "/policies/web/versions?order=asc&per_page=1&page=2")
        .await;
    let ascending = ascending.expect(StatusCode::OK);
    assert_eq!(
        (
            ascending["items"][0]["version"].as_i64(),
            ascending["total"].as_u64()
        ),
        (Some(2), Some(3))
    );
    api.get(&api.viewer, "/policies/nope/versions")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    let detail = api.get(&api.viewer, "/policies/web/versions/1").await;
    let detail = detail.expect(StatusCode::OK);
    assert_eq!(detail["yaml"], POLICY);
    let canonical = detail["canonical_json"].as_str().unwrap();
    assert_eq!(detail["hash"], sha256_hex(canonical.as_bytes()));
    assert_eq!(detail["hash"], first["hash"]);
    let parsed: Value = serde_json::from_str(canonical).unwrap();
    assert_eq!(parsed["policy"]["id"], "web");
    assert_eq!(detail["active"], false);

    let missing = api
        .send(request(
            Method::POST,
            "/policies/web/versions/99/activate",
            Some(&api.admin),
            None,
        ))
        .await;
    missing.expect_error(StatusCode::NOT_FOUND, "not_found");
    api.send(request(
        Method::POST,
        "/policies/web/versions/1/activate",
        Some(&api.viewer),
        None,
    ))
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let activated = api
        .send(request(
            Method::POST,
            "/policies/web/versions/1/activate",
            Some(&api.admin),
            None,
        ))
        .await;
    assert_eq!(activated.expect(StatusCode::OK)["active"], true);
    assert_eq!(
        api.storage.active_policy("linux").await.unwrap().unwrap().version,
        1
    );

    let actor = format!("apikey:{}", api.admin.id);
    assert_eq!(
        audit_actions(&api).await,
        [
            ("policy.activate".to_string(), actor.clone(), "web@1".to_string()),
            ("policy.create".to_string(), actor.clone(), "web@3".to_string()),
            ("policy.activate".to_string(), actor.clone(), "web@2".to_string()),
            ("policy.create".to_string(), actor.clone(), "web@2".to_string()),
            ("policy.create".to_string(), actor, "web@1".to_string()),
        ]
    );
}

async fn tokens_are_shown_once_listed_and_revoked(api: Api) {
    let created = api
        .post_json(
            &api.admin,
            "/tokens",
            json!({"ttl": "2h", "uses": 3, "label": "rack 4"}),
        )
        .await;
    assert_eq!(created.headers[header::CACHE_CONTROL], "no-store");
    let created = created.expect(StatusCode::CREATED).clone();
    let token = created["token"].as_str().unwrap().to_string();
    let parsed = vt_wire::token::EnrollmentTokenText::parse(&token).expect("a valid token");
    assert_eq!(parsed.root_fingerprint, FINGERPRINT);
    assert_eq!(
        (created["uses_allowed"].as_i64(), created["label"].as_str()),
        (Some(3), Some("rack 4"))
    );
    let created_at = vt_wire::parse_timestamp(created["created_at"].as_str().unwrap()).unwrap();
    let expires_at = vt_wire::parse_timestamp(created["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires_at - created_at, Duration::hours(2));
    let id = created["id"].as_str().unwrap().to_string();

    // The token works for enrollment: its secret's hash is what was stored.
    let consumed = api
        .storage
        .consume_token(&parsed.secret_hash(), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(matches!(consumed, TokenConsumption::Consumed(ref t) if t.id == id));

    let seconds = api
        .post_json(&api.admin, "/tokens", json!({"ttl_seconds": 60}))
        .await;
    let seconds = seconds.expect(StatusCode::CREATED).clone();
    assert_eq!(
        (seconds["uses_allowed"].as_i64(), seconds["label"].as_str()),
        (Some(1), Some(""))
    );

    let listed = api.get(&api.viewer, "/tokens").await;
    let secret = token.split('.').nth(1).unwrap();
    assert!(!listed.text.contains(secret), "listing never shows a secret");
    let listed = listed.expect(StatusCode::OK);
    assert_eq!(listed["total"], 2);
    let first = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(
        (
            first["uses_count"].as_i64(),
            first["state"].as_str(),
            first["revoked"].as_bool()
        ),
        (Some(1), Some("active"), Some(false))
    );
    assert!(first.get("token").is_none());

    let revoke = request(Method::DELETE, &format!("/tokens/{id}"), Some(&api.admin), None);
    let revoked = api.send(revoke).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(revoked.text, "");
    let again = api
        .send(request(
            Method::DELETE,
            &format!("/tokens/{id}"),
            Some(&api.admin),
            None,
        ))
        .await;
    again.expect_error(StatusCode::NOT_FOUND, "not_found");
    api.send(request(Method::DELETE, "/tokens/other", Some(&api.viewer), None))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let listed = api.get(&api.viewer, "/tokens").await;
    let states: BTreeSet<(String, String)> = listed.expect(StatusCode::OK)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(states.contains(&(id.clone(), "revoked".to_string())));

    for bad in [
        json!({"ttl": "2h", "ttl_seconds": 60}),
        json!({"ttl": "2 weeks"}),
        json!({"ttl_seconds": 0}),
        json!({"ttl": "400d"}),
        json!({"uses": 0}),
        json!({"label": "x".repeat(256)}),
    ] {
        api.post_json(&api.admin, "/tokens", bad.clone())
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    }

    let log = api.get(&api.auditor, "/audit-log?per_page=500").await;
    assert!(!log.text.contains(secret), "the audit log never holds a secret");
    let actions: Vec<String> = audit_actions(&api).await.into_iter().map(|(a, _, _)| a).collect();
    assert_eq!(actions, ["token.revoke", "token.create", "token.create"]);
    let paged = api.get(&api.auditor, "/audit-log?per_page=1&page=3").await;
    let paged = paged.expect(StatusCode::OK);
    assert_eq!(
        (paged["total"].as_u64(), paged["items"][0]["target"].as_str()),
        (Some(3), Some(id.as_str()))
    );
    assert_eq!(paged["items"][0]["detail"]["label"], "rack 4");
    api.get(&api.auditor, "/audit-log?sort=actor")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request");
}

async fn settings_are_validated_and_audited(api: Api) {
    let defaults = api.get(&api.viewer, "/settings").await;
    assert_eq!(
        defaults.expect(StatusCode::OK),
        &json!({"audit_interval_seconds": 3600, "jitter_seconds": 300, "retention_days": 90})
    );
    let put = |body: Value, key: &Key| {
        request(
            Method::PUT,
            "/settings",
            Some(key),
            Some(("application/json", body.to_string())),
        )
    };
    api.send(put(json!({"retention_days": 30}), &api.viewer))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let updated = api
        .send(put(
            json!({"audit_interval_seconds": 600, "jitter_seconds": 60}),
            &api.admin,
        ))
        .await;
    assert_eq!(
        updated.expect(StatusCode::OK),
        &json!({"audit_interval_seconds": 600, "jitter_seconds": 60, "retention_days": 90})
    );
    let jitter = api.send(put(json!({"jitter_seconds": 601}), &api.admin)).await;
    assert_eq!(
        jitter.expect_error(StatusCode::BAD_REQUEST, "invalid_request"),
        "jitter_seconds: must be between 0 and the audit interval (600)"
    );
    for bad in [
        json!({"audit_interval_seconds": 59}),
        json!({"retention_days": 0}),
        json!({"retention_days": -1}),
        json!({"interval": 600}),
    ] {
        api.send(put(bad, &api.admin))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let stored = ServerSettings::load(api.storage.as_ref()).await.unwrap();
    assert_eq!(
        (
            stored.audit_interval_seconds,
            stored.jitter_seconds,
            stored.retention_days
        ),
        (600, 60, 90)
    );

    // The online window follows the settings: 2 × 600 + 60 s.
    let now = OffsetDateTime::now_utc();
    enroll(
        api.storage.as_ref(),
        "recent",
        "recent",
        "linux",
        now - Duration::seconds(1_000),
    )
    .await;
    enroll(
        api.storage.as_ref(),
        "stale",
        "stale",
        "linux",
        now - Duration::seconds(1_400),
    )
    .await;
    let online = api.get(&api.viewer, "/hosts?status=online").await;
    assert_eq!(ids(online.expect(StatusCode::OK), "id"), ["recent"]);

    let log = api.get(&api.admin, "/audit-log").await;
    let log = log.expect(StatusCode::OK);
    assert_eq!(log["total"], 1);
    assert_eq!(log["items"][0]["action"], "settings.update");
    assert_eq!(
        log["items"][0]["detail"]["before"]["audit_interval_seconds"],
        3600
    );
    assert_eq!(log["items"][0]["detail"]["after"]["audit_interval_seconds"], 600);
}

// ---- the route table and its documentation ----------------------------------------------

#[tokio::test]
async fn openapi_documents_every_route_and_nothing_else() {
    let doc: Value = serde_json::from_str(admin::openapi_json()).expect("openapi.json parses");
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = admin::route_table()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(routed, documented);

    // Every $ref resolves.
    let text = admin::openapi_json();
    for reference in text.split("\"$ref\": \"#/").skip(1) {
        let pointer = format!("/{}", &reference[..reference.find('"').unwrap()]);
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {pointer}");
    }

    // And every route in the table is really served: unauthenticated requests reach the
    // authentication check (401), not the 404/405 fallbacks.
    let backend = Backend::sqlite().await;
    let router = admin::router(AdminState {
        storage: backend.storage.clone(),
        revocation_hook: None,
        root_fingerprint: FINGERPRINT.into(),
    });
    for (method, path) in admin::route_table() {
        let uri = path.replace("{id}", "x").replace("{version}", "1");
        let response = router
            .clone()
            .oneshot(
                Request::builder()
                    .method(method.clone())
                    .uri(&uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {uri}");
    }
    backend.finish().await;
}
