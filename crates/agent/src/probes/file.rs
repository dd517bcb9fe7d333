//! The `file` probe: a file's existence, metadata, hash, or matching lines.

use std::fs::Metadata;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};
use vt_policy::probe::{Pattern, Probe};
use vt_policy::{Observation, Value};

use super::{error, ProbeFailure, ProbeResult};
use crate::context::HostContext;
use crate::fsroot::{self, FsError};

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let path = probe.arg_text();
    if let Some(pattern) = probe.regex_param("line") {
        return Ok(match matching_lines(ctx, &path, pattern, true)? {
            Some(mut values) if !values.is_empty() => Observation::Scalar(values.remove(0)),
            _ => Observation::Missing,
        });
    }
    if let Some(pattern) = probe.regex_param("lines") {
        return Ok(match matching_lines(ctx, &path, pattern, false)? {
            Some(values) => Observation::list_or_missing(values),
            None => Observation::Missing,
        });
    }
    match probe.property() {
        None => match property(ctx, &path, "exists")? {
            Some(_) => Ok(Observation::text(path)),
            None => Ok(Observation::Missing),
        },
        Some(prop) => Ok(property(ctx, &path, prop)?
            .map(Observation::Scalar)
            .unwrap_or(Observation::Missing)),
    }
}

/// The value captured from a matching line: group 1 when the pattern has a group (and it
/// took part in the match), otherwise the whole line.
fn captured(pattern: &Pattern, line: &str) -> Option<Value> {
    let caps = pattern.regex.captures(line)?;
    let text = if pattern.regex.captures_len() > 1 {
        caps.get(1).map(|m| m.as_str()).unwrap_or(line)
    } else {
        line
    };
    Some(Value::text(text))
}

/// Matching lines of one file; `Ok(None)` when the file does not exist.
pub fn matching_lines(
    ctx: &HostContext,
    path: &str,
    pattern: &Pattern,
    first_only: bool,
) -> Result<Option<Vec<Value>>, ProbeFailure> {
    let real = match ctx.resolve(path) {
        Ok(p) => p,
        Err(FsError::NotFound) => return Ok(None),
        Err(e) => return Err(error(format!("{path}: {e}"))),
    };
    let mut out = Vec::new();
    let scanned = fsroot::for_each_line(&real, |line| {
        if let Some(v) = captured(pattern, line) {
            out.push(v);
            if first_only {
                return false;
            }
        }
        true
    });
    match scanned {
        Ok(()) => Ok(Some(out)),
        Err(FsError::NotFound) => Ok(None),
        Err(e) => Err(error(format!("{path}: {e}"))),
    }
}

/// One property of a path; `Ok(None)` when the path does not exist.
pub fn property(ctx: &HostContext, path: &str, prop: &str) -> Result<Option<Value>, ProbeFailure> {
    let no_follow = matches!(prop, "type" | "target");
    let resolved = if no_follow {
        ctx.resolve_no_follow(path)
    } else {
        ctx.resolve(path)
    };
    let real = match resolved {
        Ok(p) => p,
        Err(FsError::NotFound) => return Ok(None),
        Err(e) => return Err(error(format!("{path}: {e}"))),
    };
    let meta = if no_follow {
        std::fs::symlink_metadata(&real)
    } else {
        std::fs::metadata(&real)
    };
    let meta = match meta {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error(format!("{path}: {}", FsError::from(e)))),
    };
    let value = match prop {
        "exists" => Value::Bool(true),
        "type" => Value::text(file_type(&meta)),
        "size" => Value::Int(i64::try_from(meta.len()).unwrap_or(i64::MAX)),
        "target" => {
            if !meta.file_type().is_symlink() {
                return Ok(None);
            }
            let target = std::fs::read_link(&real).map_err(|e| error(format!("{path}: {e}")))?;
            Value::text(target.to_string_lossy())
        }
        "sha256" => {
            if !meta.is_file() {
                return Err(error(format!("{path}: sha256 needs a regular file")));
            }
            Value::text(sha256_file(&real).map_err(|e| error(format!("{path}: {e}")))?)
        }
        "version" => return file_version(&real, path),
        owner_prop => return unix_property(ctx, &meta, owner_prop, path),
    };
    Ok(Some(value))
}

fn file_type(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "symlink"
    } else if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "file"
    } else {
        "other"
    }
}

fn sha256_file(path: &Path) -> Result<String, FsError> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(unix)]
fn unix_property(
    ctx: &HostContext,
    meta: &Metadata,
    prop: &str,
    path: &str,
) -> Result<Option<Value>, ProbeFailure> {
    use std::os::unix::fs::MetadataExt;
    Ok(Some(match prop {
        "mode" => Value::Mode(meta.mode() & 0o7777),
        "uid" => Value::Int(i64::from(meta.uid())),
        "gid" => Value::Int(i64::from(meta.gid())),
        "owner" => Value::text(crate::idnames::user_name(ctx, meta.uid())),
        "group" => Value::text(crate::idnames::group_name(ctx, meta.gid())),
        other => return Err(error(format!("{path}: unknown file property {other:?}"))),
    }))
}

#[cfg(not(unix))]
fn unix_property(_: &HostContext, _: &Metadata, prop: &str, _: &str) -> Result<Option<Value>, ProbeFailure> {
    Err(error(format!(
        "file property {prop:?} is not available on Windows (use an ACL check instead)"
    )))
}

#[cfg(not(windows))]
fn file_version(_: &Path, _: &str) -> Result<Option<Value>, ProbeFailure> {
    Err(error(
        "file property \"version\" reads Windows version resources; not available on this OS",
    ))
}

#[cfg(windows)]
fn file_version(real: &Path, path: &str) -> Result<Option<Value>, ProbeFailure> {
    crate::probes::windows::file_version(real, path)
}
