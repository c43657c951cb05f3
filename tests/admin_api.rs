//! The administrative API against a real gateway process: a bearer token guards it; it lifts a
//! login lockout and logs a user out everywhere; every action lands in the audit log.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use govgate::demo::DemoApps;
use support::browser::{Browser, Page};
use support::gateway::Gateway;

const APP: &str = "http://motcua.namdinh.gov.vn";
const TOKEN: &str = "quan-tri-an-ninh-0123456789abcdef0123456789";

fn gateway(demo: &DemoApps) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.toml"),
        dir.path().join("users.toml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("admin.token"), format!("{TOKEN}\n")).unwrap();
    let config = format!(
        r#"
[directory]
backend = "file"
[directory.file]
path = "users.toml"

[admin]
token_file = "admin.token"

[session]
cache_ttl = "0s"

[session.login_protection]
user_max_failures = 2

[[apps]]
id = "mot-cua"
name = "Một cửa điện tử"
hosts = ["motcua.namdinh.gov.vn"]
upstreams = ["http://{}"]
"#,
        demo.one_stop_shop
    );
    Gateway::start_in(dir, &config)
}

/// POSTs JSON to the admin API with curl; returns (status, body).
fn admin(gateway: &Gateway, action: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let url = format!("http://{}/.govgate/admin/{action}", gateway.http_addr());
    let mut command = Command::new("curl");
    command.args([
        "-s",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data",
        body,
        &url,
    ]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command.output().expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

fn login(gateway: &Gateway, password: &str) -> (Browser, Page) {
    let browser = Browser::new(gateway);
    let page = browser.login(APP, "nvan", password, "");
    (browser, page)
}

fn audit_events(gateway: &Gateway) -> Vec<String> {
    let text = std::fs::read_to_string(gateway.data_dir().join("audit.log")).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|record| record["event"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_token_guards_every_action() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&demo);
    let body = r#"{"username":"nvan"}"#;
    assert_eq!(admin(&gateway, "unlock", None, body).0, 401);
    assert_eq!(
        admin(
            &gateway,
            "unlock",
            Some("wrong-token-of-sufficient-length-000000000"),
            body
        )
        .0,
        401
    );
    assert_eq!(
        admin(
            &gateway,
            "logout-everywhere",
            Some(&TOKEN[..TOKEN.len() - 1]),
            body
        )
        .0,
        401
    );
    assert_eq!(admin(&gateway, "unlock", Some(TOKEN), "{not json").0, 400);
    assert_eq!(
        admin(
            &gateway,
            "unlock",
            Some(TOKEN),
            r#"{"username":"a","ip":"10.0.0.1"}"#
        )
        .0,
        400
    );
    assert_eq!(admin(&gateway, "no-such-action", Some(TOKEN), body).0, 404);
    assert!(
        !audit_events(&gateway).iter().any(|e| e == "unlocked"),
        "refused calls change nothing"
    );
}

#[test]
fn an_administrator_lifts_a_lockout() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&demo);
    for _ in 0..2 {
        assert_eq!(login(&gateway, "SaiMatKhau@2024").1.status, 401);
    }
    let (_, locked) = login(&gateway, "LanhDao@2024");
    assert_eq!(locked.status, 401, "locked after two failures");

    let (status, body) = admin(&gateway, "unlock", Some(TOKEN), r#"{"username":"nvan"}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""was_locked":true"#), "{body}");
    let (_, page) = login(&gateway, "LanhDao@2024");
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(audit_events(&gateway).iter().any(|e| e == "unlocked"));
    let verify = Command::new(env!("CARGO_BIN_EXE_govgate"))
        .args(["audit", "verify"])
        .arg(gateway.data_dir().join("audit.log"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn log_out_everywhere_ends_every_session_of_the_user() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&demo);
    let (first, page) = login(&gateway, "LanhDao@2024");
    assert_eq!(page.status, 303);
    let (second, _) = login(&gateway, "LanhDao@2024");
    for browser in [&first, &second] {
        assert_eq!(browser.get(&format!("{APP}/api/request")).status, 200);
    }
    let (status, body) = admin(
        &gateway,
        "logout-everywhere",
        Some(TOKEN),
        r#"{"username":"NVAN"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    for browser in [&first, &second] {
        loop {
            let page = browser.get(&format!("{APP}/api/request"));
            if page.status == 302 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "session still accepted after log-out-everywhere"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert!(audit_events(&gateway)
        .iter()
        .any(|e| e == "logged_out_everywhere"));
}

#[test]
fn without_a_token_file_the_admin_api_does_not_exist() {
    let demo = DemoApps::start().unwrap();
    let config = format!(
        "[[apps]]\naccess = \"public\"\nid = \"a\"\nname = \"A\"\nupstreams = [\"http://{}\"]\n",
        demo.one_stop_shop
    );
    let gateway = Gateway::start(&config);
    assert_eq!(
        admin(&gateway, "unlock", Some(TOKEN), r#"{"username":"nvan"}"#).0,
        404
    );
}
