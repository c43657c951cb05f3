//! A cookie-keeping "browser" for end-to-end login tests: curl with its own cookie jar
//! (`-b/-c`), every host name routed to the gateway (`--connect-to`), redirects never
//! followed (tests assert each `Location`). HTTPS works when a CA file is given.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::gateway::Gateway;

/// One response: status, headers (names lower-cased, in order), body as text.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }

    /// Every value of header `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The whole `Set-Cookie` line that sets cookie `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.all("set-cookie")
            .into_iter()
            .find(|line| line.starts_with(&prefix))
    }

    /// The value of `<input ... name="NAME" value="...">` in an HTML body (entities decoded).
    pub fn form_field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\"");
        let tag_start = self.body.find(&marker)?;
        let tag_begin = self.body[..tag_start].rfind('<')?;
        let tag_end = tag_start + self.body[tag_start..].find('>')?;
        let tag = &self.body[tag_begin..tag_end];
        let value = tag.split("value=\"").nth(1)?.split('"').next()?;
        Some(unescape_html(value))
    }
}

/// `Set-Cookie` attributes, as `(lower-cased name, value)` pairs after the first `name=value`.
pub fn cookie_attributes(set_cookie: &str) -> Vec<(String, String)> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            (name.trim().to_ascii_lowercase(), value.trim().to_string())
        })
        .collect()
}

/// The value part of a `Set-Cookie` line.
pub fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map_or("", |(_, value)| value.trim())
}

/// A cookie as curl's jar holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JarCookie {
    pub domain: String,
    pub include_subdomains: bool,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
    pub name: String,
    pub value: String,
}

pub struct Browser {
    dir: tempfile::TempDir,
    http_port: u16,
    https: Option<(u16, PathBuf)>,
}

impl Browser {
    /// A browser whose plain-HTTP requests (any host, port 80) reach the gateway.
    pub fn new(gateway: &Gateway) -> Browser {
        let dir = tempfile::tempdir().expect("temp dir for the cookie jar");
        std::fs::write(dir.path().join("jar"), "").expect("empty cookie jar");
        Browser {
            dir,
            http_port: gateway.http_addr().port(),
            https: gateway.https_addr().map(|a| (a.port(), PathBuf::new())),
        }
    }

    /// A browser that goes where URLs say (no port-80 redirection to one gateway): for
    /// flows across several servers on their own ports (an app and the gateway).
    pub fn direct() -> Browser {
        let dir = tempfile::tempdir().expect("temp dir for the cookie jar");
        std::fs::write(dir.path().join("jar"), "").expect("empty cookie jar");
        Browser {
            dir,
            http_port: 0,
            https: None,
        }
    }

    /// Also sends `https://` requests (port 443) to the gateway's HTTPS listener, trusting `ca`.
    pub fn with_ca(mut self, ca: &Path) -> Browser {
        let port = self
            .https
            .as_ref()
            .map(|(port, _)| *port)
            .expect("the gateway has no https_listen");
        self.https = Some((port, ca.to_path_buf()));
        self
    }

    /// Sends later requests to `gateway` instead, keeping the cookie jar (one browser, two
    /// gateway instances behind a load balancer).
    pub fn switch_to(&mut self, gateway: &Gateway) {
        self.http_port = gateway.http_addr().port();
    }

    pub fn get(&self, url: &str) -> Page {
        self.get_with(url, &[])
    }

    /// `GET url` with extra request headers (`"Name: value"`).
    pub fn get_with(&self, url: &str, headers: &[&str]) -> Page {
        self.run(url, &[], headers)
    }

    /// `POST url` with an urlencoded form.
    /// `POST url` with a JSON body and extra headers.
    pub fn post_json(&self, url: &str, body: &str, headers: &[&str]) -> Page {
        let args: Vec<String> = [
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ]
        .map(String::from)
        .to_vec();
        self.run(url, &args, headers)
    }

    /// `POST url` with the bytes of `file` as the body, and extra headers.
    pub fn post_file(&self, url: &str, file: &Path, headers: &[&str]) -> Page {
        let args = vec!["--data-binary".to_string(), format!("@{}", file.display())];
        self.run(url, &args, headers)
    }

    /// `POST url` as `multipart/form-data`, each part the bytes of a file.
    pub fn post_multipart(&self, url: &str, parts: &[(&str, &Path)]) -> Page {
        let args: Vec<String> = parts
            .iter()
            .flat_map(|(name, file)| ["-F".to_string(), format!("{name}=@{}", file.display())])
            .collect();
        self.run(url, &args, &[])
    }

    pub fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Page {
        let mut args = vec!["-X".to_string(), "POST".to_string()];
        if fields.is_empty() {
            args.extend(["--data".to_string(), String::new()]);
        }
        for (name, value) in fields {
            args.push("--data-urlencode".into());
            args.push(format!("{name}={value}"));
        }
        self.run(url, &args, &[])
    }

    /// Opens the login form at `{origin}/.govgate/login?rd=…` and submits it with the form's
    /// own csrf and rd (the page the server chose); returns the POST's answer.
    pub fn login(&self, origin: &str, username: &str, password: &str, rd: &str) -> Page {
        let form = self.login_form(origin, rd);
        let csrf = form.form_field("csrf").unwrap_or_default();
        let rd = form.form_field("rd").unwrap_or_default();
        self.submit_login(origin, &csrf, username, password, &rd)
    }

    /// `GET {origin}/.govgate/login?rd=…`, asserting it is the form.
    pub fn login_form(&self, origin: &str, rd: &str) -> Page {
        let form = self.get(&format!("{origin}/.govgate/login?rd={}", encode(rd)));
        assert_eq!(form.status, 200, "login form: {}", form.body);
        form
    }

    /// `POST {origin}/.govgate/login` with exactly these fields.
    pub fn submit_login(
        &self,
        origin: &str,
        csrf: &str,
        username: &str,
        password: &str,
        rd: &str,
    ) -> Page {
        self.post_form(
            &format!("{origin}/.govgate/login"),
            &[
                ("csrf", csrf),
                ("username", username),
                ("password", password),
                ("rd", rd),
                ("lang", "vi"),
            ],
        )
    }

    /// Every cookie in the jar.
    pub fn cookies(&self) -> Vec<JarCookie> {
        let text = std::fs::read_to_string(self.jar()).unwrap_or_default();
        text.lines().filter_map(parse_jar_line).collect()
    }

    /// The jar's cookie `name` (the first, when several domains hold one).
    pub fn cookie(&self, name: &str) -> Option<JarCookie> {
        self.cookies().into_iter().find(|c| c.name == name)
    }

    /// Puts a host-only cookie for `host` into the jar, as a page or an attacker could.
    pub fn add_cookie(&self, host: &str, name: &str, value: &str) {
        let mut text = std::fs::read_to_string(self.jar()).unwrap_or_default();
        text.push_str(&format!("{host}\tFALSE\t/\tFALSE\t0\t{name}\t{value}\n"));
        std::fs::write(self.jar(), text).expect("write cookie jar");
    }

    /// Removes every cookie called `name` from the jar.
    pub fn remove_cookie(&self, name: &str) {
        let text = std::fs::read_to_string(self.jar()).unwrap_or_default();
        let kept: String = text
            .lines()
            .filter(|line| parse_jar_line(line).is_none_or(|c| c.name != name))
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(self.jar(), kept).expect("write cookie jar");
    }

    fn jar(&self) -> PathBuf {
        self.dir.path().join("jar")
    }

    fn run(&self, url: &str, extra_args: &[String], headers: &[&str]) -> Page {
        let head_file = self.dir.path().join("head");
        let body_file = self.dir.path().join("body");
        let _ = std::fs::remove_file(&head_file);
        let _ = std::fs::remove_file(&body_file);
        let mut command = Command::new("curl");
        command
            .args(["--silent", "--show-error", "--http1.1", "--noproxy", "*"])
            .args(["--max-time", "60"])
            .arg("-b")
            .arg(self.jar())
            .arg("-c")
            .arg(self.jar())
            .arg("-D")
            .arg(&head_file)
            .arg("-o")
            .arg(&body_file);
        if self.http_port != 0 {
            command
                .arg("--connect-to")
                .arg(format!(":80:127.0.0.1:{}", self.http_port));
        }
        if let Some((port, ca)) = &self.https {
            command
                .arg("--connect-to")
                .arg(format!(":443:127.0.0.1:{port}"));
            if !ca.as_os_str().is_empty() {
                command.arg("--cacert").arg(ca);
            }
        }
        for header in headers {
            command.arg("-H").arg(header);
        }
        let output = command
            .args(extra_args)
            .arg(url)
            .output()
            .expect("run curl");
        assert!(
            output.status.success(),
            "curl {url} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let head = std::fs::read_to_string(&head_file).expect("curl wrote the headers");
        let body = std::fs::read(&body_file).unwrap_or_default();
        parse_head(&head, String::from_utf8_lossy(&body).into_owned())
    }
}

/// The last response head curl wrote (after any `100 Continue`).
fn parse_head(head: &str, body: String) -> Page {
    let (status, headers) = parse_curl_head(head);
    Page {
        status,
        headers,
        body,
    }
}

/// Status and headers (names lowercase) of the last response head in curl's `-D` output
/// (after any `100 Continue`). Shared by the curl-based test clients.
pub fn parse_curl_head(head: &str) -> (u16, Vec<(String, String)>) {
    let last = head
        .split("\r\n\r\n")
        .filter(|block| block.starts_with("HTTP/"))
        .last()
        .unwrap_or_else(|| panic!("no response head in {head:?}"));
    let mut lines = last.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {last:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

fn parse_jar_line(line: &str) -> Option<JarCookie> {
    let (http_only, line) = match line.strip_prefix("#HttpOnly_") {
        Some(rest) => (true, rest),
        None if line.starts_with('#') => return None,
        None => (false, line),
    };
    let fields: Vec<&str> = line.split('\t').collect();
    let [domain, include_subdomains, path, secure, _expires, name, value] = fields[..] else {
        return None;
    };
    Some(JarCookie {
        domain: domain.to_string(),
        include_subdomains: include_subdomains == "TRUE",
        path: path.to_string(),
        secure: secure == "TRUE",
        http_only,
        name: name.to_string(),
        value: value.to_string(),
    })
}

/// Decodes `&#NN;`, `&#xHH;` and the named entities a template escaper writes.
fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let decoded = after.find(';').and_then(|end| {
            let entity = &after[..end];
            let ch = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let number = entity.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((ch, end))
        });
        match decoded {
            Some((ch, end)) => {
                out.push(ch);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// One round of query-parameter decoding (`+` is a space).
pub fn decode(value: &str) -> String {
    form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
