//! What the agent remembers between runs, for `vt-agent status` and for its own decisions.

use serde::{Deserialize, Serialize};
use vt_policy::Summary;

use super::Layout;
use crate::output::write_atomically;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AgentState {
    pub last_run: Option<LastRun>,
    /// When the server last answered.
    pub last_contact: Option<String>,
    pub last_error: Option<String>,
    /// The certificate expired and no token is configured to re-enroll.
    #[serde(default)]
    pub needs_reenrollment: bool,
    /// The server refused the agent's certificate as revoked.
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastRun {
    pub run_id: String,
    pub finished_at: String,
    pub policy_id: String,
    pub summary: Summary,
    pub delivered: bool,
}

impl AgentState {
    pub fn load(layout: &Layout) -> Self {
        std::fs::read(layout.state_file())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, layout: &Layout) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(&layout.state_file(), &bytes)
    }
}
