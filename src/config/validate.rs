//! Second phase of loading: the meaning of values that parsed — every problem is
//! collected, none stops the others from being found.

use std::collections::HashMap;

use super::locate::{KeyPath, Reporter};
use super::{AppConfig, Config, RedisMode, StoreBackend};

/// Most worker threads accepted; more than this is surely a typo.
const MAX_WORKERS: usize = 256;

/// Validates `config`, normalising host names and header prefixes to lowercase.
pub(crate) fn validate(config: &mut Config, reporter: &mut Reporter<'_>) {
    if config.data_dir.as_os_str().is_empty() {
        reporter.at(&KeyPath::of("data_dir"), "must not be empty");
    }
    validate_server(config, reporter);
    validate_tls(config, reporter);
    validate_store(config, reporter);
    validate_log(config, reporter);
    super::session::validate(config, reporter);
    super::portal::validate(config, reporter);
    super::oidc::validate(config, reporter);
    super::signatures::validate(config, reporter);
    for (index, app) in config.apps.iter_mut().enumerate() {
        validate_app(app, &KeyPath::of("apps").index(index), reporter);
    }
    validate_app_ids_unique(&config.apps, reporter);
    validate_routes_unique(&config.apps, reporter);
    if let Some(directory) = &config.directory {
        super::directory::validate(directory, &KeyPath::of("directory"), reporter);
    }
}

fn validate_server(config: &mut Config, reporter: &mut Reporter<'_>) {
    let path = KeyPath::of("server");
    let has_tls_certificates = config
        .tls
        .as_ref()
        .is_some_and(|tls| !tls.certificates.is_empty());
    let server = &mut config.server;
    if server.workers > MAX_WORKERS {
        reporter.at(
            &path.key("workers"),
            format!("at most {MAX_WORKERS} workers (0 = one per core)"),
        );
    }
    if server.https_listen.is_some() && !has_tls_certificates {
        reporter.at(
            &path.key("https_listen"),
            "an HTTPS listener needs a [tls] section with at least one [[tls.certificates]] entry",
        );
    }
    if server.https_listen.is_some() && server.https_listen == server.http_listen {
        reporter.at(
            &path.key("https_listen"),
            "must differ from server.http_listen",
        );
    }
    if server.redirect_http_to_https && server.https_listen.is_none() {
        reporter.at(
            &path.key("redirect_http_to_https"),
            "requires server.https_listen",
        );
    }
    if server.hsts.is_some() && server.https_listen.is_none() {
        reporter.at(&path.key("hsts"), "requires server.https_listen");
    }
    for (index, prefix) in server.identity_header_prefixes.iter_mut().enumerate() {
        *prefix = prefix.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.bytes().all(is_header_name_byte) {
            reporter.at(
                &path.key("identity_header_prefixes").index(index),
                format!("{prefix:?} is not a header-name prefix (letters, digits and -_.!#$%&'*+^`|~ only)"),
            );
        }
    }
    non_zero(
        reporter,
        &path.key("max_header_bytes"),
        server.max_header_bytes.bytes(),
    );
    non_zero(
        reporter,
        &path.key("max_headers"),
        server.max_headers as u64,
    );
    for (key, timeout) in [
        ("header_read_timeout", server.header_read_timeout),
        ("body_read_timeout", server.body_read_timeout),
        ("keepalive_timeout", server.keepalive_timeout),
    ] {
        non_zero_duration(reporter, &path.key(key), timeout.get());
    }
    if let Some(public_host) = &mut server.public_host {
        *public_host = public_host.to_ascii_lowercase();
        if let Err(message) = check_public_host(public_host) {
            reporter.at(&path.key("public_host"), message);
        }
    }
}

fn validate_tls(config: &Config, reporter: &mut Reporter<'_>) {
    let Some(tls) = &config.tls else { return };
    let path = KeyPath::of("tls");
    if tls.certificates.is_empty() {
        reporter.at(
            &path.key("certificates"),
            "at least one certificate is required",
        );
    }
    if !matches!(tls.min_version.as_str(), "1.2" | "1.3") {
        reporter.at(
            &path.key("min_version"),
            format!("must be \"1.2\" or \"1.3\", not {:?}", tls.min_version),
        );
    }
    non_zero_duration(
        reporter,
        &path.key("watch_interval"),
        tls.watch_interval.get(),
    );
}

fn validate_store(config: &Config, reporter: &mut Reporter<'_>) {
    let path = KeyPath::of("store");
    let store = &config.store;
    if let Some(redb_path) = &store.path {
        if redb_path.as_os_str().is_empty() {
            reporter.at(&path.key("path"), "must not be empty");
        }
    }
    let Some(redis) = &store.redis else {
        if store.backend == StoreBackend::Redis {
            reporter.at(
                &path.key("backend"),
                "backend \"redis\" requires a [store.redis] section with `urls`",
            );
        }
        return;
    };
    let path = path.key("redis");
    if redis.urls.is_empty() {
        reporter.at(&path.key("urls"), "at least one URL is required");
    }
    if redis.mode == RedisMode::Standalone && redis.urls.len() > 1 {
        reporter.at(
            &path.key("urls"),
            "standalone mode takes exactly one URL (use mode = \"cluster\" or \"sentinel\")",
        );
    }
    for (index, url) in redis.urls.iter().enumerate() {
        if let Err(message) = check_redis_url(url) {
            reporter.at(&path.key("urls").index(index), message);
        }
    }
    match (&redis.mode, &redis.master_name) {
        (RedisMode::Sentinel, None) => {
            reporter.at(&path.key("mode"), "sentinel mode requires `master_name`")
        }
        (RedisMode::Sentinel, Some(name)) if name.trim().is_empty() => {
            reporter.at(&path.key("master_name"), "must not be empty")
        }
        (RedisMode::Standalone | RedisMode::Cluster, Some(_)) => reporter.at(
            &path.key("master_name"),
            "only meaningful with mode = \"sentinel\"",
        ),
        _ => {}
    }
    non_zero_duration(
        reporter,
        &path.key("connect_timeout"),
        redis.connect_timeout.get(),
    );
    non_zero_duration(
        reporter,
        &path.key("command_timeout"),
        redis.command_timeout.get(),
    );
}

fn validate_log(config: &Config, reporter: &mut Reporter<'_>) {
    let level = &config.log.level;
    let parsed = tracing_subscriber::EnvFilter::builder().parse(level);
    if level.trim().is_empty() {
        reporter.at(
            &KeyPath::of("log").key("level"),
            "must not be empty (e.g. \"info\")",
        );
    } else if let Err(error) = parsed {
        reporter.at(
            &KeyPath::of("log").key("level"),
            format!("invalid log filter {level:?}: {error}"),
        );
    }
}

fn validate_app(app: &mut AppConfig, path: &KeyPath, reporter: &mut Reporter<'_>) {
    if app.id.is_empty()
        || !app
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        reporter.at(
            &path.key("id"),
            format!(
                "{:?} is not a valid id: use lowercase letters, digits and '-'",
                app.id
            ),
        );
    }
    if app.name.trim().is_empty() {
        reporter.at(&path.key("name"), "must not be empty");
    }
    for index in 0..app.hosts.len() {
        app.hosts[index] = app.hosts[index].to_ascii_lowercase();
        let host = &app.hosts[index];
        if let Err(message) = check_host_pattern(host) {
            reporter.at(&path.key("hosts").index(index), message);
        } else if app.hosts[..index].contains(host) {
            reporter.at(
                &path.key("hosts").index(index),
                format!("{host:?} is listed twice"),
            );
        }
    }
    if let Err(message) = check_path_prefix(&app.path_prefix) {
        reporter.at(&path.key("path_prefix"), message);
    }
    if app.upstreams.is_empty() {
        reporter.at(
            &path.key("upstreams"),
            "at least one upstream URL is required",
        );
    }
    for (index, upstream) in app.upstreams.iter().enumerate() {
        if let Err(message) = check_upstream_url(upstream) {
            reporter.at(&path.key("upstreams").index(index), message);
        }
    }
    match (&app.upstream_client_cert, &app.upstream_client_key) {
        (Some(_), None) => reporter.at(
            &path.key("upstream_client_cert"),
            "requires `upstream_client_key` as well",
        ),
        (None, Some(_)) => reporter.at(
            &path.key("upstream_client_key"),
            "requires `upstream_client_cert` as well",
        ),
        _ => {}
    }
    let timeouts = path.key("timeouts");
    non_zero_duration(
        reporter,
        &timeouts.key("connect"),
        app.timeouts.connect.get(),
    );
    non_zero_duration(
        reporter,
        &timeouts.key("response_header"),
        app.timeouts.response_header.get(),
    );
    non_zero(
        reporter,
        &path.key("health").key("max_failures"),
        u64::from(app.health.max_failures),
    );
    non_zero_duration(
        reporter,
        &path.key("health").key("eject_for"),
        app.health.eject_for.get(),
    );
}

fn validate_app_ids_unique(apps: &[AppConfig], reporter: &mut Reporter<'_>) {
    let mut first_index: HashMap<&str, usize> = HashMap::new();
    for (index, app) in apps.iter().enumerate() {
        if let Some(first) = first_index.get(app.id.as_str()) {
            reporter.at(
                &KeyPath::of("apps").index(index).key("id"),
                format!("duplicate app id {:?} (also apps[{first}])", app.id),
            );
        } else {
            first_index.insert(&app.id, index);
        }
    }
}

/// Two apps may not claim the same host pattern with the same path prefix: the
/// gateway could not tell which one a request belongs to.
fn validate_routes_unique(apps: &[AppConfig], reporter: &mut Reporter<'_>) {
    let mut owners: HashMap<(Option<&str>, &str), usize> = HashMap::new();
    for (index, app) in apps.iter().enumerate() {
        let prefix = normalised_prefix(&app.path_prefix);
        let path = KeyPath::of("apps").index(index);
        let hosts: Vec<(Option<&str>, KeyPath)> = if app.hosts.is_empty() {
            vec![(None, path.key("path_prefix"))]
        } else {
            let hosts = app.hosts.iter().enumerate();
            hosts
                .map(|(i, host)| (Some(host.as_str()), path.key("hosts").index(i)))
                .collect()
        };
        for (host, at) in hosts {
            match owners.get(&(host, prefix)) {
                Some(&first) if first != index => {
                    let host = host.map_or("any host".to_string(), |h| format!("host {h:?}"));
                    let other = &apps[first].id;
                    reporter.at(
                        &at,
                        format!("{host} with path prefix {prefix:?} is already served by apps[{first}] ({other:?})"),
                    );
                }
                Some(_) => {}
                None => {
                    owners.insert((host, prefix), index);
                }
            }
        }
    }
}

/// `/mail/` and `/mail` route the same requests (prefixes match on segment boundaries).
fn normalised_prefix(prefix: &str) -> &str {
    match prefix.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

fn non_zero(reporter: &mut Reporter<'_>, path: &KeyPath, value: u64) {
    if value == 0 {
        reporter.at(path, "must be greater than zero");
    }
}

fn non_zero_duration(reporter: &mut Reporter<'_>, path: &KeyPath, value: std::time::Duration) {
    if value.is_zero() {
        reporter.at(path, "must be longer than zero");
    }
}

fn is_header_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// An exact DNS name, or `*.` followed by one. Expects lowercase input.
pub(crate) fn check_host_pattern(host: &str) -> Result<(), String> {
    if host.contains("://") {
        return Err(format!(
            "{host:?} is a URL; write only the host name, without scheme"
        ));
    }
    if host.contains('/') {
        return Err(format!(
            "{host:?} contains a path; write only the host name"
        ));
    }
    if host.contains(':') {
        return Err(format!(
            "{host:?} contains a port; write only the host name"
        ));
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.contains('*') {
        return Err(format!(
            "{host:?}: only one leading \"*.\" wildcard label is allowed"
        ));
    }
    check_dns_name(name).map_err(|why| format!("{host:?} is not a valid host name: {why}"))
}

fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if name.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label (two dots, or a leading or trailing dot)".into());
        }
        if label.len() > 63 {
            return Err(format!("label {label:?} is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "label {label:?} may contain only letters, digits and '-'"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} may not start or end with '-'"));
        }
    }
    Ok(())
}

/// The gateway's own host name, optionally with a port (for links on non-default ports).
fn check_public_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("{host:?}: invalid port {port:?}"));
        }
    }
    check_dns_name(name).map_err(|why| format!("{host:?} is not a valid host name: {why}"))
}

pub(crate) fn check_path_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') {
        return Err(format!("{prefix:?} must start with '/'"));
    }
    if prefix.contains(['?', '#']) {
        return Err(format!("{prefix:?} must not contain '?' or '#'"));
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{prefix:?} must not contain spaces or control characters"
        ));
    }
    if prefix
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err(format!("{prefix:?} must not contain '.' or '..' segments"));
    }
    Ok(())
}

/// An upstream base URL: http or https, a host, no credentials, query or fragment.
pub(crate) fn check_upstream_url(url: &str) -> Result<(), String> {
    if url.contains('#') {
        return Err(format!("{url:?} must not have a fragment ('#')"));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "{url:?}: scheme must be http or https, not {other:?}"
            ))
        }
        None => return Err(format!("{url:?} needs a scheme: http:// or https://")),
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("{url:?} has no host"));
    };
    if authority.as_str().contains('@') {
        return Err(format!("{url:?} must not contain credentials"));
    }
    if authority.host().is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if authority.port().is_some() && authority.port_u16().is_none_or(|port| port == 0) {
        return Err(format!("{url:?} has an invalid port"));
    }
    if uri.query().is_some() {
        return Err(format!("{url:?} must not have a query ('?')"));
    }
    Ok(())
}

fn check_redis_url(url: &str) -> Result<(), String> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if !matches!(scheme, Some("redis" | "rediss")) {
        return Err(format!("{url:?} must start with redis:// or rediss://"));
    }
    redis::IntoConnectionInfo::into_connection_info(url)
        .map(|_| ())
        .map_err(|e| format!("{url:?} is not a valid Redis URL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        for good in [
            "motcua.namdinh.gov.vn",
            "*.namdinh.gov.vn",
            "localhost",
            "a-b.c1",
        ] {
            assert_eq!(check_host_pattern(good), Ok(()), "{good}");
        }
        for bad in [
            "https://motcua.namdinh.gov.vn",
            "motcua.namdinh.gov.vn:443",
            "motcua.namdinh.gov.vn/x",
            "*.*.namdinh.gov.vn",
            "mot*.namdinh.gov.vn",
            "*",
            "",
            "a..b",
            "a.b.",
            "-a.b",
            "a_b.vn",
            "một.vn",
        ] {
            assert!(check_host_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_prefixes() {
        for good in ["/", "/mail", "/mail/", "/a.b/c"] {
            assert_eq!(check_path_prefix(good), Ok(()), "{good}");
        }
        for bad in ["mail", "", "/a/../b", "/..", "/a?b", "/a#b", "/a b", "/./a"] {
            assert!(check_path_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upstream_urls() {
        for good in [
            "http://10.0.0.5:8080",
            "https://qlvb.internal/",
            "http://[::1]:80/base",
        ] {
            assert_eq!(check_upstream_url(good), Ok(()), "{good}");
        }
        for bad in [
            "ftp://x",
            "10.0.0.5:8080",
            "/relative",
            "http://",
            "http://x/?a=b",
            "http://x/#f",
            "http://user:pw@x/",
            "http://x:0/",
            "http://x y/",
            "",
        ] {
            assert!(check_upstream_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redis_urls() {
        assert_eq!(check_redis_url("redis://127.0.0.1:6379/0"), Ok(()));
        assert_eq!(check_redis_url("redis://:secret@127.0.0.1:6379"), Ok(()));
        // The redis client is built without TLS, so rediss:// is refused up front.
        let rediss = check_redis_url("rediss://cache.namdinh.gov.vn:6380").unwrap_err();
        assert!(rediss.contains("TLS"), "{rediss}");
        assert!(check_redis_url("http://127.0.0.1:6379").is_err());
        assert!(check_redis_url("127.0.0.1:6379").is_err());
    }

    #[test]
    fn public_host_may_carry_a_port() {
        assert_eq!(check_public_host("sso.namdinh.gov.vn:8443"), Ok(()));
        assert!(check_public_host("sso.namdinh.gov.vn:0").is_err());
        assert!(check_public_host("https://sso").is_err());
    }
}
