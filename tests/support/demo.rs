//! `govgate demo` as a child process on free loopback ports, killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::eventually;
use super::gateway::{http_get, RawResponse};

pub struct DemoProcess {
    child: Child,
    pub http: SocketAddr,
    pub https: SocketAddr,
    log: PathBuf,
}

impl DemoProcess {
    /// Starts the demo with its state in `data_dir` and its output in `log_dir`; returns
    /// once `/healthz` answers.
    pub fn start(data_dir: &Path, log_dir: &Path) -> DemoProcess {
        let http = SocketAddr::from(([127, 0, 0, 1], super::free_port()));
        let https = SocketAddr::from(([127, 0, 0, 1], super::free_port()));
        let log = log_dir.join(format!("demo-{}.log", http.port()));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_govgate"))
            .arg("demo")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--http", &http.to_string(), "--https", &https.to_string()])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut demo = DemoProcess {
            child,
            http,
            https,
            log,
        };
        eventually(
            "the demo to answer /healthz",
            Duration::from_secs(20),
            || {
                if let Ok(Some(status)) = demo.child.try_wait() {
                    panic!("govgate demo exited with {status}:\n{}", demo.output());
                }
                http_get(http, "localhost", "/healthz").is_ok_and(|r| r.status == 200)
            },
        );
        demo
    }

    pub fn get(&self, path: &str) -> RawResponse {
        http_get(self.http, "localhost", path).unwrap()
    }

    /// Everything the demo printed so far (welcome text and logs).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The demo OpenID Connect app's home URL, as the welcome text gives it.
    pub fn rp_url(&self) -> String {
        let output = self.output();
        output
            .lines()
            .find(|line| line.contains("OpenID Connect)"))
            .and_then(|line| line.split_whitespace().find(|w| w.starts_with("http://")))
            .unwrap_or_else(|| panic!("no demo OIDC app in the welcome text:\n{output}"))
            .to_string()
    }

    pub fn stop(&mut self) -> std::process::ExitStatus {
        super::nginx::send_signal(self.child.id(), "TERM");
        assert!(super::nginx::wait_exit(
            &mut self.child,
            Duration::from_secs(30)
        ));
        self.child.wait().unwrap()
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
