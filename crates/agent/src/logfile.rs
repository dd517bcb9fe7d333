//! The agent's log file with size-based rotation: `agent.log`, then `agent.log.1` (newest)
//! to `agent.log.3` (oldest), so a long-running service never fills the disk.
#![cfg_attr(not(test), allow(dead_code))]

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const MAX_BYTES: u64 = 5 * 1024 * 1024;
pub const KEEP: usize = 3;

pub struct LogFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    /// The open file and its size; one lock so concurrent writers never interleave a
    /// line or rotate twice.
    state: Mutex<Option<(File, u64)>>,
}

impl LogFile {
    /// `<dir>/agent.log` with the standard limits; creates `dir` if needed.
    pub fn open(dir: &Path) -> io::Result<LogFile> {
        std::fs::create_dir_all(dir)?;
        Ok(LogFile::with_limits(dir.join("agent.log"), MAX_BYTES, KEEP))
    }

    pub fn with_limits(path: PathBuf, max_bytes: u64, keep: usize) -> LogFile {
        LogFile {
            path,
            max_bytes,
            keep,
            state: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn numbered(&self, n: usize) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn open_current(&self) -> io::Result<(File, u64)> {
        let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        let len = file.metadata()?.len();
        Ok((file, len))
    }

    /// agent.log.2 → .3, .1 → .2, agent.log → .1 (the oldest falls off). The file must be
    /// closed first: Windows cannot rename an open file.
    fn rotate(&self) -> io::Result<()> {
        if self.keep == 0 {
            return std::fs::remove_file(&self.path).or_else(ignore_missing);
        }
        std::fs::remove_file(self.numbered(self.keep)).or_else(ignore_missing)?;
        for n in (1..self.keep).rev() {
            std::fs::rename(self.numbered(n), self.numbered(n + 1)).or_else(ignore_missing)?;
        }
        std::fs::rename(&self.path, self.numbered(1)).or_else(ignore_missing)
    }

    /// Appends one line (a newline is added), rotating first when the line would take the
    /// file past the limit. A single line longer than the limit is still written whole.
    pub fn write_line(&self, line: &str) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let needed = line.len() as u64 + 1;
        if state.is_none() {
            *state = Some(self.open_current()?);
        }
        if let Some((_, size)) = state.as_ref() {
            if *size > 0 && size + needed > self.max_bytes {
                *state = None;
                self.rotate()?;
                *state = Some(self.open_current()?);
            }
        }
        let Some((file, size)) = state.as_mut() else {
            return Err(io::Error::other("log file is not open"));
        };
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        file.write_all(&buf)?;
        *size += needed;
        Ok(())
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    #[test]
    fn appends_and_rotates_by_size_keeping_three() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::with_limits(dir.path().join("agent.log"), 20, 3);
        // Each line is 10 bytes with its newline: two fit in one file.
        for i in 0..9 {
            log.write_line(&format!("line {i:04}")).unwrap();
        }
        let p = |suffix: &str| dir.path().join(format!("agent.log{suffix}"));
        assert_eq!(read(&p("")), "line 0008\n");
        assert_eq!(read(&p(".1")), "line 0006\nline 0007\n");
        assert_eq!(read(&p(".2")), "line 0004\nline 0005\n");
        assert_eq!(read(&p(".3")), "line 0002\nline 0003\n");
        assert!(!p(".4").exists(), "only three old files are kept");
    }

    #[test]
    fn reopening_continues_the_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.log");
        LogFile::with_limits(path.clone(), 1000, 3)
            .write_line("first")
            .unwrap();
        LogFile::with_limits(path.clone(), 1000, 3)
            .write_line("second")
            .unwrap();
        assert_eq!(read(&path), "first\nsecond\n");
    }

    #[test]
    fn open_creates_the_directory_and_uses_agent_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::open(&dir.path().join("logs")).unwrap();
        log.write_line("hello").unwrap();
        assert_eq!(log.path(), dir.path().join("logs").join("agent.log"));
        assert_eq!(read(log.path()), "hello\n");
        // A line longer than the limit is written whole rather than split or dropped.
        let small = LogFile::with_limits(dir.path().join("small.log"), 4, 1);
        small.write_line("much longer than four bytes").unwrap();
        small.write_line("next").unwrap();
        assert_eq!(
            read(&dir.path().join("small.log.1")),
            "much longer than four bytes\n"
        );
        assert_eq!(read(&dir.path().join("small.log")), "next\n");
    }
}
