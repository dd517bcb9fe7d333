//! Probes that only exist on Linux.

use std::time::Duration;

use vt_policy::probe::{Probe, ProbeKind};

use super::{error, ProbeResult};
use crate::context::HostContext;

pub mod accounts;
pub mod kernel_module;
pub mod mount;
pub mod package;
pub mod sshd;
pub mod sysctl;
pub mod systemd_unit;

/// `timeout` bounds the helper programs some probes start (systemctl, rpm).
pub fn observe(kind: ProbeKind, probe: &Probe, ctx: &HostContext, timeout: Duration) -> ProbeResult {
    match kind {
        ProbeKind::Sysctl => sysctl::observe(probe, ctx),
        ProbeKind::KernelModule => kernel_module::observe(probe, ctx),
        ProbeKind::SystemdUnit => systemd_unit::observe(probe, ctx, timeout),
        ProbeKind::Package => package::observe(probe, ctx, timeout),
        ProbeKind::Mount => mount::observe(probe, ctx),
        ProbeKind::Account => accounts::observe_account(probe, ctx),
        ProbeKind::Accounts => accounts::observe_accounts(probe, ctx),
        ProbeKind::Group => accounts::observe_group(probe, ctx),
        ProbeKind::Sshd => sshd::observe(probe, ctx),
        other => Err(error(format!("{other} is not available on Linux"))),
    }
}
