//! Single sign-on for an app host outside the session cookie's reach: the portal is
//! `sso.test`, the app `app.other.test`, `session.cookie_domain` unset. The browser (curl with
//! a cookie jar, both names resolved to 127.0.0.1) goes app → portal → login → portal → app
//! with a single-use code → host-only cookie on the app host.

mod support;

use std::path::Path;

use govgate::demo::{DemoApps, RequestSeen};
use support::gateway::Gateway;
use support::web::{WebClient, WebResponse};

const PORTAL: &str = "sso.test";
const APP: &str = "app.other.test";

struct Setup {
    gateway: Gateway,
    _demo: DemoApps,
    port: u16,
}

impl Setup {
    fn start() -> Setup {
        govgate::install_crypto_provider();
        let demo = DemoApps::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let users = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.toml");
        std::fs::copy(users, dir.path().join("users.toml")).unwrap();
        let gateway = Gateway::start_in(
            dir,
            &format!(
                r#"
[server]
http_listen = "{{http_listen}}"

[portal]
public_url = "http://{PORTAL}:{{http_port}}"

[directory]
backend = "file"

[directory.file]
path = "{{dir}}/users.toml"

[[apps]]
id = "mot-cua"
name = "Một cửa điện tử"
hosts = ["{APP}"]
upstreams = ["http://{}"]
"#,
                demo.one_stop_shop
            ),
        );
        let port = gateway.http_addr().port();
        Setup {
            gateway,
            _demo: demo,
            port,
        }
    }

    fn client(&self) -> WebClient {
        WebClient::new(&[
            (PORTAL, self.port),
            (APP, self.port),
            ("evil.other.test", self.port),
        ])
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    /// Follows the whole chain from the app to the portal login and back; returns the
    /// hand-off URL (`app.other.test/.govgate/sso?code=...`) without visiting it.
    fn log_in_up_to_the_code(&self, client: &WebClient) -> String {
        let app_page = self.url(APP, "/api/request");
        let first = client.get(&app_page, &[]);
        assert_eq!(first.status, 302, "{first:#?}\n{}", self.gateway.logs());
        let start = first.location().to_string();
        assert_eq!(
            start,
            format!(
                "{}?rd={}",
                self.url(PORTAL, "/.govgate/sso/start"),
                encode(&app_page)
            )
        );
        let to_login = client.get(&start, &[]);
        assert_eq!(to_login.status, 302, "{to_login:#?}");
        let login_url = absolute(PORTAL, self.port, to_login.location());
        assert!(login_url.contains("/.govgate/login?rd="), "{login_url}");
        let login = client.log_in(&login_url, "nvan", "LanhDao@2024");
        assert_eq!(login.status, 303, "{login:#?}");
        // The portal's own session cookie is host-only for sso.test.
        assert!(login
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("govgate_session=") && !c.contains("Domain")));
        let back_to_start = absolute(PORTAL, self.port, login.location());
        assert!(
            back_to_start.starts_with(&self.url(PORTAL, "/.govgate/sso/start?rd=")),
            "{back_to_start}"
        );
        self.code_url(client, &back_to_start)
    }

    /// Visits an `sso/start` URL while logged in at the portal: the hand-off URL it sends to.
    fn code_url(&self, client: &WebClient, start: &str) -> String {
        let handoff = client.get(start, &[]);
        assert_eq!(handoff.status, 302, "{handoff:#?}");
        let code_url = handoff.location().to_string();
        assert!(
            code_url.starts_with(&self.url(APP, "/.govgate/sso?code=")),
            "{code_url}"
        );
        code_url
    }
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A Location made absolute against `host:port`.
fn absolute(host: &str, port: u16, location: &str) -> String {
    if location.starts_with('/') {
        format!("http://{host}:{port}{location}")
    } else {
        location.to_string()
    }
}

fn seen(response: &WebResponse) -> RequestSeen {
    serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("not the demo app's JSON ({e}):\n{response:#?}"))
}

#[test]
fn the_hand_off_gives_the_app_host_its_own_session() {
    let setup = Setup::start();
    let client = setup.client();
    let code_url = setup.log_in_up_to_the_code(&client);

    let redeemed = client.get(&code_url, &[]);
    assert_eq!(redeemed.status, 302, "{redeemed:#?}");
    assert_eq!(redeemed.location(), setup.url(APP, "/api/request"));
    let cookie = redeemed
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("govgate_session="))
        .expect("a session cookie for the app host")
        .to_string();
    assert!(!cookie.contains("Domain"), "host-only: {cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    // In the jar: one cookie for each host, neither shared with subdomains.
    let jar = client.jar_text();
    for host in [PORTAL, APP] {
        assert!(
            jar.lines().any(
                |l| l.starts_with(&format!("#HttpOnly_{host}\tFALSE\t/\tFALSE\t"))
                    && l.contains("govgate_session")
            ),
            "{host} in jar:\n{jar}"
        );
    }

    let app = client.get(&setup.url(APP, "/api/request"), &[]);
    assert_eq!(app.status, 200, "{app:#?}");
    assert_eq!(seen(&app).header("x-remote-user"), Some("nvan"));

    // Replaying the code: no second session.
    let stranger = setup.client();
    let replay = stranger.get(&code_url, &[]);
    assert_eq!(replay.status, 302);
    assert!(replay.location().contains("/.govgate/login"), "{replay:#?}");
    assert!(replay
        .set_cookies()
        .iter()
        .all(|c| !c.starts_with("govgate_session=")));
    assert_eq!(
        stranger.get(&setup.url(APP, "/api/request"), &[]).status,
        302,
        "the replayed code gave no session"
    );
}

#[test]
fn a_code_is_bound_to_its_host_and_an_app_host_session_stays_there() {
    let setup = Setup::start();
    let client = setup.client();
    let code_url = setup.log_in_up_to_the_code(&client);

    // The same code presented on another host (also served by govgate) is refused…
    let elsewhere = code_url.replace(APP, "evil.other.test");
    let thief = setup.client();
    let stolen = thief.get(&elsewhere, &[]);
    assert_eq!(stolen.status, 302, "{stolen:#?}");
    assert!(stolen
        .set_cookies()
        .iter()
        .all(|c| !c.starts_with("govgate_session=")));
    // …and on the portal host too.
    let on_portal = code_url.replace(APP, PORTAL);
    let stolen = thief.get(&on_portal, &[]);
    assert!(stolen
        .set_cookies()
        .iter()
        .all(|c| !c.starts_with("govgate_session=")));

    // A code shown on the wrong host is spent: not even the right host can use it now.
    let spent = client.get(&code_url, &[]);
    assert!(spent
        .set_cookies()
        .iter()
        .all(|c| !c.starts_with("govgate_session=")));
    assert_eq!(client.get(&setup.url(APP, "/api/request"), &[]).status, 302);

    // A session made for app.other.test is not a session anywhere else: the cookie value,
    // sent by hand to the portal host, does not log anyone in there.
    let start = setup.url(
        PORTAL,
        &format!(
            "/.govgate/sso/start?rd={}",
            encode(&setup.url(APP, "/api/request"))
        ),
    );
    let fresh_code = setup.code_url(&client, &start);
    let redeemed = client.get(&fresh_code, &[]);
    assert_eq!(redeemed.status, 302);
    let value = redeemed
        .set_cookies()
        .into_iter()
        .find_map(|c| c.strip_prefix("govgate_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    let fresh = setup.client();
    let home = fresh.get(
        &setup.url(PORTAL, "/.govgate/"),
        &[&format!("Cookie: govgate_session={value}")],
    );
    assert_eq!(
        home.status, 302,
        "portal home must ask for login: {home:#?}"
    );
    let verify = fresh.get(
        &setup.url(PORTAL, "/.govgate/auth/verify"),
        &[
            &format!("Cookie: govgate_session={value}"),
            "X-Original-URL: http://evil.other.test/",
        ],
    );
    assert_eq!(verify.status, 401, "{verify:#?}");
}

#[test]
fn a_return_url_on_an_unregistered_host_gets_no_code() {
    let setup = Setup::start();
    let client = setup.client();
    setup.log_in_up_to_the_code(&client);
    for rd in [
        "http://evil.test/steal",
        "http://app.other.test.evil.test/",
        "//evil.test/",
        "http://app.other.test@evil.test/",
    ] {
        let start = setup.url(PORTAL, &format!("/.govgate/sso/start?rd={}", encode(rd)));
        let response = client.get(&start, &[]);
        assert_eq!(response.status, 302, "{rd}: {response:#?}");
        let location = response.location();
        assert!(!location.contains("evil"), "{rd} → {location}");
        assert!(!location.contains("code="), "{rd} → {location}");
    }
    // The registered host still works for the same session.
    let good = setup.url(
        PORTAL,
        &format!(
            "/.govgate/sso/start?rd={}",
            encode(&setup.url(APP, "/ho-so"))
        ),
    );
    assert!(setup.code_url(&client, &good).contains("code="));
}
