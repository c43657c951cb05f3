//! Connections: failover across the configured URLs, TLS with the configured CA, and a
//! small pool of service-account connections for searches.
//!
//! Pooled connections are checked on checkout (a closed one is dropped), dropped after any
//! connection-level error, and re-created on demand, so a directory that restarts is used
//! again without reopening the backend.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::sync::Semaphore;

use super::Secret;
use crate::config::LdapConfig;
use crate::directory::DirectoryError;

/// LDAP result codes that mean "the server cannot serve right now" rather than "no".
const RC_BUSY: u32 = 51;
const RC_UNAVAILABLE: u32 = 52;
const RC_NO_SUCH_OBJECT: u32 = 32;

/// Opens connections to the first server that answers.
pub(crate) struct Connector {
    urls: Vec<String>,
    starttls: bool,
    tls: Arc<ClientConfig>,
    connect_timeout: Duration,
    pub(crate) operation_timeout: Duration,
}

impl Connector {
    pub(crate) fn new(config: &LdapConfig) -> Result<Connector, DirectoryError> {
        Ok(Connector {
            urls: config.urls.clone(),
            starttls: config.starttls,
            tls: Arc::new(tls_config(config)?),
            connect_timeout: config.connect_timeout.get(),
            operation_timeout: config.operation_timeout.get(),
        })
    }

    /// A connection to the first URL that accepts one (TLS established when configured).
    pub(crate) async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let mut failures = Vec::new();
        for url in &self.urls {
            let settings = LdapConnSettings::new()
                .set_conn_timeout(self.connect_timeout)
                .set_starttls(self.starttls && url.starts_with("ldap://"))
                .set_config(self.tls.clone());
            // The library's own timeout covers TCP, StartTLS and the handshake; ours is a
            // backstop in case a step escapes it.
            let attempt = LdapConnAsync::with_settings(settings, url);
            match tokio::time::timeout(self.connect_timeout * 2, attempt).await {
                Ok(Ok((conn, ldap))) => {
                    tokio::spawn(async move {
                        if let Err(error) = conn.drive().await {
                            tracing::debug!(%error, "LDAP connection ended");
                        }
                    });
                    return Ok(ldap);
                }
                Ok(Err(error)) => {
                    tracing::warn!(url = %url, %error, "LDAP server unreachable; trying the next one");
                    failures.push(format!("{url}: {error}"));
                }
                Err(_) => {
                    tracing::warn!(url = %url, "LDAP connect timed out; trying the next one");
                    failures.push(format!("{url}: connect timed out"));
                }
            }
        }
        Err(DirectoryError::Unavailable(failures.join("; ")))
    }
}

/// Trust anchors: the configured CA file, or the Mozilla roots. aws-lc-rs is named
/// explicitly so the process-wide default provider does not matter.
fn tls_config(config: &LdapConfig) -> Result<ClientConfig, DirectoryError> {
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| DirectoryError::Config(format!("{}: {e}", path.display())))?;
            for certificate in certificates {
                let certificate = certificate
                    .map_err(|e| DirectoryError::Config(format!("{}: {e}", path.display())))?;
                roots
                    .add(certificate)
                    .map_err(|e| DirectoryError::Config(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(DirectoryError::Config(format!(
                    "{} contains no CA certificate",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The service account used for searches; `None` DN = anonymous searches.
pub(crate) struct ServiceAccount {
    pub(crate) dn: String,
    pub(crate) password: Secret,
}

/// Up to `size` bound service-account connections.
pub(crate) struct Pool {
    connector: Arc<Connector>,
    service: Option<ServiceAccount>,
    idle: Mutex<Vec<Ldap>>,
    permits: Semaphore,
}

impl Pool {
    pub(crate) fn new(
        connector: Arc<Connector>,
        service: Option<ServiceAccount>,
        size: usize,
    ) -> Pool {
        Pool {
            connector,
            service,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
        }
    }

    /// Runs a search (subtree or base) with a pooled connection and returns its entries.
    /// A stale pooled connection is replaced by a fresh one once; `noSuchObject` is an
    /// empty answer.
    pub(crate) async fn search(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: &[&str],
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| DirectoryError::Internal("LDAP pool closed".into()))?;
        let (mut ldap, reused) = match self.take_idle() {
            Some(ldap) => (ldap, true),
            None => (self.open_bound().await?, false),
        };
        let mut outcome = self
            .search_on(&mut ldap, base, scope, filter, attributes)
            .await;
        if reused && matches!(outcome, Err(Failure::Connection(_))) {
            ldap = self.open_bound().await?;
            outcome = self
                .search_on(&mut ldap, base, scope, filter, attributes)
                .await;
        }
        match outcome {
            Ok(entries) => {
                self.give_back(ldap);
                Ok(entries)
            }
            Err(Failure::Result(error)) => {
                self.give_back(ldap);
                Err(error)
            }
            Err(Failure::Connection(error)) => Err(error),
        }
    }

    async fn search_on(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: &[&str],
    ) -> Result<Vec<SearchEntry>, Failure> {
        let result = ldap
            .with_timeout(self.connector.operation_timeout)
            .search(base, scope, filter, attributes.to_vec())
            .await
            .map_err(|e| Failure::Connection(unavailable(e)))?;
        match result.success() {
            Ok((entries, _)) => entries
                .into_iter()
                .map(|entry| {
                    // The library panics on a malformed entry; a peer must not crash us.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        SearchEntry::construct(entry)
                    }))
                    .map_err(|_| {
                        Failure::Result(DirectoryError::Internal(
                            "malformed search entry from the LDAP server".into(),
                        ))
                    })
                })
                .collect(),
            Err(LdapError::LdapResult { result }) if result.rc == RC_NO_SUCH_OBJECT => Ok(vec![]),
            Err(LdapError::LdapResult { result }) => Err(Failure::Result(result_error(
                result.rc,
                &result.text,
                "search",
            ))),
            Err(error) => Err(Failure::Connection(unavailable(error))),
        }
    }

    fn take_idle(&self) -> Option<Ldap> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut ldap) = idle.pop() {
            if !ldap.is_closed() {
                return Some(ldap);
            }
        }
        None
    }

    fn give_back(&self, mut ldap: Ldap) {
        if !ldap.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(ldap);
        }
    }

    /// A new connection, bound as the service account when there is one.
    async fn open_bound(&self) -> Result<Ldap, DirectoryError> {
        let mut ldap = self.connector.connect().await?;
        if let Some(service) = &self.service {
            let result = ldap
                .with_timeout(self.connector.operation_timeout)
                .simple_bind(&service.dn, service.password.expose())
                .await
                .map_err(unavailable)?;
            if let Err(error) = result.success() {
                tracing::error!(bind_dn = %service.dn, %error, "LDAP service account bind refused");
                return Err(DirectoryError::Unavailable(
                    "the LDAP service account bind was refused".into(),
                ));
            }
        }
        Ok(ldap)
    }
}

/// Why a pooled operation failed: the connection (drop it, maybe retry) or the server's
/// answer (the connection is fine).
enum Failure {
    Connection(DirectoryError),
    Result(DirectoryError),
}

/// Transport errors, timeouts and closed connections: the directory cannot answer.
pub(crate) fn unavailable(error: LdapError) -> DirectoryError {
    DirectoryError::Unavailable(error.to_string())
}

/// A non-success result code of an operation other than the user's bind.
pub(crate) fn result_error(rc: u32, text: &str, operation: &str) -> DirectoryError {
    if rc == RC_BUSY || rc == RC_UNAVAILABLE {
        DirectoryError::Unavailable(format!("LDAP {operation}: result code {rc}: {text}"))
    } else {
        DirectoryError::Internal(format!("LDAP {operation}: result code {rc}: {text}"))
    }
}

/// Whether a bind result code means the server could not serve the bind at all.
pub(crate) fn is_server_unavailable(rc: u32) -> bool {
    rc == RC_BUSY || rc == RC_UNAVAILABLE
}
