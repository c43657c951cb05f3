//! Two demo upstream applications served in-process, for `govgate demo` and for tests:
//! "Một cửa điện tử" (one-stop shop) and "Quản lý văn bản và điều hành" (document
//! management). Each shows what the gateway told it and offers streaming test endpoints:
//!
//! | path (under any prefix) | behaviour |
//! |---|---|
//! | anything else | Vietnamese HTML page: sample rows + the request as received |
//! | `GET .../api/request` | [`RequestSeen`] as JSON |
//! | `POST\|PUT .../echo` | streams the request body back (trailers dropped) |
//! | `GET .../download?bytes=N` | N bytes (≤ 2 GiB) of [`download_byte`], 64 KiB chunks |
//! | `GET .../slow?ms=N` | answers after N ms (≤ 60 s) |
//! | `GET .../ws` | WebSocket echo |
//!
//! Every response carries `x-demo-app: one-stop-shop | documents`.
//!
//! A third app, [`DemoRp`] ("Cổng dịch vụ công (mẫu)"), is not behind the proxy: it
//! delegates login to the gateway by OpenID Connect redirects, as the province's own apps
//! would.

mod apps;
mod handlers;
mod page;
mod request_info;
mod rp;
mod ws;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use apps::DemoApp;
pub use handlers::{download_byte, DOWNLOAD_CAP_BYTES, DOWNLOAD_CHUNK_BYTES, SLOW_CAP_MS};
pub use request_info::RequestSeen;
pub use rp::{DemoRp, RpSettings};

/// The two demo apps, listening on loopback ports, served by their own thread and tokio
/// runtime. Dropping it stops both and frees the ports.
pub struct DemoApps {
    /// "Một cửa điện tử".
    pub one_stop_shop: SocketAddr,
    /// "Quản lý văn bản và điều hành".
    pub documents: SocketAddr,
    _server: Background,
}

impl DemoApps {
    /// Binds `127.0.0.1:0` twice and starts serving; the apps answer as soon as this returns.
    pub fn start() -> io::Result<DemoApps> {
        let one_stop_shop = bind_loopback()?;
        let documents = bind_loopback()?;
        let addrs = (one_stop_shop.local_addr()?, documents.local_addr()?);
        let server = Background::spawn("govgate-demo-apps", move || async move {
            let listeners = TcpListener::from_std(one_stop_shop)
                .and_then(|a| TcpListener::from_std(documents).map(|b| (a, b)));
            let (one_stop_shop, documents) = match listeners {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::error!(%error, "demo apps could not register their listeners");
                    return;
                }
            };
            tokio::join!(
                serve_connections(one_stop_shop, DemoApp::OneStopShop.slug(), |req| {
                    handlers::handle(DemoApp::OneStopShop, req)
                }),
                serve_connections(documents, DemoApp::Documents.slug(), |req| {
                    handlers::handle(DemoApp::Documents, req)
                }),
            );
        })?;
        Ok(DemoApps {
            one_stop_shop: addrs.0,
            documents: addrs.1,
            _server: server,
        })
    }

    /// Address of `app`.
    pub fn addr(&self, app: DemoApp) -> SocketAddr {
        match app {
            DemoApp::OneStopShop => self.one_stop_shop,
            DemoApp::Documents => self.documents,
        }
    }
}

/// A future served on a thread and current-thread runtime of its own until dropped: the
/// demo apps stay out of the gateway's runtime, as real upstreams would.
pub(crate) struct Background {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    pub(crate) fn spawn<F, Fut>(name: &str, serve: F) -> io::Result<Background>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Dropping the runtime at the end of this thread also drops every open
                // connection task, so no socket outlives the `Background`.
                runtime.block_on(async move {
                    tokio::select! {
                        () = serve() => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Background {
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) fn bind_loopback() -> io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Accepts connections forever, serving each (HTTP/1.1 or h2, with upgrades) by `handle`.
pub(crate) async fn serve_connections<H, Fut, B>(
    listener: TcpListener,
    name: &'static str,
    handle: H,
) where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(%error, app = name, "demo app accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        tokio::spawn(async move {
            let served = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service_fn(handle))
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, app = name, "demo app connection ended with an error");
            }
        });
    }
}
