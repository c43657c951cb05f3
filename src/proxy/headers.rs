//! Header hygiene between client and upstream.
//!
//! Upstreams must be able to trust two things the gateway sends: the forwarding headers
//! (who the client really is) and the identity namespace (`X-Remote-*`, `X-Govgate-*`).
//! So hop-by-hop headers go, client-sent identity headers go, and forwarding headers
//! from a client are believed only when the previous hop is a trusted proxy.

use std::fmt::Write as _;
use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static FORWARDED: HeaderName = header::FORWARDED;

/// Removes hop-by-hop headers, including every header the `Connection` header names.
/// `keep_upgrade` keeps `Connection: upgrade` + `Upgrade` for a WebSocket handshake.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Fast path: most requests carry no Connection header at all.
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .filter(|name| !(keep_upgrade && name == header::UPGRADE))
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    let te_trailers = headers
        .get(header::TE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if te_trailers {
        // `TE: trailers` is the one TE value a proxy should pass on (RFC 9110 §10.1.4).
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Header-name prefixes reserved for identity the gateway adds (lowercase).
#[derive(Debug, Clone)]
pub struct IdentityNamespace {
    prefixes: Box<[Box<str>]>,
}

impl IdentityNamespace {
    pub fn new(prefixes: &[String]) -> Self {
        Self {
            prefixes: prefixes
                .iter()
                .map(|p| p.to_ascii_lowercase().into_boxed_str())
                .collect(),
        }
    }

    /// The namespace plus the exact header names the gateway writes identity into, so a
    /// header name configured outside the prefixes can still never be forged by a client.
    pub fn with_names<'a>(prefixes: &[String], names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut all: Vec<String> = prefixes.to_vec();
        // A name is its own (exact-enough) prefix: `x-remote-user` covers itself.
        all.extend(names.into_iter().map(str::to_ascii_lowercase));
        Self::new(&all)
    }

    /// Removes every header in the namespace (header names in `http` are already lowercase).
    pub fn strip(&self, headers: &mut HeaderMap) {
        if self.prefixes.is_empty() {
            return;
        }
        let spoofed: Vec<HeaderName> = headers
            .keys()
            .filter(|name| {
                self.prefixes
                    .iter()
                    .any(|prefix| name.as_str().starts_with(&**prefix))
            })
            .cloned()
            .collect();
        for name in spoofed {
            headers.remove(name);
        }
    }
}

/// The peers whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Box<[IpNet]>,
}

impl TrustedProxies {
    pub fn new(networks: &[IpNet]) -> Self {
        Self {
            networks: networks.into(),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer itself, or — when the peer is trusted — the
    /// right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return canonical_ip(peer);
        }
        let mut client = canonical_ip(peer);
        for hop in forwarded_for_chain(headers).rev() {
            client = hop;
            if !self.contains(hop) {
                break;
            }
        }
        client
    }
}

/// Addresses in `X-Forwarded-For`, left (original client) to right (nearest proxy).
/// Unparseable entries end the chain as far as trust goes, so they are skipped here.
fn forwarded_for_chain(headers: &HeaderMap) -> impl DoubleEndedIterator<Item = IpAddr> + '_ {
    let entries: Vec<IpAddr> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
        .collect();
    entries.into_iter()
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are the IPv4 address they map.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What the gateway knows about where a request came from.
#[derive(Debug, Clone, Copy)]
pub struct Forwarding<'a> {
    pub peer: IpAddr,
    pub peer_trusted: bool,
    pub https: bool,
    /// The Host the client asked for (authority), before any rewriting.
    pub host: Option<&'a HeaderValue>,
}

/// Sets `X-Forwarded-For`, `-Proto`, `-Host` and RFC 7239 `Forwarded`. From an untrusted
/// peer, any incoming values are discarded first; from a trusted one, the peer is appended.
pub fn set_forwarding(headers: &mut HeaderMap, fwd: Forwarding<'_>) {
    let peer = canonical_ip(fwd.peer);
    let proto = if fwd.https { "https" } else { "http" };
    if !fwd.peer_trusted {
        headers.remove(&X_FORWARDED_FOR);
        headers.remove(&X_FORWARDED_PROTO);
        headers.remove(&X_FORWARDED_HOST);
        headers.remove(&FORWARDED);
    }
    append_list(headers, &X_FORWARDED_FOR, peer.to_string());
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    if let Some(host) = fwd.host {
        if !headers.contains_key(&X_FORWARDED_HOST) {
            headers.insert(&X_FORWARDED_HOST, host.clone());
        }
    }
    append_list(
        headers,
        &FORWARDED,
        forwarded_element(peer, proto, fwd.host),
    );
}

/// One RFC 7239 forwarded-element: `for=…;proto=…;host=…`, with IPv6 and any host that is
/// not a plain token quoted.
fn forwarded_element(peer: IpAddr, proto: &str, host: Option<&HeaderValue>) -> String {
    let mut element = String::with_capacity(48);
    match peer {
        IpAddr::V4(v4) => {
            let _ = write!(element, "for={v4}");
        }
        IpAddr::V6(v6) => {
            let _ = write!(element, "for=\"[{v6}]\"");
        }
    }
    let _ = write!(element, ";proto={proto}");
    if let Some(host) = host.and_then(|h| h.to_str().ok()) {
        if host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        {
            let _ = write!(element, ";host={host}");
        } else {
            let escaped = host.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = write!(element, ";host=\"{escaped}\"");
        }
    }
    element
}

/// Appends `item` to a comma-separated header, merging repeated header lines into one.
/// The common case — no such header yet — moves `item` into the value without copying.
fn append_list(headers: &mut HeaderMap, name: &HeaderName, item: String) {
    let value = if headers.contains_key(name) {
        let mut joined = String::new();
        for existing in headers.get_all(name).iter().filter_map(|v| v.to_str().ok()) {
            joined.push_str(existing);
            joined.push_str(", ");
        }
        joined.push_str(&item);
        joined
    } else {
        item
    };
    if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(value)) {
        headers.insert(name, value);
    }
}

/// Removes cookie `name` from the `Cookie` header(s), keeping every other cookie.
pub fn remove_cookie(headers: &mut HeaderMap, name: &str) {
    if !headers.contains_key(header::COOKIE) {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(name))
        .map(str::to_string)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn rfc9110_7_6_1_connection_named_headers_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "5"),
            ("te", "gzip"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop(&mut h, false);
        assert!(h.get("x-secret").is_none());
        assert!(h.get("keep-alive").is_none());
        assert!(h.get("te").is_none());
        assert!(h.get("connection").is_none());
        assert_eq!(h.get("accept").unwrap(), "*/*");
    }

    #[test]
    fn te_trailers_survives_and_upgrade_kept_only_when_asked() {
        let mut h = map(&[
            ("te", "trailers"),
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
        ]);
        remove_hop_by_hop(&mut h.clone(), false);
        remove_hop_by_hop(&mut h, true);
        assert_eq!(h.get("te").unwrap(), "trailers");
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("connection").unwrap(), "upgrade");
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        remove_hop_by_hop(&mut h, false);
        assert!(h.get("upgrade").is_none());
    }

    #[test]
    fn identity_namespace_is_stripped_case_insensitively() {
        let ns = IdentityNamespace::new(&["X-Remote-".into(), "x-govgate-".into()]);
        let mut h = map(&[
            ("X-Remote-User", "admin"),
            ("x-govgate-roles", "root"),
            ("x-remoteuser", "keep"),
        ]);
        ns.strip(&mut h);
        assert!(h.get("x-remote-user").is_none());
        assert!(h.get("x-govgate-roles").is_none());
        assert_eq!(h.get("x-remoteuser").unwrap(), "keep");
    }

    #[test]
    fn spoofed_forwarded_for_from_untrusted_peer_is_replaced() {
        let trusted = TrustedProxies::new(&["10.0.0.0/8".parse().unwrap()]);
        let mut h = map(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(trusted.client_ip(peer, &h), peer);
        set_forwarding(
            &mut h,
            Forwarding {
                peer,
                peer_trusted: trusted.contains(peer),
                https: true,
                host: None,
            },
        );
        assert_eq!(h.get("x-forwarded-for").unwrap(), "203.0.113.9");
        assert_eq!(h.get("forwarded").unwrap(), "for=203.0.113.9;proto=https");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "https");
    }

    #[test]
    fn trusted_proxy_chain_is_extended() {
        let trusted = TrustedProxies::new(&["10.0.0.0/8".parse().unwrap()]);
        let mut h = map(&[("x-forwarded-for", "198.51.100.7, 10.1.1.1")]);
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            trusted.client_ip(peer, &h),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let host = HeaderValue::from_static("motcua.namdinh.gov.vn");
        set_forwarding(
            &mut h,
            Forwarding {
                peer,
                peer_trusted: true,
                https: false,
                host: Some(&host),
            },
        );
        assert_eq!(
            h.get("x-forwarded-for").unwrap(),
            "198.51.100.7, 10.1.1.1, 10.0.0.2"
        );
        assert_eq!(
            h.get("forwarded").unwrap(),
            "for=10.0.0.2;proto=http;host=motcua.namdinh.gov.vn"
        );
    }

    #[test]
    fn rfc7239_6_ipv6_is_quoted() {
        let mut h = HeaderMap::new();
        let peer: IpAddr = "2001:db8::1".parse().unwrap();
        let host = HeaderValue::from_static("[::1]:8443");
        set_forwarding(
            &mut h,
            Forwarding {
                peer,
                peer_trusted: false,
                https: true,
                host: Some(&host),
            },
        );
        assert_eq!(
            h.get("forwarded").unwrap(),
            "for=\"[2001:db8::1]\";proto=https;host=\"[::1]:8443\""
        );
    }

    #[test]
    fn session_cookie_is_removed_others_kept() {
        let mut h = map(&[("cookie", "a=1; govgate_session=secret"), ("cookie", "b=2")]);
        remove_cookie(&mut h, "govgate_session");
        assert_eq!(h.get("cookie").unwrap(), "a=1; b=2");
        let mut h = map(&[("cookie", "govgate_session=secret")]);
        remove_cookie(&mut h, "govgate_session");
        assert!(h.get("cookie").is_none());
    }

    #[test]
    fn mapped_ipv4_is_canonical() {
        let trusted = TrustedProxies::new(&["127.0.0.0/8".parse().unwrap()]);
        assert!(trusted.contains("::ffff:127.0.0.1".parse().unwrap()));
    }
}
