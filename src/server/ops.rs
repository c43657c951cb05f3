//! Operations endpoints: `/healthz` (the process answers), `/readyz` (its dependencies
//! answer), `/metrics` (Prometheus), and the HTTP→HTTPS redirect.

use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use serde_json::json;

use super::Gateway;
use crate::proxy::body::ResponseBody;
use crate::proxy::routing::normalise_host;

/// Paths the gateway answers itself, before app routing.
pub enum OpsEndpoint {
    Health,
    Ready,
    Metrics,
}

impl OpsEndpoint {
    pub fn from_path(path: &str) -> Option<Self> {
        match path {
            "/healthz" => Some(OpsEndpoint::Health),
            "/readyz" => Some(OpsEndpoint::Ready),
            "/metrics" => Some(OpsEndpoint::Metrics),
            _ => None,
        }
    }
}

/// How long `/readyz` waits for a dependency before calling it down.
const READINESS_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn answer(gateway: &Gateway, endpoint: OpsEndpoint) -> Response<ResponseBody> {
    match endpoint {
        OpsEndpoint::Health => text(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
        OpsEndpoint::Ready => readiness(gateway).await,
        OpsEndpoint::Metrics => text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            gateway.metrics.render(),
        ),
    }
}

async fn readiness(gateway: &Gateway) -> Response<ResponseBody> {
    let mut checks = Vec::new();
    let mut ready = true;
    if let Some(store) = &gateway.store {
        let outcome = tokio::time::timeout(READINESS_PROBE_TIMEOUT, store.ping()).await;
        let (ok, error) = match outcome {
            Ok(Ok(())) => (true, None),
            Ok(Err(e)) => (false, Some(e.to_string())),
            Err(_) => (
                false,
                Some(format!("no answer within {READINESS_PROBE_TIMEOUT:?}")),
            ),
        };
        ready &= ok;
        checks.push(
            json!({"name": "store", "backend": store.backend_name(), "ok": ok, "error": error}),
        );
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if ready { "ready" } else { "not ready" }, "checks": checks});
    text(status, "application/json", body.to_string())
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 400 for a plain-HTTP request that must go to HTTPS but names no host a redirect can use.
pub fn unusable_host() -> Response<ResponseBody> {
    text(
        StatusCode::BAD_REQUEST,
        "text/plain; charset=utf-8",
        "missing or invalid Host header\n".into(),
    )
}

/// A redirect to the same host and path over HTTPS (301 for GET/HEAD, 308 otherwise so
/// the method and body are kept). `None` when the Host header is not a plain host name.
pub fn https_redirect<B>(request: &Request<B>, https_port: u16) -> Option<Response<ResponseBody>> {
    let host = request
        .uri()
        .host()
        .or_else(|| request.headers().get(header::HOST)?.to_str().ok())?;
    let host = normalise_host(host);
    let plain = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    if host.is_empty() || !plain {
        return None;
    }
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location = HeaderValue::from_str(&format!("https://{host}{port}{path}")).ok()?;
    let status = if matches!(*request.method(), http::Method::GET | http::Method::HEAD) {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = status;
    response.headers_mut().insert(header::LOCATION, location);
    Some(response)
}

/// `404` for gateway paths that are not enabled (e.g. the admin API without a token file).
pub fn not_found() -> Response<ResponseBody> {
    text(
        StatusCode::NOT_FOUND,
        "application/json",
        r#"{"error":"not_found"}"#.to_string(),
    )
}
