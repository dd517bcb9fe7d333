//! One behavioural suite for every storage backend. Each test runs against a fresh SQLite
//! file and, when `VT_TEST_DATABASE_URL` is set, against PostgreSQL in a schema of its own.

mod backend_common;

use backend_common::Backend;
use std::sync::Arc;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use vt_policy::{RuleResult, Severity, Status};
use vt_server::storage::*;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

macro_rules! storage_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let backend = super::Backend::sqlite().await;
                    super::$name(backend.storage.clone()).await;
                    backend.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(backend) = super::Backend::postgres().await else { return };
                    super::$name(backend.storage.clone()).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

storage_suite!(
    token_consumption_is_atomic_under_concurrency,
    token_failures_are_diagnosed,
    ott_ids_cannot_be_replayed,
    reenrollment_reuses_the_machine_record,
    run_storage_is_idempotent,
    run_is_stored_whole_or_not_at_all,
    policy_versions_are_immutable_numbered_and_activatable,
    host_listing_paginates_sorts_and_filters,
    latest_state_follows_the_newest_run,
    concurrent_runs_are_all_stored,
    audit_log_appends_and_lists_newest_first,
    retention_purges_old_runs_but_keeps_latest,
    maintenance_applies_the_retention_setting,
    certificates_are_recorded_and_revoked,
    settings_and_api_keys_round_trip,
    fleet_by_os_counts_agents_and_latest_results,
    server_settings_default_validate_and_persist,
    agents_are_found_by_machine_id_and_keep_their_reported_status,
    users_are_unique_ignoring_case_and_passwords_verify,
    pool_stats_describe_the_connection_pools,
);

// ---- fixtures ---------------------------------------------------------------------------

fn registration(machine_id: &str, hostname: &str) -> AgentRegistration {
    AgentRegistration {
        machine_id: machine_id.into(),
        hostname: hostname.into(),
        os: "linux".into(),
        os_version: "12".into(),
        arch: "x86_64".into(),
        agent_version: "0.1.0".into(),
    }
}

async fn agent(storage: &dyn Storage, machine_id: &str, hostname: &str) -> Agent {
    let id = uuid::Uuid::new_v4().to_string();
    storage
        .enroll_agent(&id, &registration(machine_id, hostname), NOW)
        .await
        .expect("enroll")
        .agent
}

fn result(rule_id: &str, status: Status) -> RuleResult {
    RuleResult {
        rule_id: rule_id.into(),
        title: format!("Rule {rule_id}"),
        severity: Severity::Medium,
        status,
        expected: "equals \"no\"".into(),
        observed: "yes".into(),
        reason: "value differs".into(),
        fix: "set it to no".into(),
        duration_ms: 7,
    }
}

/// `pass` passing results then `fail` failing ones.
fn results(pass: usize, fail: usize) -> Vec<RuleResult> {
    (0..pass)
        .map(|i| result(&format!("pass-{i}"), Status::Pass))
        .chain((0..fail).map(|i| result(&format!("fail-{i}"), Status::Fail)))
        .collect()
}

fn run(agent_id: &str, finished_at: OffsetDateTime, results: Vec<RuleResult>) -> NewRun {
    NewRun {
        run_id: uuid::Uuid::new_v4().to_string(),
        agent_id: agent_id.into(),
        policy_id: "linux-baseline".into(),
        policy_version: Some(1),
        policy_hash: "ab".repeat(32),
        started_at: finished_at - Duration::seconds(5),
        finished_at,
        received_at: finished_at + Duration::seconds(1),
        results,
    }
}

fn token(secret_hash: &str, uses: i64, expires_at: OffsetDateTime) -> NewEnrollmentToken {
    NewEnrollmentToken {
        id: uuid::Uuid::new_v4().to_string(),
        secret_hash: secret_hash.into(),
        label: "test".into(),
        created_at: NOW,
        expires_at,
        uses_allowed: uses,
    }
}

// ---- tests ------------------------------------------------------------------------------

async fn token_consumption_is_atomic_under_concurrency(storage: Arc<dyn Storage>) {
    storage
        .create_token(&token("h-race", 5, NOW + Duration::hours(1)))
        .await
        .unwrap();
    let consumers: Vec<_> = (0..20)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move { storage.consume_token("h-race", NOW).await.unwrap() })
        })
        .collect();
    let mut consumed = 0;
    let mut exhausted = 0;
    for consumer in consumers {
        match consumer.await.unwrap() {
            TokenConsumption::Consumed(_) => consumed += 1,
            TokenConsumption::Exhausted => exhausted += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((consumed, exhausted), (5, 15));
    let listed = storage.list_tokens(PageRequest::default()).await.unwrap();
    assert_eq!(listed.items[0].uses_count, 5);
}

async fn token_failures_are_diagnosed(storage: Arc<dyn Storage>) {
    storage
        .create_token(&token("h-expired", 3, NOW - Duration::seconds(1)))
        .await
        .unwrap();
    let revocable = token("h-revoked", 3, NOW + Duration::hours(1));
    storage.create_token(&revocable).await.unwrap();
    assert!(storage.revoke_token(&revocable.id).await.unwrap());
    assert!(
        !storage.revoke_token(&revocable.id).await.unwrap(),
        "second revocation changes nothing"
    );

    assert_eq!(
        storage.consume_token("h-expired", NOW).await.unwrap(),
        TokenConsumption::Expired
    );
    assert_eq!(
        storage.consume_token("h-revoked", NOW).await.unwrap(),
        TokenConsumption::Revoked
    );
    assert_eq!(
        storage.consume_token("h-unknown", NOW).await.unwrap(),
        TokenConsumption::Unknown
    );

    storage
        .create_token(&token("h-once", 1, NOW + Duration::hours(1)))
        .await
        .unwrap();
    let TokenConsumption::Consumed(spent) = storage.consume_token("h-once", NOW).await.unwrap() else {
        panic!("first use must succeed");
    };
    assert_eq!((spent.uses_count, spent.uses_allowed), (1, 1));
    assert_eq!(
        storage.consume_token("h-once", NOW).await.unwrap(),
        TokenConsumption::Exhausted
    );
}

async fn ott_ids_cannot_be_replayed(storage: Arc<dyn Storage>) {
    let expires = NOW + Duration::minutes(5);
    assert!(storage.mark_ott_used("jti-1", expires).await.unwrap());
    assert!(
        !storage.mark_ott_used("jti-1", expires).await.unwrap(),
        "replay must fail"
    );

    let racers: Vec<_> = (0..10)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move { storage.mark_ott_used("jti-race", expires).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);

    storage
        .mark_ott_used("jti-old", NOW - Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(storage.purge_expired_otts(NOW).await.unwrap(), 1);
    assert!(
        !storage.mark_ott_used("jti-1", expires).await.unwrap(),
        "unexpired ids survive the purge"
    );
}

async fn reenrollment_reuses_the_machine_record(storage: Arc<dyn Storage>) {
    let first = storage
        .enroll_agent("agent-a", &registration("machine-1", "old-name"), NOW)
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.agent.status, AgentStatus::Active);

    let mut renamed = registration("machine-1", "new-name");
    renamed.agent_version = "0.2.0".into();
    let later = NOW + Duration::hours(1);
    let second = storage.enroll_agent("agent-b", &renamed, later).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.agent.id, "agent-a");
    assert_eq!(second.agent.hostname, "new-name");
    assert_eq!(second.agent.agent_version, "0.2.0");
    assert_eq!(second.agent.enrolled_at, NOW);
    assert_eq!(second.agent.last_seen, later);

    // A revoked agent stays revoked on re-enrollment; reactivation is an explicit act.
    assert!(storage
        .set_agent_status("agent-a", AgentStatus::Revoked)
        .await
        .unwrap());
    let third = storage.enroll_agent("agent-c", &renamed, later).await.unwrap();
    assert_eq!(third.agent.status, AgentStatus::Revoked);

    let racers: Vec<_> = (0..10)
        .map(|i| {
            let storage = storage.clone();
            tokio::spawn(async move {
                storage
                    .enroll_agent(&format!("racer-{i}"), &registration("machine-2", "racer"), NOW)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = 0;
    for racer in racers {
        created += usize::from(racer.await.unwrap().created);
    }
    assert_eq!(
        created, 1,
        "concurrent enrollments of one machine create one record"
    );

    let hosts = storage.list_hosts(&HostQuery::new(NOW)).await.unwrap();
    assert_eq!(hosts.total, 2);
}

async fn run_storage_is_idempotent(storage: Arc<dyn Storage>) {
    let host = agent(storage.as_ref(), "m-idem", "idem").await;
    let first = run(&host.id, NOW, results(3, 1));
    assert_eq!(storage.store_run(&first).await.unwrap(), StoreOutcome::Stored);

    let mut retry = first.clone();
    retry.results = results(10, 10);
    assert_eq!(
        storage.store_run(&retry).await.unwrap(),
        StoreOutcome::AlreadyStored
    );

    assert_eq!(storage.run_results(&first.run_id).await.unwrap(), first.results);
    let stored = storage.get_run(&first.run_id).await.unwrap().unwrap();
    assert_eq!((stored.counts.pass, stored.counts.fail), (3, 1));
    assert_eq!(
        storage
            .list_runs(&host.id, PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );
}

async fn run_is_stored_whole_or_not_at_all(storage: Arc<dyn Storage>) {
    let host = agent(storage.as_ref(), "m-atomic", "atomic").await;
    let good = run(&host.id, NOW, results(2, 0));
    storage.store_run(&good).await.unwrap();

    // 1,500 results put the duplicate beyond SQLite's first multi-row INSERT, so earlier
    // rows of this run were already written inside the transaction when it fails.
    let mut bad = run(&host.id, NOW + Duration::hours(1), results(1_500, 0));
    bad.results.push(result("pass-3", Status::Fail));
    let err = storage
        .store_run(&bad)
        .await
        .expect_err("duplicate rule id must fail");
    assert!(err.is_constraint_violation(), "{err}");
    assert!(storage.get_run(&bad.run_id).await.unwrap().is_none());
    assert!(storage.run_results(&bad.run_id).await.unwrap().is_empty());
    assert_eq!(
        storage.latest_state(&host.id).await.unwrap().unwrap().run_id,
        good.run_id
    );

    let mut too_long = run(&host.id, NOW + Duration::hours(2), results(5, 0));
    too_long.results[4].title = "t".repeat(600);
    assert!(storage
        .store_run(&too_long)
        .await
        .expect_err("CHECK must fail")
        .is_constraint_violation());
    assert!(storage.get_run(&too_long.run_id).await.unwrap().is_none());

    let orphan = run("no-such-agent", NOW, results(1, 0));
    assert!(storage.store_run(&orphan).await.is_err());
    assert!(storage.get_run(&orphan.run_id).await.unwrap().is_none());

    // The failed run_id is not burnt: a corrected retry is stored.
    bad.results.pop();
    assert_eq!(storage.store_run(&bad).await.unwrap(), StoreOutcome::Stored);
    assert_eq!(storage.run_results(&bad.run_id).await.unwrap().len(), 1_500);
}

async fn policy_versions_are_immutable_numbered_and_activatable(storage: Arc<dyn Storage>) {
    let new_version = |policy_id: &str, os: &str, json: &str| NewPolicyVersion {
        policy_id: policy_id.into(),
        os: os.into(),
        yaml_source: format!("# {json}"),
        canonical_json: json.into(),
        author: "alice".into(),
        created_at: NOW,
    };
    let v1 = storage
        .create_policy_version(&new_version("lin", "linux", r#"{"v":1}"#))
        .await
        .unwrap();
    let v2 = storage
        .create_policy_version(&new_version("lin", "linux", r#"{"v":2}"#))
        .await
        .unwrap();
    let other = storage
        .create_policy_version(&new_version("win", "windows", r#"{"w":1}"#))
        .await
        .unwrap();
    assert_eq!(
        (v1.version, v2.version, other.version),
        (1, 2, 1),
        "numbering is per policy id"
    );
    use sha2::Digest;
    assert_eq!(v1.hash, hex::encode(sha2::Sha256::digest(br#"{"v":1}"#)));

    assert_eq!(
        storage.get_policy_version("lin", 1).await.unwrap().unwrap(),
        v1,
        "v1 unchanged by v2"
    );
    assert_eq!(
        storage
            .find_policy_version_by_hash("lin", &v2.hash)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    let listed: Vec<i64> = storage
        .list_policy_versions("lin")
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(listed, vec![2, 1]);

    let concurrent: Vec<_> = (0..8)
        .map(|i| {
            let storage = storage.clone();
            let version = new_version("busy", "linux", &format!("{{\"n\":{i}}}"));
            tokio::spawn(async move { storage.create_policy_version(&version).await.unwrap().version })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in concurrent {
        numbers.push(task.await.unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=8).collect::<Vec<i64>>());

    assert!(storage.active_policy("linux").await.unwrap().is_none());
    let missing = storage.activate_policy_version("lin", 9, NOW).await;
    assert!(matches!(missing, Err(StorageError::NotFound(_))), "{missing:?}");
    assert!(matches!(
        storage.activate_policy_version("nope", 1, NOW).await,
        Err(StorageError::NotFound(_))
    ));

    storage.activate_policy_version("lin", 1, NOW).await.unwrap();
    assert_eq!(storage.active_policy("linux").await.unwrap().unwrap(), v1);
    storage.activate_policy_version("lin", 2, NOW).await.unwrap();
    assert_eq!(storage.active_policy("linux").await.unwrap().unwrap().version, 2);
    storage.activate_policy_version("win", 1, NOW).await.unwrap();
    assert_eq!(
        storage.active_policy("windows").await.unwrap().unwrap().policy_id,
        "win"
    );

    let summaries = storage.list_policies().await.unwrap();
    let lin = summaries.iter().find(|p| p.policy_id == "lin").unwrap();
    assert_eq!((lin.latest_version, lin.active_version), (2, Some(2)));
    let busy = summaries.iter().find(|p| p.policy_id == "busy").unwrap();
    assert_eq!((busy.latest_version, busy.active_version), (8, None));
}

async fn host_listing_paginates_sorts_and_filters(storage: Arc<dyn Storage>) {
    // 12 hosts: web-00..web-07 (linux), DB-08..DB-11 (windows); even ones seen recently.
    for i in 0..12 {
        let name = if i < 8 {
            format!("web-{i:02}")
        } else {
            format!("DB-{i:02}")
        };
        let mut reg = registration(&format!("m-{i}"), &name);
        if i >= 8 {
            reg.os = "windows".into();
        }
        let seen = if i % 2 == 0 { NOW } else { NOW - Duration::hours(2) };
        let id = format!("agent-{i:02}");
        storage.enroll_agent(&id, &reg, seen).await.unwrap();
        if i < 3 {
            storage
                .store_run(&run(&id, NOW - Duration::hours(3), results(i, 3 - i)))
                .await
                .unwrap();
        }
    }
    storage
        .enroll_agent("agent-x", &registration("m-x", "odd%_name"), NOW)
        .await
        .unwrap();

    let online_since = NOW - Duration::minutes(30);
    let mut query = HostQuery::new(online_since);
    query.page = PageRequest::new(1, 5);
    let first = storage.list_hosts(&query).await.unwrap();
    assert_eq!(first.total, 13);
    assert_eq!(first.items.len(), 5);
    query.page = PageRequest::new(3, 5);
    let last = storage.list_hosts(&query).await.unwrap();
    assert_eq!(last.items.len(), 3);

    query.page = PageRequest::new(1, 10_000);
    assert_eq!(query.page.per_page, MAX_PER_PAGE);
    let names = |page: &Page<HostSummary>| {
        page.items
            .iter()
            .map(|h| h.agent.hostname.clone())
            .collect::<Vec<_>>()
    };
    let all = names(&storage.list_hosts(&query).await.unwrap());
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "default sort is hostname ascending");

    query.direction = SortDirection::Descending;
    let descending = names(&storage.list_hosts(&query).await.unwrap());
    assert_eq!(descending.first().map(String::as_str), Some("web-07"));

    query.search = Some("db-".into());
    let found = storage.list_hosts(&query).await.unwrap();
    assert_eq!(found.total, 4, "search is case-insensitive");
    query.search = Some("%".into());
    assert_eq!(
        names(&storage.list_hosts(&query).await.unwrap()),
        vec!["odd%_name"],
        "wildcards are literal"
    );
    query.search = None;

    query.os = Some("windows".into());
    assert_eq!(storage.list_hosts(&query).await.unwrap().total, 4);
    query.os = None;

    query.online = Some(OnlineFilter::Online);
    let online = storage.list_hosts(&query).await.unwrap();
    assert_eq!(online.total, 7, "the even hosts and agent-x");
    query.online = Some(OnlineFilter::Offline);
    assert_eq!(storage.list_hosts(&query).await.unwrap().total, 6);
    query.online = None;

    query.sort = HostSort::Score;
    query.direction = SortDirection::Ascending;
    let by_score = storage.list_hosts(&query).await.unwrap();
    let scores: Vec<Option<f64>> = by_score
        .items
        .iter()
        .map(|h| h.latest.as_ref().map(|l| l.counts.score))
        .collect();
    assert_eq!(&scores[..3], &[Some(0.0), Some(33.3), Some(66.7)]);
    assert!(
        scores[3..].iter().all(Option::is_none),
        "hosts without runs sort last"
    );
    assert_eq!(HostSort::parse("score; DROP TABLE agents"), None);
}

async fn latest_state_follows_the_newest_run(storage: Arc<dyn Storage>) {
    let host = agent(storage.as_ref(), "m-latest", "latest").await;
    assert!(storage.latest_state(&host.id).await.unwrap().is_none());
    let older = run(&host.id, NOW, results(1, 1));
    let newest = run(&host.id, NOW + Duration::hours(2), results(4, 0));
    let late_middle = run(&host.id, NOW + Duration::hours(1), results(0, 4));
    for r in [&older, &newest, &late_middle] {
        storage.store_run(r).await.unwrap();
    }
    let latest = storage.latest_state(&host.id).await.unwrap().unwrap();
    assert_eq!(
        latest.run_id, newest.run_id,
        "a late older run does not replace the latest"
    );
    assert_eq!(
        (latest.counts.pass, latest.counts.fail, latest.counts.score),
        (4, 0, 100.0)
    );
    assert_eq!(latest.finished_at, newest.finished_at);

    let runs = storage.list_runs(&host.id, PageRequest::default()).await.unwrap();
    let order: Vec<&str> = runs.items.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(order, vec![&newest.run_id, &late_middle.run_id, &older.run_id]);

    let agent = storage.get_agent(&host.id).await.unwrap().unwrap();
    assert_eq!(agent.last_seen, newest.received_at, "a run counts as being seen");

    let failing = agent_with_run(storage.as_ref(), "m-fail", results(1, 1)).await;
    let summary = storage.fleet_summary(NOW - Duration::minutes(5)).await.unwrap();
    assert_eq!((summary.agents, summary.reporting, summary.compliant), (2, 2, 1));
    assert_eq!(summary.average_score, 75.0);
    assert!(storage
        .touch_agent(&failing, "0.3.0", NOW + Duration::days(1))
        .await
        .unwrap());
    assert!(!storage.touch_agent("ghost", "0.3.0", NOW).await.unwrap());
    let summary = storage.fleet_summary(NOW + Duration::hours(12)).await.unwrap();
    assert_eq!(summary.online, 1);
}

async fn agent_with_run(storage: &dyn Storage, machine_id: &str, results: Vec<RuleResult>) -> String {
    let host = agent(storage, machine_id, machine_id).await;
    storage.store_run(&run(&host.id, NOW, results)).await.unwrap();
    host.id
}

async fn concurrent_runs_are_all_stored(storage: Arc<dyn Storage>) {
    let hosts: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(agent(storage.as_ref(), &format!("m-conc-{i}"), "conc").await.id);
        }
        ids
    };
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let storage = storage.clone();
            let agent_id = hosts[i % hosts.len()].clone();
            tokio::spawn(async move {
                let r = run(&agent_id, NOW + Duration::seconds(i as i64), results(20, 5));
                // Submitting each run twice concurrently must still store it once.
                let (a, b) = tokio::join!(storage.store_run(&r), storage.store_run(&r));
                let mut outcomes = [a.unwrap(), b.unwrap()];
                outcomes.sort_by_key(|o| *o == StoreOutcome::AlreadyStored);
                assert_eq!(outcomes, [StoreOutcome::Stored, StoreOutcome::AlreadyStored]);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut total_runs = 0;
    for host in &hosts {
        total_runs += storage
            .list_runs(host, PageRequest::default())
            .await
            .unwrap()
            .total;
    }
    assert_eq!(total_runs, 50);
}

async fn audit_log_appends_and_lists_newest_first(storage: Arc<dyn Storage>) {
    for i in 0..3 {
        let entry = NewAuditEntry {
            at: NOW + Duration::seconds(i),
            actor: "cli".into(),
            action: "token.create".into(),
            target: format!("token-{i}"),
            detail: serde_json::json!({"uses": i, "label": "rack \"A\""}),
        };
        storage.append_audit(&entry).await.unwrap();
    }
    let page = storage.list_audit(PageRequest::new(1, 2)).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(
        page.items.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
        vec!["token-2", "token-1"]
    );
    assert_eq!(
        page.items[0].detail,
        serde_json::json!({"uses": 2, "label": "rack \"A\""})
    );
    assert_eq!(page.items[0].at, NOW + Duration::seconds(2));
    let rest = storage.list_audit(PageRequest::new(2, 2)).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.items[0].id < page.items[1].id);
}

async fn retention_purges_old_runs_but_keeps_latest(storage: Arc<dyn Storage>) {
    let busy = agent(storage.as_ref(), "m-ret", "ret").await;
    let quiet = agent(storage.as_ref(), "m-quiet", "quiet").await;
    let old_runs: Vec<NewRun> = (0..3)
        .map(|d| run(&busy.id, NOW - Duration::days(100 + d), results(2, 1)))
        .collect();
    for r in &old_runs {
        storage.store_run(r).await.unwrap();
    }
    let recent = run(&busy.id, NOW - Duration::days(1), results(3, 0));
    storage.store_run(&recent).await.unwrap();
    let only_run_of_quiet = run(&quiet.id, NOW - Duration::days(200), results(1, 0));
    storage.store_run(&only_run_of_quiet).await.unwrap();

    let deleted = storage.purge_runs_before(NOW - Duration::days(90)).await.unwrap();
    assert_eq!(deleted, 3);
    for r in &old_runs {
        assert!(storage.get_run(&r.run_id).await.unwrap().is_none());
        assert!(
            storage.run_results(&r.run_id).await.unwrap().is_empty(),
            "results go with their run"
        );
    }
    assert!(storage.get_run(&recent.run_id).await.unwrap().is_some());
    assert!(
        storage
            .get_run(&only_run_of_quiet.run_id)
            .await
            .unwrap()
            .is_some(),
        "latest runs are kept"
    );
    assert_eq!(
        storage
            .run_results(&only_run_of_quiet.run_id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        storage.purge_runs_before(NOW - Duration::days(90)).await.unwrap(),
        0
    );
}

async fn maintenance_applies_the_retention_setting(storage: Arc<dyn Storage>) {
    let host = agent(storage.as_ref(), "m-maint", "maint").await;
    let old = run(&host.id, NOW - Duration::days(40), results(1, 1));
    let recent = run(&host.id, NOW - Duration::days(10), results(2, 0));
    storage.store_run(&old).await.unwrap();
    storage.store_run(&recent).await.unwrap();
    // With the default 90 days both stay.
    let purged = vt_server::maintenance::run_once(storage.as_ref(), NOW)
        .await
        .unwrap();
    assert_eq!(purged.runs, 0);
    let mut settings = ServerSettings::load(storage.as_ref()).await.unwrap();
    settings.retention_days = 30;
    settings.save(storage.as_ref(), NOW).await.unwrap();
    let purged = vt_server::maintenance::run_once(storage.as_ref(), NOW)
        .await
        .unwrap();
    assert_eq!(purged.runs, 1);
    assert!(storage.get_run(&old.run_id).await.unwrap().is_none());
    assert!(storage.get_run(&recent.run_id).await.unwrap().is_some());
}

async fn certificates_are_recorded_and_revoked(storage: Arc<dyn Storage>) {
    let host = agent(storage.as_ref(), "m-cert", "cert").await;
    let certificate = |serial: &str, not_after: OffsetDateTime| CertificateRecord {
        serial: serial.into(),
        agent_id: host.id.clone(),
        not_before: NOW - Duration::hours(1),
        not_after,
        revoked_at: None,
        reason: None,
    };
    storage
        .record_certificate(&certificate("01aa", NOW + Duration::hours(23)))
        .await
        .unwrap();
    storage
        .record_certificate(&certificate("02bb", NOW + Duration::hours(23)))
        .await
        .unwrap();
    storage
        .record_certificate(&certificate("03cc", NOW + Duration::hours(23)))
        .await
        .unwrap();
    storage
        .record_certificate(&certificate("04dd", NOW - Duration::minutes(1)))
        .await
        .unwrap();
    assert!(
        storage
            .record_certificate(&certificate("01aa", NOW))
            .await
            .is_err(),
        "serials are unique"
    );

    assert!(storage
        .revoke_certificate("01aa", "key_compromise", NOW)
        .await
        .unwrap());
    assert!(!storage
        .revoke_certificate("01aa", "superseded", NOW)
        .await
        .unwrap());
    assert!(!storage
        .revoke_certificate("ffff", "superseded", NOW)
        .await
        .unwrap());
    let stored = storage.get_certificate("01aa").await.unwrap().unwrap();
    assert_eq!(
        (stored.revoked_at, stored.reason.as_deref()),
        (Some(NOW), Some("key_compromise"))
    );

    assert_eq!(
        storage
            .revoke_agent_certificates(&host.id, "agent_revoked", NOW)
            .await
            .unwrap(),
        3
    );
    let revoked: Vec<String> = storage
        .list_revoked_certificates(NOW)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.serial)
        .collect();
    assert_eq!(
        revoked,
        vec!["01aa", "02bb", "03cc"],
        "expired certificates leave the CRL"
    );
}

async fn settings_and_api_keys_round_trip(storage: Arc<dyn Storage>) {
    assert_eq!(storage.get_setting("audit_interval_seconds").await.unwrap(), None);
    storage
        .set_setting("audit_interval_seconds", "3600", NOW)
        .await
        .unwrap();
    storage
        .set_setting("audit_interval_seconds", "900", NOW)
        .await
        .unwrap();
    assert_eq!(
        storage
            .get_setting("audit_interval_seconds")
            .await
            .unwrap()
            .as_deref(),
        Some("900")
    );

    let key = NewApiKey {
        id: "key-1".into(),
        key_hash: "c0ffee".into(),
        role: ApiRole::Auditor,
        label: "ci".into(),
        created_at: NOW,
    };
    storage.create_api_key(&key).await.unwrap();
    let found = storage.find_api_key("c0ffee").await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.role), ("key-1", ApiRole::Auditor));
    assert!(storage.find_api_key("other").await.unwrap().is_none());
    storage.ping().await.unwrap();
}

async fn fleet_by_os_counts_agents_and_latest_results(storage: Arc<dyn Storage>) {
    assert!(storage.fleet_by_os(NOW).await.unwrap().is_empty());
    // linux: two agents with runs (one seen long ago), windows: one agent without runs.
    let first = agent_with_run(storage.as_ref(), "m-os-1", results(3, 1)).await;
    let second = agent(storage.as_ref(), "m-os-2", "old").await;
    storage
        .store_run(&run(&second.id, NOW - Duration::days(3), results(1, 2)))
        .await
        .unwrap();
    // A newer run replaces the first agent's latest state: only it is counted.
    storage
        .store_run(&run(&first, NOW + Duration::minutes(1), results(4, 0)))
        .await
        .unwrap();
    let mut reg = registration("m-os-3", "win");
    reg.os = "windows".into();
    storage
        .enroll_agent("win-1", &reg, NOW - Duration::days(3))
        .await
        .unwrap();

    let by_os = storage.fleet_by_os(NOW - Duration::minutes(5)).await.unwrap();
    assert_eq!(
        by_os,
        vec![
            OsBreakdown {
                os: "linux".into(),
                agents: 2,
                online: 2,
                reporting: 2,
                pass: 5,
                fail: 2,
                error: 0,
                not_applicable: 0,
            },
            OsBreakdown {
                os: "windows".into(),
                agents: 1,
                online: 0,
                reporting: 0,
                ..OsBreakdown::default()
            },
        ]
    );
}

async fn server_settings_default_validate_and_persist(storage: Arc<dyn Storage>) {
    let defaults = ServerSettings::load(storage.as_ref()).await.unwrap();
    assert_eq!(defaults, ServerSettings::default());
    assert_eq!(defaults.online_window(), Duration::seconds(2 * 3_600 + 300));

    let bad_jitter = ServerSettings {
        audit_interval_seconds: 600,
        jitter_seconds: 601,
        retention_days: 30,
    };
    assert_eq!(bad_jitter.validate().unwrap_err().field, SETTING_JITTER);
    let too_short = ServerSettings {
        audit_interval_seconds: 59,
        ..bad_jitter
    };
    assert_eq!(too_short.validate().unwrap_err().field, SETTING_AUDIT_INTERVAL);

    let chosen = ServerSettings {
        audit_interval_seconds: 600,
        jitter_seconds: 60,
        retention_days: 30,
    };
    chosen.validate().unwrap();
    chosen.save(storage.as_ref(), NOW).await.unwrap();
    assert_eq!(ServerSettings::load(storage.as_ref()).await.unwrap(), chosen);
    assert_eq!(chosen.online_since(NOW), NOW - Duration::seconds(1_260));

    storage
        .set_setting(SETTING_RETENTION_DAYS, "lots", NOW)
        .await
        .unwrap();
    assert!(matches!(
        ServerSettings::load(storage.as_ref()).await,
        Err(StorageError::Corrupt { .. })
    ));
}

async fn agents_are_found_by_machine_id_and_keep_their_reported_status(storage: Arc<dyn Storage>) {
    assert!(storage
        .find_agent_by_machine_id("m-none")
        .await
        .unwrap()
        .is_none());
    let enrolled = agent(storage.as_ref(), "m-status", "status-host").await;
    assert_eq!(
        enrolled.reported_status, None,
        "nothing reported before a heartbeat"
    );
    let found = storage
        .find_agent_by_machine_id("m-status")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, enrolled);

    let later = NOW + Duration::minutes(5);
    assert!(storage
        .record_heartbeat(&enrolled.id, "0.4.0", Some("auditing"), later)
        .await
        .unwrap());
    let beat = storage.get_agent(&enrolled.id).await.unwrap().unwrap();
    assert_eq!(
        (
            beat.reported_status.as_deref(),
            beat.agent_version.as_str(),
            beat.last_seen
        ),
        (Some("auditing"), "0.4.0", later)
    );
    // last_seen never moves back; the status is whatever was said last.
    assert!(storage
        .record_heartbeat(&enrolled.id, "0.4.0", None, NOW)
        .await
        .unwrap());
    let beat = storage.get_agent(&enrolled.id).await.unwrap().unwrap();
    assert_eq!((beat.reported_status, beat.last_seen), (None, later));
    assert!(!storage
        .record_heartbeat("ghost", "0.4.0", Some("idle"), NOW)
        .await
        .unwrap());

    // Re-enrollment, host listings and the by-machine lookup all carry it.
    storage
        .record_heartbeat(&enrolled.id, "0.4.0", Some("idle"), later)
        .await
        .unwrap();
    let again = storage
        .enroll_agent("unused", &registration("m-status", "renamed"), later)
        .await
        .unwrap();
    assert_eq!(again.agent.reported_status.as_deref(), Some("idle"));
    let hosts = storage.list_hosts(&HostQuery::new(NOW)).await.unwrap();
    assert_eq!(hosts.items[0].agent.reported_status.as_deref(), Some("idle"));
    storage
        .set_agent_status(&enrolled.id, AgentStatus::Revoked)
        .await
        .unwrap();
    let revoked = storage
        .find_agent_by_machine_id("m-status")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((revoked.id, revoked.status), (enrolled.id, AgentStatus::Revoked));
}

fn new_user(username: &str, role: ApiRole, password: &str) -> NewUser {
    NewUser {
        id: uuid::Uuid::new_v4().to_string(),
        username: username.into(),
        display_name: format!("{username} (test)"),
        role,
        password_hash: vt_server::passwords::hash_password(password).unwrap(),
        created_at: NOW,
    }
}

async fn users_are_unique_ignoring_case_and_passwords_verify(storage: Arc<dyn Storage>) {
    use vt_server::passwords::{check_login, verify_password};

    assert!(storage.list_users().await.unwrap().is_empty());
    assert!(storage.find_user_by_username("alice").await.unwrap().is_none());
    let alice = new_user("Alice", ApiRole::Admin, "alice's long password");
    let UserCreation::Created(created) = storage.create_user(&alice).await.unwrap() else {
        panic!("alice is new");
    };
    assert_eq!(
        (
            created.id.as_str(),
            created.username.as_str(),
            created.display_name.as_str(),
            created.role,
            created.created_at,
            created.disabled
        ),
        (
            alice.id.as_str(),
            "Alice",
            "Alice (test)",
            ApiRole::Admin,
            NOW,
            false
        )
    );
    assert_eq!(created.password_hash, alice.password_hash);

    // The name is unique ignoring case, and the refused insert writes nothing.
    let shadow = new_user("ALICE", ApiRole::Viewer, "another long password");
    assert_eq!(
        storage.create_user(&shadow).await.unwrap(),
        UserCreation::UsernameTaken
    );
    assert!(storage.get_user(&shadow.id).await.unwrap().is_none());

    for spelling in ["alice", "ALICE", "aLiCe"] {
        let found = storage.find_user_by_username(spelling).await.unwrap().unwrap();
        assert_eq!(found, created, "{spelling}");
    }
    assert!(storage.find_user_by_username("alic").await.unwrap().is_none());
    assert!(storage.find_user_by_username("alice%").await.unwrap().is_none());
    assert_eq!(storage.get_user(&alice.id).await.unwrap(), Some(created.clone()));
    assert!(storage.get_user("nobody").await.unwrap().is_none());

    let found = storage.find_user_by_username("alice").await.unwrap();
    assert!(verify_password("alice's long password", &created.password_hash));
    assert_eq!(
        check_login(found.as_ref(), "alice's long password").map(|u| u.id.as_str()),
        Some(alice.id.as_str())
    );
    assert!(check_login(found.as_ref(), "alice's long passworD").is_none());

    // Concurrent creations of one name (different case) from several instances: one wins.
    let racers: Vec<_> = ["bob", "Bob", "BOB", "boB"]
        .into_iter()
        .map(|name| {
            let storage = storage.clone();
            let user = new_user(name, ApiRole::Auditor, "bob's long password");
            tokio::spawn(async move { storage.create_user(&user).await.unwrap() })
        })
        .collect();
    let mut created_bobs = 0;
    for racer in racers {
        created_bobs += usize::from(matches!(racer.await.unwrap(), UserCreation::Created(_)));
    }
    assert_eq!(created_bobs, 1);

    storage
        .create_user(&new_user("carol", ApiRole::Viewer, "carol's long password"))
        .await
        .unwrap();
    let names: Vec<String> = storage
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username.to_lowercase())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
}

async fn pool_stats_describe_the_connection_pools(storage: Arc<dyn Storage>) {
    storage.ping().await.unwrap();
    let stats = storage.pool_stats();
    assert!(stats.size >= 1, "{stats:?}");
    assert!(stats.idle <= stats.size, "{stats:?}");
    assert!(stats.size <= stats.max, "{stats:?}");
    assert_eq!(stats.in_use(), stats.size - stats.idle);
    // SQLite: 4 readers + the writer; PostgreSQL: one pool of 16.
    assert!([5, 16].contains(&stats.max), "{stats:?}");
    // Nothing is running now, so every open connection is idle (connections return to
    // the pool asynchronously: allow a moment).
    for _ in 0..50 {
        if storage.pool_stats().in_use() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(storage.pool_stats().in_use(), 0, "{:?}", storage.pool_stats());
}

// ---- upgrades ---------------------------------------------------------------------------

/// A database created by the first release (migration 0001 only) upgrades in place: the
/// agent it holds gets `reported_status` NULL and the users table appears.
#[tokio::test]
async fn sqlite_database_from_0001_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("vt.db").display());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
        .await
        .unwrap();
    first_release_migrator("sqlite").await.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO agents (id, machine_id, hostname, os, os_version, arch, agent_version, enrolled_at, \
         last_seen) VALUES ('old', 'm-old', 'h', 'linux', '12', 'x86_64', '0.1.0', 0, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let storage = SqliteStorage::open(&url).await.unwrap();
    check_upgraded(&storage).await;
    storage.close().await;
}

#[tokio::test]
async fn postgres_database_from_0001_upgrades_in_place() {
    let Ok(url) = std::env::var("VT_TEST_DATABASE_URL") else {
        eprintln!("skipped: VT_TEST_DATABASE_URL not set");
        return;
    };
    let schema = format!("vt_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let pool = sqlx::PgPool::connect_with(options.options([("search_path", schema.as_str())]))
        .await
        .unwrap();
    first_release_migrator("postgres").await.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO agents (id, machine_id, hostname, os, os_version, arch, agent_version, enrolled_at, \
         last_seen) VALUES ('old', 'm-old', 'h', 'linux', '12', 'x86_64', '0.1.0', now(), now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let storage = PostgresStorage::open_in_schema(&url, Some(&schema))
        .await
        .unwrap();
    check_upgraded(&storage).await;
    storage.close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

/// A migrator with only the first release's migration, read from the real file so its
/// checksum matches what the full migrator expects.
async fn first_release_migrator(flavour: &str) -> sqlx::migrate::Migrator {
    let dir = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(flavour)
        .join("0001_initial.sql");
    std::fs::copy(&source, dir.path().join("0001_initial.sql")).unwrap();
    sqlx::migrate::Migrator::new(dir.path()).await.unwrap()
}

async fn check_upgraded(storage: &dyn Storage) {
    let old = storage.get_agent("old").await.unwrap().unwrap();
    assert_eq!((old.status, old.reported_status), (AgentStatus::Active, None));
    assert!(storage.list_users().await.unwrap().is_empty());
}
