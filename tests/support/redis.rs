//! Real `redis-server` processes for tests: standalone, a 3-master cluster, and a
//! master + replica watched by a sentinel. Each runs in its own temp dir on loopback
//! ports and is killed when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// One `redis-server` child process.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    extra_args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// A standalone server without persistence.
    pub fn start() -> Self {
        Self::start_with(super::free_port(), &[])
    }

    /// A server on `port` with extra command-line arguments (`["--cluster-enabled", "yes"]`).
    pub fn start_with(port: u16, extra_args: &[&str]) -> Self {
        let mut server = RedisServer {
            port,
            dir: tempfile::tempdir().expect("temp dir for redis-server"),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        server.spawn();
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (like a crash) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: it had no persistence).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Sends one command (inline protocol) and returns the raw reply.
    pub fn command(&self, args: &[&str]) -> String {
        raw_command(self.port, args).unwrap_or_else(|e| panic!("redis on port {}: {e}", self.port))
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port, "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--dir"])
            .arg(self.dir.path())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server (is it installed?)");
        self.child = Some(child);
        wait_for_pong(self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Three masters with `cluster-enabled yes`, slots assigned by `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(
                    free_cluster_port(),
                    &["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"],
                )
            })
            .collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run redis-cli --cluster create");
        assert!(status.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + START_TIMEOUT;
        while !nodes.iter().all(|n| n.command(&["CLUSTER", "INFO"]).contains("cluster_state:ok")) {
            assert!(Instant::now() < deadline, "cluster did not reach cluster_state:ok");
            std::thread::sleep(Duration::from_millis(50));
        }
        RedisCluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// A master, one replica and one sentinel (quorum 1) watching the master as `mymaster`.
pub struct RedisSentinel {
    pub master: RedisServer,
    pub replica: RedisServer,
    pub sentinel: RedisServer,
}

impl RedisSentinel {
    pub const MASTER_NAME: &'static str = "mymaster";

    pub fn start() -> Self {
        let master = RedisServer::start();
        let master_port = master.port().to_string();
        let replica = RedisServer::start_with(super::free_port(), &["--replicaof", "127.0.0.1", &master_port]);
        let sentinel_port = super::free_port();
        let config_dir = tempfile::tempdir().expect("temp dir for sentinel.conf");
        let config_path = config_dir.path().join("sentinel.conf");
        let config = format!(
            "port {sentinel_port}\nbind 127.0.0.1\ndaemonize no\n\
             sentinel monitor {name} 127.0.0.1 {master_port} 1\n\
             sentinel down-after-milliseconds {name} 1000\n\
             sentinel failover-timeout {name} 5000\n\
             sentinel parallel-syncs {name} 1\n",
            name = Self::MASTER_NAME,
        );
        std::fs::write(&config_path, config).expect("write sentinel.conf");
        let sentinel = RedisServer {
            port: sentinel_port,
            dir: config_dir,
            extra_args: vec![config_path.display().to_string(), "--sentinel".into()],
            child: None,
        };
        let mut sentinel = sentinel;
        sentinel.spawn_sentinel();
        let deadline = Instant::now() + START_TIMEOUT;
        while !replica.command(&["INFO", "replication"]).contains("master_link_status:up") {
            assert!(Instant::now() < deadline, "replica did not sync with the master");
            std::thread::sleep(Duration::from_millis(50));
        }
        RedisSentinel { master, replica, sentinel }
    }

    pub fn sentinel_url(&self) -> String {
        self.sentinel.url()
    }

    /// The port the sentinel currently names as master.
    pub fn current_master_port(&self) -> Option<u16> {
        let reply = self.sentinel.command(&["SENTINEL", "get-master-addr-by-name", Self::MASTER_NAME]);
        reply.lines().filter_map(|line| line.trim().parse::<u16>().ok()).next_back()
    }
}

impl RedisServer {
    /// `redis-server sentinel.conf --sentinel`: the config file must come first.
    fn spawn_sentinel(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server --sentinel");
        self.child = Some(child);
        wait_for_pong(self.port);
    }
}

/// A free port whose cluster bus port (+10000) is free and valid too.
fn free_cluster_port() -> u16 {
    for _ in 0..1000 {
        let port = super::free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

fn wait_for_pong(port: u16) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(reply) = raw_command(port, &["PING"]) {
            // A server with `requirepass` answers NOAUTH: it is up all the same.
            if reply.starts_with("+PONG") || reply.starts_with("-NOAUTH") {
                return;
            }
        }
        assert!(Instant::now() < deadline, "redis-server on port {port} did not answer PING");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One command over a fresh connection, in RESP; returns the whole raw reply.
fn raw_command(port: u16, args: &[&str]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf)?;
        reply.extend_from_slice(&buf[..n]);
        if n == 0 || reply_complete(&reply) {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Good enough for test replies: simple strings/errors/ints end at the first CRLF; bulk
/// strings and arrays are read until the socket pauses (read timeout ends the loop).
fn reply_complete(reply: &[u8]) -> bool {
    match reply.first() {
        Some(b'+' | b'-' | b':') => reply.ends_with(b"\r\n"),
        Some(b'$') => {
            let text = String::from_utf8_lossy(reply);
            let Some((header, rest)) = text.split_once("\r\n") else { return false };
            match header[1..].parse::<i64>() {
                Ok(len) if len < 0 => true,
                Ok(len) => rest.len() >= len as usize + 2,
                Err(_) => false,
            }
        }
        Some(b'*') => {
            let text = String::from_utf8_lossy(reply);
            let Some((header, _)) = text.split_once("\r\n") else { return false };
            let Ok(count) = header[1..].parse::<usize>() else { return false };
            // Arrays of bulk strings: header line + 2 lines per element.
            text.matches("\r\n").count() > count * 2
        }
        _ => false,
    }
}
