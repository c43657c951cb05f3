//! Signing keys, JWKS and the upstream identity assertion, checked against the key files
//! on disk, an independent JWT library (PyJWT + cryptography), openssl and jsonwebtoken.

mod support;

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use govgate::identity::Identity;
use govgate::keys::{
    Algorithm, AssertionCache, AssertionIssuer, KeyError, KeyRing, SigningKeys, VerifyOptions,
    DEFAULT_ASSERTION_LIFETIME, INDEX_FILE_NAME,
};
use serde_json::{json, Value};
use support::python;

const ISSUER: &str = "https://sso.tinh.gov.vn";
const APP: &str = "mot-cua";

fn temp_keys_dir() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data").join("keys");
    (temp, dir)
}

fn identity() -> Identity {
    Identity {
        subject: "6f1c2a9e-1b7d-4c1e-9a43-0d2b8f3e5a71".into(),
        username: "hang.nt".into(),
        display_name: "Nguyễn Thị Hằng".into(),
        email: Some("hang.nt@tinh.gov.vn".into()),
        department: Some("Văn phòng UBND".into()),
        employee_number: Some("NV-0042".into()),
        groups: vec!["can-bo".into(), "lanh-dao".into()],
        group_dns: Vec::new(),
        source: "ldap".into(),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn write_jwks(keys: &SigningKeys, dir: &Path) -> PathBuf {
    let path = dir.join("jwks.json");
    std::fs::write(&path, serde_json::to_vec(&keys.jwks()).unwrap()).unwrap();
    path
}

fn pyjwt_verify(jwks: &Path, token: &str, audience: &str, alg: &str) -> Result<Value, String> {
    python::pyjwt_verify(jwks, token, audience, ISSUER, alg)
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn pem_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    files.sort();
    files
}

fn key_file(keys: &SigningKeys, alg: Algorithm) -> PathBuf {
    keys.key_infos()
        .into_iter()
        .find(|k| k.alg == alg)
        .unwrap()
        .path
}

/// Builds `header.payload.` + signature bytes, for hand-made hostile tokens.
fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn valid_claims() -> Value {
    json!({"iss": ISSUER, "aud": APP, "sub": "s", "iat": now_secs(), "exp": now_secs() + 30})
}

#[test]
fn keys_persist_across_loads_in_private_files() {
    let (_temp, dir) = temp_keys_dir();
    let first = SigningKeys::load_or_generate(&dir).unwrap();
    let rs_kid = first.current_kid(Algorithm::RS256).unwrap().to_string();
    let es_kid = first.current_kid(Algorithm::ES256).unwrap().to_string();
    assert_ne!(rs_kid, es_kid);
    assert_eq!(first.current_kid(Algorithm::EdDSA), None);

    assert_eq!(mode_of(&dir), 0o700);
    let files = pem_files(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    for file in &files {
        assert_eq!(mode_of(file), 0o600, "{}", file.display());
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----"),
            "PKCS#8 PEM: {text:.40}"
        );
    }
    // openssl reads the files as what they claim to be.
    let rsa = Command::new("openssl")
        .args(["pkey", "-noout", "-text", "-in"])
        .arg(key_file(&first, Algorithm::RS256))
        .output()
        .unwrap();
    assert!(rsa.status.success());
    assert!(String::from_utf8_lossy(&rsa.stdout).contains("2048 bit"));

    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join(INDEX_FILE_NAME)).unwrap()).unwrap();
    let kids: Vec<&str> = index["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [rs_kid.as_str(), es_kid.as_str()]);
    assert!(index["keys"][0]["created_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    let second = SigningKeys::load_or_generate(&dir).unwrap();
    assert_eq!(second.current_kid(Algorithm::RS256), Some(rs_kid.as_str()));
    assert_eq!(second.current_kid(Algorithm::ES256), Some(es_kid.as_str()));
    assert_eq!(second.jwks(), first.jwks());
    assert_eq!(pem_files(&dir), files, "a reload generates nothing");

    // A token from the first instance verifies with the reloaded keys.
    let token = first.sign_rs256(&valid_claims(), "JWT").unwrap();
    second.verify(&token, &VerifyOptions::default()).unwrap();
}

#[test]
fn jwks_publishes_rs256_and_es256_with_their_members() {
    let (_temp, dir) = temp_keys_dir();
    let keys = SigningKeys::load_or_generate(&dir).unwrap();
    let jwks = keys.jwks();
    let entries = jwks["keys"].as_array().unwrap();
    assert_eq!(entries.len(), 2);

    let rsa = entries.iter().find(|k| k["alg"] == "RS256").unwrap();
    let mut members: Vec<&String> = rsa.as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(rsa["kty"], "RSA");
    assert_eq!(rsa["use"], "sig");
    assert_eq!(rsa["e"], "AQAB");
    let modulus = URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap();
    assert_eq!(modulus.len(), 256, "2048-bit modulus, no leading zero");
    assert!(modulus[0] & 0x80 != 0);

    let ec = entries.iter().find(|k| k["alg"] == "ES256").unwrap();
    let mut members: Vec<&String> = ec.as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
    assert_eq!(ec["kty"], "EC");
    assert_eq!(ec["crv"], "P-256");
    for coordinate in ["x", "y"] {
        let bytes = URL_SAFE_NO_PAD
            .decode(ec[coordinate].as_str().unwrap())
            .unwrap();
        assert_eq!(bytes.len(), 32);
    }

    // kids are RFC 7638 thumbprints, as computed by jsonwebtoken's own implementation.
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    for jwk in &set.keys {
        let thumbprint = jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        assert_eq!(jwk.common.key_id.as_deref(), Some(thumbprint.as_str()));
    }
    // No private member leaks into the published set.
    let text = jwks.to_string();
    for private in ["\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"qi\""] {
        assert!(!text.contains(private), "{private} in {text}");
    }
}

#[test]
fn assertion_verifies_in_pyjwt_with_expected_claims() {
    let (temp, dir) = temp_keys_dir();
    let ring = Arc::new(KeyRing::new(SigningKeys::load_or_generate(&dir).unwrap()));
    let keys = ring.current();
    let issuer = AssertionIssuer::new(ring.clone(), ISSUER.into(), DEFAULT_ASSERTION_LIFETIME);
    let before_mint = now_secs();
    let token = issuer.mint(APP, &identity()).unwrap();
    let after_mint = now_secs();
    let jwks = write_jwks(&keys, temp.path());

    let verified = pyjwt_verify(&jwks, &token, APP, "RS256").unwrap();
    let header = &verified["header"];
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], keys.current_kid(Algorithm::RS256).unwrap());
    let claims = &verified["claims"];
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], APP);
    assert_eq!(claims["sub"], "6f1c2a9e-1b7d-4c1e-9a43-0d2b8f3e5a71");
    assert_eq!(claims["preferred_username"], "hang.nt");
    assert_eq!(claims["name"], "Nguyễn Thị Hằng");
    assert_eq!(claims["email"], "hang.nt@tinh.gov.vn");
    assert_eq!(claims["department"], "Văn phòng UBND");
    assert_eq!(claims["groups"], json!(["can-bo", "lanh-dao"]));
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 30);
    assert!((before_mint..=after_mint).contains(&iat));
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(claims["jti"].as_str().unwrap())
            .unwrap()
            .len(),
        16
    );
    assert_eq!(
        verified["jwks_kids"].as_array().unwrap().len(),
        2,
        "PyJWT accepts both JWKs"
    );

    // The same token is refused for another app, and our own verifier agrees on both.
    let wrong_app = pyjwt_verify(&jwks, &token, "thu-vien", "RS256").unwrap_err();
    assert!(wrong_app.contains("InvalidAudienceError"), "{wrong_app}");
    assert_eq!(
        issuer.verify(&token, APP).unwrap().preferred_username,
        "hang.nt"
    );
    assert!(matches!(
        issuer.verify(&token, "thu-vien"),
        Err(KeyError::InvalidToken(_))
    ));

    // Optional claims are omitted, not null.
    let mut bare = identity();
    bare.email = None;
    bare.department = None;
    let token = issuer.mint(APP, &bare).unwrap();
    let claims = &pyjwt_verify(&jwks, &token, APP, "RS256").unwrap()["claims"];
    assert!(
        claims.get("email").is_none() && claims.get("department").is_none(),
        "{claims}"
    );
}

#[test]
fn es256_and_eddsa_tokens_verify_in_pyjwt() {
    let (temp, dir) = temp_keys_dir();
    let all = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];
    let keys = SigningKeys::load_or_generate_with(&dir, &all).unwrap();
    assert_eq!(pem_files(&dir).len(), 3);
    let jwks = write_jwks(&keys, temp.path());
    let okp = keys.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["alg"] == "EdDSA")
        .cloned()
        .unwrap();
    assert_eq!(
        (okp["kty"].as_str(), okp["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );

    let claims = json!({"iss": ISSUER, "aud": APP, "sub": "s", "iat": now_secs(),
                        "exp": now_secs() + 30, "jti": "j"});
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let token = keys.sign(alg, &claims, "JWT").unwrap();
        let verified =
            pyjwt_verify(&jwks, &token, APP, alg.as_str()).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified["header"]["alg"], alg.as_str());
        assert_eq!(verified["header"]["kid"], keys.current_kid(alg).unwrap());
        assert_eq!(verified["claims"]["sub"], "s");
        keys.verify(&token, &VerifyOptions::default()).unwrap();
    }
}

#[test]
fn tampered_assertion_fails_in_pyjwt_and_in_verify() {
    let (temp, dir) = temp_keys_dir();
    let ring = Arc::new(KeyRing::new(SigningKeys::load_or_generate(&dir).unwrap()));
    let keys = ring.current();
    let issuer = AssertionIssuer::new(ring.clone(), ISSUER.into(), DEFAULT_ASSERTION_LIFETIME);
    let token = issuer.mint(APP, &identity()).unwrap();
    let jwks = write_jwks(&keys, temp.path());
    pyjwt_verify(&jwks, &token, APP, "RS256").unwrap();

    // Change one character in the middle of the payload (the middle, because the last
    // base64 character may carry only padding bits).
    let payload_start = token.find('.').unwrap() + 1;
    let position = payload_start + 20;
    let mut bytes = token.clone().into_bytes();
    bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert_ne!(tampered, token);

    let rejected = pyjwt_verify(&jwks, &tampered, APP, "RS256").unwrap_err();
    assert!(rejected.starts_with("REJECTED"), "{rejected}");
    assert!(keys.verify(&tampered, &VerifyOptions::default()).is_err());

    // A signature from the other key, spliced in, fails too.
    let es_token = keys.sign(Algorithm::ES256, &valid_claims(), "JWT").unwrap();
    let spliced = format!(
        "{}.{}",
        token.rsplit_once('.').unwrap().0,
        es_token.rsplit_once('.').unwrap().1
    );
    assert!(pyjwt_verify(&jwks, &spliced, APP, "RS256").is_err());
    assert!(matches!(
        keys.verify(&spliced, &VerifyOptions::default()),
        Err(KeyError::InvalidToken(_))
    ));
}

#[test]
fn alg_none_and_hs256_with_public_key_are_rejected() {
    let (_temp, dir) = temp_keys_dir();
    let keys = SigningKeys::load_or_generate(&dir).unwrap();
    let rs_kid = keys.current_kid(Algorithm::RS256).unwrap().to_string();
    let options = VerifyOptions::default();

    let none = raw_token(
        &json!({"alg": "none", "typ": "JWT", "kid": rs_kid}),
        &valid_claims(),
        b"",
    );
    let error = keys.verify(&none, &options).unwrap_err();
    assert!(
        matches!(&error, KeyError::AlgorithmMismatch { token_alg, .. } if token_alg == "none"),
        "{error}"
    );
    let none_without_kid = raw_token(&json!({"alg": "none"}), &valid_claims(), b"");
    assert!(matches!(
        keys.verify(&none_without_kid, &options),
        Err(KeyError::MalformedToken(_))
    ));

    // The classic key-confusion attack: HMAC with the RSA public key (as openssl prints
    // it) as the secret, claiming the RSA key's kid.
    let public_pem = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(key_file(&keys, Algorithm::RS256))
        .output()
        .unwrap();
    assert!(public_pem.status.success());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(rs_kid.clone());
    let forged = jsonwebtoken::encode(
        &header,
        &valid_claims(),
        &jsonwebtoken::EncodingKey::from_secret(&public_pem.stdout),
    )
    .unwrap();
    let error = keys.verify(&forged, &options).unwrap_err();
    assert!(
        matches!(&error, KeyError::AlgorithmMismatch { token_alg, .. } if token_alg == "HS256"),
        "{error}"
    );

    // An ES256 signature presented under the RSA key's kid is refused before any math.
    let es_token = keys.sign(Algorithm::ES256, &valid_claims(), "JWT").unwrap();
    let (_, rest) = es_token.split_once('.').unwrap();
    let relabeled = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&json!({"alg": "ES256", "kid": rs_kid})).unwrap())
    );
    assert!(matches!(
        keys.verify(&relabeled, &options),
        Err(KeyError::AlgorithmMismatch { .. })
    ));

    // Unknown kid and garbage are errors, never panics.
    let unknown = raw_token(
        &json!({"alg": "RS256", "kid": "nope"}),
        &valid_claims(),
        b"x",
    );
    assert!(matches!(keys.verify(&unknown, &options), Err(KeyError::UnknownKey(k)) if k == "nope"));
    for garbage in ["", ".", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.e30"] {
        assert!(keys.verify(garbage, &options).is_err(), "{garbage:?}");
    }
}

#[test]
fn verify_checks_exp_nbf_iss_aud_and_typ() {
    let (_temp, dir) = temp_keys_dir();
    let keys = SigningKeys::load_or_generate(&dir).unwrap();
    let strict = VerifyOptions {
        issuer: Some(ISSUER.into()),
        audience: Some(APP.into()),
        typ: Some("JWT".into()),
        leeway: Duration::ZERO,
    };
    let now = now_secs();
    let sign = |claims: Value| keys.sign_rs256(&claims, "JWT").unwrap();

    let good = keys.verify(&sign(valid_claims()), &strict).unwrap();
    assert_eq!(good["sub"], "s");

    let cases = [
        (
            "expired",
            json!({"iss": ISSUER, "aud": APP, "exp": now - 120}),
        ),
        (
            "not yet valid",
            json!({"iss": ISSUER, "aud": APP, "exp": now + 300, "nbf": now + 120}),
        ),
        ("no exp", json!({"iss": ISSUER, "aud": APP})),
        (
            "other issuer",
            json!({"iss": "https://evil.example", "aud": APP, "exp": now + 30}),
        ),
        (
            "other audience",
            json!({"iss": ISSUER, "aud": "thu-vien", "exp": now + 30}),
        ),
        ("no audience", json!({"iss": ISSUER, "exp": now + 30})),
        ("no issuer", json!({"aud": APP, "exp": now + 30})),
    ];
    for (case, claims) in cases {
        let result = keys.verify(&sign(claims), &strict);
        assert!(
            matches!(result, Err(KeyError::InvalidToken(_))),
            "{case}: {result:?}"
        );
    }
    let wrong_typ = keys.sign_rs256(&valid_claims(), "at+jwt").unwrap();
    assert!(matches!(
        keys.verify(&wrong_typ, &strict),
        Err(KeyError::InvalidToken(_))
    ));
    // Leeway forgives small clock skew only.
    let lenient = VerifyOptions {
        leeway: Duration::from_secs(300),
        ..strict.clone()
    };
    keys.verify(
        &sign(json!({"iss": ISSUER, "aud": APP, "exp": now - 120})),
        &lenient,
    )
    .unwrap();
}

#[test]
fn assertion_lifetime_is_at_most_60_seconds() {
    let (_temp, dir) = temp_keys_dir();
    let keys = Arc::new(KeyRing::new(SigningKeys::load_or_generate(&dir).unwrap()));
    for (asked, expected) in [(30, 30), (60, 60), (3600, 60), (0, 1)] {
        let issuer = AssertionIssuer::new(keys.clone(), ISSUER.into(), Duration::from_secs(asked));
        assert_eq!(issuer.lifetime(), Duration::from_secs(expected));
        let claims = issuer
            .verify(&issuer.mint(APP, &identity()).unwrap(), APP)
            .unwrap();
        assert_eq!(claims.exp - claims.iat, expected, "asked {asked}s");
        assert!(claims.exp - claims.iat <= 60);
    }
}

#[test]
fn jti_is_unique_across_1000_mints() {
    let (_temp, dir) = temp_keys_dir();
    let keys = Arc::new(KeyRing::new(SigningKeys::load_or_generate(&dir).unwrap()));
    let issuer = AssertionIssuer::new(keys, ISSUER.into(), DEFAULT_ASSERTION_LIFETIME);
    let mut jtis = HashSet::new();
    for _ in 0..1000 {
        let token = issuer.mint(APP, &identity()).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(jtis.insert(claims["jti"].as_str().unwrap().to_string()));
    }
    assert_eq!(jtis.len(), 1000);
}

#[test]
fn corrupt_key_file_is_named_and_left_untouched() {
    let (_temp, dir) = temp_keys_dir();
    let keys = SigningKeys::load_or_generate(&dir).unwrap();
    let rsa_file = key_file(&keys, Algorithm::RS256);
    let es_file = key_file(&keys, Algorithm::ES256);
    let original_rsa = std::fs::read(&rsa_file).unwrap();
    let original_es = std::fs::read(&es_file).unwrap();
    let index_before = std::fs::read(dir.join(INDEX_FILE_NAME)).unwrap();

    let garbage = b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
    std::fs::write(&rsa_file, garbage).unwrap();
    let error = SigningKeys::load_or_generate(&dir).unwrap_err();
    assert!(
        matches!(&error, KeyError::CorruptKey { path, .. } if path == &rsa_file),
        "{error}"
    );
    assert!(
        error.to_string().contains(rsa_file.to_str().unwrap()),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&rsa_file).unwrap(),
        garbage,
        "the corrupt file is not overwritten"
    );
    assert_eq!(
        std::fs::read(dir.join(INDEX_FILE_NAME)).unwrap(),
        index_before
    );
    assert_eq!(pem_files(&dir).len(), 2, "no replacement key was generated");

    std::fs::write(&rsa_file, b"not even PEM").unwrap();
    let error = SigningKeys::load_or_generate(&dir).unwrap_err();
    assert!(
        matches!(&error, KeyError::CorruptKey { path, .. } if path == &rsa_file),
        "{error}"
    );

    // A valid key of the wrong type in the RS256 slot is refused as well.
    std::fs::write(&rsa_file, &original_es).unwrap();
    let error = SigningKeys::load_or_generate(&dir).unwrap_err();
    assert!(
        matches!(&error, KeyError::CorruptKey { path, .. } if path == &rsa_file),
        "{error}"
    );

    // Restored, it loads again with the same kids.
    std::fs::write(&rsa_file, &original_rsa).unwrap();
    let reloaded = SigningKeys::load_or_generate(&dir).unwrap();
    assert_eq!(reloaded.jwks(), keys.jwks());

    // A key readable by others is refused, not silently used.
    std::fs::set_permissions(&es_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = SigningKeys::load_or_generate(&dir).unwrap_err();
    assert!(
        matches!(&error, KeyError::InsecurePermissions { path, mode: 0o644 } if path == &es_file),
        "{error}"
    );
    std::fs::set_permissions(&es_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A damaged index is named; a missing index next to key files is not papered over.
    let index = dir.join(INDEX_FILE_NAME);
    std::fs::write(&index, b"{\"keys\": [").unwrap();
    let error = SigningKeys::load_or_generate(&dir).unwrap_err();
    assert!(
        matches!(&error, KeyError::CorruptIndex { path, .. } if path == &index),
        "{error}"
    );
    std::fs::remove_file(&index).unwrap();
    let error = SigningKeys::load_or_generate(&dir).unwrap_err();
    assert!(matches!(&error, KeyError::CorruptIndex { .. }), "{error}");
    assert_eq!(pem_files(&dir).len(), 2);

    // An index entry may not point outside the key directory.
    std::fs::write(
        &index,
        serde_json::to_vec(&json!({"keys": [{"kid": "k", "alg": "RS256",
        "file": "../../etc/passwd", "created_at": "2026-01-01T00:00:00Z"}]}))
        .unwrap(),
    )
    .unwrap();
    let error = SigningKeys::load_or_generate(&dir).unwrap_err();
    assert!(error.to_string().contains("keys[0].file"), "{error}");
}

#[test]
fn rotation_keeps_the_previous_key_published_and_verifying() {
    let (temp, dir) = temp_keys_dir();
    let before = Arc::new(SigningKeys::load_or_generate(&dir).unwrap());
    let ring = Arc::new(KeyRing::new(SigningKeys::load_or_generate(&dir).unwrap()));
    let old_issuer = AssertionIssuer::new(ring.clone(), ISSUER.into(), DEFAULT_ASSERTION_LIFETIME);
    let old_token = old_issuer.mint(APP, &identity()).unwrap();
    let old_kid = before.current_kid(Algorithm::RS256).unwrap().to_string();

    let after = Arc::new(SigningKeys::rotate(&dir, Algorithm::RS256).unwrap());
    let new_kid = after.current_kid(Algorithm::RS256).unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    assert_eq!(
        after.current_kid(Algorithm::ES256),
        before.current_kid(Algorithm::ES256)
    );
    let infos = after.key_infos();
    let retired = infos.iter().find(|k| k.kid == old_kid).unwrap();
    assert!(retired.retired_at.is_some());
    assert_eq!(after.jwks()["keys"].as_array().unwrap().len(), 3);

    // The same issuer picks the rotated set up from its ring.
    assert!(ring.reload().unwrap());
    let new_issuer = old_issuer;
    assert_eq!(
        new_issuer.verify(&old_token, APP).unwrap().sub,
        identity().subject
    );
    let new_token = new_issuer.mint(APP, &identity()).unwrap();
    let jwks = write_jwks(&after, temp.path());
    for token in [&old_token, &new_token] {
        pyjwt_verify(&jwks, token, APP, "RS256").unwrap();
    }
    let header = &pyjwt_verify(&jwks, &new_token, APP, "RS256").unwrap()["header"];
    assert_eq!(header["kid"], new_kid.as_str());

    // The rotation survives a restart.
    let reloaded = SigningKeys::load_or_generate(&dir).unwrap();
    assert_eq!(
        reloaded.current_kid(Algorithm::RS256),
        Some(new_kid.as_str())
    );
    assert_eq!(reloaded.jwks(), after.jwks());
}

#[test]
fn assertion_cache_reuses_per_session_and_app_until_half_lifetime() {
    let (_temp, dir) = temp_keys_dir();
    let keys = Arc::new(KeyRing::new(SigningKeys::load_or_generate(&dir).unwrap()));
    let issuer = AssertionIssuer::new(keys, ISSUER.into(), Duration::from_secs(2));
    let cache = AssertionCache::new(issuer.clone(), 10_000);
    let person = identity();

    let first = cache.assertion("session-1", APP, &person).unwrap();
    assert_eq!(cache.assertion("session-1", APP, &person).unwrap(), first);
    let token = first.to_str().unwrap();
    assert_eq!(issuer.verify(token, APP).unwrap().sub, person.subject);

    let other_app = cache.assertion("session-1", "thu-vien", &person).unwrap();
    assert_ne!(other_app, first);
    assert!(issuer
        .verify(other_app.to_str().unwrap(), "thu-vien")
        .is_ok());
    assert_ne!(cache.assertion("session-2", APP, &person).unwrap(), first);

    let mut promoted = person.clone();
    promoted.groups.push("giam-doc".into());
    let fresh = cache.assertion("session-1", APP, &promoted).unwrap();
    assert_ne!(
        fresh, first,
        "a changed identity is never served a stale assertion"
    );
    let groups = issuer.verify(fresh.to_str().unwrap(), APP).unwrap().groups;
    assert!(groups.contains(&"giam-doc".to_string()));

    cache.forget_session("session-1");
    assert_ne!(cache.assertion("session-1", APP, &promoted).unwrap(), fresh);

    // After half the (2 s) lifetime an entry is re-minted.
    let before = cache.assertion("session-3", APP, &person).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert_ne!(cache.assertion("session-3", APP, &person).unwrap(), before);
}

#[test]
fn assertion_cache_stays_bounded() {
    let (_temp, dir) = temp_keys_dir();
    let keys = Arc::new(KeyRing::new(SigningKeys::load_or_generate(&dir).unwrap()));
    let issuer = AssertionIssuer::new(keys, ISSUER.into(), DEFAULT_ASSERTION_LIFETIME);
    let cache = AssertionCache::new(issuer, 32);
    for session in 0..500 {
        cache
            .assertion(&format!("session-{session}"), APP, &identity())
            .unwrap();
    }
    assert!(cache.len() <= 32, "{} sessions cached", cache.len());
    assert!(!cache.is_empty());
}
