//! What the gateway told a demo app: the request as the app received it.

use http::Request;
use serde::{Deserialize, Serialize};

/// The request as a demo app received it; served as JSON by `.../api/request` and shown
/// on every app page. Gateway tests deserialise it to check what reached the upstream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSeen {
    pub method: String,
    /// Path exactly as received (still percent-encoded).
    pub path: String,
    /// Query string exactly as received, if any.
    pub raw_query: Option<String>,
    /// Decoded query pairs, in order (`+` is a space; invalid UTF-8 becomes U+FFFD).
    pub query: Vec<(String, String)>,
    /// Every header in received order as `[name, value]`; non-UTF-8 bytes become U+FFFD.
    pub headers: Vec<(String, String)>,
}

impl RequestSeen {
    pub(crate) fn from_request<B>(req: &Request<B>) -> RequestSeen {
        let raw_query = req.uri().query().map(str::to_owned);
        RequestSeen {
            method: req.method().as_str().to_owned(),
            path: req.uri().path().to_owned(),
            query: raw_query.as_deref().map(decode_query).unwrap_or_default(),
            raw_query,
            headers: req
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        }
    }

    /// First value of query parameter `name`.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How a header relates to the gateway, for highlighting on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderKind {
    /// X-Forwarded-*, Forwarded, X-Request-Id: what the proxy says about the hop.
    Forwarding,
    /// X-Remote-* and X-Govgate-*: the identity the gateway vouches for.
    Identity,
    Other,
}

pub(crate) fn header_kind(name: &str) -> HeaderKind {
    let name = name.to_ascii_lowercase();
    if name.starts_with("x-remote-") || name.starts_with("x-govgate-") {
        HeaderKind::Identity
    } else if name.starts_with("x-forwarded-") || name == "forwarded" || name == "x-request-id" {
        HeaderKind::Forwarding
    } else {
        HeaderKind::Other
    }
}

/// Splits `a=1&b=x+y` into decoded pairs (application/x-www-form-urlencoded rules).
pub(crate) fn decode_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                // A lone '%' stays as it is.
                out.push(b'%');
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_vietnamese_utf8_and_form_spaces() {
        let pairs = decode_query("q=h%E1%BB%93%20s%C6%A1&x=a+b&flag&&bad=%zz%4");
        assert_eq!(
            pairs,
            vec![
                ("q".to_owned(), "hồ sơ".to_owned()),
                ("x".to_owned(), "a b".to_owned()),
                ("flag".to_owned(), String::new()),
                ("bad".to_owned(), "%zz%4".to_owned()),
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        assert_eq!(
            decode_query("v=%FF"),
            vec![("v".to_owned(), "\u{FFFD}".to_owned())]
        );
    }

    #[test]
    fn classifies_gateway_headers() {
        assert_eq!(header_kind("X-Forwarded-For"), HeaderKind::Forwarding);
        assert_eq!(header_kind("forwarded"), HeaderKind::Forwarding);
        assert_eq!(header_kind("x-request-id"), HeaderKind::Forwarding);
        assert_eq!(header_kind("X-Remote-User"), HeaderKind::Identity);
        assert_eq!(header_kind("x-govgate-roles"), HeaderKind::Identity);
        assert_eq!(header_kind("accept"), HeaderKind::Other);
        assert_eq!(header_kind("x-forwardedfor"), HeaderKind::Other);
    }
}
