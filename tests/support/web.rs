//! A browser-like HTTP client for login tests: `curl` with a cookie jar and `--resolve`
//! names (no DNS needed), one request at a time, redirects not followed so every hop can be
//! checked. Also reads the portal's login form the way a browser would submit it.

use std::path::PathBuf;
use std::process::Command;

/// One response: status, headers (names lower-cased) and body.
#[derive(Debug, Clone)]
pub struct WebResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl WebResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn location(&self) -> &str {
        self.header("location")
            .unwrap_or_else(|| panic!("no Location in {} response:\n{:#?}", self.status, self))
    }

    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// curl with its own cookie jar; `names` resolve to 127.0.0.1 on `port`.
pub struct WebClient {
    dir: tempfile::TempDir,
    resolves: Vec<String>,
}

impl WebClient {
    /// `names` are `(host, port)` pairs resolved to 127.0.0.1.
    pub fn new(names: &[(&str, u16)]) -> WebClient {
        WebClient {
            dir: tempfile::tempdir().expect("temp dir for the cookie jar"),
            resolves: names
                .iter()
                .map(|(host, port)| format!("{host}:{port}:127.0.0.1"))
                .collect(),
        }
    }

    pub fn jar(&self) -> PathBuf {
        self.dir.path().join("cookies.txt")
    }

    /// The cookie jar's text (Netscape format).
    pub fn jar_text(&self) -> String {
        std::fs::read_to_string(self.jar()).unwrap_or_default()
    }

    /// GET with extra `Name: value` headers.
    pub fn get(&self, url: &str, headers: &[&str]) -> WebResponse {
        self.run(url, headers, None)
    }

    /// POST an urlencoded form.
    pub fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> WebResponse {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.run(url, &[], Some(&body))
    }

    fn run(&self, url: &str, headers: &[&str], form: Option<&str>) -> WebResponse {
        let jar = self.jar();
        let head = self.dir.path().join("head.txt");
        let mut command = Command::new("curl");
        command
            .args(["-sS", "--max-time", "20", "-o", "-", "-D"])
            .arg(&head)
            .arg("-b")
            .arg(&jar)
            .arg("-c")
            .arg(&jar);
        for resolve in &self.resolves {
            command.arg("--resolve").arg(resolve);
        }
        for header in headers {
            command.arg("-H").arg(header);
        }
        if let Some(body) = form {
            command
                .arg("-H")
                .arg("Content-Type: application/x-www-form-urlencoded")
                .arg("--data-binary")
                .arg(body);
        }
        let output = command.arg(url).output().expect("run curl");
        assert!(
            output.status.success(),
            "curl {url} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let head = std::fs::read_to_string(&head).expect("curl header dump");
        parse(&head, String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Logs in at `login_url` (a `/.govgate/login?rd=...` URL) exactly as the form would be
    /// submitted: GET the form, then POST its hidden fields with the credentials to the
    /// form's action on the same origin. Returns the POST's response.
    pub fn log_in(&self, login_url: &str, username: &str, password: &str) -> WebResponse {
        let form = self.get(login_url, &[]);
        assert_eq!(form.status, 200, "login form:\n{}", form.body);
        let origin = origin_of(login_url);
        let action = form_attribute(&form.body, "action").expect("form action");
        let mut fields: Vec<(String, String)> = hidden_fields(&form.body);
        fields.push(("username".into(), username.into()));
        fields.push(("password".into(), password.into()));
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.post_form(&format!("{origin}{action}"), &pairs)
    }
}

fn parse(head: &str, body: String) -> WebResponse {
    let (status, headers) = super::browser::parse_curl_head(head);
    WebResponse {
        status,
        headers,
        body,
    }
}

/// `scheme://authority` of an absolute URL.
pub fn origin_of(url: &str) -> String {
    url.split('/').take(3).collect::<Vec<_>>().join("/")
}

/// The first `name="..."` attribute value of the form element.
fn form_attribute(html: &str, name: &str) -> Option<String> {
    let form = &html[html.find("<form")?..];
    let tag = &form[..form.find('>')?];
    attribute(tag, name)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + tag[start..].find('"')?;
    Some(unescape_html(&tag[start..end]))
}

/// `(name, value)` of every `<input type="hidden">` in the page, HTML entities decoded.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

pub fn unescape_html(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').and_then(|end| {
            let entity = &rest[1..end];
            let ch = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            ch.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-decodes a header value (`X-Remote-Name` carries UTF-8 that way).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 after percent-decoding")
}

/// The claims (middle part) of a JWT, decoded.
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("JWT payload is base64url");
    serde_json::from_slice(&bytes).expect("JWT payload is JSON")
}
