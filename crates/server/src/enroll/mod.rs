//! Enrollment services: the JWK provisioner key, one-time tokens (OTTs) in step-ca's JWK
//! provisioner shape, and loading an external step-ca's provisioner key.
//!
//! The built-in CA and an external step-ca are two sources of the same thing — a P-256
//! signing key with a name — so both produce a [`Provisioner`]; the HTTP layer does not
//! care which one it has.

mod jwe;
mod jwk;
pub mod ott;
pub mod provisioner;
pub mod stepca;

pub use jwk::{EcJwk, JwkError};
pub use ott::{OttClaims, OttError, OTT_LIFETIME};
pub use provisioner::{Provisioner, ProvisionerError, BUILTIN_PROVISIONER_NAME, PROVISIONER_KEY_FILE};
