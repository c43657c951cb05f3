//! The typed configuration of a gateway: what an operator writes in `govgate.toml`.
//!
//! Every struct denies unknown keys, so a misspelt key is an error with its location
//! rather than a silently ignored setting. Defaults are the secure, boring choice.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

use super::units::{ByteSize, Seconds};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for durable state (embedded store, generated keys and certificates).
    /// Relative paths in the file are resolved against the config file's directory.
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub server: ServerConfig,
    /// TLS termination; absent means no HTTPS listener.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// The province's applications behind the gateway.
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    /// Browser sessions and login brute-force protection.
    #[serde(default)]
    pub session: super::SessionConfig,
    /// The tamper-evident audit log.
    #[serde(default)]
    pub audit: super::AuditConfig,
    /// The login portal's branding and address.
    #[serde(default)]
    pub portal: super::PortalConfig,
    /// Header names carrying the logged-in person to apps.
    #[serde(default)]
    pub identity_headers: super::IdentityHeadersConfig,
    /// The administrative API.
    #[serde(default)]
    pub admin: super::AdminConfig,
    /// Where people log in against: `[directory]` (LDAP / AD or a users file).
    #[serde(default)]
    pub directory: Option<super::DirectoryConfig>,
    /// Access policies deciding every request to an app that requires login.
    #[serde(default)]
    pub policy: Option<super::PolicyConfig>,
    /// The OpenID Connect provider and its registered clients.
    #[serde(default)]
    pub oidc: Option<super::OidcConfig>,
    /// Signed-document verification: the API and the apps' signature guards.
    #[serde(default)]
    pub signatures: Option<super::SignaturesConfig>,
}

/// Listeners, client-facing limits and header policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Plain HTTP listener (`None` disables it).
    #[serde(default = "defaults::http_listen")]
    pub http_listen: Option<SocketAddr>,
    /// HTTPS listener; requires `[tls]`.
    #[serde(default)]
    pub https_listen: Option<SocketAddr>,
    /// Worker threads, each with its own runtime and listening socket. 0 = one per core.
    #[serde(default)]
    pub workers: usize,
    /// Accept HTTP/2 with prior knowledge on the plain listener.
    #[serde(default)]
    pub h2c: bool,
    /// Answer every plain-HTTP request (except ops endpoints) with a redirect to HTTPS.
    #[serde(default)]
    pub redirect_http_to_https: bool,
    /// Send `Strict-Transport-Security` on HTTPS responses.
    #[serde(default)]
    pub hsts: Option<HstsConfig>,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// Header-name prefixes reserved for identity the gateway itself adds; any
    /// client-sent header starting with one of these is removed (case-insensitive).
    #[serde(default = "defaults::identity_header_prefixes")]
    pub identity_header_prefixes: Vec<String>,
    /// Largest request head (request line + headers) accepted; larger gets 431.
    #[serde(default = "defaults::max_header_bytes")]
    pub max_header_bytes: ByteSize,
    /// Most request headers accepted; more gets 431.
    #[serde(default = "defaults::max_headers")]
    pub max_headers: usize,
    /// A client must send its full request head within this time (slowloris guard).
    #[serde(default = "defaults::header_read_timeout")]
    pub header_read_timeout: Seconds,
    /// Longest pause allowed between two pieces of a request body.
    #[serde(default = "defaults::body_read_timeout")]
    pub body_read_timeout: Seconds,
    /// Idle keep-alive connections are closed after this time.
    #[serde(default = "defaults::keepalive_timeout")]
    pub keepalive_timeout: Seconds,
    /// On SIGTERM, in-flight requests get this long to finish.
    #[serde(default = "defaults::shutdown_grace")]
    pub shutdown_grace: Seconds,
    /// Host name of the gateway itself, used in pages and links (defaults to the request's Host).
    #[serde(default)]
    pub public_host: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HstsConfig {
    #[serde(default = "defaults::hsts_max_age")]
    pub max_age: Seconds,
    #[serde(default)]
    pub include_subdomains: bool,
    #[serde(default)]
    pub preload: bool,
}

/// Certificates served on the HTTPS listener, chosen by SNI.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// One entry per certificate; the first is the default when SNI matches none.
    pub certificates: Vec<CertificateConfig>,
    /// Lowest TLS version offered: "1.2" (default) or "1.3".
    #[serde(default = "defaults::tls_min_version")]
    pub min_version: String,
    /// Check certificate files for changes this often and reload them (also on SIGHUP).
    #[serde(default = "defaults::tls_watch_interval")]
    pub watch_interval: Seconds,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    /// Embedded, durable `redb` file in the data dir (one gateway instance).
    #[default]
    Redb,
    /// Redis, shared by several gateway instances.
    Redis,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default)]
    pub backend: StoreBackend,
    /// redb file; default `<data_dir>/govgate.redb`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub redis: Option<RedisConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisMode {
    #[default]
    Standalone,
    Sentinel,
    Cluster,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    #[serde(default)]
    pub mode: RedisMode,
    /// `redis://host:port/db` (or `rediss://`). Standalone: one; Cluster: seed nodes;
    /// Sentinel: the sentinels.
    pub urls: Vec<String>,
    /// Sentinel: the monitored master's name.
    #[serde(default)]
    pub master_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (never put the password itself in the config).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Prefix of every key the gateway writes, so instances of different provinces can share a server.
    #[serde(default = "defaults::redis_key_prefix")]
    pub key_prefix: String,
    #[serde(default = "defaults::redis_connect_timeout")]
    pub connect_timeout: Seconds,
    #[serde(default = "defaults::redis_command_timeout")]
    pub command_timeout: Seconds,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `govgate=debug,info`.
    #[serde(default = "defaults::log_level")]
    pub level: String,
    /// Log one line per proxied request.
    #[serde(default = "defaults::access_log")]
    pub access_log: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: defaults::log_level(),
            access_log: defaults::access_log(),
        }
    }
}

/// Whether an app needs a logged-in user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Anyone may reach it; no identity is passed on.
    Public,
    /// Only logged-in users; their identity goes upstream as headers and a signed assertion.
    #[default]
    Authenticated,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastConnections,
}

/// One application behind the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Stable identifier (`[a-z0-9-]+`), used in metrics, logs and policies.
    pub id: String,
    /// Name shown to users, e.g. "Một cửa điện tử".
    pub name: String,
    /// Host names this app answers on: exact (`motcua.namdinh.gov.vn`) or one leading
    /// wildcard label (`*.namdinh.gov.vn`). Empty = any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Requests whose path starts with this prefix (on a segment boundary) go to this app.
    #[serde(default = "defaults::path_prefix")]
    pub path_prefix: String,
    /// Remove `path_prefix` from the path before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Forward the client's Host header instead of the upstream's authority.
    #[serde(default)]
    pub preserve_host: bool,
    /// Upstream base URLs, `http://` or `https://`.
    pub upstreams: Vec<String>,
    #[serde(default)]
    pub balance: Balance,
    /// CA bundle (PEM) that upstream HTTPS certificates must chain to; default: public web roots.
    #[serde(default)]
    pub upstream_ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) presented to HTTPS upstreams (mTLS).
    #[serde(default)]
    pub upstream_client_cert: Option<PathBuf>,
    #[serde(default)]
    pub upstream_client_key: Option<PathBuf>,
    #[serde(default)]
    pub timeouts: UpstreamTimeouts,
    /// Pass WebSocket upgrades through.
    #[serde(default)]
    pub websocket: bool,
    /// Largest request body accepted; larger gets 413.
    #[serde(default = "defaults::max_body")]
    pub max_body: ByteSize,
    #[serde(default)]
    pub health: PassiveHealth,
    /// How many other upstreams to try when connecting fails (idempotent methods only).
    #[serde(default = "defaults::retries")]
    pub retries: u32,
    /// Who may reach the app: `"authenticated"` (the default: log in first) or `"public"`.
    #[serde(default)]
    pub access: Access,
    /// Also admit requests carrying a gateway access token (`Authorization: Bearer`) whose
    /// audience is this app, instead of a session cookie (for system-to-system API calls).
    #[serde(default)]
    pub accept_bearer: bool,
    /// Forward matching requests only when their body carries a valid signature
    /// (`[apps.require_signature]`, needs `[signatures]`).
    #[serde(default)]
    pub require_signature: Option<super::SignatureGuardConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTimeouts {
    #[serde(default = "defaults::connect_timeout")]
    pub connect: Seconds,
    /// From sending the request to receiving the response head.
    #[serde(default = "defaults::response_header_timeout")]
    pub response_header: Seconds,
    /// Pooled idle connections are closed after this time.
    #[serde(default = "defaults::upstream_idle_timeout")]
    pub idle: Seconds,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        Self {
            connect: defaults::connect_timeout(),
            response_header: defaults::response_header_timeout(),
            idle: defaults::upstream_idle_timeout(),
        }
    }
}

/// Passive health checking: an upstream that fails to connect `max_failures` times in a
/// row is taken out of rotation for `eject_for`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveHealth {
    #[serde(default = "defaults::max_failures")]
    pub max_failures: u32,
    #[serde(default = "defaults::eject_for")]
    pub eject_for: Seconds,
}

impl Default for PassiveHealth {
    fn default() -> Self {
        Self {
            max_failures: defaults::max_failures(),
            eject_for: defaults::eject_for(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_listen: defaults::http_listen(),
            https_listen: None,
            workers: 0,
            h2c: false,
            redirect_http_to_https: false,
            hsts: None,
            trusted_proxies: Vec::new(),
            identity_header_prefixes: defaults::identity_header_prefixes(),
            max_header_bytes: defaults::max_header_bytes(),
            max_headers: defaults::max_headers(),
            header_read_timeout: defaults::header_read_timeout(),
            body_read_timeout: defaults::body_read_timeout(),
            keepalive_timeout: defaults::keepalive_timeout(),
            shutdown_grace: defaults::shutdown_grace(),
            public_host: None,
        }
    }
}

/// Default values, one function each so serde and `Default` agree.
pub(crate) mod defaults {
    use super::*;

    pub fn data_dir() -> PathBuf {
        PathBuf::from("govgate-data")
    }
    pub fn http_listen() -> Option<SocketAddr> {
        Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
    }
    pub fn identity_header_prefixes() -> Vec<String> {
        vec!["x-remote-".into(), "x-govgate-".into()]
    }
    pub fn max_header_bytes() -> ByteSize {
        ByteSize(32 * 1024)
    }
    pub fn max_headers() -> usize {
        100
    }
    pub fn header_read_timeout() -> Seconds {
        Seconds::from_secs(10)
    }
    pub fn body_read_timeout() -> Seconds {
        Seconds::from_secs(30)
    }
    pub fn keepalive_timeout() -> Seconds {
        Seconds::from_secs(75)
    }
    pub fn shutdown_grace() -> Seconds {
        Seconds::from_secs(30)
    }
    pub fn hsts_max_age() -> Seconds {
        Seconds::from_secs(365 * 24 * 3600)
    }
    pub fn tls_min_version() -> String {
        "1.2".into()
    }
    pub fn tls_watch_interval() -> Seconds {
        Seconds::from_secs(10)
    }
    pub fn redis_key_prefix() -> String {
        "govgate:".into()
    }
    pub fn redis_connect_timeout() -> Seconds {
        Seconds::from_secs(2)
    }
    pub fn redis_command_timeout() -> Seconds {
        Seconds::from_secs(2)
    }
    pub fn log_level() -> String {
        "info".into()
    }
    pub fn access_log() -> bool {
        true
    }
    pub fn path_prefix() -> String {
        "/".into()
    }
    pub fn max_body() -> ByteSize {
        ByteSize(64 * 1024 * 1024)
    }
    pub fn retries() -> u32 {
        1
    }
    pub fn connect_timeout() -> Seconds {
        Seconds::from_secs(5)
    }
    pub fn response_header_timeout() -> Seconds {
        Seconds::from_secs(60)
    }
    pub fn upstream_idle_timeout() -> Seconds {
        Seconds::from_secs(90)
    }
    pub fn max_failures() -> u32 {
        3
    }
    pub fn eject_for() -> Seconds {
        Seconds::from_secs(30)
    }
}
