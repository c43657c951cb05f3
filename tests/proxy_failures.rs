//! End-to-end failure handling through `govgate serve`: dead and silent upstreams, load
//! balancing with retries and passive health, oversized heads and slow clients.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use govgate::demo::DemoApps;
use support::free_port;
use support::gateway::{http_get, http_request, Gateway, RawResponse};
use support::nginx::Nginx;
use support::proxy::{field, metric, NamedUpstreams, ScriptedUpstream, SilentUpstream};

/// Generous bounds for "this does not hang": far above the configured timeouts.
const HANG_BOUND: Duration = Duration::from_secs(10);

fn app_config(upstreams: &[String], extra: &str) -> String {
    let list: Vec<String> = upstreams.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        r#"
[[apps]]
access = "public"
id = "mot-cua"
name = "Một cửa điện tử"
upstreams = [{}]
{extra}
"#,
        list.join(", ")
    )
}

fn nothing_listening() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

fn connect_errors(gateway: &Gateway) -> f64 {
    metric(
        gateway,
        "govgate_upstream_errors_total{app=\"mot-cua\",kind=\"connect\"}",
    )
}

fn send(gateway: &Gateway, method: &str, path: &str) -> RawResponse {
    http_request(
        gateway.http_addr(),
        &format!("{method} {path} HTTP/1.1\r\nHost: a.gov.vn\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndata"),
    )
    .expect("request through the gateway")
}

#[test]
fn dead_upstream_gets_a_502_page_without_waiting_for_the_connect_timeout() {
    let gateway = Gateway::start(&app_config(
        &[nothing_listening()],
        "timeouts = { connect = \"60s\" }",
    ));
    let started = Instant::now();
    let response = http_get(gateway.http_addr(), "a.gov.vn", "/").unwrap();
    assert!(
        started.elapsed() < HANG_BOUND,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(response.status, 502, "{}", response.text());
    let request_id = response.header("x-request-id").expect("request id");
    assert!(response.text().contains(request_id));
    assert!(connect_errors(&gateway) >= 1.0);
}

#[test]
fn upstream_that_never_answers_gets_a_504() {
    let origin = Nginx::origin();
    let gateway = Gateway::start(&app_config(
        &[origin.url()],
        "timeouts = { response_header = \"1s\" }",
    ));
    let started = Instant::now();
    let response = http_get(gateway.http_addr(), "a.gov.vn", "/hang").unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(response.status, 504, "{}", response.text());
    assert_eq!(
        metric(
            &gateway,
            "govgate_upstream_errors_total{app=\"mot-cua\",kind=\"timeout\"}"
        ),
        1.0
    );
    // The same upstream still answers what it can.
    assert_eq!(
        http_get(gateway.http_addr(), "a.gov.vn", "/")
            .unwrap()
            .status,
        200
    );
}

fn upstream_name(response: &RawResponse) -> String {
    assert_eq!(response.status, 200, "{}", response.text());
    field(&response.text(), "name")
        .unwrap_or_default()
        .to_string()
}

#[test]
fn round_robin_alternates_between_healthy_upstreams() {
    let upstreams = NamedUpstreams::start(&["mot", "hai"]);
    let gateway = Gateway::start(&app_config(&[upstreams.url(0), upstreams.url(1)], ""));
    let names: Vec<String> = (0..8)
        .map(|_| upstream_name(&http_get(gateway.http_addr(), "a.gov.vn", "/").unwrap()))
        .collect();
    for pair in names.windows(2) {
        assert_ne!(pair[0], pair[1], "{names:?}");
    }
    assert!(names.contains(&"mot".to_string()) && names.contains(&"hai".to_string()));
}

#[test]
fn idempotent_requests_are_retried_elsewhere_and_posts_are_not() {
    let upstreams = NamedUpstreams::start(&["song"]);
    let gateway = Gateway::start(&app_config(
        &[nothing_listening(), upstreams.url(0)],
        "health = { max_failures = 1000 }",
    ));
    for method in [
        "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "GET", "GET", "GET",
    ] {
        let response = send(&gateway, method, "/thu-lai");
        assert_eq!(response.status, 200, "{method}: {}", response.text());
        assert_eq!(response.header("x-upstream-name"), Some("song"), "{method}");
    }
    let errors_after_retries = connect_errors(&gateway);
    assert!(errors_after_retries >= 2.0, "{errors_after_retries}");

    // A POST that found the dead upstream is not sent again: it may not be safe to repeat.
    let statuses: Vec<u16> = (0..6)
        .map(|_| send(&gateway, "POST", "/nop").status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 502).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    for pair in statuses.windows(2) {
        assert_ne!(pair[0], pair[1], "{statuses:?}");
    }
    // No ejection with a high failure threshold: the dead upstream keeps being tried.
    assert!(connect_errors(&gateway) >= errors_after_retries + 3.0);
    let posts_seen = upstreams
        .nginx
        .access_log()
        .lines()
        .filter(|line| line.contains("\"POST /nop "))
        .count();
    assert_eq!(posts_seen, 3);
}

#[test]
fn passive_health_ejects_a_dead_upstream() {
    let upstreams = NamedUpstreams::start(&["song"]);
    let gateway = Gateway::start(&app_config(
        &[nothing_listening(), upstreams.url(0)],
        "health = { max_failures = 2, eject_for = \"30s\" }",
    ));
    let get = || http_get(gateway.http_addr(), "a.gov.vn", "/").unwrap();
    for _ in 0..6 {
        assert_eq!(upstream_name(&get()), "song");
    }
    let errors_at_ejection = connect_errors(&gateway);
    assert!(errors_at_ejection >= 2.0, "{errors_at_ejection}");

    for _ in 0..10 {
        assert_eq!(upstream_name(&get()), "song");
    }
    // Ejected: nobody tries to connect to it any more.
    assert_eq!(connect_errors(&gateway), errors_at_ejection);
    // POSTs, which are never retried, succeed too: the dead upstream is out of rotation.
    for _ in 0..4 {
        assert_eq!(send(&gateway, "POST", "/nop").status, 200);
    }
    assert!(gateway.logs().contains("ejected"), "{}", gateway.logs());
}

#[test]
fn least_connections_prefers_the_idle_upstream() {
    let demo = DemoApps::start().unwrap();
    let gateway = Gateway::start(&app_config(
        &[
            format!("http://{}", demo.one_stop_shop),
            format!("http://{}", demo.documents),
        ],
        "balance = \"least_connections\"",
    ));
    let addr = gateway.http_addr();
    let slow = std::thread::spawn(move || http_get(addr, "a.gov.vn", "/slow?ms=5000").unwrap());
    // Wait until the slow request's connection is open (this probe's own connection counts too).
    let deadline = Instant::now() + HANG_BOUND;
    while metric(&gateway, "govgate_open_connections") < 2.0 {
        assert!(Instant::now() < deadline, "slow request never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));

    let quick: Vec<String> = (0..5)
        .map(|_| {
            let response = http_get(addr, "a.gov.vn", "/api/request").unwrap();
            assert_eq!(response.status, 200);
            response.header("x-demo-app").unwrap().to_string()
        })
        .collect();
    assert!(
        !slow.is_finished(),
        "the slow request ended before the quick ones: the test proves nothing"
    );
    let slow_app = slow
        .join()
        .unwrap()
        .header("x-demo-app")
        .unwrap()
        .to_string();
    for app in &quick {
        assert_ne!(*app, slow_app, "{quick:?} while {slow_app} was busy");
    }
}

/// One nginx per name: `/slow` trickles 8 KiB at 2 KiB/s, anything else answers at once;
/// every response names its server in `X-Upstream-Name`.
fn trickling_upstreams(names: &[&str]) -> Vec<Nginx> {
    names
        .iter()
        .map(|name| {
            let dir = Nginx::prepare_dir();
            std::fs::write(dir.path().join("slow.txt"), "s".repeat(8 * 1024)).unwrap();
            let port = free_port();
            let blocks = format!(
                r#"
    server {{
        listen 127.0.0.1:{port};
        add_header X-Upstream-Name {name} always;
        location = /slow {{
            limit_rate 2k;
            limit_rate_after 0;
            alias {{dir}}/slow.txt;
        }}
        location / {{ return 200 "name={name}\n"; }}
    }}
"#
            );
            Nginx::start_in(dir, &blocks, None)
        })
        .collect()
}

#[test]
fn least_connections_counts_a_response_still_streaming() {
    let upstreams = trickling_upstreams(&["mot", "hai"]);
    let gateway = Gateway::start(&app_config(
        &[upstreams[0].url(), upstreams[1].url()],
        "balance = \"least_connections\"",
    ));
    let addr = gateway.http_addr();
    // The head comes at once, the body takes seconds: the upstream is busy all along.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: a.gov.vn\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            slow.read(&mut byte).unwrap(),
            1,
            "slow response ended early"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let busy = if head.contains("x-upstream-name: mot") {
        "mot"
    } else {
        "hai"
    };

    let quick: Vec<String> = (0..5)
        .map(|_| upstream_name(&http_get(addr, "a.gov.vn", "/").unwrap()))
        .collect();
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).unwrap();
    assert!(
        rest.len() > 1024,
        "the slow body was not streaming any more"
    );
    for name in &quick {
        assert_ne!(name, busy, "{quick:?} while {busy} was streaming a body");
    }
}

#[test]
fn oversized_request_heads_get_431() {
    let upstreams = NamedUpstreams::start(&["song"]);
    let gateway = Gateway::start(&format!(
        "[server]\nhttp_listen = \"{{http_listen}}\"\nmax_header_bytes = \"4KiB\"\nmax_headers = 20\n{}",
        app_config(&[upstreams.url(0)], "")
    ));
    let request = |headers: &str| {
        http_request(
            gateway.http_addr(),
            &format!("GET / HTTP/1.1\r\nHost: a.gov.vn\r\n{headers}Connection: close\r\n\r\n"),
        )
        .unwrap()
        .status
    };
    let header_lines =
        |n: usize| -> String { (0..n).map(|i| format!("X-H{i}: {i}\r\n")).collect() };

    // Within both limits.
    assert_eq!(
        request(&format!(
            "X-Big: {}\r\n{}",
            "a".repeat(2048),
            header_lines(10)
        )),
        200
    );
    // One header far beyond the byte limit.
    assert_eq!(request(&format!("X-Big: {}\r\n", "a".repeat(8000))), 431);
    // Too many small headers.
    assert_eq!(request(&header_lines(40)), 431);
    let log = upstreams.nginx.access_log();
    assert_eq!(log.lines().count(), 1, "{log}");
}

/// True once the peer has closed the connection (or answered and closed it).
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => true,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true,
    }
}

#[test]
fn slowloris_client_is_disconnected_after_the_header_read_timeout() {
    let upstreams = NamedUpstreams::start(&["song"]);
    let gateway = Gateway::start(&format!(
        "[server]\nhttp_listen = \"{{http_listen}}\"\nheader_read_timeout = \"1s\"\n{}",
        app_config(&[upstreams.url(0)], "")
    ));
    let mut stream = TcpStream::connect(gateway.http_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a.gov.vn\r\nX-Cham: ")
        .unwrap();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < HANG_BOUND,
            "a client trickling its head is still connected after {HANG_BOUND:?}"
        );
        if stream.write_all(b"a").is_err() || closed_by_peer(&mut stream) {
            break;
        }
    }
    assert_eq!(
        upstreams.nginx.access_log(),
        "",
        "the partial head was forwarded"
    );
}

#[test]
fn client_that_stalls_mid_body_is_cut_off_and_upstream_never_gets_it_whole() {
    let upstream = SilentUpstream::start();
    let gateway = Gateway::start(&format!(
        "[server]\nhttp_listen = \"{{http_listen}}\"\nbody_read_timeout = \"1s\"\n{}",
        app_config(&[upstream.url()], "")
    ));
    let mut stream = TcpStream::connect(gateway.http_addr()).unwrap();
    stream
        .write_all(b"POST /nop-ho-so HTTP/1.1\r\nHost: a.gov.vn\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n0123456789")
        .unwrap();
    stream.set_read_timeout(Some(HANG_BOUND)).unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    if let Err(e) = &read {
        assert!(
            !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "the stalled client was not cut off within {HANG_BOUND:?}"
        );
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );

    for received in upstream.received() {
        let text = String::from_utf8_lossy(&received);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        assert!(body.len() < 1000, "the upstream got the whole body: {text}");
    }
}

#[test]
fn upstream_closing_idle_keepalive_connections_is_handled() {
    let port = free_port();
    let nginx = Nginx::start(&format!(
        r#"
    server {{
        listen 127.0.0.1:{port};
        keepalive_timeout 1s;
        keepalive_requests 3;
        location / {{ return 200 "ok $request_method"; }}
    }}
"#
    ));
    let gateway = Gateway::start(&format!(
        "[server]\nhttp_listen = \"{{http_listen}}\"\nworkers = 1\n{}",
        app_config(&[nginx.url()], "")
    ));
    let mut statuses = Vec::new();
    for round in 0..3 {
        // More requests than nginx serves on one connection.
        for method in ["GET", "POST", "GET", "POST", "POST"] {
            statuses.push((round, method, send(&gateway, method, "/").status));
        }
        // Longer than nginx keeps an idle connection: the pooled one is closed by then.
        std::thread::sleep(Duration::from_millis(1500));
    }
    assert!(
        statuses.iter().all(|(_, _, status)| *status == 200),
        "{statuses:?}\n{}",
        gateway.logs()
    );
}

#[test]
fn upstream_that_breaks_the_protocol_gets_a_502() {
    for (label, script) in [
        ("closes without answering", &b""[..]),
        ("answers garbage", &b"NOT HTTP AT ALL\r\n\r\n"[..]),
        ("cuts the head short", &b"HTTP/1.1 200 OK\r\nContent-Le"[..]),
    ] {
        let upstream = ScriptedUpstream::start(script);
        let gateway = Gateway::start(&app_config(&[upstream.url()], ""));
        let response = http_get(gateway.http_addr(), "a.gov.vn", "/").unwrap();
        assert_eq!(response.status, 502, "{label}: {}", response.text());
        assert!(response.header("x-request-id").is_some(), "{label}");
    }
}

#[test]
fn with_retries_off_even_a_get_is_not_retried() {
    let upstreams = NamedUpstreams::start(&["song"]);
    let gateway = Gateway::start(&app_config(
        &[nothing_listening(), upstreams.url(0)],
        "retries = 0\nhealth = { max_failures = 1000 }",
    ));
    let statuses: Vec<u16> = (0..6)
        .map(|_| {
            http_get(gateway.http_addr(), "a.gov.vn", "/")
                .unwrap()
                .status
        })
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 502).count(),
        3,
        "{statuses:?}"
    );
    for pair in statuses.windows(2) {
        assert_ne!(pair[0], pair[1], "{statuses:?}");
    }
}

/// Everything the gateway sends back for `GET /` until it closes the connection.
fn raw_answer(gateway: &Gateway) -> Vec<u8> {
    let mut stream = TcpStream::connect(gateway.http_addr()).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a.gov.vn\r\nConnection: close\r\n\r\n")
        .unwrap();
    stream.set_read_timeout(Some(HANG_BOUND)).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

#[test]
fn a_body_cut_short_upstream_is_not_passed_on_as_complete() {
    // Chunked: the gateway re-frames the body, so it must not invent the last chunk.
    let chunked = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nonly part",
    );
    let gateway = Gateway::start(&app_config(&[chunked.url()], ""));
    let answer = raw_answer(&gateway);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("hello"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a truncated body was terminated as if complete: {text:?}"
    );

    // Content-Length: the client can tell from the length, which must be passed on.
    let sized = ScriptedUpstream::start(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
    let gateway = Gateway::start(&app_config(&[sized.url()], ""));
    let answer = raw_answer(&gateway);
    let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(text.contains("content-length: 100\r\n"), "{text}");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    assert!(body.len() < 100, "{text}");
}

#[test]
fn idle_client_connections_are_closed() {
    let upstreams = NamedUpstreams::start(&["song"]);
    let gateway = Gateway::start(&format!(
        "[server]\nhttp_listen = \"{{http_listen}}\"\nheader_read_timeout = \"1s\"\nkeepalive_timeout = \"2s\"\n{}",
        app_config(&[upstreams.url(0)], "")
    ));
    // A connection that never sends a byte.
    let mut silent = TcpStream::connect(gateway.http_addr()).unwrap();
    // A keep-alive connection after one complete exchange.
    let mut kept = TcpStream::connect(gateway.http_addr()).unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nHost: a.gov.vn\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"name=song\n") {
        assert_eq!(kept.read(&mut byte).unwrap(), 1);
        head.push(byte[0]);
    }
    let started = Instant::now();
    for (label, stream) in [("silent", &mut silent), ("kept-alive", &mut kept)] {
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        while !closed_by_peer(stream) {
            assert!(
                started.elapsed() < HANG_BOUND,
                "{label} connection still open after {HANG_BOUND:?}"
            );
        }
    }
}
