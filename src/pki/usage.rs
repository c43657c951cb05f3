//! Extended key usage rules per [`Usage`], in the shape rustls-webpki asks for.
//!
//! webpki applies the validator to every certificate of a candidate path (EKU
//! chaining: a CA whose EKU lists purposes restricts its subtree to them), with an
//! empty iterator when the extension is absent. "Absent" is accepted here; where a
//! purpose demands that the end entity *carries* an EKU (timestamping, OCSP), the
//! check is done on the leaf alone in `chain`.

use rustls_pki_types::ServerName;
use webpki::{ExtendedKeyUsageValidator, KeyPurposeIdIter};

use super::Usage;

pub(crate) mod oid {
    pub const SERVER_AUTH: &[usize] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
    pub const CLIENT_AUTH: &[usize] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];
    pub const EMAIL_PROTECTION: &[usize] = &[1, 3, 6, 1, 5, 5, 7, 3, 4];
    pub const TIME_STAMPING: &[usize] = &[1, 3, 6, 1, 5, 5, 7, 3, 8];
    pub const OCSP_SIGNING: &[usize] = &[1, 3, 6, 1, 5, 5, 7, 3, 9];
    /// id-kp-documentSigning, RFC 9336.
    pub const DOCUMENT_SIGNING: &[usize] = &[1, 3, 6, 1, 5, 5, 7, 3, 36];
    /// Microsoft szOID_KP_DOCUMENT_SIGNING.
    pub const MS_DOCUMENT_SIGNING: &[usize] = &[1, 3, 6, 1, 4, 1, 311, 10, 3, 12];
    /// Adobe authenticDocumentsTrust.
    pub const ADOBE_AUTHENTIC_DOCUMENTS: &[usize] = &[1, 2, 840, 113583, 1, 1, 5];
    pub const ANY_EXTENDED_KEY_USAGE: &[usize] = &[2, 5, 29, 37, 0];
}

/// Purposes under which a document signer (or its CA) may act. Vietnamese signer
/// certificates on USB tokens and remote-signing services usually carry clientAuth
/// and emailProtection rather than RFC 9336 documentSigning, so those count too; a
/// certificate restricted to serverAuth, codeSigning or timeStamping does not.
const DOCUMENT_SIGNING_PURPOSES: &[&[usize]] = &[
    oid::DOCUMENT_SIGNING,
    oid::MS_DOCUMENT_SIGNING,
    oid::ADOBE_AUTHENTIC_DOCUMENTS,
    oid::EMAIL_PROTECTION,
    oid::CLIENT_AUTH,
    oid::ANY_EXTENDED_KEY_USAGE,
];

/// The accepted purposes of one usage.
pub(crate) struct EkuRule {
    accepted: &'static [&'static [usize]],
}

impl EkuRule {
    pub(crate) fn for_usage(usage: &Usage) -> EkuRule {
        let accepted: &'static [&'static [usize]] = match usage {
            Usage::DocumentSigning => DOCUMENT_SIGNING_PURPOSES,
            Usage::Timestamping => &[oid::TIME_STAMPING],
            Usage::OcspSigning => &[oid::OCSP_SIGNING],
            // webpki semantics: anyExtendedKeyUsage does not stand in for serverAuth.
            Usage::TlsServer { .. } => &[oid::SERVER_AUTH],
        };
        EkuRule { accepted }
    }

    /// The purpose the end entity must list explicitly, if the usage demands one.
    pub(crate) fn mandatory_leaf_purpose(usage: &Usage) -> Option<&'static [usize]> {
        match usage {
            Usage::Timestamping => Some(oid::TIME_STAMPING),
            Usage::OcspSigning => Some(oid::OCSP_SIGNING),
            // RFC 5280: an absent EKU restricts nothing (the CA/B Forum's "must be
            // present" is Web PKI policy, which limbo's rfc5280 family does not expect).
            Usage::DocumentSigning | Usage::TlsServer { .. } => None,
        }
    }
}

impl ExtendedKeyUsageValidator for EkuRule {
    fn validate(&self, purposes: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut present = false;
        for purpose in purposes {
            let oid = purpose?.to_decoded_oid();
            if self.accepted.contains(&oid.as_slice()) {
                return Ok(());
            }
            present = true;
        }
        match present {
            false => Ok(()),
            // The Context variant wants a webpki KeyUsage, which cannot express a
            // set of accepted purposes; the report carries the detail instead.
            #[allow(deprecated)]
            true => Err(webpki::Error::RequiredEkuNotFound),
        }
    }
}

/// The server name of a TLS usage, parsed; `None` for the other usages.
pub(crate) fn server_name(usage: &Usage) -> Option<Result<ServerName<'static>, String>> {
    match usage {
        Usage::TlsServer { name } => Some(
            ServerName::try_from(name.clone()).map_err(|_| format!("invalid server name {name:?}")),
        ),
        _ => None,
    }
}
