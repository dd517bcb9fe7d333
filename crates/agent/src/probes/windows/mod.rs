//! Native Windows probes (Win32 APIs, no PowerShell except for `powershell:` checks).
//!
//! The pure logic of each probe (value decoding, code tables, precedence rules, output
//! parsing, the PowerShell framing) lives in modules compiled on every platform so it is
//! unit-tested on Linux; the modules that call Win32 are `cfg(windows)`.

// Pure modules, compiled everywhere (and tested everywhere).
pub mod auditpol;
pub mod bde;
pub mod fwrules;
pub mod osname;
pub mod psframe;
pub mod regvalue;
pub mod secsettings;
pub mod svcstate;

#[cfg(windows)]
mod audit_policy;
#[cfg(windows)]
mod bitlocker;
#[cfg(windows)]
mod file_version;
#[cfg(windows)]
mod firewall;
#[cfg(windows)]
mod installed_software;
#[cfg(windows)]
mod local_group;
#[cfg(windows)]
mod os;
#[cfg(windows)]
mod powershell;
#[cfg(windows)]
mod process;
#[cfg(windows)]
pub(crate) mod registry;
#[cfg(windows)]
mod security_policy;
#[cfg(windows)]
mod service;
#[cfg(windows)]
pub(crate) mod win;

#[cfg(windows)]
pub use file_version::file_version;
#[cfg(windows)]
pub use os::os_version_text;

/// Case-insensitive glob matcher for names (services, processes, software): Windows
/// names are case-insensitive, and `*`/`?` are the only wildcards users expect there.
pub fn name_glob(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid pattern {pattern:?}: {e}"))
}

#[cfg(windows)]
mod dispatch {
    use std::time::Duration;

    use vt_policy::probe::{Probe, ProbeKind};

    use super::*;
    use crate::context::HostContext;
    use crate::probes::{error, require_live, ProbeResult};

    /// Runs a probe of any kind except file/files/command (handled in `probes`).
    pub fn observe(kind: ProbeKind, probe: &Probe, ctx: &HostContext, timeout: Duration) -> ProbeResult {
        // Every Windows probe reads the running system: registry hives, the SCM and the
        // security APIs of a mounted image are not reachable through these calls.
        require_live(ctx, kind.key())?;
        match kind {
            ProbeKind::Registry => registry::observe(probe),
            ProbeKind::Service => service::observe(probe),
            ProbeKind::InstalledSoftware => installed_software::observe(probe, ctx),
            ProbeKind::SecurityPolicy => security_policy::observe(probe, ctx),
            ProbeKind::AuditPolicy => audit_policy::observe(probe, ctx),
            ProbeKind::Firewall => firewall::observe(probe),
            ProbeKind::LocalGroup => local_group::observe(probe),
            ProbeKind::Os => os::observe(probe, ctx),
            ProbeKind::Process => process::observe(probe),
            ProbeKind::Bitlocker => bitlocker::observe(probe, ctx, timeout),
            ProbeKind::Powershell => powershell::observe(probe, ctx, timeout),
            ProbeKind::Cmd => powershell::observe_cmd(probe, timeout),
            other => Err(error(format!("{} is not implemented on Windows", other.key()))),
        }
    }
}

#[cfg(windows)]
pub use dispatch::observe;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_globs_are_case_insensitive() {
        let g = name_glob("avp*").unwrap();
        assert!(g.is_match("AVP.exe"));
        assert!(g.is_match("avpsus"));
        assert!(!g.is_match("xavp"));
        let q = name_glob("Win?efend").unwrap();
        assert!(q.is_match("WinDefend"));
        assert!(name_glob("Program Files\\x*")
            .unwrap()
            .is_match("program files\\xy"));
    }
}
