//! `vt-agent enroll | run | status`: fleet mode.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{bail, Context};
use clap::Args;

use super::{EXIT_FINDINGS, EXIT_OK};
use crate::fleet::client::ServerClient;
use crate::fleet::config::AgentConfig;
use crate::fleet::identity;
use crate::fleet::runner::{describe_enrollment, RunOptions, Runner};
use crate::fleet::spool::Spool;
use crate::fleet::state::AgentState;
use crate::fleet::{enroll, Layout};
use crate::service::StopSignal;

/// Options every fleet command shares; each also comes from `agent.toml`.
#[derive(Debug, Args, Clone)]
pub struct FleetArgs {
    /// Agent data directory (identity, spool, policy cache).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Configuration file (default /etc/vt-audit/agent.toml, %ProgramData%\VT-Audit\agent.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

struct Resolved {
    config: AgentConfig,
    layout: Layout,
}

fn resolve(args: &FleetArgs) -> anyhow::Result<Resolved> {
    let config_path = match &args.config {
        Some(p) => p.clone(),
        None => crate::paths::config_file()?,
    };
    let config = AgentConfig::load(&config_path)?;
    let data_dir = match (&args.data_dir, &config.data_dir) {
        (Some(d), _) | (None, Some(d)) => d.clone(),
        (None, None) => crate::paths::data_dir()?,
    };
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    Ok(Resolved {
        config,
        layout: Layout::new(data_dir),
    })
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The server's agent listener, e.g. https://vt.example.com:9443.
    #[arg(long)]
    server: Option<String>,
    /// Enrollment token from `vt-server token create`.
    #[arg(long, env = "VT_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Enroll again even if a valid certificate exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    fleet: FleetArgs,
}

pub fn enroll(args: EnrollArgs) -> anyhow::Result<ExitCode> {
    let r = resolve(&args.fleet)?;
    let Some(server) = args.server.or(r.config.server.clone()) else {
        bail!("no server given: use --server https://HOST:9443 or set `server` in agent.toml");
    };
    let Some(token) = args.token.or(r.config.token.clone()) else {
        bail!("no enrollment token given: use --token or set `token` in agent.toml");
    };
    if !server.starts_with("https://") {
        bail!("--server must be an https:// URL, got {server:?}");
    }
    let outcome = enroll::enroll(&r.layout, &server, &token, args.force)?;
    println!("{}", describe_enrollment(&outcome));
    Ok(ExitCode::from(EXIT_OK))
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Audit and deliver once, then exit (non-zero when results could not be delivered).
    #[arg(long)]
    once: bool,
    /// Run under the Windows Service Control Manager.
    #[arg(long)]
    service: bool,
    #[command(flatten)]
    fleet: FleetArgs,
}

fn runner(fleet: &FleetArgs, once: bool) -> anyhow::Result<Runner> {
    let r = resolve(fleet)?;
    let log = crate::logfile::LogFile::open(&r.layout.data().join("logs"))
        .ok()
        .map(Arc::new);
    let opts = RunOptions {
        layout: r.layout,
        token: r.config.token,
        once,
        spool_max_bytes: r.config.spool_max_mb.unwrap_or(64).saturating_mul(1024 * 1024),
        log,
    };
    Runner::new(opts).context("cannot open the spool")
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.service {
        return run_service();
    }
    let mut runner = runner(&args.fleet, args.once)?;
    let stop = StopSignal::new();
    install_signal_handlers(&stop)?;
    let delivered = runner.run(&stop);
    Ok(ExitCode::from(if delivered || !args.once {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    }))
}

#[cfg(windows)]
fn run_service() -> anyhow::Result<ExitCode> {
    fn body(stop: StopSignal) -> anyhow::Result<()> {
        let mut runner = runner(
            &FleetArgs {
                data_dir: None,
                config: None,
            },
            false,
        )?;
        runner.run(&stop);
        Ok(())
    }
    crate::service::windows::run_as_service(body)?;
    Ok(ExitCode::from(EXIT_OK))
}

#[cfg(not(windows))]
fn run_service() -> anyhow::Result<ExitCode> {
    bail!("--service is for the Windows Service Control Manager; under systemd run `vt-agent run`")
}

#[cfg(unix)]
fn install_signal_handlers(stop: &StopSignal) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGINT]).context("cannot install signal handlers")?;
    let stop = stop.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                stop.stop();
            }
        })?;
    Ok(())
}

#[cfg(not(unix))]
fn install_signal_handlers(_stop: &StopSignal) -> anyhow::Result<()> {
    Ok(())
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    fleet: FleetArgs,
}

pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let r = resolve(&args.fleet)?;
    let state = AgentState::load(&r.layout);
    let mut healthy = true;
    match identity::load(&r.layout) {
        Ok(creds) => {
            println!(
                "enrolled:       yes, agent {} with {}",
                creds.identity.agent_id, creds.identity.server
            );
            let now = SystemTime::now();
            let until = crate::timefmt::rfc3339(creds.validity.not_after);
            if creds.validity.expired(now) {
                healthy = false;
                println!("certificate:    EXPIRED at {until}");
            } else {
                println!("certificate:    valid until {until}");
            }
            match ServerClient::authenticated(&creds).and_then(|c| c.policy(None).map(|_| ())) {
                Ok(()) => println!("server:         reachable"),
                Err(e) => {
                    healthy = false;
                    println!("server:         {e}");
                }
            }
        }
        Err(e) => {
            healthy = false;
            println!("enrolled:       no ({e})");
        }
    }
    if state.needs_reenrollment {
        healthy = false;
        println!("attention:      needs re-enrollment (certificate expired and no token configured)");
    }
    if state.revoked {
        healthy = false;
        println!("attention:      this agent was revoked by the server; results are not submitted");
    }
    match &state.last_run {
        Some(run) => {
            let s = &run.summary;
            println!(
                "last run:       {} at {}: {} rules, {} pass, {} fail, {} error, {} n/a, score {} ({})",
                run.run_id,
                run.finished_at,
                s.total,
                s.pass,
                s.fail,
                s.error,
                s.not_applicable,
                s.score,
                if run.delivered {
                    "delivered"
                } else {
                    "not yet delivered"
                }
            );
        }
        None => println!("last run:       none"),
    }
    if let Some(at) = &state.last_contact {
        println!("last contact:   {at}");
    }
    if let Some(err) = &state.last_error {
        println!("last error:     {err}");
    }
    let spool = Spool::open(r.layout.spool_dir(), u64::MAX)?;
    let runs = spool.list()?;
    println!(
        "spool:          {} run(s), {} bytes, {} dropped because the spool was full",
        runs.len(),
        spool.total_bytes()?,
        spool.dropped_count()
    );
    Ok(ExitCode::from(if healthy { EXIT_OK } else { EXIT_FINDINGS }))
}
