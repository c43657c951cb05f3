//! End-to-end protocol tests of the running gateway (`govgate serve`): WebSocket
//! pass-through, HTTPS with HTTP/1.1 and HTTP/2, SNI certificate choice, TLS versions,
//! h2c, the HTTP→HTTPS redirect and HSTS. Real processes: the gateway binary, nginx,
//! the demo apps, curl and openssl.

mod support;

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use govgate::demo::DemoApps;
use tokio_tungstenite::tungstenite::{self, Message};

use support::gateway::{http_get, http_request, Gateway};
use support::nginx::Nginx;
use support::pki::{curl, describe, presented_subject, resolve_to_loopback, s_client, OpensslCa};

const PORTAL_HOST: &str = "cong.namdinh.test";
const ONE_STOP_HOST: &str = "motcua.namdinh.test";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---------- WebSocket ----------

fn websocket_gateway(apps: &DemoApps) -> Gateway {
    Gateway::start(&format!(
        r#"
[[apps]]
access = "public"
id = "mot-cua"
name = "Một cửa điện tử"
path_prefix = "/mot-cua"
strip_prefix = true
upstreams = ["http://{ws}"]
websocket = true

[[apps]]
access = "public"
id = "van-ban"
name = "Quản lý văn bản"
path_prefix = "/van-ban"
strip_prefix = true
upstreams = ["http://{plain}"]
websocket = false
"#,
        ws = apps.one_stop_shop,
        plain = apps.documents,
    ))
}

#[test]
fn websocket_echo_passes_text_binary_and_close_through_the_gateway() {
    let apps = DemoApps::start().unwrap();
    let gateway = websocket_gateway(&apps);
    let addr = gateway.http_addr();
    runtime().block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/mot-cua/ws");
        let (mut socket, response) = tokio_tungstenite::client_async(url, stream)
            .await
            .expect("WebSocket handshake through the gateway");
        assert_eq!(response.status(), 101);
        assert!(
            response.headers().get("x-request-id").is_some(),
            "{response:?}"
        );

        let greeting = "Xin chào! Hồ sơ số 000.00.25.H40 đã được tiếp nhận — Nam Định";
        socket.send(Message::text(greeting)).await.unwrap();
        match socket.next().await {
            Some(Ok(Message::Text(echoed))) => assert_eq!(echoed.as_str(), greeting),
            other => panic!("expected the text echoed, got {other:?}"),
        }

        let payload: Vec<u8> = (0..100 * 1024).map(|i| (i * 31 % 251) as u8).collect();
        socket.send(Message::binary(payload.clone())).await.unwrap();
        match socket.next().await {
            Some(Ok(Message::Binary(echoed))) => {
                assert_eq!(echoed.len(), payload.len());
                assert!(
                    echoed.as_ref() == payload.as_slice(),
                    "binary payload changed"
                );
            }
            other => panic!("expected the binary echoed, got {other:?}"),
        }

        socket.close(None).await.unwrap();
        // The peer answers the close frame, then the stream ends.
        let mut saw_close = false;
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(_)) => saw_close = true,
                Ok(other) => panic!("unexpected message after close: {other:?}"),
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(error) => panic!("closing handshake failed: {error}"),
            }
        }
        assert!(saw_close, "the app's close frame did not come back");
    });
}

#[test]
fn websocket_upgrade_is_not_passed_to_an_app_without_websocket() {
    let apps = DemoApps::start().unwrap();
    let gateway = websocket_gateway(&apps);
    let addr = gateway.http_addr();
    runtime().block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/van-ban/ws");
        match tokio_tungstenite::client_async(url, stream).await {
            Err(tungstenite::Error::Http(response)) => {
                // The gateway stripped `Upgrade`, so the demo app saw a plain GET.
                assert_eq!(response.status(), 400, "{response:?}");
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
                assert!(body.contains("expected a WebSocket upgrade"), "{body}");
            }
            Ok((_, response)) => panic!("upgrade passed through: {response:?}"),
            Err(error) => panic!("expected an HTTP refusal, got {error}"),
        }
    });
}

// ---------- HTTPS, SNI, TLS versions, HSTS ----------

struct TlsGateway {
    gateway: Gateway,
    ca: std::path::PathBuf,
    _origin: Nginx,
}

impl TlsGateway {
    fn https_addr(&self) -> SocketAddr {
        self.gateway.https_addr().unwrap()
    }

    /// curl to `https://host:port/path` trusting the test CA, plus `extra` flags.
    fn curl_https(&self, host: &str, path: &str, extra: &[&str]) -> std::process::Output {
        let addr = self.https_addr();
        let resolve = resolve_to_loopback(host, addr);
        let url = format!("https://{host}:{}{path}", addr.port());
        let ca = self.ca.to_str().unwrap().to_string();
        let mut args = vec!["--cacert", ca.as_str(), "--resolve", resolve.as_str()];
        args.extend_from_slice(extra);
        args.push(&url);
        curl(&args)
    }
}

/// A gateway with an HTTPS listener serving two certificates (portal first, the default),
/// HSTS on, in front of nginx; `server_extra` goes into `[server]`.
fn tls_gateway(server_extra: &str) -> TlsGateway {
    let dir = tempfile::tempdir().unwrap();
    let ca = OpensslCa::new(dir.path());
    ca.issue("portal", PORTAL_HOST, &[PORTAL_HOST]);
    ca.issue("motcua", ONE_STOP_HOST, &[ONE_STOP_HOST]);
    let origin = Nginx::origin();
    let gateway = Gateway::start_in(
        dir,
        &format!(
            r#"
[server]
http_listen = "{{http_listen}}"
https_listen = "{{https_listen}}"
{server_extra}

[server.hsts]
max_age = "1d"

[tls]
certificates = [
  {{ cert = "{{dir}}/portal.pem", key = "{{dir}}/portal-key.pem" }},
  {{ cert = "{{dir}}/motcua.pem", key = "{{dir}}/motcua-key.pem" }},
]

[[apps]]
access = "public"
id = "cong"
name = "Cổng thông tin"
upstreams = ["{origin}"]
"#,
            origin = origin.url()
        ),
    );
    let ca = gateway.dir().join("ca.pem");
    TlsGateway {
        gateway,
        ca,
        _origin: origin,
    }
}

#[test]
fn https_serves_http11_and_http2_with_a_verified_certificate() {
    let tls = tls_gateway("");
    let http1 = tls.curl_https(PORTAL_HOST, "/", &["--http1.1", "-w", "\n%{http_version}"]);
    assert!(http1.status.success(), "{}", describe(&http1));
    assert_eq!(String::from_utf8_lossy(&http1.stdout), "ok\n1.1");

    let http2 = tls.curl_https(PORTAL_HOST, "/", &["--http2", "-w", "\n%{http_version}"]);
    assert!(http2.status.success(), "{}", describe(&http2));
    assert_eq!(String::from_utf8_lossy(&http2.stdout), "ok\n2");

    // The upstream learned that the client came over HTTPS.
    let echo = tls.curl_https(PORTAL_HOST, "/echo", &["--http2"]);
    let body = String::from_utf8_lossy(&echo.stdout);
    assert!(body.contains("x-forwarded-proto: https"), "{body}");

    // A client that does not trust the test CA refuses the certificate.
    let addr = tls.https_addr();
    let untrusted = curl(&[
        "--resolve",
        &resolve_to_loopback(PORTAL_HOST, addr),
        &format!("https://{PORTAL_HOST}:{}/", addr.port()),
    ]);
    assert_eq!(
        untrusted.status.code(),
        Some(60),
        "{}",
        describe(&untrusted)
    );
}

#[test]
fn sni_selects_the_certificate_for_each_name() {
    let tls = tls_gateway("");
    // curl verifies the name against the presented certificate, so success for both
    // names means each got its own certificate.
    for host in [PORTAL_HOST, ONE_STOP_HOST] {
        let output = tls.curl_https(host, "/", &["-w", "\n%{http_code}"]);
        assert!(output.status.success(), "{host}: {}", describe(&output));
        assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n200");
    }
    let addr = tls.https_addr();
    for (server_name, expected_cn) in [
        (PORTAL_HOST, PORTAL_HOST),
        (ONE_STOP_HOST, ONE_STOP_HOST),
        // An unknown name gets the first (default) certificate.
        ("khac.namdinh.test", PORTAL_HOST),
    ] {
        let output = s_client(addr, server_name, &[]);
        let subject = presented_subject(&output)
            .unwrap_or_else(|| panic!("no certificate for {server_name}: {}", describe(&output)));
        assert!(
            subject.ends_with(&format!("CN = {expected_cn}")),
            "SNI {server_name}: presented {subject}"
        );
    }
}

#[test]
fn tls_11_is_refused_and_tls_12_and_13_are_accepted() {
    let tls = tls_gateway("");
    let addr = tls.https_addr();
    let ca = tls.ca.to_str().unwrap().to_string();

    // Lower the client's own security level so that any refusal comes from the gateway.
    let tls11 = s_client(
        addr,
        PORTAL_HOST,
        &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", &ca],
    );
    assert!(!tls11.status.success(), "{}", describe(&tls11));
    // The refusal is the gateway's TLS alert (rustls answers a TLS 1.1-only hello with
    // handshake_failure), after a hello that really offered TLS 1.1 only.
    let stderr = String::from_utf8_lossy(&tls11.stderr).to_ascii_lowercase();
    let stdout = String::from_utf8_lossy(&tls11.stdout);
    assert!(
        stderr.contains("ssl alert number"),
        "expected a TLS alert from the gateway: {}",
        describe(&tls11)
    );
    assert!(
        stdout.contains("Protocol  : TLSv1.1") && stdout.contains("no peer certificate"),
        "{}",
        describe(&tls11)
    );

    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let output = s_client(addr, PORTAL_HOST, &[flag, "-CAfile", &ca]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{flag}: {}", describe(&output));
        assert!(
            stdout.contains(&format!("New, {version}")),
            "{flag}: {}",
            describe(&output)
        );
        assert!(
            stdout.contains("Verify return code: 0 (ok)"),
            "{flag}: {}",
            describe(&output)
        );
    }
}

#[test]
fn hsts_is_sent_on_https_responses_only() {
    let tls = tls_gateway("");
    let https = tls.curl_https(PORTAL_HOST, "/", &["-D", "-", "-o", "/dev/null"]);
    let head = String::from_utf8_lossy(&https.stdout).to_ascii_lowercase();
    assert!(
        head.contains("strict-transport-security: max-age=86400"),
        "{head}"
    );
    // Gateway error pages over HTTPS carry it too.
    let missing = tls.curl_https(PORTAL_HOST, "/status/404", &["-D", "-", "-o", "/dev/null"]);
    let head = String::from_utf8_lossy(&missing.stdout).to_ascii_lowercase();
    assert!(
        head.starts_with("http/2 404") || head.starts_with("http/1.1 404"),
        "{head}"
    );
    assert!(head.contains("strict-transport-security"), "{head}");

    let plain = http_get(tls.gateway.http_addr(), PORTAL_HOST, "/").unwrap();
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("strict-transport-security"), None);
}

// ---------- h2c ----------

fn h2c_curl(gateway: &Gateway) -> std::process::Output {
    curl(&[
        "--http2-prior-knowledge",
        "-w",
        "\n%{http_version}",
        &format!("{}/", gateway.http_url()),
    ])
}

#[test]
fn h2c_with_prior_knowledge_works_when_enabled() {
    let origin = Nginx::origin();
    let gateway = Gateway::start(&format!(
        "[server]\nhttp_listen = \"{{http_listen}}\"\nh2c = true\n\n[[apps]]\naccess = \"public\"\nid = \"cong\"\nname = \"Cổng\"\nupstreams = [\"{}\"]\n",
        origin.url()
    ));
    let h2 = h2c_curl(&gateway);
    assert!(h2.status.success(), "{}", describe(&h2));
    assert_eq!(String::from_utf8_lossy(&h2.stdout), "ok\n2");
    // HTTP/1.1 keeps working on the same listener.
    let http1 = curl(&[
        "-w",
        "\n%{http_version}",
        &format!("{}/", gateway.http_url()),
    ]);
    assert_eq!(String::from_utf8_lossy(&http1.stdout), "ok\n1.1");
}

#[test]
fn h2c_is_refused_when_disabled() {
    let origin = Nginx::origin();
    let gateway = Gateway::start(&format!(
        "[[apps]]\naccess = \"public\"\nid = \"cong\"\nname = \"Cổng\"\nupstreams = [\"{}\"]\n",
        origin.url()
    ));
    let h2 = h2c_curl(&gateway);
    let spoke_h2 = h2.status.success() && String::from_utf8_lossy(&h2.stdout).ends_with("\n2");
    assert!(!spoke_h2, "h2c answered while disabled: {}", describe(&h2));
    let http1 = curl(&[
        "-w",
        "\n%{http_version}",
        &format!("{}/", gateway.http_url()),
    ]);
    assert_eq!(String::from_utf8_lossy(&http1.stdout), "ok\n1.1");
}

// ---------- HTTP → HTTPS redirect ----------

#[test]
fn plain_http_is_redirected_to_https_except_ops_endpoints() {
    let tls = tls_gateway("redirect_http_to_https = true");
    let http = tls.gateway.http_addr();
    let https_port = tls.https_addr().port();
    let host = format!("{PORTAL_HOST}:{}", http.port());

    let get = http_get(http, &host, "/ho-so/tra-cuu?ma=H40-0012&trang=2").unwrap();
    assert_eq!(get.status, 301, "{get:?}");
    assert_eq!(
        get.header("location"),
        Some(
            format!("https://{PORTAL_HOST}:{https_port}/ho-so/tra-cuu?ma=H40-0012&trang=2")
                .as_str()
        )
    );

    let post = http_request(
        http,
        &format!(
            "POST /ho-so/nop HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        ),
    )
    .unwrap();
    assert_eq!(post.status, 308, "{post:?}");
    assert_eq!(
        post.header("location"),
        Some(format!("https://{PORTAL_HOST}:{https_port}/ho-so/nop").as_str())
    );

    for path in ["/healthz", "/readyz", "/metrics"] {
        let ops = http_get(http, &host, path).unwrap();
        assert_eq!(ops.status, 200, "{path} was not answered directly: {ops:?}");
        assert_eq!(ops.header("location"), None);
    }

    // A request whose Host cannot make a safe Location is refused, never proxied in
    // clear text: the app behind would otherwise answer over plain HTTP.
    for head in [
        format!("GET /echo HTTP/1.1\r\nHost: nguoi@{PORTAL_HOST}\r\nConnection: close\r\n\r\n"),
        "GET /echo HTTP/1.0\r\n\r\n".to_string(),
    ] {
        let refused = http_request(http, &head).unwrap();
        assert_eq!(refused.status, 400, "{head:?}: {refused:?}");
        assert!(
            !refused.text().contains("uri: /echo"),
            "proxied: {refused:?}"
        );
    }

    // Following the redirect lands on the app over HTTPS.
    let followed = tls.curl_https(PORTAL_HOST, "/", &["-w", "\n%{http_code}"]);
    assert_eq!(String::from_utf8_lossy(&followed.stdout), "ok\n200");
}

#[test]
fn websocket_echo_works_over_https() {
    let apps = DemoApps::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = OpensslCa::new(dir.path());
    ca.issue("portal", PORTAL_HOST, &[PORTAL_HOST]);
    let gateway = Gateway::start_in(
        dir,
        &format!(
            r#"
[server]
http_listen = "{{http_listen}}"
https_listen = "{{https_listen}}"

[tls]
certificates = [{{ cert = "{{dir}}/portal.pem", key = "{{dir}}/portal-key.pem" }}]

[[apps]]
access = "public"
id = "mot-cua"
name = "Một cửa điện tử"
path_prefix = "/mot-cua"
strip_prefix = true
upstreams = ["http://{ws}"]
websocket = true
"#,
            ws = apps.one_stop_shop
        ),
    );
    let https = gateway.https_addr().unwrap();
    let ca_file = gateway.dir().join("ca.pem");
    runtime().block_on(async move {
        govgate::install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(&ca_file).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        // WebSocket upgrades need HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(https).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(PORTAL_HOST).unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        let url = format!("wss://{PORTAL_HOST}:{}/mot-cua/ws", https.port());
        let (mut socket, response) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("WebSocket handshake over TLS");
        assert_eq!(response.status(), 101);
        let text = "Văn bản số 56/QĐ-STTTT đã ký số";
        socket.send(Message::text(text)).await.unwrap();
        match socket.next().await {
            Some(Ok(Message::Text(echoed))) => assert_eq!(echoed.as_str(), text),
            other => panic!("expected the text echoed, got {other:?}"),
        }
        socket.close(None).await.unwrap();
    });
}
