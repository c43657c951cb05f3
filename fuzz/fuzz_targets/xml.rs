//! Fuzzes the XML-DSig / edXML entry point: parsing, canonicalization, reference
//! resolution, attachment decoding and unzipping must never panic or run unbounded,
//! whatever the input. An empty trust store is enough: every path up to the chain
//! check is exercised, and the chain code has its own target.
#![no_main]

use std::sync::Arc;

use govgate::pki::xml::{looks_like_edxml, verify_xml_detailed, XmlLimits};
use govgate::pki::{TrustStore, VerifyContext};
use libfuzzer_sys::fuzz_target;

/// Small limits so that each run stays fast while every bound is still reachable.
const LIMITS: XmlLimits = XmlLimits {
    max_document_bytes: 1024 * 1024,
    max_nodes: 100_000,
    max_depth: 64,
    max_attributes_per_element: 64,
    max_signatures: 4,
    max_references_per_signature: 8,
    max_transforms_per_reference: 4,
    max_certificates_per_signature: 4,
    max_attachment_bytes: 1024 * 1024,
    max_attachments: 8,
    max_unzipped_bytes: 4 * 1024 * 1024,
    max_zip_entries: 64,
    max_zip_ratio: 200,
};

fuzz_target!(|data: &[u8]| {
    let ctx = VerifyContext::new(Arc::new(TrustStore::empty()));
    let _ = looks_like_edxml(data);
    let report = verify_xml_detailed(&ctx, &LIMITS, data, "fuzz", &|_, nested| {
        assert!(nested.len() as u64 <= LIMITS.max_unzipped_bytes.max(LIMITS.max_attachment_bytes as u64));
        None
    });
    // Nothing can pass without a trusted signer.
    assert!(!report.document.passed());
});
