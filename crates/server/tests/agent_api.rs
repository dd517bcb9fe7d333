//! The agent listener over real TLS: enrollment, signing, the mTLS agent API, revocation,
//! renewal and bad input. Each test starts its own server on loopback ports.

mod agent_common;

use std::io::Write;
use std::time::{Duration, Instant};

use agent_common::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vt_wire::{EnrollResponse, HeartbeatResponse, PolicyResponse, ResultsAck, SignRequest};

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    assert!(body.get("detail").is_some(), "{body}");
    (status, body["error"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_creates_everything_and_restart_reuses_it() {
    let t = TestServer::start(&[]).await;
    assert!(t.server.first_start.ca_created);
    assert_eq!(t.server.first_start.baselines.len(), 2);
    let linux = t.storage().active_policy("linux").await.unwrap().unwrap();
    assert_eq!(linux.policy_id, "linux-baseline");
    assert!(t.storage().active_policy("windows").await.unwrap().is_some());
    for file in [
        "ca/root.crt",
        "ca/intermediate.key",
        "tls/server.crt",
        "tls/server.key",
        "provisioner.jwk",
    ] {
        assert!(t.dir.path().join(file).exists(), "{file}");
    }
    let client = t.client();
    for url in [
        t.agent_url("/health"),
        t.agent_url("/ready"),
        t.dashboard_url("/health"),
        t.dashboard_url("/ready"),
    ] {
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200, "{url}");
    }
    let openapi = client
        .get(t.dashboard_url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(openapi.status(), 200);
    let metrics = client
        .get(t.dashboard_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("vt_http_requests_total"), "{metrics}");
    assert!(metrics.contains("vt_db_up"), "{metrics}");
    // Pool gauges, sampled at the scrape (SQLite: 4 readers + 1 writer).
    for line in [
        "vt_db_pool_connections{state=\"idle\"}",
        "vt_db_pool_connections{state=\"in_use\"}",
        "vt_db_pool_max 5",
    ] {
        assert!(
            metrics.lines().any(|l| l.starts_with(line)),
            "{line} in {metrics}"
        );
    }
    let missing = client.get(t.agent_url("/nope")).send().await.unwrap();
    assert_eq!(error_code(missing).await, (404, "not_found".into()));

    let fingerprint = t.server.root_fingerprint.clone();
    let jwk = std::fs::read(t.dir.path().join("provisioner.jwk")).unwrap();
    let TestServer { server, dir, .. } = t;
    server.shutdown().await;
    let t = TestServer::start_in(dir, &[]).await;
    assert!(!t.server.first_start.is_first_start());
    assert_eq!(t.server.root_fingerprint, fingerprint);
    assert_eq!(std::fs::read(t.dir.path().join("provisioner.jwk")).unwrap(), jwk);
    assert_eq!(
        t.storage()
            .list_policy_versions("linux-baseline")
            .await
            .unwrap()
            .len(),
        1
    );
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_sign_and_use_the_agent_api() {
    let t = TestServer::start(&[]).await;
    let agent = t.enroll_agent("machine-1").await;
    assert_eq!(agent.signed.cert_chain.len(), 2);
    let record = t
        .storage()
        .get_certificate(&agent.serial())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.agent_id, agent.agent_id);
    let client = t.agent_client(&agent);

    // Policy with ETag, then 304.
    let response = client.get(t.agent_url("/agent/v1/policy")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let policy: PolicyResponse = response.json().await.unwrap();
    assert!(policy.hash_matches());
    assert_eq!(etag, format!("\"{}\"", policy.hash));
    assert_eq!(policy.interval_seconds, 3600);
    let not_modified = client
        .get(t.agent_url("/agent/v1/policy"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    // Heartbeat.
    let beat: HeartbeatResponse = client
        .post(t.agent_url("/agent/v1/heartbeat"))
        .json(&serde_json::json!({"agent_version": "0.2.0", "status": "idle"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(beat.policy_hash.as_deref(), Some(policy.hash.as_str()));
    let stored = t.storage().get_agent(&agent.agent_id).await.unwrap().unwrap();
    assert_eq!(stored.agent_version, "0.2.0");
    assert_eq!(stored.reported_status.as_deref(), Some("idle"));

    // Results: stored once, a retry is acknowledged as a duplicate; the body cannot
    // choose the agent.
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut body = submission(&run_id, &policy.hash, 10);
    body["agent_id"] = "someone-else".into();
    for expect_duplicate in [false, true] {
        let ack: ResultsAck = client
            .post(t.agent_url("/agent/v1/results"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ack.duplicate, expect_duplicate);
    }
    let run = t.storage().get_run(&run_id).await.unwrap().unwrap();
    assert_eq!(run.agent_id, agent.agent_id);
    assert_eq!(run.policy_version, Some(policy.version));
    assert_eq!(t.storage().run_results(&run_id).await.unwrap().len(), 10);

    // Gzip body.
    let gz_run = uuid::Uuid::new_v4().to_string();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(&serde_json::to_vec(&submission(&gz_run, &policy.hash, 3)).unwrap())
        .unwrap();
    let response = client
        .post(t.agent_url("/agent/v1/results"))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(encoder.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(t.storage().run_results(&gz_run).await.unwrap().len(), 3);

    // Invalid submissions: 400 with JSON, nothing stored.
    let bad_run = uuid::Uuid::new_v4().to_string();
    let mut bad = submission(&bad_run, &policy.hash, 2);
    bad["finished_at"] = "yesterday".into();
    let response = client
        .post(t.agent_url("/agent/v1/results"))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (400, "invalid_request".into()));
    let response = client
        .post(t.agent_url("/agent/v1/results"))
        .header("Content-Type", "application/json")
        .body("{\"run_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (400, "invalid_json".into()));
    let response = client
        .post(t.agent_url("/agent/v1/results"))
        .header("Content-Type", "text/plain")
        .body(serde_json::to_vec(&submission(&bad_run, &policy.hash, 1)).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (415, "unsupported_media_type".into()));
    // Oversized: the server answers 413 from Content-Length without reading the body, so
    // the client may instead see its upload cut off; both are a refusal.
    let huge = vec![b' '; 9 * 1024 * 1024];
    let result = client
        .post(t.agent_url("/agent/v1/results"))
        .header("Content-Type", "application/json")
        .body(huge)
        .send()
        .await;
    assert_too_large(result).await;
    // A gzip bomb: small on the wire, above the decompressed limit.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![b' '; 40 * 1024 * 1024]).unwrap();
    let response = client
        .post(t.agent_url("/agent/v1/results"))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(encoder.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (413, "payload_too_large".into()));
    assert!(t.storage().get_run(&bad_run).await.unwrap().is_none());

    // Renewal: a new certificate for the same identity, recorded.
    let response = client.post(t.agent_url("/1.0/renew")).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let renewed: vt_wire::SignResponse = response.json().await.unwrap();
    let renewed_agent = EnrolledAgent {
        agent_id: agent.agent_id.clone(),
        key: rcgen::KeyPair::from_pem(&agent.key.serialize_pem()).unwrap(),
        signed: renewed,
    };
    assert_ne!(renewed_agent.serial(), agent.serial());
    let record = t
        .storage()
        .get_certificate(&renewed_agent.serial())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.agent_id, agent.agent_id);
    let response = t
        .agent_client(&renewed_agent)
        .get(t.agent_url("/agent/v1/policy"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Roots and CRL.
    let roots: serde_json::Value = t
        .client()
        .get(t.agent_url("/roots"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(roots["crts"][0].as_str().unwrap(), t.root_pem);
    let crl = t.client().get(t.agent_url("/crl")).send().await.unwrap();
    assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
    let der = crl.bytes().await.unwrap();
    assert!(x509_parser::parse_x509_crl(&der).is_ok());

    // Re-enrolling the same machine reuses the record and updates the hostname.
    let token = t.token(1, time::Duration::hours(1)).await;
    let again: EnrollResponse = t
        .enroll(&token, "machine-1", "renamed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again.agent_id, agent.agent_id);
    assert_eq!(
        t.storage()
            .get_agent(&agent.agent_id)
            .await
            .unwrap()
            .unwrap()
            .hostname,
        "renamed"
    );
    assert_eq!(t.agents().await, 1);
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_rejections_store_nothing() {
    let t = TestServer::start(&[]).await;
    let client = t.client();
    let url = t.agent_url("/api/enroll");

    let response = client
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (400, "invalid_json".into()));
    let response = client
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (415, "unsupported_media_type".into()));
    let result = client
        .post(&url)
        .header("Content-Type", "application/json")
        .body(vec![b'['; 100 * 1024])
        .send()
        .await;
    assert_too_large(result).await;
    let response = client
        .post(&url)
        .json(&enroll_request("t", "", "h"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (400, "invalid_request".into()));

    // Well-formed but unknown token; token for another CA; expired; used up; revoked.
    let unknown = vt_server::secrets::new_enrollment_token(&t.server.root_fingerprint)
        .unwrap()
        .expose();
    assert_eq!(
        error_code(t.enroll(&unknown, "m", "h").await).await,
        (401, "token_unknown".into())
    );
    let other_ca = vt_server::secrets::new_enrollment_token(&"ab".repeat(32))
        .unwrap()
        .expose();
    assert_eq!(
        error_code(t.enroll(&other_ca, "m", "h").await).await,
        (401, "token_invalid".into())
    );
    assert_eq!(
        error_code(t.enroll("vt1.garbage", "m", "h").await).await,
        (401, "token_invalid".into())
    );
    let expired = t.token(1, time::Duration::milliseconds(1)).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        error_code(t.enroll(&expired, "m", "h").await).await,
        (401, "token_expired".into())
    );
    let revoked = t.token(5, time::Duration::hours(1)).await;
    let tokens = t.storage().list_tokens(Default::default()).await.unwrap();
    for token in &tokens.items {
        if token.uses_allowed == 5 {
            t.storage().revoke_token(&token.id).await.unwrap();
        }
    }
    assert_eq!(
        error_code(t.enroll(&revoked, "m", "h").await).await,
        (401, "token_revoked".into())
    );
    assert_eq!(t.agents().await, 0, "no rejected enrollment creates an agent");

    let once = t.token(1, time::Duration::hours(1)).await;
    assert_eq!(t.enroll(&once, "m1", "h").await.status(), 200);
    assert_eq!(
        error_code(t.enroll(&once, "m2", "h").await).await,
        (401, "token_used".into())
    );
    assert_eq!(t.agents().await, 1);

    // A revoked agent stays revoked on re-enrollment, and the refusal changes nothing:
    // neither the token (not spent) nor the agent record (hostname, versions, last seen).
    let agent = t.enroll_agent("m3").await;
    t.storage()
        .set_agent_status(&agent.agent_id, vt_server::storage::AgentStatus::Revoked)
        .await
        .unwrap();
    let before = t.storage().get_agent(&agent.agent_id).await.unwrap().unwrap();
    let audit_before = t.storage().list_audit(Default::default()).await.unwrap().total;
    let token = t.token(1, time::Duration::hours(1)).await;
    let mut request = enroll_request(&token, "m3", "renamed-host");
    request.agent_version = "9.9.9".into();
    let response = t.client().post(&url).json(&request).send().await.unwrap();
    assert_eq!(error_code(response).await, (403, "agent_revoked".into()));
    assert_eq!(
        t.storage().get_agent(&agent.agent_id).await.unwrap().unwrap(),
        before
    );
    assert_eq!(
        t.storage().list_audit(Default::default()).await.unwrap().total,
        audit_before
    );
    let tokens = t.storage().list_tokens(Default::default()).await.unwrap();
    let unspent = tokens
        .items
        .iter()
        .filter(|tk| tk.expires_at > OffsetDateTime::now_utc() && tk.uses_count == 0 && !tk.revoked)
        .count();
    assert_eq!(unspent, 1, "the refused enrollment did not spend the token");
    // The same single-use token still enrolls another machine.
    assert_eq!(t.enroll(&token, "m4", "h4").await.status(), 200);
    t.server.shutdown().await;
}

fn b64json(value: serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&value).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_rejections_spend_nothing() {
    let t = TestServer::start(&[]).await;
    let client = t.client();
    let token = t.token(1, time::Duration::hours(1)).await;
    let enrolled: EnrollResponse = t.enroll(&token, "m", "h").await.json().await.unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(enrolled.ott.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], enrolled.agent_id.as_str());
    assert_eq!(claims["aud"], format!("{}/1.0/sign", enrolled.ca_url));
    let jti = claims["jti"].as_str().unwrap().to_string();
    let key = rcgen::KeyPair::generate().unwrap();
    let sign = |csr: String, ott: String| {
        client
            .post(t.agent_url("/1.0/sign"))
            .json(&SignRequest { csr, ott })
            .send()
    };

    // Invalid CSR, CSR for another name, weak key type.
    let response = sign(
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".into(),
        enrolled.ott.clone(),
    )
    .await
    .unwrap();
    assert_eq!(error_code(response).await, (400, "invalid_request".into()));
    let response = sign(csr_for(&key, "someone-else"), enrolled.ott.clone())
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (403, "csr_mismatch".into()));

    // Forged tokens: another key, alg none, expired, tampered.
    let other = vt_server::enroll::EcJwk::generate().unwrap();
    let mut forged_key = other.clone();
    let ours: vt_server::enroll::EcJwk =
        serde_json::from_slice(&std::fs::read(t.dir.path().join("provisioner.jwk")).unwrap()).unwrap();
    forged_key.kid = ours.kid.clone();
    let forger = vt_server::enroll::Provisioner::new(
        "vt-audit",
        &forged_key,
        &enrolled.ca_url,
        &t.server.root_fingerprint,
    )
    .unwrap();
    let (forged, _) = forger
        .issue(&enrolled.agent_id, OffsetDateTime::now_utc())
        .unwrap();
    let none = format!(
        "{}.{}.",
        b64json(serde_json::json!({"alg": "none", "kid": ours.kid})),
        enrolled.ott.split('.').nth(1).unwrap()
    );
    let ours_provisioner =
        vt_server::enroll::Provisioner::new("vt-audit", &ours, &enrolled.ca_url, &t.server.root_fingerprint)
            .unwrap();
    let (expired, _) = ours_provisioner
        .issue(
            &enrolled.agent_id,
            OffsetDateTime::now_utc() - time::Duration::hours(1),
        )
        .unwrap();
    let wrong_ca = vt_server::enroll::Provisioner::new(
        "vt-audit",
        &ours,
        "https://elsewhere:9443",
        &t.server.root_fingerprint,
    )
    .unwrap();
    let (wrong_aud, _) = wrong_ca
        .issue(&enrolled.agent_id, OffsetDateTime::now_utc())
        .unwrap();
    for bad in [forged, none, expired, wrong_aud, "not-a-jwt".into()] {
        let response = sign(csr_for(&key, &enrolled.agent_id), bad).await.unwrap();
        assert_eq!(error_code(response).await, (401, "token_invalid".into()));
    }

    // None of that spent the OTT: it still works once, then replay is refused.
    let response = sign(csr_for(&key, &enrolled.agent_id), enrolled.ott.clone())
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = sign(csr_for(&key, &enrolled.agent_id), enrolled.ott.clone())
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (401, "token_used".into()));
    assert!(!t
        .storage()
        .mark_ott_used(&jti, OffsetDateTime::now_utc())
        .await
        .unwrap());
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_verified_and_revocation_is_enforced() {
    let t = TestServer::start(&[]).await;
    let agent = t.enroll_agent("m").await;

    // No certificate: 401 on agent routes.
    let response = t
        .client()
        .get(t.agent_url("/agent/v1/policy"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (401, "client_certificate_required".into())
    );

    // A certificate from another CA with the same CN: refused at the handshake.
    let rogue_ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let rogue_ca = ca_params.self_signed(&rogue_ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &rogue_ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec![agent.agent_id.clone()]).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, agent.agent_id.as_str());
    let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let rogue = client_with_identity(
        &t.root_pem,
        &format!("{}{}{}", leaf_key.serialize_pem(), leaf.pem(), rogue_ca.pem()),
    );
    let result = rogue.get(t.agent_url("/agent/v1/policy")).send().await;
    match result {
        Err(_) => {}
        Ok(response) => assert_eq!(response.status(), 401),
    }

    // Revocation made behind this instance's back (as another instance would): refused
    // within the cache TTL.
    let client = t.agent_client(&agent);
    assert_eq!(
        client
            .get(t.agent_url("/agent/v1/policy"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    t.storage()
        .revoke_certificate(&agent.serial(), "key_compromise", OffsetDateTime::now_utc())
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let response = t
            .agent_client(&agent)
            .get(t.agent_url("/agent/v1/policy"))
            .send()
            .await
            .unwrap();
        if response.status() == 403 {
            assert_eq!(error_code(response).await.1, "certificate_revoked");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "revocation not enforced within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let response = t
        .agent_client(&agent)
        .post(t.agent_url("/1.0/renew"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "a revoked certificate cannot renew");
    // The CRL lists it once the cache expires.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let der = t
        .client()
        .get(t.agent_url("/1.0/crl"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (_, crl) = x509_parser::parse_x509_crl(&der).unwrap();
    assert!(crl
        .iter_revoked_certificates()
        .any(|r| hex::encode(r.raw_serial()) == agent.serial()));

    // The admin revocation hook takes effect at once.
    let second = t.enroll_agent("m2").await;
    let client = t.agent_client(&second);
    assert_eq!(
        client
            .get(t.agent_url("/agent/v1/policy"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    t.storage()
        .set_agent_status(&second.agent_id, vt_server::storage::AgentStatus::Revoked)
        .await
        .unwrap();
    (t.server.revocation_hook)(&second.agent_id);
    let response = t
        .agent_client(&second)
        .get(t.agent_url("/agent/v1/policy"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    t.server.shutdown().await;
}

fn escaped(pem: &str) -> String {
    let mut out = String::new();
    for b in pem.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_certificate_header_is_trusted_only_from_trusted_peers() {
    // Trusted: loopback is inside the range.
    let t = TestServer::start(&["--trusted-proxy", "127.0.0.1/32"]).await;
    let agent = t.enroll_agent("m").await;
    let header = escaped(&agent.signed.crt);
    let response = t
        .client()
        .post(t.agent_url("/agent/v1/heartbeat"))
        .header("X-SSL-Client-Cert", &header)
        .json(&serde_json::json!({"agent_version": "9.9.9", "status": "idle"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        t.storage()
            .get_agent(&agent.agent_id)
            .await
            .unwrap()
            .unwrap()
            .agent_version,
        "9.9.9"
    );
    // A garbage or foreign certificate in the header from a trusted peer: 401.
    let response = t
        .client()
        .get(t.agent_url("/agent/v1/policy"))
        .header("X-SSL-Client-Cert", "%ZZnot-a-cert")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (401, "invalid_client_certificate".into())
    );
    let rogue_key = rcgen::KeyPair::generate().unwrap();
    let mut rogue = rcgen::CertificateParams::new(vec![agent.agent_id.clone()]).unwrap();
    rogue
        .distinguished_name
        .push(rcgen::DnType::CommonName, agent.agent_id.as_str());
    let rogue = rogue.self_signed(&rogue_key).unwrap();
    let response = t
        .client()
        .get(t.agent_url("/agent/v1/policy"))
        .header("X-SSL-Client-Cert", escaped(&rogue.pem()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (401, "invalid_client_certificate".into())
    );
    t.server.shutdown().await;

    // Untrusted: the same header is ignored.
    let t = TestServer::start(&["--trusted-proxy", "10.0.0.0/8"]).await;
    let agent = t.enroll_agent("m").await;
    let response = t
        .client()
        .get(t.agent_url("/agent/v1/policy"))
        .header("X-SSL-Client-Cert", escaped(&agent.signed.crt))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (401, "client_certificate_required".into())
    );
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_and_slow_clients_are_cut_off() {
    let t = TestServer::start(&[]).await;
    let addr = t.agent_addr();

    // Plain HTTP to the TLS port: no HTTP answer, the connection ends.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer))
        .await
        .expect("closed");
    assert!(!buffer.starts_with(b"HTTP/"), "plain HTTP must not be answered");

    // Silent client: dropped after the handshake timeout (2 s in tests).
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buffer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(6), stream.read_to_end(&mut buffer))
        .await
        .expect("silent connection closed by the server");
    assert!(started.elapsed() >= Duration::from_millis(1500));

    // Slow headers over TLS: dropped after the header read timeout.
    let mut roots = rustls::RootCertStore::empty();
    let (_, pem) = x509_parser::pem::parse_x509_pem(t.root_pem.as_bytes()).unwrap();
    roots
        .add(rustls::pki_types::CertificateDer::from(pem.contents))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(6), tls.read_to_end(&mut buffer))
        .await
        .expect("slow client cut off");
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(!String::from_utf8_lossy(&buffer).contains("200 OK"));
    t.server.shutdown().await;
}

/// The enroll + submit flow against PostgreSQL, in a schema of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_and_submit_on_postgres() {
    let Ok(url) = std::env::var("VT_TEST_DATABASE_URL") else {
        eprintln!("skipped: VT_TEST_DATABASE_URL not set");
        return;
    };
    let schema = format!("vt_agent_test_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let schema_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let t = TestServer::start(&["--database-url", &schema_url]).await;
    let agent = t.enroll_agent("pg-machine").await;
    let client = t.agent_client(&agent);
    let policy: PolicyResponse = client
        .get(t.agent_url("/agent/v1/policy"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = uuid::Uuid::new_v4().to_string();
    for duplicate in [false, true] {
        let ack: ResultsAck = client
            .post(t.agent_url("/agent/v1/results"))
            .json(&submission(&run_id, &policy.hash, 20))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ack.duplicate, duplicate);
    }
    assert_eq!(t.storage().run_results(&run_id).await.unwrap().len(), 20);
    t.server.shutdown().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// An oversized body is refused with 413 from its Content-Length, before the server reads
/// it; the server then closes the connection, so the client may see its upload cut off
/// (broken pipe or reset) instead of the answer. Both are the refusal; anything else fails.
async fn assert_too_large(result: Result<reqwest::Response, reqwest::Error>) {
    match result {
        Ok(response) => assert_eq!(error_code(response).await, (413, "payload_too_large".into())),
        Err(e) => {
            let text = format!("{e:?}");
            assert!(
                text.contains("BodyWrite") || text.contains("Broken pipe") || text.contains("reset"),
                "not a refusal of the upload: {text}"
            );
        }
    }
}
