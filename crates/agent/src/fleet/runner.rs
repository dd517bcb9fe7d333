//! The fleet loop: heartbeat, fetch the policy, audit, spool, deliver, sleep. Every step
//! that needs the server degrades gracefully: without it the host is still audited with
//! the cached policy and the run waits in the spool.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use vt_wire::{Heartbeat, PolicyResponse, ResultsSubmission};

use super::backoff::{jittered, Backoff};
use super::client::{ClientError, ServerClient};
use super::enroll::{self, EnrollOutcome};
use super::identity::{self, Credentials};
use super::policy_cache;
use super::spool::Spool;
use super::state::{AgentState, LastRun};
use super::Layout;
use crate::context::HostContext;
use crate::engine::{run_policy, AuditOptions};
use crate::logfile::LogFile;
use crate::service::StopSignal;

pub struct RunOptions {
    pub layout: Layout,
    /// Used to re-enroll automatically when the certificate has expired.
    pub token: Option<String>,
    pub once: bool,
    pub spool_max_bytes: u64,
    pub log: Option<Arc<LogFile>>,
}

/// Used until the server has said otherwise.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
const DEFAULT_JITTER: Duration = Duration::from_secs(300);

/// What one cycle achieved.
struct Cycle {
    /// Every spooled run reached the server.
    delivered_all: bool,
    interval: Duration,
    jitter: Duration,
}

pub struct Runner {
    opts: RunOptions,
    spool: Spool,
    state: AgentState,
}

impl Runner {
    pub fn new(opts: RunOptions) -> std::io::Result<Self> {
        let spool = Spool::open(opts.layout.spool_dir(), opts.spool_max_bytes)?;
        let state = AgentState::load(&opts.layout);
        Ok(Runner { opts, spool, state })
    }

    fn log(&self, message: &str) {
        let line = format!("{} {message}", crate::timefmt::rfc3339(SystemTime::now()));
        eprintln!("{line}");
        if let Some(log) = &self.opts.log {
            let _ = log.write_line(&line);
        }
    }

    /// Runs until stopped (or once). Returns true when the last cycle delivered everything.
    pub fn run(&mut self, stop: &StopSignal) -> bool {
        let mut retry = Backoff::new(Duration::from_secs(15), Duration::from_secs(30 * 60));
        loop {
            let started = Instant::now();
            let cycle = self.audit_cycle();
            if let Err(e) = self.state.save(&self.opts.layout) {
                self.log(&format!("cannot save agent state: {e}"));
            }
            if self.opts.once || stop.is_stopped() {
                return cycle.delivered_all;
            }
            let next_audit = started + jittered(cycle.interval, cycle.jitter);
            // Between audits, retry delivery of the spool with backoff.
            let mut delivered = cycle.delivered_all;
            if delivered {
                retry.reset();
            }
            loop {
                let now = Instant::now();
                if now >= next_audit {
                    break;
                }
                let wait = if delivered {
                    next_audit - now
                } else {
                    retry.next_delay().min(next_audit - now)
                };
                if stop.wait_timeout(wait) {
                    self.log("stop requested; exiting");
                    return delivered;
                }
                if !delivered {
                    delivered = self.deliver_with_fresh_client();
                    if delivered {
                        retry.reset();
                    }
                }
            }
        }
    }

    fn audit_cycle(&mut self) -> Cycle {
        let creds = self.credentials();
        let client = match (&creds, self.state.revoked) {
            (Some(c), false) => match ServerClient::authenticated(c) {
                Ok(client) => Some(client),
                Err(e) => {
                    self.log(&format!("cannot use the agent certificate: {e}"));
                    None
                }
            },
            _ => None,
        };
        let (mut interval, mut jitter) = (DEFAULT_INTERVAL, DEFAULT_JITTER);
        if let Some(client) = &client {
            let beat = Heartbeat {
                agent_version: env!("CARGO_PKG_VERSION").into(),
                status: "auditing".into(),
            };
            match client.heartbeat(&beat) {
                Ok(r) => {
                    interval = Duration::from_secs(r.interval_seconds.max(60));
                    jitter = Duration::from_secs(r.jitter_seconds);
                    self.contacted();
                }
                Err(e) => self.server_error("heartbeat", &e),
            }
        }
        let policy = self.current_policy(client.as_ref());
        let Some(policy) = policy else {
            return Cycle {
                delivered_all: false,
                interval,
                jitter,
            };
        };
        if client.is_none() {
            interval = Duration::from_secs(policy.interval_seconds.max(60));
            jitter = Duration::from_secs(policy.jitter_seconds);
        }
        self.audit_and_spool(&policy);
        let delivered_all = match &client {
            Some(c) if !self.state.revoked => self.deliver(c),
            _ => false,
        };
        Cycle {
            delivered_all,
            interval,
            jitter,
        }
    }

    /// The stored credentials after renewal or re-enrollment as needed; `None` when the
    /// agent cannot talk to the server (never enrolled, expired without a token).
    fn credentials(&mut self) -> Option<Credentials> {
        let creds = match identity::load(&self.opts.layout) {
            Ok(c) => c,
            Err(e) => {
                self.log(&format!("{e}; auditing locally only"));
                self.state.last_error = Some(e.to_string());
                return None;
            }
        };
        let now = SystemTime::now();
        if creds.validity.expired(now) {
            let Some(token) = self.opts.token.clone() else {
                if !self.state.needs_reenrollment {
                    self.log("the agent certificate has expired and no token is configured: needs re-enrollment (`vt-agent enroll --force`); auditing locally");
                }
                self.state.needs_reenrollment = true;
                return None;
            };
            self.log("the agent certificate has expired; re-enrolling with the configured token");
            return match enroll::enroll(&self.opts.layout, &creds.identity.server, &token, true) {
                Ok(EnrollOutcome::Enrolled(id) | EnrollOutcome::AlreadyEnrolled(id)) => {
                    self.log(&format!("re-enrolled as agent {}", id.agent_id));
                    self.state.needs_reenrollment = false;
                    self.state.revoked = false;
                    identity::load(&self.opts.layout).ok()
                }
                Err(e) => {
                    self.log(&format!("re-enrollment failed: {e}"));
                    self.state.needs_reenrollment = true;
                    self.state.last_error = Some(e.to_string());
                    None
                }
            };
        }
        self.state.needs_reenrollment = false;
        if creds.validity.renewal_due(now) && !self.state.revoked {
            match enroll::renew(&self.opts.layout, &creds) {
                Ok(renewed) => {
                    self.log("certificate renewed");
                    return Some(renewed);
                }
                Err(enroll::EnrollError::Server(e)) => self.server_error("certificate renewal", &e),
                Err(e) => self.log(&format!("certificate renewal failed: {e}")),
            }
        }
        Some(creds)
    }

    fn current_policy(&mut self, client: Option<&ServerClient>) -> Option<PolicyResponse> {
        let cached = match policy_cache::load(&self.opts.layout) {
            Ok(p) => Some(p),
            Err(policy_cache::CacheError::Empty) => None,
            Err(e) => {
                self.log(&e.to_string());
                None
            }
        };
        if let Some(client) = client {
            match client.policy(cached.as_ref().map(|p| p.hash.as_str())) {
                Ok(Some(fresh)) => {
                    self.log(&format!(
                        "policy {} version {} received",
                        fresh.policy_id, fresh.version
                    ));
                    if let Err(e) = policy_cache::save(&self.opts.layout, &fresh) {
                        self.log(&e.to_string());
                    }
                    return Some(fresh);
                }
                Ok(None) => {}
                Err(e) => self.server_error("policy download", &e),
            }
        }
        if cached.is_none() {
            self.log("no policy available (none cached and the server gave none); nothing to audit");
            self.state.last_error = Some("no policy available".into());
        }
        cached
    }

    fn audit_and_spool(&mut self, response: &PolicyResponse) {
        let policy = match policy_cache::parse(response) {
            Ok(p) => p,
            Err(e) => {
                self.log(&format!("the server's policy cannot be used: {e}"));
                self.state.last_error = Some(e);
                return;
            }
        };
        let ctx = Arc::new(HostContext::live());
        let report = run_policy(&policy, &ctx, &AuditOptions::default());
        let run_id = uuid::Uuid::new_v4().to_string();
        let submission = ResultsSubmission {
            run_id: run_id.clone(),
            policy_id: response.policy_id.clone(),
            policy_hash: response.hash.clone(),
            started_at: report.started_at.clone(),
            finished_at: crate::timefmt::rfc3339(SystemTime::now()),
            results: report.results,
        };
        let body = match serde_json::to_vec(&submission) {
            Ok(b) => b,
            Err(e) => {
                self.log(&format!("cannot serialise the run: {e}"));
                return;
            }
        };
        match self.spool.enqueue(&run_id, &body) {
            Ok(dropped) => {
                for id in dropped.run_ids {
                    self.log(&format!("spool is full: dropped the oldest run {id}"));
                }
            }
            Err(e) => self.log(&format!("cannot spool run {run_id}: {e}")),
        }
        let s = &report.summary;
        self.log(&format!(
            "audit {run_id}: {} rules, {} pass, {} fail, {} error, {} n/a, score {}",
            s.total, s.pass, s.fail, s.error, s.not_applicable, s.score
        ));
        self.state.last_run = Some(LastRun {
            run_id,
            finished_at: submission.finished_at,
            policy_id: submission.policy_id,
            summary: report.summary,
            delivered: false,
        });
    }

    fn deliver_with_fresh_client(&mut self) -> bool {
        if self.state.revoked {
            return false;
        }
        match identity::load(&self.opts.layout)
            .ok()
            .and_then(|c| ServerClient::authenticated(&c).ok())
        {
            Some(client) => self.deliver(&client),
            None => false,
        }
    }

    /// Sends spooled runs oldest first; stops at the first that cannot be delivered.
    fn deliver(&mut self, client: &ServerClient) -> bool {
        let runs = match self.spool.list() {
            Ok(r) => r,
            Err(e) => {
                self.log(&format!("cannot read the spool: {e}"));
                return false;
            }
        };
        for run in runs {
            let body = match self.spool.read(&run) {
                Ok(b) => b,
                Err(e) => {
                    self.log(&format!("cannot read spooled run {}: {e}", run.run_id));
                    return false;
                }
            };
            match client.submit(&body) {
                Ok(ack) => {
                    self.contacted();
                    if let Err(e) = self.spool.remove(&run) {
                        self.log(&format!("cannot remove delivered run {}: {e}", run.run_id));
                    }
                    if let Some(last) = self.state.last_run.as_mut().filter(|l| l.run_id == run.run_id) {
                        last.delivered = true;
                    }
                    if ack.duplicate {
                        self.log(&format!("run {} was already stored by the server", run.run_id));
                    }
                }
                // A run the server rejects as invalid will never be accepted: keep it out
                // of the way, but on disk for inspection.
                Err(ClientError::Refused {
                    status: 400 | 413 | 422,
                    error,
                    detail,
                }) => {
                    self.log(&format!(
                        "server rejected run {} ({error}: {detail}); moved aside",
                        run.run_id
                    ));
                    let rejected = self.opts.layout.data().join("rejected");
                    let _ = std::fs::create_dir_all(&rejected);
                    let _ =
                        std::fs::rename(&run.path, rejected.join(run.path.file_name().unwrap_or_default()));
                }
                Err(e) => {
                    self.server_error("result delivery", &e);
                    return false;
                }
            }
        }
        true
    }

    fn contacted(&mut self) {
        self.state.last_contact = Some(crate::timefmt::rfc3339(SystemTime::now()));
        self.state.last_error = None;
    }

    fn server_error(&mut self, what: &str, e: &ClientError) {
        if e.is_revoked() {
            if !self.state.revoked {
                self.log(&format!("{what}: this agent's certificate has been revoked by the server; results will no longer be submitted ({e})"));
            }
            self.state.revoked = true;
        } else {
            self.log(&format!("{what} failed: {e}"));
        }
        self.state.last_error = Some(format!("{what}: {e}"));
    }
}

/// Enroll helper for the CLI: returns a human-readable line.
pub fn describe_enrollment(outcome: &EnrollOutcome) -> String {
    match outcome {
        EnrollOutcome::Enrolled(id) => format!("enrolled with {} as agent {}", id.server, id.agent_id),
        EnrollOutcome::AlreadyEnrolled(id) => {
            format!(
                "already enrolled with {} as agent {} (use --force to enroll again)",
                id.server, id.agent_id
            )
        }
    }
}
