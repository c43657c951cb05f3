//! The OpenID Connect provider end to end with a certified relying-party library:
//! `openid-client` (npm, locked in tests/oidc-node/package-lock.json) in
//! tests/oidc-node/rp.mjs drives the real login form over HTTP with its own cookie jar,
//! against a real `govgate serve` whose directory is a real slapd. The script checks every
//! step itself (discovery, PKCE, state, nonce, the ID token's signature, RFC 9068 access
//! tokens, userinfo, refresh rotation and reuse detection, introspection, revocation, SSO,
//! RP-initiated logout) and prints one JSON object; these tests assert on it.
//!
//! Needs node and npm (scripts/test installs them); `npm ci` runs once per test run, into
//! tests/oidc-node/node_modules (git-ignored). A missing node fails the tests, never skips.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
use support::gateway::Gateway;
use support::slapd::{Slapd, ADMIN_DN, ADMIN_PASSWORD, PEOPLE_DN, USER_PASSWORD};

const CLIENT_ID: &str = "node-rp";
/// The client secret (the gateway only knows its SHA-256).
const CLIENT_SECRET: &str = "node-rp-secret-0123456789abcdef0123456789";
/// Never contacted: the script stops at the redirect and reads the code from the Location.
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const POST_LOGOUT_REDIRECT_URI: &str = "http://127.0.0.1:9/bye";
const SCOPE: &str = "openid profile email";

fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-node")
}

/// `npm ci` in tests/oidc-node, once per test run; panics with npm's output on failure.
fn node_modules_ready() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let version = Command::new("node").arg("--version").output().map_err(|e| {
            format!("node not found ({e}): scripts/test installs nodejs and npm; these tests do not skip")
        })?;
        let text = String::from_utf8_lossy(&version.stdout);
        let major: u32 = text
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .unwrap_or(0);
        if !version.status.success() || major < 20 {
            return Err(format!(
                "node {} found; openid-client 6 needs node >= 20",
                text.trim()
            ));
        }
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(package_dir())
            .output()
            .map_err(|e| format!("npm not found ({e}): scripts/test installs npm"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("npm ci in tests/oidc-node failed: {}", describe(&output)))
        }
    });
    if let Err(problem) = ready {
        panic!("{problem}");
    }
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn sha256_hex(text: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A gateway whose directory is `slapd`, with the node RP registered as a first-party client.
fn oidc_gateway(slapd: &Slapd) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bind-password"),
        format!("{ADMIN_PASSWORD}\n"),
    )
    .unwrap();
    Gateway::start_in(
        dir,
        &format!(
            r#"
[server]
http_listen = "{{http_listen}}"

[portal]
public_url = "http://127.0.0.1:{{http_port}}"

[directory]
backend = "ldap"
[directory.ldap]
urls = ["{url}"]
bind_dn = "{ADMIN_DN}"
bind_password_file = "bind-password"
user_base_dn = "{PEOPLE_DN}"
connect_timeout = "2s"
operation_timeout = "5s"

[oidc]

[[oidc.clients]]
id = "{CLIENT_ID}"
name = "openid-client (node)"
first_party = true
auth_method = "client_secret_basic"
secret_sha256 = "{secret_sha256}"
redirect_uris = ["{REDIRECT_URI}"]
post_logout_redirect_uris = ["{POST_LOGOUT_REDIRECT_URI}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "offline_access"]
"#,
            url = slapd.url(),
            secret_sha256 = sha256_hex(CLIENT_SECRET),
        ),
    )
}

/// Runs rp.mjs as `username` / `password`; returns its exit success and the JSON it printed.
fn run_rp(gateway: &Gateway, username: &str, password: &str) -> (bool, Value) {
    node_modules_ready();
    let output = Command::new("node")
        .arg("rp.mjs")
        .current_dir(package_dir())
        .env("ISSUER", gateway.http_url())
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("REDIRECT_URI", REDIRECT_URI)
        .env("POST_LOGOUT_REDIRECT_URI", POST_LOGOUT_REDIRECT_URI)
        .env("LOGIN_USERNAME", username)
        .env("LOGIN_PASSWORD", password)
        .env("SCOPE", SCOPE)
        .env("AUDIENCE", CLIENT_ID)
        .output()
        .expect("run node rp.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = stdout.lines().last().unwrap_or_default();
    let value: Value = serde_json::from_str(json).unwrap_or_else(|e| {
        panic!(
            "rp.mjs printed no JSON ({e}): {}\ngateway log:\n{}",
            describe(&output),
            gateway.logs()
        )
    });
    // Shown with --nocapture, and with any failing assertion below.
    eprintln!("rp.mjs as {username}: {value:#}");
    (output.status.success(), value)
}

#[test]
fn openid_client_logs_in_through_the_form_refreshes_with_rotation_and_logs_out() {
    let slapd = Slapd::start_province();
    let gateway = oidc_gateway(&slapd);

    let (ok, result) = run_rp(&gateway, "nvan", USER_PASSWORD);
    assert!(
        ok && result["ok"] == true,
        "rp.mjs failed: {result:#}\ngateway log:\n{}",
        gateway.logs()
    );

    // Who logged in, as the ID token, the access token and userinfo say.
    assert_eq!(result["sub"], result["id_token"]["claims"]["sub"]);
    // The subject is the directory's stable entryUUID of the seeded user.
    let entry = slapd.search(PEOPLE_DN, "(uid=nvan)", &["entryUUID"]);
    let entry_uuid = entry
        .lines()
        .find_map(|line| line.strip_prefix("entryUUID: "))
        .unwrap_or_else(|| panic!("no entryUUID in {entry}"));
    assert_eq!(result["sub"], entry_uuid, "{result:#}");
    assert_eq!(result["preferred_username"], "nvan");
    assert_eq!(result["name"], "Nguyễn Văn An");
    assert_eq!(result["userinfo"]["email"], "an.nv@namdinh.gov.vn");
    let claims = &result["id_token"]["claims"];
    assert_eq!(claims["iss"], gateway.http_url());
    assert_eq!(claims["aud"], CLIENT_ID, "{claims}");
    assert_eq!(claims["acr"], "urn:govgate:acr:password");
    assert_eq!(result["access_token"]["header"]["typ"], "at+jwt");
    assert_eq!(result["access_token"]["claims"]["client_id"], CLIENT_ID);
    assert_eq!(result["login_form"]["rd_is_authorize"], true);
    let callback_params = result["callback_params"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        callback_params.contains(&"code".into()) && callback_params.contains(&"state".into()),
        "{callback_params:?}"
    );

    // Rotation: the new refresh token differs and the old one now fails with invalid_grant.
    assert_eq!(result["refresh"]["rotated"], true);
    assert_eq!(
        result["refresh"]["old_refresh_token_error"],
        "invalid_grant"
    );
    assert_eq!(result["refresh"]["family_revoked_after_reuse"], true);
    assert_eq!(result["refresh"]["userinfo_after_revoke_status"], 401);
    assert_eq!(result["sso"]["revoked_refresh_error"], "invalid_grant");

    // RP-initiated logout back to the registered URI with the state; the session is gone.
    assert_eq!(result["logout"]["redirect"], POST_LOGOUT_REDIRECT_URI);
    assert_eq!(result["logout"]["state_matches"], true);
    assert_eq!(
        result["logout"]["prompt_none_after_logout"],
        "login_required"
    );
}

#[test]
fn a_wrong_password_gets_the_login_form_again_with_401_and_no_code() {
    let slapd = Slapd::start_province();
    let gateway = oidc_gateway(&slapd);

    let (ok, result) = run_rp(&gateway, "ttbinh", "not-her-password");
    assert!(!ok, "rp.mjs succeeded with a wrong password: {result:#}");
    assert_eq!(result["ok"], false);
    assert_eq!(result["stage"], "login", "{result:#}");
    assert_eq!(result["login_status"], 401, "{result:#}");
    assert_eq!(result["login_form_again"], true, "{result:#}");
    assert!(result["code"].is_null(), "{result:#}");
}
