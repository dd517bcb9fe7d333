//! Enrollment of simulated agents through the real flow, as `vt-agent enroll` does it:
//! GET `/roots` (unverified TLS) pinned to the token's root fingerprint, `POST /api/enroll`
//! over TLS verified against that root, a fresh P-256 key and CSR, `POST /1.0/sign` with
//! the one-time token. Each agent ends with its own mutual-TLS client.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use vt_wire::token::EnrollmentTokenText;
use vt_wire::{EnrollRequest, EnrollResponse, SignRequest, SignResponse};

use crate::pool;

/// Per request; generous because a loaded 2-core server queues work, and the deadline
/// bounds the whole benchmark anyway.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Plan {
    pub server: String,
    pub token: String,
    pub agents: u32,
    pub concurrency: u32,
    pub allow_remote: bool,
}

/// An enrolled simulated agent: its id and a client presenting its certificate.
pub struct SimAgent {
    pub index: u32,
    pub agent_id: String,
    pub client: reqwest::Client,
}

pub struct Enrolled {
    pub agents: Vec<SimAgent>,
    /// Enrollments that failed, plus those never started because the deadline passed.
    pub failed: u64,
    pub errors: Vec<String>,
}

/// State shared by all enrollments of one benchmark.
struct Shared {
    server: String,
    token: String,
    fingerprint: String,
    /// Unique per benchmark so that re-running against the same server enrolls new
    /// agents rather than re-enrolling (and reusing) the previous run's machines.
    nonce: String,
    insecure: reqwest::Client,
    allow_remote: bool,
}

pub async fn enroll_all(plan: &Plan, deadline: Instant) -> anyhow::Result<Enrolled> {
    let token = EnrollmentTokenText::parse(&plan.token).context("the enrollment token is malformed")?;
    // The /roots fetch is the one unverified request of the flow; the fingerprint check
    // below is what makes it safe, exactly as in the agent.
    let insecure = base_builder()
        .danger_accept_invalid_certs(true)
        .build()
        .context("building the bootstrap HTTPS client")?;
    let shared = Arc::new(Shared {
        server: plan.server.clone(),
        token: token.expose(),
        fingerprint: token.root_fingerprint.clone(),
        nonce: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        insecure,
        allow_remote: plan.allow_remote,
    });
    let count = usize::try_from(plan.agents).context("agent count")?;
    let (outcomes, not_started) = pool::run(
        count,
        usize::try_from(plan.concurrency).context("concurrency")?,
        deadline,
        move |i| {
            let shared = Arc::clone(&shared);
            async move {
                // `i < count`, which came from a u32.
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                match tokio::time::timeout_at(deadline, enroll_one(&shared, index)).await {
                    Ok(result) => result.with_context(|| format!("agent {index}")),
                    Err(_) => Err(anyhow::anyhow!("agent {index}: duration limit reached")),
                }
            }
        },
    )
    .await;
    let mut agents = Vec::with_capacity(outcomes.len());
    let mut errors = Vec::new();
    let mut failed = not_started as u64;
    for outcome in outcomes {
        match outcome {
            Ok(agent) => agents.push(agent),
            Err(err) => {
                failed += 1;
                if errors.len() < crate::KEPT_ERRORS {
                    errors.push(format!("enroll: {err:#}"));
                }
            }
        }
    }
    agents.sort_by_key(|a| a.index);
    Ok(Enrolled {
        agents,
        failed,
        errors,
    })
}

fn base_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .http1_only()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
}

async fn enroll_one(shared: &Shared, index: u32) -> anyhow::Result<SimAgent> {
    let root_pem = fetch_pinned_root(shared).await?;
    let root = reqwest::Certificate::from_pem(&root_pem).context("root certificate")?;
    // A fresh client per agent, as each real agent is its own process with its own TLS
    // session: enrollment cost includes the handshakes a fleet would cause.
    let anonymous = base_builder()
        .add_root_certificate(root.clone())
        .build()
        .context("building the enrollment client")?;

    let request = EnrollRequest {
        token: shared.token.clone(),
        hostname: format!("loadgen-{index:06}"),
        machine_id: format!("vt-loadgen-{}-{index:06}", shared.nonce),
        os: "linux".into(),
        os_version: "12".into(),
        arch: "x86_64".into(),
        agent_version: concat!("vt-loadgen/", env!("CARGO_PKG_VERSION")).into(),
    };
    let enrolled: EnrollResponse = post_json(&anonymous, &format!("{}/api/enroll", shared.server), &request)
        .await
        .context("POST /api/enroll")?;

    // The key is made here, as on a real agent; rcgen's default is ECDSA P-256.
    let key = rcgen::KeyPair::generate().context("generating the key")?;
    let mut params =
        rcgen::CertificateParams::new(vec![enrolled.agent_id.clone()]).context("CSR parameters")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, enrolled.agent_id.clone());
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .context("building the CSR")?;

    // With an external step-ca the certificate is signed at the CA URL the server names.
    let ca_url = enrolled.ca_url.trim_end_matches('/');
    if ca_url != shared.server {
        crate::check_target(ca_url, shared.allow_remote).context("the CA URL from enrollment")?;
    }
    let signed: SignResponse = post_json(
        &anonymous,
        &format!("{ca_url}/1.0/sign"),
        &SignRequest {
            csr,
            ott: enrolled.ott,
        },
    )
    .await
    .context("POST /1.0/sign")?;

    let chain = if signed.cert_chain.is_empty() {
        format!("{}\n{}", signed.crt.trim_end(), signed.ca)
    } else {
        signed.cert_chain.join("\n")
    };
    let identity = reqwest::Identity::from_pem(format!("{}\n{chain}\n", key.serialize_pem()).as_bytes())
        .context("loading the issued certificate")?;
    let client = base_builder()
        .add_root_certificate(root)
        .identity(identity)
        // One kept-alive connection per agent, reused for all its runs.
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(None)
        .build()
        .context("building the mTLS client")?;
    Ok(SimAgent {
        index,
        agent_id: enrolled.agent_id,
        client,
    })
}

/// GET /roots and return the PEM of the root whose DER SHA-256 is the token's fingerprint.
async fn fetch_pinned_root(shared: &Shared) -> anyhow::Result<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Roots {
        crts: Vec<String>,
    }
    let response = shared
        .insecure
        .get(format!("{}/roots", shared.server))
        .send()
        .await
        .context("GET /roots")?;
    ensure!(
        response.status().is_success(),
        "GET /roots answered {}",
        response.status()
    );
    let roots: Roots = response.json().await.context("GET /roots")?;
    for pem in roots.crts {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).context("root certificate PEM")?;
        if hex::encode(Sha256::digest(der.as_ref())) == shared.fingerprint {
            return Ok(pem.into_bytes());
        }
    }
    bail!(
        "no root certificate matches the token's fingerprint {}",
        shared.fingerprint
    )
}

async fn post_json<B: serde::Serialize, R: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    body: &B,
) -> anyhow::Result<R> {
    let response = client.post(url).json(body).send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    if !status.is_success() {
        bail!("HTTP {status}: {}", snippet(&bytes));
    }
    serde_json::from_slice(&bytes).context("unexpected answer")
}

/// The start of an error body, for messages.
pub fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(200).collect()
}
