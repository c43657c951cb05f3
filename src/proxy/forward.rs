//! One exchange with an app's upstreams: pick, connect (or reuse), send, await the head.
//!
//! Retries happen only when the request was never sent (connection refused, TLS failure)
//! and only for idempotent methods, each time on an upstream not yet tried.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

use super::body::{RequestBody, RequestBodyError};
use super::pool::{self, ConnectError, PooledConnection, WorkerPool};
use super::table::App;
use super::upstream::{InFlight, Upstream};
use crate::metrics::UpstreamErrorKind;

/// Why no response came back from the upstreams.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no upstream could be reached: {0}")]
    Connect(#[source] ConnectError),
    #[error("upstream sent no response head within {0:?}")]
    Timeout(Duration),
    #[error("request body: {0}")]
    Body(String, BodyFailure),
    #[error("upstream exchange failed: {0}")]
    Upstream(#[source] hyper::Error),
}

/// What went wrong with the client's body, which decides the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    TooLarge,
    ReadTimeout,
    ClientGone,
}

impl ForwardError {
    pub fn metric_kind(&self) -> Option<UpstreamErrorKind> {
        match self {
            ForwardError::Connect(_) => Some(UpstreamErrorKind::Connect),
            ForwardError::Timeout(_) => Some(UpstreamErrorKind::Timeout),
            ForwardError::Upstream(_) => Some(UpstreamErrorKind::Protocol),
            ForwardError::Body(..) => None,
        }
    }
}

/// The upstream's response head, with the connection to release once its body is read.
pub struct Forwarded {
    pub response: Response<Incoming>,
    pub connection: Option<PooledConnection>,
}

/// Sends `request` to one of the app's upstreams.
pub async fn forward(
    app: &App,
    pool: &Arc<WorkerPool>,
    worker: usize,
    mut request: Request<RequestBody>,
    idempotent: bool,
) -> Result<Forwarded, ForwardError> {
    let mut tried: Vec<usize> = Vec::new();
    // Each upstream may have its own base path: always start from the app-relative URI.
    let relative_uri = request.uri().clone();
    loop {
        let Some(upstream) = app.upstreams.pick(&tried) else {
            return Err(ForwardError::Connect(ConnectError::Io(
                app.id.to_string(),
                std::io::Error::other("every upstream failed"),
            )));
        };
        match exchange(app, pool, upstream, &relative_uri, request).await {
            Ok(forwarded) => return Ok(forwarded),
            Err(Attempt::NotSent(error, returned)) => {
                app.metrics
                    .record_upstream_error(worker, UpstreamErrorKind::Connect);
                if upstream.record_connect_failure(&app.upstreams.health) {
                    tracing::warn!(app = %app.id, upstream = %upstream.authority, "upstream ejected after repeated connect failures");
                }
                tried.extend(app.upstreams.index_of(upstream));
                let may_retry = idempotent
                    && tried.len() <= app.retries as usize
                    && tried.len() < app.upstreams.upstreams.len();
                if !may_retry {
                    return Err(ForwardError::Connect(error));
                }
                tracing::debug!(app = %app.id, upstream = %upstream.authority, %error, "retrying on another upstream");
                request = *returned;
            }
            Err(Attempt::Failed(error)) => return Err(error),
        }
    }
}

enum Attempt {
    /// Nothing reached the upstream; the request comes back for a retry.
    NotSent(ConnectError, Box<Request<RequestBody>>),
    Failed(ForwardError),
}

async fn exchange(
    app: &App,
    pool: &Arc<WorkerPool>,
    upstream: &Arc<Upstream>,
    relative_uri: &http::Uri,
    mut request: Request<RequestBody>,
) -> Result<Forwarded, Attempt> {
    set_upstream_target(&mut request, upstream, relative_uri, app.preserve_host);
    // Counted until the response body ends: the guard travels with the pooled connection.
    let in_flight = app.upstreams.track(upstream);
    // A pooled connection first; if it turns out not to be usable, the request comes back unsent.
    while let Some(mut sender) = pool.checkout(upstream.pool_key, app.idle_timeout) {
        if sender.ready().await.is_err() {
            continue;
        }
        match send(app, &mut sender, request).await {
            Ok(response) => return Ok(finish(pool, upstream, sender, response, in_flight)),
            Err(SendFailure::Unsent(returned)) => request = *returned,
            Err(SendFailure::Failed(error)) => return Err(Attempt::Failed(error)),
        }
    }
    // Boxed: connecting (TCP, TLS, handshake) is rare with pooling, and its large state would
    // otherwise be part of every request's future and copied with it.
    let connecting = Box::pin(pool::connect(
        upstream,
        app.tls.as_ref(),
        app.connect_timeout,
    ));
    let mut sender = match connecting.await {
        Ok(sender) => sender,
        Err(error) => return Err(Attempt::NotSent(error, Box::new(request))),
    };
    upstream.record_connect_success();
    match send(app, &mut sender, request).await {
        Ok(response) => Ok(finish(pool, upstream, sender, response, in_flight)),
        Err(SendFailure::Unsent(returned)) => {
            let error = ConnectError::Io(
                upstream.authority.to_string(),
                std::io::Error::other("new connection was not ready"),
            );
            Err(Attempt::NotSent(error, returned))
        }
        Err(SendFailure::Failed(error)) => Err(Attempt::Failed(error)),
    }
}

fn finish(
    pool: &Arc<WorkerPool>,
    upstream: &Upstream,
    sender: SendRequest<RequestBody>,
    response: Response<Incoming>,
    in_flight: Option<InFlight>,
) -> Forwarded {
    // A switched protocol owns the connection from now on: it never returns to the pool.
    let connection = (response.status() != http::StatusCode::SWITCHING_PROTOCOLS)
        .then(|| PooledConnection::new(pool.clone(), upstream.pool_key, sender, in_flight));
    Forwarded {
        response,
        connection,
    }
}

enum SendFailure {
    Unsent(Box<Request<RequestBody>>),
    Failed(ForwardError),
}

/// Sends on one connection and waits for the response head. The response-head timeout starts
/// once the request body has been sent in full, so a long upload is not cut off.
async fn send(
    app: &App,
    sender: &mut SendRequest<RequestBody>,
    mut request: Request<RequestBody>,
) -> Result<Response<Incoming>, SendFailure> {
    let timeout = app.response_header_timeout;
    let body_sent = request.body_mut().take_sent_signal();
    let exchange = sender.try_send_request(request);
    let deadline = async {
        if let Some(signal) = body_sent {
            let _ = signal.await;
        }
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        result = exchange => match result {
            Ok(response) => Ok(response),
            Err(mut error) => match error.take_message() {
                Some(request) => Err(SendFailure::Unsent(Box::new(request))),
                None => Err(SendFailure::Failed(classify(error.into_error()))),
            },
        },
        () = deadline => Err(SendFailure::Failed(ForwardError::Timeout(timeout))),
    }
}

fn classify(error: hyper::Error) -> ForwardError {
    match RequestBodyError::find_in(&error) {
        Some(RequestBodyError::TooLarge { .. }) => {
            ForwardError::Body(error.to_string(), BodyFailure::TooLarge)
        }
        Some(RequestBodyError::ReadTimeout(_)) => {
            ForwardError::Body(error.to_string(), BodyFailure::ReadTimeout)
        }
        Some(RequestBodyError::Client(_)) => {
            ForwardError::Body(error.to_string(), BodyFailure::ClientGone)
        }
        None => ForwardError::Upstream(error),
    }
}

/// The upstream's base path in front of the (origin-form) URI, and the Host the upstream sees.
fn set_upstream_target(
    request: &mut Request<RequestBody>,
    upstream: &Upstream,
    relative_uri: &http::Uri,
    preserve_host: bool,
) {
    if !upstream.base_path.is_empty() {
        let joined = format!("{}{}", upstream.base_path, relative_uri);
        if let Ok(uri) = joined.parse() {
            *request.uri_mut() = uri;
        }
    } else if request.uri() != relative_uri {
        *request.uri_mut() = relative_uri.clone();
    }
    if !preserve_host || !request.headers().contains_key(http::header::HOST) {
        request
            .headers_mut()
            .insert(http::header::HOST, upstream.host_header.clone());
    }
}
