//! Realistic run bodies: text lengths like the shipped baselines' results (title ~60
//! characters, expected ~30, observed ~40, reason ~80, fix ~120) and a status mix of a
//! typical unhardened host, so row sizes and the pass/fail accounting match real ingest.

use vt_policy::{RuleResult, Severity, Status};
use vt_wire::ResultsSubmission;

const WORDS: &[&str] = &[
    "ensure",
    "password",
    "maximum",
    "age",
    "is",
    "configured",
    "sshd",
    "root",
    "login",
    "disabled",
    "audit",
    "log",
    "storage",
    "size",
    "kernel",
    "module",
    "loaded",
    "permissions",
    "on",
    "file",
    "service",
    "enabled",
    "firewall",
    "default",
    "deny",
    "policy",
    "mount",
    "option",
    "nodev",
    "tmp",
];

/// splitmix64: deterministic, dependency-free, good enough to vary lengths and statuses.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// About `len` characters of words (±10 %).
fn text(rng: &mut Rng, len: usize) -> String {
    let jitter = len / 10;
    let target = len - jitter + rng.below(2 * jitter as u64 + 1) as usize;
    let mut out = String::with_capacity(target + 12);
    while out.len() < target {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    // Only ASCII words: any byte index is a character boundary.
    out.truncate(target);
    out
}

fn status(rng: &mut Rng) -> Status {
    match rng.below(100) {
        0..=64 => Status::Pass,
        65..=89 => Status::Fail,
        90..=94 => Status::Error,
        _ => Status::NotApplicable,
    }
}

fn severity(rng: &mut Rng) -> Severity {
    match rng.below(5) {
        0 => Severity::Info,
        1 => Severity::Low,
        2 => Severity::Medium,
        3 => Severity::High,
        _ => Severity::Critical,
    }
}

/// One run of `count` results for agent `agent`, run number `run`.
pub fn submission(agent: u32, run: u32, count: u32) -> ResultsSubmission {
    let mut rng = Rng((u64::from(agent) << 32) | u64::from(run));
    let results = (0..count)
        .map(|i| {
            let status = status(&mut rng);
            RuleResult {
                rule_id: format!("lg-{i:04}"),
                title: text(&mut rng, 60),
                severity: severity(&mut rng),
                status,
                expected: text(&mut rng, 30),
                observed: text(&mut rng, 40),
                reason: text(&mut rng, 80),
                fix: text(&mut rng, 120),
                duration_ms: rng.below(50),
            }
        })
        .collect();
    let finished = time::OffsetDateTime::now_utc();
    ResultsSubmission {
        run_id: uuid::Uuid::new_v4().to_string(),
        policy_id: "linux-baseline".into(),
        // A policy the server does not know: it stores the run with no version, which is
        // what happens when an agent runs a local policy file.
        policy_hash: "5".repeat(64),
        started_at: vt_wire::format_timestamp(finished - time::Duration::seconds(2)),
        finished_at: vt_wire::format_timestamp(finished),
        results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submissions_are_valid_and_realistic() {
        let s = submission(7, 0, 100);
        s.validate().unwrap();
        assert_eq!(s.results.len(), 100);
        let avg = |f: fn(&RuleResult) -> usize| s.results.iter().map(f).sum::<usize>() / 100;
        assert!((54..=66).contains(&avg(|r| r.title.len())));
        assert!((108..=132).contains(&avg(|r| r.fix.len())));
        let passes = s.results.iter().filter(|r| r.status == Status::Pass).count();
        assert!((40..90).contains(&passes), "{passes}");
        assert!(s.results.iter().any(|r| r.status == Status::Fail));
        assert_ne!(
            submission(7, 0, 1).run_id,
            submission(7, 0, 1).run_id,
            "fresh run ids"
        );
    }
}
