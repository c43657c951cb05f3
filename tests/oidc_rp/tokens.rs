//! Refresh, introspection, revocation, bearer tokens at the proxy, client_credentials and
//! private_key_jwt.

use std::time::Duration;

use openidconnect::{
    AccessToken, OAuth2TokenResponse as _, RefreshToken, TokenIntrospectionResponse as _,
};
use serde_json::json;

use crate::jose::{now, random_id, verify_jws, RsaKey};
use crate::oidc::{World, API_SCOPE, DONG_BO, DONG_BO_NGAN, KHACH, KY_SO, QLVB};
use crate::relying_party::{json_body, post_form, Rp};
use crate::{access, audiences, code_flow, refresh};

/// A `client_credentials` access token of `client` (asserting it is issued).
pub fn system_token(rp: &Rp) -> String {
    let tokens = rp
        .client_credentials(&[API_SCOPE], &[])
        .unwrap_or_else(|e| panic!("client_credentials refused: {e:?}"));
    access(&tokens)
}

pub fn assert_inactive(rp: &Rp, token: &str, what: &str) {
    let answer = rp.introspect(token, None);
    assert!(!answer.active(), "{what} is still active: {answer:?}");
}

pub fn assert_refused_as_bearer(world: &World, token: &str, what: &str) {
    let seen_before = world.nginx.access_log().lines().count();
    let page = world.bearer_get(token);
    assert_eq!(page.status, 401, "{what} as Bearer: {page:?}");
    assert_eq!(
        world.nginx.access_log().lines().count(),
        seen_before,
        "the upstream saw a request with {what}"
    );
}

#[test]
fn refresh_rotates_and_a_replayed_refresh_token_revokes_the_whole_family() {
    let world = World::start();
    let rp = world.rp(QLVB);
    let signed = code_flow(&world, &rp, &world.browser(), &["profile"], "nvan");
    let first = refresh(&signed.tokens);

    let second_tokens = rp
        .refresh(&RefreshToken::new(first.clone()))
        .expect("first refresh");
    let second = refresh(&second_tokens);
    assert_ne!(second, first, "refresh token not rotated");
    let third_tokens = rp
        .refresh(&RefreshToken::new(second.clone()))
        .expect("second refresh");
    let third = refresh(&third_tokens);
    assert_ne!(third, second, "refresh token not rotated");
    let newest_access = access(&third_tokens);
    let introspected = rp.introspect(&newest_access, None);
    assert!(introspected.active(), "{introspected:?}");
    assert!(rp.introspect(&third, Some("refresh_token")).active());

    // The rotated-out token comes back: refused, and the family dies with it.
    let replay = rp
        .refresh(&RefreshToken::new(first))
        .expect_err("replay refused");
    assert_eq!(replay.error, "invalid_grant", "{replay:?}");
    assert_inactive(&rp, &third, "the newest refresh token of a replayed family");
    assert_inactive(
        &rp,
        &newest_access,
        "the newest access token of a replayed family",
    );
    let after = rp
        .refresh(&RefreshToken::new(third))
        .expect_err("family revoked");
    assert_eq!(after.error, "invalid_grant", "{after:?}");
    assert!(
        rp.userinfo(&AccessToken::new(newest_access)).is_err(),
        "userinfo with a revoked family's access token"
    );
}

#[test]
fn introspection_reports_live_tokens_and_nothing_about_garbage_or_expired_ones() {
    let world = World::start();
    let rp = world.rp(QLVB);
    let signed = code_flow(&world, &rp, &world.browser(), &["email"], "ttbinh");

    let live = rp.introspect(&access(&signed.tokens), Some("access_token"));
    assert!(live.active(), "{live:?}");
    assert_eq!(live.sub(), Some(signed.claims.subject().as_str()));
    assert_eq!(live.client_id().map(|c| c.as_str()), Some(QLVB));
    let scopes: Vec<String> = live
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    assert!(
        scopes.iter().any(|s| s == "openid") && scopes.iter().any(|s| s == "email"),
        "{scopes:?}"
    );
    let exp = live.exp().expect("exp").timestamp();
    assert!(exp > now() && exp <= now() + 600 + 5, "exp {exp}");
    let refresh_answer = rp.introspect(&refresh(&signed.tokens), Some("refresh_token"));
    assert!(refresh_answer.active(), "{refresh_answer:?}");

    for garbage in [
        "abc".to_string(),
        random_id(32),
        format!("eyJhbGciOiJSUzI1NiJ9.{}.{}", random_id(20), random_id(40)),
    ] {
        assert_inactive(&rp, &garbage, &format!("garbage {garbage:?}"));
    }
}

/// Expired means inactive: the provider judges its own tokens by its own clock.
#[test]
fn an_expired_access_token_is_inactive_and_refused_as_bearer() {
    let world = World::start();
    let rp = world.rp(QLVB);
    // A token that lives one second (client dong-bo-ngan), checked 2 s later.
    let short = world.rp(DONG_BO_NGAN);
    let token = system_token(&short);
    assert!(short.introspect(&token, None).active());
    assert_eq!(
        world.bearer_get(&token).status,
        200,
        "fresh short token as Bearer"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_inactive(&short, &token, "an expired access token");
    assert_inactive(&rp, &token, "an expired access token (other client asking)");
    assert_refused_as_bearer(&world, &token, "expired");
}

#[test]
fn revoked_tokens_are_inactive_and_a_revoked_access_token_is_refused_as_bearer() {
    let world = World::start();

    // A system's access token: admitted as Bearer to the accept_bearer app, then revoked.
    let system = world.rp(DONG_BO);
    let token = system_token(&system);
    let page = world.bearer_get(&token);
    assert_eq!(page.status, 200, "a valid Bearer token: {page:?}");
    assert!(
        page.body.contains("uri: /echo"),
        "nginx answered: {}",
        page.body
    );
    assert_eq!(system.revoke(&token, "access_token").0, 200, "revocation");
    assert_inactive(&system, &token, "a revoked access token");
    assert_refused_as_bearer(&world, &token, "revoked");

    // A user's tokens: the access token works as Bearer, then revoking it refuses it.
    let rp = world.rp(QLVB);
    let signed = code_flow(&world, &rp, &world.browser(), &[], "nvan");
    let user_access = access(&signed.tokens);
    assert_eq!(
        world.bearer_get(&user_access).status,
        200,
        "user Bearer token"
    );
    assert_eq!(rp.revoke(&user_access, "access_token").0, 200, "revocation");
    assert_inactive(&rp, &user_access, "a revoked user access token");
    assert_refused_as_bearer(&world, &user_access, "revoked-user");
    assert!(rp.userinfo(&AccessToken::new(user_access)).is_err());

    // Revoking a refresh token revokes its family (the access tokens of that grant too).
    let signed = code_flow(&world, &rp, &world.browser(), &[], "ttbinh");
    let refresh_token = refresh(&signed.tokens);
    let its_access = access(&signed.tokens);
    assert_eq!(
        rp.revoke(&refresh_token, "refresh_token").0,
        200,
        "revocation"
    );
    assert_inactive(&rp, &refresh_token, "a revoked refresh token");
    let refused = rp
        .refresh(&RefreshToken::new(refresh_token))
        .expect_err("revoked refresh token");
    assert_eq!(refused.error, "invalid_grant", "{refused:?}");
    assert_inactive(
        &rp,
        &its_access,
        "the access token of a revoked refresh token",
    );

    // Unknown tokens: 200 all the same (RFC 7009 §2.2).
    let unknown = rp.revoke(&random_id(24), "access_token");
    assert_eq!(
        unknown.0, 200,
        "revoking an unknown token answers 200: {unknown:?}"
    );
}

#[test]
fn client_credentials_issues_tokens_to_permitted_systems_only() {
    let world = World::start();
    let system = world.rp(DONG_BO);
    let tokens = system
        .client_credentials(&[API_SCOPE], &[])
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        tokens.refresh_token().is_none(),
        "no refresh token for client_credentials"
    );
    assert!(
        tokens.extra_fields().id_token().is_none(),
        "no ID token without a user"
    );
    let (header, at) = verify_jws(system.jwks(), &access(&tokens)).expect("verifies");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(at["client_id"], DONG_BO);
    assert_eq!(audiences(&at), [QLVB], "{at}");
    assert_eq!(at["scope"], API_SCOPE);
    assert_eq!(at["iss"], world.issuer.as_str());

    // A scope the client was not registered for.
    let wider = system
        .client_credentials(&[API_SCOPE, "quan-tri.ghi"], &[])
        .expect_err("unregistered scope");
    assert_eq!(wider.error, "invalid_scope", "{wider:?}");

    // A system whose roles no policy permits.
    let guest = world.rp(KHACH);
    let denied = guest
        .client_credentials(&[API_SCOPE], &[])
        .expect_err("khach is not permitted");
    assert!(
        ["access_denied", "unauthorized_client", "invalid_client"].contains(&denied.error.as_str()),
        "{denied:?}"
    );
    let raw = post_form(
        &guest,
        guest.client.token_uri().expect("token endpoint").as_str(),
        &[("grant_type", "client_credentials"), ("scope", API_SCOPE)],
        Some((KHACH, crate::oidc::KHACH_SECRET)),
    );
    assert!(raw.status().is_client_error(), "{raw:?}");
    assert_eq!(json_body(&raw)["error"], denied.error.as_str());

    // A client without the grant.
    let app = world.rp(QLVB);
    let refused = app
        .client_credentials(&["openid"], &[])
        .expect_err("qlvb has no client_credentials grant");
    assert_eq!(refused.error, "unauthorized_client", "{refused:?}");
}

/// A client assertion (RFC 7523 §3) for `ky-so`, signed with `key`.
fn assertion(key: &RsaKey, audience: &str, expires: i64) -> String {
    key.sign(
        json!({"typ": "JWT"}),
        &json!({
            "iss": KY_SO,
            "sub": KY_SO,
            "aud": audience,
            "jti": random_id(16),
            "iat": now(),
            "exp": expires,
        }),
    )
}

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[test]
fn private_key_jwt_authenticates_with_the_registered_key_only() {
    let world = World::start();
    let rp = world.rp(KY_SO);
    let token_endpoint = rp.client.token_uri().expect("token endpoint").to_string();
    let try_with = |jwt: &str| {
        rp.client_credentials(
            &[API_SCOPE],
            &[
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", jwt),
            ],
        )
    };

    let good = assertion(&world.ky_so_key, &token_endpoint, now() + 60);
    let tokens = try_with(&good).unwrap_or_else(|e| panic!("private_key_jwt refused: {e:?}"));
    let (_, at) = verify_jws(rp.jwks(), &access(&tokens)).expect("verifies");
    assert_eq!(at["client_id"], KY_SO);

    let impostor = RsaKey::generate(&world.ky_so_key.kid);
    let bad = [
        (
            "signed by another key with the registered kid",
            assertion(&impostor, &token_endpoint, now() + 60),
        ),
        (
            "expired",
            assertion(&world.ky_so_key, &token_endpoint, now() - 120),
        ),
        (
            "for another audience",
            assertion(&world.ky_so_key, "http://127.0.0.1:1/token", now() + 60),
        ),
    ];
    for (what, jwt) in bad {
        let refused = try_with(&jwt).expect_err(what);
        assert_eq!(refused.error, "invalid_client", "{what}: {refused:?}");
    }
    let none = rp
        .client_credentials(&[API_SCOPE], &[])
        .expect_err("no assertion");
    assert_eq!(none.error, "invalid_client", "{none:?}");
}
