//! Everything probes share during one audit run: where the filesystem is (the live root or
//! a mounted image), and sources read once per run however many rules use them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::fsroot::{self, FsError};

type Shared = Arc<dyn Any + Send + Sync>;

pub struct HostContext {
    root: Option<PathBuf>,
    /// One cell per source key; the first probe to ask loads it, the others wait for it.
    sources: Mutex<HashMap<TypeId, Arc<OnceLock<Shared>>>>,
}

impl HostContext {
    pub fn live() -> Self {
        HostContext {
            root: None,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// Audits the filesystem mounted at `root` (an image or a container's root).
    pub fn with_root(root: PathBuf) -> Self {
        HostContext {
            root: Some(root),
            ..HostContext::live()
        }
    }

    /// True when probes look at the running system rather than a mounted filesystem.
    pub fn is_live(&self) -> bool {
        self.root.is_none()
    }

    /// Resolves an absolute path of the audited system to a path on this machine,
    /// following symlinks inside the root so they cannot escape it.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, FsError> {
        match &self.root {
            None => Ok(PathBuf::from(path)),
            Some(root) => fsroot::resolve_in_root(root, Path::new(path), true),
        }
    }

    /// Like [`resolve`](Self::resolve) but leaves the last component unresolved, for
    /// `lstat`-style questions (is it a symlink, where does it point).
    pub fn resolve_no_follow(&self, path: &str) -> Result<PathBuf, FsError> {
        match &self.root {
            None => Ok(PathBuf::from(path)),
            Some(root) => fsroot::resolve_in_root(root, Path::new(path), false),
        }
    }

    /// Reads a whole text file of the audited system, bounded by `fsroot::MAX_TEXT_BYTES`.
    /// `Ok(None)` when it does not exist.
    pub fn read_text(&self, path: &str) -> Result<Option<String>, FsError> {
        let real = match self.resolve(path) {
            Ok(p) => p,
            Err(FsError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        fsroot::read_text_bounded(&real)
    }

    /// A source shared by every rule of the run, loaded on first use. Sources are keyed by
    /// their type, so each source gets its own type (e.g. `DpkgDatabase`).
    pub fn shared<T: Any + Send + Sync>(&self, load: impl FnOnce() -> T) -> Arc<T> {
        let cell = {
            // A poisoned lock only means another probe thread panicked while inserting a
            // cell; the map itself is still consistent, so keep using it.
            let mut map = self.sources.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(map.entry(TypeId::of::<T>()).or_default())
        };
        let value = Arc::clone(cell.get_or_init(|| Arc::new(load()) as Shared));
        // Invariant: the cell for TypeId::of::<T>() only ever holds a T.
        value
            .downcast::<T>()
            .expect("source cell holds the type it is keyed by")
    }
}
