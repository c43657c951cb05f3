//! Login and single sign-on end to end, with the file directory (examples/users.toml): a
//! real `govgate serve`, the demo apps as upstreams, curl with a cookie jar as the browser.
//! Cookie flags, identity headers and the signed assertion (checked with PyJWT against the
//! gateway's JWKS), generic failure messages, header spoofing, session fixation, open
//! redirects, CSRF on login and logout.

mod support;

use std::path::Path;

use govgate::demo::{DemoApps, RequestSeen};
use support::browser::{cookie_attributes, cookie_value, decode, Browser, Page};
use support::gateway::Gateway;
use support::pki::OpensslCa;
use support::python::pyjwt_verify;

const APP_HOST: &str = "motcua.namdinh.gov.vn";
const APP: &str = "http://motcua.namdinh.gov.vn";
const PUBLIC_APP: &str = "http://congkhai.namdinh.gov.vn";
const PORTAL: &str = "http://sso.namdinh.gov.vn";
const PORTAL_HOME: &str = "/.govgate/";

const BAD_CREDENTIALS: &str = "Tên đăng nhập hoặc mật khẩu không đúng.";
const ACCOUNT_DISABLED: &str = "Tài khoản đã bị khóa.";
const FORM_EXPIRED: &str = "Phiên của biểu mẫu đã hết hạn.";
const LOGOUT_QUESTION: &str = "Bạn có muốn đăng xuất khỏi mọi ứng dụng không?";

/// A temp dir holding the demo users file.
fn dir_with_users() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let users = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.toml");
    std::fs::copy(users, dir.path().join("users.toml")).unwrap();
    dir
}

/// A gateway with the file directory, an authenticated app on `motcua.` (one-stop-shop demo
/// app) and a public app on `congkhai.` (documents demo app). `server_extra` goes into
/// `[server]`, `tables` before the apps.
fn gateway_in(
    dir: tempfile::TempDir,
    demo: &DemoApps,
    server_extra: &str,
    tables: &str,
) -> Gateway {
    Gateway::start_in(
        dir,
        &format!(
            r#"
[server]
http_listen = "{{http_listen}}"
{server_extra}

[directory]
backend = "file"
[directory.file]
path = "users.toml"

{tables}

[[apps]]
id = "mot-cua"
name = "Một cửa điện tử"
hosts = ["{APP_HOST}"]
upstreams = ["http://{one_stop}"]

[[apps]]
id = "cong-khai"
name = "Cổng công khai"
access = "public"
hosts = ["congkhai.namdinh.gov.vn"]
upstreams = ["http://{documents}"]
"#,
            one_stop = demo.one_stop_shop,
            documents = demo.documents,
        ),
    )
}

fn file_gateway(demo: &DemoApps) -> Gateway {
    gateway_in(dir_with_users(), demo, "", "")
}

/// What the app received, from its `/api/request` (asserting the request got through).
fn app_saw(page: &Page) -> RequestSeen {
    assert_eq!(page.status, 200, "{page:?}");
    serde_json::from_str(&page.body).unwrap_or_else(|e| panic!("{e}: {}", page.body))
}

fn values<'a>(seen: &'a RequestSeen, name: &str) -> Vec<&'a str> {
    seen.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn logged_in(gateway: &Gateway, origin: &str, user: &str, password: &str) -> Browser {
    let browser = Browser::new(gateway);
    let answer = browser.login(origin, user, password, "");
    assert_eq!(answer.status, 303, "login of {user}: {}", answer.body);
    browser
}

/// Asserts the browser is sent to the login page for the app, i.e. has no valid session.
fn assert_sent_to_login(browser: &Browser) {
    let page = browser.get(&format!("{APP}/api/request"));
    assert_eq!(page.status, 302, "expected a login redirect: {page:?}");
    assert!(
        page.location()
            .is_some_and(|l| l.starts_with("/.govgate/login?rd=")),
        "{page:?}"
    );
}

#[test]
fn login_sets_a_host_only_cookie_and_the_app_gets_identity_and_a_verifiable_assertion() {
    let demo = DemoApps::start().unwrap();
    let gateway = file_gateway(&demo);
    let browser = Browser::new(&gateway);

    let first = browser.get(&format!("{APP}/api/request?ho-so=5"));
    assert_eq!(first.status, 302, "{first:?}");
    let rd = first
        .location()
        .and_then(|l| l.strip_prefix("/.govgate/login?rd="))
        .map(decode)
        .unwrap_or_else(|| panic!("{first:?}"));
    assert_eq!(rd, format!("{APP}/api/request?ho-so=5"));

    let form = browser.login_form(APP, &rd);
    assert_eq!(form.form_field("rd").as_deref(), Some(rd.as_str()));
    let binding = form.set_cookie("govgate_login").expect("binding cookie");
    assert!(binding.contains("SameSite=Strict"), "{binding}");
    let answer = browser.submit_login(
        APP,
        &form.form_field("csrf").unwrap(),
        "nvan",
        "LanhDao@2024",
        &rd,
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), Some(rd.as_str()));

    let set = answer
        .set_cookie("govgate_session")
        .expect("session cookie");
    let attributes = cookie_attributes(set);
    let has = |name: &str, value: &str| {
        attributes
            .iter()
            .any(|(n, v)| n == name && v.eq_ignore_ascii_case(value))
    };
    assert!(has("httponly", ""), "{set}");
    assert!(has("samesite", "lax"), "{set}");
    assert!(has("path", "/"), "{set}");
    assert!(!attributes.iter().any(|(n, _)| n == "secure"), "{set}");
    assert!(!attributes.iter().any(|(n, _)| n == "domain"), "{set}");
    assert_eq!(cookie_value(set).len(), 43, "{set}");
    assert_ne!(cookie_value(set), cookie_value(binding));
    let jar = browser.cookie("govgate_session").expect("cookie kept");
    assert_eq!(
        (jar.domain.as_str(), jar.include_subdomains, jar.http_only),
        (APP_HOST, false, true)
    );
    assert_eq!(
        browser.cookie("govgate_login"),
        None,
        "binding cookie cleared"
    );

    // The app: identity headers, the assertion, its own cookie but not the session's.
    browser.add_cookie(APP_HOST, "app_pref", "vi");
    let seen = app_saw(&browser.get(&format!("{APP}/api/request")));
    assert_eq!(seen.header("x-remote-user"), Some("nvan"));
    assert_eq!(
        seen.header("x-remote-name"),
        Some("Nguy%E1%BB%85n V%C4%83n An")
    );
    assert_eq!(seen.header("x-remote-email"), Some("an.nv@namdinh.gov.vn"));
    assert_eq!(
        seen.header("x-remote-department"),
        Some("V%C4%83n ph%C3%B2ng UBND t%E1%BB%89nh")
    );
    let mut groups: Vec<&str> = seen.header("x-remote-groups").unwrap().split(',').collect();
    groups.sort();
    assert_eq!(groups, ["chuyen-vien", "lanh-dao"]);
    let cookies = values(&seen, "cookie").join("; ");
    assert!(cookies.contains("app_pref=vi"), "{cookies}");
    assert!(!cookies.contains("govgate_session"), "{cookies}");

    let token = seen.header("x-govgate-assertion").expect("assertion");
    let jwks = browser.get(&format!("{APP}/.govgate/jwks.json"));
    assert_eq!(jwks.status, 200);
    let jwks_file = gateway.dir().join("fetched-jwks.json");
    std::fs::write(&jwks_file, &jwks.body).unwrap();
    let verified = pyjwt_verify(&jwks_file, token, "mot-cua", "govgate", "RS256")
        .unwrap_or_else(|e| panic!("PyJWT refused the assertion: {e}"));
    let claims = &verified["claims"];
    assert_eq!(claims["preferred_username"], "nvan");
    assert_eq!(claims["name"], "Nguyễn Văn An");
    assert_eq!(claims["sub"], "file:nvan");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!((1..=60).contains(&lifetime), "lifetime {lifetime}");
    assert!(
        pyjwt_verify(&jwks_file, token, "cong-khai", "govgate", "RS256").is_err(),
        "an assertion for mot-cua must not pass as one for another app"
    );

    // The launcher greets the user and lists the apps.
    let home = browser.get(&format!("{APP}/.govgate/"));
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Nguyễn Văn An"), "{}", home.body);
    assert!(home.body.contains("Một cửa điện tử"));
}

#[test]
fn over_https_the_cookie_is_secure_and_the_cookie_domain_shares_the_login() {
    let dir = dir_with_users();
    let ca = OpensslCa::new(dir.path());
    ca.issue(
        "gateway",
        "sso.namdinh.gov.vn",
        &["sso.namdinh.gov.vn", APP_HOST],
    );
    let ca_path = dir.path().join("ca.pem");
    let demo = DemoApps::start().unwrap();
    let gateway = gateway_in(
        dir,
        &demo,
        "https_listen = \"{https_listen}\"",
        r#"
[tls]
certificates = [{ cert = "{dir}/gateway.pem", key = "{dir}/gateway-key.pem" }]

[session]
cookie_domain = ".namdinh.gov.vn"
"#,
    );

    let browser = Browser::new(&gateway).with_ca(&ca_path);
    let rd = format!("https://{APP_HOST}/api/request");
    let form = browser.login_form("https://sso.namdinh.gov.vn", &rd);
    let binding = form.set_cookie("govgate_login").unwrap();
    assert!(binding.contains("; Secure"), "{binding}");
    let answer = browser.submit_login(
        "https://sso.namdinh.gov.vn",
        &form.form_field("csrf").unwrap(),
        "tthang",
        "ChuyenVien@2024",
        &rd,
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), Some(rd.as_str()));
    let set = answer.set_cookie("govgate_session").unwrap();
    let attributes = cookie_attributes(set);
    assert!(attributes.iter().any(|(n, _)| n == "secure"), "{set}");
    assert!(
        attributes
            .iter()
            .any(|(n, v)| n == "domain" && v.trim_start_matches('.') == "namdinh.gov.vn"),
        "{set}"
    );
    assert!(attributes.iter().any(|(n, _)| n == "httponly"), "{set}");

    // Logged in on sso., the browser is logged in on motcua. too.
    let seen = app_saw(&browser.get(&rd));
    assert_eq!(seen.header("x-remote-user"), Some("tthang"));

    // Over plain HTTP: the Domain stays, Secure does not.
    let plain = Browser::new(&gateway);
    let answer = plain.login(PORTAL, "tthang", "ChuyenVien@2024", "");
    assert_eq!(answer.status, 303, "{}", answer.body);
    let set = answer.set_cookie("govgate_session").unwrap();
    let attributes = cookie_attributes(set);
    assert!(!attributes.iter().any(|(n, _)| n == "secure"), "{set}");
    assert!(attributes.iter().any(|(n, _)| n == "domain"), "{set}");
    assert_eq!(
        seen_user(&plain, &format!("{APP}/api/request")).as_deref(),
        Some("tthang")
    );
}

fn seen_user(browser: &Browser, url: &str) -> Option<String> {
    app_saw(&browser.get(url))
        .header("x-remote-user")
        .map(str::to_string)
}

/// The page with the user-specific parts (echoed username, CSRF token) blanked out.
fn generic_part(page: &Page, username: &str) -> String {
    let csrf = page.form_field("csrf").unwrap_or_default();
    page.body.replace(&csrf, "CSRF").replace(username, "USER")
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_page_and_a_disabled_user_its_own() {
    let demo = DemoApps::start().unwrap();
    let gateway = file_gateway(&demo);

    let wrong = Browser::new(&gateway);
    let wrong_page = wrong.login(PORTAL, "nvan", "SaiMatKhau@2024", "");
    let unknown = Browser::new(&gateway);
    let unknown_page = unknown.login(PORTAL, "khongtontai", "LanhDao@2024", "");
    for (page, browser) in [(&wrong_page, &wrong), (&unknown_page, &unknown)] {
        assert_eq!(page.status, 401, "{}", page.body);
        assert!(page.body.contains(BAD_CREDENTIALS), "{}", page.body);
        assert!(!page.body.contains(ACCOUNT_DISABLED));
        assert_eq!(page.set_cookie("govgate_session"), None);
        assert_eq!(browser.cookie("govgate_session"), None);
    }
    assert_eq!(
        generic_part(&wrong_page, "nvan"),
        generic_part(&unknown_page, "khongtontai"),
        "a wrong password and an unknown user must be indistinguishable"
    );

    let disabled = Browser::new(&gateway);
    let page = disabled.login(PORTAL, "hvduc", "ChuyenVien@2024", "");
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains(ACCOUNT_DISABLED), "{}", page.body);
    assert!(!page.body.contains(BAD_CREDENTIALS));
    assert_eq!(disabled.cookie("govgate_session"), None);
}

#[test]
fn identity_headers_from_the_client_are_replaced_or_stripped() {
    let demo = DemoApps::start().unwrap();
    let gateway = file_gateway(&demo);
    let spoofed = [
        "X-Remote-User: dmquan",
        "X-Remote-Groups: quan-tri",
        "X-Remote-Name: Quan tri",
        "X-Govgate-Assertion: eyJhbGciOiJub25lIn0.eyJzdWIiOiJkbXF1YW4ifQ.",
    ];

    let browser = logged_in(&gateway, APP, "pthoa", "MotCua@2024");
    let seen = app_saw(&browser.get_with(&format!("{APP}/api/request"), &spoofed));
    assert_eq!(values(&seen, "x-remote-user"), ["pthoa"]);
    assert_eq!(values(&seen, "x-remote-groups"), ["mot-cua"]);
    assert_eq!(values(&seen, "x-remote-name").len(), 1);
    let assertions = values(&seen, "x-govgate-assertion");
    assert_eq!(assertions.len(), 1);
    assert!(!assertions[0].starts_with("eyJhbGciOiJub25lIn0"));

    let anonymous = Browser::new(&gateway);
    let seen = app_saw(&anonymous.get_with(&format!("{PUBLIC_APP}/api/request"), &spoofed));
    for name in [
        "x-remote-user",
        "x-remote-groups",
        "x-remote-name",
        "x-govgate-assertion",
    ] {
        assert_eq!(
            values(&seen, name),
            Vec::<&str>::new(),
            "{name} reached the app"
        );
    }
}

#[test]
fn without_a_session_api_clients_get_401_json_and_browsers_the_login_page() {
    let demo = DemoApps::start().unwrap();
    let gateway = file_gateway(&demo);
    let browser = Browser::new(&gateway);
    let url = format!("{APP}/api/request?a=1&b=2");
    for api in [
        "Accept: application/json",
        "X-Requested-With: XMLHttpRequest",
        "Authorization: Bearer abc",
    ] {
        let page = browser.get_with(&url, &[api]);
        assert_eq!(page.status, 401, "{api}: {page:?}");
        assert!(page
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")));
        let body: serde_json::Value = serde_json::from_str(&page.body).unwrap();
        assert_eq!(body["error"], "login_required");
        assert_eq!(page.location(), None);
    }

    let page = browser.get_with(&url, &["Accept: text/html,application/xhtml+xml"]);
    assert_eq!(page.status, 302, "{page:?}");
    let location = page.location().unwrap();
    let rd = decode(location.strip_prefix("/.govgate/login?rd=").unwrap());
    assert_eq!(rd, url);
    // The login page the redirect names carries the return URL into its form.
    let form = browser.get(&format!("{APP}{location}"));
    assert_eq!(form.status, 200);
    assert_eq!(form.form_field("rd"), Some(url));

    // Forward-auth says the same: no cookie, no identity.
    let verify = browser.get(&format!("{APP}/.govgate/auth/verify"));
    assert_eq!(verify.status, 401);
    assert_eq!(verify.header("x-remote-user"), None);
}

#[test]
fn a_session_cookie_planted_before_login_is_not_the_one_after_login() {
    let demo = DemoApps::start().unwrap();
    let gateway = file_gateway(&demo);

    // An attacker's own, real session id, planted in the victim's browser.
    let attacker = logged_in(&gateway, APP, "lvcuong", "VanThu@2024");
    let attacker_id = attacker.cookie("govgate_session").unwrap().value;
    let victim = Browser::new(&gateway);
    let form = victim.login_form(APP, "");
    victim.add_cookie(APP_HOST, "govgate_session", &attacker_id);
    let answer = victim.submit_login(
        APP,
        &form.form_field("csrf").unwrap(),
        "nvan",
        "LanhDao@2024",
        "",
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let new_id = cookie_value(answer.set_cookie("govgate_session").unwrap()).to_string();
    assert_ne!(new_id, attacker_id);
    assert_eq!(victim.cookie("govgate_session").unwrap().value, new_id);
    assert_eq!(
        seen_user(&victim, &format!("{APP}/api/request")).as_deref(),
        Some("nvan")
    );
    // The planted id does not carry the victim's login (it is gone altogether).
    assert_sent_to_login(&attacker);

    // A made-up id of the right shape fares no better.
    let planted = "A".repeat(43);
    let browser = Browser::new(&gateway);
    browser.add_cookie(APP_HOST, "govgate_session", &planted);
    assert_sent_to_login(&browser);
    let form = browser.login_form(APP, "");
    let binding = cookie_value(form.set_cookie("govgate_login").unwrap()).to_string();
    let answer = browser.submit_login(
        APP,
        &form.form_field("csrf").unwrap(),
        "nvan",
        "LanhDao@2024",
        "",
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let session = cookie_value(answer.set_cookie("govgate_session").unwrap()).to_string();
    assert_ne!(session, planted);
    assert_ne!(
        session, binding,
        "the pre-login cookie must not become the session"
    );
}

#[test]
fn return_urls_to_other_sites_end_at_the_portal_home() {
    let demo = DemoApps::start().unwrap();
    let gateway = file_gateway(&demo);
    let login_with_rd = |rd: &str| {
        let browser = Browser::new(&gateway);
        let form = browser.login_form(PORTAL, rd);
        let offered = form.form_field("rd").unwrap_or_default();
        let answer = browser.submit_login(
            PORTAL,
            &form.form_field("csrf").unwrap(),
            "dmquan",
            "QuanTri@2024",
            rd,
        );
        assert_eq!(answer.status, 303, "rd {rd:?}: {}", answer.body);
        (offered, answer.location().unwrap_or_default().to_string())
    };
    for evil in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "%2F%2Fevil.example",
        "https://app@evil.example/",
        "https://motcua.namdinh.gov.vn@evil.example/",
        "javascript:alert(1)",
    ] {
        let (offered, location) = login_with_rd(evil);
        assert_eq!(offered, "", "the form must not carry {evil:?}");
        assert_eq!(location, PORTAL_HOME, "rd {evil:?}");
    }
    for honoured in [
        "http://motcua.namdinh.gov.vn/ho-so?id=5",
        "/ho-so?id=5&trang=2",
    ] {
        let (offered, location) = login_with_rd(honoured);
        assert_eq!(offered, honoured);
        assert_eq!(location, honoured);
    }

    // Already logged in, the login page forwards at once: through the same check.
    let browser = Browser::new(&gateway);
    assert_eq!(
        browser.login(PORTAL, "dmquan", "QuanTri@2024", "").status,
        303
    );
    for (rd, expected) in [
        ("https://evil.example/", PORTAL_HOME),
        ("//evil.example", PORTAL_HOME),
        ("/ho-so", "/ho-so"),
    ] {
        let page = browser.get(&format!(
            "{PORTAL}/.govgate/login?rd={}",
            support::browser::encode(rd)
        ));
        assert_eq!(page.status, 303, "{page:?}");
        assert_eq!(page.location(), Some(expected), "rd {rd:?}");
    }
}

#[test]
fn login_without_a_valid_csrf_token_and_binding_cookie_makes_no_session() {
    let demo = DemoApps::start().unwrap();
    let gateway = file_gateway(&demo);
    let browser = Browser::new(&gateway);
    let refused = |page: Page, what: &str| {
        assert_eq!(page.set_cookie("govgate_session"), None, "{what}");
        assert!(page.body.contains(FORM_EXPIRED), "{what}: {}", page.body);
        assert_eq!(browser.cookie("govgate_session"), None, "{what}");
    };
    let (user, password) = ("nvan", "LanhDao@2024");

    let form = browser.login_form(PORTAL, "");
    let csrf = form.form_field("csrf").unwrap();
    let no_csrf = browser.post_form(
        &format!("{PORTAL}/.govgate/login"),
        &[("username", user), ("password", password)],
    );
    refused(no_csrf, "no csrf field");
    refused(
        browser.submit_login(PORTAL, &format!("{csrf}x"), user, password, ""),
        "altered csrf",
    );
    let other = Browser::new(&gateway);
    let foreign = other.login_form(PORTAL, "").form_field("csrf").unwrap();
    let form = browser.login_form(PORTAL, "");
    refused(
        browser.submit_login(PORTAL, &foreign, user, password, ""),
        "another browser's csrf",
    );
    let csrf = form.form_field("csrf").unwrap();
    browser.remove_cookie("govgate_login");
    refused(
        browser.submit_login(PORTAL, &csrf, user, password, ""),
        "no binding cookie",
    );

    // The same browser, playing by the rules, logs in: the refusals were about the form.
    let answer = browser.login(PORTAL, user, password, "");
    assert_eq!(answer.status, 303, "{}", answer.body);
}

#[test]
fn logout_needs_a_post_with_the_session_csrf_and_then_the_old_cookie_is_refused() {
    let demo = DemoApps::start().unwrap();
    let gateway = file_gateway(&demo);
    let browser = logged_in(&gateway, APP, "nvan", "LanhDao@2024");
    let old_id = browser.cookie("govgate_session").unwrap().value;
    let logout = format!("{APP}/.govgate/logout");

    let no_csrf = browser.post_form(&logout, &[("lang", "vi")]);
    assert_eq!(no_csrf.set_cookie("govgate_session"), None);
    let wrong = browser.post_form(&logout, &[("csrf", "gia-mao"), ("lang", "vi")]);
    assert_eq!(wrong.set_cookie("govgate_session"), None);
    let confirm = browser.get(&logout);
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains(LOGOUT_QUESTION), "{}", confirm.body);
    let csrf = confirm.form_field("csrf").expect("confirmation form");
    assert_eq!(
        seen_user(&browser, &format!("{APP}/api/request")).as_deref(),
        Some("nvan"),
        "neither a bare POST nor a GET may log out"
    );

    let done = browser.post_form(&logout, &[("csrf", &csrf), ("lang", "vi")]);
    assert_eq!(done.status, 200, "{}", done.body);
    let cleared = done.set_cookie("govgate_session").expect("cookie cleared");
    assert_eq!(cookie_value(cleared), "");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(browser.cookie("govgate_session"), None);
    assert_sent_to_login(&browser);

    // The old cookie, replayed, opens nothing.
    let replay = Browser::new(&gateway);
    replay.add_cookie(APP_HOST, "govgate_session", &old_id);
    assert_sent_to_login(&replay);
    let audit = std::fs::read_to_string(gateway.data_dir().join("audit.log")).unwrap();
    assert!(audit.contains("\"logged_out\""), "{audit}");
}
