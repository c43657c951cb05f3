//! Parsing an untrusted XML document, bounded: size, node count, depth and attributes
//! per element. DTDs are refused outright — no entity can expand (billion laughs) and
//! no external entity can be fetched, and a DTD's attribute defaults could otherwise
//! change what a signature covers without appearing in the bytes.

use roxmltree::{Document, Node, ParsingOptions};

/// Limits on what one document may make the verifier do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Input size in bytes (an edXML with its base64 attachments).
    pub max_document_bytes: usize,
    pub max_nodes: u32,
    /// Element nesting depth.
    pub max_depth: usize,
    pub max_attributes_per_element: usize,
    pub max_signatures: usize,
    pub max_references_per_signature: usize,
    pub max_transforms_per_reference: usize,
    pub max_certificates_per_signature: usize,
    /// One attachment, decoded.
    pub max_attachment_bytes: usize,
    pub max_attachments: usize,
    /// Every entry of every zip attachment, uncompressed, together.
    pub max_unzipped_bytes: u64,
    pub max_zip_entries: usize,
    /// Uncompressed / compressed size of one zip entry.
    pub max_zip_ratio: u64,
}

impl XmlLimits {
    pub const DEFAULT: XmlLimits = XmlLimits {
        max_document_bytes: 128 * 1024 * 1024,
        max_nodes: 2_000_000,
        max_depth: 128,
        max_attributes_per_element: 256,
        max_signatures: 16,
        max_references_per_signature: 64,
        max_transforms_per_reference: 4,
        max_certificates_per_signature: 16,
        max_attachment_bytes: 64 * 1024 * 1024,
        max_attachments: 256,
        max_unzipped_bytes: 256 * 1024 * 1024,
        max_zip_entries: 1024,
        max_zip_ratio: 200,
    };
}

impl Default for XmlLimits {
    fn default() -> XmlLimits {
        XmlLimits::DEFAULT
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("the document is {size} bytes, more than the {limit} allowed")]
    TooLarge { size: usize, limit: usize },
    #[error("the document is not UTF-8 text (offset {0})")]
    NotUtf8(usize),
    #[error("the document has a DTD (<!DOCTYPE>); DTDs and entities are refused")]
    Dtd,
    #[error("the document is not well-formed XML: {0}")]
    Malformed(String),
    #[error("elements are nested {0} deep or more, beyond the limit")]
    TooDeep(usize),
    #[error("an element has {count} attributes, more than the {limit} allowed")]
    TooManyAttributes { count: usize, limit: usize },
}

/// Parses `input` under `limits`.
pub fn parse<'i>(input: &'i [u8], limits: &XmlLimits) -> Result<Document<'i>, ParseError> {
    if input.len() > limits.max_document_bytes {
        return Err(ParseError::TooLarge {
            size: input.len(),
            limit: limits.max_document_bytes,
        });
    }
    let text = std::str::from_utf8(strip_bom(input))
        .map_err(|error| ParseError::NotUtf8(error.valid_up_to()))?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.max_nodes,
        ..ParsingOptions::default()
    };
    let document = Document::parse_with_options(text, options).map_err(|error| match error {
        roxmltree::Error::DtdDetected => ParseError::Dtd,
        other => ParseError::Malformed(other.to_string()),
    })?;
    check_shape(&document, limits)?;
    Ok(document)
}

fn strip_bom(input: &[u8]) -> &[u8] {
    input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input)
}

/// Depth and attribute count, in one pass without recursion.
fn check_shape(document: &Document<'_>, limits: &XmlLimits) -> Result<(), ParseError> {
    let mut depth = 0usize;
    for edge in traverse(document.root()) {
        match edge {
            Edge::Open(node) if node.is_element() => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(ParseError::TooDeep(depth));
                }
                let count = node.attributes().len();
                if count > limits.max_attributes_per_element {
                    return Err(ParseError::TooManyAttributes {
                        count,
                        limit: limits.max_attributes_per_element,
                    });
                }
            }
            Edge::Close(node) if node.is_element() => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A step of a depth-first walk: entering a node, or leaving it (after its children).
#[derive(Debug, Clone, Copy)]
pub enum Edge<'a, 'i> {
    Open(Node<'a, 'i>),
    Close(Node<'a, 'i>),
}

/// Walks `root`'s subtree without recursion (depth costs no stack), in document order.
pub fn traverse<'a, 'i>(root: Node<'a, 'i>) -> Traverse<'a, 'i> {
    Traverse {
        root,
        next: Some(Edge::Open(root)),
    }
}

pub struct Traverse<'a, 'i> {
    root: Node<'a, 'i>,
    next: Option<Edge<'a, 'i>>,
}

impl<'a, 'i> Iterator for Traverse<'a, 'i> {
    type Item = Edge<'a, 'i>;

    fn next(&mut self) -> Option<Edge<'a, 'i>> {
        let current = self.next.take()?;
        self.next = match current {
            Edge::Open(node) => match node.first_child() {
                Some(child) => Some(Edge::Open(child)),
                None => Some(Edge::Close(node)),
            },
            Edge::Close(node) if node == self.root => None,
            Edge::Close(node) => match node.next_sibling() {
                Some(sibling) => Some(Edge::Open(sibling)),
                None => node.parent().map(Edge::Close),
            },
        };
        Some(current)
    }
}
