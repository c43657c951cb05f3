//! One entry point for "verify this file": recognises the format from the bytes (never
//! from a file name or a client's content type, which anyone can set) and hands the
//! file to the CMS, PDF or XML verifier. The CLI, the HTTP API and the gateway guard
//! all come through here, so a file gets the same verdict whichever way it arrives.

use super::digest::SignedContent;
use super::report::{ChainFailure, DocumentFormat, DocumentReport, SignatureReport, SubIndication};
use super::{cms, pdf, xml, VerifyContext};

/// How deep documents nest (a PDF attached to an edXML message is depth 1); deeper
/// attachments are reported, not verified, so a hostile file cannot recurse forever.
pub const MAX_NESTING: usize = 2;

/// The format of `bytes`, by content: `%PDF-` within the first KiB (as readers
/// allow), XML by its first non-blank character, CMS by a DER SEQUENCE or a PEM
/// PKCS7/CMS header.
pub fn sniff(bytes: &[u8]) -> Option<DocumentFormat> {
    let head = &bytes[..bytes.len().min(1024)];
    if find(head, b"%PDF-").is_some() {
        return Some(DocumentFormat::Pdf);
    }
    let text = strip_bom_and_blanks(head);
    if text.starts_with(b"<") {
        return Some(DocumentFormat::Xml);
    }
    if text.starts_with(b"-----BEGIN PKCS7-----") || text.starts_with(b"-----BEGIN CMS-----") {
        return Some(DocumentFormat::Cms);
    }
    // ContentInfo is a SEQUENCE; 0x30 0x80 is its indefinite-length BER form.
    if bytes.first() == Some(&0x30) {
        return Some(DocumentFormat::Cms);
    }
    None
}

/// Verifies one document. `detached` is the signed content when `bytes` is a detached
/// CMS signature.
pub fn verify_document(
    ctx: &VerifyContext,
    bytes: &[u8],
    detached: Option<&mut dyn SignedContent>,
    name: &str,
) -> DocumentReport {
    verify_nested(ctx, bytes, detached, name, 0)
}

fn verify_nested(
    ctx: &VerifyContext,
    bytes: &[u8],
    detached: Option<&mut dyn SignedContent>,
    name: &str,
    depth: usize,
) -> DocumentReport {
    let Some(format) = sniff(bytes) else {
        return DocumentReport::unreadable(
            name,
            None,
            ChainFailure::new(
                SubIndication::FormatFailure,
                "not a signed document govgate knows (PDF, CMS/PKCS#7, XML or edXML)",
            ),
        );
    };
    if detached.is_some() && format != DocumentFormat::Cms {
        return DocumentReport::unreadable(
            name,
            Some(format),
            ChainFailure::new(
                SubIndication::FormatFailure,
                "a detached signature must be CMS/PKCS#7",
            ),
        );
    }
    match format {
        DocumentFormat::Cms => cms::verify_cms(ctx, bytes, detached, name),
        DocumentFormat::Pdf => verify_pdf(ctx, bytes, name),
        DocumentFormat::Xml | DocumentFormat::Edxml => {
            let nested = |attachment: &str, content: &[u8]| {
                (depth < MAX_NESTING)
                    .then(|| verify_nested(ctx, content, None, attachment, depth + 1))
            };
            xml::verify_xml(ctx, bytes, name, &nested)
        }
    }
}

/// A PDF, its signatures' CMS checked by the CMS verifier over the byte ranges.
fn verify_pdf(ctx: &VerifyContext, bytes: &[u8], name: &str) -> DocumentReport {
    let cms_check =
        |der: &[u8], content: &mut dyn SignedContent| one_signer_info(ctx, der, content);
    let timestamp_check = |token: &[u8], content: &mut dyn SignedContent| {
        cms::verify_timestamp_token(ctx, token, content)
    };
    pdf::verify_pdf(ctx, bytes, name, &cms_check, &timestamp_check)
}

/// A PDF signature's CMS must hold exactly one SignerInfo: the field has one signer.
fn one_signer_info(
    ctx: &VerifyContext,
    der: &[u8],
    content: &mut dyn SignedContent,
) -> SignatureReport {
    let mut reports = match cms::verify_signer_infos(ctx, der, content) {
        Ok(reports) => reports,
        Err(failure) => return failed(ctx, failure),
    };
    match (reports.pop(), reports.is_empty()) {
        (Some(report), true) => report,
        (Some(_), false) => failed(
            ctx,
            ChainFailure::new(
                SubIndication::FormatFailure,
                "the signature's CMS has several SignerInfos: a PDF signature field has one signer",
            ),
        ),
        (None, _) => failed(
            ctx,
            ChainFailure::new(
                SubIndication::FormatFailure,
                "the signature's CMS has no SignerInfo",
            ),
        ),
    }
}

fn failed(ctx: &VerifyContext, failure: ChainFailure) -> SignatureReport {
    let mut report = SignatureReport::new("CMS", ctx.validation_time(None));
    report.fail(failure);
    report
}

fn strip_bom_and_blanks(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_by_content() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some(DocumentFormat::Pdf));
        assert_eq!(sniff(b"\n\n%PDF-1.4"), Some(DocumentFormat::Pdf));
        assert_eq!(
            sniff(b"\xEF\xBB\xBF <?xml version=\"1.0\"?><a/>"),
            Some(DocumentFormat::Xml)
        );
        assert_eq!(sniff(&[0x30, 0x82, 0x01, 0x00]), Some(DocumentFormat::Cms));
        assert_eq!(
            sniff(b"-----BEGIN PKCS7-----\nMII..."),
            Some(DocumentFormat::Cms)
        );
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b""), None);
    }
}
