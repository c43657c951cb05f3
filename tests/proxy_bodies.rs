//! End-to-end request and response bodies through `govgate serve`: exact round trips,
//! the app's `max_body` limit, and gigabyte transfers that must stream (flat memory).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use govgate::demo::{download_byte, DemoApps, DOWNLOAD_CHUNK_BYTES};
use support::gateway::{http_request, Gateway};
use support::proxy::{curl, peak_rss_kib, SilentUpstream};

const GIB: u64 = 1 << 30;
/// How much the gateway's peak RSS may grow during a gigabyte transfer.
const RSS_GROWTH_LIMIT_KIB: u64 = 64 * 1024;

/// A gateway with one any-host app in front of `upstream`, limited to `max_body`.
fn gateway_to(upstream: &str, max_body: &str) -> Gateway {
    Gateway::start(&format!(
        r#"
[server]
http_listen = "{{http_listen}}"
body_read_timeout = "10s"

[[apps]]
access = "public"
id = "mot-cua"
name = "Một cửa điện tử"
max_body = "{max_body}"
upstreams = ["{upstream}"]
"#
    ))
}

/// Pseudo-random bytes (xorshift64), so a shifted or reordered copy does not compare equal.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Sends `file` with curl (`extra` selects the method and framing) to `url`; returns the
/// HTTP status and the body that came back.
fn curl_upload(url: &str, file: &std::path::Path, extra: &[&str]) -> (String, Vec<u8>) {
    let out = file.with_extension("out");
    let data = format!("@{}", file.display());
    let out_path = out.display().to_string();
    let mut args: Vec<&str> = extra.to_vec();
    if !extra.contains(&"-T") {
        args.extend(["--data-binary", &data]);
    }
    args.extend([
        "-H",
        "Content-Type: application/octet-stream",
        "-o",
        &out_path,
        "-w",
        "%{http_code}",
        url,
    ]);
    let output = curl(&args);
    assert!(
        output.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status = String::from_utf8_lossy(&output.stdout).into_owned();
    (status, std::fs::read(&out).unwrap_or_default())
}

#[test]
fn post_and_put_bodies_round_trip_byte_exact() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway_to(&format!("http://{}", demo.one_stop_shop), "64MiB");
    let url = format!("{}/ho-so/echo", gateway.http_url());
    let dir = tempfile::tempdir().unwrap();

    let every_byte: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let small = dir.path().join("small.bin");
    std::fs::write(&small, &every_byte).unwrap();
    let (status, echoed) = curl_upload(&url, &small, &["-X", "POST"]);
    assert_eq!(status, "200");
    assert!(echoed == every_byte, "small binary body changed");

    let big_body = random_bytes(8 * 1024 * 1024);
    let big = dir.path().join("big.bin");
    std::fs::write(&big, &big_body).unwrap();
    for (label, extra) in [
        ("POST with Content-Length", vec!["-X", "POST"]),
        ("PUT with Content-Length", vec!["-T", big.to_str().unwrap()]),
        (
            "POST chunked",
            vec!["-X", "POST", "-H", "Transfer-Encoding: chunked"],
        ),
        (
            "PUT chunked",
            vec!["-X", "PUT", "-H", "Transfer-Encoding: chunked"],
        ),
    ] {
        let (status, echoed) = curl_upload(&url, &big, &extra);
        assert_eq!(status, "200", "{label}");
        assert_eq!(echoed.len(), big_body.len(), "{label}");
        assert!(echoed == big_body, "{label}: body changed on the way");
    }
}

#[test]
fn raw_chunked_request_body_is_reassembled_upstream() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway_to(&format!("http://{}", demo.one_stop_shop), "1KiB");
    let mut request = String::from(
        "POST /echo HTTP/1.1\r\nHost: a.gov.vn\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for piece in ["hồ s", "ơ, ", "đã ký"] {
        request.push_str(&format!("{:x};ext=1\r\n{piece}\r\n", piece.len()));
    }
    request.push_str("0\r\n\r\n");
    let response = http_request(gateway.http_addr(), &request).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "hồ sơ, đã ký");
}

#[test]
fn declared_oversized_body_is_refused_before_any_upstream_connection() {
    // An upstream that is never accepted from: any connection would wait in its backlog.
    let untouched = TcpListener::bind("127.0.0.1:0").unwrap();
    let gateway = gateway_to(
        &format!("http://{}", untouched.local_addr().unwrap()),
        "1KiB",
    );
    let response = http_request(
        gateway.http_addr(),
        "POST /nop-ho-so HTTP/1.1\r\nHost: a.gov.vn\r\nContent-Length: 1025\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(response.header("x-request-id").is_some());
    assert!(response
        .text()
        .contains(response.header("x-request-id").unwrap()));

    untouched.set_nonblocking(true).unwrap();
    match untouched.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the upstream was contacted: {other:?}"),
    }
}

#[test]
fn body_at_the_limit_passes_and_one_byte_more_is_refused() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway_to(&format!("http://{}", demo.one_stop_shop), "1KiB");
    let send = |len: usize| {
        let body = "x".repeat(len);
        http_request(
            gateway.http_addr(),
            &format!("POST /echo HTTP/1.1\r\nHost: a.gov.vn\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{body}"),
        )
        .unwrap()
    };
    let at_limit = send(1024);
    assert_eq!(at_limit.status, 200);
    assert_eq!(at_limit.body.len(), 1024);
    assert_eq!(send(1025).status, 413);
}

#[test]
fn oversized_chunked_body_is_refused_and_never_completed_upstream() {
    let upstream = SilentUpstream::start();
    let gateway = gateway_to(&upstream.url(), "1KiB");
    let chunk = "a".repeat(512);
    let mut request =
        String::from("POST /nop HTTP/1.1\r\nHost: a.gov.vn\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for _ in 0..8 {
        request.push_str(&format!("200\r\n{chunk}\r\n"));
    }
    request.push_str("0\r\n\r\n");
    let response = http_request(gateway.http_addr(), &request).unwrap();
    assert_eq!(response.status, 413, "{}", response.text());

    for received in upstream.received() {
        let text = String::from_utf8_lossy(&received);
        let body_bytes = text.bytes().filter(|b| *b == b'a').count();
        assert!(
            body_bytes <= 1024 + 512,
            "upstream got {body_bytes} body bytes"
        );
        assert!(
            !text.ends_with("0\r\n\r\n"),
            "upstream got a complete request: {text}"
        );
    }
}

/// Checks a byte stream against the demo download pattern as it goes by.
struct PatternCheck {
    block: Vec<u8>,
    offset: u64,
}

impl PatternCheck {
    fn new() -> Self {
        let block = (0..DOWNLOAD_CHUNK_BYTES as u64)
            .map(download_byte)
            .collect();
        Self { block, offset: 0 }
    }

    fn check(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let start = (self.offset % self.block.len() as u64) as usize;
            let n = data.len().min(self.block.len() - start);
            assert!(
                data[..n] == self.block[start..start + n],
                "stream differs from the pattern near offset {}",
                self.offset
            );
            self.offset += n as u64;
            data = &data[n..];
        }
    }
}

/// Reads `source` to its end, checking the pattern; returns the byte count.
fn drain_checking(mut source: impl Read) -> u64 {
    let mut check = PatternCheck::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = source.read(&mut buf).expect("read transfer");
        if n == 0 {
            return check.offset;
        }
        check.check(&buf[..n]);
    }
}

/// Streams `url` through curl (extra args first) and checks what comes out.
fn curl_stream(args: &[&str], upload_bytes: Option<u64>) -> u64 {
    let mut child = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "600"])
        .args(args)
        .stdin(if upload_bytes.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run curl");
    let writer = upload_bytes.map(|total| {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let block = PatternCheck::new().block;
            let mut sent = 0u64;
            while sent < total {
                let n = (total - sent).min(block.len() as u64) as usize;
                stdin.write_all(&block[..n]).expect("feed curl");
                sent += n as u64;
            }
        })
    });
    let received = drain_checking(child.stdout.take().unwrap());
    if let Some(writer) = writer {
        writer.join().unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    received
}

#[test]
fn gigabyte_download_streams_intact_with_flat_memory() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway_to(&format!("http://{}", demo.documents), "64MiB");
    let url = |bytes: u64| format!("{}/van-ban/download?bytes={bytes}", gateway.http_url());

    assert_eq!(curl_stream(&[&url(4 << 20)], None), 4 << 20);
    let before = peak_rss_kib(gateway.pid());
    assert_eq!(curl_stream(&[&url(GIB)], None), GIB);
    let after = peak_rss_kib(gateway.pid());
    assert!(
        after.saturating_sub(before) < RSS_GROWTH_LIMIT_KIB,
        "peak RSS grew from {before} KiB to {after} KiB during a 1 GiB download"
    );
}

#[test]
fn gigabyte_upload_streams_intact_with_flat_memory() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway_to(&format!("http://{}", demo.one_stop_shop), "2GiB");
    let url = format!("{}/ho-so/echo", gateway.http_url());

    assert_eq!(curl_stream(&["-T", "-", &url], Some(4 << 20)), 4 << 20);
    let before = peak_rss_kib(gateway.pid());
    assert_eq!(curl_stream(&["-T", "-", &url], Some(GIB)), GIB);
    let after = peak_rss_kib(gateway.pid());
    assert!(
        after.saturating_sub(before) < RSS_GROWTH_LIMIT_KIB,
        "peak RSS grew from {before} KiB to {after} KiB during a 1 GiB upload"
    );
}

#[test]
fn expect_continue_with_an_oversized_body_is_refused_without_reading_it() {
    let untouched = TcpListener::bind("127.0.0.1:0").unwrap();
    let gateway = gateway_to(
        &format!("http://{}", untouched.local_addr().unwrap()),
        "1KiB",
    );
    let mut stream = std::net::TcpStream::connect(gateway.http_addr()).unwrap();
    stream
        .write_all(
            b"PUT /tai-len HTTP/1.1\r\nHost: a.gov.vn\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    untouched.set_nonblocking(true).unwrap();
    assert!(untouched.accept().is_err(), "the upstream was contacted");
}

#[test]
fn http10_client_gets_a_streamed_body_without_chunked_framing() {
    let demo = DemoApps::start().unwrap();
    let gateway = gateway_to(&format!("http://{}", demo.documents), "1KiB");
    let len = 3 * DOWNLOAD_CHUNK_BYTES as u64 + 123;
    let response = http_request(
        gateway.http_addr(),
        &format!("GET /download?bytes={len} HTTP/1.0\r\nHost: a.gov.vn\r\n\r\n"),
    )
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), None);
    assert_eq!(response.body.len() as u64, len);
    let mut check = PatternCheck::new();
    check.check(&response.body);
}
