//! Which signature algorithms and keys a path may use (Circular 15/2025: RSA ≥ 2048
//! bits and SHA-2; ECDSA P-256/P-384; Ed25519). SHA-1 signatures and RSA keys below
//! 2048 bits are CRYPTO_CONSTRAINTS_FAILURE unless `allow_legacy` is set, because old
//! government documents still carry them and must stay readable on request.

use x509_parser::certificate::X509Certificate;
use x509_parser::public_key::PublicKey;

use super::report::{ChainFailure, SubIndication};

const MIN_RSA_BITS: usize = 2048;
/// aws-lc-rs verifies nothing smaller, legacy or not.
const MIN_LEGACY_RSA_BITS: usize = 1024;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CryptoPolicy {
    /// Accept SHA-1 signatures and RSA keys from 1024 bits (documents from before the
    /// SHA-2 migration). Off by default.
    pub allow_legacy: bool,
}

impl CryptoPolicy {
    /// The default: SHA-2 and RSA ≥ 2048 only.
    pub const STRICT: CryptoPolicy = CryptoPolicy {
        allow_legacy: false,
    };
    /// The documented legacy switch.
    pub const LEGACY: CryptoPolicy = CryptoPolicy { allow_legacy: true };

    /// Checks the certificate's own public key, and — unless it is the trust anchor,
    /// whose self-signature proves nothing — the algorithm its issuer signed it with.
    pub(crate) fn check(
        &self,
        cert: &X509Certificate<'_>,
        is_anchor: bool,
    ) -> Result<(), ChainFailure> {
        self.check_public_key(cert)?;
        if !is_anchor {
            self.check_signature_algorithm(cert)?;
        }
        Ok(())
    }

    fn check_public_key(&self, cert: &X509Certificate<'_>) -> Result<(), ChainFailure> {
        let spki = cert.public_key();
        let parsed = spki
            .parsed()
            .map_err(|_| refuse(cert, "has a public key that cannot be parsed".to_string()))?;
        match parsed {
            PublicKey::RSA(rsa) => {
                let bits = rsa.key_size();
                let minimum = match self.allow_legacy {
                    true => MIN_LEGACY_RSA_BITS,
                    false => MIN_RSA_BITS,
                };
                if bits % 8 != 0 {
                    return Err(refuse(
                        cert,
                        format!("has an RSA modulus of {bits} bits, not whole octets"),
                    ));
                }
                if bits < minimum {
                    return Err(refuse(
                        cert,
                        format!("has an RSA-{bits} key (minimum {minimum} bits)"),
                    ));
                }
                Ok(())
            }
            PublicKey::EC(_) => {
                let curve = ec_curve_oid(spki);
                match curve.as_str() {
                    // P-256, P-384
                    "1.2.840.10045.3.1.7" | "1.3.132.0.34" => Ok(()),
                    _ => Err(refuse(
                        cert,
                        format!("uses an EC curve not allowed ({curve})"),
                    )),
                }
            }
            _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => Ok(()),
            _ => Err(refuse(
                cert,
                format!(
                    "has a public key algorithm not allowed ({})",
                    spki.algorithm.algorithm.to_id_string()
                ),
            )),
        }
    }

    fn check_signature_algorithm(&self, cert: &X509Certificate<'_>) -> Result<(), ChainFailure> {
        let oid = cert.signature_algorithm.algorithm.to_id_string();
        match signature_strength(&oid) {
            Some(Strength::Current) => Ok(()),
            Some(Strength::Legacy) if self.allow_legacy => Ok(()),
            Some(Strength::Legacy) => Err(refuse(
                cert,
                format!("is signed with SHA-1 ({oid}); allowed only under the legacy switch"),
            )),
            None => Err(refuse(
                cert,
                format!("is signed with an algorithm not allowed ({oid})"),
            )),
        }
    }
}

pub(crate) enum Strength {
    Current,
    Legacy,
}

pub(crate) fn signature_strength(oid: &str) -> Option<Strength> {
    match oid {
        // sha256/384/512WithRSAEncryption, RSASSA-PSS (webpki accepts only SHA-2
        // parameters for it), ecdsa-with-SHA256/384/512, Ed25519
        "1.2.840.113549.1.1.11"
        | "1.2.840.113549.1.1.12"
        | "1.2.840.113549.1.1.13"
        | "1.2.840.113549.1.1.10"
        | "1.2.840.10045.4.3.2"
        | "1.2.840.10045.4.3.3"
        | "1.2.840.10045.4.3.4"
        | "1.3.101.112" => Some(Strength::Current),
        // sha1WithRSAEncryption, ecdsa-with-SHA1
        "1.2.840.113549.1.1.5" | "1.2.840.10045.4.1" => Some(Strength::Legacy),
        _ => None,
    }
}

fn refuse(cert: &X509Certificate<'_>, why: String) -> ChainFailure {
    ChainFailure::new(
        SubIndication::CryptoConstraintsFailure,
        format!("certificate {} {why}", cert.subject()),
    )
}

/// The dotted OID of an EC key's named curve (empty when the parameters name none).
pub(crate) fn ec_curve_oid(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> String {
    spki.algorithm
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.as_oid().ok())
        .map(|oid| oid.to_id_string())
        .unwrap_or_default()
}
