//! Dereferencing and digesting a `ds:Reference`: same-document URIs only (`""` and
//! `#id`), the enveloped-signature transform and canonicalization, nothing else.

use std::collections::HashMap;

use roxmltree::{Document, Node, NodeId};

use super::c14n::{self, C14nMethod, C14nOptions, Canonicalization};
use super::error::XmlSigError;
use super::signature::{ParsedReference, Transform};

/// Which attributes count as an element's id: XML-DSig leaves it to the schema, which
/// the verifier must not trust, so every usual spelling counts and any collision
/// between them is a duplicate.
const ID_ATTRIBUTES: [&str; 3] = ["Id", "ID", "id"];
const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// Every id value in the document, with the element carrying it and how many do.
pub struct IdIndex<'a> {
    ids: HashMap<&'a str, (NodeId, usize)>,
}

impl<'a> IdIndex<'a> {
    pub fn build(document: &'a Document<'_>) -> IdIndex<'a> {
        let mut ids: HashMap<&'a str, (NodeId, usize)> = HashMap::new();
        for element in document.descendants().filter(|node| node.is_element()) {
            let mut seen_on_this_element: [Option<&str>; 4] = [None; 4];
            let values = element
                .attributes()
                .filter(|attribute| match attribute.namespace() {
                    None => ID_ATTRIBUTES.contains(&attribute.name()),
                    Some(namespace) => namespace == XML_NAMESPACE && attribute.name() == "id",
                })
                .map(|attribute| attribute.value());
            for (slot, value) in values.enumerate().take(4) {
                // Id="a" id="a" on one element names one element, not two.
                if seen_on_this_element[..slot].contains(&Some(value)) {
                    continue;
                }
                seen_on_this_element[slot] = Some(value);
                let entry = ids.entry(value).or_insert((element.id(), 0));
                entry.1 += 1;
            }
        }
        IdIndex { ids }
    }

    fn find(&self, id: &str) -> Result<NodeId, XmlSigError> {
        match self.ids.get(id) {
            None => Err(XmlSigError::IdNotFound(id.to_string())),
            Some(&(node, 1)) => Ok(node),
            Some(&(_, count)) => Err(XmlSigError::DuplicateId {
                id: id.to_string(),
                count,
            }),
        }
    }
}

/// What one verified reference covered: a subtree (`apex`, `None` for the whole
/// document) without the enveloped signature's subtree.
#[derive(Debug, Clone, Copy)]
pub struct Coverage {
    pub apex: Option<NodeId>,
    pub excluded: Option<NodeId>,
}

impl Coverage {
    /// Whether `node` is in the covered node-set.
    pub fn covers(&self, node: Node<'_, '_>) -> bool {
        let mut inside_apex = self.apex.is_none();
        for ancestor in node.ancestors() {
            if Some(ancestor.id()) == self.excluded {
                return false;
            }
            if Some(ancestor.id()) == self.apex {
                inside_apex = true;
            }
        }
        inside_apex
    }
}

/// The reference's digest over what it covers, and that coverage.
pub fn digest_reference<'a>(
    document: &'a Document<'_>,
    signature: Node<'a, '_>,
    reference: &ParsedReference<'_>,
    ids: &IdIndex<'a>,
) -> Result<(Vec<u8>, Coverage), XmlSigError> {
    let apex = resolve(document, reference.uri, ids)?;
    let chain = TransformChain::from(&reference.transforms)?;
    let excluded = chain.enveloped.then_some(signature);
    let options = C14nOptions {
        method: chain.method,
        inclusive_prefixes: &chain.inclusive_prefixes,
        node_set_has_comments: false,
    };
    let mut digester = reference.digest.start();
    c14n::canonicalize(apex, excluded, &options, &mut digester);
    let coverage = Coverage {
        apex: (!apex.is_root()).then_some(apex.id()),
        excluded: excluded.map(|node| node.id()),
    };
    Ok((digester.finish(), coverage))
}

/// The node a same-document URI points at: the document root for `""`.
fn resolve<'a, 'i>(
    document: &'a Document<'i>,
    uri: Option<&str>,
    ids: &IdIndex<'a>,
) -> Result<Node<'a, 'i>, XmlSigError> {
    let uri = uri.ok_or(XmlSigError::NoUri)?;
    if uri.is_empty() {
        return Ok(document.root());
    }
    let Some(fragment) = uri.strip_prefix('#') else {
        return Err(XmlSigError::ExternalReference(uri.to_string()));
    };
    if fragment.starts_with("xpointer(") {
        return Err(XmlSigError::XPointer(uri.to_string()));
    }
    let node = ids.find(fragment)?;
    document
        .get_node(node)
        .ok_or_else(|| XmlSigError::IdNotFound(fragment.to_string()))
}

/// A validated transform chain: optionally the enveloped transform, then at most one
/// canonicalization (the default, when none is given, is inclusive c14n without
/// comments — XML-DSig §4.3.3.2's node-set to octets conversion).
struct TransformChain<'a> {
    enveloped: bool,
    method: C14nMethod,
    inclusive_prefixes: Vec<&'a str>,
}

impl<'a> TransformChain<'a> {
    fn from(transforms: &[Transform<'a>]) -> Result<TransformChain<'a>, XmlSigError> {
        let mut chain = TransformChain {
            enveloped: false,
            method: C14nMethod {
                kind: Canonicalization::Inclusive,
                with_comments: false,
            },
            inclusive_prefixes: Vec::new(),
        };
        let mut canonicalized = false;
        for transform in transforms {
            match transform {
                Transform::Enveloped if canonicalized => {
                    return Err(XmlSigError::TransformOrder(
                        "enveloped-signature after canonicalization",
                    ))
                }
                Transform::Enveloped if chain.enveloped => {
                    return Err(XmlSigError::TransformOrder("enveloped-signature twice"))
                }
                Transform::Enveloped => chain.enveloped = true,
                Transform::Canonicalize { .. } if canonicalized => {
                    return Err(XmlSigError::TransformOrder("canonicalization twice"))
                }
                Transform::Canonicalize {
                    method,
                    inclusive_prefixes,
                } => {
                    canonicalized = true;
                    chain.method = *method;
                    chain.inclusive_prefixes = inclusive_prefixes.clone();
                }
            }
        }
        Ok(chain)
    }
}

/// A sentence for the report: what the reference covered.
pub fn describe(document: &Document<'_>, coverage: &Coverage) -> String {
    let apex = coverage.apex.and_then(|id| document.get_node(id));
    let what = match apex {
        None => "the whole document".to_string(),
        Some(element) => {
            let id = ID_ATTRIBUTES
                .iter()
                .find_map(|name| element.attribute(*name))
                .map(|id| format!(" Id={id}"))
                .unwrap_or_default();
            format!("element {}{id}", c14n::element_qname(element))
        }
    };
    match coverage.excluded {
        Some(_) => format!("{what}, except the signature itself (enveloped)"),
        None => what,
    }
}
