//! Single sign-on across hosts through the portal (`portal.public_url`): app hosts inside
//! the cookie domain share the portal's cookie; an app host outside it gets its own
//! host-only session through the single-use hand-off code. Also forward-auth (`auth/verify`).

mod support;

use std::path::Path;

use govgate::demo::{DemoApps, RequestSeen};
use support::browser::{cookie_attributes, decode, Browser, Page};
use support::gateway::Gateway;

const PORTAL: &str = "http://sso.namdinh.gov.vn";
/// An app host under the cookie domain.
const INSIDE: &str = "http://motcua.namdinh.gov.vn";
/// An app host outside the cookie domain (another registrable domain).
const OUTSIDE_HOST: &str = "dichvucong-namdinh.vn";
const OUTSIDE: &str = "http://dichvucong-namdinh.vn";

fn sso_gateway(demo: &DemoApps) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let users = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.toml");
    std::fs::copy(users, dir.path().join("users.toml")).unwrap();
    Gateway::start_in(
        dir,
        &format!(
            r#"
[portal]
public_url = "{PORTAL}"

[directory]
backend = "file"
[directory.file]
path = "users.toml"

[session]
cookie_domain = ".namdinh.gov.vn"

[[apps]]
id = "mot-cua"
name = "Một cửa điện tử"
hosts = ["motcua.namdinh.gov.vn"]
upstreams = ["http://{one_stop}"]

[[apps]]
id = "dich-vu-cong"
name = "Dịch vụ công"
hosts = ["{OUTSIDE_HOST}"]
upstreams = ["http://{documents}"]
"#,
            one_stop = demo.one_stop_shop,
            documents = demo.documents,
        ),
    )
}

fn app_saw(page: &Page) -> RequestSeen {
    assert_eq!(page.status, 200, "{page:?}");
    serde_json::from_str(&page.body).unwrap_or_else(|e| panic!("{e}: {}", page.body))
}

/// Follows one redirect: an absolute Location as is, a relative one on `origin`.
fn follow(browser: &Browser, origin: &str, page: &Page) -> (String, Page) {
    let location = page
        .location()
        .unwrap_or_else(|| panic!("no Location: {page:?}"));
    let url = if location.starts_with('/') {
        format!("{origin}{location}")
    } else {
        location.to_string()
    };
    let origin = url.split('/').take(3).collect::<Vec<_>>().join("/");
    (origin, browser.get(&url))
}

#[test]
fn an_app_host_inside_the_cookie_domain_logs_in_on_the_portal() {
    let demo = DemoApps::start().unwrap();
    let gateway = sso_gateway(&demo);
    let browser = Browser::new(&gateway);
    let target = format!("{INSIDE}/api/request");

    let first = browser.get(&target);
    assert_eq!(first.status, 302, "{first:?}");
    let location = first.location().unwrap();
    let rd = location
        .strip_prefix(&format!("{PORTAL}/.govgate/login?rd="))
        .map(decode)
        .unwrap_or_else(|| panic!("not the portal's login page: {location}"));
    assert_eq!(rd, target);

    let answer = browser.login(PORTAL, "nvan", "LanhDao@2024", &rd);
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), Some(target.as_str()));
    let jar = browser.cookie("govgate_session").unwrap();
    assert!(jar.include_subdomains, "{jar:?}");
    let seen = app_saw(&browser.get(&target));
    assert_eq!(seen.header("x-remote-user"), Some("nvan"));

    // The hand-off start never hands a code to a host that is not a registered app.
    for evil in ["https://evil.example/x", "//evil.example/x"] {
        let page = browser.get(&format!(
            "{PORTAL}/.govgate/sso/start?rd={}",
            support::browser::encode(evil)
        ));
        assert_eq!(page.status, 302, "{page:?}");
        assert_eq!(page.location(), Some("/.govgate/"), "rd {evil:?}");
    }
}

#[test]
fn an_app_host_outside_the_cookie_domain_gets_a_session_through_the_hand_off() {
    let demo = DemoApps::start().unwrap();
    let gateway = sso_gateway(&demo);
    let browser = Browser::new(&gateway);
    let target = format!("{OUTSIDE}/api/request?ma=7");

    // App host → portal's hand-off start → portal login.
    let first = browser.get(&target);
    assert_eq!(first.status, 302, "{first:?}");
    let location = first.location().unwrap().to_string();
    let rd = location
        .strip_prefix(&format!("{PORTAL}/.govgate/sso/start?rd="))
        .map(decode)
        .unwrap_or_else(|| panic!("not the portal's hand-off: {location}"));
    assert_eq!(rd, target);
    let (origin, start) = follow(&browser, OUTSIDE, &first);
    assert_eq!(origin, PORTAL);
    assert_eq!(start.status, 302, "{start:?}");
    let login_rd = start
        .location()
        .and_then(|l| l.strip_prefix("/.govgate/login?rd="))
        .map(decode)
        .unwrap_or_else(|| panic!("{start:?}"));

    // Log in on the portal; back to the hand-off start, now with a session.
    let answer = browser.login(PORTAL, "tthang", "ChuyenVien@2024", &login_rd);
    assert_eq!(answer.status, 303, "{}", answer.body);
    let (_, start) = follow(&browser, PORTAL, &answer);
    assert_eq!(start.status, 302, "{start:?}");
    let redeem_url = start.location().unwrap().to_string();
    assert!(
        redeem_url.starts_with(&format!("{OUTSIDE}/.govgate/sso?code=")),
        "{redeem_url}"
    );

    // The app host trades the code for its own host-only cookie and sends the user on.
    let (_, redeemed) = follow(&browser, PORTAL, &start);
    assert_eq!(redeemed.status, 302, "{redeemed:?}");
    assert_eq!(redeemed.location(), Some(target.as_str()));
    let set = redeemed
        .set_cookie("govgate_session")
        .unwrap_or_else(|| panic!("no session cookie: {redeemed:?}"));
    assert!(
        !cookie_attributes(set).iter().any(|(n, _)| n == "domain"),
        "a cookie for {OUTSIDE_HOST} cannot name another domain: {set}"
    );
    let seen = app_saw(&browser.get(&target));
    assert_eq!(seen.header("x-remote-user"), Some("tthang"));
    assert_eq!(seen.query_value("ma"), Some("7"));

    // The code is single-use: replaying it in another browser gives nothing.
    let thief = Browser::new(&gateway);
    let replay = thief.get(&redeem_url);
    assert_eq!(replay.set_cookie("govgate_session"), None, "{replay:?}");
    assert_eq!(thief.cookie("govgate_session"), None);

    // Logging out on the app host removes its host-only cookie (a Domain would not match).
    let logout = format!("{OUTSIDE}/.govgate/logout");
    let csrf = browser
        .get(&logout)
        .form_field("csrf")
        .expect("logout form");
    let done = browser.post_form(&logout, &[("csrf", &csrf), ("lang", "vi")]);
    let cleared = done.set_cookie("govgate_session").expect("cookie cleared");
    assert!(
        !cookie_attributes(cleared)
            .iter()
            .any(|(n, _)| n == "domain"),
        "{cleared}"
    );
    assert!(
        browser
            .cookies()
            .iter()
            .all(|c| !(c.name == "govgate_session" && c.domain == OUTSIDE_HOST)),
        "{:?}",
        browser.cookies()
    );
    assert_eq!(browser.get(&target).status, 302);
}

#[test]
fn forward_auth_answers_with_identity_or_sends_to_the_portal() {
    let demo = DemoApps::start().unwrap();
    let gateway = sso_gateway(&demo);
    let verify = format!("{PORTAL}/.govgate/auth/verify");
    let original = "X-Original-URL: http://motcua.namdinh.gov.vn/ho-so?id=1";

    let anonymous = Browser::new(&gateway);
    let refused = anonymous.get_with(&verify, &[original]);
    assert_eq!(refused.status, 401, "{refused:?}");
    let redirected = anonymous.get_with(&format!("{verify}?mode=redirect"), &[original]);
    assert_eq!(redirected.status, 302, "{redirected:?}");
    let location = redirected.location().unwrap();
    let rd = location
        .strip_prefix(&format!("{PORTAL}/.govgate/login?rd="))
        .map(decode)
        .unwrap_or_else(|| panic!("forward-auth must send the browser to the portal: {location}"));
    assert_eq!(rd, "http://motcua.namdinh.gov.vn/ho-so?id=1");
    // For a host outside the cookie domain: the portal's hand-off, as the proxy does.
    let outside = anonymous.get_with(
        &format!("{verify}?mode=redirect"),
        &[&format!("X-Original-URL: {OUTSIDE}/x")],
    );
    assert_eq!(
        outside
            .location()
            .map(|l| l.starts_with(&format!("{PORTAL}/.govgate/sso/start?rd="))),
        Some(true),
        "{outside:?}"
    );

    let browser = Browser::new(&gateway);
    let answer = browser.login(PORTAL, "lvcuong", "VanThu@2024", "");
    assert_eq!(answer.status, 303, "{}", answer.body);
    let allowed = browser.get_with(&format!("{verify}?app=mot-cua"), &[original]);
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(allowed.header("x-remote-user"), Some("lvcuong"));
    assert!(allowed.header("x-govgate-assertion").is_some());
}
