//! Request routing and the test endpoints of the demo apps.
//!
//! Endpoints are recognised by their last path segments, whatever comes before them,
//! because the gateway may or may not strip an app's prefix.

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, BodyStream, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};

use super::apps::DemoApp;
use super::page::render_app_page;
use super::request_info::RequestSeen;
use super::ws;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Response body of every demo endpoint.
pub(crate) type DemoBody = UnsyncBoxBody<Bytes, BoxError>;

/// Largest `download?bytes=N` served; larger requests are capped to it.
pub const DOWNLOAD_CAP_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Longest `slow?ms=N` wait; longer requests are capped to it.
pub const SLOW_CAP_MS: u64 = 60_000;
/// Size of each chunk `download` sends; also the period of the download pattern.
pub const DOWNLOAD_CHUNK_BYTES: usize = 64 * 1024;

const TEXT: &str = "text/plain; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    ApiRequest,
    Echo,
    Download,
    Slow,
    WebSocket,
    Page,
}

impl Endpoint {
    fn of(path: &str) -> Endpoint {
        if path.ends_with("/api/request") {
            Endpoint::ApiRequest
        } else if path.ends_with("/echo") {
            Endpoint::Echo
        } else if path.ends_with("/download") {
            Endpoint::Download
        } else if path.ends_with("/slow") {
            Endpoint::Slow
        } else if path.ends_with("/ws") {
            Endpoint::WebSocket
        } else {
            Endpoint::Page
        }
    }
}

pub(crate) async fn handle(
    app: DemoApp,
    req: Request<Incoming>,
) -> Result<Response<DemoBody>, Infallible> {
    let mut response = match Endpoint::of(req.uri().path()) {
        Endpoint::ApiRequest => request_json(&req),
        Endpoint::Echo if matches!(*req.method(), Method::POST | Method::PUT) => echo(req),
        Endpoint::Echo => method_not_allowed("POST, PUT"),
        Endpoint::Download if matches!(*req.method(), Method::GET | Method::HEAD) => download(&req),
        Endpoint::Download => method_not_allowed("GET, HEAD"),
        Endpoint::Slow => slow(&req).await,
        Endpoint::WebSocket => ws::upgrade(req),
        Endpoint::Page => page(app, &req),
    };
    response
        .headers_mut()
        .insert("x-demo-app", HeaderValue::from_static(app.slug()));
    Ok(response)
}

fn page(app: DemoApp, req: &Request<Incoming>) -> Response<DemoBody> {
    let seen = RequestSeen::from_request(req);
    match render_app_page(app, &seen) {
        Ok(html) => full(StatusCode::OK, "text/html; charset=utf-8", html),
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering failed: {error}"),
        ),
    }
}

fn request_json(req: &Request<Incoming>) -> Response<DemoBody> {
    let seen = RequestSeen::from_request(req);
    match serde_json::to_vec(&seen) {
        Ok(json) => full(StatusCode::OK, "application/json", json),
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("serialising failed: {error}"),
        ),
    }
}

/// Streams the request body back as it arrives; trailers are dropped.
fn echo(req: Request<Incoming>) -> Response<DemoBody> {
    let content_type = req.headers().get(CONTENT_TYPE).cloned();
    let data_frames = BodyStream::new(req.into_body()).filter_map(|frame| {
        std::future::ready(match frame {
            Ok(frame) => frame.into_data().ok().map(|data| Ok(Frame::data(data))),
            Err(error) => Some(Err(BoxError::from(error))),
        })
    });
    let mut response = Response::new(StreamBody::new(data_frames).boxed_unsync());
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response
}

/// Streams `bytes=N` bytes of the download pattern in 64 KiB chunks (chunked encoding).
fn download(req: &Request<Incoming>) -> Response<DemoBody> {
    let total = match numeric_param(req, "bytes") {
        Ok(n) => n.min(DOWNLOAD_CAP_BYTES),
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let chunks = futures_util::stream::unfold(0u64, move |sent| async move {
        if sent >= total {
            return None;
        }
        let len = (total - sent).min(DOWNLOAD_CHUNK_BYTES as u64) as usize;
        let frame = Frame::data(pattern_block().slice(..len));
        Some((Ok::<_, BoxError>(frame), sent + len as u64))
    });
    let mut response = Response::new(StreamBody::new(chunks).boxed_unsync());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// Waits `ms=N` milliseconds, then answers.
async fn slow(req: &Request<Incoming>) -> Response<DemoBody> {
    let ms = match numeric_param(req, "ms") {
        Ok(n) => n.min(SLOW_CAP_MS),
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    text(StatusCode::OK, format!("waited {ms} ms\n"))
}

/// The byte at `offset` of every `download` body.
pub fn download_byte(offset: u64) -> u8 {
    pattern_block()[(offset % DOWNLOAD_CHUNK_BYTES as u64) as usize]
}

/// One chunk of pseudo-random bytes (xorshift), so shifted or reordered data is detected.
fn pattern_block() -> &'static Bytes {
    static BLOCK: OnceLock<Bytes> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut state: u32 = 0x9E37_79B9;
        let block: Vec<u8> = (0..DOWNLOAD_CHUNK_BYTES)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect();
        Bytes::from(block)
    })
}

fn numeric_param(req: &Request<Incoming>, name: &str) -> Result<u64, String> {
    let pairs = super::request_info::decode_query(req.uri().query().unwrap_or(""));
    let value = pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| format!("missing query parameter {name}=N\n"))?;
    value
        .parse::<u64>()
        .map_err(|_| format!("query parameter {name} must be a non-negative integer\n"))
}

fn method_not_allowed(allow: &'static str) -> Response<DemoBody> {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed\n".to_owned(),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

pub(crate) fn text(status: StatusCode, message: String) -> Response<DemoBody> {
    full(status, TEXT, message)
}

pub(crate) fn empty(status: StatusCode) -> Response<DemoBody> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    response
}

fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<DemoBody> {
    let body = Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_found_under_any_prefix() {
        assert_eq!(Endpoint::of("/api/request"), Endpoint::ApiRequest);
        assert_eq!(Endpoint::of("/motcua/api/request"), Endpoint::ApiRequest);
        assert_eq!(Endpoint::of("/a/b/echo"), Endpoint::Echo);
        assert_eq!(Endpoint::of("/download"), Endpoint::Download);
        assert_eq!(Endpoint::of("/vanban/slow"), Endpoint::Slow);
        assert_eq!(Endpoint::of("/vanban/ws"), Endpoint::WebSocket);
        assert_eq!(Endpoint::of("/"), Endpoint::Page);
        assert_eq!(Endpoint::of("/echo/more"), Endpoint::Page);
        assert_eq!(Endpoint::of("/news"), Endpoint::Page);
    }

    #[test]
    fn download_pattern_repeats_every_chunk_and_is_not_constant() {
        let chunk = DOWNLOAD_CHUNK_BYTES as u64;
        assert_eq!(download_byte(5), download_byte(chunk + 5));
        let distinct: std::collections::HashSet<u8> = (0..1024).map(download_byte).collect();
        assert!(
            distinct.len() > 200,
            "pattern should look random, got {} values",
            distinct.len()
        );
    }
}
