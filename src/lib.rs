//! govgate: identity, single sign-on and digital-signature security gateway for
//! provincial e-government.
//!
//! Rooms (see `docs/architecture.md`); dependencies point downward only:
//! `cli → server → proxy → {store, metrics, pages, config}`.

pub mod admin;
pub mod audit;
pub mod bruteforce;
pub mod cli;
pub mod config;
pub mod demo;
pub mod directory;
pub mod identity;
pub mod keys;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod pki;
pub mod policy;
pub mod portal;
pub mod proxy;
pub mod server;
pub mod session;
pub mod signatures;
pub mod store;

/// Installs aws-lc-rs as the process-wide rustls crypto provider. Idempotent; call it
/// before building any TLS configuration (the CLI and test helpers do).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
