//! The authorization code flow as a relying party sees it.

use std::time::Duration;

use openidconnect::core::{CoreAuthPrompt, CoreTokenType};
use openidconnect::{OAuth2TokenResponse as _, SubjectIdentifier};

use crate::jose::{now, verify_jws};
use crate::oidc::{Redirect, World, CALLBACK, QLVB};
use crate::{access, audiences, code_flow};

const PASSWORD_ACR: &str = "urn:govgate:acr:password";

#[test]
fn discovery_announces_what_the_relying_party_relies_on() {
    let world = World::start();
    let rp = world.rp(QLVB);
    let metadata = &rp.metadata;
    assert_eq!(metadata.issuer().as_str(), world.issuer);
    let extra = &metadata.additional_metadata().additional_metadata;
    assert_eq!(extra.code_challenge_methods_supported, ["S256"]);
    assert!(extra.backchannel_logout_supported);
    assert!(extra.backchannel_logout_session_supported);
    assert!(metadata
        .additional_metadata()
        .end_session_endpoint
        .is_some());
    let document = serde_json::to_value(metadata).unwrap();
    assert_eq!(
        document["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        document["subject_types_supported"],
        serde_json::json!(["public"])
    );
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(
            document["id_token_signing_alg_values_supported"]
                .as_array()
                .is_some_and(|algs| algs.iter().any(|a| a == alg)),
            "{alg} missing: {document}"
        );
    }
    assert!(
        !rp.jwks().keys().is_empty(),
        "discovery's jwks_uri gave no keys"
    );
}

#[test]
fn code_flow_with_pkce_gives_a_verified_id_token_an_at_jwt_and_userinfo_by_scope() {
    let world = World::start();
    let rp = world.rp(QLVB);
    let browser = world.browser();
    let started = now();
    let signed = code_flow(
        &world,
        &rp,
        &browser,
        &["profile", "email", "groups"],
        "nvan",
    );
    let claims = &signed.claims;

    // The ID token (openidconnect verified signature, iss, aud, exp, nonce and at_hash).
    assert_eq!(claims.issuer().as_str(), world.issuer);
    assert_eq!(
        claims
            .audiences()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        [QLVB]
    );
    let auth_time = claims.auth_time().expect("auth_time").timestamp();
    assert!(
        (started - 5..=now() + 5).contains(&auth_time),
        "auth_time {auth_time} not of this login ({started}..)"
    );
    assert_eq!(
        claims.auth_context_ref().map(|acr| acr.as_str()),
        Some(PASSWORD_ACR)
    );
    assert!(
        claims.auth_method_refs().is_some_and(|amr| !amr.is_empty()),
        "amr missing or empty"
    );
    assert!(!signed.sid.is_empty());

    // The token response.
    let tokens = &signed.tokens;
    assert_eq!(*tokens.token_type(), CoreTokenType::Bearer);
    let lifetime = tokens.expires_in().expect("expires_in");
    assert!(lifetime > Duration::ZERO && lifetime <= Duration::from_secs(600));
    assert!(
        tokens.refresh_token().is_some(),
        "qlvb has the refresh_token grant"
    );

    // The access token (RFC 9068), verified against the JWKS by openidconnect's keys.
    let (header, at) = verify_jws(rp.jwks(), &access(tokens)).expect("access token verifies");
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(audiences(&at), [QLVB], "aud is the client's app: {at}");
    assert_eq!(at["iss"], world.issuer.as_str());
    assert_eq!(at["sub"], claims.subject().as_str());
    assert_eq!(at["client_id"], QLVB);
    assert_eq!(at["sid"], signed.sid.as_str());
    assert!(at["jti"].as_str().is_some_and(|j| !j.is_empty()), "{at}");
    assert!(at["exp"].as_i64().is_some_and(|exp| exp > now()), "{at}");
    let scope = at["scope"].as_str().unwrap_or_default();
    for wanted in ["openid", "profile", "email", "groups"] {
        assert!(
            scope.split(' ').any(|s| s == wanted),
            "{wanted} not in {scope:?}"
        );
    }

    // userinfo: profile, email and groups claims.
    let info = rp
        .userinfo(tokens.access_token())
        .expect("userinfo answers");
    assert_eq!(info.subject(), claims.subject());
    let name = info.name().and_then(|n| n.get(None)).map(|n| n.to_string());
    assert_eq!(name.as_deref(), Some("Nguyễn Văn An"));
    let family = info
        .family_name()
        .and_then(|n| n.get(None))
        .map(|n| n.to_string());
    assert_eq!(family.as_deref(), Some("Nguyễn"));
    assert!(info.given_name().is_some(), "given_name with profile");
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("nvan"));
    assert_eq!(
        info.email().map(|e| e.as_str()),
        Some("an.nv@namdinh.gov.vn")
    );
    assert!(info.email_verified().is_some(), "email_verified with email");
    let groups = info.additional_claims().groups.clone().unwrap_or_default();
    for group in ["lanh-dao", "chuyen-vien"] {
        assert!(
            groups.iter().any(|g| g == group),
            "{group} not in {groups:?}"
        );
    }

    // The same browser, scope openid alone: single sign-on (no login page) and userinfo
    // says only who it is.
    let narrow = rp.auth_request(&[], |r| r);
    let redirect = Redirect::of(&browser.get(&narrow.url));
    let code = redirect.code_for(CALLBACK, narrow.state.secret());
    let tokens = rp.exchange(&code, Some(narrow.verifier)).expect("exchange");
    let narrow_claims = rp.verified_id_token(&tokens, &narrow.nonce);
    assert_eq!(narrow_claims.subject(), claims.subject());
    let info = rp.userinfo(tokens.access_token()).expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
    assert!(info.name().is_none(), "name without profile: {info:?}");
    assert!(
        info.email().is_none(),
        "email without email scope: {info:?}"
    );
    assert!(
        info.additional_claims().groups.is_none(),
        "groups without the groups scope: {info:?}"
    );
}

#[test]
fn prompt_none_gives_a_code_with_a_session_and_login_required_without() {
    let world = World::start();
    let rp = world.rp(QLVB);

    let stranger = world.browser();
    let silent = rp.auth_request(&[], |r| r.add_prompt(CoreAuthPrompt::None));
    let redirect = Redirect::of(&stranger.get(&silent.url));
    assert_eq!(redirect.target(), CALLBACK, "{redirect:?}");
    assert_eq!(
        redirect.param("error"),
        Some("login_required"),
        "{redirect:?}"
    );
    assert_eq!(
        redirect.param("state"),
        Some(silent.state.secret().as_str())
    );
    assert_eq!(redirect.param("code"), None);

    let browser = world.browser();
    let first = code_flow(&world, &rp, &browser, &[], "ttbinh");
    let silent = rp.auth_request(&[], |r| r.add_prompt(CoreAuthPrompt::None));
    let page = browser.get(&silent.url);
    assert!(
        !page
            .location()
            .unwrap_or_default()
            .contains("/.govgate/login"),
        "prompt=none must never show the login page: {page:?}"
    );
    let code = Redirect::of(&page).code_for(CALLBACK, silent.state.secret());
    let tokens = rp.exchange(&code, Some(silent.verifier)).expect("exchange");
    let claims = rp.verified_id_token(&tokens, &silent.nonce);
    assert_eq!(claims.subject(), first.claims.subject());
    assert_eq!(
        claims.additional_claims().sid.as_deref(),
        Some(first.sid.as_str())
    );
}

#[test]
fn max_age_exceeded_shows_the_login_form_again_and_auth_time_is_fresh() {
    let world = World::start();
    let rp = world.rp(QLVB);
    let browser = world.browser();
    let first = code_flow(&world, &rp, &browser, &[], "dtha");
    let first_auth = first.claims.auth_time().expect("auth_time").timestamp();
    std::thread::sleep(Duration::from_secs(2));

    let request = rp.auth_request(&[], |r| r.set_max_age(Duration::from_secs(1)));
    let form = world.expect_login_form(&browser, &request.url);
    let back = world.submit_login(&browser, &form, "dtha");
    let page = browser.get(&world.absolute(back.location().unwrap_or_default()));
    let code = Redirect::of(&page).code_for(CALLBACK, request.state.secret());
    let tokens = rp
        .exchange(&code, Some(request.verifier))
        .expect("exchange");
    let claims = rp.verified_id_token(&tokens, &request.nonce);
    let auth_time = claims.auth_time().expect("auth_time").timestamp();
    assert!(
        auth_time >= first_auth + 2,
        "auth_time {auth_time} not renewed (first login {first_auth})"
    );
    assert!(auth_time <= now() + 5);
    assert_eq!(
        claims.subject(),
        &SubjectIdentifier::new(first.claims.subject().to_string())
    );
}

#[test]
fn a_user_the_policy_does_not_let_sign_in_gets_access_denied_at_the_redirect_uri() {
    let world = World::start();
    let rp = world.rp(QLVB);
    let browser = world.browser();
    // lvcuong is only văn thư; the policies let chuyên viên sign in to qlvb.
    let request = rp.auth_request(&["profile"], |r| r);
    let redirect = world.sign_in(&browser, &request.url, "lvcuong");
    assert_eq!(redirect.target(), CALLBACK, "{redirect:?}");
    assert_eq!(
        redirect.param("error"),
        Some("access_denied"),
        "{redirect:?}"
    );
    assert_eq!(
        redirect.param("state"),
        Some(request.state.secret().as_str())
    );
    assert_eq!(redirect.param("code"), None, "{redirect:?}");
}
