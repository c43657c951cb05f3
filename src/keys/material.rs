//! One signing key: its private half (parsed once, kept for the process lifetime), its
//! public JWK, and the prepared verification key.

use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde_json::{json, Value};

use super::{Algorithm, KeyError};

/// Length of an uncompressed P-256 point: 0x04 || x (32) || y (32).
const P256_UNCOMPRESSED_LEN: usize = 65;

enum PrivateKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// The public members of a JWK, per key type.
enum PublicJwk {
    Rsa { n: String, e: String },
    Ec { x: String, y: String },
    Okp { x: String },
}

/// A loaded signing key. The private key is never exposed, only used to sign.
pub(super) struct KeyMaterial {
    pub(super) alg: Algorithm,
    /// RFC 7638 JWK thumbprint (SHA-256, base64url): stable and derivable by anyone.
    pub(super) kid: String,
    private: PrivateKey,
    public: PublicJwk,
    pub(super) decoding: DecodingKey,
}

impl KeyMaterial {
    /// Generates a fresh key; returns it with its PKCS#8 (v1) DER encoding for storage.
    pub(super) fn generate(alg: Algorithm) -> Result<(Self, Vec<u8>), KeyError> {
        let failed = |_| KeyError::Generate(alg);
        let pkcs8 = match alg {
            Algorithm::RS256 => {
                let key_pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
                let der = key_pair.as_der().map_err(failed)?;
                der.as_ref().to_vec()
            }
            Algorithm::ES256 => {
                let key_pair =
                    EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(failed)?;
                key_pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
            }
            Algorithm::EdDSA => {
                let key_pair = Ed25519KeyPair::generate().map_err(failed)?;
                key_pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
            }
        };
        let material = Self::from_pkcs8(alg, &pkcs8).map_err(|_| KeyError::Generate(alg))?;
        Ok((material, pkcs8))
    }

    /// Parses a PKCS#8 key of the expected algorithm; `path` only names the file in errors.
    pub(super) fn from_pkcs8_file(
        alg: Algorithm,
        pkcs8: &[u8],
        path: &Path,
    ) -> Result<Self, KeyError> {
        Self::from_pkcs8(alg, pkcs8).map_err(|reason| KeyError::CorruptKey {
            path: path.to_path_buf(),
            reason,
        })
    }

    fn from_pkcs8(alg: Algorithm, pkcs8: &[u8]) -> Result<Self, String> {
        let rejected =
            |e: aws_lc_rs::error::KeyRejected| format!("not a valid {alg} PKCS#8 key ({e})");
        let (private, public) = match alg {
            Algorithm::RS256 => {
                let key_pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let public_key = key_pair.public_key();
                let public = PublicJwk::Rsa {
                    n: b64(public_key.modulus().big_endian_without_leading_zero()),
                    e: b64(public_key.exponent().big_endian_without_leading_zero()),
                };
                (PrivateKey::Rsa(key_pair), public)
            }
            Algorithm::ES256 => {
                let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(rejected)?;
                let point = key_pair.public_key().as_ref();
                if point.len() != P256_UNCOMPRESSED_LEN || point[0] != 0x04 {
                    return Err("unexpected P-256 public key encoding".to_string());
                }
                let public = PublicJwk::Ec {
                    x: b64(&point[1..33]),
                    y: b64(&point[33..]),
                };
                (PrivateKey::Ecdsa(key_pair), public)
            }
            Algorithm::EdDSA => {
                let key_pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let public = PublicJwk::Okp {
                    x: b64(key_pair.public_key().as_ref()),
                };
                (PrivateKey::Ed25519(key_pair), public)
            }
        };
        let decoding = decoding_key(&public).map_err(|e| format!("unusable public key ({e})"))?;
        Ok(Self {
            alg,
            kid: thumbprint(&public),
            private,
            public,
            decoding,
        })
    }

    /// Signs `message` (the JWS signing input) with this key.
    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = |_| KeyError::Sign(format!("{} key {}", self.alg, self.kid));
        match &self.private {
            PrivateKey::Rsa(key_pair) => {
                let mut signature = vec![0; key_pair.public_modulus_len()];
                key_pair
                    .sign(
                        &RSA_PKCS1_SHA256,
                        &SystemRandom::new(),
                        message,
                        &mut signature,
                    )
                    .map_err(failed)?;
                Ok(signature)
            }
            PrivateKey::Ecdsa(key_pair) => {
                let signature = key_pair
                    .sign(&SystemRandom::new(), message)
                    .map_err(failed)?;
                Ok(signature.as_ref().to_vec())
            }
            PrivateKey::Ed25519(key_pair) => Ok(key_pair.sign(message).as_ref().to_vec()),
        }
    }

    /// The public JWK as published in the JWKS.
    pub(super) fn public_jwk(&self) -> Value {
        let mut jwk = match &self.public {
            PublicJwk::Rsa { n, e } => json!({"kty": "RSA", "n": n, "e": e}),
            PublicJwk::Ec { x, y } => json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
            PublicJwk::Okp { x } => json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
        };
        if let Value::Object(members) = &mut jwk {
            members.insert("kid".into(), Value::String(self.kid.clone()));
            members.insert("use".into(), Value::String("sig".into()));
            members.insert("alg".into(), Value::String(self.alg.as_str().into()));
        }
        jwk
    }
}

fn decoding_key(public: &PublicJwk) -> Result<DecodingKey, jsonwebtoken::errors::Error> {
    match public {
        PublicJwk::Rsa { n, e } => DecodingKey::from_rsa_components(n, e),
        PublicJwk::Ec { x, y } => DecodingKey::from_ec_components(x, y),
        PublicJwk::Okp { x } => DecodingKey::from_ed_components(x),
    }
}

/// RFC 7638 (and RFC 8037 for OKP): SHA-256 over the required members in lexicographic
/// order without whitespace. The members are base64url, so no JSON escaping is needed.
fn thumbprint(public: &PublicJwk) -> String {
    let canonical = match public {
        PublicJwk::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
        PublicJwk::Ec { x, y } => {
            format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#)
        }
        PublicJwk::Okp { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
    };
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
}

pub(super) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
