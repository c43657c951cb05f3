//! nginx as a test peer: an origin for the gateway to proxy to, or a TLS server with
//! client-certificate checks. Runs from a temp dir; stopped when dropped.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, wait_for_port};

/// Size of the file behind `/large` on [`Nginx::origin`].
pub const LARGE_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Request headers [`Nginx::origin`]'s `/echo` reports back, one `name: value` line each
/// (empty value when absent), and also as `X-Echo-<Name>` response headers.
pub const ECHOED_HEADERS: &[&str] = &[
    "host",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "forwarded",
    "x-real-ip",
    "x-request-id",
    "x-remote-user",
    "x-remote-name",
    "x-remote-email",
    "x-remote-groups",
    "x-remote-roles",
    "x-govgate-assertion",
    "x-govgate-user",
    "authorization",
    "cookie",
    "connection",
    "upgrade",
    "te",
    "user-agent",
    "content-length",
    "transfer-encoding",
];

pub struct Nginx {
    child: Option<Child>,
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    /// Accepts nothing: connections to it wait in the backlog forever (`/hang`).
    _blackhole: Option<TcpListener>,
}

impl Nginx {
    /// Starts nginx with `server_blocks` inside its `http {}` block. `{dir}` in the text is
    /// replaced by the temp dir (for certificates and static files). Waits for every
    /// `listen` address found in the text; `port()` is the first.
    pub fn start(server_blocks: &str) -> Nginx {
        let dir = tempfile::tempdir().expect("temp dir for nginx");
        Self::start_in(dir, server_blocks, None)
    }

    /// The temp dir an nginx instance is about to use, so callers can place files first;
    /// pass it to [`Nginx::start_in`].
    pub fn prepare_dir() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir for nginx")
    }

    /// Like [`Nginx::start`], in a dir prepared by [`Nginx::prepare_dir`].
    pub fn start_in(
        dir: tempfile::TempDir,
        server_blocks: &str,
        blackhole: Option<TcpListener>,
    ) -> Nginx {
        // Workers may run as an unprivileged user; they must read files in the dir.
        set_mode(dir.path(), 0o755);
        let blocks = server_blocks.replace("{dir}", &dir.path().display().to_string());
        let ports = listen_ports(&blocks);
        assert!(
            !ports.is_empty(),
            "no `listen 127.0.0.1:PORT` in nginx server blocks:\n{blocks}"
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, main_config(dir.path(), &blocks)).expect("write nginx.conf");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("stderr.log")).expect("nginx stderr file"),
            ))
            .spawn()
            .expect("run nginx (is it installed? scripts/test installs it)");
        let mut nginx = Nginx {
            child: Some(child),
            dir,
            ports,
            _blackhole: blackhole,
        };
        nginx.wait_until_listening();
        nginx
    }

    /// An origin on a random port:
    /// - `/` answers 200 `ok`;
    /// - `/echo` (any path below too) answers 200 with one `name: value` line per
    ///   [`ECHOED_HEADERS`] entry, plus `method:` and `uri:` lines, and the same values
    ///   as `X-Echo-*` response headers;
    /// - `/slow` trickles an 8 KiB body at 2 KiB/s;
    /// - `/hang` never answers (proxied to a socket that never accepts);
    /// - `/large` serves a [`LARGE_FILE_BYTES`] file of repeating `0123456789`;
    /// - `/status/404|500|502|503` answer with that status.
    pub fn origin() -> Nginx {
        let dir = Self::prepare_dir();
        std::fs::write(dir.path().join("large.bin"), large_body()).expect("write large file");
        std::fs::write(dir.path().join("slow.txt"), "s".repeat(8 * 1024)).expect("write slow file");
        let blackhole = TcpListener::bind("127.0.0.1:0").expect("bind blackhole");
        let blackhole_port = blackhole.local_addr().expect("blackhole addr").port();
        let port = free_port();
        Self::start_in(
            dir,
            &origin_server_block(port, blackhole_port),
            Some(blackhole),
        )
    }

    /// The first listening port.
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `127.0.0.1:port()`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port()))
    }

    /// `http://127.0.0.1:port()`, ready for an app's `upstreams`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }

    /// nginx's access log so far (`$request` and `$status` per line).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in self.ports.clone() {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                if let Some(status) = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                {
                    panic!("nginx exited with {status}:\n{}", self.error_log());
                }
                if Instant::now() > deadline {
                    panic!("nginx not listening on {addr}:\n{}", self.error_log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            wait_for_port(addr, Duration::from_secs(1));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Graceful first (SIGQUIT), then fast shutdown (SIGTERM): killing only the
        // master with SIGKILL would orphan its workers.
        for (signal, patience) in [("QUIT", 3), ("TERM", 3)] {
            send_signal(child.id(), signal);
            if wait_exit(&mut child, Duration::from_secs(patience)) {
                return;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Sends a signal by name (`HUP`, `TERM`, `QUIT`, `KILL`…) with the `kill` command.
pub fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg("-s")
        .arg(signal)
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Waits up to `patience` for `child` to exit; true if it did.
pub fn wait_exit(child: &mut Child, patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod temp dir");
}

/// Ports of every `listen [127.0.0.1:]PORT ...;` directive.
fn listen_ports(blocks: &str) -> Vec<u16> {
    blocks
        .lines()
        .filter_map(|line| line.trim().strip_prefix("listen"))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|addr| addr.trim_end_matches(';').rsplit(':').next()?.parse().ok())
        .collect()
}

fn main_config(dir: &Path, server_blocks: &str) -> String {
    let path = |name: &str| -> PathBuf { dir.join(name) };
    format!(
        r#"daemon off;
master_process on;
worker_processes 1;
pid {pid};
error_log {error_log} info;
events {{ worker_connections 1024; }}
http {{
    access_log {access_log};
    client_body_temp_path {client_body};
    proxy_temp_path {proxy};
    fastcgi_temp_path {fastcgi};
    uwsgi_temp_path {uwsgi};
    scgi_temp_path {scgi};
    default_type text/plain;
    keepalive_requests 100000;
{server_blocks}
}}
"#,
        pid = path("nginx.pid").display(),
        error_log = path("error.log").display(),
        access_log = path("access.log").display(),
        client_body = path("client_body_temp").display(),
        proxy = path("proxy_temp").display(),
        fastcgi = path("fastcgi_temp").display(),
        uwsgi = path("uwsgi_temp").display(),
        scgi = path("scgi_temp").display(),
    )
}

fn origin_server_block(port: u16, blackhole_port: u16) -> String {
    let mut echo_body = String::from("method: $request_method\\nuri: $request_uri\\n");
    let mut echo_headers = String::new();
    for name in ECHOED_HEADERS {
        let variable = format!("$http_{}", name.replace('-', "_"));
        let _ = write!(echo_body, "{name}: {variable}\\n");
        let _ = writeln!(
            echo_headers,
            "        add_header X-Echo-{name} \"{variable}\" always;"
        );
    }
    format!(
        r#"
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        location = / {{ return 200 "ok"; }}
        location /echo {{
{echo_headers}        return 200 "{echo_body}";
        }}
        location = /slow {{
            limit_rate 2k;
            limit_rate_after 0;
            alias {{dir}}/slow.txt;
        }}
        location = /hang {{
            proxy_pass http://127.0.0.1:{blackhole_port};
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
        location = /large {{ alias {{dir}}/large.bin; }}
        location = /status/404 {{ return 404 "not found"; }}
        location = /status/500 {{ return 500 "error"; }}
        location = /status/502 {{ return 502 "bad gateway"; }}
        location = /status/503 {{ return 503 "unavailable"; }}
    }}
"#
    )
}

/// The exact bytes `/large` serves.
pub fn large_body() -> Vec<u8> {
    b"0123456789"
        .iter()
        .copied()
        .cycle()
        .take(LARGE_FILE_BYTES)
        .collect()
}
