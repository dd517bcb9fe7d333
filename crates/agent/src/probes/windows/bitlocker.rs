//! The `bitlocker` probe: protection and conversion status per volume.
//!
//! Source: `manage-bde -status`, run once per run through the shared command runner and
//! parsed by `bde` (unit-tested). The WMI class Win32_EncryptableVolume would avoid the
//! text parsing but needs a COM/WMI client (the `windows` crate's COM bindings, far heavier
//! to build than this whole agent) and is just as Administrator-only. The cost is that only
//! English output is understood: other languages give an error naming that, never a pass.

use std::process::Command;
use std::time::Duration;

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};

use super::bde::{denied, parse_status, BdeError, Volume};
use crate::context::HostContext;
use crate::probes::command::run_with_timeout;
use crate::probes::{error, ProbeResult};

struct Status(Result<Vec<Volume>, String>);

fn load(timeout: Duration) -> Status {
    let root = std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
    let exe = std::path::PathBuf::from(root)
        .join("System32")
        .join("manage-bde.exe");
    if !exe.exists() {
        return Status(Err(format!(
            "{} does not exist: BitLocker status is not available on this system",
            exe.display()
        )));
    }
    let mut cmd = Command::new(&exe);
    cmd.arg("-status");
    let out = match run_with_timeout(cmd, timeout) {
        Ok(o) => o,
        Err(crate::probes::ProbeFailure::Error(e) | crate::probes::ProbeFailure::NotApplicable(e)) => {
            return Status(Err(format!("manage-bde -status: {e}")))
        }
    };
    let text = format!("{}\n{}", out.stdout_text(), out.stderr_text());
    let parsed = match parse_status(&text) {
        Ok(v) if out.status.success() => Ok(v),
        Err(BdeError::NeedsAdmin) => Err("manage-bde -status: access denied (requires Administrator)".into()),
        _ if denied(&text) => Err("manage-bde -status: access denied (requires Administrator)".into()),
        Ok(_) => Err(format!("manage-bde -status failed ({})", out.status)),
        Err(BdeError::Unrecognised(e)) => Err(e),
    };
    Status(parsed)
}

/// "c", "C:", "C:\" → "C:".
fn volume_name(arg: &str) -> String {
    let t = arg.trim().trim_end_matches('\\');
    if t.len() == 1 && t.chars().all(|c| c.is_ascii_alphabetic()) {
        format!("{}:", t.to_ascii_uppercase())
    } else {
        t.to_ascii_uppercase()
    }
}

fn value(v: &Volume, prop: &str) -> Option<Value> {
    match prop {
        "conversion_status" => v.conversion_status.clone(),
        _ => v.protection_status.clone(),
    }
    .map(Value::Text)
}

pub fn observe(probe: &Probe, ctx: &HostContext, timeout: Duration) -> ProbeResult {
    let status = ctx.shared(|| load(timeout));
    let volumes = status.0.as_ref().map_err(|e| error(e.clone()))?;
    let prop = probe.property().unwrap_or("protection_status");
    let arg = probe.arg_text();
    if arg.trim() == "*" {
        let values: Vec<Value> = volumes
            .iter()
            .filter(|v| v.is_fixed())
            .filter_map(|v| value(v, prop))
            .collect();
        return Ok(Observation::list_or_missing(values));
    }
    let wanted = volume_name(&arg);
    Ok(volumes
        .iter()
        .find(|v| v.name.eq_ignore_ascii_case(&wanted))
        .and_then(|v| value(v, prop))
        .map(Observation::Scalar)
        .unwrap_or(Observation::Missing))
}
