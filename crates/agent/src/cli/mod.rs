//! Command-line interface: argument definitions and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audit;
mod fleet;
mod policy;
mod service;

/// Every applicable rule passed.
pub const EXIT_OK: u8 = 0;
/// At least one rule failed or could not be evaluated.
pub const EXIT_FINDINGS: u8 = 1;
/// Invalid input: a bad policy, bad arguments, an unwritable output.
pub const EXIT_INVALID: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "vt-agent",
    version,
    about = "VT-Audit agent: audits this host against security baselines"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit this host (or a mounted filesystem) against one or more policies.
    Audit(audit::AuditArgs),
    /// Enroll this host with a VT-Audit server (creates the key and gets a certificate).
    Enroll(fleet::EnrollArgs),
    /// Audit on the server's schedule and report; keeps results on disk while offline.
    Run(fleet::RunArgs),
    /// Show enrollment, certificate, last run, spool and server reachability.
    Status(fleet::StatusArgs),
    /// Validate or convert policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Install, remove, start, stop or query the Windows service.
    #[command(subcommand)]
    Service(service::ServiceCommand),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files for errors; prints file:line:column and the rule id of each.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the native-format equivalent of a policy (for example a legacy rule file).
    Convert {
        file: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Audit(args) => audit::run(args),
        Command::Enroll(args) => fleet::enroll(args),
        Command::Run(args) => fleet::run(args),
        Command::Status(args) => fleet::status(args),
        Command::Policy(PolicyCommand::Check { files }) => policy::check(&files),
        Command::Policy(PolicyCommand::Convert { file, output }) => policy::convert(&file, output.as_deref()),
        Command::Service(cmd) => service::run(cmd),
    }
}
