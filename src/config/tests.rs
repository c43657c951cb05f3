//! Loader tests: exact locations and messages for shape errors, semantic rules, and
//! referenced files.

use std::path::Path;

use super::*;

pub(crate) const FILE: &str = "/etc/govgate/govgate.toml";

/// Problem lines for `text` (with the file shown as `F`), or none when it loads.
pub(crate) fn problems(text: &str) -> Vec<String> {
    match parse(Path::new(FILE), text) {
        Ok(_) => Vec::new(),
        Err(error) => error
            .problems
            .iter()
            .map(|p| p.to_string().replacen(FILE, "F", 1))
            .collect(),
    }
}

fn assert_problems(text: &str, expected: &[&str]) {
    assert_eq!(problems(text), expected, "config:\n{text}");
}

const MINIMAL_APP: &str =
    "[[apps]]\nid = \"mot-cua\"\nname = \"Một cửa\"\nupstreams = [\"http://10.0.0.5:8080\"]\n";

#[test]
fn minimal_config_loads_with_defaults_and_absolute_paths() {
    let config = parse(Path::new(FILE), MINIMAL_APP).unwrap();
    assert_eq!(config.data_dir, Path::new("/etc/govgate/govgate-data"));
    assert_eq!(config.apps.len(), 1);
    assert_eq!(config.apps[0].path_prefix, "/");
    assert_eq!(config.server.max_header_bytes, ByteSize(32 * 1024));
    assert!(config.tls.is_none());
}

#[test]
fn empty_file_is_a_valid_config() {
    let config = parse(Path::new(FILE), "").unwrap();
    assert!(config.apps.is_empty());
}

#[test]
fn unknown_top_level_key_points_at_the_key() {
    assert_problems(
        "data_dir = \"/var/lib/govgate\"\nlisten = \"0.0.0.0:80\"\n",
        &["F:2:1: listen: unknown key `listen`; allowed keys: `data_dir`, `server`, `tls`, `store`, `log`, `apps`, `session`, `audit`, `portal`, `identity_headers`, `admin`, `directory`, `policy`, `oidc`, `signatures`"],
    );
}

#[test]
fn unknown_nested_key_points_at_the_key() {
    let lines = problems("[server]\nworkers = 2\n  max_header_size = \"8KiB\"\n");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("F:3:3: server.max_header_size: unknown key `max_header_size`; allowed keys: `http_listen`, "),
        "{lines:?}"
    );
    assert!(lines[0].contains("`max_header_bytes`"), "{lines:?}");
}

#[test]
fn unknown_key_in_second_app_names_its_index() {
    let text = format!(
        "{MINIMAL_APP}\n[[apps]]\nid = \"qlvb\"\nname = \"QLVB\"\nupstream = [\"http://x\"]\n"
    );
    let lines = problems(&text);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0]
            .starts_with("F:9:1: apps[1].upstream: unknown key `upstream`; allowed keys: `id`, "),
        "{lines:?}"
    );
}

#[test]
fn wrong_type_bad_duration_and_bad_size_in_different_sections_are_all_reported() {
    let text = "[server]\nworkers = \"four\"\n\n[log]\nlevel = 3\n\n[[apps]]\nid = \"a\"\nname = \"A\"\nupstreams = [\"http://x\"]\nmax_body = \"12 parsecs\"\n\n[[apps]]\nid = \"b\"\nname = \"B\"\nupstreams = [\"http://x\"]\ntimeouts = { connect = \"5 fortnights\" }\n";
    assert_problems(
        text,
        &[
            "F:2:11: server.workers: invalid type: string \"four\", expected usize",
            "F:5:9: log.level: invalid type: integer `3`, expected a string",
            "F:11:12: apps[0].max_body: invalid size \"12 parsecs\": unknown unit \"parsecs\" (use B, KB, MB, GB, KiB, MiB or GiB)",
            "F:17:24: apps[1].timeouts.connect: invalid duration \"5 fortnights\": unknown time unit \"fortnights\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)",
        ],
    );
}

#[test]
fn missing_required_key_is_named() {
    assert_problems(
        "[[apps]]\nid = \"a\"\nname = \"A\"\n",
        &["F:1:1: apps[0].upstreams: missing required key `upstreams`"],
    );
}

#[test]
fn unknown_enum_value_lists_choices() {
    assert_problems(
        "[store]\nbackend = \"mongodb\"\n",
        &["F:2:11: store.backend: unknown variant `mongodb`, expected `redb` or `redis`"],
    );
}

#[test]
fn toml_syntax_error_is_located() {
    let lines = problems("[server]\nworkers = 4\nh2c = tru\n");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("F:3:7: (syntax): invalid TOML: "),
        "{lines:?}"
    );
}

#[test]
fn semantic_problems_are_all_collected_and_located() {
    let text = r#"
[server]
https_listen = "0.0.0.0:8443"
workers = 1000
redirect_http_to_https = true

[log]
level = "govgate=verbose"

[[apps]]
id = "Mot_Cua"
name = " "
hosts = ["MotCua.NamDinh.gov.vn", "https://x.vn", "a.vn:443", "*.*.vn"]
path_prefix = "mail"
upstreams = ["ftp://10.0.0.5", "http://10.0.0.5/?x=1"]
upstream_client_cert = "client.pem"

[[apps]]
id = "qlvb"
name = "QLVB"
upstreams = []
timeouts = { connect = 0 }
"#;
    assert_problems(
        text,
        &[
            "F:4:11: server.workers: at most 256 workers (0 = one per core)",
            "F:3:16: server.https_listen: an HTTPS listener needs a [tls] section with at least one [[tls.certificates]] entry",
            "F:8:9: log.level: invalid log filter \"govgate=verbose\": error parsing level filter: expected one of \"off\", \"error\", \"warn\", \"info\", \"debug\", \"trace\", or a number 0-5",
            "F:11:6: apps[0].id: \"Mot_Cua\" is not a valid id: use lowercase letters, digits and '-'",
            "F:12:8: apps[0].name: must not be empty",
            "F:13:35: apps[0].hosts[1]: \"https://x.vn\" is a URL; write only the host name, without scheme",
            "F:13:51: apps[0].hosts[2]: \"a.vn:443\" contains a port; write only the host name",
            "F:13:63: apps[0].hosts[3]: \"*.*.vn\": only one leading \"*.\" wildcard label is allowed",
            "F:14:15: apps[0].path_prefix: \"mail\" must start with '/'",
            "F:15:14: apps[0].upstreams[0]: \"ftp://10.0.0.5\": scheme must be http or https, not \"ftp\"",
            "F:15:32: apps[0].upstreams[1]: \"http://10.0.0.5/?x=1\" must not have a query ('?')",
            "F:16:24: apps[0].upstream_client_cert: requires `upstream_client_key` as well",
            "F:21:13: apps[1].upstreams: at least one upstream URL is required",
            "F:22:24: apps[1].timeouts.connect: must be longer than zero",
            "F:16:24: apps[0].upstream_client_cert: file not found: /etc/govgate/client.pem",
        ],
    );
}

#[test]
fn hosts_are_lowercased() {
    let text = MINIMAL_APP.replace(
        "name =",
        "hosts = [\"MotCua.NamDinh.gov.vn\", \"*.Tinh.VN\"]\nname =",
    );
    let config = parse(Path::new(FILE), &text).unwrap();
    assert_eq!(config.apps[0].hosts, ["motcua.namdinh.gov.vn", "*.tinh.vn"]);
}

#[test]
fn duplicate_ids_and_conflicting_routes() {
    let text = r#"
[[apps]]
id = "mail"
name = "Mail"
hosts = ["mail.namdinh.gov.vn"]
path_prefix = "/webmail"
upstreams = ["http://10.0.0.7"]

[[apps]]
id = "mail"
name = "Mail 2"
hosts = ["other.namdinh.gov.vn", "mail.namdinh.gov.vn"]
path_prefix = "/webmail/"
upstreams = ["http://10.0.0.8"]

[[apps]]
id = "a"
name = "A"
upstreams = ["http://10.0.0.9"]

[[apps]]
id = "b"
name = "B"
upstreams = ["http://10.0.0.10"]
"#;
    assert_problems(
        text,
        &[
            "F:10:6: apps[1].id: duplicate app id \"mail\" (also apps[0])",
            "F:12:34: apps[1].hosts[1]: host \"mail.namdinh.gov.vn\" with path prefix \"/webmail\" is already served by apps[0] (\"mail\")",
            "F:21:1: apps[3].path_prefix: any host with path prefix \"/\" is already served by apps[2] (\"a\")",
        ],
    );
}

#[test]
fn tls_store_and_hsts_rules() {
    let text = r#"
[server]
redirect_http_to_https = true
hsts = { max_age = "1y" }

[tls]
certificates = []
min_version = "1.1"

[store]
backend = "redis"
"#;
    assert_problems(
        text,
        &[
            "F:3:26: server.redirect_http_to_https: requires server.https_listen",
            "F:4:8: server.hsts: requires server.https_listen",
            "F:7:16: tls.certificates: at least one certificate is required",
            "F:8:15: tls.min_version: must be \"1.2\" or \"1.3\", not \"1.1\"",
            "F:11:11: store.backend: backend \"redis\" requires a [store.redis] section with `urls`",
        ],
    );
    assert_problems(
        "[store.redis]\nmode = \"sentinel\"\nurls = [\"redis://a:26379\", \"http://b\"]\n",
        &[
            "F:3:28: store.redis.urls[1]: \"http://b\" must start with redis:// or rediss://",
            "F:2:8: store.redis.mode: sentinel mode requires `master_name`",
        ],
    );
}

/// A certificate and key written by rcgen into `dir`.
fn write_cert_pair(dir: &Path) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sso.namdinh.gov.vn".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

#[test]
fn referenced_files_resolve_relative_to_the_config_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    write_cert_pair(dir.path());
    let text = r#"data_dir = "state"
[server]
https_listen = "127.0.0.1:8443"
[tls]
certificates = [{ cert = "cert.pem", key = "key.pem" }]
"#;
    let file = dir.path().join("govgate.toml");
    std::fs::write(&file, text).unwrap();
    let config = load(&file).unwrap();
    let tls = config.tls.unwrap();
    assert_eq!(tls.certificates[0].cert, dir.path().join("cert.pem"));
    assert_eq!(config.data_dir, dir.path().join("state"));
}

#[test]
fn missing_and_wrong_files_are_reported_at_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    write_cert_pair(dir.path());
    std::fs::write(dir.path().join("not-a-cert.pem"), "hello\n").unwrap();
    let text = r#"[server]
https_listen = "127.0.0.1:8443"
[[tls.certificates]]
cert = "missing.pem"
key = "cert.pem"
[[tls.certificates]]
cert = "not-a-cert.pem"
key = "key.pem"
[[apps]]
id = "a"
name = "A"
upstreams = ["https://10.0.0.1"]
upstream_ca_file = "key.pem"
"#;
    let file = dir.path().join("govgate.toml");
    std::fs::write(&file, text).unwrap();
    let error = load(&file).unwrap_err();
    let d = dir.path().display();
    let lines: Vec<String> = error.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        lines,
        [
            format!("{d}/govgate.toml:4:8: tls.certificates[0].cert: file not found: {d}/missing.pem"),
            format!("{d}/govgate.toml:5:7: tls.certificates[0].key: {d}/cert.pem contains no PEM private key (-----BEGIN PRIVATE KEY-----)"),
            format!("{d}/govgate.toml:7:8: tls.certificates[1].cert: {d}/not-a-cert.pem contains no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            format!("{d}/govgate.toml:13:20: apps[0].upstream_ca_file: {d}/key.pem contains no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        ]
    );
}

#[test]
fn unreadable_config_file_is_one_problem() {
    let error = load(Path::new("/nonexistent/govgate.toml")).unwrap_err();
    assert_eq!(error.problems.len(), 1);
    assert!(error.to_string().starts_with(
        "/nonexistent/govgate.toml:1:1: (file): cannot read the configuration file: "
    ));
}

#[test]
fn private_key_of_another_certificate_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_cert_pair(dir.path());
    std::fs::rename(dir.path().join("key.pem"), dir.path().join("old-key.pem")).unwrap();
    write_cert_pair(dir.path());
    let text = "[server]\nhttps_listen = \"127.0.0.1:8443\"\n[[tls.certificates]]\ncert = \"cert.pem\"\nkey = \"old-key.pem\"\n";
    let file = dir.path().join("govgate.toml");
    std::fs::write(&file, text).unwrap();
    let error = load(&file).unwrap_err();
    let d = dir.path().display();
    assert_eq!(
        error.to_string(),
        format!("{d}/govgate.toml:5:7: tls.certificates[0].key: {d}/old-key.pem is not the private key of the certificate in {d}/cert.pem")
    );
}
