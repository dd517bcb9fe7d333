use serde::{Deserialize, Serialize};

use crate::error::check;
use crate::limits::MAX_SHORT_TEXT_LEN;
use crate::ValidationError;

/// `POST /agent/v1/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub agent_version: String,
    /// Free-form agent state (`idle`, `auditing`, `spooling`...), shown in the dashboard.
    pub status: String,
}

impl Heartbeat {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::max_len("agent_version", &self.agent_version, MAX_SHORT_TEXT_LEN)?;
        check::max_len("status", &self.status, MAX_SHORT_TEXT_LEN)?;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub interval_seconds: u64,
    pub jitter_seconds: u64,
    /// Hash of the active policy for the agent's OS; `None` when no policy is active.
    pub policy_hash: Option<String>,
}
