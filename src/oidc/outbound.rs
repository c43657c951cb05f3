//! One HTTP/1.1 exchange with another party's endpoint, over `http://` or `https://`: the
//! provider's back-channel logout POSTs, and the demo relying party's calls to the
//! provider. One connection per exchange (these calls are rare), the response body read
//! up to a limit so a hostile peer cannot make us buffer without bound.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why an exchange did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("bad URI {uri:?}: {reason}")]
    BadUri { uri: String, reason: String },
    #[error("no TLS configuration for https:// URIs")]
    NoTls,
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        authority: String,
        source: std::io::Error,
    },
    #[error("TLS handshake with {authority} failed: {source}")]
    Tls {
        authority: String,
        source: std::io::Error,
    },
    #[error("HTTP exchange failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("response body over {limit} bytes or unreadable")]
    Body { limit: usize },
}

/// A response with its whole (bounded) body.
#[derive(Debug)]
pub struct Exchanged {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// Sends `request` (its URI absolute: scheme, host, port) and reads the response, at most
/// `body_limit` bytes of body. `tls` verifies `https://` servers.
pub async fn exchange(
    mut request: Request<Full<Bytes>>,
    tls: Option<&Arc<rustls::ClientConfig>>,
    body_limit: usize,
) -> Result<Exchanged, OutboundError> {
    let uri = request.uri().clone();
    let target = Target::of(&uri)?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = path
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(&uri, e))?;
    if let Ok(host) = http::HeaderValue::from_str(&target.authority) {
        request.headers_mut().insert(http::header::HOST, host);
    }
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| OutboundError::Connect {
            authority: target.authority.clone(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let response = if target.https {
        let config = tls.ok_or(OutboundError::NoTls)?;
        let name = rustls_pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| bad(&uri, e))?;
        let stream = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, stream)
            .await
            .map_err(|source| OutboundError::Tls {
                authority: target.authority.clone(),
                source,
            })?;
        send(TokioIo::new(stream), request).await?
    } else {
        send(TokioIo::new(stream), request).await?
    };
    let (head, body) = response.into_parts();
    let body = Limited::new(body, body_limit)
        .collect()
        .await
        .map_err(|_| OutboundError::Body { limit: body_limit })?
        .to_bytes();
    Ok(Exchanged {
        status: head.status,
        headers: head.headers,
        body,
    })
}

/// Where a URI's request goes.
struct Target {
    https: bool,
    /// Without IPv6 brackets, as `connect` and TLS server names want it.
    host: String,
    port: u16,
    /// `host[:port]` as written, for the `Host` header.
    authority: String,
}

impl Target {
    fn of(uri: &Uri) -> Result<Target, OutboundError> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad(uri, "not an http(s) URI")),
        };
        let host = uri.host().ok_or_else(|| bad(uri, "no host"))?;
        Ok(Target {
            https,
            host: host.trim_matches(['[', ']']).to_string(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: uri.authority().map_or(host, |a| a.as_str()).to_string(),
        })
    }
}

fn bad(uri: &Uri, reason: impl std::fmt::Display) -> OutboundError {
    OutboundError::BadUri {
        uri: uri.to_string(),
        reason: reason.to_string(),
    }
}

async fn send<T>(
    io: T,
    request: Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, OutboundError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    Ok(sender.send_request(request).await?)
}
