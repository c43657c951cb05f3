//! Verification of each SignerInfo of a SignedData (RFC 5652 §5.4–5.6): signer
//! certificate, digests, signature, ESS signing certificate, timestamp, chain.

use std::time::SystemTime;

use ::cms::signed_data::SignerInfo;
use const_oid::db::rfc5911::ID_DATA;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use super::attributes::{timestamp_tokens, SignedAttributes};
use super::signature::{SignatureAlgorithm, Signed, SignerKey};
use super::structure::{SignedDataParts, SignerId, SignerInfoParts};
use super::timestamp::verify_timestamp_token;
use super::usage_label;
use crate::pki::certificate::CertificateInfo;
use crate::pki::report::{ChainFailure, SignatureReport, SubIndication};
use crate::pki::{DigestAlgorithm, SignedContent, Usage, VerifyContext};

/// How the SignerInfos of one SignedData are judged.
#[derive(Debug, Clone)]
pub(crate) struct SignerOptions {
    pub usage: Usage,
    /// Verify signature timestamps and validate the chain at their time (not inside a
    /// timestamp token itself: one level deep).
    pub timestamps: bool,
    /// RFC 3161 §2.4.1: a TSA's SignerInfo must carry ESS signing-certificate(-v2).
    pub require_signing_certificate: bool,
    /// The `covers` sentence of each report.
    pub covers: String,
}

impl SignerOptions {
    pub fn document() -> SignerOptions {
        SignerOptions {
            usage: Usage::DocumentSigning,
            timestamps: true,
            require_signing_certificate: false,
            covers: "the detached content".into(),
        }
    }

    pub fn covering(self, covers: String) -> SignerOptions {
        SignerOptions { covers, ..self }
    }
}

/// One report per SignerInfo; `content` is hashed once, under every algorithm needed.
pub(crate) fn verify_parts(
    ctx: &VerifyContext,
    parts: &SignedDataParts<'_>,
    content: &mut dyn SignedContent,
    options: &SignerOptions,
) -> Result<Vec<SignatureReport>, ChainFailure> {
    let mut algorithms: Vec<DigestAlgorithm> = parts
        .signer_infos
        .iter()
        .filter_map(|info| digest_algorithm(&info.decoded))
        .collect();
    algorithms.sort_by_key(|algorithm| algorithm.oid());
    algorithms.dedup();
    let digests = content.digests(&algorithms).map_err(|error| {
        ChainFailure::new(
            SubIndication::SignedDataNotFound,
            format!("reading the signed content: {error}"),
        )
    })?;
    let digests = ContentDigests {
        algorithms,
        digests,
    };
    Ok(parts
        .signer_infos
        .iter()
        .enumerate()
        .map(|(index, info)| {
            let mut report = SignatureReport::new(
                format!("SignerInfo {}", index + 1),
                ctx.validation_time(None),
            );
            report.covers.push(options.covers.clone());
            verify_signer_info(ctx, parts, info, &digests, options, &mut report);
            report
        })
        .collect())
}

/// The content's digest under each algorithm the SignerInfos name.
struct ContentDigests {
    algorithms: Vec<DigestAlgorithm>,
    digests: Vec<Vec<u8>>,
}

impl ContentDigests {
    /// Empty (matching nothing) for an algorithm that was not computed.
    fn get(&self, algorithm: DigestAlgorithm) -> &[u8] {
        self.algorithms
            .iter()
            .position(|known| *known == algorithm)
            .and_then(|index| self.digests.get(index))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

fn digest_algorithm(info: &SignerInfo) -> Option<DigestAlgorithm> {
    DigestAlgorithm::from_oid(&info.digest_alg.oid.to_string())
}

/// Fills `report`; a failure that makes later checks meaningless returns early.
fn verify_signer_info(
    ctx: &VerifyContext,
    parts: &SignedDataParts<'_>,
    info: &SignerInfoParts<'_>,
    digests: &ContentDigests,
    options: &SignerOptions,
    report: &mut SignatureReport,
) {
    let Some(digest) = digest_algorithm(&info.decoded) else {
        report.fail(ChainFailure::new(
            SubIndication::CryptoConstraintsFailure,
            format!(
                "digest algorithm {} not supported",
                info.decoded.digest_alg.oid
            ),
        ));
        return;
    };
    report.digest_algorithm = Some(digest.name().into());
    if digest.is_legacy() && !ctx.policy.allow_legacy {
        report.fail(ChainFailure::new(
            SubIndication::CryptoConstraintsFailure,
            "the content digest is SHA-1; allowed only under the legacy switch",
        ));
    }
    let Some(signer_der) = find_signer(&parts.certificates, &info.signer_id) else {
        report.fail(ChainFailure::new(
            SubIndication::NoSigningCertificateFound,
            format!(
                "the {} certificate the SignerInfo names is not among the embedded certificates",
                usage_label(&options.usage)
            ),
        ));
        return;
    };
    let Ok((_, signer)) = x509_parser::parse_x509_certificate(signer_der) else {
        report.fail(ChainFailure::new(
            SubIndication::FormatFailure,
            "the signer certificate does not parse",
        ));
        return;
    };
    report.signer = Some(CertificateInfo::from_parsed(signer_der, &signer));
    let job = Job {
        ctx,
        parts,
        info,
        options,
    };
    let signer = SignerCert {
        der: signer_der,
        parsed: signer,
    };
    if let Err(failure) = check_signature(&job, digest, &signer, digests.get(digest), report) {
        report.fail(failure);
    }
    let proven = match options.timestamps {
        true => check_timestamps(ctx, &info.decoded, report),
        false => None,
    };
    validate_chain(ctx, parts, signer_der, proven, &options.usage, report);
}

/// One SignerInfo under verification and what it is checked against.
struct Job<'j, 'a> {
    ctx: &'j VerifyContext,
    parts: &'j SignedDataParts<'a>,
    info: &'j SignerInfoParts<'a>,
    options: &'j SignerOptions,
}

/// The certificate the SignerInfo identifies.
struct SignerCert<'a> {
    der: &'a [u8],
    parsed: X509Certificate<'a>,
}

/// The signature itself: algorithm, policy, then the signed attributes (both checks)
/// or, without them, the content digest.
fn check_signature(
    job: &Job<'_, '_>,
    digest: DigestAlgorithm,
    signer: &SignerCert<'_>,
    content_digest: &[u8],
    report: &mut SignatureReport,
) -> Result<(), ChainFailure> {
    let decoded = &job.info.decoded;
    let key = SignerKey::from_certificate(&signer.parsed)?;
    let algorithm = SignatureAlgorithm::resolve(&decoded.signature_algorithm, digest, &key)?;
    report.signature_algorithm = Some(algorithm.name(&key));
    if let Err(failure) = algorithm.check_policy(&key, &job.ctx.policy) {
        report.fail(failure);
    }
    let signature = decoded.signature.as_bytes();
    let Some(signed_attributes) = &decoded.signed_attrs else {
        // RFC 5652 §5.3: signed attributes MUST be present unless the content is id-data.
        if job.parts.econtent_type != ID_DATA {
            return Err(ChainFailure::new(
                SubIndication::FormatFailure,
                "content other than id-data signed without signed attributes",
            ));
        }
        if job.options.require_signing_certificate {
            return Err(missing_signing_certificate());
        }
        report.warnings.push(
            "no signed attributes: the signature is over the content digest alone, \
             without signing time or signer certificate binding"
                .into(),
        );
        return algorithm.verify(&key, Signed::Digest(content_digest), signature);
    };
    let attributes = SignedAttributes::read(signed_attributes)?;
    check_signed_attributes(job, &attributes, content_digest, report);
    algorithm.verify(&key, Signed::Message(&attributes.der), signature)?;
    check_signing_certificate(job, &attributes, signer)
}

/// messageDigest against the content, contentType against eContentType; the signing
/// time for the report.
fn check_signed_attributes(
    job: &Job<'_, '_>,
    attributes: &SignedAttributes,
    content_digest: &[u8],
    report: &mut SignatureReport,
) {
    report.claimed_signing_time = attributes.signing_time;
    // Both checks, always: the digest binds the content, the signature binds the digest.
    if attributes.message_digest != content_digest {
        report.fail(ChainFailure::new(
            SubIndication::HashFailure,
            "the messageDigest attribute does not match the digest of the content",
        ));
    }
    if attributes.content_type != job.parts.econtent_type {
        report.fail(ChainFailure::new(
            SubIndication::FormatFailure,
            format!(
                "the contentType attribute ({}) differs from eContentType ({})",
                attributes.content_type, job.parts.econtent_type
            ),
        ));
    }
}

/// An ESS signing-certificate(-v2) attribute must hash to the identified certificate:
/// otherwise another certificate (perhaps for the same key) was put in its place.
fn check_signing_certificate(
    job: &Job<'_, '_>,
    attributes: &SignedAttributes,
    signer: &SignerCert<'_>,
) -> Result<(), ChainFailure> {
    match &attributes.signing_certificate {
        Some(expected) => {
            if expected.algorithm.digest(signer.der) != expected.hash {
                return Err(ChainFailure::new(
                    SubIndication::NoSigningCertificateFound,
                    format!(
                        "the {} attribute names another certificate than the one the \
                         SignerInfo identifies (certificate substitution)",
                        expected.attribute
                    ),
                ));
            }
            Ok(())
        }
        None if job.options.require_signing_certificate => Err(missing_signing_certificate()),
        None => Ok(()),
    }
}

fn missing_signing_certificate() -> ChainFailure {
    ChainFailure::new(
        SubIndication::FormatFailure,
        "no ESS signing-certificate attribute (RFC 3161 §2.4.1 requires one)",
    )
}

/// Verifies each signature timestamp; the first that holds proves the time.
fn check_timestamps(
    ctx: &VerifyContext,
    info: &SignerInfo,
    report: &mut SignatureReport,
) -> Option<SystemTime> {
    let signature = info.signature.as_bytes();
    for token in timestamp_tokens(info.unsigned_attrs.as_ref()) {
        let timestamp = verify_timestamp_token(ctx, &token, &mut &signature[..]);
        let holds = timestamp.indication == crate::pki::Indication::TotalPassed;
        if !holds {
            report.warnings.push(format!(
                "a signature timestamp does not hold and proves nothing: {}",
                timestamp.errors.join("; ")
            ));
        }
        let keep = holds || report.timestamp.is_none();
        if keep {
            report.timestamp = Some(timestamp.clone());
        }
        if holds {
            return Some(timestamp.time);
        }
    }
    None
}

fn validate_chain(
    ctx: &VerifyContext,
    parts: &SignedDataParts<'_>,
    signer_der: &[u8],
    proven: Option<SystemTime>,
    usage: &Usage,
    report: &mut SignatureReport,
) {
    let at = ctx.validation_time(proven);
    report.validation_time = at;
    let intermediates: Vec<Vec<u8>> = parts
        .certificates
        .iter()
        .filter(|der| **der != signer_der)
        .map(|der| der.to_vec())
        .collect();
    let request = ctx.chain_request(signer_der, &intermediates, at, usage.clone());
    report.record_chain(ctx.trust.validate(&request));
}

/// The embedded certificate `id` names, compared byte for byte (issuer DER and serial
/// octets, or the subjectKeyIdentifier).
fn find_signer<'a>(certificates: &[&'a [u8]], id: &SignerId<'_>) -> Option<&'a [u8]> {
    certificates.iter().copied().find(|der| {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return false;
        };
        match id {
            SignerId::IssuerAndSerial { issuer, serial } => {
                cert.tbs_certificate.issuer.as_raw() == *issuer
                    && cert.tbs_certificate.raw_serial() == *serial
            }
            SignerId::KeyIdentifier(key_id) => cert.extensions().iter().any(|extension| {
                matches!(
                    extension.parsed_extension(),
                    ParsedExtension::SubjectKeyIdentifier(ski) if ski.0 == *key_id
                )
            }),
        }
    })
}
