//! Revocation services for tests: a tiny HTTP server that serves fixed bodies by path
//! (CRLs, a recorded OCSP response) and counts the requests it answered, and an
//! `openssl ocsp` responder on loopback with an index file of its own.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Serves `routes` (path → body) over HTTP/1.0 on a loopback port, any method; other
/// paths get 404. Stopped when dropped.
pub struct BodyServer {
    pub addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BodyServer {
    pub fn start(port: u16) -> BodyServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the body server");
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (routes, requests, stop) = (routes.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        answer(stream, &routes, &requests);
                    }
                }
            })
        };
        BodyServer {
            addr,
            routes,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Serves `body` at `path` from now on.
    pub fn route(&self, path: &str, body: Vec<u8>) {
        self.routes.lock().unwrap().insert(path.to_string(), body);
    }

    /// Serves every `*.crl` (DER) file of `dir` at `/crl/<file>`.
    pub fn route_crls(&self, dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "crl") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                self.route(&format!("/crl/{name}"), std::fs::read(&path).unwrap());
            }
        }
    }

    /// Requests answered so far (404s included).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for BodyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(mut stream: TcpStream, routes: &Mutex<HashMap<String, Vec<u8>>>, requests: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    // Headers, then as much body as Content-Length says.
    let (head_end, content_length) = loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while request.len() < head_end + content_length {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    requests.fetch_add(1, Ordering::SeqCst);
    let body = routes.lock().unwrap().get(&path).cloned();
    let response = match body {
        Some(body) => {
            let mut response = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            response.extend_from_slice(&body);
            response
        }
        None => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&response);
}

/// One line of an `openssl ca` index: a certificate valid until `expires`, or revoked.
pub struct IndexEntry {
    pub serial_hex: String,
    pub expires: SystemTime,
    pub revoked_at: Option<SystemTime>,
}

/// Writes an `openssl ca`-style index.txt.
pub fn write_index(path: &Path, entries: &[IndexEntry]) {
    let mut index = String::new();
    for (number, entry) in entries.iter().enumerate() {
        let (status, revoked) = match entry.revoked_at {
            Some(at) => ("R", format!("{},keyCompromise", openssl_time(at))),
            None => ("V", String::new()),
        };
        index.push_str(&format!(
            "{status}\t{}\t{revoked}\t{}\tunknown\t/CN=entry {number}\n",
            openssl_time(entry.expires),
            entry.serial_hex
        ));
    }
    std::fs::write(path, index).unwrap();
}

/// `YYMMDDHHMMSSZ`, UTC.
fn openssl_time(time: SystemTime) -> String {
    let rfc3339 = humantime::format_rfc3339_seconds(time).to_string();
    let digits: String = rfc3339.chars().filter(char::is_ascii_digit).collect();
    format!("{}Z", &digits[2..14])
}

/// `openssl ocsp` as a responder for the CA `ca`, signing with `signer`/`key`.
pub struct OcspResponder {
    child: Child,
    pub addr: SocketAddr,
    log_path: PathBuf,
}

impl OcspResponder {
    pub fn start(port: u16, index: &Path, ca: &Path, signer: &Path, key: &Path) -> OcspResponder {
        let log_path = index.with_extension(format!("{port}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new("openssl")
            .arg("ocsp")
            .args(["-index", &path(index), "-port", &port.to_string()])
            .args([
                "-CA",
                &path(ca),
                "-rsigner",
                &path(signer),
                "-rkey",
                &path(key),
            ])
            .args(["-ndays", "1"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start openssl ocsp");
        // Not a probe connection: `openssl ocsp` serves one connection at a time and
        // hangs on one that closes without a request, so wait for its banner instead.
        crate::support::eventually("openssl ocsp listens", Duration::from_secs(10), || {
            std::fs::read_to_string(&log_path)
                .is_ok_and(|log| log.contains("waiting for OCSP client connections"))
        });
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        OcspResponder {
            child,
            addr,
            log_path,
        }
    }

    /// Requests the responder has received, from its log.
    pub fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log_path)
            .map(|log| log.matches("Received request").count())
            .unwrap_or(0)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asks `url` about `cert` with the `openssl ocsp` client and keeps the DER response
/// in `out` (without checking it): a recording to replay later.
pub fn record_ocsp_response(url: &str, issuer: &Path, cert: &Path, out: &Path, nonce: bool) {
    let output = Command::new("openssl")
        .arg("ocsp")
        .args(["-issuer", &path(issuer), "-cert", &path(cert), "-url", url])
        .args(["-respout", &path(out), "-noverify"])
        .arg(match nonce {
            true => "-nonce",
            false => "-no_nonce",
        })
        .stdin(Stdio::null())
        .output()
        .expect("run openssl ocsp");
    assert!(
        out.exists(),
        "openssl ocsp recorded nothing: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn path(path: &Path) -> String {
    PathBuf::from(path).to_string_lossy().into_owned()
}
