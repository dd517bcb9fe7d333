//! The server runtime: first-start preparation (CA, TLS certificate, provisioner key,
//! schema, shipped baselines), the two listeners, and graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::middleware;
use axum::Router;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::ca::{CaError, CertificateAuthority};
use crate::config::{url_host, ConfigError, ServerConfig};
use crate::enroll::stepca::{self, StepCaSettings};
use crate::enroll::{Provisioner, ProvisionerError, BUILTIN_PROVISIONER_NAME};
use crate::http::admin::{AdminState, RevocationHook};
use crate::http::agent::{self, AgentContext, CrlCache};
use crate::http::listener::{self, ListenOptions};
use crate::http::proxy::ProxyTrust;
use crate::http::revocation::{RevocationCache, CACHE_TTL};
use crate::http::{dashboard, error, health, observe, tls};
use crate::policy_store::{self, ImportError, Imported};
use crate::storage::{self, Storage, StorageError};

const TLS_DIR: &str = "tls";
const SERVER_CRT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";
const SERVER_CERT_LIFETIME: time::Duration = time::Duration::days(365);
/// A server certificate this close to expiry is replaced at start.
const SERVER_CERT_RENEW_BEFORE: time::Duration = time::Duration::days(30);
/// In-flight requests get this long to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Provisioner(#[from] ProvisionerError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("importing the shipped baselines: {0}")]
    Baselines(#[from] ImportError),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let context = context.into();
    move |source| ServeError::Io { context, source }
}

/// What the first start created; empty on later starts.
#[derive(Debug, Default)]
pub struct FirstStart {
    pub ca_created: bool,
    pub tls_created: bool,
    pub provisioner_created: bool,
    pub baselines: Vec<Imported>,
}

impl FirstStart {
    pub fn is_first_start(&self) -> bool {
        self.ca_created || !self.baselines.is_empty()
    }
}

pub struct RunningServer {
    pub agent_addr: Option<SocketAddr>,
    pub dashboard_addr: Option<SocketAddr>,
    pub dashboard_url: String,
    pub agent_url: String,
    pub root_fingerprint: String,
    pub first_start: FirstStart,
    pub storage: Arc<dyn Storage>,
    /// Clears cached revocation verdicts and the CRL (the admin API's revocation hook).
    pub revocation_hook: RevocationHook,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (bounded), closes the database.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.storage.close().await;
    }
}

/// Prepares everything and starts the listeners `config.mode` asks for.
pub async fn start(config: &ServerConfig) -> Result<RunningServer, ServeError> {
    config.validate()?;
    let data_dir = config.data_dir.as_path();
    create_private_dir(data_dir)?;
    let now = OffsetDateTime::now_utc();

    let agent_listener = if config.mode.runs_agent() {
        Some(bind(config.agent_listen).await?)
    } else {
        None
    };
    let dashboard_listener = if config.mode.runs_dashboard() {
        Some(bind(config.dashboard_listen).await?)
    } else {
        None
    };
    let agent_port = port_of(agent_listener.as_ref(), config.agent_listen);
    let dashboard_port = port_of(dashboard_listener.as_ref(), config.dashboard_listen);
    let public_host = config.public_url.as_deref().and_then(url_host);
    let dashboard_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("https://localhost:{dashboard_port}"));
    let agent_url = config.agent_url.clone().unwrap_or_else(|| {
        format!(
            "https://{}:{agent_port}",
            bracket(public_host.as_deref().unwrap_or("localhost"))
        )
    });

    let mut first = FirstStart::default();
    let (ca, ca_created) = CertificateAuthority::open_or_create(data_dir, now)?;
    first.ca_created = ca_created;
    let ca = Arc::new(ca);

    let mut names: Vec<String> = Vec::new();
    for url in [Some(&dashboard_url), Some(&agent_url)] {
        if let Some(host) = url.and_then(|u| url_host(u)) {
            if !names.contains(&host) {
                names.push(host);
            }
        }
    }
    let (chain_pem, key_pem, tls_created) = server_certificate(&ca, data_dir, &names, now)?;
    first.tls_created = tls_created;

    let storage = storage::open(&config.database_url()).await?;
    first.baselines = policy_store::import_baselines_if_empty(storage.as_ref(), now).await?;

    let external = config.external_stepca_url.as_deref();
    let (provisioner, trust_anchors, intermediates, roots_pem, ca_url) = match external {
        None => {
            let (jwk, created) = Provisioner::load_or_create_key(data_dir)?;
            first.provisioner_created = created;
            let provisioner =
                Provisioner::new(BUILTIN_PROVISIONER_NAME, &jwk, &agent_url, &ca.root_fingerprint())
                    .map_err(|source| ProvisionerError::Key {
                        path: data_dir.join(crate::enroll::PROVISIONER_KEY_FILE),
                        source,
                    })?;
            (
                provisioner,
                // The intermediate is a trust anchor too, so an agent that presents only
                // its leaf still verifies; it is our own issuing CA either way.
                vec![ca.root_der().to_vec(), ca.intermediate_der().to_vec()],
                vec![ca.intermediate_der().to_vec()],
                vec![ca.root_pem().to_string()],
                agent_url.clone(),
            )
        }
        Some(url) => {
            // validate() guarantees these are present in external mode.
            let (Some(name), Some(key), Some(root)) = (
                config.stepca_provisioner.as_deref(),
                config.stepca_key.as_deref(),
                config.stepca_root.as_deref(),
            ) else {
                return Err(ConfigError::Invalid("external step-ca mode is incomplete".into()).into());
            };
            let step = stepca::load(&StepCaSettings {
                url,
                provisioner: name,
                key,
                password_file: config.stepca_password_file.as_deref(),
                root,
            })?;
            let roots_pem = tls::parse_chain(&step.roots_pem)?
                .iter()
                .map(|der| pem_encode(der.as_ref()))
                .collect();
            (
                step.provisioner,
                step.roots_der,
                Vec::new(),
                roots_pem,
                url.to_string(),
            )
        }
    };

    let verifier = tls::client_verifier(&trust_anchors)?;
    let revocation = Arc::new(RevocationCache::new(CACHE_TTL, external.is_none()));
    let crl = Arc::new(CrlCache::new(CACHE_TTL));
    let revocation_hook: RevocationHook = {
        let revocation = revocation.clone();
        let crl = crl.clone();
        Arc::new(move |_agent_id: &str| {
            revocation.invalidate_all();
            crl.invalidate();
            observe::count_certificate("revoked");
        })
    };
    observe::metrics_handle();

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let options = ListenOptions {
        header_timeout: Duration::from_millis(
            u64::try_from(config.header_read_timeout.whole_milliseconds()).unwrap_or(10_000),
        ),
        grace: SHUTDOWN_GRACE,
    };
    let mut tasks = vec![tokio::spawn(crate::maintenance::run(
        storage.clone(),
        shutdown_rx.clone(),
    ))];
    let mut agent_addr = None;
    let mut dashboard_addr = None;

    if let Some(tcp) = agent_listener {
        agent_addr = Some(tcp.local_addr().map_err(io("agent listener address"))?);
        let state = Arc::new(AgentContext {
            storage: storage.clone(),
            ca: external.is_none().then(|| ca.clone()),
            provisioner: Arc::new(provisioner),
            ca_url,
            cert_lifetime: config.cert_lifetime,
            revocation,
            proxy: Arc::new(ProxyTrust::new(
                config.trusted_proxy.clone(),
                verifier.clone(),
                intermediates,
            )),
            roots_pem,
            crl,
        });
        let router = finish_router(
            agent::router(state).merge(health::router(storage.clone())),
            "agent",
        );
        let tls_config = tls::agent_server_config(verifier, &chain_pem, &key_pem)?;
        tasks.push(tokio::spawn(listener::serve(
            tcp,
            tls_config,
            router,
            options,
            shutdown_rx.clone(),
        )));
    }
    if let Some(tcp) = dashboard_listener {
        dashboard_addr = Some(tcp.local_addr().map_err(io("dashboard listener address"))?);
        let admin_state = AdminState {
            storage: storage.clone(),
            revocation_hook: Some(revocation_hook.clone()),
            root_fingerprint: ca.root_fingerprint(),
        };
        let router = finish_router(
            dashboard::router(admin_state).merge(health::router(storage.clone())),
            "dashboard",
        );
        let tls_config = tls::dashboard_server_config(&chain_pem, &key_pem)?;
        tasks.push(tokio::spawn(listener::serve(
            tcp,
            tls_config,
            router,
            options,
            shutdown_rx,
        )));
    }

    Ok(RunningServer {
        agent_addr,
        dashboard_addr,
        dashboard_url,
        agent_url,
        root_fingerprint: ca.root_fingerprint(),
        first_start: first,
        storage,
        revocation_hook,
        shutdown: shutdown_tx,
        tasks,
    })
}

fn finish_router(router: Router, listener: &'static str) -> Router {
    router
        .fallback(error::fallback)
        .route_layer(middleware::from_fn(observe::stash_route))
        .layer(middleware::from_fn(move |request, next| {
            observe::observe(listener, request, next)
        }))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(io(format!("listening on {addr}")))
}

fn port_of(listener: Option<&TcpListener>, configured: SocketAddr) -> u16 {
    listener
        .and_then(|l| l.local_addr().ok())
        .map_or(configured.port(), |a| a.port())
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn create_private_dir(dir: &Path) -> Result<(), ServeError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(format!("restricting {}", dir.display())))?;
    }
    Ok(())
}

/// The listeners' certificate: reused while it covers `names` and is not close to expiry,
/// otherwise issued anew by the intermediate.
fn server_certificate(
    ca: &CertificateAuthority,
    data_dir: &Path,
    names: &[String],
    now: OffsetDateTime,
) -> Result<(String, String, bool), ServeError> {
    let dir = data_dir.join(TLS_DIR);
    let crt_path = dir.join(SERVER_CRT);
    let key_path = dir.join(SERVER_KEY);
    if let (Ok(chain), Ok(key)) = (
        std::fs::read_to_string(&crt_path),
        std::fs::read_to_string(&key_path),
    ) {
        if certificate_still_fits(&chain, names, now) {
            return Ok((chain, key, false));
        }
        tracing::info!("replacing the server certificate (names changed or expiry near)");
    }
    let issued = ca.issue_server_certificate(names, SERVER_CERT_LIFETIME, now)?;
    create_private_dir(&dir)?;
    for path in [&crt_path, &key_path] {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io(format!("replacing {}", path.display()))(err)),
        }
    }
    crate::enroll::provisioner::write_secret(&key_path, issued.key_pem.as_bytes())
        .map_err(io(format!("writing {}", key_path.display())))?;
    std::fs::write(&crt_path, &issued.chain_pem).map_err(io(format!("writing {}", crt_path.display())))?;
    Ok((issued.chain_pem, issued.key_pem, true))
}

fn certificate_still_fits(chain_pem: &str, names: &[String], now: OffsetDateTime) -> bool {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes()) else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&pem.contents) else {
        return false;
    };
    if cert.validity().not_after.to_datetime() - SERVER_CERT_RENEW_BEFORE < now {
        return false;
    }
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    let present: Vec<String> = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
            x509_parser::extensions::GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| std::net::IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| std::net::IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    names.iter().all(|n| present.contains(n))
}

fn pem_encode(der: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let text = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}
