//! End-to-end tests of the gateway process's life: graceful shutdown on SIGTERM, SIGHUP
//! reload of the configuration and of certificates, `govgate demo`, and the command line
//! (help, missing config, a port already taken).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use govgate::demo::DemoApps;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use support::demo::DemoProcess;
use support::eventually;
use support::gateway::{http_get, Gateway, Signal};
use support::nginx::Nginx;
use support::pki::{
    curl, describe, presented_subject, replace_file, s_client, IssuedCert, OpensslCa,
};

// ---------- graceful shutdown ----------

/// An upstream that answers its one request only when told to, and reports when the
/// request has arrived: the test then knows a request is in flight inside the gateway.
struct HeldUpstream {
    addr: SocketAddr,
    arrived: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

impl HeldUpstream {
    fn start() -> HeldUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (arrived_tx, arrived) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read_exact(&mut byte).is_ok() {
                head.push(byte[0]);
            }
            let _ = arrived_tx.send(());
            if release_rx.recv().is_ok() {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nxong",
                );
            }
        });
        HeldUpstream {
            addr,
            arrived,
            release,
        }
    }
}

fn held_gateway(upstream: &HeldUpstream, grace: &str) -> Gateway {
    Gateway::start(&format!(
        r#"
[server]
http_listen = "{{http_listen}}"
shutdown_grace = "{grace}"

[[apps]]
access = "public"
id = "cham"
name = "Ứng dụng chậm"
upstreams = ["http://{upstream}"]
"#,
        upstream = upstream.addr
    ))
}

fn connection_refused(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err()
}

#[test]
fn sigterm_drains_the_request_in_flight_then_exits_zero() {
    let upstream = HeldUpstream::start();
    let mut gateway = held_gateway(&upstream, "30s");
    let addr = gateway.http_addr();
    let client = std::thread::spawn(move || http_get(addr, "localhost", "/ho-so/dang-xu-ly"));
    upstream
        .arrived
        .recv_timeout(Duration::from_secs(10))
        .expect("the request reached the upstream");

    gateway.signal(Signal::Term);
    eventually("the listener to close", Duration::from_secs(10), || {
        connection_refused(addr)
    });
    assert!(
        gateway.wait_exit(Duration::ZERO).is_none(),
        "exited with a request in flight:\n{}",
        gateway.logs()
    );

    upstream.release.send(()).unwrap();
    let response = client
        .join()
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "xong");
    let status = gateway
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("still running after the drain:\n{}", gateway.logs()));
    assert!(status.success(), "{status}:\n{}", gateway.logs());
    assert!(gateway.logs().contains("govgate stopped"));
}

#[test]
fn shutdown_grace_bounds_the_wait_for_a_stuck_request() {
    let upstream = HeldUpstream::start();
    let mut gateway = held_gateway(&upstream, "1s");
    let addr = gateway.http_addr();
    let client = std::thread::spawn(move || http_get(addr, "localhost", "/treo"));
    upstream
        .arrived
        .recv_timeout(Duration::from_secs(10))
        .expect("the request reached the upstream");
    gateway.signal(Signal::Term);
    // Never released: the gateway must give up after its grace period and exit.
    let status = gateway
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("did not exit after the grace period:\n{}", gateway.logs()));
    assert!(status.success(), "{status}");
    let outcome = client.join().unwrap();
    assert!(
        outcome.as_ref().map_or(true, |r| r.status != 200),
        "{outcome:?}"
    );
    assert!(
        gateway.logs().contains("grace period over"),
        "{}",
        gateway.logs()
    );
    drop(upstream);
}

#[test]
fn sigint_stops_an_idle_gateway_with_status_zero() {
    let origin = Nginx::origin();
    let mut gateway = Gateway::start(&app_block("cu", "/cu", &origin.url()));
    gateway.signal(Signal::Int);
    let status = gateway
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("still running after SIGINT:\n{}", gateway.logs()));
    assert!(status.success(), "{status}");
    assert!(connection_refused(gateway.http_addr()));
}

// ---------- SIGHUP: configuration ----------

fn app_block(id: &str, prefix: &str, upstream: &str) -> String {
    format!(
        "\n[[apps]]\naccess = \"public\"\nid = \"{id}\"\nname = \"Ứng dụng {id}\"\npath_prefix = \"{prefix}\"\nstrip_prefix = true\nupstreams = [\"{upstream}\"]\n"
    )
}

fn status_of(gateway: &Gateway, path: &str) -> u16 {
    http_get(gateway.http_addr(), "localhost", path)
        .map(|r| r.status)
        .unwrap_or(0)
}

#[test]
fn sighup_applies_a_new_config_and_keeps_the_old_one_when_broken() {
    let origin = Nginx::origin();
    let apps = DemoApps::start().unwrap();
    let gateway = Gateway::start(&app_block("cu", "/cu", &origin.url()));
    assert_eq!(status_of(&gateway, "/cu/"), 200);
    assert_eq!(status_of(&gateway, "/moi/api/request"), 404);

    let original = std::fs::read_to_string(gateway.config_path()).unwrap();
    let demo_url = format!("http://{}", apps.documents);
    let extended = format!("{original}{}", app_block("moi", "/moi", &demo_url));
    std::fs::write(gateway.config_path(), &extended).unwrap();
    gateway.signal(Signal::Hup);
    eventually("the new app to answer", Duration::from_secs(10), || {
        status_of(&gateway, "/moi/api/request") == 200
    });
    let new_app = http_get(gateway.http_addr(), "localhost", "/moi/api/request").unwrap();
    assert_eq!(new_app.header("x-demo-app"), Some("documents"));
    assert_eq!(status_of(&gateway, "/cu/"), 200);

    // Point the old app somewhere else: the change of upstream takes effect too.
    let repointed = extended.replace(&origin.url(), &format!("http://{}", apps.one_stop_shop));
    std::fs::write(gateway.config_path(), &repointed).unwrap();
    gateway.signal(Signal::Hup);
    eventually("the repointed app", Duration::from_secs(10), || {
        http_get(gateway.http_addr(), "localhost", "/cu/api/request")
            .is_ok_and(|r| r.header("x-demo-app") == Some("one-stop-shop"))
    });

    for broken in [
        "this is [[[ not toml",
        "[[apps]]\naccess = \"public\"\nid = \"thieu-upstreams\"\nname = \"x\"\n",
    ] {
        let errors_before = gateway.logs().matches("configuration not reloaded").count();
        std::fs::write(gateway.config_path(), broken).unwrap();
        gateway.signal(Signal::Hup);
        eventually(
            "the reload error in the log",
            Duration::from_secs(10),
            || gateway.logs().matches("configuration not reloaded").count() > errors_before,
        );
        let still = http_get(gateway.http_addr(), "localhost", "/cu/api/request").unwrap();
        assert_eq!(
            still.header("x-demo-app"),
            Some("one-stop-shop"),
            "{broken}"
        );
        assert_eq!(status_of(&gateway, "/moi/api/request"), 200, "{broken}");
    }
}

// ---------- SIGHUP: certificates ----------

const CERT_HOST: &str = "cong.namdinh.test";

/// A TLS client connection (HTTP/1.1) that trusts only `ca`.
fn tls_connect(
    addr: SocketAddr,
    ca: &Path,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    govgate::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(CERT_HOST.to_string()).unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    stream.flush().unwrap();
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    stream
}

/// One keep-alive `GET /` on an open connection; the status and body.
fn keep_alive_get(stream: &mut (impl Read + Write)) -> (u16, String) {
    write!(stream, "GET / HTTP/1.1\r\nHost: {CERT_HOST}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("expected a Content-Length: {head}"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

fn leaf_der(chain_file: &Path) -> CertificateDer<'static> {
    CertificateDer::pem_file_iter(chain_file)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

/// A gateway serving `cong.pem` (a copy of `first`) on HTTPS, with `second` ready to
/// replace it; certificate files are polled every `watch_interval`.
struct CertGateway {
    gateway: Gateway,
    ca_file: PathBuf,
    first: IssuedCert,
    second: IssuedCert,
    _origin: Nginx,
}

impl CertGateway {
    fn start(watch_interval: &str) -> CertGateway {
        let dir = tempfile::tempdir().unwrap();
        let ca = OpensslCa::new(dir.path());
        let first = ca.issue("v1", CERT_HOST, &[CERT_HOST]);
        let second = ca.issue("v2", "cong.namdinh.test thay the", &[CERT_HOST]);
        std::fs::copy(&first.cert, dir.path().join("cong.pem")).unwrap();
        std::fs::copy(&first.key, dir.path().join("cong-key.pem")).unwrap();
        let origin = Nginx::origin();
        let gateway = Gateway::start_in(
            dir,
            &format!(
                r#"
[server]
http_listen = "{{http_listen}}"
https_listen = "{{https_listen}}"

[tls]
certificates = [{{ cert = "{{dir}}/cong.pem", key = "{{dir}}/cong-key.pem" }}]
watch_interval = "{watch_interval}"

[[apps]]
access = "public"
id = "cong"
name = "Cổng"
upstreams = ["{origin}"]
"#,
                origin = origin.url()
            ),
        );
        CertGateway {
            ca_file: ca.ca_path(),
            gateway,
            first,
            second,
            _origin: origin,
        }
    }

    fn https(&self) -> SocketAddr {
        self.gateway.https_addr().unwrap()
    }

    fn connect(&self) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
        tls_connect(self.https(), &self.ca_file)
    }

    /// Puts the second certificate and key in place of the served ones.
    fn swap_in_second(&self) {
        replace_file(&self.second.key, &self.gateway.dir().join("cong-key.pem"));
        replace_file(&self.second.cert, &self.gateway.dir().join("cong.pem"));
    }

    fn wait_for_second(&self, why: &str) {
        eventually(why, Duration::from_secs(15), || {
            presented_subject(&s_client(self.https(), CERT_HOST, &[]))
                .is_some_and(|subject| subject.ends_with("thay the"))
        });
    }
}

fn presented_leaf(
    stream: &rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
) -> CertificateDer<'static> {
    stream.conn.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

#[test]
fn sighup_reloads_certificates_for_new_connections_only() {
    // Only SIGHUP reloads in this test.
    let cg = CertGateway::start("1h");
    let mut before = cg.connect();
    assert_eq!(presented_leaf(&before), leaf_der(&cg.first.cert));
    assert_eq!(keep_alive_get(&mut before), (200, "ok".to_string()));

    cg.swap_in_second();
    cg.gateway.signal(Signal::Hup);
    cg.wait_for_second("new connections to get the new certificate");
    assert_eq!(presented_leaf(&cg.connect()), leaf_der(&cg.second.cert));

    // The connection made before the reload keeps working, on its original certificate.
    assert_eq!(keep_alive_get(&mut before), (200, "ok".to_string()));
    assert_eq!(presented_leaf(&before), leaf_der(&cg.first.cert));

    // A broken key on reload leaves the new certificate in force.
    std::fs::write(cg.gateway.dir().join("cong-key.pem"), "not a key").unwrap();
    cg.gateway.signal(Signal::Hup);
    eventually(
        "the certificate reload error in the log",
        Duration::from_secs(10),
        || cg.gateway.logs().contains("TLS certificates not reloaded"),
    );
    assert_eq!(presented_leaf(&cg.connect()), leaf_der(&cg.second.cert));
}

#[test]
fn changed_certificate_files_are_picked_up_without_a_signal() {
    let cg = CertGateway::start("1s");
    assert_eq!(presented_leaf(&cg.connect()), leaf_der(&cg.first.cert));
    cg.swap_in_second();
    cg.wait_for_second("the watcher to reload the certificate");
    assert_eq!(presented_leaf(&cg.connect()), leaf_der(&cg.second.cert));
    let logs = cg.gateway.logs();
    assert!(logs.contains("TLS certificates reloaded"), "{logs}");
}

// ---------- govgate demo ----------

/// Logs in to the demo over HTTPS as a demo user with curl and a cookie jar (the demo apps
/// require login), then fetches `path`; the output ends with the status code.
fn demo_https(demo: &DemoProcess, ca: &Path, path: &str) -> std::process::Output {
    let origin = format!("https://localhost:{}", demo.https.port());
    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().to_str().unwrap().to_string();
    let ca = ca.to_str().unwrap();
    let form = curl(&[
        "--cacert",
        ca,
        "-c",
        &jar,
        "-b",
        &jar,
        &format!("{origin}/.govgate/login"),
    ]);
    let html = String::from_utf8_lossy(&form.stdout).into_owned();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no csrf field on the demo login page: {html}"))
        .to_string();
    let login = curl(&[
        "--cacert",
        ca,
        "-c",
        &jar,
        "-b",
        &jar,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--data-urlencode",
        &format!("csrf={csrf}"),
        "--data-urlencode",
        "username=nvan",
        "--data-urlencode",
        "password=LanhDao@2024",
        &format!("{origin}/.govgate/login"),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&login.stdout),
        "303",
        "demo login: {}",
        describe(&login)
    );
    curl(&[
        "--cacert",
        ca,
        "-b",
        &jar,
        "-w",
        "\n%{http_code}",
        &format!("{origin}{path}"),
    ])
}

#[test]
fn demo_serves_both_apps_over_http_and_https_and_keeps_its_ca() {
    let root = tempfile::tempdir().unwrap();
    let data_dir: PathBuf = root.path().join("du-lieu");
    let mut demo = DemoProcess::start(&data_dir, root.path());
    let ca = data_dir.join("tls").join("dev-ca.pem");

    for (path, app) in [("/mot-cua/", "one-stop-shop"), ("/van-ban/", "documents")] {
        // The demo apps require login: a browser is sent to the portal first.
        let page = demo.get(path);
        assert_eq!(page.status, 302, "{path}");
        assert!(
            page.header("location")
                .is_some_and(|l| l.starts_with("/.govgate/login?rd=")),
            "{path}: {page:?}"
        );
        let https = demo_https(&demo, &ca, &format!("{path}api/request"));
        assert!(https.status.success(), "{path}: {}", describe(&https));
        let text = String::from_utf8_lossy(&https.stdout);
        assert!(text.ends_with("\n200"), "{path}: {text}");
        let seen: serde_json::Value =
            serde_json::from_str(text.trim_end_matches("200").trim_end()).unwrap();
        assert!(
            seen.to_string().contains("https"),
            "{path}: the app was not told HTTPS: {seen}"
        );
        assert!(
            seen.to_string().contains("x-remote-user"),
            "{path}: no identity for {app}: {seen}"
        );
    }
    let first_ca = std::fs::read(&ca).unwrap();
    assert!(demo.stop().success());

    let demo = DemoProcess::start(&data_dir, root.path());
    assert_eq!(
        std::fs::read(&ca).unwrap(),
        first_ca,
        "the dev CA was regenerated"
    );
    let https = demo_https(&demo, &ca, "/mot-cua/api/request");
    assert!(https.status.success(), "{}", describe(&https));
}

// ---------- command line ----------

fn govgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_govgate"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn help_lists_the_commands_and_options() {
    let help = govgate(&["--help"]);
    assert!(help.status.success(), "{}", describe(&help));
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["serve", "check", "demo"] {
        assert!(text.contains(command), "--help lacks {command}: {text}");
    }
    let serve_help = govgate(&["serve", "--help"]);
    assert!(serve_help.status.success(), "{}", describe(&serve_help));
    assert!(String::from_utf8_lossy(&serve_help.stdout).contains("--config"));

    let unknown = govgate(&["khong-co-lenh"]);
    assert!(!unknown.status.success());
}

#[test]
fn serve_with_a_missing_config_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let output = govgate(&["serve", "--config", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.toml"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn serve_on_a_taken_port_fails_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("govgate.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[server]\nhttp_listen = \"{addr}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let output = govgate(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&addr.to_string()), "{stderr}");
    drop(taken);
}
