//! Canonical XML 1.0 (inclusive) and Exclusive XML Canonicalization 1.0, with and
//! without comments, over the node-sets XML-DSig produces here: a subtree (an element
//! or the whole document) minus at most one excluded subtree (the enveloped signature).
//!
//! Written against the W3C recommendations rather than borrowed from a C library
//! because the two details that decide signatures — which namespace declarations are
//! rendered where, and which prefix an element was written with — must be exactly
//! right, and roxmltree gives us the tree without either decided.
//!
//! Speed: one pass over roxmltree's `traverse()` (no recursion, so depth cannot
//! overflow the stack), two scratch vectors reused for every element (namespace
//! declarations and attributes to sort), and output written in runs straight into a
//! [`Sink`] — a digest, when verifying, so the canonical form is never held in memory.

use roxmltree::{Node, NodeType};

use super::parse::{traverse, Edge};

use crate::pki::digest::Digester;

pub const INCLUSIVE: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
pub const INCLUSIVE_WITH_COMMENTS: &str =
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
pub const EXCLUSIVE: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const EXCLUSIVE_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

const XML_PREFIX: &str = "xml";
const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canonicalization {
    /// Canonical XML 1.0: every in-scope namespace is rendered at the apex.
    Inclusive,
    /// Exclusive c14n: only namespaces an element visibly uses (and the
    /// InclusiveNamespaces PrefixList).
    Exclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct C14nMethod {
    pub kind: Canonicalization,
    pub with_comments: bool,
}

impl C14nMethod {
    /// By its algorithm URI; `None` for anything else (C14N 1.1 included: its
    /// xml:base fix-up is not implemented, so it is refused rather than approximated).
    pub fn from_uri(uri: &str) -> Option<C14nMethod> {
        let (kind, with_comments) = match uri {
            INCLUSIVE => (Canonicalization::Inclusive, false),
            INCLUSIVE_WITH_COMMENTS => (Canonicalization::Inclusive, true),
            EXCLUSIVE => (Canonicalization::Exclusive, false),
            EXCLUSIVE_WITH_COMMENTS => (Canonicalization::Exclusive, true),
            _ => return None,
        };
        Some(C14nMethod {
            kind,
            with_comments,
        })
    }

    pub fn name(self) -> &'static str {
        match (self.kind, self.with_comments) {
            (Canonicalization::Inclusive, false) => "c14n",
            (Canonicalization::Inclusive, true) => "c14n-with-comments",
            (Canonicalization::Exclusive, false) => "exc-c14n",
            (Canonicalization::Exclusive, true) => "exc-c14n-with-comments",
        }
    }
}

/// What to canonicalise and how.
#[derive(Debug, Clone, Copy)]
pub struct C14nOptions<'p> {
    pub method: C14nMethod,
    /// Exclusive c14n's InclusiveNamespaces PrefixList (`#default` for the default
    /// namespace); ignored by inclusive c14n.
    pub inclusive_prefixes: &'p [&'p str],
    /// Whether the node-set holds comment nodes at all. XML-DSig's same-document
    /// references (`""`, `#id`) drop them before any transform, so a `#WithComments`
    /// method over such a reference still renders none.
    pub node_set_has_comments: bool,
}

/// Where canonical bytes go: a buffer, or a digest.
pub trait Sink {
    fn write(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Digester {
    fn write(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// Canonicalises `apex` (an element, or the document root for the whole document)
/// without the subtree of `excluded`, into `sink`.
pub fn canonicalize(
    apex: Node<'_, '_>,
    excluded: Option<Node<'_, '_>>,
    options: &C14nOptions<'_>,
    sink: &mut dyn Sink,
) {
    let mut writer = Canonicalizer {
        options,
        sink,
        rendered: Vec::new(),
        frames: Vec::new(),
        namespaces: Vec::new(),
        attributes: Vec::new(),
    };
    writer.run(apex, excluded);
}

/// A namespace declaration: prefix (`""` for the default) and URI.
type Declaration<'a> = (&'a str, &'a str);

/// An attribute as it is sorted and written.
#[derive(Clone, Copy)]
struct Attr<'a> {
    namespace: &'a str,
    local: &'a str,
    qname: &'a str,
    value: &'a str,
}

struct Canonicalizer<'o, 'a> {
    options: &'o C14nOptions<'o>,
    sink: &'o mut dyn Sink,
    /// Declarations rendered by the open output ancestors, outermost first.
    rendered: Vec<Declaration<'a>>,
    /// `rendered.len()` when each open element started.
    frames: Vec<usize>,
    namespaces: Vec<Declaration<'a>>,
    attributes: Vec<Attr<'a>>,
}

impl<'o, 'a> Canonicalizer<'o, 'a> {
    fn run(&mut self, apex: Node<'a, '_>, excluded: Option<Node<'_, '_>>) {
        let excluded = excluded.map(|node| node.id());
        let mut skipping = None;
        let mut seen_document_element = false;
        for edge in traverse(apex) {
            match edge {
                Edge::Open(node) => {
                    if skipping.is_some() {
                        continue;
                    }
                    if Some(node.id()) == excluded {
                        skipping = Some(node.id());
                        continue;
                    }
                    self.open(node, apex, &mut seen_document_element);
                }
                Edge::Close(node) => {
                    if let Some(skipped) = skipping {
                        if skipped == node.id() {
                            skipping = None;
                        }
                        continue;
                    }
                    if node.is_element() {
                        self.end_element(node);
                    }
                }
            }
        }
    }

    fn open(&mut self, node: Node<'a, '_>, apex: Node<'a, '_>, seen_document_element: &mut bool) {
        let at_document_level = node.parent().is_some_and(|parent| parent.is_root());
        match node.node_type() {
            NodeType::Root => {}
            NodeType::Element => {
                if at_document_level {
                    *seen_document_element = true;
                }
                self.start_element(node, node == apex);
            }
            NodeType::Text => {
                // Text outside the document element is whitespace and not rendered.
                if !at_document_level {
                    escape_text(node.text().unwrap_or_default(), self.sink);
                }
            }
            NodeType::Comment => {
                if self.options.method.with_comments && self.options.node_set_has_comments {
                    let text = node.text().unwrap_or_default();
                    self.document_level(at_document_level, *seen_document_element, |sink| {
                        sink.write(b"<!--");
                        sink.write(text.as_bytes());
                        sink.write(b"-->");
                    });
                }
            }
            NodeType::PI => {
                if let Some(pi) = node.pi() {
                    self.document_level(at_document_level, *seen_document_element, |sink| {
                        sink.write(b"<?");
                        sink.write(pi.target.as_bytes());
                        if let Some(value) = pi.value.filter(|value| !value.is_empty()) {
                            sink.write(b" ");
                            sink.write(value.as_bytes());
                        }
                        sink.write(b"?>");
                    });
                }
            }
        }
    }

    /// A comment or PI outside the document element is separated from it by a line
    /// feed: after it when before the element, before it when after.
    fn document_level(
        &mut self,
        at_document_level: bool,
        seen_document_element: bool,
        write: impl FnOnce(&mut dyn Sink),
    ) {
        if at_document_level && seen_document_element {
            self.sink.write(b"\n");
        }
        write(self.sink);
        if at_document_level && !seen_document_element {
            self.sink.write(b"\n");
        }
    }

    fn start_element(&mut self, node: Node<'a, '_>, is_apex: bool) {
        let qname = element_qname(node);
        let prefix = prefix_of(qname);
        self.collect_attributes(node, is_apex);
        self.collect_namespaces(node, prefix);

        self.sink.write(b"<");
        self.sink.write(qname.as_bytes());
        for &(ns_prefix, uri) in &self.namespaces {
            if ns_prefix.is_empty() {
                self.sink.write(b" xmlns=\"");
            } else {
                self.sink.write(b" xmlns:");
                self.sink.write(ns_prefix.as_bytes());
                self.sink.write(b"=\"");
            }
            escape_attribute(uri, self.sink);
            self.sink.write(b"\"");
        }
        for attribute in &self.attributes {
            self.sink.write(b" ");
            self.sink.write(attribute.qname.as_bytes());
            self.sink.write(b"=\"");
            escape_attribute(attribute.value, self.sink);
            self.sink.write(b"\"");
        }
        self.sink.write(b">");

        self.frames.push(self.rendered.len());
        self.rendered.extend_from_slice(&self.namespaces);
    }

    fn end_element(&mut self, node: Node<'a, '_>) {
        self.sink.write(b"</");
        self.sink.write(element_qname(node).as_bytes());
        self.sink.write(b">");
        if let Some(length) = self.frames.pop() {
            self.rendered.truncate(length);
        }
    }

    /// The element's attributes sorted by (namespace URI, local name), no-namespace
    /// ones first; at an inclusive apex, plus the `xml:` attributes it inherits from
    /// ancestors outside the node-set (C14N 1.0 §2.4).
    fn collect_attributes(&mut self, node: Node<'a, '_>, is_apex: bool) {
        let input = node.document().input_text();
        self.attributes.clear();
        for attribute in node.attributes() {
            let qname = input
                .get(attribute.range_qname())
                .unwrap_or(attribute.name());
            self.attributes.push(Attr {
                namespace: attribute.namespace().unwrap_or(""),
                local: attribute.name(),
                qname,
                value: attribute.value(),
            });
        }
        if is_apex && self.options.method.kind == Canonicalization::Inclusive {
            self.inherit_xml_attributes(node);
        }
        self.attributes
            .sort_unstable_by(|a, b| (a.namespace, a.local).cmp(&(b.namespace, b.local)));
    }

    fn inherit_xml_attributes(&mut self, node: Node<'a, '_>) {
        let input = node.document().input_text();
        for ancestor in node.ancestors().skip(1).filter(|n| n.is_element()) {
            for attribute in ancestor.attributes() {
                let inherited = attribute.namespace() == Some(XML_NAMESPACE)
                    && !self.attributes.iter().any(|present| {
                        present.namespace == XML_NAMESPACE && present.local == attribute.name()
                    });
                if inherited {
                    self.attributes.push(Attr {
                        namespace: XML_NAMESPACE,
                        local: attribute.name(),
                        qname: input
                            .get(attribute.range_qname())
                            .unwrap_or(attribute.name()),
                        value: attribute.value(),
                    });
                }
            }
        }
    }

    /// The namespace declarations to render on this element, sorted by prefix.
    fn collect_namespaces(&mut self, node: Node<'a, '_>, element_prefix: &str) {
        self.namespaces.clear();
        let exclusive = self.options.method.kind == Canonicalization::Exclusive;
        let mut default_uri = "";
        for namespace in node.namespaces() {
            let Some(ns_prefix) = namespace.name() else {
                default_uri = namespace_uri(node, None).unwrap_or("");
                continue;
            };
            if ns_prefix == XML_PREFIX {
                continue;
            }
            if exclusive && !self.visibly_utilized(ns_prefix, element_prefix) {
                continue;
            }
            let Some(uri) = namespace_uri(node, Some(ns_prefix)) else {
                continue;
            };
            if self.rendered_uri(ns_prefix) != Some(uri) {
                self.namespaces.push((ns_prefix, uri));
            }
        }
        // The default namespace, including its undeclaration (xmlns="") when an output
        // ancestor rendered a non-empty one: an absent rendering counts as empty.
        if !exclusive || self.visibly_utilized("", element_prefix) {
            if self.rendered_uri("").unwrap_or("") != default_uri {
                self.namespaces.push(("", default_uri));
            }
        }
        self.namespaces.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }

    /// Exclusive c14n's rule: the element's own prefix, an attribute's prefix, or a
    /// prefix of the InclusiveNamespaces PrefixList.
    fn visibly_utilized(&self, ns_prefix: &str, element_prefix: &str) -> bool {
        if ns_prefix == element_prefix {
            return true;
        }
        let listed = match ns_prefix {
            "" => "#default",
            other => other,
        };
        if self.options.inclusive_prefixes.contains(&listed) {
            return true;
        }
        !ns_prefix.is_empty()
            && self
                .attributes
                .iter()
                .any(|attribute| prefix_of(attribute.qname) == ns_prefix)
    }

    fn rendered_uri(&self, ns_prefix: &str) -> Option<&'a str> {
        self.rendered
            .iter()
            .rev()
            .find(|(rendered_prefix, _)| *rendered_prefix == ns_prefix)
            .map(|(_, uri)| *uri)
    }
}

/// The URI bound to `prefix` in `node`'s scope, borrowed from the document (roxmltree's
/// namespace iterator yields short-lived values; the lookup gives the document's).
fn namespace_uri<'a>(node: Node<'a, '_>, prefix: Option<&str>) -> Option<&'a str> {
    node.lookup_namespace_uri(prefix)
}

/// The element's name exactly as written in the source (`ds:Signature`): roxmltree
/// keeps the namespace URI but not the prefix, and c14n must render the prefix used.
pub(crate) fn element_qname<'a>(node: Node<'_, 'a>) -> &'a str {
    let input = node.document().input_text();
    let start = node.range().start + 1;
    let rest = input.get(start..).unwrap_or("");
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .unwrap_or(rest.len());
    &rest[..end]
}

fn prefix_of(qname: &str) -> &str {
    match qname.split_once(':') {
        Some((prefix, _)) => prefix,
        None => "",
    }
}

/// Text node escaping (C14N 1.0 §2.3): `&`, `<`, `>` and carriage return.
fn escape_text(text: &str, sink: &mut dyn Sink) {
    escape(text, sink, |byte| match byte {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

/// Attribute value escaping: `&`, `<`, `"`, tab, line feed and carriage return.
fn escape_attribute(value: &str, sink: &mut dyn Sink) {
    escape(value, sink, |byte| match byte {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'"' => Some(b"&quot;"),
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

/// Writes `text` in runs between the bytes `replace` substitutes (all ASCII, so a run
/// boundary never splits a UTF-8 sequence).
fn escape(text: &str, sink: &mut dyn Sink, replace: impl Fn(u8) -> Option<&'static [u8]>) {
    let bytes = text.as_bytes();
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if let Some(replacement) = replace(byte) {
            sink.write(&bytes[run_start..index]);
            sink.write(replacement);
            run_start = index + 1;
        }
    }
    sink.write(&bytes[run_start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(
        input: &str,
        kind: Canonicalization,
        apex_name: &str,
        prefixes: &[&str],
    ) -> String {
        let document = roxmltree::Document::parse(input).unwrap();
        let apex = document
            .descendants()
            .find(|node| node.is_element() && node.tag_name().name() == apex_name)
            .unwrap();
        let options = C14nOptions {
            method: C14nMethod {
                kind,
                with_comments: false,
            },
            inclusive_prefixes: prefixes,
            node_set_has_comments: false,
        };
        let mut out = Vec::new();
        canonicalize(apex, None, &options, &mut out);
        String::from_utf8(out).unwrap()
    }

    const NESTED: &str = "<r xmlns=\"urn:d\" xmlns:a=\"urn:a\" xmlns:u=\"urn:u\" xml:lang=\"vi\"><a:s b=\"2\" a:c=\"1\"><t/><!--c--></a:s></r>";

    #[test]
    fn exclusive_renders_only_visibly_used_namespaces_at_the_apex() {
        assert_eq!(
            canonical(NESTED, Canonicalization::Exclusive, "s", &[]),
            "<a:s xmlns:a=\"urn:a\" b=\"2\" a:c=\"1\"><t xmlns=\"urn:d\"></t></a:s>"
        );
    }

    #[test]
    fn the_prefix_list_makes_exclusive_render_a_namespace_like_inclusive() {
        assert_eq!(
            canonical(NESTED, Canonicalization::Exclusive, "s", &["u", "#default"]),
            "<a:s xmlns=\"urn:d\" xmlns:a=\"urn:a\" xmlns:u=\"urn:u\" b=\"2\" a:c=\"1\"><t></t></a:s>"
        );
    }

    #[test]
    fn inclusive_renders_every_inherited_namespace_and_xml_attribute_at_the_apex() {
        assert_eq!(
            canonical(NESTED, Canonicalization::Inclusive, "s", &[]),
            "<a:s xmlns=\"urn:d\" xmlns:a=\"urn:a\" xmlns:u=\"urn:u\" b=\"2\" a:c=\"1\" xml:lang=\"vi\"><t></t></a:s>"
        );
    }

    #[test]
    fn a_default_namespace_is_undeclared_only_under_a_rendered_one() {
        let input = "<r xmlns=\"urn:d\"><s xmlns=\"\"><t/></s></r>";
        for kind in [Canonicalization::Inclusive, Canonicalization::Exclusive] {
            assert_eq!(canonical(input, kind, "s", &[]), "<s><t></t></s>");
            assert_eq!(
                canonical(input, kind, "r", &[]),
                "<r xmlns=\"urn:d\"><s xmlns=\"\"><t></t></s></r>"
            );
        }
    }

    #[test]
    fn the_excluded_subtree_is_left_out() {
        let document = roxmltree::Document::parse("<r><keep/><drop><x/></drop>tail</r>").unwrap();
        let drop = document
            .descendants()
            .find(|node| node.tag_name().name() == "drop")
            .unwrap();
        let options = C14nOptions {
            method: C14nMethod::from_uri(EXCLUSIVE).unwrap(),
            inclusive_prefixes: &[],
            node_set_has_comments: false,
        };
        let mut out = Vec::new();
        canonicalize(document.root(), Some(drop), &options, &mut out);
        assert_eq!(out, b"<r><keep></keep>tail</r>");
    }

    #[test]
    fn method_uris_round_trip_and_c14n_11_is_refused() {
        assert_eq!(
            C14nMethod::from_uri(EXCLUSIVE_WITH_COMMENTS)
                .unwrap()
                .name(),
            "exc-c14n-with-comments"
        );
        assert_eq!(C14nMethod::from_uri(INCLUSIVE).unwrap().name(), "c14n");
        assert!(C14nMethod::from_uri("http://www.w3.org/2006/12/xml-c14n11").is_none());
    }
}
