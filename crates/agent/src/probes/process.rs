//! The `process` probe on Linux: names of running processes matching a glob. Live
//! only. (Windows has its own implementation under `probes::windows`.)

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};

use super::{error, require_live, ProbeResult};
use crate::context::HostContext;

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    require_live(ctx, "the process probe")?;
    observe_live(probe)
}

fn observe_live(probe: &Probe) -> ProbeResult {
    let pattern = probe.arg_text();
    let matcher = globset::GlobBuilder::new(&pattern)
        .case_insensitive(false)
        .literal_separator(false)
        .build()
        .map_err(|e| error(format!("invalid process name pattern {pattern:?}: {e}")))?
        .compile_matcher();
    let entries = std::fs::read_dir("/proc").map_err(|e| error(format!("cannot list /proc: {e}")))?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // Processes come and go while we look; one that vanished simply is not running.
        let comm = std::fs::read(format!("/proc/{pid}/comm")).ok();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok();
        if let Some(name) = matching_name(comm.as_deref(), cmdline.as_deref(), |n| matcher.is_match(n)) {
            names.push(name);
        }
    }
    names.sort();
    Ok(Observation::list_or_missing(
        names.into_iter().map(Value::Text).collect(),
    ))
}

/// The name to report for one process, if it matches. Candidates are the kernel's
/// `comm` (what ps and pgrep show, cut to 15 bytes) and the basename of argv[0].
/// A truncated comm is reported by its full argv[0] name, so a policy sees
/// `systemd-journald`, not `systemd-journal`.
fn matching_name(
    comm: Option<&[u8]>,
    cmdline: Option<&[u8]>,
    is_match: impl Fn(&str) -> bool,
) -> Option<String> {
    let comm = comm.map(|c| String::from_utf8_lossy(c).trim_end_matches('\n').to_string());
    let argv0 = cmdline.and_then(|c| {
        let first = c.split(|&b| b == 0).next().unwrap_or_default();
        let text = String::from_utf8_lossy(first).into_owned();
        let base = text.rsplit('/').next().unwrap_or_default().to_string();
        (!base.is_empty()).then_some(base)
    });
    // The kernel's comm buffer is 16 bytes including the terminator.
    const COMM_MAX: usize = 15;
    let primary = match (&comm, &argv0) {
        (Some(c), Some(a)) if c.len() == COMM_MAX && a.starts_with(c.as_str()) => Some(a.clone()),
        (Some(c), _) if !c.is_empty() => Some(c.clone()),
        _ => argv0.clone(),
    };
    [primary, comm, argv0].into_iter().flatten().find(|n| is_match(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::ProbeFailure;
    use std::collections::BTreeMap;
    use vt_policy::probe::{ProbeArg, ProbeKind};

    fn probe(name: &str) -> Probe {
        Probe {
            kind: ProbeKind::Process,
            arg: ProbeArg::Text(name.into()),
            property: None,
            params: BTreeMap::new(),
        }
    }

    fn own_name() -> String {
        let exe = std::env::current_exe().unwrap();
        exe.file_name().unwrap().to_string_lossy().into_owned()
    }

    #[test]
    fn finds_this_test_process_by_exact_name_and_glob() {
        let ctx = HostContext::live();
        let me = own_name();
        let Observation::List(found) = observe(&probe(&me), &ctx).unwrap() else {
            panic!("expected a list")
        };
        // The test binary's name (vt_agent-<hash>) is longer than comm's 15 bytes, so this
        // also checks that the full argv[0] name is what gets reported.
        assert!(found.contains(&Value::Text(me.clone())), "{found:?} lacks {me}");
        let prefix: String = me.chars().take(6).collect();
        let Observation::List(globbed) = observe(&probe(&format!("{prefix}*")), &ctx).unwrap() else {
            panic!("expected a list")
        };
        assert!(globbed.contains(&Value::Text(me.clone())));
        let mut sorted = globbed.clone();
        sorted.sort_by_key(|v| v.to_string());
        assert_eq!(globbed, sorted);
    }

    #[test]
    fn matching_is_case_sensitive_and_missing_when_none() {
        let ctx = HostContext::live();
        let upper = own_name().to_uppercase();
        assert_eq!(observe(&probe(&upper), &ctx).unwrap(), Observation::Missing);
        assert_eq!(
            observe(&probe("vt-no-such-process-*-x"), &ctx).unwrap(),
            Observation::Missing
        );
    }

    #[test]
    fn name_selection_rules() {
        let m = |pat: &str| {
            let g = globset::Glob::new(pat).unwrap().compile_matcher();
            move |n: &str| g.is_match(n)
        };
        // Truncated comm: reported by argv[0]'s basename.
        let name = matching_name(
            Some(b"systemd-journal\n"),
            Some(b"/usr/lib/systemd/systemd-journald\0"),
            m("systemd-*"),
        );
        assert_eq!(name.as_deref(), Some("systemd-journald"));
        // sshd rewrites its argv; comm still says sshd.
        let name = matching_name(Some(b"sshd\n"), Some(b"sshd: alice [priv]\0\0"), m("sshd"));
        assert_eq!(name.as_deref(), Some("sshd"));
        // Kernel threads have no cmdline.
        let name = matching_name(Some(b"kworker/0:1\n"), Some(b""), m("kworker*"));
        assert_eq!(name.as_deref(), Some("kworker/0:1"));
        // A script: comm is the script, argv[0] the interpreter; either may be asked for.
        let name = matching_name(
            Some(b"backup.sh\n"),
            Some(b"/bin/bash\0/usr/local/bin/backup.sh\0"),
            m("bash"),
        );
        assert_eq!(name.as_deref(), Some("bash"));
        assert_eq!(
            matching_name(Some(b"cron\n"), Some(b"/usr/sbin/cron\0-f\0"), m("crond")),
            None
        );
    }

    #[test]
    fn invalid_glob_is_an_error() {
        let ctx = HostContext::live();
        let r = observe(&probe("sshd[a-"), &ctx);
        assert!(
            matches!(r, Err(ProbeFailure::Error(ref m)) if m.starts_with("invalid process name pattern")),
            "{r:?}"
        );
    }

    #[test]
    fn not_applicable_under_root() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        assert!(matches!(
            observe(&probe("sshd"), &ctx),
            Err(ProbeFailure::NotApplicable(_))
        ));
    }
}
