//! The `package` probe: the installed version of a package, from the dpkg status
//! database, or from rpm on the live system.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use vt_policy::probe::Probe;
use vt_policy::Observation;

use crate::context::HostContext;
use crate::fsroot::FsError;
use crate::probes::command::run_with_timeout;
use crate::probes::{error, ProbeFailure, ProbeResult};

const DPKG_STATUS: &str = "/var/lib/dpkg/status";
/// Where rpm keeps its database: the traditional place and the newer /usr one.
const RPM_DB_DIRS: [&str; 2] = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"];

#[derive(Debug, Clone, PartialEq)]
struct DpkgEntry {
    arch: String,
    version: String,
    installed: bool,
}

/// Package name -> one entry per architecture (Multi-Arch packages appear once per arch).
#[derive(Debug, Default)]
struct DpkgDb {
    packages: HashMap<String, Vec<DpkgEntry>>,
}

/// The dpkg status database, parsed once per run. `Ok(None)`: no dpkg on this system.
struct DpkgSource(Result<Option<Arc<DpkgDb>>, String>);

pub fn observe(probe: &Probe, ctx: &HostContext, timeout: Duration) -> ProbeResult {
    let query = probe.arg_text().trim().to_ascii_lowercase();
    if query.is_empty() || query.starts_with('-') || query.contains(char::is_whitespace) {
        return Err(error(format!("invalid package name {:?}", probe.arg_text())));
    }
    let src = ctx.shared(|| DpkgSource(load_dpkg(ctx)));
    match &src.0 {
        Ok(Some(db)) => Ok(dpkg_lookup(db, &query)),
        Err(msg) => Err(ProbeFailure::Error(msg.clone())),
        Ok(None) => rpm_lookup(&query, ctx, timeout),
    }
}

fn load_dpkg(ctx: &HostContext) -> Result<Option<Arc<DpkgDb>>, String> {
    match ctx.read_text(DPKG_STATUS) {
        Ok(Some(text)) => Ok(Some(Arc::new(parse_status(&text)))),
        Ok(None) => Ok(None),
        Err(FsError::PermissionDenied) => Err(format!("permission denied reading {DPKG_STATUS}")),
        Err(e) => Err(format!("cannot read {DPKG_STATUS}: {e}")),
    }
}

/// Parses dpkg's status file: RFC 822-style stanzas separated by blank lines. Stanzas
/// without a Package field are skipped rather than failing the whole database.
fn parse_status(text: &str) -> DpkgDb {
    let mut db = DpkgDb::default();
    let mut fields: HashMap<&str, &str> = HashMap::new();
    let mut flush = |fields: &mut HashMap<&str, &str>| {
        if let Some(name) = fields.get("package") {
            // The third Status word is the package's state; `installed` means its files
            // are on disk whatever the selection (install, hold, or deinstall pending).
            let status: Vec<&str> = fields
                .get("status")
                .map(|s| s.split_whitespace().collect())
                .unwrap_or_default();
            let installed = status.get(2) == Some(&"installed");
            let entry = DpkgEntry {
                arch: fields.get("architecture").unwrap_or(&"").to_string(),
                version: fields.get("version").unwrap_or(&"").to_string(),
                installed,
            };
            db.packages
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(entry);
        }
        fields.clear();
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut fields);
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue; // continuation of a multi-line field (Description, Conffiles)
        }
        if let Some((key, value)) = line.split_once(':') {
            let key = key.trim();
            // Only the fields we use; lower-cased because dpkg field names are case-insensitive.
            for wanted in ["package", "status", "version", "architecture"] {
                if key.eq_ignore_ascii_case(wanted) {
                    fields.insert(wanted, value.trim());
                }
            }
        }
    }
    flush(&mut fields);
    db
}

fn dpkg_lookup(db: &DpkgDb, query: &str) -> Observation {
    let (name, arch) = match query.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (query, None),
    };
    db.packages
        .get(name)
        .into_iter()
        .flatten()
        .find(|e| e.installed && arch.is_none_or(|a| e.arch == a))
        .map_or(Observation::Missing, |e| Observation::text(e.version.clone()))
}

fn rpm_lookup(name: &str, ctx: &HostContext, timeout: Duration) -> ProbeResult {
    let has_rpm_db = RPM_DB_DIRS
        .iter()
        .any(|d| ctx.resolve(d).is_ok_and(|p| p.is_dir()));
    if !has_rpm_db {
        return Err(error(format!(
            "no package database found (looked for {DPKG_STATUS} and an rpm database in {})",
            RPM_DB_DIRS.join(" and ")
        )));
    }
    if !ctx.is_live() {
        return Err(error(
            "this system uses rpm, whose database can only be read through the rpm tool on the live system; \
             package checks are not supported under --root",
        ));
    }
    let mut cmd = Command::new("rpm");
    cmd.args(["-q", "--qf", "%{VERSION}-%{RELEASE}\\n", name])
        .env("LC_ALL", "C");
    let out = run_with_timeout(cmd, timeout)?;
    let stdout = out.stdout_text();
    if out.status.success() {
        // Several versions can be installed at once (kernels); report the newest.
        let newest = stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .max_by(|a, b| vt_policy::version::compare(a, b));
        return Ok(newest.map_or(Observation::Missing, Observation::text));
    }
    if stdout.contains("is not installed") {
        return Ok(Observation::Missing);
    }
    let detail = if out.stderr_text().is_empty() {
        stdout
    } else {
        out.stderr_text()
    };
    Err(error(format!("rpm -q {name} failed: {detail}")))
}

#[cfg(test)]
mod tests {
    const TEST_TIMEOUT: Duration = Duration::from_secs(10);
    use super::*;
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use vt_policy::probe::{ProbeArg, ProbeKind};

    fn probe(name: &str) -> Probe {
        Probe {
            kind: ProbeKind::Package,
            arg: ProbeArg::Text(name.into()),
            property: None,
            params: BTreeMap::new(),
        }
    }

    const STATUS: &str = "\
Package: openssh-server
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 1:9.2p1-2+deb12u3
Description: secure shell (SSH) server
 multi-line description
 .
 continues

Package: telnetd
Status: deinstall ok config-files
Architecture: amd64
Version: 0.17-44

Package: nis
Status: install reinstreq half-installed
Architecture: amd64
Version: 4.17

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u7

Package: libc6
Status: install ok installed
Architecture: i386
Multi-Arch: same
Version: 2.36-9+deb12u7

Package: zlib1g
Status: install ok unpacked
Architecture: i386
Version: 1:1.2.13

Package: zlib1g
Status: hold ok installed
Architecture: amd64
Version: 1:1.2.13.dfsg-1

Package: rsh-client
Status: deinstall ok installed
Architecture: amd64
Version: 0.17-24
this line is garbage without a colon
Status
:

Version: 9.9 (a stanza without Package is skipped)
";

    fn root_with_status(text: &str) -> (tempfile::TempDir, HostContext) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
        fs::write(dir.path().join("var/lib/dpkg/status"), text).unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        (dir, ctx)
    }

    fn ask(ctx: &HostContext, name: &str) -> ProbeResult {
        observe(&probe(name), ctx, TEST_TIMEOUT)
    }

    #[test]
    fn installed_packages_report_their_version() {
        let (_d, ctx) = root_with_status(STATUS);
        assert_eq!(
            ask(&ctx, "openssh-server").unwrap(),
            Observation::text("1:9.2p1-2+deb12u3")
        );
        assert_eq!(
            ask(&ctx, "OpenSSH-Server").unwrap(),
            Observation::text("1:9.2p1-2+deb12u3")
        );
        // Held packages are installed too.
        assert_eq!(ask(&ctx, "zlib1g").unwrap(), Observation::text("1:1.2.13.dfsg-1"));
        // Selected for removal but still on disk.
        assert_eq!(ask(&ctx, "rsh-client").unwrap(), Observation::text("0.17-24"));
    }

    #[test]
    fn not_installed_states_are_missing() {
        let (_d, ctx) = root_with_status(STATUS);
        assert_eq!(ask(&ctx, "telnetd").unwrap(), Observation::Missing);
        assert_eq!(ask(&ctx, "nis").unwrap(), Observation::Missing);
        assert_eq!(ask(&ctx, "no-such-package").unwrap(), Observation::Missing);
    }

    #[test]
    fn multi_arch_qualifiers() {
        let (_d, ctx) = root_with_status(STATUS);
        assert_eq!(ask(&ctx, "libc6").unwrap(), Observation::text("2.36-9+deb12u7"));
        assert_eq!(
            ask(&ctx, "libc6:i386").unwrap(),
            Observation::text("2.36-9+deb12u7")
        );
        assert_eq!(ask(&ctx, "libc6:arm64").unwrap(), Observation::Missing);
        // zlib1g:i386 is only unpacked; the amd64 one is installed.
        assert_eq!(ask(&ctx, "zlib1g:i386").unwrap(), Observation::Missing);
        assert_eq!(
            ask(&ctx, "zlib1g:amd64").unwrap(),
            Observation::text("1:1.2.13.dfsg-1")
        );
    }

    #[test]
    fn the_database_is_parsed_once_per_run() {
        let (d, ctx) = root_with_status(STATUS);
        assert_eq!(ask(&ctx, "telnetd").unwrap(), Observation::Missing);
        // A change after the first look is not seen by this run.
        fs::write(
            d.path().join("var/lib/dpkg/status"),
            "Package: telnetd\nStatus: install ok installed\nVersion: 1\n",
        )
        .unwrap();
        assert_eq!(ask(&ctx, "telnetd").unwrap(), Observation::Missing);
        let fresh = HostContext::with_root(d.path().to_path_buf());
        assert_eq!(ask(&fresh, "telnetd").unwrap(), Observation::text("1"));
    }

    #[test]
    fn symlinked_status_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("srv")).unwrap();
        fs::create_dir_all(dir.path().join("var/lib")).unwrap();
        fs::write(dir.path().join("srv/status"), STATUS).unwrap();
        fs::create_dir_all(dir.path().join("srv/dpkg")).unwrap();
        std::os::unix::fs::symlink("/srv/status", dir.path().join("srv/dpkg/status")).unwrap();
        std::os::unix::fs::symlink("/srv/dpkg", dir.path().join("var/lib/dpkg")).unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        assert_eq!(ask(&ctx, "libc6").unwrap(), Observation::text("2.36-9+deb12u7"));
    }

    #[test]
    fn no_database_or_rpm_only_under_root_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        let Err(ProbeFailure::Error(msg)) = ask(&ctx, "bash") else {
            panic!("expected an error")
        };
        assert!(msg.starts_with("no package database found"), "{msg}");

        fs::create_dir_all(dir.path().join("var/lib/rpm")).unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        let Err(ProbeFailure::Error(msg)) = ask(&ctx, "bash") else {
            panic!("expected an error")
        };
        assert!(msg.contains("rpm"), "{msg}");
    }

    #[test]
    fn unreadable_status_is_an_error() {
        let (d, ctx) = root_with_status(STATUS);
        fs::set_permissions(
            d.path().join("var/lib/dpkg/status"),
            fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root reads through mode 000, so there is no failure to observe.
            return;
        }
        assert_eq!(
            ask(&ctx, "libc6"),
            Err(error("permission denied reading /var/lib/dpkg/status"))
        );
    }

    #[test]
    fn malformed_names_are_rejected() {
        let (_d, ctx) = root_with_status(STATUS);
        assert!(ask(&ctx, "-qa").is_err());
        assert!(ask(&ctx, "two words").is_err());
    }
}
