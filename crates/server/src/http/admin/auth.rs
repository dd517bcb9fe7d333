//! Who is calling, and may they?
//!
//! Authentication is a list of [`Authenticator`]s tried in order; each either recognises
//! its kind of credential (API key in `Authorization: Bearer`, later a session cookie or an
//! OIDC token) and yields a [`Principal`], or declines. Handlers never see credentials: they
//! take an [`Authorized<P>`] extractor whose permission `P` is checked before the handler
//! (and before the body is read), so authorisation is enforced server-side for every route
//! by its signature and cannot be forgotten in the handler body.

use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiFailure;
use super::Ctx;
use crate::secrets::api_key_hash;
use crate::storage::{ApiRole, Storage, StorageError};

/// How the principal authenticated; kept for the audit trail and for session-only features
/// (e.g. CSRF checks) later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    ApiKey,
    Session,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable identifier: the API key id, the user id.
    pub id: String,
    /// Human-readable: the key's label or the user name. Not unique.
    pub name: String,
    pub role: ApiRole,
    pub kind: PrincipalKind,
}

impl Principal {
    /// The audit log's `actor`: `apikey:<id>` or `user:<id>`.
    pub fn actor(&self) -> String {
        match self.kind {
            PrincipalKind::ApiKey => format!("apikey:{}", self.id),
            PrincipalKind::Session => format!("user:{}", self.id),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Credentials of this authenticator's kind were presented and are not valid. Stops
    /// the search: a wrong key must not fall through to another scheme.
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[async_trait]
pub trait Authenticator: Send + Sync {
    /// `Ok(None)` when the request carries no credential of this kind.
    async fn authenticate(&self, parts: &Parts) -> Result<Option<Principal>, AuthError>;
}

/// `Authorization: Bearer <api key>`, looked up by its SHA-256 (only hashes are stored,
/// and an equality lookup on a hash leaks nothing useful through timing).
pub struct ApiKeyAuthenticator {
    storage: Arc<dyn Storage>,
}

impl ApiKeyAuthenticator {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }
}

/// Longest credential worth hashing; real keys are 48 characters.
const MAX_BEARER_LEN: usize = 512;

#[async_trait]
impl Authenticator for ApiKeyAuthenticator {
    async fn authenticate(&self, parts: &Parts) -> Result<Option<Principal>, AuthError> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Ok(None);
        };
        let value = value
            .to_str()
            .map_err(|_| AuthError::Invalid("malformed Authorization header"))?;
        let Some((scheme, credential)) = value.split_once(' ') else {
            return Err(AuthError::Invalid("malformed Authorization header"));
        };
        // Another scheme may belong to another authenticator.
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let credential = credential.trim();
        if credential.is_empty() || credential.len() > MAX_BEARER_LEN {
            return Err(AuthError::Invalid("invalid API key"));
        }
        let Some(key) = self.storage.find_api_key(&api_key_hash(credential)).await? else {
            return Err(AuthError::Invalid("invalid API key"));
        };
        Ok(Some(Principal {
            name: if key.label.is_empty() {
                key.id.clone()
            } else {
                key.label
            },
            id: key.id,
            role: key.role,
            kind: PrincipalKind::ApiKey,
        }))
    }
}

/// Runs the authenticators in order; the first that recognises a credential decides.
pub async fn authenticate(
    authenticators: &[Arc<dyn Authenticator>],
    parts: &Parts,
) -> Result<Principal, ApiFailure> {
    for authenticator in authenticators {
        match authenticator.authenticate(parts).await {
            Ok(Some(principal)) => return Ok(principal),
            Ok(None) => continue,
            Err(AuthError::Invalid(why)) => return Err(ApiFailure::Unauthorized(why.into())),
            Err(AuthError::Storage(err)) => return Err(ApiFailure::Storage(err)),
        }
    }
    Err(ApiFailure::Unauthorized("authentication required".into()))
}

/// What a route requires of the caller's role.
pub trait Permission: Send + Sync + 'static {
    /// For the 403 message.
    const NAME: &'static str;
    fn allows(role: ApiRole) -> bool;
}

/// Any authenticated role: viewer, auditor, admin.
pub struct Read;
/// Audit trail and exports: auditor and admin.
pub struct Audit;
/// Every change: admin only.
pub struct Admin;

impl Permission for Read {
    const NAME: &'static str = "read";
    fn allows(_: ApiRole) -> bool {
        true
    }
}

impl Permission for Audit {
    const NAME: &'static str = "audit (auditor or admin role)";
    fn allows(role: ApiRole) -> bool {
        matches!(role, ApiRole::Auditor | ApiRole::Admin)
    }
}

impl Permission for Admin {
    const NAME: &'static str = "admin";
    fn allows(role: ApiRole) -> bool {
        role == ApiRole::Admin
    }
}

/// Extractor: an authenticated principal holding permission `P`; 401 / 403 otherwise.
pub struct Authorized<P: Permission> {
    pub principal: Principal,
    _permission: PhantomData<P>,
}

impl<P: Permission> FromRequestParts<Ctx> for Authorized<P> {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let principal = authenticate(&ctx.authenticators, parts).await?;
        if !P::allows(principal.role) {
            return Err(ApiFailure::Forbidden(format!(
                "role {} lacks the {} permission",
                principal.role.as_str(),
                P::NAME
            )));
        }
        Ok(Self {
            principal,
            _permission: PhantomData,
        })
    }
}
