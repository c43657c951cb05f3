//! Certificate path validation (RFC 5280 §6 basic path validation, for document
//! signatures): rustls-webpki builds candidate paths and checks signatures, validity,
//! basic constraints, path length, name constraints and EKU chaining; every path it
//! finds is then put through govgate's stricter checks ([`super::constraints`], the
//! [`CryptoPolicy`]) and revocation, and rejected in favour of the next candidate if
//! it fails them.
//!
//! Work is bounded against hostile inputs: at most [`MAX_SUPPLIED_INTERMEDIATES`]
//! intermediates from a document, webpki's own budgets (6 intermediates deep,
//! 100 signature checks, 200 000 path-building calls) and at most
//! [`MAX_CANDIDATE_PATHS`] complete candidate paths examined.

use std::cell::{Cell, RefCell};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, VerifiedPath};
use x509_parser::certificate::X509Certificate;

use super::algorithms::VERIFIABLE;
use super::certificate::CertificateInfo;
use super::constraints;
use super::report::{ChainFailure, RevocationStatus, SubIndication};
use super::trust::TrustStore;
use super::usage::{self, EkuRule};
use super::{ChainRequest, ValidChain};

/// More intermediates than any real document carries.
pub const MAX_SUPPLIED_INTERMEDIATES: usize = 64;
/// Complete paths (reaching an anchor) examined before giving up.
pub const MAX_CANDIDATE_PATHS: usize = 32;

impl TrustStore {
    /// Validates `request.leaf` up to one of the store's anchors.
    pub fn validate(&self, request: &ChainRequest) -> Result<ValidChain, ChainFailure> {
        if request.intermediates.len() > MAX_SUPPLIED_INTERMEDIATES {
            return Err(ChainFailure::new(
                SubIndication::ChainConstraintsFailure,
                format!(
                    "{} intermediates supplied; at most {MAX_SUPPLIED_INTERMEDIATES} are examined",
                    request.intermediates.len()
                ),
            ));
        }
        let leaf = parse(request.leaf, "signer certificate")?;
        constraints::check_leaf_usage(&leaf, &request.usage)?;
        let leaf_der = CertificateDer::from(request.leaf);
        let end_entity = EndEntityCert::try_from(&leaf_der).map_err(|error| {
            ChainFailure::new(
                SubIndication::FormatFailure,
                format!("signer certificate: {error:?}"),
            )
        })?;
        check_server_name(&end_entity, request)?;
        self.build_path(&end_entity, request)
    }

    fn build_path(
        &self,
        end_entity: &EndEntityCert<'_>,
        request: &ChainRequest,
    ) -> Result<ValidChain, ChainFailure> {
        let intermediates: Vec<CertificateDer<'_>> = request
            .intermediates
            .iter()
            .map(|der| CertificateDer::from(der.as_slice()))
            .chain(
                self.intermediates
                    .iter()
                    .map(|der| CertificateDer::from(der.as_ref())),
            )
            .collect();
        let rejected: RefCell<Option<ChainFailure>> = RefCell::new(None);
        let accepted: RefCell<Option<ValidChain>> = RefCell::new(None);
        let candidates = Cell::new(0usize);
        let examine = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
            candidates.set(candidates.get() + 1);
            let verdict = match candidates.get() > MAX_CANDIDATE_PATHS {
                true => Err(ChainFailure::new(
                    SubIndication::ChainConstraintsFailure,
                    format!("more than {MAX_CANDIDATE_PATHS} candidate paths"),
                )),
                false => self.examine_path(path, request),
            };
            match verdict {
                Ok(chain) => {
                    *accepted.borrow_mut() = Some(chain);
                    Ok(())
                }
                Err(failure) => {
                    rejected.borrow_mut().get_or_insert(failure);
                    // Any non-fatal error: webpki goes on with the next candidate.
                    Err(webpki::Error::UnknownIssuer)
                }
            }
        };
        let outcome = end_entity.verify_for_usage(
            VERIFIABLE,
            &self.webpki_anchors,
            &intermediates,
            unix_time(request.at),
            EkuRule::for_usage(&request.usage),
            None,
            Some(&examine),
        );
        match (outcome, accepted.into_inner(), rejected.into_inner()) {
            (Ok(_), Some(chain), _) => Ok(chain),
            (Ok(_), None, _) => Err(ChainFailure::new(
                SubIndication::CertificateChainGeneralFailure,
                "path accepted without examination",
            )),
            // A path reached an anchor but broke a rule: that says more than the
            // "unknown issuer" of the candidates that went nowhere.
            (Err(_), _, Some(failure)) => Err(failure),
            (Err(error), _, None) => Err(failure_from_webpki(&error)),
        }
    }

    /// govgate's checks on one complete path that webpki accepted.
    fn examine_path(
        &self,
        path: &VerifiedPath<'_>,
        request: &ChainRequest,
    ) -> Result<ValidChain, ChainFailure> {
        let (anchor_index, anchor) = self.anchor_of(path)?;
        let leaf_der = path.end_entity().der();
        let intermediate_ders: Vec<CertificateDer<'_>> = path
            .intermediate_certificates()
            .map(|cert| cert.der())
            .collect();
        let mut ders: Vec<&[u8]> = vec![leaf_der.as_ref()];
        ders.extend(intermediate_ders.iter().map(|der| der.as_ref()));
        ders.push(anchor);
        let parsed = ders
            .iter()
            .map(|der| parse(der, "path certificate"))
            .collect::<Result<Vec<_>, _>>()?;
        let last = parsed.len() - 1;
        for (index, cert) in parsed.iter().enumerate() {
            request.policy.check(cert, index == last)?;
        }
        constraints::check_path(&parsed, request.at)?;
        let revocation = match request.revocation {
            Some(revocation) => revocation.check(&ders, request.at)?,
            None => RevocationStatus::NotChecked,
        };
        Ok(ValidChain {
            certificates: ders
                .iter()
                .zip(&parsed)
                .map(|(der, cert)| CertificateInfo::from_parsed(der, cert))
                .collect(),
            trust_list: self.anchors[anchor_index].list.clone(),
            revocation,
        })
    }

    fn anchor_of(&self, path: &VerifiedPath<'_>) -> Result<(usize, &[u8]), ChainFailure> {
        let anchor = path.anchor();
        self.webpki_anchors
            .iter()
            .position(|known| {
                known.subject == anchor.subject
                    && known.subject_public_key_info == anchor.subject_public_key_info
            })
            .map(|index| (index, self.anchors[index].der.as_slice()))
            .ok_or_else(|| {
                ChainFailure::new(
                    SubIndication::CertificateChainGeneralFailure,
                    "anchor not in store",
                )
            })
    }
}

fn check_server_name(
    end_entity: &EndEntityCert<'_>,
    request: &ChainRequest,
) -> Result<(), ChainFailure> {
    let Some(name) = usage::server_name(&request.usage) else {
        return Ok(());
    };
    let name =
        name.map_err(|why| ChainFailure::new(SubIndication::ChainConstraintsFailure, why))?;
    end_entity
        .verify_is_valid_for_subject_name(&name)
        .map_err(|error| failure_from_webpki(&error))
}

fn parse<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, ChainFailure> {
    match x509_parser::parse_x509_certificate(der) {
        Ok((&[], cert)) => Ok(cert),
        Ok(_) => Err(ChainFailure::new(
            SubIndication::FormatFailure,
            format!("{what}: trailing data"),
        )),
        Err(error) => Err(ChainFailure::new(
            SubIndication::FormatFailure,
            format!("{what}: {error}"),
        )),
    }
}

fn unix_time(at: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(at.duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// webpki's reasons in the EN 319 102-1 vocabulary.
pub(crate) fn failure_from_webpki(error: &webpki::Error) -> ChainFailure {
    use webpki::Error::*;
    use SubIndication as S;
    let (sub_indication, detail) = match error {
        CertExpired { not_after, .. } => (
            S::Expired,
            format!(
                "a certificate of the path expired at {}",
                format_unix(not_after.as_secs())
            ),
        ),
        CertNotValidYet { not_before, .. } => (
            S::NotYetValid,
            format!(
                "a certificate of the path is not valid before {}",
                format_unix(not_before.as_secs())
            ),
        ),
        UnknownIssuer => (
            S::NoCertificateChainFound,
            "no path to a trusted anchor".into(),
        ),
        InvalidSignatureForPublicKey => (
            S::NoCertificateChainFound,
            "a certificate's signature does not verify with its issuer's key".into(),
        ),
        UnsupportedSignatureAlgorithmContext(_)
        | UnsupportedSignatureAlgorithmForPublicKeyContext(_) => (
            S::CryptoConstraintsFailure,
            format!("signature algorithm not supported: {error:?}"),
        ),
        CertRevoked => (S::Revoked, "a certificate of the path is revoked".into()),
        UnknownRevocationStatus => (S::TryLater, "revocation status unknown".into()),
        MaximumSignatureChecksExceeded
        | MaximumPathBuildCallsExceeded
        | MaximumNameConstraintComparisonsExceeded => (
            S::ChainConstraintsFailure,
            format!("path building budget exhausted ({error:?}): refusing pathological input"),
        ),
        BadDer
        | BadDerTime
        | TrailingData(_)
        | ExtensionValueInvalid
        | MalformedExtensions
        | UnsupportedCertVersion
        | InvalidSerialNumber
        | InvalidCertValidity => (
            S::FormatFailure,
            format!("malformed certificate: {error:?}"),
        ),
        _ => (S::ChainConstraintsFailure, format!("{error:?}")),
    };
    ChainFailure::new(sub_indication, detail)
}

fn format_unix(seconds: u64) -> String {
    let time = UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    humantime::format_rfc3339_seconds(time).to_string()
}
