//! Login end to end against real back ends: an LDAP directory (slapd) that goes away and
//! comes back, brute-force lockout with its audit trail, two gateway processes sharing one
//! redis-server, and a redb session that outlives a gateway restart.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use govgate::demo::{DemoApps, RequestSeen};
use support::browser::{cookie_value, Browser, Page};
use support::gateway::Gateway;
use support::redis::RedisServer;
use support::slapd::{Slapd, ADMIN_DN, ADMIN_PASSWORD, DISABLED_UID, PEOPLE_DN, USER_PASSWORD};

const APP_HOST: &str = "motcua.namdinh.gov.vn";
const APP: &str = "http://motcua.namdinh.gov.vn";

const BAD_CREDENTIALS: &str = "Tên đăng nhập hoặc mật khẩu không đúng.";
const ACCOUNT_DISABLED: &str = "Tài khoản đã bị khóa.";
const UNAVAILABLE: &str = "tạm thời gián đoạn";

/// Generous bound for things that happen "within a few seconds".
const PATIENCE: Duration = Duration::from_secs(30);

/// The authenticated one-stop-shop app on `motcua.`, after `tables`.
fn config(demo: &DemoApps, tables: &str) -> String {
    format!(
        r#"
{tables}

[[apps]]
id = "mot-cua"
name = "Một cửa điện tử"
hosts = ["{APP_HOST}"]
upstreams = ["http://{}"]
"#,
        demo.one_stop_shop
    )
}

const FILE_DIRECTORY: &str = r#"
[directory]
backend = "file"
[directory.file]
path = "users.toml"
"#;

fn dir_with_users() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let users = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.toml");
    std::fs::copy(users, dir.path().join("users.toml")).unwrap();
    dir
}

fn file_gateway(demo: &DemoApps, tables: &str) -> Gateway {
    Gateway::start_in(
        dir_with_users(),
        &config(demo, &format!("{FILE_DIRECTORY}\n{tables}")),
    )
}

fn app_saw(page: &Page) -> RequestSeen {
    assert_eq!(page.status, 200, "{page:?}");
    serde_json::from_str(&page.body).unwrap_or_else(|e| panic!("{e}: {}", page.body))
}

fn app_user(browser: &Browser) -> Option<String> {
    app_saw(&browser.get(&format!("{APP}/api/request")))
        .header("x-remote-user")
        .map(str::to_string)
}

/// True when the app sends this browser to the login page (no valid session).
fn sent_to_login(browser: &Browser) -> bool {
    let page = browser.get(&format!("{APP}/api/request"));
    page.status == 302
        && page
            .location()
            .is_some_and(|l| l.starts_with("/.govgate/login?rd="))
}

fn login(gateway: &Gateway, user: &str, password: &str) -> (Browser, Page) {
    let browser = Browser::new(gateway);
    let page = browser.login(APP, user, password, "");
    (browser, page)
}

/// Polls `condition` every 200 ms until it holds or [`PATIENCE`] runs out.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not after {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---------- LDAP ----------

fn ldap_gateway(slapd: &Slapd, demo: &DemoApps) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bind-password"),
        format!("{ADMIN_PASSWORD}\n"),
    )
    .unwrap();
    let directory = format!(
        r#"
[directory]
backend = "ldap"
[directory.ldap]
urls = ["{url}"]
bind_dn = "{ADMIN_DN}"
bind_password_file = "bind-password"
user_base_dn = "{PEOPLE_DN}"
connect_timeout = "2s"
operation_timeout = "5s"
"#,
        url = slapd.url()
    );
    Gateway::start_in(dir, &config(demo, &directory))
}

#[test]
fn ldap_login_works_and_an_outage_says_unavailable_never_wrong_password() {
    let mut slapd = Slapd::start_province();
    let demo = DemoApps::start().unwrap();
    let gateway = ldap_gateway(&slapd, &demo);

    let (browser, page) = login(&gateway, "nvan", USER_PASSWORD);
    assert_eq!(page.status, 303, "{}", page.body);
    let seen = app_saw(&browser.get(&format!("{APP}/api/request")));
    assert_eq!(seen.header("x-remote-user"), Some("nvan"));
    assert_eq!(
        seen.header("x-remote-name"),
        Some("Nguy%E1%BB%85n V%C4%83n An")
    );
    let groups: Vec<&str> = seen.header("x-remote-groups").unwrap().split(',').collect();
    assert!(groups.contains(&"lanh-dao"), "{groups:?}");
    assert!(groups.contains(&"chuyen-vien"), "{groups:?}");

    let (_, wrong) = login(&gateway, "ttbinh", "SaiMatKhau");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains(BAD_CREDENTIALS), "{}", wrong.body);
    let (_, disabled) = login(&gateway, DISABLED_UID, USER_PASSWORD);
    assert_eq!(disabled.status, 401);
    assert!(
        disabled.body.contains(ACCOUNT_DISABLED),
        "{}",
        disabled.body
    );

    slapd.stop();
    for password in [USER_PASSWORD, "SaiMatKhau"] {
        let (refused, page) = login(&gateway, "ttbinh", password);
        assert_eq!(page.status, 503, "{}", page.body);
        assert!(page.body.contains(UNAVAILABLE), "{}", page.body);
        assert!(!page.body.contains(BAD_CREDENTIALS), "{}", page.body);
        assert_eq!(refused.cookie("govgate_session"), None);
    }
    // Someone already logged in keeps working while the directory is away.
    assert_eq!(app_user(&browser).as_deref(), Some("nvan"));

    slapd.restart();
    let mut back = None;
    eventually("login after slapd restarted", || {
        let (browser, page) = login(&gateway, "ttbinh", USER_PASSWORD);
        assert_ne!(page.status, 401, "{}", page.body);
        let ok = page.status == 303;
        back = ok.then_some(browser);
        ok
    });
    assert_eq!(app_user(&back.unwrap()).as_deref(), Some("ttbinh"));

    let audit = std::fs::read_to_string(gateway.data_dir().join("audit.log")).unwrap();
    assert!(audit.contains("\"directory_unavailable\""), "{audit}");
}

// ---------- brute force ----------

fn audit_records(gateway: &Gateway) -> Vec<serde_json::Value> {
    std::fs::read_to_string(gateway.data_dir().join("audit.log"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn count(records: &[serde_json::Value], event: &str, reason: Option<&str>) -> usize {
    records
        .iter()
        .filter(|r| r["event"] == event && reason.is_none_or(|why| r["reason"] == why))
        .count()
}

#[test]
fn after_the_failure_limit_the_right_password_gets_the_same_generic_refusal() {
    let demo = DemoApps::start().unwrap();
    let gateway = file_gateway(
        &demo,
        "[session.login_protection]\nuser_max_failures = 3\nuser_lockout = \"15m\"",
    );
    let mut wrong_page = None;
    for _ in 0..3 {
        let (_, page) = login(&gateway, "nvan", "SaiMatKhau@2024");
        assert_eq!(page.status, 401, "{}", page.body);
        assert!(page.body.contains(BAD_CREDENTIALS));
        wrong_page = Some(page);
    }
    let (browser, locked) = login(&gateway, "nvan", "LanhDao@2024");
    assert_eq!(locked.status, 401, "{}", locked.body);
    assert!(locked.body.contains(BAD_CREDENTIALS), "{}", locked.body);
    assert_eq!(locked.set_cookie("govgate_session"), None);
    assert_eq!(browser.cookie("govgate_session"), None);
    let blank = |page: &Page| {
        page.body
            .replace(&page.form_field("csrf").unwrap_or_default(), "CSRF")
    };
    assert_eq!(
        blank(&locked),
        blank(&wrong_page.unwrap()),
        "a locked account must look exactly like a wrong password"
    );

    // The lock is per user: another user from the same address still logs in.
    let (_, other) = login(&gateway, "tthang", "ChuyenVien@2024");
    assert_eq!(other.status, 303, "{}", other.body);

    let records = audit_records(&gateway);
    assert_eq!(
        count(&records, "login_failed", Some("bad_credentials")),
        3,
        "{records:?}"
    );
    assert_eq!(count(&records, "login_failed", Some("locked_out")), 1);
    assert!(records
        .iter()
        .any(|r| r["event"] == "locked_out" && r["actor"] == "nvan"));
    assert_eq!(count(&records, "login_succeeded", None), 1);

    let output = Command::new(env!("CARGO_BIN_EXE_govgate"))
        .args(["audit", "verify"])
        .arg(gateway.data_dir().join("audit.log"))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("chain intact"));
}

// ---------- shared and durable sessions ----------

#[test]
fn two_gateways_on_one_redis_share_sessions_and_logout() {
    let redis = RedisServer::start();
    let demo = DemoApps::start().unwrap();
    let tables = format!(
        "[store]\nbackend = \"redis\"\n[store.redis]\nurls = [\"{}\"]\n\n[session]\ncache_ttl = \"1s\"",
        redis.url()
    );
    let a = file_gateway(&demo, &tables);
    let b = file_gateway(&demo, &tables);

    let (mut browser, page) = login(&a, "nvan", "LanhDao@2024");
    assert_eq!(page.status, 303, "{}", page.body);
    let id = browser.cookie("govgate_session").unwrap().value;
    assert_eq!(app_user(&browser).as_deref(), Some("nvan"));

    browser.switch_to(&b);
    assert_eq!(
        app_user(&browser).as_deref(),
        Some("nvan"),
        "B knows A's session"
    );

    // A has the session fresh in its cache when B ends it.
    let replay_at_a = Browser::new(&a);
    replay_at_a.add_cookie(APP_HOST, "govgate_session", &id);
    assert_eq!(app_user(&replay_at_a).as_deref(), Some("nvan"));

    let logout = format!("{APP}/.govgate/logout");
    let csrf = browser.get(&logout).form_field("csrf").unwrap();
    let done = browser.post_form(&logout, &[("csrf", &csrf), ("lang", "vi")]);
    assert_eq!(
        done.set_cookie("govgate_session").map(cookie_value),
        Some("")
    );
    assert!(sent_to_login(&browser));
    eventually("A refuses the session B logged out", || {
        sent_to_login(&replay_at_a)
    });
}

#[test]
fn a_redb_session_survives_a_gateway_restart() {
    let demo = DemoApps::start().unwrap();
    let mut gateway = file_gateway(&demo, "");
    let (browser, page) = login(&gateway, "pthoa", "MotCua@2024");
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(app_user(&browser).as_deref(), Some("pthoa"));

    gateway.restart();
    assert_eq!(app_user(&browser).as_deref(), Some("pthoa"));
    let stranger = Browser::new(&gateway);
    stranger.add_cookie(APP_HOST, "govgate_session", &"B".repeat(43));
    assert!(sent_to_login(&stranger));
}
