//! `--start-server`: a `vt-server serve` on free loopback ports with a temporary data
//! directory, so one command runs the whole benchmark. The process is killed when the
//! benchmark ends (or when this handle is dropped).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::{Child, Command};
use tokio::time::Instant;

pub struct OwnServer {
    child: Child,
    /// Kept for the server's lifetime; removed on drop unless the run failed.
    dir: Option<tempfile::TempDir>,
    log_path: PathBuf,
    pub agent_url: String,
    pub token: String,
    pub backend: &'static str,
}

/// A port that was free a moment ago on 127.0.0.1 (the server binds it right after).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn server_binary(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    // `cargo build --release --bins` puts both binaries in the same directory.
    if let Some(sibling) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("vt-server")))
        .filter(|p| p.exists())
    {
        return sibling;
    }
    PathBuf::from("vt-server")
}

impl OwnServer {
    pub async fn start(
        binary: Option<&Path>,
        database_url: Option<&str>,
        token_uses: u32,
        deadline: Instant,
    ) -> anyhow::Result<OwnServer> {
        let binary = server_binary(binary);
        let dir = tempfile::Builder::new()
            .prefix("vt-loadgen-")
            .tempdir()
            .context("creating the data directory")?;
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("vt-server.log");
        let log = std::fs::File::create(&log_path).context("creating the server log")?;
        let (agent_port, dashboard_port) = (free_port()?, free_port()?);
        let agent_url = format!("https://127.0.0.1:{agent_port}");
        let mut common = vec!["--data-dir".to_string(), data_dir.display().to_string()];
        if let Some(url) = database_url {
            common.extend(["--database-url".to_string(), url.to_string()]);
        }

        let child = Command::new(&binary)
            .arg("serve")
            .args(&common)
            .args(["--agent-listen", &format!("127.0.0.1:{agent_port}")])
            .args(["--dashboard-listen", &format!("127.0.0.1:{dashboard_port}")])
            .args(["--public-url", &format!("https://127.0.0.1:{dashboard_port}")])
            .args(["--agent-url", &agent_url])
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("server log")?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running {}", binary.display()))?;
        let mut server = OwnServer {
            child,
            dir: Some(dir),
            log_path,
            agent_url,
            token: String::new(),
            backend: match database_url {
                Some(url) if url.starts_with("postgres") => "postgres",
                _ => "sqlite",
            },
        };
        server.wait_ready(deadline).await?;

        // The CLI writes the token to the same database the server reads.
        let output = Command::new(&binary)
            .args([
                "token",
                "create",
                "--uses",
                &token_uses.to_string(),
                "--label",
                "vt-loadgen",
            ])
            .args(&common)
            .stdin(Stdio::null())
            .output()
            .await
            .context("running vt-server token create")?;
        if !output.status.success() {
            bail!(
                "vt-server token create failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        server.token = String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        Ok(server)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Ready when the agent listener serves `/roots` (the CA exists, storage is open).
    async fn wait_ready(&mut self, deadline: Instant) -> anyhow::Result<()> {
        let probe = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            // Only liveness is checked here; enrollment pins the root by fingerprint.
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(2))
            .build()
            .context("building the readiness probe")?;
        let ready_by = deadline.min(Instant::now() + Duration::from_secs(60));
        loop {
            if let Some(status) = self.child.try_wait().context("checking vt-server")? {
                bail!("vt-server exited with {status}:\n{}", self.log_tail());
            }
            if let Ok(response) = probe.get(format!("{}/roots", self.agent_url)).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() >= ready_by {
                bail!("vt-server not ready in time:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Kills the server. After a failed run the caller keeps the log: `keep_files` leaves
    /// the temporary directory in place.
    pub async fn stop(mut self, keep_files: bool) {
        // The benchmark is over; nothing the server still does matters, so no graceful stop.
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        if keep_files {
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
        }
    }
}
