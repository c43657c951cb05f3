//! What one verification run is checked against: the trust store, the crypto policy,
//! the revocation source and the validation time. Built once (by the CLI, the HTTP API
//! or a gateway guard) and handed to every format verifier, so CMS, PDF and XML
//! signatures are judged by the same rules.

use std::sync::Arc;
use std::time::SystemTime;

use super::{ChainRequest, CryptoPolicy, RevocationCheck, TrustStore, Usage};

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
