//! JOSE helpers for the relying-party tests: verifying the gateway's JWTs with the relying
//! party library's own keys (openidconnect's `JsonWebKey::verify_signature` over the
//! provider's published JWKS), and minting tokens the gateway must refuse (`alg: none`,
//! HS256 keyed with the public key, a foreign RSA key under the gateway's kid) or accept
//! (a client's `private_key_jwt` assertion).
#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey as _;
use serde_json::{json, Value};

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The JSON of part `index` (0 header, 1 claims) of a compact JWS, unverified.
pub fn part(token: &str, index: usize) -> Value {
    let text = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("{token:?} has no part {index}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_else(|e| panic!("part {index} of {token:?} is not base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("part {index} is not JSON: {e}"))
}

/// Verifies a compact JWS against the provider's JWK Set as a relying party would: the key
/// is the one named by the header's `kid`, the header's `alg` must be one the key is for.
/// Returns `(header, claims)`; nothing about the claims is checked here.
pub fn verify_jws(jwks: &CoreJsonWebKeySet, token: &str) -> Result<(Value, Value), String> {
    let pieces: Vec<&str> = token.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = pieces[..] else {
        return Err(format!("not a compact JWS: {} parts", pieces.len()));
    };
    let header = part(token, 0);
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone())
        .map_err(|e| format!("unknown alg {}: {e}", header["alg"]))?;
    let kid = header["kid"]
        .as_str()
        .ok_or_else(|| "header has no kid".to_string())?;
    let key = jwks
        .keys()
        .iter()
        .find(|key| key.key_id().is_some_and(|id| id.as_str() == kid))
        .ok_or_else(|| format!("no key {kid} in the JWKS"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|e| format!("signature is not base64url: {e}"))?;
    let message = format!("{header_b64}.{claims_b64}");
    key.verify_signature(&alg, message.as_bytes(), &signature)
        .map_err(|e| format!("signature of {kid} does not verify: {e}"))?;
    Ok((header, part(token, 1)))
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A random URL-safe string of `bytes` random bytes.
pub fn random_id(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buffer).expect("system random");
    b64url(&buffer)
}

/// A fresh RSA-2048 key of the test (a client's key, or an attacker's).
pub struct RsaKey {
    pair: RsaKeyPair,
    pub kid: String,
}

impl RsaKey {
    pub fn generate(kid: &str) -> RsaKey {
        RsaKey {
            pair: RsaKeyPair::generate(KeySize::Rsa2048).expect("generate an RSA key"),
            kid: kid.to_string(),
        }
    }

    /// The public key as a JWK (`kty`, `n`, `e`, `kid`, `alg`, `use`).
    pub fn public_jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA",
            "n": b64url(public.modulus().big_endian_without_leading_zero()),
            "e": b64url(public.exponent().big_endian_without_leading_zero()),
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
        })
    }

    /// A compact RS256 JWS of `claims`; `header` members are added to `alg` (and `kid`,
    /// unless the header names one).
    pub fn sign(&self, header: Value, claims: &Value) -> String {
        let mut full = json!({"alg": "RS256", "kid": self.kid});
        merge(&mut full, header);
        let input = signing_input(&full, claims);
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        format!("{input}.{}", b64url(&signature))
    }
}

/// A JWS with `alg: none` and an empty signature.
pub fn unsigned(header: Value, claims: &Value) -> String {
    let mut full = json!({"alg": "none"});
    merge(&mut full, header);
    format!("{}.", signing_input(&full, claims))
}

/// An HS256 JWS keyed with `secret` (the algorithm-confusion attack: the key is the
/// verifier's public key).
pub fn hs256(secret: &[u8], header: Value, claims: &Value) -> String {
    let mut full = json!({"alg": "HS256"});
    merge(&mut full, header);
    let input = signing_input(&full, claims);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64url(tag.as_ref()))
}

/// The SubjectPublicKeyInfo (DER and PEM) of an RSA JWK — what a confused verifier would
/// use as the HMAC key.
pub fn rsa_jwk_spki(jwk: &Value) -> (Vec<u8>, String) {
    let decode = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[name].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("JWK {name}: {e}"))
    };
    let integer = |bytes: Vec<u8>| {
        let mut content = bytes;
        if content.first().is_some_and(|b| b & 0x80 != 0) {
            content.insert(0, 0);
        }
        tlv(0x02, &content)
    };
    let rsa_public_key = tlv(0x30, &[integer(decode("n")), integer(decode("e"))].concat());
    // AlgorithmIdentifier { rsaEncryption, NULL }
    let algorithm = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let bit_string = tlv(0x03, &[&[0u8][..], &rsa_public_key].concat());
    let spki = tlv(0x30, &[&algorithm[..], &bit_string].concat());
    let body = STANDARD.encode(&spki);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    );
    (spki, pem)
}

/// The provider's RSA key (JWK) that signed `token`, from the JWKS document as JSON.
pub fn signing_jwk(jwks: &Value, token: &str) -> Value {
    let kid = part(token, 0)["kid"].clone();
    jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
        .cloned()
        .unwrap_or_else(|| panic!("no key {kid} in {jwks}"))
}

/// The JWK Set as openidconnect parses it.
pub fn parse_jwks(text: &str) -> CoreJsonWebKeySet {
    serde_json::from_str::<CoreJsonWebKeySet>(text)
        .unwrap_or_else(|e| panic!("JWKS not parsed by openidconnect: {e}: {text}"))
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    )
}

fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
}
