//! What the provider must refuse: redirect URIs that are not exactly registered, PKCE
//! errors, reused and expired codes, bad client authentication, other response types.

use std::time::Duration;

use openidconnect::{PkceCodeVerifier, TokenIntrospectionResponse as _};

use crate::oidc::{Options, Redirect, World, CALLBACK, QLVB, QLVB_SECRET};
use crate::relying_party::{json_body, post_form, Rp};
use crate::support::browser::Browser;
use crate::{access, code_flow, other_verifier, refresh, with_param};

/// Logs `user` in (one code flow) so that later authorization requests skip the login form.
fn with_session(world: &World, rp: &Rp, user: &str) -> Browser {
    let browser = world.browser();
    code_flow(world, rp, &browser, &[], user);
    browser
}

/// A code for `rp` from an existing session, with its verifier's text.
fn fresh_code(rp: &Rp, browser: &Browser) -> (String, String) {
    let request = rp.auth_request(&[], |r| r);
    let code = Redirect::of(&browser.get(&request.url)).code_for(CALLBACK, request.state.secret());
    (code, request.verifier.secret().clone())
}

#[test]
fn redirect_uris_must_match_exactly_or_the_browser_gets_an_error_page_not_a_redirect() {
    let world = World::start();
    let rp = world.rp(QLVB);
    let browser = with_session(&world, &rp, "nvan");
    let stranger = world.browser();
    let near_misses = [
        "http://attacker.example/callback",
        "http://127.0.0.1:9999/callback/",
        "http://127.0.0.1:9998/callback",
        "http://127.0.0.1:9999/Callback",
        "http://127.0.0.1:9999/callback?next=/admin",
        "http://127.0.0.1:9999/callback#x",
        "http://localhost:9999/callback",
    ];
    for bad in near_misses {
        let url = with_param(&rp.auth_request(&[], |r| r).url, "redirect_uri", Some(bad));
        let page = browser.get(&url);
        assert_eq!(
            page.status, 400,
            "redirect_uri {bad:?} with a session: {page:?}"
        );
        assert_eq!(page.location(), None, "redirect_uri {bad:?}: {page:?}");
        // Without a session: never sent to that URI either (an error page, or at most the
        // login page first).
        let page = stranger.get(&url);
        let location = page.location().unwrap_or_default();
        assert!(
            page.status == 400 || location.contains("/.govgate/login"),
            "redirect_uri {bad:?} without a session: {page:?}"
        );
    }
    let unknown_client = with_param(
        &rp.auth_request(&[], |r| r).url,
        "client_id",
        Some("gia-mao"),
    );
    let page = browser.get(&unknown_client);
    assert_eq!(page.status, 400, "unknown client: {page:?}");
    assert_eq!(page.location(), None);
    let no_redirect = with_param(&rp.auth_request(&[], |r| r).url, "redirect_uri", None);
    let page = browser.get(&no_redirect);
    assert!(
        page.status == 400 || Redirect::of(&page).target() == CALLBACK,
        "no redirect_uri (one registered): {page:?}"
    );

    // Other response types go back to the (valid) redirect URI as an error.
    let implicit = with_param(
        &rp.auth_request(&[], |r| r).url,
        "response_type",
        Some("token"),
    );
    let redirect = Redirect::of(&browser.get(&implicit));
    assert_eq!(redirect.target(), CALLBACK, "{redirect:?}");
    assert_eq!(
        redirect.param("error"),
        Some("unsupported_response_type"),
        "{redirect:?}"
    );
    assert_eq!(redirect.param("access_token"), None);
}

#[test]
fn pkce_is_required_s256_only_and_the_verifier_must_match() {
    let world = World::start();
    let rp = world.rp(QLVB);
    let browser = with_session(&world, &rp, "ttbinh");

    let (code, _) = fresh_code(&rp, &browser);
    let missing = rp.exchange(&code, None).expect_err("no code_verifier");
    assert_eq!(missing.error, "invalid_grant", "{missing:?}");

    let (code, _) = fresh_code(&rp, &browser);
    let wrong = rp
        .exchange(&code, Some(other_verifier()))
        .expect_err("wrong verifier");
    assert_eq!(wrong.error, "invalid_grant", "{wrong:?}");

    let request = rp.auth_request(&[], |r| r);
    let plain = with_param(
        &request.url,
        "code_challenge",
        Some(request.verifier.secret()),
    );
    let plain = with_param(&plain, "code_challenge_method", Some("plain"));
    let redirect = Redirect::of(&browser.get(&plain));
    assert_eq!(redirect.target(), CALLBACK, "{redirect:?}");
    assert_eq!(
        redirect.param("error"),
        Some("invalid_request"),
        "plain PKCE: {redirect:?}"
    );
    assert_eq!(
        redirect.param("state"),
        Some(request.state.secret().as_str())
    );
    assert_eq!(redirect.param("code"), None);

    let request = rp.auth_request(&[], |r| r);
    let without = with_param(&request.url, "code_challenge", None);
    let without = with_param(&without, "code_challenge_method", None);
    let redirect = Redirect::of(&browser.get(&without));
    assert_eq!(
        redirect.param("error"),
        Some("invalid_request"),
        "no PKCE: {redirect:?}"
    );
    assert_eq!(redirect.param("code"), None);
}

#[test]
fn a_reused_code_is_refused_and_revokes_what_the_first_exchange_got() {
    let world = World::start();
    let rp = world.rp(QLVB);
    let browser = with_session(&world, &rp, "dtha");
    let (code, verifier) = fresh_code(&rp, &browser);
    let tokens = rp
        .exchange(&code, Some(PkceCodeVerifier::new(verifier.clone())))
        .expect("first exchange");
    assert!(rp.introspect(&access(&tokens), None).active());

    let again = rp
        .exchange(&code, Some(PkceCodeVerifier::new(verifier)))
        .expect_err("the code is single-use");
    assert_eq!(again.error, "invalid_grant", "{again:?}");
    let first_access = rp.introspect(&access(&tokens), None);
    assert!(
        !first_access.active(),
        "access token of a replayed code: {first_access:?}"
    );
    let first_refresh = rp.introspect(&refresh(&tokens), Some("refresh_token"));
    assert!(
        !first_refresh.active(),
        "refresh token of a replayed code: {first_refresh:?}"
    );
}

#[test]
fn an_expired_code_is_invalid_grant() {
    let world = World::start_with(Options {
        code_lifetime: "1s",
    });
    let rp = world.rp(QLVB);
    let browser = with_session(&world, &rp, "nvan");
    let (code, verifier) = fresh_code(&rp, &browser);
    std::thread::sleep(Duration::from_secs(2));
    let late = rp
        .exchange(&code, Some(PkceCodeVerifier::new(verifier)))
        .expect_err("expired code");
    assert_eq!(late.error, "invalid_grant", "{late:?}");
}

#[test]
fn a_wrong_client_secret_is_invalid_client_with_401() {
    let world = World::start();
    let rp = world.rp(QLVB);
    let browser = with_session(&world, &rp, "nvan");
    let (code, verifier) = fresh_code(&rp, &browser);
    let impostor = Rp::discover(
        &world.issuer,
        QLVB,
        Some("sai-bi-mat-nhung-du-dai-0123456789abcdefgh"),
        CALLBACK,
    );
    let refused = impostor
        .exchange(&code, Some(PkceCodeVerifier::new(verifier.clone())))
        .expect_err("wrong secret");
    assert_eq!(refused.error, "invalid_client", "{refused:?}");

    let token_endpoint = rp.client.token_uri().expect("token endpoint").to_string();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    for (who, secret) in [
        (QLVB, "sai-bi-mat-nhung-du-dai-0123456789abcdefgh"),
        ("gia-mao", QLVB_SECRET),
    ] {
        let raw = post_form(&rp, &token_endpoint, &form, Some((who, secret)));
        assert_eq!(raw.status(), 401, "{who}: {raw:?}");
        assert!(
            raw.headers().contains_key(http::header::WWW_AUTHENTICATE),
            "401 without WWW-Authenticate: {raw:?}"
        );
        assert_eq!(json_body(&raw)["error"], "invalid_client");
    }
    // Basic credentials of a confidential client are required: none at all is refused too.
    let raw = post_form(
        &rp,
        &token_endpoint,
        &[("client_id", QLVB), form[0], form[1], form[2], form[3]],
        None,
    );
    assert_eq!(raw.status(), 401, "no client authentication: {raw:?}");
}
