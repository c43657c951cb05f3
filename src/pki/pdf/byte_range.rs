//! `/ByteRange` checking (ISO 32000-1 §12.8.1, ETSI EN 319 142-1 §5.3): a signature
//! covers its whole revision except exactly its own `/Contents` string, and the bytes
//! it covers are streamed to the CMS check from the file itself, never copied.

use std::io;
use std::ops::Range;

use super::document::Document;
use super::object::{Dict, Object};
use crate::pki::digest::{DigestAlgorithm, SignedContent};

/// Where a signature sits in the file, once its byte ranges are proven sound.
#[derive(Debug, Clone)]
pub struct SignedLayout {
    /// `[0, a)` and `[b, b + c)`.
    pub ranges: [Range<usize>; 2],
    /// The revision (0-based) the ranges cover.
    pub revision: usize,
    /// The `/Contents` string, decoded (the CMS DER with its zero padding).
    pub contents: Vec<u8>,
}

/// Checks `/ByteRange` against `/Contents` and the revision ends; the error is the
/// sentence for the report (FORMAT_FAILURE).
pub fn check(doc: &Document, signature: &Dict) -> Result<SignedLayout, String> {
    let values = byte_range_values(signature)?;
    let [start, first_len, second_start, second_len] = values;
    if start != 0 {
        return Err(format!(
            "the /ByteRange starts at byte {start}, not at the beginning of the file"
        ));
    }
    let end = second_start
        .checked_add(second_len)
        .ok_or("the /ByteRange overflows")?;
    let size = doc.bytes.len();
    if end > size || first_len > size {
        return Err(format!(
            "the /ByteRange reaches byte {end}, beyond the end of the file ({size} bytes)"
        ));
    }
    if second_start < first_len {
        return Err(format!(
            "the two byte ranges overlap: the second starts at byte {second_start}, \
             before the first ends at byte {first_len}"
        ));
    }
    let contents = signature
        .get(b"Contents")
        .and_then(Object::as_string)
        .ok_or("the signature dictionary has no /Contents string")?;
    let span = contents
        .span
        .clone()
        .ok_or("the signature dictionary is inside a compressed object stream")?;
    if !contents.hex {
        return Err("/Contents is a literal string, not a hex string".into());
    }
    let hole = first_len..second_start;
    if hole != span {
        return Err(hole_mismatch(&hole, &span));
    }
    let revision = revision_ending_at(doc, end).ok_or_else(|| {
        let ends: Vec<String> = doc.revisions.iter().map(|r| r.end.to_string()).collect();
        format!(
            "the /ByteRange ends at byte {end}, which is not the end of a revision \
             (revisions end at bytes {}): it does not cover its whole revision",
            ends.join(", ")
        )
    })?;
    if span.start < doc.revision_start(revision) {
        return Err(format!(
            "the signature value lies in an earlier revision than the one its /ByteRange ends (revision {})",
            revision + 1
        ));
    }
    Ok(SignedLayout {
        ranges: [0..first_len, second_start..end],
        revision,
        contents: contents.bytes.clone(),
    })
}

fn byte_range_values(signature: &Dict) -> Result<[usize; 4], String> {
    let items = signature
        .get(b"ByteRange")
        .and_then(Object::as_array)
        .ok_or("the signature dictionary has no /ByteRange array")?;
    let values: Vec<usize> = items
        .iter()
        .filter_map(|item| item.as_integer().and_then(|v| usize::try_from(v).ok()))
        .collect();
    match <[usize; 4]>::try_from(values) {
        Ok(values) if items.len() == 4 => Ok(values),
        _ => Err(format!(
            "the /ByteRange has {} entries, not four non-negative integers [0 a b c]",
            items.len()
        )),
    }
}

fn hole_mismatch(hole: &Range<usize>, span: &Range<usize>) -> String {
    let uncovered =
        |from: usize, to: usize| format!("bytes {from}–{} are covered by no range", to - 1);
    if hole.start <= span.start && hole.end >= span.end {
        let mut gaps = Vec::new();
        if hole.start < span.start {
            gaps.push(uncovered(hole.start, span.start));
        }
        if hole.end > span.end {
            gaps.push(uncovered(span.end, hole.end));
        }
        format!(
            "the byte ranges leave a gap beside the signature value: {}",
            gaps.join(" and ")
        )
    } else if hole.end <= span.start || hole.start >= span.end {
        format!(
            "/Contents (bytes {}–{}) is not where the byte ranges leave their hole (bytes {}–{})",
            span.start,
            span.end.saturating_sub(1),
            hole.start,
            hole.end.saturating_sub(1)
        )
    } else {
        format!(
            "the byte ranges overlap the signature value: they leave bytes {}–{} out, \
             but /Contents is bytes {}–{}",
            hole.start,
            hole.end.saturating_sub(1),
            span.start,
            span.end.saturating_sub(1)
        )
    }
}

/// The revision whose `%%EOF` ends at `end`, allowing the end-of-line after it.
fn revision_ending_at(doc: &Document, end: usize) -> Option<usize> {
    doc.revisions.iter().position(|revision| {
        let tail = doc.bytes.get(revision.end..end);
        end >= revision.end && matches!(tail, Some(b"" | b"\n" | b"\r" | b"\r\n"))
    })
}

/// The CMS DER inside `/Contents`: the signer pads the reserved space with zeros, so
/// the value is cut to the length its outer DER header states.
pub fn cms_der(contents: &[u8]) -> &[u8] {
    der_length(contents)
        .and_then(|len| contents.get(..len))
        .unwrap_or(contents)
}

fn der_length(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return None;
    }
    let len = bytes
        .get(2..2 + count)?
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    len.checked_add(2 + count)
}

/// The two byte ranges of a signature, read straight from the file.
pub struct RangeContent<'a> {
    bytes: &'a [u8],
    ranges: [Range<usize>; 2],
}

impl<'a> RangeContent<'a> {
    pub fn new(bytes: &'a [u8], ranges: [Range<usize>; 2]) -> RangeContent<'a> {
        RangeContent { bytes, ranges }
    }
}

impl SignedContent for RangeContent<'_> {
    fn digests(&mut self, algorithms: &[DigestAlgorithm]) -> io::Result<Vec<Vec<u8>>> {
        let mut digesters: Vec<_> = algorithms.iter().map(|a| a.start()).collect();
        for range in &self.ranges {
            let part = self.bytes.get(range.clone()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "byte range beyond the file")
            })?;
            for digester in &mut digesters {
                digester.update(part);
            }
        }
        Ok(digesters.into_iter().map(|d| d.finish()).collect())
    }
}
