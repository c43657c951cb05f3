//! X.509 CRLs (RFC 5280 §5): parsed once into an owned form, then judged against the
//! certificate they are asked about.
//!
//! Refused when parsed (the CRL is unusable whoever asks): not v2, no CRL number or a
//! critical one, a delta CRL (deltaCRLIndicator) or a CRL pointing to deltas
//! (freshestCRL is fine, it is non-critical and ignored), an indirect CRL (IDP
//! indirectCRL, or a certificateIssuer entry extension), a CRL partitioned by reasons
//! (IDP onlySomeReasons), attribute-certificate CRLs, `removeFromCRL` entries (they
//! belong to delta CRLs only, §5.3.1), any critical extension not understood.
//!
//! Judged per use ([`Crl::judge`]): the issuer name must be the certificate's issuer
//! (byte for byte) and the CRL signed by the key of the next certificate of the path
//! (no delegated CRL issuers); that certificate's keyUsage, when present, must allow
//! cRLSign; the IDP scope (user / CA certificates, distribution point) must cover the
//! certificate; thisUpdate must not be in the future and nextUpdate must not have
//! passed — a CRL past its nextUpdate is *stale* and proves nothing now.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::time::ASN1Time;

use super::signed;
use crate::pki::CryptoPolicy;

/// Clocks of CAs and of this host disagree a little.
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

const OID_CRL_NUMBER: &str = "2.5.29.20";
const OID_DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const OID_ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
const OID_AUTHORITY_KEY_IDENTIFIER: &str = "2.5.29.35";
const OID_ISSUER_ALT_NAME: &str = "2.5.29.18";
const OID_FRESHEST_CRL: &str = "2.5.29.46";
const OID_AUTHORITY_INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.1";
const OID_REASON_CODE: &str = "2.5.29.21";
const OID_INVALIDITY_DATE: &str = "2.5.29.24";
const OID_CERTIFICATE_ISSUER: &str = "2.5.29.29";

/// CRLReason values (RFC 5280 §5.3.1) that matter here.
pub(crate) const REASON_CERTIFICATE_HOLD: u8 = 6;
const REASON_REMOVE_FROM_CRL: u8 = 8;

/// One revoked serial number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RevokedEntry {
    pub at: SystemTime,
    pub reason: Option<u8>,
}

/// Which certificates an IDP extension lets the CRL speak for.
#[derive(Debug, Clone, Default)]
struct Scope {
    only_user_certs: bool,
    only_ca_certs: bool,
    /// URIs of the IDP distributionPoint (empty when none is named).
    distribution_point_uris: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum CrlProblem {
    #[error("{origin}: refused: {why}")]
    Refused { origin: String, why: String },
    #[error("{origin}: not issued for this certificate: {why}")]
    NotApplicable { origin: String, why: String },
    #[error("{origin}: stale: {why}")]
    Stale { origin: String, why: String },
}

/// A full CRL that passed the structural rules, signature not yet checked.
#[derive(Debug)]
pub(crate) struct Crl {
    /// Where it came from (`CRL http://…`, `CRL file …`), for reports.
    pub source: String,
    der: Vec<u8>,
    issuer: Vec<u8>,
    pub this_update: SystemTime,
    pub next_update: SystemTime,
    scope: Scope,
    revoked: HashMap<Vec<u8>, RevokedEntry>,
    /// The issuer key (SubjectPublicKeyInfo) and crypto policy this CRL's signature last
    /// verified under: the same CRL is consulted for every document, and its signature
    /// cannot change, so it is checked once per key and policy, not once per use.
    verified_with: Mutex<Option<(Vec<u8>, bool)>>,
}

impl Crl {
    pub(crate) fn parse(der: Vec<u8>, source: String) -> Result<Crl, CrlProblem> {
        let refuse = |why: String| CrlProblem::Refused {
            origin: source.clone(),
            why,
        };
        let (rest, crl) = x509_parser::parse_x509_crl(&der)
            .map_err(|error| refuse(format!("not a CRL: {error}")))?;
        if !rest.is_empty() {
            return Err(refuse("trailing data after the CRL".into()));
        }
        if crl.version().map(|version| version.0) != Some(1) {
            return Err(refuse("not a v2 CRL".into()));
        }
        let scope = check_crl_extensions(&crl).map_err(refuse)?;
        let next_update = crl
            .next_update()
            .ok_or_else(|| refuse("no nextUpdate (RFC 5280 §5.1.2.5 requires it)".into()))?;
        let revoked = revoked_entries(&crl).map_err(refuse)?;
        let issuer = crl.issuer().as_raw().to_vec();
        let this_update = system_time(crl.last_update());
        let next_update = system_time(next_update);
        drop(crl);
        Ok(Crl {
            source,
            der,
            issuer,
            this_update,
            next_update,
            scope,
            revoked,
            verified_with: Mutex::new(None),
        })
    }

    /// Checks the CRL's signature with `issuer_spki` under `policy`, once per pair.
    fn verify_signature(&self, issuer_spki: &[u8], policy: &CryptoPolicy) -> Result<(), String> {
        let mut verified = self
            .verified_with
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let known = verified.as_ref().is_some_and(|(spki, legacy)| {
            spki.as_slice() == issuer_spki && *legacy == policy.allow_legacy
        });
        if known {
            return Ok(());
        }
        let parts = signed::split_signed(&self.der).map_err(|e| e.to_string())?;
        signed::verify(&parts, issuer_spki, policy).map_err(|e| e.to_string())?;
        *verified = Some((issuer_spki.to_vec(), policy.allow_legacy));
        Ok(())
    }

    /// Bytes held, for the cache budget.
    pub(crate) fn size(&self) -> usize {
        self.der.len() + self.revoked.len() * 48
    }

    /// Whether this CRL may answer for `cert`, issued by `issuer`, judged at `now`.
    pub(crate) fn judge(
        &self,
        cert: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
        now: SystemTime,
        policy: &CryptoPolicy,
    ) -> Result<(), CrlProblem> {
        let source = || self.source.clone();
        let not_applicable = |why: &str| CrlProblem::NotApplicable {
            origin: source(),
            why: why.into(),
        };
        let refused = |why: String| CrlProblem::Refused {
            origin: source(),
            why,
        };
        if self.issuer != cert.issuer().as_raw() || self.issuer != issuer.subject().as_raw() {
            return Err(not_applicable(
                "the CRL issuer is not the certificate's issuer",
            ));
        }
        self.scope
            .covers(cert)
            .map_err(|why| not_applicable(&why))?;
        if let Ok(Some(usage)) = issuer.key_usage() {
            if !usage.value.crl_sign() {
                return Err(refused(
                    "the issuer's keyUsage does not allow cRLSign".into(),
                ));
            }
        }
        self.verify_signature(issuer.public_key().raw, policy)
            .map_err(refused)?;
        if self.this_update > now + CLOCK_SKEW {
            return Err(refused(format!(
                "thisUpdate {} is in the future",
                rfc3339(self.this_update)
            )));
        }
        if self.next_update < now {
            return Err(CrlProblem::Stale {
                origin: source(),
                why: format!("nextUpdate {} has passed", rfc3339(self.next_update)),
            });
        }
        Ok(())
    }

    /// The entry for `serial` (the certificate's serialNumber content octets).
    pub(crate) fn entry(&self, serial: &[u8]) -> Option<&RevokedEntry> {
        self.revoked.get(serial)
    }
}

impl Scope {
    fn covers(&self, cert: &X509Certificate<'_>) -> Result<(), String> {
        let is_ca = cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|constraints| constraints.value.ca);
        if self.only_user_certs && is_ca {
            return Err("the CRL covers end-entity certificates only".into());
        }
        if self.only_ca_certs && !is_ca {
            return Err("the CRL covers CA certificates only".into());
        }
        let cert_points = distribution_point_uris(cert);
        let disjoint = !self.distribution_point_uris.is_empty()
            && !cert_points.is_empty()
            && !cert_points
                .iter()
                .any(|uri| self.distribution_point_uris.contains(uri));
        match disjoint {
            true => Err("its distribution point is not one the certificate names".into()),
            false => Ok(()),
        }
    }
}

fn check_crl_extensions(crl: &CertificateRevocationList<'_>) -> Result<Scope, String> {
    let mut scope = Scope::default();
    let mut numbered = false;
    for extension in crl.extensions() {
        let oid = extension.oid.to_id_string();
        match oid.as_str() {
            OID_CRL_NUMBER if extension.critical => {
                return Err("critical CRL number (RFC 5280 §5.2.3: non-critical)".into())
            }
            OID_CRL_NUMBER => numbered = true,
            OID_DELTA_CRL_INDICATOR => {
                return Err("a delta CRL: only complete CRLs are used".into())
            }
            OID_ISSUING_DISTRIBUTION_POINT => {
                scope = issuing_distribution_point(extension.parsed_extension())?
            }
            OID_AUTHORITY_KEY_IDENTIFIER
            | OID_ISSUER_ALT_NAME
            | OID_FRESHEST_CRL
            | OID_AUTHORITY_INFO_ACCESS => {}
            _ if extension.critical => return Err(format!("unknown critical extension {oid}")),
            _ => {}
        }
        if let ParsedExtension::ParseError { error } = extension.parsed_extension() {
            return Err(format!("extension {oid} does not parse: {error}"));
        }
    }
    match numbered {
        true => Ok(scope),
        false => Err("no CRL number (RFC 5280 §5.2.3 requires it)".into()),
    }
}

fn issuing_distribution_point(parsed: &ParsedExtension<'_>) -> Result<Scope, String> {
    let ParsedExtension::IssuingDistributionPoint(point) = parsed else {
        return Err("issuingDistributionPoint does not parse".into());
    };
    if point.indirect_crl {
        return Err("an indirect CRL: only CRLs issued by the certificate's CA are used".into());
    }
    if point.only_some_reasons.is_some() {
        return Err("a CRL partitioned by reasons (onlySomeReasons) is not complete".into());
    }
    if point.only_contains_attribute_certs {
        return Err("a CRL for attribute certificates".into());
    }
    let distribution_point_uris = match &point.distribution_point {
        Some(DistributionPointName::FullName(names)) => uris(names),
        Some(DistributionPointName::NameRelativeToCRLIssuer(_)) => {
            return Err("an IDP name relative to the CRL issuer is not supported".into())
        }
        None => Vec::new(),
    };
    Ok(Scope {
        only_user_certs: point.only_contains_user_certs,
        only_ca_certs: point.only_contains_ca_certs,
        distribution_point_uris,
    })
}

fn revoked_entries(
    crl: &CertificateRevocationList<'_>,
) -> Result<HashMap<Vec<u8>, RevokedEntry>, String> {
    let mut revoked = HashMap::new();
    for entry in crl.iter_revoked_certificates() {
        let mut reason = None;
        for extension in entry.extensions() {
            let oid = extension.oid.to_id_string();
            match (oid.as_str(), extension.parsed_extension()) {
                (OID_REASON_CODE, ParsedExtension::ReasonCode(code)) => reason = Some(code.0),
                (OID_INVALIDITY_DATE, _) => {}
                (OID_CERTIFICATE_ISSUER, _) => {
                    return Err("an entry names another certificate issuer (indirect CRL)".into())
                }
                _ if extension.critical => {
                    return Err(format!("unknown critical entry extension {oid}"))
                }
                _ => {}
            }
        }
        if reason == Some(REASON_REMOVE_FROM_CRL) {
            return Err("removeFromCRL in a complete CRL (it belongs to delta CRLs)".into());
        }
        revoked.insert(
            entry.raw_serial().to_vec(),
            RevokedEntry {
                at: system_time(entry.revocation_date),
                reason,
            },
        );
    }
    Ok(revoked)
}

/// The http:// URIs of a certificate's cRLDistributionPoints (full names only; a
/// distribution point with a cRLIssuer would be an indirect CRL and is skipped).
pub(crate) fn distribution_point_uris(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut found = Vec::new();
    for extension in cert.extensions() {
        if let ParsedExtension::CRLDistributionPoints(points) = extension.parsed_extension() {
            for point in points.iter().filter(|point| point.crl_issuer.is_none()) {
                if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
                    found.extend(uris(names));
                }
            }
        }
    }
    found
}

fn uris(names: &[GeneralName<'_>]) -> Vec<String> {
    names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(uri.to_string()),
            _ => None,
        })
        .collect()
}

pub(crate) fn system_time(time: ASN1Time) -> SystemTime {
    let seconds = time.timestamp();
    match u64::try_from(seconds) {
        Ok(seconds) => UNIX_EPOCH + Duration::from_secs(seconds),
        Err(_) => UNIX_EPOCH,
    }
}

pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// PEM (`X509 CRL` blocks, several allowed) or DER CRLs in one file's bytes.
pub(crate) fn decode_crls(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if bytes.first() == Some(&0x30) {
        return Ok(vec![bytes.to_vec()]);
    }
    let blocks = pem::parse_many(bytes).map_err(|error| format!("not PEM or DER: {error}"))?;
    let crls: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|block| block.tag() == "X509 CRL")
        .map(|block| block.into_contents())
        .collect();
    match crls.is_empty() {
        true => Err("no X509 CRL block".into()),
        false => Ok(crls),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_not_a_panic() {
        for input in [vec![], vec![0x30, 0x03, 0x02, 0x01, 0x01], vec![0xff; 40]] {
            assert!(matches!(
                Crl::parse(input, "t".into()),
                Err(CrlProblem::Refused { .. })
            ));
        }
    }

    #[test]
    fn pem_files_may_hold_several_crls() {
        let pem = "-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n";
        assert_eq!(decode_crls(pem.as_bytes()).unwrap().len(), 2);
        assert!(
            decode_crls(b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n").is_err()
        );
    }
}
