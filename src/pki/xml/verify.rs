//! Verifying one `ds:Signature`: every reference's digest, the SignatureValue over the
//! canonical SignedInfo, then the signer's certificate path.

use roxmltree::{Document, Node};

use super::c14n::{self, C14nOptions};
use super::crypto;
use super::error::XmlSigError;
use super::parse::XmlLimits;
use super::reference::{self, Coverage, IdIndex, WorkBudget};
use super::signature::{self, ParsedSignature};
use crate::pki::{
    CertificateInfo, ChainFailure, DigestAlgorithm, SignatureReport, SubIndication, Usage,
    VerifyContext,
};

/// A signature's report and what its verified references covered.
pub struct VerifiedSignature {
    pub report: SignatureReport,
    /// One per reference whose digest matched.
    pub coverage: Vec<Coverage>,
}

pub fn verify_signature<'a>(
    ctx: &VerifyContext,
    document: &'a Document<'_>,
    element: Node<'a, '_>,
    ids: &IdIndex<'a>,
    budget: &mut WorkBudget,
    limits: &XmlLimits,
    label: String,
) -> VerifiedSignature {
    let mut report = SignatureReport::new(label, ctx.validation_time(None));
    let mut coverage = Vec::new();
    let parsed = match signature::parse_signature(element, limits) {
        Ok(parsed) => parsed,
        Err(error) => {
            report.fail(error.failure());
            return VerifiedSignature { report, coverage };
        }
    };
    check_algorithms(ctx, &parsed, &mut report);
    for (index, parsed_reference) in parsed.references.iter().enumerate() {
        let number = index + 1;
        let uri = parsed_reference.uri.unwrap_or("(none)");
        match reference::digest_reference(document, element, parsed_reference, ids, budget) {
            Err(error) => report.fail(ChainFailure::new(
                error.sub_indication(),
                format!("reference {number} (URI {uri:?}): {error}"),
            )),
            Ok((computed, covered)) => {
                let equal = aws_lc_rs::constant_time::verify_slices_are_equal(
                    &computed,
                    &parsed_reference.digest_value,
                )
                .is_ok();
                if equal {
                    report.covers.push(format!(
                        "reference {number} (URI {uri:?}): {}",
                        reference::describe(document, &covered)
                    ));
                    coverage.push(covered);
                } else {
                    report.fail(ChainFailure::new(
                        SubIndication::HashFailure,
                        format!(
                            "reference {number} (URI {uri:?}): the digest does not match: {} was changed after signing",
                            reference::describe(document, &covered)
                        ),
                    ));
                }
            }
        }
    }
    check_signature_value(ctx, &parsed, &mut report);
    VerifiedSignature { report, coverage }
}

/// The crypto policy applies to what the signature itself uses, not only to the chain:
/// an rsa-sha1 SignatureMethod or a SHA-1 DigestMethod is refused unless legacy.
fn check_algorithms(
    ctx: &VerifyContext,
    parsed: &ParsedSignature<'_, '_>,
    report: &mut SignatureReport,
) {
    let mut digests: Vec<DigestAlgorithm> = Vec::new();
    for reference in &parsed.references {
        if !digests.contains(&reference.digest) {
            digests.push(reference.digest);
        }
    }
    report.digest_algorithm = Some(
        digests
            .iter()
            .map(|digest| digest.name())
            .collect::<Vec<_>>()
            .join(", "),
    );
    if ctx.policy.allow_legacy {
        return;
    }
    if parsed.method.digest().is_legacy() {
        report.fail(ChainFailure::new(
            SubIndication::CryptoConstraintsFailure,
            "the signature method uses SHA-1, allowed only under the legacy switch",
        ));
    }
    if digests.iter().any(|digest| digest.is_legacy()) {
        report.fail(ChainFailure::new(
            SubIndication::CryptoConstraintsFailure,
            "a reference is digested with SHA-1, allowed only under the legacy switch",
        ));
    }
}

/// Finds the certificate whose key verifies the SignatureValue (KeyInfo lists the
/// signer and, in any order, intermediates), then validates its path.
fn check_signature_value(
    ctx: &VerifyContext,
    parsed: &ParsedSignature<'_, '_>,
    report: &mut SignatureReport,
) {
    if parsed.certificates.is_empty() {
        report.fail(XmlSigError::NoCertificate.failure());
        return;
    }
    let mut canonical = Vec::new();
    let options = C14nOptions {
        method: parsed.canonicalization,
        inclusive_prefixes: &parsed.inclusive_prefixes,
        node_set_has_comments: true,
    };
    c14n::canonicalize(parsed.signed_info, None, &options, &mut canonical);

    let mut last_error = None;
    for (index, der) in parsed.certificates.iter().enumerate() {
        match crypto::verify(parsed.method, der, &canonical, &parsed.value) {
            Ok(name) => {
                report.signature_algorithm = Some(name);
                report.signer = CertificateInfo::from_der(der);
                let intermediates: Vec<Vec<u8>> = parsed
                    .certificates
                    .iter()
                    .enumerate()
                    .filter(|(other, _)| *other != index)
                    .map(|(_, der)| der.clone())
                    .collect();
                validate_chain(ctx, der, &intermediates, report);
                return;
            }
            Err(error) => last_error = Some(error),
        }
    }
    report.signer = parsed
        .certificates
        .first()
        .and_then(|der| CertificateInfo::from_der(der));
    let detail = match last_error {
        Some(error) => format!("SignatureValue: {error} (no certificate in KeyInfo verifies it)"),
        None => "SignatureValue: no certificate in KeyInfo verifies it".to_string(),
    };
    report.fail(ChainFailure::new(SubIndication::SigCryptoFailure, detail));
}

fn validate_chain(
    ctx: &VerifyContext,
    leaf: &[u8],
    intermediates: &[Vec<u8>],
    report: &mut SignatureReport,
) {
    let request = ctx.chain_request(
        leaf,
        intermediates,
        report.validation_time,
        Usage::DocumentSigning,
    );
    report.record_chain(ctx.trust.validate(&request));
}
