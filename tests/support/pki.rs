//! A throw-away certificate authority made with the `openssl` command, and small TLS
//! probes (`openssl s_client`, `curl`) for end-to-end tests of the HTTPS listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A test CA in a directory: `<dir>/ca.pem` and its key.
pub struct OpensslCa {
    dir: PathBuf,
}

/// Paths of an issued certificate (leaf then CA) and its private key.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl OpensslCa {
    /// Creates `ca.pem` / `ca-key.pem` in `dir` (P-256, valid 30 days).
    pub fn new(dir: &Path) -> OpensslCa {
        let ca = OpensslCa {
            dir: dir.to_path_buf(),
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/O=govgate tests/CN=govgate test CA",
            "-keyout",
            path_str(&ca.key_path()),
            "-out",
            path_str(&ca.ca_path()),
        ]);
        ca
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }

    /// Issues a server certificate with subject `CN=<common_name>` and the DNS names
    /// `dns_names` as subjectAltName, written to `<file>.pem` (leaf + CA) and
    /// `<file>-key.pem`. Each call gets a fresh key and a random serial.
    pub fn issue(&self, file: &str, common_name: &str, dns_names: &[&str]) -> IssuedCert {
        let issued = IssuedCert {
            cert: self.dir.join(format!("{file}.pem")),
            key: self.dir.join(format!("{file}-key.pem")),
        };
        let csr = self.dir.join(format!("{file}.csr"));
        let leaf = self.dir.join(format!("{file}.leaf.pem"));
        let extensions = self.dir.join(format!("{file}.ext"));
        let san: Vec<String> = dns_names.iter().map(|n| format!("DNS:{n}")).collect();
        std::fs::write(
            &extensions,
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
                san.join(",")
            ),
        )
        .unwrap();
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={common_name}"),
            "-keyout",
            path_str(&issued.key),
            "-out",
            path_str(&csr),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            path_str(&csr),
            "-CA",
            path_str(&self.ca_path()),
            "-CAkey",
            path_str(&self.key_path()),
            "-set_serial",
            &random_serial(),
            "-days",
            "30",
            "-extfile",
            path_str(&extensions),
            "-out",
            path_str(&leaf),
        ]);
        let chain = format!(
            "{}{}",
            std::fs::read_to_string(&leaf).unwrap(),
            std::fs::read_to_string(self.ca_path()).unwrap()
        );
        std::fs::write(&issued.cert, chain).unwrap();
        issued
    }
}

/// Replaces `target`'s contents with `source`'s in one rename, so a reader (the gateway's
/// certificate watcher) never sees a half-written file.
pub fn replace_file(source: &Path, target: &Path) {
    let temporary = target.with_extension("swap");
    std::fs::copy(source, &temporary).unwrap();
    std::fs::rename(&temporary, target).unwrap();
}

/// `openssl s_client` to `addr` with SNI `server_name` and extra flags (e.g. `-tls1_2`);
/// stdin is empty so it disconnects right after the handshake.
pub fn s_client(addr: SocketAddr, server_name: &str, extra: &[&str]) -> Output {
    Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(["-servername", server_name])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client")
}

/// The `subject=` line of the certificate a server presented, from `s_client` output.
pub fn presented_subject(output: &Output) -> Option<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("subject="))
        .map(|s| s.trim().to_string())
}

/// Runs `curl -sS` with `args`.
pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .arg("-sS")
        .args(["--max-time", "20"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl")
}

/// `name:port:127.0.0.1` for `curl --resolve`.
pub fn resolve_to_loopback(name: &str, addr: SocketAddr) -> String {
    format!("{name}:{}:127.0.0.1", addr.port())
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `openssl ARGS`, failing the test with its output when it fails.
pub fn openssl<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) {
    let output = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        describe(&output)
    );
}

/// A positive 63-bit serial from /dev/urandom, so that certificates issued in the same
/// second differ.
pub fn random_serial() -> String {
    let mut bytes = [0u8; 8];
    getrandom_from_urandom(&mut bytes);
    format!(
        "0x{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn getrandom_from_urandom(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("read /dev/urandom");
    // A positive serial: clear the top bit.
    buf[0] &= 0x7f;
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}
