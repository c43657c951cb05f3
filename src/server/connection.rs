//! One client connection: optional TLS handshake, HTTP/1.1 or HTTP/2, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::Gateway;
use crate::config::ServerConfig;
use crate::proxy::body::ResponseBody;
use crate::proxy::pool::WorkerPool;
use crate::proxy::ConnInfo;

/// HTTP settings every connection of a listener shares.
pub struct HttpSettings {
    pub header_read_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub h2c: bool,
}

impl HttpSettings {
    pub fn from_config(server: &ServerConfig) -> Self {
        Self {
            header_read_timeout: server.header_read_timeout.get(),
            keepalive_timeout: server.keepalive_timeout.get(),
            max_header_bytes: server.max_header_bytes.bytes().clamp(1024, u32::MAX as u64) as usize,
            max_headers: server.max_headers.max(1),
            h2c: server.h2c,
        }
    }
}

/// What a worker hands to each connection it accepts.
#[derive(Clone)]
pub struct ConnectionContext {
    pub gateway: Arc<Gateway>,
    pub worker: usize,
    pub pool: Arc<WorkerPool>,
    pub shutdown: watch::Receiver<bool>,
}

/// Serves one accepted TCP connection to its end (or to shutdown).
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    ctx: ConnectionContext,
) {
    let _open = ctx.gateway.metrics.connection_opened();
    let _ = stream.set_nodelay(true);
    let settings = &ctx.gateway.http;
    match tls {
        None => {
            let info = ConnInfo {
                peer,
                https: false,
                worker: ctx.worker,
                pool: ctx.pool.clone(),
            };
            if settings.h2c {
                serve_auto(TokioIo::new(stream), info, ctx).await;
            } else {
                serve_http1(TokioIo::new(stream), info, ctx).await;
            }
        }
        Some(acceptor) => {
            // The handshake is bounded like a request head: a silent client is cut off.
            let handshake =
                tokio::time::timeout(settings.header_read_timeout, acceptor.accept(stream)).await;
            let stream = match handshake {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let info = ConnInfo {
                peer,
                https: true,
                worker: ctx.worker,
                pool: ctx.pool.clone(),
            };
            if h2 {
                serve_http2(TokioIo::new(stream), info, ctx).await;
            } else {
                serve_http1(TokioIo::new(stream), info, ctx).await;
            }
        }
    }
}

type Handler = Arc<dyn Fn(Request<Incoming>) -> HandlerFuture + Send + Sync>;
type HandlerFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>,
>;

/// What every request on one connection shares. Cloning this per-connection `Arc` touches
/// only this core's cache; cloning the gateway's `Arc` per request would bounce its
/// reference count between cores.
struct ConnState {
    gateway: Arc<Gateway>,
    info: ConnInfo,
}

fn handler(info: ConnInfo, ctx: &ConnectionContext) -> Handler {
    let state = Arc::new(ConnState {
        gateway: ctx.gateway.clone(),
        info,
    });
    Arc::new(move |request| {
        let state = state.clone();
        Box::pin(async move { Ok(state.gateway.dispatch(request, &state.info).await) })
    })
}

async fn serve_http1<I>(io: TokioIo<I>, info: ConnInfo, mut ctx: ConnectionContext)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings = &ctx.gateway.http;
    let handle = handler(info, &ctx);
    let service = service_fn(move |request| handle(request));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_headers(settings.max_headers)
        .max_header_size(settings.max_header_bytes)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service).with_upgrades();
    drive(connection, &mut ctx.shutdown, |c| c.graceful_shutdown()).await;
}

async fn serve_http2<I>(io: TokioIo<I>, info: ConnInfo, mut ctx: ConnectionContext)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings = &ctx.gateway.http;
    let handle = handler(info, &ctx);
    let service = service_fn(move |request| handle(request));
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(settings.max_header_bytes as u32)
        .max_concurrent_streams(256)
        .keep_alive_interval(settings.keepalive_timeout / 2);
    let connection = builder.serve_connection(io, service);
    drive(connection, &mut ctx.shutdown, |c| c.graceful_shutdown()).await;
}

/// Plain listener with h2c enabled: HTTP/2 prior knowledge or HTTP/1.1, by the first bytes.
async fn serve_auto<I>(io: TokioIo<I>, info: ConnInfo, mut ctx: ConnectionContext)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings = &ctx.gateway.http;
    let handle = handler(info, &ctx);
    let service = service_fn(move |request| handle(request));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_headers(settings.max_headers)
        .max_buf_size(settings.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(settings.max_header_bytes as u32);
    let connection = builder.serve_connection_with_upgrades(io, service);
    drive(connection, &mut ctx.shutdown, |c| c.graceful_shutdown()).await;
}

/// Runs a connection to its end; on shutdown, asks it to finish its requests in flight and
/// close (`begin_shutdown` is the connection type's own `graceful_shutdown`).
async fn drive<C, E>(
    connection: C,
    shutdown: &mut watch::Receiver<bool>,
    begin_shutdown: impl FnOnce(Pin<&mut C>),
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => log_connection_end(result),
        () = stopped(shutdown) => {
            begin_shutdown(connection.as_mut());
            log_connection_end(connection.await);
        }
    }
}

fn log_connection_end<E: std::fmt::Display>(result: Result<(), E>) {
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Resolves once shutdown has been requested (or the sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The borrow guard must not live across an await: drop it at once.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}
