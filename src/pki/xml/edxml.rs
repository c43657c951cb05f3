//! edXML (QCVN 102:2016) messages: where the application reads the header, the body
//! and the attachments, whether a signature covers exactly those nodes, and the
//! attachments themselves (base64, often zipped, often signed PDFs).
//!
//! The layout follows the SDK samples published with the standard:
//!
//! ```text
//! <edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">          (or edXMLEnvelope as root)
//!   <edXML:edXMLEnvelope xmlns:edXML="…QCVN_102_2016">
//!     <edXML:edXMLHeader> MessageHeader, TraceHeaderList, ds:Signature </edXML:edXMLHeader>
//!     <edXML:edXMLBody> edXMLManifest / Reference … </edXML:edXMLBody>
//!   </edXML:edXMLEnvelope>
//!   <AttachmentEncoded> <Attachment> ContentId, AttachmentName, ContentTransferEncoded (base64) </Attachment> </AttachmentEncoded>
//! </edXML>
//! ```
//!
//! Wrapping: a signature that verifies but whose references cover a *moved* copy of
//! the header or body (inside ds:Object, a second envelope, ...) leaves the nodes the
//! application reads unsigned. Coverage is therefore decided on the nodes at their
//! expected places, and more than one candidate at a place is itself refused.
//! The failure is FORMAT_FAILURE (TOTAL_FAILED), not SIG_CONSTRAINTS_FAILURE
//! (INDETERMINATE): an edXML signature that does not sign header, body and attachments
//! does not conform to the format, and no further data could make it acceptable, which
//! is what INDETERMINATE would suggest.

use base64::Engine;
use roxmltree::{Document, Node};
use serde::Serialize;

use super::parse::XmlLimits;
use super::reference::Coverage;
use super::zip::{self, ZipLimits};
use crate::pki::{ChainFailure, DocumentReport, SignatureReport, SubIndication};

pub const EDXML_NAMESPACE: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";

/// The nodes of an edXML message the application reads.
pub struct EdxmlLayout<'a, 'i> {
    pub header: Node<'a, 'i>,
    pub body: Node<'a, 'i>,
    pub attachments: Vec<Node<'a, 'i>>,
}

fn is_edxml(node: Node<'_, '_>, local: &str) -> bool {
    node.is_element()
        && node.tag_name().namespace() == Some(EDXML_NAMESPACE)
        && node.tag_name().name() == local
}

/// Whether the document element says edXML (`edXML` or `edXMLEnvelope` in the QCVN
/// namespace).
pub fn is_edxml_document(document: &Document<'_>) -> bool {
    let root = document.root_element();
    is_edxml(root, "edXML") || is_edxml(root, "edXMLEnvelope")
}

fn only_child<'a, 'i>(parent: Node<'a, 'i>, local: &str) -> Result<Node<'a, 'i>, String> {
    let mut found = parent.children().filter(|node| is_edxml(*node, local));
    match (found.next(), found.next()) {
        (Some(node), None) => Ok(node),
        (None, _) => Err(format!("the edXML message has no {local}")),
        (Some(_), Some(_)) => Err(format!(
            "the edXML message has more than one {local} where one is expected (signature wrapping?)"
        )),
    }
}

pub fn locate<'a, 'i>(document: &'a Document<'i>) -> Result<EdxmlLayout<'a, 'i>, String> {
    let root = document.root_element();
    let envelope = match is_edxml(root, "edXMLEnvelope") {
        true => root,
        false => only_child(root, "edXMLEnvelope")?,
    };
    Ok(EdxmlLayout {
        header: only_child(envelope, "edXMLHeader")?,
        body: only_child(envelope, "edXMLBody")?,
        attachments: root
            .descendants()
            .filter(|node| is_edxml(*node, "Attachment"))
            .collect(),
    })
}

/// Fails `report` unless its verified references cover the header, the body and
/// every attachment, each where the application reads it.
pub fn check_coverage(
    layout: &EdxmlLayout<'_, '_>,
    coverage: &[Coverage],
    report: &mut SignatureReport,
) {
    let covered = |node: Node<'_, '_>| coverage.iter().any(|c| c.covers(node));
    let mut missing = Vec::new();
    if !covered(layout.header) {
        missing.push("edXMLHeader".to_string());
    }
    if !covered(layout.body) {
        missing.push("edXMLBody".to_string());
    }
    for (index, attachment) in layout.attachments.iter().enumerate() {
        if !covered(*attachment) {
            missing.push(format!(
                "attachment {}",
                attachment_name(*attachment, index)
            ));
        }
    }
    if missing.is_empty() {
        report
            .covers
            .push("edXML: the header, the body and every attachment are signed".into());
    } else {
        report.fail(ChainFailure::new(
            SubIndication::FormatFailure,
            format!(
                "edXML: the signature does not cover {} where the message carries it (signed content moved or missing: signature wrapping)",
                missing.join(", ")
            ),
        ));
    }
}

/// One attachment as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentReport {
    pub name: String,
    pub content_type: Option<String>,
    /// Decoded size in bytes.
    pub size: usize,
    /// Entries with their sizes, when the attachment is a zip archive.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<String>,
    /// Reports of the signed files found in it (PDF, CMS), from the caller's verifiers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nested: Vec<DocumentReport>,
    /// Why the attachment could not be read (bad base64, zip bomb, ...).
    pub error: Option<String>,
}

pub type NestedVerifier<'n> = &'n dyn Fn(&str, &[u8]) -> Option<DocumentReport>;

pub fn attachment_name(attachment: Node<'_, '_>, index: usize) -> String {
    child_text(attachment, "AttachmentName")
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("#{}", index + 1))
}

fn child_text<'a>(parent: Node<'a, '_>, local: &str) -> Option<&'a str> {
    parent
        .children()
        .find(|node| node.is_element() && node.tag_name().name() == local)
        .and_then(|node| node.text())
}

/// Decodes, unzips and hands signed files to `nested`, every attachment.
pub fn read_attachments(
    layout: &EdxmlLayout<'_, '_>,
    limits: &XmlLimits,
    nested: NestedVerifier<'_>,
) -> Vec<AttachmentReport> {
    layout
        .attachments
        .iter()
        .take(limits.max_attachments)
        .enumerate()
        .map(|(index, node)| read_attachment(*node, index, limits, nested))
        .collect()
}

fn read_attachment(
    node: Node<'_, '_>,
    index: usize,
    limits: &XmlLimits,
    nested: NestedVerifier<'_>,
) -> AttachmentReport {
    let name = attachment_name(node, index);
    let mut report = AttachmentReport {
        name: name.clone(),
        content_type: child_text(node, "ContentType").map(|text| text.trim().to_string()),
        size: 0,
        entries: Vec::new(),
        nested: Vec::new(),
        error: None,
    };
    let data = match decode_content(node, limits) {
        Ok(data) => data,
        Err(error) => {
            report.error = Some(error);
            return report;
        }
    };
    report.size = data.len();
    if !zip::is_zip(&data) {
        if is_signed_file(&data) {
            report.nested.extend(nested(&name, &data));
        }
        return report;
    }
    let zip_limits = ZipLimits {
        max_entries: limits.max_zip_entries,
        max_total: limits.max_unzipped_bytes,
        max_ratio: limits.max_zip_ratio,
    };
    match zip::read_archive(&data, &zip_limits) {
        Err(error) => report.error = Some(format!("zip archive: {error}")),
        Ok(entries) => {
            for entry in entries {
                report
                    .entries
                    .push(format!("{} ({} bytes)", entry.name, entry.data.len()));
                if is_signed_file(&entry.data) {
                    report
                        .nested
                        .extend(nested(&format!("{name}/{}", entry.name), &entry.data));
                }
            }
        }
    }
    report
}

/// The base64 of `ContentTransferEncoded` (or of the element itself), bounded before
/// decoding.
fn decode_content(node: Node<'_, '_>, limits: &XmlLimits) -> Result<Vec<u8>, String> {
    let holder = node
        .children()
        .find(|child| child.is_element() && child.tag_name().name() == "ContentTransferEncoded")
        .unwrap_or(node);
    let mut compact = String::new();
    for text in holder.children().filter(|child| child.is_text()) {
        let text = text.text().unwrap_or_default();
        if (compact.len() + text.len()) / 4 * 3 > limits.max_attachment_bytes.saturating_add(3) {
            return Err(format!(
                "larger than the {} bytes allowed",
                limits.max_attachment_bytes
            ));
        }
        compact.extend(text.chars().filter(|c| !c.is_ascii_whitespace()));
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| "the content is not valid base64".to_string())
}

/// A PDF, or DER whose first bytes carry the CMS signedData OID.
fn is_signed_file(data: &[u8]) -> bool {
    const SIGNED_DATA_OID: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    if data.starts_with(b"%PDF-") {
        return true;
    }
    let head = &data[..data.len().min(32)];
    data.first() == Some(&0x30)
        && head
            .windows(SIGNED_DATA_OID.len())
            .any(|w| w == SIGNED_DATA_OID)
}

/// What a nested report does to the message's verdict: a nested file whose own
/// signatures fail fails the message (the gateway must not forward a forged decision
/// inside a validly signed envelope); a nested file without signatures is only noted.
pub fn apply_nested(attachments: &[AttachmentReport], document: &mut DocumentReport) {
    for attachment in attachments {
        if let Some(error) = &attachment.error {
            degrade(
                document,
                ChainFailure::new(
                    SubIndication::FormatFailure,
                    format!("attachment {}: {error}", attachment.name),
                ),
            );
        }
        for nested in &attachment.nested {
            if nested.signatures.is_empty() || nested.passed() {
                continue;
            }
            let sub = nested
                .sub_indication
                .unwrap_or(SubIndication::FormatFailure);
            degrade(
                document,
                ChainFailure::new(
                    sub,
                    format!(
                        "attachment {}: {} carries a signature that does not pass ({sub:?})",
                        attachment.name, nested.document
                    ),
                ),
            );
        }
    }
}

fn degrade(document: &mut DocumentReport, failure: ChainFailure) {
    let replaces = match document.sub_indication {
        None => true,
        Some(current) => {
            current.indication() == crate::pki::Indication::Indeterminate
                && failure.indication() == crate::pki::Indication::TotalFailed
        }
    };
    if replaces {
        document.indication = failure.indication();
        document.sub_indication = Some(failure.sub_indication);
    }
    document.errors.push(failure.detail);
}

/// A line for the signature's `covers`: what the attachment is and what its own
/// signatures said.
pub fn summary(attachment: &AttachmentReport) -> String {
    let mut line = format!("attachment {} ({} bytes", attachment.name, attachment.size);
    if !attachment.entries.is_empty() {
        line.push_str(&format!(", zip: {}", attachment.entries.join(", ")));
    }
    line.push(')');
    for nested in &attachment.nested {
        line.push_str(&format!(
            "; {}: {:?} ({} signature(s))",
            nested.document,
            nested.indication,
            nested.signatures.len()
        ));
    }
    line
}
