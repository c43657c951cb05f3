//! Putting it together: every signature field of every revision, its byte ranges,
//! its CMS (or timestamp) through the caller's check, DocMDP, and what changed after it.

use std::collections::HashSet;
use std::time::SystemTime;

use super::byte_range::{self, RangeContent, SignedLayout};
use super::changes::{changes_in, Change, ChangeLevel};
use super::document::Document;
use super::object::{lossy, Dict, Object};
use super::structure::form_fields;
use super::{CmsCheck, PdfError, TimestampCheck, MAX_FILE_SIZE};
use crate::pki::report::{
    ChainFailure, DocumentFormat, DocumentReport, Indication, SignatureReport, SubIndication,
};
use crate::pki::VerifyContext;

/// Verifies every signature of the PDF in `bytes` (`name` labels the report): byte
/// ranges, the CMS or timestamp through `cms` / `timestamp`, DocMDP permissions and the
/// changes made by later revisions. Never panics; an unreadable file is one
/// FORMAT_FAILURE report. The whole file is in memory: at most [`MAX_FILE_SIZE`] bytes.
pub fn verify_pdf(
    ctx: &VerifyContext,
    bytes: &[u8],
    name: &str,
    cms: CmsCheck,
    timestamp: TimestampCheck,
) -> DocumentReport {
    let unreadable = |detail: String| {
        DocumentReport::unreadable(
            name,
            Some(DocumentFormat::Pdf),
            ChainFailure::new(SubIndication::FormatFailure, detail),
        )
    };
    if bytes.len() > MAX_FILE_SIZE {
        return unreadable(format!(
            "the file has {} bytes, more than the {MAX_FILE_SIZE} a PDF may have here",
            bytes.len()
        ));
    }
    let doc = match Document::parse(bytes) {
        Ok(doc) => doc,
        Err(error) => return unreadable(format!("not a readable PDF: {error}")),
    };
    if doc.trailer(doc.last()).get(b"Encrypt").is_some() {
        return unreadable("encrypted PDFs are not supported".into());
    }
    let found = match signatures(&doc) {
        Ok(found) => found,
        Err(error) => return unreadable(format!("the form fields cannot be read: {error}")),
    };
    let changes: Vec<Result<Vec<Change>, String>> = (0..doc.revisions.len())
        .map(|rev| changes_in(&doc, rev).map_err(|e| e.to_string()))
        .collect();
    let reports = found
        .iter()
        .map(|signature| {
            let mut report = verify_signature(ctx, &doc, signature, &changes, cms, timestamp);
            report.warnings.extend(doc.warnings.iter().cloned());
            report
        })
        .collect();
    DocumentReport::from_signatures(name, DocumentFormat::Pdf, reports)
}

/// A signature field with a value, as found in some revision.
struct FoundSignature {
    name: String,
    value: Dict,
    /// Not in the field tree of the final revision any more.
    removed: bool,
}

/// The signature fields of the final revision, then those only earlier revisions have
/// (a later revision that drops a signature must not make it disappear from the report).
fn signatures(doc: &Document) -> Result<Vec<FoundSignature>, PdfError> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for rev in (0..doc.revisions.len()).rev() {
        let fields = match form_fields(doc, rev) {
            Ok(fields) => fields,
            Err(error) if rev == doc.last() => return Err(error),
            Err(_) => continue,
        };
        for field in fields.into_iter().filter(|f| f.is_signature) {
            let Some(value) = field.dict.get(b"V") else {
                continue;
            };
            let Some(value) = doc.dict(rev, value)? else {
                continue;
            };
            let key = format!("{:?}", value.get(b"ByteRange"));
            if seen.insert(key) {
                found.push(FoundSignature {
                    name: field.name,
                    value,
                    removed: rev != doc.last(),
                });
            }
        }
    }
    // In signing order: by where each signature's byte ranges end.
    found.sort_by_key(|signature| signed_end(&signature.value));
    Ok(found)
}

fn signed_end(signature: &Dict) -> i64 {
    let range = signature.get(b"ByteRange").and_then(Object::as_array);
    match range {
        Some([_, _, start, len]) => match (start.as_integer(), len.as_integer()) {
            (Some(start), Some(len)) => start.saturating_add(len),
            _ => i64::MAX,
        },
        _ => i64::MAX,
    }
}

fn verify_signature(
    ctx: &VerifyContext,
    doc: &Document,
    signature: &FoundSignature,
    changes: &[Result<Vec<Change>, String>],
    cms: CmsCheck,
    timestamp: TimestampCheck,
) -> SignatureReport {
    let label = format!("PDF field {}", signature.name);
    let layout = match byte_range::check(doc, &signature.value) {
        Ok(layout) => layout,
        Err(sentence) => return format_failure(ctx, label, sentence),
    };
    let der = byte_range::cms_der(&layout.contents);
    if der.iter().all(|b| *b == 0) {
        return format_failure(ctx, label, "the signature value is empty".into());
    }
    let mut content = RangeContent::new(doc.bytes, layout.ranges.clone());
    let sub_filter = signature.value.name(b"SubFilter").unwrap_or_default();
    let mut report = match sub_filter {
        b"adbe.pkcs7.detached" | b"ETSI.CAdES.detached" => cms(der, &mut content),
        b"ETSI.RFC3161" => timestamp_report(&label, timestamp(der, &mut content)),
        other => {
            let sentence = format!(
                "/SubFilter /{} is not supported (adbe.pkcs7.detached, ETSI.CAdES.detached \
                 and ETSI.RFC3161 are)",
                lossy(other)
            );
            return format_failure(ctx, label, sentence);
        }
    };
    report.label = label;
    describe_coverage(&mut report, doc, &layout);
    if report.claimed_signing_time.is_none() {
        report.claimed_signing_time = signature
            .value
            .get(b"M")
            .and_then(Object::as_string)
            .and_then(|m| parse_pdf_date(&m.bytes));
    }
    if signature.removed {
        report.fail(ChainFailure::new(
            SubIndication::FormatFailure,
            "modified after signing: the signature field was removed from the document",
        ));
    }
    let permission = docmdp_permission(doc, &signature.value);
    judge_changes(&mut report, permission, &layout, changes);
    report
}

fn format_failure(ctx: &VerifyContext, label: String, sentence: String) -> SignatureReport {
    let mut report = SignatureReport::new(label, ctx.validation_time(None));
    report.fail(ChainFailure::new(SubIndication::FormatFailure, sentence));
    report
}

/// A document timestamp's verdict is its field's verdict.
fn timestamp_report(
    label: &str,
    timestamp: crate::pki::report::TimestampReport,
) -> SignatureReport {
    let mut report = SignatureReport::new(label, timestamp.time);
    if timestamp.indication != Indication::TotalPassed {
        let sub = timestamp
            .sub_indication
            .unwrap_or(SubIndication::FormatFailure);
        let mut errors = timestamp.errors.clone();
        if errors.is_empty() {
            errors.push("the document timestamp did not validate".into());
        }
        for error in errors {
            report.fail(ChainFailure::new(sub, error));
        }
    }
    report.signer = timestamp.authority.clone();
    report.trust_list = timestamp.trust_list.clone();
    report.timestamp = Some(timestamp);
    report
}

fn describe_coverage(report: &mut SignatureReport, doc: &Document, layout: &SignedLayout) {
    let [first, second] = &layout.ranges;
    report.covers.push(format!(
        "bytes 0–{} and {}–{} of revision {} (the whole revision except the signature value)",
        first.end.saturating_sub(1),
        second.start,
        second.end.saturating_sub(1),
        layout.revision + 1
    ));
    let count = doc.revisions.len();
    if layout.revision + 1 < count {
        report.covers.push(format!(
            "not revisions {}–{count}, added after signing (their changes are listed)",
            layout.revision + 2
        ));
    }
}

/// DocMDP `/P` of a certification signature (§12.8.2.2): 1, 2 or 3; `None` for an
/// approval signature.
fn docmdp_permission(doc: &Document, signature: &Dict) -> Option<i64> {
    let rev = doc.last();
    let references = doc.deref(rev, signature.get(b"Reference")?).ok()?;
    references.as_array()?.iter().find_map(|reference| {
        let reference = doc.dict(rev, reference).ok()??;
        if reference.name(b"TransformMethod") != Some(b"DocMDP") {
            return None;
        }
        let permission = reference
            .get(b"TransformParams")
            .and_then(|params| doc.dict(rev, params).ok()?)
            .and_then(|params| params.integer(b"P"))
            .unwrap_or(2);
        Some(permission.clamp(1, 3))
    })
}

fn judge_changes(
    report: &mut SignatureReport,
    permission: Option<i64>,
    layout: &SignedLayout,
    changes: &[Result<Vec<Change>, String>],
) {
    let (allowed, rule) = match permission {
        Some(1) => (ChangeLevel::ValidationData, "the certification (DocMDP P=1) allows no changes"),
        Some(2) => (ChangeLevel::FormFill, "the certification (DocMDP P=2) allows form filling and signatures"),
        Some(_) => (ChangeLevel::Annotation, "the certification (DocMDP P=3) allows form filling, annotations and signatures"),
        None => (ChangeLevel::Signature, "after an approval signature only further signatures, timestamps and validation data may be added"),
    };
    if let Some(p) = permission {
        report
            .covers
            .push(format!("certification signature, DocMDP P={p}"));
    }
    for (rev, result) in changes.iter().enumerate().skip(layout.revision + 1) {
        let list = match result {
            Ok(list) => list,
            Err(error) => {
                report.fail(ChainFailure::new(
                    SubIndication::FormatFailure,
                    format!(
                        "revision {} cannot be compared with the signed one: {error}",
                        rev + 1
                    ),
                ));
                continue;
            }
        };
        for change in list {
            let sentence = format!(
                "revision {} (after signing): {}",
                change.revision + 1,
                change.what
            );
            if change.level <= allowed {
                report.warnings.push(sentence);
            } else {
                report.fail(ChainFailure::new(
                    SubIndication::FormatFailure,
                    format!("modified after signing: {sentence}; {rule}"),
                ));
            }
        }
    }
}

/// A PDF date (§7.9.4): `D:YYYYMMDDHHmmSSOHH'mm'`, every part after the year optional.
pub fn parse_pdf_date(text: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(text).ok()?;
    let text = text.strip_prefix("D:").unwrap_or(text);
    let digits = |from: usize, len: usize, default: u32| -> Option<u32> {
        if from >= text.len() {
            return Some(default);
        }
        match text.get(from..from + len) {
            Some(part) if part.bytes().all(|b| b.is_ascii_digit()) => part.parse().ok(),
            _ => None,
        }
    };
    let year = i32::try_from(digits(0, 4, 0)?).ok()?;
    let month = time::Month::try_from(u8::try_from(digits(4, 2, 1)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(year, month, u8::try_from(digits(6, 2, 1)?).ok()?).ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(digits(8, 2, 0)?).ok()?,
        u8::try_from(digits(10, 2, 0)?).ok()?,
        u8::try_from(digits(12, 2, 0)?).ok()?,
    )
    .ok()?;
    let offset = match text.get(14..15) {
        Some(sign @ ("+" | "-")) => {
            let hours = i8::try_from(digits(15, 2, 0)?).ok()?;
            let minutes = i8::try_from(
                text.get(18..20)
                    .and_then(|m| m.parse::<u8>().ok())
                    .unwrap_or(0),
            )
            .ok()?;
            let factor = if sign == "-" { -1 } else { 1 };
            time::UtcOffset::from_hms(factor * hours, factor * minutes, 0).ok()?
        }
        _ => time::UtcOffset::UTC,
    };
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_offset(offset)
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates_with_and_without_an_offset() {
        let utc = parse_pdf_date(b"D:20261202205000Z").unwrap();
        let hanoi = parse_pdf_date(b"D:20261203035000+07'00'").unwrap();
        assert_eq!(utc, hanoi);
        assert!(parse_pdf_date(b"D:2026x").is_none());
        assert!(parse_pdf_date(b"D:20261399").is_none());
    }
}
