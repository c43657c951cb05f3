//! Reading a `ds:Signature` element (XML-DSig 1.0 §4) into what verification needs,
//! refusing whatever govgate does not implement instead of skipping it: an unknown
//! transform or algorithm is an error, never a no-op.

use base64::Engine;
use roxmltree::Node;

use super::c14n::{C14nMethod, EXCLUSIVE};
use super::error::XmlSigError;
use super::parse::XmlLimits;
use crate::pki::DigestAlgorithm;

pub const DSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// The signature algorithms of SignatureMethod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureMethod {
    RsaPkcs1(DigestAlgorithm),
    /// RFC 6931 §2.3.10 `sha*-rsa-MGF1`: MGF1 with the same hash, salt = hash length.
    RsaPss(DigestAlgorithm),
    /// XML-DSig ECDSA: the value is the raw r‖s concatenation, not DER.
    Ecdsa(DigestAlgorithm),
}

impl SignatureMethod {
    pub fn from_uri(uri: &str) -> Option<SignatureMethod> {
        use DigestAlgorithm::*;
        use SignatureMethod::*;
        let method = match uri {
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => RsaPkcs1(Sha1),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => RsaPkcs1(Sha256),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => RsaPkcs1(Sha384),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => RsaPkcs1(Sha512),
            "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1" => RsaPss(Sha256),
            "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1" => RsaPss(Sha384),
            "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1" => RsaPss(Sha512),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1" => Ecdsa(Sha1),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => Ecdsa(Sha256),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => Ecdsa(Sha384),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => Ecdsa(Sha512),
            _ => return None,
        };
        Some(method)
    }

    pub fn digest(self) -> DigestAlgorithm {
        match self {
            SignatureMethod::RsaPkcs1(digest)
            | SignatureMethod::RsaPss(digest)
            | SignatureMethod::Ecdsa(digest) => digest,
        }
    }
}

/// One step of a Reference's transform chain that govgate implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform<'a> {
    Enveloped,
    Canonicalize {
        method: C14nMethod,
        inclusive_prefixes: Vec<&'a str>,
    },
}

#[derive(Debug)]
pub struct ParsedReference<'a> {
    /// `None` when the attribute is absent (the application decides: refused).
    pub uri: Option<&'a str>,
    pub transforms: Vec<Transform<'a>>,
    pub digest: DigestAlgorithm,
    pub digest_value: Vec<u8>,
}

pub struct ParsedSignature<'a, 'i> {
    pub element: Node<'a, 'i>,
    pub signed_info: Node<'a, 'i>,
    pub canonicalization: C14nMethod,
    pub inclusive_prefixes: Vec<&'a str>,
    pub method: SignatureMethod,
    pub references: Vec<ParsedReference<'a>>,
    pub value: Vec<u8>,
    /// KeyInfo/X509Data/X509Certificate, DER, in document order.
    pub certificates: Vec<Vec<u8>>,
}

pub fn is_dsig(node: Node<'_, '_>, local: &str) -> bool {
    node.is_element()
        && node.tag_name().namespace() == Some(DSIG_NAMESPACE)
        && node.tag_name().name() == local
}

fn child<'a, 'i>(parent: Node<'a, 'i>, local: &'static str) -> Option<Node<'a, 'i>> {
    parent.children().find(|node| is_dsig(*node, local))
}

fn required<'a, 'i>(
    parent: Node<'a, 'i>,
    local: &'static str,
) -> Result<Node<'a, 'i>, XmlSigError> {
    child(parent, local).ok_or(XmlSigError::Missing(local))
}

fn algorithm<'a>(node: Node<'a, '_>, what: &'static str) -> Result<&'a str, XmlSigError> {
    node.attribute("Algorithm")
        .ok_or(XmlSigError::Missing(what))
}

pub fn parse_signature<'a, 'i>(
    element: Node<'a, 'i>,
    limits: &XmlLimits,
) -> Result<ParsedSignature<'a, 'i>, XmlSigError> {
    let signed_info = required(element, "SignedInfo")?;
    let c14n_node = required(signed_info, "CanonicalizationMethod")?;
    let c14n_uri = algorithm(c14n_node, "CanonicalizationMethod/@Algorithm")?;
    let canonicalization = C14nMethod::from_uri(c14n_uri)
        .ok_or_else(|| XmlSigError::UnsupportedCanonicalization(c14n_uri.to_string()))?;
    let method_uri = algorithm(
        required(signed_info, "SignatureMethod")?,
        "SignatureMethod/@Algorithm",
    )?;
    let method = SignatureMethod::from_uri(method_uri)
        .ok_or_else(|| XmlSigError::UnsupportedSignatureMethod(method_uri.to_string()))?;

    let mut references = Vec::new();
    for node in signed_info
        .children()
        .filter(|node| is_dsig(*node, "Reference"))
    {
        if references.len() == limits.max_references_per_signature {
            return Err(XmlSigError::TooMany("references in one signature"));
        }
        references.push(parse_reference(node, limits)?);
    }
    if references.is_empty() {
        return Err(XmlSigError::Missing("Reference"));
    }

    let value = decode_base64(required(element, "SignatureValue")?, "SignatureValue")?;
    let certificates = certificates(element, limits)?;
    Ok(ParsedSignature {
        element,
        signed_info,
        canonicalization,
        inclusive_prefixes: inclusive_prefixes(c14n_node),
        method,
        references,
        value,
        certificates,
    })
}

fn parse_reference<'a>(
    node: Node<'a, '_>,
    limits: &XmlLimits,
) -> Result<ParsedReference<'a>, XmlSigError> {
    let mut transforms = Vec::new();
    if let Some(list) = child(node, "Transforms") {
        for transform in list.children().filter(|n| is_dsig(*n, "Transform")) {
            if transforms.len() == limits.max_transforms_per_reference {
                return Err(XmlSigError::TooMany("transforms in one reference"));
            }
            transforms.push(parse_transform(transform)?);
        }
    }
    let digest_uri = algorithm(required(node, "DigestMethod")?, "DigestMethod/@Algorithm")?;
    let digest = DigestAlgorithm::from_xmldsig_uri(digest_uri)
        .ok_or_else(|| XmlSigError::UnsupportedDigest(digest_uri.to_string()))?;
    let digest_value = decode_base64(required(node, "DigestValue")?, "DigestValue")?;
    Ok(ParsedReference {
        uri: node.attribute("URI"),
        transforms,
        digest,
        digest_value,
    })
}

fn parse_transform<'a>(node: Node<'a, '_>) -> Result<Transform<'a>, XmlSigError> {
    let uri = algorithm(node, "Transform/@Algorithm")?;
    if uri == ENVELOPED_SIGNATURE {
        return Ok(Transform::Enveloped);
    }
    match C14nMethod::from_uri(uri) {
        Some(method) => Ok(Transform::Canonicalize {
            method,
            inclusive_prefixes: inclusive_prefixes(node),
        }),
        // XPath, XPath Filter 2.0, XSLT, base64, decryption...: each can make a
        // reference cover something other than what it seems to (or run code).
        None => Err(XmlSigError::UnsupportedTransform(uri.to_string())),
    }
}

/// `ec:InclusiveNamespaces/@PrefixList` of an exclusive c14n method or transform.
fn inclusive_prefixes<'a>(node: Node<'a, '_>) -> Vec<&'a str> {
    node.children()
        .find(|child| {
            child.is_element()
                && child.tag_name().namespace() == Some(EXCLUSIVE)
                && child.tag_name().name() == "InclusiveNamespaces"
        })
        .and_then(|list| list.attribute("PrefixList"))
        .map(|list| list.split_ascii_whitespace().collect())
        .unwrap_or_default()
}

fn certificates(signature: Node<'_, '_>, limits: &XmlLimits) -> Result<Vec<Vec<u8>>, XmlSigError> {
    let mut certificates = Vec::new();
    let Some(key_info) = child(signature, "KeyInfo") else {
        return Ok(certificates);
    };
    for data in key_info.children().filter(|n| is_dsig(*n, "X509Data")) {
        for cert in data.children().filter(|n| is_dsig(*n, "X509Certificate")) {
            if certificates.len() == limits.max_certificates_per_signature {
                return Err(XmlSigError::TooMany("certificates in KeyInfo"));
            }
            certificates.push(decode_base64(cert, "X509Certificate")?);
        }
    }
    Ok(certificates)
}

/// The element's text as base64, whitespace (line breaks, `&#13;`) ignored.
pub fn decode_base64(node: Node<'_, '_>, what: &'static str) -> Result<Vec<u8>, XmlSigError> {
    let mut compact = String::new();
    for text in node.children().filter(|n| n.is_text()) {
        let text = text.text().unwrap_or_default();
        compact.extend(text.chars().filter(|c| !c.is_ascii_whitespace()));
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| XmlSigError::Base64(what))
}
