//! Logout in one place reaches every app: RP-initiated logout and the portal's logout end
//! the single sign-on session and send back-channel logout tokens, or load front-channel
//! logout pages.

use std::time::Duration;

use openidconnect::core::CoreAuthPrompt;
use openidconnect::TokenResponse as _;

use crate::jose::{now, verify_jws};
use crate::oidc::{
    LogoutDelivery, Redirect, World, BYE, CALLBACK, CONG_DVC, QLVB, THU, THU_FRONTCHANNEL,
};
use crate::relying_party::Rp;
use crate::support::browser::Browser;
use crate::{audiences, code_flow, Signed};

const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const PATIENCE: Duration = Duration::from_secs(15);

/// Checks one delivered logout token as the client would (OIDC Back-Channel Logout 1.0
/// §2.6): signature by the provider's JWKS, typ, iss, aud, iat/exp/jti, sid, sub, the
/// event member, and no nonce.
fn assert_logout_token(
    rp: &Rp,
    world: &World,
    delivery: &LogoutDelivery,
    client: &str,
    signed: &Signed,
) {
    assert_eq!(
        delivery.path,
        format!("/backchannel/{client}"),
        "{delivery:?}"
    );
    assert!(
        delivery
            .content_type
            .starts_with("application/x-www-form-urlencoded"),
        "{delivery:?}"
    );
    let token = delivery
        .logout_token
        .as_deref()
        .unwrap_or_else(|| panic!("no logout_token field: {delivery:?}"));
    let (header, claims) = verify_jws(rp.jwks(), token).expect("logout token verifies");
    assert_eq!(header["typ"], "logout+jwt", "{header}");
    assert_eq!(claims["iss"], world.issuer.as_str(), "{claims}");
    assert_eq!(audiences(&claims), [client], "{claims}");
    assert_eq!(claims["sid"], signed.sid.as_str(), "{claims}");
    assert_eq!(claims["sub"], signed.claims.subject().as_str(), "{claims}");
    assert!(
        claims["events"][BACKCHANNEL_EVENT].is_object(),
        "events member: {claims}"
    );
    assert!(
        claims.get("nonce").is_none(),
        "a logout token has no nonce: {claims}"
    );
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "{claims}"
    );
    let iat = claims["iat"].as_i64().expect("iat");
    assert!((now() - 60..=now() + 5).contains(&iat), "iat {iat}");
    assert!(
        claims["exp"].as_i64().is_some_and(|exp| exp > iat),
        "{claims}"
    );
}

/// prompt=none at `rp`: the session is gone when this gives login_required.
fn assert_no_session(rp: &Rp, browser: &Browser) {
    let silent = rp.auth_request(&[], |r| r.add_prompt(CoreAuthPrompt::None));
    let redirect = Redirect::of(&browser.get(&silent.url));
    assert_eq!(
        redirect.param("error"),
        Some("login_required"),
        "session survived: {redirect:?}"
    );
}

#[test]
fn rp_initiated_logout_ends_the_session_and_notifies_every_client_of_it() {
    let world = World::start();
    let qlvb = world.rp(QLVB);
    let portal = world.rp(CONG_DVC);
    let browser = world.browser();
    let at_qlvb = code_flow(&world, &qlvb, &browser, &["profile"], "nvan");
    let at_portal = code_flow(&world, &portal, &browser, &[], "nvan");
    assert_eq!(
        at_portal.sid, at_qlvb.sid,
        "one single sign-on session, one sid"
    );
    let id_token = at_qlvb.tokens.id_token().expect("ID token").clone();

    // A near miss of the registered post-logout URI: an error page, and nothing ends.
    let near_miss = qlvb.logout_url(&id_token, &format!("{BYE}/"), "x");
    let page = browser.get(&near_miss);
    assert!(
        page.status >= 400,
        "unregistered post_logout_redirect_uri: {page:?}"
    );
    assert_eq!(page.location(), None, "{page:?}");
    let still = qlvb.auth_request(&[], |r| r.add_prompt(CoreAuthPrompt::None));
    Redirect::of(&browser.get(&still.url)).code_for(CALLBACK, still.state.secret());
    assert!(world.logouts.received().is_empty(), "no logout happened");

    let logout = qlvb.logout_url(&id_token, BYE, "trang-thai-dang-xuat");
    let redirect = Redirect::of(&browser.get(&logout));
    assert_eq!(redirect.target(), BYE, "{redirect:?}");
    assert_eq!(redirect.param("state"), Some("trang-thai-dang-xuat"));
    assert_no_session(&qlvb, &browser);

    let deliveries = world.logouts.wait_for(2, PATIENCE);
    let for_client = |client: &str| {
        deliveries
            .iter()
            .find(|d| d.path.ends_with(&format!("/{client}")))
            .unwrap_or_else(|| panic!("no logout token for {client}: {deliveries:?}"))
    };
    assert_logout_token(&qlvb, &world, for_client(QLVB), QLVB, &at_qlvb);
    assert_logout_token(&portal, &world, for_client(CONG_DVC), CONG_DVC, &at_portal);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        world.logouts.received().len(),
        2,
        "one notification per client"
    );
}

#[test]
fn portal_logout_sends_the_back_channel_logout_token_too() {
    let world = World::start();
    let qlvb = world.rp(QLVB);
    let browser = world.browser();
    let signed = code_flow(&world, &qlvb, &browser, &[], "ttbinh");

    let logout = format!("{}/.govgate/logout", world.issuer);
    let confirm = browser.get(&logout);
    assert_eq!(confirm.status, 200, "{confirm:?}");
    let csrf = confirm.form_field("csrf").expect("logout form csrf");
    let done = browser.post_form(&logout, &[("csrf", &csrf), ("lang", "vi")]);
    assert!(done.status < 400, "{done:?}");
    assert_no_session(&qlvb, &browser);

    let deliveries = world.logouts.wait_for(1, PATIENCE);
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_logout_token(&qlvb, &world, &deliveries[0], QLVB, &signed);
}

#[test]
fn portal_logout_loads_the_front_channel_logout_page_of_a_client_that_asks_for_it() {
    let world = World::start();
    let thu = world.rp(THU);
    let browser = world.browser();
    let signed = code_flow(&world, &thu, &browser, &["profile"], "ttbinh");
    let sid = signed
        .claims
        .additional_claims()
        .sid
        .clone()
        .expect("sid in the ID token");

    let logout = format!("{}/.govgate/logout", world.issuer);
    let confirm = browser.get(&logout);
    let csrf = confirm.form_field("csrf").expect("logout form csrf");
    let done = browser.post_form(&logout, &[("csrf", &csrf), ("lang", "vi")]);
    assert_eq!(done.status, 200, "{done:?}");
    // OIDC Front-Channel Logout 1.0 §2–3: an invisible iframe of the client's URI with iss and sid.
    let frame = done
        .body
        .split("<iframe src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no front-channel iframe: {}", done.body))
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let (uri, query) = frame.split_once('?').expect("iss and sid parameters");
    assert_eq!(uri, THU_FRONTCHANNEL);
    let parameters: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert!(
        parameters.contains(&("iss".into(), world.issuer.clone())),
        "{parameters:?}"
    );
    assert!(parameters.contains(&("sid".into(), sid)), "{parameters:?}");
    // The page may frame that origin and nothing else.
    let policy = done.header("content-security-policy").unwrap_or_default();
    assert!(
        policy.contains("frame-src http://127.0.0.1:9997"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_no_session(&thu, &browser);
    // Front-channel only: no back-channel token for this client.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        world
            .logouts
            .received()
            .iter()
            .all(|d| !d.path.contains(THU)),
        "{:?}",
        world.logouts.received()
    );
}
