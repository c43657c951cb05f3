//! A JWK Set of public keys that verify signed JWTs: a `private_key_jwt` client's keys,
//! and the provider's own published keys as a relying party (the demo app) sees them.
//! The key, never the token's header, decides the algorithm: a token is tried only
//! against keys whose algorithm equals the header's `alg`, so `none`, HMAC-with-a-public-
//! key and other confusion attacks have nothing to match.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, TokenData, Validation};
use serde::de::DeserializeOwned;

/// Public keys with their algorithms, ready to verify.
pub struct VerifyingKeys {
    keys: Vec<VerifyingKey>,
}

struct VerifyingKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Why a token did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtRejected {
    #[error("not a JWT")]
    Malformed,
    #[error("no key with this kid and alg")]
    NoKey,
    #[error("signature or claims invalid")]
    Invalid,
}

impl VerifyingKeys {
    /// Parses a JWK Set (`{"keys": [...]}`); every key must be usable and the set non-empty.
    pub fn parse(text: &str) -> Result<VerifyingKeys, String> {
        let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("jwks: {e}"))?;
        let mut keys = Vec::new();
        for (index, jwk) in set.keys.iter().enumerate() {
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("jwks.keys[{index}]: {e}"))?;
            let alg = jwk_algorithm(jwk).ok_or(format!(
                "jwks.keys[{index}]: give an \"alg\" (RS256, PS256, ES256, ES384 or EdDSA)"
            ))?;
            keys.push(VerifyingKey {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            });
        }
        if keys.is_empty() {
            return Err("jwks has no keys".into());
        }
        Ok(VerifyingKeys { keys })
    }

    /// Does the set hold a key with this `kid`? (A relying party re-fetches the set when
    /// a token names a key it has not seen: the provider rotated.)
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Verifies `token` with the keys matching its header (`alg` equal, `kid` equal when
    /// the token names one), checking claims as `validation_for(alg)` says.
    pub fn decode<T: DeserializeOwned>(
        &self,
        token: &str,
        validation_for: impl Fn(Algorithm) -> Validation,
    ) -> Result<TokenData<T>, JwtRejected> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtRejected::Malformed)?;
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.alg == header.alg && (header.kid.is_none() || k.kid == header.kid))
            .peekable();
        if candidates.peek().is_none() {
            return Err(JwtRejected::NoKey);
        }
        candidates
            .find_map(|key| {
                jsonwebtoken::decode::<T>(token, &key.key, &validation_for(key.alg)).ok()
            })
            .ok_or(JwtRejected::Invalid)
    }
}

/// The key's algorithm: its `alg`, or the only one its type allows here. `none` and HMAC
/// are never accepted from a public key set.
fn jwk_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    use Algorithm as A;
    if let Some(alg) = jwk.common.key_algorithm {
        return match alg {
            KeyAlgorithm::RS256 => Some(A::RS256),
            KeyAlgorithm::RS384 => Some(A::RS384),
            KeyAlgorithm::RS512 => Some(A::RS512),
            KeyAlgorithm::PS256 => Some(A::PS256),
            KeyAlgorithm::ES256 => Some(A::ES256),
            KeyAlgorithm::ES384 => Some(A::ES384),
            KeyAlgorithm::EdDSA => Some(A::EdDSA),
            _ => None,
        };
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(A::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Some(A::ES256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P384 => Some(A::ES384),
        AlgorithmParameters::OctetKeyPair(_) => Some(A::EdDSA),
        _ => None,
    }
}
