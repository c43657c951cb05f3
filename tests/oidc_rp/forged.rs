//! Tokens the gateway did not issue for this app: each is inactive at introspection and
//! refused (401) as a Bearer token by the accept_bearer app, while the genuine token they
//! were made from is admitted.

use openidconnect::TokenIntrospectionResponse as _;
use serde_json::{json, Value};

use crate::audiences;
use crate::jose::{b64url, hs256, part, rsa_jwk_spki, signing_jwk, unsigned, RsaKey};
use crate::oidc::{World, DONG_BO, DONG_BO_MAIL};
use crate::tokens::{assert_inactive, assert_refused_as_bearer, system_token};

#[test]
fn forged_and_foreign_tokens_are_inactive_and_refused_as_bearer() {
    let world = World::start();
    let rp = world.rp(DONG_BO);
    let genuine = system_token(&rp);
    assert!(
        rp.introspect(&genuine, None).active(),
        "the genuine token is active"
    );
    assert_eq!(
        world.bearer_get(&genuine).status,
        200,
        "the genuine token is admitted"
    );

    let header = part(&genuine, 0);
    let claims = part(&genuine, 1);
    let kid = header["kid"].clone();
    let provider_key = signing_jwk(&world.jwks_json(), &genuine);
    let (spki_der, spki_pem) = rsa_jwk_spki(&provider_key);
    let attacker = RsaKey::generate(kid.as_str().unwrap_or_default());
    let same_header = json!({"kid": kid, "typ": "at+jwt"});

    let mut tampered_claims = claims.clone();
    tampered_claims["sub"] = json!("quan-tri-gia-mao");
    let genuine_signature = genuine.rsplit('.').next().unwrap_or_default();
    let tampered = format!(
        "{}.{}.{genuine_signature}",
        genuine.split('.').next().unwrap_or_default(),
        b64url(tampered_claims.to_string().as_bytes())
    );

    let forgeries: Vec<(&str, String)> = vec![
        ("alg none", unsigned(same_header.clone(), &claims)),
        ("alg none, no signature part", {
            let token = unsigned(same_header.clone(), &claims);
            token.trim_end_matches('.').to_string()
        }),
        (
            "HS256 keyed with the public key PEM",
            hs256(spki_pem.as_bytes(), same_header.clone(), &claims),
        ),
        (
            "HS256 keyed with the public key DER",
            hs256(&spki_der, same_header.clone(), &claims),
        ),
        (
            "HS256 keyed with the JWK's n",
            hs256(
                provider_key["n"].as_str().unwrap_or_default().as_bytes(),
                same_header.clone(),
                &claims,
            ),
        ),
        (
            "another RSA key under the gateway's kid",
            attacker.sign(same_header.clone(), &claims),
        ),
        ("claims changed after signing", tampered),
    ];
    for (what, token) in &forgeries {
        assert_inactive(&rp, token, what);
        assert_refused_as_bearer(&world, token, what);
    }

    // A real gateway token, but for another app: refused by this one.
    let elsewhere = system_token(&world.rp(DONG_BO_MAIL));
    let elsewhere_claims: Value = part(&elsewhere, 1);
    assert_eq!(
        audiences(&elsewhere_claims),
        ["thu-dien-tu"],
        "{elsewhere_claims}"
    );
    assert_refused_as_bearer(&world, &elsewhere, "a token for another audience");
}
