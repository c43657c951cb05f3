//! Why a signature could not be verified, each mapped to its EN 319 102-1
//! sub-indication.

use crate::pki::{ChainFailure, SubIndication};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlSigError {
    #[error("the signature has no {0}")]
    Missing(&'static str),
    #[error("canonicalization method {0} is not supported")]
    UnsupportedCanonicalization(String),
    #[error("signature method {0} is not supported")]
    UnsupportedSignatureMethod(String),
    #[error("digest method {0} is not supported")]
    UnsupportedDigest(String),
    #[error(
        "transform {0} is refused: only the enveloped-signature transform and canonicalization are accepted"
    )]
    UnsupportedTransform(String),
    #[error("transforms in an order that is not supported ({0})")]
    TransformOrder(&'static str),
    #[error("too many {0}")]
    TooMany(&'static str),
    #[error("{0} is not valid base64")]
    Base64(&'static str),
    #[error("reference URI {0:?} points outside the document; external content is never fetched")]
    ExternalReference(String),
    #[error("reference URI {0:?} uses XPointer, which is refused")]
    XPointer(String),
    #[error("a reference without a URI attribute is refused (its content is application-defined)")]
    NoUri,
    #[error("reference URI #{0}: no element has this id")]
    IdNotFound(String),
    #[error("reference URI #{id}: {count} elements have this id; which one was signed is ambiguous (signature wrapping)")]
    DuplicateId { id: String, count: usize },
    #[error("KeyInfo carries no X509Certificate: the signer cannot be identified")]
    NoCertificate,
}

impl XmlSigError {
    pub fn sub_indication(&self) -> SubIndication {
        use XmlSigError::*;
        match self {
            UnsupportedSignatureMethod(_) | UnsupportedDigest(_) => {
                SubIndication::CryptoConstraintsFailure
            }
            ExternalReference(_) | IdNotFound(_) => SubIndication::SignedDataNotFound,
            NoCertificate => SubIndication::NoSigningCertificateFound,
            Missing(_)
            | UnsupportedCanonicalization(_)
            | UnsupportedTransform(_)
            | TransformOrder(_)
            | TooMany(_)
            | Base64(_)
            | XPointer(_)
            | NoUri
            | DuplicateId { .. } => SubIndication::FormatFailure,
        }
    }

    pub fn failure(&self) -> ChainFailure {
        ChainFailure::new(self.sub_indication(), self.to_string())
    }
}
