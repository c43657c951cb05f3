//! End-to-end routing through `govgate serve`: which upstream answers, with which URI and
//! Host, and the branded 404 when nothing matches. Upstreams are real nginx servers that
//! report their own name, and the in-process demo apps.

mod support;

use govgate::demo::DemoApps;
use govgate::demo::RequestSeen;
use support::gateway::{http_get, http_request, Gateway, RawResponse};
use support::proxy::{curl, field, request_seen, NamedUpstreams};

const ROUTED_NAMES: [&str; 10] = [
    "exact",
    "wild",
    "wild-so",
    "anyhost",
    "qlvb",
    "qlvb-admin",
    "strip",
    "base",
    "basestrip",
    "preserve",
];

/// One gateway in front of one named nginx upstream per app of [`ROUTED_NAMES`].
fn routing_gateway() -> (NamedUpstreams, Gateway) {
    let upstreams = NamedUpstreams::start(&ROUTED_NAMES);
    let url = |name: &str| {
        upstreams.url(
            ROUTED_NAMES
                .iter()
                .position(|n| *n == name)
                .expect("known upstream name"),
        )
    };
    let config = format!(
        r#"
[[apps]]
access = "public"
id = "exact"
name = "Một cửa"
hosts = ["motcua.namdinh.gov.vn"]
upstreams = ["{exact}"]

[[apps]]
access = "public"
id = "wild"
name = "Các trang tỉnh"
hosts = ["*.namdinh.gov.vn"]
upstreams = ["{wild}"]

[[apps]]
access = "public"
id = "wild-so"
name = "Các sở"
hosts = ["*.so.namdinh.gov.vn"]
upstreams = ["{wild_so}"]

[[apps]]
access = "public"
id = "anyhost"
name = "Mặc định"
upstreams = ["{anyhost}"]

[[apps]]
access = "public"
id = "qlvb"
name = "Quản lý văn bản"
hosts = ["portal.namdinh.gov.vn"]
path_prefix = "/qlvb"
upstreams = ["{qlvb}"]

[[apps]]
access = "public"
id = "qlvb-admin"
name = "Quản trị văn bản"
hosts = ["portal.namdinh.gov.vn"]
path_prefix = "/qlvb/admin/"
upstreams = ["{qlvb_admin}"]

[[apps]]
access = "public"
id = "strip"
name = "Một cửa (tiền tố)"
hosts = ["strip.gov.vn"]
path_prefix = "/mot-cua"
strip_prefix = true
upstreams = ["{strip}"]

[[apps]]
access = "public"
id = "base"
name = "Đường dẫn gốc"
hosts = ["base.gov.vn"]
upstreams = ["{base}/base/path/"]

[[apps]]
access = "public"
id = "basestrip"
name = "Đường dẫn gốc và tiền tố"
hosts = ["basestrip.gov.vn"]
path_prefix = "/app"
strip_prefix = true
upstreams = ["{basestrip}/inner"]

[[apps]]
access = "public"
id = "preserve"
name = "Giữ Host"
hosts = ["preserve.gov.vn"]
preserve_host = true
upstreams = ["{preserve}"]
"#,
        exact = url("exact"),
        wild = url("wild"),
        wild_so = url("wild-so"),
        anyhost = url("anyhost"),
        qlvb = url("qlvb"),
        qlvb_admin = url("qlvb-admin"),
        strip = url("strip"),
        base = url("base"),
        basestrip = url("basestrip"),
        preserve = url("preserve"),
    );
    let gateway = Gateway::start(&config);
    (upstreams, gateway)
}

/// `(upstream name, URI it received, Host it received)` for a GET through the gateway.
fn routed(gateway: &Gateway, host: &str, path: &str) -> (String, String, String) {
    let response = http_get(gateway.http_addr(), host, path).expect("GET through the gateway");
    assert_eq!(response.status, 200, "{host}{path}: {}", response.text());
    let body = response.text();
    let get = |key: &str| field(&body, key).unwrap_or_default().to_string();
    (get("name"), get("uri"), get("host"))
}

fn upstream_name(gateway: &Gateway, host: &str, path: &str) -> String {
    routed(gateway, host, path).0
}

#[test]
fn hosts_route_exact_first_then_longest_wildcard_then_any_host() {
    let (_upstreams, gateway) = routing_gateway();
    let name = |host: &str| upstream_name(&gateway, host, "/trang");

    assert_eq!(name("motcua.namdinh.gov.vn"), "exact");
    // Host matching ignores case, the port and a trailing dot.
    assert_eq!(name("MotCua.NamDinh.GOV.vn:8080"), "exact");
    assert_eq!(name("motcua.namdinh.gov.vn."), "exact");

    assert_eq!(name("mail.namdinh.gov.vn"), "wild");
    assert_eq!(name("a.b.namdinh.gov.vn"), "wild");
    // The longer wildcard suffix wins.
    assert_eq!(name("yte.so.namdinh.gov.vn"), "wild-so");
    assert_eq!(name("x.yte.so.namdinh.gov.vn"), "wild-so");
    // A wildcard never covers its bare domain.
    assert_eq!(name("so.namdinh.gov.vn"), "wild");
    assert_eq!(name("namdinh.gov.vn"), "anyhost");
    // A look-alike suffix is not a subdomain.
    assert_eq!(name("evilnamdinh.gov.vn"), "anyhost");

    assert_eq!(name("unknown.example"), "anyhost");
    assert_eq!(name("127.0.0.1"), "anyhost");
}

#[test]
fn longest_path_prefix_on_a_segment_boundary_wins() {
    let (_upstreams, gateway) = routing_gateway();
    let name = |path: &str| upstream_name(&gateway, "portal.namdinh.gov.vn", path);

    assert_eq!(name("/qlvb"), "qlvb");
    assert_eq!(name("/qlvb/"), "qlvb");
    assert_eq!(name("/qlvb/van-ban-den?trang=2"), "qlvb");
    assert_eq!(name("/qlvb/admin"), "qlvb-admin");
    assert_eq!(name("/qlvb/admin/nguoi-dung"), "qlvb-admin");
    // `/qlvb/administrator` is not under `/qlvb/admin`; `/qlvbx` is not under `/qlvb`.
    assert_eq!(name("/qlvb/administrator"), "qlvb");
    // Nothing of the exact host matches: the wildcard of the host's domain answers.
    assert_eq!(name("/qlvbx"), "wild");
    assert_eq!(name("/"), "wild");

    // Without strip_prefix the upstream sees the full path.
    let (_, uri, _) = routed(
        &gateway,
        "portal.namdinh.gov.vn",
        "/qlvb/van-ban-den?trang=2",
    );
    assert_eq!(uri, "/qlvb/van-ban-den?trang=2");
}

#[test]
fn strip_prefix_and_upstream_base_path_rewrite_the_uri() {
    let (_upstreams, gateway) = routing_gateway();
    let uri = |host: &str, path: &str| routed(&gateway, host, path).1;

    assert_eq!(uri("strip.gov.vn", "/mot-cua/ho-so?id=7"), "/ho-so?id=7");
    assert_eq!(uri("strip.gov.vn", "/mot-cua"), "/");
    assert_eq!(uri("strip.gov.vn", "/mot-cua/"), "/");
    assert_eq!(uri("strip.gov.vn", "/mot-cua?x=1"), "/?x=1");
    assert_eq!(uri("strip.gov.vn", "/mot-cua/a/mot-cua/b"), "/a/mot-cua/b");
    // Outside the prefix, the strip app does not answer at all.
    assert_eq!(
        upstream_name(&gateway, "strip.gov.vn", "/mot-cuax"),
        "anyhost"
    );

    assert_eq!(uri("base.gov.vn", "/a/b?c=d"), "/base/path/a/b?c=d");
    assert_eq!(uri("base.gov.vn", "/"), "/base/path/");
    assert_eq!(uri("basestrip.gov.vn", "/app/x?y=1"), "/inner/x?y=1");
    assert_eq!(uri("basestrip.gov.vn", "/app"), "/inner/");
}

#[test]
fn preserve_host_decides_which_host_the_upstream_sees() {
    let (upstreams, gateway) = routing_gateway();
    let preserve_port = upstreams.nginx.ports()[9];
    let exact_port = upstreams.nginx.ports()[0];

    let (name, _, host) = routed(&gateway, "preserve.gov.vn:8443", "/");
    assert_eq!(name, "preserve");
    assert_eq!(host, "preserve.gov.vn:8443");
    assert_ne!(host, format!("127.0.0.1:{preserve_port}"));

    let (name, _, host) = routed(&gateway, "motcua.namdinh.gov.vn", "/");
    assert_eq!(name, "exact");
    assert_eq!(host, format!("127.0.0.1:{exact_port}"));
}

fn assert_branded_not_found(response: &RawResponse) {
    assert_eq!(response.status, 404, "{}", response.text());
    let request_id = response
        .header("x-request-id")
        .expect("X-Request-Id header");
    assert!(!request_id.is_empty());
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = response.text();
    assert!(page.contains("Không tìm thấy trang"), "{page}");
    assert!(
        page.contains(request_id),
        "page lacks id {request_id}: {page}"
    );
}

#[test]
fn unknown_host_or_path_gets_the_branded_404_page() {
    let upstreams = NamedUpstreams::start(&["only"]);
    let gateway = Gateway::start(&format!(
        r#"
[[apps]]
access = "public"
id = "only"
name = "Ứng dụng duy nhất"
hosts = ["a.gov.vn"]
path_prefix = "/app"
upstreams = ["{}"]
"#,
        upstreams.url(0)
    ));
    let addr = gateway.http_addr();

    // The app itself answers.
    let ok = http_get(addr, "a.gov.vn", "/app/x").unwrap();
    assert_eq!(ok.status, 200);
    // nginx may write its access line a moment after answering: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !upstreams.nginx.access_log().contains("/app/x") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log_after_routed = upstreams.nginx.access_log();

    let unknown_host = http_get(addr, "b.gov.vn", "/app/x").unwrap();
    assert_branded_not_found(&unknown_host);
    let unknown_path = http_get(addr, "a.gov.vn", "/apple").unwrap();
    assert_branded_not_found(&unknown_path);
    assert_ne!(
        unknown_host.header("x-request-id"),
        unknown_path.header("x-request-id"),
        "every request gets its own id"
    );

    let json = http_request(
        addr,
        "GET /khong-co HTTP/1.1\r\nHost: b.gov.vn\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(json.status, 404);
    assert!(json
        .header("content-type")
        .unwrap_or_default()
        .starts_with("application/json"));
    let value: serde_json::Value = serde_json::from_slice(&json.body).expect("JSON error body");
    assert_eq!(value["error"], "not_found");
    assert_eq!(value["message_vi"], "Không tìm thấy trang");
    assert_eq!(
        value["request_id"].as_str(),
        json.header("x-request-id"),
        "{value}"
    );

    // None of the unrouted requests reached the upstream.
    assert_eq!(upstreams.nginx.access_log(), log_after_routed);
}

#[test]
fn vietnamese_query_and_path_reach_the_upstream_byte_exact() {
    let demo = DemoApps::start().unwrap();
    let gateway = Gateway::start(&format!(
        r#"
[[apps]]
access = "public"
id = "mot-cua"
name = "Một cửa điện tử"
upstreams = ["http://{}"]
"#,
        demo.one_stop_shop
    ));
    let path = "/tra-cuu/h%E1%BB%93-s%C6%A1/api/request";
    let query = "q=h%E1%BB%93%20s%C6%A1&x=%C4%91&y=a+b%2Fc%26d&z=%25";
    let (_, seen) = request_seen(&gateway, "motcua.gov.vn", &format!("{path}?{query}"), "");
    assert_eq!(seen.path, path);
    assert_eq!(seen.raw_query.as_deref(), Some(query));
    assert_eq!(seen.query_value("q"), Some("hồ sơ"));
    assert_eq!(seen.query_value("x"), Some("đ"));
    assert_eq!(seen.query_value("y"), Some("a b/c&d"));
    assert_eq!(seen.query_value("z"), Some("%"));
}

#[test]
fn every_method_reaches_the_upstream_unchanged() {
    let upstreams = NamedUpstreams::start(&["methods"]);
    let gateway = Gateway::start(&format!(
        "[[apps]]\naccess = \"public\"\nid = \"methods\"\nname = \"Phương thức\"\nupstreams = [\"{}\"]\n",
        upstreams.url(0)
    ));
    let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    for method in methods {
        let response = http_request(
            gateway.http_addr(),
            &format!(
                "{method} /phuong-thuc/{method} HTTP/1.1\r\nHost: any.gov.vn\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
        .unwrap();
        assert_eq!(response.status, 200, "{method}");
        assert_eq!(response.header("x-upstream-method"), Some(method));
        if method == "HEAD" {
            assert!(response.body.is_empty(), "HEAD got a body");
        } else {
            assert_eq!(field(&response.text(), "method"), Some(method));
        }
    }
    let log = upstreams.nginx.access_log();
    for method in methods {
        assert!(
            log.contains(&format!("\"{method} /phuong-thuc/{method} HTTP/1.1\" 200")),
            "{method} missing from the upstream's log:\n{log}"
        );
    }
}

#[test]
fn dot_segments_cannot_climb_out_of_an_app_prefix() {
    let (upstreams, gateway) = routing_gateway();
    let addr = gateway.http_addr();
    // Each would reach the `qlvb` upstream while naming a path outside `/qlvb` once the
    // upstream resolves the dot segments.
    for path in [
        "/qlvb/../khac",
        "/qlvb/..",
        "/qlvb/./x/../../khac",
        "/qlvb/%2e%2e/khac",
        "/qlvb/%2E%2E/khac",
        "/qlvb/.%2e/khac",
        "/qlvb/%2e./khac?x=1",
    ] {
        let response = http_get(addr, "portal.namdinh.gov.vn", path).unwrap();
        assert_eq!(response.status, 400, "{path}: {}", response.text());
        assert!(response.header("x-request-id").is_some());
    }
    let log = upstreams.nginx.access_log();
    assert!(!log.contains("khac"), "{log}");

    // Dots inside a segment are ordinary names.
    for path in [
        "/qlvb/bao-cao..pdf",
        "/qlvb/.well-known/x",
        "/qlvb/...",
        "/qlvb/.an",
    ] {
        let (name, uri, _) = routed(&gateway, "portal.namdinh.gov.vn", path);
        assert_eq!(name, "qlvb", "{path}");
        assert_eq!(uri, path);
    }
}

#[test]
fn raw_utf8_in_the_request_target_reaches_the_upstream_unchanged() {
    let demo = DemoApps::start().unwrap();
    let gateway = Gateway::start(&format!(
        "[[apps]]\naccess = \"public\"\nid = \"mot-cua\"\nname = \"Một cửa\"\nupstreams = [\"http://{}\"]\n",
        demo.one_stop_shop
    ));
    let (_, seen) = request_seen(&gateway, "a.gov.vn", "/hồ-sơ/api/request?q=đ&x=NamĐịnh", "");
    assert_eq!(seen.path, "/hồ-sơ/api/request");
    assert_eq!(seen.raw_query.as_deref(), Some("q=đ&x=NamĐịnh"));
}

#[test]
fn http2_requests_route_by_their_authority() {
    let demo = DemoApps::start().unwrap();
    let gateway = Gateway::start(&format!(
        r#"
[server]
http_listen = "{{http_listen}}"
h2c = true

[[apps]]
access = "public"
id = "mot-cua"
name = "Một cửa"
hosts = ["motcua.namdinh.gov.vn"]
upstreams = ["http://{}"]
"#,
        demo.one_stop_shop
    ));
    let port = gateway.http_addr().port();
    let fetch = |host: &str| {
        curl(&[
            "--http2-prior-knowledge",
            "--connect-to",
            &format!("{host}:{port}:127.0.0.1:{port}"),
            "-w",
            "\n%{http_version} %{http_code}",
            &format!("http://{host}:{port}/ho-so/api/request?q=h%E1%BB%93"),
        ])
    };
    let output = fetch("motcua.namdinh.gov.vn");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (json, status) = text.rsplit_once('\n').unwrap();
    assert_eq!(status, "2 200", "{text}");
    let seen: RequestSeen = serde_json::from_str(json).unwrap();
    assert_eq!(seen.path, "/ho-so/api/request");
    assert_eq!(seen.raw_query.as_deref(), Some("q=h%E1%BB%93"));
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some(format!("motcua.namdinh.gov.vn:{port}").as_str())
    );
    assert_eq!(
        seen.header("host"),
        Some(demo.one_stop_shop.to_string().as_str())
    );

    let output = fetch("khac.namdinh.gov.vn");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(text.ends_with("\n2 404"), "{text}");
    assert!(text.contains("Không tìm thấy trang"), "{text}");
}
