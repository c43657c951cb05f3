//! The session cookie: `Set-Cookie` values and reading the id back from `Cookie` headers.

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use super::SessionId;

/// Cookie headers longer than this are skipped unread (no legitimate browser sends them;
/// the server's own header limit applies first anyway).
const MAX_COOKIE_HEADER: usize = 16 * 1024;

/// Cookie attributes shared by every `Set-Cookie` the gateway sends.
#[derive(Debug, Clone)]
pub(crate) struct CookieSpec {
    pub name: String,
    pub domain: Option<String>,
}

impl CookieSpec {
    /// `name=id; Path=/; HttpOnly; SameSite=Lax[; Secure][; Domain=…]` — a browser-session
    /// cookie (no Max-Age): the server enforces idle and absolute expiry.
    pub fn set(&self, id: &SessionId, secure: bool) -> HeaderValue {
        self.header(id.as_str(), "", secure)
    }

    /// Same attributes with an empty value and `Max-Age=0`, so the browser drops it.
    pub fn clear(&self, secure: bool) -> HeaderValue {
        self.header("", "; Max-Age=0", secure)
    }

    /// The same cookie without `Domain`: for a session bound to one app host outside the
    /// cookie domain, where a browser would reject a cookie naming that domain.
    pub fn host_only(&self) -> CookieSpec {
        CookieSpec {
            name: self.name.clone(),
            domain: None,
        }
    }

    fn header(&self, value: &str, extra: &str, secure: bool) -> HeaderValue {
        let mut text = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax{extra}",
            self.name
        );
        if secure {
            text.push_str("; Secure");
        }
        if let Some(domain) = &self.domain {
            text.push_str("; Domain=");
            text.push_str(domain);
        }
        // Name and domain are validated configuration and the value is base64url, so this
        // cannot fail; fall back to a cookie without the odd attribute rather than panic.
        HeaderValue::from_str(&text)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
    }

    /// The session id among all `Cookie` headers. Values that are not a well-formed id are
    /// ignored; two *different* well-formed ids (e.g. one planted by a sibling subdomain)
    /// make the answer ambiguous, so none is trusted.
    pub fn session_id_from(&self, headers: &HeaderMap) -> Option<SessionId> {
        let mut found: Option<SessionId> = None;
        for header in headers.get_all(COOKIE) {
            if header.len() > MAX_COOKIE_HEADER {
                continue;
            }
            let Ok(text) = header.to_str() else { continue };
            for pair in text.split(';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                if name.trim() != self.name {
                    continue;
                }
                let Some(id) = SessionId::parse(value.trim().trim_matches('"')) else {
                    continue;
                };
                match &found {
                    Some(previous) if *previous != id => return None,
                    _ => found = Some(id),
                }
            }
        }
        found
    }
}
