use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use vt_policy::RuleResult;

use crate::error::check;
use crate::limits::*;
use crate::ValidationError;

/// `POST /agent/v1/results`: one audit run. The agent is identified by its certificate,
/// never by this body. `run_id` makes delivery idempotent: a retry of the same run is
/// acknowledged without being stored twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsSubmission {
    /// UUID chosen by the agent when the run starts.
    pub run_id: String,
    pub policy_id: String,
    pub policy_hash: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339; not before `started_at`.
    pub finished_at: String,
    pub results: Vec<RuleResult>,
}

/// Response to a submission; `duplicate` is true when the run had already been stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultsAck {
    pub run_id: String,
    pub duplicate: bool,
}

impl ResultsSubmission {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let run_id = uuid::Uuid::try_parse(&self.run_id).map_err(|_| ValidationError::Uuid {
            field: "run_id".into(),
        })?;
        if run_id.is_nil() {
            return Err(ValidationError::Uuid {
                field: "run_id".into(),
            });
        }
        check::non_empty_max("policy_id", &self.policy_id, MAX_ID_LEN)?;
        check::sha256_hex("policy_hash", &self.policy_hash)?;
        let started = check::timestamp("started_at", &self.started_at)?;
        let finished = check::timestamp("finished_at", &self.finished_at)?;
        if finished < started {
            return Err(ValidationError::Invalid {
                field: "finished_at".into(),
                message: "earlier than started_at".into(),
            });
        }
        if self.results.len() > MAX_RESULTS_PER_RUN {
            return Err(ValidationError::TooMany {
                field: "results".into(),
                max: MAX_RESULTS_PER_RUN,
            });
        }
        let mut seen = HashSet::with_capacity(self.results.len());
        for (index, result) in self.results.iter().enumerate() {
            let field = |name: &str| format!("results[{index}].{name}");
            check::non_empty_max(&field("rule_id"), &result.rule_id, MAX_ID_LEN)?;
            check::max_len(&field("title"), &result.title, MAX_TITLE_LEN)?;
            check::max_len(&field("expected"), &result.expected, MAX_TEXT_LEN)?;
            check::max_len(&field("observed"), &result.observed, MAX_OBSERVED_LEN)?;
            check::max_len(&field("reason"), &result.reason, MAX_TEXT_LEN)?;
            check::max_len(&field("fix"), &result.fix, MAX_TEXT_LEN)?;
            if result.duration_ms > MAX_DURATION_MS {
                return Err(ValidationError::Invalid {
                    field: field("duration_ms"),
                    message: format!("above {MAX_DURATION_MS}"),
                });
            }
            // The server keys results by (run_id, rule_id); a duplicate would make the run
            // ambiguous, so it is refused here with a clear message rather than by the database.
            if !seen.insert(result.rule_id.as_str()) {
                return Err(ValidationError::DuplicateRule {
                    field: field("rule_id"),
                    rule_id: result.rule_id.clone(),
                });
            }
        }
        Ok(())
    }

    /// `started_at` parsed; only meaningful after `validate()` succeeded.
    pub fn started_at_time(&self) -> Result<time::OffsetDateTime, ValidationError> {
        check::timestamp("started_at", &self.started_at)
    }

    /// `finished_at` parsed; only meaningful after `validate()` succeeded.
    pub fn finished_at_time(&self) -> Result<time::OffsetDateTime, ValidationError> {
        check::timestamp("finished_at", &self.finished_at)
    }
}

#[cfg(test)]
mod tests {
    use vt_policy::{Severity, Status};

    use super::*;

    fn result(rule_id: &str) -> RuleResult {
        RuleResult {
            rule_id: rule_id.into(),
            title: "Password length".into(),
            severity: Severity::High,
            status: Status::Fail,
            expected: "at least 14".into(),
            observed: "8".into(),
            reason: "too short".into(),
            fix: "set it".into(),
            duration_ms: 3,
        }
    }

    fn submission() -> ResultsSubmission {
        ResultsSubmission {
            run_id: "3f2b8c1e-9a4d-4f6b-8e21-0c5d7a9b1e42".into(),
            policy_id: "linux-baseline".into(),
            policy_hash: "a".repeat(64),
            started_at: "2025-01-02T03:04:05Z".into(),
            finished_at: "2025-01-02T04:04:06.5+01:00".into(),
            results: vec![result("r1"), result("r2")],
        }
    }

    #[test]
    fn valid_submission_passes_and_round_trips_json() {
        let s = submission();
        s.validate().unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("agent_id"), "bodies never name the agent");
        let back: ResultsSubmission = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn run_id_must_be_a_non_nil_uuid() {
        for bad in [
            "",
            "run-1",
            "00000000-0000-0000-0000-000000000000",
            "3f2b8c1e9a4d",
        ] {
            let mut s = submission();
            s.run_id = bad.into();
            assert_eq!(
                s.validate(),
                Err(ValidationError::Uuid {
                    field: "run_id".into()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn timestamps_must_be_rfc3339_and_ordered() {
        let mut s = submission();
        s.started_at = "2025-01-02 03:04:05".into();
        assert_eq!(
            s.validate(),
            Err(ValidationError::Timestamp {
                field: "started_at".into()
            })
        );
        let mut s = submission();
        s.finished_at = "1735787045".into();
        assert_eq!(
            s.validate(),
            Err(ValidationError::Timestamp {
                field: "finished_at".into()
            })
        );
        let mut s = submission();
        s.finished_at = "2025-01-02T03:04:04Z".into();
        assert!(
            matches!(s.validate(), Err(ValidationError::Invalid { field, .. }) if field == "finished_at")
        );
    }

    #[test]
    fn policy_hash_must_be_lowercase_sha256_hex() {
        for bad in ["abc", &"A".repeat(64), &"g".repeat(64)] {
            let mut s = submission();
            s.policy_hash = bad.to_string();
            assert_eq!(
                s.validate(),
                Err(ValidationError::Hash {
                    field: "policy_hash".into()
                })
            );
        }
    }

    #[test]
    fn sizes_are_bounded() {
        let mut s = submission();
        s.results = (0..=MAX_RESULTS_PER_RUN)
            .map(|i| result(&format!("r{i}")))
            .collect();
        assert_eq!(
            s.validate(),
            Err(ValidationError::TooMany {
                field: "results".into(),
                max: MAX_RESULTS_PER_RUN
            })
        );

        let mut s = submission();
        s.results[1].title = "t".repeat(MAX_TITLE_LEN + 1);
        assert_eq!(
            s.validate(),
            Err(ValidationError::TooLong {
                field: "results[1].title".into(),
                max: MAX_TITLE_LEN
            })
        );

        let mut s = submission();
        s.results[0].observed = "é".repeat(MAX_OBSERVED_LEN);
        assert!(s.validate().is_ok(), "limits count characters, not bytes");

        let mut s = submission();
        s.results[0].rule_id = " ".into();
        assert_eq!(
            s.validate(),
            Err(ValidationError::Empty {
                field: "results[0].rule_id".into()
            })
        );

        let mut s = submission();
        s.results[0].duration_ms = MAX_DURATION_MS + 1;
        assert!(s.validate().is_err());
    }

    #[test]
    fn duplicate_rule_ids_are_rejected() {
        let mut s = submission();
        s.results.push(result("r1"));
        assert_eq!(
            s.validate(),
            Err(ValidationError::DuplicateRule {
                field: "results[2].rule_id".into(),
                rule_id: "r1".into()
            })
        );
    }

    #[test]
    fn unknown_status_is_a_parse_error() {
        let json = serde_json::to_string(&submission())
            .unwrap()
            .replace("\"fail\"", "\"maybe\"");
        assert!(serde_json::from_str::<ResultsSubmission>(&json).is_err());
    }
}
