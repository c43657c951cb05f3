//! `govgate check` run as a real process on configuration files in a temp dir: exit 0
//! and a summary for good files, exit 2 and exact `file:line:column: key: message`
//! lines for bad ones.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one `govgate check` run printed and returned.
struct Outcome {
    code: i32,
    stdout: String,
    stderr_lines: Vec<String>,
}

fn check(config: &Path) -> Outcome {
    let output = Command::new(env!("CARGO_BIN_EXE_govgate"))
        .arg("check")
        .arg("--config")
        .arg(config)
        .env_remove("GOVGATE_CONFIG")
        .output()
        .expect("run govgate check");
    Outcome {
        code: output.status.code().expect("exit code"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr_lines: String::from_utf8(output.stderr)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
    }
}

/// Writes `text` as `govgate.toml` in a fresh temp dir and checks it.
fn check_text(text: &str) -> (tempfile::TempDir, PathBuf, Outcome) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("govgate.toml");
    std::fs::write(&file, text).unwrap();
    let outcome = check(&file);
    (dir, file, outcome)
}

/// Asserts exit code 2 and exactly these problem lines (each prefixed with the file).
fn assert_problems(text: &str, expected: &[&str]) {
    let (_dir, file, outcome) = check_text(text);
    let expected: Vec<String> = expected
        .iter()
        .map(|line| format!("{}:{line}", file.display()))
        .collect();
    assert_eq!(outcome.stderr_lines, expected, "config:\n{text}");
    assert_eq!(outcome.code, 2);
    assert_eq!(outcome.stdout, "");
}

/// A self-signed certificate and key made by the real `openssl` tool.
fn openssl_cert(dir: &Path, name: &str) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ])
        .args(["-subj", &format!("/CN={name}"), "-keyout"])
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt")))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success());
}

const APP: &str = "[[apps]]\nid = \"mot-cua\"\nname = \"Một cửa điện tử\"\nupstreams = [\"http://10.10.1.11:8080\"]\n";

#[test]
fn shipped_example_passes() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/govgate.toml");
    let outcome = check(&example);
    assert_eq!(outcome.stderr_lines, Vec::<String>::new());
    assert_eq!(outcome.code, 0);
    assert_eq!(
        outcome.stdout,
        format!(
            "{}: OK — 4 apps, HTTP on 0.0.0.0:8080, store redb\n",
            example.display()
        )
    );
}

#[test]
fn example_with_tls_enabled_passes_with_openssl_certificates() {
    let dir = tempfile::tempdir().unwrap();
    openssl_cert(dir.path(), "namdinh.gov.vn");
    openssl_cert(dir.path(), "dichvucong.namdinh.gov.vn");
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/govgate.toml"),
    )
    .unwrap();
    let enabled = example
        .replace("# https_listen =", "https_listen =")
        .replace("# redirect_http_to_https =", "redirect_http_to_https =")
        .replace("# hsts =", "hsts =")
        .replace("# [tls]", "[tls]")
        .replace("# min_version", "min_version")
        .replace("# watch_interval", "watch_interval")
        .replace("# [[tls.certificates]]", "[[tls.certificates]]")
        .replace("# cert = \"/etc/govgate/tls/", "cert = \"")
        .replace("# key = \"/etc/govgate/tls/", "key = \"")
        .replace(".fullchain.pem", ".crt")
        .replace(".key.pem", ".key");
    let file = dir.path().join("govgate.toml");
    std::fs::write(&file, enabled).unwrap();
    // The example's [directory] names the demo users file beside it.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.toml"),
        dir.path().join("users.toml"),
    )
    .unwrap();
    let outcome = check(&file);
    assert_eq!(outcome.stderr_lines, Vec::<String>::new());
    assert_eq!(outcome.code, 0);
    assert!(
        outcome.stdout.ends_with(": OK — 4 apps, HTTP on 0.0.0.0:8080, HTTPS on 0.0.0.0:8443 with 2 certificates, store redb\n"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn unknown_top_level_key() {
    assert_problems(
        "data_dir = \"state\"\nlisten = \"0.0.0.0:80\"\n",
        &["2:1: listen: unknown key `listen`; allowed keys: `data_dir`, `server`, `tls`, `store`, `log`, `apps`, `session`, `audit`, `portal`, `identity_headers`, `admin`, `directory`, `policy`, `oidc`, `signatures`"],
    );
}

#[test]
fn unknown_nested_key() {
    assert_problems(
        "[log]\nlevel = \"info\"\nformt = \"json\"\n",
        &["3:1: log.formt: unknown key `formt`; allowed keys: `format`, `level`, `access_log`"],
    );
}

#[test]
fn unknown_key_inside_second_app() {
    let text = format!("{APP}\n[[apps]]\nid = \"mail\"\nname = \"Mail\"\nupstreams = [\"http://10.10.1.31\"]\n  timeout = \"5s\"\n");
    let (_dir, file, outcome) = check_text(&text);
    assert_eq!(outcome.code, 2);
    assert_eq!(outcome.stderr_lines.len(), 1, "{:?}", outcome.stderr_lines);
    let expected = format!(
        "{}:10:3: apps[1].timeout: unknown key `timeout`; allowed keys: `id`, `name`, `hosts`, ",
        file.display()
    );
    assert!(
        outcome.stderr_lines[0].starts_with(&expected),
        "{:?}",
        outcome.stderr_lines
    );
    assert!(
        outcome.stderr_lines[0]
            .ends_with("`health`, `retries`, `access`, `accept_bearer`, `require_signature`"),
        "{:?}",
        outcome.stderr_lines
    );
}

#[test]
fn wrong_type() {
    assert_problems(
        "[server]\nh2c = \"yes\"\n",
        &["2:7: server.h2c: invalid type: string \"yes\", expected a boolean"],
    );
}

#[test]
fn bad_duration() {
    assert_problems(
        "[server]\nkeepalive_timeout = \"75 fortnights\"\n",
        &["2:21: server.keepalive_timeout: invalid duration \"75 fortnights\": unknown time unit \"fortnights\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)"],
    );
}

#[test]
fn bad_size() {
    assert_problems(
        "[server]\nmax_header_bytes = \"32 KB please\"\n",
        &["2:20: server.max_header_bytes: invalid size \"32 KB please\": unknown unit \"kb please\" (use B, KB, MB, GB, KiB, MiB or GiB)"],
    );
}

#[test]
fn duplicate_app_id() {
    let text = format!(
        "{APP}\n{}",
        APP.replace("10.10.1.11", "10.10.1.12")
            .replace("name = ", "path_prefix = \"/b\"\nname = ")
    );
    assert_problems(
        &text,
        &["7:6: apps[1].id: duplicate app id \"mot-cua\" (also apps[0])"],
    );
}

#[test]
fn bad_host() {
    let text = APP.replace(
        "name = ",
        "hosts = [\"motcua.namdinh.gov.vn\", \"https://motcua.namdinh.gov.vn:443\"]\nname = ",
    );
    assert_problems(
        &text,
        &["3:35: apps[0].hosts[1]: \"https://motcua.namdinh.gov.vn:443\" is a URL; write only the host name, without scheme"],
    );
}

#[test]
fn bad_upstream_url() {
    let text = APP.replace(
        "\"http://10.10.1.11:8080\"",
        "\"http://10.10.1.11:8080\", \"10.10.1.12:8080\"",
    );
    assert_problems(
        &text,
        &["4:40: apps[0].upstreams[1]: \"10.10.1.12:8080\" needs a scheme: http:// or https://"],
    );
}

#[test]
fn missing_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    openssl_cert(dir.path(), "portal");
    let text = "[server]\nhttps_listen = \"0.0.0.0:8443\"\n\n[[tls.certificates]]\ncert = \"certs/portal.crt\"\nkey = \"portal.key\"\n";
    let file = dir.path().join("govgate.toml");
    std::fs::write(&file, text).unwrap();
    let outcome = check(&file);
    let d = dir.path().display();
    assert_eq!(
        outcome.stderr_lines,
        [format!(
            "{d}/govgate.toml:5:8: tls.certificates[0].cert: file not found: {d}/certs/portal.crt"
        )]
    );
    assert_eq!(outcome.code, 2);
}

#[test]
fn cert_file_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    openssl_cert(dir.path(), "portal");
    // A common mistake: the key file named as the certificate.
    let text = "[server]\nhttps_listen = \"0.0.0.0:8443\"\n\n[[tls.certificates]]\ncert = \"portal.key\"\nkey = \"portal.key\"\n";
    let file = dir.path().join("govgate.toml");
    std::fs::write(&file, text).unwrap();
    let outcome = check(&file);
    let d = dir.path().display();
    assert_eq!(
        outcome.stderr_lines,
        [format!(
            "{d}/govgate.toml:5:8: tls.certificates[0].cert: {d}/portal.key contains no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )]
    );
    assert_eq!(outcome.code, 2);
}

#[test]
fn https_without_tls() {
    assert_problems(
        "[server]\nhttps_listen = \"0.0.0.0:8443\"\nredirect_http_to_https = true\n",
        &["2:16: server.https_listen: an HTTPS listener needs a [tls] section with at least one [[tls.certificates]] entry"],
    );
}

#[test]
fn several_problems_are_all_reported() {
    let text = format!(
        "[server]\nworkers = 512\n\n[log]\nlevel = \"debug,=nonsense=\"\n\n{APP}hosts = [\"*.*.namdinh.gov.vn\"]\npath_prefix = \"/a/../b\"\n\n[store]\nbackend = \"redis\"\n"
    );
    let (_dir, file, outcome) = check_text(&text);
    let lines: Vec<String> = outcome
        .stderr_lines
        .iter()
        .map(|line| line.replacen(&file.display().to_string(), "F", 1))
        .collect();
    assert_eq!(outcome.code, 2);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!(
        lines[0],
        "F:2:11: server.workers: at most 256 workers (0 = one per core)"
    );
    assert_eq!(
        lines[1],
        "F:15:11: store.backend: backend \"redis\" requires a [store.redis] section with `urls`"
    );
    assert!(
        lines[2].starts_with("F:5:9: log.level: invalid log filter \"debug,=nonsense=\": "),
        "{lines:#?}"
    );
    assert_eq!(lines[3], "F:11:10: apps[0].hosts[0]: \"*.*.namdinh.gov.vn\": only one leading \"*.\" wildcard label is allowed");
    assert_eq!(
        lines[4],
        "F:12:15: apps[0].path_prefix: \"/a/../b\" must not contain '.' or '..' segments"
    );
}

#[test]
fn shape_problems_in_several_sections_are_all_reported() {
    let text = format!("[server]\nworkers = -1\n\n{APP}max_body = \"lots\"\nbogus = true\n");
    let (_dir, file, outcome) = check_text(&text);
    let lines: Vec<String> = outcome
        .stderr_lines
        .iter()
        .map(|line| line.replacen(&file.display().to_string(), "F", 1))
        .collect();
    assert_eq!(outcome.code, 2);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(
        lines[0],
        "F:2:11: server.workers: invalid value: integer `-1`, expected usize"
    );
    assert!(
        lines[1].starts_with("F:8:12: apps[0].max_body: invalid size \"lots\""),
        "{lines:#?}"
    );
}

#[test]
fn toml_syntax_error_is_located() {
    let (_dir, file, outcome) = check_text("[server]\nworkers = 4\nh2c = tru\n");
    assert_eq!(outcome.code, 2);
    assert_eq!(outcome.stderr_lines.len(), 1, "{:?}", outcome.stderr_lines);
    let prefix = format!("{}:3:7: (syntax): invalid TOML: ", file.display());
    assert!(
        outcome.stderr_lines[0].starts_with(&prefix),
        "{:?}",
        outcome.stderr_lines
    );
}

#[test]
fn unreadable_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("missing.toml");
    let outcome = check(&file);
    assert_eq!(outcome.code, 2);
    assert_eq!(outcome.stderr_lines.len(), 1);
    let prefix = format!(
        "{}:1:1: (file): cannot read the configuration file: ",
        file.display()
    );
    assert!(
        outcome.stderr_lines[0].starts_with(&prefix),
        "{:?}",
        outcome.stderr_lines
    );
}

#[test]
fn upstream_client_key_of_another_certificate() {
    let dir = tempfile::tempdir().unwrap();
    openssl_cert(dir.path(), "client");
    openssl_cert(dir.path(), "other");
    let text = format!(
        "{APP}upstream_client_cert = \"client.crt\"\nupstream_client_key = \"other.key\"\n"
    );
    let file = dir.path().join("govgate.toml");
    std::fs::write(&file, text).unwrap();
    let outcome = check(&file);
    let d = dir.path().display();
    assert_eq!(
        outcome.stderr_lines,
        [format!(
            "{d}/govgate.toml:6:23: apps[0].upstream_client_key: {d}/other.key is not the private key of the certificate in {d}/client.crt"
        )]
    );
    assert_eq!(outcome.code, 2);
}
