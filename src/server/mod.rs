//! Listeners, TLS, router assembly, ops endpoints and shutdown.
pub mod tls;
