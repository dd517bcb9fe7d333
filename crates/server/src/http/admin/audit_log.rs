//! `GET /audit-log`: who changed what, newest first. Auditors and admins only: the trail
//! of administrative actions is itself sensitive.

use axum::extract::State;
use serde::Serialize;

use super::auth::{Audit, Authorized};
use super::error::{ApiResult, Query};
use super::pagination::{ListParams, Paginated};
use super::{timestamp, Ctx};
use crate::storage::{AuditEntry, SortDirection};

#[derive(Debug, Serialize)]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    /// `apikey:<id>`, `user:<id>` or `cli`.
    pub actor: String,
    /// Dotted: `agent.revoke`, `policy.activate`, `token.create`...
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditView {
    fn from(entry: AuditEntry) -> Self {
        Self {
            id: entry.id,
            at: timestamp(entry.at),
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            detail: entry.detail,
        }
    }
}

/// `GET /audit-log` (auditor, admin).
pub async fn list(
    _auth: Authorized<Audit>,
    State(ctx): State<Ctx>,
    Query(params): Query<ListParams>,
) -> ApiResult<axum::Json<Paginated<AuditView>>> {
    let page = params.page()?;
    params.fixed_order("at", SortDirection::Descending)?;
    let entries = ctx.storage.list_audit(page).await?;
    Ok(axum::Json(Paginated::from_page(entries, AuditView::from)))
}
