//! Cross-reference sections (ISO 32000-1 §7.5.4, §7.5.8): classic `xref` tables,
//! cross-reference streams (`/W`, `/Index`, FlateDecode) and hybrid files (a table
//! whose trailer points at a stream with `/XRefStm`).

use std::collections::HashMap;

use super::filter;
use super::object::{Dict, Object};
use super::parser::Parser;
use super::PdfError;

/// No PDF a government office signs has more objects than this; `/Size` or entries
/// beyond it are refused (each entry costs memory).
pub const MAX_OBJECTS: u64 = 2_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XrefEntry {
    Free,
    InFile { offset: usize, gen: u16 },
    Compressed { stream: u32, index: u32 },
}

/// One section as found at one offset.
#[derive(Debug)]
pub struct XrefSection {
    pub offset: usize,
    pub entries: HashMap<u32, XrefEntry>,
    pub trailer: Dict,
}

impl XrefSection {
    pub fn prev(&self) -> Option<usize> {
        self.trailer
            .integer(b"Prev")
            .and_then(|prev| usize::try_from(prev).ok())
    }

    /// The hybrid file's stream section, read together with this table.
    pub fn xref_stream(&self) -> Option<usize> {
        self.trailer
            .integer(b"XRefStm")
            .and_then(|offset| usize::try_from(offset).ok())
    }
}

/// Reads the section at `offset`: a table (`xref`) or a stream (`n g obj << /Type /XRef`).
pub fn read_section(bytes: &[u8], offset: usize) -> Result<XrefSection, PdfError> {
    if offset >= bytes.len() {
        return Err(PdfError::Malformed(format!(
            "startxref/Prev offset {offset} lies beyond the end of the file"
        )));
    }
    let mut parser = Parser::new(bytes, offset, false);
    if parser.eat_keyword(b"xref") {
        read_table(&mut parser, offset)
    } else {
        read_stream(bytes, offset)
    }
}

fn read_table(parser: &mut Parser, offset: usize) -> Result<XrefSection, PdfError> {
    let mut entries = HashMap::new();
    while !parser.eat_keyword(b"trailer") {
        let first = parser.unsigned()?;
        let count = parser.unsigned()?;
        let end = first
            .checked_add(count)
            .filter(|end| *end <= MAX_OBJECTS)
            .ok_or_else(|| PdfError::TooLarge("an xref subsection is too large".into()))?;
        for num in first..end {
            let field_offset = parser.unsigned()?;
            let gen = parser.unsigned()?;
            let entry = if parser.eat_keyword(b"n") {
                XrefEntry::InFile {
                    offset: usize::try_from(field_offset).unwrap_or(usize::MAX),
                    gen: u16::try_from(gen).unwrap_or(u16::MAX),
                }
            } else if parser.eat_keyword(b"f") {
                XrefEntry::Free
            } else {
                return Err(PdfError::Malformed(format!(
                    "xref table entry for object {num} is neither `n` nor `f`"
                )));
            };
            entries.entry(num as u32).or_insert(entry);
        }
    }
    let trailer = match parser.object()? {
        Object::Dictionary(dict) => dict,
        _ => {
            return Err(PdfError::Malformed(
                "the trailer is not a dictionary".into(),
            ))
        }
    };
    Ok(XrefSection {
        offset,
        entries,
        trailer,
    })
}

fn read_stream(bytes: &[u8], offset: usize) -> Result<XrefSection, PdfError> {
    let mut parser = Parser::new(bytes, offset, false);
    parser.object_header()?;
    let value = parser.object()?;
    // An xref stream's /Length must be direct: nothing can be resolved before the xref.
    let object = parser.stream_after(value, &|length| {
        length.as_integer().and_then(|l| usize::try_from(l).ok())
    })?;
    let Object::Stream(stream) = object else {
        return Err(PdfError::Malformed(format!(
            "no xref table or xref stream at offset {offset}"
        )));
    };
    if stream.dict.name(b"Type") != Some(b"XRef") {
        return Err(PdfError::Malformed(format!(
            "the object at offset {offset} is not an xref stream"
        )));
    }
    let data = filter::decode(&stream)?;
    let entries = stream_entries(&stream.dict, &data)?;
    Ok(XrefSection {
        offset,
        entries,
        trailer: stream.dict,
    })
}

fn stream_entries(dict: &Dict, data: &[u8]) -> Result<HashMap<u32, XrefEntry>, PdfError> {
    let widths: Vec<usize> = dict
        .get(b"W")
        .and_then(Object::as_array)
        .map(|w| {
            w.iter()
                .filter_map(|v| v.as_integer().and_then(|v| usize::try_from(v).ok()))
                .collect()
        })
        .unwrap_or_default();
    if widths.len() != 3 || widths.iter().any(|w| *w > 8) || widths[1] == 0 {
        return Err(PdfError::Malformed("an xref stream's /W is invalid".into()));
    }
    let row = widths.iter().sum::<usize>();
    let size = dict.integer(b"Size").unwrap_or(0);
    let index: Vec<u64> = match dict.get(b"Index").and_then(Object::as_array) {
        Some(items) => items
            .iter()
            .map(|v| v.as_integer().and_then(|v| u64::try_from(v).ok()))
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| PdfError::Malformed("an xref stream's /Index is invalid".into()))?,
        None => vec![0, u64::try_from(size).unwrap_or(0)],
    };
    if !index.len().is_multiple_of(2) {
        return Err(PdfError::Malformed("an xref stream's /Index is odd".into()));
    }
    let mut rows = data.chunks_exact(row);
    let mut entries = HashMap::new();
    for pair in index.chunks(2) {
        let end = pair[0]
            .checked_add(pair[1])
            .filter(|end| *end <= MAX_OBJECTS)
            .ok_or_else(|| PdfError::TooLarge("an xref stream is too large".into()))?;
        for num in pair[0]..end {
            let Some(fields) = rows.next() else {
                return Err(PdfError::Malformed("an xref stream ends early".into()));
            };
            let (kind_bytes, rest) = fields.split_at(widths[0]);
            let (second, third) = rest.split_at(widths[1]);
            let kind = if widths[0] == 0 { 1 } else { be(kind_bytes) };
            let entry = match kind {
                0 => XrefEntry::Free,
                1 => XrefEntry::InFile {
                    offset: usize::try_from(be(second)).unwrap_or(usize::MAX),
                    gen: u16::try_from(be(third)).unwrap_or(u16::MAX),
                },
                2 => XrefEntry::Compressed {
                    stream: u32::try_from(be(second)).unwrap_or(u32::MAX),
                    index: u32::try_from(be(third)).unwrap_or(u32::MAX),
                },
                // Unknown types are to be read as null objects (§7.5.8.3).
                _ => XrefEntry::Free,
            };
            entries.entry(num as u32).or_insert(entry);
        }
    }
    Ok(entries)
}

fn be(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte))
}
