//! The `account`, `accounts` and `group` probes: local users and groups from
//! /etc/passwd, /etc/shadow and /etc/group.

use std::collections::HashMap;
use std::sync::Arc;

use vt_policy::probe::{Param, Probe, ProbeArg};
use vt_policy::{Observation, Value};

use crate::context::HostContext;
use crate::fsroot::FsError;
use crate::probes::{error, ProbeFailure, ProbeResult};

#[derive(Debug, Clone, PartialEq)]
struct PasswdEntry {
    name: String,
    /// The passwd password field: `x` defers to shadow; anything else is the password.
    password: String,
    uid: i64,
    gid: i64,
    home: String,
    shell: String,
}

#[derive(Debug, Clone, PartialEq)]
struct ShadowEntry {
    password: String,
    /// last_change, min_days, max_days, warn_days, inactive; empty when unset.
    ages: [String; 5],
}

const AGE_FIELDS: [&str; 5] = ["last_change", "min_days", "max_days", "warn_days", "inactive"];

#[derive(Debug)]
enum Shadow {
    /// No shadow file: passwords, if any, live in passwd.
    Absent,
    /// The file exists but could not be read; password answers would be guesses.
    Unreadable(String),
    Loaded(HashMap<String, ShadowEntry>),
}

#[derive(Debug, Clone, PartialEq)]
struct GroupEntry {
    name: String,
    gid: i64,
    members: Vec<String>,
}

/// passwd, shadow and group, read together once per run.
#[derive(Debug)]
struct AccountDb {
    passwd: Result<Vec<PasswdEntry>, String>,
    shadow: Shadow,
    groups: Result<Vec<GroupEntry>, String>,
}

struct AccountSource(Arc<AccountDb>);

fn db(ctx: &HostContext) -> Arc<AccountDb> {
    Arc::clone(&ctx.shared(|| AccountSource(Arc::new(load(ctx)))).0)
}

fn read(ctx: &HostContext, path: &str) -> Result<Option<String>, String> {
    match ctx.read_text(path) {
        Ok(text) => Ok(text),
        Err(FsError::NotFound) => Ok(None),
        Err(FsError::PermissionDenied) => Err(format!("permission denied reading {path}")),
        Err(e) => Err(format!("cannot read {path}: {e}")),
    }
}

fn load(ctx: &HostContext) -> AccountDb {
    let passwd = read(ctx, "/etc/passwd").map(|t| t.map(|t| parse_passwd(&t)).unwrap_or_default());
    let shadow = match read(ctx, "/etc/shadow") {
        Ok(Some(t)) => Shadow::Loaded(parse_shadow(&t)),
        Ok(None) => Shadow::Absent,
        Err(e) => Shadow::Unreadable(e),
    };
    let groups = read(ctx, "/etc/group").map(|t| t.map(|t| parse_group(&t)).unwrap_or_default());
    AccountDb {
        passwd,
        shadow,
        groups,
    }
}

/// Lines worth parsing: not blank, not comments, not NIS compat entries (`+`/`-`), which
/// name no local account.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.starts_with(['#', '+', '-']))
        .map(|l| l.split(':').collect())
}

fn parse_id(s: &str) -> Option<i64> {
    s.trim().parse::<u32>().ok().map(i64::from)
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    records(text)
        .filter_map(|f| {
            if f.len() != 7 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                password: f[1].to_string(),
                uid: parse_id(f[2])?,
                gid: parse_id(f[3])?,
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

fn parse_shadow(text: &str) -> HashMap<String, ShadowEntry> {
    let mut map = HashMap::new();
    for f in records(text) {
        if f.len() < 2 || f[0].is_empty() {
            continue;
        }
        let field = |i: usize| f.get(i).map_or(String::new(), |s| s.trim().to_string());
        let entry = ShadowEntry {
            password: f[1].to_string(),
            ages: [field(2), field(3), field(4), field(5), field(6)],
        };
        // Like getspnam, the first entry for a name is the one that counts.
        map.entry(f[0].to_string()).or_insert(entry);
    }
    map
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    records(text)
        .filter_map(|f| {
            if f.len() < 3 || f.len() > 4 || f[0].is_empty() {
                return None;
            }
            let members = f.get(3).map_or_else(Vec::new, |m| {
                m.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            });
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: parse_id(f[2])?,
                members,
            })
        })
        .collect()
}

fn classify(password: &str) -> &'static str {
    if password.is_empty() {
        "empty"
    } else if password.starts_with(['!', '*']) {
        "locked"
    } else {
        "set"
    }
}

impl AccountDb {
    fn passwd(&self) -> Result<&[PasswdEntry], ProbeFailure> {
        self.passwd.as_deref().map_err(|e| ProbeFailure::Error(e.clone()))
    }

    fn account(&self, name: &str) -> Result<Option<&PasswdEntry>, ProbeFailure> {
        // The first entry for a name is the one getpwnam returns.
        Ok(self.passwd()?.iter().find(|e| e.name == name))
    }

    fn shadow_entry(&self, name: &str) -> Result<Option<&ShadowEntry>, ProbeFailure> {
        match &self.shadow {
            Shadow::Absent => Ok(None),
            Shadow::Unreadable(msg) => Err(ProbeFailure::Error(msg.clone())),
            Shadow::Loaded(map) => Ok(map.get(name)),
        }
    }

    /// set | empty | locked | none. A passwd field other than `x` is the password itself
    /// (pam_unix only consults shadow for `x`), so an empty one is reported as empty.
    fn password_state(&self, entry: &PasswdEntry) -> Result<&'static str, ProbeFailure> {
        if entry.password != "x" {
            return Ok(classify(&entry.password));
        }
        Ok(self
            .shadow_entry(&entry.name)?
            .map_or("none", |s| classify(&s.password)))
    }
}

pub fn observe_account(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let name = probe.arg_text();
    let name = name.trim();
    let db = db(ctx);
    let Some(entry) = db.account(name)? else {
        return Ok(Observation::Missing);
    };
    let property = probe.property().unwrap_or("uid");
    Ok(match property {
        "uid" => Observation::scalar(Value::Int(entry.uid)),
        "gid" => Observation::scalar(Value::Int(entry.gid)),
        "home" => Observation::text(entry.home.clone()),
        "shell" => Observation::text(entry.shell.clone()),
        "password" => Observation::text(db.password_state(entry)?),
        age => {
            let Some(index) = AGE_FIELDS.iter().position(|f| *f == age) else {
                return Err(error(format!("account has no property {age:?}")));
            };
            let Some(shadow) = db.shadow_entry(name)? else {
                return Ok(Observation::Missing);
            };
            let raw = &shadow.ages[index];
            if raw.is_empty() {
                return Ok(Observation::Missing);
            }
            match raw.parse::<i64>() {
                Ok(n) => Observation::scalar(Value::Int(n)),
                Err(_) => {
                    return Err(error(format!(
                        "/etc/shadow: the {age} field of {name} is not a number: {raw:?}"
                    )))
                }
            }
        }
    })
}

pub fn observe_accounts(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let ProbeArg::Filter(filter) = &probe.arg else {
        return Err(error("accounts needs a filter mapping, e.g. {uid: 0}"));
    };
    let db = db(ctx);
    let entries = db.passwd()?;
    let mut uid_count: HashMap<i64, usize> = HashMap::new();
    let mut name_count: HashMap<&str, usize> = HashMap::new();
    for e in entries {
        *uid_count.entry(e.uid).or_default() += 1;
        *name_count.entry(e.name.as_str()).or_default() += 1;
    }
    let mut names = Vec::new();
    for e in entries {
        let mut keep = true;
        for (key, param) in filter {
            keep = match (key.as_str(), param) {
                ("uid", Param::Int(n)) => e.uid == *n,
                ("gid", Param::Int(n)) => e.gid == *n,
                ("uid_below", Param::Int(n)) => e.uid < *n,
                ("uid_at_least", Param::Int(n)) => e.uid >= *n,
                ("password", Param::Text(state)) => db.password_state(e)? == state,
                ("shell", Param::Regex(re)) => re.regex.is_match(&e.shell),
                ("name", Param::Regex(re)) => re.regex.is_match(&e.name),
                ("duplicate", Param::Text(what)) if what == "uid" => {
                    uid_count.get(&e.uid).copied().unwrap_or(0) > 1
                }
                ("duplicate", Param::Text(what)) if what == "name" => {
                    name_count.get(e.name.as_str()).copied().unwrap_or(0) > 1
                }
                (key, _) => return Err(error(format!("unsupported accounts filter {key}"))),
            };
            if !keep {
                break;
            }
        }
        if keep {
            names.push(Value::Text(e.name.clone()));
        }
    }
    Ok(Observation::list_or_missing(names))
}

pub fn observe_group(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let name = probe.arg_text();
    let name = name.trim();
    let db = db(ctx);
    let groups = db.groups.as_deref().map_err(|e| ProbeFailure::Error(e.clone()))?;
    let Some(group) = groups.iter().find(|g| g.name == name) else {
        return Ok(Observation::Missing);
    };
    match probe.property().unwrap_or("members") {
        "gid" => Ok(Observation::scalar(Value::Int(group.gid))),
        "members" => {
            let mut members = group.members.clone();
            for e in db.passwd()? {
                if e.gid == group.gid && !members.contains(&e.name) {
                    members.push(e.name.clone());
                }
            }
            // An existing group with nobody in it is an empty list, not missing, so
            // `count: {equals: 0}` can check it.
            Ok(Observation::List(members.into_iter().map(Value::Text).collect()))
        }
        other => Err(error(format!("group has no property {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use vt_policy::probe::{Pattern, ProbeKind};

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
toor:x:0:0:backdoor:/root:/bin/sh
alice:x:1000:1000:Alice:/home/alice:/bin/bash
bob:x:1001:1000:Bob:/home/bob:/bin/zsh
legacy::1002:1002::/home/legacy:/bin/sh
oldhash:$6$salt$hash:1003:1003::/home/oldhash:/bin/sh
noshadow:x:1004:1004::/home/noshadow:/bin/sh
broken:x:notanumber:0::/:/bin/sh
short:x:5:5
+nisuser::::::
-baduser
alice:x:2000:2000:dup name:/home/alice2:/bin/sh
";

    const SHADOW: &str = "\
root:$y$j9T$abc:19500:0:99999:7:::
daemon:*:19500:0:99999:7:::
toor::19000::::::
alice:!$6$locked:19600:1:90:14:30::
bob:$6$bob:19601:::::
legacy:$6$ignored:1:2:3:4:5::
";

    const GROUP: &str = "\
root:x:0:
sudo:x:27:alice, carol,
users:x:100:
staff:x:1000:
empty:x:4242:
wheel:x:10:bob,alice
bad:x:nogid:
+:::
";

    use crate::probes::testutil::root_with;

    fn standard() -> (tempfile::TempDir, HostContext) {
        root_with(&[
            ("/etc/passwd", PASSWD),
            ("/etc/shadow", SHADOW),
            ("/etc/group", GROUP),
        ])
    }

    fn account(name: &str, property: &str) -> Probe {
        Probe {
            kind: ProbeKind::Account,
            arg: ProbeArg::Text(name.into()),
            property: Some(property.into()),
            params: BTreeMap::new(),
        }
    }

    fn group(name: &str, property: &str) -> Probe {
        Probe {
            kind: ProbeKind::Group,
            arg: ProbeArg::Text(name.into()),
            property: Some(property.into()),
            params: BTreeMap::new(),
        }
    }

    fn accounts(filter: &[(&str, Param)]) -> Probe {
        let f = filter.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        Probe {
            kind: ProbeKind::Accounts,
            arg: ProbeArg::Filter(f),
            property: None,
            params: BTreeMap::new(),
        }
    }

    fn re(s: &str) -> Param {
        Param::Regex(Pattern::new(s, false).unwrap())
    }

    fn names(items: &[&str]) -> Observation {
        Observation::List(items.iter().map(|s| Value::text(*s)).collect())
    }

    fn int(n: i64) -> Observation {
        Observation::scalar(Value::Int(n))
    }

    #[test]
    fn account_properties() {
        let (_d, ctx) = standard();
        assert_eq!(
            observe_account(&account("alice", "uid"), &ctx).unwrap(),
            int(1000)
        );
        assert_eq!(
            observe_account(&account("alice", "gid"), &ctx).unwrap(),
            int(1000)
        );
        assert_eq!(
            observe_account(&account("alice", "home"), &ctx).unwrap(),
            Observation::text("/home/alice")
        );
        assert_eq!(
            observe_account(&account("bob", "shell"), &ctx).unwrap(),
            Observation::text("/bin/zsh")
        );
        assert_eq!(
            observe_account(&account("nobody", "uid"), &ctx).unwrap(),
            Observation::Missing
        );
        // Malformed and NIS lines are skipped, not fatal.
        assert_eq!(
            observe_account(&account("broken", "uid"), &ctx).unwrap(),
            Observation::Missing
        );
        assert_eq!(
            observe_account(&account("short", "uid"), &ctx).unwrap(),
            Observation::Missing
        );
        assert_eq!(
            observe_account(&account("+nisuser", "uid"), &ctx).unwrap(),
            Observation::Missing
        );
    }

    #[test]
    fn password_states() {
        let (_d, ctx) = standard();
        let pw = |n: &str| observe_account(&account(n, "password"), &ctx).unwrap();
        assert_eq!(pw("root"), Observation::text("set"));
        assert_eq!(pw("daemon"), Observation::text("locked"));
        assert_eq!(pw("toor"), Observation::text("empty"));
        assert_eq!(pw("alice"), Observation::text("locked"));
        assert_eq!(pw("noshadow"), Observation::text("none"));
        // Not shadowed: the passwd field itself is the password.
        assert_eq!(pw("legacy"), Observation::text("empty"));
        assert_eq!(pw("oldhash"), Observation::text("set"));
    }

    #[test]
    fn password_ages() {
        let (_d, ctx) = standard();
        let age = |n: &str, p: &str| observe_account(&account(n, p), &ctx).unwrap();
        assert_eq!(age("alice", "last_change"), int(19600));
        assert_eq!(age("alice", "min_days"), int(1));
        assert_eq!(age("alice", "max_days"), int(90));
        assert_eq!(age("alice", "warn_days"), int(14));
        assert_eq!(age("alice", "inactive"), int(30));
        assert_eq!(age("root", "inactive"), Observation::Missing);
        assert_eq!(age("bob", "max_days"), Observation::Missing);
        assert_eq!(age("noshadow", "max_days"), Observation::Missing);
    }

    #[test]
    fn non_numeric_age_is_an_error() {
        let (_d, ctx) = root_with(&[("/etc/passwd", PASSWD), ("/etc/shadow", "alice:x:soon::::::\n")]);
        let r = observe_account(&account("alice", "last_change"), &ctx);
        assert_eq!(
            r,
            Err(error(
                "/etc/shadow: the last_change field of alice is not a number: \"soon\""
            ))
        );
    }

    #[test]
    fn no_shadow_file() {
        let (_d, ctx) = root_with(&[("/etc/passwd", PASSWD)]);
        assert_eq!(
            observe_account(&account("root", "password"), &ctx).unwrap(),
            Observation::text("none")
        );
        assert_eq!(
            observe_account(&account("root", "max_days"), &ctx).unwrap(),
            Observation::Missing
        );
    }

    #[test]
    fn unreadable_shadow_is_an_error_not_a_guess() {
        let (d, ctx) = standard();
        fs::set_permissions(d.path().join("etc/shadow"), fs::Permissions::from_mode(0o000)).unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root reads through mode 000, so there is no failure to observe.
            return;
        }
        let denied = Err(error("permission denied reading /etc/shadow"));
        assert_eq!(observe_account(&account("root", "password"), &ctx), denied);
        assert_eq!(observe_account(&account("root", "max_days"), &ctx), denied);
        assert_eq!(
            observe_accounts(&accounts(&[("password", Param::Text("empty".into()))]), &ctx),
            denied
        );
        // Questions that do not need shadow still work.
        assert_eq!(observe_account(&account("root", "uid"), &ctx).unwrap(), int(0));
    }

    #[test]
    fn accounts_filters() {
        let (_d, ctx) = standard();
        let q = |f: &[(&str, Param)]| observe_accounts(&accounts(f), &ctx).unwrap();
        assert_eq!(q(&[("uid", Param::Int(0))]), names(&["root", "toor"]));
        assert_eq!(q(&[("gid", Param::Int(1000))]), names(&["alice", "bob"]));
        assert_eq!(
            q(&[
                ("uid_at_least", Param::Int(1000)),
                ("uid_below", Param::Int(1002))
            ]),
            names(&["alice", "bob"])
        );
        assert_eq!(
            q(&[("password", Param::Text("empty".into()))]),
            names(&["toor", "legacy"])
        );
        assert_eq!(
            q(&[("password", Param::Text("none".into()))]),
            names(&["noshadow"])
        );
        assert_eq!(q(&[("shell", re("nologin$"))]), names(&["daemon"]));
        // Unanchored search, like `matches`.
        assert_eq!(q(&[("name", re("^a")), ("shell", re("bash"))]), names(&["alice"]));
        assert_eq!(q(&[("uid", Param::Int(4711))]), Observation::Missing);
    }

    #[test]
    fn duplicates() {
        let (_d, ctx) = standard();
        let q = |f: &[(&str, Param)]| observe_accounts(&accounts(f), &ctx).unwrap();
        assert_eq!(
            q(&[("duplicate", Param::Text("uid".into()))]),
            names(&["root", "toor"])
        );
        assert_eq!(
            q(&[("duplicate", Param::Text("name".into()))]),
            names(&["alice", "alice"])
        );
        assert_eq!(
            q(&[("duplicate", Param::Text("uid".into())), ("name", re("^toor$"))]),
            names(&["toor"])
        );
        // The first alice is the account; the duplicate line does not change it.
        assert_eq!(
            observe_account(&account("alice", "uid"), &ctx).unwrap(),
            int(1000)
        );
    }

    #[test]
    fn groups() {
        let (_d, ctx) = standard();
        let g = |n: &str, p: &str| observe_group(&group(n, p), &ctx).unwrap();
        assert_eq!(g("sudo", "gid"), int(27));
        assert_eq!(g("sudo", "members"), names(&["alice", "carol"]));
        // Primary-group members are added after the listed ones, without repeats.
        assert_eq!(g("root", "members"), names(&["root", "toor"]));
        assert_eq!(g("staff", "members"), names(&["alice", "bob"]));
        assert_eq!(g("empty", "members"), Observation::List(vec![]));
        assert_eq!(g("users", "members"), Observation::List(vec![]));
        assert_eq!(g("nosuchgroup", "members"), Observation::Missing);
        assert_eq!(g("bad", "gid"), Observation::Missing);
    }

    #[test]
    fn symlinked_passwd_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::create_dir_all(dir.path().join("data")).unwrap();
        fs::write(dir.path().join("data/passwd"), PASSWD).unwrap();
        std::os::unix::fs::symlink("/data/passwd", dir.path().join("etc/passwd")).unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        assert_eq!(observe_account(&account("bob", "uid"), &ctx).unwrap(), int(1001));
        // No /etc/group: every group is missing.
        assert_eq!(
            observe_group(&group("root", "members"), &ctx).unwrap(),
            Observation::Missing
        );

        let empty = tempfile::tempdir().unwrap();
        let ctx = HostContext::with_root(empty.path().to_path_buf());
        assert_eq!(
            observe_account(&account("root", "uid"), &ctx).unwrap(),
            Observation::Missing
        );
        assert_eq!(
            observe_accounts(&accounts(&[("uid", Param::Int(0))]), &ctx).unwrap(),
            Observation::Missing
        );
    }

    #[test]
    fn files_are_parsed_once_per_run() {
        let (d, ctx) = standard();
        assert_eq!(
            observe_account(&account("mallory", "uid"), &ctx).unwrap(),
            Observation::Missing
        );
        fs::write(d.path().join("etc/passwd"), "mallory:x:0:0::/:/bin/sh\n").unwrap();
        assert_eq!(
            observe_account(&account("mallory", "uid"), &ctx).unwrap(),
            Observation::Missing
        );
    }
}
