//! End-to-end tests of the operations surface of a running gateway: `/healthz`,
//! `/readyz` (redb and Redis stores, Redis going away and coming back), `/metrics`
//! counts, and the JSON logs (request ids, no secrets).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::gateway::{http_get, http_request, Gateway, RawResponse};
use support::nginx::Nginx;
use support::redis::RedisServer;

const APP_HOST: &str = "cong.namdinh.test";

/// nginx behind app `cong` on [`APP_HOST`] only, so other hosts reach no app.
fn origin_gateway(origin: &Nginx, extra: &str) -> Gateway {
    Gateway::start(&format!(
        r#"{extra}
[[apps]]
access = "public"
id = "cong"
name = "Cổng thông tin điện tử"
hosts = ["{APP_HOST}"]
upstreams = ["{origin}"]
"#,
        origin = origin.url()
    ))
}

fn readiness(gateway: &Gateway) -> (u16, serde_json::Value) {
    let response = http_get(gateway.http_addr(), "localhost", "/readyz").unwrap();
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{response:?}"
    );
    let body = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("/readyz is not JSON ({e}): {}", response.text()));
    (response.status, body)
}

/// The `store` check of a `/readyz` body.
fn store_check(body: &serde_json::Value) -> &serde_json::Value {
    body["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == "store"))
        .unwrap_or_else(|| panic!("no store check in {body}"))
}

/// Polls `/readyz` until it answers `status`, or panics with the last answer.
fn wait_for_readiness(gateway: &Gateway, status: u16, patience: Duration) -> serde_json::Value {
    let deadline = Instant::now() + patience;
    loop {
        let (current, body) = readiness(gateway);
        if current == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {current} (wanted {status}): {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn healthz_and_readyz_answer_with_the_redb_store() {
    let origin = Nginx::origin();
    let gateway = origin_gateway(&origin, "");
    let health = http_get(gateway.http_addr(), "any.host.test", "/healthz").unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.text(), "ok\n");

    let (status, body) = readiness(&gateway);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    let store = store_check(&body);
    assert_eq!(store["backend"], "redb", "{body}");
    assert_eq!(store["ok"], true, "{body}");
}

fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn get(gateway: &Gateway, host: &str, path: &str) -> RawResponse {
    http_get(gateway.http_addr(), host, path).unwrap()
}

#[test]
fn metrics_count_what_was_sent() {
    let origin = Nginx::origin();
    let gateway = origin_gateway(&origin, "");
    for _ in 0..5 {
        assert_eq!(get(&gateway, APP_HOST, "/").status, 200);
    }
    for _ in 0..2 {
        assert_eq!(get(&gateway, APP_HOST, "/status/500").status, 500);
    }
    let post = http_request(
        gateway.http_addr(),
        &format!("POST / HTTP/1.1\r\nHost: {APP_HOST}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"),
    )
    .unwrap();
    assert_eq!(post.status, 200);
    assert_eq!(
        get(&gateway, "khong-co.namdinh.test", "/khong-co-trang").status,
        404
    );

    // A keep-alive connection that has been served stays open during the scrape.
    let mut idle = TcpStream::connect(gateway.http_addr()).unwrap();
    idle.write_all(format!("GET / HTTP/1.1\r\nHost: {APP_HOST}\r\n\r\n").as_bytes())
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    let scrape = get(&gateway, "localhost", "/metrics");
    assert_eq!(scrape.status, 200);
    let metrics = scrape.text();
    let count = |series: &str| metric_value(&metrics, series);
    assert_eq!(
        count(r#"govgate_http_requests_total{app="cong",method="GET",status="2xx"}"#),
        Some(6.0),
        "{metrics}"
    );
    assert_eq!(
        count(r#"govgate_http_requests_total{app="cong",method="GET",status="5xx"}"#),
        Some(2.0)
    );
    assert_eq!(
        count(r#"govgate_http_requests_total{app="cong",method="POST",status="2xx"}"#),
        Some(1.0)
    );
    assert_eq!(
        count(r#"govgate_http_requests_total{app="-",method="GET",status="4xx"}"#),
        Some(1.0)
    );
    // Ops endpoints are not counted as app traffic, and no 4xx was sent to `cong`.
    assert_eq!(
        count(r#"govgate_http_requests_total{app="cong",method="GET",status="4xx"}"#),
        None
    );
    assert_eq!(
        count(r#"govgate_http_request_duration_seconds_count{app="cong"}"#),
        Some(9.0)
    );
    assert_eq!(
        count(r#"govgate_http_request_duration_seconds_bucket{app="cong",le="+Inf"}"#),
        Some(9.0)
    );
    assert!(metrics.contains("# TYPE govgate_http_request_duration_seconds histogram"));
    let open = count("govgate_open_connections").expect("open connections gauge");
    assert!(
        open >= 2.0,
        "the idle keep-alive and the scrape are open: {metrics}"
    );
    // Closing it brings the gauge back down: only the scrape itself stays open.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = get(&gateway, "localhost", "/metrics").text();
        if metric_value(&metrics, "govgate_open_connections") == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "gauge never went back to 1: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// JSON log lines of the gateway's stdout (other lines, e.g. panics, are skipped).
fn json_log_lines(gateway: &Gateway) -> Vec<serde_json::Value> {
    gateway
        .logs()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Waits until an access-log line with this request id appears.
fn access_line(gateway: &Gateway, request_id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = json_log_lines(gateway)
            .into_iter()
            .find(|line| line["target"] == "govgate::access" && line["request_id"] == request_id);
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no access line for {request_id}:\n{}",
            gateway.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn logs_are_json_with_request_ids_and_never_carry_secrets() {
    let origin = Nginx::origin();
    let dead_port = support::free_port();
    // Debug level: even the most talkative logging must not leak secrets.
    let gateway = Gateway::start(&format!(
        r#"
[log]
level = "debug"

[[apps]]
access = "public"
id = "cong"
name = "Cổng"
hosts = ["{APP_HOST}"]
upstreams = ["{origin}"]

[[apps]]
access = "public"
id = "ngung"
name = "Ứng dụng ngừng chạy"
hosts = ["ngung.namdinh.test"]
upstreams = ["http://127.0.0.1:{dead_port}"]
retries = 0
"#,
        origin = origin.url()
    ));
    let secret_request = |host: &str, path: &str| {
        http_request(
            gateway.http_addr(),
            &format!(
                "GET {path}?token=SECRET123&ma=1 HTTP/1.1\r\nHost: {host}\r\n\
                 Authorization: Bearer SECRET456\r\nCookie: phien=SECRET789\r\n\
                 Connection: close\r\n\r\n"
            ),
        )
        .unwrap()
    };
    let proxied = secret_request(APP_HOST, "/echo");
    assert_eq!(proxied.status, 200);
    // The secrets did reach the app: the gateway forwards them, it only must not log them.
    assert!(proxied.text().contains("authorization: Bearer SECRET456"));
    let unrouted = secret_request("khong-co.namdinh.test", "/tra-cuu");
    assert_eq!(unrouted.status, 404);
    let failed = secret_request("ngung.namdinh.test", "/ho-so");
    assert_eq!(failed.status, 502);

    for (response, app, path, status) in [
        (&proxied, "cong", "/echo", 200),
        (&unrouted, "-", "/tra-cuu", 404),
        (&failed, "ngung", "/ho-so", 502),
    ] {
        let request_id = response.header("x-request-id").expect("X-Request-Id");
        assert_eq!(request_id.len(), 16, "{request_id}");
        let line = access_line(&gateway, request_id);
        assert_eq!(line["app"], app, "{line}");
        assert_eq!(line["method"], "GET", "{line}");
        assert_eq!(line["path"], path, "{line}");
        assert_eq!(line["status"], status, "{line}");
    }
    // Every line that mentions a request's id carries it, unquoted, as `request_id`;
    // the failed request also has its warning line.
    let lines = json_log_lines(&gateway);
    for response in [&proxied, &unrouted, &failed] {
        let request_id = response.header("x-request-id").unwrap();
        let mentioning: Vec<_> = lines
            .iter()
            .filter(|line| line.to_string().contains(request_id))
            .collect();
        for line in &mentioning {
            assert_eq!(line["request_id"], request_id, "{line}");
        }
        if std::ptr::eq(response, &failed) {
            assert!(
                mentioning.iter().any(|l| l["level"] == "WARN"),
                "{mentioning:?}"
            );
        }
    }
    // Every request got its own id.
    let ids: std::collections::HashSet<_> = [&proxied, &unrouted, &failed]
        .iter()
        .map(|r| r.header("x-request-id").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);

    let logs = gateway.logs();
    for secret in ["SECRET123", "SECRET456", "SECRET789", "token="] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
}

fn redis_gateway(origin: &Nginx, redis: &RedisServer) -> Gateway {
    origin_gateway(
        origin,
        &format!(
            "[store]\nbackend = \"redis\"\n\n[store.redis]\nurls = [\"{}\"]\nconnect_timeout = \"1s\"\ncommand_timeout = \"1s\"\n",
            redis.url()
        ),
    )
}

#[test]
fn readyz_follows_redis_going_away_and_coming_back() {
    let origin = Nginx::origin();
    let mut redis = RedisServer::start();
    let gateway = redis_gateway(&origin, &redis);

    let (status, body) = readiness(&gateway);
    assert_eq!(status, 200, "{body}");
    assert_eq!(store_check(&body)["backend"], "redis", "{body}");

    redis.stop();
    let body = wait_for_readiness(&gateway, 503, Duration::from_secs(20));
    assert_eq!(body["status"], "not ready", "{body}");
    let store = store_check(&body);
    assert_eq!(store["backend"], "redis", "{body}");
    assert_eq!(store["ok"], false, "{body}");
    assert!(
        store["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    // The store being down does not stop proxying.
    assert_eq!(get(&gateway, APP_HOST, "/").status, 200);
    assert_eq!(get(&gateway, "localhost", "/healthz").status, 200);

    redis.restart();
    let body = wait_for_readiness(&gateway, 200, Duration::from_secs(30));
    assert_eq!(store_check(&body)["ok"], true, "{body}");
    assert_eq!(get(&gateway, APP_HOST, "/").status, 200);
}

#[test]
fn gateway_starts_unready_without_redis_and_becomes_ready_when_it_appears() {
    let origin = Nginx::origin();
    let redis_port = support::free_port();
    let gateway = origin_gateway(
        &origin,
        &format!(
            "[store]\nbackend = \"redis\"\n\n[store.redis]\nurls = [\"redis://127.0.0.1:{redis_port}\"]\nconnect_timeout = \"1s\"\ncommand_timeout = \"1s\"\n"
        ),
    );
    // Alive and proxying, but not ready.
    let body = wait_for_readiness(&gateway, 503, Duration::from_secs(10));
    assert_eq!(store_check(&body)["backend"], "redis", "{body}");
    assert_eq!(store_check(&body)["ok"], false, "{body}");
    assert_eq!(get(&gateway, APP_HOST, "/").status, 200);

    let _redis = RedisServer::start_with(redis_port, &[]);
    let body = wait_for_readiness(&gateway, 200, Duration::from_secs(30));
    assert_eq!(body["status"], "ready", "{body}");
}
