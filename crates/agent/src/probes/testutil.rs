//! Fixture filesystems for probe tests: a temporary root laid out like the audited system.

use std::path::Path;

use crate::context::HostContext;

/// Writes `bytes` at `rel` (an absolute path of the audited system) under `root`.
pub fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().expect("fixture paths have a parent")).expect("create fixture dirs");
    std::fs::write(p, bytes).expect("write fixture");
}

/// A temporary root holding `files`, and a context that audits it.
pub fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, HostContext) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in files {
        write(dir.path(), path, text.as_bytes());
    }
    let ctx = HostContext::with_root(dir.path().to_path_buf());
    (dir, ctx)
}
