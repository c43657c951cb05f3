//! A small blocking HTTP/1.0 client for CRL downloads and OCSP requests (`http://`
//! only: RFC 5280 §4.2.1.13 and RFC 6960 expect plain HTTP, the data is signed).
//!
//! Blocking on purpose: [`crate::pki::RevocationCheck`] is a synchronous hook called
//! in the middle of path building, so an async client would need a runtime of its own.
//! A caller on an async executor runs validation in `spawn_blocking`.
//!
//! HTTP/1.0 with `Connection: close` means the body ends at end of stream and the
//! server may not answer chunked. Every exchange is bounded: one deadline for connect,
//! send and receive together (re-armed on each read, so a server dripping one byte at a
//! time cannot stretch it), and a byte limit on the response. Redirects are not followed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Room for the status line and headers, on top of the body limit.
const MAX_HEADER_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("{0}: only absolute http:// URLs are fetched")]
    Unsupported(String),
    #[error("{url}: {source}")]
    Io {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: no answer within the time limit")]
    Timeout(String),
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: {why}")]
    Protocol { url: String, why: String },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
}

pub(crate) struct HttpClient {
    pub timeout: Duration,
}

/// Where a URL's request goes.
struct Target {
    authority: String,
    path: String,
    addrs: Vec<SocketAddr>,
}

impl HttpClient {
    /// `GET url`, the body at most `limit` bytes.
    pub(crate) fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, HttpError> {
        self.exchange(url, "GET", None, limit)
    }

    /// `POST url` with `body` of `content_type`.
    pub(crate) fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        limit: usize,
    ) -> Result<Vec<u8>, HttpError> {
        self.exchange(url, "POST", Some((content_type, body)), limit)
    }

    fn exchange(
        &self,
        url: &str,
        method: &str,
        body: Option<(&str, &[u8])>,
        limit: usize,
    ) -> Result<Vec<u8>, HttpError> {
        let deadline = Instant::now() + self.timeout;
        let target = target_of(url)?;
        let mut stream = connect(url, &target.addrs, deadline)?;
        let io = |source| HttpError::Io {
            url: url.to_string(),
            source,
        };
        stream
            .set_write_timeout(Some(remaining(url, deadline)?))
            .map_err(io)?;
        let mut request = format!(
            "{method} {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: govgate\r\nAccept: */*\r\nConnection: close\r\n",
            target.path, target.authority
        );
        if let Some((content_type, payload)) = body {
            request.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                payload.len()
            ));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).map_err(io)?;
        if let Some((_, payload)) = body {
            stream.write_all(payload).map_err(io)?;
        }
        let response = read_bounded(url, &mut stream, deadline, limit + MAX_HEADER_BYTES)?;
        parse_response(url, response, limit)
    }
}

fn target_of(url: &str) -> Result<Target, HttpError> {
    let unsupported = || HttpError::Unsupported(url.to_string());
    let uri: http::Uri = url.parse().map_err(|_| unsupported())?;
    if uri.scheme_str() != Some("http") {
        return Err(unsupported());
    }
    let host = uri.host().ok_or_else(unsupported)?;
    let port = uri.port_u16().unwrap_or(80);
    let authority = uri.authority().ok_or_else(unsupported)?.to_string();
    // Blocking name resolution is not bounded by the deadline; loopback and IP
    // literals (the usual case for internal CAs) do not resolve at all.
    let addrs = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|source| HttpError::Io {
            url: url.to_string(),
            source,
        })?
        .take(4)
        .collect();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    Ok(Target {
        authority,
        path,
        addrs,
    })
}

fn remaining(url: &str, deadline: Instant) -> Result<Duration, HttpError> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(HttpError::Timeout(url.to_string())),
    }
}

fn connect(url: &str, addrs: &[SocketAddr], deadline: Instant) -> Result<TcpStream, HttpError> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, remaining(url, deadline)?) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(HttpError::Io {
        url: url.to_string(),
        source: last,
    })
}

fn read_bounded(
    url: &str,
    stream: &mut TcpStream,
    deadline: Instant,
    limit: usize,
) -> Result<Vec<u8>, HttpError> {
    let mut response = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = remaining(url, deadline)?;
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(response),
            Ok(read) => {
                if response.len() + read > limit {
                    return Err(HttpError::TooLarge {
                        url: url.to_string(),
                        limit: limit.saturating_sub(MAX_HEADER_BYTES),
                    });
                }
                response.extend_from_slice(&chunk[..read]);
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HttpError::Timeout(url.to_string()))
            }
            Err(source) => {
                return Err(HttpError::Io {
                    url: url.to_string(),
                    source,
                })
            }
        }
    }
}

/// Status 200 and the body, checked against `Content-Length` when the server sent one.
fn parse_response(url: &str, mut response: Vec<u8>, limit: usize) -> Result<Vec<u8>, HttpError> {
    let protocol = |why: &str| HttpError::Protocol {
        url: url.to_string(),
        why: why.to_string(),
    };
    let head_end = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| protocol("no end of headers"))?;
    let head =
        std::str::from_utf8(&response[..head_end]).map_err(|_| protocol("headers are not text"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| protocol("no HTTP status line"))?;
    if status != 200 {
        return Err(HttpError::Status {
            url: url.to_string(),
            status,
        });
    }
    let mut content_length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding") && !value.eq_ignore_ascii_case("identity")
        {
            return Err(protocol("transfer-encoding in an HTTP/1.0 response"));
        }
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| protocol("bad Content-Length"))?,
            );
        }
    }
    let body = response.split_off(head_end + 4);
    if body.len() > limit {
        return Err(HttpError::TooLarge {
            url: url.to_string(),
            limit,
        });
    }
    match content_length {
        Some(length) if length != body.len() => {
            Err(protocol("body shorter or longer than Content-Length"))
        }
        _ => Ok(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_fetched() {
        let client = HttpClient {
            timeout: Duration::from_secs(1),
        };
        for url in [
            "https://ca.example/crl",
            "ldap://ca.example/cn=x",
            "file:///etc/passwd",
            "nonsense",
        ] {
            assert!(matches!(
                client.get(url, 10),
                Err(HttpError::Unsupported(_))
            ));
        }
    }

    #[test]
    fn responses_are_checked() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc".to_vec();
        assert_eq!(parse_response("u", ok, 10).unwrap(), b"abc");
        let short = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nabc".to_vec();
        assert!(parse_response("u", short, 10).is_err());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc".to_vec();
        assert!(parse_response("u", chunked, 10).is_err());
        let missing = b"HTTP/1.0 404 Not Found\r\n\r\n".to_vec();
        assert!(matches!(
            parse_response("u", missing, 10),
            Err(HttpError::Status { status: 404, .. })
        ));
        assert!(parse_response("u", b"garbage".to_vec(), 10).is_err());
    }
}
