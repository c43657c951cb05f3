//! Access policies end to end: real slapd users and groups, the gateway proxying to real apps,
//! decisions on every request (403 with the request id, reason in the audit log), the launcher
//! showing only allowed apps, forward-auth, and hot reloads that keep the last good set when a
//! file is broken or a test table fails — also under load, where no request may fail or see a
//! half-loaded set.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use govgate::demo::DemoApps;
use support::browser::Browser;
use support::gateway::{Gateway, Signal};
use support::slapd::{Slapd, ADMIN_DN, ADMIN_PASSWORD, PEOPLE_DN, USER_PASSWORD};

const MOT_CUA: &str = "http://motcua.namdinh.gov.vn";
const VAN_BAN: &str = "http://vanban.namdinh.gov.vn";
const PATIENCE: Duration = Duration::from_secs(30);

const SCHEMA: &str = include_str!("../policies/schema.cedarschema");

const ROLES: &str = r#"
[roles.lanh-dao]
groups = ["lanh-dao"]
includes = ["chuyen-vien"]
[roles.chuyen-vien]
groups = ["chuyen-vien"]
[roles.van-thu]
groups = ["van-thu"]
"#;

const ROUTES: &str = r#"
[apps.mot-cua]
[[apps.mot-cua.routes]]
class = "ky-duyet"
path_prefix = "/ky"
[[apps.mot-cua.routes]]
class = "quan-tri"
path_prefix = "/quan-tri"
"#;

const POLICIES: &str = r#"
@id("chuyen-vien-dung-mot-cua")
permit(principal in Role::"chuyen-vien", action, resource in App::"mot-cua");

@id("van-thu-dung-van-ban")
permit(principal in Role::"van-thu", action, resource in App::"van-ban");

@id("chi-lanh-dao-ky-duyet")
forbid(principal, action, resource == Route::"mot-cua/ky-duyet")
unless { principal in Role::"lanh-dao" };

@id("quan-tri-can-chung-thu")
forbid(principal, action, resource == Route::"mot-cua/quan-tri")
unless { context.strength == "certificate" };
"#;

const TESTS: &str = r#"
[[case]]
name = "chuyên viên mở một cửa"
groups = ["chuyen-vien"]
app = "mot-cua"
path = "/api/request"
expect = "allow"

[[case]]
name = "chuyên viên không ký duyệt"
groups = ["chuyen-vien"]
app = "mot-cua"
method = "POST"
path = "/ky/1"
expect = "deny"
"#;

fn write_policies(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    for (name, text) in files {
        let path = dir.join(name);
        let temporary = dir.join(format!(".{}.tmp", name.replace('/', "_")));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(temporary, path).unwrap();
    }
}

fn base_policies(dir: &Path) {
    write_policies(
        dir,
        &[
            ("schema.cedarschema", SCHEMA),
            ("roles.toml", ROLES),
            ("routes.toml", ROUTES),
            ("chinh-sach.cedar", POLICIES),
            ("tests/co-ban.toml", TESTS),
        ],
    );
}

fn gateway(slapd: &Slapd, demo: &DemoApps, watch: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bind-password"),
        format!("{ADMIN_PASSWORD}\n"),
    )
    .unwrap();
    base_policies(&dir.path().join("policies"));
    let config = format!(
        r#"
[directory]
backend = "ldap"
[directory.ldap]
urls = ["{url}"]
bind_dn = "{ADMIN_DN}"
bind_password_file = "bind-password"
user_base_dn = "{PEOPLE_DN}"

[session]
cookie_domain = ".namdinh.gov.vn"

[policy]
dir = "policies"
watch_interval = "{watch}"

[[apps]]
id = "mot-cua"
name = "Một cửa điện tử"
hosts = ["motcua.namdinh.gov.vn"]
upstreams = ["http://{one}"]

[[apps]]
id = "van-ban"
name = "Quản lý văn bản"
hosts = ["vanban.namdinh.gov.vn"]
upstreams = ["http://{two}"]
"#,
        url = slapd.url(),
        one = demo.one_stop_shop,
        two = demo.documents,
    );
    Gateway::start_in(dir, &config)
}

fn logged_in(gateway: &Gateway, user: &str) -> Browser {
    let browser = Browser::new(gateway);
    let page = browser.login(MOT_CUA, user, USER_PASSWORD, "");
    assert_eq!(page.status, 303, "login of {user}: {}", page.body);
    browser
}

fn audit_lines(gateway: &Gateway, event: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(gateway.data_dir().join("audit.log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["event"] == event)
        .collect()
}

fn metric(gateway: &Gateway, line_prefix: &str) -> u64 {
    let page = support::gateway::http_get(gateway.http_addr(), "127.0.0.1", "/metrics")
        .expect("metrics answer");
    page.text()
        .lines()
        .find_map(|l| l.strip_prefix(line_prefix)?.trim().parse().ok())
        .unwrap_or(0)
}

fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not after {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn every_request_is_decided_and_denials_are_audited_not_explained() {
    let slapd = Slapd::start_province();
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&slapd, &demo, "0s");

    // nvan: lanh-dao + chuyen-vien. ttbinh: chuyen-vien. lvcuong: van-thu.
    let leader = logged_in(&gateway, "nvan");
    let staff = logged_in(&gateway, "ttbinh");
    let clerk = logged_in(&gateway, "lvcuong");

    assert_eq!(leader.get(&format!("{MOT_CUA}/api/request")).status, 200);
    assert_eq!(staff.get(&format!("{MOT_CUA}/api/request")).status, 200);
    let leader_signs = leader.post_form(&format!("{MOT_CUA}/ky/1"), &[("y", "1")]);
    assert_ne!(leader_signs.status, 403, "a leader may sign");

    // Forbid wins over the staff permit; the user sees the 403 page and the request id only.
    let denied = staff.post_form(&format!("{MOT_CUA}/ky/1"), &[("y", "1")]);
    assert_eq!(denied.status, 403, "{}", denied.body);
    let request_id = denied
        .header("x-request-id")
        .expect("request id")
        .to_string();
    assert!(
        denied.body.contains(&request_id),
        "the page shows the request id"
    );
    assert!(
        !denied.body.contains("chi-lanh-dao-ky-duyet"),
        "the reason is not shown"
    );

    // Default deny: the clerk has no permit for the one-stop shop (JSON for API clients).
    let api = clerk.get_with(
        &format!("{MOT_CUA}/api/request"),
        &["Accept: application/json"],
    );
    assert_eq!(api.status, 403);
    assert!(
        api.header("content-type").unwrap_or("").contains("json"),
        "{api:?}"
    );
    assert_eq!(clerk.get(&format!("{VAN_BAN}/api/request")).status, 200);

    // Certificate-strength route: a password login is refused even for the leader.
    assert_eq!(leader.get(&format!("{MOT_CUA}/quan-tri/")).status, 403);

    // Not logged in: still a login redirect or 401, never a 403.
    let anonymous = Browser::new(&gateway);
    assert_eq!(anonymous.get(&format!("{MOT_CUA}/api/request")).status, 302);
    let api = anonymous.get_with(
        &format!("{MOT_CUA}/api/request"),
        &["Accept: application/json"],
    );
    assert_eq!(api.status, 401);

    let denials = audit_lines(&gateway, "access_denied");
    let staff_denial = denials
        .iter()
        .find(|r| r["details"]["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no audit record for {request_id}: {denials:#?}"));
    assert_eq!(staff_denial["actor"], "ttbinh");
    assert_eq!(staff_denial["reason"], "chi-lanh-dao-ky-duyet");
    assert_eq!(
        staff_denial["details"]["resource"],
        "Route::\"mot-cua/ky-duyet\""
    );
    assert_eq!(staff_denial["details"]["action"], "write");
    assert!(denials
        .iter()
        .any(|r| r["actor"] == "lvcuong" && r["reason"] == "default_deny"));
    assert!(denials
        .iter()
        .any(|r| r["actor"] == "nvan" && r["reason"] == "quan-tri-can-chung-thu"));
    assert!(metric(&gateway, "govgate_policy_decisions_total{result=\"deny\"}") >= 3);
    assert!(metric(&gateway, "govgate_policy_decisions_total{result=\"allow\"}") >= 4);
}

#[test]
fn the_launcher_lists_only_apps_the_user_may_open_and_forward_auth_obeys() {
    let slapd = Slapd::start_province();
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&slapd, &demo, "0s");
    let staff = logged_in(&gateway, "ttbinh");
    let clerk = logged_in(&gateway, "lvcuong");

    let home = |browser: &Browser| browser.get(&format!("{MOT_CUA}/.govgate/")).body;
    let staff_home = home(&staff);
    assert!(staff_home.contains("Một cửa điện tử"), "{staff_home}");
    assert!(!staff_home.contains("Quản lý văn bản"), "{staff_home}");
    let clerk_home = home(&clerk);
    assert!(clerk_home.contains("Quản lý văn bản"), "{clerk_home}");
    assert!(!clerk_home.contains("Một cửa điện tử"), "{clerk_home}");

    // Forward-auth (as nginx asks it): the original method and path are decided.
    let verify = |browser: &Browser, method: &str, uri: &str| {
        browser
            .get_with(
                &format!("{MOT_CUA}/.govgate/auth/verify?app=mot-cua"),
                &[
                    &format!("X-Original-URL: {MOT_CUA}{uri}"),
                    &format!("X-Original-Method: {method}"),
                ],
            )
            .status
    };
    assert_eq!(verify(&staff, "GET", "/ho-so"), 200);
    assert_eq!(verify(&staff, "POST", "/ky/2"), 403);
    assert_eq!(verify(&clerk, "GET", "/ho-so"), 403);
}

#[test]
fn a_broken_file_or_a_failing_table_keeps_the_last_good_set_and_edits_apply_by_themselves() {
    let slapd = Slapd::start_province();
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&slapd, &demo, "1s");
    let policies = gateway.dir().join("policies");
    let clerk = logged_in(&gateway, "lvcuong");
    let staff = logged_in(&gateway, "ttbinh");
    let clerk_status = || clerk.get(&format!("{MOT_CUA}/api/request")).status;
    assert_eq!(clerk_status(), 403);

    // 1. A syntax error: refused, counted, audited; the set in force stays.
    write_policies(
        &policies,
        &[(
            "hong.cedar",
            "@id(\"hong\")\npermit(principal, action resource);\n",
        )],
    );
    gateway.signal(Signal::Hup);
    eventually("failed reload counted", || {
        metric(&gateway, "govgate_policy_reloads_total{result=\"failed\"}") >= 1
    });
    assert_eq!(clerk_status(), 403);
    assert_eq!(staff.get(&format!("{MOT_CUA}/api/request")).status, 200);
    let refused = audit_lines(&gateway, "policy_reloaded");
    assert!(
        refused.iter().any(|r| r["outcome"] == "failure"
            && r["details"]["detail"]
                .as_str()
                .unwrap_or("")
                .contains("hong.cedar:2:")),
        "{refused:#?}"
    );
    std::fs::remove_file(policies.join("hong.cedar")).unwrap();

    // 2. A valid policy that breaks a test table ("chuyên viên không ký duyệt"): refused too.
    write_policies(&policies, &[(
        "mo-rong.cedar",
        "@id(\"ai-cung-ky\")\npermit(principal, action, resource == Route::\"mot-cua/ky-duyet\");\n\
         @id(\"bo-cam\")\nforbid(principal, action, resource) when { false };\n",
    ), ("chinh-sach.cedar", &POLICIES.replace("unless { principal in Role::\"lanh-dao\" }", "when { false }"))]);
    eventually("second failed reload counted", || {
        metric(&gateway, "govgate_policy_reloads_total{result=\"failed\"}") >= 2
    });
    assert_eq!(
        staff
            .post_form(&format!("{MOT_CUA}/ky/1"), &[("y", "1")])
            .status,
        403
    );
    std::fs::remove_file(policies.join("mo-rong.cedar")).unwrap();

    // 3. A good edit: picked up by the watcher alone, and the clerk gets in.
    write_policies(&policies, &[(
        "chinh-sach.cedar",
        &format!("{POLICIES}\n@id(\"van-thu-doc-mot-cua\")\npermit(principal in Role::\"van-thu\", action == Action::\"read\", resource in App::\"mot-cua\");\n"),
    )]);
    eventually("the clerk is allowed after the edit", || {
        clerk_status() == 200
    });
    assert!(metric(&gateway, "govgate_policy_reloads_total{result=\"ok\"}") >= 1);
    let reloads = audit_lines(&gateway, "policy_reloaded");
    assert!(
        reloads
            .iter()
            .any(|r| r["outcome"] == "success" && r["details"]["trigger"] == "file_change"),
        "{reloads:#?}"
    );
}

#[test]
fn reloads_under_load_never_fail_a_request_or_mix_two_sets() {
    let slapd = Slapd::start_province();
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&slapd, &demo, "0s");
    let dir = gateway.dir().join("policies");
    // Two sets that each let staff in, through different roles: a request that saw the roles
    // of one and the policies of the other would be denied. The base staff permit is removed.
    let only_generations = POLICIES.replace(
        "@id(\"chuyen-vien-dung-mot-cua\")\npermit(principal in Role::\"chuyen-vien\", action, resource in App::\"mot-cua\");",
        "",
    );
    let write = |generation: usize| {
        let role = if generation % 2 == 0 {
            "nhan-vien-a"
        } else {
            "nhan-vien-b"
        };
        let roles = format!("{ROLES}\n[roles.{role}]\ngroups = [\"chuyen-vien\"]\n");
        let text = format!(
            "{only_generations}\n@id(\"the-he-{generation}\")\npermit(principal in Role::\"{role}\", action == Action::\"read\", resource == Route::\"mot-cua/default\");\n"
        );
        write_policies(&dir, &[("roles.toml", &roles), ("chinh-sach.cedar", &text)]);
    };
    write(0);
    gateway.signal(Signal::Hup);
    let staff = logged_in(&gateway, "ttbinh");
    eventually("generation 0 in force", || {
        staff.get(&format!("{MOT_CUA}/api/request")).status == 200
    });

    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (stop, requests, failures) = (stop.clone(), requests.clone(), failures.clone());
            // One cookie jar per thread: curl rewrites its jar file after every request.
            let staff = logged_in(&gateway, "ttbinh");
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let page = staff.get(&format!("{MOT_CUA}/api/request"));
                    requests.fetch_add(1, Ordering::Relaxed);
                    if page.status != 200 {
                        failures.lock().unwrap().push(page.status);
                    }
                }
            })
        })
        .collect();
    let before = metric(&gateway, "govgate_policy_reloads_total{result=\"ok\"}");
    for generation in 1..=12 {
        // The files are written one after another; the reload only ever swaps whole sets.
        write(generation);
        gateway.signal(Signal::Hup);
        std::thread::sleep(Duration::from_millis(300));
    }
    eventually("the reloads happened", || {
        metric(&gateway, "govgate_policy_reloads_total{result=\"ok\"}") >= before + 10
    });
    stop.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        requests.load(Ordering::Relaxed) >= 50,
        "load ran: {} requests",
        requests.load(Ordering::Relaxed)
    );
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        requests.load(Ordering::Relaxed),
        &failures[..failures.len().min(10)]
    );
}
