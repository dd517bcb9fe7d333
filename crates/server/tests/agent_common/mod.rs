//! Shared helpers for the agent-listener tests: an in-process server on loopback ports with
//! a temporary data directory, rustls clients trusting its root, and the enrollment flow.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use time::OffsetDateTime;
use vt_server::config::ServerConfig;
use vt_server::server::RunningServer;
use vt_server::storage::{NewEnrollmentToken, Storage};
use vt_wire::{EnrollRequest, EnrollResponse, SignRequest, SignResponse};

pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    pub root_pem: String,
}

impl TestServer {
    pub async fn start(extra: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, extra).await
    }

    pub async fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> TestServer {
        let mut args: Vec<String> = vec![
            "--data-dir".into(),
            dir.path().display().to_string(),
            "--agent-listen".into(),
            "127.0.0.1:0".into(),
            "--dashboard-listen".into(),
            "127.0.0.1:0".into(),
            "--header-read-timeout".into(),
            "2s".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let config = ServerConfig::from_args(args).expect("config");
        let server = vt_server::server::start(&config).await.expect("server starts");
        let root_pem = std::fs::read_to_string(dir.path().join("ca/root.crt")).expect("root");
        TestServer {
            server,
            dir,
            root_pem,
        }
    }

    pub fn storage(&self) -> Arc<dyn Storage> {
        self.server.storage.clone()
    }

    pub fn agent_addr(&self) -> SocketAddr {
        self.server.agent_addr.expect("agent listener")
    }

    pub fn agent_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.agent_addr().port())
    }

    pub fn dashboard_url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{path}",
            self.server.dashboard_addr.expect("dashboard").port()
        )
    }

    /// A token with `uses` uses valid for `ttl`, created directly in storage (as the CLI does).
    pub async fn token(&self, uses: i64, ttl: time::Duration) -> String {
        let text = vt_server::secrets::new_enrollment_token(&self.server.root_fingerprint).unwrap();
        let now = OffsetDateTime::now_utc();
        self.storage()
            .create_token(&NewEnrollmentToken {
                id: uuid::Uuid::new_v4().to_string(),
                secret_hash: text.secret_hash(),
                label: "test".into(),
                created_at: now - time::Duration::seconds(1),
                expires_at: now + ttl,
                uses_allowed: uses,
            })
            .await
            .unwrap();
        text.expose()
    }

    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(self.root_pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    pub fn agent_client(&self, agent: &EnrolledAgent) -> reqwest::Client {
        client_with_identity(&self.root_pem, &agent.identity_pem())
    }

    pub async fn agents(&self) -> u64 {
        self.storage()
            .list_hosts(&vt_server::storage::HostQuery::new(OffsetDateTime::UNIX_EPOCH))
            .await
            .unwrap()
            .total
    }

    /// Enroll + sign with a fresh P-256 key.
    pub async fn enroll_agent(&self, machine_id: &str) -> EnrolledAgent {
        let token = self.token(1, time::Duration::hours(1)).await;
        let enrolled = self.enroll(&token, machine_id, "host-1").await;
        assert_eq!(enrolled.status(), 200);
        let enrolled: EnrollResponse = enrolled.json().await.unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = csr_for(&key, &enrolled.agent_id);
        let response = self
            .client()
            .post(self.agent_url("/1.0/sign"))
            .json(&SignRequest {
                csr,
                ott: enrolled.ott.clone(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let signed: SignResponse = response.json().await.unwrap();
        EnrolledAgent {
            agent_id: enrolled.agent_id,
            key,
            signed,
        }
    }

    pub async fn enroll(&self, token: &str, machine_id: &str, hostname: &str) -> reqwest::Response {
        self.client()
            .post(self.agent_url("/api/enroll"))
            .json(&enroll_request(token, machine_id, hostname))
            .send()
            .await
            .unwrap()
    }
}

pub fn enroll_request(token: &str, machine_id: &str, hostname: &str) -> EnrollRequest {
    EnrollRequest {
        token: token.into(),
        hostname: hostname.into(),
        machine_id: machine_id.into(),
        os: "linux".into(),
        os_version: "12".into(),
        arch: "x86_64".into(),
        agent_version: "0.1.0".into(),
    }
}

pub fn client_with_identity(root_pem: &str, identity_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(root_pem.as_bytes()).unwrap())
        .identity(reqwest::Identity::from_pem(identity_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

pub fn csr_for(key: &rcgen::KeyPair, cn: &str) -> String {
    let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.serialize_request(key).unwrap().pem().unwrap()
}

pub struct EnrolledAgent {
    pub agent_id: String,
    pub key: rcgen::KeyPair,
    pub signed: SignResponse,
}

impl EnrolledAgent {
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.key.serialize_pem(), self.signed.cert_chain.join(""))
    }

    pub fn serial(&self) -> String {
        let (_, pem) = x509_parser::pem::parse_x509_pem(self.signed.crt.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents).unwrap();
        hex::encode(cert.raw_serial())
    }
}

/// A results submission with `n` results for the active Linux baseline hash.
pub fn submission(run_id: &str, policy_hash: &str, n: usize) -> serde_json::Value {
    let results: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "rule_id": format!("r{i}"), "title": "t", "severity": "high",
                "status": if i % 2 == 0 { "pass" } else { "fail" },
                "expected": "e", "observed": "o", "reason": "", "fix": "", "duration_ms": 1
            })
        })
        .collect();
    serde_json::json!({
        "run_id": run_id,
        "policy_id": "linux-baseline",
        "policy_hash": policy_hash,
        "started_at": "2025-06-01T12:00:00Z",
        "finished_at": "2025-06-01T12:00:05Z",
        "results": results,
    })
}
