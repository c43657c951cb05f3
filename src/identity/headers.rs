//! Identity propagation: the logged-in person, as headers an upstream app can trust.
//!
//! Header values must be visible ASCII, so anything else — Vietnamese diacritics above all —
//! is percent-encoded as UTF-8 (`Nguyễn` → `Nguy%E1%BB%85n`), as is `%` itself; in the
//! groups list, `,` inside a name is encoded too, so the list splits safely on `,`.
//! Apps decode with any URL-decoding function. Client-sent copies of these headers never get
//! this far: the identity namespace is stripped on the way in.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::Identity;

/// Header names for each identity attribute.
#[derive(Debug, Clone)]
pub struct IdentityHeaderNames {
    pub user: HeaderName,
    pub name: HeaderName,
    pub email: HeaderName,
    pub groups: HeaderName,
    pub department: HeaderName,
    pub assertion: HeaderName,
}

impl Default for IdentityHeaderNames {
    fn default() -> Self {
        Self {
            user: HeaderName::from_static("x-remote-user"),
            name: HeaderName::from_static("x-remote-name"),
            email: HeaderName::from_static("x-remote-email"),
            groups: HeaderName::from_static("x-remote-groups"),
            department: HeaderName::from_static("x-remote-department"),
            assertion: HeaderName::from_static("x-govgate-assertion"),
        }
    }
}

impl IdentityHeaderNames {
    /// Writes the identity into `headers`; `assertion` is the signed JWT, when the app gets one.
    pub fn apply(
        &self,
        headers: &mut HeaderMap,
        identity: &Identity,
        assertion: Option<HeaderValue>,
    ) {
        insert_encoded(headers, &self.user, &identity.username, false);
        insert_encoded(headers, &self.name, &identity.display_name, false);
        if let Some(email) = &identity.email {
            insert_encoded(headers, &self.email, email, false);
        }
        if let Some(department) = &identity.department {
            insert_encoded(headers, &self.department, department, false);
        }
        let groups: Vec<String> = identity.groups.iter().map(|g| encode(g, true)).collect();
        if let Ok(value) = HeaderValue::from_str(&groups.join(",")) {
            headers.insert(&self.groups, value);
        }
        if let Some(assertion) = assertion {
            headers.insert(&self.assertion, assertion);
        }
    }

    /// Every header name this writes (for forward-auth responses and documentation).
    pub fn all(&self) -> [&HeaderName; 6] {
        [
            &self.user,
            &self.name,
            &self.email,
            &self.groups,
            &self.department,
            &self.assertion,
        ]
    }
}

fn insert_encoded(headers: &mut HeaderMap, name: &HeaderName, value: &str, in_list: bool) {
    // Percent-encoded text is visible ASCII, always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&encode(value, in_list)) {
        headers.insert(name, value);
    }
}

/// Percent-encodes everything that is not visible ASCII, plus `%` (and `,` in list items).
pub fn encode(value: &str, in_list: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len() + value.len() / 2);
    for byte in value.bytes() {
        let plain = (0x20..0x7f).contains(&byte) && byte != b'%' && !(in_list && byte == b',');
        if plain {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            subject: "6f1c".into(),
            username: "nthang".into(),
            display_name: "Nguyễn Thị Hằng".into(),
            email: Some("nthang@namdinh.gov.vn".into()),
            department: Some("Sở Nội vụ".into()),
            employee_number: None,
            groups: vec!["chuyen-vien".into(), "a,b".into()],
            group_dns: Vec::new(),
            source: "ldap".into(),
        }
    }

    #[test]
    fn vietnamese_names_are_percent_encoded_utf8() {
        assert_eq!(
            encode("Nguyễn Thị Hằng", false),
            "Nguy%E1%BB%85n Th%E1%BB%8B H%E1%BA%B1ng"
        );
        assert_eq!(encode("100%", false), "100%25");
        assert_eq!(encode("a\r\nX-Evil: 1", false), "a%0D%0AX-Evil: 1");
    }

    #[test]
    fn headers_carry_identity_and_groups_split_safely() {
        let mut headers = HeaderMap::new();
        IdentityHeaderNames::default().apply(
            &mut headers,
            &identity(),
            Some(HeaderValue::from_static("jwt")),
        );
        assert_eq!(headers["x-remote-user"], "nthang");
        assert_eq!(
            headers["x-remote-name"],
            "Nguy%E1%BB%85n Th%E1%BB%8B H%E1%BA%B1ng"
        );
        assert_eq!(headers["x-remote-groups"], "chuyen-vien,a%2Cb");
        assert_eq!(
            headers["x-remote-department"],
            "S%E1%BB%9F N%E1%BB%99i v%E1%BB%A5"
        );
        assert_eq!(headers["x-govgate-assertion"], "jwt");
    }
}
