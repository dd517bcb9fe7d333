//! The `files` probe: every path matching a glob, optionally with a property of each or
//! the matching lines of all of them.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};

use super::{error, file, ProbeFailure, ProbeResult};
use crate::context::HostContext;
use crate::fsroot::FsError;

/// Directory entries examined per probe; a pattern like `/**` must not walk forever.
const MAX_ENTRIES: usize = 100_000;

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let pattern = probe.arg_text();
    let paths = expand(ctx, &pattern)?;
    if let Some(lines) = probe.regex_param("lines") {
        let mut out = Vec::new();
        for p in &paths {
            if let Some(values) = file::matching_lines(ctx, p, lines, false)? {
                out.extend(values);
            }
        }
        return Ok(Observation::list_or_missing(out));
    }
    match probe.property() {
        None => Ok(Observation::list_or_missing(
            paths.into_iter().map(Value::Text).collect(),
        )),
        Some(prop) => {
            let mut out = Vec::with_capacity(paths.len());
            for p in &paths {
                if let Some(v) = file::property(ctx, p, prop)? {
                    out.push(v);
                }
            }
            Ok(Observation::list_or_missing(out))
        }
    }
}

/// Paths (as seen on the audited system) matching `pattern`, sorted.
pub fn expand(ctx: &HostContext, pattern: &str) -> Result<Vec<String>, ProbeFailure> {
    if !pattern.starts_with('/') && !cfg!(windows) {
        return Err(error(format!(
            "files pattern {pattern:?} must be an absolute path"
        )));
    }
    let matcher: GlobMatcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| error(format!("invalid glob {pattern:?}: {e}")))?
        .compile_matcher();
    // Walk from the longest directory prefix without wildcards.
    let parts: Vec<&str> = pattern.split('/').collect();
    let literal = parts
        .iter()
        .take_while(|p| !p.contains(['*', '?', '[', '{']))
        .count();
    if literal == parts.len() {
        return Ok(match file::property(ctx, pattern, "exists")? {
            Some(_) => vec![pattern.to_string()],
            None => Vec::new(),
        });
    }
    let base = parts[..literal].join("/");
    let base = if base.is_empty() { "/".to_string() } else { base };
    let recursive = parts[literal..].iter().any(|p| p.contains("**"));
    let max_depth = if recursive { 64 } else { parts.len() - literal };
    let real_base = match ctx.resolve(&base) {
        Ok(p) => p,
        Err(FsError::NotFound) => return Ok(Vec::new()),
        Err(e) => return Err(error(format!("{base}: {e}"))),
    };
    let mut out = Vec::new();
    let mut seen = 0usize;
    walk(
        &real_base,
        Path::new(&base),
        max_depth,
        &matcher,
        &mut out,
        &mut seen,
    )?;
    out.sort();
    Ok(out)
}

fn walk(
    real: &Path,
    shown: &Path,
    depth_left: usize,
    matcher: &GlobMatcher,
    out: &mut Vec<String>,
    seen: &mut usize,
) -> Result<(), ProbeFailure> {
    if depth_left == 0 {
        return Ok(());
    }
    let entries = match std::fs::read_dir(real) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(error(format!("{}: {}", shown.display(), FsError::from(e)))),
    };
    for entry in entries {
        let entry = entry.map_err(|e| error(format!("{}: {e}", shown.display())))?;
        *seen += 1;
        if *seen > MAX_ENTRIES {
            return Err(error(format!(
                "glob walked more than {MAX_ENTRIES} entries; narrow the pattern"
            )));
        }
        let name = entry.file_name();
        let shown_child: PathBuf = shown.join(&name);
        let shown_text = shown_child.to_string_lossy().into_owned();
        if matcher.is_match(&shown_text) {
            out.push(shown_text);
        }
        // Do not descend through symlinked directories: they could loop or leave the root.
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&entry.path(), &shown_child, depth_left - 1, matcher, out, seen)?;
        }
    }
    Ok(())
}
