//! The document structure signatures live in: the catalog, the AcroForm field tree
//! (ISO 32000-1 §12.7.3) and the page tree (§7.7.3), read at one revision.

use std::collections::HashSet;

use super::document::Document;
use super::object::{Dict, ObjRef, Object};
use super::PdfError;

/// Fields, pages and annotations beyond these counts are refused (work bound).
const MAX_FIELDS: usize = 10_000;
const MAX_PAGES: usize = 100_000;
const MAX_TREE_DEPTH: usize = 32;

/// A node of the AcroForm field tree.
#[derive(Debug, Clone)]
pub struct FieldNode {
    pub reference: Option<ObjRef>,
    /// The fully qualified name (`parent.child`).
    pub name: String,
    pub is_signature: bool,
    pub dict: Dict,
}

pub fn catalog(doc: &Document, rev: usize) -> Result<Dict, PdfError> {
    let root = doc
        .trailer(rev)
        .get(b"Root")
        .cloned()
        .ok_or_else(|| PdfError::Malformed("the trailer has no /Root".into()))?;
    doc.dict(rev, &root)?
        .ok_or_else(|| PdfError::Malformed("/Root is not a dictionary".into()))
}

/// `/AcroForm` of the catalog (`None` for a document without a form).
pub fn acroform(doc: &Document, rev: usize, catalog: &Dict) -> Result<Option<Dict>, PdfError> {
    match catalog.get(b"AcroForm") {
        Some(value) => doc.dict(rev, value),
        None => Ok(None),
    }
}

/// Every node of the field tree, parents before kids.
pub fn form_fields(doc: &Document, rev: usize) -> Result<Vec<FieldNode>, PdfError> {
    let catalog = catalog(doc, rev)?;
    let Some(form) = acroform(doc, rev, &catalog)? else {
        return Ok(Vec::new());
    };
    let roots = match form.get(b"Fields") {
        Some(value) => doc.deref(rev, value)?.as_array().map(<[Object]>::to_vec),
        None => None,
    }
    .unwrap_or_default();
    let mut walk = FieldWalk {
        doc,
        rev,
        seen: HashSet::new(),
        nodes: Vec::new(),
    };
    for root in &roots {
        walk.visit(root, "", None, 0)?;
    }
    Ok(walk.nodes)
}

struct FieldWalk<'d, 'a> {
    doc: &'d Document<'a>,
    rev: usize,
    seen: HashSet<ObjRef>,
    nodes: Vec<FieldNode>,
}

impl FieldWalk<'_, '_> {
    fn visit(
        &mut self,
        object: &Object,
        parent: &str,
        inherited_type: Option<&[u8]>,
        depth: usize,
    ) -> Result<(), PdfError> {
        if depth > MAX_TREE_DEPTH || self.nodes.len() >= MAX_FIELDS {
            return Err(PdfError::TooLarge(
                "the form field tree is too deep or too large".into(),
            ));
        }
        let reference = object.as_reference();
        if let Some(reference) = reference {
            if !self.seen.insert(reference) {
                return Ok(());
            }
        }
        let Some(dict) = self.doc.dict(self.rev, object)? else {
            return Ok(());
        };
        let partial = dict
            .get(b"T")
            .and_then(Object::as_string)
            .map(|t| text_string(&t.bytes));
        let name = match (parent.is_empty(), partial) {
            (_, None) => parent.to_string(),
            (true, Some(partial)) => partial,
            (false, Some(partial)) => format!("{parent}.{partial}"),
        };
        let field_type = dict.name(b"FT").map(<[u8]>::to_vec);
        let field_type = field_type.as_deref().or(inherited_type);
        self.nodes.push(FieldNode {
            reference,
            name: name.clone(),
            is_signature: field_type == Some(b"Sig"),
            dict: dict.clone(),
        });
        if let Some(kids) = dict.get(b"Kids") {
            let kids = self.doc.deref(self.rev, kids)?;
            for kid in kids.as_array().unwrap_or_default() {
                self.visit(kid, &name, field_type, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// The page tree at one revision: its inner (`/Pages`) nodes and its pages, in order.
#[derive(Debug, Default)]
pub struct PageTree {
    pub nodes: Vec<ObjRef>,
    pub pages: Vec<ObjRef>,
}

pub fn page_tree(doc: &Document, rev: usize, catalog: &Dict) -> Result<PageTree, PdfError> {
    let mut tree = PageTree::default();
    let mut seen = HashSet::new();
    if let Some(Object::Reference(root)) = catalog.get(b"Pages") {
        visit_pages(doc, rev, *root, 0, &mut seen, &mut tree)?;
    }
    Ok(tree)
}

fn visit_pages(
    doc: &Document,
    rev: usize,
    node: ObjRef,
    depth: usize,
    seen: &mut HashSet<ObjRef>,
    tree: &mut PageTree,
) -> Result<(), PdfError> {
    if depth > MAX_TREE_DEPTH || tree.pages.len() >= MAX_PAGES {
        return Err(PdfError::TooLarge(
            "the page tree is too deep or too large".into(),
        ));
    }
    if !seen.insert(node) {
        return Ok(());
    }
    let object = doc.resolve(rev, node)?;
    let Some(dict) = object.as_dict() else {
        return Ok(());
    };
    if dict.name(b"Type") == Some(b"Page") || dict.get(b"Kids").is_none() {
        tree.pages.push(node);
        return Ok(());
    }
    tree.nodes.push(node);
    let kids = doc.deref(rev, dict.get(b"Kids").unwrap_or(&Object::Null))?;
    for kid in kids.as_array().unwrap_or_default() {
        if let Some(kid) = kid.as_reference() {
            visit_pages(doc, rev, kid, depth + 1, seen, tree)?;
        }
    }
    Ok(())
}

/// A text string (§7.9.2.2): UTF-16BE with a byte-order mark, else PDFDocEncoding
/// (read as Latin-1, which agrees with it on the printable range).
pub fn text_string(bytes: &[u8]) -> String {
    if let Some(utf16) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = utf16
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(utf8) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8_lossy(utf8).into_owned();
    }
    bytes.iter().map(|byte| char::from(*byte)).collect()
}
