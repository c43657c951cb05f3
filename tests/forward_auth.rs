//! nginx in front, govgate as its forward-auth service: the server block is
//! `deploy/nginx/forward-auth.conf` itself, placeholders filled in. Browser and gateway share
//! one host name (`motcua.test`, two ports), so the session cookie govgate sets at login is the
//! one the browser sends through nginx, as it would with a shared cookie domain.

mod support;

use std::path::Path;

use govgate::demo::{DemoApps, RequestSeen};
use support::free_port;
use support::gateway::Gateway;
use support::nginx::Nginx;
use support::web::{jwt_claims, percent_decode, WebClient, WebResponse};

const HOST: &str = "motcua.test";
const DEPLOY_CONF: &str = include_str!("../deploy/nginx/forward-auth.conf");

struct Setup {
    gateway: Gateway,
    nginx: Nginx,
    _demo: DemoApps,
    client: WebClient,
}

impl Setup {
    fn start() -> Setup {
        govgate::install_crypto_provider();
        let demo = DemoApps::start().unwrap();
        let gateway = gateway();
        let gateway_port = gateway.http_addr().port();
        let nginx_port = free_port();
        let nginx = Nginx::start(&server_block(
            nginx_port,
            gateway_port,
            &demo.one_stop_shop.to_string(),
        ));
        let client = WebClient::new(&[(HOST, gateway_port), (HOST, nginx_port)]);
        Setup {
            gateway,
            nginx,
            _demo: demo,
            client,
        }
    }

    fn app_url(&self, path: &str) -> String {
        format!("http://{HOST}:{}{path}", self.nginx.port())
    }

    fn gateway_url(&self, path: &str) -> String {
        format!("http://{HOST}:{}{path}", self.gateway.http_addr().port())
    }

    /// Logs in as nvan through the redirect nginx gives, as a browser would.
    fn log_in(&self) -> WebResponse {
        let refused = self.client.get(&self.app_url("/api/request"), &[]);
        assert_eq!(refused.status, 302, "{refused:#?}");
        self.client
            .log_in(refused.location(), "nvan", "LanhDao@2024")
    }

    /// The session cookie's value from the jar.
    fn session_cookie(&self) -> String {
        self.client
            .jar_text()
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                (fields.len() == 7 && fields[5] == "govgate_session").then(|| fields[6].to_string())
            })
            .expect("govgate_session in the cookie jar")
    }

    fn context(&self) -> String {
        format!(
            "gateway log:\n{}\nnginx log:\n{}",
            self.gateway.logs(),
            self.nginx.error_log()
        )
    }
}

/// govgate with the demo users and no apps of its own: nginx fronts the app.
fn gateway() -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let users = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.toml");
    std::fs::copy(users, dir.path().join("users.toml")).unwrap();
    Gateway::start_in(
        dir,
        r#"
[server]
http_listen = "{http_listen}"

[portal]
public_url = "http://motcua.test:{http_port}"

[directory]
backend = "file"

[directory.file]
path = "{dir}/users.toml"
"#,
    )
}

/// The deploy file with its placeholders filled in for this test.
fn server_block(nginx_port: u16, gateway_port: u16, app: &str) -> String {
    assert!(DEPLOY_CONF.contains("    listen 80;"));
    DEPLOY_CONF
        .replace(
            "    listen 80;",
            &format!("    listen 127.0.0.1:{nginx_port};"),
        )
        .replace("motcua.namdinh.gov.vn", HOST)
        .replace("GOVGATE_PUBLIC", &format!("{HOST}:{gateway_port}"))
        .replace("GOVGATE", &format!("127.0.0.1:{gateway_port}"))
        .replace("APP_UPSTREAM", app)
}

fn seen(response: &WebResponse) -> RequestSeen {
    serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("not the demo app's JSON ({e}):\n{response:#?}"))
}

fn header<'a>(seen: &'a RequestSeen, name: &str) -> Vec<&'a str> {
    seen.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn without_a_session_nginx_sends_the_browser_to_govgate_login() {
    let setup = Setup::start();
    let response = setup.client.get(&setup.app_url("/api/request?id=5"), &[]);
    assert_eq!(response.status, 302, "{response:#?}\n{}", setup.context());
    assert_eq!(
        response.location(),
        format!(
            "{}?rd=http://{HOST}:{}/api/request?id=5",
            setup.gateway_url("/.govgate/login"),
            setup.nginx.port()
        )
    );
    // The app never answered: nginx refused the request before proxying it.
    assert!(
        serde_json::from_str::<RequestSeen>(&response.body).is_err(),
        "{}",
        response.body
    );
    assert!(
        setup.nginx.access_log().contains("GET /api/request?id=5"),
        "{}",
        setup.nginx.access_log()
    );

    // An API client calling govgate's verify directly gets 401 JSON, never identity headers.
    let verify = setup.client.get(
        &setup.gateway_url("/.govgate/auth/verify"),
        &[&format!("X-Original-URL: http://{HOST}/api/request")],
    );
    assert_eq!(verify.status, 401);
    assert!(verify.body.contains("login_required"), "{}", verify.body);
    assert_eq!(verify.header("x-remote-user"), None);
}

#[test]
fn after_login_the_app_sees_the_identity_govgate_vouches_for_and_not_the_clients() {
    let setup = Setup::start();
    let login = setup.log_in();
    assert_eq!(login.status, 303, "{login:#?}\n{}", setup.context());
    assert_eq!(
        login.location(),
        setup.app_url("/api/request"),
        "login returns to the page nginx refused"
    );
    let response = setup.client.get(
        &setup.app_url("/api/request"),
        &[
            "X-Remote-User: dmquan",
            "X-Remote-Groups: quan-tri",
            "X-Govgate-Assertion: forged",
        ],
    );
    assert_eq!(response.status, 200, "{response:#?}\n{}", setup.context());
    let seen = seen(&response);
    assert_eq!(header(&seen, "x-remote-user"), ["nvan"]);
    assert_eq!(header(&seen, "x-remote-groups"), ["lanh-dao,chuyen-vien"]);
    let name = header(&seen, "x-remote-name");
    assert_eq!(name.len(), 1);
    assert_eq!(percent_decode(name[0]), "Nguyễn Văn An");
    assert_eq!(header(&seen, "x-remote-email"), ["an.nv@namdinh.gov.vn"]);
    let department = header(&seen, "x-remote-department");
    assert_eq!(department.len(), 1);
    assert_eq!(percent_decode(department[0]), "Văn phòng UBND tỉnh");
    let assertion = header(&seen, "x-govgate-assertion");
    assert_eq!(assertion.len(), 1, "one assertion, govgate's");
    let claims = jwt_claims(assertion[0]);
    assert_eq!(claims["preferred_username"], "nvan");
    assert_eq!(claims["sub"], "file:nvan");
    assert_eq!(
        claims["aud"], HOST,
        "audience defaults to the app's host name"
    );
}

#[test]
fn mode_redirect_and_forwarded_headers_for_traefik_and_caddy() {
    let setup = Setup::start();
    let verify = setup.gateway_url("/.govgate/auth/verify");
    let forwarded = [
        "X-Forwarded-Proto: https",
        "X-Forwarded-Host: motcua.test",
        "X-Forwarded-Uri: /ho-so?id=7",
    ];

    // Traefik: not logged in → 302 to the login page with the original URL to come back to.
    let redirected = setup
        .client
        .get(&format!("{verify}?mode=redirect"), &forwarded);
    assert_eq!(redirected.status, 302, "{redirected:#?}");
    let location = redirected.location();
    // Absolute, on the portal: Traefik hands this Location to a browser on the app's host.
    assert!(
        location.starts_with(&setup.gateway_url("/.govgate/login?rd=")),
        "{location}"
    );
    assert!(
        location.ends_with("rd=https%3A%2F%2Fmotcua.test%2Fho-so%3Fid%3D7"),
        "{location}"
    );
    // Caddy/plain: 401 whose body names the same login URL.
    let refused = setup.client.get(&verify, &forwarded);
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("ho-so"), "{}", refused.body);

    assert_eq!(setup.log_in().status, 303);
    for url in [verify.clone(), format!("{verify}?mode=redirect")] {
        let allowed = setup.client.get(&url, &forwarded);
        assert_eq!(allowed.status, 200, "{url}: {allowed:#?}");
        assert_eq!(allowed.header("x-remote-user"), Some("nvan"));
        assert_eq!(allowed.header("cache-control"), Some("no-store"));
    }
    // `?app=` names the assertion's audience.
    let allowed = setup
        .client
        .get(&format!("{verify}?app=mot-cua"), &forwarded);
    let claims = jwt_claims(allowed.header("x-govgate-assertion").expect("assertion"));
    assert_eq!(claims["aud"], "mot-cua");
}

#[test]
fn a_logged_out_session_is_refused_through_nginx() {
    let setup = Setup::start();
    assert_eq!(setup.log_in().status, 303);
    let cookie = setup.session_cookie();
    assert_eq!(
        setup.client.get(&setup.app_url("/api/request"), &[]).status,
        200
    );

    let confirm = setup
        .client
        .get(&setup.gateway_url("/.govgate/logout"), &[]);
    assert_eq!(confirm.status, 200);
    let fields = support::web::hidden_fields(&confirm.body);
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(pairs.iter().any(|(k, _)| *k == "csrf"), "{}", confirm.body);
    let logout = setup
        .client
        .post_form(&setup.gateway_url("/.govgate/logout"), &pairs);
    assert_eq!(logout.status, 200);

    // The browser lost its cookie; the old cookie value, replayed, is refused too.
    let response = setup.client.get(&setup.app_url("/api/request"), &[]);
    assert_eq!(response.status, 302, "{response:#?}");
    let stranger = WebClient::new(&[(HOST, setup.nginx.port())]);
    let replayed = stranger.get(
        &setup.app_url("/api/request"),
        &[&format!("Cookie: govgate_session={cookie}")],
    );
    assert_eq!(replayed.status, 302, "{replayed:#?}");
    assert!(replayed.location().contains("/.govgate/login?rd="));
}
