//! Submission phase: each agent sends its runs one after the other over its own kept-alive
//! mutual-TLS connection; `concurrency` agents are active at a time.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use tokio::time::Instant;
use vt_wire::ResultsAck;

use crate::enroll::{snippet, SimAgent};
use crate::{pool, Latencies};

pub struct Plan {
    pub server: String,
    pub results_per_run: u32,
    pub runs_per_agent: u32,
    pub concurrency: u32,
}

pub struct Submitted {
    pub runs_ok: u64,
    /// Failed runs, plus runs never attempted because the deadline passed.
    pub runs_failed: u64,
    pub results_ok: u64,
    pub latencies: Latencies,
    pub errors: Vec<String>,
}

struct AgentOutcome {
    latencies: Vec<Duration>,
    results_ok: u64,
    failed: u64,
    errors: Vec<String>,
}

pub async fn submit_all(agents: Vec<SimAgent>, plan: &Plan, deadline: Instant) -> Submitted {
    let url: Arc<str> = format!("{}/agent/v1/results", plan.server).into();
    let (results_per_run, runs) = (plan.results_per_run, plan.runs_per_agent);
    let count = agents.len();
    let agents = Arc::new(agents);
    let (outcomes, not_started) = pool::run(
        count,
        usize::try_from(plan.concurrency).unwrap_or(usize::MAX),
        deadline,
        move |i| {
            let agents = Arc::clone(&agents);
            let url = Arc::clone(&url);
            async move { submit_agent(&agents[i], &url, results_per_run, runs, deadline).await }
        },
    )
    .await;

    let mut latencies = Vec::with_capacity(count * runs as usize);
    let mut submitted = Submitted {
        runs_ok: 0,
        runs_failed: not_started as u64 * u64::from(runs),
        results_ok: 0,
        latencies: Latencies::default(),
        errors: Vec::new(),
    };
    for outcome in outcomes {
        submitted.runs_ok += outcome.latencies.len() as u64;
        submitted.runs_failed += outcome.failed;
        submitted.results_ok += outcome.results_ok;
        latencies.extend(outcome.latencies);
        for err in outcome.errors {
            if submitted.errors.len() < crate::KEPT_ERRORS {
                submitted.errors.push(err);
            }
        }
    }
    submitted.latencies = Latencies::new(latencies);
    submitted
}

async fn submit_agent(
    agent: &SimAgent,
    url: &str,
    results: u32,
    runs: u32,
    deadline: Instant,
) -> AgentOutcome {
    let mut outcome = AgentOutcome {
        latencies: Vec::with_capacity(runs as usize),
        results_ok: 0,
        failed: 0,
        errors: Vec::new(),
    };
    for run in 0..runs {
        if Instant::now() >= deadline {
            outcome.failed += u64::from(runs - run);
            outcome
                .errors
                .push(format!("agent {}: duration limit reached", agent.index));
            break;
        }
        // Built outside the timed section: the agent serialises its run before sending.
        let submission = crate::payload::submission(agent.index, run, results);
        let body = match serde_json::to_vec(&submission) {
            Ok(body) => body,
            Err(err) => {
                outcome.failed += 1;
                outcome.errors.push(format!("serialising a run: {err}"));
                continue;
            }
        };
        let started = Instant::now();
        let sent =
            tokio::time::timeout_at(deadline, submit_one(&agent.client, url, body, &submission.run_id)).await;
        match sent {
            Ok(Ok(())) => {
                outcome.latencies.push(started.elapsed());
                outcome.results_ok += u64::from(results);
            }
            Ok(Err(err)) => {
                outcome.failed += 1;
                outcome.errors.push(format!(
                    "submit: agent {} ({}): {err:#}",
                    agent.index, agent.agent_id
                ));
            }
            Err(_) => {
                outcome.failed += 1;
                outcome
                    .errors
                    .push(format!("agent {}: duration limit reached", agent.index));
            }
        }
    }
    outcome
}

async fn submit_one(client: &reqwest::Client, url: &str, body: Vec<u8>, run_id: &str) -> anyhow::Result<()> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .context("POST /agent/v1/results")?;
    let status = response.status();
    let bytes = response.bytes().await.context("reading the acknowledgement")?;
    if !status.is_success() {
        bail!("HTTP {status}: {}", snippet(&bytes));
    }
    let ack: ResultsAck = serde_json::from_slice(&bytes).context("unexpected acknowledgement")?;
    ensure!(
        ack.run_id == run_id,
        "acknowledged run {} instead of {run_id}",
        ack.run_id
    );
    ensure!(!ack.duplicate, "run {run_id} acknowledged as a duplicate");
    Ok(())
}
