//! The login page in a real browser: Debian's headless Chromium renders it (screenshot kept
//! in `target/test-artifacts/login.png`), its DOM carries the Vietnamese text intact, and a
//! person typing a user name and password and pressing Enter ends up logged in — driven over
//! the DevTools protocol by `tests/browser/login_cdp.py` (Python standard library only).

mod support;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::demo::DemoProcess;
use support::gateway::Gateway;
use support::nginx::send_signal;

const CHROMIUM: &str = "/usr/bin/chromium";
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn gateway() -> Gateway {
    govgate::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let users = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.toml");
    std::fs::copy(users, dir.path().join("users.toml")).unwrap();
    Gateway::start_in(
        dir,
        r#"
[server]
http_listen = "{http_listen}"

[directory]
backend = "file"

[directory.file]
path = "{dir}/users.toml"
"#,
    )
}

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Chromium with the flags every run shares, its profile in `profile`, in its own
/// process group so the whole browser (renderers, zygote…) can be stopped together.
fn chromium(profile: &Path, extra: &[String]) -> Command {
    let mut command = Command::new(CHROMIUM);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .env("HOME", profile)
        .stdin(Stdio::null())
        .process_group(0);
    command
}

/// Stops a browser started by [`chromium`]: its whole process group, politely first.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        for (signal, patience) in [("TERM", 5), ("KILL", 5)] {
            send_signal_to(&group, signal);
            let deadline = Instant::now() + Duration::from_secs(patience);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn send_signal_to(target: &str, signal: &str) {
    // `kill -s SIG -PGID` reaches every process of the group this test started.
    let _ = Command::new("kill")
        .args(["-s", signal, "--", target])
        .stderr(Stdio::null())
        .status();
}

/// Runs a one-shot Chromium (`--screenshot`, `--dump-dom`) to completion.
fn run_chromium(extra: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let child = chromium(profile.path(), extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chromium (scripts/test installs Debian's chromium)");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
        }
        send_signal_to(&format!("-{pid}"), "KILL");
    });
    let output = child.wait_with_output().expect("chromium output");
    let _ = watchdog.join();
    // Helpers Chromium left behind in its group, if any.
    send_signal(pid, "KILL");
    output
}

#[test]
fn chromium_renders_the_login_page() {
    let gateway = gateway();
    let url = format!("{}/.govgate/login", gateway.http_url());
    let screenshot = artifacts_dir().join("login.png");
    let _ = std::fs::remove_file(&screenshot);
    let output = run_chromium(&[format!("--screenshot={}", screenshot.display()), url]);
    let png = std::fs::read(&screenshot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}); chromium said:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    // IHDR: width and height as requested.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 900));
    // A blank 1280×900 page compresses to a few kilobytes; a rendered form with text does not.
    assert!(png.len() > 15_000, "screenshot only {} bytes", png.len());
}

#[test]
fn the_rendered_dom_carries_the_vietnamese_text_intact() {
    let gateway = gateway();
    let url = format!("{}/.govgate/login", gateway.http_url());
    let output = run_chromium(&["--dump-dom".to_string(), url]);
    let dom = String::from_utf8(output.stdout).expect("the DOM dump is UTF-8");
    assert!(dom.contains("Đăng nhập một lần"), "{dom}");
    assert!(dom.contains("Tên đăng nhập"), "{dom}");
    assert!(dom.contains("Mật khẩu"), "{dom}");
    // Mojibake (UTF-8 read as Latin-1) would show up as "Ä" / "Ã".
    assert!(!dom.contains("Ä\u{90}") && !dom.contains("Ã"), "{dom}");
    assert!(dom.contains("<html lang=\"vi\""), "{dom}");
    for field in ["name=\"csrf\"", "name=\"username\"", "name=\"password\""] {
        assert!(dom.contains(field), "{field} missing:\n{dom}");
    }
}

/// Starts Chromium with the DevTools protocol on a port it picks; returns it and the port.
fn browser_with_devtools(profile: &Path) -> (Browser, u16) {
    let child = chromium(
        profile,
        &[
            "--remote-debugging-port=0".to_string(),
            "about:blank".to_string(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::from(
        std::fs::File::create(profile.join("chromium.log")).unwrap(),
    ))
    .spawn()
    .expect("run chromium");
    let browser = Browser(child);
    let active_port = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let port = std::fs::read_to_string(&active_port)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u16>().ok());
        if let Some(port) = port {
            return (browser, port);
        }
        assert!(
            Instant::now() < deadline,
            "chromium opened no DevTools port:\n{}",
            std::fs::read_to_string(profile.join("chromium.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `tests/browser/{script}` against a fresh browser with `url`, `username` and
/// `password`; the JSON it prints about the page the browser ended on. `logs` explains a
/// failure.
fn drive_browser(
    script: &str,
    url: &str,
    username: &str,
    password: &str,
    logs: impl Fn() -> String,
) -> serde_json::Value {
    let profile = tempfile::tempdir().unwrap();
    let (_browser, devtools_port) = browser_with_devtools(profile.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(script);
    let output = Command::new("python3")
        .arg(&script)
        .arg(devtools_port.to_string())
        .arg(url)
        .args([username, password])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser session failed: {stdout}{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        logs()
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Types `username` and `password` into the login form in a fresh browser and presses
/// Enter; the page the browser shows afterwards (url, title, text, cookies).
fn type_login(gateway: &Gateway, username: &str, password: &str) -> serde_json::Value {
    let login_url = format!("{}/.govgate/login", gateway.http_url());
    drive_browser("login_cdp.py", &login_url, username, password, || {
        gateway.logs()
    })
}

#[test]
fn a_wrong_password_typed_in_the_browser_shows_the_form_again() {
    let gateway = gateway();
    let page = type_login(&gateway, "nvan", "sai-mat-khau");
    let url = page["url"].as_str().unwrap_or_default();
    assert!(url.ends_with("/.govgate/login"), "{page:#}");
    let text = page["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Tên đăng nhập hoặc mật khẩu không đúng."),
        "{text}"
    );
    assert!(!text.contains("Nguyễn Văn An"), "{text}");
    let cookies = page["cookies"].as_array().expect("cookies");
    assert!(
        cookies.iter().all(|c| c["name"] != "govgate_session"),
        "{cookies:#?}"
    );
}

#[test]
fn a_person_logs_in_by_typing_in_a_real_browser() {
    let gateway = gateway();
    let page = type_login(&gateway, "nvan", "LanhDao@2024");
    // The form posted, govgate answered 303 to the launcher, which greets the person by name.
    assert_eq!(
        page["url"],
        format!("{}/.govgate/", gateway.http_url()),
        "{page:#}"
    );
    let text = page["text"].as_str().unwrap_or_default();
    assert!(text.contains("Nguyễn Văn An"), "{text}");
    let cookies = page["cookies"].as_array().expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c["name"] == "govgate_session")
        .unwrap_or_else(|| panic!("no session cookie in the browser: {cookies:#?}"));
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Lax");
    assert_eq!(session["path"], "/");
    // The login binding cookie was cleared on success.
    assert!(
        cookies.iter().all(|c| c["name"] != "govgate_login"),
        "{cookies:#?}"
    );
    let audit = std::fs::read_to_string(gateway.data_dir().join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("login_succeeded") && l.contains("nvan")),
        "{audit}"
    );
}

#[test]
fn a_person_signs_in_to_the_demo_oidc_app_in_a_real_browser_and_consents() {
    let root = tempfile::tempdir().unwrap();
    let demo = DemoProcess::start(&root.path().join("du-lieu"), root.path());
    let app = demo.rp_url();
    let page = drive_browser("oidc_demo_cdp.py", &app, "pthoa", "MotCua@2024", || {
        demo.output()
    });
    let issuer = format!("http://{}", demo.http);
    let login_url = page["login_url"].as_str().unwrap_or_default();
    assert!(
        login_url.starts_with(&format!("{issuer}/.govgate/login")),
        "the app sent the browser to govgate's login: {page:#}"
    );
    let consent = page["consent"]["text"].as_str().unwrap_or_default();
    assert!(
        consent.contains("Cổng dịch vụ công (ứng dụng mẫu)"),
        "the consent page names the app: {consent}"
    );
    assert!(consent.contains("Đồng ý"), "{consent}");
    assert!(
        page["url"].as_str().unwrap_or_default().starts_with(&app),
        "back on the app: {page:#}"
    );
    let text = page["text"].as_str().unwrap_or_default();
    assert!(text.contains("Xin chào, Phạm Thị Hoa"), "{text}");
    assert!(text.contains("Trung tâm Phục vụ hành chính công"), "{text}");
}
