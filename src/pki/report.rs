//! The ETSI EN 319 102-1 validation vocabulary (§5.1.3): main indications and the
//! sub-indications that explain them. Serialised as the standard spells them
//! (`TOTAL_PASSED`, `NO_CERTIFICATE_CHAIN_FOUND`, ...), so reports read the same as
//! those of EU DSS and pyHanko.
//!
//! Also the reports themselves: a [`DocumentReport`] per file, a [`SignatureReport`]
//! per signature in it. Every format verifier fills the same structures, so the JSON
//! and the text form are the same whatever was verified.

use std::time::SystemTime;

use serde::{Serialize, Serializer};

use super::certificate::CertificateInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Indication {
    TotalPassed,
    TotalFailed,
    Indeterminate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubIndication {
    // TOTAL_FAILED
    FormatFailure,
    HashFailure,
    SigCryptoFailure,
    Revoked,
    Expired,
    NotYetValid,
    // INDETERMINATE
    SigConstraintsFailure,
    ChainConstraintsFailure,
    CertificateChainGeneralFailure,
    CryptoConstraintsFailure,
    CryptoConstraintsFailureNoPoe,
    RevokedNoPoe,
    RevokedCaNoPoe,
    OutOfBoundsNoPoe,
    OutOfBoundsNotRevoked,
    RevocationOutOfBoundsNoPoe,
    NoPoe,
    TryLater,
    SignedDataNotFound,
    NoSigningCertificateFound,
    NoCertificateChainFound,
    PolicyProcessingError,
    SignaturePolicyNotAvailable,
    TimestampOrderFailure,
}

impl SubIndication {
    /// The main indication this sub-indication belongs to (EN 319 102-1 Table 5).
    pub fn indication(self) -> Indication {
        use SubIndication::*;
        match self {
            FormatFailure | HashFailure | SigCryptoFailure | Revoked | Expired | NotYetValid => {
                Indication::TotalFailed
            }
            _ => Indication::Indeterminate,
        }
    }
}

/// Why a certificate path was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{sub_indication:?}: {detail}")]
pub struct ChainFailure {
    pub sub_indication: SubIndication,
    /// A sentence for the report: which certificate, which rule.
    pub detail: String,
}

impl ChainFailure {
    pub fn new(sub_indication: SubIndication, detail: impl Into<String>) -> ChainFailure {
        ChainFailure {
            sub_indication,
            detail: detail.into(),
        }
    }

    pub fn indication(&self) -> Indication {
        self.sub_indication.indication()
    }
}

/// What revocation checking established for a certificate path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RevocationStatus {
    /// No revocation checking was configured for this run.
    NotChecked,
    /// Every certificate of the path (below the anchor) was shown unrevoked at the
    /// validation time; `sources` names the CRLs / OCSP responses used, leaf first.
    Good { sources: Vec<String> },
    /// A certificate was revoked, but only after the validation time (proven by a
    /// timestamp): the signature stands.
    RevokedAfterValidationTime {
        #[serde(serialize_with = "rfc3339")]
        revoked_at: SystemTime,
        sources: Vec<String>,
    },
}

/// The formats govgate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentFormat {
    Cms,
    Pdf,
    Xml,
    Edxml,
}

/// The verdict on one signature.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    /// Where the signature is, for a person: `SignerInfo 1`, `PDF field Signature1`,
    /// `ds:Signature 1`.
    pub label: String,
    pub indication: Indication,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_indication: Option<SubIndication>,
    /// Why it did not pass, sentence by sentence (empty when it passed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Things worth knowing that did not decide the verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The signer's certificate, when one was identified.
    pub signer: Option<CertificateInfo>,
    /// The signing time the signature claims (informative only).
    #[serde(serialize_with = "rfc3339_option")]
    pub claimed_signing_time: Option<SystemTime>,
    /// A trusted timestamp over the signature, when present.
    pub timestamp: Option<TimestampReport>,
    /// The time the chain was validated at.
    #[serde(serialize_with = "rfc3339")]
    pub validation_time: SystemTime,
    /// The validated path, signer first, anchor last (empty when none was found).
    pub chain: Vec<CertificateInfo>,
    pub trust_list: Option<String>,
    pub revocation: Option<RevocationStatus>,
    /// `sha-256`, ...
    pub digest_algorithm: Option<String>,
    /// `rsa-pkcs1-sha256`, `rsa-pss-sha256`, `ecdsa-p256-sha256`, `ed25519`, ...
    pub signature_algorithm: Option<String>,
    /// What exactly the signature covers, each item a sentence (`bytes 0–1234 and
    /// 5678–9999 of 9999: the whole file except the signature value`, `element
    /// edXMLHeader`, `attachment QD-123.pdf`).
    pub covers: Vec<String>,
}

impl SignatureReport {
    /// A report for `label` that has established nothing yet; verifiers fill it in.
    pub fn new(label: impl Into<String>, validation_time: SystemTime) -> SignatureReport {
        SignatureReport {
            label: label.into(),
            indication: Indication::TotalPassed,
            sub_indication: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            signer: None,
            claimed_signing_time: None,
            timestamp: None,
            validation_time,
            chain: Vec::new(),
            trust_list: None,
            revocation: None,
            digest_algorithm: None,
            signature_algorithm: None,
            covers: Vec::new(),
        }
    }

    /// Records a failure. The first failure decides the sub-indication, except that a
    /// TOTAL_FAILED one always overrides an INDETERMINATE one (a broken hash is worse
    /// news than a missing chain).
    pub fn fail(&mut self, failure: ChainFailure) {
        let replaces = match self.sub_indication {
            None => true,
            Some(current) => {
                current.indication() == Indication::Indeterminate
                    && failure.indication() == Indication::TotalFailed
            }
        };
        if replaces {
            self.sub_indication = Some(failure.sub_indication);
            self.indication = failure.indication();
        }
        self.errors.push(failure.detail);
    }

    pub fn passed(&self) -> bool {
        self.indication == Indication::TotalPassed
    }

    /// Records the outcome of validating the signer's certificate path.
    pub fn record_chain(&mut self, validation: Result<super::ValidChain, ChainFailure>) {
        match validation {
            Ok(chain) => {
                self.chain = chain.certificates;
                self.trust_list = Some(chain.trust_list);
                self.revocation = Some(chain.revocation);
            }
            Err(failure) => self.fail(failure),
        }
    }
}

/// An RFC 3161 timestamp as a report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TimestampReport {
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    pub indication: Indication,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_indication: Option<SubIndication>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    pub authority: Option<CertificateInfo>,
    pub trust_list: Option<String>,
}

/// The verdict on one file.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentReport {
    /// The file name (CLI) or `request body` (API).
    pub document: String,
    pub format: Option<DocumentFormat>,
    /// TOTAL_PASSED only when there is at least one signature and every one passed.
    pub indication: Indication,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_indication: Option<SubIndication>,
    /// Problems with the file itself (unreadable, not a known format, unsigned).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    pub signatures: Vec<SignatureReport>,
}

impl DocumentReport {
    /// Builds the file's verdict from its signatures: the worst one decides.
    pub fn from_signatures(
        document: impl Into<String>,
        format: DocumentFormat,
        signatures: Vec<SignatureReport>,
    ) -> DocumentReport {
        let mut report = DocumentReport {
            document: document.into(),
            format: Some(format),
            indication: Indication::TotalPassed,
            sub_indication: None,
            errors: Vec::new(),
            signatures,
        };
        if report.signatures.is_empty() {
            report.indication = Indication::TotalFailed;
            report.sub_indication = Some(SubIndication::FormatFailure);
            report
                .errors
                .push("the document carries no signature".into());
            return report;
        }
        let worst = report
            .signatures
            .iter()
            .filter(|signature| !signature.passed())
            .max_by_key(|signature| signature.indication == Indication::TotalFailed);
        if let Some(worst) = worst {
            report.indication = worst.indication;
            report.sub_indication = worst.sub_indication;
        }
        report
    }

    /// A file that could not be verified at all.
    pub fn unreadable(
        document: impl Into<String>,
        format: Option<DocumentFormat>,
        failure: ChainFailure,
    ) -> DocumentReport {
        DocumentReport {
            document: document.into(),
            format,
            indication: failure.indication(),
            sub_indication: Some(failure.sub_indication),
            errors: vec![failure.detail],
            signatures: Vec::new(),
        }
    }

    pub fn passed(&self) -> bool {
        self.indication == Indication::TotalPassed
    }
}

/// The standard's spelling of an indication or sub-indication (`TOTAL_PASSED`,
/// `HASH_FAILURE`): their serde names.
pub fn standard_code<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

pub(crate) fn rfc3339<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_rfc3339_seconds(*time).to_string())
}

fn rfc3339_option<S: Serializer>(
    time: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => rfc3339(time, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_indications_serialise_in_the_standard_spelling() {
        let json = serde_json::to_string(&SubIndication::NoCertificateChainFound).unwrap();
        assert_eq!(json, "\"NO_CERTIFICATE_CHAIN_FOUND\"");
        let json = serde_json::to_string(&Indication::TotalPassed).unwrap();
        assert_eq!(json, "\"TOTAL_PASSED\"");
    }

    #[test]
    fn expiry_fails_totally_but_a_missing_chain_is_indeterminate() {
        assert_eq!(SubIndication::Expired.indication(), Indication::TotalFailed);
        assert_eq!(
            SubIndication::NoCertificateChainFound.indication(),
            Indication::Indeterminate
        );
    }

    fn signature(indication_failure: Option<SubIndication>) -> SignatureReport {
        let mut report = SignatureReport::new("s", SystemTime::UNIX_EPOCH);
        if let Some(sub) = indication_failure {
            report.fail(ChainFailure::new(sub, "why"));
        }
        report
    }

    #[test]
    fn a_document_passes_only_when_every_signature_passes() {
        let all_good = vec![signature(None), signature(None)];
        assert!(DocumentReport::from_signatures("f", DocumentFormat::Pdf, all_good).passed());
        let one_bad = vec![
            signature(None),
            signature(Some(SubIndication::NoCertificateChainFound)),
            signature(Some(SubIndication::HashFailure)),
        ];
        let report = DocumentReport::from_signatures("f", DocumentFormat::Pdf, one_bad);
        assert_eq!(report.indication, Indication::TotalFailed);
        assert_eq!(report.sub_indication, Some(SubIndication::HashFailure));
    }

    #[test]
    fn an_unsigned_document_fails() {
        let report = DocumentReport::from_signatures("f", DocumentFormat::Cms, Vec::new());
        assert_eq!(report.indication, Indication::TotalFailed);
    }

    #[test]
    fn a_total_failure_overrides_an_earlier_indeterminate_one() {
        let mut report = signature(Some(SubIndication::TryLater));
        report.fail(ChainFailure::new(SubIndication::SigCryptoFailure, "bad"));
        report.fail(ChainFailure::new(SubIndication::NoPoe, "later"));
        assert_eq!(report.sub_indication, Some(SubIndication::SigCryptoFailure));
        assert_eq!(report.errors.len(), 3);
    }
}
