//! Helpers shared by the reverse-proxy end-to-end tests (`tests/proxy_*.rs`): upstreams
//! that say who they are, a TCP peer that records what reaches it, curl, `/metrics`.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use govgate::demo::RequestSeen;

use super::gateway::{http_get, http_request, Gateway, RawResponse};
use super::nginx::Nginx;

/// One nginx with one server per name; each answers every request with 200, an
/// `X-Upstream-Name` / `X-Upstream-Method` header and a body of `key=value` lines:
/// `name`, `method`, `uri` (raw request URI) and `host` (the Host header it received).
pub struct NamedUpstreams {
    pub nginx: Nginx,
}

impl NamedUpstreams {
    pub fn start(names: &[&str]) -> NamedUpstreams {
        let mut blocks = String::new();
        for name in names {
            let port = super::free_port();
            blocks.push_str(&format!(
                r#"
    server {{
        listen 127.0.0.1:{port};
        location / {{
            add_header X-Upstream-Name {name} always;
            add_header X-Upstream-Method $request_method always;
            return 200 "name={name}\nmethod=$request_method\nuri=$request_uri\nhost=$http_host\n";
        }}
    }}
"#
            ));
        }
        NamedUpstreams {
            nginx: Nginx::start(&blocks),
        }
    }

    /// `http://127.0.0.1:PORT` of the upstream started `index`-th.
    pub fn url(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}", self.nginx.ports()[index])
    }
}

/// The `key=value` line `key` of a [`NamedUpstreams`] body.
pub fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

/// `GET path` with `Host: host` through the gateway to a demo app's `/api/request`
/// (or any path ending in it), with extra raw header lines (`"Name: value\r\n"`…).
pub fn request_seen(
    gateway: &Gateway,
    host: &str,
    path: &str,
    extra_headers: &str,
) -> (RawResponse, RequestSeen) {
    let response = http_request(
        gateway.http_addr(),
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra_headers}Connection: close\r\n\r\n"),
    )
    .expect("request through the gateway");
    assert_eq!(response.status, 200, "{}", response.text());
    let seen: RequestSeen = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not a RequestSeen ({e}): {}", response.text()));
    (response, seen)
}

/// Runs curl with `args`; panics if it cannot be started.
pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "300"])
        .args(args)
        .output()
        .expect("run curl")
}

/// The value of one sample line on `/metrics`, e.g.
/// `govgate_upstream_errors_total{app="a",kind="connect"}`; 0 when absent.
pub fn metric(gateway: &Gateway, sample: &str) -> f64 {
    let response = http_get(gateway.http_addr(), "localhost", "/metrics").expect("GET /metrics");
    assert_eq!(response.status, 200);
    response
        .text()
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A TCP peer that accepts connections, records every byte it receives and never answers.
pub struct SilentUpstream {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl SilentUpstream {
    pub fn start() -> SilentUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind silent upstream");
        let addr = listener.local_addr().expect("silent upstream addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let sink = sink.clone();
                std::thread::spawn(move || record(stream, &sink));
            }
        });
        SilentUpstream { addr, received }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What each connection sent so far, in accept order.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }
}

fn record(mut stream: TcpStream, sink: &Mutex<Vec<Vec<u8>>>) {
    let index = {
        let mut all = sink.lock().unwrap();
        all.push(Vec::new());
        all.len() - 1
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            return;
        }
        sink.lock().unwrap()[index].extend_from_slice(&buf[..n]);
    }
}

/// Peak resident set size of a process (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// A TCP peer that answers every request with the same raw bytes, then closes: for
/// upstream responses nginx would not produce (hop-by-hop headers and the like).
pub struct ScriptedUpstream {
    pub addr: SocketAddr,
}

impl ScriptedUpstream {
    pub fn start(response: &'static [u8]) -> ScriptedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind scripted upstream");
        let addr = listener.local_addr().expect("scripted upstream addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let _ = std::io::Write::write_all(&mut stream, response);
                });
            }
        });
        ScriptedUpstream { addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
