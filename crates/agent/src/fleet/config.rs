//! `agent.toml`: the same names as the command-line flags, so either can set anything.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// `https://HOST:9443`, the server's agent listener.
    pub server: Option<String>,
    /// Enrollment token; kept so an agent whose certificate expired can re-enroll itself.
    pub token: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// Spool cap in megabytes (default 64).
    pub spool_max_mb: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl AgentConfig {
    /// Reads the config file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AgentConfig::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        toml::from_str(&text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_and_reports_positions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.toml");
        std::fs::write(&p, "server = \"https://vt:9443\"\nspool_max_mb = 8\n").unwrap();
        let c = AgentConfig::load(&p).unwrap();
        assert_eq!(c.server.as_deref(), Some("https://vt:9443"));
        assert_eq!(c.spool_max_mb, Some(8));

        std::fs::write(&p, "server = \"x\"\nbogus = 1\n").unwrap();
        let e = AgentConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("agent.toml:2:1:") && e.contains("bogus"), "{e}");
        assert!(AgentConfig::load(&dir.path().join("none.toml"))
            .unwrap()
            .server
            .is_none());
    }
}
