//! The demo's OpenID Connect app ("Cổng dịch vụ công (mẫu)") against `govgate demo`: the
//! full redirect login a newcomer sees — the app sends the browser to the gateway, the
//! user logs in and consents, the app redeems the code, checks the ID token and greets the
//! user by name — then logout at the portal reaches the app by back-channel, and the app's
//! own logout ends single sign-on. Negative: a replayed or forged callback, a denied
//! consent, a forged logout token.

mod support;

use std::time::Duration;

use support::browser::{Browser, Page};
use support::demo::DemoProcess;
use support::eventually;

const PATIENCE: Duration = Duration::from_secs(15);

struct Demo {
    _root: tempfile::TempDir,
    process: DemoProcess,
    /// `http://127.0.0.1:port` of the app, no trailing slash.
    app: String,
    /// The gateway's origin, which is also the issuer.
    issuer: String,
}

impl Demo {
    fn start() -> Demo {
        let root = tempfile::tempdir().unwrap();
        let process = DemoProcess::start(&root.path().join("du-lieu"), root.path());
        let app = process.rp_url().trim_end_matches('/').to_string();
        let issuer = format!("http://{}", process.http);
        Demo {
            _root: root,
            process,
            app,
            issuer,
        }
    }

    fn absolute(&self, base: &str, location: &str) -> String {
        if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location.to_string()
        }
    }

    /// From the app's "sign in" link to the gateway's consent page, logging in as `user`.
    fn to_consent(&self, browser: &Browser, user: &str, password: &str) -> Page {
        let to_provider = browser.get(&format!("{}/login", self.app));
        assert_eq!(to_provider.status, 303, "{to_provider:?}");
        let authorize = to_provider.location().unwrap().to_string();
        assert!(
            authorize.starts_with(&format!("{}/oidc/authorize?", self.issuer)),
            "{authorize}"
        );
        assert!(
            authorize.contains("code_challenge_method=S256"),
            "{authorize}"
        );
        let to_login = browser.get(&authorize);
        assert!(matches!(to_login.status, 302 | 303), "{to_login:?}");
        let form = browser.get(&self.absolute(&self.issuer, to_login.location().unwrap()));
        assert_eq!(form.status, 200, "{form:?}");
        let csrf = form.form_field("csrf").expect("login csrf");
        let rd = form.form_field("rd").unwrap_or_default();
        let logged_in = browser.submit_login(&self.issuer, &csrf, user, password, &rd);
        assert!(matches!(logged_in.status, 302 | 303), "{logged_in:?}");
        let consent = browser.get(&self.absolute(&self.issuer, logged_in.location().unwrap()));
        assert_eq!(consent.status, 200, "{consent:?}");
        consent
    }

    /// Answers the consent page; returns the gateway's redirect back to the app.
    fn decide(&self, browser: &Browser, consent: &Page, decision: &str) -> String {
        let action = form_action(consent);
        let answer = browser.post_form(
            &self.absolute(&self.issuer, &action),
            &[
                ("request", &consent.form_field("request").unwrap()),
                ("csrf", &consent.form_field("csrf").unwrap()),
                ("decision", decision),
            ],
        );
        assert!(matches!(answer.status, 302 | 303), "{answer:?}");
        answer.location().unwrap().to_string()
    }

    /// A whole login of nvan, consent given; returns the callback URL the app was sent.
    fn sign_in(&self, browser: &Browser) -> String {
        let consent = self.to_consent(browser, "nvan", "LanhDao@2024");
        let callback = self.decide(browser, &consent, "allow");
        assert!(
            callback.starts_with(&format!("{}/callback?", self.app)),
            "{callback}"
        );
        let home = browser.get(&callback);
        assert_eq!(
            home.status,
            303,
            "callback: {home:?}\n{}",
            self.process.output()
        );
        assert_eq!(home.location(), Some("/"));
        callback
    }

    fn session(&self, browser: &Browser) -> serde_json::Value {
        let page = browser.get(&format!("{}/api/session", self.app));
        assert_eq!(page.status, 200, "{page:?}");
        serde_json::from_str(&page.body).unwrap()
    }
}

fn form_action(page: &Page) -> String {
    page.body
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no form action: {}", page.body))
        .replace("&amp;", "&")
}

#[test]
fn a_newcomer_signs_in_to_the_demo_app_by_redirect_and_consents() {
    let demo = Demo::start();
    let browser = Browser::direct();
    let welcome = browser.get(&format!("{}/", demo.app));
    assert_eq!(welcome.status, 200);
    assert!(
        welcome.body.contains("Bạn chưa đăng nhập"),
        "{}",
        welcome.body
    );

    let consent = demo.to_consent(&browser, "nvan", "LanhDao@2024");
    assert!(
        consent.body.contains("Cổng dịch vụ công (ứng dụng mẫu)"),
        "the consent page names the app: {}",
        consent.body
    );
    let callback = demo.decide(&browser, &consent, "allow");
    let parameters: Vec<(String, String)> =
        form_urlencoded::parse(callback.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let names: Vec<&str> = parameters.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        names.contains(&"code") && names.contains(&"state"),
        "{callback}"
    );
    assert!(
        parameters.contains(&("iss".to_string(), demo.issuer.clone())),
        "RFC 9207 iss: {callback}"
    );
    let back = browser.get(&callback);
    assert_eq!(back.status, 303, "{back:?}\n{}", demo.process.output());
    let cookie = back.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.starts_with("govgate_demo_rp=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    let home = browser.get(&format!("{}/", demo.app));
    assert!(
        home.body.contains("Xin chào, Nguyễn Văn An"),
        "{}",
        home.body
    );
    assert!(
        home.body.contains("Văn phòng UBND tỉnh"),
        "department from userinfo"
    );
    let session = demo.session(&browser);
    assert_eq!(session["signed_in"], true, "{session}");
    assert_eq!(session["claims"]["iss"], demo.issuer.as_str());
    assert_eq!(session["claims"]["aud"], "dich-vu-cong-mau");
    assert!(session["sid"].is_string(), "{session}");
    let roles = session["roles"].as_array().expect("roles claim");
    assert!(roles.iter().any(|r| r == "lanh-dao"), "{session}");

    // The callback is single use: the state was spent, the code too.
    let replayed = browser.get(&callback);
    assert_eq!(replayed.status, 400, "{replayed:?}");
    assert!(
        replayed.body.contains("không hợp lệ hoặc đã hết hạn"),
        "{}",
        replayed.body
    );
    let forged = browser.get(&format!("{}/callback?code=abc&state=gia-mao", demo.app));
    assert_eq!(forged.status, 400);
}

#[test]
fn a_denied_consent_signs_nobody_in() {
    let demo = Demo::start();
    let browser = Browser::direct();
    let consent = demo.to_consent(&browser, "tthang", "ChuyenVien@2024");
    let callback = demo.decide(&browser, &consent, "deny");
    assert!(callback.contains("error=access_denied"), "{callback}");
    let page = browser.get(&callback);
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("không cấp quyền đăng nhập"),
        "{}",
        page.body
    );
    assert_eq!(demo.session(&browser)["signed_in"], false);
}

#[test]
fn logout_at_the_portal_reaches_the_demo_app_by_back_channel() {
    let demo = Demo::start();
    let browser = Browser::direct();
    demo.sign_in(&browser);
    assert_eq!(demo.session(&browser)["signed_in"], true);

    let logout = format!("{}/.govgate/logout", demo.issuer);
    let confirm = browser.get(&logout);
    let csrf = confirm.form_field("csrf").expect("logout form csrf");
    let done = browser.post_form(&logout, &[("csrf", &csrf), ("lang", "vi")]);
    assert!(done.status < 400, "{done:?}");
    eventually(
        "the back-channel logout to end the app's session",
        PATIENCE,
        || demo.session(&browser)["signed_in"] == false,
    );
    let output = demo.process.output();
    assert!(output.contains("back-channel logout delivered"), "{output}");
}

#[test]
fn logging_out_of_the_demo_app_ends_single_sign_on() {
    let demo = Demo::start();
    let browser = Browser::direct();
    demo.sign_in(&browser);

    let to_provider = browser.get(&format!("{}/logout", demo.app));
    assert_eq!(to_provider.status, 303);
    let end_session = to_provider.location().unwrap().to_string();
    assert!(
        end_session.starts_with(&format!("{}/oidc/logout?", demo.issuer))
            && end_session.contains("id_token_hint="),
        "{end_session}"
    );
    let back = browser.get(&end_session);
    assert!(matches!(back.status, 302 | 303), "{back:?}");
    let home = back.location().unwrap().to_string();
    assert!(home.starts_with(&format!("{}/?", demo.app)), "{home}");
    let page = browser.get(&home);
    assert!(page.body.contains("Đã đăng xuất"), "{}", page.body);
    assert_eq!(demo.session(&browser)["signed_in"], false);

    // Single sign-on ended too: a new login at the app meets the login form again.
    let again = browser.get(&format!("{}/login", demo.app));
    let to_login = browser.get(again.location().unwrap());
    assert!(
        to_login
            .location()
            .is_some_and(|l| l.contains("/.govgate/login?rd=")),
        "{to_login:?}"
    );
}

#[test]
fn the_demo_app_refuses_a_forged_logout_token() {
    let demo = Demo::start();
    let browser = Browser::direct();
    demo.sign_in(&browser);
    let url = format!("{}/backchannel-logout", demo.app);
    // Unsigned (alg none) with the right shape, then garbage, then nothing.
    let header = base64url(br#"{"alg":"none","typ":"logout+jwt"}"#);
    let claims = base64url(
        format!(
            r#"{{"iss":"{}","aud":"dich-vu-cong-mau","iat":1,"exp":9999999999,"jti":"x","events":{{"http://schemas.openid.net/event/backchannel-logout":{{}}}},"sid":"{}"}}"#,
            demo.issuer,
            demo.session(&browser)["sid"].as_str().unwrap()
        )
        .as_bytes(),
    );
    for token in [format!("{header}.{claims}."), "not-a-jwt".to_string()] {
        let answer = Browser::direct().post_form(&url, &[("logout_token", &token)]);
        assert_eq!(answer.status, 400, "{token}: {answer:?}");
        assert!(answer.body.contains("invalid_request"), "{answer:?}");
    }
    let empty = Browser::direct().post_form(&url, &[]);
    assert_eq!(empty.status, 400);
    assert_eq!(demo.session(&browser)["signed_in"], true, "still signed in");
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
