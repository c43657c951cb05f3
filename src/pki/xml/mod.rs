//! XML signatures (XML-DSig 1.0, enveloped, X.509 key info) and edXML messages
//! (QCVN 102:2016), pure Rust: roxmltree parses (DTDs refused), [`c14n`] canonicalises,
//! aws-lc-rs checks signatures, the PKI core validates the signer's path.
//!
//! Deliberately stricter than `xmlsec1` (which proves only that *some* reference
//! verifies): every reference must verify, an id that two elements carry is refused,
//! only same-document references and the enveloped/c14n transforms are accepted, and
//! for edXML the signature must cover the header, the body and the attachments where
//! the application reads them (see [`edxml`]).
//!
//! Rooms: [`parse`] (bounded parsing), [`c14n`], [`signature`] (reading ds:Signature),
//! [`reference`] (dereferencing, digests, coverage), [`crypto`] (SignatureValue),
//! [`verify`] (one signature), [`edxml`] (layout, coverage, attachments), [`zip`].

pub mod c14n;
pub mod crypto;
pub mod edxml;
pub mod error;
pub mod parse;
pub mod reference;
pub mod signature;
pub mod verify;
pub mod zip;

use serde::Serialize;

pub use edxml::{AttachmentReport, EDXML_NAMESPACE};
pub use error::XmlSigError;
pub use parse::{ParseError, XmlLimits};

use crate::pki::{ChainFailure, DocumentFormat, DocumentReport, SubIndication, VerifyContext};

/// An XML verification with the attachments' details (edXML), which a
/// [`DocumentReport`] has no field for: [`verify_xml`] keeps only one `covers` line per
/// attachment on the signatures that cover it.
#[derive(Debug, Clone, Serialize)]
pub struct XmlReport {
    pub document: DocumentReport,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentReport>,
}

/// Verifies every `ds:Signature` of `input` (format Xml, or Edxml when the document
/// element is an edXML one). `nested` is called with each signed PDF / CMS file found
/// in an edXML attachment (zipped or not) and its report is attached.
pub fn verify_xml(
    ctx: &VerifyContext,
    input: &[u8],
    name: &str,
    nested: &dyn Fn(&str, &[u8]) -> Option<DocumentReport>,
) -> DocumentReport {
    verify_xml_detailed(ctx, &XmlLimits::DEFAULT, input, name, nested).document
}

/// Cheap guard test: does the body start like an edXML message? Looks only at the
/// first few kilobytes for the document element's name and the QCVN namespace.
pub fn looks_like_edxml(input: &[u8]) -> bool {
    let head = &input[..input.len().min(4096)];
    let Some(start) = document_element_start(head) else {
        return false;
    };
    let rest = &head[start..];
    let tag_end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
    let tag = &rest[..tag_end];
    let name_end = tag
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'/')
        .unwrap_or(tag.len());
    let local = match tag[..name_end].iter().position(|&b| b == b':') {
        Some(colon) => &tag[colon + 1..name_end],
        None => &tag[..name_end],
    };
    let namespace = EDXML_NAMESPACE.as_bytes();
    (local == b"edXML" || local == b"edXMLEnvelope")
        && head
            .windows(namespace.len())
            .any(|window| window == namespace)
}

/// The offset just after the `<` of the document element, skipping the XML
/// declaration, comments and processing instructions.
fn document_element_start(head: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let open = at + head.get(at..)?.iter().position(|&b| b == b'<')?;
        let next = *head.get(open + 1)?;
        if next == b'?' || next == b'!' {
            let close = head.get(open..)?.iter().position(|&b| b == b'>')?;
            at = open + close + 1;
            continue;
        }
        return Some(open + 1);
    }
}

/// [`verify_xml`] under explicit limits, with the attachments' reports.
pub fn verify_xml_detailed(
    ctx: &VerifyContext,
    limits: &XmlLimits,
    input: &[u8],
    name: &str,
    nested: &dyn Fn(&str, &[u8]) -> Option<DocumentReport>,
) -> XmlReport {
    let unreadable = |format, detail: String| XmlReport {
        document: DocumentReport::unreadable(
            name,
            Some(format),
            ChainFailure::new(SubIndication::FormatFailure, detail),
        ),
        attachments: Vec::new(),
    };
    let document = match parse::parse(input, limits) {
        Ok(document) => document,
        Err(error) => return unreadable(DocumentFormat::Xml, error.to_string()),
    };
    let layout = match edxml::is_edxml_document(&document) {
        false => None,
        true => match edxml::locate(&document) {
            Ok(layout) => Some(layout),
            Err(error) => return unreadable(DocumentFormat::Edxml, error),
        },
    };
    let format = match layout {
        Some(_) => DocumentFormat::Edxml,
        None => DocumentFormat::Xml,
    };
    let signatures: Vec<_> = document
        .descendants()
        .filter(|node| signature::is_dsig(*node, "Signature"))
        .collect();
    if signatures.len() > limits.max_signatures {
        let detail = format!(
            "the document has {} signatures, more than the {} allowed",
            signatures.len(),
            limits.max_signatures
        );
        return unreadable(format, detail);
    }

    let ids = reference::IdIndex::build(&document);
    let mut verified = Vec::new();
    for (index, element) in signatures.into_iter().enumerate() {
        let label = format!("ds:Signature {}", index + 1);
        let mut signature = verify::verify_signature(ctx, &document, element, &ids, limits, label);
        if let Some(layout) = &layout {
            edxml::check_coverage(layout, &signature.coverage, &mut signature.report);
        }
        verified.push(signature);
    }

    let attachments = match &layout {
        Some(layout) => edxml::read_attachments(layout, limits, nested),
        None => Vec::new(),
    };
    if let Some(layout) = &layout {
        for (attachment, node) in attachments.iter().zip(&layout.attachments) {
            for signature in &mut verified {
                if signature.coverage.iter().any(|c| c.covers(*node)) {
                    signature.report.covers.push(edxml::summary(attachment));
                }
            }
        }
    }
    let reports = verified
        .into_iter()
        .map(|signature| signature.report)
        .collect();
    let mut report = DocumentReport::from_signatures(name, format, reports);
    edxml::apply_nested(&attachments, &mut report);
    XmlReport {
        document: report,
        attachments,
    }
}
