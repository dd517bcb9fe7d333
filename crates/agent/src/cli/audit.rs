//! `vt-agent audit`: evaluate policies locally and write a report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use globset::{Glob, GlobSetBuilder};
use vt_policy::{parse_policy_file, Report, Severity, Status, TargetOs};
use vt_report::Format;

use super::{EXIT_FINDINGS, EXIT_INVALID, EXIT_OK};
use crate::context::HostContext;
use crate::engine::{run_policy, AuditOptions};
use crate::output::write_atomically;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Policy file (native or legacy format); repeat for several policies.
    #[arg(long = "policy", short = 'p', required = true)]
    policies: Vec<PathBuf>,
    /// Report format.
    #[arg(long, short, default_value = "table", value_parser = parse_format)]
    format: Format,
    /// Write the report to this file (atomically) instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Audit the filesystem mounted at DIR (an image or container root) instead of this host.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Only rules whose id matches this glob; repeatable.
    #[arg(long = "rule", value_name = "GLOB")]
    rules: Vec<String>,
    /// Only rules of at least this severity.
    #[arg(long, value_name = "LEVEL", value_parser = parse_severity)]
    min_severity: Option<Severity>,
    /// Rules evaluated in parallel.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Default per-probe timeout in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>()
        .map_err(|_| format!("unknown format {s:?} (table, json, html, csv, junit)"))
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse::<Severity>()
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let mut policies = Vec::with_capacity(args.policies.len());
    let mut invalid = false;
    for path in &args.policies {
        match parse_policy_file(path) {
            Ok(p) => policies.push(p),
            Err(e) => {
                eprintln!("{e}");
                invalid = true;
            }
        }
    }
    if invalid {
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let rule_filter = if args.rules.is_empty() {
        None
    } else {
        let mut b = GlobSetBuilder::new();
        for g in &args.rules {
            b.add(Glob::new(g).with_context(|| format!("invalid --rule glob {g:?}"))?);
        }
        Some(b.build().context("invalid --rule globs")?)
    };
    if args.timeout == 0 {
        bail!("--timeout must be at least 1 second");
    }
    let ctx = match &args.root {
        Some(root) => {
            if !root.is_dir() {
                bail!("--root {}: not a directory", root.display());
            }
            HostContext::with_root(root.clone())
        }
        None => HostContext::live(),
    };
    let ctx = Arc::new(ctx);
    let opts = AuditOptions {
        concurrency: args.concurrency,
        default_timeout: Duration::from_secs(args.timeout),
        rule_filter,
        min_severity: args.min_severity,
    };
    let this_os = if cfg!(windows) {
        TargetOs::Windows
    } else {
        TargetOs::Linux
    };
    let reports: Vec<Report> = policies
        .iter()
        .map(|p| {
            if p.meta.os != TargetOs::Any && p.meta.os != this_os {
                eprintln!(
                    "vt-agent: warning: policy {} targets {}; its {}-only probes will report errors here",
                    p.meta.id,
                    p.meta.os.as_str(),
                    p.meta.os.as_str()
                );
            }
            run_policy(p, &ctx, &opts)
        })
        .collect();

    let mut rendered = Vec::new();
    vt_report::render(&reports, args.format, &mut rendered).context("cannot render the report")?;
    match &args.output {
        Some(path) => {
            write_atomically(path, &rendered).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // A closed pipe (e.g. `| head`) is not an audit failure.
            let _ = out.write_all(&rendered).and_then(|_| out.flush());
        }
    }
    let findings = reports
        .iter()
        .flat_map(|r| &r.results)
        .any(|r| matches!(r.status, Status::Fail | Status::Error));
    Ok(ExitCode::from(if findings { EXIT_FINDINGS } else { EXIT_OK }))
}
