//! `vt-loadgen`: see the library documentation. Exit status: 0 when every planned
//! enrollment and submission succeeded, 1 when some failed, 2 when the benchmark could not
//! run at all.

use std::process::ExitCode;

use clap::Parser;
use vt_loadgen::Options;

fn main() -> ExitCode {
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("vt-loadgen: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(vt_loadgen::run(&options)) {
        Ok(report) => {
            print!("{report}");
            if report.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("vt-loadgen: {err:#}");
            ExitCode::from(2)
        }
    }
}
