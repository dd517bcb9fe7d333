//! The agent listener's routes: enrollment and step-ca compatible signing (no client
//! certificate needed), then the mTLS agent API. One module per route group.

mod ca;
mod enroll;
mod heartbeat;
mod policy;
mod renew;
mod results;
mod sign;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use super::proxy::ProxyTrust;
use super::revocation::RevocationCache;
use crate::ca::CertificateAuthority;
use crate::enroll::Provisioner;
use crate::storage::Storage;

pub use ca::CrlCache;

/// Everything the agent routes share.
pub struct AgentContext {
    pub storage: Arc<dyn Storage>,
    /// The built-in CA; `None` in external step-ca mode (agents sign at step-ca).
    pub ca: Option<Arc<CertificateAuthority>>,
    pub provisioner: Arc<Provisioner>,
    /// Base URL of the CA handed to agents; the OTT audience is `<ca_url>/1.0/sign`.
    pub ca_url: String,
    pub cert_lifetime: time::Duration,
    pub revocation: Arc<RevocationCache>,
    pub proxy: Arc<ProxyTrust>,
    /// Root certificate(s) served at `/roots`.
    pub roots_pem: Vec<String>,
    pub crl: Arc<CrlCache>,
}

pub type AgentState = Arc<AgentContext>;

pub fn router(state: AgentState) -> Router {
    let mut router = Router::new()
        .route("/api/enroll", post(enroll::enroll))
        .route("/roots", get(ca::roots))
        .route("/1.0/roots", get(ca::roots))
        .route("/agent/v1/policy", get(policy::policy))
        .route("/agent/v1/results", post(results::submit))
        .route("/agent/v1/heartbeat", post(heartbeat::heartbeat));
    // In external step-ca mode step-ca signs, renews and publishes the CRL; answering
    // here would issue certificates the agents' CA does not know.
    if state.ca.is_some() {
        router = router
            .route("/1.0/sign", post(sign::sign))
            .route("/1.0/renew", post(renew::renew))
            .route("/1.0/crl", get(ca::crl))
            .route("/crl", get(ca::crl));
    }
    router.with_state(state)
}
