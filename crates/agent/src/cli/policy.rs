//! `vt-agent policy check|convert`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use vt_policy::canonical::{policy_hash, to_native_yaml};
use vt_policy::{parse_policy_file, SourceFormat};

use super::{EXIT_INVALID, EXIT_OK};
use crate::output::write_atomically;

pub fn check(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for file in files {
        match parse_policy_file(file) {
            Ok(p) => {
                let format = match p.format {
                    SourceFormat::Native => "native",
                    SourceFormat::Legacy => "legacy",
                };
                println!(
                    "{}: ok: policy {} ({} format, os {}, {} rules, sha256 {})",
                    file.display(),
                    p.meta.id,
                    format,
                    p.meta.os.as_str(),
                    p.rules.len(),
                    policy_hash(&p)
                );
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(ExitCode::from(if failed { EXIT_INVALID } else { EXIT_OK }))
}

pub fn convert(file: &Path, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let policy = match parse_policy_file(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let mut text = String::new();
    if policy.meta.legacy_semantics {
        text.push_str(&format!(
            "# Converted from {} (original VT-Audit rule format).\n\
             # legacy_semantics keeps the original verdicts: case-insensitive equals/contains/in,\n\
             # text-only comparison, NotFound/NotRunning for missing things. Review each rule,\n\
             # then remove it to use native semantics.\n",
            file.display()
        ));
    }
    text.push_str(&to_native_yaml(&policy).context("cannot render the policy as YAML")?);
    match output {
        Some(path) => write_atomically(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::from(EXIT_OK))
}
