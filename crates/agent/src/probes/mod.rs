//! Probes observe one aspect of the host. Each probe type lives in its own module;
//! [`observe`] is the one place that maps a policy's probe kind to its implementation.

use std::sync::Arc;
use std::time::Duration;

use vt_policy::check::ProbeOutcome;
use vt_policy::probe::{Platform, Probe, ProbeKind};
use vt_policy::Observation;

use crate::context::HostContext;
use crate::fsroot::FsError;

pub mod command;
pub mod file;
pub mod files;
#[cfg(not(windows))]
pub mod os;
#[cfg(not(windows))]
pub mod process;
#[cfg(test)]
pub mod testutil;

#[cfg(not(windows))]
pub mod linux;
// Compiled for Linux tests too: the Windows probes' pure logic is unit-tested there.
#[cfg(any(windows, test))]
pub mod windows;

/// Why a probe did not produce an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// Not meaningful in this mode (a live-only probe under `--root`).
    NotApplicable(String),
    /// Could not observe; becomes an `error` result with this reason.
    Error(String),
}

impl From<FsError> for ProbeFailure {
    fn from(e: FsError) -> Self {
        ProbeFailure::Error(e.to_string())
    }
}

pub type ProbeResult = Result<Observation, ProbeFailure>;

pub fn error(msg: impl Into<String>) -> ProbeFailure {
    ProbeFailure::Error(msg.into())
}

/// Fails with not-applicable unless probing the live system.
pub fn require_live(ctx: &HostContext, what: &str) -> Result<(), ProbeFailure> {
    if ctx.is_live() {
        Ok(())
    } else {
        Err(ProbeFailure::NotApplicable(format!(
            "{what} looks at the running system; not applicable under --root"
        )))
    }
}

/// The operating system's display name and version for report headers.
pub fn os_version_text(ctx: &HostContext) -> Option<String> {
    #[cfg(not(windows))]
    return os::pretty_name(ctx);
    #[cfg(windows)]
    return windows::os_version_text(ctx);
}

/// Runs one probe without a time limit.
pub fn observe(probe: &Probe, ctx: &HostContext, timeout: Duration) -> ProbeResult {
    match (probe.platform(), cfg!(windows)) {
        (Platform::Windows, false) => return Err(error("windows-only probe")),
        (Platform::Linux, true) => return Err(error("linux-only probe")),
        _ => {}
    }
    match probe.kind {
        ProbeKind::File => file::observe(probe, ctx),
        ProbeKind::Files => files::observe(probe, ctx),
        ProbeKind::Command => command::observe(probe, ctx, timeout),
        #[cfg(not(windows))]
        ProbeKind::Process => process::observe(probe, ctx),
        #[cfg(not(windows))]
        ProbeKind::Os => os::observe(probe, ctx),
        #[cfg(not(windows))]
        kind => linux::observe(kind, probe, ctx, timeout),
        // Windows implements process and os natively too, next to its other probes.
        #[cfg(windows)]
        kind => windows::observe(kind, probe, ctx, timeout),
    }
}

/// Runs one probe on a helper thread and gives up after `timeout`. Probes that start
/// processes enforce the same limit themselves and kill what they started; this guard
/// covers everything else (a hung network filesystem, a stuck API call).
pub fn observe_with_timeout(probe: &Probe, ctx: &Arc<HostContext>, timeout: Duration) -> ProbeOutcome {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let probe_owned = probe.clone();
    let ctx_owned = Arc::clone(ctx);
    let spawned = std::thread::Builder::new().name("probe".into()).spawn(move || {
        let result = observe(&probe_owned, &ctx_owned, timeout);
        let _ = tx.send(result);
    });
    if let Err(e) = spawned {
        return ProbeOutcome::Error(format!("cannot start probe thread: {e}"));
    }
    // A little grace so a probe that enforces the limit itself reports its own reason.
    match rx.recv_timeout(timeout + Duration::from_millis(250)) {
        Ok(Ok(obs)) => ProbeOutcome::Observed(obs),
        Ok(Err(ProbeFailure::NotApplicable(why))) => ProbeOutcome::NotApplicable(why),
        Ok(Err(ProbeFailure::Error(why))) => ProbeOutcome::Error(why),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            ProbeOutcome::Error(format!("timed out after {} ms", timeout.as_millis()))
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            ProbeOutcome::Error("probe stopped unexpectedly".into())
        }
    }
}
