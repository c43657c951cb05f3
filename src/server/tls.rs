//! TLS termination (stand-in until the full module lands).

use std::path::Path;
use std::sync::Arc;

use crate::config::{CertificateConfig, TlsConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Other(String),
}

pub struct TlsTerminator;

impl TlsTerminator {
    pub fn new(_config: &TlsConfig) -> Result<Self, TlsError> {
        Err(TlsError::Other("TLS not available yet".into()))
    }
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        unreachable!()
    }
    pub fn reload(&self) -> Result<bool, TlsError> {
        Ok(false)
    }
    pub async fn watch(self: Arc<Self>) {}
}

pub fn ensure_dev_certificate(_data_dir: &Path) -> Result<CertificateConfig, TlsError> {
    Err(TlsError::Other("not yet".into()))
}

pub fn upstream_client_config(
    _ca_file: Option<&Path>,
    _client_cert: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    Err(TlsError::Other("not yet".into()))
}
