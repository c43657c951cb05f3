//! Checking a SignatureValue with a certificate's public key (aws-lc-rs).
//!
//! RSA verifiers accept keys from 1024 bits: the crypto policy (applied to the signer
//! certificate by path validation) decides whether the key is long enough, so an
//! RSA-1024 signature is reported as CRYPTO_CONSTRAINTS_FAILURE, not as a broken one.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use super::signature::SignatureMethod;
use crate::pki::DigestAlgorithm;

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the certificate cannot be parsed")]
    Certificate,
    #[error("the certificate's key ({0}) cannot verify {1}")]
    KeyMismatch(String, &'static str),
    #[error("the signature value does not verify with the certificate's key")]
    BadSignature,
}

/// The name a report shows for `method` with this key (`rsa-pkcs1-sha256`,
/// `ecdsa-p256-sha256`).
pub fn algorithm_name(method: SignatureMethod, curve: Option<&str>) -> String {
    match method {
        SignatureMethod::RsaPkcs1(digest) => format!("rsa-pkcs1-{}", hash_name(digest)),
        SignatureMethod::RsaPss(digest) => format!("rsa-pss-{}", hash_name(digest)),
        SignatureMethod::Ecdsa(digest) => {
            let curve = match curve {
                Some(P384) => "p384",
                _ => "p256",
            };
            format!("ecdsa-{curve}-{}", hash_name(digest))
        }
    }
}

fn hash_name(digest: DigestAlgorithm) -> &'static str {
    match digest {
        DigestAlgorithm::Sha1 => "sha1",
        DigestAlgorithm::Sha256 => "sha256",
        DigestAlgorithm::Sha384 => "sha384",
        DigestAlgorithm::Sha512 => "sha512",
    }
}

/// Verifies `signature` over `message` with the key of `certificate_der`; returns the
/// report's algorithm name.
pub fn verify(
    method: SignatureMethod,
    certificate_der: &[u8],
    message: &[u8],
    signature_value: &[u8],
) -> Result<String, KeyError> {
    let (_, certificate) =
        x509_parser::parse_x509_certificate(certificate_der).map_err(|_| KeyError::Certificate)?;
    let spki = certificate.public_key();
    let key_type = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.as_oid().ok())
        .map(|oid| oid.to_id_string());
    let algorithm = verification_algorithm(method, &key_type, curve.as_deref())
        .ok_or_else(|| KeyError::KeyMismatch(key_type.clone(), method_label(method)))?;
    UnparsedPublicKey::new(algorithm, spki.subject_public_key.data.as_ref())
        .verify(message, signature_value)
        .map_err(|_| KeyError::BadSignature)?;
    Ok(algorithm_name(method, curve.as_deref()))
}

fn method_label(method: SignatureMethod) -> &'static str {
    match method {
        SignatureMethod::RsaPkcs1(_) => "an RSA PKCS#1 signature",
        SignatureMethod::RsaPss(_) => "an RSA-PSS signature",
        SignatureMethod::Ecdsa(_) => "an ECDSA signature",
    }
}

fn verification_algorithm(
    method: SignatureMethod,
    key_type: &str,
    curve: Option<&str>,
) -> Option<&'static dyn VerificationAlgorithm> {
    use DigestAlgorithm::*;
    use SignatureMethod::*;
    let algorithm: &'static dyn VerificationAlgorithm = match (method, key_type, curve) {
        (RsaPkcs1(Sha1), RSA_ENCRYPTION, _) => {
            &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        (RsaPkcs1(Sha256), RSA_ENCRYPTION, _) => {
            &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
        }
        (RsaPkcs1(Sha384), RSA_ENCRYPTION, _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (RsaPkcs1(Sha512), RSA_ENCRYPTION, _) => {
            &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
        }
        (RsaPss(Sha256), RSA_ENCRYPTION, _) => &signature::RSA_PSS_2048_8192_SHA256,
        (RsaPss(Sha384), RSA_ENCRYPTION, _) => &signature::RSA_PSS_2048_8192_SHA384,
        (RsaPss(Sha512), RSA_ENCRYPTION, _) => &signature::RSA_PSS_2048_8192_SHA512,
        (Ecdsa(Sha256), EC_PUBLIC_KEY, Some(P256)) => &signature::ECDSA_P256_SHA256_FIXED,
        (Ecdsa(Sha384), EC_PUBLIC_KEY, Some(P384)) => &signature::ECDSA_P384_SHA384_FIXED,
        _ => return None,
    };
    Some(algorithm)
}
