//! The ETSI EN 319 102-1 validation vocabulary (§5.1.3): main indications and the
//! sub-indications that explain them. Serialised as the standard spells them
//! (`TOTAL_PASSED`, `NO_CERTIFICATE_CHAIN_FOUND`, ...), so reports read the same as
//! those of EU DSS and pyHanko.

use serde::Serialize;

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
}
