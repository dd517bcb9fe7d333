//! The `mount` probe: how a path is mounted. Live: the running mount table; under
//! --root: the audited system's /etc/fstab (what it will mount at boot).

use std::sync::Arc;

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};

use crate::context::HostContext;
use crate::fsroot::FsError;
use crate::probes::{error, ProbeFailure, ProbeResult};

#[derive(Debug, Clone, PartialEq)]
struct MountEntry {
    target: String,
    source: String,
    fstype: String,
    options: Vec<String>,
}

/// The mount table (live) or fstab (under --root), read once per run.
struct MountSource(Result<Arc<Vec<MountEntry>>, String>);

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let path = normalise(probe.arg_text().trim());
    if !path.starts_with('/') {
        return Err(error(format!(
            "mount needs an absolute path, got {:?}",
            probe.arg_text()
        )));
    }
    let src = ctx.shared(|| MountSource(load(ctx)));
    let table = src.0.as_ref().map_err(|m| ProbeFailure::Error(m.clone()))?;
    let mut entry = find(table, &path);
    if entry.is_none() && ctx.is_live() {
        // The kernel lists mount points by their canonical path, so a symlinked path
        // (/var/tmp -> /tmp) is looked up where it really leads.
        if let Ok(real) = std::fs::canonicalize(&path) {
            entry = find(table, &normalise(&real.to_string_lossy()));
        }
    }
    let Some(entry) = entry else {
        return Ok(Observation::Missing);
    };
    Ok(match probe.property().unwrap_or("options") {
        "options" => Observation::List(entry.options.iter().cloned().map(Value::Text).collect()),
        "fstype" => Observation::text(entry.fstype.clone()),
        "source" => Observation::text(entry.source.clone()),
        other => return Err(error(format!("mount has no property {other:?}"))),
    })
}

/// The last entry wins: a later mount on the same path hides the earlier one, and in
/// fstab the later line is the one mounted on top.
fn find<'a>(table: &'a [MountEntry], path: &str) -> Option<&'a MountEntry> {
    table.iter().rev().find(|e| normalise(&e.target) == path)
}

fn normalise(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && path.starts_with('/') {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

fn load(ctx: &HostContext) -> Result<Arc<Vec<MountEntry>>, String> {
    if ctx.is_live() {
        for (path, parse) in [
            (
                "/proc/self/mountinfo",
                parse_mountinfo as fn(&str) -> Vec<MountEntry>,
            ),
            ("/proc/mounts", parse_fstab),
        ] {
            match ctx.read_text(path) {
                Ok(Some(text)) => return Ok(Arc::new(parse(&text))),
                Ok(None) | Err(FsError::NotFound) => continue,
                Err(e) => return Err(format!("cannot read {path}: {e}")),
            }
        }
        return Err("cannot read the mount table: neither /proc/self/mountinfo nor /proc/mounts exists (is /proc mounted?)".into());
    }
    match ctx.read_text("/etc/fstab") {
        Ok(Some(text)) => Ok(Arc::new(parse_fstab(&text))),
        // No fstab: nothing is mounted from it, so every path is "not a mount point".
        Ok(None) => Ok(Arc::new(Vec::new())),
        Err(FsError::PermissionDenied) => Err("permission denied reading /etc/fstab".into()),
        Err(e) => Err(format!("cannot read /etc/fstab: {e}")),
    }
}

/// Undoes the kernel's and fstab's octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash) so paths with spaces compare as written.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn split_options(options: &str) -> Vec<String> {
    options
        .split(',')
        .filter(|o| !o.is_empty())
        .map(unescape)
        .collect()
}

/// /proc/self/mountinfo: `id parent maj:min root mountpoint mount-opts [optional...] -
/// fstype source super-opts`. Options are reported the way findmnt shows them: the
/// per-mount options, then the filesystem's own options not already listed.
fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    let mut table = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if sep < 6 || fields.len() < sep + 3 {
            continue;
        }
        let mut options = split_options(fields[5]);
        if let Some(super_opts) = fields.get(sep + 3) {
            for opt in split_options(super_opts) {
                // The superblock's rw/ro is not the mount's: a read-only bind mount of a
                // writable filesystem shows `ro` then `rw`, and only `ro` applies.
                if opt != "rw" && opt != "ro" && !options.contains(&opt) {
                    options.push(opt);
                }
            }
        }
        table.push(MountEntry {
            target: unescape(fields[4]),
            source: unescape(fields[sep + 2]),
            fstype: unescape(fields[sep + 1]),
            options,
        });
    }
    table
}

/// fstab(5) and /proc/mounts: `source target fstype options [dump [pass]]`.
fn parse_fstab(text: &str) -> Vec<MountEntry> {
    let mut table = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 {
            continue;
        }
        table.push(MountEntry {
            source: unescape(fields[0]),
            target: unescape(fields[1]),
            fstype: unescape(fields[2]),
            // fstab(5): an absent options field means `defaults`.
            options: split_options(fields.get(3).copied().unwrap_or("defaults")),
        });
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use vt_policy::probe::{ProbeArg, ProbeKind};

    fn probe(path: &str, property: &str) -> Probe {
        Probe {
            kind: ProbeKind::Mount,
            arg: ProbeArg::Text(path.into()),
            property: Some(property.into()),
            params: BTreeMap::new(),
        }
    }

    fn list(items: &[&str]) -> Observation {
        Observation::List(items.iter().map(|s| Value::text(*s)).collect())
    }

    const FSTAB: &str = "\
# /etc/fstab: static file system information.
UUID=1234-abcd /               ext4    errors=remount-ro 0       1
tmpfs          /tmp            tmpfs   defaults,rw,nosuid,nodev,noexec,size=2G 0 0
/dev/sdb1      /srv/my\\040data  xfs     noatime 0 2
/dev/sdc1      /home           ext4    defaults
/dev/sdd1      /home           ext4    nodev,nosuid
/dev/sde1      /var
UUID=9999      none            swap    sw 0 0
";

    fn root_with_fstab(text: &str) -> (tempfile::TempDir, HostContext) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/fstab"), text).unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        (dir, ctx)
    }

    #[test]
    fn fstab_options_fstype_source() {
        let (_d, ctx) = root_with_fstab(FSTAB);
        assert_eq!(
            observe(&probe("/tmp", "options"), &ctx).unwrap(),
            list(&["defaults", "rw", "nosuid", "nodev", "noexec", "size=2G"])
        );
        assert_eq!(
            observe(&probe("/tmp/", "fstype"), &ctx).unwrap(),
            Observation::text("tmpfs")
        );
        assert_eq!(
            observe(&probe("/", "source"), &ctx).unwrap(),
            Observation::text("UUID=1234-abcd")
        );
        assert_eq!(
            observe(&probe("/", "options"), &ctx).unwrap(),
            list(&["errors=remount-ro"])
        );
    }

    #[test]
    fn octal_escapes_and_stacking() {
        let (_d, ctx) = root_with_fstab(FSTAB);
        assert_eq!(
            observe(&probe("/srv/my data", "fstype"), &ctx).unwrap(),
            Observation::text("xfs")
        );
        // Two lines for /home: the later one is mounted on top.
        assert_eq!(
            observe(&probe("/home", "source"), &ctx).unwrap(),
            Observation::text("/dev/sdd1")
        );
        assert_eq!(
            observe(&probe("/home", "options"), &ctx).unwrap(),
            list(&["nodev", "nosuid"])
        );
    }

    #[test]
    fn not_a_mount_point_and_malformed_lines() {
        let (_d, ctx) = root_with_fstab(FSTAB);
        assert_eq!(
            observe(&probe("/var/tmp", "options"), &ctx).unwrap(),
            Observation::Missing
        );
        // `/dev/sde1 /var` has no fstype: skipped, not fatal.
        assert_eq!(
            observe(&probe("/var", "options"), &ctx).unwrap(),
            Observation::Missing
        );
        assert!(observe(&probe("tmp", "options"), &ctx).is_err());
    }

    #[test]
    fn no_fstab_means_no_mount_points() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        assert_eq!(
            observe(&probe("/tmp", "options"), &ctx).unwrap(),
            Observation::Missing
        );
    }

    #[test]
    fn symlinked_fstab() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/default")).unwrap();
        fs::write(dir.path().join("etc/default/fstab.real"), FSTAB).unwrap();
        std::os::unix::fs::symlink("/etc/default/fstab.real", dir.path().join("etc/fstab")).unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        assert_eq!(
            observe(&probe("/tmp", "fstype"), &ctx).unwrap(),
            Observation::text("tmpfs")
        );
    }

    #[test]
    fn unreadable_fstab_is_an_error() {
        let (d, ctx) = root_with_fstab(FSTAB);
        fs::set_permissions(d.path().join("etc/fstab"), fs::Permissions::from_mode(0o000)).unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root reads through mode 000, so there is no failure to observe.
            return;
        }
        assert_eq!(
            observe(&probe("/tmp", "options"), &ctx),
            Err(error("permission denied reading /etc/fstab"))
        );
    }

    #[test]
    fn mountinfo_parsing() {
        let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 22 0:26 / /tmp rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1024k,inode64
31 22 0:27 / /tmp ro,nosuid,nodev,noexec - tmpfs tmpfs rw,size=512k
40 22 8:2 /data /mnt/with\\040space\\134x rw - xfs /dev/sdb\\0401 rw
bad line
41 22 0:5 / /weird rw -
";
        let table = parse_mountinfo(text);
        assert_eq!(table.len(), 4);
        let tmp = find(&table, "/tmp").unwrap();
        assert_eq!(tmp.options, vec!["ro", "nosuid", "nodev", "noexec", "size=512k"]);
        let root = find(&table, "/").unwrap();
        assert_eq!(root.options, vec!["rw", "relatime", "errors=remount-ro"]);
        assert_eq!(root.source, "/dev/sda1");
        let odd = find(&table, "/mnt/with space\\x").unwrap();
        assert_eq!((odd.fstype.as_str(), odd.source.as_str()), ("xfs", "/dev/sdb 1"));
    }

    #[test]
    fn unescape_edge_cases() {
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert_eq!(unescape("\\999"), "\\999");
        assert_eq!(unescape("end\\"), "end\\");
    }

    #[test]
    fn live_root_is_a_mount_point() {
        let ctx = HostContext::live();
        let fstype = observe(&probe("/", "fstype"), &ctx).unwrap();
        assert!(
            matches!(fstype, Observation::Scalar(Value::Text(ref t)) if !t.is_empty()),
            "{fstype:?}"
        );
        let Observation::List(opts) = observe(&probe("/proc", "options"), &ctx).unwrap() else {
            panic!("/proc should be a mount point")
        };
        assert!(
            opts.contains(&Value::text("rw")) || opts.contains(&Value::text("ro")),
            "{opts:?}"
        );
        assert_eq!(
            observe(&probe("/proc/self", "options"), &ctx).unwrap(),
            Observation::Missing
        );
    }
}
