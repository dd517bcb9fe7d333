//! Reading the audited filesystem safely: symlink resolution confined to a root
//! directory, bounded reads, and errors that say what went wrong.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

/// Whole-file reads (config files, databases) stop here.
pub const MAX_TEXT_BYTES: u64 = 64 * 1024 * 1024;
/// Longer lines are cut to this many bytes when matching patterns.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// As many symlinks as Linux follows before giving ELOOP.
const MAX_SYMLINKS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    #[error("not found")]
    NotFound,
    #[error("permission denied")]
    PermissionDenied,
    #[error("too many levels of symbolic links (symlink loop?)")]
    SymlinkLoop,
    #[error("file is larger than the {0}-byte read limit")]
    TooLarge(u64),
    #[error("{0}")]
    Other(String),
}

impl From<std::io::Error> for FsError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => FsError::NotFound,
            std::io::ErrorKind::PermissionDenied => FsError::PermissionDenied,
            _ if e.raw_os_error() == Some(40) && cfg!(target_os = "linux") => FsError::SymlinkLoop,
            _ => FsError::Other(e.to_string()),
        }
    }
}

/// Maps `path` (absolute, as seen on the audited system) into `root`, following symlinks
/// the way the audited system would: absolute targets restart at `root`, `..` never
/// climbs above it. With `follow_last` false the final component is left unresolved.
pub fn resolve_in_root(root: &Path, path: &Path, follow_last: bool) -> Result<PathBuf, FsError> {
    let mut pending: Vec<std::ffi::OsString> = components(path);
    pending.reverse();
    let mut resolved: Vec<std::ffi::OsString> = Vec::new();
    let mut followed = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let is_last = pending.is_empty();
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&part);
        if is_last && !follow_last {
            resolved.push(part);
            break;
        }
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err(FsError::SymlinkLoop);
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            Ok(_) => resolved.push(part),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(FsError::NotFound),
            Err(e) => return Err(e.into()),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

fn components(path: &Path) -> Vec<std::ffi::OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Reads a text file of at most [`MAX_TEXT_BYTES`]; invalid UTF-8 is replaced, since
/// configuration files are occasionally Latin-1. `Ok(None)` when it does not exist.
pub fn read_text_bounded(path: &Path) -> Result<Option<String>, FsError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(FsError::Other("is a directory".into()));
    }
    let mut buf = Vec::new();
    file.take(MAX_TEXT_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_TEXT_BYTES {
        return Err(FsError::TooLarge(MAX_TEXT_BYTES));
    }
    Ok(Some(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }))
}

/// Calls `visit` with each line of a file (without the newline), reading in bounded
/// chunks so huge or binary files use constant memory. Overlong lines are cut to
/// [`MAX_LINE_BYTES`]. `visit` returns false to stop early.
pub fn for_each_line(path: &Path, mut visit: impl FnMut(&str) -> bool) -> Result<(), FsError> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(FsError::Other("is a directory".into()));
    }
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    loop {
        line.clear();
        let mut overlong = false;
        loop {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            let room = MAX_LINE_BYTES.saturating_sub(line.len());
            if chunk.len() > room {
                overlong = true;
            }
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let consumed = done.unwrap_or(buf.len());
            reader.consume(consumed);
            if done.is_some() {
                break;
            }
        }
        if line.is_empty() && reader.fill_buf()?.is_empty() && !overlong {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if !visit(text) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/real"), "x").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/real", root.join("etc/abs")).unwrap();
            std::os::unix::fs::symlink("../../../../etc/real", root.join("etc/climb")).unwrap();
            std::os::unix::fs::symlink("loop2", root.join("etc/loop1")).unwrap();
            std::os::unix::fs::symlink("loop1", root.join("etc/loop2")).unwrap();
            assert_eq!(
                resolve_in_root(root, Path::new("/etc/abs"), true).unwrap(),
                root.join("etc/real")
            );
            assert_eq!(
                resolve_in_root(root, Path::new("/etc/climb"), true).unwrap(),
                root.join("etc/real")
            );
            assert_eq!(
                resolve_in_root(root, Path::new("/etc/abs"), false).unwrap(),
                root.join("etc/abs")
            );
            assert_eq!(
                resolve_in_root(root, Path::new("/etc/loop1"), true),
                Err(FsError::SymlinkLoop)
            );
        }
        assert_eq!(
            resolve_in_root(root, Path::new("/etc/none"), true),
            Err(FsError::NotFound)
        );
    }

    #[test]
    fn lines_are_bounded_and_lossy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut data = vec![b'a'; MAX_LINE_BYTES * 3];
        data.extend_from_slice(b"\nsecond\xff\r\nthird");
        std::fs::write(&p, &data).unwrap();
        let mut lines = Vec::new();
        for_each_line(&p, |l| {
            lines.push(l.to_string());
            true
        })
        .unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].len(), MAX_LINE_BYTES);
        assert_eq!(lines[1], "second\u{fffd}");
        assert_eq!(lines[2], "third");
    }
}
