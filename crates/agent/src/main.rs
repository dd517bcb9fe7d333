//! `vt-agent`: audits this host against VT-Audit policies.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod context;
mod engine;
mod fleet;
mod fsroot;
mod host;
#[cfg(unix)]
mod idnames;
mod logfile;
mod machine_id;
mod output;
mod paths;
mod probes;
mod service;
mod timefmt;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vt-agent: {e:#}");
            ExitCode::from(cli::EXIT_INVALID)
        }
    }
}
