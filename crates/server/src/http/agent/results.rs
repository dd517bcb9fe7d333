//! `POST /agent/v1/results`: one audit run, gzip allowed, strictly validated, idempotent
//! by `run_id` (a retry is acknowledged with `duplicate: true` and stores nothing).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use time::OffsetDateTime;
use vt_wire::{ResultsAck, ResultsSubmission};

use super::AgentState;
use crate::http::body;
use crate::http::error::{HttpError, HttpResult};
use crate::http::identity::AgentIdentity;
use crate::http::observe;
use crate::storage::{NewRun, StoreOutcome};

pub async fn submit(
    State(state): State<AgentState>,
    identity: AgentIdentity,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Json<ResultsAck>> {
    let submission: ResultsSubmission = body::json(&headers, body, &body::RESULTS).await?;
    submission.validate().map_err(|e| HttpError::from(&e))?;
    let started_at = submission.started_at_time().map_err(|e| HttpError::from(&e))?;
    let finished_at = submission.finished_at_time().map_err(|e| HttpError::from(&e))?;
    let policy_version = state
        .storage
        .find_policy_version_by_hash(&submission.policy_id, &submission.policy_hash)
        .await?
        .map(|v| v.version);
    let result_count = submission.results.len();
    let run_id = submission.run_id.clone();
    let outcome = state
        .storage
        .store_run(&NewRun {
            run_id: run_id.clone(),
            agent_id: identity.agent.id.clone(),
            policy_id: submission.policy_id,
            policy_version,
            policy_hash: submission.policy_hash,
            started_at,
            finished_at,
            received_at: OffsetDateTime::now_utc(),
            results: submission.results,
        })
        .await?;
    let duplicate = match outcome {
        StoreOutcome::Stored => {
            observe::count_ingest(result_count);
            false
        }
        StoreOutcome::AlreadyStored => {
            // A run id is the agent's own; another agent reusing it is a bug or a probe,
            // not a retry.
            let owner = state.storage.get_run(&run_id).await?.map(|r| r.agent_id);
            if owner.as_deref() != Some(identity.agent.id.as_str()) {
                return Err(HttpError::new(
                    StatusCode::CONFLICT,
                    "run_id_conflict",
                    "this run_id belongs to another agent",
                ));
            }
            observe::count_duplicate_run();
            true
        }
    };
    Ok(Json(ResultsAck { run_id, duplicate }))
}
