//! Small HTTP helpers for the portal: who is asking (browser or API), reading a form,
//! and building responses with the security headers every portal page carries.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

/// Largest login or logout form accepted.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// A form must arrive within this time.
const FORM_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// Pages may not be framed, may not load anything from elsewhere, and forms post only here.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Why a form could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("form larger than {MAX_FORM_BYTES} bytes")]
    TooLarge,
    #[error("form not received within {FORM_READ_TIMEOUT:?}")]
    Timeout,
    #[error("reading form: {0}")]
    Read(String),
    #[error("form is not application/x-www-form-urlencoded")]
    ContentType,
}

/// A submitted `application/x-www-form-urlencoded` form.
#[derive(Debug, Default)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every field in order, repeated names included.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.fields
    }
}

/// Reads a small urlencoded form body.
pub async fn read_form(headers: &HeaderMap, body: Incoming) -> Result<Form, FormError> {
    let urlencoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !urlencoded {
        return Err(FormError::ContentType);
    }
    let collected = tokio::time::timeout(
        FORM_READ_TIMEOUT,
        Limited::new(body, MAX_FORM_BYTES).collect(),
    )
    .await
    .map_err(|_| FormError::Timeout)?
    .map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            FormError::TooLarge
        } else {
            FormError::Read(e.to_string())
        }
    })?;
    let bytes = collected.to_bytes();
    Ok(Form {
        fields: form_urlencoded::parse(&bytes).into_owned().collect(),
    })
}

/// The first value of a query parameter.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub use crate::pages::is_api_request;

/// An HTML page with the portal's security headers.
pub fn html(status: StatusCode, body: String) -> Response<Bytes> {
    with_body(status, "text/html; charset=utf-8", body)
}

/// A JSON body (for API clients).
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Bytes> {
    with_body(status, "application/json", value.to_string())
}

fn with_body(status: StatusCode, content_type: &'static str, body: String) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure_headers(headers);
    response
}

/// A redirect (`302`, `303`) to `location`.
pub fn redirect(status: StatusCode, location: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    secure_headers(response.headers_mut());
    response
}

/// Widens a page's policy: it may frame the origins of `frames` (front-channel logout
/// pages) and its forms may lead to `form_targets` (CSP sources, see [`form_target_sources`])
/// besides this origin, and nothing else.
pub fn widen_page_policy(
    response: &mut Response<Bytes>,
    frames: &[String],
    form_targets: &[String],
) {
    let mut frame_origins: Vec<String> = frames.iter().filter_map(|f| origin_of(f)).collect();
    frame_origins.sort_unstable();
    frame_origins.dedup();
    if frame_origins.is_empty() && form_targets.is_empty() {
        return;
    }
    let mut policy = CONTENT_SECURITY_POLICY.to_string();
    if !form_targets.is_empty() {
        policy = policy.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", form_targets.join(" ")),
        );
    }
    if !frame_origins.is_empty() {
        policy.push_str(&format!("; frame-src {}", frame_origins.join(" ")));
    }
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The CSP sources that let a form submission end at these URIs. Browsers apply
/// `form-action` to every redirect after a submission, and the login and consent forms
/// end at an OpenID Connect client's redirect URI (login → authorize → client), so those
/// forms may lead to the registered clients' URIs — only those. `any_port`: a native
/// app's loopback URI (RFC 8252 §7.3), any port.
pub fn form_target_sources<'a>(uris: impl IntoIterator<Item = (&'a str, bool)>) -> Vec<String> {
    let mut sources: Vec<String> = uris
        .into_iter()
        .filter_map(|(uri, any_port)| {
            let origin = origin_of(uri);
            match origin {
                Some(origin) if any_port => {
                    let (scheme, authority) = origin.split_once("://")?;
                    let host = match authority.find(']') {
                        Some(end) => &authority[..=end],
                        None => authority.split(':').next().unwrap_or(authority),
                    };
                    Some(format!("{scheme}://{host}:*"))
                }
                Some(origin) => Some(origin),
                // A private-use scheme (`vn.gov.namdinh.app:/callback`): the scheme source.
                None => {
                    let scheme = uri.split_once(':')?.0;
                    let plain = scheme.contains('.')
                        && scheme
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b".+-".contains(&b));
                    plain.then(|| format!("{scheme}:"))
                }
            }
        })
        .collect();
    sources.sort_unstable();
    sources.dedup();
    sources
}

/// `scheme://authority` of an absolute URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    };
    (plain(scheme) && plain(authority)).then(|| format!("{scheme}://{authority}"))
}

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_targets_are_the_registered_origins_and_schemes() {
        let sources = form_target_sources([
            ("https://qlvb.namdinh.gov.vn/signin-oidc", false),
            ("https://qlvb.namdinh.gov.vn/", false),
            ("http://127.0.0.1:5173/cb", true),
            ("http://[::1]:5173/cb", true),
            ("vn.gov.namdinh.app:/callback", false),
            ("javascript:alert(1)//'", false),
        ]);
        assert_eq!(
            sources,
            [
                "http://127.0.0.1:*",
                "http://[::1]:*",
                "https://qlvb.namdinh.gov.vn",
                "vn.gov.namdinh.app:",
            ]
        );
    }

    #[test]
    fn a_widened_policy_keeps_everything_else() {
        let mut response = html(StatusCode::OK, String::new());
        widen_page_policy(
            &mut response,
            &["https://mail.namdinh.gov.vn/logout".into()],
            &["https://qlvb.namdinh.gov.vn".into()],
        );
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            policy.contains("form-action 'self' https://qlvb.namdinh.gov.vn;"),
            "{policy}"
        );
        assert!(
            policy.ends_with("; frame-src https://mail.namdinh.gov.vn"),
            "{policy}"
        );
        assert!(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn api_clients_are_recognised() {
        let mut h = HeaderMap::new();
        assert!(!is_api_request(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
        );
        assert!(!is_api_request(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(is_api_request(&h));
        let mut h = HeaderMap::new();
        h.insert(
            "x-requested-with",
            HeaderValue::from_static("XMLHttpRequest"),
        );
        assert!(is_api_request(&h));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(is_api_request(&h));
    }

    #[test]
    fn query_params_decode() {
        let uri: Uri = "/login?rd=%2Fmot-cua%2F%3Fq%3Dh%E1%BB%93&lang=en"
            .parse()
            .unwrap();
        assert_eq!(query_param(&uri, "rd").as_deref(), Some("/mot-cua/?q=hồ"));
        assert_eq!(query_param(&uri, "lang").as_deref(), Some("en"));
        assert_eq!(query_param(&uri, "x"), None);
    }
}
