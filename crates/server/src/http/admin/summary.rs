//! `GET /summary`: fleet-wide numbers for the dashboard's first screen.
//!
//! Everything comes from `agents` joined with `agent_latest` (two aggregate queries,
//! O(agents)). A breakdown by severity is not offered: it would need the check results of
//! every host's latest run (O(agents × rules)), which is not cheap at fleet scale.

use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;

use super::auth::{Authorized, Read};
use super::error::ApiResult;
use super::Ctx;
use crate::storage::ServerSettings;

#[derive(Debug, Serialize, PartialEq)]
pub struct ResultTotals {
    pub pass: i64,
    pub fail: i64,
    pub error: i64,
    pub not_applicable: i64,
}

#[derive(Debug, Serialize)]
pub struct OsView {
    pub os: String,
    pub hosts: i64,
    pub online: i64,
    pub offline: i64,
    pub reporting: i64,
    pub results: ResultTotals,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub hosts: i64,
    pub online: i64,
    pub offline: i64,
    pub revoked: i64,
    /// Hosts with at least one run.
    pub reporting: i64,
    /// Reporting hosts whose latest run has no failure and no error.
    pub compliant: i64,
    /// Mean of the reporting hosts' latest scores, one decimal; 100 when none report.
    pub compliance_score: f64,
    /// Totals over every host's latest run.
    pub results: ResultTotals,
    pub by_os: Vec<OsView>,
    /// The window used for online/offline, from the settings.
    pub online_window_seconds: i64,
}

/// `GET /summary`.
pub async fn show(_auth: Authorized<Read>, State(ctx): State<Ctx>) -> ApiResult<axum::Json<Summary>> {
    let settings = ServerSettings::load(ctx.storage.as_ref()).await?;
    let online_since = settings.online_since(OffsetDateTime::now_utc());
    let fleet = ctx.storage.fleet_summary(online_since).await?;
    let by_os = ctx.storage.fleet_by_os(online_since).await?;
    let mut totals = ResultTotals {
        pass: 0,
        fail: 0,
        error: 0,
        not_applicable: 0,
    };
    let by_os = by_os
        .into_iter()
        .map(|os| {
            totals.pass += os.pass;
            totals.fail += os.fail;
            totals.error += os.error;
            totals.not_applicable += os.not_applicable;
            OsView {
                offline: os.agents - os.online,
                hosts: os.agents,
                online: os.online,
                reporting: os.reporting,
                results: ResultTotals {
                    pass: os.pass,
                    fail: os.fail,
                    error: os.error,
                    not_applicable: os.not_applicable,
                },
                os: os.os,
            }
        })
        .collect();
    Ok(axum::Json(Summary {
        hosts: fleet.agents,
        online: fleet.online,
        offline: fleet.agents - fleet.online,
        revoked: fleet.revoked,
        reporting: fleet.reporting,
        compliant: fleet.compliant,
        compliance_score: (fleet.average_score * 10.0).round() / 10.0,
        results: totals,
        by_os,
        online_window_seconds: settings.online_window().whole_seconds(),
    }))
}
