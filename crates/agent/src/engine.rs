//! Runs a policy's rules against the host: in parallel with bounded concurrency, each
//! probe under a timeout, results in policy order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use globset::GlobSet;
use vt_policy::canonical::policy_hash;
use vt_policy::check::evaluate_rule;
use vt_policy::{Policy, PolicyRef, Report, Rule, RuleResult, Severity, Summary};

use crate::context::HostContext;
use crate::probes;

#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Rules evaluated at the same time; probes mostly wait on I/O, so a few more than
    /// the core count keeps the machine busy without flooding it.
    pub concurrency: usize,
    /// Per-probe timeout for rules that do not set their own.
    pub default_timeout: Duration,
    /// Only rules whose id matches (all rules when `None`).
    pub rule_filter: Option<GlobSet>,
    pub min_severity: Option<Severity>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            concurrency: 8,
            default_timeout: Duration::from_secs(10),
            rule_filter: None,
            min_severity: None,
        }
    }
}

impl AuditOptions {
    fn selects(&self, rule: &Rule) -> bool {
        self.rule_filter.as_ref().is_none_or(|f| f.is_match(&rule.id))
            && self.min_severity.is_none_or(|min| rule.severity >= min)
    }
}

/// Audits one policy and builds its report.
pub fn run_policy(policy: &Policy, ctx: &Arc<HostContext>, opts: &AuditOptions) -> Report {
    let started = SystemTime::now();
    let clock = Instant::now();
    let selected: Vec<&Rule> = policy.rules.iter().filter(|r| opts.selects(r)).collect();
    let results = run_rules(&selected, ctx, opts);
    Report {
        host: crate::host::describe(ctx),
        policy: PolicyRef {
            id: policy.meta.id.clone(),
            name: policy.meta.name.clone(),
            hash: policy_hash(policy),
        },
        started_at: crate::timefmt::rfc3339(started),
        duration_ms: clock.elapsed().as_millis() as u64,
        summary: Summary::from_results(&results),
        results,
    }
}

fn run_rules(rules: &[&Rule], ctx: &Arc<HostContext>, opts: &AuditOptions) -> Vec<RuleResult> {
    let slots: Vec<Mutex<Option<RuleResult>>> = rules.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = opts.concurrency.clamp(1, 64).min(rules.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(rule) = rules.get(i) else { break };
                let result = run_rule(rule, ctx, opts);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            });
        }
    });
    slots
        .into_iter()
        .zip(rules)
        .map(|(slot, rule)| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| lost_result(rule))
        })
        .collect()
}

/// Only reachable if a worker thread died mid-rule; the rule still gets a visible error.
fn lost_result(rule: &Rule) -> RuleResult {
    RuleResult {
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        severity: rule.severity,
        status: vt_policy::Status::Error,
        expected: String::new(),
        observed: String::new(),
        reason: "internal error: the rule's evaluation did not complete".into(),
        fix: rule.fix.clone().unwrap_or_default(),
        duration_ms: 0,
    }
}

pub fn run_rule(rule: &Rule, ctx: &Arc<HostContext>, opts: &AuditOptions) -> RuleResult {
    let clock = Instant::now();
    let timeout = rule.timeout.unwrap_or(opts.default_timeout);
    let outcome = evaluate_rule(rule, &mut |probe| {
        probes::observe_with_timeout(probe, ctx, timeout)
    });
    RuleResult {
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        severity: rule.severity,
        status: outcome.status,
        expected: outcome.expected,
        observed: outcome.observed,
        reason: outcome.reason,
        fix: rule.fix.clone().unwrap_or_default(),
        duration_ms: clock.elapsed().as_millis() as u64,
    }
}
