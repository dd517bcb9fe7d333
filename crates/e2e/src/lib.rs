//! Harness for end-to-end tests: starts real `vt-server` and `vt-agent` processes from the
//! workspace's target directory and talks to them over real TLS.
//!
//! The binaries are found next to the test executable (`target/<profile>/`), which
//! `cargo test --workspace` has built before any test runs.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// Makes sure the binaries are current once per test process: `cargo test -p vt-e2e` alone
/// would not rebuild them, and a stale binary would test old code. It builds exactly what
/// `cargo test --workspace` builds, so under that command it is a no-op rather than a
/// rebuild with another feature set.
fn ensure_built() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["test", "--workspace", "--no-run", "--quiet"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the workspace failed");
    });
}

pub fn bin(name: &str) -> PathBuf {
    ensure_built();
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built; run through `cargo test --workspace`",
        path.display()
    );
    path
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub struct Server {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub agent_port: u16,
    pub dashboard_port: u16,
    extra: Vec<String>,
    pub log_path: PathBuf,
}

impl Server {
    /// Starts `vt-server serve` on fresh loopback ports and waits until it is ready.
    pub fn start(data_dir: &Path, database_url: Option<&str>, extra: &[&str]) -> Server {
        let mut s = Server {
            child: None,
            data_dir: data_dir.to_path_buf(),
            database_url: database_url.map(str::to_string),
            agent_port: free_port(),
            dashboard_port: free_port(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            log_path: data_dir.with_extension(format!("{}.log", free_port())),
        };
        s.spawn();
        s
    }

    fn common_args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_string(), self.data_dir.display().to_string()];
        if let Some(url) = &self.database_url {
            args.push("--database-url".into());
            args.push(url.clone());
        }
        args
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.data_dir).expect("data dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log");
        let mut cmd = Command::new(bin("vt-server"));
        cmd.arg("serve")
            .args(self.common_args())
            .args(["--agent-listen", &format!("127.0.0.1:{}", self.agent_port)])
            .args([
                "--dashboard-listen",
                &format!("127.0.0.1:{}", self.dashboard_port),
            ])
            .args([
                "--public-url",
                &format!("https://127.0.0.1:{}", self.dashboard_port),
            ])
            .args(["--agent-url", &format!("https://127.0.0.1:{}", self.agent_port)])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.child = Some(cmd.spawn().expect("vt-server starts"));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("vt-server exited with {status}:\n{}", self.log());
                }
            }
            if self.root_pem().is_some() {
                if let Ok(v) = self.get_raw(&format!("{}/ready", self.dashboard_url()), None) {
                    if v.0 == 200 {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "vt-server not ready after 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops the server with SIGTERM (a graceful shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) with a pid we spawned and have not reaped.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("vt-server did not stop within 20 s of SIGTERM");
        }
    }

    /// Starts the server again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn agent_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.agent_port)
    }

    pub fn dashboard_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.dashboard_port)
    }

    pub fn root_pem(&self) -> Option<Vec<u8>> {
        std::fs::read(self.data_dir.join("ca/root.crt")).ok()
    }

    /// Runs an admin subcommand on the same data and database; returns its last line.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(bin("vt-server"))
            .args(args)
            .args(self.common_args())
            .output()
            .expect("vt-server runs");
        assert!(
            out.status.success(),
            "vt-server {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    pub fn token(&self, uses: u32) -> String {
        self.admin(&["token", "create", "--uses", &uses.to_string(), "--label", "e2e"])
    }

    pub fn api_key(&self) -> String {
        self.admin(&["apikey", "create", "--role", "admin"])
    }

    fn client(&self) -> ureq::Agent {
        let root = self.root_pem().expect("root certificate");
        let cert = Certificate::from_pem(&root).expect("root PEM").to_owned();
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&[cert]))
            .build();
        ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into()
    }

    fn get_raw(&self, url: &str, key: Option<&str>) -> Result<(u16, Vec<u8>), ureq::Error> {
        let mut req = self.client().get(url);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let mut resp = req.call()?;
        let status = resp.status().as_u16();
        Ok((status, resp.body_mut().read_to_vec()?))
    }

    /// GET on the admin API (`/api/v1` + path) as JSON; panics unless 200.
    pub fn api_get(&self, key: &str, path: &str) -> Value {
        let (status, body) = self
            .get_raw(&format!("{}/api/v1{path}", self.dashboard_url()), Some(key))
            .expect("GET");
        assert_eq!(status, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("JSON")
    }

    /// POST on the admin API; returns status and JSON body.
    pub fn api_post(&self, key: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let mut resp = self
            .client()
            .post(format!("{}/api/v1{path}", self.dashboard_url()))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", content_type)
            .send(body)
            .expect("POST");
        let status = resp.status().as_u16();
        let bytes = resp.body_mut().read_to_vec().expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One simulated host: its own data directory, config file and machine id.
pub struct Agent {
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub machine_id: String,
}

impl Agent {
    pub fn new(dir: &Path, machine_id: &str) -> Agent {
        std::fs::create_dir_all(dir).expect("agent dir");
        let config = dir.join("agent.toml");
        std::fs::write(&config, "").expect("config");
        Agent {
            data_dir: dir.join("data"),
            config,
            machine_id: machine_id.to_string(),
        }
    }

    pub fn set_config(&self, toml: &str) {
        std::fs::write(&self.config, toml).expect("config");
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("vt-agent"))
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--config")
            .arg(&self.config)
            .env("VT_AUDIT_MACHINE_ID", &self.machine_id)
            .stdin(Stdio::null())
            .output()
            .expect("vt-agent runs")
    }

    pub fn enroll(&self, server: &str, token: &str) -> Output {
        self.run(&["enroll", "--server", server, "--token", token])
    }

    pub fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.data_dir.join("state.json")).expect("state.json"))
            .expect("state")
    }

    pub fn identity(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.data_dir.join("identity.json")).expect("identity"))
            .expect("json")
    }

    pub fn spooled(&self) -> usize {
        std::fs::read_dir(self.data_dir.join("spool"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0)
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
