//! `govgate demo`: the gateway on embedded defaults with two built-in demo apps, no LDAP,
//! Redis or configuration of one's own needed.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;

use crate::demo::DemoApps;
use crate::server::tls::ensure_dev_certificate;
use crate::server::ConfigSource;

/// The demo's civil servants (a file directory; passwords in the file's header comment).
const DEMO_USERS: &str = include_str!("../../examples/users.toml");

/// Where the demo listens.
pub struct DemoListeners {
    pub http: SocketAddr,
    pub https: SocketAddr,
}

pub fn run(data_dir: &Path, listeners: DemoListeners) -> anyhow::Result<()> {
    crate::install_crypto_provider();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", data_dir.display()))?;
    let certificate = ensure_dev_certificate(&data_dir)
        .context("cannot prepare the development TLS certificate")?;
    let users = data_dir.join("users.toml");
    if !users.exists() {
        std::fs::write(&users, DEMO_USERS)
            .with_context(|| format!("cannot write {}", users.display()))?;
    }
    let apps = DemoApps::start().context("cannot start the demo apps")?;
    let text = demo_config(
        &data_dir,
        &listeners,
        &apps,
        &certificate.cert,
        &certificate.key,
    );
    let config = crate::config::parse(&data_dir.join("demo.toml"), &text)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    super::serve::init_logging(&config.log);
    print_welcome(&listeners, &data_dir);
    let outcome = super::serve::serve(config, ConfigSource::default());
    drop(apps);
    outcome
}

/// The demo's configuration, written as an operator would write it.
fn demo_config(
    data_dir: &Path,
    listeners: &DemoListeners,
    apps: &DemoApps,
    cert: &Path,
    key: &Path,
) -> String {
    format!(
        r#"data_dir = {data_dir:?}

[server]
http_listen = "{http}"
https_listen = "{https}"

[tls]
certificates = [{{ cert = {cert:?}, key = {key:?} }}]

[log]
format = "pretty"

[portal]
site_name = "Cổng đăng nhập một lần — bản trình diễn govgate"

[directory]
backend = "file"
[directory.file]
path = "users.toml"

[[apps]]
id = "mot-cua"
name = "Một cửa điện tử"
path_prefix = "/mot-cua"
strip_prefix = true
upstreams = ["http://{one_stop_shop}"]
websocket = true

[[apps]]
id = "van-ban"
name = "Quản lý văn bản và điều hành"
path_prefix = "/van-ban"
strip_prefix = true
upstreams = ["http://{documents}"]
websocket = true
"#,
        http = listeners.http,
        https = listeners.https,
        one_stop_shop = apps.one_stop_shop,
        documents = apps.documents,
    )
}

fn print_welcome(listeners: &DemoListeners, data_dir: &Path) {
    let http = listeners.http;
    let https = listeners.https;
    println!();
    println!("  govgate demo đang chạy — the demo gateway is running");
    println!();
    println!("  Một cửa điện tử (one-stop shop)         http://{http}/mot-cua/    https://{https}/mot-cua/");
    println!("  Quản lý văn bản và điều hành (e-office) http://{http}/van-ban/    https://{https}/van-ban/");
    println!();
    println!("  Đăng nhập / log in      http://{http}/login  (ví dụ / e.g. nvan / LanhDao@2024,");
    println!(
        "                          tthang / ChuyenVien@2024 — xem / see {})",
        data_dir.join("users.toml").display()
    );
    println!();
    println!("  Tình trạng / health    http://{http}/healthz   http://{http}/readyz");
    println!("  Số liệu / metrics      http://{http}/metrics");
    println!(
        "  CA thử nghiệm / dev CA {}",
        data_dir.join("tls").join("dev-ca.pem").display()
    );
    println!("                         (curl --cacert <that file> https://{https}/mot-cua/)");
    println!();
    println!("  Dừng bằng Ctrl+C — stop with Ctrl+C");
    println!();
}
