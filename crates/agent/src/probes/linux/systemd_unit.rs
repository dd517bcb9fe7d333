//! The `systemd_unit` probe: a unit's enablement state, worked out from unit files and
//! symlinks the way `systemctl is-enabled` does (so it also works under --root), and
//! its live activity state from systemctl.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vt_policy::probe::Probe;
use vt_policy::Observation;

use super::continued_lines;
use crate::context::HostContext;
use crate::fsroot::FsError;
use crate::probes::command::run_with_timeout;
use crate::probes::{error, require_live, ProbeFailure, ProbeResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirKind {
    /// Administrator configuration (/etc): persistent.
    Config,
    /// /run: gone at the next boot.
    Runtime,
    Transient,
    Generator,
    /// Shipped by packages.
    Vendor,
}

/// The system unit search path in systemd's priority order (highest first).
const UNIT_DIRS: &[(&str, DirKind)] = &[
    ("/etc/systemd/system.control", DirKind::Config),
    ("/run/systemd/system.control", DirKind::Runtime),
    ("/run/systemd/transient", DirKind::Transient),
    ("/run/systemd/generator.early", DirKind::Generator),
    ("/etc/systemd/system", DirKind::Config),
    ("/etc/systemd/system.attached", DirKind::Config),
    ("/run/systemd/system", DirKind::Runtime),
    ("/run/systemd/system.attached", DirKind::Runtime),
    ("/run/systemd/generator", DirKind::Generator),
    ("/usr/local/lib/systemd/system", DirKind::Vendor),
    ("/usr/lib/systemd/system", DirKind::Vendor),
    ("/lib/systemd/system", DirKind::Vendor),
    ("/run/systemd/generator.late", DirKind::Generator),
];

/// Where `systemctl enable` puts its symlinks: persistent, then runtime.
const ENABLE_DIRS: &[(&str, DirKind)] = &[
    ("/etc/systemd/system", DirKind::Config),
    ("/run/systemd/system", DirKind::Runtime),
];

const UNIT_TYPES: &[&str] = &[
    "service",
    "socket",
    "target",
    "device",
    "mount",
    "automount",
    "swap",
    "timer",
    "path",
    "slice",
    "scope",
];

/// Follow at most this many symlinks when checking for a mask (as many as Linux does).
const MAX_LINK_HOPS: usize = 40;

pub fn observe(probe: &Probe, ctx: &HostContext, timeout: Duration) -> ProbeResult {
    let name = unit_name(probe.arg_text().trim())?;
    match probe.property().unwrap_or("enabled") {
        "enabled" => enabled_state(ctx, &name),
        "active" => active_state(ctx, &name, timeout),
        other => Err(error(format!("systemd_unit has no property {other:?}"))),
    }
}

/// Like systemctl, a name without a unit type means a service.
fn unit_name(arg: &str) -> Result<String, ProbeFailure> {
    if arg.is_empty() || arg.contains('/') || arg.starts_with('-') || arg.contains(char::is_whitespace) {
        return Err(error(format!("invalid systemd unit name {arg:?}")));
    }
    let has_type = arg.rsplit_once('.').is_some_and(|(_, t)| UNIT_TYPES.contains(&t));
    Ok(if has_type {
        arg.to_string()
    } else {
        format!("{arg}.service")
    })
}

fn active_state(ctx: &HostContext, name: &str, timeout: Duration) -> ProbeResult {
    require_live(ctx, "systemd_unit active (the running service manager)")?;
    // The test sd_booted() uses: this directory exists only while systemd is PID 1.
    if !Path::new("/run/systemd/system").is_dir() {
        return Err(error(
            "systemd is not running on this host; the active state cannot be read",
        ));
    }
    let mut cmd = Command::new("systemctl");
    cmd.args(["is-active", "--", name]).env("LC_ALL", "C");
    let out = run_with_timeout(cmd, timeout)?;
    // is-active prints the state and exits non-zero for anything but active, so the
    // exit code says nothing beyond the word itself.
    match out.stdout_text().split_whitespace().next() {
        Some(word) => Ok(Observation::text(word)),
        None => Err(error(format!(
            "systemctl is-active {name} printed nothing: {}",
            out.stderr_text()
        ))),
    }
}

/// The unit file found for a name, before interpreting it.
struct Fragment {
    /// As seen on the audited system, e.g. /etc/systemd/system/foo.service.
    path: String,
    kind: DirKind,
    /// The file's own name (the template's for an instance without its own file).
    file_name: String,
    /// The raw link target when the unit file is a symlink.
    link: Option<PathBuf>,
}

fn fs_failure(path: &str, e: FsError) -> ProbeFailure {
    match e {
        FsError::PermissionDenied => error(format!("permission denied reading {path}")),
        e => error(format!("cannot read {path}: {e}")),
    }
}

fn find_fragment(ctx: &HostContext, file_name: &str) -> Result<Option<Fragment>, ProbeFailure> {
    for (dir, kind) in UNIT_DIRS {
        let path = format!("{dir}/{file_name}");
        let real = match ctx.resolve_no_follow(&path) {
            Ok(p) => p,
            Err(FsError::NotFound) => continue,
            Err(e) => return Err(fs_failure(&path, e)),
        };
        let meta = match std::fs::symlink_metadata(&real) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(fs_failure(&path, e.into())),
        };
        let link = if meta.file_type().is_symlink() {
            Some(std::fs::read_link(&real).map_err(|e| fs_failure(&path, e.into()))?)
        } else {
            None
        };
        return Ok(Some(Fragment {
            path,
            kind: *kind,
            file_name: file_name.to_string(),
            link,
        }));
    }
    Ok(None)
}

/// `foo@bar.service` -> `foo@.service`.
fn template_of(name: &str) -> Option<String> {
    let (prefix, rest) = name.split_once('@')?;
    let (instance, suffix) = rest.rsplit_once('.')?;
    (!instance.is_empty()).then(|| format!("{prefix}@.{suffix}"))
}

/// `foo@bar.service` -> `bar`; `foo@.service` -> None.
fn instance_of<'a>(name: &'a str, template: &str) -> Option<&'a str> {
    let (t_prefix, t_suffix) = template.split_once("@.")?;
    let rest = name.strip_prefix(t_prefix)?.strip_prefix('@')?;
    let instance = rest.strip_suffix(t_suffix)?.strip_suffix('.')?;
    (!instance.is_empty()).then_some(instance)
}

/// A unit is masked when its file is (a chain of links to) /dev/null, or empty.
fn is_masked(ctx: &HostContext, fragment: &Fragment) -> Result<bool, ProbeFailure> {
    let mut path = PathBuf::from(&fragment.path);
    for _ in 0..MAX_LINK_HOPS {
        let shown = path.to_string_lossy().into_owned();
        let real = match ctx.resolve_no_follow(&shown) {
            Ok(p) => p,
            Err(FsError::NotFound) => return Ok(false),
            Err(e) => return Err(fs_failure(&shown, e)),
        };
        let meta = match std::fs::symlink_metadata(&real) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(fs_failure(&shown, e.into())),
        };
        if !meta.file_type().is_symlink() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::FileTypeExt;
                if meta.file_type().is_char_device() {
                    return Ok(true);
                }
            }
            return Ok(meta.is_file() && meta.len() == 0);
        }
        let target = std::fs::read_link(&real).map_err(|e| fs_failure(&shown, e.into()))?;
        if target == Path::new("/dev/null") {
            return Ok(true);
        }
        path = if target.is_absolute() {
            target
        } else {
            path.parent().unwrap_or(Path::new("/")).join(target)
        };
    }
    Err(error(format!(
        "{}: too many levels of symbolic links",
        fragment.path
    )))
}

#[derive(Debug, Default, PartialEq)]
struct InstallInfo {
    wanted_by: Vec<String>,
    required_by: Vec<String>,
    upheld_by: Vec<String>,
    alias: Vec<String>,
    also: Vec<String>,
    default_instance: Option<String>,
}

impl InstallInfo {
    fn has_rules(&self) -> bool {
        !(self.wanted_by.is_empty()
            && self.required_by.is_empty()
            && self.upheld_by.is_empty()
            && self.alias.is_empty())
    }
}

/// Reads the [Install] section. Lists accumulate over lines and an empty assignment
/// resets them, as in systemd.
fn parse_install(text: &str) -> InstallInfo {
    let mut info = InstallInfo::default();
    let mut in_install = false;
    for line in continued_lines(text) {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if line.starts_with('[') {
            in_install = line == "[Install]";
            continue;
        }
        if !in_install {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let list = match key.trim() {
            "WantedBy" => &mut info.wanted_by,
            "RequiredBy" => &mut info.required_by,
            "UpheldBy" => &mut info.upheld_by,
            "Alias" => &mut info.alias,
            "Also" => &mut info.also,
            "DefaultInstance" => {
                let v = value.trim();
                info.default_instance = (!v.is_empty()).then(|| v.to_string());
                continue;
            }
            _ => continue,
        };
        if value.trim().is_empty() {
            list.clear();
        } else {
            list.extend(value.split_whitespace().map(str::to_string));
        }
    }
    info
}

#[derive(Debug, Default)]
struct Links {
    /// The most persistent place a link enabling the unit was found.
    enabled: Option<DirKind>,
    /// A template with links only for instances other than its DefaultInstance.
    other_instance: bool,
}

/// Looks for the symlinks `systemctl enable` creates: in *.wants/, *.requires/ and
/// *.upholds/ directories, and Alias= names, under /etc and /run.
fn scan_links(
    ctx: &HostContext,
    query: &str,
    fragment: &Fragment,
    info: &InstallInfo,
) -> Result<Links, ProbeFailure> {
    let mut links = Links::default();
    let is_template = query.contains("@.");
    // A link under another name counts when it points at this unit's own file; for an
    // instance served by its template's file, that would match every instance.
    let by_target = !is_template && fragment.file_name == query;
    let default_instance = info.default_instance.as_deref();
    for (dir, kind) in ENABLE_DIRS {
        let real = match ctx.resolve(dir) {
            Ok(p) => p,
            Err(FsError::NotFound) => continue,
            Err(e) => return Err(fs_failure(dir, e)),
        };
        let entries = match std::fs::read_dir(&real) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(fs_failure(dir, e.into())),
        };
        let mut found = false;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir()
                && [".wants", ".requires", ".upholds"]
                    .iter()
                    .any(|s| name.ends_with(s))
            {
                let sub = format!("{dir}/{name}");
                let children = match std::fs::read_dir(entry.path()) {
                    Ok(c) => c,
                    Err(e) => return Err(fs_failure(&sub, e.into())),
                };
                for child in children.flatten() {
                    let child_name = child.file_name().to_string_lossy().into_owned();
                    let target = std::fs::read_link(child.path()).ok();
                    let target_name = target
                        .as_deref()
                        .and_then(Path::file_name)
                        .map(|n| n.to_string_lossy().into_owned());
                    if child_name == query
                        || (by_target && target_name.as_deref() == Some(&fragment.file_name))
                    {
                        found = true;
                    } else if is_template {
                        if let Some(instance) = instance_of(&child_name, query) {
                            if Some(instance) == default_instance {
                                found = true;
                            } else {
                                links.other_instance = true;
                            }
                        }
                    }
                }
            } else if file_type.is_symlink() && info.alias.contains(&name) {
                let target = std::fs::read_link(entry.path()).ok();
                if target
                    .as_deref()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n.to_string_lossy() == fragment.file_name)
                {
                    found = true;
                }
            }
        }
        if found && links.enabled.is_none() {
            links.enabled = Some(*kind);
        }
    }
    Ok(links)
}

fn runtime_variant(kind: DirKind, state: &str) -> String {
    if kind == DirKind::Runtime {
        format!("{state}-runtime")
    } else {
        state.to_string()
    }
}

fn enabled_state(ctx: &HostContext, name: &str) -> ProbeResult {
    let fragment = match find_fragment(ctx, name)? {
        Some(f) => f,
        None => match template_of(name) {
            Some(template) => match find_fragment(ctx, &template)? {
                Some(f) => f,
                None => return Ok(Observation::Missing),
            },
            None => return Ok(Observation::Missing),
        },
    };
    if is_masked(ctx, &fragment)? {
        return Ok(Observation::text(runtime_variant(fragment.kind, "masked")));
    }
    // Installed under another name: systemctl reports the alias, not the target's state.
    if let Some(link) = &fragment.link {
        let target_name = link.file_name().map(|n| n.to_string_lossy().into_owned());
        if target_name.as_deref() != Some(fragment.file_name.as_str()) {
            return Ok(Observation::text("alias"));
        }
    }
    match fragment.kind {
        DirKind::Generator => return Ok(Observation::text("generated")),
        DirKind::Transient => return Ok(Observation::text("transient")),
        _ => {}
    }
    let text = match ctx.read_text(&fragment.path) {
        Ok(Some(t)) => t,
        Ok(None) | Err(FsError::NotFound) => {
            return Err(error(format!(
                "{} is a symbolic link to a file that does not exist",
                fragment.path
            )))
        }
        Err(e) => return Err(fs_failure(&fragment.path, e)),
    };
    let info = parse_install(&text);
    let links = scan_links(ctx, name, &fragment, &info)?;
    if let Some(kind) = links.enabled {
        return Ok(Observation::text(runtime_variant(kind, "enabled")));
    }
    // Linked in from outside the search path with `systemctl link`.
    if let (Some(link), DirKind::Config | DirKind::Runtime) = (&fragment.link, fragment.kind) {
        let target_dir = link
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if link.is_absolute() && !UNIT_DIRS.iter().any(|(d, _)| *d == target_dir) {
            return Ok(Observation::text(runtime_variant(fragment.kind, "linked")));
        }
    }
    let state = if links.other_instance {
        "indirect"
    } else if info.has_rules() {
        "disabled"
    } else if !info.also.is_empty() {
        "indirect"
    } else {
        "static"
    };
    Ok(Observation::text(state))
}

#[cfg(test)]
mod tests {
    const TEST_TIMEOUT: Duration = Duration::from_secs(10);
    use super::*;
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use vt_policy::probe::{ProbeArg, ProbeKind};

    fn probe(name: &str, property: &str) -> Probe {
        Probe {
            kind: ProbeKind::SystemdUnit,
            arg: ProbeArg::Text(name.into()),
            property: Some(property.into()),
            params: BTreeMap::new(),
        }
    }

    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new() -> Tree {
            Tree(tempfile::tempdir().unwrap())
        }
        fn file(&self, path: &str, text: &str) -> &Tree {
            let p = self.0.path().join(path.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
            self
        }
        fn link(&self, path: &str, target: &str) -> &Tree {
            let p = self.0.path().join(path.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            symlink(target, p).unwrap();
            self
        }
        fn ctx(&self) -> HostContext {
            HostContext::with_root(self.0.path().to_path_buf())
        }
    }

    const WANTED: &str =
        "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n";

    fn fixture() -> Tree {
        let t = Tree::new();
        t.file("/usr/lib/systemd/system/ssh.service", "[Unit]\nDescription=OpenBSD Secure Shell\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n")
            .link("/etc/systemd/system/multi-user.target.wants/ssh.service", "/lib/systemd/system/ssh.service")
            .link("/etc/systemd/system/sshd.service", "/lib/systemd/system/ssh.service")
            .link("/lib", "usr/lib")
            .file("/usr/lib/systemd/system/cups.service", WANTED)
            .file("/usr/lib/systemd/system/avahi-daemon.service", WANTED)
            .link("/etc/systemd/system/avahi-daemon.service", "/dev/null")
            .file("/usr/lib/systemd/system/rpcbind.service", WANTED)
            .link("/run/systemd/system/rpcbind.service", "/dev/null")
            .file("/usr/lib/systemd/system/emptied.service", "")
            .file("/usr/lib/systemd/system/systemd-journald.service", "[Unit]\nDescription=Journal\n[Service]\nType=notify\n")
            .file("/usr/lib/systemd/system/helper.socket", "[Install]\nAlso=helper.service\n")
            .file("/usr/lib/systemd/system/getty@.service", "[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n")
            .link("/etc/systemd/system/getty.target.wants/getty@tty1.service", "/usr/lib/systemd/system/getty@.service")
            .file("/usr/lib/systemd/system/serial-getty@.service", "[Install]\nWantedBy=getty.target\n")
            .link("/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service", "/usr/lib/systemd/system/serial-getty@.service")
            .file("/usr/lib/systemd/system/nfs.service", WANTED)
            .link("/run/systemd/system/multi-user.target.wants/nfs.service", "/usr/lib/systemd/system/nfs.service")
            .file("/opt/app/app.service", WANTED)
            .link("/etc/systemd/system/app.service", "/opt/app/app.service")
            .file("/run/systemd/generator/boot.mount", "[Mount]\nWhat=/dev/sda1\n")
            .file("/usr/lib/systemd/system/timesync.timer", "[Install]\nWantedBy=\n")
            .link("/usr/lib/systemd/system/dangling.service", "/nowhere/dangling.service");
        t
    }

    fn ask(ctx: &HostContext, name: &str) -> ProbeResult {
        observe(&probe(name, "enabled"), ctx, TEST_TIMEOUT)
    }

    #[test]
    fn enabled_disabled_static() {
        let t = fixture();
        let ctx = t.ctx();
        assert_eq!(ask(&ctx, "ssh.service").unwrap(), Observation::text("enabled"));
        // No type suffix means .service.
        assert_eq!(ask(&ctx, "ssh").unwrap(), Observation::text("enabled"));
        assert_eq!(ask(&ctx, "cups.service").unwrap(), Observation::text("disabled"));
        assert_eq!(
            ask(&ctx, "systemd-journald.service").unwrap(),
            Observation::text("static")
        );
        // An empty WantedBy= leaves no install rules.
        assert_eq!(ask(&ctx, "timesync.timer").unwrap(), Observation::text("static"));
        assert_eq!(ask(&ctx, "nosuch.service").unwrap(), Observation::Missing);
    }

    #[test]
    fn masked_alias_indirect_runtime_linked_generated() {
        let t = fixture();
        let ctx = t.ctx();
        assert_eq!(
            ask(&ctx, "avahi-daemon.service").unwrap(),
            Observation::text("masked")
        );
        assert_eq!(
            ask(&ctx, "rpcbind.service").unwrap(),
            Observation::text("masked-runtime")
        );
        assert_eq!(ask(&ctx, "emptied.service").unwrap(), Observation::text("masked"));
        assert_eq!(ask(&ctx, "sshd.service").unwrap(), Observation::text("alias"));
        assert_eq!(ask(&ctx, "helper.socket").unwrap(), Observation::text("indirect"));
        assert_eq!(
            ask(&ctx, "nfs.service").unwrap(),
            Observation::text("enabled-runtime")
        );
        assert_eq!(ask(&ctx, "app.service").unwrap(), Observation::text("linked"));
        assert_eq!(ask(&ctx, "boot.mount").unwrap(), Observation::text("generated"));
    }

    #[test]
    fn templates_and_instances() {
        let t = fixture();
        let ctx = t.ctx();
        assert_eq!(
            ask(&ctx, "getty@tty1.service").unwrap(),
            Observation::text("enabled")
        );
        assert_eq!(
            ask(&ctx, "getty@tty2.service").unwrap(),
            Observation::text("disabled")
        );
        // The template: its DefaultInstance is linked.
        assert_eq!(ask(&ctx, "getty@.service").unwrap(), Observation::text("enabled"));
        // Only another instance is linked.
        assert_eq!(
            ask(&ctx, "serial-getty@.service").unwrap(),
            Observation::text("indirect")
        );
        assert_eq!(
            ask(&ctx, "serial-getty@ttyS0.service").unwrap(),
            Observation::text("enabled")
        );
        assert_eq!(ask(&ctx, "nosuch@x.service").unwrap(), Observation::Missing);
    }

    #[test]
    fn dangling_and_unreadable_unit_files_are_errors() {
        let t = fixture();
        let ctx = t.ctx();
        let Err(ProbeFailure::Error(msg)) = ask(&ctx, "dangling.service") else {
            panic!("expected an error")
        };
        assert!(msg.contains("does not exist"), "{msg}");

        fs::set_permissions(
            t.0.path().join("usr/lib/systemd/system/cups.service"),
            fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root reads through mode 000, so there is no failure to observe.
            return;
        }
        assert_eq!(
            ask(&ctx, "cups.service"),
            Err(error(
                "permission denied reading /usr/lib/systemd/system/cups.service"
            ))
        );
    }

    #[test]
    fn invalid_names_are_rejected() {
        let ctx = fixture().ctx();
        assert!(ask(&ctx, "../../etc/passwd").is_err());
        assert!(ask(&ctx, "--help").is_err());
    }

    #[test]
    fn install_section_parsing() {
        let info = parse_install(
            "[Unit]\nWantedBy=not-here.target\n[Install]\n# c\nWantedBy=a.target \\\n  b.target\nWantedBy=c.target\nRequiredBy=\nAlias=x.service y.service\nAlso=z.socket\nDefaultInstance=tty1\n[X-Other]\nWantedBy=q.target\n",
        );
        assert_eq!(info.wanted_by, vec!["a.target", "b.target", "c.target"]);
        assert!(info.required_by.is_empty());
        assert_eq!(info.alias, vec!["x.service", "y.service"]);
        assert_eq!(info.also, vec!["z.socket"]);
        assert_eq!(info.default_instance.as_deref(), Some("tty1"));
    }

    #[test]
    fn name_helpers() {
        assert_eq!(unit_name("sshd").unwrap(), "sshd.service");
        assert_eq!(unit_name("tmp.mount").unwrap(), "tmp.mount");
        assert_eq!(unit_name("foo.bar").unwrap(), "foo.bar.service");
        assert_eq!(
            template_of("getty@tty1.service").as_deref(),
            Some("getty@.service")
        );
        assert_eq!(template_of("getty@.service"), None);
        assert_eq!(instance_of("getty@tty1.service", "getty@.service"), Some("tty1"));
        assert_eq!(instance_of("serial-getty@tty1.service", "getty@.service"), None);
    }

    #[test]
    fn active_state_modes() {
        let ctx = fixture().ctx();
        assert!(matches!(
            observe(&probe("ssh.service", "active"), &ctx, TEST_TIMEOUT),
            Err(ProbeFailure::NotApplicable(_))
        ));
        let live = HostContext::live();
        let r = observe(&probe("vt-no-such-unit.service", "active"), &live, TEST_TIMEOUT);
        if Path::new("/run/systemd/system").is_dir() {
            assert_eq!(r.unwrap(), Observation::text("inactive"));
        } else {
            assert_eq!(
                r,
                Err(error(
                    "systemd is not running on this host; the active state cannot be read"
                ))
            );
        }
    }
}
