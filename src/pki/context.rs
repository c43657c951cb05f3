//! What one verification run is checked against: the trust store, the crypto policy,
//! the revocation source and the validation time. Built once (by the CLI, the HTTP API
//! or a gateway guard) and handed to every format verifier, so CMS, PDF and XML
//! signatures are judged by the same rules.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::revocation::{RevocationChecker, RevocationConfig, RevocationError};
use super::trust::{LoadWarning, PkiError};
use super::{ChainRequest, CryptoPolicy, RevocationCheck, TrustStore, Usage};

/// The trust list anchors given for one run only (`govgate verify --trust`) go into.
pub const EXTRA_TRUST_LIST: &str = "command-line";

/// How to build a [`VerifyContext`]: what the CLI's options and `[signatures]` say.
#[derive(Debug, Clone, Default)]
pub struct ContextOptions {
    /// The trust-store directory (`trust/<list>/`, `intermediates/`, and local CRLs in
    /// `crl/`); `None` starts from an empty store.
    pub trust_dir: Option<PathBuf>,
    /// More anchors (DER), in trust list [`EXTRA_TRUST_LIST`].
    pub extra_anchors: Vec<Vec<u8>>,
    /// More intermediates (DER).
    pub extra_intermediates: Vec<Vec<u8>>,
    /// Local CRL files besides those in `trust_dir/crl/`.
    pub crl_files: Vec<PathBuf>,
    /// Only local revocation data: no CRL download, no OCSP.
    pub offline: bool,
    pub legacy_crypto: bool,
    pub at: Option<SystemTime>,
}

/// Why a context could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("trust store: {0}")]
    Trust(#[from] PkiError),
    #[error(
        "no trust anchor: give a trust-store directory with trust/<list>/ files, or extra anchors"
    )]
    NoAnchor,
    #[error("revocation: {0}")]
    Revocation(#[from] RevocationError),
    #[error("{}: {source}", path.display())]
    CrlDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub struct VerifyContext {
    pub trust: Arc<TrustStore>,
    pub policy: CryptoPolicy,
    /// CRL / OCSP checking; `None` leaves revocation NOT_CHECKED in reports.
    pub revocation: Option<Arc<dyn RevocationCheck>>,
    /// A fixed validation time (`govgate verify --at`); `None` means "now", unless a
    /// trusted timestamp proves an earlier time for a signature.
    pub at: Option<SystemTime>,
}

impl VerifyContext {
    /// Loads the trust store and the local CRLs, and sets up revocation checking
    /// (always on: online unless `offline`). The warnings name trust-store files that
    /// were skipped.
    pub fn build(
        options: &ContextOptions,
    ) -> Result<(VerifyContext, Vec<LoadWarning>), ContextError> {
        let (mut store, warnings) = match &options.trust_dir {
            Some(dir) => TrustStore::load(dir)?,
            None => (TrustStore::empty(), Vec::new()),
        };
        for der in &options.extra_anchors {
            store.add_anchor(EXTRA_TRUST_LIST, der.clone())?;
        }
        for der in &options.extra_intermediates {
            store.add_intermediate(der.clone())?;
        }
        if store.anchors().is_empty() {
            return Err(ContextError::NoAnchor);
        }
        let policy = match options.legacy_crypto {
            true => CryptoPolicy::LEGACY,
            false => CryptoPolicy::STRICT,
        };
        let mut crl_files = match &options.trust_dir {
            Some(dir) => crl_files_in(&dir.join("crl"))?,
            None => Vec::new(),
        };
        crl_files.extend(options.crl_files.iter().cloned());
        let checker = RevocationChecker::new(RevocationConfig {
            crl_files,
            offline: options.offline,
            policy,
            ..RevocationConfig::default()
        })?;
        let ctx = VerifyContext {
            trust: Arc::new(store),
            policy,
            revocation: Some(Arc::new(checker)),
            at: options.at,
        };
        Ok((ctx, warnings))
    }

    pub fn new(trust: Arc<TrustStore>) -> VerifyContext {
        VerifyContext {
            trust,
            policy: CryptoPolicy::STRICT,
            revocation: None,
            at: None,
        }
    }

    /// The time a signature is validated at: the proven time from a trusted timestamp
    /// when there is one, else the run's fixed time, else now. A claimed signing time
    /// (CMS signingTime, PDF /M) is never used: anyone can write it.
    pub fn validation_time(&self, proven: Option<SystemTime>) -> SystemTime {
        proven.or(self.at).unwrap_or_else(SystemTime::now)
    }

    /// A chain request for `leaf` under this context.
    pub fn chain_request<'a>(
        &'a self,
        leaf: &'a [u8],
        intermediates: &'a [Vec<u8>],
        at: SystemTime,
        usage: Usage,
    ) -> ChainRequest<'a> {
        ChainRequest {
            revocation: self.revocation.as_deref(),
            ..ChainRequest::new(leaf, intermediates, at, usage, &self.policy)
        }
    }
}

/// The CRL files of a trust store's `crl/` directory (`*.pem`, `*.crl`, `*.der`); none
/// when it does not exist.
fn crl_files_in(dir: &Path) -> Result<Vec<PathBuf>, ContextError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ContextError::CrlDir {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .and_then(|extension| extension.to_str())
                .is_some_and(|extension| ["pem", "crl", "der"].contains(&extension))
        })
        .collect();
    files.sort();
    Ok(files)
}
