//! The on-disk spool: every run is written here before it is sent and removed only once
//! the server has acknowledged it, so a result survives crashes, reboots and outages.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::output::write_atomically;

/// One spooled run: its file and the order key taken from the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledRun {
    pub run_id: String,
    pub path: PathBuf,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
}

/// What a capped enqueue had to give up.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub run_ids: Vec<String>,
}

const DROPPED_COUNTER: &str = "dropped.count";

impl Spool {
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(Spool { dir, max_bytes })
    }

    /// File names start with a zero-padded sequence number so that a directory listing
    /// sorts oldest first, whatever the clock did.
    fn next_sequence(&self) -> io::Result<u64> {
        Ok(self
            .list()?
            .iter()
            .filter_map(|r| sequence_of(&r.path))
            .max()
            .map_or(1, |n| n + 1))
    }

    /// Writes a run atomically, then drops the oldest runs while the spool is over its cap
    /// (never the run just written).
    pub fn enqueue(&self, run_id: &str, body: &[u8]) -> io::Result<Dropped> {
        if !run_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || run_id.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "run id must be alphanumeric",
            ));
        }
        let seq = self.next_sequence()?;
        let path = self.dir.join(format!("{seq:012}-{run_id}.json"));
        write_atomically(&path, body)?;
        let mut dropped = Dropped::default();
        let mut runs = self.list()?;
        let mut total: u64 = runs.iter().map(|r| r.bytes).sum();
        while total > self.max_bytes && runs.len() > 1 {
            let oldest = runs.remove(0);
            fs::remove_file(&oldest.path)?;
            total -= oldest.bytes;
            dropped.run_ids.push(oldest.run_id);
        }
        if !dropped.run_ids.is_empty() {
            self.add_dropped(dropped.run_ids.len() as u64)?;
        }
        Ok(dropped)
    }

    /// Spooled runs, oldest first.
    pub fn list(&self) -> io::Result<Vec<SpooledRun>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let Some((_, run_id)) = stem.split_once('-') else {
                continue;
            };
            if name.starts_with('.') {
                continue; // a temporary file of an interrupted write
            }
            out.push(SpooledRun {
                run_id: run_id.to_string(),
                path: entry.path(),
                bytes: entry.metadata()?.len(),
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    pub fn read(&self, run: &SpooledRun) -> io::Result<Vec<u8>> {
        fs::read(&run.path)
    }

    /// Called once the server acknowledged the run.
    pub fn remove(&self, run: &SpooledRun) -> io::Result<()> {
        match fs::remove_file(&run.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn total_bytes(&self) -> io::Result<u64> {
        Ok(self.list()?.iter().map(|r| r.bytes).sum())
    }

    /// How many runs were dropped because of the cap since the spool was created.
    pub fn dropped_count(&self) -> u64 {
        fs::read_to_string(self.dir.join(DROPPED_COUNTER))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    fn add_dropped(&self, n: u64) -> io::Result<()> {
        let total = self.dropped_count() + n;
        write_atomically(&self.dir.join(DROPPED_COUNTER), format!("{total}\n").as_bytes())
    }
}

fn sequence_of(path: &Path) -> Option<u64> {
    path.file_name()?.to_str()?.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_come_back_oldest_first_and_are_removed_after_ack() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path().join("spool"), 1 << 20).unwrap();
        spool.enqueue("run-a", b"{\"a\":1}").unwrap();
        spool.enqueue("run-b", b"{\"b\":2}").unwrap();
        let runs = spool.list().unwrap();
        assert_eq!(
            runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
            ["run-a", "run-b"]
        );
        assert_eq!(spool.read(&runs[0]).unwrap(), b"{\"a\":1}");
        spool.remove(&runs[0]).unwrap();
        assert_eq!(spool.list().unwrap().len(), 1);
        // A reopened spool continues the sequence after the newest file.
        let again = Spool::open(dir.path().join("spool"), 1 << 20).unwrap();
        again.enqueue("run-c", b"{}").unwrap();
        let ids: Vec<String> = again.list().unwrap().into_iter().map(|r| r.run_id).collect();
        assert_eq!(ids, ["run-b", "run-c"]);
    }

    #[test]
    fn the_cap_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 250).unwrap();
        for i in 0..5 {
            spool.enqueue(&format!("r{i}"), &[b'x'; 100]).unwrap();
        }
        let ids: Vec<String> = spool.list().unwrap().into_iter().map(|r| r.run_id).collect();
        assert_eq!(ids, ["r3", "r4"]);
        assert_eq!(spool.dropped_count(), 3);
        // A single run larger than the cap is still kept: it is the newest evidence.
        let d = spool.enqueue("big", &[b'y'; 1000]).unwrap();
        assert_eq!(d.run_ids, ["r3", "r4"]);
        assert_eq!(spool.list().unwrap().len(), 1);
        assert_eq!(spool.dropped_count(), 5);
    }

    #[test]
    fn hostile_run_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1000).unwrap();
        assert!(spool.enqueue("../../etc/passwd", b"x").is_err());
        assert!(spool.enqueue("", b"x").is_err());
    }
}
