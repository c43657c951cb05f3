//! The RFC 5280 / document-PKI rules govgate enforces on top of rustls-webpki, whose
//! rules are tuned for the Web PKI and deliberately waive some of them:
//!
//! - webpki ignores keyUsage; a document signer must allow digitalSignature or
//!   nonRepudiation (EN 319 412-2 §4.3.2), a CA must allow keyCertSign (§4.2.1.3);
//! - webpki treats a trust anchor as a bare name and key; here its validity period
//!   and its pathLenConstraint count (a root that says "pathLen 0" means it);
//! - RFC 5280 §4.2.1.1 / §4.2.1.2: conforming CAs put an authority key identifier in
//!   every certificate they issue and a subject key identifier in every CA certificate;
//!   a path without them did not come from a conforming CA.

use std::time::{SystemTime, UNIX_EPOCH};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use super::profile::{self, Role};
use super::report::{ChainFailure, SubIndication};
use super::usage::{oid, EkuRule};
use super::Usage;

/// The end entity's own usage rules, independent of any path.
pub(crate) fn check_leaf_usage(
    leaf: &X509Certificate<'_>,
    usage: &Usage,
) -> Result<(), ChainFailure> {
    check_leaf_key_usage(leaf, usage)?;
    if let Some(purpose) = EkuRule::mandatory_leaf_purpose(usage) {
        check_mandatory_purpose(leaf, usage, purpose)?;
    }
    Ok(())
}

fn check_leaf_key_usage(leaf: &X509Certificate<'_>, usage: &Usage) -> Result<(), ChainFailure> {
    let key_usage = match leaf.key_usage() {
        Ok(Some(extension)) => extension.value,
        // Absent: RFC 5280 puts no restriction on the key.
        Ok(None) => return Ok(()),
        Err(error) => return Err(format_failure(leaf, &format!("keyUsage: {error}"))),
    };
    let allowed = match usage {
        Usage::DocumentSigning | Usage::Timestamping | Usage::OcspSigning => {
            key_usage.digital_signature() || key_usage.non_repudiation()
        }
        // Web PKI practice (and webpki's): a TLS end entity's keyUsage is not checked.
        Usage::TlsServer { .. } => true,
    };
    match allowed {
        true => Ok(()),
        false => Err(constraint(
            leaf,
            &format!("has keyUsage {key_usage} which does not allow {usage:?}"),
        )),
    }
}

/// RFC 3161 §2.3 (TSA: EKU timeStamping, critical) and RFC 6960 §4.2.2.2 (delegated
/// OCSP responder: EKU OCSPSigning): the purpose must be stated, not merely allowed.
fn check_mandatory_purpose(
    leaf: &X509Certificate<'_>,
    usage: &Usage,
    purpose: &[usize],
) -> Result<(), ChainFailure> {
    let extension = match leaf.extended_key_usage() {
        Ok(Some(extension)) => extension,
        Ok(None) => {
            return Err(constraint(
                leaf,
                &format!("has no extendedKeyUsage for {usage:?}"),
            ))
        }
        Err(error) => return Err(format_failure(leaf, &format!("extendedKeyUsage: {error}"))),
    };
    let eku = extension.value;
    let stated = match purpose {
        p if p == oid::TIME_STAMPING => eku.time_stamping,
        p if p == oid::OCSP_SIGNING => eku.ocsp_signing,
        _ => false,
    };
    if !stated {
        return Err(constraint(
            leaf,
            &format!("extendedKeyUsage does not include {usage:?}"),
        ));
    }
    if *usage == Usage::Timestamping && !extension.critical {
        return Err(constraint(
            leaf,
            "has a non-critical timeStamping extendedKeyUsage (RFC 3161 §2.3)",
        ));
    }
    Ok(())
}

/// Checks of a whole candidate path, leaf first and anchor last.
pub(crate) fn check_path(path: &[X509Certificate<'_>], at: SystemTime) -> Result<(), ChainFailure> {
    let Some((anchor, issued)) = path.split_last() else {
        return Err(ChainFailure::new(
            SubIndication::NoCertificateChainFound,
            "empty path",
        ));
    };
    check_anchor_validity(anchor, at)?;
    check_anchor_path_length(anchor, issued)?;
    profile::check_profile(anchor, Role::Anchor)?;
    // An anchor that states a keyUsage without keyCertSign did not mean to issue.
    check_ca_key_usage(anchor)?;
    // An anchor is a CA certificate too: §4.2.1.2 wants its key identifier.
    if !has_subject_key_id(anchor) {
        return Err(constraint(
            anchor,
            "is a CA without subjectKeyIdentifier (RFC 5280 §4.2.1.2)",
        ));
    }
    for (index, cert) in issued.iter().enumerate() {
        let is_ca = index > 0;
        let role = match is_ca {
            true => Role::Intermediate,
            false => Role::Leaf,
        };
        profile::check_profile(cert, role)?;
        check_key_identifiers(cert, is_ca)?;
        if is_ca {
            check_ca_key_usage(cert)?;
        }
    }
    Ok(())
}

fn check_anchor_validity(anchor: &X509Certificate<'_>, at: SystemTime) -> Result<(), ChainFailure> {
    let at = unix_seconds(at);
    let validity = anchor.validity();
    if at < validity.not_before.timestamp() {
        return Err(ChainFailure::new(
            SubIndication::NotYetValid,
            format!(
                "trust anchor {} is not valid before {}",
                anchor.subject(),
                validity.not_before
            ),
        ));
    }
    if at > validity.not_after.timestamp() {
        return Err(ChainFailure::new(
            SubIndication::Expired,
            format!(
                "trust anchor {} expired at {}",
                anchor.subject(),
                validity.not_after
            ),
        ));
    }
    Ok(())
}

/// RFC 5280 §6.1.4 (l)-(m), applied from the anchor down: self-issued intermediates
/// do not count against the limit.
fn check_anchor_path_length(
    anchor: &X509Certificate<'_>,
    issued: &[X509Certificate<'_>],
) -> Result<(), ChainFailure> {
    let limit = match anchor.basic_constraints() {
        Ok(Some(extension)) => extension.value.path_len_constraint,
        _ => None,
    };
    let Some(limit) = limit else { return Ok(()) };
    let intermediates = issued
        .iter()
        .skip(1)
        .filter(|cert| !is_self_issued(cert))
        .count();
    match intermediates <= limit as usize {
        true => Ok(()),
        false => Err(constraint(
            anchor,
            &format!("allows {limit} intermediate(s) below it (pathLenConstraint), the path has {intermediates}"),
        )),
    }
}

fn check_key_identifiers(cert: &X509Certificate<'_>, is_ca: bool) -> Result<(), ChainFailure> {
    let mut authority_key_id = false;
    let mut subject_key_id = false;
    for extension in cert.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key_id = aki.key_identifier.is_some();
            }
            ParsedExtension::SubjectKeyIdentifier(_) => subject_key_id = true,
            _ => {}
        }
    }
    if !authority_key_id && !is_self_issued(cert) {
        return Err(constraint(
            cert,
            "has no authorityKeyIdentifier (RFC 5280 §4.2.1.1)",
        ));
    }
    if is_ca && !subject_key_id {
        return Err(constraint(
            cert,
            "is a CA without subjectKeyIdentifier (RFC 5280 §4.2.1.2)",
        ));
    }
    Ok(())
}

fn has_subject_key_id(cert: &X509Certificate<'_>) -> bool {
    cert.extensions().iter().any(|extension| {
        matches!(
            extension.parsed_extension(),
            ParsedExtension::SubjectKeyIdentifier(_)
        )
    })
}

fn check_ca_key_usage(cert: &X509Certificate<'_>) -> Result<(), ChainFailure> {
    match cert.key_usage() {
        Ok(Some(extension)) if !extension.value.key_cert_sign() => Err(constraint(
            cert,
            "is used as a CA but its keyUsage lacks keyCertSign (RFC 5280 §4.2.1.3)",
        )),
        Ok(_) => Ok(()),
        Err(error) => Err(format_failure(cert, &format!("keyUsage: {error}"))),
    }
}

fn is_self_issued(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw()
}

pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn constraint(cert: &X509Certificate<'_>, why: &str) -> ChainFailure {
    ChainFailure::new(
        SubIndication::ChainConstraintsFailure,
        format!("certificate {} {why}", cert.subject()),
    )
}

fn format_failure(cert: &X509Certificate<'_>, why: &str) -> ChainFailure {
    ChainFailure::new(
        SubIndication::FormatFailure,
        format!("certificate {}: {why}", cert.subject()),
    )
}
