//! Evaluating checks and rules from probe observations. The caller supplies the
//! observations, so this logic is the same on every OS and in the server.

use crate::expect::Judgement;
use crate::model::{Check, Rule};
use crate::observation::{truncate_evidence, Observation};
use crate::probe::Probe;
use crate::report::Status;

/// What running one probe produced.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeOutcome {
    Observed(Observation),
    /// The probe does not apply in this mode (e.g. a live-only probe under `--root`).
    NotApplicable(String),
    /// The probe could not observe: permission denied, timeout, unsupported here.
    Error(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    pub status: Status,
    pub expected: String,
    pub observed: String,
    pub reason: String,
}

pub fn evaluate_check(check: &Check, observe: &mut dyn FnMut(&Probe) -> ProbeOutcome) -> CheckOutcome {
    match check {
        Check::Probe(pc) => {
            let expected = pc.expect.describe();
            match observe(&pc.probe) {
                ProbeOutcome::NotApplicable(reason) => CheckOutcome {
                    status: Status::NotApplicable,
                    expected,
                    observed: String::new(),
                    reason,
                },
                ProbeOutcome::Error(reason) => CheckOutcome {
                    status: Status::Error,
                    expected,
                    observed: String::new(),
                    reason: format!("{}: {reason}", pc.probe.describe()),
                },
                ProbeOutcome::Observed(obs) => {
                    let observed = obs.evidence();
                    let (status, reason) = match pc.expect.judge(&obs) {
                        Judgement::Holds => (Status::Pass, String::new()),
                        Judgement::Fails(why) => (Status::Fail, why),
                        Judgement::Invalid(why) => (Status::Error, why),
                    };
                    CheckOutcome {
                        status,
                        expected,
                        observed,
                        reason,
                    }
                }
            }
        }
        Check::All(children) => combine("all of", children, observe, |statuses| {
            if statuses.contains(&Status::Fail) {
                Status::Fail
            } else if statuses.contains(&Status::Error) {
                Status::Error
            } else {
                Status::Pass
            }
        }),
        Check::Any(children) => combine("any of", children, observe, |statuses| {
            if statuses.contains(&Status::Pass) {
                Status::Pass
            } else if statuses.contains(&Status::Error) {
                Status::Error
            } else {
                Status::Fail
            }
        }),
        Check::None(children) => combine("none of", children, observe, |statuses| {
            if statuses.contains(&Status::Pass) {
                Status::Fail
            } else if statuses.contains(&Status::Error) {
                Status::Error
            } else {
                Status::Pass
            }
        }),
    }
}

fn combine(
    label: &str,
    children: &[Check],
    observe: &mut dyn FnMut(&Probe) -> ProbeOutcome,
    decide: impl Fn(&[Status]) -> Status,
) -> CheckOutcome {
    let outcomes: Vec<CheckOutcome> = children.iter().map(|c| evaluate_check(c, observe)).collect();
    let applicable: Vec<&CheckOutcome> = outcomes
        .iter()
        .filter(|o| o.status != Status::NotApplicable)
        .collect();
    let expected = format!(
        "{label}: {}",
        outcomes
            .iter()
            .map(|o| format!("({})", o.expected))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let observed = truncate_evidence(
        outcomes
            .iter()
            .map(|o| {
                if o.observed.is_empty() {
                    o.status.to_string()
                } else {
                    o.observed.clone()
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
    );
    if applicable.is_empty() {
        let reason = outcomes.first().map(|o| o.reason.clone()).unwrap_or_default();
        return CheckOutcome {
            status: Status::NotApplicable,
            expected,
            observed,
            reason,
        };
    }
    let statuses: Vec<Status> = applicable.iter().map(|o| o.status).collect();
    let status = decide(&statuses);
    let negated = label == "none of";
    let reason = match status {
        Status::Pass => String::new(),
        // `none` fails because a child holds: name that child, not the others' failures
        // (which are what `none` wants, and which a passing child has no reason for).
        Status::Fail if negated => applicable
            .iter()
            .filter(|o| o.status == Status::Pass)
            .map(|o| format!("{} holds (observed {})", o.expected, o.observed))
            .collect::<Vec<_>>()
            .join("; "),
        Status::Error if negated => applicable
            .iter()
            .filter(|o| o.status == Status::Error)
            .map(|o| o.reason.clone())
            .collect::<Vec<_>>()
            .join("; "),
        _ => applicable
            .iter()
            .filter(|o| !o.reason.is_empty())
            .map(|o| o.reason.clone())
            .collect::<Vec<_>>()
            .join("; "),
    };
    CheckOutcome {
        status,
        expected,
        observed,
        reason: truncate_evidence(reason),
    }
}

/// Evaluates a rule: its precondition, then its check; fills in legacy reason texts.
pub fn evaluate_rule(rule: &Rule, observe: &mut dyn FnMut(&Probe) -> ProbeOutcome) -> CheckOutcome {
    if let Some(pre) = &rule.applies_when {
        let p = evaluate_check(pre, observe);
        match p.status {
            Status::Pass => {}
            Status::Fail | Status::NotApplicable => {
                return CheckOutcome {
                    status: Status::NotApplicable,
                    expected: String::new(),
                    observed: p.observed,
                    reason: format!("precondition not met: {}", p.expected),
                }
            }
            Status::Error => {
                return CheckOutcome {
                    status: Status::Error,
                    expected: String::new(),
                    observed: p.observed,
                    reason: format!("precondition could not be evaluated: {}", p.reason),
                }
            }
        }
    }
    let mut outcome = evaluate_check(&rule.check, observe);
    let custom = match outcome.status {
        Status::Pass => rule.pass_text.as_ref(),
        Status::Fail => rule.fail_text.as_ref(),
        _ => None,
    };
    if let Some(text) = custom {
        outcome.reason = text.clone();
    }
    outcome
}
