//! Where the browser may be sent after login: only to the gateway itself or to a registered
//! app host. Anything else — another site, a protocol-relative `//evil`, a backslash trick
//! `/\evil`, userinfo `https://good@evil`, or an encoded spelling of those — is refused, and the
//! caller sends the user to the portal home instead (no open redirect).

use http::Uri;

/// The hosts a return URL may point at.
pub trait AllowedHosts {
    /// True for the gateway's own host and every registered app host (lowercase, no port).
    fn allows(&self, host: &str) -> bool;
}

impl<F: Fn(&str) -> bool> AllowedHosts for F {
    fn allows(&self, host: &str) -> bool {
        self(host)
    }
}

/// Most bytes a return URL may have.
const MAX_RETURN_URL: usize = 2048;

/// The return URL if it is safe to redirect to, as given (already canonical), else `None`.
pub fn safe_return_url(candidate: &str, allowed: &impl AllowedHosts) -> Option<String> {
    if candidate.is_empty() || candidate.len() > MAX_RETURN_URL || has_forbidden_bytes(candidate) {
        return None;
    }
    // Browsers read `\` as `/`; one round of percent-decoding must not change the verdict either.
    let decoded = percent_decode(candidate)?;
    if has_forbidden_bytes(&decoded) {
        return None;
    }
    if candidate.starts_with('/') {
        return local_path_is_safe(candidate, &decoded).then(|| candidate.to_string());
    }
    absolute_url_is_safe(candidate, allowed).then(|| candidate.to_string())
}

/// A path on the current host: one leading `/`, never `//` (protocol-relative) even after decoding.
fn local_path_is_safe(raw: &str, decoded: &str) -> bool {
    let protocol_relative = |s: &str| s.starts_with("//");
    !protocol_relative(raw) && !protocol_relative(decoded) && raw.parse::<Uri>().is_ok()
}

/// `http(s)://host[:port]/…` on an allowed host, without userinfo.
fn absolute_url_is_safe(raw: &str, allowed: &impl AllowedHosts) -> bool {
    let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return false;
    }
    let Ok(uri) = raw.parse::<Uri>() else {
        return false;
    };
    let Some(authority) = uri.authority() else {
        return false;
    };
    if authority.as_str().contains('@') {
        return false;
    }
    let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
    !host.is_empty() && allowed.allows(&host)
}

/// Control characters, whitespace and backslashes never belong in a return URL.
fn has_forbidden_bytes(s: &str) -> bool {
    s.bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\')
}

/// One round of percent-decoding; `None` for malformed escapes or non-UTF-8 results.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(host: &str) -> bool {
        host == "sso.namdinh.gov.vn"
            || host == "motcua.namdinh.gov.vn"
            || host.ends_with(".so.namdinh.gov.vn")
    }

    fn check(url: &str) -> Option<String> {
        safe_return_url(url, &allowed)
    }

    #[test]
    fn local_paths_and_registered_hosts_are_accepted() {
        assert_eq!(
            check("/mot-cua/ho-so?id=5").as_deref(),
            Some("/mot-cua/ho-so?id=5")
        );
        assert!(check("https://motcua.namdinh.gov.vn/tra-cuu").is_some());
        assert!(check("https://yte.so.namdinh.gov.vn:8443/").is_some());
        assert!(check("HTTPS://MotCua.NamDinh.gov.vn/").is_some());
    }

    #[test]
    fn open_redirect_variants_are_refused() {
        for evil in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F/evil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "https://motcua.namdinh.gov.vn@evil.example/",
            "https://evil.example#@motcua.namdinh.gov.vn",
            "javascript:alert(1)",
            "data:text/html,x",
            "https://motcua.namdinh.gov.vn.evil.example/",
            "https:/evil.example",
            "https:evil.example",
            " https://evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "https://evil.example%2F@motcua.namdinh.gov.vn/",
            "",
        ] {
            assert_eq!(check(evil), None, "{evil:?} must be refused");
        }
    }

    #[test]
    fn malformed_escapes_and_huge_urls_are_refused() {
        assert_eq!(check("/a%zz"), None);
        assert_eq!(check(&format!("/{}", "a".repeat(5000))), None);
    }
}
