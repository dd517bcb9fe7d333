//! Ingest throughput of `Storage::store_run`: 1,000 runs × 100 results from 1,000 agents,
//! submitted by concurrent tasks as the agent API would. Prints figures; asserts nothing.
//!
//!   cargo run --release -p vt-server --example ingest_bench
//!   VT_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release ...

use std::sync::Arc;
use std::time::Instant;

use time::OffsetDateTime;
use vt_policy::{RuleResult, Severity, Status};
use vt_server::storage::*;

const AGENTS: usize = 1_000;
const RESULTS_PER_RUN: usize = 100;
const CONCURRENCY: usize = 16;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sqlite_url = format!("sqlite:{}", dir.path().join("bench.db").display());
    let sqlite: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&sqlite_url).await?);
    measure("sqlite", sqlite).await?;

    match std::env::var("VT_TEST_DATABASE_URL") {
        Ok(url) => {
            let schema = format!("vt_bench_{}", uuid::Uuid::new_v4().simple());
            let postgres: Arc<dyn Storage> =
                Arc::new(PostgresStorage::open_in_schema(&url, Some(&schema)).await?);
            let outcome = measure("postgres", postgres.clone()).await;
            postgres.close().await;
            let pool = sqlx::PgPool::connect(&url).await?;
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&pool)
                .await?;
            outcome?;
        }
        Err(_) => println!("postgres: skipped: VT_TEST_DATABASE_URL not set"),
    }
    Ok(())
}

async fn measure(name: &str, storage: Arc<dyn Storage>) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    let mut agent_ids = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        let registration = AgentRegistration {
            machine_id: format!("bench-{i}"),
            hostname: format!("host-{i:04}"),
            os: "linux".into(),
            os_version: "12".into(),
            arch: "x86_64".into(),
            agent_version: "0.1.0".into(),
        };
        let id = uuid::Uuid::new_v4().to_string();
        agent_ids.push(storage.enroll_agent(&id, &registration, now).await?.agent.id);
    }
    let runs: Vec<NewRun> = agent_ids
        .iter()
        .map(|agent_id| bench_run(agent_id, now))
        .collect();
    let queue = Arc::new(tokio::sync::Mutex::new(runs));

    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let storage = storage.clone();
            let queue = queue.clone();
            tokio::spawn(async move {
                loop {
                    let Some(run) = queue.lock().await.pop() else {
                        return Ok::<_, StorageError>(());
                    };
                    storage.store_run(&run).await?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let results = (AGENTS * RESULTS_PER_RUN) as f64;
    println!(
        "{name}: {AGENTS} runs x {RESULTS_PER_RUN} results in {seconds:.2} s = {:.0} results/s, {:.0} runs/s \
         ({CONCURRENCY} concurrent writers)",
        results / seconds,
        AGENTS as f64 / seconds
    );
    storage.close().await;
    Ok(())
}

fn bench_run(agent_id: &str, now: OffsetDateTime) -> NewRun {
    let results = (0..RESULTS_PER_RUN)
        .map(|i| RuleResult {
            rule_id: format!("rule-{i:03}"),
            title: format!("Benchmark rule number {i}"),
            severity: Severity::Medium,
            status: if i % 5 == 0 { Status::Fail } else { Status::Pass },
            expected: "equals \"no\"".into(),
            observed: "no".into(),
            reason: String::new(),
            fix: "Set the value to no in /etc/example.conf".into(),
            duration_ms: 2,
        })
        .collect();
    NewRun {
        run_id: uuid::Uuid::new_v4().to_string(),
        agent_id: agent_id.into(),
        policy_id: "linux-baseline".into(),
        policy_version: Some(1),
        policy_hash: "ab".repeat(32),
        started_at: now,
        finished_at: now,
        received_at: now,
        results,
    }
}
