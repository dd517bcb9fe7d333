//! `vt-loadgen`: measures how fast a `vt-server` ingests a fleet's results.
//!
//! It enrolls N simulated agents through the same flow as `vt-agent enroll` (GET `/roots`
//! pinned to the token's fingerprint, `POST /api/enroll`, a fresh P-256 key and CSR,
//! `POST /1.0/sign` with the one-time token), then submits K runs of R results per agent,
//! each agent over its own mutual-TLS connection kept alive between its runs.
//!
//! Client stack: tokio + reqwest (hyper, rustls with ring). One async runtime drives
//! thousands of connections from two OS threads, which matters when generator and server
//! share two cores: a thread-per-connection client (ureq) would spend the cores on context
//! switches and stacks instead of on the server being measured.
//!
//! Safety rails: every loop is bounded by a count and by `--duration-limit`, and only
//! loopback servers are targeted unless `--allow-remote` is given.

mod enroll;
mod payload;
mod pool;
mod spawn;
mod stats;
mod submit;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::time::Instant;

pub use stats::Latencies;

/// Command-line options; also the library's input, so tests drive exactly what users run.
#[derive(Debug, Clone, Parser)]
#[command(name = "vt-loadgen", version, about = "Fleet ingest benchmark for vt-server")]
pub struct Options {
    /// Agent listener of the server, e.g. `https://127.0.0.1:9443`.
    #[arg(
        long,
        required_unless_present = "start_server",
        conflicts_with = "start_server"
    )]
    pub server: Option<String>,
    /// Enrollment token with at least `--agents` uses (`vt-server token create --uses N`).
    #[arg(
        long,
        env = "VT_LOADGEN_TOKEN",
        hide_env_values = true,
        required_unless_present = "start_server",
        conflicts_with = "start_server"
    )]
    pub token: Option<String>,
    /// Simulated agents to enroll.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub agents: u32,
    /// Check results per submitted run (vt-wire allows at most 5,000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=5_000))]
    pub results_per_run: u32,
    /// Runs each agent submits, one after the other on its connection.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub runs_per_agent: u32,
    /// Agents enrolling or submitting at the same time.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Hard stop for the whole benchmark, in seconds (server start included).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration_limit: u64,
    /// Start a `vt-server` on free loopback ports with a temporary data directory, create
    /// the token with it, and stop it at the end.
    #[arg(long)]
    pub start_server: bool,
    /// With `--start-server`: the database (`sqlite:PATH` or `postgres://...`); default:
    /// SQLite in the temporary data directory.
    #[arg(long, requires = "start_server", hide_env_values = true)]
    pub database_url: Option<String>,
    /// With `--start-server`: the `vt-server` binary; default: next to this executable,
    /// then `vt-server` on PATH.
    #[arg(long, requires = "start_server")]
    pub server_bin: Option<PathBuf>,
    /// Allow a `--server` that is not a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("--server {0:?} is not an https:// URL")]
    NotHttps(String),
    #[error("--server {0:?} is not a loopback address; pass --allow-remote to load a remote server")]
    NotLoopback(String),
}

/// Refuses anything but `https://` on a loopback address unless remote targets are allowed:
/// a load generator pointed at the wrong host by a typo is a denial of service.
pub fn check_target(server: &str, allow_remote: bool) -> Result<(), TargetError> {
    let url = reqwest::Url::parse(server).map_err(|_| TargetError::NotHttps(server.to_string()))?;
    if url.scheme() != "https" {
        return Err(TargetError::NotHttps(server.to_string()));
    }
    if allow_remote {
        return Ok(());
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if loopback {
        Ok(())
    } else {
        Err(TargetError::NotLoopback(server.to_string()))
    }
}

/// What one benchmark measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub server: String,
    /// `sqlite` or `postgres` when the server was started here; `external` otherwise.
    pub backend: String,
    pub agents_requested: u64,
    pub agents_enrolled: u64,
    pub enroll_errors: u64,
    pub enroll_elapsed: Duration,
    pub results_per_run: u64,
    pub runs_planned: u64,
    pub runs_ok: u64,
    pub runs_failed: u64,
    pub results_ok: u64,
    pub submit_elapsed: Duration,
    /// Latency of successful submissions (request sent to acknowledgement parsed).
    pub latencies: Latencies,
    /// The first few error messages, for diagnosis.
    pub first_errors: Vec<String>,
    pub deadline_reached: bool,
    pub elapsed: Duration,
}

impl Report {
    /// Everything planned was done without an error.
    pub fn success(&self) -> bool {
        self.enroll_errors == 0
            && self.runs_failed == 0
            && self.agents_enrolled == self.agents_requested
            && self.runs_ok == self.runs_planned
            && !self.deadline_reached
    }

    pub fn enroll_per_sec(&self) -> f64 {
        per_sec(self.agents_enrolled, self.enroll_elapsed)
    }

    pub fn results_per_sec(&self) -> f64 {
        per_sec(self.results_ok, self.submit_elapsed)
    }

    pub fn runs_per_sec(&self) -> f64 {
        per_sec(self.runs_ok, self.submit_elapsed)
    }
}

fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latencies;
        writeln!(f, "server:   {} ({})", self.server, self.backend)?;
        writeln!(
            f,
            "enroll:   {}/{} agents in {:.2} s = {:.1} enroll/s, {} errors",
            self.agents_enrolled,
            self.agents_requested,
            self.enroll_elapsed.as_secs_f64(),
            self.enroll_per_sec(),
            self.enroll_errors
        )?;
        writeln!(
            f,
            "submit:   {}/{} runs, {} results in {:.2} s",
            self.runs_ok,
            self.runs_planned,
            self.results_ok,
            self.submit_elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "rate:     {:.0} results/s, {:.1} runs/s",
            self.results_per_sec(),
            self.runs_per_sec()
        )?;
        writeln!(
            f,
            "latency:  p50 {}, p90 {}, p99 {}, max {} ({} samples)",
            ms(l.percentile(50.0)),
            ms(l.percentile(90.0)),
            ms(l.percentile(99.0)),
            ms(l.max()),
            l.len()
        )?;
        writeln!(
            f,
            "errors:   {} enroll, {} submit{}",
            self.enroll_errors,
            self.runs_failed,
            if self.deadline_reached {
                " (duration limit reached)"
            } else {
                ""
            }
        )?;
        for err in &self.first_errors {
            writeln!(f, "  error: {err}")?;
        }
        writeln!(f, "elapsed:  {:.2} s", self.elapsed.as_secs_f64())?;
        // One machine-readable line for scripts (scripts/bench-fleet.sh greps it).
        writeln!(
            f,
            "SUMMARY backend={} agents={} results_per_run={} runs_ok={} runs_failed={} results_ok={} \
             enroll_per_s={:.1} results_per_s={:.0} runs_per_s={:.1} p50_ms={:.1} p90_ms={:.1} \
             p99_ms={:.1} max_ms={:.1} elapsed_s={:.2} ok={}",
            self.backend,
            self.agents_enrolled,
            self.results_per_run,
            self.runs_ok,
            self.runs_failed,
            self.results_ok,
            self.enroll_per_sec(),
            self.results_per_sec(),
            self.runs_per_sec(),
            l.percentile(50.0).as_secs_f64() * 1000.0,
            l.percentile(90.0).as_secs_f64() * 1000.0,
            l.percentile(99.0).as_secs_f64() * 1000.0,
            l.max().as_secs_f64() * 1000.0,
            self.elapsed.as_secs_f64(),
            self.success()
        )
    }
}

/// How many error messages a report keeps.
const KEPT_ERRORS: usize = 5;

/// Runs the whole benchmark: (server start,) enrollment, submission.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.duration_limit);

    let own_server = if options.start_server {
        eprintln!("vt-loadgen: starting vt-server");
        Some(
            spawn::OwnServer::start(
                options.server_bin.as_deref(),
                options.database_url.as_deref(),
                options.agents,
                deadline,
            )
            .await
            .context("starting vt-server")?,
        )
    } else {
        None
    };
    let (server, token, backend) = match &own_server {
        Some(own) => (own.agent_url.clone(), own.token.clone(), own.backend.to_string()),
        None => (
            options.server.clone().context("--server is required")?,
            options.token.clone().context("--token is required")?,
            "external".to_string(),
        ),
    };
    check_target(&server, options.allow_remote)?;
    let server = server.trim_end_matches('/').to_string();

    let result = measure(options, &server, &token, backend, started, deadline).await;
    if let Some(own) = own_server {
        let failed = result.as_ref().map(|r| !r.success()).unwrap_or(true);
        if failed {
            eprintln!("vt-loadgen: server log kept at {}", own.log_path().display());
        }
        own.stop(failed).await;
    }
    result
}

async fn measure(
    options: &Options,
    server: &str,
    token: &str,
    backend: String,
    started: Instant,
    deadline: Instant,
) -> anyhow::Result<Report> {
    let plan = enroll::Plan {
        server: server.to_string(),
        token: token.to_string(),
        agents: options.agents,
        concurrency: options.concurrency,
        allow_remote: options.allow_remote,
    };
    eprintln!(
        "vt-loadgen: enrolling {} agents at {server} (concurrency {})",
        options.agents, options.concurrency
    );
    let enroll_start = Instant::now();
    let enrolled = enroll::enroll_all(&plan, deadline).await?;
    let enroll_elapsed = enroll_start.elapsed();
    let mut first_errors = enrolled.errors.clone();

    let agents_enrolled = enrolled.agents.len() as u64;
    eprintln!(
        "vt-loadgen: {agents_enrolled} enrolled; submitting {} run(s) of {} results each",
        options.runs_per_agent, options.results_per_run
    );
    let submit_start = Instant::now();
    let submitted = submit::submit_all(
        enrolled.agents,
        &submit::Plan {
            server: server.to_string(),
            results_per_run: options.results_per_run,
            runs_per_agent: options.runs_per_agent,
            concurrency: options.concurrency,
        },
        deadline,
    )
    .await;
    let submit_elapsed = submit_start.elapsed();
    first_errors.extend(submitted.errors);
    first_errors.truncate(KEPT_ERRORS);

    Ok(Report {
        server: server.to_string(),
        backend,
        agents_requested: u64::from(options.agents),
        agents_enrolled,
        enroll_errors: enrolled.failed,
        enroll_elapsed,
        results_per_run: u64::from(options.results_per_run),
        runs_planned: u64::from(options.agents) * u64::from(options.runs_per_agent),
        runs_ok: submitted.runs_ok,
        runs_failed: submitted.runs_failed,
        results_ok: submitted.results_ok,
        submit_elapsed,
        latencies: submitted.latencies,
        first_errors,
        deadline_reached: Instant::now() >= deadline,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_https_targets_unless_allowed() {
        for ok in [
            "https://127.0.0.1:9443",
            "https://127.1.2.3:1",
            "https://[::1]:9443/",
            "https://localhost:9443",
        ] {
            assert!(check_target(ok, false).is_ok(), "{ok}");
        }
        for remote in [
            "https://10.0.0.1:9443",
            "https://audit.example.com",
            "https://[2001:db8::1]",
        ] {
            assert!(
                matches!(check_target(remote, false), Err(TargetError::NotLoopback(_))),
                "{remote}"
            );
            assert!(check_target(remote, true).is_ok(), "{remote}");
        }
        for bad in ["http://127.0.0.1:9443", "127.0.0.1:9443", ""] {
            assert!(
                matches!(check_target(bad, true), Err(TargetError::NotHttps(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn cli_requires_a_server_or_start_server() {
        assert!(Options::try_parse_from(["vt-loadgen", "--agents", "5"]).is_err());
        assert!(
            Options::try_parse_from(["vt-loadgen", "--start-server", "--server", "https://127.0.0.1:1"])
                .is_err()
        );
        assert!(Options::try_parse_from(["vt-loadgen", "--database-url", "sqlite:x"]).is_err());
        let o = Options::try_parse_from(["vt-loadgen", "--server", "https://127.0.0.1:1", "--token", "t"])
            .unwrap();
        assert_eq!(
            (o.agents, o.results_per_run, o.runs_per_agent, o.concurrency),
            (1000, 100, 1, 64)
        );
        assert_eq!(o.duration_limit, 300);
        let o = Options::try_parse_from(["vt-loadgen", "--start-server", "--database-url", "postgres://x/y"])
            .unwrap();
        assert!(o.start_server && o.server.is_none());
    }
}
