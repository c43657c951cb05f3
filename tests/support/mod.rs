//! Test kit: real services (redis-server, slapd, nginx, the gateway itself) started from
//! temp dirs on random loopback ports, stopped when dropped.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Ports handed out by [`free_port`]: below Linux's ephemeral range (32768–60999), which
/// `bind(…:0)` draws from.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A loopback port that was free a moment ago, for a server a test starts later.
///
/// Not from the ephemeral range: between this check and the server's own bind, another
/// test's `bind(127.0.0.1:0)` (the in-process demo apps, a receiver) could be handed the
/// same port, and the browser would then talk to the wrong server (seen once in CI). A
/// per-process counter keeps the tests of one binary from picking the same port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = TEST_PORTS.start + offset as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {TEST_PORTS:?}")
}

/// Waits until something accepts TCP connections on `addr`, or panics after `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listening on {addr} after {timeout:?}");
}

/// Polls `check` every 50 ms until it holds, or panics with `what` after `patience`.
pub fn eventually(what: &str, patience: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !check() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub mod browser;
pub mod cms;
pub mod demo;
pub mod gateway;
pub mod nginx;
pub mod pdf;
pub mod pki;
pub mod proxy;
pub mod python;
pub mod redis;
pub mod slapd;
pub mod web;
pub mod xml;
