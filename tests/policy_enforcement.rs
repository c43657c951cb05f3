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
# Mapped by the group's DN (as an AD administrator would write it), not its name.
[roles.van-thu]
groups = ["CN=van-thu, OU=groups, DC=namdinh, DC=gov, DC=vn"]
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

/// The break-glass admin token of the test gateways.
const ADMIN_TOKEN: &str = "kiem-thu-token-quan-tri-0123456789abcdef";

fn gateway(slapd: &Slapd, demo: &DemoApps, watch: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin-token"), ADMIN_TOKEN).unwrap();
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

[admin]
token_file = "admin-token"

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
    // The clerk's role comes from the DN of the directory group (roles.toml maps the DN).
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
        let role = if generation.is_multiple_of(2) {
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

// ---------- the policy API ----------

const OFFICER_POLICY: &str = r#"
@id("nvan-quan-ly-chinh-sach")
permit(principal == User::"nvan", action in [Action::"policy_read", Action::"policy_write"], resource == Gateway::"govgate");
"#;

/// The admin API on the app host, where the officers' session cookie goes.
fn api(path: &str) -> String {
    format!("{MOT_CUA}/.govgate/admin/{path}")
}

fn json_of(page: &support::browser::Page) -> serde_json::Value {
    serde_json::from_str(&page.body)
        .unwrap_or_else(|e| panic!("{e}: {} {}", page.status, page.body))
}

/// The set in force as the API's `files` object, with `edit` applied.
fn proposed(current: &serde_json::Value, edit: &[(&str, &str)]) -> String {
    let mut files = current["files"].clone();
    for (name, text) in edit {
        files[*name] = serde_json::Value::String(text.to_string());
    }
    serde_json::json!({ "files": files }).to_string()
}

#[test]
fn officers_validate_preview_apply_and_roll_back_policies_with_an_audit_trail() {
    let slapd = Slapd::start_province();
    let demo = DemoApps::start().unwrap();
    let gateway = gateway(&slapd, &demo, "0s");
    let token = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let browser = Browser::new(&gateway);
    let clerk = logged_in(&gateway, "lvcuong");
    assert_eq!(
        clerk.get(&format!("{MOT_CUA}/api/request")).status,
        403,
        "sampled denial"
    );

    let current = json_of(&browser.get_with(&api("policies"), &[&token]));
    let first_version = current["version"].as_str().unwrap().to_string();
    assert!(current["files"]["chinh-sach.cedar"]
        .as_str()
        .unwrap()
        .contains("chi-lanh-dao-ky-duyet"));
    assert_eq!(current["policies"].as_array().unwrap().len(), 4);

    // Validate: a broken proposal is located, and nothing changes.
    let broken = proposed(
        &current,
        &[(
            "chinh-sach.cedar",
            "@id(\"x\")\npermit(principal, action resource);\n",
        )],
    );
    let answer = json_of(&browser.post_json(&api("policies/validate"), &broken, &[&token]));
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["diagnostics"][0]["file"], "chinh-sach.cedar");
    assert_eq!(answer["diagnostics"][0]["line"], 2);
    let applied = browser.post_json(&api("policies/apply"), &broken, &[&token]);
    assert_eq!(applied.status, 422, "{}", applied.body);

    // Preview a real change: the clerk may now read the one-stop shop.
    let grant = format!("{POLICIES}\n@id(\"van-thu-doc-mot-cua\")\npermit(principal in Role::\"van-thu\", action == Action::\"read\", resource in App::\"mot-cua\");\n{OFFICER_POLICY}");
    let change = proposed(&current, &[("chinh-sach.cedar", &grant)]);
    let preview = json_of(&browser.post_json(&api("policies/preview"), &change, &[&token]));
    assert_eq!(preview["ok"], true, "{preview:#}");
    let allowed = preview["newly_allowed"].as_array().unwrap();
    assert!(
        allowed
            .iter()
            .any(|c| c["username"] == "lvcuong" && c["source"] == "sampled"),
        "{preview:#}"
    );
    // From the directory: lvcuong (van-thu only) gains read on the app…
    assert!(allowed.iter().any(|c| c["username"] == "lvcuong"
        && c["source"] == "directory"
        && c["action"] == "read"));
    // …dtha (van-thu and chuyen-vien) could already read, staff gain nothing, nobody loses.
    assert!(
        !allowed
            .iter()
            .any(|c| c["username"] == "dtha" || c["username"] == "ttbinh"),
        "{preview:#}"
    );
    assert_eq!(preview["counts"]["newly_denied"], 0, "{preview:#}");
    assert!(preview["directory_users"].as_u64().unwrap() >= 4);
    assert_eq!(
        clerk.get(&format!("{MOT_CUA}/api/request")).status,
        403,
        "a preview changes nothing"
    );

    // Apply: new version in force, files written, audited with the diff.
    let applied = json_of(&browser.post_json(&api("policies/apply"), &change, &[&token]));
    assert_eq!(applied["ok"], true, "{applied:#}");
    let second_version = applied["version"].as_str().unwrap().to_string();
    assert_ne!(second_version, first_version);
    assert_eq!(clerk.get(&format!("{MOT_CUA}/api/request")).status, 200);
    let on_disk = std::fs::read_to_string(gateway.dir().join("policies/chinh-sach.cedar")).unwrap();
    assert!(on_disk.contains("van-thu-doc-mot-cua"));
    let changed = audit_lines(&gateway, "policy_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["actor"], "admin-token");
    assert_eq!(changed[0]["details"]["to_version"], second_version.as_str());
    let diff = changed[0]["details"]["diff"].to_string();
    assert!(diff.contains("van-thu-doc-mot-cua"), "{diff}");

    // A stale expected_version is refused.
    let mut stale: serde_json::Value = serde_json::from_str(&change).unwrap();
    stale["expected_version"] = first_version.clone().into();
    let conflict = browser.post_json(&api("policies/apply"), &stale.to_string(), &[&token]);
    assert_eq!(conflict.status, 409);

    // Officers by login: nvan is granted by the new set, ttbinh is not.
    let officer = logged_in(&gateway, "nvan");
    assert_eq!(officer.get(&api("policies/versions")).status, 200);
    let staff = logged_in(&gateway, "ttbinh");
    assert_eq!(staff.get(&api("policies")).status, 403);
    assert_eq!(Browser::new(&gateway).get(&api("policies")).status, 401);
    let wrong_token =
        Browser::new(&gateway).get_with(&api("policies"), &["Authorization: Bearer sai"]);
    assert_eq!(wrong_token.status, 401);

    // Versions and rollback (by the officer's own session).
    let versions = json_of(&officer.get(&api("policies/versions")));
    let kept: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(kept, vec![first_version.as_str(), second_version.as_str()]);
    let back = officer.post_json(
        &api("policies/rollback"),
        &format!("{{\"version\":\"{}\"}}", &first_version[..12]),
        &[],
    );
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(
        clerk.get(&format!("{MOT_CUA}/api/request")).status,
        403,
        "rolled back"
    );
    let changed = audit_lines(&gateway, "policy_changed");
    assert_eq!(changed.len(), 2);
    assert_eq!(changed[1]["actor"], "nvan");
    assert_eq!(changed[1]["details"]["change"], "rollback");
    // After the rollback nvan is no longer an officer.
    assert_eq!(officer.get(&api("policies")).status, 403);
}
