//! RFC 5280 certificate-profile rules that every certificate of an accepted path must
//! follow, trust anchors included: a document signature may have to be defended years
//! later, and a certificate its CA could not have issued conformingly is no basis for
//! that. rustls-webpki waives these on purpose for the Web PKI (see
//! `docs/pki-conformance.md` for the cases this decides).

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use super::report::{ChainFailure, SubIndication};

/// Where a certificate sits in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Leaf,
    Intermediate,
    Anchor,
}

pub(crate) fn check_profile(cert: &X509Certificate<'_>, role: Role) -> Result<(), ChainFailure> {
    // Anchors are trusted by configuration, serial and all: several long-lived roots
    // (Starfield G2, serial 0) predate the rule.
    if role != Role::Anchor {
        check_serial(cert)?;
    }
    check_extension_criticality(cert, role)?;
    check_ca_consistency(cert, role)?;
    if role == Role::Leaf && cert.subject().as_raw().len() <= 2 {
        check_san_critical_for_empty_subject(cert)?;
    }
    Ok(())
}

/// §4.1.2.2: a positive integer of at most 20 octets.
fn check_serial(cert: &X509Certificate<'_>) -> Result<(), ChainFailure> {
    let serial = cert.raw_serial();
    let negative = serial.first().is_some_and(|first| first & 0x80 != 0);
    let zero = serial.iter().all(|octet| *octet == 0);
    match serial.is_empty() || serial.len() > 20 || negative || zero {
        true => Err(violation(
            cert,
            "has a serial number that is not a positive integer of at most 20 octets (§4.1.2.2)",
        )),
        false => Ok(()),
    }
}

/// §4.2.1.1/2 key identifiers MUST be non-critical; §4.2.1.10/11 name and policy
/// constraints MUST be critical; a trust anchor with a critical extension govgate does
/// not understand cannot be honoured (webpki checks this for the other certificates).
fn check_extension_criticality(cert: &X509Certificate<'_>, role: Role) -> Result<(), ChainFailure> {
    for extension in cert.extensions() {
        let problem = match extension.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(_) if extension.critical => {
                Some("a critical authorityKeyIdentifier (§4.2.1.1)")
            }
            ParsedExtension::SubjectKeyIdentifier(_) if extension.critical => {
                Some("a critical subjectKeyIdentifier (§4.2.1.2)")
            }
            ParsedExtension::NameConstraints(_) if !extension.critical => {
                Some("non-critical nameConstraints (§4.2.1.10)")
            }
            ParsedExtension::NameConstraints(_) if role == Role::Leaf => {
                Some("nameConstraints in an end-entity certificate (§4.2.1.10)")
            }
            ParsedExtension::NameConstraints(constraints)
                if constraints
                    .permitted_subtrees
                    .as_ref()
                    .is_none_or(Vec::is_empty)
                    && constraints
                        .excluded_subtrees
                        .as_ref()
                        .is_none_or(Vec::is_empty) =>
            {
                Some("empty nameConstraints (§4.2.1.10)")
            }
            ParsedExtension::PolicyConstraints(_) if !extension.critical => {
                Some("non-critical policyConstraints (§4.2.1.11)")
            }
            ParsedExtension::UnsupportedExtension { .. }
                if extension.critical && role == Role::Anchor =>
            {
                Some("an unsupported critical extension")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(violation(cert, &format!("has {problem}")));
        }
    }
    Ok(())
}

/// §4.2.1.9: a CA certificate has a critical basicConstraints with cA set, and the
/// keyCertSign bit only ever appears with cA; §4.1.2.6 a CA has a non-empty subject.
fn check_ca_consistency(cert: &X509Certificate<'_>, role: Role) -> Result<(), ChainFailure> {
    let basic_constraints = cert.basic_constraints().ok().flatten();
    let is_ca = basic_constraints.as_ref().is_some_and(|bc| bc.value.ca);
    let key_cert_sign = cert
        .key_usage()
        .ok()
        .flatten()
        .is_some_and(|ku| ku.value.key_cert_sign());
    if key_cert_sign && !is_ca {
        return Err(violation(
            cert,
            "has keyUsage keyCertSign without basicConstraints cA (§4.2.1.9)",
        ));
    }
    if role == Role::Leaf {
        return Ok(());
    }
    match basic_constraints {
        None => Err(violation(
            cert,
            "is a CA without basicConstraints (§4.2.1.9)",
        )),
        Some(bc) if !bc.critical => Err(violation(
            cert,
            "is a CA with non-critical basicConstraints (§4.2.1.9)",
        )),
        Some(_) if cert.subject().as_raw().len() <= 2 => {
            Err(violation(cert, "is a CA with an empty subject (§4.1.2.6)"))
        }
        Some(_) => Ok(()),
    }
}

/// §4.2.1.6: with an empty subject, subjectAltName carries the identity and is critical.
fn check_san_critical_for_empty_subject(cert: &X509Certificate<'_>) -> Result<(), ChainFailure> {
    match cert.subject_alternative_name() {
        Ok(Some(san)) if san.critical => Ok(()),
        _ => Err(violation(
            cert,
            "has an empty subject without a critical subjectAltName (§4.2.1.6)",
        )),
    }
}

fn violation(cert: &X509Certificate<'_>, why: &str) -> ChainFailure {
    ChainFailure::new(
        SubIndication::ChainConstraintsFailure,
        format!("certificate {} {why}", cert.subject()),
    )
}
