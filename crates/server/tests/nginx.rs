//! A real nginx terminating agent mTLS in front of vt-server (`--trusted-proxy
//! 127.0.0.1/32`): an agent enrolls and calls the agent API through nginx, and its identity
//! comes from the certificate nginx forwards. Skipped (with a message) only when nginx is
//! absent and cannot be installed.

mod agent_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_common::*;
use vt_wire::{EnrollResponse, SignRequest, SignResponse};

const NGINX: &str = "/usr/sbin/nginx";

fn ensure_nginx() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    eprintln!("nginx missing: trying apt-get install nginx-light");
    let installed = Command::new("apt-get")
        .args(["install", "-y", "-q", "nginx-light"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    installed && Path::new(NGINX).exists()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nginx(dir: &Path, data_dir: &Path, listen: u16, upstream: u16) -> Nginx {
    let d = dir.display();
    let data = data_dir.display();
    let config = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
error_log {d}/error.log info;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream vt_agent {{ server 127.0.0.1:{upstream}; }}
    server {{
        listen 127.0.0.1:{listen} ssl;
        ssl_certificate {data}/tls/server.crt;
        ssl_certificate_key {data}/tls/server.key;
        ssl_client_certificate {data}/ca/root.crt;
        ssl_verify_client optional;
        ssl_verify_depth 2;
        client_max_body_size 8m;
        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        proxy_http_version 1.1;
        proxy_ssl_trusted_certificate {data}/ca/root.crt;
        proxy_ssl_verify on;
        proxy_ssl_name localhost;
        location /agent/ {{
            if ($ssl_client_verify != SUCCESS) {{ return 401; }}
            proxy_pass https://vt_agent;
        }}
        location / {{ proxy_pass https://vt_agent; }}
    }}
}}
"#
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let nginx = Nginx(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            panic!("nginx did not start:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_calls_through_nginx_carry_the_forwarded_identity() {
    if !ensure_nginx() {
        eprintln!("skipped: {NGINX} is absent and could not be installed");
        return;
    }
    let t = TestServer::start(&["--trusted-proxy", "127.0.0.1/32"]).await;
    let nginx_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _nginx = start_nginx(nginx_dir.path(), t.dir.path(), port, t.agent_addr().port());
    let via = |path: &str| format!("https://127.0.0.1:{port}{path}");

    // Enrollment and signing through nginx, without a client certificate.
    let token = t.token(1, time::Duration::hours(1)).await;
    let response = t
        .client()
        .post(via("/api/enroll"))
        .json(&enroll_request(&token, "behind-nginx", "proxied"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let enrolled: EnrollResponse = response.json().await.unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let response = t
        .client()
        .post(via("/1.0/sign"))
        .json(&SignRequest {
            csr: csr_for(&key, &enrolled.agent_id),
            ott: enrolled.ott,
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let signed: SignResponse = response.json().await.unwrap();
    let agent = EnrolledAgent {
        agent_id: enrolled.agent_id,
        key,
        signed,
    };

    // The agent API through nginx: nginx verifies the certificate and forwards it.
    let client = t.agent_client(&agent);
    let response = client
        .post(via("/agent/v1/heartbeat"))
        .json(&serde_json::json!({"agent_version": "via-nginx", "status": "idle"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let stored = t.storage().get_agent(&agent.agent_id).await.unwrap().unwrap();
    assert_eq!(stored.agent_version, "via-nginx");
    assert_eq!(
        client.get(via("/agent/v1/policy")).send().await.unwrap().status(),
        200
    );

    // A client without a certificate cannot smuggle the header through nginx.
    let forged = t
        .client()
        .post(via("/1.0/renew"))
        .header("X-SSL-Client-Cert", agent.signed.crt.replace('\n', "%0A"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    t.server.shutdown().await;
}
