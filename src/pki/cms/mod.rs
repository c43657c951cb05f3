//! CMS / PKCS#7 SignedData verification (RFC 5652) and RFC 3161 timestamps.
//!
//! Three entry points, all judged by one [`VerifyContext`]:
//!
//! ```text
//! pub fn verify_cms(ctx: &VerifyContext, input: &[u8],
//!                   detached: Option<&mut dyn SignedContent>, name: &str) -> DocumentReport
//! pub fn verify_signer_infos(ctx: &VerifyContext, content_info_der: &[u8],
//!                            content: &mut dyn SignedContent)
//!     -> Result<Vec<SignatureReport>, ChainFailure>
//! pub fn verify_timestamp_token(ctx: &VerifyContext, token_der: &[u8],
//!                               imprint: &mut dyn SignedContent) -> TimestampReport
//! ```
//!
//! - [`verify_cms`] takes a `.p7s` / `.p7m` file (DER, or PEM `PKCS7` / `CMS`), attached
//!   (eContent inside) or detached (content supplied); a detached signature without
//!   content, or content supplied for an attached one, is a FORMAT_FAILURE.
//! - [`verify_signer_infos`] is its building block and what the PDF verifier calls with
//!   the DER ContentInfo from `/Contents` (zero padding after it is allowed) and the
//!   byte ranges as `content`, which is hashed once, under every digest algorithm the
//!   SignerInfos name. `Err` means the structure is unreadable; otherwise one report per
//!   SignerInfo, in the order they were sent. Each report's `covers` says "the detached
//!   content": the PDF verifier replaces it with the byte ranges.
//! - [`verify_timestamp_token`] verifies an RFC 3161 TimeStampToken whose
//!   messageImprint must be the digest of `imprint` (a SignerInfo's signature value, or
//!   the byte ranges of a PDF document timestamp, /SubFilter /ETSI.RFC3161).
//!
//! Per SignerInfo ([`signer`]): the signer certificate is found among the embedded
//! certificates by issuerAndSerialNumber or subjectKeyIdentifier, compared byte for
//! byte; with signed attributes, messageDigest must equal the content digest
//! (HASH_FAILURE) **and** the signature must verify over the DER SET OF the signed
//! attributes — both, always, since checking only one accepts forgeries; contentType
//! must match eContentType; an ESS signing-certificate(-v2) must name the signer's
//! certificate (else NO_SIGNING_CERTIFICATE_FOUND: certificate substitution). Without
//! signed attributes the signature is over the content digest. A valid signature
//! timestamp proves the time the chain is validated at.
//!
//! Bounds: inputs above [`MAX_CMS_BYTES`] are refused unread; at most
//! [`MAX_SIGNER_INFOS`] SignerInfos and [`MAX_CERTIFICATES`] certificates, and every SET
//! the `cms` crate would sort is counted first ([`structure`]), since its decoder sorts
//! with O(n²) comparisons. Timestamps are verified one level deep only.

mod attributes;
mod signature;
mod signer;
mod structure;
mod timestamp;
mod tlv;

use super::report::{ChainFailure, DocumentFormat, DocumentReport, SignatureReport, SubIndication};
use super::{SignedContent, Usage, VerifyContext};

pub use timestamp::verify_timestamp_token;

/// The largest CMS input read (attached content included): 64 MiB. Larger attached
/// documents should be signed detached and streamed.
pub const MAX_CMS_BYTES: usize = 64 * 1024 * 1024;
/// More SignerInfos than any real document carries.
pub const MAX_SIGNER_INFOS: usize = 16;
/// Embedded certificates (the signer's, its chain, TSA chains).
pub const MAX_CERTIFICATES: usize = 64;

/// Why a CMS structure could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmsFormatError {
    #[error("truncated DER")]
    Truncated,
    #[error("BER indefinite length: only DER is accepted")]
    IndefiniteLength,
    #[error("malformed DER: {0}")]
    Malformed(&'static str),
    #[error("unexpected DER structure at {0}")]
    Unexpected(&'static str),
    #[error("data after the ContentInfo")]
    TrailingData,
    #[error("not a SignedData ContentInfo")]
    NotSignedData,
    #[error("more than {limit} {what}")]
    TooMany { what: &'static str, limit: usize },
    #[error("larger than {MAX_CMS_BYTES} bytes")]
    TooLarge,
    #[error("PEM: {0}")]
    Pem(String),
    #[error("SignerInfo: {0}")]
    Der(der::Error),
}

impl From<CmsFormatError> for ChainFailure {
    fn from(error: CmsFormatError) -> ChainFailure {
        ChainFailure::new(SubIndication::FormatFailure, format!("CMS: {error}"))
    }
}

/// Verifies a CMS SignedData file; see the module documentation.
pub fn verify_cms(
    ctx: &VerifyContext,
    input: &[u8],
    detached: Option<&mut dyn SignedContent>,
    name: &str,
) -> DocumentReport {
    match verify_file(ctx, input, detached) {
        Ok(signatures) => DocumentReport::from_signatures(name, DocumentFormat::Cms, signatures),
        Err(failure) => DocumentReport::unreadable(name, Some(DocumentFormat::Cms), failure),
    }
}

fn verify_file(
    ctx: &VerifyContext,
    input: &[u8],
    detached: Option<&mut dyn SignedContent>,
) -> Result<Vec<SignatureReport>, ChainFailure> {
    if input.len() > MAX_CMS_BYTES {
        return Err(CmsFormatError::TooLarge.into());
    }
    let der = der_of(input)?;
    let parts = structure::parse_content_info(&der)?;
    let options = signer::SignerOptions::document();
    match (parts.econtent, detached) {
        (Some(_), Some(_)) => Err(ChainFailure::new(
            SubIndication::FormatFailure,
            "content was supplied for an attached signature (it carries its own content)",
        )),
        (None, None) => Err(ChainFailure::new(
            SubIndication::FormatFailure,
            "a detached signature needs its content, and none was supplied",
        )),
        (Some(mut attached), None) => {
            let covers = format!("the attached content, {} bytes", attached.len());
            signer::verify_parts(ctx, &parts, &mut attached, &options.covering(covers))
        }
        (None, Some(content)) => signer::verify_parts(ctx, &parts, content, &options),
    }
}

/// Verifies every SignerInfo of the DER ContentInfo `content_info_der` over `content`
/// (a detached signature, as in a PDF); see the module documentation.
pub fn verify_signer_infos(
    ctx: &VerifyContext,
    content_info_der: &[u8],
    content: &mut dyn SignedContent,
) -> Result<Vec<SignatureReport>, ChainFailure> {
    if content_info_der.len() > MAX_CMS_BYTES {
        return Err(CmsFormatError::TooLarge.into());
    }
    let parts = structure::parse_content_info(content_info_der)?;
    if parts.econtent.is_some() {
        return Err(ChainFailure::new(
            SubIndication::FormatFailure,
            "the SignedData carries its own content where a detached signature was expected",
        ));
    }
    signer::verify_parts(ctx, &parts, content, &signer::SignerOptions::document())
}

/// DER as given, or the contents of a `PKCS7` / `CMS` PEM block.
fn der_of(input: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, CmsFormatError> {
    let start = input
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(input.len());
    if !input[start..].starts_with(b"-----BEGIN") {
        return Ok(std::borrow::Cow::Borrowed(input));
    }
    let block = pem::parse(input).map_err(|error| CmsFormatError::Pem(error.to_string()))?;
    match block.tag() {
        "PKCS7" | "CMS" => Ok(std::borrow::Cow::Owned(block.into_contents())),
        other => Err(CmsFormatError::Pem(format!(
            "a {other} block, not PKCS7 or CMS"
        ))),
    }
}

/// The usage a SignerInfo's certificate is validated for.
fn usage_label(usage: &Usage) -> &'static str {
    match usage {
        Usage::Timestamping => "time-stamping authority",
        _ => "signer",
    }
}
