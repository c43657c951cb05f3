//! TLS termination against real clients (tokio-rustls, curl) and real servers (nginx
//! with client-certificate checks): ALPN, SNI selection, protocol versions, hot reload,
//! the development certificate and upstream mTLS.

#[path = "tls/kit.rs"]
mod kit;
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use govgate::config::CertificateConfig;
use govgate::server::tls::{
    ensure_dev_certificate, upstream_client_config, TlsError, TlsTerminator,
};
use kit::*;
use support::nginx::Nginx;

// ---------- ALPN and HTTP versions ----------

#[tokio::test]
async fn alpn_prefers_h2_and_falls_back_to_http11() {
    let dir = tempfile::tempdir().unwrap();
    let leaf = TestCa::new(dir.path(), "main").issue("app", &["app.test"]);
    let addr = serve(terminator(vec![leaf.files], "1.2"));

    let both = connect(addr, Some("app.test"), &[b"h2", b"http/1.1"]).await;
    assert_eq!(both.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let http11_only = connect(addr, Some("app.test"), &[b"http/1.1"]).await;
    assert_eq!(
        http11_only.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..])
    );
}

#[test]
fn curl_trusting_the_ca_gets_http11_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "main");
    let leaf = ca.issue("app", &["app.test"]);
    let addr = serve(terminator(vec![leaf.files], "1.2"));
    let url = format!("https://app.test:{}/", addr.port());
    let ca_path = ca.ca_path("main");
    let ca_path = ca_path.to_str().unwrap();

    let http11 = curl(&[
        "--http1.1",
        "--cacert",
        ca_path,
        "--resolve",
        &resolve("app.test", addr),
        &url,
    ]);
    assert!(http11.status.success(), "{}", describe(&http11));
    assert_eq!(
        String::from_utf8_lossy(&http11.stdout),
        "hello over HTTP/1.1"
    );

    let http2 = curl(&[
        "--http2",
        "--cacert",
        ca_path,
        "--resolve",
        &resolve("app.test", addr),
        &url,
    ]);
    assert!(http2.status.success(), "{}", describe(&http2));
    assert_eq!(
        String::from_utf8_lossy(&http2.stdout),
        "hello over HTTP/2.0"
    );

    // A CA the server's chain does not lead to is refused (curl exit 60).
    let other_ca = TestCa::new(dir.path(), "other");
    let other_ca_path = other_ca.ca_path("other");
    let untrusted = curl(&[
        "--cacert",
        other_ca_path.to_str().unwrap(),
        "--resolve",
        &resolve("app.test", addr),
        &url,
    ]);
    assert_eq!(
        untrusted.status.code(),
        Some(60),
        "{}",
        describe(&untrusted)
    );
}

// ---------- SNI ----------

#[tokio::test]
async fn sni_selects_the_certificate_whose_san_matches() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "main");
    let portal = ca.issue("portal", &["portal.namdinh.gov.vn"]);
    let motcua = ca.issue(
        "motcua",
        &["motcua.namdinh.gov.vn", "*.apps.namdinh.gov.vn"],
    );
    let addr = serve(terminator(
        vec![portal.files.clone(), motcua.files.clone()],
        "1.2",
    ));

    for (sni, expected, why) in [
        ("motcua.namdinh.gov.vn", &motcua.der, "exact SAN"),
        (
            "MotCua.NamDinh.Gov.Vn",
            &motcua.der,
            "names compare case-insensitively",
        ),
        ("vanban.apps.namdinh.gov.vn", &motcua.der, "wildcard SAN"),
        (
            "portal.namdinh.gov.vn",
            &portal.der,
            "exact SAN of the first certificate",
        ),
        (
            "a.b.apps.namdinh.gov.vn",
            &portal.der,
            "a wildcard covers one label only: default",
        ),
        (
            "apps.namdinh.gov.vn",
            &portal.der,
            "a wildcard needs a label: default",
        ),
    ] {
        let stream = connect(addr, Some(sni), &[b"http/1.1"]).await;
        assert!(presented_leaf(&stream) == *expected, "SNI {sni}: {why}");
    }
}

#[tokio::test]
async fn unknown_or_absent_sni_gets_the_first_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "main");
    let first = ca.issue("first", &["first.test"]);
    let second = ca.issue("second", &["second.test"]);
    let addr = serve(terminator(
        vec![first.files.clone(), second.files.clone()],
        "1.2",
    ));

    let unknown = connect(addr, Some("unknown.test"), &[b"http/1.1"]).await;
    assert!(
        presented_leaf(&unknown) == first.der,
        "unknown SNI must get the default certificate"
    );
    let absent = connect(addr, None, &[b"http/1.1"]).await;
    assert!(
        presented_leaf(&absent) == first.der,
        "no SNI must get the default certificate"
    );
    let known = connect(addr, Some("second.test"), &[b"http/1.1"]).await;
    assert!(
        presented_leaf(&known) == second.der,
        "control: the second certificate is reachable"
    );
}

// ---------- protocol versions ----------

/// curl limited to `max` (and, for versions OpenSSL now disables, allowed to offer them).
fn curl_with_tls_max(ca: &Path, addr: SocketAddr, max: &str) -> Output {
    let mut args = vec!["--cacert", ca.to_str().unwrap(), "--tls-max", max];
    if max == "1.1" {
        // OpenSSL's default security level would refuse TLS 1.1 on the client side;
        // lower it so any refusal observed comes from the server.
        args.extend(["--tlsv1.1", "--ciphers", "DEFAULT@SECLEVEL=0"]);
    }
    let resolve_arg = resolve("app.test", addr);
    let url = format!("https://app.test:{}/", addr.port());
    args.extend(["--resolve", &resolve_arg, &url]);
    curl(&args)
}

/// curl failed because the server sent a TLS alert (a client-side refusal names no alert).
fn refused_by_server_alert(output: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&output.stderr).to_ascii_lowercase();
    output.status.code() == Some(35) && stderr.contains("alert")
}

#[test]
fn tls_11_is_refused_and_tls_12_accepted_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "main");
    let addr = serve(terminator(
        vec![ca.issue("app", &["app.test"]).files],
        "1.2",
    ));

    let tls11 = curl_with_tls_max(&ca.ca_path("main"), addr, "1.1");
    assert!(refused_by_server_alert(&tls11), "{}", describe(&tls11));
    let tls12 = curl_with_tls_max(&ca.ca_path("main"), addr, "1.2");
    assert!(tls12.status.success(), "{}", describe(&tls12));
}

#[test]
fn min_version_13_refuses_tls_12() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "main");
    let addr = serve(terminator(
        vec![ca.issue("app", &["app.test"]).files],
        "1.3",
    ));

    let tls12 = curl_with_tls_max(&ca.ca_path("main"), addr, "1.2");
    assert!(refused_by_server_alert(&tls12), "{}", describe(&tls12));
    let tls13 = curl_with_tls_max(&ca.ca_path("main"), addr, "1.3");
    assert!(tls13.status.success(), "{}", describe(&tls13));
}

#[test]
fn invalid_configurations_are_refused() {
    govgate::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let leaf = TestCa::new(dir.path(), "main").issue("app", &["app.test"]);
    let old_version = TlsTerminator::new(&tls_config(vec![leaf.files.clone()], "1.1"));
    assert!(matches!(old_version, Err(TlsError::MinVersion(v)) if v == "1.1"));
    assert!(matches!(
        TlsTerminator::new(&tls_config(vec![], "1.2")),
        Err(TlsError::NoCertificates)
    ));

    let missing = CertificateConfig {
        cert: dir.path().join("absent.pem"),
        key: leaf.files.key.clone(),
    };
    assert!(matches!(
        TlsTerminator::new(&tls_config(vec![missing], "1.2")),
        Err(TlsError::Read { .. })
    ));
    let key_as_cert = CertificateConfig {
        cert: leaf.files.key.clone(),
        key: leaf.files.key.clone(),
    };
    assert!(matches!(
        TlsTerminator::new(&tls_config(vec![key_as_cert], "1.2")),
        Err(TlsError::NoCertificate { .. })
    ));
}

// ---------- reload ----------

#[tokio::test]
async fn reload_serves_new_certificate_to_new_connections_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "main");
    let original = ca.issue("app", &["app.test"]);
    let terminator = terminator(vec![original.files.clone()], "1.2");
    let addr = serve(terminator.clone());

    let before = connect(addr, Some("app.test"), &[b"http/1.1"]).await;
    assert!(presented_leaf(&before) == original.der);
    let mut open_connection = http1_connection(before).await;
    assert_eq!(get(&mut open_connection).await.0, 200);

    assert!(
        !terminator.reload().unwrap(),
        "unchanged files: nothing to reload"
    );
    let renewed = ca.issue("app", &["app.test"]); // same files, new key and certificate
    assert!(
        terminator.reload().unwrap(),
        "changed files must be reloaded"
    );

    let after = connect(addr, Some("app.test"), &[b"http/1.1"]).await;
    assert!(
        presented_leaf(&after) == renewed.der,
        "new connections see the renewed certificate"
    );
    assert_eq!(
        get(&mut open_connection).await,
        (200, "hello over HTTP/1.1".to_string())
    );
}

#[tokio::test]
async fn broken_files_on_reload_keep_the_old_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "main");
    let original = ca.issue("app", &["app.test"]);
    let stranger = ca.issue("stranger", &["stranger.test"]);
    let terminator = terminator(vec![original.files.clone()], "1.2");
    let addr = serve(terminator.clone());
    let original_key = std::fs::read(&original.files.key).unwrap();

    std::fs::write(
        &original.files.key,
        "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let corrupt = terminator.reload();
    assert!(
        matches!(
            corrupt,
            Err(TlsError::Pem { .. } | TlsError::NoPrivateKey { .. })
        ),
        "{corrupt:?}"
    );

    std::fs::write(&original.files.key, "").unwrap();
    assert!(matches!(
        terminator.reload(),
        Err(TlsError::NoPrivateKey { .. })
    ));

    std::fs::copy(&stranger.files.key, &original.files.key).unwrap();
    let mismatch = terminator.reload();
    assert!(
        matches!(mismatch, Err(TlsError::KeyMismatch { .. })),
        "{mismatch:?}"
    );

    let stream = connect(addr, Some("app.test"), &[b"http/1.1"]).await;
    assert!(
        presented_leaf(&stream) == original.der,
        "the last good certificate stays in force"
    );
    let mut connection = http1_connection(stream).await;
    assert_eq!(get(&mut connection).await.0, 200);

    std::fs::write(&original.files.key, original_key).unwrap();
    assert!(
        !terminator.reload().unwrap(),
        "restored files equal what is in force"
    );
}

#[tokio::test]
async fn watch_reloads_after_the_files_change() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "main");
    let original = ca.issue("app", &["app.test"]);
    let terminator = terminator(vec![original.files.clone()], "1.2");
    let addr = serve(terminator.clone());
    let watcher = tokio::spawn(terminator.clone().watch());

    // Renew the files now and then until a renewal lands after the watcher's first look
    // at the modification times (and in a later clock tick than the previous write).
    let mut renewed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for attempt in 0.. {
        if attempt % 10 == 0 {
            renewed.push(ca.issue("app", &["app.test"]).der);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stream = connect(addr, Some("app.test"), &[b"http/1.1"]).await;
        let presented = presented_leaf(&stream);
        if presented != original.der {
            assert!(
                renewed.contains(&presented),
                "an unknown certificate was presented"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher never picked up the renewed certificate"
        );
    }
    watcher.abort();
}

// ---------- development certificate ----------

#[test]
fn dev_certificate_is_generated_once_and_verifies_against_the_dev_ca() {
    use std::os::unix::fs::PermissionsExt;
    let data_dir = tempfile::tempdir().unwrap();
    let first = ensure_dev_certificate(data_dir.path()).unwrap();
    let cert_bytes = std::fs::read(&first.cert).unwrap();
    let key_bytes = std::fs::read(&first.key).unwrap();
    let second = ensure_dev_certificate(data_dir.path()).unwrap();
    assert_eq!((&first.cert, &first.key), (&second.cert, &second.key));
    assert_eq!(
        std::fs::read(&second.cert).unwrap(),
        cert_bytes,
        "second start reuses the certificate"
    );
    assert_eq!(
        std::fs::read(&second.key).unwrap(),
        key_bytes,
        "second start reuses the key"
    );
    assert_eq!(
        std::fs::metadata(&first.key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let ca_path = data_dir.path().join("tls/dev-ca.pem");
    let ca_pem = std::fs::read(&ca_path).unwrap();
    let ca_der = CertificateDer::pem_slice_iter(&ca_pem)
        .next()
        .unwrap()
        .unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    assert!(
        ca.subject().to_string().contains("govgate demo CA"),
        "{}",
        ca.subject()
    );
    let leaf_der = CertificateDer::pem_slice_iter(&cert_bytes)
        .next()
        .unwrap()
        .unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
    let san = leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter();
    // x509-parser prints IP addresses as hex octets: 127.0.0.1 is 7f:00:00:01.
    let san: Vec<String> = san.map(|name| name.to_string()).collect();
    let ipv6_loopback = format!("IPAddress({}01)", "00:".repeat(15));
    assert!(san.contains(&ipv6_loopback), "::1 missing from {san:?}");
    for expected in [
        "DNSName(localhost)",
        "IPAddress(7f:00:00:01)",
        "DNSName(*.localhost)",
    ] {
        assert!(
            san.iter().any(|n| n == expected),
            "{expected} missing from {san:?}"
        );
    }

    let addr = serve(terminator(vec![first], "1.2"));
    // (curl refuses wildcards over a single-label suffix such as `*.localhost` by policy.)
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}/", addr.port());
        let output = curl(&[
            "--cacert",
            ca_path.to_str().unwrap(),
            "--resolve",
            &resolve(host, addr),
            &url,
        ]);
        assert!(output.status.success(), "{host}: {}", describe(&output));
    }
    let wrong_name = format!("https://govgate.example:{}/", addr.port());
    let output = curl(&[
        "--cacert",
        ca_path.to_str().unwrap(),
        "--resolve",
        &resolve("govgate.example", addr),
        &wrong_name,
    ]);
    assert_eq!(
        output.status.code(),
        Some(60),
        "a name outside the SANs is refused: {}",
        describe(&output)
    );
}

// ---------- upstream client configuration (mTLS towards nginx) ----------

struct MtlsOrigin {
    nginx: Nginx,
    server_ca: PathBuf,
    client: Leaf,
}

/// nginx on HTTPS requiring a client certificate issued by the "clients" CA.
fn mtls_origin() -> MtlsOrigin {
    let dir = Nginx::prepare_dir();
    let server_ca = TestCa::new(dir.path(), "servers");
    server_ca.issue("origin", &["localhost", "127.0.0.1"]);
    let client_ca = TestCa::new(dir.path(), "clients");
    let client = client_ca.issue("govgate-client", &["govgate.namdinh.gov.vn"]);
    let port = support::free_port();
    let block = format!(
        r#"
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {{dir}}/origin.pem;
        ssl_certificate_key {{dir}}/origin-key.pem;
        ssl_client_certificate {{dir}}/clients-ca.pem;
        ssl_verify_client on;
        location / {{ return 200 "verify=$ssl_client_verify subject=$ssl_client_s_dn"; }}
    }}
"#
    );
    let server_ca_path = server_ca.ca_path("servers");
    let nginx = Nginx::start_in(dir, &block, None);
    MtlsOrigin {
        nginx,
        server_ca: server_ca_path,
        client,
    }
}

/// One HTTP/1.1 request over `config`; the status line and body, and the ALPN protocol.
async fn fetch_over(
    config: Arc<ClientConfig>,
    port: u16,
) -> Result<(String, Option<Vec<u8>>), std::io::Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut tls = TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let alpn = tls.get_ref().1.alpn_protocol().map(|p| p.to_vec());
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await?;
    Ok((String::from_utf8_lossy(&response).into_owned(), alpn))
}

#[tokio::test]
async fn upstream_mtls_succeeds_with_client_certificate_and_fails_without() {
    govgate::install_crypto_provider();
    let origin = mtls_origin();
    let port = origin.nginx.port();

    let with_cert = upstream_client_config(
        Some(&origin.server_ca),
        Some((&origin.client.files.cert, &origin.client.files.key)),
    )
    .unwrap();
    let (response, alpn) = fetch_over(with_cert, port).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("verify=SUCCESS"), "{response}");
    assert!(response.contains("CN=govgate.namdinh.gov.vn"), "{response}");
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));

    let without_cert = upstream_client_config(Some(&origin.server_ca), None).unwrap();
    let refused = fetch_over(without_cert, port).await;
    match refused {
        Ok((response, _)) => assert!(response.starts_with("HTTP/1.1 400"), "{response}"),
        Err(error) => panic!("nginx answers a missing client certificate with 400, got {error}"),
    }
}

#[tokio::test]
async fn upstream_client_config_verifies_the_server_certificate() {
    govgate::install_crypto_provider();
    let origin = mtls_origin();
    let client = (
        origin.client.files.cert.as_path(),
        origin.client.files.key.as_path(),
    );

    // Public web roots do not vouch for a test CA.
    let public_roots = upstream_client_config(None, Some(client)).unwrap();
    let error = fetch_over(public_roots, origin.nginx.port())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");

    // A CA file without certificates, and a key that is not the certificate's, are errors.
    let empty = origin.nginx.dir().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        upstream_client_config(Some(&empty), None),
        Err(TlsError::NoCertificate { .. })
    ));
    let mismatched = (
        origin.client.files.cert.as_path(),
        origin.nginx.dir().join("origin-key.pem"),
    );
    let result =
        upstream_client_config(Some(&origin.server_ca), Some((mismatched.0, &mismatched.1)));
    assert!(
        result.is_err(),
        "a client key that does not match its certificate must be refused"
    );
}
