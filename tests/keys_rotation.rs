//! Key rotation and retirement, end to end: `govgate keys list|rotate|prune` and
//! `govgate oidc secret` as the operator runs them, and `govgate serve` processes (one, or
//! two sharing a key directory) picking rotated keys up, pruning expired ones and keeping
//! the keys in force when the index is damaged. Tokens are checked with PyJWT against the
//! JWKS the gateways publish.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use govgate::keys::{Algorithm, SigningKeys, INDEX_FILE_NAME};
use serde_json::{json, Value};
use support::gateway::{http_get, Gateway, Signal};
use support::python;

const ISSUER: &str = "https://sso.tinh.gov.vn";
const AUDIENCE: &str = "mot-cua";
/// Retention without `[oidc]`: logout tokens (2 min) + 5 min clock-skew margin.
const DEFAULT_KEEP: Duration = Duration::from_secs(7 * 60);

fn govgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_govgate"))
        .args(args)
        .env_remove("GOVGATE_CONFIG")
        .output()
        .expect("run the govgate binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `govgate keys <sub> --config <config> [extra…]`, expecting exit 0.
fn keys_ok(config: &Path, sub: &str, extra: &[&str]) -> String {
    let mut args = vec!["keys", sub, "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = govgate(&args);
    assert!(
        output.status.success(),
        "govgate {args:?} failed: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// A temp dir with `govgate.toml` (`data_dir = "data"` plus `extra`).
fn config_dir(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("govgate.toml");
    std::fs::write(
        &config,
        format!("data_dir = \"data\"\n{extra}\n[server]\nhttp_listen = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    (dir, config)
}

fn read_index(keys_dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(keys_dir.join(INDEX_FILE_NAME)).unwrap()).unwrap()
}

fn index_kids(keys_dir: &Path) -> BTreeSet<String> {
    read_index(keys_dir)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

fn entry<'a>(index: &'a Value, kid: &str) -> &'a Value {
    index["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("{kid} not in {index}"))
}

fn current_kid(keys_dir: &Path, alg: &str) -> String {
    let index = read_index(keys_dir);
    index["keys"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|k| k["alg"] == alg && k.get("retired_at").is_none())
        .and_then(|k| k["kid"].as_str())
        .unwrap_or_else(|| panic!("no current {alg} key in {index}"))
        .to_string()
}

/// Rewrites `retired_at` of `kid` in keys.json to `ago` before now.
fn set_retired_ago(keys_dir: &Path, kid: &str, ago: Duration) {
    let mut index = read_index(keys_dir);
    let when = humantime::format_rfc3339_seconds(SystemTime::now() - ago).to_string();
    for key in index["keys"].as_array_mut().unwrap() {
        if key["kid"] == kid {
            key["retired_at"] = json!(when);
        }
    }
    std::fs::write(
        keys_dir.join(INDEX_FILE_NAME),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
}

fn key_file(keys_dir: &Path, kid: &str) -> PathBuf {
    keys_dir.join(entry(&read_index(keys_dir), kid)["file"].as_str().unwrap())
}

fn jwks(gateway: &Gateway) -> Value {
    let response = http_get(gateway.http_addr(), "localhost", "/.govgate/jwks.json")
        .expect("GET /.govgate/jwks.json");
    assert_eq!(response.status, 200, "{}", response.text());
    serde_json::from_slice(&response.body).expect("JWKS is JSON")
}

fn jwks_kids(gateway: &Gateway) -> BTreeSet<String> {
    jwks(gateway)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `condition` every 100 ms until it holds or `patience` is over.
fn eventually(patience: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + patience;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A token signed by the current RS256 key in `keys_dir` (read as the gateway reads it).
fn sign_with_current_key(keys_dir: &Path, jti: &str) -> String {
    let keys = SigningKeys::read(keys_dir).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "file:nvan", "jti": jti,
        "iat": now, "exp": now + 300,
    });
    keys.sign(Algorithm::RS256, &claims, "JWT").unwrap()
}

/// PyJWT's verdict on `token` against the JWKS `gateway` publishes now.
fn verify_against_published(gateway: &Gateway, token: &str) -> Result<Value, String> {
    let file = gateway.dir().join("fetched-jwks.json");
    std::fs::write(&file, serde_json::to_vec(&jwks(gateway)).unwrap()).unwrap();
    python::pyjwt_verify(&file, token, AUDIENCE, ISSUER, "RS256")
}

// ---------------------------------------------------------------------------------------
// The CLI

#[test]
fn keys_list_rotate_prune_exit_codes_and_output() {
    let (dir, config) = config_dir("");
    let keys_dir = dir.path().join("data").join("keys");

    let empty = keys_ok(&config, "list", &[]);
    assert!(empty.contains("no signing keys"), "{empty}");

    // First rotation of an empty directory: one key per algorithm, nothing retired.
    let first = keys_ok(&config, "rotate", &[]);
    assert!(first.contains("RS256: new signing key"), "{first}");
    assert!(first.contains("ES256: new signing key"), "{first}");
    assert!(first.contains("SIGHUP"), "{first}");
    assert!(!first.contains("EdDSA"), "EdDSA is not in use: {first}");
    assert_eq!(index_kids(&keys_dir).len(), 2);
    let old_rs = current_kid(&keys_dir, "RS256");
    let es = current_kid(&keys_dir, "ES256");

    let rotated = keys_ok(&config, "rotate", &["--alg", "RS256"]);
    let new_rs = current_kid(&keys_dir, "RS256");
    assert_ne!(new_rs, old_rs);
    assert!(
        rotated.contains(&format!("new signing key {new_rs}")),
        "{rotated}"
    );
    assert!(
        rotated.contains(&format!("previous key {old_rs} retired")),
        "{rotated}"
    );
    assert!(
        !rotated.contains("ES256"),
        "only RS256 was asked: {rotated}"
    );
    let index = read_index(&keys_dir);
    assert!(entry(&index, &old_rs)["retired_at"].is_string());
    assert!(entry(&index, &es).get("retired_at").is_none());

    let listed = keys_ok(&config, "list", &[]);
    let line = |kid: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(kid))
            .unwrap_or_else(|| panic!("{kid} not listed:\n{listed}"))
            .to_string()
    };
    assert!(listed.starts_with("KID"), "{listed}");
    assert!(line(&old_rs).ends_with("retired"), "{listed}");
    assert!(line(&old_rs).contains("RS256"), "{listed}");
    assert!(line(&new_rs).ends_with("current"), "{listed}");
    assert!(line(&es).ends_with("current"), "{listed}");
    assert!(listed.contains("7m"), "retention without [oidc]: {listed}");

    // Freshly retired: prune keeps it (and its file).
    let nothing = keys_ok(&config, "prune", &[]);
    assert!(nothing.contains("no expired keys"), "{nothing}");
    assert!(index_kids(&keys_dir).contains(&old_rs));
    assert!(key_file(&keys_dir, &old_rs).exists());

    // Two more retired RS256 keys: one just inside the retention, one just past it.
    keys_ok(&config, "rotate", &["--alg", "RS256"]);
    let inside = new_rs;
    let past = old_rs;
    set_retired_ago(&keys_dir, &inside, DEFAULT_KEEP - Duration::from_secs(60));
    set_retired_ago(&keys_dir, &past, DEFAULT_KEEP + Duration::from_secs(60));
    let past_file = key_file(&keys_dir, &past);
    let listed = keys_ok(&config, "list", &[]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&past) && l.ends_with("expired")),
        "{listed}"
    );

    let pruned = keys_ok(&config, "prune", &[]);
    assert!(pruned.contains(&format!("key {past} removed")), "{pruned}");
    assert!(!pruned.contains(&inside), "{pruned}");
    let kids = index_kids(&keys_dir);
    assert!(!kids.contains(&past), "{kids:?}");
    assert!(kids.contains(&inside) && kids.contains(&es), "{kids:?}");
    assert_eq!(kids.len(), 3, "{kids:?}");
    assert!(!past_file.exists(), "the expired key's file is deleted");
    assert!(key_file(&keys_dir, &inside).exists());
    // Idempotent.
    assert!(keys_ok(&config, "prune", &[]).contains("no expired keys"));
    // What is left still loads.
    assert_eq!(SigningKeys::read(&keys_dir).unwrap().key_infos().len(), 3);
}

#[test]
fn retention_follows_the_longest_token_lifetime_of_the_config() {
    let (dir, config) = config_dir(
        "[portal]\npublic_url = \"http://127.0.0.1:1\"\n\
         [oidc]\naccess_token_lifetime = \"1h\"\n",
    );
    let keys_dir = dir.path().join("data").join("keys");
    keys_ok(&config, "rotate", &[]);
    let old = current_kid(&keys_dir, "RS256");
    keys_ok(&config, "rotate", &["--alg", "rs256"]);
    // 30 minutes: expired under the default retention, not with 1 h access tokens.
    set_retired_ago(&keys_dir, &old, Duration::from_secs(30 * 60));
    let listed = keys_ok(&config, "list", &[]);
    assert!(listed.contains("1h 5m"), "{listed}");
    assert!(keys_ok(&config, "prune", &[]).contains("no expired keys"));
    assert!(index_kids(&keys_dir).contains(&old));

    set_retired_ago(&keys_dir, &old, Duration::from_secs(66 * 60));
    assert!(keys_ok(&config, "prune", &[]).contains(&format!("key {old} removed")));
    assert!(!index_kids(&keys_dir).contains(&old));
}

#[test]
fn rotate_all_and_eddsa_in_use_by_a_client() {
    let (dir, config) = config_dir(
        "[portal]\npublic_url = \"http://127.0.0.1:1\"\n\
         [oidc]\n\
         [[oidc.clients]]\nid = \"he-thong\"\nname = \"Hệ thống\"\nauth_method = \"none\"\n\
         redirect_uris = [\"http://127.0.0.1:9999/cb\"]\nsigning_alg = \"EdDSA\"\n",
    );
    let keys_dir = dir.path().join("data").join("keys");
    let output = keys_ok(&config, "rotate", &[]);
    assert!(output.contains("EdDSA: new signing key"), "{output}");
    let eddsa = current_kid(&keys_dir, "EdDSA");

    let all = keys_ok(&config, "rotate", &["--alg", "all"]);
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(
            all.contains(&format!("{alg}: previous key")),
            "{alg}: {all}"
        );
    }
    assert_ne!(current_kid(&keys_dir, "EdDSA"), eddsa);
    assert_eq!(index_kids(&keys_dir).len(), 6);
}

#[test]
fn keys_cli_failures_exit_nonzero_with_the_reason() {
    let (dir, config) = config_dir("");
    let config_arg = config.to_str().unwrap();
    let missing = dir.path().join("missing.toml");
    let output = govgate(&["keys", "list", "--config", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("missing.toml"),
        "{}",
        stderr(&output)
    );

    let output = govgate(&["keys", "rotate", "--config", config_arg, "--alg", "HS256"]);
    assert_eq!(output.status.code(), Some(2), "clap rejects an unknown alg");
    assert!(stderr(&output).contains("HS256"), "{}", stderr(&output));

    keys_ok(&config, "rotate", &[]);
    let keys_dir = dir.path().join("data").join("keys");
    let damaged = b"{\"keys\": [ not json";
    std::fs::write(keys_dir.join(INDEX_FILE_NAME), damaged).unwrap();
    for sub in ["rotate", "prune", "list"] {
        let output = govgate(&["keys", sub, "--config", config_arg]);
        assert_eq!(output.status.code(), Some(1), "{sub}: {}", stdout(&output));
        assert!(
            stderr(&output).contains("unreadable key index"),
            "{sub}: {}",
            stderr(&output)
        );
    }
    assert_eq!(
        std::fs::read(keys_dir.join(INDEX_FILE_NAME)).unwrap(),
        damaged,
        "a damaged index is never rewritten"
    );
}

#[test]
fn concurrent_rotations_lose_no_key() {
    let (dir, config) = config_dir("");
    let keys_dir = dir.path().join("data").join("keys");
    keys_ok(&config, "rotate", &[]);
    let config_arg = config.to_str().unwrap();
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_govgate"))
                .args(["keys", "rotate", "--config", config_arg, "--alg", "RS256"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let index = read_index(&keys_dir);
    let keys = index["keys"].as_array().unwrap();
    assert_eq!(
        keys.len(),
        8,
        "every rotation's key is in the index: {index}"
    );
    let current: Vec<_> = keys
        .iter()
        .filter(|k| k["alg"] == "RS256" && k.get("retired_at").is_none())
        .collect();
    assert_eq!(current.len(), 1, "{index}");
    let mut pem_files: Vec<String> = std::fs::read_dir(&keys_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pem"))
        .collect();
    pem_files.sort();
    let mut named: Vec<String> = keys
        .iter()
        .map(|k| k["file"].as_str().unwrap().to_string())
        .collect();
    named.sort();
    assert_eq!(pem_files, named, "no orphan and no missing key file");
    assert_eq!(SigningKeys::read(&keys_dir).unwrap().key_infos().len(), 8);
}

#[test]
fn oidc_secret_prints_a_random_secret_and_its_sha256() {
    let first = govgate(&["oidc", "secret"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let text = stdout(&first);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let secret = lines[0];
    assert_eq!(secret.len(), 43, "{secret}");
    assert!(
        secret
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "{secret}"
    );
    // The digest, computed independently with sha256sum.
    let mut sha = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    use std::io::Write;
    sha.stdin
        .take()
        .unwrap()
        .write_all(secret.as_bytes())
        .unwrap();
    let digest = String::from_utf8(sha.wait_with_output().unwrap().stdout).unwrap();
    let digest = digest.split_whitespace().next().unwrap();
    assert_eq!(lines[1], format!("secret_sha256 = \"{digest}\""));
    assert!(
        stderr(&first).contains("does not store"),
        "{}",
        stderr(&first)
    );

    let second = govgate(&["oidc", "secret"]);
    assert_ne!(stdout(&second).lines().next(), Some(secret));

    let help = stdout(&govgate(&["oidc", "secret", "--help"]));
    assert!(help.contains("client_secret"), "{help}");
    assert!(help.contains("never the secret"), "{help}");
}

// ---------------------------------------------------------------------------------------
// Running gateways

/// Two gateways, each with its own data dir, the second's `data/keys` a symlink to the
/// first's key directory.
fn two_gateways_sharing_keys() -> (Gateway, Gateway) {
    let first = Gateway::start("");
    let shared = first.data_dir().join("keys");
    assert!(shared.join(INDEX_FILE_NAME).exists());
    let second_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(second_dir.path().join("data")).unwrap();
    std::os::unix::fs::symlink(&shared, second_dir.path().join("data").join("keys")).unwrap();
    let second = Gateway::start_in(second_dir, "");
    assert_eq!(jwks_kids(&first), jwks_kids(&second), "same keys at start");
    (first, second)
}

/// Rotates RS256 with the first gateway's config; returns (old token, new kid, new token).
fn rotate_with_cli(gateway: &Gateway) -> (String, String, String) {
    let keys_dir = gateway.data_dir().join("keys");
    let old_token = sign_with_current_key(&keys_dir, "before-rotation");
    let old_kid = current_kid(&keys_dir, "RS256");
    keys_ok(gateway.config_path(), "rotate", &["--alg", "RS256"]);
    let new_kid = current_kid(&keys_dir, "RS256");
    assert_ne!(new_kid, old_kid);
    let new_token = sign_with_current_key(&keys_dir, "after-rotation");
    (old_token, new_kid, new_token)
}

fn assert_both_verify(gateway: &Gateway, old_token: &str, new_token: &str, new_kid: &str) {
    verify_against_published(gateway, old_token)
        .unwrap_or_else(|e| panic!("token of the retired key refused: {e}"));
    let verified = verify_against_published(gateway, new_token)
        .unwrap_or_else(|e| panic!("token of the new key refused: {e}"));
    assert_eq!(verified["header"]["kid"], new_kid);
}

#[test]
fn two_gateways_sharing_keys_publish_a_rotation_on_sighup() {
    let (first, second) = two_gateways_sharing_keys();
    let before = jwks_kids(&first);
    let (old_token, new_kid, new_token) = rotate_with_cli(&first);
    first.signal(Signal::Hup);
    second.signal(Signal::Hup);
    for gateway in [&first, &second] {
        assert!(
            eventually(Duration::from_secs(5), || jwks_kids(gateway)
                .contains(&new_kid)),
            "new key not published after SIGHUP; log:\n{}",
            gateway.logs()
        );
        let kids = jwks_kids(gateway);
        assert!(before.is_subset(&kids), "retired keys stay published");
        assert_eq!(kids.len(), before.len() + 1);
        assert_both_verify(gateway, &old_token, &new_token, &new_kid);
    }
}

#[test]
fn two_gateways_sharing_keys_publish_a_rotation_without_sighup() {
    let (first, second) = two_gateways_sharing_keys();
    let before = jwks_kids(&second);
    let (old_token, new_kid, new_token) = rotate_with_cli(&first);
    for gateway in [&first, &second] {
        assert!(
            eventually(Duration::from_secs(15), || jwks_kids(gateway)
                .contains(&new_kid)),
            "new key not picked up within 15 s; log:\n{}",
            gateway.logs()
        );
        assert!(before.is_subset(&jwks_kids(gateway)));
        assert_both_verify(gateway, &old_token, &new_token, &new_kid);
    }
}

#[test]
fn a_running_gateway_prunes_keys_whose_tokens_have_all_expired() {
    let gateway = Gateway::start("");
    let keys_dir = gateway.data_dir().join("keys");
    let old = current_kid(&keys_dir, "RS256");
    let old_file = key_file(&keys_dir, &old);
    keys_ok(gateway.config_path(), "rotate", &["--alg", "RS256"]);
    let recent = current_kid(&keys_dir, "RS256");
    keys_ok(gateway.config_path(), "rotate", &["--alg", "RS256"]);
    set_retired_ago(&keys_dir, &old, DEFAULT_KEEP + Duration::from_secs(60));
    set_retired_ago(&keys_dir, &recent, Duration::from_secs(60));
    gateway.signal(Signal::Hup);
    assert!(
        eventually(Duration::from_secs(5), || !jwks_kids(&gateway)
            .contains(&old)),
        "expired key still published; log:\n{}",
        gateway.logs()
    );
    assert!(!index_kids(&keys_dir).contains(&old));
    assert!(!old_file.exists(), "the expired key's file is deleted");
    let kids = jwks_kids(&gateway);
    assert!(
        kids.contains(&recent),
        "a recently retired key stays: {kids:?}"
    );
    assert_eq!(kids, index_kids(&keys_dir));
}

#[test]
fn a_damaged_index_keeps_the_keys_in_force() {
    let gateway = Gateway::start("");
    let keys_dir = gateway.data_dir().join("keys");
    let index_path = keys_dir.join(INDEX_FILE_NAME);
    let before = jwks_kids(&gateway);
    let token = sign_with_current_key(&keys_dir, "before-damage");
    let good = std::fs::read(&index_path).unwrap();

    std::fs::write(&index_path, b"{\"keys\": [ truncated").unwrap();
    gateway.signal(Signal::Hup);
    assert!(
        eventually(Duration::from_secs(5), || gateway
            .logs()
            .contains("signing keys not reloaded")),
        "no error logged; log:\n{}",
        gateway.logs()
    );
    assert_eq!(
        jwks_kids(&gateway),
        before,
        "the keys in force stay published"
    );
    verify_against_published(&gateway, &token).unwrap();
    let health = http_get(gateway.http_addr(), "localhost", "/healthz").unwrap();
    assert_eq!(health.status, 200);

    // Repaired, and rotated: picked up without a signal.
    std::fs::write(&index_path, &good).unwrap();
    keys_ok(gateway.config_path(), "rotate", &["--alg", "RS256"]);
    let new_kid = current_kid(&keys_dir, "RS256");
    assert!(
        eventually(Duration::from_secs(15), || jwks_kids(&gateway)
            .contains(&new_kid)),
        "repaired directory not picked up; log:\n{}",
        gateway.logs()
    );
    assert!(before.is_subset(&jwks_kids(&gateway)));
}
