//! The `kernel_module` probe: whether a module is loaded, disabled through an `install`
//! override, or blacklisted in modprobe.d.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};

use super::continued_lines;
use crate::context::HostContext;
use crate::fsroot::FsError;
use crate::probes::{error, require_live, ProbeFailure, ProbeResult};

/// modprobe.d directories in kmod's precedence order: a file name found in an earlier
/// directory hides the same name in later ones.
const MODPROBE_DIRS: [&str; 5] = [
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
];

/// Install commands that make `modprobe NAME` succeed or fail without loading anything.
const NO_OP_COMMANDS: [&str; 4] = ["/bin/false", "/bin/true", "/usr/bin/false", "/usr/bin/true"];

/// The modprobe.d configuration, merged, read once per run.
#[derive(Debug, Default)]
struct ModprobeConfig {
    /// First `install` command per module (kmod uses the first one it reads).
    install: HashMap<String, String>,
    blacklist: HashSet<String>,
    /// Files that exist but could not be read: answers would be guesses.
    unreadable: Vec<String>,
}

struct ModprobeSource(Arc<ModprobeConfig>);

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let name = normalise(probe.arg_text().trim());
    if name.is_empty() || name.contains('/') {
        return Err(error(format!(
            "invalid kernel module name {:?}",
            probe.arg_text()
        )));
    }
    match probe.property().unwrap_or("loaded") {
        "loaded" => loaded(&name, ctx),
        "disabled" => {
            let cfg = config(ctx)?;
            let disabled = cfg
                .install
                .get(&name)
                .is_some_and(|cmd| NO_OP_COMMANDS.contains(&cmd.as_str()));
            Ok(Observation::scalar(Value::Bool(disabled)))
        }
        "blacklisted" => {
            let cfg = config(ctx)?;
            Ok(Observation::scalar(Value::Bool(cfg.blacklist.contains(&name))))
        }
        other => Err(error(format!("kernel_module has no property {other:?}"))),
    }
}

/// The kernel and kmod treat `-` and `_` in module names as the same character.
fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

fn loaded(name: &str, ctx: &HostContext) -> ProbeResult {
    require_live(ctx, "kernel_module loaded (the running kernel's module list)")?;
    let text = match ctx.read_text("/proc/modules") {
        Ok(Some(t)) => t,
        // A kernel built without module support has no /proc/modules and cannot have
        // loaded anything; without /proc at all we cannot tell.
        Ok(None) if std::path::Path::new("/proc/self").is_dir() => String::new(),
        Ok(None) => {
            return Err(error(
                "cannot read the module list: /proc/modules does not exist (is /proc mounted?)",
            ))
        }
        Err(e) => return Err(error(format!("cannot read /proc/modules: {e}"))),
    };
    Ok(Observation::scalar(Value::Bool(listed(&text, name))))
}

/// Whether /proc/modules (one module per line, name first) lists `name` (normalised).
fn listed(proc_modules: &str, name: &str) -> bool {
    proc_modules
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .any(|m| normalise(m) == name)
}

fn config(ctx: &HostContext) -> Result<Arc<ModprobeConfig>, ProbeFailure> {
    let cfg = Arc::clone(&ctx.shared(|| ModprobeSource(Arc::new(load(ctx)))).0);
    if !cfg.unreadable.is_empty() {
        return Err(error(format!(
            "cannot read modprobe configuration: {}",
            cfg.unreadable.join("; ")
        )));
    }
    Ok(cfg)
}

fn load(ctx: &HostContext) -> ModprobeConfig {
    let mut cfg = ModprobeConfig::default();
    // File name -> the path that wins for it; BTreeMap gives kmod's lexical file order.
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for dir in MODPROBE_DIRS {
        let real = match ctx.resolve(dir) {
            Ok(p) => p,
            Err(FsError::NotFound) => continue,
            Err(e) => {
                cfg.unreadable.push(format!("{dir}: {e}"));
                continue;
            }
        };
        let entries = match std::fs::read_dir(&real) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            // A plain file in place of the directory is not configuration.
            Err(_) if real.is_file() => continue,
            Err(e) => {
                cfg.unreadable.push(format!("{dir}: {}", FsError::from(e)));
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") && !name.starts_with('.') {
                files
                    .entry(name.clone())
                    .or_insert_with(|| format!("{dir}/{name}"));
            }
        }
    }
    for path in files.values() {
        match ctx.read_text(path) {
            Ok(Some(text)) => parse_into(&mut cfg, &text),
            Ok(None) => {}
            // kmod skips directories and dangling links named *.conf; so do we.
            Err(FsError::NotFound) => {}
            Err(FsError::Other(m)) if m == "is a directory" => {}
            Err(e) => cfg.unreadable.push(format!("{path}: {e}")),
        }
    }
    cfg
}

fn parse_into(cfg: &mut ModprobeConfig, text: &str) {
    for line in continued_lines(text) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(keyword), Some(module)) = (words.next(), words.next()) else {
            continue;
        };
        let module = normalise(module);
        match keyword {
            "install" => {
                let command: Vec<&str> = words.collect();
                if !command.is_empty() {
                    cfg.install.entry(module).or_insert_with(|| command.join(" "));
                }
            }
            "blacklist" => {
                cfg.blacklist.insert(module);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use vt_policy::probe::{ProbeArg, ProbeKind};

    fn probe(name: &str, property: &str) -> Probe {
        Probe {
            kind: ProbeKind::KernelModule,
            arg: ProbeArg::Text(name.into()),
            property: Some(property.into()),
            params: BTreeMap::new(),
        }
    }

    fn write(root: &std::path::Path, path: &str, text: &str) {
        let p = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "/etc/modprobe.d/cis.conf", "# CIS\ninstall cramfs /bin/false\ninstall  freevxfs   /bin/true  \nblacklist cramfs\n\ninstall usb-storage /bin/false\n");
        write(r, "/etc/modprobe.d/notes.txt", "install hfs /bin/false\n");
        write(
            r,
            "/lib/modprobe.d/0-aliases.conf",
            "alias foo bar\ninstall squashfs /sbin/modprobe --ignore-install squashfs\n",
        );
        write(
            r,
            "/usr/lib/modprobe.d/vendor.conf",
            "blacklist floppy\ninstall udf /bin/false\n",
        );
        // Same name in /etc hides the vendor file, so udf is not disabled and floppy not blacklisted.
        write(r, "/etc/modprobe.d/vendor.conf", "blacklist pcspkr\n");
        write(
            r,
            "/run/modprobe.d/runtime.conf",
            "install dccp \\\n  /bin/false\nblacklist\ngarbage line here\n",
        );
        write(
            r,
            "/etc/modprobe.d/00-first.conf",
            "install jffs2 /usr/bin/true\n",
        );
        write(
            r,
            "/etc/modprobe.d/99-later.conf",
            "install jffs2 /sbin/modprobe jffs2\ninstall squashfs /bin/false\n",
        );
        dir
    }

    fn ask(ctx: &HostContext, name: &str, property: &str) -> ProbeResult {
        observe(&probe(name, property), ctx)
    }

    const TRUE: Observation = Observation::Scalar(Value::Bool(true));
    const FALSE: Observation = Observation::Scalar(Value::Bool(false));

    #[test]
    fn disabled_by_install_to_a_no_op() {
        let d = fixture();
        let ctx = HostContext::with_root(d.path().to_path_buf());
        assert_eq!(ask(&ctx, "cramfs", "disabled").unwrap(), TRUE);
        assert_eq!(ask(&ctx, "freevxfs", "disabled").unwrap(), TRUE);
        // '-' and '_' are the same in module names, in both the query and the file.
        assert_eq!(ask(&ctx, "usb_storage", "disabled").unwrap(), TRUE);
        assert_eq!(ask(&ctx, "usb-storage", "disabled").unwrap(), TRUE);
        // Continued line.
        assert_eq!(ask(&ctx, "dccp", "disabled").unwrap(), TRUE);
        // 00-first.conf is read before 99-later.conf and the first install wins...
        assert_eq!(ask(&ctx, "jffs2", "disabled").unwrap(), TRUE);
        // ...also across directories: /lib's 0-aliases.conf sorts before /etc's 99-later.conf.
        assert_eq!(ask(&ctx, "squashfs", "disabled").unwrap(), FALSE);
        // Not a .conf file, and a vendor file hidden by /etc's same-named file.
        assert_eq!(ask(&ctx, "hfs", "disabled").unwrap(), FALSE);
        assert_eq!(ask(&ctx, "udf", "disabled").unwrap(), FALSE);
        assert_eq!(ask(&ctx, "nosuchmod", "disabled").unwrap(), FALSE);
    }

    #[test]
    fn blacklisted() {
        let d = fixture();
        let ctx = HostContext::with_root(d.path().to_path_buf());
        assert_eq!(ask(&ctx, "cramfs", "blacklisted").unwrap(), TRUE);
        assert_eq!(ask(&ctx, "pcspkr", "blacklisted").unwrap(), TRUE);
        assert_eq!(ask(&ctx, "floppy", "blacklisted").unwrap(), FALSE);
        assert_eq!(ask(&ctx, "freevxfs", "blacklisted").unwrap(), FALSE);
    }

    #[test]
    fn symlinked_config_directory_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "/srv/modprobe/hardening.conf", "install rds /bin/false\n");
        fs::create_dir_all(r.join("etc")).unwrap();
        std::os::unix::fs::symlink("/srv/modprobe", r.join("etc/modprobe.d")).unwrap();
        write(r, "/srv/other.conf", "blacklist tipc\n");
        fs::create_dir_all(r.join("usr/lib/modprobe.d")).unwrap();
        std::os::unix::fs::symlink("/srv/other.conf", r.join("usr/lib/modprobe.d/link.conf")).unwrap();
        let ctx = HostContext::with_root(r.to_path_buf());
        assert_eq!(ask(&ctx, "rds", "disabled").unwrap(), TRUE);
        assert_eq!(ask(&ctx, "tipc", "blacklisted").unwrap(), TRUE);
    }

    #[test]
    fn no_config_at_all_means_false() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        assert_eq!(ask(&ctx, "cramfs", "disabled").unwrap(), FALSE);
        assert_eq!(ask(&ctx, "cramfs", "blacklisted").unwrap(), FALSE);
    }

    #[test]
    fn unreadable_config_is_an_error() {
        let d = fixture();
        fs::set_permissions(
            d.path().join("etc/modprobe.d/cis.conf"),
            fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        let ctx = HostContext::with_root(d.path().to_path_buf());
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root reads through mode 000; the file is still parsed.
            assert_eq!(ask(&ctx, "cramfs", "disabled").unwrap(), TRUE);
            return;
        }
        assert_eq!(
            ask(&ctx, "cramfs", "disabled"),
            Err(error(
                "cannot read modprobe configuration: /etc/modprobe.d/cis.conf: permission denied"
            ))
        );
    }

    #[test]
    fn loaded_is_live_only_and_reads_proc_modules() {
        let d = fixture();
        let ctx = HostContext::with_root(d.path().to_path_buf());
        assert!(matches!(
            ask(&ctx, "ext4", "loaded"),
            Err(ProbeFailure::NotApplicable(_))
        ));
        let live = HostContext::live();
        assert_eq!(ask(&live, "vt_no_such_module", "loaded").unwrap(), FALSE);
        if let Ok(text) = fs::read_to_string("/proc/modules") {
            if let Some(first) = text.split_whitespace().next() {
                // Asked with dashes, listed with underscores (or the other way round).
                assert_eq!(ask(&live, &first.replace('_', "-"), "loaded").unwrap(), TRUE);
            }
        }
    }

    #[test]
    fn proc_modules_parsing() {
        let text = "usb_storage 77824 1 uas, Live 0x0000000000000000\next4 999424 2 - Live 0x0\n";
        assert!(listed(text, &normalise("usb-storage")));
        assert!(listed(text, "ext4"));
        assert!(!listed(text, "usb"));
        assert!(!listed("", "ext4"));
    }

    #[test]
    fn invalid_names() {
        let ctx = HostContext::live();
        assert!(ask(&ctx, "../x", "disabled").is_err());
    }
}
