//! Fleet mode: enrolment with the server, scheduled audits, the offline spool and
//! certificate renewal. Standalone audits (`vt-agent audit`) need none of this.

pub mod backoff;
pub mod client;
pub mod config;
pub mod enroll;
pub mod identity;
pub mod policy_cache;
pub mod runner;
pub mod spool;
pub mod state;

use std::path::{Path, PathBuf};

/// Where fleet mode keeps its files inside the data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    pub data_dir: PathBuf,
}

impl Layout {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Layout {
            data_dir: data_dir.into(),
        }
    }

    pub fn identity_file(&self) -> PathBuf {
        self.data_dir.join("identity.json")
    }
    pub fn certs_dir(&self) -> PathBuf {
        self.data_dir.join("certs")
    }
    pub fn root_cert(&self) -> PathBuf {
        self.certs_dir().join("root.crt")
    }
    /// The agent's certificate followed by the intermediate.
    pub fn cert_chain(&self) -> PathBuf {
        self.certs_dir().join("agent.crt")
    }
    pub fn private_key(&self) -> PathBuf {
        self.certs_dir().join("agent.key")
    }
    pub fn policy_cache(&self) -> PathBuf {
        self.data_dir.join("policy.json")
    }
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }
    pub fn state_file(&self) -> PathBuf {
        self.data_dir.join("state.json")
    }
    pub fn data(&self) -> &Path {
        &self.data_dir
    }
}
