//! `govgate demo`: the gateway on embedded defaults with two built-in demo apps, no LDAP,
//! Redis or configuration of one's own needed.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;

use crate::demo::{DemoApps, DemoRp, RpSettings};
use crate::server::tls::ensure_dev_certificate;
use crate::server::ConfigSource;

/// The demo's civil servants (a file directory; passwords in the file's header comment).
const DEMO_USERS: &str = include_str!("../../examples/users.toml");

/// The province example policy set (`policies/`), written into the demo's data dir the first
/// time so the demo shows access policies at work; officers' edits there are kept.
const SHIPPED_POLICIES: &[(&str, &str)] = &[
    (
        "schema.cedarschema",
        include_str!("../../policies/schema.cedarschema"),
    ),
    ("roles.toml", include_str!("../../policies/roles.toml")),
    ("routes.toml", include_str!("../../policies/routes.toml")),
    (
        "00-nen-tang.cedar",
        include_str!("../../policies/00-nen-tang.cedar"),
    ),
    (
        "cong-dich-vu-cong.cedar",
        include_str!("../../policies/cong-dich-vu-cong.cedar"),
    ),
    (
        "chu-ky-so.cedar",
        include_str!("../../policies/chu-ky-so.cedar"),
    ),
    (
        "gateway-admin.cedar",
        include_str!("../../policies/gateway-admin.cedar"),
    ),
    ("mail.cedar", include_str!("../../policies/mail.cedar")),
    (
        "mot-cua.cedar",
        include_str!("../../policies/mot-cua.cedar"),
    ),
    (
        "quan-tri.cedar",
        include_str!("../../policies/quan-tri.cedar"),
    ),
    (
        "van-ban.cedar",
        include_str!("../../policies/van-ban.cedar"),
    ),
    (
        "tests/chu-ky-so.toml",
        include_str!("../../policies/tests/chu-ky-so.toml"),
    ),
    (
        "tests/demo.toml",
        include_str!("../../policies/tests/demo.toml"),
    ),
    (
        "tests/gateway-admin.toml",
        include_str!("../../policies/tests/gateway-admin.toml"),
    ),
    (
        "tests/mail-cong-dich-vu-cong.toml",
        include_str!("../../policies/tests/mail-cong-dich-vu-cong.toml"),
    ),
    (
        "tests/mot-cua.toml",
        include_str!("../../policies/tests/mot-cua.toml"),
    ),
    (
        "tests/nen-tang.toml",
        include_str!("../../policies/tests/nen-tang.toml"),
    ),
    (
        "tests/quan-tri.toml",
        include_str!("../../policies/tests/quan-tri.toml"),
    ),
    (
        "tests/van-ban.toml",
        include_str!("../../policies/tests/van-ban.toml"),
    ),
];

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
    write_policies_once(&data_dir.join("policies"))?;
    ensure_dev_pki(&data_dir.join("pki"))?;
    let apps = DemoApps::start().context("cannot start the demo apps")?;
    let oidc_client = DemoOidcClient::new(&listeners)?;
    let rp = DemoRp::start(oidc_client.settings.clone())
        .context("cannot start the demo OpenID Connect app")?;
    let text = demo_config(
        &data_dir,
        &listeners,
        &apps,
        &DemoRpRegistration::of(&rp, &oidc_client),
        &certificate.cert,
        &certificate.key,
    );
    let config = crate::config::parse(&data_dir.join("demo.toml"), &text)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    super::serve::init_logging(&config.log);
    print_welcome(&listeners, &data_dir, &rp);
    let outcome = super::serve::serve(config, ConfigSource::default());
    drop(rp);
    drop(apps);
    outcome
}

/// The development PKI (`govgate pki dev-init`) the demo verifies signatures against,
/// made once: its signer keys sign the documents a newcomer tries.
fn ensure_dev_pki(dir: &Path) -> anyhow::Result<()> {
    if dir.join("trust").exists() {
        return Ok(());
    }
    crate::pki::dev::DevPki::generate(dir, std::time::SystemTime::now())
        .with_context(|| format!("cannot make the development PKI in {}", dir.display()))?;
    Ok(())
}

fn write_policies_once(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut source = crate::policy::PolicySource::new();
    for (name, text) in SHIPPED_POLICIES {
        source.insert(name, text.to_string())?;
    }
    source
        .write_to(dir)
        .with_context(|| format!("cannot write the demo policies to {}", dir.display()))
}

/// The demo OpenID Connect client: the issuer is the demo's plain-HTTP listener (what
/// the welcome text sends people to), the secret fresh at every start.
struct DemoOidcClient {
    settings: RpSettings,
}

/// The demo app's client id (its registration in `[[oidc.clients]]`).
const DEMO_CLIENT_ID: &str = "dich-vu-cong-mau";

impl DemoOidcClient {
    fn new(listeners: &DemoListeners) -> anyhow::Result<DemoOidcClient> {
        let secret = crate::oidc::types::random_token()
            .map_err(|e| anyhow::anyhow!("cannot make the demo client secret: {e}"))?;
        Ok(DemoOidcClient {
            settings: RpSettings {
                issuer: format!("http://{}", reachable(listeners.http)),
                client_id: DEMO_CLIENT_ID.to_string(),
                client_secret: secret,
            },
        })
    }
}

/// What `[[oidc.clients]]` registers for the demo relying party.
struct DemoRpRegistration {
    issuer: String,
    secret_sha256: String,
    home: String,
    redirect_uri: String,
    backchannel_logout_uri: String,
}

impl DemoRpRegistration {
    fn of(rp: &DemoRp, client: &DemoOidcClient) -> DemoRpRegistration {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            client.settings.client_secret.as_bytes(),
        );
        DemoRpRegistration {
            issuer: client.settings.issuer.clone(),
            secret_sha256: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
            home: rp.url(),
            redirect_uri: rp.redirect_uri(),
            backchannel_logout_uri: rp.backchannel_logout_uri(),
        }
    }
}

/// An address a browser on this machine can reach: a wildcard listener (`0.0.0.0`, `[::]`)
/// is reached on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if !ip.is_unspecified() => addr,
        std::net::IpAddr::V4(_) => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        std::net::IpAddr::V6(_) => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
    }
}

/// The demo's configuration, written as an operator would write it.
fn demo_config(
    data_dir: &Path,
    listeners: &DemoListeners,
    apps: &DemoApps,
    rp: &DemoRpRegistration,
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

[policy]
dir = "policies"

# Signed documents are checked against the development PKI (pki/, not a real trust store).
[signatures]
trust_dir = "pki"

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

# The demo OpenID Connect app "Cổng dịch vụ công (mẫu)" delegates login here. It is a
# third-party app (first_party = false) so the consent page shows; sign-in is decided by
# the policies for App::"cong-dich-vu-cong".
[oidc]
issuer = "{issuer}"

[[oidc.clients]]
id = "{client_id}"
name = "Cổng dịch vụ công (ứng dụng mẫu)"
first_party = false
auth_method = "client_secret_basic"
secret_sha256 = "{secret_sha256}"
redirect_uris = ["{redirect_uri}"]
post_logout_redirect_uris = ["{home}"]
backchannel_logout_uri = "{backchannel}"
scopes = ["openid", "profile", "email", "roles"]
app = "cong-dich-vu-cong"
"#,
        http = listeners.http,
        https = listeners.https,
        one_stop_shop = apps.one_stop_shop,
        documents = apps.documents,
        issuer = rp.issuer,
        client_id = DEMO_CLIENT_ID,
        secret_sha256 = rp.secret_sha256,
        redirect_uri = rp.redirect_uri,
        home = rp.home,
        backchannel = rp.backchannel_logout_uri,
    )
}

fn print_welcome(listeners: &DemoListeners, data_dir: &Path, rp: &DemoRp) {
    let http = listeners.http;
    let https = listeners.https;
    println!();
    println!("  govgate demo đang chạy — the demo gateway is running");
    println!();
    println!("  Một cửa điện tử (one-stop shop)         http://{http}/mot-cua/    https://{https}/mot-cua/");
    println!("  Quản lý văn bản và điều hành (e-office) http://{http}/van-ban/    https://{https}/van-ban/");
    println!(
        "  Cổng dịch vụ công (mẫu, OpenID Connect) {}  — đăng nhập qua chuyển hướng / login by redirect",
        rp.url()
    );
    println!();
    println!("  Đăng nhập / log in      http://{http}/login  (ví dụ / e.g. nvan / LanhDao@2024,");
    println!(
        "                          tthang / ChuyenVien@2024 — xem / see {})",
        data_dir.join("users.toml").display()
    );
    println!();
    println!(
        "  Chính sách truy cập     {}  (govgate policy test <thư mục / dir>)",
        data_dir.join("policies").display()
    );
    println!("  / access policies       lvcuong (văn thư) không mở được Một cửa — the clerk is refused the one-stop shop");
    println!();
    let pki = data_dir.join("pki");
    println!(
        "  Chữ ký số / signatures  govgate verify --trust-dir {} <tệp / file>",
        pki.display()
    );
    println!(
        "                          POST http://{http}/api/v1/signatures/verify (lvcuong / VanThu@2024)"
    );
    println!(
        "                          khóa ký thử nghiệm / test signer keys: {}",
        pki.join("signers").display()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_embeds_every_file_of_the_shipped_policy_set() {
        let shipped = crate::policy::PolicySource::read_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
        )
        .expect("policies/ readable");
        let on_disk: Vec<&str> = shipped.files().map(|(name, _)| name).collect();
        let mut embedded: Vec<&str> = SHIPPED_POLICIES.iter().map(|(name, _)| *name).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "update SHIPPED_POLICIES in src/cli/demo.rs"
        );
    }
}
