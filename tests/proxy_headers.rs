//! End-to-end header hygiene through `govgate serve`: what the upstream (a demo app that
//! reports every header it received) sees, for clients the gateway trusts and does not.

mod support;

use govgate::demo::{DemoApps, RequestSeen};
use support::gateway::{http_get, Gateway, RawResponse};
use support::proxy::{request_seen, ScriptedUpstream};

/// A gateway with one any-host app (WebSocket passing enabled) in front of the demo app,
/// plus `server_extra` lines in `[server]`.
fn gateway(demo: &DemoApps, server_extra: &str) -> Gateway {
    Gateway::start(&format!(
        r#"
[server]
http_listen = "{{http_listen}}"
{server_extra}

[[apps]]
access = "public"
id = "mot-cua"
name = "Một cửa điện tử"
websocket = true
upstreams = ["http://{}"]
"#,
        demo.one_stop_shop
    ))
}

fn seen_with(gateway: &Gateway, headers: &str) -> (RawResponse, RequestSeen) {
    request_seen(gateway, "motcua.namdinh.gov.vn", "/api/request", headers)
}

/// Every value of header `name` the upstream received.
fn all_values<'a>(seen: &'a RequestSeen, name: &str) -> Vec<&'a str> {
    seen.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn hop_by_hop_headers_do_not_reach_the_upstream() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&demo, "");
    let (_, seen) = seen_with(
        &gateway,
        "Connection: X-Secret-Hop, Keep-Alive\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\n\
         Proxy-Connection: keep-alive\r\nTE: gzip\r\nX-Ordinary: giữ-lại\r\n",
    );
    for gone in ["x-secret-hop", "keep-alive", "proxy-connection", "te"] {
        assert_eq!(seen.header(gone), None, "{gone} reached the upstream");
    }
    // A header the Connection header does not name goes through untouched.
    assert_eq!(seen.header("x-ordinary"), Some("giữ-lại"));
    assert_ne!(seen.header("connection"), Some("X-Secret-Hop, Keep-Alive"));

    // `TE: trailers` is the one TE value a proxy passes on.
    let (_, seen) = seen_with(&gateway, "TE: trailers\r\n");
    assert_eq!(seen.header("te"), Some("trailers"));

    // An Upgrade that is not a WebSocket handshake is a hop-by-hop request, not forwarded.
    let (_, seen) = seen_with(
        &gateway,
        "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
    );
    assert_eq!(seen.header("upgrade"), None);
    let (_, seen) = seen_with(&gateway, "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n");
    assert_eq!(seen.header("upgrade"), None);
    assert_eq!(seen.header("http2-settings"), None);
    assert_ne!(seen.header("connection"), Some("upgrade"));
}

#[test]
fn identity_namespace_sent_by_a_client_is_stripped() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&demo, "");
    let (_, seen) = seen_with(
        &gateway,
        "X-Remote-User: admin\r\nx-govgate-user: admin\r\nX-REMOTE-ROLES: lanh-dao\r\n\
         X-GovGate-Assertion: forged\r\nx-Remote-Email: a@namdinh.gov.vn\r\nX-Remoteness: giu\r\n",
    );
    for spoofed in [
        "x-remote-user",
        "x-govgate-user",
        "x-remote-roles",
        "x-govgate-assertion",
        "x-remote-email",
    ] {
        assert_eq!(seen.header(spoofed), None, "{spoofed} reached the upstream");
    }
    assert!(
        !seen
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("x-remote-") || n.starts_with("x-govgate-")),
        "{:?}",
        seen.headers
    );
    // Only the prefix is reserved, not every name that starts alike.
    assert_eq!(seen.header("x-remoteness"), Some("giu"));
}

#[test]
fn custom_identity_prefixes_are_stripped() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(
        &demo,
        r#"identity_header_prefixes = ["x-remote-", "X-NamDinh-Auth-"]"#,
    );
    let (_, seen) = seen_with(
        &gateway,
        "X-NamDinh-Auth-User: admin\r\nx-namdinh-auth-roles: root\r\nX-Remote-User: admin\r\nX-NamDinh-Other: giu\r\n",
    );
    assert_eq!(seen.header("x-namdinh-auth-user"), None);
    assert_eq!(seen.header("x-namdinh-auth-roles"), None);
    assert_eq!(seen.header("x-remote-user"), None);
    assert_eq!(seen.header("x-namdinh-other"), Some("giu"));
}

const SPOOFED_FORWARDING: &str =
    "X-Forwarded-For: 1.2.3.4\r\nForwarded: for=1.2.3.4;proto=https\r\n\
     X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n";

#[test]
fn forwarding_headers_from_an_untrusted_peer_are_replaced() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&demo, "");
    let (_, seen) = seen_with(&gateway, SPOOFED_FORWARDING);
    assert_eq!(all_values(&seen, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(all_values(&seen, "x-forwarded-proto"), ["http"]);
    assert_eq!(
        all_values(&seen, "x-forwarded-host"),
        ["motcua.namdinh.gov.vn"]
    );
    assert_eq!(
        all_values(&seen, "forwarded"),
        ["for=127.0.0.1;proto=http;host=motcua.namdinh.gov.vn"]
    );

    // Without any spoofing the same headers are set.
    let (_, seen) = seen_with(&gateway, "");
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some("motcua.namdinh.gov.vn")
    );
}

#[test]
fn forwarded_host_with_a_port_is_quoted_per_rfc7239() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&demo, "");
    let (_, seen) = request_seen(&gateway, "motcua.namdinh.gov.vn:8443", "/api/request", "");
    assert_eq!(
        seen.header("forwarded"),
        Some("for=127.0.0.1;proto=http;host=\"motcua.namdinh.gov.vn:8443\"")
    );
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some("motcua.namdinh.gov.vn:8443")
    );
}

#[test]
fn a_trusted_proxy_chain_is_appended_to() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&demo, r#"trusted_proxies = ["127.0.0.0/8"]"#);
    let (_, seen) = seen_with(&gateway, SPOOFED_FORWARDING);
    assert_eq!(all_values(&seen, "x-forwarded-for"), ["1.2.3.4, 127.0.0.1"]);
    assert_eq!(
        all_values(&seen, "forwarded"),
        ["for=1.2.3.4;proto=https, for=127.0.0.1;proto=http;host=motcua.namdinh.gov.vn"]
    );
    // The trusted proxy's view of the scheme and host stands.
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert_eq!(seen.header("x-forwarded-host"), Some("evil.example"));

    // Repeated X-Forwarded-For lines are merged into one list.
    let (_, seen) = seen_with(
        &gateway,
        "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 10.0.0.1\r\n",
    );
    assert_eq!(
        all_values(&seen, "x-forwarded-for"),
        ["203.0.113.7, 10.0.0.1, 127.0.0.1"]
    );
}

fn is_generated_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn request_id_goes_upstream_and_back_and_client_ids_are_not_trusted() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&demo, "");

    let (response, seen) = seen_with(&gateway, "");
    let sent_up = seen.header("x-request-id").expect("request id upstream");
    assert!(is_generated_id(sent_up), "{sent_up}");
    assert_eq!(response.header("x-request-id"), Some(sent_up));

    let (other, _) = seen_with(&gateway, "");
    assert_ne!(other.header("x-request-id"), Some(sent_up), "ids repeat");

    let (response, seen) = seen_with(&gateway, "X-Request-Id: chon-boi-khach-123\r\n");
    let sent_up = seen.header("x-request-id").unwrap();
    assert_ne!(sent_up, "chon-boi-khach-123");
    assert!(is_generated_id(sent_up), "{sent_up}");
    assert_eq!(all_values(&seen, "x-request-id").len(), 1);
    assert_eq!(response.header("x-request-id"), Some(sent_up));
}

#[test]
fn a_trusted_proxy_keeps_its_plain_request_id() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&demo, r#"trusted_proxies = ["127.0.0.0/8"]"#);

    let (response, seen) = seen_with(&gateway, "X-Request-Id: lb-01:abc_DEF-123.4\r\n");
    assert_eq!(seen.header("x-request-id"), Some("lb-01:abc_DEF-123.4"));
    assert_eq!(response.header("x-request-id"), Some("lb-01:abc_DEF-123.4"));

    // Even a trusted proxy's id is replaced when it is not plain (it lands in logs and pages).
    let (response, seen) = seen_with(&gateway, "X-Request-Id: <script>alert(1)</script>\r\n");
    let sent_up = seen.header("x-request-id").unwrap();
    assert!(is_generated_id(sent_up), "{sent_up}");
    assert_eq!(response.header("x-request-id"), Some(sent_up));
}

#[test]
fn hop_by_hop_headers_of_the_upstream_response_do_not_reach_the_client() {
    let upstream = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nConnection: close, X-Internal-Hop\r\nX-Internal-Hop: secret\r\n\
          Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n\
          Trailer: X-Checksum\r\nX-Request-Id: upstream-chose-this\r\nX-App: giu\r\n\
          Content-Length: 2\r\n\r\nok",
    );
    let gateway = Gateway::start(&format!(
        "[[apps]]\naccess = \"public\"\nid = \"mot-cua\"\nname = \"Một cửa\"\nupstreams = [\"{}\"]\n",
        upstream.url()
    ));
    let response = http_get(gateway.http_addr(), "a.gov.vn", "/").unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "ok");
    assert_eq!(response.header("x-app"), Some("giu"));
    for gone in [
        "x-internal-hop",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "trailer",
    ] {
        assert_eq!(response.header(gone), None, "{gone} reached the client");
    }
    // The gateway's request id replaces whatever the upstream said.
    let id = response.header("x-request-id").unwrap();
    assert!(is_generated_id(id), "{id}");
}
