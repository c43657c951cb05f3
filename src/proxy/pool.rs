//! Upstream connections: connect (TCP, optional TLS), HTTP/1.1 handshake, and a per-worker
//! pool of idle keep-alive connections.
//!
//! Each worker thread owns one pool, so checking a connection out or in never contends
//! with another core. Pools are keyed by an upstream's `pool_key`, which stays the same
//! across configuration reloads for the same address and TLS settings.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::body::RequestBody;
use super::upstream::{InFlight, Upstream};

/// Most idle connections kept per upstream per worker.
const MAX_IDLE_PER_UPSTREAM: usize = 256;

/// Why no connection to an upstream could be made (the request was not sent: retryable).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, std::io::Error),
    #[error("connecting to {0} timed out after {1:?}")]
    Timeout(String, Duration),
    #[error("connecting to {0}: {1}")]
    Io(String, std::io::Error),
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    #[error("TLS handshake with {0}: {1}")]
    Tls(String, std::io::Error),
    #[error("HTTP handshake with {0}: {1}")]
    Handshake(String, hyper::Error),
}

struct IdleConnection {
    sender: SendRequest<RequestBody>,
    idle_since: Instant,
}

/// One worker's idle upstream connections.
#[derive(Default)]
pub struct WorkerPool {
    idle: Mutex<Vec<Vec<IdleConnection>>>,
}

impl WorkerPool {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The most recently used idle connection to `pool_key` that is still open and younger
    /// than `max_idle`.
    pub fn checkout(
        &self,
        pool_key: usize,
        max_idle: Duration,
    ) -> Option<SendRequest<RequestBody>> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(pool_key)?;
        while let Some(conn) = list.pop() {
            if !conn.sender.is_closed() && conn.idle_since.elapsed() < max_idle {
                return Some(conn.sender);
            }
        }
        None
    }

    fn checkin(&self, pool_key: usize, sender: SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        if idle.len() <= pool_key {
            idle.resize_with(pool_key + 1, Vec::new);
        }
        let list = &mut idle[pool_key];
        if list.len() < MAX_IDLE_PER_UPSTREAM {
            list.push(IdleConnection {
                sender,
                idle_since: Instant::now(),
            });
        }
    }
}

/// A connection lent to one request; `release` returns it to its worker's pool.
pub struct PooledConnection {
    pool: Arc<WorkerPool>,
    pool_key: usize,
    sender: SendRequest<RequestBody>,
    /// The request stays counted on its upstream (least-connections) until its response
    /// body has been read or abandoned, not just until the head arrived.
    _in_flight: Option<InFlight>,
}

impl PooledConnection {
    pub fn new(
        pool: Arc<WorkerPool>,
        pool_key: usize,
        sender: SendRequest<RequestBody>,
        in_flight: Option<InFlight>,
    ) -> Self {
        Self {
            pool,
            pool_key,
            sender,
            _in_flight: in_flight,
        }
    }

    /// Gives the connection back for reuse (call only once its response was read to the end).
    pub fn release(self) {
        self.pool.checkin(self.pool_key, self.sender);
    }
}

/// Opens a new HTTP/1.1 connection to `upstream` and drives it on the current runtime.
pub async fn connect(
    upstream: &Upstream,
    tls: Option<&TlsConnector>,
    timeout: Duration,
) -> Result<SendRequest<RequestBody>, ConnectError> {
    let name = || format!("{}:{}", upstream.host, upstream.port);
    let tcp = tokio::time::timeout(timeout, open_tcp(upstream))
        .await
        .map_err(|_| ConnectError::Timeout(name(), timeout))??;
    match tls {
        None => handshake(TokioIo::new(tcp), name).await,
        Some(connector) => {
            let server_name = ServerName::try_from(upstream.host.to_string())
                .map_err(|_| ConnectError::ServerName(upstream.host.to_string()))?;
            let stream = tokio::time::timeout(timeout, connector.connect(server_name, tcp))
                .await
                .map_err(|_| ConnectError::Timeout(name(), timeout))?
                .map_err(|e| ConnectError::Tls(name(), e))?;
            handshake(TokioIo::new(stream), name).await
        }
    }
}

async fn open_tcp(upstream: &Upstream) -> Result<TcpStream, ConnectError> {
    let name = format!("{}:{}", upstream.host, upstream.port);
    let addrs = tokio::net::lookup_host((&*upstream.host, upstream.port))
        .await
        .map_err(|e| ConnectError::Resolve(name.clone(), e))?;
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Small request/response exchanges must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last_error = Some(e),
        }
    }
    let error = last_error
        .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"));
    Err(ConnectError::Io(name, error))
}

async fn handshake<I>(
    io: I,
    name: impl Fn() -> String,
) -> Result<SendRequest<RequestBody>, ConnectError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        .handshake::<_, RequestBody>(io)
        .await
        .map_err(|e| ConnectError::Handshake(name(), e))?;
    tokio::spawn(async move {
        // Errors here surface to the request that was using the connection.
        let _ = connection.with_upgrades().await;
    });
    Ok(sender)
}
