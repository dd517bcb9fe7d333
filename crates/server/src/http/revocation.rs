//! Per-request revocation check with a short cache.
//!
//! Every agent request is checked against storage (certificate record and agent status),
//! so a revocation made through any server instance sharing the database is enforced by
//! all of them. Verdicts are cached for at most [`CACHE_TTL`] to spare the database one
//! query per request; with 5 s the 10 s enforcement bound holds with margin. A revocation
//! made on this instance clears the cache at once (`invalidate_all`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::storage::{Agent, AgentStatus, Storage, StorageError};

pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// Above this many entries, expired ones are swept on insert (bounded memory).
const SWEEP_THRESHOLD: usize = 50_000;

#[derive(Debug, Clone)]
pub enum Verdict {
    Valid(Box<Agent>),
    Revoked,
    /// Certificate or agent unknown to this server (e.g. database reset, wrong CA).
    Unknown,
}

pub struct RevocationCache {
    ttl: Duration,
    /// External step-ca mode: certificates are issued elsewhere and not recorded here, so
    /// only the agent's status is checked.
    certificates_recorded: bool,
    entries: Mutex<HashMap<String, (Instant, Verdict)>>,
}

impl RevocationCache {
    pub fn new(ttl: Duration, certificates_recorded: bool) -> Self {
        Self {
            ttl: ttl.min(CACHE_TTL),
            certificates_recorded,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn invalidate_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    pub async fn check(
        &self,
        storage: &dyn Storage,
        serial: &str,
        agent_id: &str,
    ) -> Result<Verdict, StorageError> {
        let key = format!("{serial}/{agent_id}");
        if let Ok(entries) = self.entries.lock() {
            if let Some((at, verdict)) = entries.get(&key) {
                if at.elapsed() < self.ttl {
                    return Ok(verdict.clone());
                }
            }
        }
        let verdict = self.lookup(storage, serial, agent_id).await?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= SWEEP_THRESHOLD {
                let ttl = self.ttl;
                entries.retain(|_, (at, _)| at.elapsed() < ttl);
            }
            entries.insert(key, (Instant::now(), verdict.clone()));
        }
        Ok(verdict)
    }

    async fn lookup(
        &self,
        storage: &dyn Storage,
        serial: &str,
        agent_id: &str,
    ) -> Result<Verdict, StorageError> {
        if self.certificates_recorded {
            match storage.get_certificate(serial).await? {
                None => return Ok(Verdict::Unknown),
                Some(record) if record.agent_id != agent_id => return Ok(Verdict::Unknown),
                Some(record) if record.revoked_at.is_some() => return Ok(Verdict::Revoked),
                Some(_) => {}
            }
        }
        Ok(match storage.get_agent(agent_id).await? {
            None => Verdict::Unknown,
            Some(agent) if agent.status == AgentStatus::Revoked => Verdict::Revoked,
            Some(agent) => Verdict::Valid(Box::new(agent)),
        })
    }
}
