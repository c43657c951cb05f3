//! PDF signatures (PAdES baseline, `adbe.pkcs7.detached` / `ETSI.CAdES.detached`,
//! and document timestamps `ETSI.RFC3161`): structure, byte ranges, incremental
//! updates and DocMDP. The CMS inside each signature is checked by a callback
//! ([`CmsCheck`], [`TimestampCheck`]) so this module knows PDF and nothing of CMS.
//!
//! The file is parsed by a tokenizer of its own over the raw bytes ([`parser`]), because
//! signature checking needs exact byte offsets and every revision separately, and a
//! hostile file must cost bounded time and memory:
//!
//! | bound | value |
//! |---|---|
//! | file size | [`MAX_FILE_SIZE`] (the whole file is held in memory by the caller) |
//! | revisions (`%%EOF`s) | [`document::MAX_REVISIONS`] |
//! | objects parsed | [`document::MAX_PARSED_OBJECTS`]; xref entries [`xref::MAX_OBJECTS`] |
//! | nesting of arrays/dictionaries | [`parser::MAX_DEPTH`] |
//! | a decoded xref/object stream | [`filter::MAX_DECODED_STREAM`] |
//!
//! Rooms: [`parser`] and [`object`] read objects, [`xref`] and [`document`] the
//! revisions, [`structure`] the catalog, form and page trees, [`byte_range`] proves what
//! a signature covers, [`changes`] classifies what later revisions changed, [`verify`]
//! puts it together into reports.

pub mod byte_range;
pub mod changes;
pub mod document;
pub mod filter;
pub mod object;
pub mod parser;
pub mod structure;
mod verify;
pub mod xref;

use super::digest::SignedContent;
use super::report::{SignatureReport, TimestampReport};

pub use verify::verify_pdf;

/// Files larger than this are refused before parsing (a 20-page decision is well
/// under 5 MB; scanned annexes stay under this).
pub const MAX_FILE_SIZE: usize = 128 * 1024 * 1024;

/// Checks a CMS SignedData (`/SubFilter /adbe.pkcs7.detached` or
/// `/ETSI.CAdES.detached`): the DER from `/Contents` (zero padding removed) and the
/// signed content (the two byte ranges, streamed from the file). The returned report's
/// label, covers and (when the CMS has no signingTime) claimed signing time are filled
/// in by [`verify_pdf`]; structure failures are added on top of its verdict.
pub type CmsCheck<'a> = &'a dyn Fn(&[u8], &mut dyn SignedContent) -> SignatureReport;

/// Checks an RFC 3161 timestamp token (`/SubFilter /ETSI.RFC3161`, a document
/// timestamp) whose message imprint must be the digest of the signed content.
/// [`verify_pdf`] turns the result into the field's signature report (the timestamp's
/// verdict is the signature's verdict; its time is the validation time).
pub type TimestampCheck<'a> = &'a dyn Fn(&[u8], &mut dyn SignedContent) -> TimestampReport;

/// Why a file could not be read as a PDF at all.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("syntax error at byte {offset}: {what}")]
    Syntax { offset: usize, what: String },
    #[error("{0}")]
    Malformed(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("not supported: {0}")]
    Unsupported(String),
}

impl PdfError {
    pub fn unsupported(what: &str) -> PdfError {
        PdfError::Unsupported(what.to_string())
    }
}
