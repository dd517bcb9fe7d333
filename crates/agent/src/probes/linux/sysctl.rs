//! The `sysctl` probe: a kernel parameter's current value from /proc/sys.

use vt_policy::probe::Probe;
use vt_policy::Observation;

use crate::context::HostContext;
use crate::fsroot::FsError;
use crate::probes::{error, ProbeFailure, ProbeResult};

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let key = probe.arg_text();
    let path = proc_path(key.trim())?;
    // A mounted image normally has an empty /proc: kernel parameters are runtime state,
    // and reporting every key as missing would fail checks for the wrong reason.
    if !ctx.is_live() && !ctx.resolve("/proc/sys").is_ok_and(|p| p.is_dir()) {
        return Err(ProbeFailure::NotApplicable(
            "sysctl reads the running kernel (/proc/sys), which the audited root does not contain".into(),
        ));
    }
    let real = match ctx.resolve(&path) {
        Ok(p) => p,
        Err(FsError::NotFound) => return Ok(Observation::Missing),
        Err(e) => return Err(read_error(&path, e)),
    };
    if real.is_dir() {
        return Err(error(format!(
            "{key} is a group of sysctl keys ({path} is a directory), not a single key"
        )));
    }
    match crate::fsroot::read_text_bounded(&real) {
        Ok(Some(text)) => Ok(Observation::text(
            text.split_whitespace().collect::<Vec<_>>().join(" "),
        )),
        Ok(None) => Ok(Observation::Missing),
        Err(e) => Err(read_error(&path, e)),
    }
}

fn read_error(path: &str, e: FsError) -> ProbeFailure {
    match e {
        // Some keys are write-only (vm.compact_memory) or root-only (kernel.cad_pid).
        FsError::PermissionDenied => error(format!("permission denied reading {path}")),
        e => error(format!("cannot read {path}: {e}")),
    }
}

/// Maps a key to its /proc/sys path the way sysctl(8) does: dots separate levels, and
/// when the key is written with slashes instead, dots are literal (interface names such
/// as `eth0.100`). In the dotted form a `/` stands for a literal dot.
fn proc_path(key: &str) -> Result<String, ProbeFailure> {
    let key = key.trim_start_matches('/').trim_start_matches("proc/sys/");
    let first_dot = key.find('.');
    let first_slash = key.find('/');
    let slashed = match (first_slash, first_dot) {
        (Some(s), Some(d)) => s < d,
        (Some(_), None) => true,
        _ => false,
    };
    let rel: String = if slashed {
        key.to_string()
    } else {
        key.chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect()
    };
    let parts: Vec<&str> = rel.split('/').collect();
    if key.is_empty() || parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return Err(error(format!("invalid sysctl key {key:?}")));
    }
    Ok(format!("/proc/sys/{rel}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use vt_policy::probe::{ProbeArg, ProbeKind};

    fn probe(key: &str) -> Probe {
        Probe {
            kind: ProbeKind::Sysctl,
            arg: ProbeArg::Text(key.into()),
            property: None,
            params: BTreeMap::new(),
        }
    }

    fn fixture() -> (tempfile::TempDir, HostContext) {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("proc/sys");
        fs::create_dir_all(sys.join("net/ipv4/conf/eth0.100")).unwrap();
        fs::create_dir_all(sys.join("kernel")).unwrap();
        fs::write(sys.join("net/ipv4/ip_forward"), "0\n").unwrap();
        fs::write(sys.join("net/ipv4/ip_local_port_range"), "32768\t60999\n").unwrap();
        fs::write(sys.join("net/ipv4/conf/eth0.100/forwarding"), "1\n").unwrap();
        fs::write(sys.join("kernel/empty"), "").unwrap();
        fs::write(sys.join("kernel/real_randomize"), "2\n").unwrap();
        // An absolute symlink must resolve inside the root.
        std::os::unix::fs::symlink(
            "/proc/sys/kernel/real_randomize",
            sys.join("kernel/randomize_va_space"),
        )
        .unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        (dir, ctx)
    }

    #[test]
    fn reads_and_collapses_whitespace() {
        let (_d, ctx) = fixture();
        assert_eq!(
            observe(&probe("net.ipv4.ip_forward"), &ctx).unwrap(),
            Observation::text("0")
        );
        assert_eq!(
            observe(&probe("net/ipv4/ip_forward"), &ctx).unwrap(),
            Observation::text("0")
        );
        assert_eq!(
            observe(&probe("net.ipv4.ip_local_port_range"), &ctx).unwrap(),
            Observation::text("32768 60999")
        );
        assert_eq!(
            observe(&probe("kernel.empty"), &ctx).unwrap(),
            Observation::text("")
        );
    }

    #[test]
    fn dotted_interface_names() {
        let (_d, ctx) = fixture();
        assert_eq!(
            observe(&probe("net.ipv4.conf.eth0/100.forwarding"), &ctx).unwrap(),
            Observation::text("1")
        );
        assert_eq!(
            observe(&probe("net/ipv4/conf/eth0.100/forwarding"), &ctx).unwrap(),
            Observation::text("1")
        );
    }

    #[test]
    fn symlink_inside_root() {
        let (_d, ctx) = fixture();
        assert_eq!(
            observe(&probe("kernel.randomize_va_space"), &ctx).unwrap(),
            Observation::text("2")
        );
    }

    #[test]
    fn absent_key_is_missing() {
        let (_d, ctx) = fixture();
        assert_eq!(
            observe(&probe("net.ipv6.conf.all.forwarding"), &ctx).unwrap(),
            Observation::Missing
        );
        assert_eq!(
            observe(&probe("fs.suid_dumpable"), &ctx).unwrap(),
            Observation::Missing
        );
    }

    #[test]
    fn directory_and_bad_keys_are_errors() {
        let (_d, ctx) = fixture();
        let r = observe(&probe("net.ipv4"), &ctx);
        assert!(
            matches!(r, Err(ProbeFailure::Error(ref m)) if m.contains("group of sysctl keys")),
            "{r:?}"
        );
        assert_eq!(
            observe(&probe("net..ipv4"), &ctx),
            Err(error("invalid sysctl key \"net..ipv4\""))
        );
        assert!(observe(&probe("net/../../etc/passwd"), &ctx).is_err());
    }

    #[test]
    fn permission_denied_is_an_error() {
        let (d, ctx) = fixture();
        let p = d.path().join("proc/sys/net/ipv4/ip_forward");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root reads through mode 000, so there is no failure to observe here.
            return;
        }
        assert_eq!(
            observe(&probe("net.ipv4.ip_forward"), &ctx),
            Err(error("permission denied reading /proc/sys/net/ipv4/ip_forward"))
        );
    }

    #[test]
    fn root_without_proc_sys_is_not_applicable() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proc")).unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        let r = observe(&probe("net.ipv4.ip_forward"), &ctx);
        assert!(matches!(r, Err(ProbeFailure::NotApplicable(_))), "{r:?}");
    }

    #[test]
    fn live_reads_the_running_kernel() {
        let ctx = HostContext::live();
        let expected = fs::read_to_string("/proc/sys/kernel/ostype").unwrap();
        assert_eq!(
            observe(&probe("kernel.ostype"), &ctx).unwrap(),
            Observation::text(expected.trim())
        );
    }
}
