//! The signature algorithms path building can *verify*. Deliberately wider than what
//! the crypto policy *accepts*: a SHA-1 or RSA-1024 chain must still be built, so that
//! it is reported as CRYPTO_CONSTRAINTS_FAILURE (or accepted under the legacy switch)
//! rather than as "no chain found". [`crate::pki::crypto_policy`] then judges the path.

use aws_lc_rs::signature::{self, VerificationAlgorithm};
use rustls_pki_types::{
    alg_id, AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm,
};

/// sha1WithRSAEncryption (1.2.840.113549.1.1.5) with NULL parameters, as the body of
/// an AlgorithmIdentifier.
const RSA_PKCS1_SHA1: AlgorithmIdentifier = AlgorithmIdentifier::from_slice(&[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
]);
/// The same without the NULL (both encodings occur in the wild).
const RSA_PKCS1_SHA1_ABSENT_PARAMS: AlgorithmIdentifier = AlgorithmIdentifier::from_slice(&[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05,
]);

/// An RSA PKCS#1 v1.5 verifier that accepts keys from 1024 bits; the policy decides
/// whether the key is long enough.
#[derive(Debug)]
struct LegacyRsa {
    signature_alg_id: AlgorithmIdentifier,
    verification: &'static dyn VerificationAlgorithm,
}

impl SignatureVerificationAlgorithm for LegacyRsa {
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }

    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        signature::UnparsedPublicKey::new(self.verification, public_key)
            .verify(message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn fips(&self) -> bool {
        false
    }
}

static RSA_SHA1: LegacyRsa = LegacyRsa {
    signature_alg_id: RSA_PKCS1_SHA1,
    verification: &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
};
static RSA_SHA1_ABSENT_PARAMS: LegacyRsa = LegacyRsa {
    signature_alg_id: RSA_PKCS1_SHA1_ABSENT_PARAMS,
    verification: &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
};
static RSA_SHA256: LegacyRsa = LegacyRsa {
    signature_alg_id: alg_id::RSA_PKCS1_SHA256,
    verification: &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
};
static RSA_SHA512: LegacyRsa = LegacyRsa {
    signature_alg_id: alg_id::RSA_PKCS1_SHA512,
    verification: &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
};

/// Every algorithm a path may be verified with. Order matters only among entries with
/// the same signature OID: webpki returns the first verdict that is not "wrong key
/// type", so one RSA verifier per OID.
pub(crate) static VERIFIABLE: &[&dyn SignatureVerificationAlgorithm] = &[
    &RSA_SHA1,
    &RSA_SHA1_ABSENT_PARAMS,
    &RSA_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    &RSA_SHA512,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P256_SHA512,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA512,
    webpki::aws_lc_rs::ECDSA_P521_SHA256,
    webpki::aws_lc_rs::ECDSA_P521_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::ED25519,
];
