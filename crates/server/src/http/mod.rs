//! HTTP layers of the server. Each listener mounts the routers defined here.

pub mod admin;
pub mod agent;
pub mod body;
pub mod dashboard;
pub mod error;
pub mod health;
pub mod identity;
pub mod listener;
pub mod observe;
pub mod proxy;
pub mod revocation;
pub mod tls;
