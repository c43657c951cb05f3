//! PKI core: trust store, certificate path validation and the EN 319 102-1 report
//! vocabulary shared by the format verifiers (CMS, PDF, XML).
//!
//! The format verifiers call one thing: [`TrustStore::validate`] with a
//! [`ChainRequest`]. Everything a certificate carries comes from an attacker until
//! proven otherwise, so nothing here panics on input and path building is bounded
//! (see [`chain`]).
//!
//! Rooms: [`trust`] loads and holds anchors and intermediates, [`bundle`] decodes
//! PEM / DER / PKCS#7 files, [`chain`] builds and checks paths, [`crypto_policy`]
//! decides which algorithms and key sizes are acceptable, [`certificate`] reads the
//! fields a report shows, [`report`] is the EN 319 102-1 vocabulary and the reports,
//! [`digest`] hashes signed content (streaming), [`context`] is what one verification run
//! is checked against, [`revocation`] checks CRLs and OCSP behind [`RevocationCheck`],
//! [`dev`] makes a test PKI shaped like the Vietnamese one.

pub mod algorithms;
pub mod bundle;
pub mod certificate;
pub mod chain;
pub mod cms;
mod constraints;
pub mod context;
pub mod crypto_policy;
pub mod dev;
pub mod digest;
pub mod document;
pub mod pdf;
mod profile;
pub mod report;
pub mod revocation;
pub mod text;
pub mod trust;
mod usage;
pub mod xml;

use std::time::SystemTime;

pub use certificate::CertificateInfo;
pub use context::VerifyContext;
pub use crypto_policy::CryptoPolicy;
pub use digest::{DigestAlgorithm, SignedContent, StreamedContent};
pub use report::{
    ChainFailure, DocumentFormat, DocumentReport, Indication, RevocationStatus, SignatureReport,
    SubIndication,
};
pub use trust::{LoadWarning, PkiError, TrustStore};

/// What the validated certificate is going to be trusted for. Decides the key usage
/// and extended key usage the end-entity certificate must allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    /// A signer of a document (CMS, PDF, XML): keyUsage digitalSignature or
    /// nonRepudiation; an EKU, where present, must allow document signing.
    DocumentSigning,
    /// An RFC 3161 time-stamping authority: EKU timeStamping present and alone.
    Timestamping,
    /// An OCSP responder delegated by the CA (RFC 6960 §4.2.2.2): EKU OCSPSigning.
    OcspSigning,
    /// A TLS server certificate for `name` (a DNS name or an IP address). Used by the
    /// x509-limbo conformance harness only: govgate's TLS is rustls's business.
    TlsServer { name: String },
}

/// One request to validate a certificate path.
pub struct ChainRequest<'a> {
    /// The end-entity certificate, DER.
    pub leaf: &'a [u8],
    /// Candidate intermediates, DER, as the document carried them (in any order, with
    /// possible junk: unrelated certificates are ignored).
    pub intermediates: &'a [Vec<u8>],
    /// The validation time (a trusted timestamp's time, or now).
    pub at: SystemTime,
    pub usage: Usage,
    pub policy: &'a CryptoPolicy,
    /// Revocation checking of the built path ([`revocation::RevocationChecker`]).
    /// `None`: no revocation status is established, and a report must say so.
    pub revocation: Option<&'a dyn RevocationCheck>,
}

impl<'a> ChainRequest<'a> {
    /// A request without revocation checking.
    pub fn new(
        leaf: &'a [u8],
        intermediates: &'a [Vec<u8>],
        at: SystemTime,
        usage: Usage,
        policy: &'a CryptoPolicy,
    ) -> ChainRequest<'a> {
        ChainRequest {
            leaf,
            intermediates,
            at,
            usage,
            policy,
            revocation: None,
        }
    }
}

/// The extension point for revocation (CRL, OCSP): called once a path has passed every
/// other check, with the path's DER certificates leaf first, anchor last, and the
/// validation time. `Ok` says what was established and from where (a certificate
/// revoked only *after* `at` is not revoked at `at`); an `Err` rejects the path
/// (REVOKED, REVOKED_NO_POE, TRY_LATER, ...).
pub trait RevocationCheck: Send + Sync {
    fn check(&self, path: &[&[u8]], at: SystemTime) -> Result<RevocationStatus, ChainFailure>;
}

/// A path that passed validation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidChain {
    /// Leaf first, trust anchor last.
    pub certificates: Vec<CertificateInfo>,
    /// The name of the trust list whose anchor ended the path (`public`, `government`, ...).
    pub trust_list: String,
    /// What revocation checking established for the path.
    pub revocation: RevocationStatus,
}
