//! The `sshd` probe: the OpenSSH server's effective value for a keyword, read from
//! sshd_config the way sshd reads it (first value wins, `Include` followed, `Match`
//! blocks not applied), falling back to sshd's compiled-in defaults.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use vt_policy::probe::Probe;
use vt_policy::Observation;

use crate::context::HostContext;
use crate::fsroot::FsError;
use crate::probes::{error, ProbeFailure, ProbeResult};

const DEFAULT_CONFIG: &str = "/etc/ssh/sshd_config";
/// Relative Include paths are taken from here, as sshd does.
const SSH_DIR: &str = "/etc/ssh";
/// sshd's own limit (SERVCONF_MAX_DEPTH); deeper nesting is almost surely a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Keywords sshd accumulates across lines instead of keeping the first.
const ACCUMULATING: &[&str] = &[
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
    "acceptenv",
    "setenv",
    "hostkey",
    "hostcertificate",
    "port",
    "listenaddress",
];

/// Older spellings sshd still accepts for the same option (lower case).
const ALIASES: &[(&str, &str)] = &[
    ("challengeresponseauthentication", "kbdinteractiveauthentication"),
    ("skeyauthentication", "kbdinteractiveauthentication"),
    ("keepalive", "tcpkeepalive"),
    ("dsaauthentication", "pubkeyauthentication"),
    ("hostdsakey", "hostkey"),
    ("pubkeyacceptedkeytypes", "pubkeyacceptedalgorithms"),
    ("hostbasedacceptedkeytypes", "hostbasedacceptedalgorithms"),
];

/// Upstream OpenSSH defaults (sshd_config(5), OpenSSH 9.x) for keywords audits ask
/// about. Distributions change some of these through the shipped sshd_config (Debian
/// sets UsePAM yes), which is read before these apply. Algorithm lists (Ciphers, MACs,
/// KexAlgorithms) change between releases and are deliberately absent.
const DEFAULTS: &[(&str, &str)] = &[
    ("addressfamily", "any"),
    ("allowagentforwarding", "yes"),
    ("allowstreamlocalforwarding", "yes"),
    ("allowtcpforwarding", "yes"),
    ("authenticationmethods", "any"),
    ("authorizedkeysfile", ".ssh/authorized_keys .ssh/authorized_keys2"),
    ("banner", "none"),
    ("chrootdirectory", "none"),
    ("clientalivecountmax", "3"),
    ("clientaliveinterval", "0"),
    ("compression", "yes"),
    ("disableforwarding", "no"),
    ("exposeauthinfo", "no"),
    ("fingerprinthash", "sha256"),
    ("gatewayports", "no"),
    ("gssapiauthentication", "no"),
    ("gssapicleanupcredentials", "yes"),
    ("hostbasedauthentication", "no"),
    ("hostbasedusesnamefrompacketonly", "no"),
    ("ignorerhosts", "yes"),
    ("ignoreuserknownhosts", "no"),
    ("kbdinteractiveauthentication", "yes"),
    ("kerberosauthentication", "no"),
    ("kerberosorlocalpasswd", "yes"),
    ("kerberosticketcleanup", "yes"),
    ("logingracetime", "120"),
    ("loglevel", "INFO"),
    ("maxauthtries", "6"),
    ("maxsessions", "10"),
    ("maxstartups", "10:30:100"),
    ("passwordauthentication", "yes"),
    ("permitemptypasswords", "no"),
    ("permitrootlogin", "prohibit-password"),
    ("permittty", "yes"),
    ("permittunnel", "no"),
    ("permituserenvironment", "no"),
    ("permituserrc", "yes"),
    ("port", "22"),
    ("printlastlog", "yes"),
    ("printmotd", "yes"),
    ("pubkeyauthentication", "yes"),
    ("strictmodes", "yes"),
    ("syslogfacility", "AUTH"),
    ("tcpkeepalive", "yes"),
    ("usedns", "no"),
    ("usepam", "no"),
    ("x11displayoffset", "10"),
    ("x11forwarding", "no"),
    ("x11uselocalhost", "yes"),
];

/// Keyword (canonical, lower case) -> value as written, quotes removed, words joined by
/// single spaces.
#[derive(Debug, Default, PartialEq)]
struct SshdConfig {
    values: HashMap<String, String>,
}

type Parsed = Arc<Result<Option<SshdConfig>, String>>;

/// Parsed configs by config path: rules may name different files with `config:`.
#[derive(Default)]
struct SshdConfigCache(Mutex<HashMap<String, Parsed>>);

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let keyword = canonical(&probe.arg_text().trim().to_ascii_lowercase());
    if keyword.is_empty() || keyword.contains(char::is_whitespace) {
        return Err(error(format!("invalid sshd keyword {:?}", probe.arg_text())));
    }
    let path = match probe.text_param("config") {
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("{SSH_DIR}/{p}"),
        None => DEFAULT_CONFIG.to_string(),
    };
    let parsed = config(ctx, &path);
    let cfg = match parsed.as_ref() {
        Ok(Some(cfg)) => cfg,
        Ok(None) => return Ok(Observation::Missing),
        Err(msg) => return Err(ProbeFailure::Error(msg.clone())),
    };
    if let Some(v) = cfg.values.get(&keyword) {
        return Ok(Observation::text(v.clone()));
    }
    Ok(DEFAULTS
        .iter()
        .find(|(k, _)| *k == keyword)
        .map_or(Observation::Missing, |(_, v)| Observation::text(*v)))
}

fn canonical(keyword: &str) -> String {
    ALIASES
        .iter()
        .find(|(old, _)| *old == keyword)
        .map_or(keyword, |(_, new)| new)
        .to_string()
}

fn config(ctx: &HostContext, path: &str) -> Parsed {
    let cache = ctx.shared(SshdConfigCache::default);
    // Parsing under the lock means concurrent rules wait for one parse instead of
    // each doing their own.
    let mut map = cache.0.lock().unwrap_or_else(|p| p.into_inner());
    Arc::clone(
        map.entry(path.to_string())
            .or_insert_with(|| Arc::new(load(ctx, path))),
    )
}

fn read_failure(path: &str, e: FsError) -> String {
    match e {
        FsError::PermissionDenied => format!("permission denied reading {path}"),
        e => format!("cannot read {path}: {e}"),
    }
}

fn load(ctx: &HostContext, path: &str) -> Result<Option<SshdConfig>, String> {
    let text = match ctx.read_text(path) {
        Ok(Some(t)) => t,
        Ok(None) | Err(FsError::NotFound) => return Ok(None),
        Err(e) => return Err(read_failure(path, e)),
    };
    let mut cfg = SshdConfig::default();
    parse(ctx, path, &text, 0, &mut cfg)?;
    Ok(Some(cfg))
}

fn parse(
    ctx: &HostContext,
    path: &str,
    text: &str,
    depth: usize,
    cfg: &mut SshdConfig,
) -> Result<(), String> {
    // A Match block runs to the end of the file it starts in; its settings apply only to
    // some connections, so they are not the server-wide value.
    let mut in_match = false;
    for line in text.lines() {
        let Some((keyword, args)) = split_line(line) else {
            continue;
        };
        let keyword = canonical(&keyword.to_ascii_lowercase());
        if in_match {
            continue;
        }
        match keyword.as_str() {
            "match" => in_match = true,
            "include" => {
                for pattern in &args {
                    for file in expand_include(ctx, pattern)? {
                        if depth + 1 > MAX_INCLUDE_DEPTH {
                            return Err(format!(
                                "{path}: Include nested more than {MAX_INCLUDE_DEPTH} levels deep (an include loop?)"
                            ));
                        }
                        let included = match ctx.read_text(&file) {
                            Ok(Some(t)) => t,
                            // Matched by the glob but gone, or a dangling link: sshd skips it too.
                            Ok(None) | Err(FsError::NotFound) => continue,
                            Err(e) => return Err(read_failure(&file, e)),
                        };
                        parse(ctx, &file, &included, depth + 1, cfg)?;
                    }
                }
            }
            // sshd refuses a keyword without a value; such a line sets nothing.
            _ if args.is_empty() => {}
            _ if ACCUMULATING.contains(&keyword.as_str()) => {
                let joined = args.join(" ");
                cfg.values
                    .entry(keyword)
                    .and_modify(|v| {
                        v.push(' ');
                        v.push_str(&joined);
                    })
                    .or_insert(joined);
            }
            _ => {
                cfg.values.entry(keyword).or_insert_with(|| args.join(" "));
            }
        }
    }
    Ok(())
}

/// Splits a config line into its keyword and arguments like sshd: the keyword ends at
/// whitespace or `=`, arguments are whitespace-separated with double or single quotes
/// grouping words, and an unquoted `#` at the start of a word begins a comment.
fn split_line(line: &str) -> Option<(String, Vec<String>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = &line[..end];
    if keyword.is_empty() {
        return None;
    }
    let mut rest = line[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else { break };
        if first == '#' {
            break;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '"' | '\'' => {
                    let quote = c;
                    while let Some(c) = chars.next() {
                        match c {
                            _ if c == quote => break,
                            '\\' if chars.peek().is_some_and(|n| *n == quote || *n == '\\') => {
                                word.extend(chars.next());
                            }
                            c => word.push(c),
                        }
                    }
                }
                '\\' if chars.peek().is_some_and(|n| matches!(n, '"' | '\'' | '\\')) => {
                    word.extend(chars.next())
                }
                c => word.push(c),
            }
        }
        args.push(word);
    }
    Some((keyword.to_string(), args))
}

/// Expands an Include argument (a glob, relative to /etc/ssh) inside the audited root,
/// in glob(3)'s sorted order. Nothing matching is not an error, as in sshd.
fn expand_include(ctx: &HostContext, pattern: &str) -> Result<Vec<String>, String> {
    let absolute = if pattern.starts_with('/') {
        pattern.to_string()
    } else {
        format!("{SSH_DIR}/{pattern}")
    };
    let mut candidates = vec![String::new()];
    for component in absolute.split('/').filter(|c| !c.is_empty()) {
        let is_glob = component.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for dir in &candidates {
            if !is_glob {
                next.push(format!("{dir}/{component}"));
                continue;
            }
            let shown = if dir.is_empty() { "/" } else { dir.as_str() };
            let real = match ctx.resolve(shown) {
                Ok(p) => p,
                Err(FsError::NotFound) => continue,
                Err(e) => return Err(read_failure(shown, e)),
            };
            let entries = match std::fs::read_dir(&real) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => continue,
                Err(e) => return Err(read_failure(shown, e.into())),
            };
            let matcher = globset::GlobBuilder::new(component)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("invalid Include pattern {pattern:?}: {e}"))?
                .compile_matcher();
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // glob(3): a leading dot must be matched explicitly.
                if name.starts_with('.') && !component.starts_with('.') {
                    continue;
                }
                if matcher.is_match(&name) {
                    next.push(format!("{dir}/{name}"));
                }
            }
        }
        candidates = next;
    }
    candidates.sort();
    Ok(candidates.into_iter().filter(|c| !c.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use vt_policy::probe::{Param, ProbeArg, ProbeKind};

    fn probe(keyword: &str) -> Probe {
        Probe {
            kind: ProbeKind::Sshd,
            arg: ProbeArg::Text(keyword.into()),
            property: None,
            params: BTreeMap::new(),
        }
    }

    fn probe_with_config(keyword: &str, config: &str) -> Probe {
        let mut p = probe(keyword);
        p.params.insert("config".into(), Param::Text(config.into()));
        p
    }

    use crate::probes::testutil::root_with;

    const MAIN: &str = "\
# Debian-style: drop-ins first so they win
Include /etc/ssh/sshd_config.d/*.conf
Port 2222
PermitRootLogin yes
passwordauthentication = no
X11Forwarding=yes
Banner \"/etc/issue net\"
AllowUsers alice bob
AllowUsers carol
Ciphers   aes256-gcm@openssh.com,chacha20-poly1305@openssh.com   # trailing comment
Subsystem sftp  /usr/lib/openssh/sftp-server -f AUTHPRIV
UsePAM
ChallengeResponseAuthentication no
Match User backup
    PermitRootLogin forced-commands-only
    MaxAuthTries 2
";

    fn standard() -> (tempfile::TempDir, HostContext) {
        root_with(&[
            ("/etc/ssh/sshd_config", MAIN),
            (
                "/etc/ssh/sshd_config.d/10-hardening.conf",
                "PermitRootLogin no\nMaxSessions 4\nMatch Address 10.0.0.0/8\n  LogLevel DEBUG3\n",
            ),
            // Read after 10-: its PermitRootLogin loses, but the Match above ended with its file.
            (
                "/etc/ssh/sshd_config.d/20-more.conf",
                "PermitRootLogin prohibit-password\nLogLevel VERBOSE\nInclude extra/*.inc\n",
            ),
            ("/etc/ssh/extra/a.inc", "ClientAliveInterval 300\n"),
            ("/etc/ssh/sshd_config.d/notes.txt", "MaxStartups 1:1:1\n"),
            ("/etc/ssh/sshd_config.d/.hidden.conf", "MaxStartups 2:2:2\n"),
        ])
    }

    fn ask(ctx: &HostContext, keyword: &str) -> ProbeResult {
        observe(&probe(keyword), ctx)
    }

    #[test]
    fn first_value_wins_across_includes() {
        let (_d, ctx) = standard();
        assert_eq!(ask(&ctx, "PermitRootLogin").unwrap(), Observation::text("no"));
        assert_eq!(ask(&ctx, "permitrootlogin").unwrap(), Observation::text("no"));
        assert_eq!(ask(&ctx, "MaxSessions").unwrap(), Observation::text("4"));
        // Relative nested Include resolved against /etc/ssh.
        assert_eq!(
            ask(&ctx, "ClientAliveInterval").unwrap(),
            Observation::text("300")
        );
    }

    #[test]
    fn match_blocks_are_ignored_until_the_end_of_their_file() {
        let (_d, ctx) = standard();
        // LogLevel DEBUG3 is in 10-'s Match block; 20-'s VERBOSE is global again.
        assert_eq!(ask(&ctx, "LogLevel").unwrap(), Observation::text("VERBOSE"));
        // MaxAuthTries only appears under Match in the main file: the default applies.
        assert_eq!(ask(&ctx, "MaxAuthTries").unwrap(), Observation::text("6"));
    }

    #[test]
    fn separators_quotes_and_comments() {
        let (_d, ctx) = standard();
        assert_eq!(
            ask(&ctx, "PasswordAuthentication").unwrap(),
            Observation::text("no")
        );
        assert_eq!(ask(&ctx, "X11Forwarding").unwrap(), Observation::text("yes"));
        assert_eq!(ask(&ctx, "Banner").unwrap(), Observation::text("/etc/issue net"));
        assert_eq!(
            ask(&ctx, "Ciphers").unwrap(),
            Observation::text("aes256-gcm@openssh.com,chacha20-poly1305@openssh.com")
        );
        assert_eq!(
            ask(&ctx, "Subsystem").unwrap(),
            Observation::text("sftp /usr/lib/openssh/sftp-server -f AUTHPRIV")
        );
    }

    #[test]
    fn accumulating_keywords_and_aliases() {
        let (_d, ctx) = standard();
        assert_eq!(
            ask(&ctx, "AllowUsers").unwrap(),
            Observation::text("alice bob carol")
        );
        assert_eq!(ask(&ctx, "Port").unwrap(), Observation::text("2222"));
        // The old name and the new one are the same option.
        assert_eq!(
            ask(&ctx, "KbdInteractiveAuthentication").unwrap(),
            Observation::text("no")
        );
        assert_eq!(
            ask(&ctx, "ChallengeResponseAuthentication").unwrap(),
            Observation::text("no")
        );
    }

    #[test]
    fn defaults_when_unset_and_missing_otherwise() {
        let (_d, ctx) = standard();
        // Not .conf, or hidden: never included.
        assert_eq!(ask(&ctx, "MaxStartups").unwrap(), Observation::text("10:30:100"));
        // `UsePAM` without a value sets nothing.
        assert_eq!(ask(&ctx, "UsePAM").unwrap(), Observation::text("no"));
        assert_eq!(
            ask(&ctx, "PermitEmptyPasswords").unwrap(),
            Observation::text("no")
        );
        assert_eq!(ask(&ctx, "IgnoreRhosts").unwrap(), Observation::text("yes"));
        assert_eq!(ask(&ctx, "LoginGraceTime").unwrap(), Observation::text("120"));
        assert_eq!(ask(&ctx, "DenyUsers").unwrap(), Observation::Missing);
        assert_eq!(ask(&ctx, "KexAlgorithms").unwrap(), Observation::Missing);
    }

    #[test]
    fn absent_config_is_missing_even_for_defaults() {
        let (_d, ctx) = root_with(&[]);
        assert_eq!(ask(&ctx, "PermitRootLogin").unwrap(), Observation::Missing);
    }

    #[test]
    fn config_param_and_per_path_cache() {
        let (_d, ctx) = standard();
        let other = root_with(&[("/etc/ssh/alt_config", "PermitRootLogin without-password\n")]);
        let p = probe_with_config("PermitRootLogin", "/etc/ssh/alt_config");
        assert_eq!(
            observe(&p, &other.1).unwrap(),
            Observation::text("without-password")
        );
        // Relative config paths are under /etc/ssh; the default file is cached separately.
        let p = probe_with_config("PermitRootLogin", "alt_config");
        assert_eq!(
            observe(&p, &other.1).unwrap(),
            Observation::text("without-password")
        );
        assert_eq!(
            observe(&probe("PermitRootLogin"), &other.1).unwrap(),
            Observation::Missing
        );
        assert_eq!(ask(&ctx, "PermitRootLogin").unwrap(), Observation::text("no"));
    }

    #[test]
    fn symlinked_config_and_include_dir() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("etc/ssh")).unwrap();
        fs::create_dir_all(r.join("opt/ssh/conf.d")).unwrap();
        fs::write(
            r.join("opt/ssh/main"),
            "Include /etc/ssh/sshd_config.d/*\nPermitRootLogin yes\n",
        )
        .unwrap();
        fs::write(r.join("opt/ssh/conf.d/x"), "PermitRootLogin no\n").unwrap();
        std::os::unix::fs::symlink("/opt/ssh/main", r.join("etc/ssh/sshd_config")).unwrap();
        std::os::unix::fs::symlink("/opt/ssh/conf.d", r.join("etc/ssh/sshd_config.d")).unwrap();
        let ctx = HostContext::with_root(r.to_path_buf());
        assert_eq!(ask(&ctx, "PermitRootLogin").unwrap(), Observation::text("no"));
    }

    #[test]
    fn include_loop_is_an_error() {
        let (_d, ctx) = root_with(&[("/etc/ssh/sshd_config", "Include sshd_config\n")]);
        let Err(ProbeFailure::Error(msg)) = ask(&ctx, "PermitRootLogin") else {
            panic!("expected an error")
        };
        assert!(msg.contains("Include nested more than 16 levels"), "{msg}");
    }

    #[test]
    fn unreadable_config_is_an_error() {
        let (d, ctx) = standard();
        fs::set_permissions(
            d.path().join("etc/ssh/sshd_config.d/10-hardening.conf"),
            fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root reads through mode 000, so there is no failure to observe.
            return;
        }
        assert_eq!(
            ask(&ctx, "PermitRootLogin"),
            Err(error(
                "permission denied reading /etc/ssh/sshd_config.d/10-hardening.conf"
            ))
        );
    }

    #[test]
    fn line_splitting() {
        let s = split_line;
        assert_eq!(s("  # comment"), None);
        assert_eq!(s(""), None);
        assert_eq!(
            s("Key = \"a b\"  c"),
            Some(("Key".into(), vec!["a b".into(), "c".into()]))
        );
        assert_eq!(s("Key 'it''s'"), Some(("Key".into(), vec!["its".into()])));
        assert_eq!(s("Key a#b #c"), Some(("Key".into(), vec!["a#b".into()])));
        assert_eq!(s("Key \"q\\\"x\""), Some(("Key".into(), vec!["q\"x".into()])));
        assert_eq!(s("Key"), Some(("Key".into(), vec![])));
    }
}
