//! Revocation checking behind [`RevocationCheck`]: CRLs (local files, and the
//! certificates' http:// cRLDistributionPoints, downloaded and cached) and OCSP (the
//! AIA responder), for every certificate of a path below its trust anchor.
//!
//! Per certificate, in order (OCSP first by default, see [`RevocationConfig::ocsp_first`]):
//! OCSP → local CRLs → downloaded CRLs; or local CRLs → downloaded CRLs → OCSP. The
//! first source that *answers* decides: `good`, or revoked at a time. A source that
//! cannot answer (OCSP `unknown`, network failure, a CRL refused, stale or issued by
//! someone else) passes to the next. When none answers the path is INDETERMINATE /
//! TRY_LATER, naming every source tried and why it failed. Offline mode uses local CRLs
//! only and makes no network request at all.
//!
//! Time rules (EN 319 102-1): revocation information is judged *fresh* against the
//! clock ([`RevocationConfig::now`], normally the real time): a CRL past nextUpdate or
//! an OCSP response past its nextUpdate is stale and not used. A certificate revoked at
//! or before the validation time fails: the signer's certificate with REVOKED
//! (TOTAL_FAILED), a CA certificate with REVOKED_CA_NO_POE (INDETERMINATE). A
//! revocation after the validation time (a timestamp proved an earlier signing time)
//! does not fail: the path is [`RevocationStatus::RevokedAfterValidationTime`].
//! certificateHold is treated as a revocation from its revocationDate: a held
//! certificate cannot be told apart from a revoked one until the hold is lifted, and a
//! lifted hold disappears from the next CRL. invalidityDate is informative only.

mod cache;
mod crl;
mod http;
mod ocsp;
mod signed;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use x509_parser::certificate::X509Certificate;

pub use ocsp::OcspHash;

use self::cache::CrlCache;
use self::crl::{Crl, RevokedEntry, REASON_CERTIFICATE_HOLD};
use self::http::HttpClient;
use self::ocsp::{OcspSettings, OcspStatus};
use super::report::{ChainFailure, RevocationStatus, SubIndication};
use super::{CryptoPolicy, RevocationCheck};

/// Local CRL files larger than this are refused.
const MAX_LOCAL_CRL_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Distribution points / responders tried per certificate.
const MAX_URLS_PER_CERTIFICATE: usize = 4;

/// How revocation is checked.
#[derive(Debug, Clone)]
pub struct RevocationConfig {
    /// Local CRLs, PEM (several `X509 CRL` blocks allowed) or DER (`govgate verify --crl`).
    pub crl_files: Vec<PathBuf>,
    /// Only local data: no CRL download, no OCSP.
    pub offline: bool,
    /// For one HTTP exchange, connect to last byte.
    pub http_timeout: Duration,
    /// A downloaded CRL larger than this is refused.
    pub max_crl_bytes: usize,
    /// Ask the OCSP responder before looking at CRLs.
    pub ocsp_first: bool,
    pub ocsp_hash: OcspHash,
    /// Send a nonce and require it back.
    pub ocsp_nonce: bool,
    /// How long an OCSP response without nextUpdate is good for after its thisUpdate.
    pub ocsp_max_age: Duration,
    /// Downloaded CRLs kept in memory: at most this many …
    pub cache_max_entries: usize,
    /// … and this many bytes in all.
    pub cache_max_bytes: usize,
    /// Applied to CRL and OCSP signatures, as to certificates.
    pub policy: CryptoPolicy,
    /// The clock freshness is judged by; `None` is the real time. Set for replaying a
    /// fixed scenario (the x509-limbo harness, tests).
    pub now: Option<SystemTime>,
}

impl Default for RevocationConfig {
    fn default() -> RevocationConfig {
        RevocationConfig {
            crl_files: Vec::new(),
            offline: false,
            http_timeout: Duration::from_secs(10),
            max_crl_bytes: 32 * 1024 * 1024,
            ocsp_first: true,
            ocsp_hash: OcspHash::Sha1,
            ocsp_nonce: true,
            ocsp_max_age: Duration::from_secs(24 * 3600),
            cache_max_entries: 64,
            cache_max_bytes: 256 * 1024 * 1024,
            policy: CryptoPolicy::STRICT,
            now: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: larger than {MAX_LOCAL_CRL_FILE_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("{0}")]
    BadCrl(String),
}

/// CRL and OCSP checking; one per process (it holds the CRL cache), shared by every
/// verification through [`super::VerifyContext::revocation`].
pub struct RevocationChecker {
    config: RevocationConfig,
    local: Vec<Arc<Crl>>,
    cache: CrlCache,
    http: HttpClient,
}

/// What one source said about one certificate.
struct Finding {
    revoked: Option<RevokedEntry>,
    source: String,
}

impl RevocationChecker {
    /// Loads `config.crl_files`; a file that is not a usable CRL is an error (an
    /// operator named it: silently skipping it would hide a revocation).
    pub fn new(config: RevocationConfig) -> Result<RevocationChecker, RevocationError> {
        let mut checker = RevocationChecker {
            cache: CrlCache::new(config.cache_max_entries, config.cache_max_bytes),
            http: HttpClient {
                timeout: config.http_timeout,
            },
            local: Vec::new(),
            config,
        };
        for path in checker.config.crl_files.clone() {
            checker.load_crl_file(&path)?;
        }
        Ok(checker)
    }

    fn load_crl_file(&mut self, path: &Path) -> Result<(), RevocationError> {
        let io = |source| RevocationError::Io {
            path: path.to_path_buf(),
            source,
        };
        if std::fs::metadata(path).map_err(io)?.len() > MAX_LOCAL_CRL_FILE_BYTES {
            return Err(RevocationError::TooLarge { path: path.into() });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let ders = crl::decode_crls(&bytes)
            .map_err(|why| RevocationError::BadCrl(format!("{}: {why}", path.display())))?;
        for der in ders {
            self.add_crl(der, &format!("CRL file {}", path.display()))?;
        }
        Ok(())
    }

    /// Adds a local CRL (DER) under the report name `source`.
    pub fn add_crl(&mut self, der: Vec<u8>, source: &str) -> Result<(), RevocationError> {
        let crl = Crl::parse(der, source.to_string())
            .map_err(|problem| RevocationError::BadCrl(problem.to_string()))?;
        self.local.push(Arc::new(crl));
        Ok(())
    }

    /// Downloaded CRLs currently cached.
    pub fn cached_crls(&self) -> usize {
        self.cache.len()
    }

    fn now(&self) -> SystemTime {
        self.config.now.unwrap_or_else(SystemTime::now)
    }

    /// The first answer about `cert` from the sources in configured order, or every
    /// reason none answered.
    fn find_status(
        &self,
        cert: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
    ) -> Result<Finding, Vec<String>> {
        let now = self.now();
        let mut reasons = Vec::new();
        let ocsp = |reasons: &mut Vec<String>| self.ask_ocsp(cert, issuer, now, reasons);
        if self.config.ocsp_first {
            if let Some(finding) = ocsp(&mut reasons) {
                return Ok(finding);
            }
        }
        if let Some(finding) = self.local_crls(cert, issuer, now, &mut reasons) {
            return Ok(finding);
        }
        if let Some(finding) = self.downloaded_crls(cert, issuer, now, &mut reasons) {
            return Ok(finding);
        }
        if !self.config.ocsp_first {
            if let Some(finding) = ocsp(&mut reasons) {
                return Ok(finding);
            }
        }
        if reasons.is_empty() {
            reasons.push(match self.config.offline {
                true => "offline, and no local CRL of its issuer".into(),
                false => {
                    "no local CRL of its issuer, no distribution point, no OCSP responder".into()
                }
            });
        }
        Err(reasons)
    }

    fn ask_ocsp(
        &self,
        cert: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
        now: SystemTime,
        reasons: &mut Vec<String>,
    ) -> Option<Finding> {
        if self.config.offline {
            return None;
        }
        let settings = OcspSettings {
            hash: self.config.ocsp_hash,
            nonce: self.config.ocsp_nonce,
            max_age: self.config.ocsp_max_age,
            policy: self.config.policy,
        };
        for url in ocsp::responder_urls(cert)
            .iter()
            .take(MAX_URLS_PER_CERTIFICATE)
        {
            match ocsp::ask(&self.http, url, cert, issuer, &settings, now) {
                Ok(answer) => match answer.status {
                    OcspStatus::Good => return Some(finding(None, answer.source)),
                    OcspStatus::Revoked(entry) => return Some(finding(Some(entry), answer.source)),
                    OcspStatus::Unknown => {
                        reasons.push(format!("{}: status unknown", answer.source))
                    }
                },
                Err(why) => reasons.push(format!("OCSP {url}: {why}")),
            }
        }
        None
    }

    fn local_crls(
        &self,
        cert: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
        now: SystemTime,
        reasons: &mut Vec<String>,
    ) -> Option<Finding> {
        // Of several usable local CRLs, the most recent speaks.
        let mut best: Option<&Arc<Crl>> = None;
        for crl in &self.local {
            match crl.judge(cert, issuer, now, &self.config.policy) {
                Ok(()) if best.is_none_or(|known| known.this_update < crl.this_update) => {
                    best = Some(crl)
                }
                Ok(()) => {}
                // Other CAs' CRLs are expected among local files: not worth a word.
                Err(crl::CrlProblem::NotApplicable { .. }) => {}
                Err(problem) => reasons.push(problem.to_string()),
            }
        }
        best.map(|crl| crl_finding(crl, cert))
    }

    fn downloaded_crls(
        &self,
        cert: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
        now: SystemTime,
        reasons: &mut Vec<String>,
    ) -> Option<Finding> {
        if self.config.offline {
            return None;
        }
        let urls = crl::distribution_point_uris(cert);
        for url in urls.iter().take(MAX_URLS_PER_CERTIFICATE) {
            match self.usable_crl(url, cert, issuer, now) {
                Ok(crl) => return Some(crl_finding(&crl, cert)),
                Err(why) => reasons.push(why),
            }
        }
        None
    }

    /// The CRL at `url`, from the cache or downloaded, judged for `cert`.
    fn usable_crl(
        &self,
        url: &str,
        cert: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
        now: SystemTime,
    ) -> Result<Arc<Crl>, String> {
        let judge = |crl: &Crl| {
            crl.judge(cert, issuer, now, &self.config.policy)
                .map_err(|problem| problem.to_string())
        };
        if let Some(crl) = self.cache.get(url, now) {
            judge(&crl)?;
            return Ok(crl);
        }
        self.cache.gated(url, || {
            // Another check may have fetched it while this one waited at the gate.
            if let Some(crl) = self.cache.get(url, now) {
                judge(&crl)?;
                return Ok(crl);
            }
            let der = self
                .http
                .get(url, self.config.max_crl_bytes)
                .map_err(|error| format!("CRL {error}"))?;
            let crl = Crl::parse(der, format!("CRL {url}")).map_err(|p| p.to_string())?;
            judge(&crl)?;
            let crl = Arc::new(crl);
            self.cache.insert(url, crl.clone());
            Ok(crl)
        })
    }
}

fn finding(revoked: Option<RevokedEntry>, source: String) -> Finding {
    Finding { revoked, source }
}

fn crl_finding(crl: &Crl, cert: &X509Certificate<'_>) -> Finding {
    finding(crl.entry(cert.raw_serial()).cloned(), crl.source.clone())
}

impl RevocationCheck for RevocationChecker {
    fn check(&self, path: &[&[u8]], at: SystemTime) -> Result<RevocationStatus, ChainFailure> {
        let parsed = path
            .iter()
            .map(|der| {
                x509_parser::parse_x509_certificate(der)
                    .map(|(_, cert)| cert)
                    .map_err(|e| ChainFailure::new(SubIndication::FormatFailure, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut sources = Vec::new();
        let mut revoked_later: Option<SystemTime> = None;
        // Every certificate but the anchor, each with the next one as its issuer.
        for (index, pair) in parsed.windows(2).enumerate() {
            let [cert, issuer] = pair else { continue };
            let found = self.find_status(cert, issuer).map_err(|reasons| {
                ChainFailure::new(
                    SubIndication::TryLater,
                    format!(
                        "no usable revocation information for {}: {}",
                        cert.subject(),
                        reasons.join("; ")
                    ),
                )
            })?;
            if let Some(entry) = &found.revoked {
                if entry.at <= at {
                    return Err(revoked_failure(cert, index == 0, entry, &found.source));
                }
                revoked_later = Some(revoked_later.map_or(entry.at, |known| known.min(entry.at)));
            }
            sources.push(found.source);
        }
        Ok(match revoked_later {
            Some(revoked_at) => RevocationStatus::RevokedAfterValidationTime {
                revoked_at,
                sources,
            },
            None => RevocationStatus::Good { sources },
        })
    }
}

fn revoked_failure(
    cert: &X509Certificate<'_>,
    is_leaf: bool,
    entry: &RevokedEntry,
    source: &str,
) -> ChainFailure {
    let sub_indication = match is_leaf {
        true => SubIndication::Revoked,
        false => SubIndication::RevokedCaNoPoe,
    };
    let hold = match entry.reason {
        Some(REASON_CERTIFICATE_HOLD) => " (on hold)",
        _ => "",
    };
    ChainFailure::new(
        sub_indication,
        format!(
            "{} was revoked{hold} at {} ({source})",
            cert.subject(),
            crl::rfc3339(entry.at)
        ),
    )
}
