//! SignerInfo signature algorithms (RFC 5652 §5.3, RFC 3370, RFC 4056, RFC 5753,
//! RFC 8419) resolved to aws-lc-rs verifiers, and the crypto policy applied to them.
//!
//! RSA PKCS#1 v1.5 is accepted under rsaEncryption (the hash is then the
//! digestAlgorithm) or under sha*WithRSAEncryption (whose hash must equal it); RSA-PSS
//! parameters are parsed and must be consistent (MGF1 with the same hash, trailer 1,
//! salt of the hash length or the maximum: the two lengths signers use, and the two
//! aws-lc-rs can check); ECDSA on P-256 / P-384 with a DER signature; Ed25519 (pure,
//! so only over signed attributes).

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::signature::{self, RsaParameters, RsaPssSaltLength, VerificationAlgorithm};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_parser::certificate::X509Certificate;
use x509_parser::public_key::PublicKey;

use crate::pki::report::{ChainFailure, SubIndication};
use crate::pki::{CryptoPolicy, DigestAlgorithm};

const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_MGF1: &str = "1.2.840.113549.1.1.8";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const MIN_RSA_BITS: usize = 2048;
const MIN_LEGACY_RSA_BITS: usize = 1024;

static PSS_SHA256_MAX_SALT: RsaParameters =
    signature::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
static PSS_SHA384_MAX_SALT: RsaParameters =
    signature::RSA_PSS_2048_8192_SHA384.with_pss_salt_length(RsaPssSaltLength::Max);
static PSS_SHA512_MAX_SALT: RsaParameters =
    signature::RSA_PSS_2048_8192_SHA512.with_pss_salt_length(RsaPssSaltLength::Max);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

/// The signer's public key as aws-lc-rs takes it, and what the policy judges.
#[derive(Debug, Clone)]
pub(crate) struct SignerKey {
    kind: KeyKind,
    /// subjectPublicKey: RSAPublicKey DER, an uncompressed EC point, or 32 octets.
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa { bits: usize },
    Ec(Curve),
    Ed25519,
}

impl SignerKey {
    pub fn from_certificate(cert: &X509Certificate<'_>) -> Result<SignerKey, ChainFailure> {
        let spki = cert.public_key();
        let algorithm = spki.algorithm.algorithm.to_id_string();
        let kind = match (algorithm.as_str(), spki.parsed()) {
            (OID_RSA_ENCRYPTION | OID_RSA_PSS, Ok(PublicKey::RSA(rsa))) => KeyKind::Rsa {
                bits: rsa.key_size(),
            },
            (OID_EC_PUBLIC_KEY, _) => {
                let curve = crate::pki::crypto_policy::ec_curve_oid(spki);
                match curve.as_str() {
                    OID_P256 => KeyKind::Ec(Curve::P256),
                    OID_P384 => KeyKind::Ec(Curve::P384),
                    _ => return Err(constraints(format!("signer key on curve {curve:?}"))),
                }
            }
            (OID_ED25519, _) => KeyKind::Ed25519,
            _ => return Err(constraints(format!("signer key algorithm {algorithm}"))),
        };
        Ok(SignerKey {
            kind,
            bytes: spki.subject_public_key.data.to_vec(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    RsaPkcs1,
    RsaPss { max_salt: bool },
    Ecdsa,
    Ed25519,
}

/// A resolved SignerInfo signatureAlgorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignatureAlgorithm {
    scheme: Scheme,
    /// The hash the signature is computed with.
    pub hash: DigestAlgorithm,
}

/// What the signature is over: the DER signed attributes, or (without them) the digest
/// of the content, which only the digest is known of when content is streamed.
pub(crate) enum Signed<'a> {
    Message(&'a [u8]),
    Digest(&'a [u8]),
}

/// RSASSA-PSS-params (RFC 4055 §3.1), every field with its DEFAULT.
#[derive(Debug, Sequence)]
struct PssParameters {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_generation: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

impl SignatureAlgorithm {
    /// Resolves `algorithm` for a SignerInfo whose digestAlgorithm is `digest`, signed
    /// with `key`.
    pub fn resolve(
        algorithm: &AlgorithmIdentifierOwned,
        digest: DigestAlgorithm,
        key: &SignerKey,
    ) -> Result<SignatureAlgorithm, ChainFailure> {
        let oid = algorithm.oid.to_string();
        let with_hash = |scheme, hash: DigestAlgorithm| match hash == digest {
            true => Ok(SignatureAlgorithm { scheme, hash }),
            false => Err(format_failure(format!(
                "signatureAlgorithm {oid} hashes with {} but digestAlgorithm is {}",
                hash.name(),
                digest.name()
            ))),
        };
        let resolved = match oid.as_str() {
            OID_RSA_ENCRYPTION => with_hash(Scheme::RsaPkcs1, digest)?,
            "1.2.840.113549.1.1.5" => with_hash(Scheme::RsaPkcs1, DigestAlgorithm::Sha1)?,
            "1.2.840.113549.1.1.11" => with_hash(Scheme::RsaPkcs1, DigestAlgorithm::Sha256)?,
            "1.2.840.113549.1.1.12" => with_hash(Scheme::RsaPkcs1, DigestAlgorithm::Sha384)?,
            "1.2.840.113549.1.1.13" => with_hash(Scheme::RsaPkcs1, DigestAlgorithm::Sha512)?,
            OID_RSA_PSS => resolve_pss(algorithm, key)?,
            OID_EC_PUBLIC_KEY => with_hash(Scheme::Ecdsa, digest)?,
            "1.2.840.10045.4.1" => with_hash(Scheme::Ecdsa, DigestAlgorithm::Sha1)?,
            "1.2.840.10045.4.3.2" => with_hash(Scheme::Ecdsa, DigestAlgorithm::Sha256)?,
            "1.2.840.10045.4.3.3" => with_hash(Scheme::Ecdsa, DigestAlgorithm::Sha384)?,
            "1.2.840.10045.4.3.4" => with_hash(Scheme::Ecdsa, DigestAlgorithm::Sha512)?,
            OID_ED25519 => SignatureAlgorithm {
                scheme: Scheme::Ed25519,
                hash: digest,
            },
            _ => return Err(constraints(format!("signature algorithm {oid}"))),
        };
        let fits = matches!(
            (resolved.scheme, key.kind),
            (
                Scheme::RsaPkcs1 | Scheme::RsaPss { .. },
                KeyKind::Rsa { .. }
            ) | (Scheme::Ecdsa, KeyKind::Ec(_))
                | (Scheme::Ed25519, KeyKind::Ed25519)
        );
        match fits {
            true => Ok(resolved),
            false => Err(ChainFailure::new(
                SubIndication::SigCryptoFailure,
                format!("signature algorithm {oid} does not fit the signer's key"),
            )),
        }
    }

    /// The name a report shows (`rsa-pkcs1-sha256`, `ecdsa-p256-sha256`, ...).
    pub fn name(&self, key: &SignerKey) -> String {
        let hash = self.hash.name().replace('-', "");
        match (self.scheme, key.kind) {
            (Scheme::RsaPkcs1, _) => format!("rsa-pkcs1-{hash}"),
            (Scheme::RsaPss { .. }, _) => format!("rsa-pss-{hash}"),
            (Scheme::Ecdsa, KeyKind::Ec(Curve::P384)) => format!("ecdsa-p384-{hash}"),
            (Scheme::Ecdsa, _) => format!("ecdsa-p256-{hash}"),
            (Scheme::Ed25519, _) => "ed25519".into(),
        }
    }

    /// Circular 15/2025: SHA-1 and RSA below 2048 bits only under the legacy switch.
    pub fn check_policy(&self, key: &SignerKey, policy: &CryptoPolicy) -> Result<(), ChainFailure> {
        if self.hash.is_legacy() && !policy.allow_legacy {
            return Err(constraints_policy(
                "the signature is computed with SHA-1; allowed only under the legacy switch",
            ));
        }
        if let KeyKind::Rsa { bits } = key.kind {
            let minimum = match policy.allow_legacy {
                true => MIN_LEGACY_RSA_BITS,
                false => MIN_RSA_BITS,
            };
            if bits < minimum {
                return Err(constraints_policy(&format!(
                    "the signer has an RSA-{bits} key (minimum {minimum} bits)"
                )));
            }
        }
        Ok(())
    }

    /// Checks `signature` over `signed` with `key`.
    pub fn verify(
        &self,
        key: &SignerKey,
        signed: Signed<'_>,
        signature: &[u8],
    ) -> Result<(), ChainFailure> {
        let verifier = self.verifier(key)?;
        let public_key = signature::UnparsedPublicKey::new(verifier, &key.bytes);
        let outcome = match signed {
            Signed::Message(message) => public_key.verify(message, signature),
            Signed::Digest(digest) => {
                if self.scheme == Scheme::Ed25519 {
                    return Err(constraints(
                        "Ed25519 without signed attributes (pure EdDSA over the content)".into(),
                    ));
                }
                let digest = Digest::import_less_safe(digest, aws_lc_digest(self.hash))
                    .map_err(|_| format_failure("content digest of the wrong length".into()))?;
                public_key.verify_digest(&digest, signature)
            }
        };
        outcome.map_err(|_| {
            ChainFailure::new(
                SubIndication::SigCryptoFailure,
                "the signature value does not verify with the signer's public key",
            )
        })
    }

    fn verifier(
        &self,
        key: &SignerKey,
    ) -> Result<&'static dyn VerificationAlgorithm, ChainFailure> {
        use DigestAlgorithm::*;
        let verifier: &'static dyn VerificationAlgorithm = match (self.scheme, self.hash, key.kind)
        {
            (Scheme::RsaPkcs1, Sha1, _) => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            (Scheme::RsaPkcs1, Sha256, _) => {
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            }
            (Scheme::RsaPkcs1, Sha384, _) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (Scheme::RsaPkcs1, Sha512, _) => {
                &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
            }
            (Scheme::RsaPss { max_salt: false }, Sha256, _) => &signature::RSA_PSS_2048_8192_SHA256,
            (Scheme::RsaPss { max_salt: false }, Sha384, _) => &signature::RSA_PSS_2048_8192_SHA384,
            (Scheme::RsaPss { max_salt: false }, Sha512, _) => &signature::RSA_PSS_2048_8192_SHA512,
            (Scheme::RsaPss { max_salt: true }, Sha256, _) => &PSS_SHA256_MAX_SALT,
            (Scheme::RsaPss { max_salt: true }, Sha384, _) => &PSS_SHA384_MAX_SALT,
            (Scheme::RsaPss { max_salt: true }, Sha512, _) => &PSS_SHA512_MAX_SALT,
            (Scheme::Ecdsa, Sha1, KeyKind::Ec(Curve::P256)) => &signature::ECDSA_P256_SHA1_ASN1,
            (Scheme::Ecdsa, Sha256, KeyKind::Ec(Curve::P256)) => &signature::ECDSA_P256_SHA256_ASN1,
            (Scheme::Ecdsa, Sha384, KeyKind::Ec(Curve::P256)) => &signature::ECDSA_P256_SHA384_ASN1,
            (Scheme::Ecdsa, Sha512, KeyKind::Ec(Curve::P256)) => &signature::ECDSA_P256_SHA512_ASN1,
            (Scheme::Ecdsa, Sha256, KeyKind::Ec(Curve::P384)) => &signature::ECDSA_P384_SHA256_ASN1,
            (Scheme::Ecdsa, Sha384, KeyKind::Ec(Curve::P384)) => &signature::ECDSA_P384_SHA384_ASN1,
            (Scheme::Ecdsa, Sha512, KeyKind::Ec(Curve::P384)) => &signature::ECDSA_P384_SHA512_ASN1,
            (Scheme::Ed25519, _, _) => &signature::ED25519,
            _ => {
                return Err(constraints(format!(
                    "{} with {}",
                    self.name(key),
                    self.hash.name()
                )))
            }
        };
        Ok(verifier)
    }
}

/// RSA-PSS: the hash, MGF1 with the same hash, trailer 1, and a salt of the hash
/// length or the maximum for the key.
fn resolve_pss(
    algorithm: &AlgorithmIdentifierOwned,
    key: &SignerKey,
) -> Result<SignatureAlgorithm, ChainFailure> {
    let parameters = match &algorithm.parameters {
        Some(any) => any
            .to_der()
            .ok()
            .and_then(|der| PssParameters::from_der(&der).ok())
            .ok_or_else(|| format_failure("RSASSA-PSS parameters do not parse".into()))?,
        None => return Err(format_failure("RSASSA-PSS without parameters".into())),
    };
    let hash = match &parameters.hash {
        Some(hash) => hash_of(hash)?,
        None => DigestAlgorithm::Sha1,
    };
    let mgf_hash = match &parameters.mask_generation {
        Some(mgf) if mgf.oid.to_string() == OID_MGF1 => {
            let inner = mgf
                .parameters
                .as_ref()
                .and_then(|any| any.to_der().ok())
                .and_then(|der| AlgorithmIdentifierOwned::from_der(&der).ok())
                .ok_or_else(|| format_failure("MGF1 without a hash algorithm".into()))?;
            hash_of(&inner)?
        }
        Some(mgf) => return Err(constraints(format!("PSS mask generation {}", mgf.oid))),
        None => DigestAlgorithm::Sha1,
    };
    if mgf_hash != hash {
        return Err(format_failure(format!(
            "RSASSA-PSS hashes with {} but MGF1 with {}",
            hash.name(),
            mgf_hash.name()
        )));
    }
    if parameters.trailer_field.unwrap_or(1) != 1 {
        return Err(format_failure("RSASSA-PSS trailerField is not 1".into()));
    }
    let salt = parameters.salt_length.unwrap_or(20) as usize;
    let max_salt = match key.kind {
        KeyKind::Rsa { bits } => ((bits + 6) / 8).saturating_sub(hash.output_len() + 2),
        _ => 0,
    };
    let max_salt = match salt {
        _ if salt == hash.output_len() => false,
        _ if salt == max_salt => true,
        _ => {
            return Err(constraints(format!(
                "RSASSA-PSS salt of {salt} octets (only the hash length or the maximum are checked)"
            )))
        }
    };
    Ok(SignatureAlgorithm {
        scheme: Scheme::RsaPss { max_salt },
        hash,
    })
}

fn hash_of(algorithm: &AlgorithmIdentifierOwned) -> Result<DigestAlgorithm, ChainFailure> {
    DigestAlgorithm::from_oid(&algorithm.oid.to_string())
        .ok_or_else(|| constraints(format!("digest algorithm {}", algorithm.oid)))
}

fn aws_lc_digest(algorithm: DigestAlgorithm) -> &'static digest::Algorithm {
    match algorithm {
        DigestAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        DigestAlgorithm::Sha256 => &digest::SHA256,
        DigestAlgorithm::Sha384 => &digest::SHA384,
        DigestAlgorithm::Sha512 => &digest::SHA512,
    }
}

fn constraints(what: String) -> ChainFailure {
    ChainFailure::new(
        SubIndication::CryptoConstraintsFailure,
        format!("not supported: {what}"),
    )
}

fn constraints_policy(why: &str) -> ChainFailure {
    ChainFailure::new(SubIndication::CryptoConstraintsFailure, why)
}

pub(crate) fn format_failure(why: String) -> ChainFailure {
    ChainFailure::new(SubIndication::FormatFailure, why)
}
