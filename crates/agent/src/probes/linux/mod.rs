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
/// The logical lines of a configuration file where a trailing backslash continues a line
/// (modprobe.d, systemd unit files); the pieces are joined with a space. An unfinished
/// continuation at the end of the file is dropped.
pub(crate) fn continued_lines(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut pending = String::new();
    text.lines().filter_map(move |raw| match raw.strip_suffix('\\') {
        Some(head) => {
            pending.push_str(head);
            pending.push(' ');
            None
        }
        None => {
            pending.push_str(raw);
            Some(std::mem::take(&mut pending))
        }
    })
}

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

#[cfg(test)]
mod tests {
    use super::continued_lines;

    #[test]
    fn backslashes_join_lines_and_a_dangling_one_is_dropped() {
        let text = "install cramfs \\\n  /bin/false\nblacklist x\nWantedBy=a \\\nb.target\ntrailing \\";
        let lines: Vec<String> = continued_lines(text).collect();
        assert_eq!(
            lines,
            [
                "install cramfs    /bin/false",
                "blacklist x",
                "WantedBy=a  b.target"
            ]
        );
    }
}
