//! The gateway itself, as a child process: `govgate serve --config FILE` from a temp dir,
//! output captured to files, ready once `GET /healthz` answers 200. Killed when dropped.
//!
//! Placeholders in the configuration text:
//! - `{dir}`: the temp dir; `{data_dir}`: `{dir}/data` (created);
//! - `{http_listen}` / `{https_listen}`: `127.0.0.1:PORT` on fresh random ports;
//! - `{http_port}` / `{https_port}`: the bare port numbers of the same two addresses.
//!
//! When the text sets no top-level `data_dir`, `data_dir = "{data_dir}"` is added; when it
//! has no `[server]` table, one with `http_listen = "{http_listen}"` is appended. The
//! listener addresses are then read back from the final TOML.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::free_port;
use super::nginx::{send_signal, wait_exit};

/// How long the gateway gets to answer `/healthz` after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Hup,
    Term,
    Int,
    Quit,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Hup => "HUP",
            Signal::Term => "TERM",
            Signal::Int => "INT",
            Signal::Quit => "QUIT",
        }
    }
}

pub struct Gateway {
    child: Child,
    dir: tempfile::TempDir,
    config_path: PathBuf,
    http_addr: Option<SocketAddr>,
    https_addr: Option<SocketAddr>,
}

impl Gateway {
    /// Writes the configuration (placeholders filled), starts the gateway and waits until
    /// `/healthz` on its HTTP listener answers 200; panics with the captured log otherwise.
    pub fn start(config_toml: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("temp dir for the gateway");
        let config = fill_placeholders(config_toml, dir.path());
        Self::start_with_config(dir, &config)
    }

    /// Like [`Gateway::start`], in a dir the caller already filled (certificates,
    /// policies…); placeholders are filled the same way.
    pub fn start_in(dir: tempfile::TempDir, config_toml: &str) -> Gateway {
        let config = fill_placeholders(config_toml, dir.path());
        Self::start_with_config(dir, &config)
    }

    fn start_with_config(dir: tempfile::TempDir, config: &str) -> Gateway {
        let config_path = dir.path().join("govgate.toml");
        std::fs::write(&config_path, config).expect("write gateway config");
        let (http_addr, https_addr) = listeners(config);
        let child = spawn(dir.path(), &config_path);
        let mut gateway = Gateway {
            child,
            dir,
            config_path,
            http_addr,
            https_addr,
        };
        gateway.wait_until_healthy();
        gateway
    }

    /// The plain HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
            .expect("the gateway configuration has no http_listen")
    }

    /// The HTTPS listener, when configured.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Everything the gateway wrote so far: stdout, then stderr.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stdout.log"), read("stderr.log"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: Signal) {
        send_signal(self.child.id(), signal.name());
    }

    /// SIGKILL, and reap it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `patience` for the process to exit on its own.
    pub fn wait_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        if wait_exit(&mut self.child, patience) {
            self.child.try_wait().ok().flatten()
        } else {
            None
        }
    }

    /// Starts a new process with the same dir and configuration (e.g. after `kill9`).
    pub fn restart(&mut self) {
        self.kill9();
        self.child = spawn(self.dir.path(), &self.config_path);
        self.wait_until_healthy();
    }

    fn wait_until_healthy(&mut self) {
        let Some(addr) = self.http_addr else {
            panic!("gateway config needs an http_listen for the readiness check");
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(response) = http_get(addr, "localhost", "/healthz") {
                if response.status == 200 {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "gateway exited with {status} before becoming healthy; log:\n{}",
                    self.logs()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "gateway not healthy on {addr} after {READY_TIMEOUT:?}; log:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn spawn(dir: &Path, config_path: &Path) -> Child {
    let log = |name: &str| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name));
        Stdio::from(file.expect("gateway log file"))
    };
    Command::new(env!("CARGO_BIN_EXE_govgate"))
        .arg("serve")
        .arg("--config")
        .arg(config_path)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log("stdout.log"))
        .stderr(log("stderr.log"))
        .spawn()
        .expect("run the govgate binary")
}

fn fill_placeholders(config_toml: &str, dir: &Path) -> String {
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).expect("gateway data dir");
    let mut text = config_toml.to_string();
    let has_top_level_data_dir = text
        .lines()
        .take_while(|line| !line.trim_start().starts_with('['))
        .any(|line| line.trim_start().starts_with("data_dir"));
    if !has_top_level_data_dir {
        text = format!("data_dir = \"{{data_dir}}\"\n{text}");
    }
    if !text.lines().any(|line| line.trim() == "[server]") {
        text.push_str("\n[server]\nhttp_listen = \"{http_listen}\"\n");
    }
    let (http_port, https_port) = (free_port(), free_port());
    text.replace("{data_dir}", &data_dir.display().to_string())
        .replace("{dir}", &dir.display().to_string())
        .replace("{http_listen}", &format!("127.0.0.1:{http_port}"))
        .replace("{https_listen}", &format!("127.0.0.1:{https_port}"))
        .replace("{http_port}", &http_port.to_string())
        .replace("{https_port}", &https_port.to_string())
}

/// `server.http_listen` and `server.https_listen` of the final configuration.
fn listeners(config: &str) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let value: toml::Value =
        toml::from_str(config).unwrap_or_else(|e| panic!("gateway config is not TOML: {e}"));
    let read = |key: &str| {
        value
            .get("server")
            .and_then(|s| s.get(key))
            .and_then(|v| v.as_str())
            .map(|text| {
                text.parse::<SocketAddr>()
                    .unwrap_or_else(|e| panic!("server.{key} = {text:?} is not an address: {e}"))
            })
    };
    (read("http_listen"), read("https_listen"))
}

/// A response read by [`http_get`] / [`http_request`].
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased, in order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` over plain TCP with `Host: host` and `Connection: close`.
pub fn http_get(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<RawResponse> {
    http_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

/// Sends `request` verbatim (it should ask for `Connection: close`) and reads the whole
/// response until the peer closes; handles `Content-Length` and chunked bodies.
pub fn http_request(addr: SocketAddr, request: &str) -> std::io::Result<RawResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "malformed HTTP response: {:?}",
                String::from_utf8_lossy(&raw)
            ),
        )
    })
}

fn parse_response(raw: &[u8]) -> Option<RawResponse> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[head_end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
