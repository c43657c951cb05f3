//! A whole OpenID Connect world for the relying-party tests: slapd with the province seed,
//! an nginx origin behind an `accept_bearer` app, a back-channel logout receiver, and
//! `govgate serve` with `[directory]` (ldap), `[policy]` (a small policy dir written here)
//! and `[oidc]` clients:
//!
//! | client | auth | grants | notes |
//! |---|---|---|---|
//! | `qlvb` | client_secret_basic | code, refresh | back-channel logout; app `qlvb` |
//! | `cong-dvc` | client_secret_post | code, refresh | back-channel logout; app `qlvb` |
//! | `dong-bo` | client_secret_basic | client_credentials | role `dong-bo` (permitted) |
//! | `dong-bo-ngan` | client_secret_basic | client_credentials | role `dong-bo`, tokens live 1 s |
//! | `dong-bo-mail` | client_secret_basic | client_credentials | role `dong-bo`, aud `thu-dien-tu` |
//! | `khach` | client_secret_basic | client_credentials | role `khach` (no permit) |
//! | `ky-so` | private_key_jwt | client_credentials | role `dong-bo`, key made per world |
//!
//! The policies let `chuyen-vien` (nvan, ttbinh, dtha) sign in to `qlvb`, not `van-thu`
//! alone (lvcuong).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::jose::RsaKey;
use crate::relying_party::Rp;
use crate::support::browser::{Browser, Page};
use crate::support::gateway::Gateway;
use crate::support::nginx::Nginx;
use crate::support::slapd::{Slapd, ADMIN_DN, ADMIN_PASSWORD, PEOPLE_DN, USER_PASSWORD};

pub const QLVB: &str = "qlvb";
pub const QLVB_SECRET: &str = "qlvb-bi-mat-khong-duoc-lo-0123456789abcdef";
pub const CONG_DVC: &str = "cong-dvc";
pub const CONG_DVC_SECRET: &str = "cong-dvc-bi-mat-khong-duoc-lo-0123456789ab";
pub const DONG_BO: &str = "dong-bo";
pub const DONG_BO_SECRET: &str = "dong-bo-bi-mat-khong-duoc-lo-0123456789abc";
pub const DONG_BO_NGAN: &str = "dong-bo-ngan";
/// A system client whose tokens are for another app (`aud` = `thu-dien-tu`).
pub const DONG_BO_MAIL: &str = "dong-bo-mail";
/// Webmail: front-channel logout only (OIDC Front-Channel Logout 1.0).
pub const THU: &str = "thu-dien-tu";
pub const THU_CALLBACK: &str = "http://127.0.0.1:9997/cb";
pub const THU_FRONTCHANNEL: &str = "http://127.0.0.1:9997/fc-logout";
pub const KHACH: &str = "khach";
pub const KHACH_SECRET: &str = "khach-bi-mat-khong-duoc-lo-0123456789abcdef";
pub const KY_SO: &str = "ky-so";
/// The API scope of the system clients.
pub const API_SCOPE: &str = "van-ban.doc";

/// Nothing listens here: the browser stops at the redirect and the test reads the code.
pub const CALLBACK: &str = "http://127.0.0.1:9999/callback";
pub const CONG_CALLBACK: &str = "http://127.0.0.1:9998/cb";
pub const BYE: &str = "http://127.0.0.1:9999/bye";
/// The accept_bearer app `qlvb` (nginx origin) behind the gateway.
pub const APP: &str = "http://qlvb.namdinh.gov.vn";

const ROLES: &str = r#"
[roles.chuyen-vien]
groups = ["chuyen-vien"]
[roles.lanh-dao]
groups = ["lanh-dao"]
includes = ["chuyen-vien"]
[roles.van-thu]
groups = ["van-thu"]
[roles.dong-bo]
description = "Hệ thống đồng bộ văn bản"
groups = []
[roles.khach]
description = "Hệ thống chưa được cấp quyền"
groups = []
"#;

const ROUTES: &str = r#"
[apps.qlvb]
name = "Quản lý văn bản"
[[apps.qlvb.routes]]
class = "van-ban-den"
path_prefix = "/van-ban-den"
"#;

const POLICIES: &str = r#"
@id("chuyen-vien-dang-nhap-qlvb")
permit(principal in Role::"chuyen-vien", action == Action::"signin", resource == App::"qlvb");

@id("chuyen-vien-dung-qlvb")
permit(principal in Role::"chuyen-vien", action in [Action::"read", Action::"write"], resource in App::"qlvb");

@id("dong-bo-lay-token")
permit(principal in Role::"dong-bo", action == Action::"signin", resource == App::"qlvb");

@id("dong-bo-doc-qlvb")
permit(principal in Role::"dong-bo", action == Action::"read", resource in App::"qlvb");
"#;

/// What may differ between worlds.
#[derive(Debug, Clone)]
pub struct Options {
    pub code_lifetime: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            code_lifetime: "60s",
        }
    }
}

pub struct World {
    pub slapd: Slapd,
    pub nginx: Nginx,
    pub logouts: LogoutReceiver,
    pub gateway: Gateway,
    /// The private key of client `ky-so` (its public JWK is registered).
    pub ky_so_key: RsaKey,
    pub issuer: String,
}

impl World {
    pub fn start() -> World {
        Self::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> World {
        govgate::install_crypto_provider();
        let slapd = Slapd::start_province();
        let nginx = Nginx::origin();
        let logouts = LogoutReceiver::start();
        let ky_so_key = RsaKey::generate("ky-so-2026");
        let dir = tempfile::tempdir().expect("gateway dir");
        std::fs::write(dir.path().join("bind-password"), ADMIN_PASSWORD).expect("password");
        write_policies(&dir.path().join("policies"));
        let config = config(&slapd, &nginx, &logouts, &ky_so_key, &options);
        let gateway = Gateway::start_in(dir, &config);
        let issuer = gateway.http_url();
        World {
            slapd,
            nginx,
            logouts,
            gateway,
            ky_so_key,
            issuer,
        }
    }

    /// A relying party for `client` (discovery runs now).
    pub fn rp(&self, client: &str) -> Rp {
        let (secret, redirect) = match client {
            QLVB => (Some(QLVB_SECRET), CALLBACK),
            CONG_DVC => (Some(CONG_DVC_SECRET), CONG_CALLBACK),
            THU => (Some(CONG_DVC_SECRET), THU_CALLBACK),
            DONG_BO | DONG_BO_NGAN | DONG_BO_MAIL => (Some(DONG_BO_SECRET), CALLBACK),
            KHACH => (Some(KHACH_SECRET), CALLBACK),
            _ => (None, CALLBACK),
        };
        let rp = Rp::discover(&self.issuer, client, secret, redirect);
        if client == CONG_DVC {
            rp.with_secret_in_body()
        } else {
            rp
        }
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.gateway)
    }

    /// `{issuer}{path}`, or `path` when it is absolute already.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with('/') {
            format!("{}{location}", self.issuer)
        } else {
            location.to_string()
        }
    }

    /// The whole browser dance from an authorization URL to the redirect URI: the provider
    /// sends the browser to its login form, `user` logs in, the browser comes back to the
    /// authorization URL and is redirected to the client. Returns that last redirect.
    pub fn sign_in(&self, browser: &Browser, authorize_url: &str, user: &str) -> Redirect {
        let login_page = self.expect_login_form(browser, authorize_url);
        let back = self.submit_login(browser, &login_page, user);
        let to_authorize = back
            .location()
            .unwrap_or_else(|| panic!("login did not redirect: {back:?}"));
        let answer = browser.get(&self.absolute(to_authorize));
        Redirect::of(&answer)
    }

    /// Opens `authorize_url` without a session and follows the redirect to the login form;
    /// asserts it is the form and returns it.
    pub fn expect_login_form(&self, browser: &Browser, authorize_url: &str) -> Page {
        let first = browser.get(authorize_url);
        assert!(
            matches!(first.status, 302 | 303),
            "authorize without a session must redirect to the login page: {first:?}"
        );
        let login = first.location().unwrap_or_default();
        assert!(
            login.contains("/.govgate/login?rd="),
            "not sent to the login page: {login}"
        );
        let form = browser.get(&self.absolute(login));
        assert_eq!(form.status, 200, "login form: {form:?}");
        assert!(
            form.form_field("csrf").is_some(),
            "no csrf field: {}",
            form.body
        );
        form
    }

    /// Submits the login form as `user` (seed password); asserts the redirect back.
    pub fn submit_login(&self, browser: &Browser, form: &Page, user: &str) -> Page {
        let csrf = form.form_field("csrf").unwrap_or_default();
        let rd = form.form_field("rd").unwrap_or_default();
        let answer = browser.submit_login(&self.issuer, &csrf, user, USER_PASSWORD, &rd);
        assert!(
            matches!(answer.status, 302 | 303),
            "login of {user} failed: {answer:?}"
        );
        answer
    }

    /// The provider's JWKS document as JSON.
    pub fn jwks_json(&self) -> serde_json::Value {
        let page = self.browser().get(&format!("{}/oidc/jwks", self.issuer));
        assert_eq!(page.status, 200, "{page:?}");
        serde_json::from_str(&page.body).expect("JWKS is JSON")
    }

    /// A GET of the accept_bearer app's `/echo` with `Authorization: Bearer token` and no
    /// cookie.
    pub fn bearer_get(&self, token: &str) -> Page {
        self.browser().get_with(
            &format!("{APP}/echo"),
            &[&format!("Authorization: Bearer {token}")],
        )
    }
}

/// A redirect from the provider to a client: where to, and the query parameters.
#[derive(Debug, Clone)]
pub struct Redirect {
    pub status: u16,
    pub location: String,
    pub params: HashMap<String, String>,
}

impl Redirect {
    /// Reads a 302/303 answer (panics otherwise).
    pub fn of(page: &Page) -> Redirect {
        assert!(
            matches!(page.status, 302 | 303),
            "expected a redirect to the client: {page:?}"
        );
        let location = page.location().unwrap_or_default().to_string();
        let query = location.split_once('?').map_or("", |(_, q)| q);
        let params = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        Redirect {
            status: page.status,
            location,
            params,
        }
    }

    /// The location without its query.
    pub fn target(&self) -> &str {
        self.location.split('?').next().unwrap_or_default()
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The `code`, asserting the redirect goes to `redirect_uri` with `state`.
    pub fn code_for(&self, redirect_uri: &str, state: &str) -> String {
        assert_eq!(self.target(), redirect_uri, "{self:?}");
        assert_eq!(
            self.param("state"),
            Some(state),
            "state not echoed: {self:?}"
        );
        assert_eq!(self.param("error"), None, "{self:?}");
        self.param("code")
            .unwrap_or_else(|| panic!("no code: {self:?}"))
            .to_string()
    }
}

/// One request the back-channel logout receiver got.
#[derive(Debug, Clone)]
pub struct LogoutDelivery {
    pub path: String,
    pub content_type: String,
    pub logout_token: Option<String>,
}

/// A client's back-channel logout endpoint: a loopback listener that records every POST
/// and answers 200.
pub struct LogoutReceiver {
    port: u16,
    received: Arc<Mutex<Vec<LogoutDelivery>>>,
    stop: Arc<AtomicBool>,
}

impl LogoutReceiver {
    pub fn start() -> LogoutReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the logout receiver");
        let port = listener.local_addr().expect("receiver addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, flag) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                if let Some(delivery) = read_delivery(&mut stream) {
                    sink.lock().expect("receiver lock").push(delivery);
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        LogoutReceiver {
            port,
            received,
            stop,
        }
    }

    /// The URL for client `client`'s `backchannel_logout_uri`.
    pub fn url(&self, client: &str) -> String {
        format!("http://127.0.0.1:{}/backchannel/{client}", self.port)
    }

    pub fn received(&self) -> Vec<LogoutDelivery> {
        self.received.lock().expect("receiver lock").clone()
    }

    /// Waits until at least `count` deliveries arrived (panics after `patience`).
    pub fn wait_for(&self, count: usize, patience: Duration) -> Vec<LogoutDelivery> {
        let deadline = Instant::now() + patience;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{} back-channel logout deliveries after {patience:?}, expected {count}: {received:?}",
                received.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LogoutReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_delivery(stream: &mut std::net::TcpStream) -> Option<LogoutDelivery> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buffer[..n]);
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let length: usize = header("content-length")?.parse().ok()?;
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buffer[..n]);
    }
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let logout_token = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned());
    Some(LogoutDelivery {
        path,
        content_type: header("content-type").unwrap_or_default(),
        logout_token,
    })
}

fn write_policies(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("tests")).expect("policies dir");
    let schema = include_str!("../../policies/schema.cedarschema");
    for (name, text) in [
        ("schema.cedarschema", schema),
        ("roles.toml", ROLES),
        ("routes.toml", ROUTES),
        ("qlvb.cedar", POLICIES),
    ] {
        std::fs::write(dir.join(name), text).expect("write policy file");
    }
}

/// Hex SHA-256 of a client secret, as `secret_sha256` wants it.
pub fn sha256_hex(secret: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn config(
    slapd: &Slapd,
    nginx: &Nginx,
    logouts: &LogoutReceiver,
    ky_so_key: &RsaKey,
    options: &Options,
) -> String {
    let jwks = serde_json::json!({"keys": [ky_so_key.public_jwk()]}).to_string();
    let template = r#"
[portal]
public_url = "http://127.0.0.1:{http_port}"

[directory]
backend = "ldap"
[directory.ldap]
urls = ["@LDAP@"]
bind_dn = "@ADMIN_DN@"
bind_password_file = "bind-password"
user_base_dn = "@PEOPLE_DN@"

[policy]
dir = "policies"

[oidc]
code_lifetime = "@CODE_LIFETIME@"

[[oidc.clients]]
id = "qlvb"
name = "Quản lý văn bản"
first_party = true
auth_method = "client_secret_basic"
secret_sha256 = "@QLVB_SHA@"
redirect_uris = ["@CALLBACK@"]
post_logout_redirect_uris = ["@BYE@"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "groups", "roles", "offline_access"]
backchannel_logout_uri = "@BACKCHANNEL_QLVB@"

[[oidc.clients]]
id = "cong-dvc"
name = "Cổng dịch vụ công"
first_party = true
auth_method = "client_secret_post"
secret_sha256 = "@CONG_SHA@"
redirect_uris = ["@CONG_CALLBACK@"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email"]
app = "qlvb"
backchannel_logout_uri = "@BACKCHANNEL_CONG@"

[[oidc.clients]]
id = "thu-dien-tu"
name = "Thư điện tử"
first_party = true
secret_sha256 = "@CONG_SHA@"
redirect_uris = ["@THU_CALLBACK@"]
grant_types = ["authorization_code"]
scopes = ["openid", "profile"]
app = "qlvb"
frontchannel_logout_uri = "@THU_FRONTCHANNEL@"

[[oidc.clients]]
id = "dong-bo"
name = "Đồng bộ văn bản"
auth_method = "client_secret_basic"
secret_sha256 = "@DONG_BO_SHA@"
grant_types = ["client_credentials"]
scopes = ["@API_SCOPE@"]
app = "qlvb"
roles = ["dong-bo"]

[[oidc.clients]]
id = "dong-bo-ngan"
name = "Đồng bộ văn bản (token ngắn)"
auth_method = "client_secret_basic"
secret_sha256 = "@DONG_BO_SHA@"
grant_types = ["client_credentials"]
scopes = ["@API_SCOPE@"]
app = "qlvb"
roles = ["dong-bo"]
access_token_lifetime = "1s"

[[oidc.clients]]
id = "dong-bo-mail"
name = "Đồng bộ thư điện tử"
auth_method = "client_secret_basic"
secret_sha256 = "@DONG_BO_SHA@"
grant_types = ["client_credentials"]
scopes = ["@API_SCOPE@"]
app = "qlvb"
audiences = ["thu-dien-tu"]
roles = ["dong-bo"]

[[oidc.clients]]
id = "khach"
name = "Hệ thống khách"
auth_method = "client_secret_basic"
secret_sha256 = "@KHACH_SHA@"
grant_types = ["client_credentials"]
scopes = ["@API_SCOPE@"]
app = "qlvb"
roles = ["khach"]

[[oidc.clients]]
id = "ky-so"
name = "Hệ thống ký số"
auth_method = "private_key_jwt"
jwks = '@KY_SO_JWKS@'
grant_types = ["client_credentials"]
scopes = ["@API_SCOPE@"]
app = "qlvb"
roles = ["dong-bo"]

[[apps]]
id = "qlvb"
name = "Quản lý văn bản"
hosts = ["qlvb.namdinh.gov.vn"]
upstreams = ["@NGINX@"]
accept_bearer = true
"#;
    template
        .replace("@LDAP@", &slapd.url())
        .replace("@ADMIN_DN@", ADMIN_DN)
        .replace("@PEOPLE_DN@", PEOPLE_DN)
        .replace("@CODE_LIFETIME@", options.code_lifetime)
        .replace("@QLVB_SHA@", &sha256_hex(QLVB_SECRET))
        .replace("@CONG_SHA@", &sha256_hex(CONG_DVC_SECRET))
        .replace("@DONG_BO_SHA@", &sha256_hex(DONG_BO_SECRET))
        .replace("@KHACH_SHA@", &sha256_hex(KHACH_SECRET))
        .replace("@CALLBACK@", CALLBACK)
        .replace("@CONG_CALLBACK@", CONG_CALLBACK)
        .replace("@THU_CALLBACK@", THU_CALLBACK)
        .replace("@THU_FRONTCHANNEL@", THU_FRONTCHANNEL)
        .replace("@BYE@", BYE)
        .replace("@BACKCHANNEL_QLVB@", &logouts.url(QLVB))
        .replace("@BACKCHANNEL_CONG@", &logouts.url(CONG_DVC))
        .replace("@API_SCOPE@", API_SCOPE)
        .replace("@KY_SO_JWKS@", &jwks)
        .replace("@NGINX@", &nginx.url())
}
