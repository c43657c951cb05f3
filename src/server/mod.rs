//! Listeners, TLS, router assembly, ops endpoints and shutdown.
