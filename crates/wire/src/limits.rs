//! Size limits enforced on agent input, before anything reaches the database. They bound
//! memory per request and row sizes; the database schema repeats them as CHECK constraints.

/// Rules per run; the largest shipped baseline has a few hundred.
pub const MAX_RESULTS_PER_RUN: usize = 5_000;
pub const MAX_ID_LEN: usize = 128;
pub const MAX_TITLE_LEN: usize = 512;
/// expected / reason / fix.
pub const MAX_TEXT_LEN: usize = 8_192;
/// The agent already bounds evidence; this is the server's own ceiling.
pub const MAX_OBSERVED_LEN: usize = 16_384;
/// hostname, os, os_version, arch, agent_version, status.
pub const MAX_SHORT_TEXT_LEN: usize = 255;
/// A single check taking longer than a day is a broken clock, not a slow check.
pub const MAX_DURATION_MS: u64 = 86_400_000;
