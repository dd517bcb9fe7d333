//! The `os` probe on Linux: os-release keys and the running kernel release. (Windows
//! has its own implementation under `probes::windows`.)

use std::collections::HashMap;
use std::sync::Arc;

use vt_policy::probe::Probe;
use vt_policy::Observation;

use crate::context::HostContext;
use crate::fsroot::FsError;
use crate::probes::{error, require_live, ProbeFailure, ProbeResult};

/// The os-release files in the order systemd's os-release(5) says to read them.
const OS_RELEASE_PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// Parsed os-release: variable names as written (upper case) to unquoted values.
#[derive(Debug, Default, PartialEq)]
pub struct OsRelease {
    /// The file the values came from (as seen on the audited system).
    pub path: String,
    vars: HashMap<String, String>,
}

impl OsRelease {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(&key.to_ascii_uppercase()).map(String::as_str)
    }

    pub fn parse(path: &str, text: &str) -> OsRelease {
        let mut vars = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, raw)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                continue;
            }
            vars.insert(key.to_string(), unquote(raw.trim()));
        }
        OsRelease {
            path: path.to_string(),
            vars,
        }
    }
}

/// Shell-style unquoting as os-release(5) specifies: double quotes with `\"`, `\\`,
/// `\$`, `` \` `` escapes, single quotes taken literally, backslash escapes elsewhere.
fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => out.push(e),
                            Some(other) => {
                                out.push('\\');
                                out.push(other);
                            }
                            None => out.push('\\'),
                        },
                        other => out.push(other),
                    }
                }
            }
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '\\' => {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            // An unquoted `#` after a value starts a comment in shell.
            '#' if out.ends_with(char::is_whitespace) => break,
            other => out.push(other),
        }
    }
    out.trim_end().to_string()
}

/// One os-release per run: host info and every `os:` rule read the same file.
struct OsReleaseSource(Result<Option<Arc<OsRelease>>, String>);

fn load(ctx: &HostContext) -> Result<Option<Arc<OsRelease>>, String> {
    for path in OS_RELEASE_PATHS {
        match ctx.read_text(path) {
            Ok(Some(text)) => return Ok(Some(Arc::new(OsRelease::parse(path, &text)))),
            Ok(None) | Err(FsError::NotFound) => continue,
            Err(e) => return Err(format!("cannot read {path}: {e}")),
        }
    }
    Ok(None)
}

fn source(ctx: &HostContext) -> Arc<OsReleaseSource> {
    ctx.shared(|| OsReleaseSource(load(ctx)))
}

/// The audited system's os-release, if it has one and it can be read.
pub fn os_release(ctx: &HostContext) -> Option<Arc<OsRelease>> {
    source(ctx).0.clone().ok().flatten()
}

/// A human-readable OS name for report headers: PRETTY_NAME, else NAME VERSION_ID.
pub fn pretty_name(ctx: &HostContext) -> Option<String> {
    let rel = os_release(ctx)?;
    if let Some(p) = rel.get("PRETTY_NAME").filter(|s| !s.is_empty()) {
        return Some(p.to_string());
    }
    let name = rel.get("NAME").filter(|s| !s.is_empty())?;
    Some(match rel.get("VERSION_ID").filter(|s| !s.is_empty()) {
        Some(v) => format!("{name} {v}"),
        None => name.to_string(),
    })
}

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let key = probe.arg_text();
    let key = key.trim();
    if key.eq_ignore_ascii_case("kernel") {
        require_live(ctx, "os kernel (the running kernel release)")?;
        return match ctx.read_text("/proc/sys/kernel/osrelease") {
            Ok(Some(text)) => Ok(Observation::text(text.trim())),
            Ok(None) => Err(error(
                "/proc/sys/kernel/osrelease does not exist; is /proc mounted?",
            )),
            Err(e) => Err(error(format!("cannot read /proc/sys/kernel/osrelease: {e}"))),
        };
    }
    let src = source(ctx);
    let rel = match &src.0 {
        Ok(Some(rel)) => rel,
        Ok(None) => return Ok(Observation::Missing),
        Err(msg) => return Err(ProbeFailure::Error(msg.clone())),
    };
    Ok(rel.get(key).map_or(Observation::Missing, Observation::text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::fs;
    use vt_policy::probe::{ProbeArg, ProbeKind};

    fn probe(key: &str) -> Probe {
        Probe {
            kind: ProbeKind::Os,
            arg: ProbeArg::Text(key.into()),
            property: None,
            params: BTreeMap::new(),
        }
    }

    use crate::probes::testutil::root_with;

    const DEBIAN: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
        VERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n# comment\nnot a var line\n\
        HOME_URL='https://www.debian.org/'\nQUOTED=\"say \\\"hi\\\" \\$x\"\n";

    #[test]
    fn reads_keys_in_lower_case_with_quotes_removed() {
        let (_d, ctx) = root_with(&[("/etc/os-release", DEBIAN)]);
        assert_eq!(observe(&probe("id"), &ctx).unwrap(), Observation::text("debian"));
        assert_eq!(
            observe(&probe("version_id"), &ctx).unwrap(),
            Observation::text("12")
        );
        assert_eq!(
            observe(&probe("pretty_name"), &ctx).unwrap(),
            Observation::text("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            observe(&probe("version_codename"), &ctx).unwrap(),
            Observation::text("bookworm")
        );
        assert_eq!(
            observe(&probe("home_url"), &ctx).unwrap(),
            Observation::text("https://www.debian.org/")
        );
        assert_eq!(
            observe(&probe("quoted"), &ctx).unwrap(),
            Observation::text("say \"hi\" $x")
        );
        assert_eq!(observe(&probe("variant_id"), &ctx).unwrap(), Observation::Missing);
        assert_eq!(
            pretty_name(&ctx).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn falls_back_to_usr_lib_and_follows_the_usual_symlink() {
        let (d, ctx) = root_with(&[(
            "/usr/lib/os-release",
            "NAME=Fedora Linux\nVERSION_ID=40\nID=fedora\n",
        )]);
        assert_eq!(observe(&probe("id"), &ctx).unwrap(), Observation::text("fedora"));
        // No PRETTY_NAME: NAME and VERSION_ID make the header name.
        assert_eq!(pretty_name(&ctx).as_deref(), Some("Fedora Linux 40"));

        // The common layout: /etc/os-release -> ../usr/lib/os-release (and an absolute one).
        fs::create_dir_all(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/os-release", d.path().join("etc/os-release")).unwrap();
        let ctx2 = HostContext::with_root(d.path().to_path_buf());
        let rel = os_release(&ctx2).unwrap();
        assert_eq!(rel.path, "/etc/os-release");
        assert_eq!(rel.get("id"), Some("fedora"));
    }

    #[test]
    fn etc_wins_over_usr_lib() {
        let (_d, ctx) = root_with(&[
            ("/etc/os-release", "ID=ubuntu\n"),
            ("/usr/lib/os-release", "ID=debian\n"),
        ]);
        assert_eq!(observe(&probe("ID"), &ctx).unwrap(), Observation::text("ubuntu"));
    }

    #[test]
    fn no_os_release_is_missing() {
        let (_d, ctx) = root_with(&[]);
        assert_eq!(observe(&probe("id"), &ctx).unwrap(), Observation::Missing);
        assert_eq!(pretty_name(&ctx), None);
    }

    #[test]
    fn unreadable_os_release_is_an_error() {
        let (d, ctx) = root_with(&[("/etc/os-release", "ID=debian\n")]);
        let p = d.path().join("etc/os-release");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root reads through mode 000, so there is no failure to observe.
            return;
        }
        let r = observe(&probe("id"), &ctx);
        assert_eq!(r, Err(error("cannot read /etc/os-release: permission denied")));
    }

    #[test]
    fn a_directory_in_place_of_the_file_is_an_error() {
        let (d, ctx) = root_with(&[]);
        fs::create_dir_all(d.path().join("etc/os-release")).unwrap();
        let r = observe(&probe("id"), &ctx);
        assert_eq!(r, Err(error("cannot read /etc/os-release: is a directory")));
    }

    #[test]
    fn unquoting() {
        assert_eq!(unquote("\"a b\""), "a b");
        assert_eq!(unquote("'a \\ b'"), "a \\ b");
        assert_eq!(unquote("a\\ b"), "a b");
        assert_eq!(unquote("\"unterminated"), "unterminated");
        assert_eq!(unquote("val # trailing comment"), "val");
        assert_eq!(unquote("\"x\\ny\""), "x\\ny");
    }

    #[test]
    fn kernel_is_live_only() {
        let (_d, ctx) = root_with(&[("/proc/sys/kernel/osrelease", "6.1.0\n")]);
        assert!(matches!(
            observe(&probe("kernel"), &ctx),
            Err(ProbeFailure::NotApplicable(_))
        ));
        let live = HostContext::live();
        let Observation::Scalar(vt_policy::Value::Text(release)) = observe(&probe("kernel"), &live).unwrap()
        else {
            panic!("expected text")
        };
        let expected = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(release, expected.trim());
    }
}
