//! A PDF file as a sequence of revisions (ISO 32000-1 §7.5.6, incremental updates).
//!
//! Each revision ends with `%%EOF`; its objects are found by following the
//! cross-reference chain (`startxref`, `/Prev`, `/XRefStm`) from that revision's
//! `startxref`. Objects are parsed on demand and cached by location, so a revision
//! that rewrites nothing costs nothing.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::filter;
use super::object::{Dict, ObjRef, Object};
use super::parser::{find, Parser};
use super::xref::{read_section, XrefEntry, XrefSection};
use super::PdfError;

/// More incremental updates than this is not a signed document but an attack on the
/// verifier's time.
pub const MAX_REVISIONS: usize = 256;
/// Objects parsed in one verification, all revisions together.
pub const MAX_PARSED_OBJECTS: usize = 500_000;
/// Objects one object stream may hold.
const MAX_OBJECTS_PER_STREAM: u64 = 100_000;

/// One revision: the bytes up to and including its `%%EOF`.
#[derive(Debug)]
pub struct Revision {
    /// The offset just past `%%EOF`.
    pub end: usize,
    /// The sections of this revision's chain, newest first (indices into `sections`).
    chain: Vec<usize>,
}

pub struct Document<'a> {
    pub bytes: &'a [u8],
    pub revisions: Vec<Revision>,
    sections: Vec<XrefSection>,
    /// Parsed objects by where they came from.
    cache: RefCell<HashMap<XrefEntry, Rc<Object>>>,
    /// Decoded object streams: (their location, the (num, offset) table, the data).
    object_streams: RefCell<HashMap<XrefEntry, Rc<ObjectStream>>>,
    parsed: RefCell<usize>,
    pub warnings: Vec<String>,
}

struct ObjectStream {
    offsets: Vec<(u32, usize)>,
    data: Vec<u8>,
}

impl<'a> Document<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Document<'a>, PdfError> {
        if find(bytes.get(..1024).unwrap_or(bytes), b"%PDF-").is_none() {
            return Err(PdfError::Malformed(
                "no %PDF- header in the first 1024 bytes: not a PDF".into(),
            ));
        }
        let mut document = Document {
            bytes,
            revisions: Vec::new(),
            sections: Vec::new(),
            cache: RefCell::default(),
            object_streams: RefCell::default(),
            parsed: RefCell::new(0),
            warnings: Vec::new(),
        };
        let mut by_offset: HashMap<usize, usize> = HashMap::new();
        for (end, startxref) in eof_markers(bytes) {
            match document.chain_from(startxref, &mut by_offset) {
                Ok(chain) => document.revisions.push(Revision { end, chain }),
                Err(error) if end + 16 < bytes.len() => document.warnings.push(format!(
                    "the %%EOF at byte {end} ends no readable revision: {error}"
                )),
                Err(error) => return Err(error),
            }
            if document.revisions.len() > MAX_REVISIONS {
                return Err(PdfError::TooLarge(format!(
                    "more than {MAX_REVISIONS} revisions"
                )));
            }
        }
        if document.revisions.is_empty() {
            return Err(PdfError::Malformed(
                "no `startxref … %%EOF` ends a revision: the file is not a complete PDF".into(),
            ));
        }
        Ok(document)
    }

    /// The sections from `startxref` back along `/Prev` (with hybrid `/XRefStm`s).
    fn chain_from(
        &mut self,
        startxref: usize,
        by_offset: &mut HashMap<usize, usize>,
    ) -> Result<Vec<usize>, PdfError> {
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(startxref);
        while let Some(offset) = next {
            if !seen.insert(offset) || chain.len() > 2 * MAX_REVISIONS {
                return Err(PdfError::Malformed("the /Prev chain loops".into()));
            }
            let index = self.section_at(offset, by_offset)?;
            chain.push(index);
            if let Some(stream_offset) = self.sections[index].xref_stream() {
                if seen.insert(stream_offset) {
                    chain.push(self.section_at(stream_offset, by_offset)?);
                }
            }
            next = self.sections[index].prev();
        }
        Ok(chain)
    }

    fn section_at(
        &mut self,
        offset: usize,
        by_offset: &mut HashMap<usize, usize>,
    ) -> Result<usize, PdfError> {
        if let Some(index) = by_offset.get(&offset) {
            return Ok(*index);
        }
        let section = read_section(self.bytes, offset)?;
        self.sections.push(section);
        by_offset.insert(offset, self.sections.len() - 1);
        Ok(self.sections.len() - 1)
    }

    pub fn last(&self) -> usize {
        self.revisions.len() - 1
    }

    /// The trailer of revision `rev` (its newest section's dictionary).
    pub fn trailer(&self, rev: usize) -> &Dict {
        let index = self.revisions[rev].chain[0];
        &self.sections[index].trailer
    }

    /// `/Size` of revision `rev`: object numbers at or above it did not exist yet.
    pub fn size(&self, rev: usize) -> u32 {
        self.revisions[rev]
            .chain
            .iter()
            .filter_map(|index| self.sections[*index].trailer.integer(b"Size"))
            .next()
            .and_then(|size| u32::try_from(size).ok())
            .unwrap_or(0)
    }

    pub fn entry(&self, rev: usize, num: u32) -> Option<XrefEntry> {
        self.revisions[rev]
            .chain
            .iter()
            .find_map(|index| self.sections[*index].entries.get(&num).copied())
    }

    /// The object numbers revision `rev` writes that revision `rev - 1` does not have
    /// at the same place (new objects and rewritten ones).
    pub fn written_in(&self, rev: usize) -> Vec<u32> {
        let Some(previous) = rev.checked_sub(1) else {
            return Vec::new();
        };
        let old: HashSet<usize> = self.revisions[previous].chain.iter().copied().collect();
        let mut nums: Vec<u32> = self.revisions[rev]
            .chain
            .iter()
            .filter(|index| !old.contains(index))
            .flat_map(|index| self.sections[*index].entries.keys().copied())
            .collect();
        nums.sort_unstable();
        nums.dedup();
        nums.retain(|num| self.entry(rev, *num) != self.entry(previous, *num));
        nums
    }

    /// Resolves `reference` in revision `rev`; a missing or free object is null (§7.3.10).
    pub fn resolve(&self, rev: usize, reference: ObjRef) -> Result<Rc<Object>, PdfError> {
        match self.entry(rev, reference.num) {
            None | Some(XrefEntry::Free) => Ok(Rc::new(Object::Null)),
            Some(entry) => self.load(rev, reference.num, entry),
        }
    }

    /// `object` itself, or what it refers to.
    pub fn deref(&self, rev: usize, object: &Object) -> Result<Rc<Object>, PdfError> {
        match object {
            Object::Reference(reference) => self.resolve(rev, *reference),
            other => Ok(Rc::new(other.clone())),
        }
    }

    /// The dictionary `object` is or refers to (`None` for anything else).
    pub fn dict(&self, rev: usize, object: &Object) -> Result<Option<Dict>, PdfError> {
        Ok(self.deref(rev, object)?.as_dict().cloned())
    }

    fn load(&self, rev: usize, num: u32, entry: XrefEntry) -> Result<Rc<Object>, PdfError> {
        if let Some(object) = self.cache.borrow().get(&entry) {
            return Ok(object.clone());
        }
        {
            let mut parsed = self.parsed.borrow_mut();
            *parsed += 1;
            if *parsed > MAX_PARSED_OBJECTS {
                return Err(PdfError::TooLarge(format!(
                    "more than {MAX_PARSED_OBJECTS} objects to parse"
                )));
            }
        }
        let object = match entry {
            XrefEntry::Free => Object::Null,
            XrefEntry::InFile { offset, .. } => self.parse_in_file(rev, num, offset)?,
            XrefEntry::Compressed { stream, index } => self.parse_compressed(rev, stream, index)?,
        };
        let object = Rc::new(object);
        self.cache.borrow_mut().insert(entry, object.clone());
        Ok(object)
    }

    fn parse_in_file(&self, rev: usize, num: u32, offset: usize) -> Result<Object, PdfError> {
        if offset >= self.bytes.len() {
            return Err(PdfError::Malformed(format!(
                "object {num} is said to be at byte {offset}, beyond the end of the file"
            )));
        }
        let mut parser = Parser::new(self.bytes, offset, true);
        let header = parser.object_header()?;
        if header.num != num {
            return Err(PdfError::Malformed(format!(
                "the xref says object {num} is at byte {offset}, but object {} is there",
                header.num
            )));
        }
        let value = parser.object()?;
        parser.stream_after(value, &|length| self.stream_length(rev, length))
    }

    /// A stream's `/Length`, direct or indirect (an indirect one is read without
    /// streams, so length lookups cannot recurse).
    fn stream_length(&self, rev: usize, length: &Object) -> Option<usize> {
        let value = match length {
            Object::Integer(value) => *value,
            Object::Reference(reference) => match self.entry(rev, reference.num)? {
                XrefEntry::InFile { offset, .. } => {
                    let mut parser = Parser::new(self.bytes, offset, false);
                    parser.object_header().ok()?;
                    parser.object().ok()?.as_integer()?
                }
                _ => return None,
            },
            _ => return None,
        };
        usize::try_from(value).ok()
    }

    fn parse_compressed(&self, rev: usize, stream: u32, index: u32) -> Result<Object, PdfError> {
        let location = match self.entry(rev, stream) {
            Some(location @ XrefEntry::InFile { .. }) => location,
            _ => {
                return Err(PdfError::Malformed(format!(
                    "object stream {stream} is not an object in the file"
                )))
            }
        };
        let container = self.object_stream(rev, stream, location)?;
        let (_, offset) = container
            .offsets
            .get(index as usize)
            .copied()
            .ok_or_else(|| {
                PdfError::Malformed(format!("object stream {stream} has no entry {index}"))
            })?;
        let mut parser = Parser::new(&container.data, offset, false);
        parser.object()
    }

    fn object_stream(
        &self,
        rev: usize,
        num: u32,
        location: XrefEntry,
    ) -> Result<Rc<ObjectStream>, PdfError> {
        if let Some(found) = self.object_streams.borrow().get(&location) {
            return Ok(found.clone());
        }
        let XrefEntry::InFile { offset, .. } = location else {
            return Err(PdfError::Malformed("nested object streams".into()));
        };
        let Object::Stream(stream) = self.parse_in_file(rev, num, offset)? else {
            return Err(PdfError::Malformed(format!(
                "object {num} is used as an object stream but is no stream"
            )));
        };
        let data = filter::decode(&stream)?;
        let count = stream.dict.integer(b"N").unwrap_or(0);
        let first = stream.dict.integer(b"First").unwrap_or(0);
        let (Ok(count), Ok(first)) = (u64::try_from(count), usize::try_from(first)) else {
            return Err(PdfError::Malformed(
                "an object stream's /N or /First is negative".into(),
            ));
        };
        if count > MAX_OBJECTS_PER_STREAM {
            return Err(PdfError::TooLarge(
                "an object stream holds too many objects".into(),
            ));
        }
        let mut parser = Parser::new(&data, 0, false);
        let mut offsets = Vec::new();
        for _ in 0..count {
            let obj = u32::try_from(parser.unsigned()?).unwrap_or(u32::MAX);
            let relative = usize::try_from(parser.unsigned()?).unwrap_or(usize::MAX);
            offsets.push((obj, first.saturating_add(relative)));
        }
        let container = Rc::new(ObjectStream { offsets, data });
        self.object_streams
            .borrow_mut()
            .insert(location, container.clone());
        Ok(container)
    }

    /// The revision whose bytes contain `offset`.
    pub fn revision_containing(&self, offset: usize) -> Option<usize> {
        self.revisions.iter().position(|rev| offset < rev.end)
    }

    /// Where revision `rev` starts (just past the previous one).
    pub fn revision_start(&self, rev: usize) -> usize {
        rev.checked_sub(1)
            .map(|previous| self.revisions[previous].end)
            .unwrap_or(0)
    }
}

/// Every `startxref N %%EOF` in the file: (the offset just past `%%EOF`, N). Markers
/// without a readable `startxref` just before them are not revision ends.
fn eof_markers(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut markers = Vec::new();
    let mut from = 0;
    while let Some(found) = bytes.get(from..).and_then(|rest| find(rest, b"%%EOF")) {
        let at = from + found;
        let end = at + 5;
        from = end;
        let window_start = at.saturating_sub(64);
        let window = &bytes[window_start..at];
        let Some(keyword) = rfind(window, b"startxref") else {
            continue;
        };
        let mut parser = Parser::new(bytes, window_start + keyword + 9, false);
        if let Ok(startxref) = parser.unsigned() {
            if let Ok(startxref) = usize::try_from(startxref) {
                markers.push((end, startxref));
            }
        }
    }
    markers
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .rposition(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-object file whose trailer gets `extra`; returns it with its xref offset.
    fn file(extra: &str) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n".to_vec();
        let object = out.len();
        out.extend_from_slice(b"1 0 obj\n<< /Type /Catalog >>\nendobj\n");
        let xref = out.len();
        let trailer = format!(
            "xref\n0 2\n0000000000 65535 f \n{object:010} 00000 n \ntrailer\n<< /Size 2 /Root 1 0 R {} >>\nstartxref\n{xref}\n%%EOF\n",
            extra.replace("SELF", &xref.to_string())
        );
        out.extend_from_slice(trailer.as_bytes());
        out
    }

    #[test]
    fn a_single_revision_resolves_its_objects() {
        let bytes = file("");
        let doc = Document::parse(&bytes).unwrap();
        assert_eq!(doc.revisions.len(), 1);
        assert_eq!(doc.revisions[0].end, bytes.len() - 1);
        let root = doc.resolve(0, ObjRef { num: 1, gen: 0 }).unwrap();
        assert_eq!(root.as_dict().unwrap().name(b"Type"), Some(&b"Catalog"[..]));
        let missing = doc.resolve(0, ObjRef { num: 9, gen: 0 }).unwrap();
        assert!(matches!(*missing, Object::Null));
    }

    #[test]
    fn a_prev_chain_that_loops_is_refused_not_followed_forever() {
        let bytes = file("/Prev SELF");
        assert!(matches!(
            Document::parse(&bytes),
            Err(PdfError::Malformed(_))
        ));
    }

    #[test]
    fn offsets_beyond_the_file_are_errors() {
        let bytes = file("/Prev 99999999");
        assert!(Document::parse(&bytes).is_err());
        let mut wrong = file("");
        let at = find(&wrong, b"0000000009 00000 n").unwrap();
        wrong[at..at + 10].copy_from_slice(b"0000099999");
        let doc = Document::parse(&wrong).unwrap();
        assert!(doc.resolve(0, ObjRef { num: 1, gen: 0 }).is_err());
    }
}
